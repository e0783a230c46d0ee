//! kopilka's persistence. One [`Store`] trait with two implementations: SQLite (embedded, one
//! writer committing queued transactions in batches) and PostgreSQL (row locks, several
//! processes). Both run the same SQL through [`Tx`]; what differs is how a transaction is
//! scheduled and how rows are locked.
//!
//! **Architecture invariant:** a write job runs inside one database transaction and does no
//! network IO; its ledger rows, idempotency record and outbox messages commit together.

pub mod analytics;
pub mod backup;
pub mod cabinet;
pub mod code_quota;
pub mod customers;
pub mod dashboard;
pub mod ecommpay;
pub mod entities;
pub mod exports;
pub mod incust;
pub mod job_lease;
pub mod kupikupi;
pub mod ledger;
pub mod loymax;
pub mod loymax_app;
pub mod loymax_batch;
pub mod loymax_purchase;
pub mod migration;
pub mod model;
pub mod offers;
pub mod operators;
pub mod outbox;
mod postgres;
mod row;
mod sealed;
pub mod social;
mod sqlite;
pub mod throttle;
mod tx;

use futures::future::BoxFuture;
use kopilka_domain::DomainError;
use std::any::Any;
use std::sync::Arc;
use thiserror::Error;

pub use postgres::PgStore;
pub use sealed::{SealedColumn, SEALED_COLUMNS};
pub use sqlite::SqliteStore;
pub use tx::Tx;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A business refusal; the job's writes are rolled back.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A unique key was taken by a concurrent transaction (an idempotency race on PostgreSQL).
    #[error("duplicate key: {0}")]
    Duplicate(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("a store job panicked")]
    Panicked,
    /// A job's [`JobError::Refused`] on its way through the [`Store`], which rolls the job
    /// back; `write_refusing` hands it back typed.
    #[error("the job refused")]
    Refused(Box<dyn Any + Send + Sync>),
    /// A job's input stopped before its end (a request body cut short or malformed); nothing
    /// was written.
    #[error("the job's input ended early")]
    Abandoned,
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    /// No server the URL names could be used at start; `servers` lists them as `host:port`.
    #[error("cannot connect to PostgreSQL at {servers}: {cause}")]
    Unreachable { servers: String, cause: String },
    /// The database went away under a job (a lost connection, a server shutting down or taking
    /// no writes: a restart or a failover), or no connection came free in time. The job's
    /// transaction did not commit, or its answer was lost with the connection; the same
    /// request, repeated under its idempotency key, either applies it once or replays it.
    #[error("the database is unavailable, retry: {0}")]
    Unavailable(sqlx::Error),
    #[error(
        "the schema the database URL names (search_path {search_path}) does not exist in the \
         database: create it first (CREATE SCHEMA name; as a role that may, owned by kopilka's \
         role) or fix the URL"
    )]
    NoSchema { search_path: String },
    #[error(
        "the SQLite database's directory {} does not exist: create it (mkdir -p) or fix the path",
        .0.display()
    )]
    NoDirectory(std::path::PathBuf),
    #[error("no SQLite database at {}", .0.display())]
    NoDatabase(std::path::PathBuf),
    /// `kopilka backup` refused or failed; the message says why and what to do.
    #[error("{0}")]
    Backup(String),
    #[error("cannot start the SQLite writer: {0}")]
    Writer(#[from] std::io::Error),
}

impl StoreError {
    /// Text with the NUL character: the client's input, refused like any invalid field, on
    /// either store (the transaction rolls back whole).
    pub(crate) fn nul_in_text() -> StoreError {
        StoreError::Domain(DomainError::Invalid {
            field: "text",
            reason: "the NUL character (U+0000) is not accepted".into(),
        })
    }
}

