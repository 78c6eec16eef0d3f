//! The users index (`users`, template.yaml): partition key `listed` (the same value on every
//! user item, and on nothing else), sort key `phone`, keys only. It serves the admin API's
//! paged listing and its lookup by exact phone without a Scan: a page of n users reads n index
//! keys and then those n user items (BatchGetItem), whatever the size of the table
//! (README "Administration", what a page costs).
//!
//! One partition key for every user means one index partition for its writes: they happen only
//! when a user item is created, deleted or changes its phone (keys-only projection), far below
//! the 1,000 writes per second a partition takes.

use super::{from_item, s, unavailable, user_key, users::UserItem, DynamoStore, Item};
use crate::{
    domain::{Phone, User, UserCursor, UserId},
    error::StoreError,
    ports::StoreResult,
};
use aws_sdk_dynamodb::types::KeysAndAttributes;
use std::collections::HashMap;

/// The index's name (template.yaml, scripts/create_table.py).
pub const USERS_INDEX: &str = "users";
/// The value of `listed` on every user item.
pub(super) const LISTED: &str = "user";

impl DynamoStore {
    pub(super) async fn users_with_phone(&self, phone: &Phone) -> StoreResult<Vec<User>> {
        let (keys, _) = self.index_keys("listed = :listed AND phone = :phone", Some(phone.as_e164()), None, 100).await?;
        self.users_by_key(keys).await
    }

    pub(super) async fn user_page(&self, after: Option<&UserCursor>, limit: usize) -> StoreResult<(Vec<User>, Option<UserCursor>)> {
        let (keys, next) = self.index_keys("listed = :listed", None, after, limit).await?;
        Ok((self.users_by_key(keys).await?, next))
    }

    /// One Query of the index: the user ids of up to `limit` entries and where the next starts.
    async fn index_keys(
        &self,
        condition: &str,
        phone: Option<&str>,
        after: Option<&UserCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<UserId>, Option<UserCursor>)> {
        // The start key is rebuilt from the cursor's two checked parts, always in this index's
        // one partition: a cursor cannot point the read anywhere else.
        let start = after.map(|c| {
            HashMap::from([("listed".to_owned(), s(LISTED)), ("phone".to_owned(), s(&c.phone)), ("pk".to_owned(), s(user_key(&c.user_id)))])
        });
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USERS_INDEX)
            .key_condition_expression(condition)
            .expression_attribute_values(":listed", s(LISTED))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start);
        if let Some(phone) = phone {
            request = request.expression_attribute_values(":phone", s(phone));
        }
        let out = request.send().await.map_err(unavailable)?;
        let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let ids: Vec<UserId> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| text(item, "pk"))
            .filter_map(|pk| pk.strip_prefix("USER#").map(|id| UserId(id.to_owned())))
            .collect();
        let next = match out.last_evaluated_key {
            Some(key) if !key.is_empty() => {
                let (phone, pk) = (text(&key, "phone"), text(&key, "pk"));
                match (phone, pk.as_deref().and_then(|pk| pk.strip_prefix("USER#"))) {
                    (Some(phone), Some(id)) => Some(UserCursor { phone, user_id: UserId(id.to_owned()) }),
                    _ => return Err(StoreError::Corrupt("the users index returned a start key without phone and pk".into())),
                }
            }
            _ => None,
        };
        Ok((ids, next))
    }

    /// The user items of `ids`, in that order (BatchGetItem, at most 100 keys a call; keys it
    /// leaves unprocessed are asked again). Eventually consistent: a listing, not a decision.
    async fn users_by_key(&self, ids: Vec<UserId>) -> StoreResult<Vec<User>> {
        let mut found: HashMap<String, User> = HashMap::new();
        for chunk in ids.chunks(100) {
            let keys: Vec<Item> = chunk.iter().map(|id| HashMap::from([("pk".to_owned(), s(user_key(id)))])).collect();
            let mut pending = Some(KeysAndAttributes::builder().set_keys(Some(keys)).build().map_err(unavailable)?);
            for attempt in 0..5u64 {
                let Some(request) = pending.take() else { break };
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(unavailable)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    let user = from_item::<UserItem>(item)?.into_user()?;
                    found.insert(user.id.0.clone(), user);
                }
                pending = out.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await;
                }
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable("BatchGetItem left users unprocessed five times".into()));
            }
        }
        // A user deleted between the index read and this one is simply not listed.
        Ok(ids.iter().filter_map(|id| found.remove(&id.0)).collect())
    }
}
