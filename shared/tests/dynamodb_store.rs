//! The DynamoDB adapter against a real DynamoDB-compatible server (moto, started by
//! scripts/test.sh): every race is run in parallel and must keep its limit exactly.

mod support;

use secrecy::SecretString;
use sms_mfa::{
    adapters::{
        builtin_otp::BuiltinOtp,
        dynamodb::DynamoStore,
        jwt::{generate_signing_key_pem, TokenKeys},
        password::Argon2Hasher,
        secret_box::AesGcmSealer,
    },
    config::Limits,
    domain::*,
    error::{DeliveryError, StoreError},
    ports::*,
    testing::RecordingEvents,
    use_cases::sessions::SessionService,
    use_cases::{AuthService, Caller, Ports, RegisterCommand},
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

fn client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
    support::dynamodb_client(endpoint, None)
}

fn store() -> DynamoStore {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run these tests through scripts/test.sh");
    let table = std::env::var("STORE_TEST_TABLE").expect("STORE_TEST_TABLE is not set: run these tests through scripts/test.sh");
    DynamoStore::new(client_for(&endpoint), table)
}

fn now() -> UnixTime {
    SystemClock.now()
}

fn fresh_email() -> Email {
    Email::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap()
}

fn user(email: &Email) -> User {
    User {
        id: UserId::new(),
        email: email.clone(),
        password_hash: "$argon2id$stub".into(),
        phone: Phone::parse("+447911123456").unwrap(),
        phone_verified: false,
        created_at: now(),
        tokens_valid_after: 0,
        kept_session: None,
        credentials_version: 0,
    }
}

fn challenge(expires_in: i64) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        user_id: UserId::new(),
        purpose: Purpose::Login,
        phone: Phone::parse("+447911123456").unwrap(),
        channel: Channel::Sms,
        provider_ref: None,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: now(),
        last_sent_at: now(),
        expires_at: now() + expires_in,
        factor: ChallengeFactor::Phone,
        decoy: false,
        credentials_version: 0,
        reset_budget: None,
    }
}

/// Runs the futures concurrently: each is one HTTP call to the server, so they truly race there.
async fn all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

#[tokio::test]
async fn users_round_trip_and_emails_are_unique_under_parallel_registration() {
    let store = store();
    let email = fresh_email();
    let candidates: Vec<User> = (0..20).map(|_| user(&email)).collect();
    let outcomes = all(candidates.iter().map(|u| store.create_user(u)).collect()).await;
    let created = outcomes.iter().filter(|o| matches!(o, Ok(CreateUser::Created))).count();
    let taken = outcomes.iter().filter(|o| matches!(o, Ok(CreateUser::EmailTaken))).count();
    assert_eq!((created, taken), (1, 19), "{outcomes:?}");

    let stored = store.find_by_email(&email).await.unwrap().expect("the winner is stored");
    let winner = candidates.iter().find(|u| u.id == stored.id).unwrap();
    assert_eq!(&stored, winner);
    let mut existing = 0;
    for candidate in &candidates {
        existing += UserStore::get(&store, &candidate.id).await.unwrap().is_some() as usize;
    }
    assert_eq!(existing, 1, "exactly one account exists");
}

#[tokio::test]
async fn an_unfinished_signup_is_replaced_but_a_verified_account_is_not() {
    let store = store();
    let email = fresh_email();
    let first = User { created_at: now() - 120, ..user(&email) };
    assert_eq!(store.create_user(&first).await.unwrap(), CreateUser::Created);
    let retry = user(&email);
    assert_eq!(store.create_user(&retry).await.unwrap(), CreateUser::Created, "unverified: a retry takes over");
    assert_eq!(store.create_user(&user(&email)).await.unwrap(), CreateUser::EmailTaken, "held for a minute");
    assert!(UserStore::get(&store, &first.id).await.unwrap().is_none(), "the stale account is gone");

    let new_phone = Phone::parse("+447400654322").unwrap();
    assert!(store.set_verified_phone(&retry, &new_phone).await.unwrap());
    let verified = UserStore::get(&store, &retry.id).await.unwrap().unwrap();
    assert!(verified.phone_verified);
    assert_eq!(verified.phone, new_phone);
    assert_eq!(store.create_user(&user(&email)).await.unwrap(), CreateUser::EmailTaken);
    assert!(!store.set_verified_phone(&first, &new_phone).await.unwrap(), "a replaced account cannot be verified");
}

