//! `kopilka bench`: kopilka on a fresh store driven over HTTP on loopback, side by side with
//! `pgbench -b simple-update` (the bare database doing comparable work) on the same machine.

use crate::config::Config;
use crate::server;
use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use kopilka_domain::program::ProgramRules;
use kopilka_store::entities::NewCustomer;
use kopilka_store::{PgStore, SharedStore};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreChoice {
    Sqlite,
    Postgres,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreChoice,
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// PostgreSQL for the postgres store and for pgbench.
    #[arg(long, env = "KOPILKA_TEST_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Customers the operations are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Skip the pgbench reference run.
    #[arg(long)]
    pub no_pgbench: bool,
    #[arg(long)]
    pub json: bool,
    /// earn (native API), purchase (the Loymax purchase cycle) or batch (a Loymax batch accrual).
    #[arg(long, default_value = "earn")]
    pub scenario: String,
    /// Rows of the batch scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub clients: usize,
    pub duration_s: u64,
    pub operations: u64,
    pub errors: u64,
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub pgbench_tps: Option<f64>,
    pub ratio: Option<f64>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario.as_str() {
        "earn" => {}
        "batch" => return crate::bench_loymax::batch(args).await,
        "purchase" => return crate::bench_loymax::purchase(args).await,
        other => bail!("unknown scenario {other}: earn, purchase or batch"),
    }
    if args.clients == 0 || args.duration == 0 {
        bail!("--clients and --duration must be positive");
    }
    let dir = tempfile::tempdir()?;
    let (store, database): (SharedStore, String) = match args.store {
        StoreChoice::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (kopilka_store::open(&url).await?, url)
        }
        StoreChoice::Postgres => {
            let url = args.postgres_url.clone().ok_or_else(|| {
                anyhow!("--postgres-url or KOPILKA_TEST_POSTGRES_URL is required")
            })?;
            let schema = format!("bench_{}", crate::secrets::random_token(6));
            (Arc::new(PgStore::open(&url, Some(&schema)).await?), url)
        }
    };
    let (merchant_id, customers) = seed(&store, args.customers).await?;
    let token = crate::secrets::random_token(16);
    let running = server::start_with_store(
        Config {
            listen: "127.0.0.1:0".parse()?,
            database,
            admin_token: Some(token.clone()),
            jobs_interval_secs: 3600,
            seal_key: Some(crate::secrets::Sealer::generate_key()),
            ..Config::default()
        },
        store,
    )
    .await?;
    let url = format!("http://{}/v1/operations", running.addr);
    let (operations, errors, mut latencies) = drive(
        &url,
        &token,
        merchant_id,
        &customers,
        args.clients,
        Duration::from_secs(args.duration),
    )
    .await?;
    running.shutdown().await;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64 / 1000.0
    };
    let ops_per_s = operations as f64 / args.duration as f64;
    let pgbench_tps = if args.no_pgbench {
        None
    } else {
        let url = args.postgres_url.clone().ok_or_else(|| {
            anyhow!(
                "pgbench needs --postgres-url or KOPILKA_TEST_POSTGRES_URL (or pass --no-pgbench)"
            )
        })?;
        Some(pgbench(&url, args.clients, args.duration).await?)
    };
    let report = BenchReport {
        scenario: "earn",
        store: args.store,
        clients: args.clients,
        duration_s: args.duration,
        operations,
        errors,
        ops_per_s: round2(ops_per_s),
        p50_ms: round2(pct(0.50)),
        p99_ms: round2(pct(0.99)),
        pgbench_tps: pgbench_tps.map(round2),
        ratio: pgbench_tps.map(|t| round2(ops_per_s / t)),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario earn on {:?}: {} clients, {} s",
            report.store, report.clients, report.duration_s
        );
        println!(
            "  kopilka: {} ops ({} errors), {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms",
            report.operations, report.errors, report.ops_per_s, report.p50_ms, report.p99_ms
        );
        if let (Some(tps), Some(ratio)) = (report.pgbench_tps, report.ratio) {
            println!("  pgbench -b simple-update: {tps:.0} tps");
            println!("  ratio kopilka / pgbench: {ratio:.2}");
        }
    }
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

async fn seed(store: &SharedStore, customers: usize) -> anyhow::Result<(i64, Vec<i64>)> {
    let rules = ProgramRules {
        earn_bps: 2000,
        ..ProgramRules::default()
    };
    let (program, merchant) = store
        .write(move |tx| {
            Box::pin(async move {
                let p = tx
                    .create_program("bench", "Bench", &rules, &serde_json::json!({}))
                    .await?;
                let m = tx
                    .create_merchant(p.id, "Bench Shop", "Bench Shop", &[])
                    .await?;
                Ok((p.id, m.id))
            })
        })
        .await?;
    let mut ids = Vec::with_capacity(customers);
    let mut next = 0usize;
    while next < customers {
        let count = (customers - next).min(1000);
        let start = next;
        let batch = store
            .write(move |tx| {
                Box::pin(async move {
                    let mut ids = Vec::with_capacity(count);
                    for i in start..start + count {
                        let phone = format!("7900{:07}", i);
                        ids.push(
                            tx.create_customer(&NewCustomer::active(program, Some(phone)))
                                .await?
                                .id,
                        );
                    }
                    Ok(ids)
                })
            })
            .await?;
        ids.extend(batch);
        next += count;
    }
    Ok((merchant, ids))
}

async fn drive(
    url: &str,
    token: &str,
    merchant_id: i64,
    customers: &[i64],
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(u64, u64, Vec<u32>)> {
    let customers = Arc::new(customers.to_vec());
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()?;
        let (url, token, customers) = (url.to_string(), token.to_string(), customers.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut i = client;
            while Instant::now() < deadline {
                let customer = customers[(i * 7919) % customers.len()];
                let body = serde_json::json!({
                    "kind": "earn",
                    "customer_id": customer,
                    "merchant_id": merchant_id,
                    "paid": "100.00",
                    "idempotency_key": format!("bench-{client}-{i}"),
                });
                let started = Instant::now();
                let result = http.post(&url).bearer_auth(&token).json(&body).send().await;
                let elapsed = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match result {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                        latencies.push(elapsed);
                    }
                    _ => failed += 1,
                }
                i += clients;
            }
            (ok, failed, latencies)
        }));
    }
    let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let (o, f, l) = task.await?;
        ok += o;
        failed += f;
        latencies.extend(l);
    }
    Ok((ok, failed, latencies))
}

/// Runs pgbench's simple-update script in a database of its own and returns its TPS.
async fn pgbench(url: &str, clients: usize, duration: u64) -> anyhow::Result<f64> {
    let admin = sqlx::PgPool::connect(url)
        .await
        .context("connecting for pgbench")?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = 'kopilka_pgbench'")
            .fetch_optional(&admin)
            .await?;
    if exists.is_none() {
        sqlx::query("CREATE DATABASE kopilka_pgbench")
            .execute(&admin)
            .await?;
    }
    admin.close().await;
    let bench_url = replace_database(url, "kopilka_pgbench");
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", &bench_url])
        .output()
        .await
        .context("running pgbench (install postgresql-client)")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let run = tokio::process::Command::new("pgbench")
        .args([
            "-b",
            "simple-update",
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-T",
            &duration.to_string(),
            &bench_url,
        ])
        .output()
        .await?;
    if !run.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .ok_or_else(|| anyhow!("no tps line in pgbench output: {out}"))
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{database}?{q}"),
        None => format!("{host_part}/{database}"),
    }
}
