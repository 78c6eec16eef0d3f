//! Access tokens (RFC 9068 profile), signed with whatever the key is: RSA (2048 bits or more) →
//! RS256, P-256 → ES256, Ed25519 → EdDSA. Each key (`kid`) is bound to that one algorithm.
//! Tokens are signed through a [`TokenSigner`] (a PEM in memory, [`PemSigner`], or AWS KMS,
//! `adapters::kms`) and checked against the current key and any older keys still listed,
//! which are also published as a JWKS.
//!
//! Beside this file: `der` (the key and signature encodings), `pem_signer` (private keys held in
//! memory), `ring_provider` (jsonwebtoken's crypto on ring) and `cache` (verified tokens).

pub mod cache;
mod der;
mod pem_signer;
mod ring_provider;

pub use self::der::ecdsa_der_to_jws;
pub use crate::domain::{AccessClaims, Grant, IdTokenClaims};
pub use cache::VerifiedTokens;
pub use pem_signer::PemSigner;

use crate::{
    config::ConfigError,
    domain::UnixTime,
    error::AuthError,
    ports::{PublicKeySource, TokenSigner},
};
use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pem_signer::PrivateKey;
use std::{sync::Arc, time::Duration};
use tokio::sync::OnceCell;

/// The JOSE `typ` of an access token (RFC 9068 §2.1); it keeps an ID token or any other JWT
/// signed by the same key from being accepted as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `iat` between Lambda instances and resource servers.
const LEEWAY_SECONDS: u64 = 30;
/// RSA keys below this size are refused (NIST SP 800-57; API Gateway's authorizer asks the same).
const MIN_RSA_BITS: usize = 2048;

#[async_trait]
impl crate::ports::AccessTokens for TokenKeys {
    async fn issue(&self, grant: &Grant<'_>, now: UnixTime) -> Result<String, AuthError> {
        TokenKeys::issue(self, grant, now).await
    }

    async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        TokenKeys::verify(self, token).await
    }

    fn access_ttl(&self) -> Duration {
        TokenKeys::access_ttl(self)
    }

    async fn issue_id_token(&self, claims: &IdTokenClaims) -> Result<String, AuthError> {
        TokenKeys::issue_id_token(self, claims).await
    }

    fn issuer(&self) -> &str {
        TokenKeys::issuer(self)
    }
}

