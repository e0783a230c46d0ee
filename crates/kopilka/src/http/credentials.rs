//! Merchant credentials: the merchant a protocol knows by a login, and the check of its secret.

use crate::secrets;
use kopilka_domain::throttle::{self, Verdict};
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

/// The credential `protocol` knows by the first of `logins` that has one; a disabled one is
/// known to no protocol.
pub async fn find(tx: &mut Tx, protocol: &str, logins: &[String]) -> StoreResult<Option<Holder>> {
    for login in logins {
        let Some(credential) = tx.credential(protocol, login).await? else {
            continue;
        };
        if credential.disabled_at.is_some() {
            return Ok(None);
        }
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
    let hash = found
        .as_ref()
        .map(|holder| holder.credential.secret_hash.clone().unwrap_or_default());
    let checked = check_throttled(store, protocol, &login, address, || async move {
        let right = match hash {
            Some(hash) => verify_password(password, hash).await?,
            None => verify_decoy(password).await?,
        };
        Ok(match right {
            true => Checked::Right,
            false => Checked::Wrong,
        })
    })
    .await?;
    Ok(match (checked, found) {
        (Ok(Checked::Right), Some(holder)) => Ok(holder),
        (Err(refusal), _) => Err(refusal),
        _ => Err(Refusal::Wrong),
    })
}

/// What a throttled check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Right,
    /// Counted as a wrong attempt.
    Wrong,
    /// Neither right nor wrong (a second factor still to give): not counted.
    Unfinished,
}

/// Runs `check` of a secret presented for `login` (of `protocol`) from `address` under the
/// growing delays of `kopilka_domain::throttle`: per address, per login from it (refused
/// unchecked when too soon), per login (held, never refused). A wrong one is counted; a
/// right one clears the login's failures from this address (the owner's typos).
pub async fn check_throttled<F, C>(
    store: &SharedStore,
    protocol: &'static str,
    login: &str,
    address: &str,
    check: C,
) -> StoreResult<Result<Checked, Refusal>>
where
    C: FnOnce() -> F,
    F: std::future::Future<Output = Result<Checked, secrets::Busy>>,
{
    let (hold_ms, owner_typos) = match throttled(store, protocol, login, address).await? {
        Ok(verdict) => verdict,
        Err(retry_after_ms) => {
            tracing::warn!(
                protocol,
                address,
                retry_after_ms,
                "wrong passwords from this address, refused unchecked"
            );
            metrics::counter!("kopilka_lockouts_total", "secret" => lockout_label(protocol))
                .increment(1);
            return Ok(Err(Refusal::TooSoon));
        }
    };
    if hold_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(hold_ms.unsigned_abs())).await;
    }
    let checked = check().await;
    let (login, address) = (login.to_string(), address.to_string());
    match checked {
        Ok(Checked::Wrong) => {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        let since = tx.now() - throttle::WINDOW_MS;
                        tx.record_credential_failure(protocol, &login, &address, since)
                            .await
                    })
                })
                .await?
        }
        Ok(Checked::Right) if owner_typos => {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        tx.clear_credential_failures(protocol, &login, &address)
                            .await
                    })
                })
                .await?
        }
        _ => {}
    }
    Ok(checked.map_err(|secrets::Busy| Refusal::Busy))
}

/// The metric label of a lockout (a closed set).
fn lockout_label(protocol: &str) -> &'static str {
    match protocol {
        OPERATOR => "operator_password",
        _ => "merchant_password",
    }
}

/// The `protocol` under which operators' wrong passwords and TOTP codes are counted.
pub const OPERATOR: &str = "operator";

/// Checks `password` against a hash no password matches, so an unknown login takes as long as
/// a known one: always false.
pub async fn verify_decoy(password: String) -> Result<bool, secrets::Busy> {
    secrets::verify_secret_async(password, decoy_hash().await.to_string())
        .await
        .map(|_| false)
}

/// What the wrong passwords counted for `login` and `address` allow now: how long to hold
/// the check and whether this login failed from this address (to clear when it is right),
/// or how long the address must wait. Failures are written after their check, so a shop's
/// right password sent many times at once is never taken for a guess; concurrent wrong
/// ones cost argon2's bounded pool until they are counted.
async fn throttled(
    store: &SharedStore,
    protocol: &'static str,
    login: &str,
    address: &str,
) -> StoreResult<Result<(i64, bool), i64>> {
    let (login, address) = (login.to_string(), address.to_string());
    store
        .read(move |tx| {
            Box::pin(async move {
                let since = tx.now() - throttle::WINDOW_MS;
                let by_address = tx
                    .credential_failures(CredentialKey::Address(&address), since)
                    .await?;
                let key = CredentialKey::LoginAddress(protocol, &login, &address);
                let by_login_address = tx.credential_failures(key, since).await?;
                let key = CredentialKey::Login(protocol, &login);
                let by_login = tx.credential_failures(key, since).await?;
                let counts = throttle::Counts {
                    by_address: Some(by_address),
                    by_account_address: by_login_address,
                    by_account: by_login,
                    by_shop: Default::default(),
                };
                Ok(match throttle::verdict(tx.now(), counts) {
                    Verdict::Wait { retry_after_ms } => Err(retry_after_ms),
                    Verdict::Check { hold_ms } => Ok((hold_ms, by_login_address.count > 0)),
                })
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
