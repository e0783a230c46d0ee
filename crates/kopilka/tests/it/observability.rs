//! Observability: request ids, the access log and JSON logs of a real `kopilka serve`, the
//! metrics page, readiness and the admin listener.

use crate::common::{self, Backend, TestApp, ADMIN_TOKEN};
use kopilka::config::Config;
use kopilka_store::outbox::NewMessage;
use reqwest::StatusCode;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const INCUST_TRANSACTION: &str = "<root><cmd>transaction</cmd><phone>380500000000</phone>\
    <password>wrong</password><cardphone>380671111111</cardphone><amount>10.00</amount></root>";

async fn post_incust(http: &reqwest::Client, base: &str, body: &str, id: Option<&str>) -> String {
    let mut request = http
        .post(format!("{base}/api"))
        .header("content-type", "text/xml");
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    request
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

both_stores!(request_ids_are_kept_when_plain_and_made_otherwise);
async fn request_ids_are_kept_when_plain_and_made_otherwise(app: TestApp) {
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let send = |id: Option<&'static str>| {
        let mut request = app.http.get(app.url("/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let kept = send(Some("shop-42:req_7.a")).await.unwrap();
    assert_eq!(id_of(&kept), "shop-42:req_7.a");
    for unfit in [None, Some("has space"), Some("{\"json\":1}")] {
        let made = id_of(&send(unfit).await.unwrap());
        let uuid = uuid::Uuid::parse_str(&made).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 7, "{made}");
    }
    let long = "a".repeat(65);
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(id_of(&response), long);
    app.stop().await;
}

/// Every series name on the page (a histogram's `_bucket`, `_sum` and `_count` as its own).
fn series_names(page: &str) -> HashSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let name = line.split(['{', ' ']).next().unwrap();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    let typed = |kind| page.contains(&format!("# TYPE {base} {kind}"));
                    (typed("histogram") || typed("summary")).then(|| base.to_string())
                })
                .unwrap_or_else(|| name.to_string())
        })
        .collect()
}

