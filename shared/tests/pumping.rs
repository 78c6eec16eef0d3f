//! API.md v3 "SMS pumping guard", over in-memory ports with a clock the tests move: a number
//! range that gets codes and completes few is paused on every route that sends, nothing is
//! stored or sent for a refused request, other ranges and the safe list keep getting codes.
//! (Over HTTP: tests/e2e/tests/pumping.rs; the store's atomicity: store_contract.rs.)

use async_trait::async_trait;
use secrecy::SecretString;
use sms_mfa::{
    adapters::{jwt::TokenKeys, secret_box::AesGcmSealer},
    config::Limits,
    domain::*,
    ports::{Clock, LimitOutcome, PrefixCounters, StoreResult},
    testing::{generate_signing_key_pem, CountingHasher, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::{sessions::SessionService, *},
    AuthError,
};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

const PASSWORD: &str = "correct horse battery";
/// French mobiles `+33 6 12 …` and `+33 6 13 …`: two ranges under the default 3 digits.
const RANGE: &str = "+33612";
const OTHER_RANGE: &str = "+33613";

/// The memory store's range counters, counting the sends that reach the store.
struct CountingPrefixes {
    store: Arc<MemoryStore>,
    sends: AtomicUsize,
}

#[async_trait]
impl PrefixCounters for CountingPrefixes {
    async fn count_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, now: UnixTime) -> StoreResult<LimitOutcome> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.store.count_send(prefix, rule, now).await
    }

    async fn uncount_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, counted_at: UnixTime) -> StoreResult<()> {
        self.store.uncount_send(prefix, rule, counted_at).await
    }

    async fn count_completion(&self, prefix: DestinationPrefix, rule: &PumpingRule, sent_at: UnixTime) -> StoreResult<()> {
        self.store.count_completion(prefix, rule, sent_at).await
    }
}

struct World {
    auth: AuthService,
    store: Arc<MemoryStore>,
    prefixes: Arc<CountingPrefixes>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    events: Arc<RecordingEvents>,
}

/// A guard that judges a range after 5 sends, at the default 20% floor.
fn guard() -> PumpingRule {
    PumpingRule { min_sends: 5, ..PumpingRule::default() }
}

fn world_with(limits: Limits) -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_000));
    let keys = TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap();
    let events = Arc::new(RecordingEvents::default());
    let prefixes = Arc::new(CountingPrefixes { store: store.clone(), sends: AtomicUsize::new(0) });
    let sessions =
        SessionService::new(store.clone(), store.clone(), Arc::new(keys), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = Ports {
        users: store.clone(),
        challenges: store.clone(),
        limiter: store.clone(),
        prefixes: prefixes.clone(),
        otp: otp.clone(),
        hasher: Arc::new(CountingHasher::default()),
        clock: clock.clone(),
        factors: store.clone(),
        devices: store.clone(),
        sealer: Arc::new(AesGcmSealer::from_key(&[7u8; 32]).unwrap()),
        events: events.clone(),
    };
    let auth = AuthService::new(ports, sessions, limits).with_decoy_secret(b"decoy secret");
    World { auth, store, prefixes, otp, clock, events }
}

fn world() -> World {
    world_with(Limits { pumping: guard(), ..Limits::default() })
}

fn me() -> Caller {
    Caller { source_ip: Some("203.0.113.7".into()) }
}

/// The `n`th number of a range (`+33612` → `+33612000001`, ...).
fn number(range: &str, n: u32) -> Phone {
    Phone::parse(&format!("{range}{n:06}")).unwrap()
}

fn blocked(result: Result<impl std::fmt::Debug, AuthError>) -> bool {
    matches!(result, Err(AuthError::DestinationBlocked { .. }))
}

impl World {
    async fn register(&self, email: &str, to: &Phone) -> Result<Registered, AuthError> {
        let command = RegisterCommand {
            email: Email::parse(email).unwrap(),
            password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
            phone: to.clone(),
            channel: Channel::Sms,
        };
        self.auth.register(command, &me()).await
    }

    async fn verify(&self, challenge: &ChallengeView, to: &Phone) -> Result<Verified, AuthError> {
        let code = self.otp.last_code_to(to).unwrap();
        let command = VerifyCommand {
            challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
            proof: ChallengeProof::Code(OtpCode::parse(&code).unwrap()),
        };
        self.auth.verify(command, &me()).await
    }

    /// `count` sign-ups to fresh numbers of `range` (from the `from`th) that nobody completes.
    async fn abandoned_signups(&self, range: &str, from: u32, count: u32) {
        for n in from..from + count {
            self.register(&format!("bot{n}@{}.example", &range[1..]), &number(range, n)).await.unwrap();
        }
    }

    /// A signed-up account on `to`: its access token.
    async fn account(&self, email: &str, to: &Phone) -> String {
        let registered = self.register(email, to).await.unwrap();
        match self.verify(&registered.challenge, to).await.unwrap() {
            Verified::Tokens(tokens) => tokens.access_token,
            other => panic!("expected tokens, got {other:?}"),
        }
    }

