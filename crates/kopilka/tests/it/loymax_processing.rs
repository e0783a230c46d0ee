//! Loymax purchase processing on both stores: the seed's requests verbatim, the operation
//! order, retries and replays, refunds, cancels, expiry and concurrent payments.

use crate::common;
use crate::common::loymax::{code, purchase_path};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const CALCULATE: &str = include_str!("fixtures/loymax/calculate.json");

const PAYMENT: &str = include_str!("fixtures/loymax/payment.json");

const BONUS: &str = include_str!("fixtures/loymax/bonus.json");

const CONFIRM: &str = include_str!("fixtures/loymax/confirm.json");

both_stores!(the_seed_purchase_verbatim_on_both_stores);
async fn the_seed_purchase_verbatim_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let calculated = shop.purchase("seed-1", "Calculate", CALCULATE).await;
    assert_eq!(calculated["result"]["state"], "Success", "{calculated}");
    let item = &calculated["data"][0];
    assert_eq!(item["code"], "Ok");
    assert_eq!(item["availableAmount"], json!(38.25));
    assert_eq!(item["availableBonusAmount"], json!(38.25));
    assert_eq!(item["transactionId"], Value::Null);
    assert_eq!(item["cheque"]["totalAmount"], json!(76.5));
    assert_eq!(item["cheque"]["totalDiscount"], json!(23.5));
    assert_eq!(item["cheque"]["totalCashback"], json!(0));
    assert_eq!(item["cheque"]["lines"][0]["amount"], json!(76.5));
    assert_eq!(item["cheque"]["lines"][0]["discount"], json!(23.5));
    assert_eq!(item["cheque"]["lines"][0]["barcode"], "8765653477");
    assert_eq!(item["cheque"]["lines"][0]["payAmount"], Value::Null);

    let paid = shop.purchase("seed-1", "Bonus/Payment", PAYMENT).await;
    let item = &paid["data"][0];
    assert_eq!(item["code"], "Ok", "{paid}");
    assert_eq!(item["amount"], json!(36.5));
    assert_eq!(item["bonusAmount"], json!(36.5));
    assert!(item["transactionId"].is_i64());
    assert_eq!(item["cheque"]["lines"][0]["payAmount"], json!(36.5));
    assert_eq!(shop.balance().await, (json!(1000), json!(963.5)));

    let bonus = shop.purchase("seed-1", "Bonus", BONUS).await;
    let item = &bonus["data"][0];
    assert_eq!(item["code"], "Ok", "{bonus}");
    assert_eq!(item["cheque"]["totalAmount"], json!(76.5));
    assert_eq!(item["cheque"]["totalDiscount"], json!(23.5));
    // 10 % of the 40 paid with money.
    assert_eq!(item["cheque"]["totalCashback"], json!(4));

    let confirmed = shop.purchase("seed-1", "Confirm", CONFIRM).await;
    assert_eq!(code(&confirmed), "Ok", "{confirmed}");
    assert_eq!(confirmed["data"][0]["cheque"], Value::Null);
    assert_eq!(shop.balance().await, (json!(967.5), json!(967.5)));

    // Confirm retried after a lost answer: the same answer, nothing applied twice.
    let again = shop.purchase("seed-1", "Confirm", CONFIRM).await;
    assert_eq!(again, confirmed);
    assert_eq!(shop.balance().await, (json!(967.5), json!(967.5)));

    app.audit_is_clean().await;
    let _ = shop.customer;
    app.stop().await;
}

