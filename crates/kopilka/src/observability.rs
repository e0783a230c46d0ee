//! Logs (structured, phones masked by the code that logs them) and Prometheus metrics.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

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
                    Matcher::Full("kopilka_store_batch_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                )
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests in one process); the handle
            // still renders what this one records.
            let _ = metrics::set_global_recorder(recorder);
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

/// Labels come from a closed set: a method outside HTTP's standard ones is `other`, so clients
/// cannot grow the metrics with methods of their own invention.
fn method_label(method: &Method) -> &'static str {
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

/// Counts requests and records their latency by route and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.into());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!("kopilka_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("kopilka_http_request_duration_seconds", "route" => route, "method" => method).record(elapsed);
    response
}
