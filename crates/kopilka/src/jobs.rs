//! Background jobs: points expiry. Each pass is a write job of its own; nothing here talks to
//! the network.

use kopilka_store::{ledger, SharedStore};
use std::time::Duration;
use crate::shutdown::Shutdown;

/// Burns due lots until none are left or `max_rounds` passes ran.
pub async fn expire_once(store: &SharedStore, now: i64) -> Result<usize, kopilka_store::StoreError> {
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

pub async fn run(store: SharedStore, interval: Duration, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait() => return,
        }
        match expire_once(&store, kopilka_store::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(operations = n, "expired points"),
            Err(e) => tracing::warn!("expiry job failed: {e}"),
        }
    }
}
