//! EdDSA access tokens (RFC 9068 profile): signing with the current key, verifying against the
//! current key and any older keys still listed, and publishing them as a JWKS.

use crate::{config::ConfigError, domain::UnixTime, error::AuthError};
use ring::signature::{Ed25519KeyPair, KeyPair};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The JOSE `typ` of an access token (RFC 9068 §2.1); it keeps an ID token or any other JWT
/// signed by the same key from being accepted as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `iat` between Lambda instances and resource servers.
const LEEWAY_SECONDS: u64 = 30;
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

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

struct VerifyingKey {
    kid: String,
    raw: [u8; 32],
    decoding: DecodingKey,
}

impl VerifyingKey {
    fn from_raw(raw: [u8; 32]) -> Self {
        VerifyingKey { kid: thumbprint(&raw), raw, decoding: DecodingKey::from_ed_der(&raw) }
    }
}

pub struct TokenKeys {
    issuer: String,
    audience: String,
    access_ttl: Duration,
    kid: String,
    encoding: EncodingKey,
    /// The current key first, then older keys still accepted during a rotation.
    verifying: Vec<VerifyingKey>,
}

impl TokenKeys {
    /// `private_pem`: PKCS#8 Ed25519 (`openssl genpkey -algorithm ed25519`); `previous_public_pems`:
    /// zero or more `PUBLIC KEY` (or private key) PEM blocks of keys being rotated out.
    pub fn from_pem(
        private_pem: &SecretString,
        previous_public_pems: Option<&str>,
        issuer: &str,
        audience: &str,
        access_ttl: Duration,
    ) -> Result<Self, ConfigError> {
        eddsa_on_ring::install();
        let bad_key = |why: &str| ConfigError { var: "JWT_SIGNING_KEY", problem: why.to_owned() };
        let block = pem::parse(private_pem.expose_secret().trim())
            .map_err(|_| bad_key("is not a PEM block"))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(bad_key("must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) Ed25519 key"));
        }
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(block.contents())
            .map_err(|_| bad_key("is not an Ed25519 private key"))?;
        let raw: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| bad_key("has an odd public key"))?;
        let current = VerifyingKey::from_raw(raw);
        let mut verifying = vec![];
        let bad_list = || ConfigError { var: "JWT_VERIFY_KEYS", problem: "must be Ed25519 PEM blocks".into() };
        let previous_blocks = match previous_public_pems {
            None => vec![],
            Some(text) => match pem::parse_many(text) {
                Ok(blocks) if !blocks.is_empty() => blocks,
                _ => return Err(bad_list()),
            },
        };
        for previous in previous_blocks {
            let raw = public_key_from_pem(&previous).ok_or_else(bad_list)?;
            if raw != current.raw && verifying.iter().all(|k: &VerifyingKey| k.raw != raw) {
                verifying.push(VerifyingKey::from_raw(raw));
            }
        }
        verifying.insert(0, current);
        Ok(TokenKeys {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
            kid: verifying[0].kid.clone(),
            encoding: EncodingKey::from_ed_der(block.contents()),
            verifying,
        })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn issue(&self, grant: &Grant<'_>, now: UnixTime) -> Result<String, AuthError> {
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
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(AuthError::internal)
    }

    /// Checks algorithm (EdDSA only, whatever the header says), `typ`, `kid`, signature,
    /// `exp`, `iss` and `aud`. Every failure is the same `InvalidToken`.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(AuthError::InvalidToken);
        }
        let key = header
            .kid
            .and_then(|kid| self.verifying.iter().find(|k| k.kid == kid))
            .ok_or(AuthError::InvalidToken)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::InvalidToken)
    }

    /// RFC 7517 key set of every accepted key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .verifying
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": B64.encode(k.raw),
                    "kid": k.kid, "alg": "EdDSA", "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// jsonwebtoken's crypto backend: EdDSA on ring and nothing else, so no other algorithm can even