#[tokio::test]
async fn delete_unverified_undoes_a_signup_and_spares_verified_accounts() {
    let store = store();
    let email = fresh_email();
    let pending = user(&email);
    store.create_user(&pending).await.unwrap();
    store.delete_unverified(&pending).await.unwrap();
    assert!(store.find_by_email(&email).await.unwrap().is_none());

    let kept = user(&email);
    store.create_user(&kept).await.unwrap();
    store.set_verified_phone(&kept, &kept.phone).await.unwrap();
    store.delete_unverified(&kept).await.unwrap();
    assert!(store.find_by_email(&email).await.unwrap().is_some());
}

#[tokio::test]
async fn fifty_parallel_checks_count_exactly_the_limit() {
    let store = store();
    let c = challenge(600);
    ChallengeStore::put(&store, &c).await.unwrap();
    let outcomes = all((0..50).map(|_| store.count_attempt(&c.id, now())).collect()).await;
    let counted = outcomes.iter().filter(|o| matches!(o, Ok(AttemptOutcome::Counted { .. }))).count();
    let exhausted = outcomes.iter().filter(|o| matches!(o, Ok(AttemptOutcome::Exhausted))).count();
    assert_eq!((counted, exhausted), (5, 45));
    let stored = ChallengeStore::get(&store, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 5);
}

#[tokio::test]
async fn a_challenge_is_consumed_once_and_expiry_is_checked_on_read() {
    let store = store();
    let c = challenge(600);
    ChallengeStore::put(&store, &c).await.unwrap();
    let wins = all((0..10).map(|_| store.consume(&c.id, now())).collect()).await;
    assert_eq!(wins.iter().filter(|w| matches!(w, Ok(true))).count(), 1);
    assert_eq!(store.count_attempt(&c.id, now()).await.unwrap(), AttemptOutcome::Invalid);

    // TTL deletion lags (by days in AWS, never in moto): an expired item must still be refused.
    let expired = challenge(-1);
    ChallengeStore::put(&store, &expired).await.unwrap();
    assert_eq!(store.count_attempt(&expired.id, now()).await.unwrap(), AttemptOutcome::Invalid);
    assert!(!store.consume(&expired.id, now()).await.unwrap());
    assert_eq!(store.count_attempt(&ChallengeId::new(), now()).await.unwrap(), AttemptOutcome::Invalid);
}

#[tokio::test]
async fn twenty_parallel_resends_claim_one_send() {
    let store = store();
    let mut c = challenge(600);
    c.last_sent_at = now() - 60;
    ChallengeStore::put(&store, &c).await.unwrap();
    let cooldown = Duration::from_secs(30);
    let t = now();
    let outcomes = all((0..20).map(|_| store.claim_resend(&c.id, t, cooldown, t + 600, Channel::Call, Some("h2"))).collect()).await;
    let ready = outcomes.iter().filter(|o| matches!(o, Ok(ResendOutcome::Ready { .. }))).count();
    assert_eq!(ready, 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Ok(ResendOutcome::TooSoon { retry_after }) = outcome {
            assert!(*retry_after <= cooldown && *retry_after >= Duration::from_secs(29));
        }
    }
    let stored = ChallengeStore::get(&store, &c.id).await.unwrap().unwrap();
    assert_eq!((stored.channel, stored.code_hash.as_deref(), stored.expires_at), (Channel::Call, Some("h2"), t + 600));

    // A send that failed gives the claim back, so the user can ask again at once.
    store.release_resend(&c.id, t).await.unwrap();
    assert!(matches!(store.claim_resend(&c.id, t, cooldown, t + 600, Channel::Sms, None).await.unwrap(), ResendOutcome::Ready { .. }));
}

#[tokio::test]
async fn counters_allow_exactly_the_limit_in_parallel() {
    let store = store();
    let key = format!("test#{}", uuid::Uuid::new_v4());
    let window = Duration::from_secs(900);
    let t = now();
    let outcomes = all((0..30).map(|_| store.hit(&key, 10, window, t)).collect()).await;
    let allowed = outcomes.iter().filter(|o| matches!(o, Ok(LimitOutcome::Allowed))).count();
    assert_eq!(allowed, 10);
    match store.is_exhausted(&key, 10, window, t).await.unwrap() {
        LimitOutcome::Exceeded { retry_after } => assert!(retry_after <= window && retry_after > Duration::ZERO),
        LimitOutcome::Allowed => panic!("the window is full"),
    }
    // The next window starts empty.
    assert_eq!(store.hit(&key, 10, window, t + 900).await.unwrap(), LimitOutcome::Allowed);
}

