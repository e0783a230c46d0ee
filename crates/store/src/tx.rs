//! One transaction (or read session) on either database, running the same SQL.

use crate::{StoreKind, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::Postgres;

/// SQLite statements run on the calling thread through rusqlite (the writer's own thread, or
/// the reading task); PostgreSQL ones through sqlx.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(PoolConnection<Postgres>),
}

/// A transaction handed to a job. The SQL kopilka runs is in its methods, which each store
/// module adds in an `impl Tx` of its own (`entities`, `outbox`, `incust`, `loymax_batch`, …),
/// and in `ledger`'s functions, which take one.
pub struct Tx {
    pub(crate) conn: Conn,
    now: i64,
}

impl Tx {
    pub(crate) fn new(conn: Conn) -> Tx {
        Tx {
            conn,
            now: crate::now_ms(),
        }
    }

    pub(crate) fn into_conn(self) -> Conn {
        self.conn
    }

    /// The transaction's clock: one instant for every row it writes.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Restarts the clock for the next job that shares this connection (SQLite's batches), so
    /// no job sees the time an earlier one set.
    pub(crate) fn restart_clock(&mut self) {
        self.now = crate::now_ms();
    }

    /// Overrides the clock (expiry jobs and tests that move time).
    pub fn set_now(&mut self, now: i64) {
        self.now = now;
    }

    pub fn kind(&self) -> StoreKind {
        match self.conn {
            Conn::Sqlite(_) => StoreKind::Sqlite,
            Conn::Pg(_) => StoreKind::Postgres,
        }
    }

    /// `FOR UPDATE` on PostgreSQL; SQLite's single writer already serializes.
    pub(crate) fn lock_suffix(&self) -> &'static str {
        match self.conn {
            Conn::Sqlite(_) => "",
            Conn::Pg(_) => " FOR UPDATE",
        }
    }

    /// `select` of a row, locked on PostgreSQL.
    pub(crate) fn select_locked<R: crate::row::Row>(&self, from: &str) -> String {
        format!("{}{}", crate::row::select::<R>(from), self.lock_suffix())
    }

    /// A read of one table: whether the database answers (the readiness check).
    pub async fn ping(&mut self) -> StoreResult<()> {
        self.raw("SELECT 1 FROM programs LIMIT 1").await
    }

    pub(crate) async fn raw(&mut self, sql: &str) -> StoreResult<()> {
        use sqlx::Executor;
        match &mut self.conn {
            // Cached one by one: the writer runs these between every two jobs.
            Conn::Sqlite(c) => {
                for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    crate::sqlite::statement::execute(c, statement, &[])?;
                }
            }
            Conn::Pg(c) => {
                c.execute(sql).await?;
            }
        }
        Ok(())
    }
}

/// Runs a statement; evaluates to the number of rows affected.
macro_rules! execute {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(c) => $crate::sqlite::statement::execute(c, sql, &[$(&$arg as &dyn rusqlite::ToSql),*]),
            $crate::tx::Conn::Pg(c) => sqlx::query(sql)$(.bind($arg))*.execute(&mut **c).await.map(|r| r.rows_affected()).map_err($crate::StoreError::from),
        }
    }};
}

/// Fetches rows as `$ty` (a [`Row`](crate::row::Row) or a tuple) with `$method` (`fetch_one`,
/// `fetch_optional`, `fetch_all`).
///
/// `unprepared;` first: on PostgreSQL, planned for its parameters every time instead of a
/// cached statement, whose generic plan (after five runs) cannot see how small a range is.
macro_rules! fetch {
    (unprepared; $tx:expr, $method:ident, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(c) => $crate::sqlite::statement::$method::<$ty>(c, sql, &[$(&$arg as &dyn rusqlite::ToSql),*]),
            $crate::tx::Conn::Pg(c) => sqlx::query(sql)$(.bind($arg))*.persistent(false).$method(&mut **c).await.map_err($crate::StoreError::from).and_then(|rows| $crate::row::PgFetched::decode::<$ty>(rows)),
        }
    }};
    ($tx:expr, $method:ident, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(c) => $crate::sqlite::statement::$method::<$ty>(c, sql, &[$(&$arg as &dyn rusqlite::ToSql),*]),
            $crate::tx::Conn::Pg(c) => sqlx::query(sql)$(.bind($arg))*.$method(&mut **c).await.map_err($crate::StoreError::from).and_then(|rows| $crate::row::PgFetched::decode::<$ty>(rows)),
        }
    }};
}

/// Fetches one scalar column with `$method`.
macro_rules! scalar {
    (unprepared; $tx:expr, $method:ident, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(c) => $crate::sqlite::statement::scalar::$method::<$ty>(c, sql, &[$(&$arg as &dyn rusqlite::ToSql),*]),
            $crate::tx::Conn::Pg(c) => sqlx::query_scalar::<_, $ty>(sql)$(.bind($arg))*.persistent(false).$method(&mut **c).await.map_err($crate::StoreError::from),
        }
    }};
    ($tx:expr, $method:ident, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(c) => $crate::sqlite::statement::scalar::$method::<$ty>(c, sql, &[$(&$arg as &dyn rusqlite::ToSql),*]),
            $crate::tx::Conn::Pg(c) => sqlx::query_scalar::<_, $ty>(sql)$(.bind($arg))*.$method(&mut **c).await.map_err($crate::StoreError::from),
        }
    }};
}

/// Fetches one `i64`: a count, or the id of an `INSERT … RETURNING id`.
macro_rules! int {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::tx::scalar!($tx, fetch_one, i64, $sql $(, $arg)*)
    };
}

pub(crate) use {execute, fetch, int, scalar};
