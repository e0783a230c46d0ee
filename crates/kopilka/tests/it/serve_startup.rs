//! The real binary's start: what `serve` requires (a seal key that matches the database, an
//! admin token, senders chosen on purpose), `kopilka seal-key rotate`, and the messages it
//! fails with (docs/deployment.md).

use crate::common::{process, Backend, ADMIN_TOKEN};
use kopilka::secrets::Sealer;
use kopilka_store::{SharedStore, SEALED_COLUMNS};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// How a run of the binary ended.
struct Outcome {
    /// It printed its `listening on` line (and was then stopped).
    listened: bool,
    success: bool,
    stdout: String,
    stderr: String,
}

/// The settings `serve` needs, which a test removes (`None`) or changes.
const SERVE_ENV: &[(&str, &str)] = &[
    ("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN),
    ("KOPILKA_SMS_SENDER", "log"),
    ("KOPILKA_EMAIL_SENDER", "log"),
    ("KOPILKA_LOG", "warn"),
];

/// Runs `kopilka ARGS` in `dir` with [`SERVE_ENV`] changed by `env`, until it listens (then
/// stops it) or exits by itself.
async fn run(dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Outcome {
    run_with(dir, args, env, async |_| {}).await
}

/// [`run`], calling `meanwhile` with the server's address once it listens.
async fn run_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    meanwhile: impl AsyncFnOnce(String),
) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kopilka"));
    command.args(args).current_dir(dir);
    for name in [
        "KOPILKA_SEAL_KEY",
        "KOPILKA_SEAL_KEY_FILE",
        "KOPILKA_CONFIG",
        "KOPILKA_DATABASE_URL",
        "KOPILKA_LISTEN",
        "KOPILKA_LOG_FORMAT",
    ] {
        command.env_remove(name);
    }
    for (name, value) in SERVE_ENV {
        command.env(name, value);
    }
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the kopilka binary starts");
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let listened = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            stdout.push_str(&line);
            stdout.push('\n');
            if let Some((_, base)) = line.split_once(" listening on ") {
                return Some(base.trim().to_string());
            }
        }
        None
    })
    .await
    .expect("kopilka listens or exits within 60 s");
    if let Some(base) = &listened {
        meanwhile(base.clone()).await;
        child.start_kill().expect("kill");
    }
    let status = child.wait().await.expect("kopilka ends");
    while let Ok(Some(line)) = lines.next_line().await {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    Outcome {
        listened: listened.is_some(),
        success: status.success(),
        stdout,
        stderr: errors.await.unwrap(),
    }
}

fn serve_args(database: &str) -> Vec<&str> {
    vec!["serve", "--listen", "127.0.0.1:0", "--database", database]
}

/// Asserts `outcome` is a refusal to start whose message says each of `says`.
fn assert_refused(outcome: &Outcome, says: &[&str]) {
    assert!(
        !outcome.listened && !outcome.success,
        "expected a refusal; stdout: {}; stderr: {}",
        outcome.stdout,
        outcome.stderr
    );
    for text in says {
        assert!(
            outcome.stderr.contains(text),
            "the message should say {text:?}: {}",
            outcome.stderr
        );
    }
}

fn assert_listened(outcome: &Outcome) {
    assert!(
        outcome.listened,
        "expected kopilka to listen; stdout: {}; stderr: {}",
        outcome.stdout, outcome.stderr
    );
}

/// A fresh database of `backend` (a SQLite file in `dir`, a PostgreSQL schema): its URL and
/// the store open on it.
async fn fresh_database(backend: Backend, dir: &Path) -> (String, SharedStore) {
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.join("kopilka.db").display());
            (url.clone(), kopilka_store::open(&url).await.unwrap())
        }
        Backend::Postgres => {
            let (url, _, store) = process::postgres_schema("startup").await;
            (url, store)
        }
    }
}

/// A database holding the demo data, its secrets sealed with `key`, as a version of kopilka
/// from before the key's check value left it: sealed secrets, no check value.
async fn sealed_database(backend: Backend, dir: &Path, key: &str) -> String {
    let (url, store) = fresh_database(backend, dir).await;
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    kopilka::demo::seed(&store, &Sealer::from_hex(key).unwrap(), &data)
        .await
        .unwrap();
    store.close().await;
    url
}

