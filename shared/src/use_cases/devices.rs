//! Remembered devices (API.md v3): remembering one after a second factor, signing in with one
//! (the password always, then the device instead of a code, its token rotated), and the holder's
//! list and "forget". A spent token that comes back forgets its device (whoever presented it
//! first, someone else holds a copy). Garbage, foreign, expired and spent tokens never fail a
//! login: they only fail to skip the code.

use super::{sessions::TokenPair, AuthService, Caller, Holder};
use crate::{domain::*, error::AuthError};
use serde::Serialize;

/// Tokens issued by a sign-in, with the remembered device when there is one.
#[derive(Debug, Serialize)]
pub struct SignedIn {
    #[serde(flatten)]
    pub tokens: TokenPair,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceGrant>,
}

/// What a login answers: a challenge (a code to enter), or tokens at once (a remembered device).
#[derive(Debug)]
pub enum LoginAnswer {
    Challenge {
        challenge: super::ChallengeView,
        /// A device token came with the right password and did not skip the code: the hosted
        /// pages' cookie holding it is of no further use.
        device_refused: bool,
    },
    SignedIn(SignedIn),
}

/// `remember_device` on verify: where the device is (its User-Agent, for the label).
#[derive(Clone, Debug, Default)]
pub struct RememberDevice {
    pub user_agent: Option<String>,
}

/// How many times a slot is chosen again when racing sign-ins of one account take it first.
const SLOT_TRIES: usize = 3;

impl AuthService {
    /// Whether the feature is on (`REMEMBERED_DEVICE_DAYS` > 0), and the lifetime.
    fn device_lifetime(&self) -> Option<i64> {
        self.limits.remembered_device_lifetime.map(|d| d.as_secs() as i64)
    }

    /// Remembers the device a second factor was just passed on. Best effort: a failure is
    /// logged and the sign-in goes on without a device (the next login asks for a code).
    pub(super) async fn remember_device(&self, user: &User, remember: &RememberDevice, caller: &Caller) -> Option<DeviceGrant> {
        self.device_lifetime()?;
        match self.try_remember_device(user, remember, caller).await {
            Ok(grant) => Some(grant),
            Err(err) => {
                tracing::error!(error = %err, user = %user.id.0, "could not remember the device");
                None
            }
        }
    }

    async fn try_remember_device(&self, user: &User, remember: &RememberDevice, caller: &Caller) -> Result<DeviceGrant, AuthError> {
        let lifetime = self.device_lifetime().ok_or_else(|| AuthError::internal("remembered devices are off"))?;
        for _ in 0..SLOT_TRIES {
            let now = self.now();
            let devices = self.ports.devices.devices_of(&user.id).await?;
            let (slot, replacing) = free_slot(&devices, user, now);
            let token = DeviceToken::generate(slot)?;
            let device = Device {
                id: DeviceId::new(),
                user_id: user.id.clone(),
                slot,
                token_hash: token.hash(),
                spent: Vec::new(),
                label: device_label(remember.user_agent.as_deref()),
                created_at: now,
                last_used_at: now,
                expires_at: now + lifetime,
                credentials_version: user.credentials_version,
                devices_version: user.devices_version,
            };
            if self.ports.devices.put_device(&device, replacing.as_ref()).await? {
                self.record(EventKind::DeviceRemembered, Subject::of(user, caller));
                return Ok(DeviceGrant { id: device.id, token: Some(token.text()), expires_in: lifetime });
            }
        }
        Err(AuthError::internal("every device slot was taken by racing sign-ins"))
    }

