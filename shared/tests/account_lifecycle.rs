//! The account lifecycle use cases over in-memory ports: forgot/reset (with decoys), change
//! password, global logout, my account, delete, notifications.

use secrecy::ExposeSecret;
use secrecy::SecretString;
use sms_mfa::{
    adapters::{jwt::TokenKeys, password::Argon2Hasher},
    config::Limits,
    domain::*,
    error::DeliveryError,
    ports::SmsSender,
    testing::{generate_signing_key_pem, memory_ports, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::{
        sessions::{SessionService, TokenPair},
        *,
    },
    AuthError,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Records the security notifications.
#[derive(Default)]
struct Inbox(Mutex<Vec<(Phone, String)>>);

#[async_trait::async_trait]
impl SmsSender for Inbox {
    fn supports(&self, _: Channel) -> bool {
        true
    }
    async fn send(&self, to: &Phone, body: &str) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push((to.clone(), body.to_owned()));
        Ok(())
    }
}

impl Inbox {
    fn to(&self, phone: &str) -> Vec<String> {
        let phone = Phone::parse(phone).unwrap();
        self.0.lock().unwrap().iter().filter(|(p, _)| *p == phone).map(|(_, b)| b.clone()).collect()
    }
}

struct World {
    auth: AuthService,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    inbox: Arc<Inbox>,
    caller: Caller,
}

const EMAIL: &str = "ada@example.com";
const PHONE: &str = "+447911123456";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_000));
    let inbox = Arc::new(Inbox::default());
    let keys = TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap();
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), Arc::new(keys), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), Arc::new(Argon2Hasher::default()), clock.clone(), events.clone());
    let auth = AuthService::new(ports, sessions, Limits::default()).with_decoy_secret(b"decoy secret").with_notifier(inbox.clone());
    World { auth, store, otp, clock, inbox, caller: Caller { source_ip: Some("203.0.113.7".into()) } }
}

fn password(p: &str) -> Password {
    PasswordPolicy::check(SecretString::from(p.to_owned())).unwrap()
}

fn typed(p: &str) -> Password {
    Password::for_check(SecretString::from(p.to_owned())).unwrap()
}

fn id(view: &ChallengeView) -> ChallengeId {
    ChallengeId::parse(&view.id).unwrap()
}

fn code(raw: &str) -> OtpCode {
    OtpCode::parse(raw).unwrap()
}

impl World {
    fn last_code(&self) -> String {
        self.otp.last_code_to(&Phone::parse(PHONE).unwrap()).unwrap()
    }

    async fn verify(&self, challenge: &ChallengeView) -> Result<Verified, AuthError> {
        let command = VerifyCommand { challenge_id: id(challenge), proof: ChallengeProof::Code(code(&self.last_code())) };
        self.auth.verify(command, &self.caller).await
    }

    /// Registers and verifies ada: her first session.
    async fn signed_up(&self) -> TokenPair {
        let command = RegisterCommand {
            email: Email::parse(EMAIL).unwrap(),
            password: password(PASSWORD),
            phone: Phone::parse(PHONE).unwrap(),
            channel: Channel::Sms,
        };
        let registered = self.auth.register(command, &self.caller).await.unwrap();
        tokens(self.verify(&registered.challenge).await.unwrap())
    }

    async fn login(&self, pw: &str) -> Result<ChallengeView, AuthError> {
        let command = LoginCommand { email: Email::parse(EMAIL).unwrap(), password: typed(pw), channel: Channel::Sms, factor: None };
        self.auth.login(command, &self.caller).await
    }

    async fn session(&self, pw: &str) -> TokenPair {
        let challenge = self.login(pw).await.unwrap();
        tokens(self.verify(&challenge).await.unwrap())
    }

    async fn forgot(&self, email: &str) -> Result<ChallengeView, AuthError> {
        self.auth.forgot_password(ForgotCommand { email: Email::parse(email).unwrap(), channel: Channel::Sms }, &self.caller).await
    }

