//! Kupi-Kupi as shops really use it (issue 21): a notification handler that checks with
//! `checkout` before it answers, signed notifications of every ending, `confirmation` from the
//! shop's own page, receipts with refunds, PHP's floats, GETs and Russian messages.

use crate::common::kupikupi::*;
use crate::common::{Backend, TestApp};
use axum::routing::post;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the shop's notification handler needs to call kopilka back.
#[derive(Clone, Default)]
struct Caller {
    base: String,
    uid: String,
    secret: String,
}

/// A shop whose NotificationURL handler does what careful shops do: it checks the token, asks
/// `checkout` whether the order is really paid, and answers `OK` only when checkout agrees.
async fn checking_shop(app: &TestApp) -> (Shop, Arc<Mutex<Vec<Value>>>) {
    let caller = Arc::new(Mutex::new(Caller::default()));
    let checkouts = Arc::new(Mutex::new(Vec::new()));
    let (c, seen) = (caller.clone(), checkouts.clone());
    let handler = post(move |body: String| {
        let (caller, seen) = (c.lock().unwrap().clone(), seen.clone());
        async move {
            let notification = verified_notification(&body, &caller.secret);
            let check = signed(
                json!({"platformUid": caller.uid, "orderId": notification["orderId"], "amount": notification["amount"]}),
                &caller.secret,
            );
            let answer: Value = reqwest::Client::new()
                .post(format!("{}/api/v1/transfer/checkout", caller.base))
                .json(&check)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let agrees = answer["transferStatus"] == notification["transferStatus"];
            seen.lock().unwrap().push(answer);
            if agrees {
                "OK"
            } else {
                "not paid"
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/notify", handler);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (status, created) = app
        .post(
            "/v1/kupikupi/platforms",
            json!({"merchant_id": 1, "site": base, "success_url": format!("{base}/success"),
                   "fail_url": format!("{base}/fail"), "notification_url": format!("{base}/notify")}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    let shop = Shop {
        uid: created["uid"].as_str().unwrap().into(),
        secret: created["secret_key"].as_str().unwrap().into(),
        dev: created["dev_secret_key"].as_str().unwrap().into(),
        receiver: Receiver {
            base,
            bodies: Arc::default(),
        },
    };
    *caller.lock().unwrap() = Caller {
        base: app.base.clone(),
        uid: shop.uid.clone(),
        secret: shop.secret.clone(),
    };
    (shop, checkouts)
}

async fn eventually<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) -> bool {
    for _ in 0..300 {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn balance_and_held(app: &TestApp, phone: &str) -> (String, String) {
    let id = app.customer_by_phone(phone).await["id"].as_i64().unwrap();
    app.balance_and_held(id).await
}

fn pair(balance: &str, held: &str) -> (String, String) {
    (balance.to_string(), held.to_string())
}

both_stores!(
    a_shop_that_checks_the_notification_with_checkout_is_paid,
    Backend
);
async fn a_shop_that_checks_the_notification_with_checkout_is_paid(backend: Backend) {
    let app = TestApp::start_with(backend, true, |config| config.outbox.schedule_unit_ms = 1).await;
    let (shop, checkouts) = checking_shop(&app).await;
    let (payment_id, form) = shop.opened(&app, "checked-1", 25000).await;
    submit_code(&form, &code_of(&app, payment_id).await).await;
    let paid = eventually(|| async { stored_status(&app, payment_id).await == "CONFIRMED" }).await;
    // The notification goes through the outbox after the transfer is confirmed.
    eventually(|| async { !checkouts.lock().unwrap().is_empty() }).await;
    let seen = checkouts.lock().unwrap().clone();
    assert!(paid, "checkout during the notification: {seen:?}");
    assert_eq!(seen[0]["transferStatus"], "CONFIRMED", "{seen:?}");
    assert_eq!(balance_and_held(&app, PHONE).await, pair("750.00", "0.00"));
    // After the notification, checkout still says what it said.
    shop.assert_transfer(&app, "checked-1", 25000, false, "CONFIRMED")
        .await;
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_checkout_that_said_confirmed_is_never_taken_back);
async fn a_checkout_that_said_confirmed_is_never_taken_back(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    let (payment_id, form) = shop.opened(&app, "kept-1", 10000).await;
    submit_code(&form, &code_of(&app, payment_id).await).await;
    assert_eq!(stored_status(&app, payment_id).await, "HELD");
    shop.assert_transfer(&app, "kept-1", 10000, false, "CONFIRMED")
        .await;
    assert_eq!(balance_and_held(&app, PHONE).await, pair("900.00", "0.00"));
    // The notification dies later: the shop was told CONFIRMED, so it stays paid.
    let message = app
        .store
        .read(move |tx| {
            Box::pin(async move {
                let transfer = tx.kupikupi_transfer(payment_id).await?.unwrap();
                let filter = kopilka_store::outbox::MessageFilter {
                    operation_id: transfer.operation_id,
                    kind: Some("callback".into()),
                    limit: 10,
                    ..Default::default()
                };
                Ok(tx.messages(&filter).await?.remove(0))
            })
        })
        .await
        .unwrap();
    app.store
        .write(move |tx| {
            Box::pin(async move {
                kopilka::kupikupi::on_notification_settled(tx, &message, false).await
            })
        })
        .await
        .unwrap();
    shop.assert_transfer(&app, "kept-1", 10000, false, "CONFIRMED")
        .await;
    assert_eq!(balance_and_held(&app, PHONE).await, pair("900.00", "0.00"));
    app.audit_is_clean().await;
    app.stop().await;
}

/// Every notification the platform was sent, verified and without its token, oldest first.
async fn notifications(app: &TestApp, shop: &Shop, key: &str) -> Vec<Value> {
    let (_, callbacks) = app.get("/v1/messages?kind=callback&limit=100").await;
    let mut bodies: Vec<Value> = callbacks["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["recipient"] == format!("{}/notify", shop.receiver.base))
        .map(|m| verified_notification(m["body"].as_str().unwrap(), key))
        .collect();
    bodies.reverse();
    bodies
}

both_stores!(rejected_and_canceled_transfers_are_notified);
async fn rejected_and_canceled_transfers_are_notified(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    // Five wrong codes.
    let (wrong_id, form) = shop.opened(&app, "wrong-1", 10000).await;
    let code = code_of(&app, wrong_id).await;
    for _ in 0..5 {
        submit_code(&form, wrong_code(&code)).await;
    }
    // The points were spent elsewhere before the code came.
    let (poor_id, poor_form) = shop.opened(&app, "poor-1", 90000).await;
    let (rich_id, rich_form) = shop.opened(&app, "rich-1", 90000).await;
    submit_code(&rich_form, &code_of(&app, rich_id).await).await;
    submit_code(&poor_form, &code_of(&app, poor_id).await).await;
    // The form's lifetime passed.
    let (late_id, _) = shop.opened(&app, "late-1", 100).await;
    assert_eq!(
        expire_forms(&app, kopilka_store::now_ms() + 16 * 60 * 1000).await,
        1
    );
    let sent = notifications(&app, &shop, &shop.secret).await;
    let ending = |id: i64| {
        sent.iter()
            .find(|n| n["paymentId"] == id)
            .unwrap_or_else(|| panic!("no notification of {id}: {sent:?}"))
            .clone()
    };
    let wrong = ending(wrong_id);
    assert_eq!(
        (
            &wrong["status"],
            &wrong["transferStatus"],
            &wrong["errorCode"]
        ),
        (&json!(false), &json!("REJECTED"), &json!("9"))
    );
    let poor = ending(poor_id);
    assert_eq!(
        (
            &poor["status"],
            &poor["transferStatus"],
            &poor["errorCode"],
            &poor["message"]
        ),
        (
            &json!(false),
            &json!("REJECTED"),
            &json!("5"),
            &json!("Не достаточно средств")
        )
    );
    let late = ending(late_id);
    assert_eq!(
        (&late["status"], &late["transferStatus"], &late["errorCode"]),
        (&json!(false), &json!("CANCELED"), &json!("10"))
    );
    assert_eq!(ending(rich_id)["transferStatus"], "CONFIRMED");
    for n in &sent {
        assert_eq!(n["uidPlatform"], shop.uid.as_str());
        assert!(n["message"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| !c.is_ascii_alphabetic()));
    }
    app.stop().await;
}

async fn sms_count(app: &TestApp) -> usize {
    let (_, sms) = app
        .get(&format!(
            "/v1/messages?recipient={PHONE}&kind=sms&limit=100"
        ))
        .await;
    sms["items"].as_array().unwrap().len()
}

both_stores!(confirmation_texts_the_code_and_takes_any_waiting_transfers_code);
async fn confirmation_texts_the_code_and_takes_any_waiting_transfers_code(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    // A shop with its own code field never sends the customer to the form.
    let older = shop.init(&app, "own-1", 10000).await["paymentId"]
        .as_i64()
        .unwrap();
    assert_eq!(
        six_digits(&last_sms(&app).await),
        code_of(&app, older).await
    );
    let newer = shop.init(&app, "own-2", 20000).await["paymentId"]
        .as_i64()
        .unwrap();
    assert_eq!(
        six_digits(&last_sms(&app).await),
        code_of(&app, newer).await
    );
    assert_eq!(sms_count(&app).await, 2);
    // The older transfer's code confirms the older transfer and costs the newer nothing.
    let code = code_of(&app, older).await;
    let answer = shop.confirm(&app, &code).await;
    assert_eq!(
        answer,
        json!({"status": true, "errorCode": "0", "message": "", "transferStatus": "CONFIRMED", "paymentId": older, "orderId": "own-1"})
    );
    let attempts = app
        .store
        .read(move |tx| Box::pin(async move { tx.kupikupi_transfer(newer).await }))
        .await
        .unwrap()
        .unwrap()
        .attempts;
    assert_eq!(attempts, 0);
    assert_eq!(balance_and_held(&app, PHONE).await, pair("900.00", "0.00"));
    let newer_code = code_of(&app, newer).await;
    let wrong = shop.confirm(&app, wrong_code(&newer_code)).await;
    assert_eq!(wrong["errorCode"], "8", "{wrong}");
    assert!(wrong["message"].as_str().unwrap().contains('4'), "{wrong}");
    assert_eq!(shop.confirm(&app, &newer_code).await["paymentId"], newer);
    // Codes are texted within the quota: five per phone per hour, whatever the shop asks.
    for i in 0..5 {
        shop.init(&app, &format!("quota-{i}"), 100).await;
    }
    assert_eq!(sms_count(&app).await, 5);
    app.stop().await;
}

both_stores!(receipts_refunds_discounts_and_dates);
async fn receipts_refunds_discounts_and_dates(app: TestApp) {
    let shop = shop(&app, 0).await;
    let receipt = |fd: &str, kind: i64, amount: i64| {
        json!({"phone": 79000000000u64, "amount": amount, "fn": "9999078900004312", "fd": fd,
               "fp": "4000623456", "pay_date": "23.11.2025 14:05:00", "receipt_type": kind})
    };
    let mut untyped = receipt("1", 1, 50000);
    untyped.as_object_mut().unwrap().remove("receipt_type");
    let answer = shop.call(&app, "receipt", untyped, false).await;
    assert_eq!(answer["errorCode"], "3");
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .starts_with("receipt_type"));
    assert_eq!(
        shop.call(&app, "receipt", receipt("1", 3, 50000), false)
            .await["errorCode"],
        "3"
    );
    // A sale of 500.00 earns 20 %: 100.00.
    let sale = shop
        .call(&app, "receipt", receipt("1", 1, 50000), false)
        .await;
    assert_eq!(sale["cashback"], json!(100.00), "{sale}");
    assert_eq!(balance_and_held(&app, PHONE).await.0, "1100.00");
    // Half of it refunded: half the cashback goes back, the refund earns nothing.
    let refund = shop
        .call(&app, "receipt", receipt("2", 2, 25000), false)
        .await;
    assert_eq!(refund["status"], true, "{refund}");
    assert_eq!(refund["cashback"], json!(0.00));
    assert_ne!(refund["paymentId"], 0);
    assert_eq!(balance_and_held(&app, PHONE).await.0, "1050.00");
    let again = shop
        .call(&app, "receipt", receipt("2", 2, 25000), false)
        .await;
    assert_eq!(again["paymentId"], refund["paymentId"]);
    assert_eq!(balance_and_held(&app, PHONE).await.0, "1050.00");
    shop.call(&app, "receipt", receipt("3", 2, 25000), false)
        .await;
    assert_eq!(balance_and_held(&app, PHONE).await.0, "1000.00");
    // Nothing left to match: the refund is registered and takes nothing.
    let unmatched = shop
        .call(&app, "receipt", receipt("4", 2, 100), false)
        .await;
    assert_eq!(
        (&unmatched["status"], &unmatched["paymentId"]),
        (&json!(true), &json!(0))
    );
    assert_eq!(balance_and_held(&app, PHONE).await.0, "1000.00");
    // `discount`: the part not paid with money earns nothing.
    let mut discounted = receipt("5", 1, 50000);
    discounted["discount"] = json!(10000);
    let answer = shop.call(&app, "receipt", discounted.clone(), false).await;
    assert_eq!(answer["cashback"], json!(80.00), "{answer}");
    discounted["fd"] = json!("6");
    discounted["discount"] = json!(50001);
    assert_eq!(
        shop.call(&app, "receipt", discounted, false).await["errorCode"],
        "3"
    );
    // A receipt paid in the future is refused.
    let mut future = receipt("7", 1, 100);
    future["pay_date"] = json!("01.01.2099 00:00:00");
    let answer = shop.call(&app, "receipt", future.clone(), false).await;
    assert_eq!(answer["errorCode"], "3");
    assert!(answer["message"].as_str().unwrap().starts_with("pay_date"));
    assert_eq!(
        shop.call(&app, "receipt", future, true).await["errorCode"],
        "3"
    );
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(floats_gets_and_russian_messages);
async fn floats_gets_and_russian_messages(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    // PHP: 'amount' => 19.99*100 is sent as 1998.9999999999998 and signed as "1999".
    let body = format!(
        r#"{{"phone":79000000000,"orderId":"f-1","amount":1998.9999999999998,"platformUid":"{uid}","token":"{token}"}}"#,
        uid = shop.uid,
        token = signed(
            json!({"phone": 79000000000u64, "orderId": "f-1", "amount": 1999, "platformUid": shop.uid}),
            &shop.secret
        )["token"]
            .as_str()
            .unwrap()
    );
    let answer: Value = app
        .http
        .post(app.url("/api/v1/transfer/init"))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errorCode"], "3", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().starts_with("amount"),
        "{answer}"
    );
    for method in [
        "balance",
        "init",
        "checkout",
        "confirmation",
        "receipt",
        "nope",
    ] {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/transfer/{method}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            (&answer["status"], &answer["errorCode"]),
            (&json!(false), &json!("3"))
        );
    }
    // Production's messages are Russian, as the sandbox's are.
    let cases = [
        ("balance", json!({"phone": 79990000000u64})),
        ("balance", json!({"phone": "abc"})),
        ("init", json!({"phone": 79000000000u64, "amount": 100})),
        ("checkout", json!({"orderId": "none", "amount": 1})),
        (
            "confirmation",
            json!({"phone": 79000000000u64, "code": "123456"}),
        ),
    ];
    for (method, body) in cases {
        let answer = shop.call(&app, method, body, false).await;
        let message = answer["message"].as_str().unwrap();
        assert!(
            message
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap())),
            "{method}: {answer}"
        );
    }
    let forged = call(
        &app,
        "balance",
        signed(
            json!({"platformUid": shop.uid, "phone": 79000000000u64}),
            "wrong",
        ),
    )
    .await;
    assert_eq!(forged["message"], "Неверная подпись запроса (token)");
    app.stop().await;
}

both_stores!(the_seeds_first_example_works_on_the_demo);
async fn the_seeds_first_example_works_on_the_demo(app: TestApp) {
    // $api = new KupiKupiPayApi('M2hULcD58iYGkmS7', 'yIKirCvplm8N1D9g'); $api->balance(79000000001);
    let answer = call_raw(
        &app,
        "balance",
        signed(
            json!({"phone": 79000000001u64, "platformUid": DEMO_UID}),
            DEMO_SECRET,
        ),
    )
    .await;
    assert_eq!(
        answer,
        r#"{"status":true,"errorCode":"0","message":"","balance":1000000.00}"#
    );
    app.stop().await;
}

both_stores!(a_php_shop_pays_as_the_public_class_asks);
async fn a_php_shop_pays_as_the_public_class_asks(app: TestApp) {
    // The seed's first example, then its init example, on a platform of the shop's own.
    let balance = php(&app, DEMO_UID, DEMO_SECRET, &["balance", "79000000001"]).await;
    assert_eq!(balance["balance"], json!(1000000.0), "{balance}");
    let shop = shop(&app, NEVER_OK).await;
    let (uid, key) = (shop.uid.as_str(), shop.secret.as_str());
    let init = php(&app, uid, key, &["init", "79000000000", "1234", "25000"]).await;
    assert_eq!(
        (&init["status"], &init["orderId"]),
        (&json!(true), &json!("1234")),
        "{init}"
    );
    let payment_id = init["paymentId"].as_i64().unwrap();
    // The shop's own code field: the customer got the code by SMS at init.
    let code = six_digits(&last_sms(&app).await);
    assert_eq!(code, code_of(&app, payment_id).await);
    let confirmed = php(&app, uid, key, &["confirmation", "79000000000", &code]).await;
    assert_eq!(confirmed["transferStatus"], "CONFIRMED", "{confirmed}");
    let checkout = php(&app, uid, key, &["checkout", "1234", "25000"]).await;
    assert_eq!(checkout["transferStatus"], "CONFIRMED", "{checkout}");
    assert_eq!(balance_and_held(&app, PHONE).await, pair("750.00", "0.00"));
    // 19.99*100 in PHP is not 1999: an amount error the shop can act on.
    let float = php(&app, uid, key, &["init-float", "79000000000", "f-1"]).await;
    assert_eq!(float["errorCode"], "3", "{float}");
    assert!(
        float["message"].as_str().unwrap().starts_with("amount"),
        "{float}"
    );
    let receipt = php(
        &app,
        uid,
        key,
        &[
            "receipt",
            "79000000000",
            "50000",
            "9999078900004312",
            "77",
            "4000623456",
            "23.11.2025 14:05:00",
            "1",
        ],
    )
    .await;
    assert_eq!(receipt["cashback"], json!(100.0), "{receipt}");
    app.stop().await;
}
