//! Accounts: the user item and the email guard that keeps an email unique, both written in one
//! transaction; a credential change also writes a challenge, a counter and revocation markers
//! (the other families' keys) in the same transaction.

use super::{
    challenge_key, email_key, n, pending_ref_key, rate_key, revoked_key, s, to_item, user_key, user_list::LISTED, DynamoStore, Item,
    MAX_TRANSACTION_ITEMS,
};
use crate::{
    domain::{Email, LifecycleEvent, Phone, Roles, UnixTime, User, UserCursor, UserId},
    error::StoreError,
    ports::{fixed_window, is_abandoned, ChallengeStore, CreateUser, CredentialChange, SessionStore, StoreResult, UserStore},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{builders::UpdateBuilder, AttributeValue, Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, time::Duration};

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

#[derive(Serialize, Deserialize)]
pub(super) struct UserItem {
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
    #[serde(default)]
    devices_version: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_sign_in_at: Option<UnixTime>,
    /// The users index's partition key: every user item carries it (user_list.rs).
    #[serde(default = "listed")]
    listed: String,
}

fn listed() -> String {
    LISTED.to_owned()
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
            devices_version: u.devices_version,
            roles: u.roles.names(),
            disabled: u.disabled,
            last_sign_in_at: u.last_sign_in_at,
            listed: listed(),
        }
    }
}

impl UserItem {
    pub(super) fn into_user(self) -> StoreResult<User> {
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
            devices_version: self.devices_version,
            roles: Roles::from_trusted(self.roles),
            disabled: self.disabled,
            last_sign_in_at: self.last_sign_in_at,
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

    async fn set_verified_phone(&self, user: &User, phone: &Phone, event: &LifecycleEvent) -> StoreResult<bool> {
        let id = (":id", s(&user.id.0));
        let yes = (":yes", AttributeValue::Bool(true));
        let user_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            // A newly verified number forgets every remembered device.
            .update_expression("SET phone = :phone, phone_verified = :yes ADD devices_version :one")
            .condition_expression(same_credentials(user, "user_id = :id"))
            .set_expression_attribute_values(Some(credentials_values(user)))
            .expression_attribute_values(":phone", s(phone.as_e164()))
            .expression_attribute_values(":one", n(1))
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
            self.outbox_put(event),
        ])
        .await
    }

    async fn update_credentials(&self, change: &CredentialChange<'_>) -> StoreResult<bool> {
        let mut set = vec!["tokens_valid_after = :now", "listed = :listed"];
        let mut user_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&change.user.id)))
            // The password and credentials version read by the use case are still the stored
            // ones: no lost update, and no change made under credentials another change ended.
            .condition_expression(same_credentials(change.user, "user_id = :id AND password_hash = :old"))
            .expression_attribute_values(":version", n(change.user.credentials_version))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(&change.user.id.0))
            .expression_attribute_values(":old", s(&change.user.password_hash))
            .expression_attribute_values(":now", n(change.now))
            .expression_attribute_values(":listed", s(LISTED));
        if change.disable {
            set.push("disabled = :disabled");
            user_update = user_update.expression_attribute_values(":disabled", AttributeValue::Bool(true));
        }
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
        items.push(self.outbox_put(change.event));
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
            let delete = Delete::builder().table_name(&self.table).key("pk", s(rate_key(key, start))).build().expect("key is set");
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
                    SessionStore::revoke_family(self, family, change.revoked_until, None).await?;
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
                Some(u) if u.password_hash == change.user.password_hash && u.credentials_version == change.user.credentials_version => {}
                _ => return Ok(false),
            }
            tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
        }
        Ok(false)
    }

    async fn delete_account(&self, user: &User, event: &LifecycleEvent) -> StoreResult<bool> {
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
            self.outbox_put(event),
        ])
        .await
    }

    async fn find_by_phone(&self, phone: &Phone) -> StoreResult<Vec<User>> {
        self.users_with_phone(phone).await
    }

    async fn list_users(&self, after: Option<&UserCursor>, limit: usize) -> StoreResult<(Vec<User>, Option<UserCursor>)> {
        self.user_page(after, limit).await
    }

    async fn set_roles(&self, id: &UserId, roles: &Roles, event: &LifecycleEvent) -> StoreResult<Option<User>> {
        let names: Vec<AttributeValue> = roles.iter().map(|r| s(r.as_str())).collect();
        let update = Update::builder().table_name(&self.table).key("pk", s(user_key(id))).condition_expression("attribute_exists(pk)");
        let update = if names.is_empty() {
            update.update_expression("SET listed = :listed REMOVE #roles")
        } else {
            update
                .update_expression("SET #roles = :roles, listed = :listed")
                .expression_attribute_values(":roles", AttributeValue::L(names))
        };
        let update = update.expression_attribute_names("#roles", "roles").expression_attribute_values(":listed", s(LISTED));
        self.update_user_with_event(id, update, event).await
    }

    async fn enable(&self, id: &UserId, event: &LifecycleEvent) -> StoreResult<Option<User>> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET disabled = :no, listed = :listed")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":listed", s(LISTED));
        self.update_user_with_event(id, update, event).await
    }

    async fn record_sign_in(&self, id: &UserId, at: UnixTime) -> StoreResult<()> {
        // Also the moment an account stored before the users index joins it (`listed`).
        let request = self
            .client
            .update_item()
            .key("pk", s(user_key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET last_sign_in_at = :at, listed = :listed")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":listed", s(LISTED));
        self.update_if(request).await?;
        Ok(())
    }
}

impl DynamoStore {
    /// An administrator's change of a user item and its lifecycle event, in one transaction
    /// (a transaction returns no item: the user is read back). None when the account is gone.
    async fn update_user_with_event(&self, id: &UserId, update: UpdateBuilder, event: &LifecycleEvent) -> StoreResult<Option<User>> {
        let update = update.build().map_err(|e| StoreError::Corrupt(format!("user update: {e}")))?;
        if !self.transact(vec![TransactWriteItem::builder().update(update).build(), self.outbox_put(event)]).await? {
            return Ok(None);
        }
        UserStore::get(self, id).await
    }
}
