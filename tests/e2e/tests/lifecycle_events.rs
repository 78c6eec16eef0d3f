//! Lifecycle events end to end (API.md, "Lifecycle events"): the default stack's changes reach
//! an SQS queue through the table's stream (scripts/stream_pump.py standing in for Lambda's
//! event source), the events function and a rule on the bus, all in moto. Delivery is stopped
//! while the changes are made and started again: every event arrives, once per `event_id`
//! after de-duplication; a poison outbox item goes to the dead-letter queue and the events
//! behind it still arrive.
//!
//! Each test makes its own queue and a rule on its own user id. Both tests pause the one pump
//! (E2E_EVENTS_PAUSE_FILE), so they take turns.

use e2e::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::{collections::BTreeMap, time::Duration};

static PUMP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Delivery stopped while this lives (the pump polls nothing while the file exists).
struct Paused(String);

impl Paused {
    fn new() -> Paused {
        let file = env("E2E_EVENTS_PAUSE_FILE");
        std::fs::write(&file, b"paused by tests/e2e/tests/lifecycle_events.rs").unwrap();
        Paused(file)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// moto's JSON APIs (it checks no signature; the credential scope names the service).
struct Moto {
    endpoint: String,
    client: reqwest::Client,
}

impl Moto {
    fn from_env() -> Moto {
        Moto { endpoint: env("E2E_EVENTS_ENDPOINT"), client: reqwest::Client::new() }
    }

    async fn call(&self, service: &str, target: &str, body: Value) -> Value {
        let content_type = if service == "events" { "application/x-amz-json-1.1" } else { "application/x-amz-json-1.0" };
        let auth = format!("AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00");
        let resp = self
            .client
            .post(&self.endpoint)
            .header("authorization", auth)
            .header("x-amz-target", target)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{target}: {}", error_chain(&e)));
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{target}: {status} {text}");
        serde_json::from_str(if text.is_empty() { "{}" } else { &text }).unwrap()
    }

    /// A queue receiving the bus's events about `user_id` only.
    async fn subscribe(&self, user_id: &str) -> String {
        let name = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let queue = self.call("sqs", "AmazonSQS.CreateQueue", json!({"QueueName": name})).await["QueueUrl"].as_str().unwrap().to_owned();
        let bus = env("E2E_EVENT_BUS_NAME");
        // The README's subscription, narrowed to one account.
        let pattern = json!({"source": ["sms-mfa"], "detail": {"user_id": [user_id]}}).to_string();
        self.call("events", "AWSEvents.PutRule", json!({"Name": name, "EventBusName": bus, "EventPattern": pattern})).await;
        let target = json!({"Id": "q", "Arn": format!("arn:aws:sqs:us-east-1:123456789012:{name}")});
        self.call("events", "AWSEvents.PutTargets", json!({"Rule": name, "EventBusName": bus, "Targets": [target]})).await;
        queue
    }

    /// Every message now visible in `queue`, taken off it.
    async fn drain(&self, queue: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let got = self.call("sqs", "AmazonSQS.ReceiveMessage", json!({"QueueUrl": queue, "MaxNumberOfMessages": 10})).await;
            let messages = got["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                let handle = m["ReceiptHandle"].clone();
                self.call("sqs", "AmazonSQS.DeleteMessage", json!({"QueueUrl": queue, "ReceiptHandle": handle})).await;
                all.push(serde_json::from_str(m["Body"].as_str().unwrap()).unwrap());
            }
        }
    }

    /// The events received in `queue` until each of `expected` detail-types has arrived (or
    /// the time is up), by `event_id`: (detail-type, detail, times received).
    async fn await_events(&self, queue: &str, expected: &[&str]) -> BTreeMap<String, (String, Value, usize)> {
        let mut by_id: BTreeMap<String, (String, Value, usize)> = BTreeMap::new();
        for _ in 0..300 {
            for event in self.drain(queue).await {
                let id = event["detail"]["event_id"].as_str().unwrap_or_else(|| panic!("no event_id: {event}")).to_owned();
                let entry = by_id.entry(id).or_insert((event["detail-type"].as_str().unwrap().to_owned(), event["detail"].clone(), 0));
                entry.2 += 1;
            }
            let mut got: Vec<&str> = by_id.values().map(|(t, _, _)| t.as_str()).collect();
            got.sort();
            let mut want = expected.to_vec();
            want.sort();
            if got == want {
                // A moment longer: a duplicate still in flight would show as more ids, not fewer.
                tokio::time::sleep(Duration::from_millis(500)).await;
                for event in self.drain(queue).await {
                    let id = event["detail"]["event_id"].as_str().unwrap().to_owned();
                    let entry = by_id.entry(id).or_insert((event["detail-type"].as_str().unwrap().to_owned(), event["detail"].clone(), 0));
                    entry.2 += 1;
                }
                return by_id;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        by_id
    }

    async fn dead_letters(&self) -> usize {
        let got = self
            .call(
                "sqs",
                "AmazonSQS.GetQueueAttributes",
                json!({"QueueUrl": env("E2E_EVENTS_DLQ_URL"), "AttributeNames": ["ApproximateNumberOfMessages"]}),
            )
            .await;
        got["Attributes"]["ApproximateNumberOfMessages"].as_str().unwrap().parse().unwrap()
    }
}

async fn delete_me(stack: &Stack, access_token: &str, password: &str) -> Resp {
    let auth = format!("Bearer {access_token}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let body = json!({ "password": password }).to_string().into_bytes();
    stack.request(Method::DELETE, "account", "/me", &headers, Some(body)).await
}

#[tokio::test]
async fn with_delivery_stopped_every_change_is_kept_and_arrives_once_per_event_id_when_it_starts() {
    let _turn = PUMP.lock().await;
    let (stack, fake, moto) = (Stack::default_stack(), Fake::from_env(), Moto::from_env());
    let paused = Paused::new();
    let (account, challenge) = stack.register_fresh().await;
    let queue = moto.subscribe(&account.user_id).await;
    let signed_up = Tokens::from_body(stack.complete(&fake, &challenge, &account.phone).await);
    let session = stack.login_and_verify(&fake, &account).await;
    let new_password = fresh_password();
    stack.change_password(&session.access_token, &account.password, &new_password).await.expect(204);
    stack.logout_everywhere(&session.refresh_token).await.expect(204);
    // A change that fails writes no event: a wrong password deletes nothing.
    let last = stack.login_and_verify(&fake, &Account { password: new_password.clone(), ..account.clone() }).await;
    delete_me(&stack, &last.access_token, "not the password at all").await.expect_error(401, "invalid_credentials");
    delete_me(&stack, &last.access_token, &new_password).await.expect(204);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(moto.drain(&queue).await.is_empty(), "nothing is delivered while delivery is stopped");
    drop(paused);

    let expected = ["UserSignedUp", "UserSignedIn", "PasswordChanged", "SignedOutEverywhere", "UserSignedIn", "UserDeleted"];
    let events = moto.await_events(&queue, &expected).await;
    let mut types: Vec<&str> = events.values().map(|(t, _, _)| t.as_str()).collect();
    types.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(types, want, "every event arrived, one per event_id: {events:?}");
    for (id, (detail_type, detail, _)) in &events {
        assert_eq!(detail["event_id"], id.as_str());
        assert_eq!(detail["user_id"], account.user_id.as_str(), "{detail_type}");
        assert!(detail["occurred_at"].as_i64().is_some(), "{detail_type}: {detail}");
        let text = detail.to_string();
        let secrets = [&account.phone[1..], &account.password, &new_password, &signed_up.refresh_token, &session.access_token];
        for secret in secrets {
            assert!(!text.contains(secret), "{detail_type} names a secret: {text}");
        }
        if detail_type == "UserSignedUp" {
            assert_eq!(detail["email"], account.email.as_str());
        }
    }
}

#[tokio::test]
async fn a_poison_outbox_item_goes_to_the_dead_letter_queue_and_the_events_behind_it_arrive() {
    let _turn = PUMP.lock().await;
    let (stack, fake, moto) = (Stack::default_stack(), Fake::from_env(), Moto::from_env());
    let dead_before = moto.dead_letters().await;
    let paused = Paused::new();
    // An outbox item no change of the service writes: no detail.
    let poison = json!({"pk": {"S": format!("OUTBOX#poison-{}", uuid::Uuid::new_v4())}, "event_id": {"S": "poison"}});
    moto.call("dynamodb", "DynamoDB_20120810.PutItem", json!({"TableName": env("E2E_TABLE_NAME"), "Item": poison})).await;
    let (account, challenge) = stack.register_fresh().await;
    let queue = moto.subscribe(&account.user_id).await;
    stack.complete(&fake, &challenge, &account.phone).await;
    drop(paused);

    let events = moto.await_events(&queue, &["UserSignedUp"]).await;
    assert_eq!(events.values().map(|(t, _, _)| t.as_str()).collect::<Vec<_>>(), ["UserSignedUp"], "{events:?}");
    for _ in 0..100 {
        if moto.dead_letters().await > dead_before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the poison record never reached the dead-letter queue");
}
