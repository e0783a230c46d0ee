//! Merchant credentials: the merchant a protocol knows by a login, and the check of its secret.

use crate::secrets;
use kopilka_domain::throttle::{self, Secret, Verdict};
use kopilka_store::model::{Credential, Merchant, Program};
use kopilka_store::throttle::CredentialKey;
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

/// Why a credential was not proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An unknown login or a wrong secret, not told apart.
    Wrong,
    /// Refused unchecked: too many wrong passwords from this address (or for this login
    /// from it) lately.
    TooSoon,
    /// Every argon2 thread was busy: try again later.
    Busy,
}

/// The holder of the credential `protocol` knows by one of `logins`, if `proof` proves it.
/// An unknown login and a wrong secret take about as long. A password is throttled as
/// customers' are (`kopilka_domain::throttle`): per client `address`, per login from it, and
/// per login (held, never refused), counted in the database before the check.
pub async fn authenticate(
    store: &SharedStore,
    protocol: &'static str,
    logins: Vec<String>,
    proof: Proof,
    address: &str,
) -> StoreResult<Result<Holder, Refusal>> {
    let login = logins.first().cloned().unwrap_or_default();
    let found = store
        .read(move |tx| Box::pin(async move { find(tx, protocol, &logins).await }))
        .await?;
    let Proof::Password(password) = proof else {
        return Ok(found.ok_or(Refusal::Wrong));
    };
    // A password already proven against this hash spares argon2 and the throttle's writes.
    if found.as_ref().is_some_and(|h| remembered(&password, h)) {
        return Ok(found.ok_or(Refusal::Wrong));
    }
    let login = found
        .as_ref()
        .map_or(login, |holder| holder.credential.login.clone());
    let (attempt, hold_ms) = match reserve(store, protocol, &login, address).await? {
        Ok(reserved) => reserved,
        Err(retry_after_ms) => {
            tracing::warn!(
                protocol,
                address,
                retry_after_ms,
                "wrong merchant passwords from this address, refused unchecked"
            );
            return Ok(Err(Refusal::TooSoon));
        }
    };
    if hold_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(hold_ms.unsigned_abs())).await;
    }
    let checked = match &found {
        Some(holder) => {
            let hash = holder.credential.secret_hash.clone().unwrap_or_default();
            verify_password(password, hash).await
        }
        None => secrets::verify_secret_async(password, decoy_hash().await.to_string())
            .await
            .map(|_| false),
    };
    let right = checked.ok();
    store
        .write(move |tx| {
            Box::pin(async move { tx.settle_credential_attempt(attempt, right).await })
        })
        .await?;
    Ok(match (checked, found) {
        (Ok(true), Some(holder)) => Ok(holder),
        (Err(secrets::Busy), _) => Err(Refusal::Busy),
        _ => Err(Refusal::Wrong),
    })
}

/// Counts an attempt at `login`'s password from `address` before its check: the attempt's
/// id and how long to hold it, or how long the address must wait.
async fn reserve(
    store: &SharedStore,
    protocol: &'static str,
    login: &str,
    address: &str,
) -> StoreResult<Result<(i64, i64), i64>> {
    let (login, address) = (login.to_string(), address.to_string());
    store
        .write(move |tx| {
            Box::pin(async move {
                // Login before address, everywhere: no two jobs wait on each other.
                tx.serialize_on(&format!("credential:login:{protocol}:{login}"))
                    .await?;
                tx.serialize_on(&format!("credential:address:{address}"))
                    .await?;
                let since = tx.now() - throttle::WINDOW_MS;
                let by_address = tx
                    .credential_failures(CredentialKey::Address(&address), since)
                    .await?;
                let key = CredentialKey::LoginAddress(protocol, &login, &address);
                let by_login_address = tx.credential_failures(key, since).await?;
                let key = CredentialKey::Login(protocol, &login);
                let by_login = tx.credential_failures(key, since).await?;
                let now = tx.now();
                let verdict = throttle::verdict(
                    Secret::Password,
                    now,
                    by_address,
                    by_login_address,
                    by_login,
                );
                match verdict {
                    Verdict::Wait { retry_after_ms } => Ok(Err(retry_after_ms)),
                    Verdict::Check { hold_ms } => {
                        let attempt = tx
                            .record_credential_attempt(protocol, &login, &address, since)
                            .await?;
                        Ok(Ok((attempt, hold_ms)))
                    }
                }
            })
        })
        .await
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

/// Whether `password` was proven right against the holder's current hash before.
fn remembered(password: &str, holder: &Holder) -> bool {
    let Some(hash) = holder.credential.secret_hash.as_deref() else {
        return false;
    };
    let digest = secrets::token_digest(&format!("{hash}\n{password}"));
    VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(hash)
        .is_some_and(|known| secrets::constant_time_eq(known, &digest))
}

/// Checks with argon2 and remembers a right password.
async fn verify_password(password: String, hash: String) -> Result<bool, secrets::Busy> {
    let remembered = secrets::token_digest(&format!("{hash}\n{password}"));
    if !secrets::verify_secret_async(password, hash.clone()).await? {
        return Ok(false);
    }
    let mut verified = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if verified.len() >= VERIFIED_MAX {
        verified.clear();
    }
    verified.insert(hash, remembered);
    Ok(true)
}
