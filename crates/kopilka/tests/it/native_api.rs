use crate::common;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

both_stores!(demo_customer_redeems_and_reverses_on_both_stores);
async fn demo_customer_redeems_and_reverses_on_both_stores(app: TestApp) {
    let (status, customers) = app.get("/v1/customers?phone=%2B380671111111").await;
    assert_eq!(status, StatusCode::OK, "{customers}");
    let customer = customers["items"][0]["id"].as_i64().unwrap();
    assert_eq!(customers["items"][0]["phone"], "***1111");
    let op = app.create("/v1/operations", json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": 10.5, "idempotency_key": "k1"})).await;
    assert_eq!(op["balance"]["balance"], "989.50");
    let (status, again) = app.operation(json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "10.50", "idempotency_key": "k1"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], op["id"]);
    assert_eq!(again["replayed"], true);
    let reversal = app
        .create(&format!("/v1/operations/{}/reverse", op["id"]), json!({}))
        .await;
    assert_eq!(reversal["balance"]["balance"], "1000.00");
    app.audit_is_clean().await;
    app.stop().await;
}

#[tokio::test]
async fn the_browser_harness_reaches_the_server() {
    let app = TestApp::start(common::Backend::Sqlite, false).await;
    common::run_browser("smoke.mjs", &app.base, &[]).await;
    app.stop().await;
}
