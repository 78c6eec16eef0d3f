//! Delivery of the outbox: the lifecycle events read from the table's stream go on the team's
//! bus, and every record that did not make it is reported back, so the stream retries it (and
//! after the retries, sends it to the dead-letter queue). Nothing is dropped silently.

use crate::{
    domain::OutboxEntry,
    ports::{EventPublisher, PUBLISH_BATCH},
};

/// One outbox item read from the stream, by the stream's sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamedEvent {
    pub sequence_number: String,
    /// The entry, or why the item is not one (a poison record: it is reported, never put).
    pub entry: Result<OutboxEntry, String>,
}

/// Puts every well-formed entry on the bus, `PUBLISH_BATCH` a call, and answers the sequence
/// numbers of the records that must be tried again, in stream order: malformed items, entries
/// the bus refused one by one, and every entry of a call that failed as a whole.
pub async fn deliver(publisher: &dyn EventPublisher, events: &[StreamedEvent]) -> Vec<String> {
    let mut failed = vec![false; events.len()];
    let mut ready = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match &event.entry {
            Ok(entry) => ready.push((i, entry.clone())),
            Err(problem) => {
                tracing::error!(sequence = %event.sequence_number, problem, "outbox record cannot be delivered");
                failed[i] = true;
            }
        }
    }
    for batch in ready.chunks(PUBLISH_BATCH) {
        let entries: Vec<OutboxEntry> = batch.iter().map(|(_, entry)| entry.clone()).collect();
        match publisher.publish(&entries).await {
            // A result missing for an entry counts as a failure: never assume it was taken.
            Ok(results) => {
                for (n, (i, entry)) in batch.iter().enumerate() {
                    let refused = match results.get(n) {
                        Some(None) => None,
                        Some(Some(code)) => Some(code.as_str()),
                        None => Some("no result for the entry"),
                    };
                    if let Some(code) = refused {
                        tracing::warn!(event_id = %entry.event_id, code, "the bus refused an event: retried");
                        failed[*i] = true;
                    }
                }
            }
            Err(problem) => {
                tracing::warn!(entries = batch.len(), problem, "PutEvents failed: the batch is retried");
                batch.iter().for_each(|(i, _)| failed[*i] = true);
            }
        }
    }
    events.iter().zip(failed).filter(|(_, f)| *f).map(|(e, _)| e.sequence_number.clone()).collect()
}
