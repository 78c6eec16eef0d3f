//! In-memory implementations of the ports, with the same semantics as the DynamoDB adapter
//! (each operation atomic under one lock): for unit tests of the use cases and for benches.

use crate::{domain::*, error::StoreError, ports::*};
use async_trait::async_trait;
use std::{collections::HashMap, sync::Mutex, time::Duration};

type StoredRefresh = (RefreshRecord, Option<UnixTime>, Option<String>);

#[derive(Default)]
pub struct MemoryStore {
    users: Mutex<HashMap<UserId, User>>,
    emails: Mutex<HashMap<Email, UserId>>,
    challenges: Mutex<HashMap<ChallengeId, Challenge>>,
    counters: Mutex<HashMap<String, u32>>,
    pending_refs: Mutex<HashMap<Phone, (String, UnixTime)>>,
    /// token hash → (record, spent at, sealed successor)
    refresh: Mutex<HashMap<String, StoredRefresh>>,
    revoked: Mutex<HashMap<String, UnixTime>>,
    factors: Mutex<HashMap<UserId, FactorRecord>>,
    /// (account, slot) → device
    devices: Mutex<HashMap<(UserId, u8), Device>>,
    /// Lifecycle events written with their change, in order (the outbox items).
    outbox: Mutex<Vec<LifecycleEvent>>,
    /// code hash → (code, the family its first redemption reserved)
    codes: Mutex<HashMap<String, (AuthorizationCode, Option<String>)>>,
    sso: Mutex<HashMap<String, SsoSession>>,
}

impl MemoryStore {
    pub fn challenge_count(&self) -> usize {
        self.challenges.lock().unwrap().len()
    }

    pub fn user_count(&self) -> usize {
        self.users.lock().unwrap().len()
    }

    /// Whether any stored item other than a rate-limit counter still names `needle` (a user
    /// id, an email or a phone): what an account deletion must leave behind is nothing.
    pub fn mentions(&self, needle: &str) -> bool {
        let users = self.users.lock().unwrap();
        let in_users = users.values().any(|u| u.id.0 == needle || u.email.as_str() == needle || u.phone.as_e164() == needle);
        let in_emails = self.emails.lock().unwrap().iter().any(|(e, id)| e.as_str() == needle || id.0 == needle);
        let in_challenges = self.challenges.lock().unwrap().values().any(|c| c.user_id.0 == needle || c.phone.as_e164() == needle);
        let in_refresh = self.refresh.lock().unwrap().values().any(|(r, _, _)| r.user_id.0 == needle);
        let in_pending = self.pending_refs.lock().unwrap().keys().any(|p| p.as_e164() == needle);
        let in_devices = self.devices.lock().unwrap().values().any(|d| d.user_id.0 == needle);
        let in_oauth = self.codes.lock().unwrap().values().any(|(c, _)| c.user_id.0 == needle)
            || self.sso.lock().unwrap().values().any(|s| s.user_id.0 == needle);
        in_users || in_emails || in_challenges || in_refresh || in_pending || in_devices || in_oauth
    }

    /// The outbox: every lifecycle event written so far, in order.
    pub fn outbox(&self) -> Vec<LifecycleEvent> {
        self.outbox.lock().unwrap().clone()
    }

    /// Writes an outbox item; the same event again writes nothing (a put keyed by its id).
    fn write_event(&self, event: &LifecycleEvent) {
        let mut outbox = self.outbox.lock().unwrap();
        if !outbox.iter().any(|e| e.event_id == event.event_id) {
            outbox.push(event.clone());
        }
    }

    /// The account's devices as stored (live or not), for tests.
    pub fn device_count(&self, user: &UserId) -> usize {
        self.devices.lock().unwrap().keys().filter(|(u, _)| u == user).count()
    }

    /// Moves the account's `devices_version` on (factor changes), with the users already locked.
    fn bump_devices_version(users: &mut HashMap<UserId, User>, user: &UserId) {
        if let Some(stored) = users.get_mut(user) {
            stored.devices_version += 1;
        }
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &User) -> StoreResult<CreateUser> {
        let mut users = self.users.lock().unwrap();
        let mut emails = self.emails.lock().unwrap();
        if let Some(holder) = emails.get(&user.email) {
            // Our own claim: a registration sent again after it landed (DynamoDB: the SDK's retry).
            if *holder == user.id {
                return Ok(CreateUser::Created);
            }
            if users.get(holder).is_some_and(|u| u.phone_verified || !is_abandoned(u.created_at, user.created_at)) {
                return Ok(CreateUser::EmailTaken);
            }
            users.remove(holder);
        }
        emails.insert(user.email.clone(), user.id.clone());
        users.insert(user.id.clone(), user.clone());
        Ok(CreateUser::Created)
    }

