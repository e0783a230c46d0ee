//! Wrong passwords and PINs by account and by client address (`secret_failures`), counted for
//! the growing delays of `kopilka_domain::throttle`, and the per-key serialization that makes
//! concurrent attempts and quotas count exactly across processes.

use crate::tx::{execute, fetch, int, Conn, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, MerchantId};
use kopilka_domain::throttle::{Failures, Secret};

/// What wrong attempts are counted by.
#[derive(Debug, Clone, Copy)]
pub enum FailureKey<'a> {
    Account(CustomerId),
    Address(&'a str),
    AccountAddress(CustomerId, &'a str),
    /// Every account tried at one shop.
    Shop(MerchantId),
}

impl Tx {
    /// Makes transactions naming the same `key` run one after the other from here to their
    /// end: a PostgreSQL advisory transaction lock (SQLite's single writer already runs every
    /// write job alone). Take keys in one order everywhere, or two jobs may deadlock.
    pub async fn serialize_on(&mut self, key: &str) -> StoreResult<()> {
        if let Conn::Pg(_) = self.conn {
            execute!(
                self,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                key
            )?;
        }
        Ok(())
    }

    /// Wrong attempts at `secret` on one key since `since`.
    pub async fn secret_failures(
        &mut self,
        secret: Secret,
        key: FailureKey<'_>,
        since: i64,
    ) -> StoreResult<Failures> {
        const SELECT: &str =
            "SELECT COUNT(*), MAX(at) FROM secret_failures WHERE secret = $1 AND at >= $2";
        let (count, last_at) = match key {
            FailureKey::Account(customer_id) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND customer_id = $3"),
                secret.name(),
                since,
                customer_id.0
            )?,
            FailureKey::Address(address) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND address = $3"),
                secret.name(),
                since,
                address
            )?,
            FailureKey::Shop(merchant_id) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND merchant_id = $3"),
                secret.name(),
                since,
                merchant_id.0
            )?,
            FailureKey::AccountAddress(customer_id, address) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND customer_id = $3 AND address = $4"),
                secret.name(),
                since,
                customer_id.0,
                address
            )?,
        };
        Ok(Failures { count, last_at })
    }

    /// Records an attempt as wrong until [`Tx::secret_was_right`] takes it back; the
    /// account's attempts older than `expired_before` go.
    pub async fn record_secret_attempt(
        &mut self,
        secret: Secret,
        customer_id: CustomerId,
        address: &str,
        shop: Option<MerchantId>,
        expired_before: i64,
    ) -> StoreResult<i64> {
        execute!(
            self,
            "DELETE FROM secret_failures WHERE customer_id = $1 AND secret = $2 AND at < $3",
            customer_id.0,
            secret.name(),
            expired_before
        )?;
        let now = self.now();
        Ok(int!(
            self,
            "INSERT INTO secret_failures (secret, customer_id, address, merchant_id, at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            secret.name(),
            customer_id.0,
            address,
            shop.map(|m| m.0),
            now
        )?)
    }

    /// The attempt was wrong: it counts from now, when its answer goes out (a slow check
    /// does not eat into the delay that follows it).
    pub async fn secret_was_wrong(&mut self, attempt_id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE secret_failures SET at = $1 WHERE id = $2",
            now,
            attempt_id
        )?;
        Ok(())
    }

    /// The attempt could not be checked (the server was busy): it does not count.
    pub async fn forget_secret_attempt(&mut self, attempt_id: i64) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM secret_failures WHERE id = $1",
            attempt_id
        )?;
        Ok(())
    }

    /// The attempt was right: it and the account's earlier failures from the same address
    /// (the owner's own typos) no longer count.
    pub async fn secret_was_right(&mut self, attempt_id: i64) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM secret_failures WHERE id IN (SELECT f.id FROM secret_failures f JOIN secret_failures a ON a.id = $1 WHERE f.customer_id = a.customer_id AND f.secret = a.secret AND f.address = a.address)",
            attempt_id
        )?;
        Ok(())
    }
}

/// What wrong merchant passwords (and operators' passwords and TOTP codes, protocol
/// `operator`) are counted by (`credential_failures`).
#[derive(Debug, Clone, Copy)]
pub enum CredentialKey<'a> {
    /// One login of a protocol, from anywhere.
    Login(&'a str, &'a str),
    /// Every login tried from one address.
    Address(&'a str),
    /// One login from one address.
    LoginAddress(&'a str, &'a str, &'a str),
}

impl Tx {
    /// Wrong attempts at a merchant password on one key since `since`.
    pub async fn credential_failures(
        &mut self,
        key: CredentialKey<'_>,
        since: i64,
    ) -> StoreResult<Failures> {
        const SELECT: &str = "SELECT COUNT(*), MAX(at) FROM credential_failures WHERE at >= $1";
        let (count, last_at) = match key {
            CredentialKey::Login(protocol, login) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND protocol = $2 AND login = $3"),
                since,
                protocol,
                login
            )?,
            CredentialKey::Address(address) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND address = $2"),
                since,
                address
            )?,
            CredentialKey::LoginAddress(protocol, login, address) => fetch!(
                self,
                fetch_one,
                (i64, Option<i64>),
                &format!("{SELECT} AND protocol = $2 AND login = $3 AND address = $4"),
                since,
                protocol,
                login,
                address
            )?,
        };
        Ok(Failures { count, last_at })
    }

    /// Records a wrong merchant password; the address's failures older than `expired_before`
    /// go (a guesser's made-up logins are never tried again, its address is).
    pub async fn record_credential_failure(
        &mut self,
        protocol: &str,
        login: &str,
        address: &str,
        expired_before: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM credential_failures WHERE address = $1 AND at < $2",
            address,
            expired_before
        )?;
        let now = self.now();
        execute!(
            self,
            "INSERT INTO credential_failures (protocol, login, address, at) VALUES ($1, $2, $3, $4)",
            protocol,
            login,
            address,
            now
        )?;
        Ok(())
    }

    /// A right password: the login's failures from this address (the owner's typos) go.
    pub async fn clear_credential_failures(
        &mut self,
        protocol: &str,
        login: &str,
        address: &str,
    ) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM credential_failures WHERE protocol = $1 AND login = $2 AND address = $3",
            protocol,
            login,
            address
        )?;
        Ok(())
    }
}
