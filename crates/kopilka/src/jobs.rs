//! Background jobs: the loop every periodic job runs in ([`spawn_every`]) under a lease that
//! makes nodes sharing a database run each job once, points expiry, and the
//! voiding of native holds that outlived their program's `hold_lifetime_minutes`. Each pass is
//! a write job of its own; nothing here talks to the network (a voided hold's webhook goes
//! through the outbox).

use crate::outbox::webhooks;
use crate::shutdown::Shutdown;
use kopilka_domain::DomainError;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::{SharedStore, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How many periods a lease outlives its last renewal: a node that stops renewing (killed, cut
/// off) hands its jobs over within this many periods, and one slow round does not lose it.
const LEASE_PERIODS: u32 = 3;

/// This node's name in the leases on periodic jobs (`job_leases`): nodes sharing one database
/// run each periodic job once, on the node holding its lease.
#[derive(Clone)]
pub struct JobLeases {
    store: SharedStore,
    holder: Arc<str>,
}

impl JobLeases {
    /// Leases held as `PID@HOST/RANDOM`: the process and machine for whoever reads the table,
    /// the random part so that a restarted process never inherits its predecessor's leases.
    pub fn new(store: SharedStore) -> JobLeases {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        let holder = format!(
            "{}@{host}/{}",
            std::process::id(),
            crate::secrets::random_token(4)
        );
        JobLeases {
            store,
            holder: holder.into(),
        }
    }

    fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes or renews the lease on `job` until `lifetime` from `now`; whether it is ours.
    async fn acquire(
        &self,
        job: &'static str,
        now: i64,
        lifetime: Duration,
    ) -> Result<bool, StoreError> {
        let holder = self.holder.clone();
        let expires_at = now.saturating_add(lifetime.as_millis() as i64);
        self.store
            .write(move |tx| {
                Box::pin(async move { tx.acquire_job_lease(job, &holder, now, expires_at).await })
            })
            .await
    }

    async fn release(&self, job: &'static str) -> Result<(), StoreError> {
        let holder = self.holder.clone();
        self.store
            .write(move |tx| Box::pin(async move { tx.release_job_lease(job, &holder).await }))
            .await
    }
}

/// Runs `round` every `interval` until shutdown, in a task of its own, while this node holds
/// the lease on `job` (taken or renewed before each round, given up at shutdown). A round gets
/// its own copy of `context` and the time, and answers how many things it changed; `done`
/// says what it did to them, for the log.
pub fn spawn_every<C, F, Fut, E>(
    leases: JobLeases,
    job: &'static str,
    interval: Duration,
    mut shutdown: Shutdown,
    done: &'static str,
    context: C,
    round: F,
) -> JoinHandle<()>
where
    C: Clone + Send + 'static,
    F: Fn(C, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut holding = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait() => break,
            }
            let now = kopilka_store::now_ms();
            let held = match leases.acquire(job, now, interval * LEASE_PERIODS).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(job, "cannot renew the job's lease, not running it: {e}");
                    false
                }
            };
            if held != holding {
                tracing::info!(
                    job,
                    holder = leases.holder(),
                    held,
                    "job lease changed hands"
                );
                holding = held;
            }
            if !held {
                continue;
            }
            match round(context.clone(), now).await {
                Ok(count) => {
                    crate::observability::record_job_success(job);
                    if count > 0 {
                        tracing::info!(count, "{done}");
                    }
                }
                Err(e) => tracing::warn!("background job failed ({done}): {e}"),
            }
        }
        if holding {
            if let Err(e) = leases.release(job).await {
                tracing::warn!(job, "cannot give the job's lease up: {e}");
            }
        }
    })
}

/// Holds voided per write job.
const HOLDS_PER_PASS: i64 = 100;

/// Burns due lots until none are left or `max_rounds` passes ran.
pub async fn expire_once(
    store: &SharedStore,
    now: i64,
) -> Result<usize, kopilka_store::StoreError> {
    let mut total = 0;
    loop {
        let written = store
            .write(move |tx| Box::pin(async move { ledger::expire_due(tx, now, 100).await }))
            .await?;
        total += written.len();
        if written.len() < 100 {
            return Ok(total);
        }
    }
}

/// Voids the native holds made before their program's hold lifetime ended, as a void through
/// the API would (with its `operation.voided` webhook). Returns how many.
pub async fn void_stale_holds(store: &SharedStore, now: i64) -> Result<usize, StoreError> {
    let programs = store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    let mut total = 0;
    for program in programs {
        let rules = program.rules.clone();
        let Some(cutoff) = rules.stale_hold_cutoff(now) else {
            continue;
        };
        let (program_id, decimals) = (program.id, rules.decimals);
        loop {
            let voided = store
                .write(move |tx| {
                    Box::pin(async move {
                        let ids =
                            ledger::stale_holds(tx, program_id, "native", cutoff, HOLDS_PER_PASS)
                                .await?;
                        let found = ids.len();
                        for id in ids {
                            let request = LedgerRequest {
                                program_id,
                                currency: String::new(),
                                merchant_id: None,
                                protocol: "system".into(),
                                idempotency: None,
                                description: Some("hold expired".into()),
                                details: serde_json::json!({}),
                                action: Action::Void { operation_id: id },
                            };
                            match ledger::execute(tx, request).await {
                                Ok(outcome) => {
                                    webhooks::operation_event(
                                        tx,
                                        "operation.voided",
                                        &outcome.operation,
                                        decimals,
                                    )
                                    .await?
                                }
                                // Confirmed or voided since it was listed: nothing to do.
                                Err(StoreError::Domain(DomainError::HoldNotPending { .. })) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(found)
                    })
                })
                .await?;
            total += voided;
            if (voided as i64) < HOLDS_PER_PASS {
                break;
            }
        }
    }
    Ok(total)
}
