//! The account routes (`/me`, `/me/*`): who holds the token, my account (OIDC UserInfo), and
//! deleting the account. Unlike a stateless resource server, these routes read the user item
//! on every request, so a reset, a password change, a global logout or a deletion ends the
//! access tokens issued before it at once, not at their `exp`.

use super::{AuthService, Caller, Notice};
use crate::{domain::*, error::AuthError};
use serde::Serialize;

/// The account behind a Bearer token that still stands.
#[derive(Debug)]
pub struct Holder {
    pub user: User,
    pub claims: AccessClaims,
}

/// OIDC Core §5.3 UserInfo claims, unmasked: only the account's own holder sees them.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UserInfo {
    pub sub: String,
    pub email: String,
    pub phone_number: String,
    pub phone_number_verified: bool,
    /// Seconds since the epoch, like the OIDC `updated_at` claim.
    pub created_at: UnixTime,
    /// The second factors of the account: "phone", and "totp" once an authenticator is active.
    pub factors: Vec<&'static str>,
    /// With an authenticator only: its unused recovery codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<u32>,
}

/// OIDC Core §5.3 UserInfo for an app's token: `sub`, and only what its scopes allow.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ClientUserInfo {
    pub sub: String,
    #[serde(flatten)]
    pub profile: ScopedProfile,
}

/// `GET /me`: the account view for the holder's own tokens, the scoped claims for an app's.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Me {
    Account(UserInfo),
    Client(ClientUserInfo),
}

impl AuthService {
    /// `GET /me`, the userinfo endpoint: a token issued to an OpenID Connect client sees only
    /// what its scopes allow.
    pub async fn me(&self, holder: &Holder) -> Result<Me, AuthError> {
        if holder.claims.client_id.is_none() {
            return Ok(Me::Account(self.user_info(holder).await?));
        }
        let (user, claims) = (&holder.user, &holder.claims);
        Ok(Me::Client(ClientUserInfo {
            sub: user.id.0.clone(),
            profile: ScopedProfile::of(user, claims.allows("email"), claims.allows("phone")),
        }))
    }

    /// The token's account, if the token verifies, the account exists and the token was not
    /// ended by a reset, a password change, a global logout or a deletion (401 otherwise).
    pub async fn holder(&self, bearer: &str) -> Result<Holder, AuthError> {
        let (user, claims) = self.sessions.token_holder(bearer).await?;
        Ok(Holder { user, claims })
    }

    pub async fn user_info(&self, holder: &Holder) -> Result<UserInfo, AuthError> {
        let user = &holder.user;
        let authenticator = self.ports.factors.factors(&user.id).await?;
        let factors = authenticator.names(user);
        Ok(UserInfo {
            sub: user.id.0.clone(),
            email: user.email.as_str().to_owned(),
            phone_number: user.phone.as_e164().to_owned(),
            phone_number_verified: user.phone_verified,
            created_at: user.created_at,
            factors,
            recovery_codes_remaining: authenticator.has_totp().then_some(authenticator.recovery_hashes.len() as u32),
        })
    }

    /// Deletes the account after the password (GDPR Art. 17): afterwards no item names its id,
    /// email or phone but the rate-limit counters, which expire with their window.
    pub async fn delete_account(&self, holder: &Holder, password: &Password, caller: &Caller) -> Result<(), AuthError> {
        let user = self.check_password(&holder.user.email, password).await?;
        let event = LifecycleEvent::new(&user.id, LifecycleChange::UserDeleted, self.now());
        if !self.ports.users.delete_account(&user, &event).await? {
            return Err(AuthError::InvalidToken); // deleted meanwhile by another request
        }
        self.record(EventKind::AccountDeleted, Subject::of(&user, caller));
        self.notify(&user.phone, Notice::AccountDeleted).await;
        Ok(())
    }
}