    async fn login(&self, email: &str) -> Result<ChallengeView, AuthError> {
        let command = LoginCommand {
            email: Email::parse(email).unwrap(),
            password: Password::for_check(SecretString::from(PASSWORD.to_owned())).unwrap(),
            channel: Channel::Sms,
            factor: None,
        };
        self.auth.login(command, &me()).await
    }

    fn codes_to(&self, range: &str) -> usize {
        self.otp.sent().iter().filter(|(to, _, _)| to.as_e164().starts_with(range)).count()
    }

    fn blocks_recorded(&self) -> Vec<String> {
        self.events
            .kinds()
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::DestinationBlocked(prefix) => Some(prefix.to_string()),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn a_range_that_gets_codes_and_completes_none_is_paused_and_the_others_are_not() {
    let w = world();
    w.abandoned_signups(RANGE, 1, 5).await;
    let (users, codes) = (w.store.user_count(), w.codes_to(RANGE));

    let refused = w.register("late@example.com", &number(RANGE, 6)).await;
    let Err(AuthError::DestinationBlocked { retry_after }) = refused else { panic!("paused, got {refused:?}") };
    assert!(retry_after <= Duration::from_secs(3600) && retry_after.as_secs() >= 1, "until the window ends: {retry_after:?}");
    assert_eq!((w.store.user_count(), w.codes_to(RANGE)), (users, codes), "nothing stored, nothing sent");
    assert_eq!(w.blocks_recorded(), vec![RANGE.to_owned()], "one limit hit naming the range");

    // The same email signs up at once on a number of another range: the refusal held nothing.
    w.account("late@example.com", &number(OTHER_RANGE, 1)).await;
    // And the pause lasts exactly until the window ends.
    w.clock.advance(retry_after.as_secs() as i64 - 1);
    assert!(blocked(w.register("later@example.com", &number(RANGE, 7)).await));
    w.clock.advance(1);
    w.account("latest@example.com", &number(RANGE, 8)).await;
}

#[tokio::test]
async fn a_paused_range_costs_no_write_until_its_window_ends() {
    let w = world();
    w.abandoned_signups(RANGE, 1, 5).await;
    assert!(blocked(w.register("a@example.com", &number(RANGE, 6)).await));
    let writes = w.prefixes.sends.load(Ordering::SeqCst);
    for n in 7..20 {
        assert!(blocked(w.register(&format!("b{n}@example.com"), &number(RANGE, n)).await));
    }
    assert_eq!(w.prefixes.sends.load(Ordering::SeqCst), writes, "refused from memory: an attack writes nothing more");
    assert_eq!(w.blocks_recorded().len(), 14, "each refusal is still a limit hit");
}

#[tokio::test]
async fn a_range_above_the_conversion_floor_stays_open_past_the_minimum() {
    let w = world();
    w.account("first@example.com", &number(RANGE, 1)).await;
    w.abandoned_signups(RANGE, 2, 4).await;
    // 5 sends, 1 completed: 20% is not below the floor.
    w.account("second@example.com", &number(RANGE, 10)).await;
    // 6 sends, 2 completed: open up to 2 of 10; one more drags it below the floor.
    w.abandoned_signups(RANGE, 11, 5).await;
    assert!(blocked(w.register("third@example.com", &number(RANGE, 20)).await), "2 of 11 is below 20%: paused");
}

#[tokio::test]
async fn the_safe_list_and_a_zero_floor_never_pause_a_range() {
    let safe = PumpingRule { safe: SafePrefixes::parse("+3361").unwrap(), ..guard() };
    let w = world_with(Limits { pumping: safe, ..Limits::default() });
    w.abandoned_signups(RANGE, 1, 12).await;
    assert_eq!(w.codes_to(RANGE), 12);
    assert!(w.blocks_recorded().is_empty());

    let off = PumpingRule { min_conversion_percent: 0, ..guard() };
    let w = world_with(Limits { pumping: off, ..Limits::default() });
    w.abandoned_signups(RANGE, 1, 12).await;
    assert_eq!(w.codes_to(RANGE), 12);
}

#[tokio::test]
async fn every_route_that_sends_is_paused_for_the_range_and_nothing_else_changes() {
    let w = world();
    let holder_phone = number(RANGE, 1);
    let token = w.account("holder@example.com", &holder_phone).await;
    let pending = w.login("holder@example.com").await.unwrap();
    let code_before = w.otp.last_code_to(&holder_phone).unwrap();
    // The sign-up completed, the login code is pending: 1 of 2. Four abandoned sign-ups make it
    // 1 of 6, below the floor.
    w.abandoned_signups(RANGE, 2, 4).await;
    let codes = w.codes_to(RANGE);

    assert!(blocked(w.register("new@example.com", &number(RANGE, 50)).await), "register");
    assert!(blocked(w.login("holder@example.com").await), "login");
    let resend = ResendCommand { challenge_id: ChallengeId::parse(&pending.id).unwrap(), channel: None };
    assert!(blocked(w.auth.resend(resend, &me()).await), "resend");
    let forgot = ForgotCommand { email: Email::parse("holder@example.com").unwrap(), channel: Channel::Sms };
    assert!(blocked(w.auth.forgot_password(forgot, &me()).await), "forgot password");
    let other = w.account("mover@example.com", &number(OTHER_RANGE, 1)).await;
    let mover = w.auth.holder(&other).await.unwrap();
    let change = PhoneChangeCommand {
        phone: number(RANGE, 51),
        password: Password::for_check(SecretString::from(PASSWORD.to_owned())).unwrap(),
        channel: Channel::Sms,
    };
    assert!(blocked(w.auth.request_phone_change(&mover.user.id, change, &me()).await), "phone change");
    assert_eq!(w.codes_to(RANGE), codes, "no code went out");
    assert_eq!(w.blocks_recorded().len(), 5);

    // The refused resend stored nothing: the code sent before still completes the login.
    assert_eq!(w.otp.last_code_to(&holder_phone).unwrap(), code_before);
    assert!(matches!(w.verify(&pending, &holder_phone).await.unwrap(), Verified::Tokens(_)));
    // The account's session is untouched, and other ranges still get codes.
    assert!(w.auth.holder(&token).await.is_ok());
    assert!(w.login("mover@example.com").await.is_ok());
}

#[tokio::test]
async fn an_account_with_an_authenticator_signs_in_while_its_range_is_paused() {
    let w = world();
    let token = w.account("totp@example.com", &number(RANGE, 1)).await;
    let holder = w.auth.holder(&token).await.unwrap();
    let password = Password::for_check(SecretString::from(PASSWORD.to_owned())).unwrap();
    let enrolment = w.auth.enrol_totp(&holder, &password, &me()).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let app_code = |w: &World| secret.code_at_step(step_at(w.clock.now()));
    w.auth.confirm_totp(&holder, &TotpCode::parse(&app_code(&w)).unwrap(), &me()).await.unwrap();
    w.abandoned_signups(RANGE, 2, 5).await;
    assert!(blocked(w.register("x@example.com", &number(RANGE, 90)).await), "1 of 6: the range is paused");

    w.clock.advance(30);
    let challenge = w.login("totp@example.com").await.unwrap();
    assert_eq!(challenge.factor, Some(ChallengeFactor::Totp), "nothing to send");
    let command = VerifyCommand {
        challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
        proof: ChallengeProof::Code(OtpCode::parse(&app_code(&w)).unwrap()),
    };
    assert!(matches!(w.auth.verify(command, &me()).await.unwrap(), Verified::Tokens(_)));
    // Asking for a code by SMS instead is what the range refuses, and the message says what works.
    let resend = ResendCommand { challenge_id: ChallengeId::parse(&w.login("totp@example.com").await.unwrap().id).unwrap(), channel: None };
    let refused = w.auth.resend(resend, &me()).await.unwrap_err();
    assert!(refused.to_string().contains("authenticator app"), "{refused}");
}

#[tokio::test]
async fn decoys_count_as_sends_to_their_range() {
    // Every decoy is a GB mobile; with no national digits the range is all of +44.
    let limits =
        Limits { pumping: PumpingRule { prefix_digits: 0, ..guard() }, sms_regions: SmsRegions::parse("GB").unwrap(), ..Limits::default() };
    let w = world_with(limits);
    for n in 0..5 {
        let forgot = ForgotCommand { email: Email::parse(&format!("nobody{n}@example.com")).unwrap(), channel: Channel::Sms };
        w.auth.forgot_password(forgot, &me()).await.unwrap();
    }
    assert_eq!(w.otp.sent().len(), 0, "decoys send nothing");
    let real = w.register("real@example.com", &Phone::parse("+447400123456").unwrap()).await;
    assert!(matches!(real, Err(AuthError::DestinationBlocked { .. })), "5 decoys, none completed: {real:?}");
    let forgot = ForgotCommand { email: Email::parse("nobody9@example.com").unwrap(), channel: Channel::Sms };
    assert!(blocked(w.auth.forgot_password(forgot, &me()).await), "a decoy is refused like a real send");
}

#[tokio::test]
async fn a_send_another_cap_refuses_is_taken_back_from_its_range() {
    let limits = Limits { pumping: PumpingRule { min_sends: 3, ..guard() }, sends_per_ip_hour: 2, ..Limits::default() };
    let w = world_with(limits);
    let from = |ip: &str| Caller { source_ip: Some(ip.into()) };
    let register = |n: u32, ip: &'static str| {
        let command = RegisterCommand {
            email: Email::parse(&format!("n{n}@example.com")).unwrap(),
            password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
            phone: number(RANGE, n),
            channel: Channel::Sms,
        };
        let auth = &w.auth;
        async move { auth.register(command, &from(ip)).await }
    };
    register(1, "198.51.100.1").await.unwrap();
    register(2, "198.51.100.1").await.unwrap();
    assert!(matches!(register(3, "198.51.100.1").await, Err(AuthError::RateLimited { .. })), "the per-IP cap");
    // Had the refused send counted, the range would have 3 sends and no completion: paused.
    register(4, "198.51.100.2").await.unwrap();
    assert!(blocked(register(5, "198.51.100.3").await), "3 real sends, none completed");
}
