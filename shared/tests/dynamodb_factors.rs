//! The authenticator state in DynamoDB (moto, started by scripts/test.sh): the time step, the
//! recovery codes and the per-account check reservation, each raced in parallel.

mod support;

use sms_mfa::{adapters::dynamodb::DynamoStore, domain::*, ports::*};
use std::{sync::Arc, time::Duration};

fn store() -> DynamoStore {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run these tests through scripts/test.sh");
    let table = std::env::var("STORE_TEST_TABLE").expect("STORE_TEST_TABLE is not set: run these tests through scripts/test.sh");
    DynamoStore::new(support::dynamodb_client(&endpoint, None), table)
}

fn now() -> UnixTime {
    SystemClock.now()
}

/// An account whose authenticator was confirmed at `step`, with recovery codes `hashes`.
async fn active(store: &DynamoStore, step: i64, hashes: &[String]) -> UserId {
    let user = UserId::new();
    assert!(store.start_enrolment(&user, "v1.sealed-a", now() + 600).await.unwrap());
    assert!(store.confirm_enrolment(&user, "v1.sealed-a", step, hashes, now()).await.unwrap());
    user
}

fn hashes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:064x}")).collect()
}

#[tokio::test]
async fn enrolment_is_pending_until_confirmed_and_only_once() {
    let store = store();
    let user = UserId::new();
    assert_eq!(store.factors(&user).await.unwrap(), FactorRecord::default());
    assert!(store.start_enrolment(&user, "v1.first", now() + 600).await.unwrap());
    assert!(store.start_enrolment(&user, "v1.second", now() + 600).await.unwrap(), "a new enrolment replaces a pending one");
    assert!(!store.confirm_enrolment(&user, "v1.first", 10, &hashes(10), now()).await.unwrap(), "the replaced secret does not confirm");
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret, record.pending.map(|p| p.0)), (None, Some("v1.second".into())));

    assert!(store.confirm_enrolment(&user, "v1.second", 10, &hashes(10), now()).await.unwrap());
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret.as_deref(), record.pending, record.last_step), (Some("v1.second"), None, Some(10)));
    assert_eq!(record.recovery_hashes.len(), 10);
    assert!(!store.start_enrolment(&user, "v1.third", now() + 600).await.unwrap(), "an active authenticator is not replaced");
    assert!(!store.confirm_enrolment(&user, "v1.second", 11, &hashes(10), now()).await.unwrap());

    let lapsed = UserId::new();
    assert!(store.start_enrolment(&lapsed, "v1.x", now() - 1).await.unwrap());
    assert!(!store.confirm_enrolment(&lapsed, "v1.x", 10, &hashes(10), now()).await.unwrap(), "an expired enrolment does not confirm");
}

/// The replay rule: one conditional write per step, newer steps only.
#[tokio::test]
async fn a_time_step_is_accepted_exactly_once_under_parallel_requests() {
    let store = Arc::new(store());
    let user = active(&store, 100, &hashes(10)).await;
    assert!(!store.accept_step(&user, 100).await.unwrap(), "the confirming step is spent");
    assert!(!store.accept_step(&user, 99).await.unwrap(), "older steps too");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, user) = (store.clone(), user.clone());
            tokio::spawn(async move { store.accept_step(&user, 101).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap() as usize;
    }
    assert_eq!(accepted, 1, "20 parallel uses of one step, one accepted");
    assert_eq!(store.factors(&user).await.unwrap().last_step, Some(101));
    assert!(!store.accept_step(&UserId::new(), 5).await.unwrap(), "no authenticator, no step");

    // Removal keeps the last step: a code seen before stays spent.
    store.remove_totp(&user).await.unwrap();
    let record = store.factors(&user).await.unwrap();
    assert_eq!((record.active_secret, record.recovery_hashes.len(), record.last_step), (None, 0, Some(101)));
    assert!(!store.accept_step(&user, 102).await.unwrap(), "removed: no step is accepted");
}

