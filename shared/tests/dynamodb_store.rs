//! The DynamoDB adapter against a real DynamoDB-compatible server (moto, started by
//! scripts/test.sh): what only the table can show, an unreachable endpoint and what a flow
//! leaves at rest. What every store promises, races included, is the contract suite
//! (tests/store_contract.rs), run on this adapter and on the memory store alike.

mod support;

use secrecy::SecretString;
use sms_mfa::{
    adapters::{builtin_otp::BuiltinOtp, dynamodb::DynamoStore, jwt::TokenKeys, password::Argon2Hasher, secret_box::AesGcmSealer},
    config::Limits,
    domain::*,
    error::{DeliveryError, StoreError},
    ports::*,
    testing::{generate_signing_key_pem, RecordingEvents},
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

fn fresh_email() -> Email {
    Email::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap()
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
        prefixes: store.clone(),
        otp: Arc::new(BuiltinOtp::new(b"secret", outbox.clone(), "sms-mfa")),
        hasher: Arc::new(Argon2Hasher::default()),
        clock: Arc::new(SystemClock),
        factors: store.clone(),
        devices: store.clone(),
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
