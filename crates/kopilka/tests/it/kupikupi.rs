//! Kupi-Kupi over HTTP on both stores: platforms, the five methods, the transfer form, the
//! notification's settlement, sandbox phones, expiry and concurrency.

use crate::common;
use crate::common::kupikupi::*;
use crate::common::native::of_kind;
use crate::common::{Backend, TestApp, ADMIN_TOKEN};
use kopilka::config::Config;
use kopilka_store::outbox::MessageFilter;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

async fn customer_balance(app: &TestApp) -> (String, String) {
    let id = app.customer_by_phone(PHONE).await["id"].as_i64().unwrap();
    app.balance_and_held(id).await
}

async fn assert_balance(app: &TestApp, balance: &str, held: &str) {
    assert_eq!(
        customer_balance(app).await,
        (balance.to_string(), held.to_string())
    );
}

/// Settles the notification of a transfer as the outbox worker will: `delivered` when the shop
/// answered `OK`, otherwise it died.
async fn settle(app: &TestApp, payment_id: i64, delivered: bool) {
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let transfer = tx.kupikupi_transfer(payment_id).await?.unwrap();
                let message = tx
                    .messages(&MessageFilter {
                        operation_id: transfer.operation_id,
                        kind: Some("callback".into()),
                        limit: 10,
                        ..MessageFilter::default()
                    })
                    .await?
                    .into_iter()
                    .next()
                    .expect("the notification was queued with the hold");
                assert_eq!(
                    message.purpose.as_deref(),
                    Some(kopilka::kupikupi::NOTIFICATION_PURPOSE)
                );
                assert_eq!(message.accept, "ok");
                kopilka::kupikupi::on_notification_settled(tx, &message, delivered).await
            })
        })
        .await
        .unwrap();
}

