//! Challenges (one per code sent, counting its checks and resends) and the provider reference
//! last started for a phone. Every check, use and resend is one conditional UpdateItem.

use super::{challenge_key, from_item, n, pending_ref_key, s, to_item, unavailable, DynamoStore};
use crate::{
    domain::{Challenge, ChallengeId, Channel, Phone, UnixTime},
    error::StoreError,
    ports::{AttemptOutcome, ChallengeStore, ResendOutcome, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use serde::Deserialize;
use std::time::Duration;

#[async_trait]
impl ChallengeStore for DynamoStore {
    async fn put(&self, challenge: &Challenge) -> StoreResult<()> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(challenge_key(&challenge.id), challenge)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The id is 128 random bits: a failed condition is the SDK resending a put that
            // already landed (a dropped connection), unless the stored item is another one.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                match ChallengeStore::get(self, &challenge.id).await? {
                    Some(stored) if stored.user_id == challenge.user_id && stored.created_at == challenge.created_at => Ok(()),
                    _ => Err(StoreError::Unavailable("challenge id collision".into())),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>> {
        self.get_as(challenge_key(id)).await
    }

    async fn set_provider_ref(&self, id: &ChallengeId, provider_ref: &str) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(id)))
            .update_expression("SET provider_ref = :r")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":r", s(provider_ref));
        self.update_if(request).await?;
        Ok(())
    }

    async fn pending_ref_for(&self, phone: &Phone, now: UnixTime) -> StoreResult<Option<String>> {
        #[derive(Deserialize)]
        struct PendingRef {
            provider_ref: String,
            expires_at: UnixTime,
        }
        let pending = self.get_as::<PendingRef>(pending_ref_key(phone)).await?;
        Ok(pending.filter(|p| p.expires_at > now).map(|p| p.provider_ref))
    }

    async fn remember_pending_ref(&self, phone: &Phone, provider_ref: &str, expires_at: UnixTime) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pending_ref_key(phone)))
            .item("provider_ref", s(provider_ref))
            .item("expires_at", n(expires_at))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn count_attempt(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<AttemptOutcome> {
        let request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(id)))
            .update_expression("SET attempts = attempts + :one")
            .condition_expression("#status = :pending AND expires_at > :now AND attempts < max_attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now));
        if let Some(item) = self.update_if(request).await? {
            return Ok(AttemptOutcome::Counted { challenge: Box::new(from_item(item)?) });
        }
        Ok(match ChallengeStore::get(self, id).await? {
            Some(c) if c.is_live(now) && c.attempts >= c.max_attempts => AttemptOutcome::Exhausted,
            _ => AttemptOutcome::Invalid,
        })
    }

    async fn consume(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<bool> {
        let request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(id)))
            .update_expression("SET #status = :used")
            .condition_expression("#status = :pending AND expires_at > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":used", s("used"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now));
        Ok(self.update_if(request).await?.is_some())
    }

    async fn claim_resend(
        &self,
        id: &ChallengeId,
        now: UnixTime,
        cooldown: Duration,
        new_expiry: UnixTime,
        channel: Channel,
        code_hash: Option<&str>,
    ) -> StoreResult<ResendOutcome> {
        let threshold = now - cooldown.as_secs() as i64;
        let mut update = "SET last_sent_at = :now, expires_at = :exp, channel = :channel".to_owned();
        let mut request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(id)))
            .condition_expression("#status = :pending AND expires_at > :now AND attempts < max_attempts AND last_sent_at <= :threshold")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":threshold", n(threshold))
            .expression_attribute_values(":exp", n(new_expiry))
            .expression_attribute_values(":channel", s(channel.as_str()));
        if let Some(hash) = code_hash {
            update.push_str(", code_hash = :hash");
            request = request.expression_attribute_values(":hash", s(hash));
        }
        if let Some(item) = self.update_if(request.update_expression(update)).await? {
            return Ok(ResendOutcome::Ready { challenge: Box::new(from_item(item)?) });
        }
        Ok(match ChallengeStore::get(self, id).await? {
            Some(c) if c.is_live(now) && c.attempts >= c.max_attempts => ResendOutcome::Exhausted,
            Some(c) if c.is_live(now) => {
                ResendOutcome::TooSoon { retry_after: Duration::from_secs((c.last_sent_at - threshold).max(1) as u64) }
            }
            _ => ResendOutcome::Invalid,
        })
    }

    async fn release_resend(&self, id: &ChallengeId, claimed_at: UnixTime) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(id)))
            .update_expression("SET last_sent_at = :zero")
            .condition_expression("last_sent_at = :claimed")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":claimed", n(claimed_at));
        self.update_if(request).await?;
        Ok(())
    }

    async fn delete(&self, id: &ChallengeId) -> StoreResult<()> {
        self.client.delete_item().table_name(&self.table).key("pk", s(challenge_key(id))).send().await.map_err(unavailable)?;
        Ok(())
    }
}
