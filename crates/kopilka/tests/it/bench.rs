//! `kopilka bench --json` on both stores, for a second and without pgbench: it runs, the ledger
//! audit it ends with passes, and it prints one JSON object of the promised shape.

use crate::common::{self, Backend};
use serde_json::Value;
use std::process::Command;

fn bench(store: &str) -> Value {
    run(
        store,
        &[
            "--no-pgbench",
            "--duration",
            "1",
            "--clients",
            "4",
            "--customers",
            "100",
        ],
    )
}

fn run(store: &str, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_kopilka"))
        .args(["bench", "--store", store, "--json"])
        .args(args)
        .env("KOPILKA_TEST_POSTGRES_URL", common::postgres_url())
        .env("KOPILKA_LOG", "warn")
        .output()
        .expect("kopilka runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kopilka bench --store {store} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().expect("a line of JSON");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

both_stores!(bench_prints_its_report_as_json, Backend);
async fn bench_prints_its_report_as_json(backend: Backend) {
    let store = backend.name();
    let report = bench(store);
    assert_eq!(report["store"], store, "{report}");
    assert_eq!(report["clients"], 4, "{report}");
    for field in ["ops_per_s", "p50_ms", "p99_ms"] {
        assert!(
            report[field].as_f64().is_some_and(|v| v > 0.0),
            "{field} in {report}"
        );
    }
    assert!(
        report["p50_ms"].as_f64() <= report["p99_ms"].as_f64(),
        "{report}"
    );
    // Without pgbench there is nothing to compare with, but the fields are there.
    for field in ["pgbench_tps", "ratio"] {
        assert!(
            report.get(field).is_some_and(Value::is_null),
            "{field} in {report}"
        );
    }
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        report["operations"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    // The same clients against /healthz of the same server, and earn's share of it.
    for field in ["http_limit_rps", "http_limit_p99_ms", "ratio_to_http_limit"] {
        assert!(
            report[field].as_f64().is_some_and(|v| v > 0.0),
            "{field} in {report}"
        );
    }
    assert_eq!(report["nodes"], 1, "{report}");
}

#[tokio::test]
async fn bench_runs_two_nodes_on_one_postgres() {
    let report = run(
        "postgres",
        &[
            "--no-pgbench",
            "--no-http-limit",
            "--nodes",
            "2",
            "--duration",
            "1",
            "--clients",
            "4",
            "--customers",
            "100",
        ],
    );
    assert_eq!(report["nodes"], 2, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        report["operations"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert!(report["http_limit_rps"].is_null(), "{report}");
}

both_stores!(
    bench_batch_reports_rows_per_second_next_to_the_bare_database,
    Backend
);
/// The batch scenario, small, with its reference run: the bare database doing the same writes.
async fn bench_batch_reports_rows_per_second_next_to_the_bare_database(backend: Backend) {
    let store = backend.name();
    let report = run(
        store,
        &["--scenario", "batch", "--rows", "3000", "--customers", "50"],
    );
    assert_eq!(report["status"], 0, "{report}");
    assert_eq!(report["rows"], 3000, "{report}");
    for field in ["rows_per_s", "peak_rss_mb", "reference_rows_per_s", "ratio"] {
        assert!(
            report[field].as_f64().is_some_and(|v| v > 0.0),
            "{field} in {report}"
        );
    }
}