/// RFC 9068 `scope`: a client's OAuth scopes, then `role:<name>` per role (API Gateway's JWT
/// authorizer matches `AuthorizationScopes` against it). Absent when both are empty.
fn token_scope(grant: &Grant<'_>) -> Option<String> {
    let roles = crate::domain::Roles::from_roles(grant.roles.to_vec()).ok().and_then(|r| r.scope());
    let parts: Vec<&str> = grant.oauth.map(|o| o.scope).into_iter().chain(roles.as_deref()).filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The three algorithms this service signs and accepts; the key's type decides which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    /// The JOSE name (`alg` of the header and of the JWK).
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum PublicParams {
    /// Unsigned big-endian modulus and exponent, without leading zeros (RFC 7518 §6.3.1).
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    P256 {
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

impl PublicParams {
    /// An RSA key from its big-endian modulus and exponent: the one place the size is checked
    /// (public keys, private keys and KMS keys all come through here).
    fn rsa(n: &[u8], e: &[u8]) -> Result<Self, String> {
        let (n, e) = (strip_zeros(n), strip_zeros(e));
        let bits = bit_length(n);
        if bits < MIN_RSA_BITS {
            return Err(format!("is an RSA key of {bits} bits; RS256 needs {MIN_RSA_BITS} or more"));
        }
        Ok(PublicParams::Rsa { n: n.to_vec(), e: e.to_vec() })
    }

    /// A P-256 key from its uncompressed point (`04 || x || y`, SEC 1 §2.3.3).
    fn p256(point: &[u8]) -> Option<Self> {
        match point {
            [0x04, xy @ ..] if xy.len() == 64 => Some(PublicParams::P256 { x: xy[..32].to_vec(), y: xy[32..].to_vec() }),
            _ => None,
        }
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

fn bit_length(unsigned: &[u8]) -> usize {
    match unsigned.first() {
        None => 0,
        Some(top) => unsigned.len() * 8 - top.leading_zeros() as usize,
    }
}

/// A public key this service accepts, bound to the one algorithm its type allows.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: SigningAlg,
    params: PublicParams,
    decoding: DecodingKey,
}

impl VerifyingKey {
    /// From an X.509 SubjectPublicKeyInfo (DER): what `PUBLIC KEY` PEMs hold and KMS's
    /// `GetPublicKey` returns.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        Ok(Self::from_params(der::parse_spki(der)?))
    }

    fn from_params(params: PublicParams) -> Self {
        let (alg, decoding) = match &params {
            PublicParams::Rsa { n, e } => (SigningAlg::Rs256, DecodingKey::from_rsa_raw_components(n, e)),
            PublicParams::P256 { x, y } => (SigningAlg::Es256, DecodingKey::from_ec_der(&[&[0x04], &x[..], &y[..]].concat())),
            PublicParams::Ed25519 { x } => (SigningAlg::EdDsa, DecodingKey::from_ed_der(x)),
        };
        VerifyingKey { kid: thumbprint(&params), alg, params, decoding }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The RFC 7517 JWK: `kty`, `kid`, `alg`, `use` and the public parameters, nothing private.
    pub fn jwk(&self) -> serde_json::Value {
        let mut jwk = match &self.params {
            PublicParams::Rsa { n, e } => serde_json::json!({ "kty": "RSA", "n": B64.encode(n), "e": B64.encode(e) }),
            PublicParams::P256 { x, y } => serde_json::json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y) }),
            PublicParams::Ed25519 { x } => serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(x) }),
        };
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg.name().into();
        jwk["use"] = "sig".into();
        jwk
    }

    pub fn spki_der(&self) -> Vec<u8> {
        der::encode_spki(&self.params)
    }

    /// The `PUBLIC KEY` PEM: what `JWT_VERIFY_KEYS` lists after a rotation.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der()))
    }
}

/// RFC 7638 JWK thumbprint: a `kid` that follows from the key itself, so no one has to pick one.
fn thumbprint(params: &PublicParams) -> String {
    let canonical = match params {
        PublicParams::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, B64.encode(e), B64.encode(n)),
        PublicParams::P256 { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, B64.encode(x), B64.encode(y)),
        PublicParams::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(x)),
    };
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

/// The signer in use and its key (the `kid` and `alg` of every token it makes).
struct Signing {
    signer: Arc<dyn TokenSigner>,
    key: VerifyingKey,
}

/// Issues and checks access tokens and publishes the accepted keys. Functions that only check
/// tokens have no signer; keys kept in KMS are fetched when a token is first checked.
pub struct TokenKeys {
    issuer: String,
    audience: String,
    access_ttl: Duration,
    signing: Option<Signing>,
    /// Keys known at start (the signer's own first, then `JWT_VERIFY_KEYS`).
    fixed: Vec<VerifyingKey>,
    remote: Option<Arc<dyn PublicKeySource>>,
    /// `fixed` plus the remote keys, once fetched.
    accepted: OnceCell<Vec<VerifyingKey>>,
}

impl TokenKeys {
    /// Keys for `issuer` and `audience`, as yet with no signer and no accepted key.
    pub fn new(issuer: &str, audience: &str, access_ttl: Duration) -> Self {
        ring_provider::install();
        TokenKeys {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
            signing: None,
            fixed: vec![],
            remote: None,
            accepted: OnceCell::new(),
        }
    }

    /// Signs with `signer` (and accepts its key). `var` names the setting, for a key that
    /// cannot sign tokens.
    pub fn signing_with(mut self, signer: Arc<dyn TokenSigner>, var: &'static str) -> Result<Self, ConfigError> {
        let key = VerifyingKey::from_spki_der(signer.public_key_der()).map_err(|problem| ConfigError { var, problem })?;
        self.fixed.retain(|k| k.kid != key.kid);
        self.fixed.insert(0, key.clone());
        self.signing = Some(Signing { signer, key });
        Ok(self)
    }

