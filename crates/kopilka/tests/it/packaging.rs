//! `packaging/`: the systemd unit passes `systemd-analyze verify` without a warning.

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
