//! Merchant credentials: the merchant a protocol knows by a login, and the check of its secret.

use crate::secrets;
use kopilka_store::model::{Credential, Merchant, Program};
use kopilka_store::{SharedStore, StoreResult, Tx};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use tokio::sync::OnceCell;

/// A credential with its merchant and the merchant's program.
pub struct Holder {
    pub credential: Credential,
    pub merchant: Merchant,
    pub program: Program,
}

/// What a caller presents to prove it holds a credential.
pub enum Proof {
    /// A password, checked against the credential's argon2 hash.
    Password(String),
    /// A high-entropy key whose digest is the login: finding the credential is the check.
    KeyDigest,
}

/// The credential `protocol` knows by the first of `logins` that has one.
pub async fn find(tx: &mut Tx, protocol: &str, logins: &[String]) -> StoreResult<Option<Holder>> {
    for login in logins {
        let Some(credential) = tx.credential(protocol, login).await? else {
            continue;
        };
        let Some(merchant) = tx.merchant(credential.merchant_id).await? else {
            return Ok(None);
        };
        let program = tx.program(merchant.program_id).await?;
        return Ok(program.map(|program| Holder {
            credential,
            merchant,
            program,
        }));
    }
    Ok(None)
}

/// The holder of the credential `protocol` knows by one of `logins`, if `proof` proves it:
/// `None` for an unknown login and a wrong secret alike, which take about as long.
pub async fn authenticate(
    store: &SharedStore,
    protocol: &'static str,
    logins: Vec<String>,
    proof: Proof,
) -> StoreResult<Option<Holder>> {
    let found = store
        .read(move |tx| Box::pin(async move { find(tx, protocol, &logins).await }))
        .await?;
    let Proof::Password(password) = proof else {
        return Ok(found);
    };
    let Some(holder) = found else {
        secrets::verify_secret_async(password, decoy_hash().await.to_string()).await;
        return Ok(None);
    };
    let hash = holder.credential.secret_hash.clone().unwrap_or_default();
    Ok(verify_password(password, hash).await.then_some(holder))
}

/// The hash unknown logins are checked against, so a wrong login takes as long as a wrong
/// password.
async fn decoy_hash() -> &'static str {
    static DECOY: OnceCell<String> = OnceCell::const_new();
    DECOY
        .get_or_init(|| secrets::hash_secret_async(secrets::random_token(16)))
        .await
}

/// Passwords already verified against a hash: the hash → SHA-256 of the hash and the password.
/// Shops send their password with every order; remembering a right one spares argon2 on each
/// call, while a wrong one always pays for argon2. A changed password has a new hash.
static VERIFIED: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);
const VERIFIED_MAX: usize = 10_000;

async fn verify_password(password: String, hash: String) -> bool {
    let remembered = secrets::token_digest(&format!("{hash}\n{password}"));
    let known = VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&hash)
        .cloned();
    if known.is_some_and(|k| secrets::constant_time_eq(&k, &remembered)) {
        return true;
    }
    if !secrets::verify_secret_async(password, hash.clone()).await {
        return false;
    }
    let mut verified = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if verified.len() >= VERIFIED_MAX {
        verified.clear();
    }
    verified.insert(hash, remembered);
    true
}
