//! What an OpenID Connect authorization request, code and token request are made of (RFC 6749,
//! RFC 7636, OIDC Core §3.1): scopes, the PKCE challenge, prompt and max_age, the errors of the
//! OAuth wire, and the codes and SSO sessions as stored.

use super::{UnixTime, UserId};
pub use crate::error::{OAuthError, OAuthErrorCode};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::digest;
use std::collections::BTreeSet;

/// The scopes this provider grants.
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "email", "phone", "offline_access"];

/// A granted scope set: always contains `openid`, only supported scopes, space-separated on
/// the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// `scope` of an authorization request: `openid` and supported scopes only.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let set: BTreeSet<String> = raw.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if let Some(unknown) = set.iter().find(|s| !SUPPORTED_SCOPES.contains(&s.as_str())) {
            return Err(OAuthError::new(OAuthErrorCode::InvalidScope, format!("unsupported scope {unknown:?}")));
        }
        if !set.contains("openid") {
            return Err(OAuthError::new(OAuthErrorCode::InvalidScope, "scope must include openid"));
        }
        Ok(Scopes(set))
    }

    /// A narrower set asked for at refresh: a subset of `self`, or `invalid_scope`.
    pub fn narrowed_to(&self, raw: &str) -> Result<Self, OAuthError> {
        let asked = Scopes::parse(raw)?;
        if !asked.0.is_subset(&self.0) {
            return Err(OAuthError::new(OAuthErrorCode::InvalidScope, "the scope asked for is wider than the one granted"));
        }
        Ok(asked)
    }

    pub fn has(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Space-separated, in a stable order.
    pub fn text(&self) -> String {
        self.0.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
    }
}

/// RFC 7636 S256 `code_challenge`: 43 base64url characters (a SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, OAuthError> {
        match method {
            Some("S256") => {}
            None => return Err(OAuthError::invalid_request("code_challenge_method=S256 is required (PKCE)")),
            Some(_) => return Err(OAuthError::invalid_request("only code_challenge_method=S256 is supported")),
        }
        if challenge.len() != 43 || B64.decode(challenge).is_err() {
            return Err(OAuthError::invalid_request("code_challenge must be the base64url SHA-256 of the verifier (43 characters)"));
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    pub fn stored(text: String) -> Self {
        CodeChallenge(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (43 to 128 unreserved characters) hashes to this challenge.
    pub fn is_met_by(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        let computed = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        well_formed && super::constant_time_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

/// The parameters of an OAuth request (query string or form body), decoded. A parameter sent
/// twice is an error (RFC 6749 §3.1), and so is one without a value only when it is asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthParams(Vec<(String, String)>);

impl OAuthParams {
    /// From `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(encoded: &str) -> Self {
        OAuthParams(form_urlencoded::parse(encoded.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The value of `name` if sent once and non-empty; `invalid_request` if sent more than once.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(format!("{name} is sent more than once"))),
            (Some(""), None) | (None, _) => Ok(None),
            (Some(value), None) => Ok(Some(value)),
        }
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
    }

    /// The same parameters but `dropped`, encoded again (the hosted pages' query string).
    pub fn encoded_without(&self, dropped: &[&str]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| !dropped.contains(&k.as_str())) {
            out.append_pair(k, v);
        }
        out.finish()
    }
}

/// `prompt`: `none` (answer without any page) or `login` (sign in again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    None,
    Login,
}

impl Prompt {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, OAuthError> {
        match raw {
            None | Some("") => Ok(None),
            Some("none") => Ok(Some(Prompt::None)),
            Some("login") => Ok(Some(Prompt::Login)),
            Some(other) if other.split(' ').any(|p| p == "none") => {
                Err(OAuthError::invalid_request("prompt=none cannot be combined with another value"))
            }
            Some(_) => Err(OAuthError::invalid_request("prompt must be none or login")),
        }
    }
}

/// An authorization code as stored (only its hash is the key): everything it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: CodeChallenge,
    pub user_id: UserId,
    /// The SSO session's id (the ID token's `sid`).
    pub session_id: String,
    pub scopes: Scopes,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    pub expires_at: UnixTime,
}

/// What redeeming a code found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code's bindings, and `family_id` reserved for the tokens it issues.
    First(AuthorizationCode),
    /// Used before: the refresh family its first use issued (revoked now, RFC 6749 §4.1.2).
    Replayed { family_id: Option<String>, user_id: UserId },
    /// Unknown or expired.
    Unknown,
}

