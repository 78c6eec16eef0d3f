//! The ports the use cases depend on. Adapters (DynamoDB, Twilio, argon2) implement them;
//! unit tests use the in-memory ones in `testing` (the `testing` feature).

use crate::domain::{
    AccessClaims, AuthorizationCode, Challenge, ChallengeId, Channel, DestinationPrefix, Device, DeviceId, Email, Grant, IdTokenClaims,
    LifecycleEvent, OtpCode, OutboxEntry, Password, Phone, PumpingRule, Redemption, Roles, SsoSession, UnixTime, User, UserCursor, UserId,
};
use crate::error::{DeliveryError, StoreError};
use async_trait::async_trait;
use std::time::Duration;

pub type StoreResult<T> = Result<T, StoreError>;

/// How long an account that never verified its phone keeps its email from a new registration.
pub const UNFINISHED_SIGNUP_HOLD: Duration = Duration::from_secs(60);

pub fn is_abandoned(held_since: UnixTime, now: UnixTime) -> bool {
    now - held_since >= UNFINISHED_SIGNUP_HOLD.as_secs() as i64
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateUser {
    Created,
    /// The email belongs to an account whose phone is verified.
    EmailTaken,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores the user and claims its email in one transaction. An email held by an account
    /// that never verified its phone is taken over once `UNFINISHED_SIGNUP_HOLD` has passed:
    /// that account never got a token, and a half-finished sign-up (a crash between storing
    /// and sending, a mistyped phone) must not block a retry for long. Within the hold, and
    /// under races, exactly one registration wins.
    async fn create_user(&self, user: &User) -> StoreResult<CreateUser>;
    /// Removes an account that never verified its phone (a sign-up whose code could not be sent).
    async fn delete_unverified(&self, user: &User) -> StoreResult<()>;
    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>>;
    async fn get(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Sets the phone and marks it verified; false when the account is gone (replaced) or its
    /// credentials changed since `user` was read (`credentials_version`).
    /// Moves the account's `devices_version` on in the same write: a newly verified number
    /// forgets every remembered device. `event` (`UserSignedUp`, `PhoneChanged`) is written to
    /// the outbox in the same write: no change without its event, no event without its change.
    async fn set_verified_phone(&self, user: &User, phone: &Phone, event: &LifecycleEvent) -> StoreResult<bool>;
    /// Applies a credential change in ONE transaction (see `CredentialChange`), moving the
    /// account's `credentials_version` on by one; false when its challenge was already used (or
    /// expired), or the account's password or credentials version is no longer the one `user`
    /// was read with, or the account went meanwhile.
    ///
    /// Writing an item that already exists (`create_user`, `ChallengeStore::put`,
    /// `SessionStore::start_family` sent again, as by an SDK retry): the same item is accepted
    /// and nothing is written; a different one is an error (an id collision).
    async fn update_credentials(&self, change: &CredentialChange<'_>) -> StoreResult<bool>;
    /// Removes the account and every item that names it by id, email or phone, apart from
    /// rate-limit counters (they expire with their window); false when it was already gone.
    /// `event` (`UserDeleted`) goes to the outbox in the write that removes the account item.
    async fn delete_account(&self, user: &User, event: &LifecycleEvent) -> StoreResult<bool>;
    /// Every account whose phone is exactly `phone` (verified or not: an unfinished sign-up may
    /// name a number another account holds).
    async fn find_by_phone(&self, phone: &Phone) -> StoreResult<Vec<User>>;
    /// Up to `limit` accounts after `after` (None: from the first), in the users index's order
    /// (by phone, then id), and the cursor of the next page when there may be one. One page
    /// reads that page's users, never the whole table.
    async fn list_users(&self, after: Option<&UserCursor>, limit: usize) -> StoreResult<(Vec<User>, Option<UserCursor>)>;
    /// Replaces the account's roles; the account as stored after, None when it does not exist.
    /// `event` (`RolesChanged`) goes to the outbox in the same write.
    async fn set_roles(&self, id: &UserId, roles: &Roles, event: &LifecycleEvent) -> StoreResult<Option<User>>;
    /// Lets a disabled account sign in again (sessions ended by the disable stay ended); the
    /// account as stored after, None when it does not exist.
    /// `event` (`UserEnabled`) goes to the outbox in the same write.
    async fn enable(&self, id: &UserId, event: &LifecycleEvent) -> StoreResult<Option<User>>;
    /// Notes a completed sign-in (a new session) at `at`; nothing when the account is gone.
    async fn record_sign_in(&self, id: &UserId, at: UnixTime) -> StoreResult<()>;
}

/// What a reset, a password change and a global logout write, all at once: so no request can
/// see a new password with old sessions alive, and a reset code sets a password at most once.
#[derive(Debug)]
pub struct CredentialChange<'a> {
    pub user: &'a User,
    /// The new argon2 PHC string; None keeps the password (global logout).
    pub new_password_hash: Option<&'a str>,
    /// A challenge marked used in the same transaction (reset): it must still be pending and live.
    pub consume: Option<&'a ChallengeId>,
    /// A limiter window cleared in the same transaction: (limiter key, window length).
    pub clear_limit: Option<(&'a str, Duration)>,
    /// Refresh-token families to revoke (every family of the user but `keep_session`).
    pub revoke_families: &'a [String],
    /// Revocation markers live this long (as long as any token of a family could).
    pub revoked_until: UnixTime,
    /// Becomes the user's `tokens_valid_after`.
    pub now: UnixTime,
    /// Becomes the user's `kept_session`.
    pub keep_session: Option<&'a str>,
    /// An administrator's disable: the account is marked disabled in the same write.
    pub disable: bool,
    /// The lifecycle event the change reports, written to the outbox in the same transaction.
    pub event: &'a LifecycleEvent,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// This check was counted; `attempts` includes it.
    Counted { challenge: Box<Challenge> },
    /// The limit was already reached: the challenge is dead.
    Exhausted,
    /// Unknown, expired or used.
    Invalid,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ResendOutcome {
    Ready {
        challenge: Box<Challenge>,
    },
    TooSoon {
        retry_after: Duration,
    },
    /// The check limit was reached: the challenge is dead, a new code would not help.
    Exhausted,
    Invalid,
}

#[async_trait]
pub trait ChallengeStore: Send + Sync {
    async fn put(&self, challenge: &Challenge) -> StoreResult<()>;
    async fn get(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>>;
    async fn set_provider_ref(&self, id: &ChallengeId, provider_ref: &str) -> StoreResult<()>;
    /// The provider reference last started for this phone, while it may still be pending.
    async fn pending_ref_for(&self, phone: &Phone, now: UnixTime) -> StoreResult<Option<String>>;
    async fn remember_pending_ref(&self, phone: &Phone, provider_ref: &str, expires_at: UnixTime) -> StoreResult<()>;
    /// Atomically counts one code check, before the code is compared, and only while the
    /// challenge is live and below its limit.
    async fn count_attempt(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<AttemptOutcome>;
    /// Atomically marks the challenge used; false when another request got there first.
    async fn consume(&self, id: &ChallengeId, now: UnixTime) -> StoreResult<bool>;
    /// Atomically claims the next send of a live challenge when the cooldown has passed,
    /// and gives it a fresh expiry and (builtin provider) a fresh code hash.
    async fn claim_resend(
        &self,
        id: &ChallengeId,
        now: UnixTime,
        cooldown: Duration,
        new_expiry: UnixTime,
        channel: Channel,
        code_hash: Option<&str>,
    ) -> StoreResult<ResendOutcome>;
    /// Undoes a claimed resend whose code could not go out, so the user can ask again at once.
    async fn release_resend(&self, id: &ChallengeId, claimed_at: UnixTime) -> StoreResult<()>;
    async fn delete(&self, id: &ChallengeId) -> StoreResult<()>;
}

#[derive(Debug, PartialEq, Eq)]
pub enum LimitOutcome {
    Allowed,
    Exceeded { retry_after: Duration },
}

/// Start and end of the fixed counting window that `now` falls in: every rate-limiter adapter
/// must cut windows the same way.
pub fn fixed_window(now: UnixTime, length: Duration) -> (UnixTime, UnixTime) {
    let length = length.as_secs().max(1) as i64;
    let start = now - now.rem_euclid(length);
    (start, start + length)
}

/// Fixed-window counters, shared by every Lambda instance.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event under `key` if the window still has room; atomic.
    async fn hit(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome>;
    /// Whether the window is already full, without counting.
    async fn is_exhausted(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome>;
    /// Reserves one failure slot under `key` before an answer is compared (a password, a code),
    /// atomically like `hit` on the same counter: parallel guesses cannot exceed the limit.
    async fn reserve(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<CheckReservation>;
    /// Gives back a reservation of the window of `reserved_at`: a right answer is no failure.
    async fn release(&self, key: &str, window: Duration, reserved_at: UnixTime) -> StoreResult<()>;
}

/// Codes sent to and challenges completed from one destination prefix, per fixed window of
/// the rule's length (the SMS pumping guard). Only sends to a prefix and completions from it
/// write its counters: no item every request writes.
#[async_trait]
pub trait PrefixCounters: Send + Sync {
    /// Counts one send to `prefix`, unless the rule already blocks it in the window of `now`:
    /// the check and the count are one conditional write, so parallel sends cannot slip past
    /// the block. `Exceeded` carries the time until the window ends.
    async fn count_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, now: UnixTime) -> StoreResult<LimitOutcome>;
    /// Takes back a send counted at `counted_at` that another cap then refused (nothing went out).
    async fn uncount_send(&self, prefix: DestinationPrefix, rule: &PumpingRule, counted_at: UnixTime) -> StoreResult<()>;
    /// Counts one completed challenge whose code went out at `sent_at`, in that send's window.
    async fn count_completion(&self, prefix: DestinationPrefix, rule: &PumpingRule, sent_at: UnixTime) -> StoreResult<()>;
}

/// A stored refresh token (only its hash is the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: String,
    pub user_id: UserId,
    pub amr: Vec<String>,
    pub expires_at: UnixTime,
    /// Issued at the token endpoint: the OpenID Connect client (it alone may refresh or revoke
    /// it there) and the OAuth scopes granted. None for the hosted pages' and JSON routes' tokens.
    pub client: Option<ClientBinding>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    pub client_id: String,
    pub scope: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated,
    /// Already spent: `spent_at` and the successor sealed under the old token.
    AlreadySpent {
        spent_at: UnixTime,
        sealed_successor: Option<String>,
        record: RefreshRecord,
    },
    /// Unknown, expired or its family revoked.
    Invalid,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// With `event` (`UserSignedIn`), the first token and the outbox item are one transaction.
    async fn start_family(&self, first: &RefreshRecord, event: Option<&LifecycleEvent>) -> StoreResult<()>;
    /// Spends `old_hash` and stores `next` in one transaction, only if the old token is
    /// unspent, unexpired and its family not revoked.
    async fn rotate(&self, old_hash: &str, next: &RefreshRecord, sealed_successor: &str, now: UnixTime) -> StoreResult<RotateOutcome>;
    async fn find(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>>;
    /// The record if it is unspent and unexpired.
    async fn find_active(&self, token_hash: &str, now: UnixTime) -> StoreResult<Option<RefreshRecord>>;
    async fn is_family_revoked(&self, family_id: &str) -> StoreResult<bool>;
    /// With `event` (`RefreshTokenReuseDetected`), the marker and the outbox item are one transaction.
    async fn revoke_family(&self, family_id: &str, expires_at: UnixTime, event: Option<&LifecycleEvent>) -> StoreResult<()>;
    /// Every refresh-token family the user has (revoked ones included).
    async fn families_of(&self, user: &UserId) -> StoreResult<Vec<String>>;
}

/// OpenID Connect state: authorization codes and the hosted pages' single sign-on sessions,
/// both keyed by the hash of the value handed out.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    async fn put_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Marks the code used, reserving `family_id` for the tokens it issues: one conditional
    /// write, so of racing redemptions exactly one sees `First`. A used code answers `Replayed`
    /// with the family its first use reserved.
    async fn redeem_code(&self, code_hash: &str, family_id: &str, now: UnixTime) -> StoreResult<Redemption>;
    async fn put_sso(&self, session: &SsoSession) -> StoreResult<()>;
    /// The session if it exists and has not expired.
    async fn find_sso(&self, cookie_hash: &str, now: UnixTime) -> StoreResult<Option<SsoSession>>;
    async fn end_sso(&self, cookie_hash: &str) -> StoreResult<()>;
}

/// A code the service made itself (builtin provider), with its keyed hash for storage.
pub struct GeneratedCode {
    pub code: OtpCode,
    pub hash: String,
}

/// Makes, delivers and checks one-time codes: Twilio Verify, or codes made here and sent as SMS.
#[async_trait]
pub trait OtpProvider: Send + Sync {
    /// A fresh code for the challenge to store before sending, or None when the provider
    /// keeps codes itself (Twilio Verify).
    fn generate(&self, challenge: &ChallengeId) -> Option<GeneratedCode>;
    /// Whether codes can go out over this channel.
    fn supports(&self, channel: Channel) -> bool;
    /// Sends the code; returns the provider's reference for it, if any.
    async fn send(&self, to: &Phone, channel: Channel, code: Option<&GeneratedCode>) -> Result<Option<String>, DeliveryError>;
    /// Ends a provider-side verification that no challenge will use any more.
    async fn cancel(&self, provider_ref: &str) -> Result<(), DeliveryError>;
    /// Whether `code` is right for this challenge.
    async fn check(&self, challenge: &Challenge, code: &OtpCode) -> Result<bool, DeliveryError>;
}

/// Delivers a text message (the builtin provider's transport).
#[async_trait]
pub trait SmsSender: Send + Sync {
    fn supports(&self, channel: Channel) -> bool;
    async fn send(&self, to: &Phone, body: &str) -> Result<(), DeliveryError>;
}

#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<String, crate::error::AuthError>;
    /// Constant-time verify of `password` against a PHC string.
    async fn verify(&self, password: &Password, phc: &str) -> Result<bool, crate::error::AuthError>;
    /// The same work as `verify`, for an account that does not exist, so neither the time nor
    /// the answer tells whether it does: always false.
    async fn verify_absent(&self, password: &Password) -> Result<bool, crate::error::AuthError>;
}

/// Issues and checks access tokens (signed JWTs, RFC 9068): what the sessions and the account
/// routes need of the token keys.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    async fn issue(&self, grant: &Grant<'_>, now: UnixTime) -> Result<String, crate::error::AuthError>;
    /// The claims of a token that verifies (signature, algorithm, `typ`, `iss`, `aud`, `exp`).
    async fn verify(&self, token: &str) -> Result<AccessClaims, crate::error::AuthError>;
    fn access_ttl(&self) -> Duration;
    /// An OpenID Connect ID token with the same key (`typ` JWT, never taken for an access token).
    async fn issue_id_token(&self, claims: &IdTokenClaims) -> Result<String, crate::error::AuthError>;
    /// `iss` of every token.
    fn issuer(&self) -> &str;
}

/// Signs access tokens: with a key held in memory (a PEM) or with one that never leaves AWS KMS.
#[async_trait]
pub trait TokenSigner: Send + Sync {
    /// The key's public half as an X.509 SubjectPublicKeyInfo (DER); its type decides the algorithm.
    fn public_key_der(&self) -> &[u8];
    /// The JWS signature of `signing_input` (RFC 7518: PKCS#1 v1.5 bytes for RS256, `r || s`
    /// for ES256, the 64 bytes of Ed25519).
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, crate::error::AuthError>;
}

/// Public keys kept elsewhere (AWS KMS: the current key of a verifying function, older keys
/// during a rotation), fetched once per instance when a token is first checked.
#[async_trait]
pub trait PublicKeySource: Send + Sync {
    /// SubjectPublicKeyInfo DER of every key, in order.
    async fn public_keys_der(&self) -> Result<Vec<Vec<u8>>, crate::error::AuthError>;
}

/// Where the use cases record security events (audit lines and metrics in production, a
/// recorder in tests). Recording never fails and never blocks the flow.
pub trait EventSink: Send + Sync {
    fn record(&self, event: crate::domain::SecurityEvent);
}

pub trait Clock: Send + Sync {
    fn now(&self) -> UnixTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
    }
}

/// An account's authenticator and recovery codes as stored: the secrets only sealed
/// (`SecretSealer`), the recovery codes only hashed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactorRecord {
    /// The confirmed authenticator's sealed secret.
    pub active_secret: Option<String>,
    /// An enrolment waiting for its first code, and when it lapses.
    pub pending: Option<(String, UnixTime)>,
    /// The newest TOTP time step accepted for the account (replay protection).
    pub last_step: Option<i64>,
    /// Hashes of the unused recovery codes.
    pub recovery_hashes: Vec<String>,
}

impl FactorRecord {
    pub fn has_totp(&self) -> bool {
        self.active_secret.is_some()
    }

    /// The second factors `user` has, as the account and admin views name them.
    pub fn names(&self, user: &User) -> Vec<&'static str> {
        [(user.phone_verified, "phone"), (self.has_totp(), "totp")].into_iter().filter_map(|(has, name)| has.then_some(name)).collect()
    }
}

/// Authenticator state, one item per account. Every change that races is one conditional write.
#[async_trait]
pub trait FactorStore: Send + Sync {
    async fn factors(&self, user: &UserId) -> StoreResult<FactorRecord>;
    /// Stores a pending enrolment, replacing an earlier pending one; false when an
    /// authenticator is already active.
    async fn start_enrolment(&self, user: &UserId, sealed_secret: &str, expires_at: UnixTime) -> StoreResult<bool>;
    /// Activates the pending secret `sealed_secret` (still pending, unexpired), consumes `step`
    /// (above the last accepted one) and stores the recovery-code hashes, and moves the
    /// account's `devices_version` on, and writes `event` (`FactorAdded`) to the outbox, in one
    /// write; false when any condition failed.
    async fn confirm_enrolment(
        &self,
        user: &UserId,
        sealed_secret: &str,
        step: i64,
        recovery_hashes: &[String],
        now: UnixTime,
        event: &LifecycleEvent,
    ) -> StoreResult<bool>;
    /// Consumes a time step of the active authenticator: true only for the first request to
    /// present a step newer than every accepted one.
    async fn accept_step(&self, user: &UserId, step: i64) -> StoreResult<bool>;
    /// Consumes one unused recovery code; true for exactly one of any number of racing requests.
    async fn consume_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool>;
    /// Replaces every recovery code with a new set, while the authenticator is active.
    async fn replace_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<bool>;
    /// Removes the authenticator and its recovery codes; the last accepted step stays, so a
    /// code seen before cannot be replayed later. Like `confirm_enrolment`, it moves the
    /// account's `devices_version` on in the same write (every remembered device is forgotten).
    /// `event` (`FactorRemoved`) goes to the outbox in the same write.
    async fn remove_totp(&self, user: &UserId, event: &LifecycleEvent) -> StoreResult<()>;
    /// Turns a pending `totp` challenge into a `phone` one (after a code was sent to the phone).
    async fn switch_to_phone(&self, challenge: &ChallengeId) -> StoreResult<()>;
}

#[derive(Debug, PartialEq, Eq)]
pub enum CheckReservation {
    /// Counted; `remaining` more checks fit in the window.
    Reserved {
        remaining: u32,
    },
    Exceeded {
        retry_after: Duration,
    },
}

/// Encrypts authenticator secrets at rest under a key that is not in the table, bound to the
/// account (AEAD with the user id as associated data: a sealed secret copied to another
/// account does not open).
pub trait SecretSealer: Send + Sync {
    fn seal(&self, user: &UserId, plaintext: &[u8]) -> Result<String, crate::error::AuthError>;
    fn open(&self, user: &UserId, sealed: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, crate::error::AuthError>;
}

/// Remembered devices: one item per slot of an account (`MAX_DEVICES`), so the cap holds by
/// construction. Every single-use property is one conditional write.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Every device in the account's slots, live or not (one read).
    async fn devices_of(&self, user: &UserId) -> StoreResult<Vec<Device>>;
    async fn device(&self, user: &UserId, slot: u8) -> StoreResult<Option<Device>>;
    /// Stores `device` in its slot, only while the slot still holds `replacing` (None: empty);
    /// false when another request changed the slot first.
    async fn put_device(&self, device: &Device, replacing: Option<&DeviceId>) -> StoreResult<bool>;
    /// Spends the live token `device` was read with and makes `new_hash` the live one, with
    /// `spent` as its spent marks and `now` as its last use: one write, conditional on the
    /// device still holding that token, being unexpired, and the account still having the
    /// credentials and devices versions of the device. Of any number of racing requests with
    /// one token, at most one gets true.
    async fn rotate_device(&self, device: &Device, new_hash: &str, spent: &[String], now: UnixTime) -> StoreResult<bool>;
    /// Removes the account's device `id` from `slot`; false when the slot holds no such device.
    async fn forget_device(&self, user: &UserId, slot: u8, id: &DeviceId) -> StoreResult<bool>;
}

/// Puts lifecycle events on the team's bus (EventBridge `PutEvents`).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// At most `PUBLISH_BATCH` entries. One result per entry, in order: None when the bus took
    /// it, else the bus's error code for it (EventBridge fails entries one by one). Err: the
    /// whole call failed, no entry is known to be taken.
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<Vec<Option<String>>, String>;
}

/// The most entries one `PutEvents` call takes.
pub const PUBLISH_BATCH: usize = 10;
