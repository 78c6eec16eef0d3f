//! The store contract suite (issue 26): what ports.rs promises of every store method, above
//! all its atomicity, checked the same way against `testing::MemoryStore` (the store of the
//! use-case tests) and `DynamoStore` on moto. Each contract is one generic async fn; the
//! `contract_suite!` list at the end runs each on both stores, as `memory::<name>` and
//! `dynamodb::<name>`.
//!
//! Races run as spawned tasks on a multi-threaded runtime, released together: on the memory
//! store they contend for its locks, on DynamoDB each is a request of its own.
//!
//!   cargo test -p sms-mfa --test store_contract memory::    # anywhere
//!   scripts/test.sh -p sms-mfa --test store_contract        # both halves
//!
//! The `dynamodb::` half needs the table scripts/test.sh creates (DYNAMODB_ENDPOINT,
//! STORE_TEST_TABLE) and panics without it, like the other DynamoDB tests. Every test makes its
//! own users, emails, phones, keys and families, so they share that table safely.

mod support;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use sms_mfa::{adapters::dynamodb::DynamoStore, config::Limits, domain::*, error::StoreError, ports::*, testing::MemoryStore};
use std::{future::Future, sync::Arc, time::Duration};

/// What the suite needs of a store: every store port, and a look at what is stored.
#[async_trait]
trait Store:
    UserStore + ChallengeStore + RateLimiter + PrefixCounters + SessionStore + FactorStore + DeviceStore + OAuthStore + 'static
{
    /// The stored items, rate-limit counters apart, that name any of `needles` (a user id, an
    /// email, a phone).
    async fn leftovers(&self, needles: &[String]) -> Vec<String>;
    /// The outbox item of `event_id` as stored, if any.
    async fn outbox_entry(&self, event_id: &str) -> Option<OutboxEntry>;
}

#[async_trait]
impl Store for MemoryStore {
    async fn leftovers(&self, needles: &[String]) -> Vec<String> {
        needles.iter().filter(|needle| self.mentions(needle)).map(|needle| format!("an item naming {needle}")).collect()
    }

    async fn outbox_entry(&self, event_id: &str) -> Option<OutboxEntry> {
        self.outbox().iter().find(|e| e.event_id == event_id).map(OutboxEntry::from)
    }
}

#[async_trait]
impl Store for DynamoStore {
    /// Scans the whole table. Counters may name the user (they expire with their window): they
    /// are checked to expire within the longest window instead.
    async fn leftovers(&self, needles: &[String]) -> Vec<String> {
        let (endpoint, table) = endpoint_and_table();
        let mut pages = support::dynamodb_client(&endpoint, None).scan().table_name(table).into_paginator().items().send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.unwrap();
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let text = format!("{pk} {}", item.values().map(describe).collect::<Vec<_>>().join(" "));
            if !needles.iter().any(|needle| text.contains(needle.as_str())) {
                continue;
            }
            if pk.starts_with("RATE#") {
                let expires_at: i64 = item.get("expires_at").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap();
                assert!(expires_at <= SystemClock.now() + Limits::HOUR.as_secs() as i64, "a counter that expires within its window: {pk}");
                continue;
            }
            // Lifecycle events (UserDeleted among them) name the user until their hour is up.
            if pk.starts_with("OUTBOX#") {
                let expires_at: i64 = item.get("expires_at").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap();
                assert!(expires_at <= SystemClock.now() + OUTBOX_TTL_SECONDS, "an outbox item that expires within the hour: {pk}");
                continue;
            }
            found.push(pk);
        }
        found
    }

    async fn outbox_entry(&self, event_id: &str) -> Option<OutboxEntry> {
        let (endpoint, table) = endpoint_and_table();
        let key = AttributeValue::S(sms_mfa::adapters::dynamodb::outbox_key(event_id));
        let got = support::dynamodb_client(&endpoint, None)
            .get_item()
            .table_name(table)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let item = got.item?;
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap();
        Some(OutboxEntry { event_id: text("event_id"), detail_type: text("detail_type"), detail: text("detail") })
    }
}

fn describe(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.clone(),
        AttributeValue::L(list) => list.iter().map(describe).collect::<Vec<_>>().join(" "),
        AttributeValue::M(map) => map.values().map(describe).collect::<Vec<_>>().join(" "),
        AttributeValue::Ss(list) => list.join(" "),
        other => format!("{other:?}"),
    }
}

fn endpoint_and_table() -> (String, String) {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run these tests through scripts/test.sh");
    let table = std::env::var("STORE_TEST_TABLE").expect("STORE_TEST_TABLE is not set: run these tests through scripts/test.sh");
    (endpoint, table)
}

fn dynamo_store() -> DynamoStore {
    let (endpoint, table) = endpoint_and_table();
    DynamoStore::new(support::dynamodb_client(&endpoint, None), table)
}

/// Runs `n` copies of `op` at once, each a spawned task, released together; their answers in
/// order. Every one must be an answer, not a store error.
async fn race<S: Store, T: Send + 'static, Fut>(store: &Arc<S>, n: usize, op: impl Fn(Arc<S>, usize) -> Fut) -> Vec<T>
where
    Fut: Future<Output = StoreResult<T>> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (start, op) = (start.clone(), op(store.clone(), i));
            tokio::spawn(async move {
                start.wait().await;
                op.await
            })
        })
        .collect();
    futures::future::join_all(tasks).await.into_iter().map(|joined| joined.expect("the task ran").expect("the store answered")).collect()
}

fn count<T>(outcomes: &[T], wanted: impl Fn(&T) -> bool) -> usize {
    outcomes.iter().filter(|o| wanted(o)).count()
}

fn unique() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

fn fresh_email() -> Email {
    Email::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap()
}

fn fresh_phone() -> Phone {
    Phone::parse(&format!("+447400{:06}", unique() % 1_000_000)).unwrap()
}

fn new_user(email: &Email, created_at: UnixTime) -> User {
    User {
        id: UserId::new(),
        email: email.clone(),
        password_hash: "$argon2id$old".into(),
        phone: fresh_phone(),
        phone_verified: false,
        created_at,
        tokens_valid_after: 0,
        kept_session: None,
        credentials_version: 0,
        devices_version: 0,
        roles: Roles::default(),
        disabled: false,
        last_sign_in_at: None,
    }
}

/// A stored account whose phone is verified, as read back.
async fn verified_user<S: Store>(store: &S, now: UnixTime) -> User {
    let user = new_user(&fresh_email(), now);
    assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
    assert!(store.set_verified_phone(&user, &user.phone, ev()).await.unwrap());
    UserStore::get(store, &user.id).await.unwrap().unwrap()
}

fn challenge_for(user: &User, purpose: Purpose, now: UnixTime) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        user_id: user.id.clone(),
        purpose,
        phone: user.phone.clone(),
        channel: Channel::Sms,
        provider_ref: None,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: now,
        last_sent_at: now,
        expires_at: now + 600,
        factor: ChallengeFactor::Phone,
        decoy: false,
        credentials_version: user.credentials_version,
        reset_budget: None,
    }
}

/// A login challenge of an account nobody stored (the challenge tests need no account).
fn challenge(now: UnixTime, expires_in: i64) -> Challenge {
    Challenge { expires_at: now + expires_in, ..challenge_for(&new_user(&fresh_email(), now), Purpose::Login, now) }
}

fn refresh(user: &UserId, family: &str, now: UnixTime) -> RefreshRecord {
    RefreshRecord {
        token_hash: format!("{:064x}", unique()),
        family_id: family.into(),
        user_id: user.clone(),
        amr: vec!["pwd".into(), "sms".into()],
        expires_at: now + 3600,
        client: None,
    }
}

/// An outbox event for a store call (the contracts about the outbox check their own).
fn ev() -> &'static LifecycleEvent {
    Box::leak(Box::new(LifecycleEvent::new(&UserId("contract".into()), LifecycleChange::SignedOutEverywhere, 0)))
}

/// A fresh event about `user` (its own id, so each contract checks its own).
fn event_of(user: &UserId, change: LifecycleChange) -> LifecycleEvent {
    LifecycleEvent::new(user, change, SystemClock.now())
}