/// A browser's single sign-on session on the hosted pages, keyed by its cookie's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoSession {
    pub cookie_hash: String,
    /// Public: the ID token's `sid` (a hash of the hash, so it reveals nothing of the cookie).
    pub id: String,
    pub user_id: UserId,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    /// The account's credentials version at sign-in: any credential change ends the session.
    pub credentials_version: u64,
    pub expires_at: UnixTime,
}

/// A secret handed out once and stored only hashed (SSO cookies, authorization codes):
/// 256 random bits, base64url, with a recognisable prefix.
pub struct OpaqueSecret {
    pub text: String,
    pub hash: String,
}

impl OpaqueSecret {
    pub fn generate(prefix: &str) -> Self {
        use ring::rand::{SecureRandom, SystemRandom};
        let mut raw = [0u8; 32];
        SystemRandom::new().fill(&mut raw).expect("the system RNG works");
        let text = format!("{prefix}{}", B64.encode(raw));
        let hash = Self::hash_of(&text);
        OpaqueSecret { text, hash }
    }

    /// The stored form of a presented value (whatever it is: a garbage value just finds nothing).
    pub fn hash_of(text: &str) -> String {
        B64.encode(digest::digest(&digest::SHA256, text.as_bytes()))
    }
}

/// The public id of an SSO session: derived from the cookie's hash, so neither reveals the other.
pub fn session_id_of(cookie_hash: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"sms-mfa sso sid v1");
    ctx.update(cookie_hash.as_bytes());
    B64.encode(&ctx.finish().as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_need_openid_and_only_supported_ones() {
        assert_eq!(Scopes::parse("openid email").unwrap().text(), "email openid");
        assert_eq!(Scopes::parse("email").unwrap_err().code, OAuthErrorCode::InvalidScope);
        assert_eq!(Scopes::parse("openid profile").unwrap_err().code, OAuthErrorCode::InvalidScope);
        assert_eq!(Scopes::parse("").unwrap_err().code, OAuthErrorCode::InvalidScope);
        let granted = Scopes::parse("openid email offline_access").unwrap();
        assert_eq!(granted.narrowed_to("openid").unwrap().text(), "openid");
        assert_eq!(granted.narrowed_to("openid phone").unwrap_err().code, OAuthErrorCode::InvalidScope);
    }

    #[test]
    fn pkce_s256_only() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        assert!(challenge.is_met_by(verifier));
        assert!(!challenge.is_met_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!challenge.is_met_by("short"));
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("plain")).is_err());
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None).is_err());
        assert!(CodeChallenge::parse("too-short", Some("S256")).is_err());
    }

    #[test]
    fn params_refuse_repeats_and_treat_empty_as_absent() {
        let params = OAuthParams::parse("a=1&b=&c=x%20y&d=1&d=2");
        assert_eq!(params.get("a").unwrap(), Some("1"));
        assert_eq!(params.get("b").unwrap(), None);
        assert_eq!(params.get("c").unwrap(), Some("x y"));
        assert_eq!(params.get("d").unwrap_err().code, OAuthErrorCode::InvalidRequest);
        assert_eq!(params.require("zz").unwrap_err().code, OAuthErrorCode::InvalidRequest);
        assert_eq!(params.encoded_without(&["d", "b"]), "a=1&c=x+y");
    }

    #[test]
    fn prompt_values() {
        assert_eq!(Prompt::parse(Some("none")).unwrap(), Some(Prompt::None));
        assert_eq!(Prompt::parse(Some("login")).unwrap(), Some(Prompt::Login));
        assert_eq!(Prompt::parse(None).unwrap(), None);
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("consent")).is_err());
    }

    #[test]
    fn secrets_are_random_and_stored_hashed() {
        let (a, b) = (OpaqueSecret::generate("oc_"), OpaqueSecret::generate("oc_"));
        assert!(a.text.starts_with("oc_") && a.text.len() == 46);
        assert_ne!(a.text, b.text);
        assert_eq!(OpaqueSecret::hash_of(&a.text), a.hash);
        assert!(!a.hash.contains(&a.text[3..]));
        assert_ne!(session_id_of(&a.hash), a.hash);
    }
}