    /// Also accepts the keys of `pems`: `PUBLIC KEY` (or private key) PEM blocks of any of
    /// the three types (`JWT_VERIFY_KEYS`).
    pub fn accepting_pems(mut self, pems: &str) -> Result<Self, ConfigError> {
        let bad = |problem: String| ConfigError { var: "JWT_VERIFY_KEYS", problem };
        let blocks = match pem::parse_many(pems) {
            Ok(blocks) if !blocks.is_empty() => blocks,
            _ => return Err(bad("must be PEM blocks (-----BEGIN PUBLIC KEY-----)".into())),
        };
        for block in blocks {
            let key = match block.tag() {
                "PUBLIC KEY" => VerifyingKey::from_spki_der(block.contents()).map_err(&bad)?,
                "PRIVATE KEY" => VerifyingKey::from_params(PrivateKey::from_pkcs8(block.contents()).map_err(&bad)?.1),
                other => return Err(bad(format!("holds a {other:?} block; give PUBLIC KEY PEMs"))),
            };
            if self.fixed.iter().all(|k| k.kid != key.kid) {
                self.fixed.push(key);
            }
        }
        Ok(self)
    }

    /// Also accepts the keys of `source`, fetched when a token is first checked.
    pub fn accepting_from(mut self, source: Arc<dyn PublicKeySource>) -> Self {
        self.remote = Some(source);
        self
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` and algorithm of new tokens (None in a function that only checks tokens).
    pub fn signing_key(&self) -> Option<&VerifyingKey> {
        self.signing.as_ref().map(|s| &s.key)
    }

    pub async fn issue(&self, grant: &Grant<'_>, now: UnixTime) -> Result<String, AuthError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.sub.to_owned(),
            aud: self.audience.clone(),
            exp: now + self.access_ttl.as_secs() as i64,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            amr: grant.amr.to_vec(),
            email: grant.email.to_owned(),
            sid: grant.sid.to_owned(),
            roles: grant.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            scope: token_scope(grant),
            client_id: grant.oauth.map(|o| o.client_id.to_owned()),
        };
        self.sign(ACCESS_TOKEN_TYP, &claims).await
    }

    /// An OpenID Connect ID token: the same key, `typ` JWT, so it is never taken for an access
    /// token (whose `typ` is `at+jwt`).
    pub async fn issue_id_token(&self, claims: &IdTokenClaims) -> Result<String, AuthError> {
        self.sign("JWT", claims).await
    }

    async fn sign(&self, typ: &str, claims: &impl serde::Serialize) -> Result<String, AuthError> {
        let signing = self.signing.as_ref().ok_or_else(|| AuthError::internal("this function checks tokens only: it has no signer"))?;
        let header = serde_json::json!({ "alg": signing.key.alg.name(), "typ": typ, "kid": signing.key.kid });
        let claims = serde_json::to_vec(claims).map_err(AuthError::internal)?;
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims));
        let signature = signing.signer.sign(signing_input.as_bytes()).await?;
        Ok(format!("{signing_input}.{}", B64.encode(signature)))
    }

    /// Every accepted key: the fixed ones, then those of the remote source (fetched once; a
    /// failed fetch is retried by the next call).
    pub async fn accepted(&self) -> Result<&[VerifyingKey], AuthError> {
        let keys = self
            .accepted
            .get_or_try_init(|| async {
                let mut keys = self.fixed.clone();
                if let Some(source) = &self.remote {
                    for der in source.public_keys_der().await? {
                        let key = VerifyingKey::from_spki_der(&der).map_err(AuthError::internal)?;
                        if keys.iter().all(|k| k.kid != key.kid) {
                            keys.push(key);
                        }
                    }
                }
                Ok::<_, AuthError>(keys)
            })
            .await?;
        Ok(keys)
    }

    /// Checks `typ`, `kid`, the algorithm (the one bound to that key, whatever else the header
    /// says), signature, `exp`, `iss` and `aud`. Every failure is the same `InvalidToken`.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(AuthError::InvalidToken);
        }
        let kid = header.kid.ok_or(AuthError::InvalidToken)?;
        let key = self.accepted().await?.iter().find(|k| k.kid == kid).ok_or(AuthError::InvalidToken)?;
        if header.alg != key.alg.jwt() {
            return Err(AuthError::InvalidToken);
        }
        let mut validation = Validation::new(key.alg.jwt());
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map(|data| data.claims).map_err(|_| AuthError::InvalidToken)
    }

    /// RFC 7517 key set of every accepted key.
    pub async fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        let keys: Vec<_> = self.accepted().await?.iter().map(VerifyingKey::jwk).collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// The algorithms of the accepted keys, each once, the signing key's first.
    pub async fn algorithms(&self) -> Result<Vec<&'static str>, AuthError> {
        let mut algs: Vec<&'static str> = vec![];
        for key in self.accepted().await? {
            if !algs.contains(&key.alg.name()) {
                algs.push(key.alg.name());
            }
        }
        Ok(algs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{generate_p256_signing_key_pem, generate_signing_key_pem, public_pem_of};
    use jsonwebtoken::{EncodingKey, Header};
    use secrecy::{ExposeSecret, SecretString};

    const RSA_2048: &str = include_str!("../testdata/rsa2048.pem");
    const RSA_2048_OTHER: &str = include_str!("../testdata/rsa2048-other.pem");
    const RSA_1024: &str = include_str!("../testdata/rsa1024.pem");
    const P384: &str = include_str!("../testdata/p384.pem");
    /// The public halves of testdata/rsa1024.pem and p384.pem (`openssl pkey -pubout`): key
    /// types ring cannot sign with.
    const RSA_1024_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1LPNhR5j6FyEFXP5W7M472yhK
wcoHtTaPqHrzuxkHOJFlIzkstbc/wJtvG27iN7+Bj2ZCHvmLeanOx+oDAC62suD8
4zBEGS20Cuf1IBwFg3NhWVvKFBDCaWh6OOBM2JalQD5eQGeB6ZkSyTTHIcNIK2kw
5k3XUZH7ZagTp2kYjwIDAQAB
-----END PUBLIC KEY-----
";
    const P384_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAECldoL6DMcgx9veNnLyYqUMBZxVcYklQP
HWlUo7jsRtUMLB927pcRx0a+pINZOVx9mQ+mud2wQu6bcaOVGqj1TRAOPs4VfOOv
L2r5ocKaT3fsXdvd8InXb61uSS1X+DQB
-----END PUBLIC KEY-----
";

    /// The three key types: every behaviour below is checked with each.
    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Ed25519,
        P256,
        Rsa,
    }
    const KINDS: [Kind; 3] = [Kind::Ed25519, Kind::P256, Kind::Rsa];

    fn pem_of(kind: Kind) -> SecretString {
        match kind {
            Kind::Ed25519 => generate_signing_key_pem(),
            Kind::P256 => generate_p256_signing_key_pem(),
            Kind::Rsa => SecretString::from(RSA_2048.to_owned()),
        }
    }

    /// A second, different key of the same kind.
    fn other_pem_of(kind: Kind) -> SecretString {
        match kind {
            Kind::Rsa => SecretString::from(RSA_2048_OTHER.to_owned()),
            other => pem_of(other),
        }
    }

    fn alg_of(kind: Kind) -> Algorithm {
        match kind {
            Kind::Ed25519 => Algorithm::EdDSA,
            Kind::P256 => Algorithm::ES256,
            Kind::Rsa => Algorithm::RS256,
        }
    }

    fn alg_name(kind: Kind) -> &'static str {
        match kind {
            Kind::Ed25519 => "EdDSA",
            Kind::P256 => "ES256",
            Kind::Rsa => "RS256",
        }
    }

    fn encoding_key(pem: &SecretString, kind: Kind) -> EncodingKey {
        let der = pem::parse(pem.expose_secret()).unwrap().into_contents();
        match kind {
            Kind::Ed25519 => EncodingKey::from_ed_der(&der),
            Kind::P256 => EncodingKey::from_ec_der(&der),
            Kind::Rsa => EncodingKey::from_rsa_der(&der),
        }
    }

    fn keys_from(pem: &SecretString, previous: Option<&str>) -> TokenKeys {
        TokenKeys::from_pem(pem, previous, "https://issuer.test", "sms-mfa", Duration::from_secs(900)).unwrap()
    }

    fn keys_with(kind: Kind, previous: Option<&str>) -> (SecretString, TokenKeys) {
        let pem = pem_of(kind);
        let keys = keys_from(&pem, previous);
        (pem, keys)
    }

    fn kid(keys: &TokenKeys) -> String {
        keys.signing_key().unwrap().kid().to_owned()
    }

    fn now() -> UnixTime {
        crate::ports::Clock::now(&crate::ports::SystemClock)
    }

    fn grant<'a>(sub: &'a str, email: &'a str) -> Grant<'a> {
        Grant { sub, email, sid: "family-1", amr: &[], roles: &[], oauth: None }
    }

    fn forge(header: serde_json::Value, claims: &AccessClaims, signature: &str) -> String {
        format!("{}.{}.{}", B64.encode(header.to_string()), B64.encode(serde_json::to_vec(claims).unwrap()), signature)
    }

    fn refused(result: Result<AccessClaims, AuthError>) -> bool {
        matches!(result, Err(AuthError::InvalidToken))
    }

    #[tokio::test]
    async fn issued_token_round_trips_with_expected_claims() {
        for kind in KINDS {
            let (_, keys) = keys_with(kind, None);
            let token = keys
                .issue(
                    &Grant {
                        sub: "user-1",
                        email: "ada@example.com",
                        sid: "family-1",
                        amr: &["pwd".into(), "sms".into()],
                        roles: &[],
                        oauth: None,
                    },
                    now(),
                )
                .await
                .unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, alg_of(kind), "{kind:?}");
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(kid(&keys).as_str()));
            let claims = keys.verify(&token).await.unwrap();
            assert_eq!((claims.sub.as_str(), claims.aud.as_str(), claims.sid.as_str()), ("user-1", "sms-mfa", "family-1"));
            assert_eq!(claims.exp - claims.iat, 900);
        }
    }

    #[tokio::test]
    async fn the_key_decides_the_algorithm_and_the_jwks_publishes_it() {
        for (kind, kty, public_members) in
            [(Kind::Ed25519, "OKP", &["crv", "x"][..]), (Kind::P256, "EC", &["crv", "x", "y"][..]), (Kind::Rsa, "RSA", &["n", "e"][..])]
        {
            let (_, keys) = keys_with(kind, None);
            let jwks = keys.jwks().await.unwrap();
            let jwk = &jwks["keys"][0];
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg_name(kind));
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], kid(&keys).as_str());
            let mut expected: Vec<&str> = [&["kty", "kid", "alg", "use"][..], public_members].concat();
            expected.sort();
            let mut members: Vec<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
            members.sort();
            assert_eq!(members, expected, "{kind:?}: no private member, nothing missing");
            // An independent JWK reader (jsonwebtoken's) makes a key from it that checks our token.
            let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
            let token = keys.issue(&grant("u", "a@b.co"), now()).await.unwrap();
            let mut validation = Validation::new(alg_of(kind));
            validation.set_audience(&["sms-mfa"]);
            jsonwebtoken::decode::<AccessClaims>(&token, &DecodingKey::from_jwk(&parsed).unwrap(), &validation).unwrap();
            // The RFC 7638 thumbprint, computed by jsonwebtoken, is the kid.
            assert_eq!(parsed.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap(), kid(&keys), "{kind:?}");
            assert_eq!(keys.algorithms().await.unwrap(), vec![alg_name(kind)]);
        }
    }

    #[tokio::test]
    async fn refuses_alg_none_confusion_tampering_and_expiry() {
        for kind in KINDS {
            let (_, keys) = keys_with(kind, None);
            let kid = kid(&keys);
            let token = keys.issue(&grant("user-1", "ada@example.com"), now()).await.unwrap();
            let claims = keys.verify(&token).await.unwrap();
            let sig = token.rsplit('.').next().unwrap();

            let none = forge(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}), &claims, "");
            assert!(refused(keys.verify(&none).await), "{kind:?}");

            // HS256 keyed with the public key's bytes (SPKI, and the JWK members): the classic
            // algorithm confusion.
            let public = keys.signing_key().unwrap();
            let jwk = public.jwk();
            let mut secrets = vec![public.spki_der(), public.to_pem().into_bytes()];
            for member in ["x", "n"] {
                if let Some(value) = jwk[member].as_str() {
                    secrets.push(value.as_bytes().to_vec());
                    secrets.push(B64.decode(value).unwrap());
                }
            }
            for secret in secrets {
                let unsigned = forge(serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}), &claims, "");
                let mac =
                    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret), unsigned.trim_end_matches('.').as_bytes());
                let confused = format!("{unsigned}{}", B64.encode(mac.as_ref()));
                assert!(refused(keys.verify(&confused).await), "{kind:?}");
            }

            let mut tampered_claims = claims.clone();
            tampered_claims.sub = "admin".into();
            let tampered = forge(serde_json::json!({"alg": alg_name(kind), "typ": "at+jwt", "kid": kid}), &tampered_claims, sig);
            assert!(refused(keys.verify(&tampered).await), "{kind:?}");

            let expired = keys.issue(&grant("user-1", "a@b.co"), now() - 3600).await.unwrap();
            assert!(refused(keys.verify(&expired).await), "{kind:?}");
            assert!(refused(keys.verify("garbage").await));

            // Well signed by the right key but the header names another of the three algorithms.
            for other in KINDS.into_iter().filter(|k| alg_of(*k) != alg_of(kind)) {
                let mut header = Header::new(alg_of(other));
                header.typ = Some("at+jwt".into());
                header.kid = Some(kid.clone());
                let wrong_alg = jsonwebtoken::encode(&header, &claims, &encoding_key(&pem_of(other), other)).unwrap();
                assert!(refused(keys.verify(&wrong_alg).await), "{kind:?} key, {other:?} header");
            }
        }
    }

    #[tokio::test]
    async fn a_kid_is_bound_to_its_algorithm() {
        // A verifier that accepts an RSA and an Ed25519 key: a token signed by the Ed25519 key
        // under the RSA key's kid (or the other way round) is refused, whichever alg it claims.
        let ed = generate_signing_key_pem();
        let rsa = SecretString::from(RSA_2048.to_owned());
        let keys = keys_from(&ed, Some(&public_pem_of(&rsa).unwrap()));
        let rsa_kid = keys_from(&rsa, None).signing_key().unwrap().kid().to_owned();
        let ed_kid = kid(&keys);
        assert_eq!(keys.accepted().await.unwrap().len(), 2);
        let claims = keys.verify(&keys.issue(&grant("u", "a@b.co"), now()).await.unwrap()).await.unwrap();
        for (signing_kind, signing_pem, kid) in [(Kind::Ed25519, &ed, &rsa_kid), (Kind::Rsa, &rsa, &ed_kid)] {
            let mut header = Header::new(alg_of(signing_kind));
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            let token = jsonwebtoken::encode(&header, &claims, &encoding_key(signing_pem, signing_kind)).unwrap();
            assert!(refused(keys.verify(&token).await), "{signing_kind:?} under the other kid");
        }
        // Under its own kid, the RSA key's token is fine: it is an accepted key.
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(rsa_kid);
        let token = jsonwebtoken::encode(&header, &claims, &encoding_key(&rsa, Kind::Rsa)).unwrap();
        assert!(keys.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn refuses_wrong_audience_issuer_typ_and_unknown_kid() {
        for kind in KINDS {
            let (pem, keys) = keys_with(kind, None);
            let other_aud = TokenKeys::from_pem(&pem, None, "https://issuer.test", "other", Duration::from_secs(900)).unwrap();
            let other_iss = TokenKeys::from_pem(&pem, None, "https://evil.test", "sms-mfa", Duration::from_secs(900)).unwrap();
            for foreign in [&other_aud, &other_iss] {
                let token = foreign.issue(&grant("u", "a@b.co"), now()).await.unwrap();
                assert!(refused(keys.verify(&token).await), "{kind:?}");
            }
            let stranger = keys_from(&other_pem_of(kind), None);
            let token = stranger.issue(&grant("u", "a@b.co"), now()).await.unwrap();
            assert!(refused(keys.verify(&token).await), "{kind:?}");

            let claims = keys.verify(&keys.issue(&grant("u", "a@b.co"), now()).await.unwrap()).await.unwrap();
            let mut id_token = Header::new(alg_of(kind));
            id_token.typ = Some("JWT".into());
            id_token.kid = Some(kid(&keys));
            let wrong_typ = jsonwebtoken::encode(&id_token, &claims, &encoding_key(&pem, kind)).unwrap();
            assert!(refused(keys.verify(&wrong_typ).await), "{kind:?}");
        }
    }

    #[tokio::test]
    async fn rotation_keeps_tokens_of_listed_older_keys_valid() {
        for kind in KINDS {
            let old_pem = pem_of(kind);
            let old_keys = keys_from(&old_pem, None);
            let old_token = old_keys.issue(&grant("u", "a@b.co"), now()).await.unwrap();
            let old_public = public_pem_of(&old_pem).unwrap();

            let new_pem = other_pem_of(kind);
            let rotated = keys_from(&new_pem, Some(&old_public));
            assert!(rotated.verify(&old_token).await.is_ok(), "{kind:?}: older listed key still accepted");
            let jwks = rotated.jwks().await.unwrap();
            let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
            assert_eq!(kids, [kid(&rotated), kid(&old_keys)], "{kind:?}: the new key first, the old one still published");
            let new_token = rotated.issue(&grant("u", "a@b.co"), now()).await.unwrap();
            assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid, Some(kid(&rotated)), "new tokens carry the new kid");

            let rotated_out = keys_from(&new_pem, None);
            assert!(refused(rotated_out.verify(&old_token).await), "{kind:?}");
            assert_eq!(rotated_out.jwks().await.unwrap()["keys"].as_array().unwrap().len(), 1);
        }
    }

    #[test]
    fn malformed_and_weak_keys_are_config_errors() {
        let bad = SecretString::from("not a pem".to_owned());
        assert!(TokenKeys::from_pem(&bad, None, "i", "a", Duration::from_secs(1)).is_err());
        for (pem, why) in [(RSA_1024, "1024 bits"), (P384, "not RSA, P-256 or Ed25519")] {
            let err = TokenKeys::from_pem(&SecretString::from(pem.to_owned()), None, "i", "a", Duration::from_secs(1)).err().unwrap();
            assert_eq!(err.var, "JWT_SIGNING_KEY", "{why}");
        }
        let (pem, _) = keys_with(Kind::Ed25519, None);
        let err = TokenKeys::from_pem(&pem, Some("junk"), "i", "a", Duration::from_secs(1)).err().unwrap();
        assert_eq!(err.var, "JWT_VERIFY_KEYS");
        // Public keys of refused types are refused in JWT_VERIFY_KEYS too.
        for public in [RSA_1024_PUBLIC, P384_PUBLIC] {
            let err = TokenKeys::from_pem(&pem, Some(public), "i", "a", Duration::from_secs(1)).err().unwrap();
            assert_eq!(err.var, "JWT_VERIFY_KEYS");
        }
    }

    #[tokio::test]
    async fn a_function_without_signer_checks_but_does_not_issue() {
        let (pem, issuer) = keys_with(Kind::Rsa, None);
        let verifier = TokenKeys::new("https://issuer.test", "sms-mfa", Duration::from_secs(900))
            .accepting_pems(&public_pem_of(&pem).unwrap())
            .unwrap();
        let token = issuer.issue(&grant("u", "a@b.co"), now()).await.unwrap();
        assert!(verifier.verify(&token).await.is_ok());
        assert!(matches!(verifier.issue(&grant("u", "a@b.co"), now()).await, Err(AuthError::Internal(_))));
    }
}
