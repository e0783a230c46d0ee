//! The real `kopilka` binary as a child process, for tests that kill it or run two at once.

use super::{postgres_url, unique_schema, ADMIN_TOKEN};
use kopilka_store::{PgStore, SharedStore};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `kopilka serve` on port 0 in `dir` with `args` added, and reads its address from the
/// `kopilka listening on` line.
pub async fn spawn_serve(database: &str, dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kopilka"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(args)
        .env("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KOPILKA_SEAL_KEY", "00".repeat(32))
        .env("KOPILKA_SMS_SENDER", "log")
        .env("KOPILKA_EMAIL_SENDER", "log")
        .env("KOPILKA_LOG", "warn")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
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
