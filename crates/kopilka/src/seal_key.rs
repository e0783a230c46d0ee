//! The seal key: where it comes from, the check that it is the key the database's secrets are
//! sealed with (its check value is stored in the database), and its rotation. See
//! docs/deployment.md.

use crate::config::Config;
use crate::secrets::Sealer;
use kopilka_store::{SharedStore, StoreError, SEALED_COLUMNS};
use std::path::{Path, PathBuf};

/// Where the key came from, as messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `KOPILKA_SEAL_KEY` or `seal_key`.
    Setting,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Setting => write!(f, "KOPILKA_SEAL_KEY (seal_key)"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// The key file when none is named: next to the SQLite database (`kopilka.db` → `kopilka.key`),
/// so the server finds it whatever directory it starts in. None on PostgreSQL.
pub fn default_key_file(database: &str) -> Option<PathBuf> {
    let path = database
        .strip_prefix("sqlite://")
        .or(database.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    Some(Path::new(path).with_extension("key"))
}

/// The key `config` gives (or a new one in the default key file of a database that has no
/// sealed secret yet), checked against the check value stored in `store`.
pub async fn unlock(config: &Config, store: &SharedStore) -> anyhow::Result<(Sealer, KeySource)> {
    let (sealer, source) = read_key(config, store).await?;
    verify(&sealer, &source, store).await?;
    Ok((sealer, source))
}

/// The key the settings give, or the key file they name that does not exist yet.
enum Configured {
    Key(Sealer, KeySource),
    MissingFile(PathBuf),
}

fn configured_key(config: &Config) -> anyhow::Result<Configured> {
    if let Some(key) = &config.seal_key {
        let sealer = Sealer::from_hex(key)
            .map_err(|_| anyhow::anyhow!("KOPILKA_SEAL_KEY (seal_key) must be 64 hex digits"))?;
        return Ok(Configured::Key(sealer, KeySource::Setting));
    }
    let path = match (&config.seal_key_file, default_key_file(&config.database)) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(path)) => path,
        (None, None) => anyhow::bail!(
            "on PostgreSQL the seal key must be given, the same on every node: set \
             KOPILKA_SEAL_KEY to 64 hex digits (a new key: `openssl rand -hex 32`) or \
             KOPILKA_SEAL_KEY_FILE (seal_key_file) to a file holding them"
        ),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let sealer = Sealer::from_hex(&text).map_err(|_| {
                anyhow::anyhow!(
                    "the seal key file {} must hold 64 hex digits",
                    path.display()
                )
            })?;
            Ok(Configured::Key(sealer, KeySource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Configured::MissingFile(path)),
        Err(e) => anyhow::bail!("reading the seal key file {}: {e}", path.display()),
    }
}

/// The key the settings give, never creating one: what a backup is checked against.
pub fn configured(config: &Config) -> anyhow::Result<(Sealer, KeySource)> {
    match configured_key(config)? {
        Configured::Key(sealer, source) => Ok((sealer, source)),
        Configured::MissingFile(path) => anyhow::bail!(
            "the seal key file {} does not exist: give the key the database is sealed with \
             (KOPILKA_SEAL_KEY or KOPILKA_SEAL_KEY_FILE)",
            path.display()
        ),
    }
}

async fn read_key(config: &Config, store: &SharedStore) -> anyhow::Result<(Sealer, KeySource)> {
    let path = match configured_key(config)? {
        Configured::Key(sealer, source) => return Ok((sealer, source)),
        Configured::MissingFile(path) => path,
    };
    if holds_sealed_data(store).await? {
        anyhow::bail!(
            "the seal key file {} does not exist, but this database holds secrets sealed \
             with a key: restore the file (or give the key in KOPILKA_SEAL_KEY); a new \
             key would leave those secrets unreadable",
            path.display()
        );
    }
    let key = Sealer::generate_key();
    write_private(&path, &key)?;
    tracing::info!("created the seal key file {}; back it up", path.display());
    Ok((Sealer::from_hex(&key)?, KeySource::File(path)))
}

/// Whether the database has a key check value or any sealed secret.
async fn holds_sealed_data(store: &SharedStore) -> anyhow::Result<bool> {
    Ok(store
        .read(|tx| {
            Box::pin(async move {
                Ok(tx.seal_key_check().await?.is_some() || tx.any_sealed_value().await?.is_some())
            })
        })
        .await?)
}

/// Stores the key's check value if the database has none (a database from before the check
/// counts its sealed secrets as the check), and refuses a key that does not match.
async fn verify(sealer: &Sealer, source: &KeySource, store: &SharedStore) -> anyhow::Result<()> {
    let candidate = sealer.clone();
    let matches = store
        .write(move |tx| {
            Box::pin(async move {
                if tx.seal_key_check().await?.is_none() {
                    if let Some(sealed) = tx.any_sealed_value().await? {
                        if candidate.unseal(&sealed).is_err() {
                            return Ok(false);
                        }
                    }
                    tx.store_seal_key_check_if_absent(candidate.check_value())
                        .await?;
                }
                let stored = tx.seal_key_check().await?.unwrap_or_default();
                Ok(candidate.matches_check(&stored))
            })
        })
        .await?;
    anyhow::ensure!(
        matches,
        "the seal key from {source} is not the key this database's secrets are sealed with: \
         start with the key used before (KOPILKA_SEAL_KEY or the key file; on PostgreSQL the \
         same on every node); to change the key, run `kopilka seal-key rotate` with the old one"
    );
    Ok(())
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    pub resealed: usize,
    pub new_key_file: PathBuf,
}

/// Re-seals every sealed secret with a new key and stores its check value, in one transaction;
/// the new key goes to `new_key_file`, or replaces the key file the old key came from (written
/// beside it first, moved over it once the transaction has committed).
pub async fn rotate(
    config: &Config,
    store: &SharedStore,
    new_key_file: Option<PathBuf>,
) -> anyhow::Result<Rotated> {
    let (old, source) = unlock(config, store).await?;
    let (staged, destination) = match (new_key_file, &source) {
        (Some(path), _) => (path.clone(), path),
        (None, KeySource::File(path)) => {
            let mut staged = path.clone().into_os_string();
            staged.push(".new");
            (PathBuf::from(staged), path.clone())
        }
        (None, KeySource::Setting) => anyhow::bail!(
            "the current key comes from KOPILKA_SEAL_KEY: name a file for the new key with \
             --new-key-file PATH, then give its contents to every node"
        ),
    };
    let key = Sealer::generate_key();
    let new = Sealer::from_hex(&key)?;
    write_private(&staged, &key)?;
    let resealed = store
        .write(move |tx| {
            Box::pin(async move {
                let mut resealed = 0;
                for &column in SEALED_COLUMNS {
                    for (id, sealed) in tx.sealed_values(column).await? {
                        let secret = old.unseal(&sealed).map_err(|_| {
                            StoreError::Corrupt(format!(
                                "{}.{} of row {id} does not unseal under the current key",
                                column.table, column.column
                            ))
                        })?;
                        tx.replace_sealed_value(column, id, &new.seal(&secret))
                            .await?;
                        resealed += 1;
                    }
                }
                tx.replace_seal_key_check(new.check_value()).await?;
                Ok(resealed)
            })
        })
        .await;
    let resealed = match resealed {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            anyhow::bail!("the key was not rotated, nothing changed: {e}");
        }
    };
    if staged != destination {
        std::fs::rename(&staged, &destination).map_err(|e| {
            anyhow::anyhow!(
                "the secrets are sealed with the new key in {}, but moving it over {} failed: \
                 {e}; move it by hand before starting kopilka",
                staged.display(),
                destination.display()
            )
        })?;
    }
    Ok(Rotated {
        resealed,
        new_key_file: destination,
    })
}

/// Creates `path` readable by its owner only; an existing file is an error, never overwritten.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating the seal key file {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_key_file_is_next_to_the_sqlite_database() {
        assert_eq!(
            default_key_file("sqlite:///var/lib/kopilka/kopilka.db"),
            Some(PathBuf::from("/var/lib/kopilka/kopilka.key"))
        );
        assert_eq!(
            default_key_file("sqlite://data/k.sqlite?mode=rwc"),
            Some(PathBuf::from("data/k.key"))
        );
        assert_eq!(default_key_file("postgres://db/kopilka"), None);
    }
}
