//! `kopilka bench`: kopilka on a fresh store driven with earn operations over HTTP on loopback,
//! side by side with `pgbench -b simple-update` (the bare database doing comparable work: one
//! balance update and one history insert per durable transaction) on the same machine.
//!
//! The load generator is deliberately light — plain HTTP/1.1 keep-alive connections on one
//! thread of its own, whose CPU time is measured and reported — so that on a small machine it
//! takes as little as possible from the server it measures.

mod analytics;
mod export;
mod history;
mod loymax;

use crate::config::Config;
use crate::server;
use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use kopilka_domain::ids::CustomerId;
use kopilka_domain::ledger::{OperationKind, Owner};
use kopilka_domain::program::ProgramRules;
use kopilka_store::entities::NewCustomer;
use kopilka_store::{ledger, PgStore, SharedStore};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreChoice {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreChoice,
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of the same load before measuring (connections open, caches warm); not counted.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// PostgreSQL for the postgres store and for pgbench.
    #[arg(long, env = "KOPILKA_TEST_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Customers the operations are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Skip the reference run: pgbench (earn), the bare database doing the same writes (batch).
    #[arg(long)]
    pub no_pgbench: bool,
    #[arg(long)]
    pub json: bool,
    /// earn (native API), purchase (the Loymax purchase cycle), batch (a Loymax batch accrual),
    /// analytics (a program's analytics over `--rows` operations), export (its operations
    /// exported as CSV and XLSX) or history (a customer's 100,000 operations paged).
    #[arg(long, default_value = "earn")]
    pub scenario: String,
    /// Rows of the batch scenario; operations of the analytics and export scenarios.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Offers active in the purchase scenario: it runs without offers, then with this many,
    /// and reports the ratio of the two.
    #[arg(long, default_value_t = 0)]
    pub offers: usize,
    /// Server processes on the one PostgreSQL database (earn): this process and `nodes - 1`
    /// `kopilka serve` children; the clients are spread over them and the sum is reported.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Skip the HTTP limit: the same clients against `/healthz`, a route without the store.
    #[arg(long)]
    pub no_http_limit: bool,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub scenario: &'static str,
    pub store: StoreChoice,
    pub clients: usize,
    pub duration_s: u64,
    /// Operations acknowledged within the measured window.
    pub operations: u64,
    /// Failed requests (non-2xx answers, broken connections, timeouts), warm-up included.
    pub errors: u64,
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU the load generator used during the measured window, in % of one core.
    pub client_cpu_pct: Option<f64>,
    /// CPU the rest of the process (kopilka, its store threads) used, in % of one core.
    pub kopilka_cpu_pct: Option<f64>,
    pub pgbench_tps: Option<f64>,
    pub pgbench_latency_ms: Option<f64>,
    pub pgbench_failed: Option<u64>,
    pub ratio: Option<f64>,
    /// Server processes that served the run (the sum of their operations is reported).
    pub nodes: usize,
    /// The same clients against `/healthz` on the same servers, right after the run: what
    /// HTTP alone allows on this machine.
    pub http_limit_rps: Option<f64>,
    pub http_limit_p99_ms: Option<f64>,
    pub ratio_to_http_limit: Option<f64>,
    /// The first error seen, for diagnosis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario.as_str() {
        "earn" => {}
        "batch" => return loymax::batch(args).await,
        "purchase" => return loymax::purchase(args).await,
        "analytics" => return analytics::run(args).await,
        "export" => return export::run(args).await,
        "history" => return history::run(args).await,
        other => {
            bail!("unknown scenario {other}: earn, purchase, batch, analytics, export or history")
        }
    }
    let report = measure(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario earn on {:?}: {} clients, {} s (after {} s warm-up)",
            report.store, report.clients, report.duration_s, args.warmup
        );
        println!(
            "  kopilka: {} ops ({} errors), {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms",
            report.operations, report.errors, report.ops_per_s, report.p50_ms, report.p99_ms
        );
        if let (Some(client), Some(server)) = (report.client_cpu_pct, report.kopilka_cpu_pct) {
            println!("  cpu: load generator {client:.0}% of a core, kopilka {server:.0}%");
        }
        if let Some(e) = &report.first_error {
            println!("  first error: {e}");
        }
        if let (Some(tps), Some(ratio)) = (report.pgbench_tps, report.ratio) {
            println!(
                "  pgbench -b simple-update: {tps:.0} tps, latency average {:.2} ms, {} failed",
                report.pgbench_latency_ms.unwrap_or(0.0),
                report.pgbench_failed.unwrap_or(0)
            );
            println!("  ratio kopilka / pgbench: {ratio:.2}");
        }
        if let (Some(rps), Some(ratio)) = (report.http_limit_rps, report.ratio_to_http_limit) {
            println!(
                "  HTTP limit (GET /healthz): {rps:.0} requests/s, p99 {:.2} ms; ratio kopilka / limit: {ratio:.2}",
                report.http_limit_p99_ms.unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// Runs kopilka under load (and pgbench unless told not to) and reports what it measured.
/// Fails if the ledger audit finds any account whose balance disagrees with its postings.
pub async fn measure(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    if args.clients == 0 || args.duration == 0 || args.customers == 0 || args.nodes == 0 {
        bail!("--clients, --duration, --customers and --nodes must be positive");
    }
    if args.nodes > 1 && !matches!(args.store, StoreChoice::Postgres) {
        bail!("--nodes above 1 needs --store postgres: nodes share one database");
    }
    let dir = tempfile::tempdir()?;
    let mut schema = None;
    let (store, database): (SharedStore, String) = match args.store {
        StoreChoice::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (kopilka_store::open(&url).await?, url)
        }
        StoreChoice::Postgres => {
            let url = postgres_url(args)?;
            let name = format!("bench_{}", crate::secrets::random_token(6));
            let store = PgStore::open(&url, Some(&name)).await?;
            schema = Some(name);
            (Arc::new(store), url)
        }
    };
    let rules = ProgramRules {
        earn_bps: 2000,
        ..ProgramRules::default()
    };
    let (_, merchant_id, customers) =
        seed(&store, rules, serde_json::json!({}), args.customers, 0).await?;
    let token = crate::secrets::random_token(16);
    let seal_key = crate::secrets::Sealer::generate_key();
    let running = server::start_with_store(
        Config {
            listen: "127.0.0.1:0".parse()?,
            database,
            admin_token: Some(token.clone()),
            jobs_interval_secs: 3600,
            seal_key: Some(seal_key.clone()),
            ..Config::default()
        },
        store,
    )
    .await?;
    let mut others = Vec::new();
    if let Some(schema) = &schema {
        for _ in 1..args.nodes {
            let url = schema_url(&postgres_url(args)?, schema);
            others.push(Node::spawn(&url, &token, &seal_key).await?);
        }
    }
    let nodes: Vec<SocketAddr> = std::iter::once(running.addr)
        .chain(others.iter().map(|node| node.addr))
        .collect();
    let load = Load {
        addrs: nodes.clone(),
        workload: Arc::new(Earns {
            addr: running.addr,
            token: token.clone(),
            merchant_id,
            customers,
        }),
        clients: args.clients,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    };
    let driven = drive(load).await;
    let limit = if args.no_http_limit {
        None
    } else {
        Some(http_limit(nodes, args).await?)
    };
    let audit = audit(running.addr, &token).await;
    for node in others {
        node.stop().await;
    }
    running.shutdown().await;
    if let Some(schema) = schema {
        drop_schema(&postgres_url(args)?, &schema).await?;
    }
    let mut driven = driven?;
    let mismatched = audit?;
    if !mismatched.is_empty() {
        bail!("the ledger audit after the run found mismatched accounts: {mismatched:?}");
    }

    let pct = percentiles(&mut driven.latencies);
    let ops_per_s = driven.operations as f64 / args.duration as f64;
    let window = args.duration as f64;
    let pgbench = if args.no_pgbench {
        None
    } else {
        Some(pgbench(&postgres_url(args)?, args.clients, args.duration).await?)
    };
    Ok(BenchReport {
        scenario: "earn",
        store: args.store,
        clients: args.clients,
        duration_s: args.duration,
        operations: driven.operations,
        errors: driven.errors,
        ops_per_s: round2(ops_per_s),
        p50_ms: round2(pct(0.50)),
        p99_ms: round2(pct(0.99)),
        client_cpu_pct: driven.client_cpu_s.map(|c| round2(100.0 * c / window)),
        kopilka_cpu_pct: driven
            .process_cpu_s
            .zip(driven.client_cpu_s)
            .map(|(p, c)| round2(100.0 * (p - c).max(0.0) / window)),
        pgbench_tps: pgbench.as_ref().map(|p| round2(p.tps)),
        pgbench_latency_ms: pgbench.as_ref().and_then(|p| p.latency_ms),
        pgbench_failed: pgbench.as_ref().map(|p| p.failed),
        ratio: pgbench.as_ref().map(|p| round2(ops_per_s / p.tps)),
        nodes: args.nodes,
        http_limit_rps: limit.map(|l| round2(l.rps)),
        http_limit_p99_ms: limit.map(|l| l.p99_ms),
        ratio_to_http_limit: limit.map(|l| round2(ops_per_s / l.rps)),
        first_error: driven.first_error,
    })
}

/// Sorts `latencies` (microseconds) and answers their percentiles in milliseconds.
pub(crate) fn percentiles(latencies: &mut [u32]) -> impl Fn(f64) -> f64 + '_ {
    latencies.sort_unstable();
    let latencies = &*latencies;
    move |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64 / 1000.0
    }
}