both_stores!(a_transfer_goes_from_init_to_confirmed);
async fn a_transfer_goes_from_init_to_confirmed(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    let balance = shop
        .call(&app, "balance", json!({"phone": 79000000000u64}), false)
        .await;
    assert_eq!(
        balance,
        json!({"status": true, "errorCode": "0", "message": "", "balance": 1000.00})
    );
    let text = shop.balance_text(&app, 79000000000, false).await;
    assert!(text.ends_with(r#""balance":1000.00}"#), "{text}");

    let init = shop.init(&app, "1234", 25000).await;
    assert_eq!(init["status"], true, "{init}");
    assert_eq!(init["errorCode"], "0");
    assert_eq!(init["orderId"], "1234");
    assert_eq!(init["amount"], 25000);
    let payment_id = init["paymentId"].as_i64().unwrap();
    let form = init["transferURL"].as_str().unwrap().to_string();
    assert!(form.starts_with(&app.base));
    // The same order again is the same transfer; with other data it is refused.
    assert_eq!(
        shop.init(&app, "1234", 25000).await["paymentId"],
        payment_id
    );
    let reused = shop.init(&app, "1234", 26000).await;
    assert_eq!(
        (reused["status"].clone(), reused["errorCode"].clone()),
        (json!(false), json!("7"))
    );
    shop.assert_transfer(&app, "1234", 25000, false, "NEW")
        .await;

    let page = common::text(&app.http, &form).await;
    assert!(
        page.contains("Demo Shop") && page.contains("250,00 ₽") && page.contains("***0000"),
        "{page}"
    );
    assert!(!page.contains(PHONE));
    let checkout = shop.checkout(&app, "1234", 25000, false).await;
    assert_eq!(
        checkout,
        json!({"status": true, "errorCode": "0", "message": "", "transferStatus": "FORM_SHOWED", "paymentId": payment_id, "orderId": "1234"})
    );
    let code = six_digits(&last_sms(&app).await);
    assert_eq!(code, code_of(&app, payment_id).await);
    // Opening the form twice sends one SMS.
    app.http.get(&form).send().await.unwrap();
    let (_, sms) = app
        .get(&format!("/v1/messages?recipient={PHONE}&kind=sms"))
        .await;
    assert_eq!(sms["items"].as_array().unwrap().len(), 1);

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (status, _, page) = submit_code(&form, wrong).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Осталось попыток: 4"), "{page}");
    let (status, location, _) = submit_code(&form, &code).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{}/success", shop.receiver.base));
    // Held, waiting for the shop's OK.
    assert_balance(&app, "1000.00", "250.00").await;
    assert_eq!(stored_status(&app, payment_id).await, "HELD");
    let (_, callbacks) = app.get("/v1/messages?kind=callback").await;
    let body = verified_notification(
        callbacks["items"][0]["body"].as_str().unwrap(),
        &shop.secret,
    );
    assert_eq!(
        body,
        json!({"status": true, "transferStatus": "CONFIRMED", "errorCode": "0", "message": "", "uidPlatform": shop.uid, "orderId": "1234", "paymentId": payment_id, "amount": 25000})
    );
    assert_eq!(
        callbacks["items"][0]["recipient"],
        format!("{}/notify", shop.receiver.base)
    );

    settle(&app, payment_id, true).await;
    settle(&app, payment_id, true).await;
    shop.assert_transfer(&app, "1234", 25000, false, "CONFIRMED")
        .await;
    assert_balance(&app, "750.00", "0.00").await;
    let (_, merchant) = app.get("/v1/operations?merchant_id=1").await;
    let redeems = of_kind(&merchant, "redeem");
    assert_eq!(redeems.len(), 1, "{merchant}");
    assert_eq!(redeems[0]["status"], "confirmed");
    // A paid order cannot be started again; the form now only shows the result.
    assert_eq!(shop.init(&app, "1234", 25000).await["errorCode"], "11");
    let (status, location, _) = submit_code(&form, &code).await;
    assert_eq!(
        (status, location),
        (
            StatusCode::SEE_OTHER,
            format!("{}/success", shop.receiver.base)
        )
    );
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_dead_notification_voids_the_hold);
async fn a_dead_notification_voids_the_hold(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    let (payment_id, form) = shop.opened(&app, "dead-1", 10000).await;
    let code = code_of(&app, payment_id).await;
    submit_code(&form, &code).await;
    assert_balance(&app, "1000.00", "100.00").await;
    settle(&app, payment_id, false).await;
    shop.assert_transfer(&app, "dead-1", 10000, false, "REJECTED")
        .await;
    assert_balance(&app, "1000.00", "0.00").await;
    // A rejected order id may start again.
    let again = shop.init(&app, "dead-1", 10000).await;
    assert_ne!(again["paymentId"], payment_id);
    app.stop().await;
}

both_stores!(five_wrong_codes_reject_the_transfer);
async fn five_wrong_codes_reject_the_transfer(app: TestApp) {
    let shop = shop(&app, 0).await;
    let (payment_id, form) = shop.opened(&app, "wrong", 10000).await;
    let code = code_of(&app, payment_id).await;
    let wrong = wrong_code(&code);
    for left in (1..5).rev() {
        let (status, _, page) = submit_code(&form, wrong).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&format!("Осталось попыток: {left}")),
            "{page}"
        );
    }
    let (status, location, _) = submit_code(&form, wrong).await;
    assert_eq!(
        (status, location),
        (
            StatusCode::SEE_OTHER,
            format!("{}/fail", shop.receiver.base)
        )
    );
    shop.assert_transfer(&app, "wrong", 10000, false, "REJECTED")
        .await;
    // The right code is too late now.
    let (_, location, _) = submit_code(&form, &code).await;
    assert_eq!(location, format!("{}/fail", shop.receiver.base));
    assert_balance(&app, "1000.00", "0.00").await;
    // Through the API the same limit answers with its own codes.
    let (payment_id, _) = shop.opened(&app, "wrong-api", 10000).await;
    let code = code_of(&app, payment_id).await;
    let wrong = wrong_code(&code);
    for _ in 0..4 {
        let answer = shop.confirm(&app, wrong).await;
        assert_eq!(answer["errorCode"], "8", "{answer}");
    }
    let answer = shop.confirm(&app, wrong).await;
    assert_eq!(answer["errorCode"], "9");
    let answer = shop.confirm(&app, &code).await;
    assert_eq!(answer["errorCode"], "6");
    app.stop().await;
}