fn refresh_record(family: &str) -> RefreshRecord {
    RefreshRecord {
        token_hash: uuid::Uuid::new_v4().to_string(),
        family_id: family.into(),
        user_id: UserId::new(),
        amr: vec!["pwd".into(), "sms".into()],
        expires_at: now() + 3600,
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_revoked_families_stop() {
    let store = store();
    let family = uuid::Uuid::new_v4().to_string();
    let first = refresh_record(&family);
    store.start_family(&first).await.unwrap();
    let nexts: Vec<RefreshRecord> = (0..5).map(|_| refresh_record(&family)).collect();
    let outcomes = all(nexts.iter().map(|n| store.rotate(&first.token_hash, n, "sealed", now())).collect()).await;
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(RotateOutcome::Rotated))).count(), 1);
    assert!(outcomes.iter().all(|o| matches!(o, Ok(RotateOutcome::Rotated) | Ok(RotateOutcome::AlreadySpent { .. }))));
    let mut active = vec![];
    for next in &nexts {
        if store.find_active(&next.token_hash, now()).await.unwrap().is_some() {
            active.push(next);
        }
    }
    assert_eq!(active.len(), 1, "only the winner's successor was stored");
    let successor = active[0];
    assert!(store.find_active(&first.token_hash, now()).await.unwrap().is_none(), "spent");

    store.revoke_family(&family, now() + 3600).await.unwrap();
    assert!(store.is_family_revoked(&family).await.unwrap());
    assert_eq!(store.rotate(&successor.token_hash, &refresh_record(&family), "s", now()).await.unwrap(), RotateOutcome::Invalid);
}

#[tokio::test]
async fn an_unreachable_store_is_a_clean_error() {
    let store = DynamoStore::new(client_for("http://127.0.0.1:9"), "nowhere");
    let err = UserStore::get(&store, &UserId::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)));
}

/// Keeps what the builtin provider "sent", so the test can compare it with the table.
#[derive(Default)]
struct Outbox(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl SmsSender for Outbox {
    fn supports(&self, channel: Channel) -> bool {
        channel == Channel::Sms
    }
    async fn send(&self, _: &Phone, body: &str) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(body.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn builtin_codes_are_never_stored_in_plaintext() {
    let store = Arc::new(store());
    let outbox = Arc::new(Outbox::default());
    let pem = generate_signing_key_pem();
    let keys = Arc::new(TokenKeys::from_pem(&pem, None, "iss", "aud", Duration::from_secs(900)).unwrap());
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        SessionService::new(store.clone(), store.clone(), keys, Duration::from_secs(3600), Arc::new(SystemClock), events.clone());
    let ports = Ports {
        users: store.clone(),
        challenges: store.clone(),
        limiter: store.clone(),
        otp: Arc::new(BuiltinOtp::new(b"secret", outbox.clone(), "sms-mfa")),
        hasher: Arc::new(Argon2Hasher::default()),
        clock: Arc::new(SystemClock),
        factors: store.clone(),
        sealer: Arc::new(AesGcmSealer::from_key(&[7u8; 32]).unwrap()),
        events: events.clone(),
    };
    let auth = AuthService::new(ports, sessions, Limits::default());
    let caller = Caller { source_ip: Some(format!("198.51.100.{}", rand_octet())) };
    let registered = auth
        .register(
            RegisterCommand {
                email: fresh_email(),
                password: PasswordPolicy::check(SecretString::from("correct horse battery".to_owned())).unwrap(),
                phone: Phone::parse(&format!("+447400{:06}", rand_octet() as u32 * 997 % 1_000_000)).unwrap(),
                channel: Channel::Sms,
            },
            &caller,
        )
        .await
        .unwrap();
    let code = outbox.0.lock().unwrap()[0][..6].to_owned();
    let item = store_client_item(&format!("CHALLENGE#{}", registered.challenge.id)).await;
    assert!(item.contains_key("code_hash"), "the challenge keeps a hash: {item:?}");
    // Nothing anywhere in the table holds the code in clear.
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap();
    let table = std::env::var("STORE_TEST_TABLE").unwrap();
    let mut pages = client_for(&endpoint).scan().table_name(table).into_paginator().items().send();
    let mut scanned = 0;
    while let Some(item) = pages.next().await {
        let dump = format!("{:?}", item.unwrap());
        assert!(!dump.contains(&code), "the code {code} is stored in clear: {dump}");
        scanned += 1;
    }
    assert!(scanned > 0);
}

fn rand_octet() -> u8 {
    (uuid::Uuid::new_v4().as_u128() % 250) as u8 + 1
}

async fn store_client_item(pk: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap();
    let table = std::env::var("STORE_TEST_TABLE").unwrap();
    client_for(&endpoint)
        .get_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the challenge is stored")
}
