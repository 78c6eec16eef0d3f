//! Remembered devices over the in-memory ports, with a clock the tests move (API.md v3,
//! "Remembered devices"): remembering, skipping the code with the password, rotation, a spent
//! token forgetting its device, the lifetime, the cap of 10, every event that forgets all
//! devices, the holder's list and "forget", and racing logins with one token.

use secrecy::{ExposeSecret, SecretString};
use sms_mfa::{
    adapters::jwt::TokenKeys,
    config::Limits,
    domain::*,
    testing::{generate_signing_key_pem, memory_ports, CountingHasher, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::sessions::SessionService,
    use_cases::*,
    AuthError,
};
use std::{sync::Arc, time::Duration};

const PASSWORD: &str = "correct horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const DAY: i64 = 86400;

struct World {
    auth: Arc<AuthService>,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    keys: Arc<TokenKeys>,
    events: Arc<RecordingEvents>,
    caller: Caller,
}

/// The send caps out of the way: these tests send many codes to one number.
fn world() -> World {
    world_with(Limits::default())
}

fn generous(limits: Limits) -> Limits {
    Limits { sends_per_phone: 1000, sends_per_ip_hour: 1000, logins_per_ip_hour: 1000, ..limits }
}

fn world_with(limits: Limits) -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_010));
    let keys = Arc::new(TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap());
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), keys.clone(), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), Arc::new(CountingHasher::default()), clock.clone(), events.clone());
    let auth = Arc::new(AuthService::new(ports, sessions, generous(limits)));
    World { auth, store, otp, clock, keys, events, caller: Caller { source_ip: Some("203.0.113.30".into()) } }
}

fn pw(p: &str) -> Password {
    Password::for_check(SecretString::from(p.to_owned())).unwrap()
}

fn login_cmd(email: &str, password: &str) -> LoginCommand {
    LoginCommand { email: Email::parse(email).unwrap(), password: pw(password), channel: Channel::Sms, factor: None }
}

fn verify_code(challenge: &str, code: &str) -> VerifyCommand {
    VerifyCommand { challenge_id: ChallengeId::parse(challenge).unwrap(), proof: ChallengeProof::Code(OtpCode::parse(code).unwrap()) }
}

fn remember() -> Option<RememberDevice> {
    Some(RememberDevice { user_agent: Some(FIREFOX.into()) })
}

/// The token of a remembered answer.
fn token_of(signed_in: &SignedIn) -> String {
    signed_in.device.as_ref().expect("a device").token.as_ref().expect("its token").expose_secret().to_owned()
}

/// Completes the challenge with the code last sent to `phone`, remembering the device.
async fn complete_remembering(w: &World, challenge: &str, phone: &str) -> SignedIn {
    let code = w.otp.last_code_to(&Phone::parse(phone).unwrap()).unwrap();
    match w.auth.verify_remembering(verify_code(challenge, &code), remember(), &w.caller).await.unwrap() {
        Verified::Remembered(signed_in) => signed_in,
        other => panic!("expected tokens and a device, got {other:?}"),
    }
}

/// Signs up with "remember this device": the account's holder and the device token.
async fn remembered_account(w: &World, email: &str, phone: &str) -> (Holder, String) {
    let cmd = RegisterCommand {
        email: Email::parse(email).unwrap(),
        password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
        phone: Phone::parse(phone).unwrap(),
        channel: Channel::Sms,
    };
    let registered = w.auth.register(cmd, &w.caller).await.unwrap();
    let signed_in = complete_remembering(w, &registered.challenge.id, phone).await;
    let holder = w.auth.holder(&signed_in.tokens.access_token).await.unwrap();
    (holder, token_of(&signed_in))
}

async fn login_with(w: &World, email: &str, password: &str, token: &str) -> Result<LoginAnswer, AuthError> {
    w.auth.login_with_device(login_cmd(email, password), Some(token), &w.caller).await
}

/// A login with `token` that must skip the code: its answer.
async fn skips(w: &World, email: &str, token: &str) -> SignedIn {
    match login_with(w, email, PASSWORD, token).await.unwrap() {
        LoginAnswer::SignedIn(signed_in) => signed_in,
        LoginAnswer::Challenge { .. } => panic!("the device token did not skip the code"),
    }
}

/// A login with `token` that must ask for a code (and send one).
async fn asks_for_a_code(w: &World, email: &str, token: &str) {
    let sends = w.otp.sent().len();
    match login_with(w, email, PASSWORD, token).await.unwrap() {
        LoginAnswer::Challenge { device_refused, .. } => assert!(device_refused),
        LoginAnswer::SignedIn(_) => panic!("{token:.8}… skipped the code"),
    }
    assert_eq!(w.otp.sent().len(), sends + 1, "a code went out");
}

