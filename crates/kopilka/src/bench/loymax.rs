//! `kopilka bench --scenario batch` (a Loymax batch accrual of `--rows` rows, streamed over
//! HTTP: rows per second and the process's peak memory) and `--scenario purchase` (the full
//! Loymax purchase cycle from `--clients` clients: cycles per second and p99).

use super::{drive, member_no, seed, BenchArgs, Driven, Load, StoreChoice, Workload};
use crate::config::Config;
use crate::server;
use anyhow::{anyhow, bail, Context};
use kopilka_domain::cheque::{LineFilter, Quantity};
use kopilka_domain::ids::{OfferId, ProgramId};
use kopilka_domain::money::Rounding;
use kopilka_domain::offers::{
    Action, Base, Cap, Condition, Discount, Limit, LimitScope, Offer, Period, Points, TriggerKind,
};
use kopilka_domain::program::ProgramRules;
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
    /// The bare database doing the same writes (`reference_batch`); null with `--no-pgbench`.
    pub reference_rows_per_s: Option<f64>,
    /// rows_per_s ÷ reference_rows_per_s.
    pub ratio: Option<f64>,
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

/// Writes PostgreSQL's dirty pages out before a timed batch run (kopilka's and the reference's
/// alike), so neither pays for the pages of what ran before it — the reference runs right
/// after kopilka's million rows. A role that may not checkpoint (`pg_checkpoint`) skips it.
pub(crate) async fn checkpoint(args: &BenchArgs) -> anyhow::Result<()> {
    let (StoreChoice::Postgres, Some(url)) = (args.store, &args.postgres_url) else {
        return Ok(());
    };
    let pool = sqlx::PgPool::connect(url).await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&pool).await {
        tracing::warn!("bench: no checkpoint before the batch: {e}");
    }
    pool.close().await;
    Ok(())
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

pub(crate) async fn start(store: SharedStore, database: String) -> anyhow::Result<server::Running> {
    start_with_token(store, database, crate::secrets::random_token(16)).await
}

