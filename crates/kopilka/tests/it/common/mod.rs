//! The harness every integration test uses: a real kopilka server on port 0, on a fresh SQLite
//! file or a fresh PostgreSQL schema, optionally seeded with the demo data, and typed clients
//! for the protocols it speaks.

#[macro_use]
mod macros;
pub mod ecommpay;
pub mod incust;
pub mod kupikupi;
pub mod loymax;
pub mod loymax_sdk;
pub mod native;
pub mod process;

use kopilka::config::Config;
use kopilka::secrets::Sealer;
use kopilka::server::{self, Running};
use kopilka_store::{PgStore, SharedStore};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

pub const ADMIN_TOKEN: &str = "test-admin-token-of-32-characters";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The store's name on the command line (`--store`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub fn postgres_url() -> String {
    std::env::var("KOPILKA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema name no other test uses.
pub fn unique_schema(prefix: &str) -> String {
    format!("{prefix}_{}", kopilka::secrets::random_token(6))
}

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    /// The admin listener's base URL, when the configuration set `admin_listen`.
    pub admin_base: Option<String>,
    pub http: reqwest::Client,
    pub store: SharedStore,
    pub seal_key: String,
    /// Where the database lives: the SQLite URL or the PostgreSQL schema.
    pub database: String,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(backend: Backend, demo: bool) -> TestApp {
        TestApp::start_with(backend, demo, |_| {}).await
    }

    /// Starts a server whose configuration `configure` adjusts first.
    pub async fn start_with(
        backend: Backend,
        demo: bool,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, database): (SharedStore, String) = match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
                (kopilka_store::open(&url).await.expect("sqlite store"), url)
            }
            Backend::Postgres => {
                let schema = unique_schema("t");
                let store = PgStore::open(&postgres_url(), Some(&schema))
                    .await
                    .expect("postgres store (is PostgreSQL running on 127.0.0.1:5432?)");
                (Arc::new(store), schema)
            }
        };
        let seal_key = Sealer::generate_key();
        if demo {
            let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).expect("demo file");
            kopilka::demo::seed(&store, &Sealer::from_hex(&seal_key).unwrap(), &data)
                .await
                .expect("demo seed");
        }
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database: database.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            seal_key: Some(seal_key.clone()),
            jobs_interval_secs: 3600,
            demo_pages: demo,
            ..Config::default()
        };
        configure(&mut config);
        let running = server::start_with_store(config, store.clone())
            .await
            .expect("server starts");
        TestApp {
            backend,
            base: running.public_url.clone(),
            admin_base: running.admin_addr.map(|addr| format!("http://{addr}")),
            http: reqwest::Client::new(),
            store,
            seal_key,
            database,
            running: Some(running),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An admin GET whose body the caller reads as it needs (JSON, CSV, XLSX).
    pub async fn get_response(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.get_response(path).await).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_raw(path, "application/json", body.to_string())
            .await
    }

    pub async fn send_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    pub async fn send_put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .put(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    /// Stops the server gracefully (closing the store) but keeps its database, for tests that
    /// look at what it left behind.
    pub async fn stop_server(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Stops the server gracefully (and closes the store).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// Asserts that a demo-seeded server with its demo pages off (as `kopilka serve` runs) answers
/// `path` with 404.
pub async fn demo_pages_are_off_outside_demo_mode(path: &str) {
    let app = TestApp::start_with(Backend::Sqlite, true, |config| {
        config.demo_pages = false;
    })
    .await;
    let (status, _) = app.get(path).await;
    let why = "demo pages only under `kopilka demo`";
    assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {why}");
    app.stop().await;
}

/// POSTs `body`, JSON text sent as it is, with a bearer `token` if any.
pub async fn post_json_text(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    token: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut request = http.post(url).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.body(body).send().await.expect("request")
}

/// A response's status and its body as JSON (a string where it is not JSON).
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The body of the page at `url`.
pub async fn text(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Runs `e2e/<script>` in Node against `base` (headless Chromium through playwright-core) and
/// panics with its output unless it succeeds.
pub async fn run_browser(script: &str, base: &str, args: &[&str]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let output = tokio::process::Command::new("node")
        .arg(root.join(script))
        .arg(base)
        .args(args)
        .current_dir(&root)
        .output()
        .await
        .expect("node runs (./scripts/test installs the e2e dependencies)");
    assert!(
        output.status.success(),
        "browser test {script} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
