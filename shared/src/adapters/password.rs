//! argon2id password hashing at OWASP's parameters, off the async threads.

use crate::{domain::Password, error::AuthError, ports::PasswordHasher};
use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version, ARGON2ID_IDENT};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use zeroize::Zeroize;

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// A hash of a random password nobody knows, with the same parameters: an unknown email is
/// verified against it so a login costs the same whether or not the account exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c21zLW1mYS1kdW1teS1zYWx0$0nqyyHzHA3DswBbtz+i4KJ6GzjhNRbXsBzkS4azSv5E";

#[derive(Clone)]
pub struct Argon2Hasher {
    argon2: Arc<Argon2<'static>>,
    memory: Arc<MemoryPool>,
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_LEN)).expect("OWASP parameters are valid");
        let memory = Arc::new(MemoryPool::new(params.block_count()));
        Argon2Hasher { argon2: Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)), memory }
    }
}

#[cfg(test)]
impl Argon2Hasher {
    /// How many working buffers the instance keeps: 1 on Lambda, where requests come one at a time.
    fn pooled_buffers(&self) -> usize {
        self.memory.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// argon2's 19 MiB of working memory, allocated once and kept for the life of the instance.
///
/// Allocating it per hash (what `Argon2::hash_password` does) made glibc keep each freed copy on
/// its heap: login's RSS grew to 125 MiB and register's to 228 MiB over 50 requests
/// (benches/README.md, "Memory"). A caller that finds the pool empty (concurrent hashing, as in
/// tests or `cargo lambda watch`) allocates its own buffer and then keeps it too.
struct MemoryPool {
    block_count: usize,
    free: Mutex<Vec<Box<[Block]>>>,
}

impl MemoryPool {
    fn new(block_count: usize) -> Self {
        MemoryPool { block_count, free: Mutex::new(Vec::new()) }
    }

    fn with_blocks<R>(&self, block_count: usize, work: impl FnOnce(&mut [Block]) -> R) -> R {
        let pooled = block_count == self.block_count;
        let mut blocks = pooled
            .then(|| self.free.lock().unwrap_or_else(|e| e.into_inner()).pop())
            .flatten()
            .unwrap_or_else(|| vec![Block::default(); block_count].into_boxed_slice());
        let result = work(&mut blocks);
        // The blocks are derived from the password; clear them before they wait for the next
        // request. This is the same memset the allocator's calloc did before.
        blocks.iter_mut().for_each(Zeroize::zeroize);
        if pooled {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(blocks);
        }
        result
    }
}

fn hash_blocking(argon2: &Argon2<'_>, memory: &MemoryPool, password: &[u8]) -> Result<String, AuthError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| AuthError::internal(e.to_string()))?;
    let mut output = [0u8; OUTPUT_LEN];
    memory
        .with_blocks(argon2.params().block_count(), |blocks| argon2.hash_password_into_with_memory(password, &salt, &mut output, blocks))
        .map_err(|e| AuthError::internal(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon2.params().try_into().map_err(|e: argon2::password_hash::Error| AuthError::internal(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| AuthError::internal(e.to_string()))?),
        hash: Some(Output::new(&output).map_err(|e| AuthError::internal(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// `Ok(false)` for a wrong password; `Err` only for a stored hash this service cannot have written.
fn verify_blocking(memory: &MemoryPool, password: &[u8], phc: &str) -> Result<bool, AuthError> {
    let unusable = |why: String| AuthError::internal(format!("stored hash unusable: {why}"));
    let stored = PasswordHash::new(phc).map_err(|e| unusable(e.to_string()))?;
    if stored.algorithm != ARGON2ID_IDENT {
        return Err(unusable(format!("algorithm {}", stored.algorithm)));
    }
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(unusable("no salt or output".into()));
    };
    let params = Params::try_from(&stored).map_err(|e| unusable(e.to_string()))?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).map_err(|e| unusable(e.to_string()))?,
        None => Version::default(),
    };
    // The stored hash's own parameters, so hashes written under older settings still verify.
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    let mut output = vec![0u8; expected.len()];
    memory
        .with_blocks(argon2.params().block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut output, blocks)
        })
        .map_err(|e| unusable(e.to_string()))?;
    let computed = Output::new(&output).map_err(|e| unusable(e.to_string()))?;
    // `Output`'s equality is constant-time (subtle).
    Ok(&computed == expected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let (argon2, memory) = (self.argon2.clone(), self.memory.clone());
        let password = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
        // argon2 takes tens of milliseconds of CPU: keep it off the async worker threads.
        tokio::task::spawn_blocking(move || hash_blocking(&argon2, &memory, &password)).await.map_err(AuthError::internal)?
    }

    async fn verify(&self, password: &Password, phc: &str) -> Result<bool, AuthError> {
        let memory = self.memory.clone();
        let password = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
        let phc = phc.to_owned();
        tokio::task::spawn_blocking(move || verify_blocking(&memory, &password, &phc)).await.map_err(AuthError::internal)?
    }

    async fn verify_absent(&self, password: &Password) -> Result<bool, AuthError> {
        // A hash of the default parameters: as slow as a real account's.
        self.verify(password, DUMMY_HASH).await.map(|_| false)
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

    #[tokio::test]
    async fn hashes_interoperate_with_the_crates_own_phc_functions() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2Hasher::default();
        let ours = hasher.hash(&pw("correct horse battery")).await.unwrap();
        let crate_argon2 =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap());
        crate_argon2.verify_password(b"correct horse battery", ours.as_str()).expect("the crate verifies our hash");
        assert!(crate_argon2.verify_password(b"correct horse batterx", ours.as_str()).is_err());

        let theirs = crate_argon2.hash_password(b"correct horse battery").unwrap().to_string();
        assert!(hasher.verify(&pw("correct horse battery"), &theirs).await.unwrap());
        assert!(!hasher.verify(&pw("correct horse batterx"), &theirs).await.unwrap());
        // A hash written under other parameters still verifies, with its own parameters.
        let lighter = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let old = lighter.hash_password(b"correct horse battery").unwrap().to_string();
        assert!(hasher.verify(&pw("correct horse battery"), &old).await.unwrap());
    }

    #[tokio::test]
    async fn one_working_buffer_serves_sequential_requests() {
        let hasher = Argon2Hasher::default();
        assert_eq!(hasher.pooled_buffers(), 0, "nothing is allocated before the first hash");
        let phc = hasher.hash(&pw("correct horse battery")).await.unwrap();
        for _ in 0..3 {
            hasher.verify(&pw("correct horse battery"), &phc).await.unwrap();
        }
        assert_eq!(hasher.pooled_buffers(), 1);
        // Hashes of other parameters use a buffer of their own and do not enter the pool.
        let lighter = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let old = argon2::PasswordHasher::hash_password(&lighter, b"correct horse battery").unwrap().to_string();
        hasher.verify(&pw("correct horse battery"), &old).await.unwrap();
        assert_eq!(hasher.pooled_buffers(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_get_their_own_buffers() {
        let hasher = Argon2Hasher::default();
        let password = pw("correct horse battery");
        let (a, b) = tokio::join!(hasher.hash(&password), hasher.hash(&password));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(hasher.verify(&pw("correct horse battery"), &a).await.unwrap());
        assert!(hasher.verify(&pw("correct horse battery"), &b).await.unwrap());
        assert!((1..=2).contains(&hasher.pooled_buffers()));
    }

    #[tokio::test]
    async fn unusable_stored_hashes_are_errors_not_mismatches() {
        let hasher = Argon2Hasher::default();
        for phc in [
            "",
            "not a hash",
            "$argon2i$v=19$m=19456,t=2,p=1$c21zLW1mYS1kdW1teS1zYWx0$0nqyyHzHA3DswBbtz+i4KJ6GzjhNRbXsBzkS4azSv5E",
            "$argon2id$v=19$m=19456,t=2,p=1",
        ] {
            assert!(hasher.verify(&pw("some password"), phc).await.is_err(), "{phc:?}");
        }
    }
}
