//! Signing keys for tests and benches: fresh PKCS#8 PEMs, the public PEM of a private one, and
//! `TokenKeys::from_pem`, a token key set from one PEM (a function builds its keys in
//! `runtime`, from its configuration).

use crate::{
    adapters::jwt::{PemSigner, TokenKeys},
    config::ConfigError,
    ports::TokenSigner,
};
use ring::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use secrecy::SecretString;
use std::{sync::Arc, time::Duration};

/// A fresh PKCS#8 PEM Ed25519 key (EdDSA).
pub fn generate_signing_key_pem() -> SecretString {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("the system RNG works");
    SecretString::from(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
}

/// A fresh PKCS#8 PEM P-256 key (ES256).
pub fn generate_p256_signing_key_pem() -> SecretString {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("the system RNG works");
    SecretString::from(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
}

/// The `PUBLIC KEY` PEM of a private key PEM: what JWT_VERIFY_KEYS lists after a rotation.
pub fn public_pem_of(private_pem: &SecretString) -> Option<String> {
    let signer = PemSigner::from_pem(private_pem).ok()?;
    Some(pem::encode(&pem::Pem::new("PUBLIC KEY", signer.public_key_der())))
}

impl TokenKeys {
    /// `private_pem`: a PKCS#8 PEM private key (RSA 2048+, P-256 or Ed25519);
    /// `previous_public_pems`: zero or more PEM blocks of keys being rotated out.
    pub fn from_pem(
        private_pem: &SecretString,
        previous_public_pems: Option<&str>,
        issuer: &str,
        audience: &str,
        access_ttl: Duration,
    ) -> Result<Self, ConfigError> {
        let keys =
            TokenKeys::new(issuer, audience, access_ttl).signing_with(Arc::new(PemSigner::from_pem(private_pem)?), "JWT_SIGNING_KEY")?;
        match previous_public_pems {
            Some(pems) => keys.accepting_pems(pems),
            None => Ok(keys),
        }
    }
}