fn cheque_body(operation: &str, amount: &str, extra: Value) -> String {
    let mut body = json!({
        "operationId": operation,
        "cheque": {"lines": [{"position": 1, "amount": serde_json::from_str::<Value>(amount).unwrap(), "barcode": "8765653477", "quantity": 1, "price": 100}]},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

both_stores!(order_retries_refunds_and_cancels_on_both_stores);
async fn order_retries_refunds_and_cancels_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let p = |method: &str| purchase_path("p-2", method);
    // Out of order: nothing calculated yet.
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o1", "76.5", json!({"amount": 10})),
        )
        .await;
    assert_eq!(code(&r), "IncorrectOperationOrder", "{r}");
    assert_eq!(r["result"]["state"], "Error");
    assert_eq!(r["result"]["httpCode"], 400);
    let r = shop.call(&p("Confirm"), r#"{"operationId": "o2"}"#).await;
    assert_eq!(code(&r), "PurchaseNotFound");

    let r = shop
        .call(&p("Calculate"), &cheque_body("o3", "85", json!({})))
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    let r = shop.call(&p("Confirm"), r#"{"operationId": "o4"}"#).await;
    assert_eq!(code(&r), "IncorrectOperationOrder");
    let r = shop
        .call(&p("Bonus/Available"), &cheque_body("o5", "76.5", json!({})))
        .await;
    assert_eq!(r["data"][0]["availableBonusAmount"], json!(38.25), "{r}");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o6", "76.5", json!({"amount": 38.26})),
        )
        .await;
    assert_eq!(code(&r), "LargePaymentAmount");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o7", "70", json!({"amount": 10})),
        )
        .await;
    assert_eq!(code(&r), "DifferentCheque");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o8", "76.5", json!({"amount": 10.001})),
        )
        .await;
    assert_eq!(r["result"]["state"], "ValidationError", "{r}");

    let body = cheque_body("o9", "76.5", json!({"amount": 36.5}));
    let paid = shop.call(&p("Bonus/Payment"), &body).await;
    assert_eq!(code(&paid), "Ok", "{paid}");
    // The same operation again: the first answer; with another body: refused.
    assert_eq!(shop.call(&p("Bonus/Payment"), &body).await, paid);
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o9", "76.5", json!({"amount": 30})),
        )
        .await;
    assert_eq!(code(&r), "NotUniqueOperationID");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o10", "76.5", json!({"amount": 1})),
        )
        .await;
    assert_eq!(code(&r), "PurchaseExtraPayment");
    assert_eq!(shop.balance().await, (json!(1000), json!(963.5)));

    // Cancelling the payment operation releases its hold; the purchase can be paid again.
    let r = shop
        .call(&p("Operations/o9/Cancel"), r#"{"operationId": "o11"}"#)
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(1000), json!(1000)));
    let r = shop
        .call(&p("Operations/o9/Cancel"), r#"{"operationId": "o12"}"#)
        .await;
    assert_eq!(code(&r), "OperationIsCanceled");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o13", "76.5", json!({"amount": 36.5})),
        )
        .await;
    assert_eq!(code(&r), "Ok", "{r}");

    let pays = json!({"pays": [{"type": "Card", "amount": 40}, {"type": "Loymax", "amount": 30}]});
    let r = shop
        .call(&p("Bonus"), &cheque_body("o14", "76.5", pays))
        .await;
    assert_eq!(code(&r), "DifferentCheque");
    let pays =
        json!({"pays": [{"type": "Card", "amount": 40}, {"type": "Loymax", "amount": 36.5}]});
    let r = shop
        .call(&p("Bonus"), &cheque_body("o15", "76.5", pays))
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    let r = shop.call(&p("Confirm"), r#"{"operationId": "o16"}"#).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(967.5), json!(967.5)));
    let r = shop.call(&p("Confirm"), r#"{"operationId": "o17"}"#).await;
    assert_eq!(code(&r), "OperationIsConfirmed");
    let r = shop
        .call(
            &p("Bonus/Payment"),
            &cheque_body("o18", "76.5", json!({"amount": 1})),
        )
        .await;
    assert_eq!(code(&r), "ConfirmedPurchaseOperation");

    // Refund half the line: half the points paid come back, half the bonus goes.
    let r = shop
        .call(&p("Refund"), &cheque_body("o19", "38.25", json!({})))
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(r["data"][0]["bonusAmount"], json!(18.25));
    assert_eq!(r["data"][0]["cashbackAmount"], json!(2));
    assert_eq!(shop.balance().await, (json!(983.75), json!(983.75)));
    let r = shop
        .call(&p("Refund"), &cheque_body("o20", "38.26", json!({})))
        .await;
    assert_eq!(code(&r), "BusinessError", "more than remains: {r}");
    let r = shop.call(&p("Refund"), r#"{"operationId": "o21"}"#).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(1000), json!(1000)));
    let r = shop.call(&p("Refund"), r#"{"operationId": "o22"}"#).await;
    assert_eq!(code(&r), "BusinessError");
    let r = shop.call(&p("Cancel"), r#"{"operationId": "o23"}"#).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(1000), json!(1000)));
    let r = shop.call(&p("Cancel"), r#"{"operationId": "o24"}"#).await;
    assert_eq!(code(&r), "OperationIsCanceled");

    // A confirmed purchase cancelled whole gives back its payment and takes back its bonus.
    let q = |method: &str| purchase_path("p-3", method);
    shop.call(&q("Calculate"), &cheque_body("q1", "85", json!({})))
        .await;
    shop.call(
        &q("Bonus/Payment"),
        &cheque_body("q2", "76.5", json!({"amount": 10})),
    )
    .await;
    let pays = json!({"pays": [{"type": "Loymax", "amount": 10}]});
    shop.call(&q("Bonus"), &cheque_body("q3", "76.5", pays))
        .await;
    let r = shop.call(&q("Confirm"), r#"{"operationId": "q4"}"#).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(996.65), json!(996.65)));
    let r = shop.call(&q("Cancel"), r#"{"operationId": "q5"}"#).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(shop.balance().await, (json!(1000), json!(1000)));

    // An unconfirmed purchase expires and releases its hold.
    let e = |method: &str| purchase_path("p-4", method);
    shop.call(&e("Calculate"), &cheque_body("e1", "85", json!({})))
        .await;
    shop.call(
        &e("Bonus/Payment"),
        &cheque_body("e2", "76.5", json!({"amount": 20})),
    )
    .await;
    assert_eq!(shop.balance().await, (json!(1000), json!(980)));
    let now = kopilka_store::now_ms();
    assert_eq!(
        kopilka::loymax::processing::expire_once(&app.store, now)
            .await
            .unwrap(),
        0
    );
    let later = now + 61 * 60_000;
    assert_eq!(
        kopilka::loymax::processing::expire_once(&app.store, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(shop.balance().await, (json!(1000), json!(1000)));
    let r = shop.call(&e("Confirm"), r#"{"operationId": "e3"}"#).await;
    assert_eq!(code(&r), "OperationIsCanceled");

    // Lowercase paths, other prefixes, a trailing slash; a dead token is 401.
    let r = shop
        .call(
            "/api/v1/processing/purchases/p-5/calculate/",
            &cheque_body("l1", "85", json!({})),
        )
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    // Ids in the path keep the client's casing under any alias: P-6 is not p-6.
    let r = shop
        .call(
            "/API/V1/PROCESSING/PURCHASES/P-6/CALCULATE",
            &cheque_body("l2", "85", json!({})),
        )
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    let r = shop
        .purchase("p-6", "Confirm", r#"{"operationId": "l3"}"#)
        .await;
    assert_eq!(code(&r), "PurchaseNotFound", "{r}");
    assert_eq!(r["result"]["messageCode"], "PurchaseNotFound", "{r}");
    let response = app
        .http
        .post(app.url(&purchase_path("p-5", "Confirm")))
        .bearer_auth("nope")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(concurrent_payments_never_overspend_on_both_stores);
async fn concurrent_payments_never_overspend_on_both_stores(app: TestApp) {
    let shop = std::sync::Arc::new(app.loymax().shop().await);
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let shop = shop.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("c-{i}");
            let r = shop
                .purchase(
                    &id,
                    "Calculate",
                    &cheque_body(&format!("c{i}-1"), "85", json!({})),
                )
                .await;
            assert_eq!(code(&r), "Ok", "{r}");
            let r = shop
                .purchase(
                    &id,
                    "Bonus/Payment",
                    &cheque_body(&format!("c{i}-2"), "76.5", json!({"amount": 30})),
                )
                .await;
            code(&r).to_string()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "Ok" => ok += 1,
            "NotEnoughMoney" => {}
            other => panic!("unexpected code {other}"),
        }
    }
    // 1000 points pay for 33 payments of 30, never 34.
    assert_eq!(ok, 33);
    assert_eq!(shop.balance().await, (json!(1000), json!(10)));
    let app = std::sync::Arc::try_unwrap(app).ok().unwrap();
    app.stop().await;
}

both_stores!(payment_checks_the_pin_when_the_program_asks_on_both_stores);
async fn payment_checks_the_pin_when_the_program_asks_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let program = app.demo_loymax_program().await;
    let id = program["id"].as_i64().unwrap();
    let mut wrong = program["settings"].clone();
    wrong["loymax_processing"] = json!({"pin_required": "yes"});
    let mut settings = program["settings"].clone();
    settings["loymax_processing"] =
        json!({"pin_required": true, "rules": {"max_bonus_payment_bps": 5000}});
    let response = app
        .http
        .put(app.url(&format!("/v1/programs/{id}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"code": "demo-loymax", "name": "Demo Loymax", "settings": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "settings are validated"
    );
    let response = app
        .http
        .put(app.url(&format!("/v1/programs/{id}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"code": "demo-loymax", "name": "Demo Loymax", "settings": settings.take()}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let response = app
        .http
        .put(app.url(&format!("/v1/customers/{}/pin", shop.customer)))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"pin": "4321"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    shop.purchase("pin-1", "Calculate", &cheque_body("n1", "100", json!({})))
        .await;
    let r = shop
        .purchase(
            "pin-1",
            "Bonus/Payment",
            &cheque_body("n2", "100", json!({"amount": 10, "pinCode": "0000"})),
        )
        .await;
    assert_eq!(code(&r), "WrongPin", "{r}");
    let r = shop
        .purchase(
            "pin-1",
            "Bonus/Payment",
            &cheque_body("n3", "100", json!({"amount": 10, "pinCode": "4321"})),
        )
        .await;
    assert_eq!(code(&r), "Ok", "{r}");
    // Past five wrong PINs, even the right one is refused for a while.
    shop.purchase("pin-2", "Calculate", &cheque_body("m1", "100", json!({})))
        .await;
    for i in 0..4 {
        let r = shop
            .purchase(
                "pin-2",
                "Bonus/Payment",
                &cheque_body(
                    &format!("m2-{i}"),
                    "100",
                    json!({"amount": 10, "pinCode": "0000"}),
                ),
            )
            .await;
        assert_eq!(code(&r), "WrongPin");
    }
    let r = shop
        .purchase(
            "pin-2",
            "Bonus/Payment",
            &cheque_body("m3", "100", json!({"amount": 10, "pinCode": "4321"})),
        )
        .await;
    assert_eq!(code(&r), "WrongPin", "{r}");
    app.stop().await;
}

both_stores!(a_remembered_caller_is_checked_again_on_both_stores);
/// The caller behind a token is remembered between calls; its token, customer and program are
/// still checked on every call.
async fn a_remembered_caller_is_checked_again_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let first = shop
        .purchase("seen-1", "Calculate", &cheque_body("s1", "100", json!({})))
        .await;
    assert_eq!(code(&first), "Ok", "{first}");
    assert_eq!(first["data"][0]["availableAmount"], json!(45));
    let paid = shop
        .purchase(
            "seen-1",
            "Bonus/Payment",
            &cheque_body("s2", "90", json!({"amount": 10})),
        )
        .await;
    assert!(paid["data"][0]["transactionId"].is_i64(), "{paid}");
    let again = shop
        .purchase(
            "seen-1",
            "Bonus/Payment",
            &cheque_body("s2", "90", json!({"amount": 10})),
        )
        .await;
    assert_eq!(again, paid, "a replay shows the same transactionId");

    // The program's rules change: the next call prices with the new ones.
    let program = app.demo_loymax_program().await;
    let mut settings = program["settings"].clone();
    settings["loymax_processing"] = json!({"rules": {"max_bonus_payment_bps": 1000}});
    let response = app
        .http
        .put(app.url(&format!("/v1/programs/{}", program["id"])))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"code": "demo-loymax", "name": "Demo Loymax", "settings": settings}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let second = shop
        .purchase("seen-2", "Calculate", &cheque_body("s3", "100", json!({})))
        .await;
    assert_eq!(second["data"][0]["availableAmount"], json!(10), "{second}");

    // Logout ends the token: the remembered caller is refused from the next call on.
    let response = app
        .http
        .post(app.url("/api/User/Logout"))
        .bearer_auth(&shop.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .http
        .post(app.url(&purchase_path("seen-2", "Calculate")))
        .bearer_auth(&shop.token)
        .header("content-type", "application/json")
        .body(cheque_body("s4", "100", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
