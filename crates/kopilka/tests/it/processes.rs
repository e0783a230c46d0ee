//! The real `kopilka` binary: two processes sharing one PostgreSQL schema never overspend,
//! and a server killed with SIGKILL under load keeps every operation it acknowledged.

use crate::common;
use crate::common::process::{self, Server};
use kopilka_domain::ids::CustomerId;
use kopilka_store::PgStore;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema, store) = process::postgres_schema("two").await;
    store.close().await;
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
        .read(move |tx| Box::pin(async move { tx.customer(CustomerId(customer)).await }))
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
                        ("accrue", json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00", "idempotency_key": key}))
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
        .post("/v1/operations", json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00", "idempotency_key": key}))
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
    let (url, _, store) = process::postgres_schema("kill").await;
    store.close().await;
    survives_kill_9(&url).await;
}
