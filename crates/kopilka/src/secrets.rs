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
