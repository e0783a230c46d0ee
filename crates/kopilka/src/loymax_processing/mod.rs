//! Loymax, part 2 (seed 001): purchase processing (`…/Processing/…`) and the batch balance API.
//! Translates the wire formats to the domain's purchase state machine (`loymax_purchase`) and
//! the store's purchase and batch methods; no rules live here.

pub mod batch;
pub mod purchases;

use crate::state::AppState;
use axum::routing::post;
use axum::Router;

/// Batch paths as partners write them; each also with a trailing slash.
const BATCH_PATHS: [&str; 6] = [
    "/batchoperations/v1/requests",
    "/BatchOperations/v1/requests",
    "/batchOperations/v1/requests",
    "/loytech.batchoperationsservice/api/requests",
    "/Loytech.BatchOperationsService/api/requests",
    "/loytech.BatchOperationsService/api/requests",
];

/// The batch API. Merged outside the server's body limit: its requests are streamed to disk.
pub fn batch_router(state: AppState) -> Router {
    let mut router = Router::new();
    for path in BATCH_PATHS {
        router = router
            .route(path, post(batch::handle))
            .route(&format!("{path}/"), post(batch::handle));
    }
    router
        .layer(axum::middleware::from_fn(crate::observability::track))
        .with_state(state)
}

/// Admin routes (admin token): `/v1/loymax/batch-keys`.
pub fn admin_router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/loymax/batch-keys", post(batch::create_key))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::api::require_admin,
        ))
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