/// How many sealed values the database at `url` holds; panics unless `key` unseals each.
async fn unseal_all(url: &str, key: &str) -> usize {
    let store = kopilka_store::open(url).await.unwrap();
    let sealer = Sealer::from_hex(key).unwrap();
    let values = store
        .read(|tx| {
            Box::pin(async move {
                let mut values = Vec::new();
                for &column in SEALED_COLUMNS {
                    values.extend(tx.sealed_values(column).await?);
                }
                Ok(values)
            })
        })
        .await
        .unwrap();
    store.close().await;
    for (id, sealed) in &values {
        assert!(sealer.unseal(sealed).is_ok(), "row {id} unseals");
    }
    values.len()
}

fn key(byte: &str) -> String {
    byte.repeat(32)
}

async fn a_seal_key_that_does_not_match_the_database_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = fresh_database(backend, dir.path()).await;
    store.close().await;
    let (a, b) = (key("0a"), key("0b"));
    let args = serve_args(&url);
    // The first start stores the key's check value, though nothing is sealed yet.
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&a))]).await);
    let other = run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&b))]).await;
    assert_refused(
        &other,
        &[
            "is not the key this database's secrets are sealed with",
            "KOPILKA_SEAL_KEY",
        ],
    );
    assert!(
        !other.stderr.contains(&a) && !other.stderr.contains(&b),
        "no key in the message"
    );
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&a))]).await);
}
both_stores!(
    a_seal_key_that_does_not_match_the_database_is_refused,
    Backend
);

/// A database sealed before the check value existed: its sealed secrets are the check.
async fn sealed_secrets_check_the_key_of_a_database_without_a_check_value(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let a = key("1a");
    let url = sealed_database(backend, dir.path(), &a).await;
    let args = serve_args(&url);
    let wrong = run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&key("1b")))]).await;
    assert_refused(
        &wrong,
        &["is not the key this database's secrets are sealed with"],
    );
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&a))]).await);
    let wrong = run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&key("1b")))]).await;
    assert_refused(&wrong, &["kopilka seal-key rotate"]);
}
both_stores!(
    sealed_secrets_check_the_key_of_a_database_without_a_check_value,
    Backend
);

#[tokio::test]
async fn the_default_key_file_lives_next_to_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let (data, elsewhere) = (dir.path().join("data"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let url = format!("sqlite://{}", data.join("kopilka.db").display());
    let args = serve_args(&url);
    assert_listened(&run(dir.path(), &args, &[]).await);
    let key_file = data.join("kopilka.key");
    assert!(key_file.exists(), "created next to the database");
    assert!(
        !dir.path().join("kopilka.key").exists(),
        "not in the working directory"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Started from another directory, it finds the same key.
    assert_listened(&run(&elsewhere, &args, &[]).await);
    // A lost key file is not silently replaced once the database has the key's check value.
    std::fs::remove_file(&key_file).unwrap();
    let lost = run(&elsewhere, &args, &[]).await;
    assert_refused(&lost, &["kopilka.key does not exist", "restore the file"]);
    assert!(!key_file.exists());
}

#[tokio::test]
async fn postgres_requires_the_seal_key_to_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = fresh_database(Backend::Postgres, dir.path()).await;
    store.close().await;
    let args = serve_args(&url);
    let no_key = run(dir.path(), &args, &[]).await;
    assert_refused(
        &no_key,
        &[
            "on PostgreSQL the seal key must be given",
            "KOPILKA_SEAL_KEY",
            "KOPILKA_SEAL_KEY_FILE",
        ],
    );
    assert!(!dir.path().join("kopilka.key").exists());
    let key_file = dir.path().join("seal.key");
    std::fs::write(&key_file, key("2a")).unwrap();
    let file = key_file.to_str().unwrap();
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY_FILE", Some(file))]).await);
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&key("2a")))]).await);
}

