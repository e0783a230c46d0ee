//! Boots kopilka: opens the store, binds, serves until told to stop, then drains.

use crate::config::Config;
use crate::http::ApiError;
use crate::shutdown::{self, Shutdown, Trigger};
use crate::state::AppState;
use crate::{api, jobs, observability, secrets};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    /// The admin listener's address (`admin_listen`), when there is one.
    pub admin_addr: Option<SocketAddr>,
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
    let listeners = bind(&config).await?;
    let store = kopilka_store::open(&config.database).await?;
    serve(config, store, listeners).await
}

pub async fn start_with_store(config: Config, store: SharedStore) -> anyhow::Result<Running> {
    let listeners = bind(&config).await?;
    serve(config, store, listeners).await
}

/// The public listener and the admin one (`admin_listen`), if set.
struct Listeners {
    public: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
}

async fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let listen = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
    };
    let public = listen(config.listen).await?;
    let admin = match config.admin_listen {
        Some(addr) => Some(listen(addr).await?),
        None => None,
    };
    Ok(Listeners { public, admin })
}

/// Which listener a request came in on; with an admin listener, each serves only its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    Public,
    Admin,
}

async fn serve(
    config: Config,
    store: SharedStore,
    listeners: Listeners,
) -> anyhow::Result<Running> {
    let addr = listeners.public.local_addr()?;
    let admin_addr = match &listeners.admin {
        Some(admin) => Some(admin.local_addr()?),
        None => None,
    };
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
    let public = serve_on(
        listeners.public,
        app.clone(),
        Listener::Public,
        limits.clone(),
        shutdown.clone(),
    );
    let admin = listeners
        .admin
        .map(|admin| serve_on(admin, app, Listener::Admin, limits, shutdown.clone()));
    let served = tokio::spawn(async move {
        let _ = public.await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
    });
    let workers = spawn_workers(&state, &config, outbox, shutdown);
    Ok(Running {
        addr,
        admin_addr,
        admin_token,
        public_url,
        store,
        trigger,
        served,
        workers,
    })
}

/// Serves `app` on `listener` until shutdown, in a task of its own.
fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    which: Listener,
    limits: crate::http::connections::Limits,
    signal: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let app = tower::ServiceExt::<Request>::map_request(app, move |request| {
            let mut request = crate::ecommpay::normalize_path(canonical_path(request));
            request.extensions_mut().insert(which);
            request
        });
        crate::http::connections::serve(listener, app, &limits, signal).await;
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
    let leases = jobs::JobLeases::new(store.clone());
    vec![
        jobs::spawn_every(
            leases.clone(),
            "points_expiry",
            interval,
            shutdown.clone(),
            "expired points",
            store.clone(),
            |store, now| async move { jobs::expire_once(&store, now).await },
        ),
        jobs::spawn_every(
            leases.clone(),
            "stale_holds",
            interval,
            shutdown.clone(),
            "voided holds past their lifetime",
            store.clone(),
            |store, now| async move { jobs::void_stale_holds(&store, now).await },
        ),
        jobs::spawn_every(
            leases.clone(),
            "loymax_purchase_expiry",
            interval,
            shutdown.clone(),
            "cancelled unconfirmed Loymax purchases",
            store.clone(),
            |store, now| async move { crate::loymax::processing::expire_once(&store, now).await },
        ),
        jobs::spawn_every(
            leases.clone(),
            "ecommpay_expiry",
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
            leases,
            "kupikupi_form_expiry",
            interval,
            shutdown.clone(),
            "canceled expired Kupi-Kupi transfer forms",
            state.clone(),
            |state, now| async move {
                crate::kupikupi::expire_forms(&state.store, &state.sealer, &state.public_url, now)
                    .await
            },
        ),
        // Not leased: every node delivers, each message claimed by one (docs/outbox.md).
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
    let admin = api::router(state.clone(), admin_api());
    let dashboard = crate::dashboard::router(&state, admin.clone().with_state(state.clone()));
    let routes = Router::new()
        .merge(demo)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move || async move { observability::render_metrics(&metrics) }),
        )
        .merge(crate::ecommpay::router())
        .merge(admin)
        .merge(dashboard)
        .merge(crate::incust::router(&state.config))
        .merge(crate::kupikupi::router())
        .merge(crate::cabinet::router())
        .merge(crate::social::router())
        .merge(crate::loymax::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            listener_paths,
        ));
    crate::http::access_log::wrap(routes, &state)
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

/// Every admin route under `/v1` with its documentation: the native API's and each protocol's,
/// tagged by area. A protocol's admin routes are added here.
fn admin_api() -> utoipa_axum::router::OpenApiRouter<AppState> {
    api::routes()
        .merge(api::area("ecommpay", crate::ecommpay::admin_routes()))
        .merge(api::area("loymax", crate::loymax::admin_routes()))
        .merge(api::area("kupikupi", crate::kupikupi::admin_routes()))
        .merge(api::area("social", crate::social::admin_routes()))
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

/// Whether a path belongs on the admin listener: `/metrics`, the dashboard under `/admin` and
/// the admin API under `/v1` (but ECommPay's `/v1/operations/get`, a protocol method).
fn is_admin_path(path: &str) -> bool {
    path == "/metrics"
        || path == "/admin"
        || path.starts_with("/admin/")
        || ((path == "/v1" || path.starts_with("/v1/"))
            && path.trim_end_matches('/') != "/v1/operations/get")
}

/// With an admin listener (`admin_listen`), the public one answers 404 on the admin paths and
/// the admin one on every other path.
async fn listener_paths(
    State(state): State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let which = request
        .extensions()
        .get::<Listener>()
        .copied()
        .unwrap_or(Listener::Public);
    let admin_path = is_admin_path(request.uri().path());
    let served = match which {
        Listener::Public => state.config.admin_listen.is_none() || !admin_path,
        Listener::Admin => admin_path,
    };
    if served {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "not served on this listener",
        )
        .into_response()
    }
}

/// How long `/readyz` waits for the store before it answers 503.
const READY_DEADLINE: Duration = Duration::from_secs(2);

/// Ready: a read on the store and a no-op write through the writer (SQLite's writer thread,
/// a PostgreSQL transaction) both answer within [`READY_DEADLINE`]. 503 names what failed.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let check = async move {
        store
            .read(|tx| Box::pin(async move { tx.ping().await }))
            .await
            .map_err(|e| ("store", e))?;
        store
            .write(|_| Box::pin(async move { Ok(()) }))
            .await
            .map_err(|e| ("writer", e))
    };
    let failed = match tokio::time::timeout(READY_DEADLINE, check).await {
        Ok(Ok(())) => {
            return axum::Json(serde_json::json!({"status": "ready"})).into_response();
        }
        Ok(Err((failed, e))) => {
            tracing::warn!(failed, "not ready: {e}");
            failed
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer within 2 s");
            "deadline"
        }
    };
    let body = serde_json::json!({"status": "unready", "failed": failed});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}
