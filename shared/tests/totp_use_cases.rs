//! Authenticator apps and recovery codes over the in-memory ports, with a clock the tests
//! move: enrolment, TOTP login, replay, the per-account second-factor limit, recovery codes.

use secrecy::SecretString;
use sms_mfa::{
    adapters::{jwt::TokenKeys, password::Argon2Hasher},
    config::Limits,
    domain::*,
    ports::FactorStore,
    testing::{generate_signing_key_pem, memory_ports, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::sessions::SessionService,
    use_cases::*,
    AuthError,
};
use std::{sync::Arc, time::Duration};

const PASSWORD: &str = "correct horse battery";

struct World {
    auth: Arc<AuthService>,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    keys: Arc<TokenKeys>,
    caller: Caller,
}

fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    // Mid-step, so ±1 step tests are not at a boundary.
    let clock = Arc::new(ManualClock::at(1_900_000_010));
    let keys = Arc::new(TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap());
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), keys.clone(), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), Arc::new(Argon2Hasher::default()), clock.clone(), events.clone());
    let auth = Arc::new(AuthService::new(ports, sessions, Limits::default()).with_totp_issuer("Acme"));
    World { auth, store, otp, clock, keys, caller: Caller { source_ip: Some("203.0.113.9".into()) } }
}

fn pw(p: &str) -> Password {
    Password::for_check(SecretString::from(p.to_owned())).unwrap()
}

/// A signed-up account with a verified phone, as the holder of its first access token.
async fn account(w: &World, email: &str, phone: &str) -> Holder {
    let cmd = RegisterCommand {
        email: Email::parse(email).unwrap(),
        password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
        phone: Phone::parse(phone).unwrap(),
        channel: Channel::Sms,
    };
    let registered = w.auth.register(cmd, &w.caller).await.unwrap();
    let code = w.otp.last_code_to(&Phone::parse(phone).unwrap()).unwrap();
    let Verified::Tokens(tokens) = w.auth.verify(verify_code(&registered.challenge.id, &code), &w.caller).await.unwrap() else {
        panic!("tokens")
    };
    w.auth.holder(&tokens.access_token).await.unwrap()
}

fn verify_code(challenge: &str, code: &str) -> VerifyCommand {
    VerifyCommand { challenge_id: ChallengeId::parse(challenge).unwrap(), proof: ChallengeProof::Code(OtpCode::parse(code).unwrap()) }
}

fn verify_recovery(challenge: &str, code: &str) -> VerifyCommand {
    VerifyCommand {
        challenge_id: ChallengeId::parse(challenge).unwrap(),
        proof: ChallengeProof::RecoveryCode(RecoveryCode::parse(code).unwrap()),
    }
}

fn login_cmd(email: &str, factor: Option<ChallengeFactor>) -> LoginCommand {
    LoginCommand { email: Email::parse(email).unwrap(), password: pw(PASSWORD), channel: Channel::Sms, factor }
}

/// The code an authenticator app shows now, from the secret the enrolment answered.
fn app_code(w: &World, secret: &TotpSecret, steps_ahead: i64) -> TotpCode {
    let step = step_at(sms_mfa::ports::Clock::now(w.clock.as_ref())) + steps_ahead;
    TotpCode::parse(&secret.code_at_step(step)).unwrap()
}

/// Enrols and confirms an authenticator; returns its secret and the recovery codes.
async fn with_authenticator(w: &World, user: &Holder) -> (TotpSecret, Vec<String>) {
    let enrolment = w.auth.enrol_totp(user, &pw(PASSWORD), &w.caller).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let codes = w.auth.confirm_totp(user, &app_code(w, &secret, 0), &w.caller).await.unwrap();
    (secret, codes.recovery_codes)
}

async fn amr_of(w: &World, verified: Verified) -> Vec<String> {
    let Verified::Tokens(tokens) = verified else { panic!("tokens") };
    w.keys.verify(&tokens.access_token).await.unwrap().amr
}

