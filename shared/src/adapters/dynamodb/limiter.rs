//! Fixed-window counters (`RATE#...`, TTL at the window's end): every limit, failure budget and
//! check reservation is one conditional ADD on one of them.

use super::{n, rate_key, s, DynamoStore};
use crate::{
    domain::UnixTime,
    error::StoreError,
    ports::{fixed_window, CheckReservation, LimitOutcome, RateLimiter, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use std::time::Duration;

impl DynamoStore {
    /// Counts one event in `key`'s fixed window if it has room (one conditional ADD): the new
    /// count, or how long until the window ends. Every limit counter goes through here.
    async fn count_in_window(&self, key: &str, limit: u32, length: Duration, now: UnixTime) -> StoreResult<Result<u32, Duration>> {
        let (start, end) = fixed_window(now, length);
        let request = self
            .client
            .update_item()
            .key("pk", s(rate_key(key, start)))
            .update_expression("ADD #count :one SET expires_at = :end")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":end", n(end))
            .expression_attribute_values(":limit", n(limit));
        match self.update_if(request).await? {
            Some(item) => match item.get("count") {
                Some(AttributeValue::N(count)) => count.parse::<u32>().map(Ok).map_err(|_| StoreError::Corrupt("counter".into())),
                _ => Err(StoreError::Corrupt("counter without a count".into())),
            },
            None => Ok(Err(Duration::from_secs((end - now).max(1) as u64))),
        }
    }
}

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn hit(&self, key: &str, limit: u32, length: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
        Ok(match self.count_in_window(key, limit, length, now).await? {
            Ok(_) => LimitOutcome::Allowed,
            Err(retry_after) => LimitOutcome::Exceeded { retry_after },
        })
    }

    async fn is_exhausted(&self, key: &str, limit: u32, length: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
        let (start, end) = fixed_window(now, length);
        #[derive(Deserialize)]
        struct Counter {
            count: u32,
        }
        let count = self.get_as::<Counter>(rate_key(key, start)).await?.map_or(0, |c| c.count);
        Ok(if count >= limit {
            LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now).max(1) as u64) }
        } else {
            LimitOutcome::Allowed
        })
    }

    async fn reserve(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<CheckReservation> {
        Ok(match self.count_in_window(key, limit, window, now).await? {
            Ok(count) => CheckReservation::Reserved { remaining: limit.saturating_sub(count) },
            Err(retry_after) => CheckReservation::Exceeded { retry_after },
        })
    }

    async fn release(&self, key: &str, window: Duration, reserved_at: UnixTime) -> StoreResult<()> {
        let (start, _) = fixed_window(reserved_at, window);
        let request = self
            .client
            .update_item()
            .key("pk", s(rate_key(key, start)))
            .update_expression("ADD #count :minus_one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0));
        self.update_if(request).await?;
        Ok(())
    }
}
