//! The outbox: one item per lifecycle event, put in the same transaction as the change it
//! reports. Delivery reads the item's INSERT from the table's stream, never the item itself,
//! so the item only has to outlive the write by the TTL (an hour at most).

use super::{n, s, DynamoStore, Item};
use crate::domain::{LifecycleEvent, OutboxEntry};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Every outbox item's key starts so: what the events function tells them apart by.
pub const OUTBOX_PREFIX: &str = "OUTBOX#";

pub fn outbox_key(event_id: &str) -> String {
    format!("OUTBOX#{event_id}")
}

/// The outbox item of `event`. No `user_id` attribute: the item stays out of the `by_user`
/// index (deletion does not need it; it expires within the hour).
pub fn outbox_item(event: &LifecycleEvent) -> Item {
    let entry = OutboxEntry::from(event);
    Item::from([
        ("pk".to_owned(), s(outbox_key(&entry.event_id))),
        ("event_id".to_owned(), s(entry.event_id)),
        ("detail_type".to_owned(), s(entry.detail_type)),
        ("detail".to_owned(), s(entry.detail)),
        ("expires_at".to_owned(), n(event.expires_at())),
    ])
}

impl DynamoStore {
    /// The outbox put joined to a change's transaction. Unconditional: a transaction the SDK
    /// sends again writes the same item again (a MODIFY on the stream, which delivery skips).
    pub(super) fn outbox_put(&self, event: &LifecycleEvent) -> TransactWriteItem {
        self.put(outbox_item(event), None, &[])
    }
}
