//! Loymax, part 2 (seed 001): purchase processing (`…/Processing/…`) and the batch balance API.
//! Translates the wire formats to the domain's purchase state machine (`loymax_purchase`) and
//! the store's purchase and batch methods; no rules live here.

pub mod batch;
pub mod callers;
pub mod purchases;
mod routes;
mod texts;

use crate::state::AppState;
use axum::routing::post;
use axum::Router;

/// The batch API's paths; any casing, with or without a trailing slash (the server's
/// lenient paths). Its bodies are streamed to disk, never read whole.
pub const BATCH_PATHS: &[&str] = &[
    "/batchoperations/v1/requests",
    "/loytech.batchoperationsservice/api/requests",
];

pub(super) use routes::methods;

/// The batch API. The processing methods are served by part 1's router (`crate::loymax`),
/// under its path aliases; the batch keys' admin route is in `crate::loymax::admin_routes`.
pub fn router() -> Router<AppState> {
    BATCH_PATHS.iter().fold(Router::new(), |router, path| {
        router.route(path, post(batch::handle).fallback(batch::wrong_method))
    })
}

/// A batch API key of the demo data (`[[loymax_batch_keys]]`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoBatchKey {
    pub merchant: String,
    pub key: String,
}

/// Seeds the demo's batch keys for the merchants seeded by name.
pub async fn seed_demo(
    store: &kopilka_store::SharedStore,
    keys: &[DemoBatchKey],
    merchants: &[(String, i64)],
) -> anyhow::Result<()> {
    for k in keys {
        let merchant = merchants
            .iter()
            .find(|(name, _)| *name == k.merchant)
            .map(|(_, id)| *id)
            .ok_or_else(|| anyhow::anyhow!("batch key: unknown merchant {}", k.merchant))?;
        batch::add_key(store, merchant, &k.key)
            .await
            .map_err(|e| anyhow::anyhow!("batch key: {e:?}"))?;
    }
    Ok(())
}

/// Cancels the purchases left unconfirmed past their program's time, each in a job of its own.
pub async fn expire_once(
    store: &kopilka_store::SharedStore,
    now: i64,
) -> Result<usize, kopilka_store::StoreError> {
    let mut total = 0;
    loop {
        let due = store
            .read(move |tx| Box::pin(async move { tx.loymax_purchases_due(now, 100).await }))
            .await?;
        if due.is_empty() {
            return Ok(total);
        }
        let count = due.len();
        for id in due {
            let expired = store
                .write(move |tx| Box::pin(async move { purchases::expire(tx, id, now).await }))
                .await?;
            total += usize::from(expired);
        }
        if count < 100 {
            return Ok(total);
        }
    }
}
