//! AES-256-GCM (ring) for authenticator secrets at rest. The key lives outside the table
//! (`TOTP_ENCRYPTION_KEY` locally, a Secrets Manager secret in AWS); the user id is the
//! associated data, so a sealed secret moved to another account's item does not open.

use crate::{domain::UserId, error::AuthError, ports::SecretSealer};
use base64::{engine::general_purpose::STANDARD_NO_PAD as B64, Engine};
use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    hkdf,
    rand::{SecureRandom, SystemRandom},
};
use zeroize::Zeroizing;

/// Marks the format (and key derivation) of a sealed value, so either can change later.
const VERSION: &str = "v1.";

pub struct AesGcmSealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl AesGcmSealer {
    /// From 32 raw key bytes.
    pub fn from_key(bytes: &[u8]) -> Option<Self> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).ok()?;
        Some(AesGcmSealer { key: LessSafeKey::new(key), rng: SystemRandom::new() })
    }

    /// From a secret string (Secrets Manager's GenerateSecretString makes printable text, not
    /// key bytes): HKDF-SHA256 turns its entropy into the AES key.
    pub fn from_passphrase(secret: &str) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"sms-mfa totp secrets").extract(secret.as_bytes());
        let okm = prk.expand(&[b"aes-256-gcm v1"], &AES_256_GCM).expect("32 bytes is a valid HKDF length");
        AesGcmSealer { key: LessSafeKey::new(UnboundKey::from(okm)), rng: SystemRandom::new() }
    }
}

impl SecretSealer for AesGcmSealer {
    fn seal(&self, user: &UserId, plaintext: &[u8]) -> Result<String, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| AuthError::internal("no randomness for a nonce"))?;
        let mut in_out = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(user.0.as_bytes()), &mut *in_out)
            .map_err(|_| AuthError::internal("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(format!("{VERSION}{}", B64.encode(out)))
    }

    fn open(&self, user: &UserId, sealed: &str) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        let unreadable = || AuthError::internal("a stored authenticator secret does not open with this key");
        let raw = sealed.strip_prefix(VERSION).and_then(|b| B64.decode(b).ok()).ok_or_else(unreadable)?;
        if raw.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = self.key.open_in_place(nonce, Aad::from(user.0.as_bytes()), &mut in_out).map_err(|_| unreadable())?.len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

/// The sealer of the functions that never seal or open an authenticator secret (register, login,
/// phone): they are not given the key (README "Who may touch what"), so a call here is a wiring
/// mistake, answered as an internal error rather than with some other key.
pub struct NoSealer;

impl SecretSealer for NoSealer {
    fn seal(&self, _: &UserId, _: &[u8]) -> Result<String, AuthError> {
        Err(AuthError::internal("this function has no authenticator key and seals nothing"))
    }

    fn open(&self, _: &UserId, _: &str) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        Err(AuthError::internal("this function has no authenticator key and opens nothing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_key() {
        let sealer = AesGcmSealer::from_key(&[7u8; 32]).unwrap();
        let (ann, bob) = (UserId("ann".into()), UserId("bob".into()));
        let sealed = sealer.seal(&ann, b"12345678901234567890").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"), "not just encoded");
        assert_ne!(sealed, sealer.seal(&ann, b"12345678901234567890").unwrap(), "fresh nonce each time");
        assert_eq!(sealer.open(&ann, &sealed).unwrap().as_slice(), b"12345678901234567890");
        assert!(sealer.open(&bob, &sealed).is_err(), "bound to the account");
        assert!(AesGcmSealer::from_key(&[8u8; 32]).unwrap().open(&ann, &sealed).is_err(), "bound to the key");
        assert!(AesGcmSealer::from_passphrase("other").open(&ann, &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        assert!(sealer.open(&ann, &tampered).is_err());
        assert!(sealer.open(&ann, "v1.").is_err());
        assert!(AesGcmSealer::from_key(&[0u8; 16]).is_none(), "AES-256 needs 32 bytes");
    }

    #[test]
    fn passphrase_keys_are_deterministic() {
        let ann = UserId("ann".into());
        let sealed = AesGcmSealer::from_passphrase("a generated secret string").seal(&ann, b"x").unwrap();
        assert_eq!(AesGcmSealer::from_passphrase("a generated secret string").open(&ann, &sealed).unwrap().as_slice(), b"x");
    }
}
