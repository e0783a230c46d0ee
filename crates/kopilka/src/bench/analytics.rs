//! `kopilka bench --scenario analytics`: `GET /v1/programs/{id}/analytics` for a program of
//! `--rows` operations, seeded as one Loymax batch accrual, asked for the default period (the
//! last 30 days beside the 30 before). Timed three times: with every operation written today
//! (the batch writes them all now: the open day, summed live); with their times spread over the
//! 30 days of the period; and spread over the year before (a program a year old). The first
//! request of each case (not in the percentiles) sums and keeps the closed days; it is reported
//! as the cold time. Then the kept days are forgotten, the analytics job keeps them ahead
//! (timed) and the first request after it is timed. Moving operations in time is the bench's
//! doing, never the ledger's, so the kept days are forgotten after each move.

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
/// After the bench moves operations in time, the days kept before are no longer theirs.
const FORGET_DAYS: &str = "DELETE FROM analytics_days";

#[derive(Debug, Serialize)]
pub struct AnalyticsReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub rows: usize,
    pub customers: usize,
    pub seed_seconds: f64,
    pub requests: usize,
    /// Every operation written today, the open day.
    pub today_p50_ms: f64,
    pub today_p99_ms: f64,
    /// Every operation inside the period, spread over its 30 days.
    pub all_in_period_cold_ms: f64,
    pub all_in_period_p50_ms: f64,
    pub all_in_period_p99_ms: f64,
    /// Operations spread over a year.
    pub spread_cold_ms: f64,
    pub spread_p50_ms: f64,
    pub spread_p99_ms: f64,
    /// The kept days forgotten again and the analytics job run (until it has nothing left to
    /// keep): how long the job took, and the first request after it.
    pub all_in_period_job_ms: f64,
    pub all_in_period_after_job_ms: f64,
    pub spread_job_ms: f64,
    pub spread_after_job_ms: f64,
    pub peak_rss_mb: f64,
}

/// A server over a fresh store holding one program of `--rows` operations.
pub(super) struct Seeded {
    pub running: crate::server::Running,
    pub program: i64,
    pub token: String,
    pub database: String,
    pub schema: Option<String>,
    pub customers: usize,
    pub seed_seconds: f64,
    /// Holds the SQLite database; deleted when dropped.
    pub dir: tempfile::TempDir,
}

/// A program (a point worth a unit of money) with `--customers` members and `--rows` operations
/// written as one Loymax batch accrual, behind a running server.
pub(super) async fn seeded(args: &BenchArgs) -> anyhow::Result<Seeded> {
    if args.rows == 0 {
        bail!("--rows must be positive");
    }
    let dir = tempfile::tempdir()?;
    let (store, database, schema) = fresh_store(args, &dir).await?;
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
    let seed_seconds = round2(started.elapsed().as_secs_f64());
    if answer["status"].as_i64() != Some(0) {
        bail!("the batch was refused: {answer}");
    }
    Ok(Seeded {
        running,
        program,
        token,
        database,
        schema,
        customers,
        seed_seconds,
        dir,
    })
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let Seeded {
        running,
        program,
        token,
        database,
        schema,
        customers,
        seed_seconds,
        dir: _dir,
    } = seeded(&args).await?;
    let url = format!("http://{}/v1/programs/{program}/analytics", running.addr);
    beside_the_server(&args, &database, schema.as_deref(), None).await?;
    let today = timed(&url, &token, REQUESTS).await?;
    let month = format!("UPDATE operations SET created_at = created_at - (id % 30) * {DAY_MS}");
    beside_the_server(&args, &database, schema.as_deref(), Some(&month)).await?;
    let all_in_period = timed(&url, &token, REQUESTS).await?;
    let all_in_period_job =
        after_the_job(&args, &running, &database, schema.as_deref(), &url, &token).await?;
    let year = format!(
        "UPDATE operations SET created_at = created_at + (id % 30) * {DAY_MS} - (id % 365) * {DAY_MS}"
    );
    beside_the_server(&args, &database, schema.as_deref(), Some(&year)).await?;
    let spread = timed(&url, &token, REQUESTS).await?;
    let spread_job =
        after_the_job(&args, &running, &database, schema.as_deref(), &url, &token).await?;
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let report = AnalyticsReport {
        scenario: "analytics",
        store: args.store,
        rows: args.rows,
        customers,
        seed_seconds,
        requests: REQUESTS,
        today_p50_ms: today.p50,
        today_p99_ms: today.p99,
        all_in_period_cold_ms: all_in_period.cold,
        all_in_period_p50_ms: all_in_period.p50,
        all_in_period_p99_ms: all_in_period.p99,
        spread_cold_ms: spread.cold,
        spread_p50_ms: spread.p50,
        spread_p99_ms: spread.p99,
        all_in_period_job_ms: all_in_period_job.job_ms,
        all_in_period_after_job_ms: all_in_period_job.first_ms,
        spread_job_ms: spread_job.job_ms,
        spread_after_job_ms: spread_job.first_ms,
        peak_rss_mb: peak_rss_mb(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario analytics on {:?}: {} operations over {} customers (seeded in {:.1} s); {} requests each: all today p50 {:.1} ms, p99 {:.1} ms; all in the period cold {:.1} ms, p50 {:.1} ms, p99 {:.1} ms; spread over a year cold {:.1} ms, p50 {:.1} ms, p99 {:.1} ms",
            report.store, report.rows, report.customers, report.seed_seconds, report.requests,
            report.today_p50_ms, report.today_p99_ms, report.all_in_period_cold_ms, report.all_in_period_p50_ms, report.all_in_period_p99_ms,
            report.spread_cold_ms, report.spread_p50_ms, report.spread_p99_ms
        );
        println!(
            "after the analytics job: all in the period job {:.1} ms, first request {:.1} ms; spread over a year job {:.1} ms, first request {:.1} ms",
            report.all_in_period_job_ms, report.all_in_period_after_job_ms, report.spread_job_ms, report.spread_after_job_ms
        );
    }
    Ok(())
}

