//! The outbox against real receivers on loopback: an HTTP server that fails on purpose, an SMTP
//! sink, webhook signatures, and real kopilka processes killed and restarted.

use crate::common;
use crate::common::{Backend, TestApp};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use kopilka::config::Config;
use kopilka_store::model::MessageState;
use kopilka_store::outbox::{Attempt, AttemptOutcome, NewMessage, NextStep};
use kopilka_store::SharedStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
enum Reply {
    Status(u16),
    /// Answers 200 too late: past the outbox's request timeout.
    Hang,
    /// Answers 200 after this many milliseconds.
    Slow(u64),
    Body(&'static str),
}

#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: String,
}

/// A loopback HTTP server that plays `script` (one reply per request) then answers `then`.
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    then: Arc<Mutex<Reply>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>, then: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            hits: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            then: Arc::new(Mutex::new(then)),
        };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.hits.lock().unwrap().push(Hit {
                        path: uri.path().to_string(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let reply = state
                        .script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| state.then.lock().unwrap().clone());
                    match reply {
                        Reply::Status(code) => {
                            (AxumStatus::from_u16(code).unwrap(), "receiver says no")
                                .into_response()
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            "OK".into_response()
                        }
                        Reply::Slow(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            "OK".into_response()
                        }
                        Reply::Body(text) => text.into_response(),
                    }
                }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn answer(&self, reply: Reply) {
        *self.then.lock().unwrap() = reply;
    }
}

/// Schedules in milliseconds instead of seconds, a quick poll and short timeouts.
fn fast(config: &mut Config) {
    config.outbox.poll_interval_ms = 10;
    config.outbox.schedule_unit_ms = 1;
    config.outbox.request_timeout_ms = 400;
    config.outbox.lease_ms = 5_000;
}

async fn enqueue(store: &SharedStore, message: NewMessage) -> i64 {
    store
        .write(move |tx| Box::pin(async move { tx.enqueue(&message).await }))
        .await
        .unwrap()
}

