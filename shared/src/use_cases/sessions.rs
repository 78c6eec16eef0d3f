//! Token pairs: short signed access tokens and long opaque refresh tokens that rotate on every
//! use. A spent refresh token presented again revokes its whole family (RFC 9700 §4.14.2),
//! except within a short grace, where the successor already issued is handed out again so
//! two tabs refreshing at once do not log the user out.

use crate::{
    domain::{
        AccessClaims, EventKind, Grant, LifecycleChange, LifecycleEvent, OAuthGrant, Role, Scopes, SecurityEvent, Subject, UnixTime, User,
        UserView,
    },
    error::AuthError,
    ports::{AccessTokens, ClientBinding, Clock, CredentialChange, EventSink, RefreshRecord, RotateOutcome, SessionStore, UserStore},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::{
    digest,
    rand::{SecureRandom, SystemRandom},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::{sync::Arc, time::Duration};

/// How long after a rotation the old token still yields the same successor.
pub const REUSE_GRACE: Duration = Duration::from_secs(10);
const TOKEN_PREFIX: &str = "rt_";
const TOKEN_BYTES: usize = 32;

#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(serialize_with = "expose")]
    pub refresh_token: SecretString,
    pub user: UserView,
    /// Issued to an OpenID Connect client: the OAuth scopes of this access token.
    #[serde(skip)]
    pub scope: Option<String>,
    /// Set when these tokens end a sign-in (not a refresh): what a single sign-on session of
    /// the hosted pages records.
    #[serde(skip)]
    pub authenticated: Option<Authenticated>,
}

/// A completed sign-in: who, how and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: crate::domain::UserId,
    pub amr: Vec<String>,
    pub auth_time: UnixTime,
    pub credentials_version: u64,
}

fn expose<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair").field("user", &self.user).finish_non_exhaustive()
    }
}

pub struct SessionService {
    store: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    keys: Arc<dyn AccessTokens>,
    refresh_ttl: Duration,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    rng: SystemRandom,
}

/// A refresh token as presented: 256 random bits, base64url, with a recognizable prefix
/// (so secret scanners can find leaked ones).
struct RefreshToken {
    raw: [u8; TOKEN_BYTES],
}

impl RefreshToken {
    fn parse(text: &str) -> Result<Self, AuthError> {
        let bytes = text.strip_prefix(TOKEN_PREFIX).and_then(|b| B64.decode(b).ok()).ok_or(AuthError::InvalidToken)?;
        Ok(RefreshToken { raw: bytes.try_into().map_err(|_| AuthError::InvalidToken)? })
    }

    fn text(&self) -> SecretString {
        SecretString::from(format!("{TOKEN_PREFIX}{}", B64.encode(self.raw)))
    }

    /// Only this hash is stored: a table dump yields no usable token.
    fn hash(&self) -> String {
        B64.encode(digest::digest(&digest::SHA256, &self.raw))
    }

    /// The successor sealed under a pad only the old token's holder can derive.
    fn seal(&self, successor: &RefreshToken) -> String {
        B64.encode(xor(&successor.raw, &self.pad()))
    }

    fn unseal(&self, sealed: &str) -> Option<RefreshToken> {
        let bytes: [u8; TOKEN_BYTES] = B64.decode(sealed).ok()?.try_into().ok()?;
        Some(RefreshToken { raw: xor(&bytes, &self.pad()) })
    }

    fn pad(&self) -> [u8; TOKEN_BYTES] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"sms-mfa refresh successor v1");
        ctx.update(&self.raw);
        ctx.finish().as_ref().try_into().expect("sha256 is 32 bytes")
    }
}

fn xor(a: &[u8; TOKEN_BYTES], b: &[u8; TOKEN_BYTES]) -> [u8; TOKEN_BYTES] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

impl SessionService {
    pub fn new(
        store: Arc<dyn SessionStore>,
        users: Arc<dyn UserStore>,
        keys: Arc<dyn AccessTokens>,
        refresh_ttl: Duration,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventSink>,
    ) -> Self {
        SessionService { store, users, keys, refresh_ttl, clock, events, rng: SystemRandom::new() }
    }

