mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn demo_customer_redeems_and_reverses_on_both_stores() {
    for app in TestApp::each(true).await {
        let (status, customers) = app.get("/v1/customers?phone=%2B380671111111").await;
        assert_eq!(status, StatusCode::OK, "{customers}");
        let customer = customers["items"][0]["id"].as_i64().unwrap();
        assert_eq!(customers["items"][0]["phone"], "***1111");
        let (status, op) = app
            .post("/v1/operations", json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": 10.5, "idempotency_key": "k1"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{op}");
        assert_eq!(op["balance"]["balance"], "989.50");
        let (status, again) = app
            .post("/v1/operations", json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "10.50", "idempotency_key": "k1"}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["id"], op["id"]);
        assert_eq!(again["replayed"], true);
        let (status, reversal) = app.post(&format!("/v1/operations/{}/reverse", op["id"]), json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{reversal}");
        assert_eq!(reversal["balance"]["balance"], "1000.00");
        let (_, audit) = app.get("/v1/ledger/audit").await;
        assert_eq!(audit["mismatched_accounts"], json!([]));
        app.stop().await;
    }
}

#[tokio::test]
async fn the_browser_harness_reaches_the_server() {
    let app = TestApp::start(common::Backend::Sqlite, false).await;
    common::run_browser("smoke.mjs", &app.base, &[]).await;
    app.stop().await;
}
