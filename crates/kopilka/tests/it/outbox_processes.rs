//! The outbox across real kopilka processes: a process killed with SIGKILL while a message waits
//! for its retry, and two processes sharing one PostgreSQL queue.

use crate::common::{process, Backend, ADMIN_TOKEN};
use axum::body::Bytes;
use axum::response::IntoResponse;
use kopilka_store::outbox::NewMessage;
use kopilka_store::SharedStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::Child;

/// Fast schedules: a failed message waits 2 s (long enough to kill the process meanwhile).
const CONFIG: &str = r#"
[outbox]
poll_interval_ms = 10
schedule_unit_ms = 1
request_timeout_ms = 1000
lease_ms = 3000
batch = 32
concurrency = 16

[outbox.schedules.default]
delays = [2000]
growth_percent = 100
max_delay = 2000
give_up_after = 100000
jitter_percent = 0
"#;

struct Process {
    child: Child,
    base: String,
}

/// Starts `kopilka serve` on port 0 and reads its address from the `kopilka listening on` line.
async fn spawn(database: &str, dir: &Path) -> Process {
    let config = dir.join("kopilka.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_str().unwrap();
    let (child, base) = process::spawn_serve(database, dir, &["--config", config]).await;
    Process { child, base }
}

impl Process {
    async fn message(&self, id: i64) -> Value {
        reqwest::Client::new()
            .get(format!("{}/v1/messages/{id}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Callbacks this process delivered, from its Prometheus metrics.
    async fn delivered(&self) -> u64 {
        let metrics = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find(|l| {
                l.starts_with(
                    r#"kopilka_outbox_deliveries_total{kind="callback",result="delivered"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    }

    /// SIGKILL: no graceful shutdown, leases and all.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts requests by path; the first `fail_first` get a 500.
#[derive(Clone, Default)]
struct Counter {
    bodies: Arc<Mutex<Vec<(String, String)>>>,
    seen: Arc<AtomicUsize>,
}

impl Counter {
    async fn start(fail_first: usize) -> (Counter, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counter = Counter::default();
        let state = counter.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: Bytes| {
            let state = state.clone();
            async move {
                let n = state.seen.fetch_add(1, Ordering::SeqCst);
                if n < fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                state
                    .bodies
                    .lock()
                    .unwrap()
                    .push((uri.path().to_string(), body));
                "OK".into_response()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (counter, url)
    }
}

async fn enqueue_all(store: &SharedStore, messages: Vec<NewMessage>) -> Vec<i64> {
    store
        .write(move |tx| {
            Box::pin(async move {
                let mut ids = Vec::with_capacity(messages.len());
                for m in &messages {
                    ids.push(tx.enqueue(m).await?);
                }
                Ok(ids)
            })
        })
        .await
        .unwrap()
}

both_stores!(a_message_waiting_for_its_retry_survives_kill_9, Backend);
async fn a_message_waiting_for_its_retry_survives_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database, store) = match backend {
        Backend::Sqlite => {
            let sqlite = format!("sqlite://{}", dir.path().join("kopilka.db").display());
            let store = kopilka_store::open(&sqlite).await.unwrap();
            (sqlite, store)
        }
        Backend::Postgres => {
            let (url, _, store) = process::postgres_schema("outbox").await;
            (url, store)
        }
    };
    let (counter, url) = Counter::start(1).await;
    let ids = enqueue_all(
        &store,
        vec![NewMessage::callback(&url, "{\"n\":1}".into(), Vec::new())],
    )
    .await;
    store.close().await;
    let id = ids[0];

    let first = spawn(&database, dir.path()).await;
    wait_for("the first attempt to be recorded", async || {
        let m = first.message(id).await;
        m["attempts"] == 1 && m["state"] == "pending"
    })
    .await;
    first.kill().await;
    assert!(counter.bodies.lock().unwrap().is_empty());

    let second = spawn(&database, dir.path()).await;
    wait_for("the retry after the restart", async || {
        second.message(id).await["state"] == "delivered"
    })
    .await;
    let message = second.message(id).await;
    assert_eq!(message["attempts"], 2, "{message}");
    assert_eq!(counter.seen.load(Ordering::SeqCst), 2);
    assert_eq!(counter.bodies.lock().unwrap().len(), 1);
    second.kill().await;
}

#[tokio::test]
async fn two_processes_on_one_postgres_deliver_each_message_once_in_order() {
    const DESTINATIONS: usize = 100;
    const PER_DESTINATION: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let (database, _, store) = process::postgres_schema("outbox").await;
    let (counter, url) = Counter::start(0).await;
    // Every other destination's messages are about two subjects (even and odd), ordered each
    // on its own; the others name none.
    let subject = |destination: usize, seq: usize| {
        destination
            .is_multiple_of(2)
            .then(|| format!("subject:{}", seq % 2))
    };
    let messages = (0..DESTINATIONS * PER_DESTINATION)
        .map(|n| {
            let (destination, seq) = (n % DESTINATIONS, n / DESTINATIONS);
            NewMessage {
                ordered_by: subject(destination, seq),
                ..NewMessage::callback(
                    &format!("{url}/d{destination}"),
                    format!("{seq}"),
                    Vec::new(),
                )
            }
        })
        .collect();
    let ids = enqueue_all(&store, messages).await;
    assert_eq!(ids.len(), 1000);

    let started = Instant::now();
    let a = spawn(&database, dir.path()).await;
    let b = spawn(&database, dir.path()).await;
    wait_for("1 000 deliveries", async || {
        let pending = store
            .read(|tx| Box::pin(async move { tx.outbox_stats().await }))
            .await
            .unwrap()
            .depth;
        pending == 0
    })
    .await;
    let elapsed = started.elapsed();
    let (by_a, by_b) = (a.delivered().await, b.delivered().await);
    assert_eq!(by_a + by_b, 1000);
    assert!(
        by_a > 0 && by_b > 0,
        "both processes deliver: {by_a} + {by_b}"
    );
    a.kill().await;
    b.kill().await;

    let bodies = counter.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1000, "each message delivered exactly once");
    let mut by_destination: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (path, seq) in bodies {
        by_destination
            .entry(path)
            .or_default()
            .push(seq.parse().unwrap());
    }
    assert_eq!(by_destination.len(), DESTINATIONS);
    for (path, seqs) in by_destination {
        let destination: usize = path.trim_start_matches("/d").parse().unwrap();
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(sorted, (0..PER_DESTINATION).collect::<Vec<_>>(), "{path}");
        for parity in 0..2 {
            let of_subject =
                |seq: &&usize| subject(destination, **seq) == subject(destination, parity);
            let order: Vec<&usize> = seqs.iter().filter(of_subject).collect();
            let expected: Vec<&usize> = sorted.iter().filter(of_subject).collect();
            assert_eq!(order, expected, "order of a subject at {path}");
        }
    }
    let delivered = store
        .read(|tx| {
            Box::pin(async move {
                tx.messages(&kopilka_store::outbox::MessageFilter {
                    state: Some("delivered".into()),
                    limit: 2000,
                    ..Default::default()
                })
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1000);
    assert!(delivered.iter().all(|m| m.attempts == 1));
    eprintln!("two processes delivered 1 000 messages in {elapsed:?} ({by_a} + {by_b})");
    store.close().await;
}
