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
}

impl AccessClaims {
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
}
