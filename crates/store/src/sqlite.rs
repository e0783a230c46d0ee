//! SQLite: WAL, one writer connection that commits queued jobs in batches (group commit, one
//! fsync per batch, each job in its own savepoint), and a pool of readers that never wait for it.
//!
//! Statements run through rusqlite as cached prepared statements on the thread that asks for
//! them: the writer is the one serial part of the system, so it has a thread of its own and
//! pays no hand-off per statement; a read runs on the task that reads (an indexed read costs
//! microseconds, less than waking another thread would).
//!
//! Durability is group commit with the fsync off the writer's path: the writer commits with
//! `synchronous = NORMAL` (SQLite writes the WAL but does not sync it) and hands the batch's
//! answers to a syncer thread, which fsyncs the WAL file once for every batch committed since
//! its last fsync and only then answers them. So the writer runs the next batch while the disk
//! syncs the last, and no job is answered before its commit is on disk. (A reader may see a
//! committed batch during those few milliseconds; a write that depends on it, such as a replay
//! of the same idempotency key, is answered only after a later fsync.)
//!
//! Checkpoints stay SQLite's own (after a commit that leaves 1000 pages in the WAL, in the
//! writer): run from another thread they never catch up with a writer that always has a
//! transaction open, and the WAL grows without end. A larger interval (4000 pages) gave the
//! purchase cycle about 10 % more throughput but put earn's p99 above 25 ms.
//!
//! A bulk job (the Loymax batch) is the exception to group commit: whatever is open commits
//! first, then the job runs alone, in a transaction of its own begun with foreign keys off and a
//! larger page cache, and its commit skips the checkpoint, which the writer runs once the answer
//! is with the syncer.

pub(crate) mod statement;

use crate::tx::{Conn, Tx};
use crate::{Erased, Job, Store, StoreError, StoreKind, StoreResult};
use futures::FutureExt;
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};

/// How a bulk job's transaction starts: no foreign-key lookups, and twice the page cache, so
/// the pages its rows hit at random (a customer's place in the history index) stay in memory
/// instead of going to the WAL and back (1,000,000 batch rows: 129k rows/s with 32 MB,
/// 155k with 64 MB; peak memory 67 → 99 MB).
const BEGIN_BULK: &str = "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -64000; BEGIN IMMEDIATE";
/// Every connection's page cache, in KiB.
const PAGE_CACHE_KIB: u32 = 32_000;
/// The most jobs one commit carries.
const MAX_BATCH: usize = 256;
/// Read connections open at once.
const READERS: usize = 8;
/// Prepared statements kept per connection: every statement kopilka runs, with room to spare.
const STATEMENT_CACHE: usize = 512;

/// A job's answer, sent once its batch is durable.
type Answer = (oneshot::Sender<StoreResult<Erased>>, StoreResult<Erased>);

struct WriteRequest {
    job: Job,
    reply: oneshot::Sender<StoreResult<Erased>>,
    /// Run alone and without foreign-key checks ([`Store::run_bulk_write`]).
    bulk: bool,
    /// When the job was queued, for `kopilka_store_writer_wait_seconds`.
    queued: Instant,
}

pub struct SqliteStore {
    sender: std::sync::Mutex<Option<mpsc::Sender<WriteRequest>>>,
    /// Closed (its sender dropped) when the writer thread has drained the queue and stopped.
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
    readers: Readers,
}

/// Idle read-only connections; a reader whose job panicked is dropped and a new one opened.
struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    fn take(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().map_err(|_| StoreError::Closed)?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

fn open_connection(path: &Path, access: OpenFlags) -> StoreResult<Connection> {
    let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{PAGE_CACHE_KIB};"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // Rebuilding a table, SQLite's way to change a constraint, needs foreign keys off;
            // whether a migration left a reference dangling is checked once it has run.
            .foreign_keys(false)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::NoDirectory(dir.to_path_buf()));
            }
        }
        // sqlx creates the file, switches it to WAL (a property of the file) and migrates it.
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        crate::migration::SQLITE.run(&migrator).await?;
        migrator.close().await;
        let conn = open_connection(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (sender, receiver) = mpsc::channel(4096);
        let (stopped, writer_done) = oneshot::channel::<()>();
        // Jobs do no network IO (the store's invariant), so the writer's runtime has timers only.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("kopilka-sqlite-writer".into())
            .spawn(move || {
                let (durable, committed) = std::sync::mpsc::channel();
                let syncing = Arc::new(Syncing::default());
                let syncer = {
                    let syncing = syncing.clone();
                    std::thread::Builder::new()
                        .name("kopilka-sqlite-sync".into())
                        .spawn(move || sync_loop(&wal, committed, &syncing))
                };
                match syncer {
                    Ok(syncer) => {
                        runtime.block_on(write_loop(conn, receiver, durable, &syncing));
                        let _ = syncer.join();
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the SQLite syncer"),
                }
                drop(stopped);
            })?;
        Ok(SqliteStore {
            sender: std::sync::Mutex::new(Some(sender)),
            writer_done: Mutex::new(Some(writer_done)),
            readers: Readers {
                path,
                idle: std::sync::Mutex::new(Vec::with_capacity(READERS)),
                permits: Semaphore::new(READERS),
            },
        })
    }
}

