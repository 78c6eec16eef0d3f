//! jsonwebtoken's crypto backend: RS256, ES256 and EdDSA on ring and nothing else, so no other
//! algorithm (HMAC above all) can even be verified, and the binaries carry no second crypto
//! library (the crate's own backends bring aws-lc or the RustCrypto suite).

use super::{der, pem_signer::PrivateKey, PublicParams};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

/// Before the first token is signed or checked. A provider installed earlier (a test
/// harness using the crate's own backend) is left in place.
pub fn install() {
    let _ = PROVIDER.install_default();
}

/// A PKCS#8 private key (the DER of an `EncodingKey::from_*_der`).
struct Signer(PrivateKey);

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        self.0.sign(&SystemRandom::new(), message).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        self.0.alg().jwt()
    }
}

struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let checked = match (self.algorithm, self.key.kind()) {
            (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
                PublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            }
            (Algorithm::RS256, DecodingKeyKind::SecretOrDer(pkcs1)) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1).verify(message, signature)
            }
            (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
            }
            (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(raw)) => UnparsedPublicKey::new(&ED25519, raw).verify(message, signature),
            _ => return Err(signature::Error::new()),
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn signer_factory(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let invalid = match (algorithm, key.family()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa) => ErrorKind::InvalidRsaKey("not PKCS#8".into()),
        (Algorithm::ES256, AlgorithmFamily::Ec) => ErrorKind::InvalidEcdsaKey,
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => ErrorKind::InvalidEddsaKey,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    match PrivateKey::from_pkcs8(key.as_bytes()) {
        Ok((private, _)) if private.alg().jwt() == *algorithm => Ok(Box::new(Signer(private))),
        _ => Err(invalid.into()),
    }
}

fn verifier_factory(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (algorithm, key.family()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa) | (Algorithm::ES256, AlgorithmFamily::Ec) | (Algorithm::EdDSA, AlgorithmFamily::Ed) => {
            Ok(Box::new(Verifier { algorithm: *algorithm, key: key.clone() }))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn rsa_pub_components_from_private_key(pkcs8: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    match PrivateKey::from_pkcs8(pkcs8) {
        Ok((_, PublicParams::Rsa { n, e })) => Ok((n, e)),
        _ => Err(ErrorKind::InvalidRsaKey("not PKCS#8".into()).into()),
    }
}

/// From a PKCS#1 `RSAPublicKey` (what `DecodingKey::from_rsa_der` holds).
fn rsa_pub_components_from_public_key(pkcs1: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (n, e) = der::rsa_public_key(pkcs1).ok_or_else(|| ErrorKind::InvalidRsaKey("not a PKCS#1 RSAPublicKey".into()))?;
    Ok((n.to_vec(), e.to_vec()))
}

fn ec_pub_components_from_private_key(pkcs8: &[u8], algorithm: Algorithm) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    if algorithm != Algorithm::ES256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    match PrivateKey::from_pkcs8(pkcs8) {
        Ok((_, PublicParams::P256 { x, y })) => Ok((EllipticCurve::P256, x, y)),
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_pub_components_from_private_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match (curve, PrivateKey::from_pkcs8(pkcs8)) {
        (EllipticCurve::Ed25519, Ok((_, PublicParams::Ed25519 { x }))) => Ok(x),
        (EllipticCurve::Ed25519, _) => Err(ErrorKind::InvalidEddsaKey.into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{generate_p256_signing_key_pem, generate_signing_key_pem};
    use jsonwebtoken::{Header, Validation};
    use secrecy::{ExposeSecret, SecretString};
    use spki::der::Decode;

    const RSA_2048: &str = include_str!("../testdata/rsa2048.pem");

    fn der_of(pem: &SecretString) -> Vec<u8> {
        pem::parse(pem.expose_secret()).unwrap().into_contents()
    }

    #[test]
    fn the_token_backend_knows_only_rs256_es256_and_eddsa() {
        install();
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let rsa = EncodingKey::from_rsa_der(&der_of(&SecretString::from(RSA_2048.to_owned())));
        let ec = EncodingKey::from_ec_der(&der_of(&generate_p256_signing_key_pem()));
        let claims = serde_json::json!({"sub": "x"});
        for (alg, key) in [
            (Algorithm::HS256, &secret),
            (Algorithm::HS512, &secret),
            (Algorithm::RS384, &rsa),
            (Algorithm::RS512, &rsa),
            (Algorithm::PS256, &rsa),
            (Algorithm::ES384, &ec),
            (Algorithm::RS256, &secret),
            (Algorithm::ES256, &rsa),
        ] {
            assert!(jsonwebtoken::encode(&Header::new(alg), &claims, key).is_err(), "{alg:?} signs");
        }
        for alg in [Algorithm::RS256, Algorithm::ES256] {
            let key = if alg == Algorithm::RS256 { &rsa } else { &ec };
            assert!(jsonwebtoken::encode(&Header::new(alg), &claims, key).is_ok(), "{alg:?} does not sign");
        }
        // Verification refuses HMAC even when handed a secret key.
        let token = "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo";
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(b"secret"), &validation).is_err());
    }

    #[test]
    fn a_key_of_another_type_than_its_algorithm_does_not_sign() {
        install();
        let claims = serde_json::json!({"sub": "x"});
        // An Ed25519 key handed over as RSA or EC, a P-256 key as Ed25519.
        let ed = der_of(&generate_signing_key_pem());
        let p256 = der_of(&generate_p256_signing_key_pem());
        for (alg, key) in [
            (Algorithm::RS256, EncodingKey::from_rsa_der(&ed)),
            (Algorithm::ES256, EncodingKey::from_ec_der(&ed)),
            (Algorithm::EdDSA, EncodingKey::from_ed_der(&p256)),
        ] {
            assert!(jsonwebtoken::encode(&Header::new(alg), &claims, &key).is_err(), "{alg:?}");
        }
        assert!(jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &EncodingKey::from_ed_der(&ed)).is_ok());
    }

    #[test]
    fn public_components_come_from_the_one_pkcs8_reader() {
        let rsa = der_of(&SecretString::from(RSA_2048.to_owned()));
        let (n, e) = rsa_pub_components_from_private_key(&rsa).unwrap();
        assert_eq!((n.len(), e.as_slice()), (256, &[1u8, 0, 1][..]));
        // The PKCS#1 key inside the key's SPKI gives the same.
        let spki = der::encode_spki(&PublicParams::Rsa { n: n.clone(), e: e.clone() });
        let pkcs1 = spki::SubjectPublicKeyInfoRef::from_der(&spki).unwrap().subject_public_key.raw_bytes().to_vec();
        assert_eq!(rsa_pub_components_from_public_key(&pkcs1).unwrap(), (n, e));
        assert!(rsa_pub_components_from_public_key(&pkcs1[1..]).is_err());
        let p256 = der_of(&generate_p256_signing_key_pem());
        assert!(
            matches!(ec_pub_components_from_private_key(&p256, Algorithm::ES256), Ok((EllipticCurve::P256, x, y)) if x.len() == 32 && y.len() == 32)
        );
        assert!(ec_pub_components_from_private_key(&p256, Algorithm::ES384).is_err());
        assert!(ed_pub_components_from_private_key(&p256, &EllipticCurve::Ed25519).is_err());
        assert!(rsa_pub_components_from_private_key(&p256).is_err());
        let ed = der_of(&generate_signing_key_pem());
        assert_eq!(ed_pub_components_from_private_key(&ed, &EllipticCurve::Ed25519).unwrap().len(), 32);
    }
}
