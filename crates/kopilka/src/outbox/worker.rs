//! The delivery loop: claim (one write job), send (no transaction), settle (another write job).

use super::hooks::{Hooks, Settlement};
use super::senders::{Delivery, Senders};
use super::{webhooks, OutboxConfig};
use crate::secrets::Sealer;
use crate::shutdown::Shutdown;
use kopilka_store::model::Message;
use kopilka_store::outbox::{Attempt, AttemptOutcome, NextStep};
use kopilka_store::{now_ms, SharedStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How often the queue gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Worker {
    store: SharedStore,
    config: Arc<OutboxConfig>,
    senders: Arc<Senders>,
    sealer: Arc<Sealer>,
    hooks: Hooks,
}

impl Worker {
    pub fn new(
        store: SharedStore,
        config: &OutboxConfig,
        sealer: Arc<Sealer>,
        hooks: Hooks,
    ) -> anyhow::Result<Worker> {
        config.validate()?;
        Ok(Worker {
            senders: Arc::new(Senders::new(config)?),
            store,
            config: Arc::new(config.clone()),
            sealer,
            hooks,
        })
    }
}

/// Delivers due messages until `shutdown` fires, then lets the sends in flight finish and
/// record their attempts; a message claimed after the signal is given back unsent.
pub async fn run(worker: Worker, mut shutdown: Shutdown) {
    let poll = Duration::from_millis(worker.config.poll_interval_ms.max(1));
    let slots = Arc::new(Semaphore::new(worker.config.concurrency));
    let mut sending = JoinSet::new();
    let mut stats_at: Option<Instant> = None;
    while !shutdown.is_fired() {
        if stats_at.is_none_or(|at| at.elapsed() >= STATS_EVERY) {
            stats_at = Some(Instant::now());
            worker.refresh_stats().await;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = sending.join_next() => {}
                _ = shutdown.wait() => {}
            }
            continue;
        }
        let claimed = match worker.claim(worker.config.batch.min(free as i64)).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!("outbox: claiming messages failed: {e}");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            // Nothing due: wait for the poll interval, or for a send to finish (the next
            // message of its destination may now be due).
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                Some(_) = sending.join_next() => {}
                _ = shutdown.wait() => {}
            }
            continue;
        }
        for (message, lease) in claimed {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let worker = worker.clone();
            let shutdown = shutdown.clone();
            sending.spawn(async move {
                let _slot = slot;
                if shutdown.is_fired() {
                    worker.release(message.id, lease).await;
                } else {
                    worker.deliver(message, lease).await;
                }
            });
        }
    }
    while sending.join_next().await.is_some() {}
}

impl Worker {
    async fn claim(&self, limit: i64) -> kopilka_store::StoreResult<Vec<(Message, i64)>> {
        let due = self
            .store
            .read(|tx| Box::pin(async move { tx.has_due().await }))
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        let lease_ms = self.config.lease_ms as i64;
        self.store
            .write(move |tx| {
                Box::pin(async move {
                    let lease = tx.now() + lease_ms;
                    let claimed = tx.claim_due(limit, lease).await?;
                    Ok(claimed.into_iter().map(|m| (m, lease)).collect())
                })
            })
            .await
    }

    async fn release(&self, id: i64, lease: i64) {
        let released = self
            .store
            .write(move |tx| Box::pin(async move { tx.release_lease(id, lease).await }))
            .await;
        if let Err(e) = released {
            tracing::warn!(
                message_id = id,
                "outbox: releasing a lease failed (it expires by itself): {e}"
            );
        }
    }

    async fn deliver(&self, message: Message, lease: i64) {
        let at = now_ms();
        let started = Instant::now();
        let delivery = match self.signature_headers(&message).await {
            Ok(headers) => self.senders.send(&message, &headers).await,
            Err(error) => Delivery {
                outcome: AttemptOutcome::Failed,
                status_code: None,
                error: Some(error),
            },
        };
        let attempt = Attempt {
            at,
            outcome: delivery.outcome,
            status_code: delivery.status_code,
            error: delivery.error,
            duration_ms: started.elapsed().as_millis() as i64,
        };
        let schedule = self.config.schedule(&message.schedule);
        let failed = (message.attempts + 1) as u64;
        let unit = self.config.schedule_unit_ms;
        let next = if attempt.outcome == AttemptOutcome::Accepted {
            NextStep::Delivered
        } else {
            match schedule.delay_ms(failed, unit) {
                Some(delay) => NextStep::Retry {
                    at: now_ms() + delay as i64,
                },
                None => NextStep::Dead,
            }
        };
        match self.settle(message.id, lease, attempt.clone(), next).await {
            Ok(true) => {
                log_failure(&message, &attempt, next);
                record_metric(message.kind.as_str(), next);
            }
            Ok(false) => {
                tracing::warn!(
                    message_id = message.id,
                    "outbox: the lease expired during the attempt; another worker has the message"
                );
            }
            Err(e) if next == NextStep::Delivered || next == NextStep::Dead => {
                // The settlement (or its hook) failed: the message must not settle without its
                // hook, so the attempt counts as failed and the message is tried again.
                tracing::error!(
                    message_id = message.id,
                    "outbox: settling failed, retrying the message: {e}"
                );
                let delay = schedule
                    .delay_ms(failed, unit)
                    .unwrap_or(schedule.max_delay.saturating_mul(unit));
                let retry = NextStep::Retry {
                    at: now_ms() + delay as i64,
                };
                let attempt = Attempt {
                    outcome: AttemptOutcome::Failed,
                    error: Some(format!("settling failed: {e}")),
                    ..attempt
                };
                if let Err(e) = self.settle(message.id, lease, attempt, retry).await {
                    tracing::error!(message_id = message.id, "outbox: recording the attempt failed (the lease expires, then it is retried): {e}");
                }
                record_metric(message.kind.as_str(), retry);
            }
            Err(e) => {
                tracing::error!(message_id = message.id, "outbox: recording the attempt failed (the lease expires, then it is retried): {e}");
            }
        }
    }

