//! Password and PIN hashes (argon2, on a pool of its own), random tokens, constant-time checks.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::sync::mpsc;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{oneshot, Semaphore};

/// An argon2id hash of a password or PIN, in PHC string form.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `secret` is the one `hash` was made of. The argon2 state lives in `memory`, which
/// the pool's thread keeps from one check to the next: a wrong password costs time, never
/// fresh memory. A hash asking for more memory than [`MAX_BLOCKS`] is refused.
fn verify_with(memory: &mut Vec<Block>, secret: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    memory.resize(blocks, Block::default());
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2
        .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && bool::from(out.ct_eq(expected.as_bytes()))
}

pub fn verify_secret(secret: &str, hash: &str) -> bool {
    verify_with(&mut Vec::new(), secret, hash)
}

/// The most argon2 memory one check may take: 64 MiB (the default hash takes 19 MiB).
const MAX_BLOCKS: usize = 64 * 1024;

/// How long a check waits for a free argon2 thread before it is refused as [`Busy`].
const ARGON2_WAIT: Duration = Duration::from_secs(5);

/// Every argon2 thread was busy for [`ARGON2_WAIT`]: the caller answers "try again later" in
/// its protocol's words, and counts no wrong attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Argon2's own threads, one per core (at most four), each keeping its memory for the next
/// job, and a permit per thread: at most that many hashes and checks run at once, whatever
/// the number of requests, so the memory they take is flat (19 MiB a thread).
struct Pool {
    permits: Semaphore,
    jobs: Mutex<mpsc::Sender<Job>>,
}

pub fn argon2_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = std::sync::Arc::new(Mutex::new(receiver));
    for i in 0..argon2_threads() {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        // A job that panics drops its answer (the caller sees `Busy`);
                        // the thread lives on.
                        Ok(job) => {
                            let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                            let _ = std::panic::catch_unwind(run);
                        }
                        Err(_) => return,
                    }
                }
            })
            .expect("argon2 threads start");
    }
    Pool {
        permits: Semaphore::new(argon2_threads()),
        jobs: Mutex::new(sender),
    }
});

/// Runs `work` on an argon2 thread once one is free, waiting at most `wait`.
async fn on_pool<T: Send + 'static>(
    wait: Option<Duration>,
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T, Busy> {
    let permit = match wait {
        Some(wait) => tokio::time::timeout(wait, POOL.permits.acquire())
            .await
            .map_err(|_| Busy)?,
        None => POOL.permits.acquire().await,
    }
    .expect("the argon2 pool is never closed");
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move |memory| {
        let _ = answer.send(work(memory));
    });
    POOL.jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .expect("argon2 threads run as long as the process");
    let result = answered.await.map_err(|_| Busy);
    drop(permit);
    result
}

/// Hashes on the argon2 pool; a new secret waits for its turn however long it takes.
pub async fn hash_secret_async(secret: String) -> String {
    on_pool(None, move |_| hash_secret(&secret))
        .await
        .expect("hashing does not panic")
}

/// Checks on the argon2 pool, or [`Busy`] when no thread was free within [`ARGON2_WAIT`].
pub async fn verify_secret_async(secret: String, hash: String) -> Result<bool, Busy> {
    on_pool(Some(ARGON2_WAIT), move |memory| {
        verify_with(memory, &secret, &hash)
    })
    .await
}

/// A random URL-safe token of `bytes` random bytes, hex-encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// SHA-256 hex of a high-entropy token (API keys, bearer tokens): enough to store, fast to check.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let da = Sha256::digest(a.as_bytes());
    let db = Sha256::digest(b.as_bytes());
    da.ct_eq(&db).into()
}

/// Seals secrets kopilka must use itself (signing keys of merchants): XChaCha20-Poly1305 under
/// the server's master key, so a copy of the database alone does not reveal them.
#[derive(Clone)]
pub struct Sealer {
    cipher: chacha20poly1305::XChaCha20Poly1305,
    check_value: String,
}

/// What the key's check value is an HMAC of.
const CHECK_LABEL: &[u8] = b"kopilka seal key check v1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the seal key must be 64 hex digits")]
    BadKey,
    #[error("sealed secret is corrupt or was sealed under another key")]
    Corrupt,
}

impl Sealer {
    pub fn from_hex(key: &str) -> Result<Sealer, SealError> {
        use chacha20poly1305::KeyInit;
        let bytes = hex::decode(key.trim()).map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&bytes)
            .map_err(|_| SealError::BadKey)?;
        hmac::Mac::update(&mut mac, CHECK_LABEL);
        Ok(Sealer {
            cipher: chacha20poly1305::XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| SealError::BadKey)?,
            check_value: hex::encode(hmac::Mac::finalize(mac).into_bytes()),
        })
    }

    /// The key's check value, stored in the database: an HMAC of a fixed label under the key,
    /// which tells whether a key is the one without revealing it.
    pub fn check_value(&self) -> &str {
        &self.check_value
    }

    /// Whether `stored` is this key's check value (compared in constant time).
    pub fn matches_check(&self, stored: &str) -> bool {
        constant_time_eq(&self.check_value, stored)
    }

    /// A new random key, hex-encoded.
    pub fn generate_key() -> String {
        random_token(32)
    }

    /// `v1:` + hex(nonce ‖ ciphertext).
    pub fn seal(&self, secret: &str) -> String {
        use chacha20poly1305::aead::{Aead, AeadCore};
        let nonce =
            chacha20poly1305::XChaCha20Poly1305::generate_nonce(&mut chacha20poly1305::aead::OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, secret.as_bytes())
            .expect("encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ciphertext);
        format!("v1:{}", hex::encode(out))
    }

    pub fn unseal(&self, sealed: &str) -> Result<String, SealError> {
        use chacha20poly1305::aead::Aead;
        let bytes = sealed
            .strip_prefix("v1:")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(SealError::Corrupt)?;
        if bytes.len() < 24 {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_unseals() {
        let sealer = Sealer::from_hex(&Sealer::generate_key()).unwrap();
        let sealed = sealer.seal("yIKirCvplm8N1D9g");
        assert_ne!(sealed, "yIKirCvplm8N1D9g");
        assert_eq!(sealer.unseal(&sealed).unwrap(), "yIKirCvplm8N1D9g");
        let other = Sealer::from_hex(&Sealer::generate_key()).unwrap();
        assert!(other.unseal(&sealed).is_err());
        assert!(sealer.matches_check(sealer.check_value()));
        assert!(!other.matches_check(sealer.check_value()));
        let key = "11".repeat(32);
        assert!(!Sealer::from_hex(&key).unwrap().check_value().contains(&key));
        assert!(hash_secret("0000") != "0000");
        assert!(verify_secret("0000", &hash_secret("0000")));
        assert!(!verify_secret("0001", &hash_secret("0000")));
    }
}