    async fn delete_unverified(&self, user: &User) -> StoreResult<()> {
        let mut users = self.users.lock().unwrap();
        if users.get(&user.id).is_some_and(|u| !u.phone_verified) {
            users.remove(&user.id);
            self.emails.lock().unwrap().remove(&user.email);
        }
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let id = self.emails.lock().unwrap().get(email).cloned();
        Ok(id.and_then(|id| self.users.lock().unwrap().get(&id).cloned()))
    }

    async fn get(&self, id: &UserId) -> StoreResult<Option<User>> {
        Ok(self.users.lock().unwrap().get(id).cloned())
    }

    async fn set_verified_phone(&self, user: &User, phone: &Phone, event: &LifecycleEvent) -> StoreResult<bool> {
        Ok(match self.users.lock().unwrap().get_mut(&user.id) {
            Some(stored) if stored.credentials_version == user.credentials_version => {
                stored.phone = phone.clone();
                stored.phone_verified = true;
                stored.devices_version += 1;
                self.write_event(event);
                true
            }
            _ => false,
        })
    }

    async fn update_credentials(&self, change: &CredentialChange<'_>) -> StoreResult<bool> {
        // Every lock first (in the order the other methods take them): one atomic step.
        let mut users = self.users.lock().unwrap();
        let mut challenges = self.challenges.lock().unwrap();
        let mut counters = self.counters.lock().unwrap();
        let mut revoked = self.revoked.lock().unwrap();
        let read_with =
            |u: &&mut User| u.password_hash == change.user.password_hash && u.credentials_version == change.user.credentials_version;
        let Some(stored) = users.get_mut(&change.user.id).filter(read_with) else {
            return Ok(false);
        };
        if let Some(id) = change.consume {
            match challenges.get_mut(id) {
                Some(c) if c.is_live(change.now) => c.status = ChallengeStatus::Used,
                _ => return Ok(false),
            }
        }
        if let Some(hash) = change.new_password_hash {
            stored.password_hash = hash.to_owned();
        }
        stored.tokens_valid_after = change.now;
        stored.kept_session = change.keep_session.map(str::to_owned);
        stored.credentials_version += 1;
        stored.disabled |= change.disable;
        if let Some((key, window)) = change.clear_limit {
            counters.remove(&window_key(key, window, change.now).0);
        }
        for family in change.revoke_families {
            revoked.insert(family.clone(), change.revoked_until);
        }
        self.write_event(change.event);
        Ok(true)
    }

    async fn delete_account(&self, user: &User, event: &LifecycleEvent) -> StoreResult<bool> {
        let mut users = self.users.lock().unwrap();
        let mut emails = self.emails.lock().unwrap();
        let mut challenges = self.challenges.lock().unwrap();
        let mut refresh = self.refresh.lock().unwrap();
        let mut pending = self.pending_refs.lock().unwrap();
        let Some(stored) = users.remove(&user.id) else {
            return Ok(false);
        };
        if emails.get(&stored.email) == Some(&stored.id) {
            emails.remove(&stored.email);
        }
        pending.remove(&stored.phone);
        challenges.retain(|_, c| {
            if c.user_id == stored.id {
                pending.remove(&c.phone);
            }
            c.user_id != stored.id
        });
        refresh.retain(|_, (r, _, _)| r.user_id != stored.id);
        self.factors.lock().unwrap().remove(&stored.id);
        self.devices.lock().unwrap().retain(|(u, _), _| *u != stored.id);
        self.codes.lock().unwrap().retain(|_, (c, _)| c.user_id != stored.id);
        self.sso.lock().unwrap().retain(|_, s| s.user_id != stored.id);
        self.write_event(event);
        Ok(true)
    }

    async fn find_by_phone(&self, phone: &Phone) -> StoreResult<Vec<User>> {
        let mut found: Vec<User> = self.users.lock().unwrap().values().filter(|u| u.phone == *phone).cloned().collect();
        found.sort_by(|a, b| a.id.0.cmp(&b.id.0));
        Ok(found)
    }