/// Every change writes its outbox item in the same write, and a refused change writes none.
async fn outbox_items_are_written_with_their_change_and_only_then<S: Store>(store: Arc<S>, now: UnixTime) {
    let written = |event: &LifecycleEvent| {
        let (store, event) = (store.clone(), event.clone());
        async move { store.outbox_entry(&event.event_id).await == Some(OutboxEntry::from(&event)) }
    };
    let absent = |event: &LifecycleEvent| {
        let (store, id) = (store.clone(), event.event_id.clone());
        async move { store.outbox_entry(&id).await.is_none() }
    };
    let user = new_user(&fresh_email(), now);
    store.create_user(&user).await.unwrap();
    let signed_up = event_of(&user.id, LifecycleChange::SignedUp { email: user.email.clone() });
    assert!(store.set_verified_phone(&user, &user.phone, &signed_up).await.unwrap());
    assert!(written(&signed_up).await, "UserSignedUp with the phone");
    let stale = event_of(&user.id, LifecycleChange::phone_changed(&user.phone));
    assert!(!store.set_verified_phone(&new_user(&fresh_email(), now), &user.phone, &stale).await.unwrap());
    assert!(absent(&stale).await, "no account, no event");

    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    let out = event_of(&user.id, LifecycleChange::SignedOutEverywhere);
    assert!(store.update_credentials(&CredentialChange { event: &out, ..logout(&user, now) }).await.unwrap());
    assert!(written(&out).await, "with the credential change");
    let lost = event_of(&user.id, LifecycleChange::PasswordChanged);
    assert!(!store.update_credentials(&CredentialChange { event: &lost, ..logout(&user, now) }).await.unwrap());
    assert!(absent(&lost).await, "a stale change writes no event");

    let signed_in = event_of(&user.id, LifecycleChange::SignedIn { client_id: None });
    let first = refresh(&user.id, "family-with-event", now);
    store.start_family(&first, Some(&signed_in)).await.unwrap();
    assert!(written(&signed_in).await, "with the session's first token");
    let reuse = event_of(&user.id, LifecycleChange::RefreshTokenReuseDetected);
    store.revoke_family(&first.family_id, now + 3600, Some(&reuse)).await.unwrap();
    assert!(written(&reuse).await && store.is_family_revoked(&first.family_id).await.unwrap());

    assert!(store.start_enrolment(&user.id, "v1.outbox", now + 600).await.unwrap());
    let refused = event_of(&user.id, LifecycleChange::FactorAdded { factor: "totp" });
    assert!(!store.confirm_enrolment(&user.id, "v1.other", 10, &recovery_hashes(10, 0), now, &refused).await.unwrap());
    assert!(absent(&refused).await, "an enrolment that did not confirm");
    let added = event_of(&user.id, LifecycleChange::FactorAdded { factor: "totp" });
    assert!(store.confirm_enrolment(&user.id, "v1.outbox", 10, &recovery_hashes(10, 0), now, &added).await.unwrap());
    assert!(written(&added).await);
    let removed = event_of(&user.id, LifecycleChange::FactorRemoved { factor: "totp" });
    store.remove_totp(&user.id, &removed).await.unwrap();
    assert!(written(&removed).await);

    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    let deleted = event_of(&user.id, LifecycleChange::UserDeleted);
    assert!(store.delete_account(&user, &deleted).await.unwrap());
    assert!(written(&deleted).await, "with the account's removal");
    let again = event_of(&user.id, LifecycleChange::UserDeleted);
    assert!(!store.delete_account(&user, &again).await.unwrap());
    assert!(absent(&again).await, "already gone: no second UserDeleted");
}

async fn start_family<S: Store>(store: &S, user: &UserId, now: UnixTime) -> (String, RefreshRecord) {
    let family = uuid::Uuid::new_v4().to_string();
    let first = refresh(user, &family, now);
    store.start_family(&first, None).await.unwrap();
    (family, first)
}

/// A credential change that only ends sessions (a global logout); tests set the rest.
fn logout(user: &User, now: UnixTime) -> CredentialChange<'_> {
    CredentialChange {
        user,
        new_password_hash: None,
        consume: None,
        clear_limit: None,
        revoke_families: &[],
        revoked_until: now + 3600,
        now,
        keep_session: None,
        disable: false,
        event: ev(),
    }
}

fn limiter_key(scope: &str) -> String {
    format!("{scope}#{}", uuid::Uuid::new_v4())
}

fn recovery_hashes(n: usize, from: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("{i:064x}")).collect()
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

/// An account whose authenticator was confirmed at `step`, with recovery codes `hashes`.
async fn with_authenticator<S: Store>(store: &S, step: i64, hashes: &[String], now: UnixTime) -> UserId {
    // An account: confirming moves its devices version on.
    let user = verified_user(store, now).await.id;
    assert!(store.start_enrolment(&user, "v1.sealed-a", now + 600).await.unwrap());
    assert!(store.confirm_enrolment(&user, "v1.sealed-a", step, hashes, now, ev()).await.unwrap());
    user
}

// ---------------------------------------------------------------------------------------------
// UserStore

async fn create_user_round_trips_every_field<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = User {
        tokens_valid_after: now - 5,
        kept_session: Some("family-1".into()),
        credentials_version: 3,
        ..new_user(&fresh_email(), now)
    };
    assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
    assert_eq!(UserStore::get(store.as_ref(), &user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(store.find_by_email(&user.email).await.unwrap().as_ref(), Some(&user));
    assert_eq!(store.find_by_email(&fresh_email()).await.unwrap(), None);
    assert_eq!(UserStore::get(store.as_ref(), &UserId::new()).await.unwrap(), None);
}

async fn create_user_claims_an_email_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let email = fresh_email();
    let candidates: Vec<User> = (0..20).map(|_| new_user(&email, now)).collect();
    let outcomes = race(&store, candidates.len(), |store, i| {
        let user = candidates[i].clone();
        async move { store.create_user(&user).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == CreateUser::Created), 1, "{outcomes:?}");

    let stored = store.find_by_email(&email).await.unwrap().expect("the winner is stored");
    let winner = candidates.iter().find(|u| u.id == stored.id).expect("one of the candidates");
    assert_eq!(&stored, winner);
    let mut existing = 0;
    for candidate in &candidates {
        existing += UserStore::get(store.as_ref(), &candidate.id).await.unwrap().is_some() as usize;
    }
    assert_eq!(existing, 1, "exactly one account exists");
}

/// A create_user sent again after it landed (the SDK retries a request whose answer was lost)
/// is the same registration: Created, and still one account.
async fn create_user_sent_again_is_the_same_registration<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = new_user(&fresh_email(), now);
    assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
    assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
    assert_eq!(store.find_by_email(&user.email).await.unwrap().as_ref(), Some(&user));
    assert_eq!(store.create_user(&new_user(&user.email, now)).await.unwrap(), CreateUser::EmailTaken, "another account is not");
}

async fn an_unfinished_signup_holds_its_email_then_one_registration_takes_it_over<S: Store>(store: Arc<S>, now: UnixTime) {
    // The hold, to the second: a registration exactly UNFINISHED_SIGNUP_HOLD later takes over.
    let held = new_user(&fresh_email(), now - 59);
    assert_eq!(store.create_user(&held).await.unwrap(), CreateUser::Created);
    assert_eq!(store.create_user(&new_user(&held.email, now)).await.unwrap(), CreateUser::EmailTaken, "59 s: still held");
    let after_hold = new_user(&held.email, now + 1);
    assert_eq!(store.create_user(&after_hold).await.unwrap(), CreateUser::Created, "60 s: abandoned");
    assert_eq!(UserStore::get(store.as_ref(), &held.id).await.unwrap(), None, "the unfinished account is gone");

    // Under races, exactly one of the registrations replaces the unfinished one.
    let email = fresh_email();
    let stale = new_user(&email, now - 120);
    assert_eq!(store.create_user(&stale).await.unwrap(), CreateUser::Created);
    let candidates: Vec<User> = (0..10).map(|_| new_user(&email, now)).collect();
    let outcomes = race(&store, candidates.len(), |store, i| {
        let user = candidates[i].clone();
        async move { store.create_user(&user).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == CreateUser::Created), 1, "{outcomes:?}");
    assert_eq!(UserStore::get(store.as_ref(), &stale.id).await.unwrap(), None, "the stale account is gone");
    let winner = store.find_by_email(&email).await.unwrap().expect("the winner holds the email");
    assert!(candidates.iter().any(|c| c.id == winner.id));
    assert_eq!(store.create_user(&new_user(&email, now)).await.unwrap(), CreateUser::EmailTaken, "the winner's hold starts now");

    // A verified account keeps its email for good; a replaced one can no longer be verified.
    let new_phone = fresh_phone();
    assert!(store.set_verified_phone(&winner, &new_phone, ev()).await.unwrap());
    let verified = UserStore::get(store.as_ref(), &winner.id).await.unwrap().unwrap();
    assert_eq!((verified.phone_verified, &verified.phone), (true, &new_phone));
    assert_eq!(store.create_user(&new_user(&email, now + 3600)).await.unwrap(), CreateUser::EmailTaken);
    assert!(!store.set_verified_phone(&stale, &new_phone, ev()).await.unwrap(), "a replaced account cannot be verified");
}

async fn delete_unverified_undoes_a_signup_and_spares_verified_accounts<S: Store>(store: Arc<S>, now: UnixTime) {
    let email = fresh_email();
    let pending = new_user(&email, now);
    store.create_user(&pending).await.unwrap();
    store.delete_unverified(&pending).await.unwrap();
    assert!(store.find_by_email(&email).await.unwrap().is_none());
    assert!(UserStore::get(store.as_ref(), &pending.id).await.unwrap().is_none());

    let kept = new_user(&email, now);
    assert_eq!(store.create_user(&kept).await.unwrap(), CreateUser::Created, "the email is free at once");
    assert!(store.set_verified_phone(&kept, &kept.phone, ev()).await.unwrap());
    store.delete_unverified(&kept).await.unwrap();
    assert_eq!(store.find_by_email(&email).await.unwrap().map(|u| u.id), Some(kept.id.clone()));

    // The undo of a sign-up that was replaced meanwhile leaves its successor alone.
    let email = fresh_email();
    let stale = new_user(&email, now - 120);
    store.create_user(&stale).await.unwrap();
    let successor = new_user(&email, now);
    assert_eq!(store.create_user(&successor).await.unwrap(), CreateUser::Created);
    store.delete_unverified(&stale).await.unwrap();
    assert_eq!(store.find_by_email(&email).await.unwrap().as_ref(), Some(&successor));
}

async fn set_verified_phone_needs_the_credentials_version_it_read<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = new_user(&fresh_email(), now);
    store.create_user(&user).await.unwrap();
    let read = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    // A credential change moves the version on: the earlier read is stale.
    assert!(store.update_credentials(&logout(&read, now)).await.unwrap());
    let fresh = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!(fresh.credentials_version, read.credentials_version + 1);

    let (first, second) = (fresh_phone(), fresh_phone());
    assert!(!store.set_verified_phone(&read, &first, ev()).await.unwrap(), "a stale read changes nothing");
    assert_eq!(UserStore::get(store.as_ref(), &user.id).await.unwrap().as_ref(), Some(&fresh));
    assert!(store.set_verified_phone(&fresh, &second, ev()).await.unwrap());
    let stored = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!((stored.phone_verified, &stored.phone, stored.credentials_version), (true, &second, fresh.credentials_version));
    assert!(!store.set_verified_phone(&new_user(&fresh_email(), now), &first, ev()).await.unwrap(), "no such account");
}

