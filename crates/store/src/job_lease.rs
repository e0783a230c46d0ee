//! Leases on periodic jobs (`job_leases`, migration 0021), so that nodes sharing one database
//! run each job once: a node runs a job's round only while it holds the job's lease.

use crate::tx::{execute, scalar};
use crate::{StoreResult, Tx};

impl Tx {
    /// Takes the lease on `job` for `holder` until `expires_at_ms`, or renews it, if it is free,
    /// expired by `now_ms`, or already `holder`'s; answers whether `holder` holds it now. One
    /// statement: of two nodes asking at once, one gets it.
    pub async fn acquire_job_lease(
        &mut self,
        job: &str,
        holder: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> StoreResult<bool> {
        let taken = scalar!(
            self,
            fetch_optional,
            String,
            "INSERT INTO job_leases (job, holder, expires_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at_ms <= $4 \
             RETURNING holder",
            job,
            holder,
            expires_at_ms,
            now_ms,
        )?;
        Ok(taken.is_some())
    }

    /// Gives the lease on `job` up if `holder` holds it, so another node need not wait for it
    /// to expire.
    pub async fn release_job_lease(&mut self, job: &str, holder: &str) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM job_leases WHERE job = $1 AND holder = $2",
            job,
            holder,
        )?;
        Ok(())
    }

    /// Who holds the lease on `job` and until when, expired or not.
    pub async fn job_lease(&mut self, job: &str) -> StoreResult<Option<(String, i64)>> {
        crate::tx::fetch!(
            self,
            fetch_optional,
            (String, i64),
            "SELECT holder, expires_at_ms FROM job_leases WHERE job = $1",
            job,
        )
    }
}