async fn rotating_the_seal_key_reseals_every_secret(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let old = key("3a");
    let url = sealed_database(backend, dir.path(), &old).await;
    let sealed = unseal_all(&url, &old).await;
    assert!(
        sealed >= 3,
        "an ECommPay project's secret, a Kupi-Kupi platform's two keys"
    );
    let new_key_file = dir.path().join("new.key");
    let rotate = [
        "seal-key",
        "rotate",
        "--database",
        &url,
        "--new-key-file",
        new_key_file.to_str().unwrap(),
    ];
    let rotated = run(dir.path(), &rotate, &[("KOPILKA_SEAL_KEY", Some(&old))]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    assert!(
        rotated
            .stdout
            .contains(&format!("re-sealed {sealed} secrets")),
        "{}",
        rotated.stdout
    );
    let new = std::fs::read_to_string(&new_key_file).unwrap();
    assert_ne!(new, old);
    assert_eq!(unseal_all(&url, &new).await, sealed);
    let args = serve_args(&url);
    let stale = run(dir.path(), &args, &[("KOPILKA_SEAL_KEY", Some(&old))]).await;
    assert_refused(
        &stale,
        &["is not the key this database's secrets are sealed with"],
    );
    let file = new_key_file.to_str().unwrap();
    assert_listened(&run(dir.path(), &args, &[("KOPILKA_SEAL_KEY_FILE", Some(file))]).await);
    // The old key rotates nothing.
    let again = run(
        dir.path(),
        &rotate[..4],
        &[("KOPILKA_SEAL_KEY", Some(&old))],
    )
    .await;
    assert_refused(&again, &["is not the key"]);
}
both_stores!(rotating_the_seal_key_reseals_every_secret, Backend);

#[tokio::test]
async fn rotating_replaces_the_key_file_the_key_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let args = serve_args(&url);
    assert_listened(&run(dir.path(), &args, &[]).await);
    let key_file = dir.path().join("kopilka.key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    let rotated = run(dir.path(), &["seal-key", "rotate", "--database", &url], &[]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old);
    assert!(!dir.path().join("kopilka.key.new").exists());
    assert_listened(&run(dir.path(), &args, &[]).await);
    // A key given in the environment has no file to replace: the new one needs a place.
    let from_env = run(
        dir.path(),
        &["seal-key", "rotate", "--database", &url],
        &[(
            "KOPILKA_SEAL_KEY",
            Some(&std::fs::read_to_string(&key_file).unwrap()),
        )],
    )
    .await;
    assert_refused(&from_env, &["--new-key-file"]);
}

#[tokio::test]
async fn demo_honours_the_seal_key_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let given = key("4a");
    let demo = [
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--database",
        url.as_str(),
    ];
    let ran = run(
        dir.path(),
        &demo,
        &[
            ("KOPILKA_SEAL_KEY", Some(&given)),
            ("KOPILKA_ADMIN_TOKEN", None),
        ],
    )
    .await;
    // No admin token given: the demo makes one up where `serve` refuses.
    assert_listened(&ran);
    assert!(unseal_all(&url, &given).await >= 3);
}

#[tokio::test]
async fn serve_requires_an_admin_token_of_32_characters() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let args = serve_args(&url);
    let none = run(dir.path(), &args, &[("KOPILKA_ADMIN_TOKEN", None)]).await;
    assert_refused(&none, &["no admin token", "KOPILKA_ADMIN_TOKEN", "32"]);
    let short = run(
        dir.path(),
        &args,
        &[("KOPILKA_ADMIN_TOKEN", Some("short-token"))],
    )
    .await;
    assert_refused(&short, &["at least 32"]);
    assert!(
        !short.stderr.contains("short-token"),
        "the token stays out of the message"
    );
    assert!(
        !dir.path().join("kopilka.db").exists(),
        "refused before opening the database"
    );
    let config = dir.path().join("kopilka.toml");
    std::fs::write(&config, format!("admin_token = \"{}\"\n", "t".repeat(32))).unwrap();
    let mut from_file = args.clone();
    from_file.extend(["--config", config.to_str().unwrap()]);
    assert_listened(&run(dir.path(), &from_file, &[("KOPILKA_ADMIN_TOKEN", None)]).await);
}

#[tokio::test]
async fn serve_takes_the_log_sender_only_when_it_is_chosen_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let args = serve_args(&url);
    let sms = run(dir.path(), &args, &[("KOPILKA_SMS_SENDER", None)]).await;
    assert_refused(&sms, &["no SMS sender chosen", "KOPILKA_SMS_SENDER=log"]);
    let email = run(dir.path(), &args, &[("KOPILKA_EMAIL_SENDER", None)]).await;
    assert_refused(
        &email,
        &["no e-mail sender chosen", "KOPILKA_EMAIL_SENDER=log"],
    );
    let chosen = run(dir.path(), &args, &[]).await;
    assert_listened(&chosen);
    assert!(
        chosen.stderr.contains("the log sender is chosen for SMS"),
        "{}",
        chosen.stderr
    );
    assert!(
        chosen
            .stderr
            .contains("the log sender is chosen for e-mail"),
        "{}",
        chosen.stderr
    );
    let config = dir.path().join("kopilka.toml");
    std::fs::write(
        &config,
        "[outbox.sms]\nsender = \"log\"\n[outbox.email]\nsender = \"log\"\n",
    )
    .unwrap();
    let mut from_file = args.clone();
    from_file.extend(["--config", config.to_str().unwrap()]);
    let unset = [("KOPILKA_SMS_SENDER", None), ("KOPILKA_EMAIL_SENDER", None)];
    assert_listened(&run(dir.path(), &from_file, &unset).await);
}

