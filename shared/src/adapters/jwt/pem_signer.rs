//! Private keys: the one PKCS#8 reader (ring's, tried for each of the three key types), and the
//! signer for a key held in memory.

use super::{der, PublicParams, SigningAlg};
use crate::{config::ConfigError, error::AuthError, ports::TokenSigner};
use async_trait::async_trait;
use ring::{
    rand::SystemRandom,
    rsa::PublicKeyComponents,
    signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256},
};
use secrecy::{ExposeSecret, SecretString};

/// A private key of one of the three types, as ring holds it.
pub(super) enum PrivateKey {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl PrivateKey {
    /// A PKCS#8 `PrivateKeyInfo` (DER) and its public half. Every private key is read here: the
    /// signing key, a private block in `JWT_VERIFY_KEYS`, and the keys jsonwebtoken hands its
    /// provider.
    pub(super) fn from_pkcs8(der: &[u8]) -> Result<(Self, PublicParams), String> {
        const UNSUPPORTED: &str = "is not an RSA (2048 bits or more), P-256 or Ed25519 private key";
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let x = pair.public_key().as_ref().to_vec();
            Ok((PrivateKey::Ed25519(pair), PublicParams::Ed25519 { x }))
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new()) {
            let params = PublicParams::p256(pair.public_key().as_ref()).ok_or(UNSUPPORTED)?;
            Ok((PrivateKey::P256(pair), params))
        } else if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            let components = PublicKeyComponents::<Vec<u8>>::from(pair.public());
            let params = PublicParams::rsa(&components.n, &components.e)?;
            Ok((PrivateKey::Rsa(pair), params))
        } else {
            Err(UNSUPPORTED.into())
        }
    }

    pub(super) fn alg(&self) -> SigningAlg {
        match self {
            PrivateKey::Rsa(_) => SigningAlg::Rs256,
            PrivateKey::P256(_) => SigningAlg::Es256,
            PrivateKey::Ed25519(_) => SigningAlg::EdDsa,
        }
    }

    /// The JWS signature of `message` (ES256: `r || s`, RFC 7518 §3.4).
    pub(super) fn sign(&self, rng: &SystemRandom, message: &[u8]) -> Result<Vec<u8>, &'static str> {
        match self {
            PrivateKey::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            PrivateKey::P256(pair) => Ok(pair.sign(rng, message).map_err(|_| "ECDSA signing failed")?.as_ref().to_vec()),
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, rng, message, &mut signature).map_err(|_| "RSA signing failed")?;
                Ok(signature)
            }
        }
    }
}

/// The signer for a PKCS#8 private key held in memory (`JWT_SIGNING_KEY`, or the template's
/// optional override in Secrets Manager).
pub struct PemSigner {
    private: PrivateKey,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl PemSigner {
    pub fn from_pem(private_pem: &SecretString) -> Result<Self, ConfigError> {
        let bad_key = |problem: String| ConfigError { var: "JWT_SIGNING_KEY", problem };
        let block = pem::parse(private_pem.expose_secret().trim()).map_err(|_| bad_key("is not a PEM block".into()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(bad_key(
                "must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----; `openssl pkcs8 -topk8 -nocrypt` converts others)".into(),
            ));
        }
        let (private, params) = PrivateKey::from_pkcs8(block.contents()).map_err(bad_key)?;
        Ok(PemSigner { private, spki: der::encode_spki(&params), rng: SystemRandom::new() })
    }
}

#[async_trait]
impl TokenSigner for PemSigner {
    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.private.sign(&self.rng, signing_input).map_err(AuthError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        adapters::jwt::VerifyingKey,
        testing::{generate_p256_signing_key_pem, generate_signing_key_pem},
    };

    const RSA_2048: &str = include_str!("../testdata/rsa2048.pem");
    const RSA_1024: &str = include_str!("../testdata/rsa1024.pem");
    const P384: &str = include_str!("../testdata/p384.pem");

    #[test]
    fn public_keys_survive_a_pem_round_trip() {
        for (pem, alg) in [
            (generate_signing_key_pem(), SigningAlg::EdDsa),
            (generate_p256_signing_key_pem(), SigningAlg::Es256),
            (SecretString::from(RSA_2048.to_owned()), SigningAlg::Rs256),
        ] {
            let signer = PemSigner::from_pem(&pem).unwrap();
            let key = VerifyingKey::from_spki_der(signer.public_key_der()).unwrap();
            assert_eq!((signer.private.alg(), key.alg()), (alg, alg));
            let again = VerifyingKey::from_spki_der(&pem::parse(key.to_pem()).unwrap().into_contents()).unwrap();
            assert_eq!((again.kid(), again.alg()), (key.kid(), key.alg()));
            assert_eq!(again.spki_der(), signer.public_key_der());
        }
    }

    #[test]
    fn only_pkcs8_keys_of_the_three_types_sign() {
        let problem = |pem: &str| PemSigner::from_pem(&SecretString::from(pem.to_owned())).err().unwrap().problem;
        assert_eq!(problem("not a pem"), "is not a PEM block");
        let pkcs1 = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", pem::parse(RSA_2048).unwrap().into_contents()));
        assert!(problem(&pkcs1).starts_with("must be a PKCS#8 PEM"));
        // ring refuses RSA keys under 2048 bits itself; P-384 is not one of the three.
        for refused in [RSA_1024, P384] {
            assert_eq!(problem(refused), "is not an RSA (2048 bits or more), P-256 or Ed25519 private key");
        }
    }
}
