//! PostgreSQL: a pool; each write job is one transaction; balances are guarded by row locks
//! (`SELECT … FOR UPDATE`) so several kopilka processes can share one database. The URL may
//! name several servers (libpq's `postgres://h1:p1,h2:p2/db?target_session_attrs=read-write`):
//! the pool connects to the first that takes writes, and looks for it again when it fails.

use crate::tx::{Conn, Tx};
use crate::{Erased, Job, Store, StoreError, StoreKind, StoreResult};
use futures::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Pool, Postgres};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub struct PgStore {
    pool: Pool<Postgres>,
    servers: Arc<Servers>,
}

/// How long a connection attempt to one server waits, unless the URL's `connect_timeout` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a search for the primary tries the servers again while none takes writes.
const SEARCH_INTERVAL: Duration = Duration::from_millis(500);

/// How long a job waits for a connection before, with several servers, a search for the
/// primary starts alongside (the pool's own connection attempts go to one server only).
const SLOW_ACQUIRE: Duration = Duration::from_secs(1);

/// The servers a database URL names, in the URL's order, and what a server must be to be used.
#[derive(Debug)]
pub(crate) struct Target {
    servers: Vec<PgConnectOptions>,
    /// `target_session_attrs=read-write` (the default with several servers): only a server
    /// whose `transaction_read_only` is off, i.e. the primary.
    read_write: bool,
    connect_timeout: Duration,
}

