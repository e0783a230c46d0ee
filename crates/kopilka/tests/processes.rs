//! The real `kopilka` binary: two processes sharing one PostgreSQL schema never overspend,
//! and a server killed with SIGKILL under load keeps every operation it acknowledged.

mod common;

use common::ADMIN_TOKEN;
use kopilka_store::PgStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `kopilka serve` process on port 0.
struct Server {
    child: tokio::sync::Mutex<Child>,
    base: String,
    http: reqwest::Client,
}

impl Server {
    async fn start(database: &str, dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kopilka"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .env("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KOPILKA_SEAL_KEY", "00".repeat(32))
            .env("KOPILKA_LOG", "warn")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("kopilka starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(base) = line.strip_prefix("kopilka listening on ") {
                    return base.trim().to_string();
                }
            }
            panic!("kopilka exited before listening");
        })
        .await
        .expect("kopilka listens within 30 s");
        // Keep reading, so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child: tokio::sync::Mutex::new(child),
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send(
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

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body))
            .await
            .expect("request")
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None)
            .await
            .expect("request")
    }

    /// A program, a merchant and `customers` customers holding `balance` each, through the
    /// native API.
    async fn seed(&self, customers: usize, balance: &str) -> (i64, Vec<i64>) {
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

    async fn audit_is_clean(&self) {
        let (status, audit) = self.get("/v1/ledger/audit").await;
        assert_eq!(status, StatusCode::OK, "{audit}");
        assert_eq!(audit["mismatched_accounts"], json!([]));
    }

    async fn kill_9(&self) {
        let mut child = self.child.lock().await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    /// SIGTERM: a graceful stop, which must end with a successful exit.
    async fn terminate(&self) {
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

/// A fresh schema, migrated, and a URL whose connection options select it.
async fn postgres_schema(prefix: &str) -> (String, String) {
    let schema = common::unique_schema(prefix);
    let store = PgStore::open(&common::postgres_url(), Some(&schema))
        .await
        .unwrap();
    kopilka_store::Store::close(&store).await;
    let base = common::postgres_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{separator}options=-csearch_path%3D{schema}"),
        schema,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = postgres_schema("two").await;
    let a = Server::start(&url, dir.path()).await;
    let b = Server::start(&url, dir.path()).await;
    let (merchant, customers) = a.seed(1, "100.00").await;
    let customer = customers[0];
    let (status, seen) = b.get(&format!("/v1/customers/{customer}/balances")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the second process shares the first one's data: {seen}"
    );
    assert_eq!(seen[0]["balance"], "100.00");

    let servers = Arc::new([a, b]);
    let redeems = (0..200).map(|i| {
        let servers = servers.clone();
        tokio::spawn(async move {
            servers[i % 2]
                .post(
                    "/v1/operations",
                    json!({"kind": "redeem", "customer_id": customer, "merchant_id": merchant, "amount": "10.00"}),
                )
                .await
        })
    });
    let mut created = [0, 0];
    for (i, answer) in futures::future::join_all(redeems)
        .await
        .into_iter()
        .enumerate()
    {
        let (status, body) = answer.unwrap();
        match status {
            StatusCode::CREATED => created[i % 2] += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "insufficient_funds"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created[0] + created[1], 10, "{created:?}");
    for server in servers.iter() {
        let (_, balances) = server
            .get(&format!("/v1/customers/{customer}/balances"))
            .await;
        assert_eq!(
            (
                balances[0]["balance"].as_str(),
                balances[0]["held"].as_str()
            ),
            (Some("0.00"), Some("0.00"))
        );
        server.audit_is_clean().await;
    }

    // The processes really used the schema the URL named, not the default one.
    let store = PgStore::open(&common::postgres_url(), Some(&schema))
        .await
        .unwrap();
    let found = store_customer_exists(Arc::new(store), customer).await;
    assert!(found, "the customer is in schema {schema}");
    for server in servers.iter() {
        server.terminate().await;
    }
}

async fn store_customer_exists(store: kopilka_store::SharedStore, customer: i64) -> bool {
    let found = store
        .read(move |tx| {
            Box::pin(async move { tx.customer(kopilka_domain::ids::CustomerId(customer)).await })
        })
        .await
        .unwrap()
        .is_some();
    store.close().await;
    found
}

/// Earns and redeems from many clients; `kill -9` once enough are acknowledged; restart on the
/// same database: each acknowledged operation is there, once, and the ledger audits clean.
async fn survives_kill_9(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(database, dir.path()).await;
    let (merchant, customers) = server.seed(8, "1000.00").await;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, i64, &'static str)>::new()));
    let clients: Vec<_> = (0..16)
        .map(|worker| {
            let (server, stop, acknowledged) = (server.clone(), stop.clone(), acknowledged.clone());
            let customer = customers[worker % customers.len()];
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = format!("w{worker}-{n}");
                    let (kind, body) = if n % 2 == 0 {
                        ("accrue", json!({"kind": "accrue", "customer_id": customer, "amount": "1.00", "idempotency_key": key}))
                    } else {
                        ("redeem", json!({"kind": "redeem", "customer_id": customer, "merchant_id": merchant, "amount": "0.50", "idempotency_key": key}))
                    };
                    match server.send(reqwest::Method::POST, "/v1/operations", Some(body)).await {
                        Ok((StatusCode::CREATED, op)) => {
                            acknowledged.lock().unwrap().push((key, op["id"].as_i64().unwrap(), kind))
                        }
                        Ok((status, body)) => panic!("{status}: {body}"),
                        // The server is gone.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while acknowledged.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("200 operations acknowledged within 20 s");
    server.kill_9().await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());

    let server = Server::start(database, dir.path()).await;
    for (key, id, kind) in &acknowledged {
        let (status, op) = server.get(&format!("/v1/operations/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged operation {id} ({key}) is gone"
        );
        assert_eq!(
            (op["idempotency_key"].as_str(), op["kind"].as_str()),
            (Some(key.as_str()), Some(*kind))
        );
    }
    // Repeating an acknowledged request finds it rather than doing it again.
    let (key, id, _) = acknowledged
        .iter()
        .find(|(_, _, kind)| *kind == "accrue")
        .unwrap();
    let customer = server.get(&format!("/v1/operations/{id}")).await.1["customer_id"].clone();
    let (status, replay) = server
        .post("/v1/operations", json!({"kind": "accrue", "customer_id": customer, "amount": "1.00", "idempotency_key": key}))
        .await;
    assert_eq!(
        (status, replay["id"].as_i64(), replay["replayed"].as_bool()),
        (StatusCode::OK, Some(*id), Some(true))
    );
    server.audit_is_clean().await;
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_9_under_load() {
    let dir = tempfile::tempdir().unwrap();
    survives_kill_9(&format!(
        "sqlite://{}",
        dir.path().join("kopilka.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_9_under_load() {
    let (url, _) = postgres_schema("kill").await;
    survives_kill_9(&url).await;
}