#[tokio::test]
async fn a_remembered_device_skips_the_code_once_per_token_and_rotates() {
    let w = world();
    let (holder, first) = remembered_account(&w, "ann@example.com", "+447400000301").await;
    assert!(first.starts_with("dv_") && first.len() > 40, "{first}");
    assert_eq!(w.events.count(EventKind::DeviceRemembered), 1);

    let sends = w.otp.sent().len();
    let signed_in = skips(&w, "ann@example.com", &first).await;
    assert_eq!(w.otp.sent().len(), sends, "nothing is sent");
    let claims = w.keys.verify(&signed_in.tokens.access_token).await.unwrap();
    assert_eq!(claims.amr, ["pwd", "mfa", "x-remembered-device"]);
    assert_eq!(signed_in.tokens.user.email, "ann@example.com");
    let second = token_of(&signed_in);
    assert_ne!(second, first, "the token rotates");
    assert_eq!(w.events.count(EventKind::DeviceUsed), 1);
    // The answer serializes as the tokens plus `device`.
    let body = serde_json::to_value(&signed_in).unwrap();
    assert_eq!(body["device"]["token"].as_str(), Some(second.as_str()));
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());

    // The new token works, once.
    let third = token_of(&skips(&w, "ann@example.com", &second).await);
    // A spent token that comes back asks for a code and forgets the device: the live token too.
    asks_for_a_code(&w, "ann@example.com", &first).await;
    assert_eq!(w.events.count(EventKind::DeviceSpentTokenReturned), 1);
    assert!(w.auth.devices(&holder).await.unwrap().is_empty());
    asks_for_a_code(&w, "ann@example.com", &third).await;
}

#[tokio::test]
async fn the_password_always_comes_first_and_failures_count_as_without_a_token() {
    let w = world();
    let (_, token) = remembered_account(&w, "bea@example.com", "+447400000302").await;
    for _ in 0..Limits::default().login_failures_per_account {
        assert!(matches!(login_with(&w, "bea@example.com", "not the password", &token).await, Err(AuthError::InvalidCredentials)));
    }
    // The failed-password limit answers 429 even with the right password and a live token.
    assert!(matches!(login_with(&w, "bea@example.com", PASSWORD, &token).await, Err(AuthError::RateLimited { .. })));
    // Nothing was spent by those attempts: once the window passes, the token still skips.
    w.clock.advance(15 * 60);
    skips(&w, "bea@example.com", &token).await;
}

#[tokio::test]
async fn garbage_foreign_and_expired_tokens_only_fail_to_skip_the_code() {
    let w = world();
    let (holder, token) = remembered_account(&w, "cy@example.com", "+447400000303").await;
    let (_, foreign) = remembered_account(&w, "di@example.com", "+447400000304").await;
    let slot_twin = format!("{}{}", &token[..5], "A".repeat(43));
    for garbage in ["", "x", "dv_", "dv_9.", "rt_abc", "dv_0.!!!", slot_twin.as_str(), &"z".repeat(5000)] {
        asks_for_a_code(&w, "cy@example.com", garbage).await;
    }
    // Another account's live token names a slot of this account where its hash is unknown.
    asks_for_a_code(&w, "cy@example.com", &foreign).await;
    skips(&w, "di@example.com", &foreign).await;
    assert_eq!(w.auth.devices(&holder).await.unwrap().len(), 1, "nothing above forgot the device");

    // Rotation does not extend the lifetime: 29 days on, the new token has a day left.
    w.clock.advance(29 * DAY);
    let signed_in = skips(&w, "cy@example.com", &token).await;
    assert_eq!(signed_in.device.as_ref().unwrap().expires_in, DAY);
    let next = token_of(&signed_in);
    w.clock.advance(DAY);
    asks_for_a_code(&w, "cy@example.com", &next).await;
    assert!(w.auth.devices(&holder).await.unwrap().is_empty(), "expired devices are not listed");
}

#[tokio::test]
async fn at_most_ten_devices_and_the_oldest_goes() {
    let w = world();
    let (holder, oldest) = remembered_account(&w, "ed@example.com", "+447400000305").await;
    let mut tokens = vec![];
    for _ in 0..MAX_DEVICES {
        w.clock.advance(60);
        let challenge = w.auth.login(login_cmd("ed@example.com", PASSWORD), &w.caller).await.unwrap();
        tokens.push(token_of(&complete_remembering(&w, &challenge.id, "+447400000305").await));
    }
    let devices = w.auth.devices(&holder).await.unwrap();
    assert_eq!(devices.len(), usize::from(MAX_DEVICES));
    assert_eq!(w.store.device_count(&holder.user.id), usize::from(MAX_DEVICES));
    assert!(devices.windows(2).all(|p| p[0].created_at >= p[1].created_at), "newest first");
    assert_eq!(devices[0].label, "Firefox on Linux");
    asks_for_a_code(&w, "ed@example.com", &oldest).await;
    for token in &tokens {
        skips(&w, "ed@example.com", token).await;
    }
}