#[tokio::test]
async fn enrolment_answers_the_contract_shape_and_the_secret_only_once() {
    let w = world();
    let user = account(&w, "ann@example.com", "+447400000101").await;
    let enrolment = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    assert_eq!(enrolment.expires_in, 600);
    assert_eq!(enrolment.secret.len(), 32, "160 bits in base32");
    assert_eq!(
        enrolment.otpauth_uri,
        format!("otpauth://totp/Acme:ann@example.com?secret={}&issuer=Acme&algorithm=SHA1&digits=6&period=30", enrolment.secret)
    );
    assert!(enrolment.qr_svg.starts_with("<?xml") && enrolment.qr_svg.contains("<svg"), "an SVG document");

    // A new enrolment replaces the pending one: the first secret's codes no longer confirm.
    let second = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    assert_ne!(second.secret, enrolment.secret);
    let first_secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let stale = w.auth.confirm_totp(&user, &app_code(&w, &first_secret, 0), &w.caller).await;
    assert!(matches!(stale, Err(AuthError::InvalidCode { .. })), "{stale:?}");
    let secret = TotpSecret::from_base32(&second.secret).unwrap();
    let codes = w.auth.confirm_totp(&user, &app_code(&w, &secret, 0), &w.caller).await.unwrap();
    assert_eq!(codes.recovery_codes.len(), 10);
    let distinct: std::collections::BTreeSet<_> = codes.recovery_codes.iter().collect();
    assert_eq!(distinct.len(), 10);

    // The secret is never shown again: enrolling once active is 409, and no second answer exists.
    assert!(matches!(w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await, Err(AuthError::FactorExists)));
    assert!(matches!(w.auth.confirm_totp(&user, &app_code(&w, &secret, 1), &w.caller).await, Err(AuthError::FactorExists)));

    // Stored: the secret sealed, the recovery codes hashed; neither in clear.
    let record = w.store.factors(&user.user.id).await.unwrap();
    let stored = format!("{record:?}");
    assert!(!stored.contains(&second.secret), "no base32 secret in the store");
    assert!(!stored.contains(&String::from_utf8_lossy(secret.expose_bytes()).to_string()));
    for code in &codes.recovery_codes {
        assert!(!stored.to_lowercase().contains(&code.replace('-', "")), "no recovery code in the store");
    }
    assert_eq!(record.recovery_hashes.len(), 10);
}

#[tokio::test]
async fn enrolment_needs_the_password_and_lapses_after_ten_minutes() {
    let w = world();
    let user = account(&w, "bo@example.com", "+447400000102").await;
    assert!(matches!(w.auth.enrol_totp(&user, &pw("wrong password"), &w.caller).await, Err(AuthError::InvalidCredentials)));
    let enrolment = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    w.clock.advance(601);
    assert!(matches!(w.auth.confirm_totp(&user, &app_code(&w, &secret, 0), &w.caller).await, Err(AuthError::ChallengeInvalid)));
}

