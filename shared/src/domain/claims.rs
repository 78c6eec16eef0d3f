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
}

/// Who an access token is for and in which session.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    pub sub: &'a str,
    pub email: &'a str,
    pub sid: &'a str,
    pub amr: &'a [String],
}
