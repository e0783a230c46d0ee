//! The outbox orders messages per subject at a shared destination: a merchant refusing one
//! payment's callbacks forever holds back none of its other payments' callbacks, while each
//! payment's own callbacks still arrive in order. Only HTTP 200 acknowledges an ECommPay
//! callback. Native webhooks are ordered per operation and Kupi-Kupi notifications per transfer
//! the same way.
use crate::common::ecommpay::*;
use crate::common::{Backend, TestApp};
use kopilka_store::outbox::{Attempt, AttemptOutcome, NewMessage, NextStep};
use kopilka_store::SharedStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The merchant's handler: it fails on one payment (`stuck`), answers 204 to another
/// (`no-content`), and takes every other at once.
fn merchant(body: &Value) -> StatusCode {
    match body["payment"]["id"].as_str() {
        Some("stuck") => StatusCode::INTERNAL_SERVER_ERROR,
        Some("no-content") => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    }
}

both_stores!(one_refused_payment_holds_back_no_other_payment, Backend);
async fn one_refused_payment_holds_back_no_other_payment(backend: Backend) {
    // Real time: the `ecommpay` schedule retries a refused callback after 10 s at the earliest.
    let app = TestApp::start_with(backend, true, |config| {
        config.outbox.poll_interval_ms = 50;
    })
    .await;
    let receiver = CallbackReceiver::start(merchant).await;
    let sale_to = |id: &str| sale_request_to(id, 2500, "AT", &receiver.url);

    assert_eq!(sale(&app, &sale_to("stuck")).await.1["status"], "success");
    assert!(
        receiver
            .wait_for(Duration::from_secs(5), |r| r
                .seen()
                .iter()
                .any(|(id, _, _)| id == "stuck"))
            .await,
        "the stuck payment's callback was tried"
    );
    // The stuck payment is paid too: its final callback waits behind its refused one.
    let stuck_code = voucher_code(&app, "stuck").await;
    assert_eq!(
        terminal(&app, "pay", &stuck_code, Some(2500)).await["result"],
        "paid"
    );

    for id in ["free-1", "free-2"] {
        assert_eq!(sale(&app, &sale_to(id)).await.1["status"], "success");
        let code = voucher_code(&app, id).await;
        assert_eq!(
            terminal(&app, "pay", &code, Some(2500)).await["result"],
            "paid"
        );
    }
    let both_through = receiver
        .wait_for(Duration::from_secs(5), |r| {
            ["free-1", "free-2"]
                .iter()
                .all(|id| r.accepted(id).len() == 2)
        })
        .await;
    assert!(
        both_through,
        "the other payments' callbacks arrive while the stuck one waits for its retry: {:?}",
        receiver.seen()
    );
    for id in ["free-1", "free-2"] {
        assert_eq!(
            receiver.accepted(id),
            ["awaiting redirect result", "success"],
            "{id}: its own callbacks in order"
        );
    }
    let stuck: Vec<(String, String, u16)> = receiver
        .seen()
        .into_iter()
        .filter(|(id, _, _)| id == "stuck")
        .collect();
    assert!(
        stuck
            .iter()
            .all(|(_, status, _)| status == "awaiting redirect result"),
        "the stuck payment's final callback never passes its refused one: {stuck:?}"
    );
    let (_, listed) = app.get("/v1/messages?kind=callback&state=pending").await;
    let pending: Vec<Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str::<Value>(m["body"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(pending.len(), 2, "the stuck payment's two callbacks wait");
    assert!(pending.iter().all(|b| b["payment"]["id"] == "stuck"));
    app.stop().await;
}

both_stores!(only_http_200_acknowledges_a_callback, Backend);
async fn only_http_200_acknowledges_a_callback(backend: Backend) {
    let app = TestApp::start_with(backend, true, |config| {
        config.outbox.poll_interval_ms = 50;
        config.outbox.schedule_unit_ms = 1;
    })
    .await;
    let receiver = CallbackReceiver::start(merchant).await;
    let request = sale_request_to("no-content", 2500, "AT", &receiver.url);
    assert_eq!(sale(&app, &request).await.1["status"], "success");
    assert!(
        receiver
            .wait_for(Duration::from_secs(10), |r| r.seen().len() >= 3)
            .await,
        "a 204 is retried: {:?}",
        receiver.seen()
    );
    let (_, listed) = app.get("/v1/messages?kind=callback").await;
    let message = &listed["items"][0];
    assert_ne!(message["state"], "delivered", "{message}");
    assert!(
        message["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP 204")),
        "{message}"
    );
    assert!(
        receiver.accepted("no-content").is_empty(),
        "never acknowledged"
    );
    app.stop().await;
}

/// A merchant's webhook receiver that refuses every event about the operation with the
/// idempotency key `stuck`, and records each event it acknowledged.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = accepted.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let log = log.clone();
            async move {
                let event: Value = serde_json::from_str(&body).unwrap();
                let operation = &event["data"]["operation"];
                if operation["idempotency_key"] == "stuck" {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                log.lock().unwrap().push(event);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, accepted)
}

both_stores!(native_webhooks_are_ordered_per_operation, Backend);
async fn native_webhooks_are_ordered_per_operation(backend: Backend) {
    // Real time: the `default` schedule retries a refused event after 10 s at the earliest.
    let app = TestApp::start_with(backend, true, |config| {
        config.outbox.poll_interval_ms = 50;
    })
    .await;
    let (url, accepted) = webhook_receiver().await;
    let (_, merchant) = app.get("/v1/merchants/1").await;
    let update = json!({
        "program_id": merchant["program_id"], "name": merchant["name"],
        "sms_name": merchant["sms_name"], "return_hosts": merchant["return_hosts"],
        "webhook_url": url,
    });
    assert_eq!(
        app.send_put("/v1/merchants/1", &update).await.0,
        StatusCode::OK
    );
    let earn = |key: &str| json!({"kind": "earn", "customer_id": 1, "merchant_id": 1, "paid": "100.00", "idempotency_key": key});
    let stuck = app.create("/v1/operations", earn("stuck")).await;
    // The reversal's event follows the refused event of the operation it reverses.
    let reversal = app
        .create(
            &format!("/v1/operations/{}/reverse", stuck["id"]),
            json!({"idempotency_key": "stuck-reversal"}),
        )
        .await;
    let free = app.create("/v1/operations", earn("free")).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while accepted.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<Value> = accepted.lock().unwrap().clone();
    let operations: Vec<&Value> = got.iter().map(|e| &e["data"]["operation"]["id"]).collect();
    assert_eq!(
        operations,
        [&free["id"]],
        "another operation's event passes; the reversal {} waits: {got:?}",
        reversal["id"]
    );
    app.stop().await;
}

both_stores!(claims_take_the_oldest_message_of_each_subject, Backend);
/// The store's claim on both databases, without a worker: at one URL, the oldest pending
/// message of each subject is due, and messages naming no subject keep one order together.
async fn claims_take_the_oldest_message_of_each_subject(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = match backend {
        Backend::Sqlite => kopilka_store::open(&format!(
            "sqlite://{}",
            dir.path().join("queue.db").display()
        ))
        .await
        .unwrap(),
        Backend::Postgres => Arc::new(
            kopilka_store::PgStore::open(
                &crate::common::postgres_url(),
                Some(&crate::common::unique_schema("subjects")),
            )
            .await
            .unwrap(),
        ),
    };
    let enqueue = |subject: Option<&str>| {
        let mut message = NewMessage::callback("http://shop.test/cb", "{}".into(), Vec::new());
        message.ordered_by = subject.map(str::to_string);
        let store = store.clone();
        async move {
            store
                .write(move |tx| Box::pin(async move { tx.enqueue(&message).await }))
                .await
                .unwrap()
        }
    };
    let p1a = enqueue(Some("ecommpay.payment:1")).await;
    let p2a = enqueue(Some("ecommpay.payment:2")).await;
    let n1 = enqueue(None).await;
    let p1b = enqueue(Some("ecommpay.payment:1")).await;
    let p2b = enqueue(Some("ecommpay.payment:2")).await;
    let n2 = enqueue(None).await;
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
                .expect("the lease holds")
        }
    };
    assert_eq!(claim(t0).await, [p1a, p2a, n1]);
    let lease = t0 + 60_000;
    finish(p1a, lease, NextStep::Retry { at: t0 + 3_600_000 }).await;
    finish(p2a, lease, NextStep::Delivered).await;
    finish(n1, lease, NextStep::Delivered).await;
    assert_eq!(
        claim(t0 + 1).await,
        [p2b, n2],
        "payment 1 waits for its retry and holds back only its own next message"
    );
    let lease = t0 + 1 + 60_000;
    finish(p2b, lease, NextStep::Delivered).await;
    finish(n2, lease, NextStep::Delivered).await;
    assert_eq!(claim(t0 + 3_600_000).await, [p1a]);
    finish(p1a, t0 + 3_660_000, NextStep::Delivered).await;
    assert_eq!(claim(t0 + 3_600_001).await, [p1b]);
    store.close().await;
}

both_stores!(one_refused_transfer_holds_back_no_other_kupikupi_transfer);
async fn one_refused_transfer_holds_back_no_other_kupikupi_transfer(app: TestApp) {
    use crate::common::kupikupi::{code_of, shop, submit_code};
    // The shop fails the first notification; `default` retries it after 10 s at the earliest.
    let shop = shop(&app, 1).await;
    let (first, form) = shop.opened(&app, "order-a", 10000).await;
    submit_code(&form, &code_of(&app, first).await).await;
    let bodies = shop.receiver.bodies.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while bodies.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (second, form) = shop.opened(&app, "order-b", 5000).await;
    submit_code(&form, &code_of(&app, second).await).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let notified = |id: i64| {
        bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| serde_json::from_str::<Value>(b).is_ok_and(|b| b["paymentId"] == id))
    };
    while !notified(second) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        notified(second),
        "the second transfer's notification passes the first one waiting for its retry: {:?}",
        bodies.lock().unwrap()
    );
    app.stop().await;
}