/// A reset: ten parallel requests with the same code; one sets the password, and with it ends
/// every session and clears the failure counter, in one transaction.
async fn update_credentials_consumes_its_challenge_at_most_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let families = vec![start_family(store.as_ref(), &user.id, now).await.0, start_family(store.as_ref(), &user.id, now).await.0];
    assert_eq!(store.families_of(&user.id).await.unwrap(), sorted(families.clone()), "every family of the user");

    let challenge = challenge_for(&user, Purpose::PasswordReset, now);
    ChallengeStore::put(store.as_ref(), &challenge).await.unwrap();
    let failures = format!("login_fail#{}", user.email.as_str());
    for _ in 0..10 {
        store.hit(&failures, 10, Limits::SHORT_WINDOW, now).await.unwrap();
    }
    assert!(matches!(store.is_exhausted(&failures, 10, Limits::SHORT_WINDOW, now).await.unwrap(), LimitOutcome::Exceeded { .. }));

    let hashes: Vec<String> = (0..10).map(|i| format!("$argon2id$new{i}")).collect();
    let outcomes = race(&store, hashes.len(), |store, i| {
        let (user, hash, id, families, failures) =
            (user.clone(), hashes[i].clone(), challenge.id.clone(), families.clone(), failures.clone());
        async move {
            let change = CredentialChange {
                new_password_hash: Some(&hash),
                consume: Some(&id),
                clear_limit: Some((&failures, Limits::SHORT_WINDOW)),
                revoke_families: &families,
                ..logout(&user, now)
            };
            store.update_credentials(&change).await
        }
    })
    .await;
    let winners: Vec<usize> = (0..outcomes.len()).filter(|i| outcomes[*i]).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");

    let stored = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, hashes[winners[0]]);
    assert_eq!((stored.tokens_valid_after, stored.kept_session.as_deref()), (now, None));
    assert_eq!(stored.credentials_version, user.credentials_version + 1, "moved on once");
    for family in &families {
        assert!(store.is_family_revoked(family).await.unwrap(), "family {family} revoked");
    }
    assert_eq!(ChallengeStore::get(store.as_ref(), &challenge.id).await.unwrap().unwrap().status, ChallengeStatus::Used);
    assert_eq!(store.is_exhausted(&failures, 10, Limits::SHORT_WINDOW, now).await.unwrap(), LimitOutcome::Allowed, "window cleared");
    // The same challenge never sets a password again, not even with the fresh read.
    let replay = CredentialChange { new_password_hash: Some("$argon2id$again"), consume: Some(&challenge.id), ..logout(&stored, now) };
    assert!(!store.update_credentials(&replay).await.unwrap());
    assert_eq!(UserStore::get(store.as_ref(), &user.id).await.unwrap().as_ref(), Some(&stored));
}

/// A password change: it needs the current password as read (no lost update), keeps the
/// caller's session, revokes the others, and moves the version on by one each time.
async fn update_credentials_refuses_a_stale_password_and_keeps_one_session<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let (mine, other) = (start_family(store.as_ref(), &user.id, now).await.0, start_family(store.as_ref(), &user.id, now).await.0);
    let others = vec![other.clone()];
    let change = CredentialChange {
        new_password_hash: Some("$argon2id$changed"),
        revoke_families: &others,
        keep_session: Some(&mine),
        disable: false,
        ..logout(&user, now)
    };
    assert!(store.update_credentials(&change).await.unwrap());
    assert!(!store.update_credentials(&change).await.unwrap(), "a stale current password loses");
    let stored = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.kept_session.as_deref(), stored.credentials_version),
        ("$argon2id$changed", Some(mine.as_str()), user.credentials_version + 1)
    );
    assert!(store.is_family_revoked(&other).await.unwrap());
    assert!(!store.is_family_revoked(&mine).await.unwrap());

    // A later global logout ends the kept session too.
    assert!(store.update_credentials(&logout(&stored, now + 10)).await.unwrap());
    let after = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!((after.kept_session, after.tokens_valid_after, after.credentials_version), (None, now + 10, user.credentials_version + 2));
    // Same password, but read before that logout: a change made under ended credentials loses.
    assert!(!store.update_credentials(&logout(&stored, now + 20)).await.unwrap(), "a stale credentials version loses");
    assert!(!store.update_credentials(&logout(&new_user(&fresh_email(), now), now)).await.unwrap(), "no such account");
}

/// A reset of `user` with the challenge `consume`, clearing `failures` and revoking `families`.
fn reset<'a>(user: &'a User, consume: &'a ChallengeId, failures: &'a str, families: &'a [String], now: UnixTime) -> CredentialChange<'a> {
    CredentialChange {
        new_password_hash: Some("$argon2id$new"),
        consume: Some(consume),
        clear_limit: Some((failures, Limits::SHORT_WINDOW)),
        revoke_families: families,
        ..logout(user, now)
    }
}

/// Nothing of `reset` was written: the account as read, its family alive, its counter full.
async fn assert_untouched<S: Store>(store: &S, user: &User, families: &[String], failures: &str, now: UnixTime) {
    assert_eq!(UserStore::get(store, &user.id).await.unwrap().as_ref(), Some(user), "the account is unchanged");
    assert!(!store.is_family_revoked(&families[0]).await.unwrap(), "no family revoked");
    assert!(matches!(store.is_exhausted(failures, 3, Limits::SHORT_WINDOW, now).await.unwrap(), LimitOutcome::Exceeded { .. }));
}

/// One transaction: a change refused by any of its conditions writes none of its parts.
async fn a_refused_credential_change_writes_nothing<S: Store>(store: Arc<S>, now: UnixTime) {
    let store = store.as_ref();
    let user = verified_user(store, now).await;
    let families = vec![start_family(store, &user.id, now).await.0];
    let failures = limiter_key("login_fail");
    for _ in 0..3 {
        store.hit(&failures, 3, Limits::SHORT_WINDOW, now).await.unwrap();
    }

    let expired = Challenge { expires_at: now, ..challenge_for(&user, Purpose::PasswordReset, now - 600) };
    ChallengeStore::put(store, &expired).await.unwrap();
    assert!(!store.update_credentials(&reset(&user, &expired.id, &failures, &families, now)).await.unwrap(), "an expired challenge");
    assert_untouched(store, &user, &families, &failures, now).await;
    let unknown = ChallengeId::new();
    assert!(!store.update_credentials(&reset(&user, &unknown, &failures, &families, now)).await.unwrap(), "an unknown challenge");
    assert_untouched(store, &user, &families, &failures, now).await;

    // A stale password read: the challenge is not used up either.
    let live = challenge_for(&user, Purpose::PasswordReset, now);
    ChallengeStore::put(store, &live).await.unwrap();
    let stale = User { password_hash: "$argon2id$stale".into(), ..user.clone() };
    assert!(!store.update_credentials(&reset(&stale, &live.id, &failures, &families, now)).await.unwrap());
    assert_untouched(store, &user, &families, &failures, now).await;
    assert_eq!(ChallengeStore::get(store, &live.id).await.unwrap().unwrap().status, ChallengeStatus::Pending);
    assert!(store.update_credentials(&reset(&user, &live.id, &failures, &families, now)).await.unwrap(), "the same change, read right");
}

async fn delete_account_leaves_nothing_naming_the_user<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    start_family(store.as_ref(), &user.id, now).await;
    start_family(store.as_ref(), &user.id, now).await;
    ChallengeStore::put(store.as_ref(), &challenge_for(&user, Purpose::Login, now)).await.unwrap();
    let new_phone = fresh_phone();
    let phone_change = Challenge { phone: new_phone.clone(), ..challenge_for(&user, Purpose::PhoneChange, now) };
    ChallengeStore::put(store.as_ref(), &phone_change).await.unwrap();
    store.remember_pending_ref(&user.phone, "VE-old", now + 600).await.unwrap();
    store.remember_pending_ref(&new_phone, "VE-new", now + 600).await.unwrap();
    assert!(store.start_enrolment(&user.id, "v1.sealed", now + 600).await.unwrap());
    assert!(store.confirm_enrolment(&user.id, "v1.sealed", 10, &recovery_hashes(10, 0), now, ev()).await.unwrap());
    store.hit(&format!("login_fail#{}", user.email.as_str()), 10, Limits::SHORT_WINDOW, now).await.unwrap();
    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert!(store.put_device(&device_for(&user, 0, now), None).await.unwrap());
    assert!(store.put_device(&device_for(&user, 9, now), None).await.unwrap());
    store.put_code(&code_for(&user.id, now)).await.unwrap();
    store.put_sso(&sso_for(&user.id, now)).await.unwrap();
    let needles = [user.id.0.clone(), user.email.as_str().to_owned(), user.phone.as_e164().to_owned(), new_phone.as_e164().to_owned()];
    assert!(!store.leftovers(&needles).await.is_empty(), "the look at the store sees the account");

    let outcomes = race(&store, 5, |store, _| {
        let user = user.clone();
        async move { store.delete_account(&user, ev()).await }
    })
    .await;
    assert_eq!(count(&outcomes, |deleted| *deleted), 1, "one deletion, the others find it gone: {outcomes:?}");
    assert!(!store.delete_account(&user, ev()).await.unwrap(), "already gone");

    assert_eq!(store.leftovers(&needles).await, Vec::<String>::new(), "items still name the deleted user");
    assert!(store.find_by_email(&user.email).await.unwrap().is_none());
    assert!(store.families_of(&user.id).await.unwrap().is_empty());
    assert_eq!(store.factors(&user.id).await.unwrap(), FactorRecord::default());
    assert!(store.devices_of(&user.id).await.unwrap().is_empty());
    assert_eq!(store.create_user(&new_user(&user.email, now)).await.unwrap(), CreateUser::Created, "the email is free");
}