#[derive(Clone, Copy)]
struct HttpLimit {
    rps: f64,
    p99_ms: f64,
}

/// The same clients, for as long, against `GET /healthz` of the same servers: what the HTTP
/// path alone (connections, parsing, routing, the load generator) allows on this machine.
async fn http_limit(nodes: Vec<SocketAddr>, args: &BenchArgs) -> anyhow::Result<HttpLimit> {
    let mut driven = drive(Load {
        addrs: nodes,
        workload: Arc::new(HealthChecks),
        clients: args.clients,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    })
    .await?;
    if driven.errors > 0 {
        bail!(
            "the HTTP limit's health checks failed: {}",
            driven.first_error.unwrap_or_default()
        );
    }
    let rps = driven.operations as f64 / args.duration as f64;
    let pct = percentiles(&mut driven.latencies);
    Ok(HttpLimit {
        rps,
        p99_ms: round2(pct(0.99)),
    })
}

struct HealthChecks;

impl Workload for HealthChecks {
    fn requests(&self, _client: usize, _i: usize) -> Vec<String> {
        vec!["GET /healthz HTTP/1.1\r\nhost: kopilka\r\n\r\n".into()]
    }
}

/// A PostgreSQL URL whose connections use `schema`.
fn schema_url(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Another server process, `kopilka serve` on the bench's database.
struct Node {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl Node {
    async fn spawn(url: &str, token: &str, seal_key: &str) -> anyhow::Result<Node> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .env("KOPILKA_ADMIN_TOKEN", token)
            .env("KOPILKA_SEAL_KEY", seal_key)
            .env("KOPILKA_JOBS_INTERVAL_SECS", "3600")
            // The bench sends no texts; `serve` insists that a sender is chosen.
            .env("KOPILKA_SMS_SENDER", "log")
            .env("KOPILKA_EMAIL_SENDER", "log")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting another kopilka serve")?;
        let stdout = child.stdout.take().context("the node's output")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("kopilka listening on http://") {
                    return Ok(addr.trim().parse::<SocketAddr>()?);
                }
            }
            bail!("the other node exited before listening")
        })
        .await
        .context("the other node did not listen within 60 s")??;
        // Keep reading, so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Node { child, addr })
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM: a graceful shutdown, as an operator would stop it.
            let _ = tokio::process::Command::new("kill")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn postgres_url(args: &BenchArgs) -> anyhow::Result<String> {
    args.postgres_url.clone().ok_or_else(|| {
        anyhow!("PostgreSQL is needed: --postgres-url or KOPILKA_TEST_POSTGRES_URL (or --store sqlite --no-pgbench)")
    })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Creates a program with `rules` and `settings`, a merchant and `customers` members
/// (phones `7900…`, member numbers `M0000001`…), each with a points account holding
/// `opening_balance`, as every customer who has earned before has one: a run measures its
/// operations, not sign-ups.
pub(crate) async fn seed(
    store: &SharedStore,
    rules: ProgramRules,
    settings: serde_json::Value,
    customers: usize,
    opening_balance: i64,
) -> anyhow::Result<(i64, i64, Vec<i64>)> {
    let currency = rules.currency.clone();
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
        let currency = currency.clone();
        let batch = store
            .write(move |tx| {
                Box::pin(async move {
                    let mut ids = Vec::with_capacity(count);
                    for i in start..start + count {
                        let mut new = NewCustomer::active(program, Some(format!("7900{i:07}")));
                        new.member_no = Some(member_no(i));
                        let id = tx.create_customer(&new).await?.id;
                        if opening_balance > 0 {
                            ledger::execute(
                                tx,
                                ledger::LedgerRequest {
                                    program_id: program,
                                    currency: currency.clone(),
                                    merchant_id: None,
                                    protocol: "bench".into(),
                                    idempotency: None,
                                    description: None,
                                    details: serde_json::json!({}),
                                    action: ledger::Action::Credit {
                                        kind: OperationKind::Accrue,
                                        customer_id: id,
                                        amount: kopilka_domain::Amount(opening_balance),
                                        expires_at: None,
                                    },
                                },
                            )
                            .await?;
                        } else {
                            ledger::lock_account(tx, program, &currency, Owner::Customer(id))
                                .await?;
                        }
                        ids.push(id);
                    }
                    Ok(ids)
                })
            })
            .await?;
        ids.extend(batch.into_iter().map(|id: CustomerId| id.0));
        next += count;
    }
    Ok((program.0, merchant.0, ids))
}

