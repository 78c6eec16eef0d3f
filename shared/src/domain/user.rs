use super::{Email, Phone, Roles, UnixTime};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn new() -> Self {
        UserId(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

/// An account. `phone_verified` turns true only when a code sent to `phone` was approved.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    /// argon2id PHC string; never leaves the service.
    pub password_hash: String,
    pub phone: Phone,
    pub phone_verified: bool,
    pub created_at: UnixTime,
    /// Access tokens issued before this (and refresh tokens made before it) are refused by
    /// the account routes and by refresh: set by a reset, a password change, a global logout.
    pub tokens_valid_after: UnixTime,
    /// The one session exempt from `tokens_valid_after`: the caller's own after a password change.
    pub kept_session: Option<String>,
    /// Moves on with every credential change (reset, password change, global logout): a
    /// challenge made under an older version completes nothing (API.md v3 "Hardening").
    pub credentials_version: u64,
    /// Moves on with a phone change and an authenticator added or removed: with
    /// `credentials_version`, what a remembered device is bound to (`Device::is_live_for`).
    pub devices_version: u64,
    /// Read at every token issuance: `roles` and `role:<name>` scopes in the access token.
    pub roles: Roles,
    /// Set by an administrator: no sign-in, no refresh, no account route (API.md v3).
    pub disabled: bool,
    /// When tokens were last issued after a second factor (a new session), if ever.
    pub last_sign_in_at: Option<UnixTime>,
}

impl User {
    /// Whether an access token issued at `iat` in session `sid` still stands for this account.
    pub fn accepts_token(&self, iat: UnixTime, sid: &str) -> bool {
        iat >= self.tokens_valid_after || self.kept_session.as_deref() == Some(sid)
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("phone", &self.phone)
            .field("phone_verified", &self.phone_verified)
            .finish_non_exhaustive()
    }
}

/// What clients may see of a user: the phone masked, no hash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub phone: String,
    pub phone_verified: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: user.id.0.clone(),
            email: user.email.as_str().to_owned(),
            phone: user.phone.masked(),
            phone_verified: user.phone_verified,
        }
    }
}