/// Waits until message `id` leaves `pending`, and returns it with its attempt log.
async fn settled(app: &TestApp, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, message) = app.get(&format!("/v1/messages/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{message}");
        if message["state"] != "pending" {
            return message;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} still pending: {message}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcomes(message: &Value) -> Vec<String> {
    message["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect()
}

both_stores!(a_callback_is_delivered_once_the_receiver_accepts, Backend);
async fn a_callback_is_delivered_once_the_receiver_accepts(backend: Backend) {
    let app = TestApp::start_with(backend, false, fast).await;
    // Kupi-Kupi style: only a body of exactly OK counts.
    let receiver = Receiver::start(
        vec![Reply::Status(500), Reply::Hang, Reply::Body("NOT OK")],
        Reply::Body("OK"),
    )
    .await;
    let mut message = NewMessage::callback(
        &format!("{}/notify", receiver.url),
        r#"{"orderId":"1234"}"#.into(),
        Vec::new(),
    );
    message.accept = "ok".into();
    let id = enqueue(&app.store, message).await;
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "delivered", "{message}");
    assert_eq!(message["attempts"], 4);
    assert_eq!(
        outcomes(&message),
        ["rejected", "failed", "rejected", "accepted"]
    );
    let log = message["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[1]["error"], "timed out");
    assert!(
        log[2]["error"]
            .as_str()
            .unwrap()
            .contains("expected the body OK"),
        "{message}"
    );
    assert_eq!(message["last_error"], log[2]["error"]);
    assert_eq!(receiver.hits().len(), 4);
    assert_eq!(receiver.hits()[3].body, r#"{"orderId":"1234"}"#);
    assert_eq!(
        receiver.hits()[3].headers["content-type"],
        "application/json"
    );

    // The default acceptance: any 2xx.
    let receiver = Receiver::start(
        vec![Reply::Status(503), Reply::Status(302)],
        Reply::Status(204),
    )
    .await;
    let id = enqueue(
        &app.store,
        NewMessage::callback(&receiver.url, "{}".into(), Vec::new()),
    )
    .await;
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "delivered", "{message}");
    assert_eq!(message["attempts"], 3);
    assert_eq!(receiver.hits().len(), 3);
    app.stop().await;
}

both_stores!(messages_to_one_destination_arrive_in_order, Backend);
async fn messages_to_one_destination_arrive_in_order(backend: Backend) {
    let app = TestApp::start_with(backend, false, fast).await;
    let receiver = Receiver::start(
        vec![Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    )
    .await;
    let url = format!("{}/orders", receiver.url);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            enqueue(
                &app.store,
                NewMessage::callback(&url, format!("{n}"), Vec::new()),
            )
            .await,
        );
    }
    for id in &ids {
        assert_eq!(settled(&app, *id).await["state"], "delivered");
    }
    let bodies: Vec<String> = receiver.hits().into_iter().map(|h| h.body).collect();
    assert_eq!(bodies, ["0", "0", "0", "1", "2", "3", "4"]);
    app.stop().await;
}

both_stores!(
    a_message_dies_with_its_last_error_and_a_resend_delivers_it,
    Backend
);
async fn a_message_dies_with_its_last_error_and_a_resend_delivers_it(backend: Backend) {
    let app = TestApp::start_with(backend, false, |config| {
        fast(config);
        config.outbox.schedules.insert(
            "default".into(),
            toml::from_str("delays = [10, 10]\ngrowth_percent = 100\nmax_delay = 10\ngive_up_after = 30\njitter_percent = 0").unwrap(),
        );
    })
    .await;
    let receiver = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let url = format!("{}/hook?shop=1", receiver.url);
    let id = enqueue(
        &app.store,
        NewMessage::callback(&url, "{}".into(), Vec::new()),
    )
    .await;
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "dead", "{message}");
    assert_eq!(message["attempts"], 4);
    assert_eq!(message["last_error"], "HTTP 500: receiver says no");

    let (_, dead) = app
        .get(&format!(
            "/v1/messages?state=dead&kind=callback&recipient={}",
            urlencode(&url)
        ))
        .await;
    assert_eq!(dead["items"].as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead["items"][0]["id"], id);
    let (status, attempts) = app.get(&format!("/v1/messages/{id}/attempts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(attempts.as_array().unwrap().len(), 4);

    receiver.answer(Reply::Status(200));
    let (status, _) = app
        .post(&format!("/v1/messages/{id}/resend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "delivered", "{message}");
    assert_eq!(message["attempts"], 1);
    assert_eq!(message["attempt_log"].as_array().unwrap().len(), 5);
    let (status, _) = app
        .post(&format!("/v1/messages/{id}/resend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

both_stores!(
    the_log_sender_delivers_sms_and_email_at_once_and_metrics_count_them,
    Backend
);
async fn the_log_sender_delivers_sms_and_email_at_once_and_metrics_count_them(backend: Backend) {
    let app = TestApp::start_with(backend, false, fast).await;
    let sms = enqueue(
        &app.store,
        NewMessage::sms("380671111111", "Код подтверждения: 123456".into()),
    )
    .await;
    let email = enqueue(
        &app.store,
        NewMessage::email("anna@example.com", "Код".into(), "Ваш код: 654321".into()),
    )
    .await;
    assert_eq!(settled(&app, sms).await["state"], "delivered");
    assert_eq!(settled(&app, email).await["state"], "delivered");
    let (_, found) = app
        .get("/v1/messages?recipient=%2B38%20(067)%20111-11-11&kind=sms")
        .await;
    assert_eq!(
        found["items"][0]["body"], "Код подтверждения: 123456",
        "{found}"
    );
    let (_, found) = app.get("/v1/messages?recipient=anna@example.com").await;
    assert_eq!(found["items"][0]["id"], email);
    assert_eq!(found["items"][0]["attempts"], 1);

    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kopilka_outbox_deliveries_total{kind=\"sms\",result=\"delivered\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("kopilka_outbox_queue_depth"), "{metrics}");
    assert!(
        metrics.contains("kopilka_outbox_oldest_pending_age_seconds"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_http_sms_sender_fills_the_gateway_template() {
    let receiver = Receiver::start(
        vec![Reply::Status(502)],
        Reply::Body("{\"status\":\"queued\"}"),
    )
    .await;
    let url = receiver.url.clone();
    let app = TestApp::start_with(Backend::Sqlite, false, move |config| {
        fast(config);
        let sms = &mut config.outbox.sms;
        sms.sender = Some(kopilka::outbox::SmsSenderKind::Http);
        sms.url = format!("{url}/send?to={{phone}}");
        sms.headers
            .insert("Authorization".into(), "Bearer gw-token".into());
        sms.body = r#"{"to":"{phone}","text":"{text}"}"#.into();
    })
    .await;
    let text = "Demo Shop: списано 10.50, \"начислено\" 2.00";
    let id = enqueue(&app.store, NewMessage::sms("380671111111", text.into())).await;
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "delivered", "{message}");
    assert_eq!(message["attempts"], 2);
    let hit = receiver.hits().pop().unwrap();
    assert_eq!(hit.path, "/send");
    assert_eq!(hit.headers["authorization"], "Bearer gw-token");
    let body: Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(body, json!({"to": "380671111111", "text": text}));
    app.stop().await;
}

/// A mail as the sink received it: MAIL FROM, RCPT TOs, DATA.
type Mail = (String, Vec<String>, String);

/// A minimal SMTP server: records the envelope and the data of each mail.
#[derive(Clone, Default)]
struct SmtpSink {
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    async fn start() -> (SmtpSink, u16) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink::default();
        let mails = sink.mails.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let mails = mails.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    let (mut from, mut to) = (String::new(), Vec::new());
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250 sink\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            from = line[10..].trim().to_string();
                            b"250 ok\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(line[8..].trim().to_string());
                            b"250 ok\r\n"
                        } else if upper == "DATA" {
                            write.write_all(b"354 go on\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            mails.lock().unwrap().push((
                                from.clone(),
                                std::mem::take(&mut to),
                                data,
                            ));
                            b"250 queued\r\n"
                        } else if upper == "QUIT" {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (sink, port)
    }
}

/// The text of a single-part mail: headers dropped, base64 decoded.
fn mail_text(data: &str) -> (String, String) {
    let (headers, body) = data.split_once("\n\n").unwrap();
    let text = if headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        use base64::Engine;
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.trim_end().to_string()
    };
    (headers.to_string(), text)
}

both_stores!(smtp_delivers_the_email_to_a_real_listener, Backend);
async fn smtp_delivers_the_email_to_a_real_listener(backend: Backend) {
    let (sink, port) = SmtpSink::start().await;
    let app = TestApp::start_with(backend, false, move |config| {
        fast(config);
        let email = &mut config.outbox.email;
        email.sender = Some(kopilka::outbox::EmailSenderKind::Smtp);
        email.host = "127.0.0.1".into();
        email.port = Some(port);
        email.tls = kopilka::outbox::SmtpTls::Plain;
        email.from = "Kopilka <noreply@kopilka.test>".into();
    })
    .await;
    let id = enqueue(
        &app.store,
        NewMessage::email(
            "anna@example.com",
            "Confirmation code".into(),
            "Ваш код: 654321".into(),
        ),
    )
    .await;
    let message = settled(&app, id).await;
    assert_eq!(message["state"], "delivered", "{message}");
    assert_eq!(message["attempt_log"][0]["status_code"], 250);
    let (from, to, data) = sink.mails.lock().unwrap().pop().unwrap();
    assert_eq!(from, "<noreply@kopilka.test>");
    assert_eq!(to, ["<anna@example.com>"]);
    let (headers, text) = mail_text(&data);
    assert!(headers.contains("Subject: Confirmation code"), "{headers}");
    assert!(headers.contains("To: anna@example.com"), "{headers}");
    assert_eq!(text, "Ваш код: 654321");
    app.stop().await;
}

both_stores!(native_operations_send_signed_webhooks, Backend);
async fn native_operations_send_signed_webhooks(backend: Backend) {
    use hmac::{Hmac, Mac};
    let app = TestApp::start_with(backend, true, fast).await;
    let receiver = Receiver::start(Vec::new(), Reply::Status(200)).await;
    let (_, merchant) = app.get("/v1/merchants/1").await;
    let mut update = json!({
        "program_id": merchant["program_id"], "name": merchant["name"],
        "sms_name": merchant["sms_name"], "return_hosts": merchant["return_hosts"],
        "webhook_url": format!("{}/kopilka", receiver.url),
    });
    let (status, _) = app.send_put("/v1/merchants/1", &update).await;
    assert_eq!(status, StatusCode::OK);
    let created = app
        .create("/v1/merchants/1/webhook-secret", json!({}))
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (status, missing) = app
        .post("/v1/merchants/999/webhook-secret", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    let earn = json!({"kind": "earn", "customer_id": 1, "merchant_id": 1, "paid": "100.00", "idempotency_key": "wh-1"});
    let op = app.create("/v1/operations", earn.clone()).await;
    let (status, _) = app.operation(earn).await;
    assert_eq!(status, StatusCode::OK, "a replay sends nothing");
    let (_, listed) = app
        .get(&format!(
            "/v1/messages?operation={}&kind=callback",
            op["id"]
        ))
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["purpose"], "native.webhook");
    assert_eq!(
        settled(&app, items[0]["id"].as_i64().unwrap()).await["state"],
        "delivered"
    );

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.path, "/kopilka");
    let header = hit.headers["kopilka-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(',').unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    assert!((kopilka_store::now_ms() / 1000 - t).abs() < 60);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hit.body).as_bytes());
    mac.verify_slice(&hex::decode(v1.strip_prefix("v1=").unwrap()).unwrap())
        .expect("the signature verifies with the merchant's secret");
    let event: Value = serde_json::from_str(&hit.body).unwrap();
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["type"], "operation.created");
    assert_eq!(event["data"]["operation"]["id"], op["id"]);
    assert_eq!(event["data"]["operation"]["amount"], "20.00");

    // A merchant without a webhook URL gets nothing.
    update["webhook_url"] = Value::Null;
    app.send_put("/v1/merchants/1", &update).await;
    let op = app
        .create(
            "/v1/operations",
            json!({"kind": "redeem", "customer_id": 1, "merchant_id": 1, "amount": "1.00"}),
        )
        .await;
    let (_, listed) = app
        .get(&format!("/v1/messages?operation={}", op["id"]))
        .await;
    assert_eq!(listed["items"], json!([]));
    app.stop().await;
}

/// The store's queue primitives on both databases, without a worker: claims lease only the
/// oldest pending message of each destination, and a stale lease settles nothing.
#[tokio::test]
async fn claims_follow_destinations_and_leases_fence_stale_workers() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("queue.db").display());
    let schema = common::unique_schema("queue");
    let stores: [SharedStore; 2] = [
        kopilka_store::open(&sqlite).await.unwrap(),
        Arc::new(
            kopilka_store::PgStore::open(&common::postgres_url(), Some(&schema))
                .await
                .unwrap(),
        ),
    ];
    for store in stores {
        let cb = |url: &str, body: &str| NewMessage::callback(url, body.into(), Vec::new());
        let a1 = enqueue(&store, cb("http://a.test/", "a1")).await;
        let a2 = enqueue(&store, cb("http://a.test/", "a2")).await;
        let b1 = enqueue(&store, cb("http://b.test/", "b1")).await;
        let s1 = enqueue(&store, NewMessage::sms("380671111111", "s1".into())).await;
        let t0 = kopilka_store::now_ms() + 1000;
        let claim = |at: i64| {
            let store = store.clone();
            async move {
                let mut ids: Vec<i64> = store
                    .write(move |tx| {
                        Box::pin(async move {
                            tx.set_now(at);
                            tx.claim_due(10, at + 60_000).await
                        })
                    })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id)
                    .collect();
                ids.sort();
                ids
            }
        };
        let finish = |id: i64, lease: i64, next: NextStep| {
            let store = store.clone();
            async move {
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            let attempt = Attempt {
                                at: tx.now(),
                                outcome: AttemptOutcome::Rejected,
                                status_code: Some(500),
                                error: Some("HTTP 500".into()),
                                duration_ms: 1,
                            };
                            tx.finish_attempt(id, lease, &attempt, next).await
                        })
                    })
                    .await
                    .unwrap()
            }
        };

        assert_eq!(claim(t0).await, [a1, b1, s1]);
        assert_eq!(
            claim(t0 + 1).await,
            Vec::<i64>::new(),
            "leased, and a2 waits for a1"
        );
        assert!(
            finish(a1, t0 + 1, NextStep::Dead).await.is_none(),
            "not the claim's lease"
        );
        let retried = finish(a1, t0 + 60_000, NextStep::Retry { at: t0 + 3_600_000 })
            .await
            .unwrap();
        assert_eq!((retried.state.as_str(), retried.attempts), ("pending", 1));
        assert_eq!(retried.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(
            claim(t0 + 2).await,
            Vec::<i64>::new(),
            "a1 waits for its retry and holds a2 back"
        );

        // b1's and s1's leases expire (their worker died): another worker takes them.
        let t1 = t0 + 60_001;
        assert_eq!(claim(t1).await, [b1, s1]);
        assert!(
            finish(b1, t0 + 60_000, NextStep::Delivered).await.is_none(),
            "the stale worker writes nothing"
        );
        let delivered = finish(b1, t1 + 60_000, NextStep::Delivered).await.unwrap();
        assert_eq!(delivered.state, MessageState::Delivered);
        let release = store
            .write(move |tx| Box::pin(async move { tx.release_lease(s1, t1 + 60_000).await }))
            .await;
        release.unwrap();
        assert_eq!(claim(t1 + 1).await, [s1]);
        assert!(finish(s1, t1 + 1 + 60_000, NextStep::Delivered)
            .await
            .is_some());

        // a1 dies; then a2 is next for its destination.
        assert_eq!(claim(t0 + 3_600_000).await, [a1]);
        let dead = finish(a1, t0 + 3_660_000, NextStep::Dead).await.unwrap();
        assert_eq!((dead.state.as_str(), dead.attempts), ("dead", 2));
        assert_eq!(claim(t0 + 3_600_001).await, [a2]);
        let stats = store
            .read(|tx| Box::pin(async move { tx.outbox_stats().await }))
            .await
            .unwrap();
        assert_eq!(stats.depth, 1, "a2 is still pending");
        assert!(stats.oldest_created_at.is_some());
        store.close().await;
    }
}

