//! The migrations each store applies at start, and `kopilka migrate --status`: which of them a
//! database has, and when they were applied.

use crate::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

pub(crate) static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// One migration: this build's, the database's, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub name: String,
    /// When the database applied it (the database's clock, as it prints it); `None`: pending.
    pub applied_at: Option<String>,
    /// Applied by a newer kopilka: this build does not know it.
    pub unknown: bool,
}

/// Every migration this build has and every one the database `url` names has applied, by
/// version. Reads only: a missing SQLite file is an error, not a new database.
pub async fn status(url: &str) -> StoreResult<Vec<MigrationState>> {
    let (migrator, applied): (&Migrator, Vec<(i64, String, String)>) = if url.starts_with("sqlite:")
    {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(e.to_string()))?
            .read_only(true);
        if !options.get_filename().is_file() {
            return Err(StoreError::NoDatabase(options.get_filename().to_path_buf()));
        }
        let mut conn = options.connect().await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&mut conn)
        .await?;
        let applied = if exists {
            sqlx::query_as(APPLIED).fetch_all(&mut conn).await?
        } else {
            Vec::new()
        };
        let _ = conn.close().await;
        (&SQLITE, applied)
    } else {
        let mut conn = crate::postgres::connect(url).await?;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut conn)
            .await?;
        let applied = if exists {
            sqlx::query_as(APPLIED).fetch_all(&mut conn).await?
        } else {
            Vec::new()
        };
        let _ = conn.close().await;
        (&POSTGRES, applied)
    };
    let mut states: Vec<MigrationState> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            name: m.description.to_string(),
            applied_at: applied
                .iter()
                .find(|(version, _, _)| *version == m.version)
                .map(|(_, _, at)| at.clone()),
            unknown: false,
        })
        .collect();
    for (version, name, at) in applied {
        if !states.iter().any(|s| s.version == version) {
            states.push(MigrationState {
                version,
                name,
                applied_at: Some(at),
                unknown: true,
            });
        }
    }
    states.sort_by_key(|s| s.version);
    Ok(states)
}

/// `(version, description, applied at)` of each migration applied, in either database.
const APPLIED: &str = "SELECT version, description, CAST(installed_on AS TEXT) FROM _sqlx_migrations WHERE success ORDER BY version";
