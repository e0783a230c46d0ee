//! `kopilka bench --scenario history`: one customer with 100,000 operations (seeded as one
//! Loymax batch accrual) and their history as the native API pages it,
//! `GET /v1/operations?customer_id=…`: the newest page, a page in the middle (by its cursor)
//! and the newest page of one program among a big database's operations, each timed one
//! request after another (p50, p99).

use super::analytics::{beside_the_server, seeded, timed, Seeded};
use super::loymax::{drop_schema, round2};
use super::{BenchArgs, StoreChoice};
use anyhow::anyhow;
use serde::Serialize;

/// The customer's operations.
const OPERATIONS: usize = 100_000;
/// Requests of each page: enough that p99 is not simply the slowest one (with 30 it was), but
/// the tenth slowest.
const REQUESTS: usize = 1_000;

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub operations: usize,
    pub seed_seconds: f64,
    pub requests: usize,
    pub newest_page_p50_ms: f64,
    pub newest_page_p99_ms: f64,
    pub middle_page_p50_ms: f64,
    pub middle_page_p99_ms: f64,
    /// The program's newest page (`?program_id=`), all of its operations the customer's.
    pub program_page_p50_ms: f64,
    pub program_page_p99_ms: f64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let args = BenchArgs {
        rows: OPERATIONS,
        customers: 1,
        ..args
    };
    let Seeded {
        running,
        program,
        token,
        database,
        schema,
        seed_seconds,
        dir: _dir,
        ..
    } = seeded(&args).await?;
    beside_the_server(&args, &database, schema.as_deref(), None).await?;
    let base = format!("http://{}/v1/operations", running.addr);
    let newest: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}?program_id={program}&limit=1"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let customer = newest["items"][0]["customer_id"]
        .as_i64()
        .ok_or_else(|| anyhow!("no operation in the seeded program: {newest}"))?;
    let middle_cursor = newest["items"][0]["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("an operation without id: {newest}"))?
        - OPERATIONS as i64 / 2;
    let newest_page = timed(&format!("{base}?customer_id={customer}"), &token, REQUESTS).await?;
    let middle_page = timed(
        &format!("{base}?customer_id={customer}&cursor={middle_cursor}"),
        &token,
        REQUESTS,
    )
    .await?;
    let program_page = timed(&format!("{base}?program_id={program}"), &token, REQUESTS).await?;
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let report = HistoryReport {
        scenario: "history",
        store: args.store,
        operations: OPERATIONS,
        seed_seconds: round2(seed_seconds),
        requests: REQUESTS,
        newest_page_p50_ms: newest_page.p50,
        newest_page_p99_ms: newest_page.p99,
        middle_page_p50_ms: middle_page.p50,
        middle_page_p99_ms: middle_page.p99,
        program_page_p50_ms: program_page.p50,
        program_page_p99_ms: program_page.p99,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario history on {:?}: a customer with {} operations (seeded in {:.1} s); {} requests each: newest page p50 {:.2} ms, p99 {:.2} ms; middle page p50 {:.2} ms, p99 {:.2} ms; the program's newest page p50 {:.2} ms, p99 {:.2} ms",
            report.store, report.operations, report.seed_seconds, report.requests,
            report.newest_page_p50_ms, report.newest_page_p99_ms, report.middle_page_p50_ms,
            report.middle_page_p99_ms, report.program_page_p50_ms, report.program_page_p99_ms
        );
    }
    Ok(())
}
