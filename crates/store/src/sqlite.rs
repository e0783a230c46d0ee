//! SQLite: WAL, one writer connection that commits queued jobs in batches (group commit, one
//! fsync per batch, each job in its own savepoint), and a pool of readers that never wait for it.
//!
//! The writer is the one serial part of the system, so it runs on a thread of its own with a
//! single-task runtime: each statement's answer from SQLite's worker thread wakes it at once
//! instead of queueing it behind the HTTP tasks on the shared runtime.

use crate::tx::{Conn, Tx};
use crate::{Erased, Job, Store, StoreError, StoreKind, StoreResult};
use futures::FutureExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most jobs one commit carries.
const MAX_BATCH: usize = 256;

struct WriteRequest {
    job: Job,
    reply: oneshot::Sender<StoreResult<Erased>>,
}

pub struct SqliteStore {
    sender: std::sync::Mutex<Option<mpsc::Sender<WriteRequest>>>,
    /// Closed (its sender dropped) when the writer thread has drained the queue and stopped.
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
    readers: Pool<Sqlite>,
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000");
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer_pool)
            .await?;
        // A file connection cannot go stale, so a reader is not pinged before each use.
        let readers = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        let conn = writer_pool.acquire().await?;
        let (sender, receiver) = mpsc::channel(4096);
        let (stopped, writer_done) = oneshot::channel::<()>();
        // Jobs do no network IO (the store's invariant), so the writer's runtime has timers only.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("kopilka-sqlite-writer".into())
            .spawn(move || {
                runtime.block_on(write_loop(conn, receiver));
                drop(stopped);
            })?;
        Ok(SqliteStore {
            sender: std::sync::Mutex::new(Some(sender)),
            writer_done: Mutex::new(Some(writer_done)),
            readers,
        })
    }
}

async fn write_loop(
    conn: sqlx::pool::PoolConnection<Sqlite>,
    mut receiver: mpsc::Receiver<WriteRequest>,
) {
    let mut conn = Some(Conn::Sqlite(conn));
    let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut tx = Tx::new(conn.take().expect("writer connection"));
        metrics::histogram!("kopilka_store_batch_size", "store" => "sqlite")
            .record(batch.len() as f64);
        let results = run_batch(&mut tx, &mut batch).await;
        conn = Some(tx.into_conn());
        for (reply, result) in results {
            let _ = reply.send(result);
        }
    }
}

/// Runs a batch in one transaction, each job in a savepoint (a failed job is rolled back alone),
/// and commits once. The statements between jobs go to SQLite in one call each: what bounds the
/// writer is the number of round trips to SQLite's worker thread. If the transaction itself
/// fails, every job of the batch gets the error and nothing of it is kept.
async fn run_batch(
    tx: &mut Tx,
    batch: &mut Vec<WriteRequest>,
) -> Vec<(oneshot::Sender<StoreResult<Erased>>, StoreResult<Erased>)> {
    let mut results = Vec::with_capacity(batch.len());
    let mut failure: Option<String> = None;
    let mut opening = "BEGIN IMMEDIATE; SAVEPOINT job";
    for request in batch.drain(..) {
        if failure.is_none() {
            if let Err(e) = tx.raw(opening).await {
                failure = Some(e.to_string());
            }
        }
        if failure.is_some() {
            results.push((request.reply, Err(StoreError::Closed)));
            continue;
        }
        opening = "RELEASE job; SAVEPOINT job";
        tx.restart_clock();
        let outcome = match AssertUnwindSafe((request.job)(tx)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Panicked),
        };
        if outcome.is_err() {
            if let Err(e) = tx.raw("ROLLBACK TO job").await {
                failure = Some(e.to_string());
            }
        }
        results.push((request.reply, outcome));
    }
    if failure.is_none() {
        if let Err(e) = tx.raw("RELEASE job; COMMIT").await {
            failure = Some(format!("commit failed: {e}"));
        }
    }
    if let Some(message) = failure {
        let _ = tx.raw("ROLLBACK").await;
        for (_, result) in results.iter_mut() {
            *result = Err(StoreError::Corrupt(message.clone()));
        }
    }
    results
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn run_write(&self, job: Job) -> StoreResult<Erased> {
        let (reply, answer) = oneshot::channel();
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::Closed)?
            .clone()
            .ok_or(StoreError::Closed)?;
        sender
            .send(WriteRequest { job, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn run_read(&self, job: Job) -> StoreResult<Erased> {
        let conn = self.readers.acquire().await?;
        let mut tx = Tx::new(Conn::Sqlite(conn));
        job(&mut tx).await
    }

    async fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        // The writer drains what is queued and stops once the last sender is gone.
        if let Some(done) = self.writer_done.lock().await.take() {
            let _ = done.await;
        }
        self.readers.close().await;
    }
}