    async fn list_users(&self, after: Option<&UserCursor>, limit: usize) -> StoreResult<(Vec<User>, Option<UserCursor>)> {
        // The users index's order: phone, then the table key.
        let position = |u: &User| (u.phone.as_e164().to_owned(), u.id.0.clone());
        let mut all: Vec<User> = self.users.lock().unwrap().values().cloned().collect();
        all.sort_by_key(position);
        let start = after.map(|c| (c.phone.clone(), c.user_id.0.clone()));
        let mut page: Vec<User> = all.into_iter().filter(|u| start.as_ref().is_none_or(|s| position(u) > *s)).take(limit + 1).collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let next = page.last().filter(|_| more).map(|u| UserCursor { phone: u.phone.as_e164().to_owned(), user_id: u.id.clone() });
        Ok((page, next))
    }

    async fn set_roles(&self, id: &UserId, roles: &Roles, event: &LifecycleEvent) -> StoreResult<Option<User>> {
        let updated = self.users.lock().unwrap().get_mut(id).map(|u| {
            u.roles = roles.clone();
            u.clone()
        });
        if updated.is_some() {
            self.write_event(event);
        }
        Ok(updated)
    }

    async fn enable(&self, id: &UserId, event: &LifecycleEvent) -> StoreResult<Option<User>> {
        let updated = self.users.lock().unwrap().get_mut(id).map(|u| {
            u.disabled = false;
            u.clone()
        });
        if updated.is_some() {
            self.write_event(event);
        }
        Ok(updated)
    }

    async fn record_sign_in(&self, id: &UserId, at: UnixTime) -> StoreResult<()> {
        if let Some(u) = self.users.lock().unwrap().get_mut(id) {
            u.last_sign_in_at = Some(at);
        }
        Ok(())
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn put(&self, challenge: &Challenge) -> StoreResult<()> {
        let mut challenges = self.challenges.lock().unwrap();
        match challenges.get(&challenge.id) {
            None => {
                challenges.insert(challenge.id.clone(), challenge.clone());
                Ok(())
            }
            // The same put sent again writes nothing (a conditional put in DynamoDB).
            Some(stored) if stored.user_id == challenge.user_id && stored.created_at == challenge.created_at => Ok(()),
            Some(_) => Err(StoreError::Unavailable("challenge id collision".into())),
        }
    }

    async fn get(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>> {
        Ok(self.challenges.lock().unwrap().get(id).cloned())
    }

    async fn set_provider_ref(&self, id: &ChallengeId, provider_ref: &str) -> StoreResult<()> {
        if let Some(c) = self.challenges.lock().unwrap().get_mut(id) {
            c.provider_ref = Some(provider_ref.to_owned());
        }
        Ok(())
    }

    async fn pending_ref_for(&self, phone: &Phone, now: UnixTime) -> StoreResult<Option<String>> {
        Ok(self.pending_refs.lock().unwrap().get(phone).filter(|(_, until)| *until > now).map(|(r, _)| r.clone()))
    }

    async fn remember_pending_ref(&self, phone: &Phone, provider_ref: &str, expires_at: UnixTime) -> StoreResult<()> {
        self.pending_refs.lock().unwrap().insert(phone.clone(), (provider_ref.to_owned(), expires_at));
        Ok(())
    }

    async fn count_attempt(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<AttemptOutcome> {
        let mut challenges = self.challenges.lock().unwrap();
        Ok(match challenges.get_mut(id) {
            Some(c) if c.is_live(now) && c.attempts < c.max_attempts => {
                c.attempts += 1;
                AttemptOutcome::Counted { challenge: Box::new(c.clone()) }
            }
            Some(c) if c.is_live(now) => AttemptOutcome::Exhausted,
            _ => AttemptOutcome::Invalid,
        })
    }

    async fn consume(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<bool> {
        let mut challenges = self.challenges.lock().unwrap();
        Ok(match challenges.get_mut(id) {
            Some(c) if c.is_live(now) => {
                c.status = ChallengeStatus::Used;
                true
            }
            _ => false,
        })
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
        let mut challenges = self.challenges.lock().unwrap();
        let Some(c) = challenges.get_mut(id).filter(|c| c.is_live(now)) else {
            return Ok(ResendOutcome::Invalid);
        };
        if c.attempts >= c.max_attempts {
            return Ok(ResendOutcome::Exhausted);
        }
        let ready_at = c.last_sent_at + cooldown.as_secs() as i64;
        if now < ready_at {
            return Ok(ResendOutcome::TooSoon { retry_after: Duration::from_secs((ready_at - now) as u64) });
        }
        c.last_sent_at = now;
        c.expires_at = new_expiry;
        c.channel = channel;
        if let Some(hash) = code_hash {
            c.code_hash = Some(hash.to_owned());
        }
        Ok(ResendOutcome::Ready { challenge: Box::new(c.clone()) })
    }

    async fn release_resend(&self, id: &ChallengeId, claimed_at: UnixTime) -> StoreResult<()> {
        if let Some(c) = self.challenges.lock().unwrap().get_mut(id).filter(|c| c.last_sent_at == claimed_at) {
            c.last_sent_at = 0;
        }
        Ok(())
    }

    async fn delete(&self, id: &ChallengeId) -> StoreResult<()> {
        self.challenges.lock().unwrap().remove(id);
        Ok(())
    }
}

fn window_key(key: &str, length: Duration, now: UnixTime) -> (String, UnixTime) {
    let (start, end) = fixed_window(now, length);
    (format!("{key}#{start}"), end)
}

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn hit(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
        let (key, end) = window_key(key, window, now);
        let mut counters = self.counters.lock().unwrap();
        let count = counters.entry(key).or_default();
        if *count >= limit {
            return Ok(LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now) as u64) });
        }
        *count += 1;
        Ok(LimitOutcome::Allowed)
    }