/// Whether the syncer has committed batches it has not answered yet, and a wake-up for the
/// writer when it has none.
#[derive(Default)]
struct Syncing {
    busy: AtomicBool,
    idle: Notify,
}

/// Runs jobs as they come, in one open transaction, and commits it when the syncer is idle (or
/// the transaction is full): one commit per fsync, so batches grow with the disk's latency and
/// the pages a batch rewrites are written once for all its jobs.
async fn write_loop(
    conn: Connection,
    mut receiver: mpsc::Receiver<WriteRequest>,
    durable: std::sync::mpsc::Sender<Vec<Answer>>,
    syncing: &Syncing,
) {
    let mut tx = Tx::new(Conn::Sqlite(conn));
    let mut open = OpenBatch::default();
    let mut jobs: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
    let mut closed = false;
    while !closed {
        let room = MAX_BATCH - open.answers.len();
        if open.answers.is_empty() {
            closed = receiver.recv_many(&mut jobs, room).await == 0;
        } else {
            tokio::select! {
                received = receiver.recv_many(&mut jobs, room) => closed = received == 0,
                _ = syncing.idle.notified() => {}
            }
        }
        metrics::gauge!("kopilka_store_writer_queue_depth").set(receiver.len() as f64);
        for request in jobs.drain(..) {
            metrics::histogram!("kopilka_store_writer_wait_seconds")
                .record(request.queued.elapsed().as_secs_f64());
            if !request.bulk {
                run_job(&mut tx, &mut open, request).await;
                continue;
            }
            // Whatever is open commits first: the bulk job's transaction is its own.
            if !open.answers.is_empty()
                && send_commit(&mut tx, std::mem::take(&mut open), &durable, syncing)
                    .await
                    .is_err()
            {
                return;
            }
            let answers = run_bulk_job(&mut tx, request).await;
            syncing.busy.store(true, Ordering::Release);
            if durable.send(answers).is_err() {
                return;
            }
            // The bulk job's pages go into the database while the syncer makes its WAL
            // durable: its answer waits for the fsync only.
            if let Err(e) = tx.raw("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "checkpoint after a bulk job failed");
            }
        }
        let full = open.answers.len() >= MAX_BATCH;
        if !open.answers.is_empty()
            && (closed || full || !syncing.busy.load(Ordering::Acquire))
            && send_commit(&mut tx, std::mem::take(&mut open), &durable, syncing)
                .await
                .is_err()
        {
            return;
        }
    }
}

/// Commits the open transaction and hands its answers to the syncer; `Err` when the syncer
/// is gone.
async fn send_commit(
    tx: &mut Tx,
    open: OpenBatch,
    durable: &std::sync::mpsc::Sender<Vec<Answer>>,
    syncing: &Syncing,
) -> Result<(), ()> {
    metrics::histogram!("kopilka_store_batch_size", "store" => "sqlite")
        .record(open.answers.len() as f64);
    let answers = commit(tx, open).await;
    syncing.busy.store(true, Ordering::Release);
    durable.send(answers).map_err(|_| ())
}

/// Runs a bulk job in a transaction of its own with foreign keys off (the pragma is a no-op
/// inside a transaction, so it is set between transactions).
async fn run_bulk_job(tx: &mut Tx, request: WriteRequest) -> Vec<Answer> {
    let outcome = match tx.raw(BEGIN_BULK).await {
        Ok(()) => {
            tx.restart_clock();
            let outcome = match AssertUnwindSafe((request.job)(tx)).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Panicked),
            };
            // No checkpoint in the commit: the writer runs it once the answer is on its way.
            let end = if outcome.is_ok() {
                "PRAGMA wal_autocheckpoint = 0; COMMIT"
            } else {
                "ROLLBACK"
            };
            match (tx.raw(end).await, outcome) {
                (Err(e), Ok(_)) => {
                    let _ = tx.raw("ROLLBACK").await;
                    Err(StoreError::Corrupt(format!("commit failed: {e}")))
                }
                (_, outcome) => outcome,
            }
        }
        Err(e) => Err(StoreError::Corrupt(e.to_string())),
    };
    // Back to the writer's settings: SQLite's default checkpoint interval (see the module's
    // notes), foreign keys, and the page cache every connection has.
    let restore = format!(
        "PRAGMA wal_autocheckpoint = 1000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{PAGE_CACHE_KIB}"
    );
    if let Err(e) = tx.raw(&restore).await {
        tracing::error!(error = %e, "cannot restore the writer's settings after a bulk job");
    }
    vec![(request.reply, outcome)]
}