// ---------------------------------------------------------------------------------------------
// ChallengeStore

/// A put sent again after it landed changes nothing (not even the counted attempts); another
/// challenge under the same id is refused.
async fn challenges_round_trip_and_a_put_sent_again_overwrites_nothing<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = Challenge {
        code_hash: Some("h1".into()),
        decoy: true,
        credentials_version: 2,
        reset_budget: Some("budget".into()),
        factor: ChallengeFactor::Totp,
        ..challenge(now, 600)
    };
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().as_ref(), Some(&c));
    assert!(matches!(store.count_attempt(&c.id, now).await.unwrap(), AttemptOutcome::Counted { .. }));
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap().attempts, 1, "the put sent again wrote nothing");
    let other = Challenge { id: c.id.clone(), ..challenge(now, 600) };
    assert!(matches!(ChallengeStore::put(store.as_ref(), &other).await, Err(StoreError::Unavailable(_))), "an id collision");
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap().user_id, c.user_id);

    store.set_provider_ref(&c.id, "VE123").await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap().provider_ref.as_deref(), Some("VE123"));
    let unknown = ChallengeId::new();
    store.set_provider_ref(&unknown, "VE124").await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &unknown).await.unwrap(), None, "no challenge is made up");

    ChallengeStore::delete(store.as_ref(), &c.id).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap(), None);
    ChallengeStore::delete(store.as_ref(), &c.id).await.unwrap();
}

async fn pending_refs_are_kept_until_they_expire<S: Store>(store: Arc<S>, now: UnixTime) {
    let phone = fresh_phone();
    assert_eq!(store.pending_ref_for(&phone, now).await.unwrap(), None);
    store.remember_pending_ref(&phone, "VE1", now + 600).await.unwrap();
    assert_eq!(store.pending_ref_for(&phone, now + 599).await.unwrap().as_deref(), Some("VE1"));
    assert_eq!(store.pending_ref_for(&phone, now + 600).await.unwrap(), None, "expired (checked on read)");
    store.remember_pending_ref(&phone, "VE2", now + 600).await.unwrap();
    assert_eq!(store.pending_ref_for(&phone, now).await.unwrap().as_deref(), Some("VE2"), "the last one started");
    assert_eq!(store.pending_ref_for(&fresh_phone(), now).await.unwrap(), None);
}

async fn count_attempt_never_goes_above_the_limit_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = challenge(now, 600);
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    let id = c.id.clone();
    let outcomes = race(&store, 50, |store, _| {
        let id = id.clone();
        async move { store.count_attempt(&id, now).await }
    })
    .await;
    let mut counted: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            AttemptOutcome::Counted { challenge } => Some(challenge.attempts),
            _ => None,
        })
        .collect();
    counted.sort();
    assert_eq!(counted, vec![1, 2, 3, 4, 5], "each counted check sees its own count");
    assert_eq!(count(&outcomes, |o| *o == AttemptOutcome::Exhausted), 45);
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap().attempts, 5);
}

async fn a_challenge_is_consumed_once_and_expiry_is_checked_on_read<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = challenge(now, 600);
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    let id = c.id.clone();
    let wins = race(&store, 10, |store, _| {
        let id = id.clone();
        async move { store.consume(&id, now).await }
    })
    .await;
    assert_eq!(count(&wins, |won| *won), 1, "{wins:?}");
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap().status, ChallengeStatus::Used);
    assert_eq!(store.count_attempt(&c.id, now).await.unwrap(), AttemptOutcome::Invalid, "used");
    let resend = store.claim_resend(&c.id, now + 60, Duration::from_secs(30), now + 600, Channel::Sms, None).await.unwrap();
    assert_eq!(resend, ResendOutcome::Invalid, "a used challenge is not sent again");

    // TTL deletion lags (by days in AWS, never in moto): an expired item must still be refused.
    let expired = challenge(now, 0);
    ChallengeStore::put(store.as_ref(), &expired).await.unwrap();
    assert_eq!(store.count_attempt(&expired.id, now).await.unwrap(), AttemptOutcome::Invalid);
    assert!(!store.consume(&expired.id, now).await.unwrap());
    assert_eq!(store.count_attempt(&ChallengeId::new(), now).await.unwrap(), AttemptOutcome::Invalid);
    assert!(!store.consume(&ChallengeId::new(), now).await.unwrap());
}

async fn claim_resend_has_one_winner_per_cooldown_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = Challenge { last_sent_at: now - 60, code_hash: Some("h1".into()), ..challenge(now, 600) };
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    let cooldown = Duration::from_secs(30);
    let id = c.id.clone();
    let outcomes = race(&store, 20, |store, _| {
        let id = id.clone();
        async move { store.claim_resend(&id, now, cooldown, now + 600, Channel::Call, Some("h2")).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| matches!(o, ResendOutcome::Ready { .. })), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == ResendOutcome::TooSoon { retry_after: cooldown }), 19, "{outcomes:?}");
    let stored = ChallengeStore::get(store.as_ref(), &c.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.channel, stored.code_hash.as_deref(), stored.expires_at, stored.last_sent_at),
        (Channel::Call, Some("h2"), now + 600, now)
    );
    let ready = store.claim_resend(&c.id, now + 30, cooldown, now + 630, Channel::Sms, None).await.unwrap();
    let ResendOutcome::Ready { challenge: resent } = ready else { panic!("the cooldown has passed: {ready:?}") };
    assert_eq!(resent.code_hash.as_deref(), Some("h2"), "no new hash keeps the old one");

    // Checks used up: a new code would not help.
    let spent = Challenge { attempts: 5, last_sent_at: now - 60, ..challenge(now, 600) };
    ChallengeStore::put(store.as_ref(), &spent).await.unwrap();
    let outcome = store.claim_resend(&spent.id, now, cooldown, now + 600, Channel::Sms, None).await.unwrap();
    assert_eq!(outcome, ResendOutcome::Exhausted);
    let outcome = store.claim_resend(&ChallengeId::new(), now, cooldown, now + 600, Channel::Sms, None).await.unwrap();
    assert_eq!(outcome, ResendOutcome::Invalid);
}

async fn release_resend_gives_back_only_its_own_claim<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = Challenge { last_sent_at: now - 60, ..challenge(now, 600) };
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    let cooldown = Duration::from_secs(30);
    let claim = |at: UnixTime| store.claim_resend(&c.id, at, cooldown, at + 600, Channel::Sms, None);
    assert!(matches!(claim(now).await.unwrap(), ResendOutcome::Ready { .. }));
    store.release_resend(&c.id, now - 60).await.unwrap();
    assert!(matches!(claim(now + 1).await.unwrap(), ResendOutcome::TooSoon { .. }), "another claim's release changes nothing");
    // A send that failed gives its claim back, so the user can ask again at once.
    store.release_resend(&c.id, now).await.unwrap();
    assert!(matches!(claim(now + 1).await.unwrap(), ResendOutcome::Ready { .. }));
    let unknown = ChallengeId::new();
    store.release_resend(&unknown, now).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &unknown).await.unwrap(), None, "no challenge is made up");
}

// ---------------------------------------------------------------------------------------------
// RateLimiter

async fn hit_never_allows_more_than_the_limit_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let key = limiter_key("test");
    let window = Duration::from_secs(900);
    for _ in 0..3 {
        assert_eq!(store.is_exhausted(&key, 10, window, now).await.unwrap(), LimitOutcome::Allowed, "looking counts nothing");
    }
    let outcomes = race(&store, 30, |store, _| {
        let key = key.clone();
        async move { store.hit(&key, 10, window, now).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == LimitOutcome::Allowed), 10, "{outcomes:?}");
    let (_, end) = fixed_window(now, window);
    let full = LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now) as u64) };
    assert_eq!(count(&outcomes, |o| *o == full), 20, "the others wait for the window's end");
    assert_eq!(store.is_exhausted(&key, 10, window, now).await.unwrap(), full);
    assert_eq!(store.hit(&key, 10, window, now + 900).await.unwrap(), LimitOutcome::Allowed, "the next window starts empty");
}