    async fn is_exhausted(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
        let (key, end) = window_key(key, window, now);
        let count = self.counters.lock().unwrap().get(&key).copied().unwrap_or(0);
        Ok(if count >= limit {
            LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now) as u64) }
        } else {
            LimitOutcome::Allowed
        })
    }

    async fn reserve(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<CheckReservation> {
        let (key, end) = window_key(key, window, now);
        let mut counters = self.counters.lock().unwrap();
        let count = counters.entry(key).or_default();
        if *count >= limit {
            return Ok(CheckReservation::Exceeded { retry_after: Duration::from_secs((end - now).max(1) as u64) });
        }
        *count += 1;
        Ok(CheckReservation::Reserved { remaining: limit - *count })
    }

    async fn release(&self, key: &str, window: Duration, reserved_at: UnixTime) -> StoreResult<()> {
        let (key, _) = window_key(key, window, reserved_at);
        if let Some(count) = self.counters.lock().unwrap().get_mut(&key) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}

/// The pumping guard's two counts of `prefix` in the window of `at`: keys in `counters`.
fn prefix_keys(prefix: DestinationPrefix, rule: &PumpingRule, at: UnixTime) -> (String, String, UnixTime) {
    let (sent, end) = window_key(&format!("pump#sent#{prefix}"), rule.window, at);
    let (completed, _) = window_key(&format!("pump#completed#{prefix}"), rule.window, at);
    (sent, completed, end)
}

#[async_trait]
impl PrefixCounters for MemoryStore {
    async fn count_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, now: UnixTime) -> StoreResult<LimitOutcome> {
        let (sent_key, completed_key, end) = prefix_keys(prefix, rule, now);
        let mut counters = self.counters.lock().unwrap();
        let completed = counters.get(&completed_key).copied().unwrap_or(0);
        let sent = counters.entry(sent_key).or_default();
        if rule.blocks(*sent, completed) {
            return Ok(LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now).max(1) as u64) });
        }
        *sent += 1;
        Ok(LimitOutcome::Allowed)
    }

    async fn uncount_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, counted_at: UnixTime) -> StoreResult<()> {
        let (sent_key, _, _) = prefix_keys(prefix, rule, counted_at);
        if let Some(sent) = self.counters.lock().unwrap().get_mut(&sent_key) {
            *sent = sent.saturating_sub(1);
        }
        Ok(())
    }

    async fn count_completion(&self, prefix: DestinationPrefix, rule: &PumpingRule, sent_at: UnixTime) -> StoreResult<()> {
        let (_, completed_key, _) = prefix_keys(prefix, rule, sent_at);
        *self.counters.lock().unwrap().entry(completed_key).or_default() += 1;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn start_family(&self, first: &RefreshRecord, event: Option<&LifecycleEvent>) -> StoreResult<()> {
        let mut refresh = self.refresh.lock().unwrap();
        match refresh.get(&first.token_hash) {
            None => {
                refresh.insert(first.token_hash.clone(), (first.clone(), None, None));
                event.into_iter().for_each(|e| self.write_event(e));
                Ok(())
            }
            // The same put sent again writes nothing: a spent token stays spent.
            Some((stored, _, _)) if stored.family_id == first.family_id && stored.user_id == first.user_id => Ok(()),
            Some(_) => Err(StoreError::Unavailable("refresh token collision".into())),
        }
    }

    async fn rotate(&self, old_hash: &str, next: &RefreshRecord, sealed: &str, now: UnixTime) -> StoreResult<RotateOutcome> {
        let mut refresh = self.refresh.lock().unwrap();
        let revoked = self.revoked.lock().unwrap();
        let Some((record, spent_at, sealed_successor)) = refresh.get_mut(old_hash) else {
            return Ok(RotateOutcome::Invalid);
        };
        if record.expires_at <= now || revoked.contains_key(&record.family_id) {
            return Ok(RotateOutcome::Invalid);
        }
        if let Some(spent_at) = *spent_at {
            return Ok(RotateOutcome::AlreadySpent { spent_at, sealed_successor: sealed_successor.clone(), record: record.clone() });
        }
        *spent_at = Some(now);
        *sealed_successor = Some(sealed.to_owned());
        refresh.insert(next.token_hash.clone(), (next.clone(), None, None));
        Ok(RotateOutcome::Rotated)
    }

    async fn find(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        Ok(self.refresh.lock().unwrap().get(token_hash).map(|(r, _, _)| r.clone()))
    }

    async fn find_active(&self, token_hash: &str, now: UnixTime) -> StoreResult<Option<RefreshRecord>> {
        let refresh = self.refresh.lock().unwrap();
        Ok(refresh.get(token_hash).filter(|(r, spent, _)| spent.is_none() && r.expires_at > now).map(|(r, _, _)| r.clone()))
    }

    async fn is_family_revoked(&self, family_id: &str) -> StoreResult<bool> {
        Ok(self.revoked.lock().unwrap().contains_key(family_id))
    }

    async fn revoke_family(&self, family_id: &str, expires_at: UnixTime, event: Option<&LifecycleEvent>) -> StoreResult<()> {
        self.revoked.lock().unwrap().insert(family_id.to_owned(), expires_at);
        event.into_iter().for_each(|e| self.write_event(e));
        Ok(())
    }

    async fn families_of(&self, user: &UserId) -> StoreResult<Vec<String>> {
        let mut families: Vec<String> =
            self.refresh.lock().unwrap().values().filter(|(r, _, _)| &r.user_id == user).map(|(r, _, _)| r.family_id.clone()).collect();
        families.sort();
        families.dedup();
        Ok(families)
    }
}

