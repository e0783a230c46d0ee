//! `kopilka bench --scenario export`: `GET /v1/operations/export.csv` and `.xlsx` of a program of
//! `--rows` operations (seeded as one Loymax batch accrual), each read to its end as a client
//! would. The server and the client are this process: its peak resident memory is measured from
//! just before each export (the seeding's own peak forgotten through `/proc/self/clear_refs`),
//! so what the export adds shows beside the memory it started with.

use super::analytics::{seeded, Seeded};
use super::loymax::{drop_schema, peak_rss_mb, round2};
use super::{BenchArgs, StoreChoice};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub rows: usize,
    pub seed_seconds: f64,
    pub csv: ExportRun,
    pub xlsx: ExportRun,
}

#[derive(Debug, Serialize)]
pub struct ExportRun {
    pub seconds: f64,
    pub bytes: u64,
    /// Resident memory when the export began, and the most it reached until its end.
    pub rss_before_mb: f64,
    pub peak_rss_mb: f64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let Seeded {
        running,
        program,
        token,
        schema,
        seed_seconds,
        dir: _dir,
        ..
    } = seeded(&args).await?;
    let url = |extension: &str| {
        format!(
            "http://{}/v1/operations/export.{extension}?program_id={program}",
            running.addr
        )
    };
    let csv = export(&url("csv"), &token).await?;
    let xlsx = export(&url("xlsx"), &token).await?;
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let report = ExportReport {
        scenario: "export",
        store: args.store,
        rows: args.rows,
        seed_seconds,
        csv,
        xlsx,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for (name, run) in [("CSV", &report.csv), ("XLSX", &report.xlsx)] {
            println!(
                "scenario export on {:?}: {} operations as {name}: {} bytes in {:.1} s; resident memory {:.1} MB before, {:.1} MB at most",
                report.store, report.rows, run.bytes, run.seconds, run.rss_before_mb, run.peak_rss_mb
            );
        }
    }
    Ok(())
}

/// Downloads `url` to its end, counting bytes, with the peak memory reset before.
async fn export(url: &str, token: &str) -> anyhow::Result<ExportRun> {
    // Writing 5 resets the peak (VmHWM) to the memory resident now.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let rss_before_mb = peak_rss_mb();
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?
        .error_for_status()?;
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
    }
    Ok(ExportRun {
        seconds: round2(started.elapsed().as_secs_f64()),
        bytes,
        rss_before_mb,
        peak_rss_mb: peak_rss_mb(),
    })
}
