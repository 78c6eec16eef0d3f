//! The single-table DynamoDB adapter. Every limit and every state change that races is a
//! conditional write, because Lambda instances share no memory.
//!
//! One file per item family; this one holds `DynamoStore`, the request helpers every family
//! uses (reads, conditional updates, transactions), the `by_user` index and the keys.
//!
//! | item | key | port, file |
//! |---|---|---|
//! | user | `USER#<id>` | `UserStore`, users.rs |
//! | email guard | `EMAIL#<lowercased email>`: the user id, written with the user in one transaction | `UserStore`, users.rs |
//! | challenge | `CHALLENGE#<id>` (TTL) | `ChallengeStore`, challenges.rs |
//! | pending verification | `PENDING#<phone>`: the provider reference last started for it (TTL) | `ChallengeStore`, challenges.rs |
//! | counter | `RATE#<scope>#<key>#<window start>` (TTL at window end) | `RateLimiter`, limiter.rs |
//! | pumping counter | `RATE#pump#<prefix>#<window start>`: sent, completed, deficit (TTL at window end) | `PrefixCounters`, prefixes.rs |
//! | refresh token | `REFRESH#<sha256 of token>` (TTL) | `SessionStore`, sessions.rs |
//! | revoked family | `REVOKED#<family id>` (TTL) | `SessionStore`, sessions.rs |
//! | authenticator | `FACTOR#<user id>`: sealed secrets, last step, recovery-code hashes | `FactorStore`, factors.rs |
//! | remembered device | `DEVICE#<user id>#<slot 0-9>`: token hash, spent marks, label, expiry (TTL) | `DeviceStore`, devices.rs |
//! | authorization code | `OAUTHCODE#<sha256 of code>`: its bindings, the family its first use reserved (TTL) | `OAuthStore`, oauth.rs |
//! | SSO session | `SSO#<sha256 of cookie>`: user, auth_time, amr, credentials version (TTL) | `OAuthStore`, oauth.rs |
//!
//! Index `users` (user_list.rs): every user item by `phone`, for the admin listing and lookup.
//!
//! Index `by_user` (partition key `user_id`, projecting `family_id` and `phone`): every item
//! that names a user by id (user, email guard, challenges, refresh tokens, authenticator, devices), so a
//! global logout finds all families of a user and a deletion finds everything to remove.
//!
//! A credential change (users.rs) writes across families in one transaction: the user, its
//! challenge, a counter and revocation markers.

mod challenges;
mod devices;
mod factors;
mod limiter;
mod oauth;
mod outbox;
mod prefixes;
mod sessions;
mod user_list;
mod users;

pub use outbox::{outbox_item, outbox_key, OUTBOX_PREFIX};
pub use user_list::USERS_INDEX;

use crate::{
    domain::{ChallengeId, Email, Phone, UnixTime, UserId},
    error::StoreError,
    ports::StoreResult,
};
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    operation::update_item::{builders::UpdateItemFluentBuilder, UpdateItemError},
    types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem},
    Client,
};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    async fn get_item(&self, pk: String) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn get_as<T: DeserializeOwned>(&self, pk: String) -> StoreResult<Option<T>> {
        self.get_item(pk).await?.map(from_item).transpose()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<bool> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Runs a conditional update; `Ok(None)` when the condition failed.
    async fn update_if(&self, request: UpdateItemFluentBuilder) -> StoreResult<Option<Item>> {
        match request.table_name(&self.table).return_values(ReturnValue::AllNew).send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn put(&self, item: Item, condition: Option<&str>, values: &[(&str, AttributeValue)]) -> TransactWriteItem {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(condition) = condition {
            put = put.condition_expression(condition);
        }
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        TransactWriteItem::builder().put(put.build().expect("table and item are set")).build()
    }

    /// The items naming `user` by id, from the `by_user` index: (pk, family_id, phone).
    async fn items_of(&self, user: &UserId) -> StoreResult<Vec<(String, Option<String>, Option<String>)>> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .key_condition_expression("user_id = :id")
                .expression_attribute_values(":id", s(&user.0))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let Some(pk) = text("pk") {
                    found.push((pk, text("family_id"), text("phone")));
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    async fn delete_key(&self, pk: String) -> StoreResult<()> {
        self.client.delete_item().table_name(&self.table).key("pk", s(pk)).send().await.map_err(unavailable)?;
        Ok(())
    }

    fn delete(&self, pk: String, condition: &str, values: &[(&str, AttributeValue)]) -> TransactWriteItem {
        let mut delete = Delete::builder().table_name(&self.table).key("pk", s(pk)).condition_expression(condition);
        for (name, value) in values {
            delete = delete.expression_attribute_values(*name, value.clone());
        }
        TransactWriteItem::builder().delete(delete.build().expect("table and key are set")).build()
    }
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item<T: Serialize>(pk: String, value: &T) -> Item {
    let mut item: Item = serde_dynamo::to_item(value).expect("domain records serialize");
    item.insert("pk".into(), s(pk));
    item
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The global secondary index on `user_id` (template.yaml).
pub const USER_INDEX: &str = "by_user";
/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

// The keys of every item family, in the order of the table above.

fn user_key(id: &UserId) -> String {
    format!("USER#{}", id.0)
}

fn email_key(email: &Email) -> String {
    format!("EMAIL#{}", email.as_str())
}

fn challenge_key(id: &ChallengeId) -> String {
    format!("CHALLENGE#{}", id.0)
}

/// The provider's verification last started for a phone (Twilio Verify keeps one per number).
fn pending_ref_key(phone: &Phone) -> String {
    format!("PENDING#{}", phone.as_e164())
}

/// The counter of `key`'s fixed window starting at `window_start` (`fixed_window`).
fn rate_key(key: &str, window_start: UnixTime) -> String {
    format!("RATE#{key}#{window_start}")
}

fn refresh_key(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

fn revoked_key(family: &str) -> String {
    format!("REVOKED#{family}")
}

fn code_key(hash: &str) -> String {
    format!("OAUTHCODE#{hash}")
}

fn sso_key(hash: &str) -> String {
    format!("SSO#{hash}")
}

fn factor_key(user: &UserId) -> String {
    format!("FACTOR#{}", user.0)
}

/// One of an account's `MAX_DEVICES` remembered-device slots.
fn device_key(user: &UserId, slot: u8) -> String {
    format!("DEVICE#{}#{slot}", user.0)
}