/// A server whose admin token is `admin_token`.
pub(crate) async fn start_with_token(
    store: SharedStore,
    database: String,
    admin_token: String,
) -> anyhow::Result<server::Running> {
    server::start_with_store(
        Config {
            listen: "127.0.0.1:0".parse()?,
            database,
            admin_token: Some(admin_token),
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
    crate::loymax::processing::batch::add_key(&store, merchant, BATCH_KEY)
        .await
        .map_err(|e| anyhow!("batch key: {e:?}"))?;
    let running = start(store, database).await?;
    checkpoint(&args).await?;
    let started = Instant::now();
    let answer = send_batch(running.addr, args.rows, customers).await?;
    let seconds = started.elapsed().as_secs_f64();
    running.shutdown().await;
    drop_schema(&args, schema).await?;
    let status = answer["status"].as_i64().unwrap_or(-1);
    if status != 0 {
        bail!("the batch was refused: {answer}");
    }
    let rows_per_s = (args.rows as f64 / seconds).round();
    let peak_rss_mb = peak_rss_mb();
    let reference_rows_per_s = if args.no_pgbench {
        None
    } else {
        Some(reference_batch(&args, args.rows, customers).await?)
    };
    let report = BatchReport {
        scenario: "batch",
        store: args.store,
        rows: args.rows,
        customers,
        seconds: round2(seconds),
        rows_per_s,
        peak_rss_mb,
        status,
        reference_rows_per_s,
        ratio: reference_rows_per_s.map(|r| round2(rows_per_s / r)),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario batch on {:?}: {} rows over {} customers in {:.2} s: {:.0} rows/s, peak RSS {:.1} MB; the bare database: {}",
            report.store, report.rows, report.customers, report.seconds, report.rows_per_s, report.peak_rss_mb,
            report.reference_rows_per_s.map_or("not run".into(), |r| format!("{r:.0} rows/s"))
        );
    }
    Ok(())
}

/// Streams a generated request of `rows` rows with chunked transfer encoding (never held in
/// memory whole) and returns the answer.
pub(crate) async fn send_batch(
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
    /// Offers active in the program (`--offers`).
    pub offers: usize,
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

/// Offers active in a program that a bench cheque triggers but never satisfies: each on goods,
/// a group or a coupon of its own (Loymax's recommended maximum is 1,000), a quarter with a
/// monthly limit, priorities spread. What they cost is the evaluation of offers that cannot
/// apply: the case of a real program, whose offers each target a few goods.
fn bench_offers(count: usize) -> Vec<Offer> {
    (1..=count as i64)
        .map(|id| {
            let goods = LineFilter::GoodsId(format!("goods-{id}"));
            let lines = Condition::Lines {
                lines: goods.clone(),
                min_quantity: Quantity::one(),
            };
            let (cumulative, conditions, actions, limits) = match id % 4 {
                0 => (
                    false,
                    vec![lines],
                    vec![Action::LineDiscount {
                        lines: goods,
                        discount: Discount::Percent {
                            bps: 500,
                            rounding: Rounding::HalfUp,
                        },
                    }],
                    Vec::new(),
                ),
                1 => (
                    true,
                    vec![lines],
                    vec![Action::Accrue {
                        points: Points::PercentOfLines {
                            lines: goods,
                            bps: 200,
                            of: Base::PaidWithMoney,
                            rounding: Rounding::HalfUp,
                        },
                    }],
                    vec![Limit {
                        scope: LimitScope::Customer,
                        period: Period::Month,
                        cap: Cap::Points(100_000),
                    }],
                ),
                2 => (
                    false,
                    vec![Condition::Coupon {
                        code: format!("COUPON-{id}"),
                    }],
                    vec![Action::LineDiscount {
                        lines: LineFilter::All,
                        discount: Discount::Fixed { amount: 100 },
                    }],
                    Vec::new(),
                ),
                _ => (
                    true,
                    vec![Condition::Lines {
                        lines: LineFilter::Group(format!("group-{id}")),
                        min_quantity: Quantity::one(),
                    }],
                    vec![Action::Accrue {
                        points: Points::Fixed { points: 100 },
                    }],
                    Vec::new(),
                ),
            };
            Offer {
                id: OfferId(id),
                version: 1,
                name: format!("bench offer {id}"),
                effective_from: 0,
                effective_to: None,
                cumulative,
                priority: (id % 10) as i32,
                weight: 0,
                triggers: vec![TriggerKind::Cheque],
                conditions,
                actions,
                limits,
            }
        })
        .collect()
}

/// The purchase scenario; with `--offers N`, run twice — without offers, then with N — and
/// report both and the ratio of their cycles per second.
pub async fn purchase(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.duration == 0 {
        bail!("--clients and --duration must be positive");
    }
    if args.offers == 0 {
        let report = purchase_run(&args, 0).await?;
        return print_purchase(&args, &report);
    }
    let without = purchase_run(&args, 0).await?;
    print_purchase(&args, &without)?;
    let with = purchase_run(&args, args.offers).await?;
    print_purchase(&args, &with)?;
    let ratio = if without.cycles_per_s > 0.0 {
        round2(with.cycles_per_s / without.cycles_per_s)
    } else {
        0.0
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({"scenario": "purchase_offers", "offers": args.offers, "ratio": ratio})
        );
    } else {
        println!(
            "with {} offers: {:.0} cycles/s against {:.0} without: ratio {ratio:.2}",
            args.offers, with.cycles_per_s, without.cycles_per_s
        );
    }
    Ok(())
}

async fn purchase_run(args: &BenchArgs, offers: usize) -> anyhow::Result<PurchaseReport> {
    let dir = tempfile::tempdir()?;
    let (store, database, schema) = fresh_store(args, &dir).await?;
    // Each customer gets a token over HTTP: a thousand spread the load enough.
    let customers = args.customers.clamp(1, 1000);
    let (program, merchant, ids) = seed(
        &store,
        ProgramRules::default(),
        purchase_settings(),
        customers,
        100_000_000,
    )
    .await?;
    let active = bench_offers(offers);
    store
        .write(move |tx| {
            Box::pin(async move {
                for offer in &active {
                    tx.create_offer(ProgramId(program), offer).await?;
                }
                Ok(())
            })
        })
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
        addrs: vec![running.addr],
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
    drop_schema(args, schema).await?;
    let Driven {
        operations: cycles,
        errors,
        mut latencies,
        client_cpu_s,
        process_cpu_s,
        first_error,
    } = driven?;
    let pct = super::percentiles(&mut latencies);
    let window = args.duration as f64;
    let cycles_per_s = cycles as f64 / window;
    Ok(PurchaseReport {
        scenario: "purchase",
        offers,
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
    })
}

fn print_purchase(args: &BenchArgs, report: &PurchaseReport) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!(
            "scenario purchase on {:?} with {} offers: {} clients, {} s: {} cycles ({} errors), {:.0} cycles/s ({:.0} requests/s), cycle p50 {:.2} ms, p99 {:.2} ms",
            report.store, report.offers, report.clients, report.duration_s, report.cycles, report.errors, report.cycles_per_s, report.requests_per_s, report.p50_ms, report.p99_ms
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
        let line = |amount: f64| serde_json::json!({"lines": [{"position": 1, "amount": amount, "price": 100, "quantity": 1, "goodsId": "g1", "group": "dairy"}]});
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

/// The bare database doing the batch's writes, for reference: the same rows (an operation and
/// its two postings each, with the same columns and sizes), one balance update, one lot and
/// one history count per account, in one durable transaction without foreign-key checks, as
/// kopilka's bulk job runs, after a checkpoint as kopilka's run.
/// No HTTP, no parsing, no checks: what the store alone costs. Returns rows per second.
async fn reference_batch(args: &BenchArgs, rows: usize, customers: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (store, url, schema) = fresh_store(args, &dir).await?;
    let (program, merchant, ids) = seed(
        &store,
        ProgramRules::default(),
        serde_json::json!({}),
        customers,
        0,
    )
    .await?;
    store.close().await;
    checkpoint(args).await?;
    let seconds = match schema.clone() {
        None => {
            let path = url.trim_start_matches("sqlite://").to_string();
            tokio::task::spawn_blocking(move || {
                reference_sqlite(&path, program, merchant, &ids, rows)
            })
            .await??
        }
        Some(schema) => reference_postgres(&url, &schema, program, merchant, &ids, rows).await?,
    };
    drop_schema(args, schema).await?;
    Ok((rows as f64 / seconds).round())
}

/// Row `i` of the reference (as `send_batch` makes it): its customer's position and points.
fn reference_row(i: usize, customers: usize) -> (usize, i64) {
    ((i * 7919) % customers, (100 + i % 900) as i64)
}

/// Row `i`'s description and details, as kopilka stores them.
fn reference_text(i: usize, customer: usize) -> (String, String) {
    let details = format!(
        r#"{{"source":"loymax_batch","request_id":"bench-1","type":2,"purpose":"purchase","member_no":"{}","operation_date":"2013-08-14 12:26:14","merchant_name":"Bench Shop","transaction_amount":"{}.{:02}"}}"#,
        member_no(customer),
        100 + i % 900,
        i % 100
    );
    (format!("bench row {i}"), details)
}

const REFERENCE_ACCOUNTS: &str = "INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) SELECT program_id, 'BONUS', 'customer', id, 0, 0 FROM customers UNION ALL SELECT $1, 'BONUS', 'issuance', 0, 0, 0 ON CONFLICT DO NOTHING";
const REFERENCE_ACCOUNT_IDS: &str =
    "SELECT owner_kind, owner_id, id FROM accounts WHERE program_id = $1";

fn reference_sqlite(
    path: &str,
    program: i64,
    merchant: i64,
    customers: &[i64],
    rows: usize,
) -> anyhow::Result<f64> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -64000; \
         PRAGMA wal_autocheckpoint = 0;",
    )?;
    conn.execute(&REFERENCE_ACCOUNTS.replace("$1", "?1"), [program])?;
    let (issuance, accounts) = {
        let mut statement = conn.prepare(&REFERENCE_ACCOUNT_IDS.replace("$1", "?1"))?;
        let found = statement
            .query_map([program], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        reference_accounts(found, customers)?
    };
    let started = Instant::now();
    let now = kopilka_store::now_ms();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut totals = vec![(0i64, None::<i64>, 0i64); customers.len()];
    {
        let mut operation = conn.prepare("INSERT INTO operations (uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, protocol, description, details, created_at) VALUES (?1, ?2, 'BONUS', 'earn', 'confirmed', ?3, 0, ?4, ?5, 'loymax', ?6, ?7, ?8)")?;
        let mut posting = conn.prepare(
            "INSERT INTO postings (operation_id, account_id, amount, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in 0..rows {
            let (customer, points) = reference_row(i, customers.len());
            let (description, details) = reference_text(i, customer);
            operation.execute(rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                program,
                points,
                customers[customer],
                merchant,
                description,
                details,
                now
            ])?;
            let id = conn.last_insert_rowid();
            posting.execute(rusqlite::params![id, accounts[customer], points, now])?;
            posting.execute(rusqlite::params![id, issuance, -points, now])?;
            totals[customer].0 += points;
            totals[customer].1.get_or_insert(id);
            totals[customer].2 += 1;
        }
        let mut balance =
            conn.prepare("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2")?;
        let mut lot = conn.prepare("INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) VALUES (?1, ?2, ?2, NULL, ?3, ?4)")?;
        // The customer's history count, as kopilka keeps it with every confirmed operation.
        let mut count = conn.prepare("INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) VALUES (?1, 'earn', '', ?2) ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n")?;
        for (customer, (total, origin, rows)) in totals.iter().enumerate() {
            if let Some(origin) = origin {
                balance.execute(rusqlite::params![total, accounts[customer]])?;
                lot.execute(rusqlite::params![accounts[customer], total, origin, now])?;
                count.execute(rusqlite::params![customers[customer], rows])?;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(started.elapsed().as_secs_f64())
}

/// The issuance account and each customer's account, in `customers`' order.
fn reference_accounts(
    found: Vec<(String, i64, i64)>,
    customers: &[i64],
) -> anyhow::Result<(i64, Vec<i64>)> {
    let mut by_owner = std::collections::HashMap::new();
    let mut issuance = None;
    for (kind, owner, id) in found {
        match kind.as_str() {
            "issuance" => issuance = Some(id),
            "customer" => {
                by_owner.insert(owner, id);
            }
            _ => {}
        }
    }
    let accounts = customers
        .iter()
        .map(|c| {
            by_owner
                .get(c)
                .copied()
                .ok_or_else(|| anyhow!("no account"))
        })
        .collect::<anyhow::Result<Vec<i64>>>()?;
    Ok((
        issuance.ok_or_else(|| anyhow!("no issuance account"))?,
        accounts,
    ))
}

/// The same on PostgreSQL through COPY, its fastest way in, with the foreign-key triggers off
/// as in kopilka's bulk job (when the role may turn them off).
async fn reference_postgres(
    url: &str,
    schema: &str,
    program: i64,
    merchant: i64,
    customers: &[i64],
    rows: usize,
) -> anyhow::Result<f64> {
    use sqlx::{Connection, Executor};
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)?
        .options([("search_path", schema)]);
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    sqlx::query(REFERENCE_ACCOUNTS)
        .bind(program)
        .execute(&mut conn)
        .await?;
    let found: Vec<(String, i64, i64)> = sqlx::query_as(REFERENCE_ACCOUNT_IDS)
        .bind(program)
        .fetch_all(&mut conn)
        .await?;
    let (issuance, accounts) = reference_accounts(found, customers)?;
    let started = Instant::now();
    let now = kopilka_store::now_ms();
    conn.execute("BEGIN").await?;
    if conn
        .execute(
            "SAVEPOINT bulk; SET LOCAL session_replication_role = replica; RELEASE SAVEPOINT bulk",
        )
        .await
        .is_err()
    {
        conn.execute("ROLLBACK TO SAVEPOINT bulk; RELEASE SAVEPOINT bulk")
            .await?;
    }
    let first: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('operations', 'id'))")
            .fetch_one(&mut conn)
            .await?;
    sqlx::query("SELECT setval(pg_get_serial_sequence('operations', 'id'), $1)")
        .bind(first + rows as i64)
        .execute(&mut conn)
        .await?;
    let mut totals = vec![(0i64, None::<i64>, 0i64); customers.len()];
    let mut copy = conn
        .copy_in_raw("COPY operations (id, uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, protocol, description, details, created_at) FROM STDIN")
        .await?;
    let mut buffer = String::with_capacity(1 << 20);
    for i in 0..rows {
        let (customer, points) = reference_row(i, customers.len());
        let (description, details) = reference_text(i, customer);
        let id = first + i as i64;
        buffer.push_str(&format!(
            "{id}\t{}\t{program}\tBONUS\tearn\tconfirmed\t{points}\t0\t{}\t{merchant}\tloymax\t{description}\t{details}\t{now}\n",
            uuid::Uuid::now_v7(),
            customers[customer]
        ));
        totals[customer].0 += points;
        totals[customer].1.get_or_insert(id);
        totals[customer].2 += 1;
        if buffer.len() > (1 << 20) - 1024 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    copy.send(buffer.as_bytes()).await?;
    copy.finish().await?;
    buffer.clear();
    let mut copy = conn
        .copy_in_raw("COPY postings (operation_id, account_id, amount, created_at) FROM STDIN")
        .await?;
    for i in 0..rows {
        let (customer, points) = reference_row(i, customers.len());
        let id = first + i as i64;
        buffer.push_str(&format!(
            "{id}\t{}\t{points}\t{now}\n{id}\t{issuance}\t{}\t{now}\n",
            accounts[customer], -points
        ));
        if buffer.len() > (1 << 20) - 1024 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    copy.send(buffer.as_bytes()).await?;
    copy.finish().await?;
    let credited: Vec<(usize, i64, i64, i64)> = totals
        .iter()
        .enumerate()
        .filter_map(|(c, (total, origin, rows))| origin.map(|o| (c, *total, o, *rows)))
        .collect();
    let ids: Vec<i64> = credited.iter().map(|c| accounts[c.0]).collect();
    let owners: Vec<i64> = credited.iter().map(|c| customers[c.0]).collect();
    let sums: Vec<i64> = credited.iter().map(|c| c.1).collect();
    let origins: Vec<i64> = credited.iter().map(|c| c.2).collect();
    let counts: Vec<i64> = credited.iter().map(|c| c.3).collect();
    sqlx::query("UPDATE accounts a SET balance = a.balance + t.total FROM unnest($1::bigint[], $2::bigint[]) AS t(id, total) WHERE a.id = t.id")
        .bind(&ids)
        .bind(&sums)
        .execute(&mut conn)
        .await?;
    sqlx::query("INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) SELECT t.id, t.total, t.total, NULL, t.origin, $1 FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS t(id, total, origin)")
        .bind(now)
        .bind(&ids)
        .bind(&sums)
        .bind(&origins)
        .execute(&mut conn)
        .await?;
    sqlx::query("INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) SELECT t.customer, 'earn', '', t.n FROM unnest($1::bigint[], $2::bigint[]) AS t(customer, n) ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n")
        .bind(&owners)
        .bind(&counts)
        .execute(&mut conn)
        .await?;
    conn.execute("COMMIT").await?;
    let seconds = started.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(seconds)
}
