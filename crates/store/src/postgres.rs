//! PostgreSQL: a pool; each write job is one transaction; balances are guarded by row locks
//! (`SELECT … FOR UPDATE`) so several kopilka processes can share one database.

use crate::tx::{Conn, Tx};
use crate::{Erased, Job, Store, StoreError, StoreKind, StoreResult};
use futures::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Pool, Postgres};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::time::{Duration, Instant};

pub struct PgStore {
    pool: Pool<Postgres>,
}

/// How long opening the store waits for PostgreSQL before it says it cannot reach it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `Unreachable`, naming where kopilka tried to connect.
fn unreachable(options: &PgConnectOptions, cause: impl std::fmt::Display) -> StoreError {
    StoreError::Unreachable {
        host: options.get_host().to_string(),
        port: options.get_port(),
        cause: cause.to_string(),
    }
}

impl PgStore {
    /// Opens the database; with `schema`, everything lives in that schema (created if missing),
    /// which is how tests get a fresh store each.
    pub async fn open(url: &str, schema: Option<&str>) -> StoreResult<PgStore> {
        let mut options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
        // One connection first: its error names the cause, where a pool would retry until its
        // timeout and say only that it timed out.
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
            Ok(Err(e)) => return Err(unreachable(&options, e)),
            Err(_) => return Err(unreachable(&options, "no answer within 10 s")),
        }
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::BadUrl("schema must be [A-Za-z0-9_]".into()));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let max = std::env::var("KOPILKA_PG_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24);
        // No ping before each use (a round trip per transaction): a connection that broke
        // fails its job, which the client repeats under its idempotency key.
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // A search_path naming no existing schema leaves nowhere to create the tables in.
        if sqlx::query_scalar::<_, Option<String>>("SELECT current_schema()")
            .fetch_one(&pool)
            .await?
            .is_none()
        {
            let search_path = sqlx::query_scalar::<_, String>("SHOW search_path")
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            return Err(StoreError::NoSchema { search_path });
        }
        // Several processes may start together; the advisory lock makes them migrate in turn.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    async fn run_write(&self, job: Job) -> StoreResult<Erased> {
        self.write(job, false).await
    }

    async fn run_bulk_write(&self, job: Job) -> StoreResult<Erased> {
        self.write(job, true).await
    }

    async fn run_read(&self, job: Job) -> StoreResult<Erased> {
        let conn = acquire(&self.pool).await?;
        let mut tx = Tx::new(Conn::Pg(conn));
        job(&mut tx).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A connection from the pool, recording the wait and the pool's size and use.
async fn acquire(pool: &Pool<Postgres>) -> StoreResult<PoolConnection<Postgres>> {
    let started = Instant::now();
    let conn = pool.acquire().await;
    metrics::histogram!("kopilka_store_pool_acquire_seconds")
        .record(started.elapsed().as_secs_f64());
    let (open, idle) = (pool.size() as f64, pool.num_idle() as f64);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "open").set(open);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "in_use").set(open - idle);
    Ok(conn?)
}

impl PgStore {
    /// Runs a write job in a transaction of its own. A bulk job runs without PostgreSQL's
    /// per-row foreign-key triggers where the role may turn them off (a superuser, or one
    /// granted `SET` on `session_replication_role`); elsewhere with them.
    async fn write(&self, job: Job, bulk: bool) -> StoreResult<Erased> {
        // A task of its own, so a caller that goes away (a client hanging up) never leaves a
        // transaction half-run on a pooled connection.
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let conn = acquire(&pool).await?;
            let mut tx = Tx::new(Conn::Pg(conn));
            tx.raw("BEGIN").await?;
            if bulk
                && tx
                    .raw("SAVEPOINT bulk; SET LOCAL session_replication_role = replica; RELEASE SAVEPOINT bulk")
                    .await
                    .is_err()
            {
                tx.raw("ROLLBACK TO SAVEPOINT bulk; RELEASE SAVEPOINT bulk").await?;
            }
            let outcome = match AssertUnwindSafe(job(&mut tx)).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Panicked),
            };
            match outcome {
                Ok(value) => {
                    tx.raw("COMMIT").await?;
                    Ok(value)
                }
                Err(error) => {
                    if tx.raw("ROLLBACK").await.is_err() {
                        if let Conn::Pg(mut conn) = tx.into_conn() {
                            conn.close_on_drop();
                        }
                    }
                    Err(error)
                }
            }
        })
        .await
        .map_err(|_| StoreError::Panicked)?
    }
}