async fn metrics_page(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

both_stores!(metrics_name_each_protocol_method_and_describe_every_series);
async fn metrics_name_each_protocol_method_and_describe_every_series(app: TestApp) {
    post_incust(&app.http, &app.base, INCUST_TRANSACTION, None).await;
    let unknown = "<root><cmd>balance-of-380671111111</cmd></root>";
    post_incust(&app.http, &app.base, unknown, None).await;
    let balance = app.http.get(app.url("/publicapi/v1.2/User/Balance")).send();
    assert_eq!(balance.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let nowhere = app.http.get(app.url("/api/v1/no/such/method")).send();
    nowhere.await.unwrap();
    app.get("/v1/customers/1").await;

    // The background jobs run once at start; their success is recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = metrics_page(&app.http, &app.base).await;
        if page.contains("kopilka_job_last_success_timestamp_seconds{job=\"points_expiry\"}")
            || Instant::now() > deadline
        {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for expected in [
        "kopilka_job_last_success_timestamp_seconds{job=\"points_expiry\"}",
        "kopilka_http_requests_total{route=\"incust:transaction\",method=\"POST\",status=\"200\"}",
        "route=\"incust:other\"",
        "kopilka_http_request_duration_seconds_bucket{route=\"loymax:/user/balance\",method=\"GET\",status=\"401\"",
        "route=\"loymax:unmatched\"",
        "route=\"/v1/customers/{id}\"",
        "kopilka_protocol_refusals_total{protocol=\"loymax\",code=\"Unauthorized\"}",
        "kopilka_protocol_refusals_total{protocol=\"incust\",code=",
        "kopilka_build_info{version=\"",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
    ] {
        assert!(page.contains(expected), "{expected} missing from\n{page}");
    }
    let store_series = match app.backend {
        Backend::Sqlite => [
            "kopilka_store_writer_queue_depth",
            "kopilka_store_writer_wait_seconds",
        ],
        Backend::Postgres => [
            "kopilka_store_pool_connections{state=\"in_use\"}",
            "kopilka_store_pool_acquire_seconds",
        ],
    };
    for expected in store_series {
        assert!(page.contains(expected), "{expected} missing from\n{page}");
    }
    assert!(
        !page.contains("380671111111") && !page.contains("balance-of"),
        "client text never becomes a label"
    );
    for name in series_names(&page) {
        assert!(
            page.contains(&format!("# HELP {name} ")),
            "{name} has no # HELP"
        );
    }
    app.stop().await;
}

both_stores!(readiness_reads_the_store_and_writes_through_the_writer);
async fn readiness_reads_the_store_and_writes_through_the_writer(app: TestApp) {
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ready");
    app.store.close().await;
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unready");
    // What fails first depends on the store: SQLite's readers or its writer, the pool.
    assert!(
        ["store", "writer"].contains(&body["failed"].as_str().unwrap()),
        "{body}"
    );
    let alive = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK, "liveness stays up");
    app.stop().await;
}

both_stores!(
    the_admin_listener_alone_serves_metrics_and_the_admin_api,
    Backend
);
async fn the_admin_listener_alone_serves_metrics_and_the_admin_api(backend: Backend) {
    let app = TestApp::start_with(backend, true, |config: &mut Config| {
        config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = app.admin_base.clone().expect("an admin listener");
    let status = |base: String, path: &'static str| {
        let request = app
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN);
        async move { request.send().await.unwrap().status() }
    };
    for path in [
        "/metrics",
        "/v1/programs",
        "/v1/openapi.json",
        "/v1/loymax/applications",
    ] {
        assert_eq!(
            status(app.base.clone(), path).await,
            StatusCode::NOT_FOUND,
            "public {path}"
        );
    }
    assert_eq!(status(admin.clone(), "/metrics").await, StatusCode::OK);
    assert_eq!(status(admin.clone(), "/v1/programs").await, StatusCode::OK);
    for path in ["/healthz", "/api", "/cabinet"] {
        assert_eq!(
            status(admin.clone(), path).await,
            StatusCode::NOT_FOUND,
            "admin {path}"
        );
    }
    assert_eq!(status(app.base.clone(), "/healthz").await, StatusCode::OK);
    // ECommPay's Data API path under /v1 is a protocol method, served publicly.
    let data_api = app
        .http
        .post(app.url("/v1/operations/get"))
        .body("{}")
        .send();
    assert_ne!(data_api.await.unwrap().status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Walks a JSON document and refuses an object naming a key twice (serde_json keeps the last).
struct NoDuplicateKeys;

impl<'de> DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value_seed(NoDuplicateKeys)?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

fn parse_line(line: &str) -> Value {
    let mut de = serde_json::Deserializer::from_str(line);
    NoDuplicateKeys
        .deserialize(&mut de)
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    serde_json::from_str(line).unwrap()
}

both_stores!(
    json_logs_have_no_duplicate_keys_and_log_requests_and_failed_deliveries,
    Backend
);
/// `kopilka serve` with JSON logs at `info`, a retry schedule that gives up on the second
/// failure and a callback to a closed port queued: one failed delivery (a warning), then a
/// dead one (an error). Every line parses with no key twice; the access line has its fields
/// and no phone or raw path.
async fn json_logs_have_no_duplicate_keys_and_log_requests_and_failed_deliveries(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database, store) = match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
            (url.clone(), kopilka_store::open(&url).await.unwrap())
        }
        Backend::Postgres => {
            let (url, _, store) = common::process::postgres_schema("obs").await;
            (url, store)
        }
    };
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let callback = NewMessage::callback(
        &format!("http://127.0.0.1:{closed_port}/hook"),
        "{}".into(),
        Vec::new(),
    );
    let queued = store
        .write(move |tx| Box::pin(async move { tx.enqueue(&callback).await }))
        .await
        .unwrap();
    store.close().await;
    let config = dir.path().join("kopilka.toml");
    std::fs::write(
        &config,
        "[outbox.schedules.default]\ndelays = [1]\ngrowth_percent = 100\nmax_delay = 1\n\
         give_up_after = 1\njitter_percent = 0\n",
    )
    .unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kopilka"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .arg("--config")
        .arg(&config)
        .env("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KOPILKA_SEAL_KEY", "00".repeat(32))
        .env("KOPILKA_SMS_SENDER", "log")
        .env("KOPILKA_EMAIL_SENDER", "log")
        .env("KOPILKA_LOG", "info")
        .env("KOPILKA_LOG_FORMAT", "json")
        .env("KOPILKA_OUTBOX_POLL_INTERVAL_MS", "20")
        .env("KOPILKA_OUTBOX_SCHEDULE_UNIT_MS", "10")
        .env("KOPILKA_OUTBOX_REQUEST_TIMEOUT_MS", "500")
        .env("KOPILKA_PUBLIC_URL", "https://kopilka.example")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = stdout.next_line().await.unwrap().expect("kopilka listens");
            if let Some(addr) = line.strip_prefix("kopilka listening on ") {
                return addr.trim().to_string();
            }
        }
    })
    .await
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let http = reqwest::Client::new();
    post_incust(&http, &base, INCUST_TRANSACTION, Some("obs-test-1")).await;
    let customer = http
        .get(format!("{base}/v1/customers?phone=380671111111"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(customer.headers().contains_key("x-request-id"));

    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead_line = |line: &Value| {
        line["level"] == "ERROR"
            && line["fields"]["message_id"] == queued
            && line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("dead"))
    };
    let complete = |lines: &[Value]| {
        lines.iter().any(dead_line)
            && lines
                .iter()
                .any(|l| l["fields"]["request_id"] == "obs-test-1")
            && lines
                .iter()
                .any(|l| l["fields"]["route"] == "/v1/customers")
    };
    while !complete(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, stderr.next_line())
            .await
            .unwrap_or_else(|_| panic!("a line is missing; lines: {lines:#?}"))
            .unwrap()
            .expect("kopilka still runs");
        lines.push(parse_line(&line));
    }
    let _ = child.start_kill();

    let access = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "obs-test-1")
        .unwrap_or_else(|| panic!("no access line; lines: {lines:#?}"));
    let fields = &access["fields"];
    assert_eq!(fields["message"], "request");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "incust:transaction");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["client"], "127.0.0.1");
    assert!(fields["latency_ms"].as_f64().is_some(), "{access}");
    let retried = lines.iter().find(|l| {
        l["level"] == "WARN"
            && l["fields"]["message_id"] == queued
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("retrying"))
    });
    assert!(retried.is_some(), "no failed delivery logged: {lines:#?}");
    let customers = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/v1/customers")
        .unwrap_or_else(|| panic!("no access line for /v1/customers: {lines:#?}"));
    assert!(customers["fields"]["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    let text = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("380671111111"), "a phone reached the log");
}
