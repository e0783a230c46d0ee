//! The outbox orders messages per subject at a shared destination: a merchant refusing one
//! payment's callbacks forever holds back none of its other payments' callbacks, while each
//! payment's own callbacks still arrive in order. Only HTTP 200 acknowledges an ECommPay
//! callback.
use crate::common::ecommpay::*;
use crate::common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

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
    assert!(receiver.accepted("no-content").is_empty(), "never acknowledged");
    app.stop().await;
}