/// The per-account budget of code checks (Zitadel CVE-2023-47111): parallel checks must not
/// exceed it, and a reservation counts on the same counter as `hit`.
async fn reserve_never_exceeds_the_limit_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let key = limiter_key("factor_fail");
    let window = Duration::from_secs(900);
    let outcomes = race(&store, 50, |store, _| {
        let key = key.clone();
        async move { store.reserve(&key, 10, window, now).await }
    })
    .await;
    let mut remaining: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            CheckReservation::Reserved { remaining } => Some(*remaining),
            CheckReservation::Exceeded { .. } => None,
        })
        .collect();
    remaining.sort();
    assert_eq!(remaining, (0..10).collect::<Vec<_>>(), "exactly 10 of 50, each told what is left");
    assert!(
        matches!(store.reserve(&key, 10, window, now).await.unwrap(), CheckReservation::Exceeded { retry_after } if retry_after.as_secs() >= 1)
    );
    assert!(matches!(store.hit(&key, 10, window, now).await.unwrap(), LimitOutcome::Exceeded { .. }), "one counter");

    let shared = limiter_key("shared");
    for _ in 0..4 {
        assert_eq!(store.hit(&shared, 10, window, now).await.unwrap(), LimitOutcome::Allowed);
    }
    assert_eq!(store.reserve(&shared, 10, window, now).await.unwrap(), CheckReservation::Reserved { remaining: 5 });
}

async fn release_gives_back_one_and_never_goes_below_zero_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let key = limiter_key("factor_fail");
    let window = Duration::from_secs(900);
    for _ in 0..10 {
        store.reserve(&key, 10, window, now).await.unwrap();
    }
    store.release(&key, window, now).await.unwrap();
    assert_eq!(store.reserve(&key, 10, window, now).await.unwrap(), CheckReservation::Reserved { remaining: 0 }, "one given back");

    // Fifteen parallel releases of ten reservations: the count stops at zero.
    race(&store, 15, |store, _| {
        let key = key.clone();
        async move { store.release(&key, window, now).await }
    })
    .await;
    let outcomes = race(&store, 30, |store, _| {
        let key = key.clone();
        async move { store.hit(&key, 10, window, now).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == LimitOutcome::Allowed), 10, "the whole window again, no more");

    // A release gives back to the window of its reservation, and never below zero there either.
    let other = limiter_key("factor_fail");
    store.reserve(&other, 10, window, now).await.unwrap();
    store.release(&other, window, now - 900).await.unwrap();
    assert_eq!(store.reserve(&other, 10, window, now).await.unwrap(), CheckReservation::Reserved { remaining: 8 });
    assert_eq!(store.reserve(&other, 10, window, now - 900).await.unwrap(), CheckReservation::Reserved { remaining: 9 });
}

// ---------------------------------------------------------------------------------------------
// SessionStore

/// Five requests rotate the same refresh token: one wins; each other one learns when it was
/// spent and the winner's sealed successor (a double submit can get the winner's answer).
async fn rotate_has_one_winner_and_the_others_get_its_successor<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = UserId::new();
    let (family, first) = start_family(store.as_ref(), &user, now).await;
    let nexts: Vec<RefreshRecord> = (0..5).map(|_| refresh(&user, &family, now)).collect();
    let old = first.token_hash.clone();
    let outcomes = race(&store, nexts.len(), |store, i| {
        let (old, next) = (old.clone(), nexts[i].clone());
        async move { store.rotate(&old, &next, &format!("sealed-{i}"), now).await }
    })
    .await;
    let winners: Vec<usize> = (0..outcomes.len()).filter(|i| outcomes[*i] == RotateOutcome::Rotated).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    let spent = RotateOutcome::AlreadySpent { spent_at: now, sealed_successor: Some(format!("sealed-{winner}")), record: first.clone() };
    assert_eq!(count(&outcomes, |o| *o == spent), nexts.len() - 1, "{outcomes:?}");

    for (i, next) in nexts.iter().enumerate() {
        let stored = store.find_active(&next.token_hash, now).await.unwrap();
        assert_eq!(stored.as_ref(), (i == winner).then_some(next), "only the winner's successor is stored");
    }
    assert_eq!(store.find_active(&first.token_hash, now).await.unwrap(), None, "spent");
    assert_eq!(store.find(&first.token_hash).await.unwrap().as_ref(), Some(&first), "but still known");
    let again = store.rotate(&first.token_hash, &refresh(&user, &family, now), "late", now + 5).await.unwrap();
    assert_eq!(again, spent, "a late retry gets the same answer");

    store.revoke_family(&family, now + 3600, None).await.unwrap();
    let successor = &nexts[winner];
    assert_eq!(store.rotate(&successor.token_hash, &refresh(&user, &family, now), "s", now).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.rotate(&first.token_hash, &refresh(&user, &family, now), "s", now).await.unwrap(), RotateOutcome::Invalid);
}

async fn rotate_refuses_unknown_expired_and_revoked_tokens<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = UserId::new();
    let family = uuid::Uuid::new_v4().to_string();
    let unknown = refresh(&user, &family, now);
    let next = refresh(&user, &family, now);
    assert_eq!(store.rotate(&unknown.token_hash, &next, "s", now).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.find(&next.token_hash).await.unwrap(), None, "nothing stored");

    let expiring = RefreshRecord { expires_at: now, ..refresh(&user, &family, now) };
    store.start_family(&expiring, None).await.unwrap();
    assert_eq!(store.find_active(&expiring.token_hash, now - 1).await.unwrap().as_ref(), Some(&expiring));
    assert_eq!(store.find_active(&expiring.token_hash, now).await.unwrap(), None, "expired (checked on read)");
    assert_eq!(store.find(&expiring.token_hash).await.unwrap().as_ref(), Some(&expiring));
    assert_eq!(store.rotate(&expiring.token_hash, &next, "s", now).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.find(&next.token_hash).await.unwrap(), None, "nothing stored");

    let (revoked, first) = start_family(store.as_ref(), &user, now).await;
    store.revoke_family(&revoked, now + 3600, None).await.unwrap();
    let next = refresh(&user, &revoked, now);
    assert_eq!(store.rotate(&first.token_hash, &next, "s", now).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.find(&next.token_hash).await.unwrap(), None, "nothing stored");
    assert_eq!(store.find_active(&first.token_hash, now).await.unwrap().as_ref(), Some(&first), "not spent either");
}

/// start_family sent again after it landed changes nothing (a spent token stays spent);
/// another token under the same hash is refused.
async fn start_family_sent_again_overwrites_nothing<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = UserId::new();
    let (family, first) = start_family(store.as_ref(), &user, now).await;
    let next = refresh(&user, &family, now);
    assert_eq!(store.rotate(&first.token_hash, &next, "sealed", now).await.unwrap(), RotateOutcome::Rotated);
    store.start_family(&first, None).await.unwrap();
    assert_eq!(store.find_active(&first.token_hash, now).await.unwrap(), None, "still spent");
    assert!(matches!(
        store.rotate(&first.token_hash, &refresh(&user, &family, now), "s", now).await.unwrap(),
        RotateOutcome::AlreadySpent { .. }
    ));
    let other = RefreshRecord { token_hash: first.token_hash.clone(), ..refresh(&UserId::new(), "another", now) };
    assert!(matches!(store.start_family(&other, None).await, Err(StoreError::Unavailable(_))), "a hash collision");
    assert_eq!(store.find(&first.token_hash).await.unwrap().as_ref(), Some(&first));
}

async fn revoked_families_stay_revoked<S: Store>(store: Arc<S>, now: UnixTime) {
    let (family, other) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    assert!(!store.is_family_revoked(&family).await.unwrap());
    store.revoke_family(&family, now + 3600, None).await.unwrap();
    store.revoke_family(&family, now + 60, None).await.unwrap();
    assert!(store.is_family_revoked(&family).await.unwrap());
    assert!(!store.is_family_revoked(&other).await.unwrap());
}

async fn families_of_lists_every_family_of_the_user_once<S: Store>(store: Arc<S>, now: UnixTime) {
    let (user, someone_else) = (UserId::new(), UserId::new());
    let (rotated, first) = start_family(store.as_ref(), &user, now).await;
    let second = refresh(&user, &rotated, now);
    assert_eq!(store.rotate(&first.token_hash, &second, "s1", now).await.unwrap(), RotateOutcome::Rotated);
    assert_eq!(store.rotate(&second.token_hash, &refresh(&user, &rotated, now), "s2", now).await.unwrap(), RotateOutcome::Rotated);
    let (revoked, _) = start_family(store.as_ref(), &user, now).await;
    store.revoke_family(&revoked, now + 3600, None).await.unwrap();
    let (theirs, _) = start_family(store.as_ref(), &someone_else, now).await;

    assert_eq!(store.families_of(&user).await.unwrap(), sorted(vec![rotated, revoked]), "revoked ones included");
    assert_eq!(store.families_of(&someone_else).await.unwrap(), vec![theirs]);
    assert!(store.families_of(&UserId::new()).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// FactorStore

async fn enrolment_is_pending_until_confirmed_and_only_once<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await.id;
    assert_eq!(store.factors(&user).await.unwrap(), FactorRecord::default());
    assert!(store.start_enrolment(&user, "v1.first", now + 600).await.unwrap());
    assert!(store.start_enrolment(&user, "v1.second", now + 600).await.unwrap(), "a new enrolment replaces a pending one");
    let codes = recovery_hashes(10, 0);
    assert!(!store.confirm_enrolment(&user, "v1.first", 10, &codes, now, ev()).await.unwrap(), "the replaced secret does not confirm");
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret, record.pending), (None, Some(("v1.second".into(), now + 600))));

    assert!(store.confirm_enrolment(&user, "v1.second", 10, &codes, now, ev()).await.unwrap());
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret.as_deref(), &record.pending, record.last_step), (Some("v1.second"), &None, Some(10)));
    assert_eq!(sorted(record.recovery_hashes), codes);
    assert!(!store.start_enrolment(&user, "v1.third", now + 600).await.unwrap(), "an active authenticator is not replaced");
    assert_eq!(store.factors(&user).await.unwrap().pending, None);
    assert!(!store.confirm_enrolment(&user, "v1.second", 11, &codes, now, ev()).await.unwrap());

    let lapsed = UserId::new();
    assert!(store.start_enrolment(&lapsed, "v1.x", now).await.unwrap());
    assert!(!store.confirm_enrolment(&lapsed, "v1.x", 10, &codes, now, ev()).await.unwrap(), "an expired enrolment does not confirm");
    assert!(!store.confirm_enrolment(&UserId::new(), "v1.x", 10, &codes, now, ev()).await.unwrap(), "nothing pending");
}