/// Every event that forgets all devices of the account.
#[tokio::test]
async fn credential_phone_and_authenticator_changes_forget_every_device() {
    let w = world();

    // A password change (the caller's own session goes on; its devices do not).
    let (holder, token) = remembered_account(&w, "fa@example.com", "+447400000306").await;
    let change = ChangePasswordCommand { current_password: pw(PASSWORD), new_password: pw("a brand new passphrase") };
    w.auth.change_password(&holder, change, &w.caller).await.unwrap();
    let sends = w.otp.sent().len();
    let LoginAnswer::Challenge { .. } = login_with(&w, "fa@example.com", "a brand new passphrase", &token).await.unwrap() else {
        panic!("skipped after a password change")
    };
    assert_eq!(w.otp.sent().len(), sends + 1);

    // A reset.
    let (_, token) = remembered_account(&w, "ga@example.com", "+447400000307").await;
    let forgot = ForgotCommand { email: Email::parse("ga@example.com").unwrap(), channel: Channel::Sms };
    let challenge = w.auth.forgot_password(forgot, &w.caller).await.unwrap();
    let code = w.otp.last_code_to(&Phone::parse("+447400000307").unwrap()).unwrap();
    let reset = ResetCommand {
        challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
        code: OtpCode::parse(&code).unwrap(),
        new_password: PasswordPolicy::check(SecretString::from("another new passphrase".to_owned())).unwrap(),
        totp_code: None,
        recovery_code: None,
    };
    w.auth.reset_password(reset, &w.caller).await.unwrap();
    let LoginAnswer::Challenge { .. } = login_with(&w, "ga@example.com", "another new passphrase", &token).await.unwrap() else {
        panic!("skipped after a reset")
    };

    // A phone change.
    let (holder, token) = remembered_account(&w, "ha@example.com", "+447400000308").await;
    let cmd = PhoneChangeCommand { phone: Phone::parse("+447400000318").unwrap(), password: pw(PASSWORD), channel: Channel::Sms };
    let challenge = w.auth.request_phone_change(&holder.user.id, cmd, &w.caller).await.unwrap();
    let code = w.otp.last_code_to(&Phone::parse("+447400000318").unwrap()).unwrap();
    assert!(matches!(w.auth.verify(verify_code(&challenge.id, &code), &w.caller).await.unwrap(), Verified::PhoneChanged(_)));
    asks_for_a_code(&w, "ha@example.com", &token).await;

    // A global logout.
    let (holder, token) = remembered_account(&w, "ia@example.com", "+447400000309").await;
    let challenge = w.auth.login(login_cmd("ia@example.com", PASSWORD), &w.caller).await.unwrap();
    let code = w.otp.last_code_to(&Phone::parse("+447400000309").unwrap()).unwrap();
    let Verified::Tokens(session) = w.auth.verify(verify_code(&challenge.id, &code), &w.caller).await.unwrap() else { panic!() };
    w.auth.sessions().logout_everywhere(session.refresh_token.expose_secret()).await.unwrap();
    asks_for_a_code(&w, "ia@example.com", &token).await;
    assert!(w.auth.holder(&session.access_token).await.is_err() && w.auth.holder(&holder.claims.sid).await.is_err());

    // A deletion leaves no device item behind.
    let (holder, _) = remembered_account(&w, "ja@example.com", "+447400000310").await;
    w.auth.delete_account(&holder, &pw(PASSWORD), &w.caller).await.unwrap();
    assert_eq!(w.store.device_count(&holder.user.id), 0);
    assert!(!w.store.mentions(&holder.user.id.0));
}

#[tokio::test]
async fn an_authenticator_added_or_removed_forgets_every_device() {
    let w = world();
    let (holder, token) = remembered_account(&w, "ka@example.com", "+447400000311").await;
    let enrolment = w.auth.enrol_totp(&holder, &pw(PASSWORD), &w.caller).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let step = step_at(sms_mfa::ports::Clock::now(w.clock.as_ref()));
    w.auth.confirm_totp(&holder, &TotpCode::parse(&secret.code_at_step(step)).unwrap(), &w.caller).await.unwrap();
    // Login now defaults to the app: a totp challenge, no SMS; the device skips nothing.
    let LoginAnswer::Challenge { challenge, device_refused: true } = login_with(&w, "ka@example.com", PASSWORD, &token).await.unwrap()
    else {
        panic!("skipped after an authenticator was added")
    };
    // Remembered again with the app's code, then the app removed: forgotten again.
    w.clock.advance(30);
    let step = step_at(sms_mfa::ports::Clock::now(w.clock.as_ref()));
    let verified = w.auth.verify_remembering(verify_code(&challenge.id, &secret.code_at_step(step)), remember(), &w.caller).await.unwrap();
    let Verified::Remembered(signed_in) = verified else { panic!("remembered") };
    let token = token_of(&signed_in);
    let holder = w.auth.holder(&signed_in.tokens.access_token).await.unwrap();
    assert_eq!(w.auth.devices(&holder).await.unwrap().len(), 1);
    w.clock.advance(30);
    let step = step_at(sms_mfa::ports::Clock::now(w.clock.as_ref()));
    let proof = FactorProof::parse("code", &secret.code_at_step(step)).unwrap();
    w.auth.remove_totp(&holder, &pw(PASSWORD), &proof, &w.caller).await.unwrap();
    asks_for_a_code(&w, "ka@example.com", &token).await;
}