    /// Records the attempt and the message's next step; a settlement runs the purpose hook in
    /// the same transaction. `Ok(false)`: the lease was lost and nothing was written.
    async fn settle(
        &self,
        id: i64,
        lease: i64,
        attempt: Attempt,
        next: NextStep,
    ) -> kopilka_store::StoreResult<bool> {
        let hooks = self.hooks.clone();
        self.store
            .write(move |tx| {
                Box::pin(async move {
                    let Some(message) = tx.finish_attempt(id, lease, &attempt, next).await? else {
                        return Ok(false);
                    };
                    let settled = match next {
                        NextStep::Delivered => Settlement::Delivered,
                        NextStep::Dead => Settlement::Dead,
                        NextStep::Retry { .. } => return Ok(true),
                    };
                    hooks.on_settled(tx, &message, settled).await?;
                    Ok(true)
                })
            })
            .await
    }

    /// The `Kopilka-Signature` header of a native webhook, signed now with the merchant's
    /// current secret (none when the merchant has not created one).
    async fn signature_headers(&self, message: &Message) -> Result<Vec<(String, String)>, String> {
        if message.purpose.as_deref() != Some(webhooks::PURPOSE) {
            return Ok(Vec::new());
        }
        let Some(merchant_id) = message.merchant_id else {
            return Ok(Vec::new());
        };
        let merchant = self
            .store
            .read(move |tx| Box::pin(async move { tx.merchant(merchant_id).await }))
            .await
            .map_err(|e| format!("reading the webhook secret: {e}"))?;
        let Some(sealed) = merchant.and_then(|m| m.webhook_secret) else {
            return Ok(Vec::new());
        };
        let secret = self
            .sealer
            .unseal(&sealed)
            .map_err(|e| format!("the merchant's webhook secret: {e}"))?;
        let value = webhooks::signature(&secret, now_ms() / 1000, &message.body);
        Ok(vec![(webhooks::SIGNATURE_HEADER.to_string(), value)])
    }

    async fn refresh_stats(&self) {
        match self
            .store
            .read(|tx| Box::pin(async move { tx.outbox_stats().await }))
            .await
        {
            Ok(stats) => {
                let age = stats
                    .oldest_created_at
                    .map_or(0.0, |created| (now_ms() - created).max(0) as f64 / 1000.0);
                metrics::gauge!("kopilka_outbox_queue_depth").set(stats.depth as f64);
                metrics::gauge!("kopilka_outbox_oldest_pending_age_seconds").set(age);
            }
            Err(e) => tracing::warn!("outbox: reading queue statistics failed: {e}"),
        }
    }
}

/// A failed attempt is a warning; a message given up on (dead) is an error.
fn log_failure(message: &Message, attempt: &Attempt, next: NextStep) {
    let error = attempt.error.as_deref().unwrap_or("");
    let (id, kind, attempts) = (message.id, message.kind.as_str(), message.attempts + 1);
    match next {
        NextStep::Delivered => {}
        NextStep::Retry { at } => tracing::warn!(
            message_id = id,
            kind,
            attempts,
            status_code = attempt.status_code,
            retry_at_ms = at,
            error,
            "outbox: delivery failed; retrying"
        ),
        NextStep::Dead => tracing::error!(
            message_id = id,
            kind,
            attempts,
            status_code = attempt.status_code,
            error,
            "outbox: delivery failed; the message is dead"
        ),
    }
}

fn record_metric(kind: &str, next: NextStep) {
    let result = match next {
        NextStep::Delivered => "delivered",
        NextStep::Retry { .. } => "retry",
        NextStep::Dead => "dead",
    };
    metrics::counter!("kopilka_outbox_deliveries_total", "kind" => kind.to_string(), "result" => result).increment(1);
}