/// be verified, and the binaries carry no RSA, ECDSA or HMAC code for tokens (the crate's own
/// backends bring aws-lc or the RustCrypto suite).
mod eddsa_on_ring {
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory,
        verifier_factory,
        key_utils: KeyUtils {
            rsa_pub_components_from_private_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
            rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
            ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
            ed_pub_components_from_private_key,
            compute_digest,
        },
    };

    /// Before the first token is signed or checked. A provider installed earlier (a test
    /// harness using the crate's own backend) is left in place.
    pub fn install() {
        let _ = PROVIDER.install_default();
    }

    struct Signer(Ed25519KeyPair);

    impl signature::Signer<Vec<u8>> for Signer {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            Ok(self.0.sign(message).as_ref().to_vec())
        }
    }

    impl JwtSigner for Signer {
        fn algorithm(&self) -> Algorithm {
            Algorithm::EdDSA
        }
    }

    struct Verifier(Vec<u8>);

    impl signature::Verifier<Vec<u8>> for Verifier {
        fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
            UnparsedPublicKey::new(&ED25519, &self.0).verify(message, signature).map_err(|_| signature::Error::new())
        }
    }

    impl JwtVerifier for Verifier {
        fn algorithm(&self) -> Algorithm {
            Algorithm::EdDSA
        }
    }

    fn signer_factory(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        match algorithm {
            Algorithm::EdDSA => Ok(Box::new(Signer(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?,
            ))),
            _ => Err(ErrorKind::InvalidAlgorithm.into()),
        }
    }

    fn verifier_factory(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        match algorithm {
            Algorithm::EdDSA => Ok(Box::new(Verifier(key.try_get_as_bytes()?.to_vec()))),
            _ => Err(ErrorKind::InvalidAlgorithm.into()),
        }
    }

    fn ed_pub_components_from_private_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
        match curve {
            EllipticCurve::Ed25519 => Ok(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|_| ErrorKind::InvalidEddsaKey)?
                .public_key()
                .as_ref()
                .to_vec()),
            _ => Err(ErrorKind::InvalidAlgorithm.into()),
        }
    }

    fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
        let algorithm = match hash {
            ThumbprintHash::SHA256 => &ring::digest::SHA256,
            ThumbprintHash::SHA384 => &ring::digest::SHA384,
            ThumbprintHash::SHA512 => &ring::digest::SHA512,
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        };
        Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
    }
}

