//! The team's bus: lifecycle events go out with `PutEvents`, which answers per entry.

use crate::{
    domain::{OutboxEntry, EVENT_SOURCE},
    ports::EventPublisher,
};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher { client, bus: bus.into() }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<Vec<Option<String>>, String> {
        let request = entries.iter().map(|entry| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(EVENT_SOURCE)
                .detail_type(&entry.detail_type)
                .detail(&entry.detail)
                .build()
        });
        let out = self
            .client
            .put_events()
            .set_entries(Some(request.collect()))
            .send()
            .await
            .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())?;
        // The answer's entries are in the order of the request's; one with an error code failed.
        Ok(out.entries().iter().map(|result| result.error_code().map(str::to_owned)).collect())
    }
}