/// Whether `error` says the server is gone or takes no writes, so the request may succeed
/// again on another connection or server: a broken connection, no connection in time,
/// SQLSTATE class 08 (connection exception), 25006 (read-only transaction: a standby),
/// 57P01–57P03 (shutting down, crashed, starting).
fn server_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "25006" | "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if server_unavailable(&error) {
            return StoreError::Unavailable(error);
        }
        if let sqlx::Error::Database(db) = &error {
            if db.is_unique_violation() {
                return StoreError::Duplicate(db.message().to_string());
            }
            // Text with the NUL character, which PostgreSQL's text cannot hold.
            if db.code().as_deref() == Some("22021") {
                return StoreError::nul_in_text();
            }
        }
        StoreError::Database(error)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            if matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) {
                return StoreError::Duplicate(message.clone().unwrap_or_default());
            }
        }
        StoreError::Sqlite(error)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

type Erased = Box<dyn Any + Send>;

/// A unit of work: runs against a [`Tx`] and returns a value.
pub type Job = Box<dyn for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<Erased>> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// A place the ledger lives.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    /// Runs `job` in a write transaction: committed if it returns `Ok`, rolled back otherwise.
    /// The result is returned only once the commit is durable.
    async fn run_write(&self, job: Job) -> StoreResult<Erased>;
    /// Runs `job` like [`Store::run_write`], for a job that writes many rows and has resolved
    /// every reference it writes itself (ids it has just read or inserted): SQLite runs it
    /// alone, in a transaction of its own, without checking foreign keys row by row.
    async fn run_bulk_write(&self, job: Job) -> StoreResult<Erased> {
        self.run_write(job).await
    }
    /// Runs `job` on a read connection; it sees committed data only.
    async fn run_read(&self, job: Job) -> StoreResult<Erased>;
    /// Finishes queued writes and closes connections.
    async fn close(&self);
}

pub type SharedStore = Arc<dyn Store>;

fn erase<T, F>(f: F) -> Job
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
{
    Box::new(move |tx| Box::pin(async move { f(tx).await.map(|v| Box::new(v) as Erased) }))
}

fn unerase<T: 'static>(value: Erased) -> StoreResult<T> {
    value
        .downcast::<T>()
        .map(|b| *b)
        .map_err(|_| StoreError::Corrupt("job returned an unexpected type".into()))
}

/// How a job that may refuse ends without its value. A job that refuses after writing says
/// whether its writes stay: they roll back unless the refusal itself is a fact to keep (a wrong
/// code's attempt counted, a quota spent).
#[derive(Debug)]
pub enum JobError<R> {
    /// Refused: everything the job wrote rolls back; the caller answers `R`.
    Refused(R),
    /// Refused after recording what must stay: the job's writes commit; the caller answers `R`.
    RefusedKeeping(R),
    Store(StoreError),
}

impl<R> JobError<R> {
    /// The same refusal, keeping what the job wrote.
    pub fn keeping_writes(self) -> Self {
        match self {
            JobError::Refused(r) => JobError::RefusedKeeping(r),
            other => other,
        }
    }

    /// The refusal, whichever way the job's writes went, or the store's failure.
    pub fn refusal(self) -> Result<R, StoreError> {
        match self {
            JobError::Refused(r) | JobError::RefusedKeeping(r) => Ok(r),
            JobError::Store(e) => Err(e),
        }
    }
}

impl<R> From<StoreError> for JobError<R> {
    fn from(error: StoreError) -> Self {
        JobError::Store(error)
    }
}

impl<R> From<DomainError> for JobError<R> {
    fn from(error: DomainError) -> Self {
        JobError::Store(error.into())
    }
}

/// A refusing job as a plain one: a kept refusal is a value the transaction commits, a
/// rolled-back one an error carrying it.
fn plain<T, R, F>(
    f: F,
) -> impl for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<Result<T, R>>>
where
    T: Send + 'static,
    R: Send + Sync + 'static,
    F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T, JobError<R>>> + Send + 'static,
{
    move |tx| {
        Box::pin(async move {
            match f(tx).await {
                Ok(value) => Ok(Ok(value)),
                Err(JobError::RefusedKeeping(r)) => Ok(Err(r)),
                Err(JobError::Refused(r)) => Err(StoreError::Refused(Box::new(r))),
                Err(JobError::Store(e)) => Err(e),
            }
        })
    }
}

