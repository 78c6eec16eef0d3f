//! Authenticator state: one `FACTOR#<user id>` item per account (sealed secrets, the last
//! accepted time step, recovery-code hashes as a string set). Each change is one conditional
//! UpdateItem, so racing requests cannot replay a step or spend a recovery code twice.

use super::{challenge_key, factor_key, n, s, user_key, DynamoStore};
use crate::{
    domain::{ChallengeId, LifecycleEvent, UnixTime, UserId},
    ports::{FactorRecord, FactorStore, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{AttributeValue, TransactWriteItem, Update},
};
use serde::Deserialize;

#[derive(Deserialize)]
struct FactorItem {
    active_secret: Option<String>,
    pending_secret: Option<String>,
    pending_expires_at: Option<UnixTime>,
    last_step: Option<i64>,
    #[serde(default)]
    recovery: Vec<String>,
}

fn string_set(values: &[String]) -> AttributeValue {
    AttributeValue::Ss(values.to_vec())
}

impl DynamoStore {
    fn factor_update(&self, user: &UserId) -> UpdateItemFluentBuilder {
        self.client.update_item().key("pk", s(factor_key(user)))
    }

    /// An authenticator added or removed forgets every remembered device: the account's
    /// `devices_version` moves on in the same transaction as the factor item.
    fn forget_devices_of(&self, user: &UserId) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(user)))
            .update_expression("ADD devices_version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("update is complete");
        TransactWriteItem::builder().update(update).build()
    }
}

#[async_trait]
impl FactorStore for DynamoStore {
    async fn factors(&self, user: &UserId) -> StoreResult<FactorRecord> {
        Ok(match self.get_as::<FactorItem>(factor_key(user)).await? {
            None => FactorRecord::default(),
            Some(item) => FactorRecord {
                active_secret: item.active_secret,
                pending: item.pending_secret.zip(item.pending_expires_at),
                last_step: item.last_step,
                recovery_hashes: item.recovery,
            },
        })
    }

    async fn start_enrolment(&self, user: &UserId, sealed_secret: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let request = self
            .factor_update(user)
            .update_expression("SET user_id = :user, pending_secret = :secret, pending_expires_at = :expires")
            .condition_expression("attribute_not_exists(active_secret)")
            .expression_attribute_values(":user", s(&user.0))
            .expression_attribute_values(":secret", s(sealed_secret))
            .expression_attribute_values(":expires", n(expires_at));
        Ok(self.update_if(request).await?.is_some())
    }

    async fn confirm_enrolment(
        &self,
        user: &UserId,
        sealed_secret: &str,
        step: i64,
        hashes: &[String],
        now: UnixTime,
        event: &LifecycleEvent,
    ) -> StoreResult<bool> {
        let confirm = Update::builder()
            .table_name(&self.table)
            .key("pk", s(factor_key(user)))
            .update_expression(
                "SET active_secret = :secret, last_step = :step, recovery = :codes REMOVE pending_secret, pending_expires_at",
            )
            .condition_expression(
                "pending_secret = :secret AND pending_expires_at > :now AND attribute_not_exists(active_secret) \
                 AND (attribute_not_exists(last_step) OR last_step < :step)",
            )
            .expression_attribute_values(":secret", s(sealed_secret))
            .expression_attribute_values(":step", n(step))
            .expression_attribute_values(":codes", string_set(hashes))
            .expression_attribute_values(":now", n(now))
            .build()
            .expect("update is complete");
        self.transact(vec![TransactWriteItem::builder().update(confirm).build(), self.forget_devices_of(user), self.outbox_put(event)])
            .await
    }

    async fn accept_step(&self, user: &UserId, step: i64) -> StoreResult<bool> {
        let request = self
            .factor_update(user)
            .update_expression("SET last_step = :step")
            .condition_expression("attribute_exists(active_secret) AND (attribute_not_exists(last_step) OR last_step < :step)")
            .expression_attribute_values(":step", n(step));
        Ok(self.update_if(request).await?.is_some())
    }

    async fn consume_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        let request = self
            .factor_update(user)
            .update_expression("DELETE recovery :one")
            .condition_expression("attribute_exists(active_secret) AND contains(recovery, :hash)")
            .expression_attribute_values(":one", string_set(&[hash.to_owned()]))
            .expression_attribute_values(":hash", s(hash));
        Ok(self.update_if(request).await?.is_some())
    }

    async fn replace_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<bool> {
        let request = self
            .factor_update(user)
            .update_expression("SET recovery = :codes")
            .condition_expression("attribute_exists(active_secret)")
            .expression_attribute_values(":codes", string_set(hashes));
        Ok(self.update_if(request).await?.is_some())
    }

    async fn remove_totp(&self, user: &UserId, event: &LifecycleEvent) -> StoreResult<()> {
        let remove = Update::builder()
            .table_name(&self.table)
            .key("pk", s(factor_key(user)))
            .update_expression("REMOVE active_secret, recovery, pending_secret, pending_expires_at")
            .condition_expression("attribute_exists(pk)")
            .build()
            .expect("update is complete");
        // Cancelled only when the account has no factor item: then nothing was removed.
        self.transact(vec![TransactWriteItem::builder().update(remove).build(), self.forget_devices_of(user), self.outbox_put(event)])
            .await?;
        Ok(())
    }

    async fn switch_to_phone(&self, challenge: &ChallengeId) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .key("pk", s(challenge_key(challenge)))
            .update_expression("SET factor = :phone")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":phone", s("phone"));
        self.update_if(request).await?;
        Ok(())
    }
}