both_stores!(a_graceful_shutdown_finishes_the_sends_in_flight, Backend);
async fn a_graceful_shutdown_finishes_the_sends_in_flight(backend: Backend) {
    let mut app = TestApp::start_with(backend, false, |config| {
        fast(config);
        config.outbox.request_timeout_ms = 5_000;
        config.outbox.lease_ms = 60_000;
    })
    .await;
    let receiver = Receiver::start(Vec::new(), Reply::Slow(500)).await;
    let id = enqueue(
        &app.store,
        NewMessage::callback(&receiver.url, "{}".into(), Vec::new()),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.hits().is_empty() {
        assert!(Instant::now() < deadline, "the message was never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop_server().await;
    let database = app.database.clone();
    let store: SharedStore = match backend {
        Backend::Sqlite => kopilka_store::open(&database).await.unwrap(),
        Backend::Postgres => Arc::new(
            kopilka_store::PgStore::open(&common::postgres_url(), Some(&database))
                .await
                .unwrap(),
        ),
    };
    let message = store
        .read(move |tx| Box::pin(async move { tx.message(id).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        message.state,
        MessageState::Delivered,
        "the send in flight was recorded before the exit"
    );
    assert_eq!(message.lease_until, None);
    store.close().await;
    drop(app);
}

#[tokio::test]
async fn private_addresses_can_be_refused() {
    let receiver = Receiver::start(Vec::new(), Reply::Status(200)).await;
    let app = TestApp::start_with(Backend::Sqlite, false, |config| {
        fast(config);
        config.outbox.refuse_private_addresses = true;
    })
    .await;
    let port = receiver.url.rsplit(':').next().unwrap().to_string();
    let by_ip = enqueue(
        &app.store,
        NewMessage::callback(&receiver.url, "{}".into(), Vec::new()),
    )
    .await;
    let by_name = enqueue(
        &app.store,
        NewMessage::callback(
            &format!("http://localhost:{port}/"),
            "{}".into(),
            Vec::new(),
        ),
    )
    .await;
    for id in [by_ip, by_name] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let message = loop {
            let (_, m) = app.get(&format!("/v1/messages/{id}")).await;
            if m["attempts"].as_i64().unwrap() >= 1 {
                break m;
            }
            assert!(Instant::now() < deadline, "no attempt: {m}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(message["state"], "pending");
        let error = message["last_error"].as_str().unwrap();
        assert!(error.contains("refused"), "{error}");
    }
    assert!(receiver.hits().is_empty());
    app.stop().await;
}