    pub fn keys(&self) -> &dyn AccessTokens {
        self.keys.as_ref()
    }

    fn new_token(&self) -> RefreshToken {
        let mut raw = [0u8; TOKEN_BYTES];
        self.rng.fill(&mut raw).expect("the system RNG works");
        RefreshToken { raw }
    }

    fn record(&self, token: &RefreshToken, family_id: String, user: &User, amr: Vec<String>, now: UnixTime) -> RefreshRecord {
        RefreshRecord {
            token_hash: token.hash(),
            family_id,
            user_id: user.id.clone(),
            amr,
            expires_at: now + self.refresh_ttl.as_secs() as i64,
            client: None,
        }
    }

    async fn pair(
        &self,
        user: &User,
        family_id: &str,
        amr: &[String],
        refresh: &RefreshToken,
        now: UnixTime,
        client: Option<&ClientBinding>,
    ) -> Result<TokenPair, AuthError> {
        // Roles as stored now: a change shows in the next token (API.md v3 "Roles").
        let roles: Vec<Role> = user.roles.iter().cloned().collect();
        let oauth = client.map(|c| OAuthGrant { client_id: &c.client_id, scope: &c.scope });
        let grant = Grant { sub: &user.id.0, email: user.email.as_str(), sid: family_id, amr, roles: &roles, oauth };
        Ok(TokenPair {
            access_token: self.keys.issue(&grant, now).await?,
            token_type: "Bearer",
            expires_in: self.keys.access_ttl().as_secs(),
            refresh_token: refresh.text(),
            user: UserView::from(user),
            scope: client.map(|c| c.scope.clone()),
            authenticated: None,
        })
    }

