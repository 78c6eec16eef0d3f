//! Refresh tokens (one item per token, spent by rotation) and the markers of revoked families.
//! A rotation spends the old token and stores the next one in one transaction, only while the
//! family has no revocation marker.

use super::{n, refresh_key, revoked_key, s, to_item, unavailable, DynamoStore, Item};
use crate::{
    domain::{LifecycleEvent, UnixTime, UserId},
    error::StoreError,
    ports::{ClientBinding, RefreshRecord, RotateOutcome, SessionStore, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    types::{ConditionCheck, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct RefreshItem {
    family_id: String,
    user_id: String,
    amr: Vec<String>,
    status: String,
    #[serde(default)]
    spent_at: Option<UnixTime>,
    #[serde(default)]
    sealed_successor: Option<String>,
    expires_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

impl RefreshItem {
    fn record(&self, token_hash: &str) -> RefreshRecord {
        RefreshRecord {
            token_hash: token_hash.to_owned(),
            family_id: self.family_id.clone(),
            user_id: UserId(self.user_id.clone()),
            amr: self.amr.clone(),
            expires_at: self.expires_at,
            client: self.client_id.clone().map(|client_id| ClientBinding { client_id, scope: self.scope.clone().unwrap_or_default() }),
        }
    }
}

impl DynamoStore {
    fn refresh_put(&self, record: &RefreshRecord) -> TransactWriteItem {
        self.put(to_item(refresh_key(&record.token_hash), &self.refresh_item(record)), Some("attribute_not_exists(pk)"), &[])
    }

    fn refresh_item(&self, record: &RefreshRecord) -> RefreshItem {
        RefreshItem {
            family_id: record.family_id.clone(),
            user_id: record.user_id.0.clone(),
            amr: record.amr.clone(),
            status: "active".into(),
            spent_at: None,
            sealed_successor: None,
            expires_at: record.expires_at,
            client_id: record.client.as_ref().map(|c| c.client_id.clone()),
            scope: record.client.as_ref().map(|c| c.scope.clone()),
        }
    }
}

impl DynamoStore {
    async fn try_rotate(&self, old_hash: &str, next: &RefreshRecord, sealed_successor: &str, now: UnixTime) -> StoreResult<bool> {
        let spend = Update::builder()
            .table_name(&self.table)
            .key("pk", s(refresh_key(old_hash)))
            .update_expression("SET #status = :spent, spent_at = :now, sealed_successor = :sealed")
            .condition_expression("#status = :active AND expires_at > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":spent", s("spent"))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":sealed", s(sealed_successor))
            .build()
            .expect("update is complete");
        let family_alive = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(revoked_key(&next.family_id)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("check is complete");
        self.transact(vec![
            TransactWriteItem::builder().update(spend).build(),
            TransactWriteItem::builder().condition_check(family_alive).build(),
            self.refresh_put(next),
        ])
        .await
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn start_family(&self, first: &RefreshRecord, event: Option<&LifecycleEvent>) -> StoreResult<()> {
        let item = to_item(refresh_key(&first.token_hash), &self.refresh_item(first));
        let written = match event {
            // The token and its `UserSignedIn` in one transaction: a sign-in is reported iff it happened.
            Some(event) => self.transact(vec![self.put(item, Some("attribute_not_exists(pk)"), &[]), self.outbox_put(event)]).await?,
            // A plain conditional put: a one-item transaction would cost twice the write units.
            None => {
                let request =
                    self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression("attribute_not_exists(pk)");
                match request.send().await {
                    Ok(_) => true,
                    Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => false,
                    Err(e) => return Err(unavailable(e)),
                }
            }
        };
        match written {
            true => Ok(()),
            false => {
                // The item is there: ours if the SDK resent a put whose answer was lost.
                match self.get_as::<RefreshItem>(refresh_key(&first.token_hash)).await? {
                    Some(item) if item.family_id == first.family_id && item.user_id == first.user_id.0 => Ok(()),
                    _ => Err(StoreError::Unavailable("refresh token collision".into())),
                }
            }
        }
    }

    async fn rotate(&self, old_hash: &str, next: &RefreshRecord, sealed_successor: &str, now: UnixTime) -> StoreResult<RotateOutcome> {
        // DynamoDB cancels a transaction that collides with another one in flight on the same
        // item (TransactionConflict) even when its condition holds: then the old token still
        // reads active, and trying again decides the race properly.
        for attempt in 0..3u64 {
            if self.try_rotate(old_hash, next, sealed_successor, now).await? {
                return Ok(RotateOutcome::Rotated);
            }
            let Some(old) = self.get_as::<RefreshItem>(refresh_key(old_hash)).await? else {
                return Ok(RotateOutcome::Invalid);
            };
            if old.expires_at <= now || self.is_family_revoked(&old.family_id).await? {
                return Ok(RotateOutcome::Invalid);
            }
            match (old.status.as_str(), old.spent_at) {
                ("spent", Some(spent_at)) => {
                    return Ok(RotateOutcome::AlreadySpent {
                        spent_at,
                        sealed_successor: old.sealed_successor.clone(),
                        record: old.record(old_hash),
                    })
                }
                _ => tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await,
            }
        }
        Ok(RotateOutcome::Invalid)
    }

    async fn find(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        Ok(self.get_as::<RefreshItem>(refresh_key(token_hash)).await?.map(|item| item.record(token_hash)))
    }

    async fn find_active(&self, token_hash: &str, now: UnixTime) -> StoreResult<Option<RefreshRecord>> {
        Ok(self
            .get_as::<RefreshItem>(refresh_key(token_hash))
            .await?
            .filter(|item| item.status == "active" && item.expires_at > now)
            .map(|item| item.record(token_hash)))
    }

    async fn is_family_revoked(&self, family_id: &str) -> StoreResult<bool> {
        Ok(self.get_item(revoked_key(family_id)).await?.is_some())
    }

    async fn revoke_family(&self, family_id: &str, expires_at: UnixTime, event: Option<&LifecycleEvent>) -> StoreResult<()> {
        if let Some(event) = event {
            let marker = Item::from([("pk".to_owned(), s(revoked_key(family_id))), ("expires_at".to_owned(), n(expires_at))]);
            // Unconditional puts: a cancellation here is a conflict with another transaction, not a lost race.
            if !self.transact(vec![self.put(marker, None, &[]), self.outbox_put(event)]).await? {
                return Err(StoreError::Unavailable("revocation transaction cancelled".into()));
            }
            return Ok(());
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(revoked_key(family_id)))
            .item("expires_at", n(expires_at))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn families_of(&self, user: &UserId) -> StoreResult<Vec<String>> {
        let mut families: Vec<String> = self
            .items_of(user)
            .await?
            .into_iter()
            .filter(|(pk, _, _)| pk.starts_with("REFRESH#"))
            .filter_map(|(_, family, _)| family)
            .collect();
        families.sort();
        families.dedup();
        Ok(families)
    }
}
