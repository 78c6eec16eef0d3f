//! The SMS pumping guard's counters: one item per destination prefix and window,
//! `RATE#pump#<prefix>#<window start>` (TTL at the window's end), holding `sent`, `completed`
//! and `deficit`. DynamoDB conditions compare attributes with values but cannot multiply, so
//! the block rule (`completed * 100 < sent * percent`) is kept as one running number:
//! `deficit = sent * percent - completed * 100`, positive exactly when the floor is missed. A
//! send is then one conditional ADD that checks the rule and counts in the same write.

use super::{n, rate_key, s, DynamoStore};
use crate::{
    domain::{DestinationPrefix, PumpingRule, UnixTime},
    ports::{fixed_window, LimitOutcome, PrefixCounters, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;

fn counter_key(prefix: DestinationPrefix, window_start: UnixTime) -> String {
    rate_key(&format!("pump#{prefix}"), window_start)
}

impl DynamoStore {
    /// Adds `sent` and `completed` to the prefix's counter of the window of `at` (and their
    /// share of the deficit), under `condition` if any: whether it was written.
    async fn add_to_prefix(
        &self,
        prefix: DestinationPrefix,
        rule: &PumpingRule,
        at: UnixTime,
        (sent, completed): (i64, i64),
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> StoreResult<bool> {
        let (start, end) = fixed_window(at, rule.window);
        let deficit = sent * i64::from(rule.min_conversion_percent) - completed * 100;
        let mut request = self
            .client
            .update_item()
            .key("pk", s(counter_key(prefix, start)))
            .update_expression("ADD sent :sent, completed :completed, deficit :deficit SET expires_at = :end")
            .expression_attribute_values(":sent", n(sent))
            .expression_attribute_values(":completed", n(completed))
            .expression_attribute_values(":deficit", n(deficit))
            .expression_attribute_values(":end", n(end));
        if let Some((condition, values)) = condition {
            request = request.condition_expression(condition);
            for (name, value) in values {
                request = request.expression_attribute_values(name, value);
            }
        }
        Ok(self.update_if(request).await?.is_some())
    }
}

#[async_trait]
impl PrefixCounters for DynamoStore {
    async fn count_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, now: UnixTime) -> StoreResult<LimitOutcome> {
        // Open while the window has had fewer than the minimum sends, or its completions meet the floor.
        let open = "attribute_not_exists(sent) OR sent < :min OR deficit <= :zero";
        let values = vec![(":min", n(rule.min_sends)), (":zero", n(0))];
        Ok(if self.add_to_prefix(prefix, rule, now, (1, 0), Some((open, values))).await? {
            LimitOutcome::Allowed
        } else {
            let (_, end) = fixed_window(now, rule.window);
            LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now).max(1) as u64) }
        })
    }

    async fn uncount_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, counted_at: UnixTime) -> StoreResult<()> {
        self.add_to_prefix(prefix, rule, counted_at, (-1, 0), Some(("sent > :zero", vec![(":zero", n(0))]))).await?;
        Ok(())
    }

    async fn count_completion(&self, prefix: DestinationPrefix, rule: &PumpingRule, sent_at: UnixTime) -> StoreResult<()> {
        self.add_to_prefix(prefix, rule, sent_at, (0, 1), None).await?;
        Ok(())
    }
}