/// RFC 7638 JWK thumbprint: a `kid` that follows from the key itself, so no one has to pick one.
fn thumbprint(raw: &[u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(raw));
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

fn public_key_from_pem(block: &pem::Pem) -> Option<[u8; 32]> {
    match block.tag() {
        "PUBLIC KEY" => {
            let der = block.contents();
            (der.len() == 44 && der[..12] == ED25519_SPKI_PREFIX).then(|| der[12..].try_into().ok())?
        }
        "PRIVATE KEY" => Ed25519KeyPair::from_pkcs8_maybe_unchecked(block.contents())
            .ok()
            .and_then(|pair| pair.public_key().as_ref().try_into().ok()),
        _ => None,
    }
}

/// A fresh PKCS#8 PEM Ed25519 key: for tests, benches and local setup.
pub fn generate_signing_key_pem() -> SecretString {
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("the system RNG works");
    SecretString::from(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
}

/// The `PUBLIC KEY` PEM of a private key PEM: what JWT_VERIFY_KEYS lists after a rotation.
pub fn public_pem_of(private_pem: &SecretString) -> Option<String> {
    let block = pem::parse(private_pem.expose_secret().trim()).ok()?;
    let raw = public_key_from_pem(&block)?;
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(&raw);
    Some(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_with(previous: Option<&str>) -> (SecretString, TokenKeys) {
        let pem = generate_signing_key_pem();
        let keys = TokenKeys::from_pem(&pem, previous, "https://issuer.test", "sms-mfa", Duration::from_secs(900)).unwrap();
        (pem, keys)
    }

    fn now() -> UnixTime {
        crate::ports::Clock::now(&crate::ports::SystemClock)
    }

    fn grant<'a>(sub: &'a str, email: &'a str) -> Grant<'a> {
        Grant { sub, email, sid: "family-1", amr: &[] }
    }

    fn forge(header: serde_json::Value, claims: &AccessClaims, signature: &str) -> String {
        format!("{}.{}.{}", B64.encode(header.to_string()), B64.encode(serde_json::to_vec(claims).unwrap()), signature)
    }

    #[test]
    fn issued_token_round_trips_with_expected_claims() {
        let (_, keys) = keys_with(None);
        let token = keys.issue(&Grant { sub: "user-1", email: "ada@example.com", sid: "family-1", amr: &["pwd".into(), "sms".into()] }, now()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(keys.kid.as_str()));
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.aud.as_str(), claims.sid.as_str()), ("user-1", "sms-mfa", "family-1"));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn refuses_alg_none_confusion_tampering_and_expiry() {
        let (_, keys) = keys_with(None);
        let token = keys.issue(&grant("user-1", "ada@example.com"), now()).unwrap();
        let claims = keys.verify(&token).unwrap();
        let sig = token.rsplit('.').next().unwrap();

        let none = forge(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": keys.kid}), &claims, "");
        assert!(matches!(keys.verify(&none), Err(AuthError::InvalidToken)));

        // HS256 keyed with the public key bytes: the classic algorithm confusion.
        let unsigned = forge(serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": keys.kid}), &claims, "");
        let mac = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &keys.verifying[0].raw), unsigned.trim_end_matches('.').as_bytes());
        let confused = format!("{unsigned}{}", B64.encode(mac.as_ref()));
        assert!(matches!(keys.verify(&confused), Err(AuthError::InvalidToken)));

        let mut tampered_claims = claims.clone();
        tampered_claims.sub = "admin".into();
        let tampered = forge(serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": keys.kid}), &tampered_claims, sig);
        assert!(matches!(keys.verify(&tampered), Err(AuthError::InvalidToken)));

        let expired = keys.issue(&grant("user-1", "a@b.co"), now() - 3600).unwrap();
        assert!(matches!(keys.verify(&expired), Err(AuthError::InvalidToken)));
        assert!(matches!(keys.verify("garbage"), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn the_token_backend_knows_only_eddsa() {
        let _ = keys_with(None); // installs the provider
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        for alg in [Algorithm::HS256, Algorithm::HS512, Algorithm::RS256, Algorithm::ES256, Algorithm::PS256] {
            let header = Header::new(alg);
            assert!(jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x"}), &secret).is_err(), "{alg:?} signs");
        }
    }

    #[test]
    fn refuses_wrong_audience_issuer_typ_and_unknown_kid() {
        let (pem, keys) = keys_with(None);
        let other_aud = TokenKeys::from_pem(&pem, None, "https://issuer.test", "other", Duration::from_secs(900)).unwrap();
        let other_iss = TokenKeys::from_pem(&pem, None, "https://evil.test", "sms-mfa", Duration::from_secs(900)).unwrap();
        for foreign in [&other_aud, &other_iss] {
            let token = foreign.issue(&grant("u", "a@b.co"), now()).unwrap();
            assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)));
        }
        let (_, stranger) = keys_with(None);
        let token = stranger.issue(&grant("u", "a@b.co"), now()).unwrap();
        assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)));

        let claims = keys.verify(&keys.issue(&grant("u", "a@b.co"), now()).unwrap()).unwrap();
        let mut id_token = Header::new(Algorithm::EdDSA);
        id_token.typ = Some("JWT".into());
        id_token.kid = Some(keys.kid.clone());
        let wrong_typ = jsonwebtoken::encode(&id_token, &claims, &keys.encoding).unwrap();
        assert!(matches!(keys.verify(&wrong_typ), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn rotation_keeps_tokens_of_listed_older_keys_valid() {
        let (old_pem, old_keys) = keys_with(None);
        let old_token = old_keys.issue(&grant("u", "a@b.co"), now()).unwrap();
        let old_public = public_pem_of(&old_pem).unwrap();

        let (_, rotated) = keys_with(Some(&old_public));
        assert!(rotated.verify(&old_token).is_ok(), "older listed key still accepted");
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);

        let (_, rotated_out) = keys_with(None);
        assert!(matches!(rotated_out.verify(&old_token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn malformed_keys_are_config_errors() {
        let bad = SecretString::from("not a pem".to_owned());
        assert!(TokenKeys::from_pem(&bad, None, "i", "a", Duration::from_secs(1)).is_err());
        let (pem, _) = keys_with(None);
        let err = TokenKeys::from_pem(&pem, Some("junk"), "i", "a", Duration::from_secs(1)).err().unwrap();
        assert_eq!(err.var, "JWT_VERIFY_KEYS");
    }
}