#[async_trait]
impl FactorStore for MemoryStore {
    async fn factors(&self, user: &UserId) -> StoreResult<FactorRecord> {
        Ok(self.factors.lock().unwrap().get(user).cloned().unwrap_or_default())
    }

    async fn start_enrolment(&self, user: &UserId, sealed_secret: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let mut factors = self.factors.lock().unwrap();
        let record = factors.entry(user.clone()).or_default();
        if record.has_totp() {
            return Ok(false);
        }
        record.pending = Some((sealed_secret.to_owned(), expires_at));
        Ok(true)
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
        let mut users = self.users.lock().unwrap();
        let mut factors = self.factors.lock().unwrap();
        let Some(record) = factors.get_mut(user) else { return Ok(false) };
        let pending_ok = matches!(&record.pending, Some((sealed, expires_at)) if sealed == sealed_secret && *expires_at > now);
        if !pending_ok || record.has_totp() || record.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        record.active_secret = record.pending.take().map(|(sealed, _)| sealed);
        record.last_step = Some(step);
        record.recovery_hashes = hashes.to_vec();
        Self::bump_devices_version(&mut users, user);
        self.write_event(event);
        Ok(true)
    }

    async fn accept_step(&self, user: &UserId, step: i64) -> StoreResult<bool> {
        let mut factors = self.factors.lock().unwrap();
        Ok(match factors.get_mut(user) {
            Some(record) if record.has_totp() && record.last_step.is_none_or(|last| last < step) => {
                record.last_step = Some(step);
                true
            }
            _ => false,
        })
    }