both_stores!(an_expired_form_is_canceled);
async fn an_expired_form_is_canceled(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    let (payment_id, form) = shop.opened(&app, "late", 10000).await;
    let (other, other_form) = shop.opened(&app, "late-held", 20000).await;
    let code = code_of(&app, other).await;
    submit_code(&other_form, &code).await;
    assert_balance(&app, "1000.00", "200.00").await;

    let later = kopilka_store::now_ms() + 15 * 60 * 1000 + 1000;
    assert_eq!(expire_forms(&app, later).await, 1);
    assert_eq!(expire_forms(&app, later).await, 0);
    shop.assert_transfer(&app, "late", 10000, false, "CANCELED")
        .await;
    // The held transfer waits for its notification, not for the form.
    assert_eq!(stored_status(&app, other).await, "HELD");
    let (_, location, _) = submit_code(&form, &code_of(&app, payment_id).await).await;
    assert_eq!(location, format!("{}/fail", shop.receiver.base));
    let page = common::text(&app.http, form).await;
    assert!(page.contains("Время на перевод истекло"), "{page}");
    settle(&app, other, false).await;
    assert_balance(&app, "1000.00", "0.00").await;
    // The order id is free again.
    assert_ne!(
        shop.init(&app, "late", 10000).await["paymentId"],
        payment_id
    );
    app.stop().await;
}

both_stores!(concurrent_transfers_never_overspend);
async fn concurrent_transfers_never_overspend(app: TestApp) {
    let shop = Arc::new(shop(&app, NEVER_OK).await);
    let app = Arc::new(app);
    // Four orders of 300.00 on a balance of 1000.00: each fits alone at init (and with the
    // order below, five codes: the phone's quota).
    let inits = futures::future::join_all((0..4).map(|i| {
        let (app, shop) = (app.clone(), shop.clone());
        async move { shop.init(&app, &format!("c{i}"), 30000).await }
    }))
    .await;
    let mut forms = Vec::new();
    for init in &inits {
        assert_eq!(init["status"], true, "{init}");
        let url = init["transferURL"].as_str().unwrap().to_string();
        app.http.get(&url).send().await.unwrap();
        forms.push((
            url,
            code_of(&app, init["paymentId"].as_i64().unwrap()).await,
        ));
    }
    let results =
        futures::future::join_all(forms.iter().map(|(url, code)| submit_code(url, code))).await;
    let succeeded = results
        .iter()
        .filter(|(_, l, _)| l.ends_with("/success"))
        .count();
    assert_eq!(succeeded, 3, "{results:?}");
    assert_balance(&app, "1000.00", "900.00").await;
    // One order id asked for concurrently is one transfer.
    let same = futures::future::join_all((0..4).map(|_| {
        let (app, shop) = (app.clone(), shop.clone());
        async move { shop.init(&app, "same", 1000).await["paymentId"].clone() }
    }))
    .await;
    assert!(
        same.iter().all(|id| *id == same[0] && id.is_i64()),
        "{same:?}"
    );
    app.audit_is_clean().await;
    let app = Arc::try_unwrap(app).ok().unwrap();
    app.stop().await;
}

