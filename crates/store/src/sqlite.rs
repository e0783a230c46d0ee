//! SQLite: WAL, one writer connection that commits queued jobs in batches (group commit, one
//! fsync per batch, each job in its own savepoint), and a pool of readers that never wait for it.

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
    writer_done: Mutex<Option<tokio::task::JoinHandle<()>>>,
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
        let readers = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let conn = writer_pool.acquire().await?;
        let (sender, receiver) = mpsc::channel(4096);
        let handle = tokio::spawn(write_loop(conn, receiver));
        Ok(SqliteStore {
            sender: std::sync::Mutex::new(Some(sender)),
            writer_done: Mutex::new(Some(handle)),
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

async fn run_batch(
    tx: &mut Tx,
    batch: &mut Vec<WriteRequest>,
) -> Vec<(oneshot::Sender<StoreResult<Erased>>, StoreResult<Erased>)> {
    let mut results = Vec::with_capacity(batch.len());
    if let Err(e) = tx.raw("BEGIN IMMEDIATE").await {
        let message = e.to_string();
        return batch
            .drain(..)
            .map(|r| (r.reply, Err(StoreError::Corrupt(message.clone()))))
            .collect();
    }
    for request in batch.drain(..) {
        let outcome = run_job(tx, request.job).await;
        results.push((request.reply, outcome));
    }
    if let Err(e) = tx.raw("COMMIT").await {
        let _ = tx.raw("ROLLBACK").await;
        let message = format!("commit failed: {e}");
        for (_, result) in results.iter_mut() {
            *result = Err(StoreError::Corrupt(message.clone()));
        }
    }
    results
}

async fn run_job(tx: &mut Tx, job: Job) -> StoreResult<Erased> {
    tx.restart_clock();
    tx.raw("SAVEPOINT job").await?;
    let outcome = match AssertUnwindSafe(job(tx)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Panicked),
    };
    match &outcome {
        Ok(_) => tx.raw("RELEASE job").await?,
        Err(_) => {
            tx.raw("ROLLBACK TO job").await?;
            tx.raw("RELEASE job").await?;
        }
    }
    outcome
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
        if let Some(handle) = self.writer_done.lock().await.take() {
            let _ = handle.await;
        }
        self.readers.close().await;
    }
}