async fn confirm_enrolment_takes_one_newer_step_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await.id;
    assert!(store.start_enrolment(&user, "v1.a", now + 600).await.unwrap());
    let outcomes = race(&store, 10, |store, i| {
        let user = user.clone();
        async move { store.confirm_enrolment(&user, "v1.a", 100, &recovery_hashes(10, 100 * i), now, ev()).await }
    })
    .await;
    assert_eq!(count(&outcomes, |confirmed| *confirmed), 1, "{outcomes:?}");

    // After a removal the last step stays: a new authenticator needs a newer one.
    store.remove_totp(&user, ev()).await.unwrap();
    assert!(store.start_enrolment(&user, "v1.b", now + 600).await.unwrap(), "removed: a new enrolment may start");
    assert!(!store.confirm_enrolment(&user, "v1.b", 100, &recovery_hashes(10, 0), now, ev()).await.unwrap(), "a step seen before");
    assert!(!store.confirm_enrolment(&user, "v1.b", 99, &recovery_hashes(10, 0), now, ev()).await.unwrap(), "an older step");
    assert!(store.confirm_enrolment(&user, "v1.b", 101, &recovery_hashes(10, 0), now, ev()).await.unwrap());
    assert_eq!(store.factors(&user).await.unwrap().active_secret.as_deref(), Some("v1.b"));
}

/// The replay rule: one conditional write per step, newer steps only.
async fn accept_step_takes_each_step_once_and_only_newer_ones_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = with_authenticator(store.as_ref(), 100, &recovery_hashes(10, 0), now).await;
    assert!(!store.accept_step(&user, 100).await.unwrap(), "the confirming step is spent");
    assert!(!store.accept_step(&user, 99).await.unwrap(), "older steps too");
    let outcomes = race(&store, 20, |store, _| {
        let user = user.clone();
        async move { store.accept_step(&user, 101).await }
    })
    .await;
    assert_eq!(count(&outcomes, |accepted| *accepted), 1, "20 parallel uses of one step, one accepted");
    assert_eq!(store.factors(&user).await.unwrap().last_step, Some(101));

    // Different steps racing: the newest is always taken, and ends as the last step.
    let outcomes = race(&store, 10, |store, i| {
        let user = user.clone();
        async move { store.accept_step(&user, 102 + i as i64).await }
    })
    .await;
    assert!(outcomes[9], "{outcomes:?}");
    assert_eq!(store.factors(&user).await.unwrap().last_step, Some(111));
    assert!(!store.accept_step(&UserId::new(), 5).await.unwrap(), "no authenticator, no step");

    // Removal keeps the last step: a code seen before stays spent.
    store.remove_totp(&user, ev()).await.unwrap();
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret, record.recovery_hashes.len(), record.last_step), (None, 0, Some(111)));
    assert!(!store.accept_step(&user, 112).await.unwrap(), "removed: no step is accepted");
}

async fn a_recovery_code_is_consumed_exactly_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let codes = recovery_hashes(10, 0);
    let user = with_authenticator(store.as_ref(), 7, &codes, now).await;
    let outcomes = race(&store, 20, |store, _| {
        let (user, code) = (user.clone(), codes[3].clone());
        async move { store.consume_recovery_code(&user, &code).await }
    })
    .await;
    assert_eq!(count(&outcomes, |consumed| *consumed), 1, "20 parallel uses of one recovery code, one consumed");
    let left = sorted(store.factors(&user).await.unwrap().recovery_hashes);
    assert_eq!(left, codes.iter().filter(|c| **c != codes[3]).cloned().collect::<Vec<_>>());
    assert!(!store.consume_recovery_code(&user, &"f".repeat(64)).await.unwrap(), "unknown code");

    let fresh = recovery_hashes(10, 1000);
    assert!(store.replace_recovery_codes(&user, &fresh).await.unwrap());
    assert!(!store.consume_recovery_code(&user, &codes[4]).await.unwrap(), "the old set is gone");
    assert!(store.consume_recovery_code(&user, &fresh[0]).await.unwrap());
    assert!(!store.replace_recovery_codes(&UserId::new(), &fresh).await.unwrap(), "no authenticator, no codes");
    // The last code of a set can be spent too (DynamoDB's string set then disappears).
    for code in &fresh[1..] {
        assert!(store.consume_recovery_code(&user, code).await.unwrap());
    }
    assert!(store.factors(&user).await.unwrap().recovery_hashes.is_empty());

    // Without an active authenticator no recovery code works.
    let removed = with_authenticator(store.as_ref(), 7, &codes, now).await;
    store.remove_totp(&removed, ev()).await.unwrap();
    assert!(!store.consume_recovery_code(&removed, &codes[0]).await.unwrap());
}

async fn a_totp_challenge_turns_into_a_phone_challenge<S: Store>(store: Arc<S>, now: UnixTime) {
    let c = Challenge { factor: ChallengeFactor::Totp, last_sent_at: 0, ..challenge(now, 600) };
    ChallengeStore::put(store.as_ref(), &c).await.unwrap();
    store.switch_to_phone(&c.id).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &c.id).await.unwrap(), Some(Challenge { factor: ChallengeFactor::Phone, ..c }));
    let unknown = ChallengeId::new();
    store.switch_to_phone(&unknown).await.unwrap();
    assert_eq!(ChallengeStore::get(store.as_ref(), &unknown).await.unwrap(), None, "no challenge is made up");
}

// ---------------------------------------------------------------------------------------------
// DeviceStore

/// A device of `user` in `slot`, made under the account's versions as read.
fn device_for(user: &User, slot: u8, now: UnixTime) -> Device {
    Device {
        id: DeviceId::new(),
        user_id: user.id.clone(),
        slot,
        token_hash: DeviceToken::generate(slot).unwrap().hash(),
        spent: vec![],
        label: "Firefox on Linux".into(),
        created_at: now,
        last_used_at: now,
        expires_at: now + 30 * 86400,
        credentials_version: user.credentials_version,
        devices_version: user.devices_version,
    }
}

async fn devices_round_trip_and_a_slot_is_taken_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let first = Device { spent: vec!["a".repeat(22), "b".repeat(22)], ..device_for(&user, 3, now) };
    assert!(store.put_device(&first, None).await.unwrap());
    assert_eq!(store.device(&user.id, 3).await.unwrap().as_ref(), Some(&first));
    assert_eq!(store.device(&user.id, 4).await.unwrap(), None);
    assert!(!store.put_device(&device_for(&user, 3, now), None).await.unwrap(), "the slot is taken");
    assert!(!store.put_device(&device_for(&user, 3, now), Some(&DeviceId::new())).await.unwrap(), "by another device");

    let contenders: Vec<Device> = (0..10).map(|_| device_for(&user, 4, now)).collect();
    let outcomes = race(&store, 10, |store, i| {
        let device = contenders[i].clone();
        async move { store.put_device(&device, None).await }
    })
    .await;
    assert_eq!(count(&outcomes, |won| *won), 1, "one device per slot: {outcomes:?}");
    let winner = contenders[outcomes.iter().position(|won| *won).unwrap()].clone();
    assert_eq!(store.devices_of(&user.id).await.unwrap(), vec![first.clone(), winner.clone()], "by slot");

    let replacement = device_for(&user, 4, now + 1);
    assert!(store.put_device(&replacement, Some(&winner.id)).await.unwrap(), "the device read is replaced");
    assert_eq!(store.device(&user.id, 4).await.unwrap(), Some(replacement));
    assert!(store.devices_of(&UserId::new()).await.unwrap().is_empty());
}

async fn rotate_device_has_one_winner_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let device = device_for(&user, 0, now);
    assert!(store.put_device(&device, None).await.unwrap());
    let spent = device.spent_after_rotation();
    let hashes: Vec<String> = (0..20u8).map(|_| DeviceToken::generate(0).unwrap().hash()).collect();
    let outcomes = race(&store, 20, |store, i| {
        let (device, spent, hash) = (device.clone(), spent.clone(), hashes[i].clone());
        async move { store.rotate_device(&device, &hash, &spent, now + 5).await }
    })
    .await;
    assert_eq!(count(&outcomes, |won| *won), 1, "one token, one rotation: {outcomes:?}");
    let stored = store.device(&user.id, 0).await.unwrap().unwrap();
    assert_eq!(stored.token_hash, hashes[outcomes.iter().position(|won| *won).unwrap()]);
    assert_eq!((stored.spent, stored.last_used_at, stored.expires_at), (spent, now + 5, device.expires_at));
    assert!(!store.rotate_device(&device, &hashes[0], &[], now + 6).await.unwrap(), "the old token is spent");
}

