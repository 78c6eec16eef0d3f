//! Remembered devices: one `DEVICE#<user id>#<slot>` item per slot of an account (at most
//! `MAX_DEVICES`), read all at once with one BatchGetItem. A sign-in with a device spends its
//! token in one transaction: the device's conditional update (this token, unexpired) and a
//! condition check that the account still has the versions the device was made under. The
//! item names the user (`user_id`), so the `by_user` index finds it for an account deletion.

use super::{device_key, from_item, n, s, to_item, unavailable, user_key, DynamoStore, Item};
use crate::{
    domain::{Device, DeviceId, UnixTime, UserId, MAX_DEVICES},
    ports::{DeviceStore, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    types::{AttributeValue, ConditionCheck, KeysAndAttributes, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct DeviceItem {
    user_id: String,
    device_id: String,
    slot: u8,
    token_hash: String,
    #[serde(default)]
    spent: Vec<String>,
    label: String,
    created_at: UnixTime,
    last_used_at: UnixTime,
    /// Also the table's TTL attribute: DynamoDB removes the item some time after it.
    expires_at: UnixTime,
    #[serde(default)]
    credentials_version: u64,
    #[serde(default)]
    devices_version: u64,
}

impl From<&Device> for DeviceItem {
    fn from(d: &Device) -> Self {
        DeviceItem {
            user_id: d.user_id.0.clone(),
            device_id: d.id.0.clone(),
            slot: d.slot,
            token_hash: d.token_hash.clone(),
            spent: d.spent.clone(),
            label: d.label.clone(),
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            expires_at: d.expires_at,
            credentials_version: d.credentials_version,
            devices_version: d.devices_version,
        }
    }
}

impl From<DeviceItem> for Device {
    fn from(i: DeviceItem) -> Self {
        Device {
            id: DeviceId(i.device_id),
            user_id: UserId(i.user_id),
            slot: i.slot,
            token_hash: i.token_hash,
            spent: i.spent,
            label: i.label,
            created_at: i.created_at,
            last_used_at: i.last_used_at,
            expires_at: i.expires_at,
            credentials_version: i.credentials_version,
            devices_version: i.devices_version,
        }
    }
}

/// `attribute = :value`, where version 0 also matches an account stored before the attribute existed.
fn version_is(attribute: &str, value: u64, placeholder: &str) -> String {
    if value == 0 {
        format!("(attribute_not_exists({attribute}) OR {attribute} = {placeholder})")
    } else {
        format!("{attribute} = {placeholder}")
    }
}

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn devices_of(&self, user: &UserId) -> StoreResult<Vec<Device>> {
        let keys: Vec<Item> = (0..MAX_DEVICES).map(|slot| Item::from([("pk".to_owned(), s(device_key(user, slot)))])).collect();
        let mut pending = Some(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().expect("keys are set"));
        let mut devices = Vec::new();
        // UnprocessedKeys (throttling) are asked for again; ten small items normally come at once.
        for attempt in 0..5u64 {
            let Some(request) = pending.take() else { break };
            let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(unavailable)?;
            for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                devices.push(Device::from(from_item::<DeviceItem>(item)?));
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await;
            }
        }
        if pending.is_some() {
            return Err(crate::error::StoreError::Unavailable("device slots still unprocessed after retries".into()));
        }
        devices.sort_by_key(|d| d.slot);
        Ok(devices)
    }

    async fn device(&self, user: &UserId, slot: u8) -> StoreResult<Option<Device>> {
        Ok(self.get_as::<DeviceItem>(device_key(user, slot)).await?.map(Device::from))
    }

    async fn put_device(&self, device: &Device, replacing: Option<&DeviceId>) -> StoreResult<bool> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(device_key(&device.user_id, device.slot), &DeviceItem::from(device))));
        request = match replacing {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(old) => request.condition_expression("device_id = :old").expression_attribute_values(":old", s(&old.0)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn rotate_device(&self, device: &Device, new_hash: &str, spent: &[String], now: UnixTime) -> StoreResult<bool> {
        let spend = Update::builder()
            .table_name(&self.table)
            .key("pk", s(device_key(&device.user_id, device.slot)))
            .update_expression("SET token_hash = :new, spent = :spent, last_used_at = :now")
            .condition_expression("device_id = :id AND token_hash = :old AND expires_at > :now")
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":spent", AttributeValue::L(spent.iter().map(s).collect()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":id", s(&device.id.0))
            .expression_attribute_values(":old", s(&device.token_hash))
            .build()
            .expect("update is complete");
        // The account still has the versions the device was made under: a reset, a password or
        // phone change, an authenticator added or removed, a global logout landing meanwhile
        // cancels the sign-in.
        let condition = format!(
            "user_id = :user AND {} AND {}",
            version_is("credentials_version", device.credentials_version, ":cv"),
            version_is("devices_version", device.devices_version, ":dv")
        );
        let account = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&device.user_id)))
            .condition_expression(condition)
            .expression_attribute_values(":user", s(&device.user_id.0))
            .expression_attribute_values(":cv", n(device.credentials_version))
            .expression_attribute_values(":dv", n(device.devices_version))
            .build()
            .expect("check is complete");
        // Cancelled: the token was spent first, the account changed, or (real DynamoDB) the
        // transaction collided with another on the device; none of them may skip the code.
        self.transact(vec![
            TransactWriteItem::builder().update(spend).build(),
            TransactWriteItem::builder().condition_check(account).build(),
        ])
        .await
    }

    async fn forget_device(&self, user: &UserId, slot: u8, id: &DeviceId) -> StoreResult<bool> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(device_key(user, slot)))
            .condition_expression("device_id = :id")
            .expression_attribute_values(":id", s(&id.0));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
