//! The OpenID Connect provider's back channel (API.md v3): the token endpoint (RFC 6749 §3.2,
//! §4.1.3, §6; PKCE, RFC 7636 §4.6) and revocation (RFC 7009). Clients authenticate with
//! `client_secret_basic`, `client_secret_post` or, public ones, `client_id` alone.

use super::authorize::OAuthService;
use crate::{domain::*, error::AuthError, ports::ClientBinding};
use secrecy::ExposeSecret;
use serde::Serialize;

/// RFC 6749 §5.1 (and OIDC Core §3.1.3.3).
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// The `Authorization: Basic` credentials of a request, as sent (still form-encoded).
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

fn invalid_client(description: &str) -> AuthError {
    OAuthError::new(OAuthErrorCode::InvalidClient, description).into()
}

impl OAuthService {
    /// Who is calling: a registered client that proved itself as its kind requires.
    fn authenticate(&self, params: &OAuthParams, basic: Option<&BasicCredentials>) -> Result<&OAuthClient, AuthError> {
        let posted_secret = params.get("client_secret")?;
        let (client_id, secret) = match (basic, posted_secret) {
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request("use one client authentication method, not two").into()),
            (Some(basic), None) => {
                if params.get("client_id")?.is_some_and(|id| id != basic.client_id) {
                    return Err(OAuthError::invalid_request("client_id differs from the Basic credentials").into());
                }
                (basic.client_id.as_str(), Some(basic.secret.as_str()))
            }
            (None, secret) => (params.get("client_id")?.ok_or_else(|| invalid_client("the client is not identified"))?, secret),
        };
        let client = self.clients.find(client_id).ok_or_else(|| invalid_client("unknown client"))?;
        let authenticated = match secret {
            Some(secret) => client.secret_matches(secret),
            None => !client.is_confidential(),
        };
        if !authenticated {
            return Err(invalid_client("client authentication failed"));
        }
        Ok(client)
    }

    /// `POST /oauth2/token`.
    pub async fn token(&self, params: &OAuthParams, basic: Option<&BasicCredentials>) -> Result<TokenResponse, AuthError> {
        let client = self.authenticate(params, basic)?;
        match params.get("grant_type")? {
            Some("authorization_code") => self.redeem(client, params).await,
            Some("refresh_token") => self.refresh(client, params).await,
            Some(_) => {
                Err(OAuthError::new(OAuthErrorCode::UnsupportedGrantType, "grant_type must be authorization_code or refresh_token").into())
            }
            None => Err(OAuthError::invalid_request("grant_type is missing").into()),
        }
    }

    async fn redeem(&self, client: &OAuthClient, params: &OAuthParams) -> Result<TokenResponse, AuthError> {
        let (code, redirect_uri, verifier) = (params.require("code")?, params.require("redirect_uri")?, params.require("code_verifier")?);
        let family = uuid::Uuid::new_v4().to_string();
        let now = self.sso.now();
        let granted = match self.store.redeem_code(&OpaqueSecret::hash_of(code), &family, now).await? {
            Redemption::First(granted) => granted,
            Redemption::Replayed { family_id, user_id } => {
                // Someone else may hold the first answer: end what it issued (RFC 6749 §4.1.2).
                tracing::warn!(user = %user_id.0, "authorization code replayed: its tokens revoked");
                if let Some(family) = family_id {
                    self.sessions.revoke_family(&family).await?;
                }
                return Err(OAuthError::invalid_grant("the code was already used").into());
            }
            Redemption::Unknown => return Err(OAuthError::invalid_grant("the code is unknown or expired").into()),
        };
        if granted.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("the code was issued to another client").into());
        }
        if granted.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's").into());
        }
        if !granted.challenge.is_met_by(verifier) {
            return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge").into());
        }
        // The account as it is now: deleted, disabled or with a credential change since the
        // sign-in, it gets nothing (as for a revoked session).
        let user = match self.users.get(&granted.user_id).await? {
            Some(user) if !user.disabled && user.tokens_valid_after <= granted.auth_time => user,
            _ => return Err(OAuthError::invalid_grant("the sign-in behind this code no longer stands").into()),
        };
        let scope = granted.scopes.text();
        let binding = ClientBinding { client_id: client.client_id.clone(), scope: scope.clone() };
        let pair = self.sessions.start_for_client(&user, granted.amr.clone(), &family, binding).await?;
        let id_token = self.id_token(client, &user, &granted, now).await?;
        Ok(TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            id_token: Some(id_token),
            refresh_token: granted.scopes.has("offline_access").then(|| pair.refresh_token.expose_secret().to_owned()),
            scope,
        })
    }

    async fn id_token(&self, client: &OAuthClient, user: &User, granted: &AuthorizationCode, now: UnixTime) -> Result<String, AuthError> {
        let keys = self.sessions.keys();
        let claims = IdTokenClaims {
            iss: keys.issuer().to_owned(),
            sub: user.id.0.clone(),
            aud: client.client_id.clone(),
            azp: client.client_id.clone(),
            exp: now + keys.access_ttl().as_secs() as i64,
            iat: now,
            auth_time: granted.auth_time,
            nonce: granted.nonce.clone(),
            amr: granted.amr.clone(),
            sid: granted.session_id.clone(),
            roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            profile: ScopedProfile::of(user, granted.scopes.has("email"), granted.scopes.has("phone")),
        };
        keys.issue_id_token(&claims).await
    }

    async fn refresh(&self, client: &OAuthClient, params: &OAuthParams) -> Result<TokenResponse, AuthError> {
        let presented = params.require("refresh_token")?;
        let pair = self.sessions.refresh_for(presented, Some(&client.client_id), params.get("scope")?).await.map_err(|err| match err {
            AuthError::InvalidToken => {
                OAuthError::invalid_grant("the refresh token is unknown, expired, revoked or another client's").into()
            }
            other => other,
        })?;
        Ok(TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            id_token: None,
            refresh_token: Some(pair.refresh_token.expose_secret().to_owned()),
            scope: pair.scope.unwrap_or_default(),
        })
    }

    /// `POST /oauth2/revoke` (RFC 7009): the client's own refresh token ends its family;
    /// anything else is answered the same and revokes nothing.
    pub async fn revoke(&self, params: &OAuthParams, basic: Option<&BasicCredentials>) -> Result<(), AuthError> {
        let client = self.authenticate(params, basic)?;
        let token = params.require("token")?;
        params.get("token_type_hint")?;
        self.sessions.revoke_presented(token, Some(&client.client_id)).await
    }
}
