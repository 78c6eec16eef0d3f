//! The single-table DynamoDB adapter. Every limit and every state change that races is a
//! conditional write, because Lambda instances share no memory.
//!
//! | item | key |
//! |---|---|
//! | user | `USER#<id>` |
//! | email guard | `EMAIL#<lowercased email>`: the user id, written with the user in one transaction |
//! | challenge | `CHALLENGE#<id>` (TTL) |
//! | pending verification | `PENDING#<phone>`: the provider reference last started for it (TTL) |
//! | counter | `RATE#<scope>#<key>#<window start>` (TTL at window end) |
//! | refresh token | `REFRESH#<sha256 of token>` (TTL) |
//! | revoked family | `REVOKED#<family id>` (TTL) |
//!
//! Index `by_user` (partition key `user_id`, projecting `family_id` and `phone`): every item
//! that names a user by id (user, email guard, challenges, refresh tokens), so a global logout
//! finds all families of a user and a deletion finds everything to remove.

use crate::{
    domain::{Challenge, ChallengeId, Channel, Email, Phone, UnixTime, User, UserId},
    error::StoreError,
    ports::*,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update},
    Client,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::{collections::HashMap, time::Duration};

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
    async fn update_if(
        &self,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> StoreResult<Option<Item>> {
        match request.table_name(&self.table).return_values(ReturnValue::AllNew).send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Counts one event in `key`'s fixed window if it has room (one conditional ADD): the new
    /// count, or how long until the window ends. Every limit counter goes through here.
    async fn count_in_window(&self, key: &str, limit: u32, length: Duration, now: UnixTime) -> StoreResult<Result<u32, Duration>> {
        let (start, end) = fixed_window(now, length);
        let request = self
            .client
            .update_item()
            .key("pk", s(format!("RATE#{key}#{start}")))
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

/// `condition` and the account's `credentials_version` still being the one `user` was read with
/// (version 0: never written, as on accounts stored before it existed).
fn same_credentials(user: &User, condition: &str) -> String {
    if user.credentials_version == 0 {
        format!("{condition} AND (attribute_not_exists(credentials_version) OR credentials_version = :version)")
    } else {
        format!("{condition} AND credentials_version = :version")
    }
}

fn credentials_values(user: &User) -> HashMap<String, AttributeValue> {
    HashMap::from([(":version".to_owned(), n(user.credentials_version))])
}

fn user_key(id: &UserId) -> String {
    format!("USER#{}", id.0)
}

fn email_key(email: &Email) -> String {
    format!("EMAIL#{}", email.as_str())
}

/// The provider's verification last started for a phone (Twilio Verify keeps one per number).
fn pending_ref_key(phone: &Phone) -> String {
    format!("PENDING#{}", phone.as_e164())
}

fn challenge_key(id: &ChallengeId) -> String {
    format!("CHALLENGE#{}", id.0)
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    user_id: String,
    email: String,
    password_hash: String,
    phone: String,
    phone_verified: bool,
    created_at: UnixTime,
    #[serde(default)]
    tokens_valid_after: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept_session: Option<String>,
    #[serde(default)]
    credentials_version: u64,
}

impl From<&User> for UserItem {
    fn from(u: &User) -> Self {
        UserItem {
            user_id: u.id.0.clone(),
            email: u.email.as_str().to_owned(),
            password_hash: u.password_hash.clone(),
            phone: u.phone.as_e164().to_owned(),
            phone_verified: u.phone_verified,
            created_at: u.created_at,
            tokens_valid_after: u.tokens_valid_after,
            kept_session: u.kept_session.clone(),
            credentials_version: u.credentials_version,
        }
    }
}

impl UserItem {
    fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: UserId(self.user_id),
            email: Email::parse(&self.email).map_err(|_| StoreError::Corrupt("stored email".into()))?,
            password_hash: self.password_hash,
            phone: Phone::from_trusted(self.phone),
            phone_verified: self.phone_verified,
            created_at: self.created_at,
            tokens_valid_after: self.tokens_valid_after,
            kept_session: self.kept_session,
            credentials_version: self.credentials_version,
        })
    }
}

