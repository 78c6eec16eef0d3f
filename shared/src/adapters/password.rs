//! argon2id password hashing at OWASP's parameters, off the async threads.

use crate::{domain::Password, error::AuthError, ports::PasswordHasher};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use async_trait::async_trait;
use std::sync::Arc;

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// A hash of a random password nobody knows, with the same parameters: an unknown email is
/// verified against it so a login costs the same whether or not the account exists.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c21zLW1mYS1kdW1teS1zYWx0$0nqyyHzHA3DswBbtz+i4KJ6GzjhNRbXsBzkS4azSv5E";

#[derive(Clone)]
pub struct Argon2Hasher {
    argon2: Arc<Argon2<'static>>,
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("OWASP parameters are valid");
        Argon2Hasher { argon2: Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)) }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let argon2 = self.argon2.clone();
        let password = password.expose().as_bytes().to_vec();
        // argon2 takes tens of milliseconds of CPU: keep it off the async worker threads.
        tokio::task::spawn_blocking(move || argon2.hash_password(&password).map(|h| h.to_string()))
            .await
            .map_err(AuthError::internal)?
            .map_err(|e| AuthError::internal(e.to_string()))
    }

    async fn verify(&self, password: &Password, phc: &str) -> Result<bool, AuthError> {
        let argon2 = self.argon2.clone();
        let password = password.expose().as_bytes().to_vec();
        let phc = phc.to_owned();
        // The crate compares the computed and stored outputs in constant time.
        tokio::task::spawn_blocking(move || match argon2.verify_password(&password, phc.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(other) => Err(AuthError::internal(format!("stored hash unusable: {other}"))),
        })
        .await
        .map_err(AuthError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;
    use secrecy::SecretString;

    fn pw(s: &str) -> Password {
        PasswordPolicy::check(SecretString::from(s.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_salted_phc_strings_that_verify() {
        let hasher = Argon2Hasher::default();
        let a = hasher.hash(&pw("correct horse battery")).await.unwrap();
        let b = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "every hash has its own salt");
        assert!(hasher.verify(&pw("correct horse battery"), &a).await.unwrap());
        assert!(!hasher.verify(&pw("correct horse batterx"), &a).await.unwrap());
    }

    #[tokio::test]
    async fn dummy_hash_has_the_real_parameters_and_matches_nothing_typed() {
        let hasher = Argon2Hasher::default();
        let real = hasher.hash(&pw("some password")).await.unwrap();
        let params = |phc: &str| phc.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(!hasher.verify(&pw("some password"), DUMMY_HASH).await.unwrap());
    }
}
