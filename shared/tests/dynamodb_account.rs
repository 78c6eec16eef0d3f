//! The account lifecycle writes of the DynamoDB adapter against moto (started by
//! scripts/test.sh): a reset code sets a password once under parallel requests, a credential
//! change revokes every family found through the by_user index, and a deletion leaves no item
//! naming the user (the table is scanned).

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use sms_mfa::{adapters::dynamodb::DynamoStore, config::Limits, domain::*, ports::*};

fn endpoint_and_table() -> (String, String) {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run these tests through scripts/test.sh");
    let table = std::env::var("STORE_TEST_TABLE").expect("STORE_TEST_TABLE is not set: run these tests through scripts/test.sh");
    (endpoint, table)
}

fn store() -> DynamoStore {
    let (endpoint, table) = endpoint_and_table();
    DynamoStore::new(support::dynamodb_client(&endpoint, None), table)
}

fn now() -> UnixTime {
    SystemClock.now()
}

/// A verified account with its own email and phone, stored.
async fn verified_user(store: &DynamoStore) -> User {
    let unique = uuid::Uuid::new_v4().as_u128();
    let user = User {
        id: UserId::new(),
        email: Email::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap(),
        password_hash: "$argon2id$old".into(),
        phone: Phone::parse(&format!("+4479111{:05}", unique % 100_000)).unwrap(),
        phone_verified: false,
        created_at: now(),
        tokens_valid_after: 0,
        kept_session: None,
        credentials_version: 0,
    };
    assert_eq!(store.create_user(&user).await.unwrap(), CreateUser::Created);
    assert!(store.set_verified_phone(&user, &user.phone).await.unwrap());
    UserStore::get(store, &user.id).await.unwrap().unwrap()
}

fn challenge_for(user: &User, purpose: Purpose) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        user_id: user.id.clone(),
        purpose,
        phone: user.phone.clone(),
        channel: Channel::Sms,
        factor: ChallengeFactor::Phone,
        provider_ref: None,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: now(),
        last_sent_at: now(),
        expires_at: now() + 600,
        decoy: false,
        credentials_version: 0,
        reset_budget: None,
    }
}

async fn start_family(store: &DynamoStore, user: &User) -> String {
    let family = uuid::Uuid::new_v4().to_string();
    let record = RefreshRecord {
        token_hash: uuid::Uuid::new_v4().to_string(),
        family_id: family.clone(),
        user_id: user.id.clone(),
        amr: vec!["pwd".into(), "sms".into(), "mfa".into()],
        expires_at: now() + 3600,
    };
    store.start_family(&record).await.unwrap();
    family
}

#[tokio::test]
async fn parallel_resets_with_one_challenge_give_one_success_that_ends_every_session() {
    let store = store();
    let user = verified_user(&store).await;
    let families = vec![start_family(&store, &user).await, start_family(&store, &user).await];
    let mut found = store.families_of(&user.id).await.unwrap();
    found.sort();
    let mut expected = families.clone();
    expected.sort();
    assert_eq!(found, expected, "every family of the user, from the by_user index");

    let challenge = challenge_for(&user, Purpose::PasswordReset);
    ChallengeStore::put(&store, &challenge).await.unwrap();
    let failures = format!("login_fail#{}", user.email.as_str());
    for _ in 0..10 {
        store.hit(&failures, 10, Limits::SHORT_WINDOW, now()).await.unwrap();
    }
    assert!(matches!(store.is_exhausted(&failures, 10, Limits::SHORT_WINDOW, now()).await.unwrap(), LimitOutcome::Exceeded { .. }));

    let t = now();
    let hashes: Vec<String> = (0..10).map(|i| format!("$argon2id$new{i}")).collect();
    let changes: Vec<CredentialChange<'_>> = hashes
        .iter()
        .map(|hash| CredentialChange {
            user: &user,
            new_password_hash: Some(hash),
            consume: Some(&challenge.id),
            clear_limit: Some((&failures, Limits::SHORT_WINDOW)),
            revoke_families: &families,
            revoked_until: t + 3600,
            now: t,
            keep_session: None,
        })
        .collect();
    let outcomes = futures::future::join_all(changes.iter().map(|c| store.update_credentials(c))).await;
    let winners: Vec<usize> = outcomes.iter().enumerate().filter(|(_, o)| matches!(o, Ok(true))).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");

    let stored = UserStore::get(&store, &user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, hashes[winners[0]]);
    assert_eq!((stored.tokens_valid_after, stored.kept_session.as_deref()), (t, None));
    for family in &families {
        assert!(store.is_family_revoked(family).await.unwrap(), "family {family} revoked");
    }
    let used = ChallengeStore::get(&store, &challenge.id).await.unwrap().unwrap();
    assert_eq!(used.status, ChallengeStatus::Used);
    assert_eq!(store.is_exhausted(&failures, 10, Limits::SHORT_WINDOW, now()).await.unwrap(), LimitOutcome::Allowed, "window cleared");
    // The same challenge never sets a password again.
    let replay = CredentialChange {
        user: &stored,
        new_password_hash: Some("$argon2id$again"),
        consume: Some(&challenge.id),
        clear_limit: None,
        revoke_families: &families,
        revoked_until: t + 3600,
        now: now(),
        keep_session: None,
    };
    assert!(!store.update_credentials(&replay).await.unwrap());
}