/// Claims an email for one account. `verified` mirrors the account's `phone_verified`, so a
/// registration can take over an email whose sign-up was never finished.
#[derive(Serialize, Deserialize)]
struct EmailGuard {
    user_id: String,
    verified: bool,
    #[serde(default)]
    created_at: UnixTime,
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<CreateUser> {
        let guard = EmailGuard { user_id: user.id.0.clone(), verified: false, created_at: user.created_at };
        let user_put = || self.put(to_item(user_key(&user.id), &UserItem::from(user)), Some("attribute_not_exists(pk)"), &[]);
        let claim_free = || self.put(to_item(email_key(&user.email), &guard), Some("attribute_not_exists(pk)"), &[]);
        // A new email, the common case, in one call; the guard is read only when it is held.
        if self.transact(vec![user_put(), claim_free()]).await? {
            return Ok(CreateUser::Created);
        }
        let mut items = vec![user_put()];
        match self.get_as::<EmailGuard>(email_key(&user.email)).await? {
            // Our own claim: an attempt the SDK retried after a lost answer had committed.
            Some(ours) if ours.user_id == user.id.0 => return Ok(CreateUser::Created),
            Some(existing) if existing.verified || !is_abandoned(existing.created_at, user.created_at) => {
                return Ok(CreateUser::EmailTaken)
            }
            Some(stale) => {
                // Replace the unfinished sign-up, only if nobody finished or replaced it meanwhile.
                items.push(self.put(
                    to_item(email_key(&user.email), &guard),
                    Some("user_id = :old AND verified = :no"),
                    &[(":old", s(&stale.user_id)), (":no", AttributeValue::Bool(false))],
                ));
                items.push(self.delete(
                    user_key(&UserId(stale.user_id)),
                    "attribute_not_exists(pk) OR phone_verified = :no",
                    &[(":no", AttributeValue::Bool(false))],
                ));
            }
            // Its holder was removed meanwhile (an undone sign-up): claim it as free.
            None => items.push(claim_free()),
        }
        // A lost race means another registration of this email won: exactly one account remains.
        Ok(if self.transact(items).await? { CreateUser::Created } else { CreateUser::EmailTaken })
    }

    async fn delete_unverified(&self, user: &User) -> StoreResult<()> {
        let no = (":no", AttributeValue::Bool(false));
        let id = (":id", s(&user.id.0));
        // False when the account got verified or replaced meanwhile: then there is nothing to undo.
        self.transact(vec![
            self.delete(user_key(&user.id), "phone_verified = :no", std::slice::from_ref(&no)),
            self.delete(email_key(&user.email), "user_id = :id AND verified = :no", &[id, no]),
        ])
        .await?;
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        match self.get_as::<EmailGuard>(email_key(email)).await? {
            Some(guard) => UserStore::get(self, &UserId(guard.user_id)).await,
            None => Ok(None),
        }
    }

    async fn get(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.get_as::<UserItem>(user_key(id)).await?.map(UserItem::into_user).transpose()
    }