/// The member number of bench customer `i`.
pub(crate) fn member_no(i: usize) -> String {
    format!("M{i:07}")
}

/// What the clients send. Unit `i` of a client is one request or several in order (a purchase
/// cycle); it counts, and its latency is measured, once every request of it succeeded.
pub(crate) trait Workload: Send + Sync + 'static {
    fn requests(&self, client: usize, i: usize) -> Vec<String>;
    /// Why a 2xx answer still failed, if it did.
    fn refusal(&self, _body: &[u8]) -> Option<String> {
        None
    }
}

pub(crate) struct Load {
    /// The servers; client `i` talks to `addrs[i % addrs.len()]`.
    pub addrs: Vec<SocketAddr>,
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub workload: Arc<dyn Workload>,
}

/// Earn after earn through the native API, customers in turn.
struct Earns {
    addr: SocketAddr,
    token: String,
    merchant_id: i64,
    customers: Vec<i64>,
}

impl Workload for Earns {
    fn requests(&self, client: usize, i: usize) -> Vec<String> {
        let customer = self.customers[(i * 7919) % self.customers.len()];
        let body = format!(
            r#"{{"kind":"earn","customer_id":{customer},"merchant_id":{},"paid":"100.00","idempotency_key":"bench-{client}-{i}"}}"#,
            self.merchant_id
        );
        vec![format!(
            "POST /v1/operations HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        )]
    }
}

pub(crate) struct Driven {
    pub operations: u64,
    pub errors: u64,
    /// Microseconds.
    pub latencies: Vec<u32>,
    pub client_cpu_s: Option<f64>,
    pub process_cpu_s: Option<f64>,
    pub first_error: Option<String>,
}

/// Runs the clients on a thread and a single-threaded runtime of their own (so their CPU time
/// can be told apart from kopilka's) and waits for them.
pub(crate) async fn drive(load: Load) -> anyhow::Result<Driven> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kopilka-bench-client".into())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(clients(load)));
            let _ = done.send(outcome);
        })?;
    result.await.context("the load generator stopped")?
}

