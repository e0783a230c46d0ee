//! Boots kopilka: opens the store, binds, serves until told to stop, then drains.

use crate::config::Config;
use crate::shutdown::{self, Shutdown, Trigger};
use crate::state::AppState;
use crate::{api, observability, secrets};
use axum::routing::get;
use axum::Router;
use kopilka_store::SharedStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_token: String,
    pub public_url: String,
    pub store: SharedStore,
    trigger: Trigger,
    served: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops taking requests, lets in-flight ones finish, stops workers, closes the store.
    pub async fn shutdown(self) {
        self.trigger.fire();
        let _ = self.served.await;
        for worker in self.workers {
            let _ = worker.await;
        }
        self.store.close().await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = kopilka_store::open(&config.database).await?;
    start_with_store(config, store).await
}

pub async fn start_with_store(config: Config, store: SharedStore) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let admin_token = config
        .admin_token
        .clone()
        .unwrap_or_else(|| secrets::random_token(24));
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let sealer = secrets::Sealer::from_hex(&config.resolve_seal_key()?)?;
    let state = AppState {
        sealer: Arc::new(sealer),
        store: store.clone(),
        config: Arc::new(config.clone()),
        admin_token_digest: Arc::new(secrets::token_digest(&admin_token)),
        public_url: Arc::new(public_url.clone()),
    };
    let (trigger, shutdown) = shutdown::channel();
    let app = router(state);
    let mut signal = shutdown.clone();
    let served = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.wait().await })
            .await;
        if let Err(e) = result {
            tracing::error!("server stopped: {e}");
        }
    });
    let workers = spawn_workers(&store, &config, shutdown);
    Ok(Running {
        addr,
        admin_token,
        public_url,
        store,
        trigger,
        served,
        workers,
    })
}

fn spawn_workers(store: &SharedStore, config: &Config, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
    let interval = Duration::from_secs(config.jobs_interval_secs.max(1));
    vec![
        tokio::spawn(crate::jobs::run(store.clone(), interval, shutdown.clone())),
        tokio::spawn(crate::loymax_processing::run_expiry(
            store.clone(),
            interval,
            shutdown,
        )),
    ]
}

pub fn router(state: AppState) -> Router {
    let metrics = observability::metrics_handle();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(move || async move { metrics.render() }))
        .merge(crate::loymax_processing::router(state.clone()))
        .nest("/v1", api::router(state.clone()))
        .layer(axum::middleware::from_fn(observability::track))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            16 * 1024 * 1024,
        ))
        .with_state(state.clone())
        .merge(crate::loymax_processing::batch_router(state))
}

async fn healthz() -> &'static str {
    "ok"
}
