//! Migrations over a database that already holds data: SQLite's table rebuild (0010) keeps
//! every operation with its id, the references to it, and the uniqueness of idempotency keys.

use kopilka_store::{SqliteStore, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::str::FromStr;

/// id, uuid, idempotency key, reversed operation, amount reversed.
type OperationRow = (i64, String, Option<String>, Option<i64>, i64);

async fn pool(url: &str) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// A database migrated up to `version` only.
async fn migrated_to(url: &str, version: i64) -> SqlitePool {
    let pool = pool(url).await;
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(&pool).await.unwrap();
    pool
}

const SEED: &str = "
INSERT INTO programs (id, code, name, rules, created_at) VALUES (1, 'p', 'P', '{}', 0);
INSERT INTO merchants (id, program_id, name, sms_name, created_at) VALUES (1, 1, 'M', 'M', 0);
INSERT INTO customers (id, program_id, member_no, state, created_at) VALUES (1, 1, '1', 'active', 0);
INSERT INTO accounts (id, program_id, currency, owner_kind, owner_id, balance) VALUES (1, 1, 'RUB', 'issuance', 0, -700), (2, 1, 'RUB', 'customer', 1, 700);
INSERT INTO operations (id, uuid, program_id, currency, kind, status, amount, customer_id, merchant_id, protocol, idem_scope, idem_key, fingerprint, created_at)
    VALUES (1, 'u1', 1, 'RUB', 'accrue', 'confirmed', 1000, 1, 1, 'api', 'm1', 'k1', 'f1', 1),
           (2, 'u2', 1, 'RUB', 'accrue', 'confirmed', 500, 1, 1, 'loymax', NULL, NULL, NULL, 2),
           (3, 'u3', 1, 'RUB', 'reverse', 'confirmed', 800, 1, 1, 'api', 'm1', 'k2', 'f2', 3);
UPDATE operations SET reversed = 800 WHERE id = 1;
UPDATE operations SET reverses = 1 WHERE id = 3;
INSERT INTO postings (operation_id, account_id, amount, created_at)
    VALUES (1, 2, 1000, 1), (1, 1, -1000, 1), (2, 2, 500, 2), (2, 1, -500, 2), (3, 2, -800, 3), (3, 1, 800, 3);
INSERT INTO lots (account_id, amount, remaining, origin, created_at) VALUES (2, 1000, 200, 1, 1), (2, 500, 500, 2, 2);
";

#[tokio::test]
async fn rebuilding_operations_keeps_rows_references_and_unique_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let old = migrated_to(&url, 9).await;
    sqlx::raw_sql(SEED).execute(&old).await.unwrap();
    old.close().await;

    let store = SqliteStore::open(&url).await.unwrap();
    store.close().await;

    let db = pool(&url).await;
    let rows: Vec<OperationRow> =
        sqlx::query_as("SELECT id, uuid, idem_key, reverses, reversed FROM operations ORDER BY id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "u1".into(), Some("k1".into()), None, 800),
            (2, "u2".into(), None, None, 0),
            (3, "u3".into(), Some("k2".into()), Some(1), 0),
        ]
    );
    let dangling: Vec<(String, Option<i64>, String, i64)> =
        sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&db)
            .await
            .unwrap();
    assert!(dangling.is_empty(), "{dangling:?}");
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'operations'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(seq, 3);

    // A key is still unique within its scope; rows without one no longer share an entry.
    let insert = |uuid: &'static str, key: Option<&'static str>| {
        sqlx::query("INSERT INTO operations (uuid, program_id, currency, kind, status, amount, customer_id, protocol, idem_scope, idem_key, created_at) VALUES ($1, 1, 'RUB', 'accrue', 'confirmed', 1, 1, 'api', 'm1', $2, 4)")
            .bind(uuid)
            .bind(key)
            .execute(&db)
    };
    assert!(insert("u4", Some("k1")).await.is_err());
    let added = insert("u5", None).await.unwrap();
    assert_eq!(added.last_insert_rowid(), 4);
    insert("u6", None).await.unwrap();
    // A row pointing at an operation that does not exist is refused: the references hold.
    assert!(sqlx::query(
        "INSERT INTO postings (operation_id, account_id, amount, created_at) VALUES (99, 2, 1, 4)"
    )
    .execute(&db)
    .await
    .is_err());

    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM operations WHERE idem_scope = 'm1' AND idem_key = 'k1'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|(.., step)| step.contains("operations_idem")),
        "{plan:?}"
    );
}
