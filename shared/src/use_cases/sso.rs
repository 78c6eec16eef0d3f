//! The hosted pages' single sign-on session (API.md v3, "Session"): begun by a sign-in on the
//! pages, found again by `/oauth2/authorize` from its cookie, ended by `/oauth2/logout`. Only the
//! cookie's hash is stored. It stands while the account exists, is enabled and has had no
//! credential change since (a reset, a password change, a global logout, an administrator's
//! disable or sign-out all move `credentials_version`).

use super::sessions::Authenticated;
use crate::{
    domain::{session_id_of, OpaqueSecret, SsoSession, User},
    error::AuthError,
    ports::{Clock, OAuthStore, UserStore},
};
use std::{sync::Arc, time::Duration};

const COOKIE_PREFIX: &str = "sso_";

/// A new session's cookie value and lifetime.
pub struct SsoCookie {
    pub value: String,
    pub max_age: Duration,
}

impl std::fmt::Debug for SsoCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoCookie").field("max_age", &self.max_age).finish_non_exhaustive()
    }
}

pub struct SsoSessions {
    store: Arc<dyn OAuthStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl SsoSessions {
    pub fn new(store: Arc<dyn OAuthStore>, users: Arc<dyn UserStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        SsoSessions { store, users, clock, ttl }
    }

    /// Records the sign-in and answers the cookie that finds it again.
    pub async fn begin(&self, signed_in: &Authenticated) -> Result<SsoCookie, AuthError> {
        let secret = OpaqueSecret::generate(COOKIE_PREFIX);
        let session = SsoSession {
            id: session_id_of(&secret.hash),
            cookie_hash: secret.hash,
            user_id: signed_in.user_id.clone(),
            auth_time: signed_in.auth_time,
            amr: signed_in.amr.clone(),
            credentials_version: signed_in.credentials_version,
            expires_at: signed_in.auth_time + self.ttl.as_secs() as i64,
        };
        self.store.put_sso(&session).await?;
        Ok(SsoCookie { value: secret.text, max_age: self.ttl })
    }

    /// The session of `cookie` and its account, if both still stand.
    pub async fn current(&self, cookie: Option<&str>) -> Result<Option<(SsoSession, User)>, AuthError> {
        let Some(cookie) = cookie.filter(|c| c.starts_with(COOKIE_PREFIX)) else { return Ok(None) };
        let Some(session) = self.store.find_sso(&OpaqueSecret::hash_of(cookie), self.clock.now()).await? else { return Ok(None) };
        let Some(user) = self.users.get(&session.user_id).await? else { return Ok(None) };
        if user.disabled || user.credentials_version != session.credentials_version {
            return Ok(None);
        }
        Ok(Some((session, user)))
    }

    /// Ends the session of `cookie`, if any.
    pub async fn end(&self, cookie: Option<&str>) -> Result<(), AuthError> {
        if let Some(cookie) = cookie.filter(|c| c.starts_with(COOKIE_PREFIX)) {
            self.store.end_sso(&OpaqueSecret::hash_of(cookie)).await?;
        }
        Ok(())
    }

    pub fn now(&self) -> crate::domain::UnixTime {
        self.clock.now()
    }
}

impl super::AuthService {
    /// The hosted pages' sign-in just issued `tokens`: a single sign-on session for the browser
    /// (None when the tokens end no sign-in, or this function keeps no sessions). Best effort,
    /// like remembering a device: should it fail, the sign-in stands and an app's next
    /// authorization asks to sign in again.
    pub async fn begin_sso(&self, tokens: &super::sessions::TokenPair) -> Option<SsoCookie> {
        let (sso, signed_in) = (self.sso.as_ref()?, tokens.authenticated.as_ref()?);
        sso.begin(signed_in).await.inspect_err(|err| tracing::error!(error = %err, "could not begin the SSO session")).ok()
    }
}
