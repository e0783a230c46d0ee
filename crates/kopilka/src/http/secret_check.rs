//! Customers' passwords and PINs checked under the growing delays of
//! `kopilka_domain::throttle`, counted in the database (`secret_failures`) so they hold across
//! processes. Loymax (passwords, processing PINs) and the inCust pages (spend passwords) use it.

use crate::secrets;
use kopilka_domain::ids::{CustomerId, MerchantId};
use kopilka_domain::throttle::{self, Secret, Verdict};
use kopilka_store::throttle::FailureKey;
use kopilka_store::{SharedStore, StoreResult};

/// What checking a password or PIN found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    Right,
    Wrong,
    /// Refused unchecked: too many wrong attempts from this address lately (or every argon2
    /// thread was busy).
    TooSoon,
}

/// One attempt at a customer's secret.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub secret: Secret,
    pub customer_id: CustomerId,
    /// The client's address, or, for a PIN a shop's server relays, the shop (`merchant:ID`).
    pub address: &'a str,
    /// Whether `address` is one client's, whose failures on every account count against it
    /// (a shop's server speaks for every customer: its failures count per account only).
    pub address_is_client: bool,
    /// The shop the secret is typed at, whose failures on every account slow its checks.
    pub shop: Option<MerchantId>,
}

/// Checks a password or PIN against its hash. The attempt is written (as wrong) before the
/// check, in a job serialized on the account and the address, so concurrent guesses from any
/// process count exactly; a right one is taken back, a wrong one dated when it is answered.
pub async fn check_secret(
    store: &SharedStore,
    attempt: Attempt<'_>,
    hash: Option<String>,
    presented: String,
) -> StoreResult<SecretCheck> {
    let Attempt {
        secret,
        customer_id,
        address_is_client,
        shop,
        ..
    } = attempt;
    let address = attempt.address.to_string();
    let reserved = store
        .write(move |tx| {
            Box::pin(async move {
                // Account before address, everywhere: no two jobs wait on each other.
                tx.serialize_on(&format!("secret:account:{}", customer_id.0))
                    .await?;
                let since = tx.now() - throttle::WINDOW_MS;
                let by_address = match address_is_client {
                    true => {
                        tx.serialize_on(&format!("secret:address:{address}"))
                            .await?;
                        let key = FailureKey::Address(&address);
                        Some(tx.secret_failures(secret, key, since).await?)
                    }
                    false => None,
                };
                let key = FailureKey::AccountAddress(customer_id, &address);
                let by_account_address = tx.secret_failures(secret, key, since).await?;
                let key = FailureKey::Account(customer_id);
                let by_account = tx.secret_failures(secret, key, since).await?;
                let by_shop = match shop {
                    Some(shop) => {
                        tx.secret_failures(secret, FailureKey::Shop(shop), since)
                            .await?
                    }
                    None => Default::default(),
                };
                let now = tx.now();
                let counts = throttle::Counts {
                    by_address,
                    by_account_address,
                    by_account,
                    by_shop,
                };
                match throttle::verdict(now, counts) {
                    Verdict::Wait { retry_after_ms } => Ok(Err(retry_after_ms)),
                    Verdict::Check { hold_ms } => {
                        let attempt = tx
                            .record_secret_attempt(secret, customer_id, &address, shop, since)
                            .await?;
                        Ok(Ok((attempt, hold_ms)))
                    }
                }
            })
        })
        .await?;
    let (attempt, hold_ms) = match reserved {
        Ok(reserved) => reserved,
        Err(retry_after_ms) => {
            tracing::warn!(
                customer_id = customer_id.0,
                address = attempt.address,
                secret = secret.name(),
                retry_after_ms,
                "wrong secrets from this address, refused unchecked"
            );
            metrics::counter!("kopilka_lockouts_total", "secret" => secret.name()).increment(1);
            return Ok(SecretCheck::TooSoon);
        }
    };
    if hold_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(hold_ms.unsigned_abs())).await;
    }
    let right = match hash.filter(|h| !h.is_empty()) {
        Some(hash) => secrets::verify_secret_async(presented, hash).await,
        None => Ok(false),
    };
    store
        .write(move |tx| {
            Box::pin(async move {
                match right {
                    Ok(true) => tx.secret_was_right(attempt).await,
                    Ok(false) => tx.secret_was_wrong(attempt).await,
                    // Nothing was checked: the attempt does not count.
                    Err(secrets::Busy) => tx.forget_secret_attempt(attempt).await,
                }
            })
        })
        .await?;
    Ok(match right {
        Ok(true) => SecretCheck::Right,
        Ok(false) => SecretCheck::Wrong,
        Err(secrets::Busy) => SecretCheck::TooSoon,
    })
}
