//! Background jobs: the loop every periodic job runs in ([`every`]), points expiry, and the
//! voiding of native holds that outlived their program's `hold_lifetime_minutes`. Each pass is
//! a write job of its own; nothing here talks to the network (a voided hold's webhook goes
//! through the outbox).

use crate::outbox::webhooks;
use crate::shutdown::Shutdown;
use kopilka_domain::DomainError;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::{SharedStore, StoreError};
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Runs `round` every `interval` until shutdown, in a task of its own. A round gets its own
/// copy of `context` and the time, and answers how many things it changed; `done` says what
/// it did to them, for the log.
pub fn spawn_every<C, F, Fut, E>(
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
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait() => return,
            }
            match round(context.clone(), kopilka_store::now_ms()).await {
                Ok(count) => {
                    crate::observability::record_job_success(done);
                    if count > 0 {
                        tracing::info!(count, "{done}");
                    }
                }
                Err(e) => tracing::warn!("background job failed ({done}): {e}"),
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