async fn rotate_device_refuses_expired_devices_and_changed_accounts<S: Store>(store: Arc<S>, now: UnixTime) {
    let rotate = |store: Arc<S>, device: Device, at: UnixTime| async move {
        let next = DeviceToken::generate(device.slot).unwrap().hash();
        store.rotate_device(&device, &next, &device.spent_after_rotation(), at).await.unwrap()
    };
    let user = verified_user(store.as_ref(), now).await;
    let expiring = Device { expires_at: now + 10, ..device_for(&user, 1, now) };
    assert!(store.put_device(&expiring, None).await.unwrap());
    assert!(!rotate(store.clone(), expiring.clone(), now + 10).await, "expired");
    assert!(rotate(store.clone(), expiring, now + 9).await);

    // A phone verified anew moves devices_version on.
    let device = device_for(&user, 2, now);
    assert!(store.put_device(&device, None).await.unwrap());
    assert!(store.set_verified_phone(&user, &fresh_phone(), ev()).await.unwrap());
    assert!(!rotate(store.clone(), device.clone(), now).await, "after a phone change");
    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert_eq!(user.devices_version, device.devices_version + 1);

    // A credential change moves credentials_version on.
    let device = device_for(&user, 3, now);
    assert!(store.put_device(&device, None).await.unwrap());
    assert!(store.update_credentials(&logout(&user, now)).await.unwrap());
    assert!(!rotate(store.clone(), device, now).await, "after a global logout");
    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();

    // An authenticator added, then removed: each moves devices_version on.
    let device = device_for(&user, 4, now);
    assert!(store.put_device(&device, None).await.unwrap());
    assert!(store.start_enrolment(&user.id, "v1.sealed", now + 600).await.unwrap());
    assert!(store.confirm_enrolment(&user.id, "v1.sealed", 10, &recovery_hashes(10, 0), now, ev()).await.unwrap());
    assert!(!rotate(store.clone(), device, now).await, "after an authenticator was added");
    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    let device = device_for(&user, 5, now);
    assert!(store.put_device(&device, None).await.unwrap());
    store.remove_totp(&user.id, ev()).await.unwrap();
    assert!(!rotate(store.clone(), device, now).await, "after the authenticator was removed");
    let user = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    let device = device_for(&user, 6, now);
    assert!(store.put_device(&device, None).await.unwrap());
    assert!(rotate(store.clone(), device, now).await, "a device made under the current versions");
}

async fn forget_device_removes_only_that_device<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let (kept, gone) = (device_for(&user, 0, now), device_for(&user, 1, now));
    assert!(store.put_device(&kept, None).await.unwrap());
    assert!(store.put_device(&gone, None).await.unwrap());
    assert!(!store.forget_device(&user.id, 1, &kept.id).await.unwrap(), "another device's id");
    let outcomes = race(&store, 5, |store, _| {
        let (user, id) = (user.id.clone(), gone.id.clone());
        async move { store.forget_device(&user, 1, &id).await }
    })
    .await;
    assert_eq!(count(&outcomes, |forgotten| *forgotten), 1, "{outcomes:?}");
    assert_eq!(store.devices_of(&user.id).await.unwrap(), vec![kept]);
}

// ---------------------------------------------------------------------------------------------

fn now() -> UnixTime {
    SystemClock.now()
}

// ---------------------------------------------------------------------------------------------
// PrefixCounters (the SMS pumping guard)

/// A range no other test counts under: a random 6-digit prefix, in a window of its own length.
fn fresh_range(min_sends: u32) -> (DestinationPrefix, PumpingRule) {
    let rule = PumpingRule {
        prefix_digits: 6,
        window: Duration::from_secs(3600 + (unique() % 100_000) as u64),
        min_sends,
        min_conversion_percent: 20,
        safe: SafePrefixes::default(),
    };
    (rule.prefix_of(&fresh_phone()).unwrap(), rule)
}

async fn count_send_blocks_a_range_at_the_minimum_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let (prefix, rule) = fresh_range(10);
    let outcomes = race(&store, 30, |store, _| {
        let rule = rule.clone();
        async move { store.count_send(prefix, &rule, now).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == LimitOutcome::Allowed), 10, "{outcomes:?}");
    let (_, end) = fixed_window(now, rule.window);
    let paused = LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now) as u64) };
    assert_eq!(count(&outcomes, |o| *o == paused), 20, "paused until the window ends");
    assert_eq!(store.count_send(prefix, &rule, end).await.unwrap(), LimitOutcome::Allowed, "the next window starts empty");
}

async fn completions_keep_a_range_open_above_the_floor<S: Store>(store: Arc<S>, now: UnixTime) {
    let (prefix, rule) = fresh_range(5);
    for _ in 0..5 {
        assert_eq!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Allowed);
    }
    store.count_completion(prefix, &rule, now).await.unwrap();
    assert_eq!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Allowed, "1 of 5 is 20%: open");
    assert!(matches!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Exceeded { .. }), "1 of 6 is below 20%");
    store.count_completion(prefix, &rule, now).await.unwrap();
    assert_eq!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Allowed, "2 of 6: open again");
    // A completion counts in the window its code went out in, not the one it arrives in.
    let (_, end) = fixed_window(now, rule.window);
    for _ in 0..5 {
        store.count_send(prefix, &rule, end).await.unwrap();
    }
    store.count_completion(prefix, &rule, now).await.unwrap();
    assert!(matches!(store.count_send(prefix, &rule, end).await.unwrap(), LimitOutcome::Exceeded { .. }), "0 of 5 in the new window");
}

async fn uncount_send_gives_back_one_and_never_goes_below_zero<S: Store>(store: Arc<S>, now: UnixTime) {
    let (prefix, rule) = fresh_range(3);
    store.uncount_send(prefix, &rule, now).await.unwrap();
    for _ in 0..3 {
        assert_eq!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Allowed, "nothing to take back was no credit");
    }
    assert!(matches!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Exceeded { .. }));
    store.uncount_send(prefix, &rule, now).await.unwrap();
    assert_eq!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Allowed, "one given back");
    assert!(matches!(store.count_send(prefix, &rule, now).await.unwrap(), LimitOutcome::Exceeded { .. }));
}

// ---------------------------------------------------------------------------------------------
// UserStore: administration (roles, disable/enable, sign-ins, lookup by phone, pages)

async fn roles_are_replaced_and_read_back<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let roles = Roles::parse(&["support", "admin"]).unwrap();
    let updated = store.set_roles(&user.id, &roles, ev()).await.unwrap().expect("the account exists");
    assert_eq!(updated.roles, roles);
    assert_eq!(UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap().roles.names(), ["admin", "support"]);
    let cleared = store.set_roles(&user.id, &Roles::default(), ev()).await.unwrap().unwrap();
    assert!(cleared.roles.is_empty());
    assert_eq!(cleared, User { roles: Roles::default(), ..UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap() });
    assert_eq!(store.set_roles(&UserId::new(), &roles, ev()).await.unwrap(), None, "no account is made");
}

async fn a_disable_ends_sessions_and_enable_restores_only_sign_in<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    let (_, first) = start_family(store.as_ref(), &user.id, now).await;
    let families = vec![first.family_id.clone()];
    let change = CredentialChange { revoke_families: &families, disable: true, ..logout(&user, now + 5) };
    assert!(store.update_credentials(&change).await.unwrap());
    let disabled = UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap();
    assert!(disabled.disabled);
    assert_eq!((disabled.tokens_valid_after, disabled.credentials_version), (now + 5, user.credentials_version + 1));
    assert!(store.is_family_revoked(&first.family_id).await.unwrap());
    let enabled = store.enable(&user.id, ev()).await.unwrap().unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled, User { disabled: false, ..disabled }, "only the flag changes");
    assert!(store.is_family_revoked(&first.family_id).await.unwrap(), "no session comes back");
    assert_eq!(store.enable(&UserId::new(), ev()).await.unwrap(), None);
}

async fn record_sign_in_notes_the_time_and_makes_no_account<S: Store>(store: Arc<S>, now: UnixTime) {
    let user = verified_user(store.as_ref(), now).await;
    assert_eq!(user.last_sign_in_at, None);
    store.record_sign_in(&user.id, now + 7).await.unwrap();
    assert_eq!(UserStore::get(store.as_ref(), &user.id).await.unwrap().unwrap().last_sign_in_at, Some(now + 7));
    let nobody = UserId::new();
    store.record_sign_in(&nobody, now).await.unwrap();
    assert_eq!(UserStore::get(store.as_ref(), &nobody).await.unwrap(), None);
}

async fn find_by_phone_finds_every_account_with_that_number_and_nothing_else<S: Store>(store: Arc<S>, now: UnixTime) {
    let phone = fresh_phone();
    let first = User { phone: phone.clone(), ..new_user(&fresh_email(), now) };
    let second = User { phone: phone.clone(), ..new_user(&fresh_email(), now) };
    for user in [&first, &second] {
        assert_eq!(store.create_user(user).await.unwrap(), CreateUser::Created);
    }
    // A challenge names the number too; it is no account.
    ChallengeStore::put(store.as_ref(), &Challenge { phone: phone.clone(), ..challenge_for(&first, Purpose::Login, now) }).await.unwrap();
    let mut found: Vec<String> = store.find_by_phone(&phone).await.unwrap().into_iter().map(|u| u.id.0).collect();
    found.sort();
    assert_eq!(found, sorted(vec![first.id.0.clone(), second.id.0.clone()]));
    assert!(store.find_by_phone(&fresh_phone()).await.unwrap().is_empty());
}

