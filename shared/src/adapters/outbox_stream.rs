//! The table's stream as Lambda hands it to the events function: the outbox items' INSERTs
//! are read back into entries; every other record (any other item, a MODIFY or REMOVE, the
//! TTL's deletions) is skipped.

use super::dynamodb::OUTBOX_PREFIX;
use crate::{
    domain::OutboxEntry,
    ports::EventPublisher,
    use_cases::deliver::{deliver, StreamedEvent},
};
use aws_lambda_events::event::{
    dynamodb::{Event, EventRecord},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use serde_dynamo::AttributeValue;

/// The outbox items of the batch, in stream order.
pub fn outbox_events(event: &Event) -> Vec<StreamedEvent> {
    event.records.iter().filter_map(streamed).collect()
}

fn streamed(record: &EventRecord) -> Option<StreamedEvent> {
    let text = |name: &str| match record.change.new_image.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(format!("outbox item without a string {name}")),
    };
    let is_outbox = record.event_name == "INSERT" && text("pk").is_ok_and(|pk| pk.starts_with(OUTBOX_PREFIX));
    if !is_outbox {
        return None;
    }
    let entry = (|| {
        let entry = OutboxEntry { event_id: text("event_id")?, detail_type: text("detail_type")?, detail: text("detail")? };
        serde_json::from_str::<serde_json::Value>(&entry.detail).map_err(|e| format!("outbox detail is not JSON: {e}"))?;
        Ok(entry)
    })();
    // Lambda always sends one; were it missing, the empty identifier Lambda cannot match makes
    // it retry the whole batch: nothing is lost.
    let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
    Some(StreamedEvent { sequence_number, entry })
}

/// What the events function answers Lambda: the records to try again (`ReportBatchItemFailures`).
pub async fn handle(event: &Event, publisher: &dyn EventPublisher) -> DynamoDbEventResponse {
    let failed = deliver(publisher, &outbox_events(event)).await;
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|sequence| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            failure
        })
        .collect();
    response
}
