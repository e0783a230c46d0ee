//! `kopilka backup`: a consistent online copy of an SQLite database (`VACUUM INTO`, which reads
//! one snapshot while the server keeps writing), checked before it is put in place. PostgreSQL
//! is backed up with its own tools (`pg_dump -Fc`, `pg_restore`; docs/deployment.md).

use crate::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A checked copy of the database in a temporary file beside its destination.
pub struct StagedBackup {
    file: tempfile::NamedTempFile,
    destination: PathBuf,
    seal_key_check: Option<String>,
}

impl StagedBackup {
    /// The copy's seal key check value (none in a database never served), for the caller to
    /// check its key against: a backup is only as good as the key that unseals it.
    pub fn seal_key_check(&self) -> Option<&str> {
        self.seal_key_check.as_deref()
    }

    /// Moves the copy to its destination, refusing to replace a file that appeared meanwhile,
    /// and answers its size in bytes. Dropped instead, the copy is deleted.
    pub fn finish(self) -> StoreResult<u64> {
        let size = self
            .file
            .as_file()
            .metadata()
            .map_err(|e| refusal(&self.destination, e))?
            .len();
        let destination = self.destination;
        self.file
            .persist_noclobber(&destination)
            .map_err(|e| refusal(&destination, e.error))?;
        // The rename is durable once the directory is.
        std::fs::File::open(parent(&destination))
            .and_then(|dir| dir.sync_all())
            .map_err(|e| refusal(&destination, e))?;
        Ok(size)
    }
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn refusal(destination: &Path, error: std::io::Error) -> StoreError {
    if error.kind() == std::io::ErrorKind::AlreadyExists {
        StoreError::Backup(format!(
            "{} exists: a backup never replaces a file; name a new one",
            destination.display()
        ))
    } else {
        StoreError::Backup(format!("writing {}: {error}", destination.display()))
    }
}

/// Copies the database `url` names into a temporary file beside `destination` with
/// `VACUUM INTO` (one read snapshot: the server keeps serving, and the copy holds every
/// transaction committed before the copy began), syncs it and runs `PRAGMA quick_check` on it.
/// Blocking. On PostgreSQL, refuses and names `pg_dump`.
pub fn stage(url: &str, destination: &Path) -> StoreResult<StagedBackup> {
    if !url.starts_with("sqlite:") {
        return Err(StoreError::Backup(
            "kopilka backs up SQLite only; back PostgreSQL up with its own tools: \
             `pg_dump -Fc -f kopilka.dump URL` (a consistent snapshot while the servers run), \
             restored with `pg_restore --no-owner -d NEW_DATABASE kopilka.dump` \
             (docs/deployment.md)"
                .into(),
        ));
    }
    let options =
        SqliteConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
    let source = options.get_filename();
    if !source.is_file() {
        return Err(StoreError::NoDatabase(source.to_path_buf()));
    }
    if destination.exists() {
        return Err(refusal(
            destination,
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    let file = tempfile::Builder::new()
        .prefix(".kopilka-backup-")
        .suffix(".tmp")
        .tempfile_in(parent(destination))
        .map_err(|e| refusal(destination, e))?;
    let copy = file
        .path()
        .to_str()
        .ok_or_else(|| StoreError::Backup(format!("{} is not UTF-8", file.path().display())))?;
    let conn = open(source)?;
    // VACUUM INTO writes into an empty file; it does not sync it.
    conn.execute("VACUUM INTO ?1", [copy])?;
    drop(conn);
    file.as_file()
        .sync_all()
        .map_err(|e| refusal(destination, e))?;
    let conn = open(file.path())?;
    let verdict: Vec<String> = conn
        .prepare("PRAGMA quick_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if verdict != ["ok"] {
        return Err(StoreError::Backup(format!(
            "the copy fails PRAGMA quick_check: {}",
            verdict.join("; ")
        )));
    }
    let seal_key_check = conn
        .query_row(
            "SELECT check_value FROM seal_key_check WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    drop(conn);
    Ok(StagedBackup {
        file,
        destination: destination.to_path_buf(),
        seal_key_check,
    })
}

fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}