/// What [`plain`]'s job ended with, typed again.
fn typed<T, R: 'static>(ended: StoreResult<Result<T, R>>) -> Result<T, JobError<R>> {
    match ended {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(r)) => Err(JobError::RefusedKeeping(r)),
        Err(StoreError::Refused(r)) => match r.downcast::<R>() {
            Ok(r) => Err(JobError::Refused(*r)),
            Err(_) => Err(JobError::Store(StoreError::Corrupt(
                "job refused with an unexpected type".into(),
            ))),
        },
        Err(e) => Err(JobError::Store(e)),
    }
}

/// Runs `run`, and again (three times at most) while it fails as `duplicate` says.
async fn retrying<T, E, Fut>(
    mut run: impl FnMut() -> Fut,
    duplicate: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempts = 0;
    loop {
        match run().await {
            Err(e) if attempts < 3 && duplicate(&e) => attempts += 1,
            other => return other,
        }
    }
}

impl dyn Store {
    /// Runs `f` in one write transaction.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        unerase(self.run_write(erase(f)).await?)
    }

    /// Runs `f`, a job that may refuse, in one write transaction: committed when it returns
    /// its value or [`JobError::RefusedKeeping`], rolled back otherwise.
    pub async fn write_refusing<T, R, F>(&self, f: F) -> Result<T, JobError<R>>
    where
        T: Send + 'static,
        R: Send + Sync + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T, JobError<R>>> + Send + 'static,
    {
        typed(self.write(plain(f)).await)
    }

    /// Runs `f` in one write transaction, as [`Store::run_bulk_write`] does.
    pub async fn write_bulk<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        unerase(self.run_bulk_write(erase(f)).await?)
    }

    /// `write_refusing` as [`Store::run_bulk_write`] runs a job.
    pub async fn write_bulk_refusing<T, R, F>(&self, f: F) -> Result<T, JobError<R>>
    where
        T: Send + 'static,
        R: Send + Sync + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T, JobError<R>>> + Send + 'static,
    {
        typed(self.write_bulk(plain(f)).await)
    }

    /// Runs the job `make` builds in a write transaction, building and running it again when
    /// a concurrent transaction took a unique key first (two processes racing on one
    /// idempotency key): the second run finds the first one's row and replays it.
    pub async fn write_retrying<T, F, M>(&self, make: M) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
        M: Fn() -> F,
    {
        retrying(
            || self.write(make()),
            |e| matches!(e, StoreError::Duplicate(_)),
        )
        .await
    }

    /// `write_retrying` for a job that may refuse, as `write_refusing`
    /// runs one.
    pub async fn write_retrying_refusing<T, R, F, M>(&self, make: M) -> Result<T, JobError<R>>
    where
        T: Send + 'static,
        R: Send + Sync + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T, JobError<R>>> + Send + 'static,
        M: Fn() -> F,
    {
        retrying(
            || self.write_refusing(make()),
            |e| matches!(e, JobError::Store(StoreError::Duplicate(_))),
        )
        .await
    }

    /// Runs `f` on a read connection.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        unerase(self.run_read(erase(f)).await?)
    }

    /// Runs `f`, a read job that may refuse, on a read connection.
    pub async fn read_refusing<T, R, F>(&self, f: F) -> Result<T, JobError<R>>
    where
        T: Send + 'static,
        R: Send + Sync + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T, JobError<R>>> + Send + 'static,
    {
        typed(self.read(plain(f)).await)
    }
}

/// Opens the store a URL names (`sqlite://PATH`, `sqlite::memory:` is refused, `postgres://…`)
/// and applies its migrations.
pub async fn open(url: &str) -> StoreResult<SharedStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, None).await?))
    } else {
        Err(StoreError::BadUrl(
            "expected sqlite://PATH or postgres://…".into(),
        ))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