#[tokio::test]
async fn an_unreachable_postgresql_fails_fast_naming_host_port_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let url = "postgres://postgres@127.0.0.1:1/test";
    let started = std::time::Instant::now();
    let outcome = run(
        dir.path(),
        &serve_args(url),
        &[("KOPILKA_SEAL_KEY", Some(&key("5a")))],
    )
    .await;
    assert_refused(
        &outcome,
        &["cannot connect to PostgreSQL at 127.0.0.1:1", "refused"],
    );
    assert!(started.elapsed() < Duration::from_secs(15), "fails fast");
}

#[tokio::test]
async fn a_missing_postgresql_schema_says_how_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = crate::common::postgres_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let schema = crate::common::unique_schema("missing");
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let outcome = run(
        dir.path(),
        &serve_args(&url),
        &[("KOPILKA_SEAL_KEY", Some(&key("5b")))],
    )
    .await;
    assert_refused(&outcome, &[&schema, "does not exist", "CREATE SCHEMA"]);
}

#[tokio::test]
async fn a_missing_sqlite_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let url = format!("sqlite://{}", missing.join("kopilka.db").display());
    let outcome = run(dir.path(), &serve_args(&url), &[]).await;
    assert_refused(
        &outcome,
        &[missing.to_str().unwrap(), "does not exist", "mkdir -p"],
    );
}

#[tokio::test]
async fn the_port_is_bound_before_the_database_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let database: PathBuf = dir.path().join("kopilka.db");
    let url = format!("sqlite://{}", database.display());
    let args = [
        "serve",
        "--listen",
        addr.as_str(),
        "--database",
        url.as_str(),
    ];
    let outcome = run(dir.path(), &args, &[]).await;
    assert_refused(&outcome, &[&format!("cannot listen on {addr}")]);
    assert!(
        !database.exists(),
        "the database was not created nor migrated"
    );
}

#[tokio::test]
async fn a_log_filter_that_does_not_parse_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let outcome = run(
        dir.path(),
        &serve_args(&url),
        &[("KOPILKA_LOG", Some("kopilka=loud"))],
    )
    .await;
    assert_refused(&outcome, &["KOPILKA_LOG", "does not parse"]);
    let format = run(
        dir.path(),
        &serve_args(&url),
        &[("KOPILKA_LOG_FORMAT", Some("yaml"))],
    )
    .await;
    assert_refused(&format, &["KOPILKA_LOG_FORMAT must be text or json"]);
}

#[tokio::test]
async fn version_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(dir.path(), &["--version"], &[]).await;
    assert!(outcome.success, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        format!("kopilka {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn the_log_sender_keeps_codes_and_phones_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let args = [
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--database",
        url.as_str(),
    ];
    let phone = "380671111111";
    let code = std::sync::Mutex::new(String::new());
    let ran = run_with(
        dir.path(),
        &args,
        &[("KOPILKA_LOG", Some("info"))],
        async |base| {
            let http = reqwest::Client::new();
            let sent = http
                .post(format!("{base}/cabinet/code"))
                .form(&[("phone", phone)])
                .send()
                .await
                .unwrap();
            assert!(sent.status().is_success(), "{}", sent.status());
            for _ in 0..100 {
                let page: serde_json::Value = http
                    .get(format!("{base}/v1/messages?kind=sms&recipient={phone}"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let message = &page["items"][0];
                if message["state"] == "delivered" {
                    let body = message["body"].as_str().unwrap();
                    *code.lock().unwrap() = body.chars().filter(char::is_ascii_digit).collect();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the sign-in code is delivered to the log");
        },
    )
    .await;
    let code = code.into_inner().unwrap();
    assert!(code.len() >= 4, "a code: {code:?}");
    assert!(ran.stderr.contains("outbox (log sender)"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains(&code),
        "no code in the log: {}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains(phone),
        "no phone in the log: {}",
        ran.stderr
    );
}
