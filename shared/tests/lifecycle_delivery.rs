//! Delivery of the outbox (the events function's handler) over a fake bus: the DynamoDB
//! Streams event exactly as Lambda sends it in, `batchItemFailures` out. What the bus refuses,
//! entry by entry or as a whole, is reported for retry; what is not an outbox INSERT is
//! skipped; a malformed outbox item is reported without holding back the records behind it.

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use serde_json::{json, Value};
use sms_mfa::{
    adapters::{dynamodb::outbox_item, outbox_stream::handle},
    domain::*,
    ports::EventPublisher,
};
use std::{collections::HashSet, sync::Mutex};

/// A bus that refuses the entries whose event ids it is told to, or every call.
#[derive(Default)]
struct FakeBus {
    refuse: HashSet<String>,
    down: bool,
    calls: Mutex<Vec<Vec<OutboxEntry>>>,
    taken: Mutex<Vec<OutboxEntry>>,
}

#[async_trait]
impl EventPublisher for FakeBus {
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<Vec<Option<String>>, String> {
        self.calls.lock().unwrap().push(entries.to_vec());
        if self.down {
            return Err("ServiceUnavailable".into());
        }
        Ok(entries
            .iter()
            .map(|e| match self.refuse.contains(&e.event_id) {
                true => Some("ThrottlingException".to_owned()),
                false => {
                    self.taken.lock().unwrap().push(e.clone());
                    None
                }
            })
            .collect())
    }
}

/// A stream record as Lambda sends it: the item's attributes in DynamoDB JSON.
fn record(sequence: u32, event_name: &str, image: Value) -> Value {
    json!({
        "eventID": format!("e{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_900_000_000.0,
            "Keys": {"pk": image["pk"].clone()},
            "NewImage": image,
            "SequenceNumber": format!("{sequence:021}"),
            "SizeBytes": 200,
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

/// The outbox item the store writes for `event`, in the stream's DynamoDB JSON.
fn outbox_image(event: &LifecycleEvent) -> Value {
    let item: serde_dynamo::Item = serde_dynamo::Item::from(outbox_item(event));
    serde_json::to_value(item).unwrap()
}

fn lifecycle(n: u32) -> LifecycleEvent {
    LifecycleEvent::new(&UserId(format!("user-{n}")), LifecycleChange::SignedIn { client_id: None }, 1_900_000_000 + n as i64)
}

fn batch(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(response: &aws_lambda_events::event::streams::DynamoDbEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect()
}

fn seq(n: u32) -> String {
    format!("{n:021}")
}

#[tokio::test]
async fn every_outbox_insert_goes_on_the_bus_ten_a_call_and_nothing_else_does() {
    let events: Vec<LifecycleEvent> = (0..23).map(lifecycle).collect();
    let mut records: Vec<Value> = events.iter().enumerate().map(|(i, e)| record(i as u32, "INSERT", outbox_image(e))).collect();
    // Not outbox INSERTs: another item, the outbox item's TTL removal, a MODIFY of it.
    records.push(record(100, "INSERT", json!({"pk": {"S": "USER#u"}, "user_id": {"S": "u"}})));
    records.push(record(101, "REMOVE", outbox_image(&events[0])));
    records.push(record(102, "MODIFY", outbox_image(&events[1])));
    let bus = FakeBus::default();
    let response = handle(&batch(records), &bus).await;

    assert!(failures(&response).is_empty());
    let calls = bus.calls.lock().unwrap();
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3], "PutEvents takes at most 10 entries");
    let taken = bus.taken.lock().unwrap();
    assert_eq!(taken.len(), 23);
    for (entry, event) in taken.iter().zip(&events) {
        assert_eq!(entry, &OutboxEntry::from(event), "the event id and detail come from the item: stable across retries");
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        assert_eq!(detail["event_id"], event.event_id.as_str());
        assert_eq!(entry.detail_type, "UserSignedIn");
    }
}

#[tokio::test]
async fn entries_the_bus_refuses_are_exactly_the_records_reported_for_retry() {
    let events: Vec<LifecycleEvent> = (0..12).map(lifecycle).collect();
    let records = events.iter().enumerate().map(|(i, e)| record(i as u32, "INSERT", outbox_image(e))).collect();
    let bus = FakeBus { refuse: HashSet::from([events[3].event_id.clone(), events[11].event_id.clone()]), ..FakeBus::default() };
    let response = handle(&batch(records), &bus).await;
    assert_eq!(failures(&response), [seq(3), seq(11)]);
    assert_eq!(bus.taken.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn a_failed_call_reports_every_record_of_the_batch() {
    let events: Vec<LifecycleEvent> = (0..3).map(lifecycle).collect();
    let mut records: Vec<Value> = events.iter().enumerate().map(|(i, e)| record(i as u32, "INSERT", outbox_image(e))).collect();
    records.push(record(7, "INSERT", json!({"pk": {"S": "REFRESH#x"}})));
    let bus = FakeBus { down: true, ..FakeBus::default() };
    let response = handle(&batch(records), &bus).await;
    assert_eq!(failures(&response), [seq(0), seq(1), seq(2)], "the skipped record is not retried");
}

#[tokio::test]
async fn a_poison_record_is_reported_and_the_records_behind_it_are_delivered() {
    let events: Vec<LifecycleEvent> = (0..3).map(lifecycle).collect();
    let mut poison = outbox_image(&events[1]);
    poison.as_object_mut().unwrap().remove("detail");
    let mut bad_json = outbox_image(&events[2]);
    bad_json["detail"] = json!({"S": "{not json"});
    let records = vec![
        record(0, "INSERT", outbox_image(&events[0])),
        record(1, "INSERT", poison),
        record(2, "INSERT", bad_json),
        record(3, "INSERT", outbox_image(&lifecycle(3))),
    ];
    let bus = FakeBus::default();
    let response = handle(&batch(records), &bus).await;
    assert_eq!(failures(&response), [seq(1), seq(2)]);
    let taken: Vec<String> = bus.taken.lock().unwrap().iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(taken.len(), 2, "the records around the poison went out: {taken:?}");
}

#[test]
fn outbox_items_expire_within_the_hour_and_name_no_user_for_the_index() {
    let event = lifecycle(1);
    let item = outbox_item(&event);
    assert!(item["pk"].as_s().unwrap().starts_with("OUTBOX#"));
    assert!(!item.contains_key("user_id"), "kept out of the by_user index");
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(expires - event.occurred_at <= OUTBOX_TTL_SECONDS);
}
