//! Boots kopilka: opens the store, binds, serves until told to stop, then drains.

use crate::config::Config;
use crate::shutdown::{self, Shutdown, Trigger};
use crate::state::AppState;
use crate::{api, jobs, observability, secrets};
use axum::extract::Request;
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

/// Binds the port, then opens (and migrates) the store: a port already taken fails at once,
/// before a migration that may take minutes.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = bind(config.listen).await?;
    let store = kopilka_store::open(&config.database).await?;
    serve(config, store, listener).await
}

pub async fn start_with_store(config: Config, store: SharedStore) -> anyhow::Result<Running> {
    let listener = bind(config.listen).await?;
    serve(config, store, listener).await
}

async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))
}

async fn serve(
    config: Config,
    store: SharedStore,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
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
    let (sealer, _) = crate::seal_key::unlock(&config, &store).await?;
    let sealer = Arc::new(sealer);
    let outbox = crate::outbox::Worker::new(
        store.clone(),
        &config.outbox,
        sealer.clone(),
        settlement_hooks(),
    )?;
    let state = AppState {
        sealer,
        store: store.clone(),
        config: Arc::new(config.clone()),
        admin_token_digest: Arc::new(secrets::token_digest(&admin_token)),
        public_url: Arc::new(public_url.clone()),
    };
    let (trigger, shutdown) = shutdown::channel();
    let app = router(state.clone());
    let limits = crate::http::connections::Limits::from(&config.connections);
    let signal = shutdown.clone();
    let served = tokio::spawn(async move {
        let app = tower::ServiceExt::<Request>::map_request(app, |request| {
            crate::ecommpay::normalize_path(canonical_path(request))
        });
        crate::http::connections::serve(listener, app, &limits, signal).await;
    });
    let workers = spawn_workers(&state, &config, outbox, shutdown);
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

/// What each protocol does when one of its messages is delivered or dies.
fn settlement_hooks() -> crate::outbox::hooks::Hooks {
    crate::outbox::hooks::Hooks::new([(
        crate::kupikupi::NOTIFICATION_PURPOSE,
        crate::kupikupi::notification_hook as crate::outbox::hooks::Hook,
    )])
}

fn spawn_workers(
    state: &AppState,
    config: &Config,
    outbox: crate::outbox::Worker,
    shutdown: Shutdown,
) -> Vec<JoinHandle<()>> {
    let interval = Duration::from_secs(config.jobs_interval_secs.max(1));
    let store = state.store.clone();
    vec![
        jobs::spawn_every(
            interval,
            shutdown.clone(),
            "expired points",
            store.clone(),
            |store, now| async move { jobs::expire_once(&store, now).await },
        ),
        jobs::spawn_every(
            interval,
            shutdown.clone(),
            "voided holds past their lifetime",
            store.clone(),
            |store, now| async move { jobs::void_stale_holds(&store, now).await },
        ),
        jobs::spawn_every(
            interval,
            shutdown.clone(),
            "cancelled unconfirmed Loymax purchases",
            store.clone(),
            |store, now| async move { crate::loymax::processing::expire_once(&store, now).await },
        ),
        jobs::spawn_every(
            interval,
            shutdown.clone(),
            "declined expired CashtoCode vouchers and abandoned payment pages",
            state.clone(),
            |state, now| async move {
                crate::ecommpay::expire_cash_payments(
                    &state.store,
                    &state.sealer,
                    &state.public_url,
                    now,
                )
                .await
            },
        ),
        jobs::spawn_every(
            interval,
            shutdown.clone(),
            "canceled expired Kupi-Kupi transfer forms",
            state.clone(),
            |state, now| async move {
                crate::kupikupi::expire_forms(&state.store, &state.sealer, &state.public_url, now)
                    .await
            },
        ),
        tokio::spawn(crate::outbox::run(outbox, shutdown)),
    ]
}

pub fn router(state: AppState) -> Router {
    let metrics = observability::metrics_handle();
    let demo = if state.config.demo_pages {
        demo_shops()
    } else {
        Router::new()
    };
    Router::new()
        .merge(demo)
        .route("/healthz", get(healthz))
        .route("/metrics", get(move || async move { metrics.render() }))
        .merge(crate::ecommpay::router(state.clone()))
        .nest("/v1", native_api(&state))
        .merge(crate::incust::router(&state.config))
        .merge(crate::kupikupi::router())
        .merge(crate::cabinet::router())
        .merge(crate::loymax::router(state.clone()))
        .layer(axum::middleware::from_fn(observability::track))
        // Extractors behind the edge take at most what it let through.
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::http::edge::JSON_BODY_LIMIT,
        ))
        .layer(axum::Extension(crate::http::edge::BodyBudget::new(
            state.config.connections.body_budget_bytes,
        )))
        .with_state(state)
}

/// The demo shops (`kopilka demo`), playing the first merchant of each protocol in the demo
/// file.
fn demo_shops() -> Router<AppState> {
    let data =
        crate::demo::parse(crate::demo::DEMO_TOML).expect("the compiled-in demo data parses");
    let project = data
        .ecommpay_projects
        .first()
        .expect("demo.toml has an ECommPay project");
    let terminal = data
        .cashtocode_terminals
        .first()
        .expect("demo.toml has a CashtoCode terminal");
    let ecommpay = crate::ecommpay::demo_shop::DemoMerchant {
        project_id: project.project_id,
        secret: project.secret.clone(),
        terminal_id: terminal.terminal_id.clone(),
        terminal_key: terminal.key.clone(),
    };
    crate::ecommpay::demo_shop::router(ecommpay).merge(crate::kupikupi::demo::shop_router(
        data.kupikupi.into_iter().next(),
    ))
}

/// The native API with the protocols' admin routes that live under `/v1`, and one OpenAPI
/// document for all of them.
fn native_api(state: &AppState) -> Router<AppState> {
    let mut document = api::document();
    document.merge(<crate::kupikupi::PlatformsDoc as utoipa::OpenApi>::openapi());
    api::router(state.clone(), document).merge(crate::kupikupi::admin_routes(state.clone()))
}

/// Protocol paths that clients spell in any case and with or without a trailing slash.
const LENIENT_PATHS: &[&[&str]] = &[crate::incust::PATHS, crate::loymax::processing::BATCH_PATHS];

/// Rewrites a lenient spelling of a protocol path (`/API/`, `/app/Redeem/`, `/PUBLICAPI/…`) to
/// the path the router knows, before routing.
fn canonical_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let trimmed = path.trim_end_matches('/');
    let canonical = LENIENT_PATHS
        .iter()
        .flat_map(|paths| paths.iter())
        .find(|p| p.eq_ignore_ascii_case(trimmed))
        .filter(|c| **c != path)
        .map(|c| c.to_string())
        .or_else(|| crate::loymax::canonical_prefix(path));
    if let Some(canonical) = canonical {
        let target = match request.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical,
        };
        let mut parts = request.uri().clone().into_parts();
        if let Ok(pq) = target.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

async fn healthz() -> &'static str {
    "ok"
}
