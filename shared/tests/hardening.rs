//! API.md v3 "Hardening", over in-memory ports: each test here failed on v2's code.
//! (The same rules end to end, over HTTP: tests/e2e/tests/hardening.rs.)

use secrecy::{ExposeSecret, SecretString};
use sms_mfa::{
    adapters::jwt::TokenKeys,
    config::Limits,
    domain::*,
    ports::ChallengeStore,
    testing::{generate_signing_key_pem, memory_ports, CountingHasher, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::{
        sessions::{SessionService, TokenPair},
        *,
    },
    AuthError,
};
use std::{sync::Arc, time::Duration};

const EMAIL: &str = "ada@example.com";
const PHONE: &str = "+447911123456";
const INTRUDER_PHONE: &str = "+447400123456";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

struct World {
    auth: AuthService,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    hasher: Arc<CountingHasher>,
}

fn world_with(limits: Limits) -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_000));
    let hasher = Arc::new(CountingHasher::default());
    let keys = TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap();
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), Arc::new(keys), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), hasher.clone(), clock.clone(), events.clone());
    let auth = AuthService::new(ports, sessions, limits).with_decoy_secret(b"decoy secret");
    World { auth, store, otp, clock, hasher }
}

fn world() -> World {
    world_with(Limits::default())
}

fn caller(ip: &str) -> Caller {
    Caller { source_ip: Some(ip.into()) }
}

