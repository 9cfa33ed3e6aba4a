//! Password hashing (Argon2id behind a concurrency cap) and the random tokens in links and
//! cookies, of which only hashes are stored.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::Password;
use crate::features::{Error, Result};

/// Argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane), run off the async threads
/// and behind a semaphore so a login storm cannot take more than `permits × 19 MiB`.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Argon2 computations so far: lets tests check that every path pays the same cost.
    computed: Arc<AtomicU64>,
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            computed: Arc::default(),
        }
    }

    /// How many Argon2 hashes or verifications this hasher has computed.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: &Password) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let pw = password.0.clone();
        let computed = self.computed.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            computed.fetch_add(1, Ordering::Relaxed);
            Argon2::default()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(Error::Internal)
    }

    /// Verifies `password` against `hash`; an unusable hash (deleted account) never matches
    /// but costs the same time, so timing does not reveal which accounts exist.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let pw = password.to_string();
        let hash = if hash.is_empty() {
            DUMMY_HASH.to_string()
        } else {
            hash.to_string()
        };
        let real = hash != DUMMY_HASH;
        let computed = self.computed.clone();
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("bad hash: {e}"))?;
            // Always compute, then look at `real`: the other order would skip the work for
            // unknown addresses and tell them apart by time.
            let matches = argon2_verify(&computed, &pw, &parsed);
            Ok(matches && real)
        })
        .await
        .map_err(anyhow::Error::from)?
        .map_err(Error::Internal)
    }
}

/// The one place a password is checked; counted, so tests can see that every path pays.
fn argon2_verify(computed: &AtomicU64, password: &str, hash: &PasswordHash<'_>) -> bool {
    computed.fetch_add(1, Ordering::Relaxed);
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A valid Argon2id hash of a random string, for equal-time failures.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$KlzC3C2bXnJD8P7y9tZ4GH6WbjS5c0Wz0nV8q0mJ7xI";

// --- tokens -------------------------------------------------------------------------------

/// 256 random bits, URL-safe; what goes in links and cookies.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Only hashes are stored, so a database leak yields no usable session or link.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_only_hashes_are_stored() {
        let a = random_token();
        assert_eq!(a.len(), 43, "32 bytes, base64url without padding");
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