#[tokio::test]
async fn a_recovery_code_is_consumed_once_and_a_new_set_retires_the_old() {
    let store = Arc::new(store());
    let codes = hashes(10);
    let user = active(&store, 7, &codes).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, user, code) = (store.clone(), user.clone(), codes[3].clone());
            tokio::spawn(async move { store.consume_recovery_code(&user, &code).await.unwrap() })
        })
        .collect();
    let mut consumed = 0;
    for task in tasks {
        consumed += task.await.unwrap() as usize;
    }
    assert_eq!(consumed, 1, "20 parallel uses of one recovery code, one consumed");
    assert_eq!(store.factors(&user).await.unwrap().recovery_hashes.len(), 9);
    assert!(!store.consume_recovery_code(&user, &"f".repeat(64)).await.unwrap(), "unknown code");

    let fresh: Vec<String> = (0..10).map(|i| format!("{:064x}", 1000 + i)).collect();
    assert!(store.replace_recovery_codes(&user, &fresh).await.unwrap());
    assert!(!store.consume_recovery_code(&user, &codes[4]).await.unwrap(), "the old set is gone");
    assert!(store.consume_recovery_code(&user, &fresh[0]).await.unwrap());
    assert!(!store.replace_recovery_codes(&UserId::new(), &fresh).await.unwrap(), "no authenticator, no codes");
    // The last code of a set can be spent too (the string set attribute then disappears).
    for code in &fresh[1..] {
        assert!(store.consume_recovery_code(&user, code).await.unwrap());
    }
    assert!(store.factors(&user).await.unwrap().recovery_hashes.is_empty());
}

/// Zitadel CVE-2023-47111: parallel checks must not exceed the per-account budget.
#[tokio::test]
async fn check_reservations_stay_within_the_limit_in_parallel_and_give_back_right_answers() {
    let store = Arc::new(store());
    let key = format!("factor_fail#{}", UserId::new().0);
    let window = Duration::from_secs(900);
    let at = now();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.reserve(&key, 10, window, at).await.unwrap() })
        })
        .collect();
    let mut reserved = Vec::new();
    for task in tasks {
        if let CheckReservation::Reserved { remaining } = task.await.unwrap() {
            reserved.push(remaining);
        }
    }
    reserved.sort();
    assert_eq!(reserved, (0..10).collect::<Vec<_>>(), "exactly 10 of 50, each told what is left");
    assert!(
        matches!(store.reserve(&key, 10, window, at).await.unwrap(), CheckReservation::Exceeded { retry_after } if retry_after.as_secs() >= 1)
    );
    store.release(&key, window, at).await.unwrap();
    assert_eq!(store.reserve(&key, 10, window, at).await.unwrap(), CheckReservation::Reserved { remaining: 0 });
    // A release never takes the count below zero.
    let other = format!("factor_fail#{}", UserId::new().0);
    store.release(&other, window, at).await.unwrap();
    assert_eq!(store.reserve(&other, 10, window, at).await.unwrap(), CheckReservation::Reserved { remaining: 9 });
}

#[tokio::test]
async fn a_totp_challenge_turns_into_a_phone_challenge() {
    let store = store();
    let id = ChallengeId::new();
    let challenge = Challenge {
        id: id.clone(),
        user_id: UserId::new(),
        purpose: Purpose::Login,
        phone: Phone::parse("+447400000199").unwrap(),
        channel: Channel::Sms,
        provider_ref: None,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: now(),
        last_sent_at: 0,
        expires_at: now() + 600,
        factor: ChallengeFactor::Totp,
        decoy: false,
        credentials_version: 0,
        reset_budget: None,
    };
    ChallengeStore::put(&store, &challenge).await.unwrap();
    assert_eq!(ChallengeStore::get(&store, &id).await.unwrap().unwrap().factor, ChallengeFactor::Totp);
    store.switch_to_phone(&id).await.unwrap();
    assert_eq!(ChallengeStore::get(&store, &id).await.unwrap().unwrap().factor, ChallengeFactor::Phone);
}
