//! `kopilka bench --scenario analytics`: `GET /v1/programs/{id}/analytics` for a program of
//! `--rows` operations, seeded as one Loymax batch accrual. Timed twice: with every operation in
//! the period asked for (the batch writes them all now), and after their times are spread evenly
//! over the year before (a program a year old, asked for the default last 30 days beside the 30
//! before).

use super::loymax::{
    drop_schema, fresh_store, peak_rss_mb, round2, send_batch, start_with_token, BATCH_KEY,
};
use super::{seed, BenchArgs, StoreChoice};
use anyhow::{anyhow, bail};
use kopilka_domain::program::ProgramRules;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Requests timed in each case, one after another.
const REQUESTS: usize = 30;
const DAY_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Serialize)]
pub struct AnalyticsReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub rows: usize,
    pub customers: usize,
    pub seed_seconds: f64,
    pub requests: usize,
    /// Every operation inside the period.
    pub all_in_period_p50_ms: f64,
    pub all_in_period_p99_ms: f64,
    /// Operations spread over a year; the default period (the last 30 days and the 30 before).
    pub spread_p50_ms: f64,
    pub spread_p99_ms: f64,
    pub peak_rss_mb: f64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.rows == 0 {
        bail!("--rows must be positive");
    }
    let dir = tempfile::tempdir()?;
    let (store, database, schema) = fresh_store(&args, &dir).await?;
    let customers = args.customers.max(1);
    let (program, merchant, _) = seed(
        &store,
        ProgramRules::default(),
        serde_json::json!({"point_value": {"money_minor": 1, "points_minor": 1}}),
        customers,
        0,
    )
    .await?;
    crate::loymax::processing::batch::add_key(&store, merchant, BATCH_KEY)
        .await
        .map_err(|e| anyhow!("batch key: {e:?}"))?;
    let token = crate::secrets::random_token(16);
    let running = start_with_token(store, database.clone(), token.clone()).await?;
    let started = Instant::now();
    let answer = send_batch(running.addr, args.rows, customers).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    if answer["status"].as_i64() != Some(0) {
        bail!("the batch was refused: {answer}");
    }
    let url = format!("http://{}/v1/programs/{program}/analytics", running.addr);
    beside_the_server(&args, &database, schema.as_deref(), None).await?;
    let all_in_period = timed(&url, &token).await?;
    let spread = format!("UPDATE operations SET created_at = created_at - (id % 365) * {DAY_MS}");
    beside_the_server(&args, &database, schema.as_deref(), Some(&spread)).await?;
    let spread = timed(&url, &token).await?;
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let report = AnalyticsReport {
        scenario: "analytics",
        store: args.store,
        rows: args.rows,
        customers,
        seed_seconds: round2(seed_seconds),
        requests: REQUESTS,
        all_in_period_p50_ms: all_in_period.0,
        all_in_period_p99_ms: all_in_period.1,
        spread_p50_ms: spread.0,
        spread_p99_ms: spread.1,
        peak_rss_mb: peak_rss_mb(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario analytics on {:?}: {} operations over {} customers (seeded in {:.1} s); {} requests each: all in the period p50 {:.1} ms, p99 {:.1} ms; spread over a year p50 {:.1} ms, p99 {:.1} ms",
            report.store, report.rows, report.customers, report.seed_seconds, report.requests,
            report.all_in_period_p50_ms, report.all_in_period_p99_ms, report.spread_p50_ms, report.spread_p99_ms
        );
    }
    Ok(())
}

/// `REQUESTS` requests one after another (after one not counted): p50 and p99 in ms.
async fn timed(url: &str, token: &str) -> anyhow::Result<(f64, f64)> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(REQUESTS);
    for i in 0..=REQUESTS {
        let started = Instant::now();
        client
            .get(url)
            .bearer_auth(token)
            .timeout(Duration::from_secs(60))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        if i > 0 {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| latencies[((p * latencies.len()).div_ceil(100)).max(1) - 1];
    Ok((round2(pct(50)), round2(pct(99))))
}

/// Runs `statement` on the database beside the server (which only reads meanwhile), then on
/// PostgreSQL refreshes the planner's statistics and visibility map as autovacuum would after a
/// bulk change.
async fn beside_the_server(
    args: &BenchArgs,
    database: &str,
    schema: Option<&str>,
    statement: Option<&str>,
) -> anyhow::Result<()> {
    match (args.store, schema) {
        (StoreChoice::Postgres, Some(schema)) => {
            let separator = if database.contains('?') { '&' } else { '?' };
            let url = format!("{database}{separator}options=-c%20search_path%3D{schema}");
            let pool = sqlx::PgPool::connect(&url).await?;
            if let Some(statement) = statement {
                sqlx::query(statement).execute(&pool).await?;
            }
            for table in ["operations", "customers", "accounts", "lots"] {
                sqlx::query(&format!("VACUUM ANALYZE {table}"))
                    .execute(&pool)
                    .await?;
            }
            pool.close().await;
        }
        _ => {
            let Some(statement) = statement.map(str::to_string) else {
                return Ok(());
            };
            let path = database.trim_start_matches("sqlite://").to_string();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let connection = rusqlite::Connection::open(path)?;
                connection.busy_timeout(Duration::from_secs(30))?;
                connection.execute(&statement, [])?;
                Ok(())
            })
            .await??;
        }
    }
    Ok(())
}
