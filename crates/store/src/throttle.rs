//! Wrong passwords and PINs by account and by client address (`secret_failures`), counted for
//! the growing delays of `kopilka_domain::throttle`, and the per-key serialization that makes
//! concurrent attempts and quotas count exactly across processes.

use crate::tx::{execute, fetch, int, Conn, Tx};
use crate::StoreResult;
use kopilka_domain::ids::CustomerId;
use kopilka_domain::throttle::{Failures, Secret};

/// What wrong attempts are counted by.
#[derive(Debug, Clone, Copy)]
pub enum FailureKey<'a> {
    Account(CustomerId),
    Address(&'a str),
    AccountAddress(CustomerId, &'a str),
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
            "INSERT INTO secret_failures (secret, customer_id, address, at) VALUES ($1, $2, $3, $4) RETURNING id",
            secret.name(),
            customer_id.0,
            address,
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
