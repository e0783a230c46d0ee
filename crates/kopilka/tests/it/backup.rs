//! Backup and restore under write load, as docs/deployment.md says to do them: SQLite with
//! `kopilka backup`, PostgreSQL with `pg_dump -Fc` and `pg_restore`. The restored database
//! serves, audits clean and holds every operation acknowledged before the backup began.

use crate::common::process::{self, Server};
use crate::common::{postgres_url, unique_schema, Backend};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Command;

both_stores!(multi_thread a_backup_under_load_restores, Backend);

/// Runs `command`, asserting it succeeds; answers its stdout.
async fn run(command: &mut Command) -> String {
    let output = command.output().await.expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Where a backup went, and the database URL serving it once restored.
struct Restore {
    url: String,
    /// A scratch PostgreSQL database to drop at the end.
    database: Option<String>,
}

async fn back_up(backend: Backend, url: &str, schema: &str, dir: &Path) -> Restore {
    match backend {
        Backend::Sqlite => {
            let copy = dir.join("backup.db");
            // A copy the configured key could not unseal is refused, and nothing is left.
            let wrong_key = process::kopilka(dir)
                .args(["backup", "--database", url, "--to", copy.to_str().unwrap()])
                .env("KOPILKA_SEAL_KEY", "11".repeat(32))
                .output()
                .await
                .unwrap();
            assert!(!wrong_key.status.success());
            assert!(
                String::from_utf8_lossy(&wrong_key.stderr).contains("is not the key"),
                "{wrong_key:?}"
            );
            let left: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|name| name.to_string_lossy().contains("backup"))
                .collect();
            assert!(left.is_empty(), "{left:?}");
            let said = run(process::kopilka(dir).args([
                "backup",
                "--database",
                url,
                "--to",
                copy.to_str().unwrap(),
            ]))
            .await;
            assert!(said.contains("backed up"), "{said}");
            // Never over an existing file.
            let again = process::kopilka(dir)
                .args(["backup", "--database", url, "--to", copy.to_str().unwrap()])
                .output()
                .await
                .unwrap();
            assert!(!again.status.success());
            assert!(
                String::from_utf8_lossy(&again.stderr).contains("exists"),
                "{again:?}"
            );
            Restore {
                url: format!("sqlite://{}", copy.display()),
                database: None,
            }
        }
        Backend::Postgres => {
            let refused = process::kopilka(dir)
                .args(["backup", "--database", url, "--to", "x.db"])
                .output()
                .await
                .unwrap();
            assert!(!refused.status.success());
            let said = String::from_utf8_lossy(&refused.stderr);
            assert!(
                said.contains("pg_dump -Fc") && said.contains("pg_restore"),
                "{said}"
            );

            let dump = dir.join("kopilka.dump");
            run(Command::new("pg_dump").args([
                "-Fc",
                "-n",
                schema,
                "-f",
                dump.to_str().unwrap(),
                &postgres_url(),
            ]))
            .await;
            let database = unique_schema("restore");
            run(Command::new("psql").args([
                &postgres_url(),
                "-c",
                &format!("CREATE DATABASE {database}"),
            ]))
            .await;
            let url = postgres_url();
            let (server, _) = url.rsplit_once('/').unwrap();
            let target = format!("{server}/{database}");
            run(Command::new("pg_restore").args([
                "--no-owner",
                "-d",
                &target,
                dump.to_str().unwrap(),
            ]))
            .await;
            Restore {
                url: format!("{target}?options=-c%20search_path%3D{schema}"),
                database: Some(database),
            }
        }
    }
}

async fn a_backup_under_load_restores(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("kopilka.db").display()),
            String::new(),
        ),
        Backend::Postgres => {
            let (url, schema, store) = process::postgres_schema("backup").await;
            store.close().await;
            (url, schema)
        }
    };
    let server = Arc::new(Server::start(&url, dir.path()).await);
    let (merchant, customers) = server.seed(4, "1000.00").await;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<(i64, String)>::new()));
    let clients: Vec<_> = (0..8)
        .map(|worker| {
            let (server, stop, acknowledged) = (server.clone(), stop.clone(), acknowledged.clone());
            let customer = customers[worker % customers.len()];
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = format!("w{worker}-{n}");
                    let body = if n % 2 == 0 {
                        json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00", "idempotency_key": key})
                    } else {
                        json!({"kind": "redeem", "customer_id": customer, "merchant_id": merchant, "amount": "0.50", "idempotency_key": key})
                    };
                    let (status, op) = server.post("/v1/operations", body).await;
                    assert_eq!(status, reqwest::StatusCode::CREATED, "{op}");
                    acknowledged.lock().unwrap().push((op["id"].as_i64().unwrap(), key));
                }
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while acknowledged.lock().unwrap().len() < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("100 operations acknowledged within 20 s");

    // Everything acknowledged so far must be in the backup; the load goes on meanwhile.
    let before = acknowledged.lock().unwrap().clone();
    let restore = back_up(backend, &url, &schema, dir.path()).await;
    let during = acknowledged.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    eprintln!(
        "{} operations acknowledged before the backup, {during} while it ran",
        before.len()
    );
    server.terminate().await;

    let restored = Server::start(&restore.url, dir.path()).await;
    for (id, key) in &before {
        let (status, op) = restored.get(&format!("/v1/operations/{id}")).await;
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "operation {id} ({key}) is not in the backup"
        );
        assert_eq!(op["idempotency_key"], json!(key));
    }
    restored.audit_is_clean().await;
    restored.terminate().await;
    if let Some(database) = restore.database {
        run(Command::new("psql").args([
            &postgres_url(),
            "-c",
            &format!("DROP DATABASE {database} WITH (FORCE)"),
        ]))
        .await;
    }
}