#[tokio::test]
async fn a_password_change_keeps_one_session() {
    let store = store();
    let user = verified_user(&store).await;
    let (mine, other) = (start_family(&store, &user).await, start_family(&store, &user).await);
    let others = vec![other.clone()];
    let change = CredentialChange {
        user: &user,
        new_password_hash: Some("$argon2id$changed"),
        consume: None,
        clear_limit: None,
        revoke_families: &others,
        revoked_until: now() + 3600,
        now: now(),
        keep_session: Some(&mine),
    };
    assert!(store.update_credentials(&change).await.unwrap());
    assert!(!store.update_credentials(&change).await.unwrap(), "a stale current password loses");
    let stored = UserStore::get(&store, &user.id).await.unwrap().unwrap();
    assert_eq!(stored.kept_session.as_deref(), Some(mine.as_str()));
    assert!(store.is_family_revoked(&other).await.unwrap());
    assert!(!store.is_family_revoked(&mine).await.unwrap());
}

#[tokio::test]
async fn delete_account_leaves_no_item_naming_the_user() {
    let store = store();
    let user = verified_user(&store).await;
    start_family(&store, &user).await;
    start_family(&store, &user).await;
    let login = challenge_for(&user, Purpose::Login);
    ChallengeStore::put(&store, &login).await.unwrap();
    let new_phone = Phone::parse(&format!("+4479112{:05}", uuid::Uuid::new_v4().as_u128() % 100_000)).unwrap();
    let phone_change = Challenge { phone: new_phone.clone(), ..challenge_for(&user, Purpose::PhoneChange) };
    ChallengeStore::put(&store, &phone_change).await.unwrap();
    store.remember_pending_ref(&user.phone, "VE-old", now() + 600).await.unwrap();
    store.remember_pending_ref(&new_phone, "VE-new", now() + 600).await.unwrap();
    store.hit(&format!("login_fail#{}", user.email.as_str()), 10, Limits::SHORT_WINDOW, now()).await.unwrap();

    assert!(store.delete_account(&user).await.unwrap());
    assert!(!store.delete_account(&user).await.unwrap(), "already gone");

    let needles = [user.id.0.clone(), user.email.as_str().to_owned(), user.phone.as_e164().to_owned(), new_phone.as_e164().to_owned()];
    let (endpoint, table) = endpoint_and_table();
    let mut pages = support::dynamodb_client(&endpoint, None).scan().table_name(table).into_paginator().items().send();
    let mut counters = 0;
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let text = format!("{pk} {}", item.values().map(describe).collect::<Vec<_>>().join(" "));
        let named = needles.iter().any(|n| text.contains(n.as_str()));
        if named && pk.starts_with("RATE#") {
            let expires_at: i64 = item.get("expires_at").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap();
            assert!(expires_at <= now() + Limits::HOUR.as_secs() as i64, "a counter that expires within its window: {pk}");
            counters += 1;
            continue;
        }
        assert!(!named, "an item still names the deleted user: {pk}");
    }
    assert!(counters >= 1, "the failed-password counter is left to expire");
    assert!(store.find_by_email(&user.email).await.unwrap().is_none());
    assert!(store.families_of(&user.id).await.unwrap().is_empty());
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
