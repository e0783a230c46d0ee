//! `kopilka bench --scenario batch` (a Loymax batch accrual of `--rows` rows, streamed over
//! HTTP: rows per second and the process's peak memory) and `--scenario purchase` (the full
//! Loymax purchase cycle from `--clients` clients: cycles per second and p99).

use crate::bench::{drive, BenchArgs, Driven, Load, StoreChoice, Workload};
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

/// A fresh store for a bench run: a SQLite file in `dir`, or a PostgreSQL schema of its own
/// (its name returned, to drop once the run is over).
pub(crate) async fn fresh_store(
    args: &BenchArgs,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(SharedStore, String, Option<String>)> {
    Ok(match args.store {
        StoreChoice::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (kopilka_store::open(&url).await?, url, None)
        }
        StoreChoice::Postgres => {
            let url = args.postgres_url.clone().ok_or_else(|| {
                anyhow!("--postgres-url or KOPILKA_TEST_POSTGRES_URL is required")
            })?;
            let schema = format!("bench_{}", crate::secrets::random_token(6));
            (
                Arc::new(PgStore::open(&url, Some(&schema)).await?),
                url,
                Some(schema),
            )
        }
    })
}

/// Drops a bench run's PostgreSQL schema (a million-row run leaves gigabytes).
pub(crate) async fn drop_schema(args: &BenchArgs, schema: Option<String>) -> anyhow::Result<()> {
    let (Some(schema), Some(url)) = (schema, &args.postgres_url) else {
        return Ok(());
    };
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
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
    let (store, database, schema) = fresh_store(&args, &dir).await?;
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
    drop_schema(&args, schema).await?;
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

#[derive(Debug, Serialize)]
pub struct PurchaseReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub clients: usize,
    pub customers: usize,
    pub duration_s: u64,
    pub cycles: u64,
    pub errors: u64,
    pub cycles_per_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU the load generator used during the measured window, in % of one core.
    pub client_cpu_pct: Option<f64>,
    /// CPU the rest of the process (kopilka, its store threads) used, in % of one core.
    pub kopilka_cpu_pct: Option<f64>,
    pub peak_rss_mb: f64,
    /// The first error seen, for diagnosis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The demo program's purchase rules: 10 % discount, half payable with points, 10 % earned.
fn purchase_settings() -> serde_json::Value {
    serde_json::json!({"loymax_processing": {"rules": {
        "discounts": [{"name": "10%", "lines": {"by": "all"}, "size": {"percent": 1000}}],
        "max_bonus_payment_bps": 5000,
        "earn_bps": 1000
    }}})
}

pub async fn purchase(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.duration == 0 {
        bail!("--clients and --duration must be positive");
    }
    let dir = tempfile::tempdir()?;
    let (store, database, schema) = fresh_store(&args, &dir).await?;
    // Each customer gets a token over HTTP: a thousand spread the load enough.
    let customers = args.customers.clamp(1, 1000);
    let (_, merchant, ids) = seed(
        &store,
        ProgramRules::default(),
        purchase_settings(),
        customers,
        100_000_000,
    )
    .await?;
    let running = start(store, database).await?;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let admin = running.admin_token.clone();
    let application: serde_json::Value = http
        .post(format!("{base}/v1/loymax/applications"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"merchant_id": merchant}))
        .send()
        .await?
        .json()
        .await?;
    let client_id = application["client_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no application: {application}"))?
        .to_string();
    let mut tokens = Vec::with_capacity(ids.len());
    for id in ids {
        let token: serde_json::Value = http
            .post(format!("{base}/v1/loymax/applications/{client_id}/tokens"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"customer_id": id}))
            .send()
            .await?
            .json()
            .await?;
        tokens.push(
            token["access_token"]
                .as_str()
                .ok_or_else(|| anyhow!("no token: {token}"))?
                .to_string(),
        );
    }
    let driven = drive(Load {
        addr: running.addr,
        clients: args.clients,
        warmup: std::time::Duration::from_secs(args.warmup),
        duration: std::time::Duration::from_secs(args.duration),
        workload: Arc::new(Purchases {
            addr: running.addr,
            tokens,
        }),
    })
    .await;
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let Driven {
        operations: cycles,
        errors,
        mut latencies,
        client_cpu_s,
        process_cpu_s,
        first_error,
    } = driven?;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64 / 1000.0
    };
    let window = args.duration as f64;
    let cycles_per_s = cycles as f64 / window;
    let report = PurchaseReport {
        scenario: "purchase",
        store: args.store,
        clients: args.clients,
        customers,
        duration_s: args.duration,
        cycles,
        errors,
        cycles_per_s: round2(cycles_per_s),
        requests_per_s: round2(cycles_per_s * 4.0),
        p50_ms: round2(pct(0.50)),
        p99_ms: round2(pct(0.99)),
        client_cpu_pct: client_cpu_s.map(|c| round2(100.0 * c / window)),
        kopilka_cpu_pct: process_cpu_s
            .zip(client_cpu_s)
            .map(|(p, c)| round2(100.0 * (p - c).max(0.0) / window)),
        peak_rss_mb: peak_rss_mb(),
        first_error,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario purchase on {:?}: {} clients, {} s: {} cycles ({} errors), {:.0} cycles/s ({:.0} requests/s), cycle p50 {:.2} ms, p99 {:.2} ms",
            report.store, report.clients, report.duration_s, report.cycles, report.errors, report.cycles_per_s, report.requests_per_s, report.p50_ms, report.p99_ms
        );
        if let (Some(client), Some(server)) = (report.client_cpu_pct, report.kopilka_cpu_pct) {
            println!("  cpu: load generator {client:.0}% of a core, kopilka {server:.0}%");
        }
        if let Some(e) = &report.first_error {
            println!("  first error: {e}");
        }
    }
    Ok(())
}

/// Calculate → Payment → Bonus → Confirm, one purchase per unit, customers in turn.
struct Purchases {
    addr: std::net::SocketAddr,
    tokens: Vec<String>,
}

impl Workload for Purchases {
    fn requests(&self, client: usize, i: usize) -> Vec<String> {
        let token = &self.tokens[(i * 7919) % self.tokens.len()];
        let id = format!("b{client}-{i}");
        let line = |amount: f64| serde_json::json!({"lines": [{"position": 1, "amount": amount, "price": 100, "quantity": 1}]});
        [
            (
                "Calculate",
                serde_json::json!({"operationId": format!("{id}-c"), "cheque": line(85.0)}),
            ),
            (
                "Bonus/Payment",
                serde_json::json!({"operationId": format!("{id}-p"), "cheque": line(76.5), "amount": 10}),
            ),
            (
                "Bonus",
                serde_json::json!({"operationId": format!("{id}-b"), "cheque": line(76.5), "pays": [{"type": "Card", "amount": 66.5}, {"type": "Loymax", "amount": 10}]}),
            ),
            ("Confirm", serde_json::json!({"operationId": format!("{id}-f")})),
        ]
        .into_iter()
        .map(|(method, body)| {
            let body = body.to_string();
            format!(
                "POST /publicapi/v1.2/Processing/Purchases/{id}/{method} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                self.addr,
                body.len()
            )
        })
        .collect()
    }

    fn refusal(&self, body: &[u8]) -> Option<String> {
        let answer: serde_json::Value = match serde_json::from_slice(body) {
            Ok(answer) => answer,
            Err(e) => return Some(format!("not JSON: {e}")),
        };
        (answer["data"][0]["code"] != "Ok").then(|| answer.to_string())
    }
}
