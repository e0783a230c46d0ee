//! PostgreSQL servers as the URL names them: a list of hosts where the first one is down, and
//! connections the server ends under the pool (a restart, a failover), replaced by new ones.
//! The failover itself, between two real servers, is `scripts/failover`.

use crate::support::{credit, postgres_url, Ledger};
use kopilka_domain::ledger::Owner;
use kopilka_store::StoreError;
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;
use std::time::Duration;

/// The test database's URL with `hosts` in front of its own server and `query` appended.
fn url_with(hosts: &str, query: &str) -> String {
    let options = PgConnectOptions::from_str(&postgres_url()).expect("url");
    format!(
        "postgres://{}@{hosts}{}:{}/{}?{query}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

#[tokio::test]
async fn a_server_that_is_down_is_passed_over_for_the_next_in_the_url() {
    // Nothing listens on port 1.
    let l = Ledger::open_postgres(&url_with("127.0.0.1:1,", "connect_timeout=2")).await;
    let c = l.customer().await;
    l.credit(c, 1_000, None).await;
    assert_eq!(l.balance(Owner::Customer(c)).await, (1_000, 0));
    l.check_invariants().await;
}

#[tokio::test]
async fn every_server_down_fails_the_start_naming_each() {
    let refused = kopilka_store::PgStore::open("postgres://u@127.0.0.1:1,127.0.0.1:2/db", None)
        .await
        .err()
        .expect("no server");
    let message = refused.to_string();
    assert!(
        matches!(refused, StoreError::Unreachable { .. })
            && message.contains("127.0.0.1:1,127.0.0.1:2")
            && message.matches("refused").count() == 2,
        "{message}"
    );
}

/// The server ends every connection of the store's pool (SQLSTATE 57P01, as on a restart):
/// the jobs that meet a dead connection fail as `Unavailable` and write nothing, the pool's
/// old connections are retired, and the request repeated under its idempotency key applies
/// once.
#[tokio::test]
async fn connections_the_server_ended_are_replaced_and_a_repeat_applies_once() {
    let name = format!("kopilka_{}", uuid::Uuid::new_v4().simple());
    let l = Ledger::open_postgres(&url_with("", &format!("application_name={name}"))).await;
    let c = l.customer().await;
    l.credit(c, 1_000, None).await;
    let admin = sqlx::PgPool::connect(&postgres_url())
        .await
        .expect("postgres");
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(&admin)
    .await
    .expect("terminate");
    admin.close().await;
    assert!(!ended.is_empty() && ended.iter().all(|&e| e), "{ended:?}");
    let mut unavailable = 0;
    let applied = loop {
        match l
            .exec_keyed(credit(c, 500, None), "after-restart", "500")
            .await
        {
            Ok(outcome) => break outcome,
            Err(StoreError::Unavailable(_)) if unavailable < 20 => {
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("after {unavailable} unavailable: {other}"),
        }
    };
    assert!(unavailable >= 1, "a dead pooled connection failed a job");
    assert!(!applied.replayed);
    let replayed = l
        .exec_keyed(credit(c, 500, None), "after-restart", "500")
        .await
        .expect("repeat");
    assert!(replayed.replayed);
    assert_eq!(l.balance(Owner::Customer(c)).await, (1_500, 0));
    l.check_invariants().await;
}