    /// Login's device step, after the password proved right: tokens at once when `presented`
    /// is the live token of a live device of `user` and this request spent it; None otherwise
    /// (the login goes on with a challenge).
    pub(super) async fn sign_in_with_device(&self, user: &User, presented: &str, caller: &Caller) -> Result<Option<SignedIn>, AuthError> {
        if self.device_lifetime().is_none() {
            return Ok(None);
        }
        let Some(token) = DeviceToken::parse(presented) else { return Ok(None) };
        // A token of another account names a slot of this one, where its hash is unknown.
        let Some(device) = self.ports.devices.device(&user.id, token.slot()).await? else { return Ok(None) };
        let now = self.now();
        if !device.holds(&token) {
            if device.has_spent(&token) {
                self.forget_spent(&device, caller).await?;
            }
            return Ok(None);
        }
        if !device.is_live_for(user, now) {
            return Ok(None);
        }
        let next = DeviceToken::generate(token.slot())?;
        // The one conditional write: of racing logins with this token, at most one gets here.
        if !self.ports.devices.rotate_device(&device, &next.hash(), &device.spent_after_rotation(), now).await? {
            // Spent by another request meanwhile: that is a spent token presented again.
            if let Some(current) = self.ports.devices.device(&user.id, token.slot()).await? {
                if current.id == device.id && current.has_spent(&token) {
                    self.forget_spent(&current, caller).await?;
                }
            }
            return Ok(None);
        }
        let amr = ["pwd", "mfa", REMEMBERED_DEVICE_AMR].map(String::from).to_vec();
        let tokens = self.sessions.start(user, amr, Some(LifecycleChange::SignedIn { client_id: None })).await?;
        tracing::info!(user = %user.id.0, device = %device.id.0, "signed in with a remembered device");
        self.record(EventKind::DeviceUsed, Subject::of(user, caller));
        let grant = DeviceGrant { id: device.id, token: Some(next.text()), expires_in: (device.expires_at - now).max(0) };
        Ok(Some(SignedIn { tokens, device: Some(grant) }))
    }

    /// A spent token came back: someone holds a copy, so the device is forgotten (its newer
    /// token too).
    async fn forget_spent(&self, device: &Device, caller: &Caller) -> Result<(), AuthError> {
        if self.ports.devices.forget_device(&device.user_id, device.slot, &device.id).await? {
            tracing::warn!(user = %device.user_id.0, device = %device.id.0, "spent device token presented again: device forgotten");
            let subject = Subject { user_id: Some(device.user_id.clone()), ..Subject::caller(caller) };
            self.record(EventKind::DeviceSpentTokenReturned, subject);
        }
        Ok(())
    }

    /// `GET /me/devices`: the account's live devices, newest first (none while the feature is off).
    pub async fn devices(&self, holder: &Holder) -> Result<Vec<DeviceView>, AuthError> {
        if self.device_lifetime().is_none() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut devices: Vec<Device> =
            self.ports.devices.devices_of(&holder.user.id).await?.into_iter().filter(|d| d.is_live_for(&holder.user, now)).collect();
        devices.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.slot.cmp(&b.slot)));
        Ok(devices.iter().map(DeviceView::from).collect())
    }

    /// `DELETE /me/devices/{id}`: 404 `not_found` for an id that is not a live device of the account.
    pub async fn forget_device(&self, holder: &Holder, id: &str, caller: &Caller) -> Result<(), AuthError> {
        let now = self.now();
        let devices = self.ports.devices.devices_of(&holder.user.id).await?;
        let device = devices.into_iter().find(|d| d.id.0 == id && d.is_live_for(&holder.user, now)).ok_or(AuthError::NotFound)?;
        if !self.ports.devices.forget_device(&holder.user.id, device.slot, &device.id).await? {
            return Err(AuthError::NotFound); // forgotten or replaced meanwhile
        }
        self.record(EventKind::DeviceForgotten, Subject::of(&holder.user, caller));
        Ok(())
    }
}

/// The slot a new device takes, and the device it replaces there: an empty slot first, then one
/// whose device is dead (expired, forgotten by a credential change), else the oldest live one.
fn free_slot(devices: &[Device], user: &User, now: UnixTime) -> (u8, Option<DeviceId>) {
    if let Some(empty) = (0..MAX_DEVICES).find(|slot| devices.iter().all(|d| d.slot != *slot)) {
        return (empty, None);
    }
    let victim = devices
        .iter()
        .min_by_key(|d| (d.is_live_for(user, now), d.created_at, d.slot))
        .expect("every slot holds a device when none is empty");
    (victim.slot, Some(victim.id.clone()))
}