#[tokio::test]
async fn login_defaults_to_the_authenticator_and_sends_no_sms() {
    let w = world();
    let user = account(&w, "cy@example.com", "+447400000103").await;
    let (secret, _) = with_authenticator(&w, &user).await;
    w.clock.advance(60); // the enrolment consumed its step; one step back is then still unused
    let sends = w.otp.sent().len();
    let challenge = w.auth.login(login_cmd("cy@example.com", None), &w.caller).await.unwrap();
    assert_eq!(w.otp.sent().len(), sends, "a TOTP login sends nothing");
    assert_eq!(challenge.factor, Some(ChallengeFactor::Totp));
    assert_eq!(challenge.factors, Some(vec!["totp", "phone", "recovery_code"]));
    let json = serde_json::to_value(&challenge).unwrap();
    assert!(json.get("channel").is_none() && json.get("to").is_none(), "{json}");
    assert_eq!(json["factor"], "totp");

    // The wrong code counts; the app's code (one step of drift is fine) completes it.
    let wrong = w.auth.verify(verify_code(&challenge.id, "000000"), &w.caller).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCode { attempts_remaining: 4 })), "{wrong:?}");
    let previous_step = secret.code_at_step(step_at(sms_mfa::ports::Clock::now(w.clock.as_ref())) - 1);
    let amr = amr_of(&w, w.auth.verify(verify_code(&challenge.id, &previous_step), &w.caller).await.unwrap()).await;
    assert_eq!(amr, ["pwd", "otp", "mfa"]);

    // Two steps of drift are too many.
    w.clock.advance(30);
    let challenge = w.auth.login(login_cmd("cy@example.com", None), &w.caller).await.unwrap();
    let far = secret.code_at_step(step_at(sms_mfa::ports::Clock::now(w.clock.as_ref())) - 2);
    assert!(matches!(w.auth.verify(verify_code(&challenge.id, &far), &w.caller).await, Err(AuthError::InvalidCode { .. })));
}

fn now_code(w: &World, secret: &TotpSecret) -> String {
    secret.code_at_step(step_at(sms_mfa::ports::Clock::now(w.clock.as_ref())))
}

/// hanko PR #2723, CVE-2024-5658, devise-two-factor GHSA-jm35-h8q2-73mp: a code accepted once
/// (here at enrolment) must not complete a login in the same time step.
#[tokio::test]
async fn a_time_step_is_accepted_once_whichever_route_saw_it() {
    let w = world();
    let user = account(&w, "di@example.com", "+447400000104").await;
    let enrolment = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let enrolment_code = now_code(&w, &secret);
    w.auth.confirm_totp(&user, &TotpCode::parse(&enrolment_code).unwrap(), &w.caller).await.unwrap();

    let challenge = w.auth.login(login_cmd("di@example.com", None), &w.caller).await.unwrap();
    let replay = w.auth.verify(verify_code(&challenge.id, &enrolment_code), &w.caller).await;
    assert!(matches!(replay, Err(AuthError::InvalidCode { .. })), "the enrolment code is spent: {replay:?}");
    // An older step (still within the window) is refused too: steps only move forward.
    let older = secret.code_at_step(step_at(sms_mfa::ports::Clock::now(w.clock.as_ref())) - 1);
    assert!(matches!(w.auth.verify(verify_code(&challenge.id, &older), &w.caller).await, Err(AuthError::InvalidCode { .. })));

    // The next step's code works once, on one challenge only.
    w.clock.advance(30);
    let next = now_code(&w, &secret);
    let other = w.auth.login(login_cmd("di@example.com", None), &w.caller).await.unwrap();
    let (a, b) =
        tokio::join!(w.auth.verify(verify_code(&challenge.id, &next), &w.caller), w.auth.verify(verify_code(&other.id, &next), &w.caller));
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "one of two parallel uses of a step wins");
    // And a step seen at login is spent for removal as well.
    let removal = w.auth.remove_totp(&user, &pw(PASSWORD), &FactorProof::parse("code", &next).unwrap(), &w.caller).await;
    assert!(matches!(removal, Err(AuthError::InvalidCode { .. })), "{removal:?}");
}