/// The analytics job's time and the first request's after it.
struct AfterTheJob {
    job_ms: f64,
    first_ms: f64,
}

/// Forgets the kept days, runs the analytics job's rounds until one keeps nothing, then times
/// one request: what the first request over new days costs once the job keeps them ahead.
async fn after_the_job(
    args: &BenchArgs,
    running: &crate::server::Running,
    database: &str,
    schema: Option<&str>,
    url: &str,
    token: &str,
) -> anyhow::Result<AfterTheJob> {
    beside_the_server(args, database, schema, Some(FORGET_DAYS)).await?;
    let started = Instant::now();
    while crate::api::keep_closed_days(&running.store, kopilka_store::now_ms()).await? > 0 {}
    let job_ms = round2(started.elapsed().as_secs_f64() * 1000.0);
    let started = Instant::now();
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(AfterTheJob {
        job_ms,
        first_ms: round2(started.elapsed().as_secs_f64() * 1000.0),
    })
}

/// Request times in ms: the first, and p50 and p99 of the requests after it.
pub(super) struct Timings {
    pub cold: f64,
    pub p50: f64,
    pub p99: f64,
}

/// `requests` requests one after another, after one timed alone.
pub(super) async fn timed(url: &str, token: &str, requests: usize) -> anyhow::Result<Timings> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(requests);
    let mut cold = 0.0;
    for i in 0..=requests {
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
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match i {
            0 => cold = round2(ms),
            _ => latencies.push(ms),
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| latencies[((p * latencies.len()).div_ceil(100)).max(1) - 1];
    Ok(Timings {
        cold,
        p50: round2(pct(50)),
        p99: round2(pct(99)),
    })
}

/// Runs `statement` on the database beside the server (which only reads meanwhile) and forgets
/// the kept days it changed, then on PostgreSQL refreshes the planner's statistics and
/// visibility map as autovacuum would after a bulk change.
pub(super) async fn beside_the_server(
    args: &BenchArgs,
    database: &str,
    schema: Option<&str>,
    statement: Option<&str>,
) -> anyhow::Result<()> {
    match (args.store, schema) {
        (StoreChoice::Postgres, Some(schema)) => {
            let pool = sqlx::PgPool::connect(&super::schema_url(database, schema)).await?;
            if let Some(statement) = statement {
                sqlx::query(statement).execute(&pool).await?;
                sqlx::query(FORGET_DAYS).execute(&pool).await?;
            }
            for table in [
                "operations",
                "customers",
                "accounts",
                "lots",
                "analytics_days",
            ] {
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
                connection.execute(FORGET_DAYS, [])?;
                Ok(())
            })
            .await??;
        }
    }
    Ok(())
}