both_stores!(sandbox_phones_behave_as_the_seed_says);
async fn sandbox_phones_behave_as_the_seed_says(app: TestApp) {
    let shop = shop(&app, 0).await;
    let (_, before) = app.get("/v1/operations").await;
    let balance = |phone: u64| shop.call(&app, "balance", json!({"phone": phone}), true);
    assert_eq!(balance(79000000001).await["balance"], json!(1000000.00));
    let text = shop.balance_text(&app, 79000000001, true).await;
    assert!(text.contains(r#""balance":1000000.00"#), "{text}");
    assert_eq!(balance(79000000002).await["balance"], json!(0.00));
    let unknown = balance(79000000000).await;
    assert_eq!(
        (unknown["status"].clone(), unknown["errorCode"].clone()),
        (json!(false), json!("4"))
    );
    assert_eq!(
        shop.call(
            &app,
            "init",
            json!({"phone": 79000000009u64, "orderId": "x", "amount": 100}),
            true
        )
        .await["errorCode"],
        "4"
    );

    for (phone, status) in [
        (79000000001u64, "CONFIRMED"),
        (79000000002, "REJECTED"),
        (79000000003, "CANCELED"),
    ] {
        let order = format!("test-{phone}");
        let init = shop
            .call(
                &app,
                "init",
                json!({"phone": phone, "orderId": order, "amount": 50000}),
                true,
            )
            .await;
        assert_eq!(init["status"], true, "{init}");
        shop.assert_transfer(&app, &order, 50000, true, "NEW").await;
        // Production keys do not see test orders.
        assert_eq!(
            shop.checkout(&app, &order, 50000, false).await["errorCode"],
            "6"
        );
        let page = common::text(&app.http, init["transferURL"].as_str().unwrap()).await;
        assert!(page.contains("Тестовый перевод"), "{page}");
        shop.assert_transfer(&app, &order, 50000, true, status)
            .await;
        let (_, callbacks) = app.get("/v1/messages?kind=callback").await;
        let body: Value =
            serde_json::from_str(callbacks["items"][0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["transferStatus"], status);
        assert_eq!(body["orderId"], order);
        assert_eq!(body["status"], status == "CONFIRMED");
        if status == "REJECTED" {
            assert_eq!(body["message"], "Не достаточно средств");
        }
    }
    let (_, after) = app.get("/v1/operations").await;
    assert_eq!(
        before["items"], after["items"],
        "sandbox wrote to the ledger"
    );
    app.stop().await;
}

both_stores!(tokens_platform_spellings_and_errors);
async fn tokens_platform_spellings_and_errors(app: TestApp) {
    let phone = json!({"phone": 79000000000u64});
    // The demo platform with the seed's keys, both spellings of the platform id.
    for key in ["uidPlatform", "platformUid"] {
        let mut body = phone.clone();
        body[key] = json!(DEMO_UID);
        let answer = call(&app, "balance", signed(body.clone(), DEMO_SECRET)).await;
        assert_eq!(answer["balance"], json!(1000.00), "{answer}");
        let wrong = call(&app, "balance", signed(body, "not-the-key")).await;
        assert_eq!(
            wrong,
            json!({"status": false, "errorCode": "1", "message": "Неверная подпись запроса (token)"})
        );
    }
    // The alias path, any case, with a trailing slash.
    let body = signed(
        json!({"uidPlatform": DEMO_UID, "phone": "79000000001"}),
        DEMO_DEV,
    );
    let response = app
        .http
        .post(app.url("/api/v1/curl/BALANCE/"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["balance"],
        json!(1000000.00)
    );
    let unknown = call(
        &app,
        "balance",
        signed(json!({"uidPlatform": "nope", "phone": 79000000000u64}), "x"),
    )
    .await;
    assert_eq!(unknown["errorCode"], "2");
    let missing = call(
        &app,
        "init",
        signed(
            json!({"uidPlatform": DEMO_UID, "phone": 79000000000u64, "amount": 100}),
            DEMO_SECRET,
        ),
    )
    .await;
    assert_eq!(missing["errorCode"], "3");
    assert!(missing["message"].as_str().unwrap().contains("orderId"));
    for bad in [
        json!(250.5),
        json!("25.00"),
        json!(-1),
        json!(0),
        json!(12345678901u64),
    ] {
        let answer = call(&app, "init", signed(json!({"uidPlatform": DEMO_UID, "phone": 79000000000u64, "orderId": "b", "amount": bad}), DEMO_SECRET)).await;
        assert_eq!(answer["errorCode"], "3", "{bad}: {answer}");
    }
    for bad in [
        json!(7900000000u64),
        json!(7.9e10),
        json!("+7 900 000-00-00x"),
        json!(true),
    ] {
        let answer = call(
            &app,
            "balance",
            signed(json!({"uidPlatform": DEMO_UID, "phone": bad}), DEMO_SECRET),
        )
        .await;
        assert_eq!(answer["errorCode"], "3", "{bad}: {answer}");
    }
    let stranger = call(
        &app,
        "balance",
        signed(
            json!({"uidPlatform": DEMO_UID, "phone": 79990000000u64}),
            DEMO_SECRET,
        ),
    )
    .await;
    assert_eq!(stranger["errorCode"], "4");
    let rich = call(&app, "init", signed(json!({"uidPlatform": DEMO_UID, "phone": 79000000000u64, "orderId": "r", "amount": 100000001}), DEMO_SECRET)).await;
    assert_eq!(rich["errorCode"], "5");
    let nothing = call(
        &app,
        "checkout",
        signed(
            json!({"uidPlatform": DEMO_UID, "orderId": "none", "amount": 1}),
            DEMO_SECRET,
        ),
    )
    .await;
    assert_eq!(nothing["errorCode"], "6");
    let raw = call_raw(
        &app,
        "balance",
        json!({"uidPlatform": DEMO_UID, "phone": 79000000000u64, "token": "x"}),
    )
    .await;
    assert_eq!(
        raw,
        r#"{"status":false,"errorCode":"1","message":"token: должен быть из 64 шестнадцатеричных цифр"}"#
    );
    let garbage = app
        .http
        .post(app.url("/api/v1/transfer/init"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::OK);
    assert_eq!(garbage.json::<Value>().await.unwrap()["errorCode"], "3");
    let method = call(
        &app,
        "refund",
        signed(json!({"uidPlatform": DEMO_UID}), DEMO_SECRET),
    )
    .await;
    assert_eq!(method["errorCode"], "3");
    app.stop().await;
}

both_stores!(platforms_are_registered_and_keys_rotated);
async fn platforms_are_registered_and_keys_rotated(app: TestApp) {
    let long = format!("https://shop.example/{}", "a".repeat(500));
    for (field, value) in [
        ("notification_url", "http://shop.example/n"),
        ("success_url", long.as_str()),
        ("fail_url", "shop.example"),
    ] {
        let mut body = json!({"merchant_id": 1, "site": "https://shop.example", "success_url": "https://shop.example/s", "fail_url": "https://shop.example/f", "notification_url": "https://shop.example/n"});
        body[field] = json!(value);
        let (status, error) = app.post("/v1/kupikupi/platforms", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {error}");
        assert_eq!(error["error"]["field"], field);
    }
    let shop = shop(&app, 0).await;
    let (_, listed) = app
        .get(&format!("/v1/kupikupi/platforms/{}", shop.uid))
        .await;
    assert!(
        listed.get("secret_key").is_none() && listed.get("dev_secret_key").is_none(),
        "{listed}"
    );
    let (_, openapi) = app.get("/v1/openapi.json").await;
    assert!(
        openapi["paths"]["/v1/kupikupi/platforms/{uid}/keys"]["post"].is_object(),
        "{openapi}"
    );
    assert!(openapi["paths"]["/v1/messages"]["get"].is_object());
    let unauthenticated = app
        .http
        .get(app.url("/v1/kupikupi/platforms"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let (status, rotated) = app
        .post(
            &format!("/v1/kupikupi/platforms/{}/keys", shop.uid),
            json!({"which": "secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret_key"].as_str().unwrap();
    assert!(rotated.get("dev_secret_key").is_none());
    let old = shop
        .call(&app, "balance", json!({"phone": 79000000000u64}), false)
        .await;
    assert_eq!(old["errorCode"], "1");
    let body = signed(
        json!({"uidPlatform": shop.uid, "phone": 79000000000u64}),
        new_secret,
    );
    assert_eq!(call(&app, "balance", body).await["status"], true);
    assert_eq!(
        shop.call(&app, "balance", json!({"phone": 79000000001u64}), true)
            .await["status"],
        true
    );
    app.stop().await;
}

both_stores!(a_receipt_earns_cashback_once);
async fn a_receipt_earns_cashback_once(app: TestApp) {
    let shop = shop(&app, 0).await;
    let receipt = json!({"phone": 79000000000u64, "amount": 50000, "fn": "9999078900004312", "fd": "1234", "fp": "4000623456", "pay_date": "23.11.2026 14:05:00", "receipt_type": 1});
    let first = shop.call(&app, "receipt", receipt.clone(), false).await;
    assert_eq!(first["status"], true, "{first}");
    // The demo program earns 20 %: 500.00 ₽ → 100.00 points.
    assert_eq!(first["cashback"], json!(100.00));
    let again = shop.call(&app, "receipt", receipt.clone(), false).await;
    assert_eq!(again["paymentId"], first["paymentId"]);
    assert_eq!(customer_balance(&app).await.0, "1100.00");
    let mut other = receipt.clone();
    other["amount"] = json!(60000);
    assert_eq!(
        shop.call(&app, "receipt", other, false).await["errorCode"],
        "7"
    );
    let mut bad_date = receipt;
    bad_date["pay_date"] = json!("2026-11-23 14:05:00");
    assert_eq!(
        shop.call(&app, "receipt", bad_date, false).await["errorCode"],
        "3"
    );
    app.stop().await;
}

both_stores!(the_customer_pays_in_a_browser_with_the_code_from_the_cabinet);
async fn the_customer_pays_in_a_browser_with_the_code_from_the_cabinet(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    let init = shop.init(&app, "browser-1", 12345).await;
    let payment_id = init["paymentId"].as_i64().unwrap();
    common::run_browser(
        "kupikupi-flow.mjs",
        &app.base,
        &[
            init["transferURL"].as_str().unwrap(),
            ADMIN_TOKEN,
            PHONE,
            &format!("{}/success", shop.receiver.base),
        ],
    )
    .await;
    assert_balance(&app, "1000.00", "123.45").await;
    settle(&app, payment_id, true).await;
    shop.assert_transfer(&app, "browser-1", 12345, false, "CONFIRMED")
        .await;
    assert_balance(&app, "876.55", "0.00").await;
    app.stop().await;
}

/// Waits until `f` holds, up to thirty seconds (the retry schedule runs in between).
async fn eventually<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) -> bool {
    for _ in 0..300 {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

both_stores!(
    the_shop_acknowledges_after_three_failures_and_is_paid_once,
    Backend
);
async fn the_shop_acknowledges_after_three_failures_and_is_paid_once(backend: Backend) {
    // The outbox's schedule in milliseconds instead of seconds, so the retries come quickly.
    let app = TestApp::start_with(backend, true, |config| config.outbox.schedule_unit_ms = 1).await;
    let shop = shop(&app, 3).await;
    let (payment_id, form) = shop.opened(&app, "retry-1", 25000).await;
    let code = six_digits(&last_sms(&app).await);
    submit_code(&form, &code).await;
    let confirmed =
        eventually(|| async { stored_status(&app, payment_id).await == "CONFIRMED" }).await;
    assert!(
        confirmed,
        "the shop's OK after three 500s confirms the transfer"
    );
    let bodies = shop.receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["paymentId"], payment_id);
    assert_balance(&app, "750.00", "0.00").await;
    let (_, ops) = app.get("/v1/operations?kind=redeem").await;
    assert_eq!(ops["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

both_stores!(the_cabinet_signs_in_with_an_sms_code_and_limits_attempts);
async fn the_cabinet_signs_in_with_an_sms_code_and_limits_attempts(app: TestApp) {
    let client = no_redirects();
    // The sign-in pages know no program yet: they speak the browser's language.
    let ask = || {
        client
            .post(app.url("/cabinet/code"))
            .header("accept-language", "ru")
            .form(&[("phone", "+7 900 000-00-00")])
            .send()
    };
    let sign_in = |code: String| {
        client
            .post(app.url("/cabinet/signin"))
            .header("accept-language", "ru")
            .form(&[("phone", PHONE.to_string()), ("code", code)])
            .send()
    };
    let page = ask().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"code\""), "{page}");
    let code = six_digits(&last_sms(&app).await);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        let page = sign_in(wrong.into()).await.unwrap().text().await.unwrap();
        assert!(page.contains("Неверный код"), "{page}");
    }
    let page = sign_in(wrong.into()).await.unwrap().text().await.unwrap();
    assert!(page.contains("Слишком много попыток"), "{page}");
    let page = sign_in(code).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Код устарел"),
        "the fifth wrong code burns the code: {page}"
    );

    ask().await.unwrap();
    let code = six_digits(&last_sms(&app).await);
    let response = sign_in(code).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/cabinet"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let page = |path: &'static str| {
        let request = client.get(app.url(path)).header("cookie", &session);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let cabinet = || page("/cabinet");
    // Signed in: the program's language (ru) and its way of writing numbers.
    let home = cabinet().await;
    assert!(
        home.contains("id=\"balance\">1\u{a0}000,00<") && home.contains("***0000"),
        "{home}"
    );
    assert!(!home.contains(PHONE));
    let history = page("/cabinet/history").await;
    assert!(
        history.contains("demo opening balance") && history.contains("Зачислено"),
        "{history}"
    );
    let out = client
        .post(app.url("/cabinet/signout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let home = cabinet().await;
    assert!(home.contains("id=\"phone\""), "signed out: {home}");

    // Five codes an hour per phone; a new phone gets the same answer, and a code that begins
    // its registration (tests/it/cabinet_registration.rs).
    for _ in 0..3 {
        ask().await.unwrap();
    }
    let page = ask().await.unwrap().text().await.unwrap();
    assert!(page.contains("Слишком много кодов"), "{page}");
    let stranger = client
        .post(app.url("/cabinet/code"))
        .header("accept-language", "ru")
        .form(&[("phone", "79990001122")]);
    let page = stranger.send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Мы отправили код"), "{page}");
    let (_, sent) = app.get("/v1/messages?recipient=79990001122").await;
    assert_eq!(sent["items"].as_array().unwrap().len(), 1, "{sent}");
    app.stop().await;
}

#[tokio::test]
async fn the_demo_shop_pays_with_kupikupi_points() {
    common::demo_pages_are_off_outside_demo_mode("/demo/shop/kupikupi").await;

    // The demo pages on, the background jobs at their usual pace.
    let app = TestApp::start_with(common::Backend::Sqlite, true, |config| {
        config.jobs_interval_secs = Config::default().jobs_interval_secs;
    })
    .await;
    let base = app.base.clone();
    let client = no_redirects();
    let shop = common::text(&client, format!("{base}/demo/shop/kupikupi")).await;
    assert!(shop.contains("Оплатить баллами Купи-Купи"), "{shop}");
    let paid = client
        .post(format!("{base}/demo/shop/kupikupi/pay"))
        .form(&[("phone", PHONE), ("amount", "25000")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let form = paid.headers()["location"].to_str().unwrap().to_string();
    assert!(
        form.starts_with(&format!("{base}/kupikupi/transfer/")),
        "{form}"
    );
    let page = common::text(&client, &form).await;
    assert!(
        page.contains("Demo Shop") && page.contains("250,00 ₽"),
        "{page}"
    );
    let back = page
        .split("id=\"back\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(back, format!("{base}/demo/shop/kupikupi/fail"));
    let answer = client
        .post(format!("{base}/demo/shop/kupikupi/notify"))
        .body(r#"{"orderId":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "OK");
    let success = common::text(&client, format!("{base}/demo/shop/kupikupi/success")).await;
    assert!(
        success.contains("&#34;orderId&#34;:&#34;x&#34;"),
        "{success}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_form_lifetime_comes_from_the_configuration() {
    let app = TestApp::start_with(common::Backend::Sqlite, true, |config| {
        let usual = Config::default();
        config.jobs_interval_secs = usual.jobs_interval_secs;
        config.demo_pages = usual.demo_pages;
        config.kupikupi.form_lifetime_secs = 0;
    })
    .await;
    let base = app.base.clone();
    let post = |method: &'static str, body: Value| {
        let base = base.clone();
        async move {
            let body = signed(body, DEMO_SECRET);
            reqwest::Client::new()
                .post(format!("{base}/api/v1/transfer/{method}"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let init =
        json!({"uidPlatform": DEMO_UID, "phone": 79000000000u64, "orderId": "now", "amount": 100});
    let first = post("init", init.clone()).await;
    // Expired at once: `init` cancels it and starts the order afresh, the form says so.
    let second = post("init", init).await;
    assert_ne!(first["paymentId"], second["paymentId"], "{second}");
    let page = reqwest::get(first["transferURL"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Время на перевод истекло"), "{page}");
    let checkout = post(
        "checkout",
        json!({"uidPlatform": DEMO_UID, "orderId": "now", "amount": 100}),
    )
    .await;
    assert_eq!(checkout["transferStatus"], "CANCELED");
    assert_eq!(checkout["paymentId"], second["paymentId"]);
    app.stop().await;
}
