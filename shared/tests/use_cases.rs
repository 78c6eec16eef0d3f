//! The use cases over in-memory ports: flows, undo on failure, and enumeration safety.

use secrecy::ExposeSecret;
use secrecy::SecretString;
use sms_mfa::{
    adapters::jwt::TokenKeys,
    config::Limits,
    domain::*,
    testing::{generate_signing_key_pem, memory_ports, CountingHasher, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::sessions::{SessionService, REUSE_GRACE},
    use_cases::*,
    AuthError,
};
use std::sync::Arc;
use std::time::Duration;

struct World {
    auth: AuthService,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    hasher: Arc<CountingHasher>,
    clock: Arc<ManualClock>,
    events: Arc<RecordingEvents>,
    caller: Caller,
}

fn world() -> World {
    world_with(Limits::default())
}

fn world_with(limits: Limits) -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let hasher = Arc::new(CountingHasher::default());
    let clock = Arc::new(ManualClock::at(1_900_000_000));
    let keys = TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap();
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), Arc::new(keys), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), hasher.clone(), clock.clone(), events.clone());
    let auth = AuthService::new(ports, sessions, limits);
    World { auth, store, otp, hasher, clock, events, caller: Caller { source_ip: Some("203.0.113.7".into()) } }
}

fn password(p: &str) -> Password {
    PasswordPolicy::check(SecretString::from(p.to_owned())).unwrap()
}

fn register_cmd(email: &str, phone: &str) -> RegisterCommand {
    RegisterCommand {
        email: Email::parse(email).unwrap(),
        password: password("correct horse battery"),
        phone: Phone::parse(phone).unwrap(),
        channel: Channel::Sms,
    }
}

fn login_cmd(email: &str, pw: &str) -> LoginCommand {
    LoginCommand {
        email: Email::parse(email).unwrap(),
        password: Password::for_check(SecretString::from(pw.to_owned())).unwrap(),
        channel: Channel::Sms,
        factor: None,
    }
}

async fn verify(w: &World, challenge: &ChallengeView, phone: &str) -> Result<Verified, AuthError> {
    let code = w.otp.last_code_to(&Phone::parse(phone).unwrap()).unwrap();
    w.auth
        .verify(
            VerifyCommand {
                challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
                proof: ChallengeProof::Code(OtpCode::parse(&code).unwrap()),
            },
            &w.caller,
        )
        .await
}

#[tokio::test]
async fn signup_then_login_issue_tokens_only_after_the_code() {
    let w = world();
    let registered = w.auth.register(register_cmd("ada@example.com", "+447400000001"), &w.caller).await.unwrap();
    assert_eq!(registered.challenge.purpose, Purpose::Signup);
    assert_eq!(registered.challenge.to.as_deref(), Some("+4*******0001"));
    let Verified::Tokens(tokens) = verify(&w, &registered.challenge, "+447400000001").await.unwrap() else { panic!("tokens") };
    assert!(tokens.user.phone_verified);

    let sends_before = w.otp.sent().len();
    let wrong = w.auth.login(login_cmd("ada@example.com", "not the password"), &w.caller).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    assert_eq!(w.otp.sent().len(), sends_before, "no code before the password is proven");

    let challenge = w.auth.login(login_cmd("ada@example.com", "correct horse battery"), &w.caller).await.unwrap();
    let Verified::Tokens(tokens) = verify(&w, &challenge, "+447400000001").await.unwrap() else { panic!("tokens") };
    assert_eq!(tokens.user.email, "ada@example.com");
    assert!(matches!(verify(&w, &challenge, "+447400000001").await, Err(AuthError::ChallengeInvalid)), "single use");
}

