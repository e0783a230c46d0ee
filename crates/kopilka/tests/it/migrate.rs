//! `kopilka migrate --status` lists every migration, applied or pending, and changes nothing;
//! `kopilka migrate` applies the pending ones.

use crate::common::process;
use crate::common::{postgres_url, unique_schema, Backend};

both_stores!(migrate_lists_then_applies_the_migrations, Backend);

/// Whether the command succeeded, and what it printed: the listing on stdout, then stderr
/// (logs such as a slow statement's warning on a loaded machine) after a marker, so the
/// listing's checks never read the logs.
async fn kopilka(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = process::kopilka(dir).args(args).output().await.unwrap();
    let text = format!(
        "{}{LOGS}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

const LOGS: &str = "--- stderr ---\n";

/// The listing alone.
fn listing(said: &str) -> &str {
    said.split(LOGS).next().unwrap_or_default()
}

async fn migrate_lists_then_applies_the_migrations(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("kopilka.db");
            let url = format!("sqlite://{}", path.display());
            let (ok, said) =
                kopilka(dir.path(), &["migrate", "--status", "--database", &url]).await;
            assert!(!ok && said.contains("no SQLite database at"), "{said}");
            assert!(!path.exists(), "--status created the database");
            // An empty database: every migration pending.
            rusqlite::Connection::open(&path).unwrap();
            url
        }
        Backend::Postgres => {
            let schema = unique_schema("migrate");
            let admin = sqlx::PgPool::connect(&postgres_url()).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            format!("{}?options=-c%20search_path%3D{schema}", postgres_url())
        }
    };
    let (ok, said) = kopilka(dir.path(), &["migrate", "--status", "--database", &url]).await;
    assert!(ok, "{said}");
    let before = listing(&said);
    assert!(before.contains("0001 core"), "{before}");
    assert!(before.contains("0021 job leases"), "{before}");
    assert!(!before.contains("applied"), "{before}");
    let total = before
        .lines()
        .filter(|l| l.starts_with('0') && l.ends_with("pending"))
        .count();
    assert!(before.ends_with(&format!("{total} pending\n")), "{before}");
    // --status changed nothing.
    let (_, again) = kopilka(dir.path(), &["migrate", "--status", "--database", &url]).await;
    assert_eq!(listing(&again), before);

    let (ok, said) = kopilka(dir.path(), &["migrate", "--database", &url]).await;
    assert!(ok, "{said}");
    let after = listing(&said);
    assert!(after.ends_with("0 pending\n"), "{after}");
    let applied = after.lines().filter(|l| l.contains(" applied ")).count();
    assert_eq!(applied, total, "{after}");
}