async fn pages_list_each_account_once_in_order_and_never_more_than_asked<S: Store>(store: Arc<S>, now: UnixTime) {
    // Three accounts with consecutive numbers; the table may hold others' accounts around them.
    let base = 100_000 + (unique() % 800_000) as u64;
    let mut ours = vec![];
    for offset in 0..3 {
        let phone = Phone::parse(&format!("+447400{:06}", base + offset)).unwrap();
        let user = User { phone, ..new_user(&fresh_email(), now) };
        assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
        ours.push(user);
    }
    ChallengeStore::put(store.as_ref(), &Challenge { phone: ours[1].phone.clone(), ..challenge_for(&ours[1], Purpose::Login, now) })
        .await
        .unwrap();
    // From just before the first of them (a cursor at its number, before any id).
    let mut cursor =
        Some(UserCursor { phone: ours[0].phone.as_e164().to_owned(), user_id: UserId("00000000-0000-4000-8000-000000000000".into()) });
    let mut seen = vec![];
    let last = ours[2].phone.as_e164().to_owned();
    while let Some(after) = cursor.take() {
        let (page, next) = store.list_users(Some(&after), 2).await.unwrap();
        assert!(page.len() <= 2, "a page holds at most what was asked: {}", page.len());
        let past = page.iter().any(|u| u.phone.as_e164() > last.as_str());
        seen.extend(page);
        if past {
            break;
        }
        cursor = next;
    }
    let positions: Vec<(String, String)> = seen.iter().map(|u| (u.phone.as_e164().to_owned(), u.id.0.clone())).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order, each once: {positions:?}");
    let ours_seen: Vec<&User> = seen.iter().filter(|u| ours.iter().any(|o| o.id == u.id)).collect();
    assert_eq!(ours_seen.len(), 3, "every account of the range once");
    for (found, made) in ours_seen.iter().zip(&ours) {
        assert_eq!(*found, made, "the whole account");
    }
    // From the start, a page of one has a cursor (the table holds at least these three).
    let (first_page, next) = store.list_users(None, 1).await.unwrap();
    assert_eq!(first_page.len(), 1);
    assert!(next.is_some());
}

// ---------------------------------------------------------------------------------------------
// OAuthStore

fn code_for(user: &UserId, now: UnixTime) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: format!("{:032x}", unique()),
        client_id: "spa".into(),
        redirect_uri: "http://127.0.0.1:8080/callback".into(),
        challenge: CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap(),
        user_id: user.clone(),
        session_id: format!("sid-{}", unique()),
        scopes: Scopes::parse("openid email offline_access").unwrap(),
        nonce: Some("n-1".into()),
        auth_time: now - 5,
        amr: vec!["pwd".into(), "sms".into(), "mfa".into()],
        expires_at: now + 60,
    }
}

fn sso_for(user: &UserId, now: UnixTime) -> SsoSession {
    let cookie_hash = format!("{:032x}", unique());
    SsoSession {
        id: session_id_of(&cookie_hash),
        cookie_hash,
        user_id: user.clone(),
        auth_time: now,
        amr: vec!["pwd".into(), "totp".into(), "mfa".into()],
        credentials_version: 3,
        expires_at: now + 3600,
    }
}

/// Of racing redemptions exactly one gets the code's bindings; every other sees it used, with
/// the family the winner reserved (to revoke); so does any later one.
async fn a_code_is_redeemed_once_under_races<S: Store>(store: Arc<S>, now: UnixTime) {
    let code = code_for(&UserId::new(), now);
    store.put_code(&code).await.unwrap();
    let outcomes = race(&store, 10, |store, i| {
        let hash = code.code_hash.clone();
        async move { store.redeem_code(&hash, &format!("family-{i}"), now).await }
    })
    .await;
    let winners: Vec<usize> = (0..10).filter(|&i| matches!(&outcomes[i], Redemption::First(c) if *c == code)).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let family = format!("family-{}", winners[0]);
    let replayed = Redemption::Replayed { family_id: Some(family), user_id: code.user_id.clone() };
    assert_eq!(count(&outcomes, |o| *o == replayed), 9, "{outcomes:?}");
    assert_eq!(store.redeem_code(&code.code_hash, "family-late", now + 30).await.unwrap(), replayed);
}

async fn an_expired_or_unknown_code_redeems_nothing<S: Store>(store: Arc<S>, now: UnixTime) {
    let code = code_for(&UserId::new(), now);
    store.put_code(&code).await.unwrap();
    assert_eq!(store.redeem_code(&code.code_hash, "f1", code.expires_at).await.unwrap(), Redemption::Unknown);
    assert_eq!(store.redeem_code(&format!("{:032x}", unique()), "f2", now).await.unwrap(), Redemption::Unknown);
    let without_nonce = AuthorizationCode { nonce: None, ..code_for(&UserId::new(), now) };
    store.put_code(&without_nonce).await.unwrap();
    assert_eq!(store.redeem_code(&without_nonce.code_hash, "f3", now).await.unwrap(), Redemption::First(without_nonce));
}

async fn sso_sessions_round_trip_expire_and_end<S: Store>(store: Arc<S>, now: UnixTime) {
    let session = sso_for(&UserId::new(), now);
    store.put_sso(&session).await.unwrap();
    assert_eq!(store.find_sso(&session.cookie_hash, now + 3599).await.unwrap(), Some(session.clone()));
    assert_eq!(store.find_sso(&session.cookie_hash, now + 3600).await.unwrap(), None, "expiry is checked on read");
    assert_eq!(store.find_sso(&format!("{:032x}", unique()), now).await.unwrap(), None);
    store.end_sso(&session.cookie_hash).await.unwrap();
    assert_eq!(store.find_sso(&session.cookie_hash, now).await.unwrap(), None);
    store.end_sso(&session.cookie_hash).await.unwrap();
}

/// Each contract as `memory::<name>` (a fresh MemoryStore) and `dynamodb::<name>` (the shared
/// test table), on a runtime with worker threads so that races are parallel.
macro_rules! contract_suite {
    ($($contract:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $contract() {
                    super::$contract(std::sync::Arc::new(sms_mfa::testing::MemoryStore::default()), super::now()).await;
                }
            )+
        }

        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $contract() {
                    super::$contract(std::sync::Arc::new(super::dynamo_store()), super::now()).await;
                }
            )+
        }
    };
}

contract_suite!(
    a_code_is_redeemed_once_under_races,
    an_expired_or_unknown_code_redeems_nothing,
    sso_sessions_round_trip_expire_and_end,
    create_user_round_trips_every_field,
    create_user_claims_an_email_once_under_races,
    create_user_sent_again_is_the_same_registration,
    an_unfinished_signup_holds_its_email_then_one_registration_takes_it_over,
    delete_unverified_undoes_a_signup_and_spares_verified_accounts,
    set_verified_phone_needs_the_credentials_version_it_read,
    update_credentials_consumes_its_challenge_at_most_once_under_races,
    update_credentials_refuses_a_stale_password_and_keeps_one_session,
    a_refused_credential_change_writes_nothing,
    delete_account_leaves_nothing_naming_the_user,
    outbox_items_are_written_with_their_change_and_only_then,
    challenges_round_trip_and_a_put_sent_again_overwrites_nothing,
    pending_refs_are_kept_until_they_expire,
    count_attempt_never_goes_above_the_limit_under_races,
    a_challenge_is_consumed_once_and_expiry_is_checked_on_read,
    claim_resend_has_one_winner_per_cooldown_under_races,
    release_resend_gives_back_only_its_own_claim,
    hit_never_allows_more_than_the_limit_under_races,
    reserve_never_exceeds_the_limit_under_races,
    release_gives_back_one_and_never_goes_below_zero_under_races,
    count_send_blocks_a_range_at_the_minimum_under_races,
    completions_keep_a_range_open_above_the_floor,
    uncount_send_gives_back_one_and_never_goes_below_zero,
    rotate_has_one_winner_and_the_others_get_its_successor,
    rotate_refuses_unknown_expired_and_revoked_tokens,
    start_family_sent_again_overwrites_nothing,
    revoked_families_stay_revoked,
    families_of_lists_every_family_of_the_user_once,
    enrolment_is_pending_until_confirmed_and_only_once,
    confirm_enrolment_takes_one_newer_step_once_under_races,
    accept_step_takes_each_step_once_and_only_newer_ones_under_races,
    a_recovery_code_is_consumed_exactly_once_under_races,
    a_totp_challenge_turns_into_a_phone_challenge,
    devices_round_trip_and_a_slot_is_taken_once_under_races,
    rotate_device_has_one_winner_under_races,
    rotate_device_refuses_expired_devices_and_changed_accounts,
    forget_device_removes_only_that_device,
    roles_are_replaced_and_read_back,
    a_disable_ends_sessions_and_enable_restores_only_sign_in,
    record_sign_in_notes_the_time_and_makes_no_account,
    find_by_phone_finds_every_account_with_that_number_and_nothing_else,
    pages_list_each_account_once_in_order_and_never_more_than_asked,
);