#[tokio::test]
async fn the_holder_lists_and_forgets_devices() {
    let w = world();
    let (holder, token) = remembered_account(&w, "la@example.com", "+447400000312").await;
    let (other, _) = remembered_account(&w, "ma@example.com", "+447400000313").await;
    let devices = w.auth.devices(&holder).await.unwrap();
    assert_eq!(devices.len(), 1);
    let view = serde_json::to_value(&devices[0]).unwrap();
    let keys: Vec<&str> = view.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["created_at", "expires_at", "id", "label", "last_used_at"]);
    assert_eq!(devices[0].expires_at - devices[0].created_at, 30 * DAY);
    w.clock.advance(120);
    let next = token_of(&skips(&w, "la@example.com", &token).await);
    let used = &w.auth.devices(&holder).await.unwrap()[0];
    assert_eq!((used.id.clone(), used.last_used_at), (devices[0].id.clone(), devices[0].created_at + 120));

    // Another account's device, or an unknown id, is not found.
    let theirs = w.auth.devices(&other).await.unwrap()[0].id.0.clone();
    assert!(matches!(w.auth.forget_device(&holder, &theirs, &w.caller).await, Err(AuthError::NotFound)));
    assert!(matches!(w.auth.forget_device(&holder, "no-such-device", &w.caller).await, Err(AuthError::NotFound)));
    w.auth.forget_device(&holder, &devices[0].id.0, &w.caller).await.unwrap();
    assert_eq!(w.events.count(EventKind::DeviceForgotten), 1);
    assert!(w.auth.devices(&holder).await.unwrap().is_empty());
    assert!(matches!(w.auth.forget_device(&holder, &devices[0].id.0, &w.caller).await, Err(AuthError::NotFound)));
    asks_for_a_code(&w, "la@example.com", &next).await;
    assert_eq!(w.auth.devices(&other).await.unwrap().len(), 1, "the other account keeps its device");
}

#[tokio::test]
async fn zero_days_turns_the_feature_off() {
    let w = world_with(Limits { remembered_device_lifetime: None, ..Limits::default() });
    let registered = w
        .auth
        .register(
            RegisterCommand {
                email: Email::parse("na@example.com").unwrap(),
                password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
                phone: Phone::parse("+447400000314").unwrap(),
                channel: Channel::Sms,
            },
            &w.caller,
        )
        .await
        .unwrap();
    let code = w.otp.last_code_to(&Phone::parse("+447400000314").unwrap()).unwrap();
    let Verified::Remembered(signed_in) =
        w.auth.verify_remembering(verify_code(&registered.challenge.id, &code), remember(), &w.caller).await.unwrap()
    else {
        panic!("tokens")
    };
    assert!(signed_in.device.is_none());
    assert!(serde_json::to_value(&signed_in).unwrap().get("device").is_none());
    let holder = w.auth.holder(&signed_in.tokens.access_token).await.unwrap();
    assert_eq!(w.store.device_count(&holder.user.id), 0);
}

#[tokio::test]
async fn twenty_parallel_logins_with_one_token_skip_the_code_at_most_once() {
    // Room for all twenty password checks at once (each reserves a failed-password slot first).
    let w = world_with(Limits { login_failures_per_account: 100, ..Limits::default() });
    let (_, token) = remembered_account(&w, "oa@example.com", "+447400000315").await;
    let logins = (0..20).map(|_| {
        let (auth, caller, token) = (w.auth.clone(), w.caller.clone(), token.clone());
        tokio::spawn(async move { auth.login_with_device(login_cmd("oa@example.com", PASSWORD), Some(&token), &caller).await.unwrap() })
    });
    let answers = futures::future::join_all(logins).await;
    let skipped = answers.iter().filter(|a| matches!(a.as_ref().unwrap(), LoginAnswer::SignedIn(_))).count();
    assert!(skipped <= 1, "{skipped} logins skipped the code with one token");
    assert_eq!(skipped, 1, "one of them did (the memory store serializes them)");
}
