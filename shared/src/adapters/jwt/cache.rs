//! Access tokens this instance has already verified, so a client calling with the same token
//! again (a session makes many calls with one 15-minute token) does not pay the signature check
//! again: it was 65% of protected's instructions per request (benches/README.md, "Where
//! protected's CPU goes"). API Gateway's authorizer cache does the same, keyed by the header.
//!
//! Exact, not approximate: the verdict on a signature, issuer, audience and kid cannot change
//! for the same bytes within one process (the key set is fixed at cold start); the one check
//! that depends on time, expiry, is made again on every hit, without leeway (a token inside
//! the leeway goes through the full check, which applies it). Keys are SHA-256 digests of the
//! token, so neither the map nor its comparisons hold or leak token bytes.

use super::{AccessClaims, TokenKeys};
use crate::{domain::UnixTime, error::AuthError};
use ring::digest;
use std::{collections::HashMap, sync::Mutex};

/// Entries kept per instance (~1 KB each); the map starts over when full.
const CAPACITY: usize = 512;

/// The instance's key set with the verdicts it gave: one cannot be asked of another key set.
pub struct VerifiedTokens {
    keys: TokenKeys,
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
}

impl VerifiedTokens {
    pub fn new(keys: TokenKeys) -> Self {
        VerifiedTokens { keys, verified: Mutex::new(HashMap::new()) }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The token's claims if it is valid now: from the cache while unexpired, else the full
    /// `TokenKeys::verify`.
    pub async fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AuthError> {
        let id: [u8; 32] = digest::digest(&digest::SHA256, token.as_bytes()).as_ref().try_into().expect("32 bytes");
        if let Some(claims) = self.lock().get(&id).filter(|c| c.exp > now) {
            return Ok(claims.clone());
        }
        let claims = self.keys.verify(token).await?;
        let mut verified = self.lock();
        if verified.len() >= CAPACITY {
            verified.clear();
        }
        verified.insert(id, claims.clone());
        Ok(claims)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AccessClaims>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{adapters::jwt::Grant, testing::generate_signing_key_pem};
    use std::time::Duration;

    fn now() -> UnixTime {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn keys() -> TokenKeys {
        TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap()
    }

    #[tokio::test]
    async fn a_cached_token_answers_as_verify_does_until_it_expires() {
        let cache = VerifiedTokens::new(keys());
        let amr = vec!["pwd".to_owned()];
        let grant = Grant { sub: "user-1", email: "ada@example.com", sid: "family-1", amr: &amr, roles: &[], oauth: None };
        let token = cache.keys().issue(&grant, now()).await.unwrap();
        let first = cache.verify(&token, now()).await.unwrap();
        assert_eq!(first, cache.keys().verify(&token).await.unwrap());
        assert_eq!(cache.verify(&token, now()).await.unwrap(), first, "a hit");
        assert_eq!(cache.lock().len(), 1);
        // An expired token is refused by the full check and never cached.
        let expired = cache.keys().issue(&grant, now() - 3600).await.unwrap();
        assert!(matches!(cache.verify(&expired, now()).await, Err(AuthError::InvalidToken)));
        assert_eq!(cache.lock().len(), 1);
    }

    #[tokio::test]
    async fn a_token_changed_in_one_byte_or_signed_by_another_key_is_checked_in_full() {
        let cache = VerifiedTokens::new(keys());
        let amr = vec!["pwd".to_owned()];
        let grant = Grant { sub: "user-1", email: "ada@example.com", sid: "family-1", amr: &amr, roles: &[], oauth: None };
        let token = cache.keys().issue(&grant, now()).await.unwrap();
        cache.verify(&token, now()).await.unwrap();
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(cache.verify(&tampered, now()).await, Err(AuthError::InvalidToken)));
        let other = keys().issue(&grant, now()).await.unwrap();
        assert!(matches!(cache.verify(&other, now()).await, Err(AuthError::InvalidToken)));
    }
}
