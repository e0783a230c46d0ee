//! `kopilka bench --scenario batch` (a Loymax batch accrual of `--rows` rows, streamed over
//! HTTP: rows per second and the process's peak memory) and `--scenario purchase` (the full
//! Loymax purchase cycle from `--clients` clients: cycles per second and p99).

use crate::bench::{BenchArgs, StoreChoice};
use crate::config::Config;
use crate::server;
use anyhow::{anyhow, bail, Context};
use kopilka_domain::program::ProgramRules;
use kopilka_store::entities::NewCustomer;
use kopilka_store::{PgStore, SharedStore};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BATCH_KEY: &str = "kopilka-bench-batch-key";

#[derive(Debug, Serialize)]
pub struct BatchReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub rows: usize,
    pub customers: usize,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub peak_rss_mb: f64,
    pub status: i64,
}

/// A fresh store for a bench run, with the program's rules and settings.
pub(crate) async fn fresh_store(
    args: &BenchArgs,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(SharedStore, String)> {
    Ok(match args.store {
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
    })
}

/// Creates a program with `settings`, a merchant and `customers` members numbered `M0000001`….
pub(crate) async fn seed(
    store: &SharedStore,
    rules: ProgramRules,
    settings: serde_json::Value,
    customers: usize,
    opening_balance: i64,
) -> anyhow::Result<(i64, i64, Vec<i64>)> {
    let (program, merchant) = store
        .write(move |tx| {
            Box::pin(async move {
                let p = tx
                    .create_program("bench", "Bench", &rules, &settings)
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
                        let mut new = NewCustomer::active(program, Some(format!("7900{i:07}")));
                        new.member_no = Some(member_no(i));
                        let id = tx.create_customer(&new).await?.id;
                        if opening_balance > 0 {
                            kopilka_store::ledger::execute(
                                tx,
                                kopilka_store::ledger::LedgerRequest {
                                    program_id: program,
                                    currency: "BONUS".into(),
                                    merchant_id: None,
                                    protocol: "bench".into(),
                                    idempotency: None,
                                    description: None,
                                    details: serde_json::json!({}),
                                    action: kopilka_store::ledger::Action::Credit {
                                        kind: kopilka_domain::ledger::OperationKind::Accrue,
                                        customer_id: id,
                                        amount: kopilka_domain::Amount(opening_balance),
                                        expires_at: None,
                                    },
                                },
                            )
                            .await?;
                        }
                        ids.push(id);
                    }
                    Ok(ids)
                })
            })
            .await?;
        ids.extend(batch);
        next += count;
    }
    Ok((program, merchant, ids))
}

fn member_no(i: usize) -> String {
    format!("M{i:07}")
}

pub(crate) async fn start(store: SharedStore, database: String) -> anyhow::Result<server::Running> {
    server::start_with_store(
        Config {
            listen: "127.0.0.1:0".parse()?,
            database,
            admin_token: Some(crate::secrets::random_token(16)),
            jobs_interval_secs: 3600,
            seal_key: Some(crate::secrets::Sealer::generate_key()),
            ..Config::default()
        },
        store,
    )
    .await
}

/// The process's peak resident memory (`VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

pub async fn batch(args: BenchArgs) -> anyhow::Result<()> {
    if args.rows == 0 {
        bail!("--rows must be positive");
    }
    let dir = tempfile::tempdir()?;
    let (store, database) = fresh_store(&args, &dir).await?;
    let customers = args.customers.max(1);
    let (_, merchant, _) = seed(
        &store,
        ProgramRules::default(),
        serde_json::json!({}),
        customers,
        0,
    )
    .await?;
    crate::loymax_processing::batch::add_key(&store, merchant, BATCH_KEY)
        .await
        .map_err(|e| anyhow!("batch key: {e:?}"))?;
    let running = start(store, database).await?;
    let started = Instant::now();
    let answer = send_batch(running.addr, args.rows, customers).await?;
    let seconds = started.elapsed().as_secs_f64();
    running.shutdown().await;
    let status = answer["status"].as_i64().unwrap_or(-1);
    if status != 0 {
        bail!("the batch was refused: {answer}");
    }
    let report = BatchReport {
        scenario: "batch",
        store: args.store,
        rows: args.rows,
        customers,
        seconds: round2(seconds),
        rows_per_s: (args.rows as f64 / seconds).round(),
        peak_rss_mb: peak_rss_mb(),
        status,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario batch on {:?}: {} rows over {} customers in {:.2} s: {:.0} rows/s, peak RSS {:.1} MB",
            report.store, report.rows, report.customers, report.seconds, report.rows_per_s, report.peak_rss_mb
        );
    }
    Ok(())
}

/// Streams a generated request of `rows` rows with chunked transfer encoding (never held in
/// memory whole) and returns the answer.
async fn send_batch(
    addr: std::net::SocketAddr,
    rows: usize,
    customers: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /batchoperations/v1/requests HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {BATCH_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut chunk = String::with_capacity(1 << 20);
    chunk.push_str(
        r#"{"requestId": "bench-1", "type": 2, "accrueDescription": "bench", "accrue": ["#,
    );
    for i in 0..rows {
        if i > 0 {
            chunk.push(',');
        }
        let points = 100 + (i % 900);
        chunk.push_str(&format!(
            r#"{{"memberNo": "{}", "Description": "bench row {i}", "operationDate": "2013-08-14 12:26:14", "merchantName": "Bench Shop", "transactionAmount": {}.{:02}, "pointsAmount": {}.{:02}}}"#,
            member_no((i * 7919) % customers),
            points,
            i % 100,
            points / 100,
            points % 100
        ));
        if chunk.len() > (1 << 20) - 512 {
            write_chunk(&mut stream, &chunk).await?;
            chunk.clear();
        }
    }
    chunk.push_str("]}");
    write_chunk(&mut stream, &chunk).await?;
    stream.write_all(b"0\r\n\r\n").await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| anyhow!("malformed HTTP answer"))?;
    // The answer is small: one chunk, or a plain body.
    let json = body
        .find('{')
        .and_then(|start| body.rfind('}').map(|end| &body[start..=end]))
        .ok_or_else(|| anyhow!("no JSON in the answer: {text}"))?;
    serde_json::from_str(json).context("the batch answer")
}

async fn write_chunk(stream: &mut tokio::net::TcpStream, chunk: &str) -> anyhow::Result<()> {
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await?;
    stream.write_all(chunk.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    Ok(())
}

pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub async fn purchase(_args: BenchArgs) -> anyhow::Result<()> {
    bail!("the purchase scenario needs the processing endpoints")
}
