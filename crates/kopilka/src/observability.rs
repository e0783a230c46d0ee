//! Logs (structured, phones masked by the code that logs them) and Prometheus metrics.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide metrics recorder once and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("kopilka_http_request_duration_seconds".into()),
                    &buckets,
                )
                .expect("static buckets")
                .set_buckets_for_metric(
                    Matcher::Full("kopilka_store_writer_wait_seconds".into()),
                    &buckets,
                )
                .expect("static buckets")
                .set_buckets_for_metric(
                    Matcher::Full("kopilka_store_pool_acquire_seconds".into()),
                    &buckets,
                )
                .expect("static buckets")
                .set_buckets_for_metric(
                    Matcher::Full("kopilka_store_batch_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                )
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests in one process); the handle
            // still renders what this one records.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!("kopilka_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// Logs to stderr, filtered by `KOPILKA_LOG` (default `info`; one that does not parse is an
/// error, not silently `info`), as text or as JSON (`KOPILKA_LOG_FORMAT=json`).
pub fn init_logging() -> anyhow::Result<()> {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = match std::env::var("KOPILKA_LOG").ok().filter(|v| !v.is_empty()) {
        Some(directives) => EnvFilter::builder()
            .parse(&directives)
            .map_err(|e| anyhow::anyhow!("KOPILKA_LOG={directives:?} does not parse: {e}"))?,
        None => EnvFilter::new("info"),
    };
    let json = match std::env::var("KOPILKA_LOG_FORMAT").ok().as_deref() {
        None | Some("" | "text") => false,
        Some("json") => true,
        Some(other) => anyhow::bail!("KOPILKA_LOG_FORMAT must be text or json, not {other:?}"),
    };
    // Logs go to stderr; stdout carries what a command prints for its user (URLs, reports).
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

/// The route label of a request no route matched: one label, whatever the path.
const UNMATCHED: &str = "unmatched";

/// The route label a protocol that serves many methods on one path sets on its answer: the
/// method (`loymax:/user/balance`, `incust:transaction`), from a closed set, in place of the
/// catch-all path template.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

/// Labels come from a closed set: a method outside HTTP's standard ones is `other`, so clients
/// cannot grow the metrics with methods of their own invention.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The route of an answered request: the protocol method its handler named, else the route
/// template that matched, else `unmatched`.
pub fn route_label(response: &Response, matched: Option<&MatchedPath>) -> String {
    match (response.extensions().get::<RouteLabel>(), matched) {
        (Some(label), _) => label.0.clone(),
        (None, Some(path)) => path.as_str().to_string(),
        (None, None) => UNMATCHED.to_string(),
    }
}

/// Counts a request and records its latency by route, method and status.
pub fn record_request(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!("kopilka_http_requests_total", "route" => route.to_string(), "method" => method, "status" => status.clone()).increment(1);
    metrics::histogram!("kopilka_http_request_duration_seconds", "route" => route.to_string(), "method" => method, "status" => status).record(elapsed.as_secs_f64());
}

/// Labels the answers of `router`'s routes with `protocol` and the route template they
/// matched (`loymax:/user/balance`), for a protocol whose methods sit behind one catch-all path.
pub fn label_routes<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    protocol: &'static str,
) -> axum::Router<S> {
    router.route_layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| format!("{protocol}:{}", p.as_str()));
            let mut response = next.run(request).await;
            if let Some(route) = route {
                response.extensions_mut().insert(RouteLabel(route));
            }
            response
        },
    ))
}

/// A refusal a protocol answered, by its wire code (a closed set per protocol).
pub fn record_refusal(protocol: &'static str, code: impl ToString) {
    metrics::counter!("kopilka_protocol_refusals_total", "protocol" => protocol, "code" => code.to_string()).increment(1);
}

/// A background job's round that succeeded, for `kopilka_job_last_success_timestamp_seconds`.
pub fn record_job_success(job: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!("kopilka_job_last_success_timestamp_seconds", "job" => job).set(now);
}

/// The `/metrics` page: the process's own gauges read now, then every series.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    record_process();
    handle.render()
}

/// Resident memory, CPU seconds and open descriptors, from `/proc/self` (Linux; elsewhere
/// nothing is recorded).
fn record_process() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces) start at `state`, field 3.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
            // utime and stime are fields 14 and 15: 11 and 12 after `state`.
            if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                metrics::gauge!("process_cpu_seconds_total").set((user + system) / CLOCK_TICKS);
            }
        }
    }
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        if let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<f64>().ok())
        {
            metrics::gauge!("process_resident_memory_bytes").set(pages * PAGE_SIZE);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}

/// `sysconf(_SC_CLK_TCK)` and the page size on every Linux kopilka runs on.
const CLOCK_TICKS: f64 = 100.0;
const PAGE_SIZE: f64 = 4096.0;

/// `# HELP` (and the unit) of every series kopilka records, the store's included.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "kopilka_http_requests_total",
        "HTTP requests answered, by route (the protocol method), method and status."
    );
    describe_histogram!(
        "kopilka_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route, method and status."
    );
    describe_gauge!(
        "kopilka_build_info",
        "Always 1; the version label names the running build."
    );
    describe_gauge!(
        "process_cpu_seconds_total",
        Unit::Seconds,
        "CPU time the process used, user and system."
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of the process."
    );
    describe_gauge!("process_open_fds", "Open file descriptors of the process.");
    describe_counter!(
        "kopilka_protocol_refusals_total",
        "Requests a protocol refused, by protocol and the wire code it answered."
    );
    describe_counter!("kopilka_code_quota_refusals_total", "Code SMS refused by a quota, by surface and the key whose quota was spent (phone, address, sender).");
    describe_counter!(
        "kopilka_social_unknown_entries_total",
        "Webhook entries from a network account no program is mapped to, by network (ignored)."
    );
    describe_counter!(
        "kopilka_lockouts_total",
        "Password and PIN checks refused unchecked after too many wrong ones, by secret."
    );
    describe_gauge!(
        "kopilka_job_last_success_timestamp_seconds",
        Unit::Seconds,
        "When each background job last finished a round without error (Unix time)."
    );
    describe_counter!(
        "kopilka_outbox_deliveries_total",
        "Delivery attempts settled, by message kind and result (delivered, retry, dead)."
    );
    describe_gauge!(
        "kopilka_outbox_queue_depth",
        "Messages waiting for delivery."
    );
    describe_gauge!(
        "kopilka_outbox_oldest_pending_age_seconds",
        Unit::Seconds,
        "Age of the oldest message waiting for delivery."
    );
    describe_counter!(
        "kopilka_ledger_operations_total",
        "Ledger operations written, by kind and status."
    );
    describe_histogram!(
        "kopilka_store_batch_size",
        "Write jobs committed together by the SQLite writer (group commit)."
    );
    describe_histogram!(
        "kopilka_store_fsync_seconds",
        Unit::Seconds,
        "Time of one fsync of the SQLite WAL."
    );
    describe_gauge!(
        "kopilka_store_writer_queue_depth",
        "SQLite write jobs queued for the writer, sampled as each is queued."
    );
    describe_histogram!(
        "kopilka_store_writer_wait_seconds",
        Unit::Seconds,
        "Time a SQLite write job waited in the queue before the writer ran it."
    );
    describe_gauge!(
        "kopilka_store_pool_connections",
        "PostgreSQL pool connections by state (open, idle, in_use), sampled at each acquire."
    );
    describe_histogram!(
        "kopilka_store_pool_acquire_seconds",
        Unit::Seconds,
        "Time to acquire a PostgreSQL pool connection."
    );
}