    async fn reset(&self, challenge: &ChallengeView, raw_code: &str, new: &str) -> Result<(), AuthError> {
        let command = ResetCommand {
            challenge_id: id(challenge),
            code: code(raw_code),
            new_password: password(new),
            totp_code: None,
            recovery_code: None,
        };
        self.auth.reset_password(command, &self.caller).await
    }

    async fn refresh(&self, pair: &TokenPair) -> Result<TokenPair, AuthError> {
        self.auth.sessions().refresh(pair.refresh_token.expose_secret()).await
    }
}

fn tokens(verified: Verified) -> TokenPair {
    match verified {
        Verified::Tokens(t) => t,
        other => panic!("expected tokens, got {other:?}"),
    }
}

#[tokio::test]
async fn reset_sets_the_password_once_ends_every_session_and_issues_no_tokens() {
    let w = world();
    let first = w.signed_up().await;
    let second = w.session(PASSWORD).await;
    let challenge = w.forgot(EMAIL).await.unwrap();
    assert_eq!(
        (challenge.purpose, challenge.to.as_deref().unwrap()),
        (Purpose::PasswordReset, Phone::parse(PHONE).unwrap().masked().as_str())
    );
    let right = w.last_code();
    w.clock.advance(1);
    w.reset(&challenge, &right, NEW_PASSWORD).await.unwrap();

    // Replayed (Keycloak CVE-2026-4325): the challenge is used.
    assert!(matches!(w.reset(&challenge, &right, "another new passphrase").await, Err(AuthError::ChallengeInvalid)));
    // Every session ended (Keycloak #8920, Kratos #1077), access tokens at the account routes too.
    for pair in [&first, &second] {
        assert!(matches!(w.refresh(pair).await, Err(AuthError::InvalidToken)));
        assert!(matches!(w.auth.holder(&pair.access_token).await, Err(AuthError::InvalidToken)));
    }
    assert!(matches!(w.login(PASSWORD).await, Err(AuthError::InvalidCredentials)));
    let fresh = w.session(NEW_PASSWORD).await;
    assert!(w.auth.holder(&fresh.access_token).await.is_ok(), "a sign-in after the reset is not affected");
    let notices = w.inbox.to(PHONE);
    assert!(notices.iter().any(|n| n.contains("password was reset")), "{notices:?}");
}

#[tokio::test]
async fn a_reset_in_the_same_second_as_the_login_still_ends_that_session() {
    // tokens_valid_after has one-second resolution: the revoked family decides the tie.
    let w = world();
    let tokens = w.signed_up().await;
    let challenge = w.forgot(EMAIL).await.unwrap();
    w.reset(&challenge, &w.last_code(), NEW_PASSWORD).await.unwrap();
    assert!(matches!(w.auth.holder(&tokens.access_token).await, Err(AuthError::InvalidToken)));
    assert!(matches!(w.refresh(&tokens).await, Err(AuthError::InvalidToken)));
}