#[tokio::test]
async fn a_failed_send_leaves_no_account_and_the_retry_works() {
    let w = world();
    w.otp.fail_next_sends(1);
    let failed = w.auth.register(register_cmd("bob@example.com", "+447400000002"), &w.caller).await;
    assert!(matches!(failed, Err(AuthError::SmsUnavailable)));
    assert_eq!((w.store.user_count(), w.store.challenge_count()), (0, 0));
    assert!(w.auth.register(register_cmd("bob@example.com", "+447400000002"), &w.caller).await.is_ok());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_cost_the_same_and_answer_the_same() {
    let w = world();
    w.auth.register(register_cmd("eve@example.com", "+447400000003"), &w.caller).await.unwrap();
    let before = w.hasher.verifies();
    let wrong = w.auth.login(login_cmd("eve@example.com", "wrong password"), &w.caller).await.unwrap_err();
    let after_wrong = w.hasher.verifies();
    let unknown = w.auth.login(login_cmd("nobody@example.com", "wrong password"), &w.caller).await.unwrap_err();
    let after_unknown = w.hasher.verifies();
    assert_eq!(after_wrong - before, 1);
    assert_eq!(after_unknown - after_wrong, 1, "an unknown email still runs one argon2 verify");
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(matches!((wrong, unknown), (AuthError::InvalidCredentials, AuthError::InvalidCredentials)));
}

#[tokio::test]
async fn failed_logins_lock_the_account_window_even_for_the_right_password() {
    let w = world();
    w.auth.register(register_cmd("mal@example.com", "+447400000004"), &w.caller).await.unwrap();
    for _ in 0..10 {
        assert!(matches!(w.auth.login(login_cmd("mal@example.com", "guess guess"), &w.caller).await, Err(AuthError::InvalidCredentials)));
    }
    let locked = w.auth.login(login_cmd("mal@example.com", "correct horse battery"), &w.caller).await;
    assert!(matches!(locked, Err(AuthError::RateLimited { .. })));
    w.clock.advance(15 * 60);
    assert!(w.auth.login(login_cmd("mal@example.com", "correct horse battery"), &w.caller).await.is_ok(), "the next window is open");
}

#[tokio::test]
async fn wrong_codes_count_down_then_kill_the_challenge_and_resend_keeps_the_count() {
    let w = world();
    let registered = w.auth.register(register_cmd("cy@example.com", "+447400000005"), &w.caller).await.unwrap();
    let id = ChallengeId::parse(&registered.challenge.id).unwrap();
    let right = w.otp.last_code_to(&Phone::parse("+447400000005").unwrap()).unwrap();
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    let check = |code: &str| {
        w.auth.verify(VerifyCommand { challenge_id: id.clone(), proof: ChallengeProof::Code(OtpCode::parse(code).unwrap()) }, &w.caller)
    };
    for remaining in [4, 3] {
        assert!(matches!(check(&wrong).await, Err(AuthError::InvalidCode { attempts_remaining }) if attempts_remaining == remaining));
    }
    let too_soon = w.auth.resend(ResendCommand { challenge_id: id.clone(), channel: None }, &w.caller).await;
    assert!(matches!(too_soon, Err(AuthError::ResendTooSoon { retry_after }) if retry_after == Duration::from_secs(30)));
    w.clock.advance(30);
    w.auth.resend(ResendCommand { challenge_id: id.clone(), channel: Some(Channel::Call) }, &w.caller).await.unwrap();
    let fresh = w.otp.last_code_to(&Phone::parse("+447400000005").unwrap()).unwrap();
    let wrong = format!("{:06}", (fresh.parse::<u32>().unwrap() + 1) % 1_000_000);
    for remaining in [2, 1, 0] {
        assert!(matches!(check(&wrong).await, Err(AuthError::InvalidCode { attempts_remaining }) if attempts_remaining == remaining));
    }
    assert!(matches!(check(&fresh).await, Err(AuthError::TooManyAttempts)), "dead even with the right code");
}

#[tokio::test]
async fn a_code_completes_only_its_own_challenge_and_expires() {
    let w = world();
    let a = w.auth.register(register_cmd("a@example.com", "+447400000006"), &w.caller).await.unwrap();
    let b = w.auth.register(register_cmd("b@example.com", "+447400000007"), &w.caller).await.unwrap();
    let code_a = w.otp.last_code_to(&Phone::parse("+447400000006").unwrap()).unwrap();
    let cross = w
        .auth
        .verify(
            VerifyCommand {
                challenge_id: ChallengeId::parse(&b.challenge.id).unwrap(),
                proof: ChallengeProof::Code(OtpCode::parse(&code_a).unwrap()),
            },
            &w.caller,
        )
        .await;
    assert!(matches!(cross, Err(AuthError::InvalidCode { .. })));
    w.clock.advance(600);
    assert!(matches!(verify(&w, &a.challenge, "+447400000006").await, Err(AuthError::ChallengeInvalid)), "expired");
}

#[tokio::test]
async fn phone_change_keeps_the_old_phone_until_the_new_one_is_verified() {
    let w = world();
    let registered = w.auth.register(register_cmd("pat@example.com", "+447400000008"), &w.caller).await.unwrap();
    verify(&w, &registered.challenge, "+447400000008").await.unwrap();
    let user_id = UserId(registered.user_id.clone());
    let wrong = w
        .auth
        .request_phone_change(
            &user_id,
            PhoneChangeCommand {
                phone: Phone::parse("+447400000009").unwrap(),
                password: password("wrong password"),
                channel: Channel::Sms,
            },
            &w.caller,
        )
        .await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    let challenge = w
        .auth
        .request_phone_change(
            &user_id,
            PhoneChangeCommand {
                phone: Phone::parse("+447400000009").unwrap(),
                password: password("correct horse battery"),
                channel: Channel::Sms,
            },
            &w.caller,
        )
        .await
        .unwrap();
    assert_eq!(challenge.purpose, Purpose::PhoneChange);
    let login = w.auth.login(login_cmd("pat@example.com", "correct horse battery"), &w.caller).await.unwrap();
    assert_eq!(login.to, Some(Phone::parse("+447400000008").unwrap().masked()), "old phone until verified");
    let Verified::PhoneChanged(user) = verify(&w, &challenge, "+447400000009").await.unwrap() else { panic!("user") };
    assert_eq!(user.phone, Phone::parse("+447400000009").unwrap().masked());
    // The login challenge sent to the old number is now stale.
    assert!(matches!(verify(&w, &login, "+447400000008").await, Err(AuthError::ChallengeInvalid)));
    // The lifecycle events: the sign-up, then the new number, masked (the refused request and
    // the stale login wrote none).
    let outbox = w.store.outbox();
    assert_eq!(outbox.iter().map(|e| e.detail_type()).collect::<Vec<_>>(), ["UserSignedUp", "PhoneChanged"]);
    assert_eq!(outbox[1].detail()["phone"], Phone::parse("+447400000009").unwrap().masked().as_str());
    assert!(!outbox[1].detail().to_string().contains("7400000009"), "only masked");
}

#[tokio::test]
async fn builtin_style_provider_refuses_channels_it_cannot_deliver() {
    let w = world();
    let mut cmd = register_cmd("wa@example.com", "+447400000010");
    cmd.channel = Channel::Whatsapp;
    assert!(matches!(w.auth.register(cmd, &w.caller).await, Err(AuthError::ChannelUnavailable(_))));
    assert_eq!(w.store.user_count(), 0);
}

/// SMS_ALLOWED_COUNTRIES: refused before anything is stored or sent, on every route that sends
/// to a number the request names or a challenge holds.
#[tokio::test]
async fn numbers_outside_the_sms_allowlist_are_refused_before_anything_is_kept_or_sent() {
    let w = world_with(Limits { sms_regions: SmsRegions::parse("GB,IE").unwrap(), ..Limits::default() });
    let names_fr = |result: Result<ChallengeView, AuthError>| match result {
        Err(AuthError::InvalidPhone(message)) => assert!(message.contains("FR"), "{message}"),
        other => panic!("expected invalid_phone naming FR, got {other:?}"),
    };
    names_fr(w.auth.register(register_cmd("fr@example.com", "+33612345678"), &w.caller).await.map(|r| r.challenge));
    assert_eq!((w.store.user_count(), w.store.challenge_count(), w.otp.sent().len()), (0, 0, 0));

    let registered = w.auth.register(register_cmd("gb@example.com", "+447400000011"), &w.caller).await.unwrap();
    verify(&w, &registered.challenge, "+447400000011").await.unwrap();
    let user_id = UserId(registered.user_id.clone());
    let sends = w.otp.sent().len();
    // Refused before the password is checked: even a wrong one counts nothing.
    let change =
        PhoneChangeCommand { phone: Phone::parse("+33612345678").unwrap(), password: password("wrong password"), channel: Channel::Sms };
    names_fr(w.auth.request_phone_change(&user_id, change, &w.caller).await);
    assert_eq!((w.store.challenge_count(), w.otp.sent().len()), (1, sends), "only the used sign-up challenge");

    // A challenge started before the list changed: its resend is refused and leaves it as it was.
    let now = 1_900_000_000;
    let started_earlier = Challenge {
        id: ChallengeId::new(),
        user_id: user_id.clone(),
        purpose: Purpose::Login,
        phone: Phone::parse("+33612345678").unwrap(),
        channel: Channel::Sms,
        provider_ref: None,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: now - 120,
        last_sent_at: now - 120,
        expires_at: now + 480,
        decoy: false,
        credentials_version: 0,
        reset_budget: None,
        factor: ChallengeFactor::Phone,
    };
    sms_mfa::ports::ChallengeStore::put(w.store.as_ref(), &started_earlier).await.unwrap();
    names_fr(w.auth.resend(ResendCommand { challenge_id: started_earlier.id.clone(), channel: None }, &w.caller).await);
    let kept = sms_mfa::ports::ChallengeStore::get(w.store.as_ref(), &started_earlier.id).await.unwrap().unwrap();
    assert_eq!(kept, started_earlier, "the refused resend claimed nothing");
    assert_eq!(w.otp.sent().len(), sends, "nothing was sent");
}

#[tokio::test]
async fn refresh_rotates_detects_reuse_and_tolerates_a_double_submit() {
    let w = world();
    let registered = w.auth.register(register_cmd("rt@example.com", "+447400000011"), &w.caller).await.unwrap();
    let Verified::Tokens(first) = verify(&w, &registered.challenge, "+447400000011").await.unwrap() else { panic!() };
    let sessions = w.auth.sessions();
    let old = first.refresh_token.expose_secret().to_owned();
    let second = sessions.refresh(&old).await.unwrap();
    assert_ne!(second.refresh_token.expose_secret(), old.as_str());
    // A second tab presenting the same token moments later gets the same successor.
    let twin = sessions.refresh(&old).await.unwrap();
    assert_eq!(twin.refresh_token.expose_secret(), second.refresh_token.expose_secret());
    // After the grace, reuse is theft: the family dies, the newer token too.
    w.clock.advance(REUSE_GRACE.as_secs() as i64 + 1);
    assert!(matches!(sessions.refresh(&old).await, Err(AuthError::InvalidToken)));
    assert!(matches!(sessions.refresh(second.refresh_token.expose_secret()).await, Err(AuthError::InvalidToken)));
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() {
    let w = world();
    let registered = w.auth.register(register_cmd("lo@example.com", "+447400000012"), &w.caller).await.unwrap();
    let Verified::Tokens(tokens) = verify(&w, &registered.challenge, "+447400000012").await.unwrap() else { panic!() };
    let sessions = w.auth.sessions();
    sessions.logout(tokens.refresh_token.expose_secret()).await.unwrap();
    sessions.logout(tokens.refresh_token.expose_secret()).await.unwrap();
    sessions.logout("rt_garbage").await.unwrap();
    assert!(matches!(sessions.refresh(tokens.refresh_token.expose_secret()).await, Err(AuthError::InvalidToken)));
    w.clock.advance(86400);
    assert!(matches!(sessions.refresh(tokens.refresh_token.expose_secret()).await, Err(AuthError::InvalidToken)));
}

#[tokio::test]
async fn the_global_send_cap_refuses_the_send_past_it_until_the_next_window() {
    // The sharding itself is tested in sms_mfa::sharded_limit; this is the use case's wiring.
    let w = world_with(Limits { sends_global_hour: 3, ..Limits::default() });
    for i in 0..3 {
        assert!(w.auth.register(register_cmd(&format!("u{i}@example.com"), &format!("+44740000010{i}")), &w.caller).await.is_ok());
    }
    let refused = w.auth.register(register_cmd("u3@example.com", "+447400000103"), &w.caller).await;
    assert!(matches!(refused, Err(AuthError::RateLimited { .. })), "{refused:?}");
    assert_eq!(w.store.user_count(), 3, "the refused sign-up left no account");
    w.clock.advance(3600);
    assert!(w.auth.register(register_cmd("u3@example.com", "+447400000103"), &w.caller).await.is_ok());
}

#[tokio::test]
async fn a_flow_records_each_security_event_once_through_the_sink() {
    let w = world();
    let phone = "+447911123456";
    let registered = w.auth.register(register_cmd("events@example.com", phone), &w.caller).await.unwrap();
    verify(&w, &registered.challenge, phone).await.unwrap();
    assert!(matches!(
        w.auth.login(login_cmd("events@example.com", "not the password"), &w.caller).await,
        Err(AuthError::InvalidCredentials)
    ));
    let challenge = w.auth.login(login_cmd("events@example.com", "correct horse battery"), &w.caller).await.unwrap();
    verify(&w, &challenge, phone).await.unwrap();
    use EventKind::*;
    let sms = CodeSent { channel: Channel::Sms };
    assert_eq!(
        w.events.kinds(),
        vec![
            sms,
            SignUp,
            VerificationPassed { purpose: Purpose::Signup },
            LoginCompleted { purpose: Purpose::Signup },
            PasswordFailed,
            LoginPasswordRefused,
            sms,
            LoginStarted,
            VerificationPassed { purpose: Purpose::Login },
            LoginCompleted { purpose: Purpose::Login },
        ]
    );
    // Each names the account and never carries more than the masked-on-output phone and IP.
    let completed = w.events.all().into_iter().find(|e| e.kind == (LoginCompleted { purpose: Purpose::Login })).unwrap();
    assert_eq!(completed.subject.phone, Some(Phone::parse(phone).unwrap()));
    assert_eq!(completed.subject.source_ip.as_deref(), Some("203.0.113.7"));
}