/// Fsyncs the WAL for every batch committed since the last fsync, then answers their jobs. A
/// failed fsync leaves the batches' fate unknown, so their jobs get an error (a retry with the
/// same idempotency key finds out what happened).
fn sync_loop(wal: &Path, committed: std::sync::mpsc::Receiver<Vec<Answer>>, syncing: &Syncing) {
    use std::sync::mpsc::TryRecvError;
    let mut file: Option<std::fs::File> = None;
    let mut next = committed.recv().ok();
    while let Some(mut answers) = next.take() {
        while let Ok(more) = committed.try_recv() {
            answers.extend(more);
        }
        let started = std::time::Instant::now();
        let synced = match &file {
            Some(file) => file.sync_data(),
            None => std::fs::File::open(wal).and_then(|opened| {
                let synced = opened.sync_data();
                file = Some(opened);
                synced
            }),
        };
        metrics::histogram!("kopilka_store_fsync_seconds", "store" => "sqlite")
            .record(started.elapsed().as_secs_f64());
        for (reply, result) in answers {
            let result = match (&synced, result) {
                (Err(e), Ok(_)) => Err(StoreError::Corrupt(format!("WAL fsync failed: {e}"))),
                (_, result) => result,
            };
            let _ = reply.send(result);
        }
        next = match committed.try_recv() {
            Ok(more) => Some(more),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                // The writer may commit now; it waits for this while it has jobs run but
                // not committed.
                syncing.busy.store(false, Ordering::Release);
                syncing.idle.notify_one();
                committed.recv().ok()
            }
        };
    }
}

/// The writer's open transaction: the answers of the jobs run in it so far, and whether it has
/// failed as a whole (then none of it is kept and every job gets the error).
#[derive(Default)]
struct OpenBatch {
    answers: Vec<Answer>,
    begun: bool,
    failure: Option<String>,
}

/// Runs a job in a savepoint of the open transaction (begun if needed); a failed job is
/// rolled back alone.
async fn run_job(tx: &mut Tx, open: &mut OpenBatch, request: WriteRequest) {
    if open.failure.is_none() {
        let opening = if open.begun {
            "RELEASE job; SAVEPOINT job"
        } else {
            "BEGIN IMMEDIATE; SAVEPOINT job"
        };
        match tx.raw(opening).await {
            Ok(()) => open.begun = true,
            Err(e) => open.failure = Some(e.to_string()),
        }
    }
    if open.failure.is_some() {
        open.answers.push((request.reply, Err(StoreError::Closed)));
        return;
    }
    tx.restart_clock();
    let outcome = match AssertUnwindSafe((request.job)(tx)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Panicked),
    };
    if outcome.is_err() {
        if let Err(e) = tx.raw("ROLLBACK TO job").await {
            open.failure = Some(e.to_string());
        }
    }
    open.answers.push((request.reply, outcome));
}

/// Commits the open transaction (without syncing it); if it failed as a whole, rolls it back
/// and every job of it gets the error.
async fn commit(tx: &mut Tx, mut open: OpenBatch) -> Vec<Answer> {
    if open.begun && open.failure.is_none() {
        if let Err(e) = tx.raw("RELEASE job; COMMIT").await {
            open.failure = Some(format!("commit failed: {e}"));
        }
    }
    if let Some(message) = open.failure {
        if open.begun {
            let _ = tx.raw("ROLLBACK").await;
        }
        for (_, result) in open.answers.iter_mut() {
            *result = Err(StoreError::Corrupt(message.clone()));
        }
    }
    open.answers
}

impl SqliteStore {
    /// Queues a write job for the writer thread and waits for its durable answer.
    async fn send_write(&self, job: Job, bulk: bool) -> StoreResult<Erased> {
        let (reply, answer) = oneshot::channel();
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::Closed)?
            .clone()
            .ok_or(StoreError::Closed)?;
        let queued = Instant::now();
        sender
            .send(WriteRequest {
                job,
                reply,
                bulk,
                queued,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        let depth = sender.max_capacity() - sender.capacity();
        metrics::gauge!("kopilka_store_writer_queue_depth").set(depth as f64);
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn run_write(&self, job: Job) -> StoreResult<Erased> {
        self.send_write(job, false).await
    }

    async fn run_bulk_write(&self, job: Job) -> StoreResult<Erased> {
        self.send_write(job, true).await
    }

    async fn run_read(&self, job: Job) -> StoreResult<Erased> {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        // One read transaction: every statement of the job sees the same snapshot, and the
        // shared lock is taken once instead of once per statement.
        let conn = self.readers.take()?;
        statement::execute(&conn, "BEGIN", &[])?;
        let mut tx = Tx::new(Conn::Sqlite(conn));
        let result = job(&mut tx).await;
        if let Conn::Sqlite(conn) = tx.into_conn() {
            if statement::execute(&conn, "COMMIT", &[]).is_ok() {
                self.readers.give_back(conn);
            }
        }
        result
    }

    async fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        // The writer drains what is queued and stops once the last sender is gone.
        if let Some(done) = self.writer_done.lock().await.take() {
            let _ = done.await;
        }
        self.readers.permits.close();
        if let Ok(mut idle) = self.readers.idle.lock() {
            idle.clear();
        }
    }
}