/// Zitadel CVE-2024-32868 / CVE-2023-47111, Gitea GHSA-5mx6-8rwm-52wf: failures are counted per
/// account across challenges and factors, atomically, and a new password login does not reset them.
#[tokio::test]
async fn fifty_parallel_wrong_codes_over_several_challenges_stay_within_the_account_limit() {
    let w = world();
    let user = account(&w, "ed@example.com", "+447400000105").await;
    let (secret, recovery) = with_authenticator(&w, &user).await;
    w.clock.advance(30);
    let mut challenges = Vec::new();
    for _ in 0..10 {
        challenges.push(w.auth.login(login_cmd("ed@example.com", None), &w.caller).await.unwrap().id);
    }
    let right = now_code(&w, &secret);
    let wrong = if right == "123456" { "654321" } else { "123456" };
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (auth, caller, id) = (w.auth.clone(), w.caller.clone(), challenges[i % 10].clone());
        tasks.push(tokio::spawn(async move { auth.verify(verify_code(&id, wrong), &caller).await }));
    }
    let mut invalid = 0;
    let mut limited = 0;
    for task in tasks {
        match task.await.unwrap() {
            Err(AuthError::InvalidCode { .. }) => invalid += 1,
            Err(AuthError::RateLimited { .. }) => limited += 1,
            Err(AuthError::TooManyAttempts) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(invalid, 10, "exactly FACTOR_FAILURES_PER_ACCOUNT wrong codes were compared");
    assert!(limited >= 1);

    // Beyond the limit even the right answers fail, on a new challenge from a new password login.
    let fresh = w.auth.login(login_cmd("ed@example.com", None), &w.caller).await.unwrap();
    let right_code = w.auth.verify(verify_code(&fresh.id, &right), &w.caller).await;
    assert!(matches!(right_code, Err(AuthError::RateLimited { retry_after }) if retry_after.as_secs() >= 1), "{right_code:?}");
    let by_recovery = w.auth.verify(verify_recovery(&fresh.id, &recovery[0]), &w.caller).await;
    assert!(matches!(by_recovery, Err(AuthError::RateLimited { .. })));
    let removal = w.auth.remove_totp(&user, &pw(PASSWORD), &FactorProof::parse("code", &right).unwrap(), &w.caller).await;
    assert!(matches!(removal, Err(AuthError::RateLimited { .. })), "every route shares the count");

    // The window passes: the right code works again (it was never consumed).
    w.clock.advance(15 * 60);
    let later = w.auth.login(login_cmd("ed@example.com", None), &w.caller).await.unwrap();
    assert!(w.auth.verify(verify_code(&later.id, &now_code(&w, &secret)), &w.caller).await.is_ok());
}

#[tokio::test]
async fn phone_code_failures_count_toward_the_same_account_limit() {
    let w = world();
    let user = account(&w, "fi@example.com", "+447400000106").await;
    let (secret, _) = with_authenticator(&w, &user).await;
    // 2 challenges x 5 wrong phone codes = the 10 failures the account may have.
    for _ in 0..2 {
        w.clock.advance(31);
        let challenge = w.auth.login(login_cmd("fi@example.com", Some(ChallengeFactor::Phone)), &w.caller).await.unwrap();
        assert_eq!(challenge.factor, Some(ChallengeFactor::Phone));
        assert_eq!(challenge.factors, Some(vec!["phone", "recovery_code"]));
        let sent = w.otp.last_code_to(&Phone::parse("+447400000106").unwrap()).unwrap();
        let wrong = if sent == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            assert!(matches!(w.auth.verify(verify_code(&challenge.id, wrong), &w.caller).await, Err(AuthError::InvalidCode { .. })));
        }
    }
    let totp = w.auth.login(login_cmd("fi@example.com", None), &w.caller).await.unwrap();
    assert!(matches!(w.auth.verify(verify_code(&totp.id, &now_code(&w, &secret)), &w.caller).await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test]
async fn phone_only_accounts_keep_the_v1_challenge_plus_factor() {
    let w = world();
    account(&w, "gu@example.com", "+447400000107").await;
    let challenge = w.auth.login(login_cmd("gu@example.com", None), &w.caller).await.unwrap();
    let json = serde_json::to_value(&challenge).unwrap();
    assert_eq!(json["factor"], "phone");
    assert_eq!(json["channel"], "sms");
    assert_eq!(json["to"], "+4*******0107");
    assert!(json.get("factors").is_none(), "{json}");
    let asked = w.auth.login(login_cmd("gu@example.com", Some(ChallengeFactor::Totp)), &w.caller).await;
    assert!(matches!(asked, Err(AuthError::InvalidRequest(_))), "no authenticator to use");
    let code = w.otp.last_code_to(&Phone::parse("+447400000107").unwrap()).unwrap();
    let amr = amr_of(&w, w.auth.verify(verify_code(&challenge.id, &code), &w.caller).await.unwrap()).await;
    assert_eq!(amr, ["pwd", "sms", "mfa"]);
}

#[tokio::test]
async fn resend_turns_a_totp_challenge_into_a_phone_challenge() {
    let w = world();
    let user = account(&w, "ha@example.com", "+447400000108").await;
    with_authenticator(&w, &user).await;
    w.clock.advance(30);
    let challenge = w.auth.login(login_cmd("ha@example.com", None), &w.caller).await.unwrap();
    let sends = w.otp.sent().len();
    let resent = w
        .auth
        .resend(ResendCommand { challenge_id: ChallengeId::parse(&challenge.id).unwrap(), channel: Some(Channel::Sms) }, &w.caller)
        .await
        .unwrap();
    assert_eq!(w.otp.sent().len(), sends + 1, "no cooldown before the first phone code");
    assert_eq!((resent.id.as_str(), resent.factor), (challenge.id.as_str(), Some(ChallengeFactor::Phone)));
    assert_eq!(resent.to.as_deref(), Some("+4*******0108"));
    assert_eq!(resent.factors, Some(vec!["phone", "recovery_code"]));
    // The SMS limits apply from now on.
    let again = w.auth.resend(ResendCommand { challenge_id: ChallengeId::parse(&challenge.id).unwrap(), channel: None }, &w.caller).await;
    assert!(matches!(again, Err(AuthError::ResendTooSoon { .. })));
    let code = w.otp.last_code_to(&Phone::parse("+447400000108").unwrap()).unwrap();
    let amr = amr_of(&w, w.auth.verify(verify_code(&challenge.id, &code), &w.caller).await.unwrap()).await;
    assert_eq!(amr, ["pwd", "sms", "mfa"]);
}

#[tokio::test]
async fn recovery_codes_complete_a_login_once_and_a_new_set_retires_the_old() {
    let w = world();
    let user = account(&w, "io@example.com", "+447400000109").await;
    let (secret, codes) = with_authenticator(&w, &user).await;

    let challenge = w.auth.login(login_cmd("io@example.com", None), &w.caller).await.unwrap();
    let amr = amr_of(&w, w.auth.verify(verify_recovery(&challenge.id, &codes[0].to_uppercase()), &w.caller).await.unwrap()).await;
    assert_eq!(amr, ["pwd", "mfa", "x-recovery-code"]);
    let again = w.auth.login(login_cmd("io@example.com", None), &w.caller).await.unwrap();
    assert!(
        matches!(w.auth.verify(verify_recovery(&again.id, &codes[0]), &w.caller).await, Err(AuthError::InvalidCode { .. })),
        "used once"
    );

    // Parallel uses of one code on ten challenges: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let id = w.auth.login(login_cmd("io@example.com", None), &w.caller).await.unwrap().id;
        let (auth, caller, code) = (w.auth.clone(), w.caller.clone(), codes[1].clone());
        tasks.push(tokio::spawn(async move { auth.verify(verify_recovery(&id, &code), &caller).await }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(w.store.factors(&user.user.id).await.unwrap().recovery_hashes.len(), 8);

    // A new set (password plus a current code) invalidates every older code.
    w.clock.advance(15 * 60); // past the failures of the parallel test
    let fresh = w
        .auth
        .regenerate_recovery_codes(&user, &pw(PASSWORD), &FactorProof::parse("code", &now_code(&w, &secret)).unwrap(), &w.caller)
        .await
        .unwrap();
    assert_eq!(fresh.recovery_codes.len(), 10);
    let challenge = w.auth.login(login_cmd("io@example.com", None), &w.caller).await.unwrap();
    assert!(matches!(w.auth.verify(verify_recovery(&challenge.id, &codes[2]), &w.caller).await, Err(AuthError::InvalidCode { .. })));
    assert!(w.auth.verify(verify_recovery(&challenge.id, &fresh.recovery_codes[0]), &w.caller).await.is_ok());

    // Regeneration with a recovery code spends that code, then replaces the set anyway.
    let newer = w
        .auth
        .regenerate_recovery_codes(&user, &pw(PASSWORD), &FactorProof::parse("code", &fresh.recovery_codes[1]).unwrap(), &w.caller)
        .await
        .unwrap();
    assert!(!newer.recovery_codes.contains(&fresh.recovery_codes[1]));
}

#[tokio::test]
async fn removal_needs_password_and_code_then_login_is_by_sms_again() {
    let w = world();
    let user = account(&w, "ju@example.com", "+447400000110").await;
    let (secret, codes) = with_authenticator(&w, &user).await;
    w.clock.advance(30);
    let code = FactorProof::parse("code", &now_code(&w, &secret)).unwrap();
    assert!(matches!(w.auth.remove_totp(&user, &pw("not it at all"), &code, &w.caller).await, Err(AuthError::InvalidCredentials)));
    let wrong = FactorProof::parse("code", "abcd-efgh-ijkl-mnop").unwrap();
    assert!(matches!(
        w.auth.remove_totp(&user, &pw(PASSWORD), &wrong, &w.caller).await,
        Err(AuthError::InvalidCode { attempts_remaining: 9 })
    ));
    w.auth.remove_totp(&user, &pw(PASSWORD), &code, &w.caller).await.unwrap();
    assert!(!w.auth.has_totp(&user.user.id).await.unwrap());

    let sends = w.otp.sent().len();
    let challenge = w.auth.login(login_cmd("ju@example.com", None), &w.caller).await.unwrap();
    assert_eq!((challenge.factor, w.otp.sent().len()), (Some(ChallengeFactor::Phone), sends + 1));
    assert!(
        matches!(
            w.auth.verify(verify_recovery(&challenge.id, &codes[0]), &w.caller).await,
            Err(AuthError::InvalidRequest(_) | AuthError::InvalidCode { .. })
        ),
        "the old codes died with it"
    );
    // Re-enrolling works, with a new secret.
    let again = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    assert_ne!(again.secret, secret.base32().as_str());
}

fn reset_cmd(challenge: &str, code: &str, totp: Option<&str>, recovery: Option<&str>) -> ResetCommand {
    ResetCommand {
        challenge_id: ChallengeId::parse(challenge).unwrap(),
        code: OtpCode::parse(code).unwrap(),
        new_password: PasswordPolicy::check(SecretString::from("a brand new passphrase".to_owned())).unwrap(),
        totp_code: totp.map(|c| SecretString::from(c.to_owned())),
        recovery_code: recovery.map(|c| SecretString::from(c.to_owned())),
    }
}

/// NIST SP 800-63B-4 §4.2: one SMS does not recover an account with two factors.
#[tokio::test]
async fn a_password_reset_of_an_account_with_an_authenticator_needs_it_too() {
    let w = world();
    let holder = account(&w, "ka@example.com", "+447400000111").await;
    let (secret, codes) = with_authenticator(&w, &holder).await;
    w.clock.advance(30);
    let forgot = ForgotCommand { email: Email::parse("ka@example.com").unwrap(), channel: Channel::Sms };
    let challenge = w.auth.forgot_password(forgot, &w.caller).await.unwrap();
    let sms = w.otp.last_code_to(&Phone::parse("+447400000111").unwrap()).unwrap();

    let missing = w.auth.reset_password(reset_cmd(&challenge.id, &sms, None, None), &w.caller).await;
    assert!(matches!(missing, Err(AuthError::FactorRequired)), "{missing:?}");
    // The challenge lives on (not consumed): the same SMS code with the factor completes it.
    let wrong = w.auth.reset_password(reset_cmd(&challenge.id, &sms, Some("000000"), None), &w.caller).await;
    let right_now = now_code(&w, &secret);
    assert!(right_now == "000000" || matches!(wrong, Err(AuthError::InvalidCode { .. })), "{wrong:?}");
    w.auth.reset_password(reset_cmd(&challenge.id, &sms, None, Some(&codes[3])), &w.caller).await.unwrap();
    // The recovery code is spent, and the account still has its authenticator.
    let login = LoginCommand {
        email: Email::parse("ka@example.com").unwrap(),
        password: pw("a brand new passphrase"),
        channel: Channel::Sms,
        factor: None,
    };
    let challenge = w.auth.login(login, &w.caller).await.unwrap();
    assert_eq!(challenge.factor, Some(ChallengeFactor::Totp));
    assert!(matches!(w.auth.verify(verify_recovery(&challenge.id, &codes[3]), &w.caller).await, Err(AuthError::InvalidCode { .. })));
}

#[tokio::test]
async fn my_account_lists_the_authenticator_and_the_recovery_codes_left() {
    let w = world();
    let holder = account(&w, "le@example.com", "+447400000112").await;
    assert_eq!(w.auth.user_info(&holder).await.unwrap().factors, ["phone"]);
    assert_eq!(w.auth.user_info(&holder).await.unwrap().recovery_codes_remaining, None);
    let (_, codes) = with_authenticator(&w, &holder).await;
    let challenge = w.auth.login(login_cmd("le@example.com", None), &w.caller).await.unwrap();
    w.auth.verify(verify_recovery(&challenge.id, &codes[0]), &w.caller).await.unwrap();
    let info = w.auth.user_info(&holder).await.unwrap();
    assert_eq!((info.factors.clone(), info.recovery_codes_remaining), (vec!["phone", "totp"], Some(9)));
    let json = serde_json::to_string(&info).unwrap();
    assert!(!json.contains("secret"), "{json}");
}

#[tokio::test]
async fn adding_and_removing_the_authenticator_write_their_lifecycle_events_and_failures_none() {
    let w = world();
    let user = account(&w, "lc@example.com", "+447400000120").await;
    let types = |w: &World| w.store.outbox().iter().map(|e| e.detail_type()).collect::<Vec<_>>();
    let before = types(&w).len();
    let enrolment = w.auth.enrol_totp(&user, &pw(PASSWORD), &w.caller).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    assert!(w.auth.confirm_totp(&user, &app_code(&w, &secret, 20), &w.caller).await.is_err(), "ten minutes ahead");
    assert_eq!(types(&w).len(), before, "a wrong first code adds no factor and writes no event");
    w.auth.confirm_totp(&user, &app_code(&w, &secret, 0), &w.caller).await.unwrap();
    assert_eq!(types(&w)[before..], ["FactorAdded"]);
    w.clock.advance(30);
    let code = FactorProof::parse("code", &now_code(&w, &secret)).unwrap();
    assert!(w.auth.remove_totp(&user, &pw("not it at all"), &code, &w.caller).await.is_err());
    assert_eq!(types(&w)[before..], ["FactorAdded"], "a refused removal writes nothing");
    w.auth.remove_totp(&user, &pw(PASSWORD), &code, &w.caller).await.unwrap();
    assert_eq!(types(&w)[before..], ["FactorAdded", "FactorRemoved"]);
    for event in &w.store.outbox()[before..] {
        assert_eq!((event.user_id.clone(), event.detail()["factor"].as_str()), (user.user.id.clone(), Some("totp")));
        assert!(!event.detail().to_string().contains(&enrolment.secret), "no secret in an event");
    }
}