struct ClientTally {
    operations: u64,
    errors: u64,
    latencies: Vec<u32>,
    first_error: Option<String>,
}

async fn clients(load: Load) -> anyhow::Result<Driven> {
    let measure_from = Instant::now() + load.warmup;
    let deadline = measure_from + load.duration;
    let load = Arc::new(load);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..load.clients {
        tasks.spawn(client_loop(load.clone(), client, measure_from, deadline));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_start = (thread_cpu_s(), process_cpu_s());
    let mut driven = Driven {
        operations: 0,
        errors: 0,
        latencies: Vec::new(),
        client_cpu_s: None,
        process_cpu_s: None,
        first_error: None,
    };
    tokio::time::sleep_until(deadline.into()).await;
    let cpu_end = (thread_cpu_s(), process_cpu_s());
    driven.client_cpu_s = cpu_start.0.zip(cpu_end.0).map(|(a, b)| b - a);
    driven.process_cpu_s = cpu_start.1.zip(cpu_end.1).map(|(a, b)| b - a);
    while let Some(tally) = tasks.join_next().await {
        let tally = tally?;
        driven.operations += tally.operations;
        driven.errors += tally.errors;
        driven.latencies.extend(tally.latencies);
        if driven.first_error.is_none() {
            driven.first_error = tally.first_error;
        }
    }
    Ok(driven)
}

/// One client: unit after unit on one keep-alive connection.
async fn client_loop(
    load: Arc<Load>,
    client: usize,
    measure_from: Instant,
    deadline: Instant,
) -> ClientTally {
    let mut tally = ClientTally {
        operations: 0,
        errors: 0,
        latencies: Vec::new(),
        first_error: None,
    };
    let mut connection: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(4096);
    let addr = load.addrs[client % load.addrs.len()];
    let mut i = client;
    while Instant::now() < deadline {
        let requests = load.workload.requests(client, i);
        let started = Instant::now();
        let mut failure = None;
        for request in &requests {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                exchange(&mut connection, addr, request.as_bytes(), &mut buffer),
            )
            .await;
            failure = match answer {
                Ok(Ok(status)) if (200..300).contains(&status) => load.workload.refusal(&buffer),
                Ok(Ok(status)) => Some(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&buffer)
                )),
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => {
                    connection = None;
                    Some("timed out after 30 s".into())
                }
            };
            if failure.is_some() {
                break;
            }
        }
        let finished = Instant::now();
        match failure {
            None if finished >= measure_from && finished <= deadline => {
                tally.operations += 1;
                tally
                    .latencies
                    .push((finished - started).as_micros().min(u32::MAX as u128) as u32);
            }
            None => {}
            Some(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
        }
        i += load.clients;
    }
    tally
}