    /// A new session (a new refresh token family) after a completed sign-in; `reported` (a
    /// `UserSignedIn`) is written to the outbox with the first refresh token.
    pub async fn start(&self, user: &User, amr: Vec<String>, reported: Option<LifecycleChange>) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let token = self.new_token();
        let family = uuid::Uuid::new_v4().to_string();
        let event = reported.map(|change| LifecycleEvent::new(&user.id, change, now));
        self.store.start_family(&self.record(&token, family.clone(), user, amr.clone(), now), event.as_ref()).await?;
        self.users.record_sign_in(&user.id, now).await?;
        let mut pair = self.pair(user, &family, &amr, &token, now, None).await?;
        pair.authenticated =
            Some(Authenticated { user_id: user.id.clone(), amr, auth_time: now, credentials_version: user.credentials_version });
        Ok(pair)
    }

    /// A session for an OpenID Connect client, in the family its authorization code reserved:
    /// its refresh token refreshes only at the token endpoint, for that client. The outbox gets
    /// `UserSignedIn` with the client's id in the same write.
    pub async fn start_for_client(
        &self,
        user: &User,
        amr: Vec<String>,
        family_id: &str,
        client: ClientBinding,
    ) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let token = self.new_token();
        let mut record = self.record(&token, family_id.to_owned(), user, amr.clone(), now);
        record.client = Some(client.clone());
        let event = LifecycleEvent::new(&user.id, LifecycleChange::SignedIn { client_id: Some(client.client_id.clone()) }, now);
        self.store.start_family(&record, Some(&event)).await?;
        self.pair(user, family_id, &amr, &token, now, Some(&client)).await
    }

    /// Ends a family (a replayed authorization code's, RFC 6749 §4.1.2).
    pub async fn revoke_family(&self, family_id: &str) -> Result<(), AuthError> {
        self.revoke(family_id, self.clock.now()).await
    }

    /// `/auth/refresh`: the hosted pages' and JSON routes' tokens only.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        self.refresh_for(presented, None, None).await
    }

    /// Rotates a refresh token issued to `client` (None: to no client) and answers the next
    /// pair; `asked_scope` must be within the granted scopes (`invalid_scope` otherwise) and goes
    /// into the access token only. Another client's token is refused like an unknown one.
    pub async fn refresh_for(&self, presented: &str, client: Option<&str>, asked_scope: Option<&str>) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let old = RefreshToken::parse(presented)?;
        let record = self.store.find(&old.hash()).await?.ok_or(AuthError::InvalidToken)?;
        if record.client.as_ref().map(|c| c.client_id.as_str()) != client {
            return Err(AuthError::InvalidToken);
        }
        let binding = match (record.client.clone(), asked_scope) {
            (Some(mut binding), Some(asked)) => {
                let granted = Scopes::parse(&binding.scope).map_err(|_| AuthError::InvalidToken)?;
                binding.scope = granted.narrowed_to(asked)?.text();
                Some(binding)
            }
            (binding, _) => binding,
        };
        let user = self.users.get(&record.user_id).await?.ok_or(AuthError::InvalidToken)?;
        // Every token made before a reset, a change or a global logout is dead (all but the kept
        // session), even one whose family the user index had not shown yet.
        let made_at = record.expires_at - self.refresh_ttl.as_secs() as i64;
        // A disabled account refreshes nothing: answered as for a revoked session.
        if user.disabled || !user.accepts_token(made_at, &record.family_id) {
            return Err(AuthError::InvalidToken);
        }
        let next = self.new_token();
        let mut next_record = self.record(&next, record.family_id.clone(), &user, record.amr.clone(), now);
        next_record.client = record.client.clone();
        match self.store.rotate(&old.hash(), &next_record, &old.seal(&next), now).await? {
            RotateOutcome::Rotated => self.pair(&user, &record.family_id, &record.amr, &next, now, binding.as_ref()).await,
            RotateOutcome::AlreadySpent { spent_at, sealed_successor, record } => {
                let within_grace = now - spent_at <= REUSE_GRACE.as_secs() as i64;
                if within_grace {
                    if let Some(successor) = sealed_successor.as_deref().and_then(|s| old.unseal(s)) {
                        if self.store.find_active(&successor.hash(), now).await?.is_some() {
                            return self.pair(&user, &record.family_id, &record.amr, &successor, now, binding.as_ref()).await;
                        }
                    }
                }
                // Reuse of a spent token: assume it was stolen and end every token of the family.
                tracing::warn!(family = %record.family_id, "refresh token reuse: family revoked");
                self.events.record(SecurityEvent::new(EventKind::RefreshReuse, Subject::user(&record.user_id)));
                let event = LifecycleEvent::new(&record.user_id, LifecycleChange::RefreshTokenReuseDetected, now);
                self.store.revoke_family(&record.family_id, self.revoked_until(now), Some(&event)).await?;
                Err(AuthError::InvalidToken)
            }
            RotateOutcome::Invalid => Err(AuthError::InvalidToken),
        }
    }

    /// Revokes the family of the presented token; unknown or already revoked tokens are fine.
    pub async fn logout(&self, presented: &str) -> Result<(), AuthError> {
        self.revoke_presented(presented, None).await
    }

    /// RFC 7009: revokes the family of a refresh token issued to `client` (None: to no client);
    /// unknown tokens and other clients' tokens revoke nothing, and are no error.
    pub async fn revoke_presented(&self, presented: &str, client: Option<&str>) -> Result<(), AuthError> {
        let Ok(token) = RefreshToken::parse(presented) else {
            return Ok(());
        };
        if let Some(record) = self.store.find(&token.hash()).await? {
            if record.client.as_ref().map(|c| c.client_id.as_str()) == client {
                self.revoke(&record.family_id, self.clock.now()).await?;
            }
        }
        Ok(())
    }

    /// `scope: "global"`: every session of the token's user ends, and the account routes refuse
    /// access tokens issued before now. Unknown tokens are fine, as for a local logout.
    pub async fn logout_everywhere(&self, presented: &str) -> Result<(), AuthError> {
        let Ok(token) = RefreshToken::parse(presented) else {
            return Ok(());
        };
        let Some(record) = self.store.find(&token.hash()).await? else {
            return Ok(());
        };
        // The write is conditional on the password read: should a password change land in
        // between, read the account again rather than leave its kept session alive.
        for _ in 0..3 {
            let Some(user) = self.users.get(&record.user_id).await? else {
                return Ok(());
            };
            let now = self.clock.now();
            let families = self.families_to_revoke(&user.id, None).await?;
            let change = CredentialChange {
                user: &user,
                new_password_hash: None,
                consume: None,
                clear_limit: None,
                revoke_families: &families,
                revoked_until: self.revoked_until(now),
                now,
                keep_session: None,
                disable: false,
                event: &LifecycleEvent::new(&user.id, LifecycleChange::SignedOutEverywhere, now),
            };
            if self.users.update_credentials(&change).await? {
                self.events.record(SecurityEvent::new(EventKind::GlobalLogout, Subject::user(&user.id)));
                return Ok(());
            }
        }
        Err(AuthError::internal("global logout lost three races with password changes"))
    }

    /// Every refresh family of the user except `keep` (the caller's own session).
    pub async fn families_to_revoke(&self, user: &crate::domain::UserId, keep: Option<&str>) -> Result<Vec<String>, AuthError> {
        let mut families = self.store.families_of(user).await?;
        families.retain(|f| Some(f.as_str()) != keep);
        Ok(families)
    }

    /// How long a revocation marker must live: as long as any token of the family could.
    pub fn revoked_until(&self, now: UnixTime) -> UnixTime {
        now + self.refresh_ttl.as_secs() as i64
    }

    /// The account of a Bearer token and its claims, if the token verifies, the account exists
    /// and the token still stands (401 `invalid_token` otherwise): the account routes' and the
    /// admin API's one check.
    pub async fn token_holder(&self, bearer: &str) -> Result<(User, AccessClaims), AuthError> {
        let claims = self.keys.verify(bearer).await?;
        let user = self.users.get(&crate::domain::UserId(claims.sub.clone())).await?.ok_or(AuthError::InvalidToken)?;
        if !self.access_stands(&user, &claims).await? {
            return Err(AuthError::InvalidToken);
        }
        Ok((user, claims))
    }

    /// Whether an access token that verified still stands for the account routes: issued after
    /// the account's `tokens_valid_after` (or in its kept session) and in a family not revoked.
    pub async fn access_stands(&self, user: &User, claims: &AccessClaims) -> Result<bool, AuthError> {
        if user.disabled || !user.accepts_token(claims.iat, &claims.sid) {
            return Ok(false);
        }
        Ok(!self.store.is_family_revoked(&claims.sid).await?)
    }

    async fn revoke(&self, family_id: &str, now: UnixTime) -> Result<(), AuthError> {
        // Kept as long as any token of the family could still be alive.
        let until = now + self.refresh_ttl.as_secs() as i64;
        Ok(self.store.revoke_family(family_id, until, None).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_hash_and_seal() {
        let rng = SystemRandom::new();
        let make = || {
            let mut raw = [0u8; TOKEN_BYTES];
            rng.fill(&mut raw).unwrap();
            RefreshToken { raw }
        };
        let (old, next) = (make(), make());
        let text = old.text();
        assert!(text.expose_secret().starts_with("rt_"));
        assert_eq!(RefreshToken::parse(text.expose_secret()).unwrap().hash(), old.hash());
        assert_ne!(old.hash(), next.hash());
        let sealed = old.seal(&next);
        assert_eq!(old.unseal(&sealed).unwrap().raw, next.raw);
        assert_ne!(make().unseal(&sealed).unwrap().raw, next.raw, "only the old token unseals");
        for bad in ["", "rt_", "rt_!!!", "xx_AAAA", "rt_AAAA"] {
            assert!(RefreshToken::parse(bad).is_err(), "{bad}");
        }
    }
}
