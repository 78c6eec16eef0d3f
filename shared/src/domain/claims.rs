//! What an access token says (RFC 9068 profile) and what one is issued for.

use super::UnixTime;
use serde::{Deserialize, Serialize};

/// The claims of a verified access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    pub amr: Vec<String>,
    pub email: String,
    /// The session: the id of the refresh-token family this token was issued in. Tokens issued
    /// before the claim existed decode with an empty one (they expire within the access TTL).
    #[serde(default)]
    pub sid: String,
    /// The user's roles when the token was issued (absent when none; API.md v3 "Roles").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// RFC 9068 `scope`: `role:<name>` per role, space-separated, the claim API Gateway's JWT
    /// authorizer matches `AuthorizationScopes` against. Absent without roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OpenID Connect client the token was issued to (RFC 9068), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl AccessClaims {
    /// Whether a client's token was granted the OAuth scope (`email`, `phone`, ...). Tokens of
    /// the hosted pages and the JSON routes (no `client_id`) are not limited by scopes.
    pub fn allows(&self, oauth_scope: &str) -> bool {
        self.client_id.is_none() || self.scope.as_deref().is_some_and(|s| s.split(' ').any(|s| s == oauth_scope))
    }

    /// Whether the token carries the role (in `roles` and as its scope).
    pub fn has_role(&self, role: &str) -> bool {
        let scope = format!("role:{role}");
        self.roles.iter().any(|r| r == role) && self.scope.as_deref().is_some_and(|s| s.split(' ').any(|s| s == scope))
    }
}

/// Who an access token is for and in which session.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    pub sub: &'a str,
    pub email: &'a str,
    pub sid: &'a str,
    pub amr: &'a [String],
    /// The user's roles, read at this issuance.
    pub roles: &'a [super::Role],
    /// Issued to an OpenID Connect client: its id and the OAuth scopes granted.
    pub oauth: Option<OAuthGrant<'a>>,
}

/// The client part of a grant made at the token endpoint.
#[derive(Clone, Copy, Debug)]
pub struct OAuthGrant<'a> {
    pub client_id: &'a str,
    /// Space-separated OAuth scopes (`openid email ...`); the `role:` scopes join them.
    pub scope: &'a str,
}

/// An OpenID Connect ID token (OIDC Core §2): for the client, about the sign-in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<String>,
    pub sid: String,
    /// The account's roles at issuance, as in access tokens (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(flatten)]
    pub profile: ScopedProfile,
}

/// What an app's scopes allow it to learn of the account (OIDC Core §5.4), in its ID token and
/// from `GET /me`: `email` (never verified by this service) and the phone with its verification.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScopedProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
}

impl ScopedProfile {
    /// `user`'s claims for the scopes `email` and `phone`, as granted.
    pub fn of(user: &super::User, email: bool, phone: bool) -> Self {
        ScopedProfile {
            email: email.then(|| user.email.as_str().to_owned()),
            // The service never proves that a person holds the address (README).
            email_verified: email.then_some(false),
            phone_number: phone.then(|| user.phone.as_e164().to_owned()),
            phone_number_verified: phone.then_some(user.phone_verified),
        }
    }
}