/// Sends one request and reads the answer (status line, headers, a `content-length` body),
/// opening the connection if needed and dropping it on any failure. Returns the status.
pub(crate) async fn exchange(
    connection: &mut Option<TcpStream>,
    addr: SocketAddr,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<u16> {
    if connection.is_none() {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        *connection = Some(stream);
    }
    let Some(stream) = connection.as_mut() else {
        unreachable!("connected above");
    };
    let answer = async {
        stream.write_all(request).await?;
        read_response(stream, buffer).await
    }
    .await;
    if answer.is_err() {
        *connection = None;
    }
    answer
}

async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<u16> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    buffer.clear();
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head =
                std::str::from_utf8(&buffer[..end]).map_err(|_| bad("header is not UTF-8"))?;
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| bad("no status line"))?;
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .ok_or_else(|| bad("answer without content-length"))?;
            while buffer.len() < end + 4 + length {
                if stream.read_buf(buffer).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            buffer.drain(..end + 4);
            return Ok(status);
        }
        if stream.read_buf(buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Seconds of CPU the calling thread has used (Linux; `None` elsewhere).
pub(crate) fn thread_cpu_s() -> Option<f64> {
    cpu_s("/proc/thread-self/stat")
}

pub(crate) fn process_cpu_s() -> Option<f64> {
    cpu_s("/proc/self/stat")
}

/// utime + stime from a `stat` file, in seconds (the kernel counts them in 1/100 s ticks).
fn cpu_s(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// `GET /v1/ledger/audit`: the accounts whose balance disagrees with their postings or lots.
async fn audit(addr: SocketAddr, token: &str) -> anyhow::Result<Vec<i64>> {
    #[derive(serde::Deserialize)]
    struct Audit {
        mismatched_accounts: Vec<i64>,
    }
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/v1/ledger/audit"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(300))
        .send()
        .await?
        .error_for_status()?;
    Ok(answer.json::<Audit>().await?.mismatched_accounts)
}

async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

struct PgbenchRun {
    tps: f64,
    latency_ms: Option<f64>,
    failed: u64,
}

/// Runs pgbench's simple-update script (with its defaults: simple query protocol, durable
/// commits) in a database of its own, as many clients for as long as kopilka had.
async fn pgbench(url: &str, clients: usize, duration: u64) -> anyhow::Result<PgbenchRun> {
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
    // One pgbench thread per core (at most one per client), so its own client side is never
    // what limits it.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(clients);
    let run = tokio::process::Command::new("pgbench")
        .args([
            "-b",
            "simple-update",
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &threads.to_string(),
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
    let number_after = |prefix: &str| -> Option<f64> {
        out.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
    };
    let tps =
        number_after("tps = ").ok_or_else(|| anyhow!("no tps line in pgbench output: {out}"))?;
    Ok(PgbenchRun {
        tps,
        latency_ms: number_after("latency average = "),
        failed: number_after("number of failed transactions: ").map_or(0, |n| n as u64),
    })
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
