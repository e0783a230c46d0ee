//! Password and PIN hashes (argon2, on a blocking thread), random tokens, constant-time checks.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An argon2id hash of a password or PIN, in PHC string form.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

pub fn verify_secret(secret: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub async fn hash_secret_async(secret: String) -> String {
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .expect("hashing does not panic")
}

pub async fn verify_secret_async(secret: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false)
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