fn me() -> Caller {
    caller("203.0.113.7")
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

fn phone(raw: &str) -> Phone {
    Phone::parse(raw).unwrap()
}

fn wrong(code: &str) -> String {
    if code == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

fn tokens(verified: Verified) -> TokenPair {
    match verified {
        Verified::Tokens(t) => t,
        other => panic!("expected tokens, got {other:?}"),
    }
}

impl World {
    fn last_code(&self, to: &str) -> String {
        self.otp.last_code_to(&phone(to)).unwrap()
    }

    fn codes_to(&self, to: &str) -> usize {
        self.otp.sent().iter().filter(|(p, _, _)| *p == phone(to)).count()
    }

    async fn verify(&self, challenge: &ChallengeView, code: &str) -> Result<Verified, AuthError> {
        let command = VerifyCommand { challenge_id: id(challenge), proof: ChallengeProof::Code(OtpCode::parse(code).unwrap()) };
        self.auth.verify(command, &me()).await
    }

    async fn register(&self, email: &str, to: &str, from: &Caller) -> Result<Registered, AuthError> {
        let command =
            RegisterCommand { email: Email::parse(email).unwrap(), password: password(PASSWORD), phone: phone(to), channel: Channel::Sms };
        self.auth.register(command, from).await
    }

    async fn signed_up(&self) -> TokenPair {
        let registered = self.register(EMAIL, PHONE, &me()).await.unwrap();
        tokens(self.verify(&registered.challenge, &self.last_code(PHONE)).await.unwrap())
    }

    async fn login(&self, pw: &str) -> Result<ChallengeView, AuthError> {
        let command = LoginCommand { email: Email::parse(EMAIL).unwrap(), password: typed(pw), channel: Channel::Sms, factor: None };
        self.auth.login(command, &me()).await
    }

    async fn forgot(&self, email: &str, from: &Caller) -> Result<ChallengeView, AuthError> {
        self.auth.forgot_password(ForgotCommand { email: Email::parse(email).unwrap(), channel: Channel::Sms }, from).await
    }

    async fn reset(&self, challenge: &ChallengeView, code: &str, new: &str) -> Result<(), AuthError> {
        let command = ResetCommand {
            challenge_id: id(challenge),
            code: OtpCode::parse(code).unwrap(),
            new_password: password(new),
            totp_code: None,
            recovery_code: None,
        };
        self.auth.reset_password(command, &me()).await
    }

    async fn resend(&self, challenge: &ChallengeView) -> Result<ChallengeView, AuthError> {
        self.auth.resend(ResendCommand { challenge_id: id(challenge), channel: None }, &me()).await
    }

    /// The intruder, holding a session, starts a phone change to their own number.
    async fn phone_change_by(&self, session: &TokenPair) -> ChallengeView {
        let holder = self.auth.holder(&session.access_token).await.unwrap();
        let command = PhoneChangeCommand { phone: phone(INTRUDER_PHONE), password: typed(PASSWORD), channel: Channel::Sms };
        self.auth.request_phone_change(&holder.user.id, command, &me()).await.unwrap()
    }
}

/// The three ways the owner ends what a stolen session started.
#[derive(Clone, Copy, Debug)]
enum Eviction {
    Reset,
    PasswordChange,
    GlobalLogout,
}

impl World {
    async fn evict(&self, how: Eviction, owner: &TokenPair) {
        match how {
            Eviction::Reset => {
                let challenge = self.forgot(EMAIL, &me()).await.unwrap();
                self.reset(&challenge, &self.last_code(PHONE), NEW_PASSWORD).await.unwrap();
            }
            Eviction::PasswordChange => {
                let holder = self.auth.holder(&owner.access_token).await.unwrap();
                let command = ChangePasswordCommand { current_password: typed(PASSWORD), new_password: password(NEW_PASSWORD) };
                self.auth.change_password(&holder, command, &me()).await.unwrap();
            }
            Eviction::GlobalLogout => self.auth.sessions().logout_everywhere(owner.refresh_token.expose_secret()).await.unwrap(),
        }
    }
}

#[tokio::test]
async fn a_phone_change_started_before_a_credential_change_never_completes() {
    for how in [Eviction::Reset, Eviction::PasswordChange, Eviction::GlobalLogout] {
        let w = world();
        let owner = w.signed_up().await;
        let stolen = tokens(w.verify(&w.login(PASSWORD).await.unwrap(), &w.last_code(PHONE)).await.unwrap());
        let takeover = w.phone_change_by(&stolen).await;
        let intruders_code = w.last_code(INTRUDER_PHONE);
        // In the same second, on purpose: the binding must not depend on the clock's resolution.
        w.evict(how, &owner).await;
        assert!(matches!(w.resend(&takeover).await, Err(AuthError::ChallengeInvalid)), "{how:?}: resend");
        assert!(matches!(w.verify(&takeover, &intruders_code).await, Err(AuthError::ChallengeInvalid)), "{how:?}: verify");
        w.clock.advance(60);
        assert!(matches!(w.verify(&takeover, &intruders_code).await, Err(AuthError::ChallengeInvalid)), "{how:?}: later");
    }
}

#[tokio::test]
async fn a_login_challenge_started_before_a_credential_change_never_completes() {
    for how in [Eviction::Reset, Eviction::PasswordChange, Eviction::GlobalLogout] {
        let w = world();
        let owner = w.signed_up().await;
        let pending = w.login(PASSWORD).await.unwrap();
        let code = w.last_code(PHONE);
        w.evict(how, &owner).await;
        assert!(matches!(w.verify(&pending, &code).await, Err(AuthError::ChallengeInvalid)), "{how:?}");
    }
}

#[tokio::test]
async fn a_challenge_made_after_the_change_works() {
    let w = world();
    let owner = w.signed_up().await;
    w.evict(Eviction::GlobalLogout, &owner).await;
    let pending = w.login(PASSWORD).await.unwrap();
    assert!(w.verify(&pending, &w.last_code(PHONE)).await.is_ok());
}

#[tokio::test]
async fn resends_cannot_keep_a_challenge_alive_past_its_maximum_age() {
    let w = world();
    let owner = w.signed_up().await;
    let takeover = w.phone_change_by(&owner).await;
    let max_age = Limits::default().challenge_max_age.as_secs() as i64;
    let mut age = 0;
    // A resend every five minutes: each gives a fresh expiry, never past the maximum age.
    while age + 300 < max_age {
        w.clock.advance(300);
        age += 300;
        let resent = w.resend(&takeover).await.unwrap();
        assert!(resent.expires_in <= max_age - age, "expires_in {} at age {age}", resent.expires_in);
    }
    let code = w.last_code(INTRUDER_PHONE);
    w.clock.advance(max_age - age);
    assert!(matches!(w.resend(&takeover).await, Err(AuthError::ChallengeInvalid)), "resend at the maximum age");
    assert!(matches!(w.verify(&takeover, &code).await, Err(AuthError::ChallengeInvalid)), "verify at the maximum age");
}

#[tokio::test]
async fn nobody_elses_sign_ups_or_forgot_requests_stop_the_holders_login_code() {
    let w = world();
    w.signed_up().await;
    // Many strangers, from many addresses, name the victim's number and email.
    for i in 0..12 {
        let from = caller(&format!("198.51.100.{i}"));
        let _ = w.register(&format!("stranger{i}@example.net"), PHONE, &from).await;
        let _ = w.forgot(EMAIL, &from).await;
    }
    let sent_before = w.codes_to(PHONE);
    let challenge = w.login(PASSWORD).await.expect("the holder's login still gets a code");
    assert_eq!(w.codes_to(PHONE), sent_before + 1);
    assert!(w.verify(&challenge, &w.last_code(PHONE)).await.is_ok());
    // The open budget itself still holds: a sixth sign-up code to the number is refused.
    assert!(matches!(w.register("one-more@example.net", PHONE, &caller("192.0.2.1")).await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test]
async fn a_request_refused_per_ip_spends_nobody_elses_quota() {
    let limits = Limits { sends_per_ip_hour: 2, ..Limits::default() };
    let w = world_with(limits);
    w.signed_up().await; // one send from me()
    let attacker = caller("198.51.100.9");
    for _ in 0..10 {
        let _ = w.forgot(EMAIL, &attacker).await;
    }
    // Two went out to the number (the attacker's IP cap); the other eight counted nothing.
    for _ in 0..2 {
        w.forgot(EMAIL, &caller("192.0.2.44")).await.expect("the per-phone budget is not spent by refused requests");
        w.clock.advance(1);
    }
}

#[tokio::test]
async fn forgot_counts_against_the_per_ip_send_cap_decoys_included() {
    let limits = Limits { sends_per_ip_hour: 3, ..Limits::default() };
    let w = world_with(limits);
    let attacker = caller("198.51.100.9");
    for i in 0..3 {
        w.forgot(&format!("nobody{i}@example.org"), &attacker).await.unwrap();
    }
    assert!(matches!(w.forgot("nobody9@example.org", &attacker).await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_parallel_wrong_passwords_evaluate_at_most_ten() {
    let w = Arc::new(world());
    w.signed_up().await;
    let evaluated_before = w.hasher.verifies();
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.login(&format!("wrong guess number {i}")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for guess in guesses {
        answers.push(guess.await.unwrap());
    }
    let evaluated = w.hasher.verifies() - evaluated_before;
    assert!(evaluated <= 10, "{evaluated} passwords evaluated");
    let refused = answers.iter().filter(|a| matches!(a, Err(AuthError::RateLimited { .. }))).count();
    let wrong = answers.iter().filter(|a| matches!(a, Err(AuthError::InvalidCredentials))).count();
    assert_eq!((wrong, refused), (10, 20), "{answers:?}");
    // The window is full: even the right password waits.
    assert!(matches!(w.login(PASSWORD).await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test]
async fn a_right_password_gives_its_slot_back() {
    let w = world();
    w.signed_up().await;
    for _ in 0..9 {
        assert!(matches!(w.login("wrong password!").await, Err(AuthError::InvalidCredentials)));
    }
    for _ in 0..5 {
        w.login(PASSWORD).await.expect("right passwords never fill the window");
        w.clock.advance(31);
    }
    assert!(matches!(w.login("wrong password!").await, Err(AuthError::InvalidCredentials)), "the tenth failure is still evaluated");
    assert!(matches!(w.login(PASSWORD).await, Err(AuthError::RateLimited { .. })));
}

#[tokio::test]
async fn wrong_reset_codes_never_lock_the_owner_out_of_signing_in() {
    let w = world();
    w.signed_up().await;
    // Someone who knows only the email: two challenges, five wrong codes each.
    for _ in 0..2 {
        let challenge = w.forgot(EMAIL, &caller("198.51.100.3")).await.unwrap();
        let right = w.last_code(PHONE);
        for _ in 0..5 {
            assert!(matches!(w.reset(&challenge, &wrong(&right), NEW_PASSWORD).await, Err(AuthError::InvalidCode { .. })));
        }
        w.clock.advance(31);
    }
    let pending = w.login(PASSWORD).await.unwrap();
    assert!(w.verify(&pending, &w.last_code(PHONE)).await.is_ok(), "the owner's sign-in works");
}

#[tokio::test]
async fn past_the_reset_budget_real_and_decoy_emails_answer_alike() {
    let w = world();
    w.signed_up().await;
    let mut answers = Vec::new();
    for email in [EMAIL, "nobody@example.org"] {
        let mut sequence = Vec::new();
        for _ in 0..3 {
            let challenge = w.forgot(email, &me()).await.unwrap();
            for _ in 0..5 {
                let outcome = w.reset(&challenge, "000000", NEW_PASSWORD).await;
                sequence.push(match outcome {
                    Err(AuthError::InvalidCode { .. }) => "invalid_code",
                    Err(AuthError::TooManyAttempts) => "too_many_attempts",
                    Err(AuthError::RateLimited { .. }) => "rate_limited",
                    other => panic!("{email}: {other:?}"),
                });
            }
            w.clock.advance(31);
        }
        answers.push(sequence);
    }
    assert_eq!(answers[0], answers[1], "a real and a decoy email answer alike");
    assert_eq!(answers[0].iter().filter(|a| **a == "invalid_code").count(), 10, "{:?}", answers[0]);
    assert!(answers[0][10..].iter().all(|a| *a == "rate_limited"), "{:?}", answers[0]);
}

#[tokio::test]
async fn decoys_come_from_the_allowed_countries() {
    let limits = Limits { sms_regions: SmsRegions::parse("GB,IE").unwrap(), ..Limits::default() };
    let w = world_with(limits);
    let mut regions = std::collections::BTreeSet::new();
    for i in 0..20 {
        let view = w.forgot(&format!("nobody{i}@example.org"), &caller(&format!("192.0.2.{i}"))).await.unwrap();
        let stored = ChallengeStore::get(w.store.as_ref(), &id(&view)).await.unwrap().unwrap();
        assert!(stored.decoy);
        assert_eq!(view.to.as_deref(), Some(stored.phone.masked().as_str()));
        regions.insert(stored.phone.region().unwrap());
    }
    assert_eq!(regions, ["GB", "IE"].map(String::from).into(), "decoys from both allowed regions, no other");
}
