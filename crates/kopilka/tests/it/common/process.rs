//! The real `kopilka` binary as a child process, for tests that kill it or run two at once.

use super::{postgres_url, unique_schema, ADMIN_TOKEN};
use kopilka_store::{PgStore, SharedStore};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The seal key every process the tests start is given.
pub const SEAL_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `kopilka` binary run in `dir` with the tests' seal key, logging warnings only.
pub fn kopilka(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kopilka"));
    command
        .env("KOPILKA_SEAL_KEY", SEAL_KEY)
        .env("KOPILKA_LOG", "warn")
        .current_dir(dir)
        .kill_on_drop(true);
    command
}

/// Starts `kopilka serve` on port 0 in `dir` with `args` added, and reads its address from the
/// `kopilka listening on` line.
pub async fn spawn_serve(database: &str, dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = kopilka(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(args)
        .env("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KOPILKA_SMS_SENDER", "log")
        .env("KOPILKA_EMAIL_SENDER", "log")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the kopilka binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("kopilka listening on ") {
                return addr.trim().to_string();
            }
        }
        panic!("kopilka exited before listening");
    })
    .await
    .expect("kopilka listens within 30 s");
    // Keep reading, so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// A fresh PostgreSQL schema, migrated: a database URL whose connection options select it,
/// the schema's name and the store open on it.
pub async fn postgres_schema(prefix: &str) -> (String, String, SharedStore) {
    let schema = unique_schema(prefix);
    let store = PgStore::open(&postgres_url(), Some(&schema)).await.unwrap();
    let base = postgres_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    (url, schema, Arc::new(store))
}

/// A `kopilka serve` process on port 0.
pub struct Server {
    child: tokio::sync::Mutex<Child>,
    pub base: String,
    http: reqwest::Client,
}

impl Server {
    pub async fn start(database: &str, dir: &Path) -> Server {
        Server::start_with(database, dir, &[]).await
    }

    /// `kopilka serve` with `args` added.
    pub async fn start_with(database: &str, dir: &Path, args: &[&str]) -> Server {
        let (child, base) = spawn_serve(database, dir, args).await;
        Server {
            child: tokio::sync::Mutex::new(child),
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body))
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None)
            .await
            .expect("request")
    }

    /// A program, a merchant and `customers` customers holding `balance` each, through the
    /// native API.
    pub async fn seed(&self, customers: usize, balance: &str) -> (i64, Vec<i64>) {
        let (status, program) = self
            .post(
                "/v1/programs",
                json!({"code": "p", "name": "P", "rules": {"earn_bps": 1000}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{program}");
        let (status, merchant) = self
            .post(
                "/v1/merchants",
                json!({"program_id": program["id"], "name": "Shop"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{merchant}");
        let mut ids = Vec::new();
        for _ in 0..customers {
            let (status, customer) = self
                .post(
                    "/v1/customers",
                    json!({"program_id": program["id"], "opening_balance": balance}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{customer}");
            ids.push(customer["id"].as_i64().unwrap());
        }
        (merchant["id"].as_i64().unwrap(), ids)
    }

    pub async fn audit_is_clean(&self) {
        let (status, audit) = self.get("/v1/ledger/audit").await;
        assert_eq!(status, StatusCode::OK, "{audit}");
        assert_eq!(audit["mismatched_accounts"], json!([]));
    }

    pub async fn pid(&self) -> u32 {
        self.child.lock().await.id().expect("the process runs")
    }

    pub async fn kill_9(&self) {
        let mut child = self.child.lock().await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    /// SIGTERM: a graceful stop, which must end with a successful exit.
    pub async fn terminate(&self) {
        let mut child = self.child.lock().await;
        let pid = child.id().unwrap().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("kopilka stops within 20 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "kopilka exited with {status}");
    }
}