impl Target {
    /// Parses libpq's URL form: `postgres://[user[:password]@]host[:port][,host[:port]…][/db][?…]`
    /// with `target_session_attrs` (`read-write` or `any`) and `connect_timeout` (seconds);
    /// every other parameter is sqlx's and applies to each server.
    pub(crate) fn parse(url: &str) -> StoreResult<Target> {
        let bad = |message: String| StoreError::BadUrl(message);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected postgres://…".into()))?;
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (user, hosts) = match authority.rsplit_once('@') {
            Some((user, hosts)) => (format!("{user}@"), hosts),
            None => (String::new(), authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut target_session_attrs = None;
        let mut connect_timeout = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("target_session_attrs", value) => target_session_attrs = Some(value),
                ("connect_timeout", value) => connect_timeout = Some(value),
                _ => kept.push(pair),
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        let hosts: Vec<&str> = hosts.split(',').collect();
        if hosts.len() > 1 && hosts.iter().any(|host| host.is_empty()) {
            return Err(bad("an empty host in the URL's list of hosts".into()));
        }
        let servers = hosts
            .iter()
            .map(|host| {
                PgConnectOptions::from_str(&format!("{scheme}://{user}{host}{path}{query}"))
                    .map_err(|e| bad(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let read_write = match target_session_attrs {
            None => servers.len() > 1,
            Some("read-write") => true,
            Some("any") => false,
            Some(other) => {
                return Err(bad(format!(
                    "target_session_attrs={other}: kopilka writes, so read-write or any"
                )))
            }
        };
        let connect_timeout = match connect_timeout {
            None => CONNECT_TIMEOUT,
            Some(seconds) => seconds
                .parse::<u64>()
                .ok()
                .filter(|&seconds| seconds > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    bad(format!(
                        "connect_timeout={seconds}: a whole number of seconds, 1 or more"
                    ))
                })?,
        };
        Ok(Target {
            servers,
            read_write,
            connect_timeout,
        })
    }

    /// The first server, in the URL's order, that answers and is what the URL asks for; else
    /// why each one is not.
    async fn first_usable(&self) -> Result<usize, Vec<String>> {
        let mut causes = Vec::new();
        for (index, options) in self.servers.iter().enumerate() {
            match self.check(options).await {
                Ok(()) => return Ok(index),
                Err(cause) => causes.push(cause),
            }
        }
        Err(causes)
    }

    /// Connects to one server within the connect timeout and checks it takes writes when the
    /// URL asks for that.
    async fn check(&self, options: &PgConnectOptions) -> Result<(), String> {
        let checked = async {
            let mut connection = options.connect().await?;
            let writable = if self.read_write {
                takes_writes(&mut connection).await
            } else {
                Ok(())
            };
            let _ = connection.close().await;
            writable
        };
        match tokio::time::timeout(self.connect_timeout, checked).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} s",
                self.connect_timeout.as_secs()
            )),
        }
    }

    /// The first usable server's options, or `Unreachable` naming every server and why.
    async fn usable(&self) -> StoreResult<(usize, PgConnectOptions)> {
        let index = self
            .first_usable()
            .await
            .map_err(|causes| StoreError::Unreachable {
                servers: self.names(),
                cause: causes.join("; "),
            })?;
        Ok((index, self.servers[index].clone()))
    }

    /// The servers as `host:port`, comma-separated.
    fn names(&self) -> String {
        self.servers
            .iter()
            .map(|options| format!("{}:{}", options.get_host(), options.get_port()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Refuses a connection to a server that takes no writes (a standby, or a primary being
/// demoted).
async fn takes_writes(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(&mut *connection)
        .await?;
    if read_only == "off" {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(
            "the server takes no writes (a standby) and the URL asks for read-write".into(),
        ))
    }
}

/// Which of the URL's servers the pool connects to, and when that was last found again.
struct Servers {
    target: Target,
    current: AtomicUsize,
    /// Connections opened before this instant may be to a server that failed; they are closed
    /// instead of used.
    found_at: Mutex<Instant>,
    searching: AtomicBool,
    /// Wakes the jobs waiting for a connection when a search has found the server again.
    found: Notify,
}

impl Servers {
    /// Whether a pooled connection `age` old was opened after the server was last found.
    fn is_current(&self, age: Duration) -> bool {
        let found_at = *self.found_at.lock().unwrap_or_else(|e| e.into_inner());
        Instant::now()
            .checked_sub(age)
            .is_none_or(|opened| opened >= found_at)
    }

    /// Looks for the primary in the background unless a search is on: tries the servers in the
    /// URL's order until one is usable, points the pool's new connections at it, and, when it is
    /// another server or `after_failure` (a job lost its server), retires every pooled
    /// connection opened before.
    fn search(self: &Arc<Self>, pool: &Pool<Postgres>, after_failure: bool) {
        if self.searching.swap(true, Ordering::SeqCst) {
            return;
        }
        let servers = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut warned = false;
            while !pool.is_closed() {
                match servers.target.first_usable().await {
                    Ok(found) => {
                        let moved = servers.current.swap(found, Ordering::SeqCst) != found;
                        if moved {
                            let options = servers.target.servers[found].clone();
                            tracing::warn!(
                                host = options.get_host(),
                                port = options.get_port(),
                                searched_ms = started.elapsed().as_millis() as u64,
                                "PostgreSQL: connecting to another server, the primary now"
                            );
                            pool.set_connect_options(options);
                        }
                        if moved || after_failure {
                            *servers.found_at.lock().unwrap_or_else(|e| e.into_inner()) =
                                Instant::now();
                            servers.found.notify_waiters();
                        }
                        break;
                    }
                    Err(causes) => {
                        if !warned {
                            tracing::warn!(
                                ?causes,
                                "PostgreSQL: no usable server; trying again every {} ms",
                                SEARCH_INTERVAL.as_millis()
                            );
                            warned = true;
                        }
                        tokio::time::sleep(SEARCH_INTERVAL).await;
                    }
                }
            }
            servers.searching.store(false, Ordering::SeqCst);
        });
    }
}

/// One connection to the server the URL (one host or libpq's list) names for kopilka: the
/// primary when it asks for read-write.
pub(crate) async fn connect(url: &str) -> StoreResult<PgConnection> {
    let (_, options) = Target::parse(url)?.usable().await?;
    Ok(options.connect().await?)
}

impl PgStore {
    /// Opens the database; with `schema`, everything lives in that schema (created if missing),
    /// which is how tests get a fresh store each.
    pub async fn open(url: &str, schema: Option<&str>) -> StoreResult<PgStore> {
        let mut target = Target::parse(url)?;
        // One connection per server first: its error names the cause, where a pool would retry
        // until its timeout and say only that it timed out.
        let (current, _) = target.usable().await?;
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::BadUrl("schema must be [A-Za-z0-9_]".into()));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(target.servers[current].clone())
                .await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await?;
            admin.close().await;
            for options in &mut target.servers {
                *options = options.clone().options([("search_path", schema)]);
            }
        }
        let max = std::env::var("KOPILKA_PG_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24);
        let options = target.servers[current].clone();
        let read_write = target.read_write;
        let servers = Arc::new(Servers {
            target,
            current: AtomicUsize::new(current),
            found_at: Mutex::new(Instant::now()),
            searching: AtomicBool::new(false),
            found: Notify::new(),
        });
        let pooled = Arc::clone(&servers);
        // No ping before each use (a round trip per transaction): a connection that broke
        // fails its job, which the client repeats under its idempotency key. Connections
        // opened before the server was found again are closed unused.
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .before_acquire(move |_, meta| {
                let current = pooled.is_current(meta.age);
                Box::pin(async move { Ok(current) })
            })
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if read_write {
                        takes_writes(connection).await?;
                    }
                    Ok(())
                })
            })
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
        crate::migration::POSTGRES.run(&pool).await?;
        Ok(PgStore { pool, servers })
    }

    /// A connection from the pool. With several servers, a wait longer than `SLOW_ACQUIRE`
    /// starts a search for the primary: the pool keeps trying the server it knows, which may
    /// be gone. When a search finds the server again the wait starts over, so it connects
    /// there at once instead of after the pool's back-off from the failed server (up to 6 s).
    async fn acquire(
        pool: &Pool<Postgres>,
        servers: &Arc<Servers>,
    ) -> StoreResult<PoolConnection<Postgres>> {
        let mut acquiring = Box::pin(pool.acquire());
        let mut found = Box::pin(servers.found.notified());
        let slow = tokio::time::sleep(SLOW_ACQUIRE);
        tokio::pin!(slow);
        let mut searched = servers.target.servers.len() == 1;
        let started = Instant::now();
        loop {
            tokio::select! {
                acquired = &mut acquiring => {
                    record_pool(pool, started);
                    return Ok(acquired?);
                }
                () = &mut found => {
                    acquiring = Box::pin(pool.acquire());
                    found = Box::pin(servers.found.notified());
                }
                () = &mut slow, if !searched => {
                    searched = true;
                    servers.search(pool, false);
                }
            }
        }
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
        let conn = PgStore::acquire(&self.pool, &self.servers).await?;
        let mut tx = Tx::new(Conn::Pg(conn));
        let outcome = job(&mut tx).await;
        if let Err(StoreError::Unavailable(_)) = outcome {
            self.servers.search(&self.pool, true);
        }
        outcome
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

impl PgStore {
    /// Runs a write job in a transaction of its own. A bulk job runs without PostgreSQL's
    /// per-row foreign-key triggers where the role may turn them off (a superuser, or one
    /// granted `SET` on `session_replication_role`); elsewhere with them.
    async fn write(&self, job: Job, bulk: bool) -> StoreResult<Erased> {
        // A task of its own, so a caller that goes away (a client hanging up) never leaves a
        // transaction half-run on a pooled connection.
        let pool = self.pool.clone();
        let servers = Arc::clone(&self.servers);
        tokio::spawn(async move {
            let conn = PgStore::acquire(&pool, &servers).await?;
            let outcome = PgStore::transaction(conn, job, bulk).await;
            if let Err(StoreError::Unavailable(_)) = outcome {
                servers.search(&pool, true);
            }
            outcome
        })
        .await
        .map_err(|_| StoreError::Panicked)?
    }

    /// Runs `job` in a transaction on `conn`: committed if it returns `Ok`, rolled back
    /// otherwise.
    async fn transaction(
        conn: PoolConnection<Postgres>,
        job: Job,
        bulk: bool,
    ) -> StoreResult<Erased> {
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
    }
}

/// The pool's gauges and how long this acquisition waited.
fn record_pool(pool: &Pool<Postgres>, started: Instant) {
    metrics::histogram!("kopilka_store_pool_acquire_seconds")
        .record(started.elapsed().as_secs_f64());
    let (open, idle) = (pool.size() as f64, pool.num_idle() as f64);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "open").set(open);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("kopilka_store_pool_connections", "state" => "in_use").set(open - idle);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(target: &Target) -> Vec<(String, u16)> {
        target
            .servers
            .iter()
            .map(|s| (s.get_host().to_string(), s.get_port()))
            .collect()
    }

    #[test]
    fn one_host_is_any_server_as_before() {
        let target = Target::parse("postgres://kop:secret@db.example:6432/ledger").unwrap();
        assert_eq!(servers(&target), [("db.example".to_string(), 6432)]);
        assert!(!target.read_write);
        assert_eq!(target.connect_timeout, CONNECT_TIMEOUT);
        let server = &target.servers[0];
        assert_eq!(server.get_username(), "kop");
        assert_eq!(server.get_database(), Some("ledger"));
    }

    #[test]
    fn several_hosts_want_the_primary_and_share_everything_else() {
        let target = Target::parse(
            "postgresql://kop@10.0.0.1:6001,[::1]:6002,db3/ledger?sslmode=disable&connect_timeout=3&application_name=k",
        )
        .unwrap();
        assert_eq!(
            servers(&target),
            [
                ("10.0.0.1".to_string(), 6001),
                ("[::1]".to_string(), 6002),
                ("db3".to_string(), 5432)
            ]
        );
        assert!(target.read_write);
        assert_eq!(target.connect_timeout, Duration::from_secs(3));
        for server in &target.servers {
            assert_eq!(server.get_username(), "kop");
            assert_eq!(server.get_database(), Some("ledger"));
            assert_eq!(server.get_application_name(), Some("k"));
        }
        assert_eq!(target.names(), "10.0.0.1:6001,[::1]:6002,db3:5432");
    }

    #[test]
    fn target_session_attrs_is_read_write_or_any() {
        let named = |attrs: &str| Target::parse(&format!("postgres://h1,h2/db?{attrs}"));
        assert!(named("target_session_attrs=read-write").unwrap().read_write);
        assert!(!named("target_session_attrs=any").unwrap().read_write);
        assert!(
            Target::parse("postgres://h1/db?target_session_attrs=read-write")
                .unwrap()
                .read_write
        );
        for refused in [
            "target_session_attrs=standby",
            "target_session_attrs=read-only",
        ] {
            assert!(
                matches!(named(refused), Err(StoreError::BadUrl(m)) if m.contains("read-write or any")),
                "{refused}"
            );
        }
    }

    #[test]
    fn bad_lists_and_timeouts_are_refused_by_name() {
        for (url, names) in [
            ("postgres://h1,,h2/db", "empty host"),
            ("postgres://h1,h2:notaport/db", ""),
            ("postgres://h1/db?connect_timeout=0", "connect_timeout=0"),
            (
                "postgres://h1/db?connect_timeout=2.5",
                "connect_timeout=2.5",
            ),
            ("h1:5432/db", "postgres://"),
        ] {
            match Target::parse(url) {
                Err(StoreError::BadUrl(message)) => {
                    assert!(message.contains(names), "{url}: {message}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