    async fn set_verified_phone(&self, user: &User, phone: &Phone) -> StoreResult<bool> {
        let id = (":id", s(&user.id.0));
        let yes = (":yes", AttributeValue::Bool(true));
        let user_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            .update_expression("SET phone = :phone, phone_verified = :yes")
            .condition_expression(same_credentials(user, "user_id = :id"))
            .set_expression_attribute_values(Some(credentials_values(user)))
            .expression_attribute_values(":phone", s(phone.as_e164()))
            .expression_attribute_values(id.0, id.1.clone())
            .expression_attribute_values(yes.0, yes.1.clone())
            .build()
            .expect("update is complete");
        let guard_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(email_key(&user.email)))
            .update_expression("SET verified = :yes")
            .condition_expression("user_id = :id")
            .expression_attribute_values(id.0, id.1)
            .expression_attribute_values(yes.0, yes.1)
            .build()
            .expect("update is complete");
        self.transact(vec![
            TransactWriteItem::builder().update(user_update).build(),
            TransactWriteItem::builder().update(guard_update).build(),
        ])
        .await
    }

    async fn update_credentials(&self, change: &CredentialChange<'_>) -> StoreResult<bool> {
        let mut set = vec!["tokens_valid_after = :now"];
        let mut user_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&change.user.id)))
            // The password read by the use case is still the stored one: no lost update.
            .condition_expression("user_id = :id AND password_hash = :old")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(&change.user.id.0))
            .expression_attribute_values(":old", s(&change.user.password_hash))
            .expression_attribute_values(":now", n(change.now));
        if let Some(hash) = change.new_password_hash {
            set.push("password_hash = :new");
            user_update = user_update.expression_attribute_values(":new", s(hash));
        }
        let expression = match change.keep_session {
            Some(sid) => {
                set.push("kept_session = :kept");
                user_update = user_update.expression_attribute_values(":kept", s(sid));
                format!("SET {} ADD credentials_version :one", set.join(", "))
            }
            None => format!("SET {} REMOVE kept_session ADD credentials_version :one", set.join(", ")),
        };
        let mut items = vec![TransactWriteItem::builder()
            .update(user_update.update_expression(expression).build().expect("update is complete"))
            .build()];
        if let Some(id) = change.consume {
            let consume = Update::builder()
                .table_name(&self.table)
                .key("pk", s(challenge_key(id)))
                .update_expression("SET #status = :used")
                .condition_expression("#status = :pending AND expires_at > :now")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":used", s("used"))
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":now", n(change.now))
                .build()
                .expect("update is complete");
            items.push(TransactWriteItem::builder().update(consume).build());
        }
        if let Some((key, window)) = change.clear_limit {
            let (start, _) = fixed_window(change.now, window);
            let delete = Delete::builder().table_name(&self.table).key("pk", s(format!("RATE#{key}#{start}"))).build().expect("key is set");
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        // Families beyond one transaction's room are revoked right after it; tokens_valid_after,
        // set inside it, already stops their refresh tokens.
        let room = MAX_TRANSACTION_ITEMS - items.len();
        let (now_revoked, later) = change.revoke_families.split_at(room.min(change.revoke_families.len()));
        for family in now_revoked {
            let mut marker = Item::new();
            marker.insert("pk".into(), s(revoked_key(family)));
            marker.insert("expires_at".into(), n(change.revoked_until));
            items.push(self.put(marker, None, &[]));
        }
        for attempt in 0..3u64 {
            if self.transact(items.clone()).await? {
                for family in later {
                    SessionStore::revoke_family(self, family, change.revoked_until).await?;
                }
                return Ok(true);
            }
            // Cancelled: a condition failed, or DynamoDB cancelled it for colliding with another
            // transaction in flight on the same items. Only the latter is worth another try.
            if let Some(id) = change.consume {
                match ChallengeStore::get(self, id).await? {
                    Some(c) if c.is_live(change.now) => {}
                    _ => return Ok(false),
                }
            }
            match UserStore::get(self, &change.user.id).await? {
                Some(u) if u.password_hash == change.user.password_hash => {}
                _ => return Ok(false),
            }
            tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
        }
        Ok(false)
    }

    async fn delete_account(&self, user: &User) -> StoreResult<bool> {
        // What names the user but the user and email items goes first: should this stop
        // halfway, the account still exists and deleting it again finishes the job.
        let owned = self.items_of(&user.id).await?;
        let mut phones = vec![user.phone.clone()];
        for (pk, _, phone) in owned {
            if pk.starts_with("USER#") || pk.starts_with("EMAIL#") {
                continue;
            }
            if pk.starts_with("CHALLENGE#") {
                phones.extend(phone.map(Phone::from_trusted));
            }
            self.delete_key(pk).await?;
        }
        phones.sort_by(|a, b| a.as_e164().cmp(b.as_e164()));
        phones.dedup();
        for phone in &phones {
            self.delete_key(pending_ref_key(phone)).await?;
        }
        let id = (":id", s(&user.id.0));
        self.transact(vec![
            self.delete(user_key(&user.id), "user_id = :id", std::slice::from_ref(&id)),
            self.delete(email_key(&user.email), "user_id = :id", std::slice::from_ref(&id)),
        ])
        .await
    }
}

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
        let count = self.get_as::<Counter>(format!("RATE#{key}#{start}")).await?.map_or(0, |c| c.count);
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
            .key("pk", s(format!("RATE#{key}#{start}")))
            .update_expression("ADD #count :minus_one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0));
        self.update_if(request).await?;
        Ok(())
    }
}

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
}

impl RefreshItem {
    fn record(&self, token_hash: &str) -> RefreshRecord {
        RefreshRecord {
            token_hash: token_hash.to_owned(),
            family_id: self.family_id.clone(),
            user_id: UserId(self.user_id.clone()),
            amr: self.amr.clone(),
            expires_at: self.expires_at,
        }
    }
}

fn refresh_key(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

fn revoked_key(family: &str) -> String {
    format!("REVOKED#{family}")
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
    async fn start_family(&self, first: &RefreshRecord) -> StoreResult<()> {
        // A plain conditional put: a one-item transaction would cost twice the write units.
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(refresh_key(&first.token_hash), &self.refresh_item(first))))
            .condition_expression("attribute_not_exists(pk)");
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                // The item is there: ours if the SDK resent a put whose answer was lost.
                match self.get_as::<RefreshItem>(refresh_key(&first.token_hash)).await? {
                    Some(item) if item.family_id == first.family_id && item.user_id == first.user_id.0 => Ok(()),
                    _ => Err(StoreError::Unavailable("refresh token collision".into())),
                }
            }
            Err(e) => Err(unavailable(e)),
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

    async fn revoke_family(&self, family_id: &str, expires_at: UnixTime) -> StoreResult<()> {
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

mod factors;