#[tokio::test]
async fn parallel_resets_with_one_code_succeed_once() {
    // Keycloak #37231.
    let w = world();
    w.signed_up().await;
    let challenge = w.forgot(EMAIL).await.unwrap();
    let right = w.last_code();
    let attempts: Vec<_> =
        (0..8).map(|i| w.reset(&challenge, &right, if i % 2 == 0 { "even new passphrase" } else { "odd new passphrase" })).collect();
    let outcomes = futures::future::join_all(attempts).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    // The losers find the challenge used, or (past its 5 checks) dead.
    assert!(
        outcomes.iter().filter(|o| o.is_err()).all(|o| matches!(o, Err(AuthError::ChallengeInvalid | AuthError::TooManyAttempts))),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn reset_codes_have_five_checks_then_even_the_right_one_fails() {
    // Casdoor #5250.
    let w = world();
    w.signed_up().await;
    let challenge = w.forgot(EMAIL).await.unwrap();
    let right = w.last_code();
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for remaining in (0..5).rev() {
        match w.reset(&challenge, wrong, NEW_PASSWORD).await {
            Err(AuthError::InvalidCode { attempts_remaining }) => assert_eq!(attempts_remaining, remaining),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(w.reset(&challenge, &right, NEW_PASSWORD).await, Err(AuthError::TooManyAttempts)));
    w.login(PASSWORD).await.expect("the password did not change");
}

#[tokio::test]
async fn challenges_serve_only_their_purpose() {
    let w = world();
    w.signed_up().await;
    let reset = w.forgot(EMAIL).await.unwrap();
    let right = w.last_code();
    let at_verify = w.auth.verify(VerifyCommand { challenge_id: id(&reset), proof: ChallengeProof::Code(code(&right)) }, &w.caller).await;
    assert!(matches!(at_verify, Err(AuthError::ChallengeInvalid)), "{at_verify:?}");
    let login = w.login(PASSWORD).await.unwrap();
    assert!(matches!(w.reset(&login, &w.last_code(), NEW_PASSWORD).await, Err(AuthError::ChallengeInvalid)));
    // Neither refusal spent a check: both still complete their own route.
    w.verify(&login).await.unwrap();
    w.reset(&reset, &right, NEW_PASSWORD).await.unwrap();
}

#[tokio::test]
async fn unknown_and_unverified_emails_get_decoys_that_behave_like_real_challenges() {
    let w = world();
    let decoy = w.forgot("nobody@example.com").await.unwrap();
    let again = w.forgot("nobody@example.com").await.unwrap();
    let other = w.forgot("someone-else@example.com").await.unwrap();
    assert_eq!((decoy.purpose, decoy.channel, decoy.expires_in), (Purpose::PasswordReset, Some(Channel::Sms), 600));
    assert_eq!(decoy.to, again.to, "stable per email");
    assert_ne!(decoy.id, again.id);
    assert!(decoy.to.as_deref().is_some_and(|to| to.starts_with('+') && to.contains('*')));
    let _ = other;
    assert!(w.otp.sent().is_empty(), "nothing is sent for a decoy");

    // Resend: the cooldown, then a resend that sends nothing.
    let resend = |c: &ChallengeView| ResendCommand { challenge_id: id(c), channel: None };
    assert!(matches!(w.auth.resend(resend(&decoy), &w.caller).await, Err(AuthError::ResendTooSoon { .. })));
    w.clock.advance(31);
    w.auth.resend(resend(&decoy), &w.caller).await.unwrap();
    assert!(w.otp.sent().is_empty());
    // Checks count down and the limit holds; no code completes it.
    for remaining in (0..5).rev() {
        match w.reset(&decoy, "123456", NEW_PASSWORD).await {
            Err(AuthError::InvalidCode { attempts_remaining }) => assert_eq!(attempts_remaining, remaining),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(w.reset(&decoy, "123456", NEW_PASSWORD).await, Err(AuthError::TooManyAttempts)));

    // An account whose phone was never verified gets a decoy too, and no SMS.
    let command = RegisterCommand {
        email: Email::parse(EMAIL).unwrap(),
        password: password(PASSWORD),
        phone: Phone::parse(PHONE).unwrap(),
        channel: Channel::Sms,
    };
    w.auth.register(command, &w.caller).await.unwrap();
    let sent = w.otp.sent().len();
    let unverified = w.forgot(EMAIL).await.unwrap();
    assert_eq!(w.otp.sent().len(), sent);
    assert_ne!(unverified.to, Some(Phone::parse(PHONE).unwrap().masked()));
}

#[tokio::test]
async fn decoys_count_toward_the_send_limits() {
    let w = world();
    // The per-phone cap (5 per 15 minutes) holds for the decoy's number as for a real one.
    for _ in 0..5 {
        w.forgot("nobody@example.com").await.unwrap();
    }
    assert!(matches!(w.forgot("nobody@example.com").await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test]
async fn change_password_keeps_the_callers_session_only() {
    let w = world();
    let mine = w.signed_up().await;
    let other = w.session(PASSWORD).await;
    let holder = w.auth.holder(&mine.access_token).await.unwrap();
    let change = |current: &str, new: &str| ChangePasswordCommand { current_password: typed(current), new_password: password(new) };

    assert!(matches!(
        w.auth.change_password(&holder, change("wrong passphrase", NEW_PASSWORD), &w.caller).await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(w.auth.change_password(&holder, change(PASSWORD, PASSWORD), &w.caller).await, Err(AuthError::WeakPassword(_))));
    w.clock.advance(1);
    w.auth.change_password(&holder, change(PASSWORD, NEW_PASSWORD), &w.caller).await.unwrap();

    assert!(w.auth.holder(&mine.access_token).await.is_ok(), "the caller's access token stands");
    let renewed = w.refresh(&mine).await.expect("the caller's session goes on");
    assert!(w.auth.holder(&renewed.access_token).await.is_ok());
    assert!(matches!(w.refresh(&other).await, Err(AuthError::InvalidToken)));
    assert!(matches!(w.auth.holder(&other.access_token).await, Err(AuthError::InvalidToken)));
    assert!(w.inbox.to(PHONE).iter().any(|n| n.contains("password was changed")));
}

#[tokio::test]
async fn global_logout_ends_every_session() {
    let w = world();
    let first = w.signed_up().await;
    let second = w.session(PASSWORD).await;
    w.auth.sessions().logout_everywhere("rt_not-a-token").await.unwrap();
    w.auth.sessions().logout_everywhere(first.refresh_token.expose_secret()).await.unwrap();
    for pair in [&first, &second] {
        assert!(matches!(w.refresh(pair).await, Err(AuthError::InvalidToken)));
        assert!(matches!(w.auth.holder(&pair.access_token).await, Err(AuthError::InvalidToken)));
    }
    w.clock.advance(1);
    let third = w.session(PASSWORD).await;
    w.refresh(&third).await.expect("a later sign-in is not affected");
}

#[tokio::test]
async fn my_account_is_the_userinfo_of_the_holder() {
    let w = world();
    let tokens = w.signed_up().await;
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    let info = w.auth.user_info(&holder).await.unwrap();
    assert_eq!((info.email.as_str(), info.phone_number.as_str(), info.phone_number_verified), (EMAIL, PHONE, true));
    assert_eq!(info.factors, vec!["phone"]);
    assert_eq!(info.recovery_codes_remaining, None);
    let json = serde_json::to_value(&info).unwrap();
    assert!(json.get("recovery_codes_remaining").is_none(), "absent without an authenticator");
}

#[tokio::test]
async fn delete_account_leaves_no_item_naming_the_user() {
    let w = world();
    let tokens = w.signed_up().await;
    let other = w.session(PASSWORD).await;
    let user_id = w.auth.holder(&tokens.access_token).await.unwrap().user.id;
    w.forgot(EMAIL).await.unwrap(); // a pending challenge that names the user
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    assert!(matches!(w.auth.delete_account(&holder, &typed("wrong passphrase"), &w.caller).await, Err(AuthError::InvalidCredentials)));
    w.auth.delete_account(&holder, &typed(PASSWORD), &w.caller).await.unwrap();

    for needle in [user_id.0.as_str(), EMAIL, PHONE] {
        assert!(!w.store.mentions(needle), "an item still names {needle}");
    }
    assert!(matches!(w.auth.holder(&tokens.access_token).await, Err(AuthError::InvalidToken)));
    assert!(matches!(w.refresh(&other).await, Err(AuthError::InvalidToken)));
    assert!(matches!(w.login(PASSWORD).await, Err(AuthError::InvalidCredentials)));
    assert!(w.inbox.to(PHONE).iter().any(|n| n.contains("account was deleted")));
    // The email is free again.
    let command = RegisterCommand {
        email: Email::parse(EMAIL).unwrap(),
        password: password(PASSWORD),
        phone: Phone::parse(PHONE).unwrap(),
        channel: Channel::Sms,
    };
    w.auth.register(command, &w.caller).await.unwrap();
}

#[tokio::test]
async fn a_reset_clears_the_failed_password_window() {
    let w = world();
    w.signed_up().await;
    for _ in 0..10 {
        assert!(matches!(w.login("wrong passphrase").await, Err(AuthError::InvalidCredentials)));
    }
    assert!(matches!(w.login(PASSWORD).await, Err(AuthError::RateLimited { .. })));
    let challenge = w.forgot(EMAIL).await.unwrap();
    w.reset(&challenge, &w.last_code(), NEW_PASSWORD).await.unwrap();
    w.login(NEW_PASSWORD).await.expect("the window was cleared with the reset");
}

/// The lifecycle events in the outbox, by `detail-type`, in order.
fn outbox_types(w: &World) -> Vec<&'static str> {
    w.store.outbox().iter().map(|e| e.detail_type()).collect()
}

#[tokio::test]
async fn every_change_writes_exactly_its_lifecycle_event_and_a_failed_one_none() {
    let w = world();
    let first = w.signed_up().await;
    let user_id = w.auth.holder(&first.access_token).await.unwrap().user.id;
    assert_eq!(outbox_types(&w), ["UserSignedUp"], "a completed sign-up is not also a sign-in");
    assert_eq!(w.store.outbox()[0].detail()["email"], EMAIL);

    assert!(w.login("wrong passphrase").await.is_err());
    let second = w.session(PASSWORD).await;
    assert_eq!(outbox_types(&w), ["UserSignedUp", "UserSignedIn"]);

    // A reset that fails (a wrong code, then a replay) writes nothing; the one that lands, its event.
    let challenge = w.forgot(EMAIL).await.unwrap();
    let right = w.last_code();
    assert!(w.reset(&challenge, "000000", NEW_PASSWORD).await.is_err() || right == "000000");
    w.clock.advance(1);
    w.reset(&challenge, &right, NEW_PASSWORD).await.unwrap();
    assert!(w.reset(&challenge, &right, "yet another passphrase").await.is_err());
    assert_eq!(outbox_types(&w)[2..], ["PasswordReset"]);

    w.clock.advance(1);
    let mine = w.session(NEW_PASSWORD).await;
    let holder = w.auth.holder(&mine.access_token).await.unwrap();
    let change = |current: &str, new: &str| ChangePasswordCommand { current_password: typed(current), new_password: password(new) };
    assert!(w.auth.change_password(&holder, change("wrong passphrase", PASSWORD), &w.caller).await.is_err());
    w.auth.change_password(&holder, change(NEW_PASSWORD, PASSWORD), &w.caller).await.unwrap();
    assert_eq!(outbox_types(&w)[3..], ["UserSignedIn", "PasswordChanged"]);

    // A spent refresh token presented after the grace: reuse, reported once with the revocation.
    let renewed = w.refresh(&mine).await.unwrap();
    w.clock.advance(120);
    assert!(w.refresh(&mine).await.is_err());
    assert_eq!(outbox_types(&w)[5..], ["RefreshTokenReuseDetected"]);

    w.clock.advance(1);
    let last = w.session(PASSWORD).await;
    w.auth.sessions().logout_everywhere(last.refresh_token.expose_secret()).await.unwrap();
    assert_eq!(outbox_types(&w)[6..], ["UserSignedIn", "SignedOutEverywhere"]);

    w.clock.advance(1);
    let final_session = w.session(PASSWORD).await;
    let holder = w.auth.holder(&final_session.access_token).await.unwrap();
    assert!(w.auth.delete_account(&holder, &typed("wrong passphrase"), &w.caller).await.is_err());
    w.auth.delete_account(&holder, &typed(PASSWORD), &w.caller).await.unwrap();
    assert_eq!(outbox_types(&w)[8..], ["UserSignedIn", "UserDeleted"]);

    let outbox = w.store.outbox();
    let mut ids: Vec<&str> = outbox.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), outbox.len(), "every event has its own id");
    for event in &outbox {
        assert_eq!(event.user_id, user_id);
        let detail = event.detail().to_string();
        for secret in [PHONE, "7911123456", PASSWORD, NEW_PASSWORD, &right, "argon2", "rt_"] {
            assert!(!detail.contains(secret), "{} names {secret}: {detail}", event.detail_type());
        }
    }
    drop((second, renewed));
}
