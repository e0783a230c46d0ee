//! `packaging/`: the systemd unit passes `systemd-analyze verify` without a warning; the
//! container's health check asks the server.

use crate::common::process::{self, Server};
use std::process::Command;

#[test]
fn systemd_unit_verifies_cleanly() {
    let unit = include_str!("../../../../packaging/kopilka.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/kopilka serve"));
    // verify checks that the binary exists: point the unit at the one cargo built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kopilka.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/kopilka", env!("CARGO_BIN_EXE_kopilka")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs (scripts/test installs Debian's systemd)");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    // An unknown or misspelt setting is only a warning, which the unit must not have either.
    assert_eq!(said, "", "systemd-analyze verify warned");
}

/// The container's health check: `kopilka healthcheck` succeeds while the server answers
/// `/healthz` and fails once it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_asks_the_local_server() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let server = Server::start(&database, dir.path()).await;
    let listen = server.base.strip_prefix("http://").unwrap().to_string();
    let healthcheck = || async {
        process::kopilka(dir.path())
            .args(["healthcheck", "--listen", &listen])
            .status()
            .await
            .unwrap()
    };
    assert!(healthcheck().await.success());
    server.terminate().await;
    assert!(!healthcheck().await.success());
}