    async fn consume_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        let mut factors = self.factors.lock().unwrap();
        let Some(record) = factors.get_mut(user).filter(|r| r.has_totp()) else { return Ok(false) };
        let before = record.recovery_hashes.len();
        record.recovery_hashes.retain(|h| h != hash);
        Ok(record.recovery_hashes.len() < before)
    }

    async fn replace_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<bool> {
        let mut factors = self.factors.lock().unwrap();
        let Some(record) = factors.get_mut(user).filter(|r| r.has_totp()) else { return Ok(false) };
        record.recovery_hashes = hashes.to_vec();
        Ok(true)
    }

    async fn remove_totp(&self, user: &UserId, event: &LifecycleEvent) -> StoreResult<()> {
        let mut users = self.users.lock().unwrap();
        if let Some(record) = self.factors.lock().unwrap().get_mut(user) {
            record.active_secret = None;
            record.pending = None;
            record.recovery_hashes.clear();
            Self::bump_devices_version(&mut users, user);
            self.write_event(event);
        }
        Ok(())
    }

    async fn switch_to_phone(&self, challenge: &ChallengeId) -> StoreResult<()> {
        if let Some(stored) = self.challenges.lock().unwrap().get_mut(challenge) {
            stored.factor = ChallengeFactor::Phone;
        }
        Ok(())
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn devices_of(&self, user: &UserId) -> StoreResult<Vec<Device>> {
        let mut devices: Vec<Device> = self.devices.lock().unwrap().values().filter(|d| &d.user_id == user).cloned().collect();
        devices.sort_by_key(|d| d.slot);
        Ok(devices)
    }

    async fn device(&self, user: &UserId, slot: u8) -> StoreResult<Option<Device>> {
        Ok(self.devices.lock().unwrap().get(&(user.clone(), slot)).cloned())
    }

    async fn put_device(&self, device: &Device, replacing: Option<&DeviceId>) -> StoreResult<bool> {
        let mut devices = self.devices.lock().unwrap();
        let key = (device.user_id.clone(), device.slot);
        if devices.get(&key).map(|d| &d.id) != replacing {
            return Ok(false);
        }
        devices.insert(key, device.clone());
        Ok(true)
    }

    async fn rotate_device(&self, device: &Device, new_hash: &str, spent: &[String], now: UnixTime) -> StoreResult<bool> {
        let users = self.users.lock().unwrap();
        let mut devices = self.devices.lock().unwrap();
        let account_stands = users
            .get(&device.user_id)
            .is_some_and(|u| u.credentials_version == device.credentials_version && u.devices_version == device.devices_version);
        match devices.get_mut(&(device.user_id.clone(), device.slot)) {
            Some(stored)
                if account_stands && stored.id == device.id && stored.token_hash == device.token_hash && stored.expires_at > now =>
            {
                stored.token_hash = new_hash.to_owned();
                stored.spent = spent.to_vec();
                stored.last_used_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn forget_device(&self, user: &UserId, slot: u8, id: &DeviceId) -> StoreResult<bool> {
        let mut devices = self.devices.lock().unwrap();
        let key = (user.clone(), slot);
        if devices.get(&key).is_some_and(|d| &d.id == id) {
            devices.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }
}

#[async_trait]
impl OAuthStore for MemoryStore {
    async fn put_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        self.codes.lock().unwrap().insert(code.code_hash.clone(), (code.clone(), None));
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, family_id: &str, now: UnixTime) -> StoreResult<Redemption> {
        let mut codes = self.codes.lock().unwrap();
        Ok(match codes.get_mut(code_hash) {
            None => Redemption::Unknown,
            Some((code, Some(family))) => Redemption::Replayed { family_id: Some(family.clone()), user_id: code.user_id.clone() },
            Some((code, _)) if code.expires_at <= now => Redemption::Unknown,
            Some((code, redeemed)) => {
                *redeemed = Some(family_id.to_owned());
                Redemption::First(code.clone())
            }
        })
    }

    async fn put_sso(&self, session: &SsoSession) -> StoreResult<()> {
        self.sso.lock().unwrap().insert(session.cookie_hash.clone(), session.clone());
        Ok(())
    }

    async fn find_sso(&self, cookie_hash: &str, now: UnixTime) -> StoreResult<Option<SsoSession>> {
        Ok(self.sso.lock().unwrap().get(cookie_hash).filter(|s| s.expires_at > now).cloned())
    }

    async fn end_sso(&self, cookie_hash: &str) -> StoreResult<()> {
        self.sso.lock().unwrap().remove(cookie_hash);
        Ok(())
    }
}
