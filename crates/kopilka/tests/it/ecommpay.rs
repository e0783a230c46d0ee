//! ECommPay with the CashtoCode method: the official SDK as a client, the Gate end to end with
//! the voucher page in Chromium and a cash terminal, expiry, and the amount and country rules.
use crate::common;
use crate::common::ecommpay::*;
use crate::common::TestApp;
use kopilka_domain::ecommpay as domain;
use reqwest::StatusCode;
use serde_json::{json, Value};

both_stores!(the_official_sdk_opens_the_payment_page_and_accepts_our_callbacks);
async fn the_official_sdk_opens_the_payment_page_and_accepts_our_callbacks(app: TestApp) {
    let payment_id = format!("sdk-{:?}", app.backend);
    let (ok, url) = sdk(
        &[
            "url",
            &app.base,
            SECRET,
            &PROJECT.to_string(),
            &payment_id,
            "10000",
            "DE",
        ],
        None,
    );
    assert!(ok, "{url}");
    assert!(url.starts_with(&format!("{}/payment?", app.base)), "{url}");

    // One parameter changed: refused with 3261, and nothing is stored.
    let tampered = url.replace("payment_amount=10000", "payment_amount=5000");
    assert_ne!(tampered, url);
    let r = app.http.get(&tampered).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("data-code=\"3261\""));
    assert_eq!(payment_row(&app, &payment_id).await, Value::Null);

    // The SDK's URL: every personal datum given, the method forced → straight to the voucher.
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.url().path().starts_with("/cashtocode/voucher/"),
        "{}",
        r.url()
    );
    let page = r.text().await.unwrap();
    let payment = payment_row(&app, &payment_id).await;
    assert_eq!(payment["status"], "awaiting redirect result");
    assert_eq!(payment["customer"]["country"], "DE");
    let code = payment["voucher_code"].as_str().unwrap().to_string();
    assert!(page.contains(&code));

    // Paid at a terminal: the success callback passes the SDK's own check.
    assert_eq!(
        terminal(&app, "lookup", &code, None).await["result"],
        "payable"
    );
    assert_eq!(
        terminal(&app, "pay", &code, Some(10000)).await["result"],
        "paid"
    );
    let sent = callbacks(&app, &payment_id).await;
    assert_eq!(
        sent.len(),
        1,
        "the Payment Page sends the final callback only: {sent:?}"
    );
    let (ok, status) = sdk(&["callback", SECRET], Some(&sent[0].to_string()));
    assert!(ok, "SDK refused our callback: {status}");
    assert_eq!(status, "success");
    let mut forged = sent[0].clone();
    forged["payment"]["sum"]["amount"] = json!(1);
    let (ok, _) = sdk(&["callback", SECRET], Some(&forged.to_string()));
    assert!(!ok, "the SDK must refuse a changed callback");
    app.stop().await;
}

#[tokio::test]
async fn the_payment_page_asks_for_missing_personal_data_in_the_browser() {
    let app = TestApp::start(common::Backend::Sqlite, true).await;
    let params = [
        ("project_id", "35"),
        ("payment_id", "pp-browser"),
        ("payment_amount", "5000"),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
    ];
    let query = signed_query(&params);
    common::run_browser(
        "ecommpay-payment-page.mjs",
        &app.base,
        &[&app.url(&format!("/payment?{query}")), "50.00"],
    )
    .await;
    let payment = payment_row(&app, "pp-browser").await;
    assert_eq!(payment["status"], "awaiting redirect result");
    assert_eq!(payment["customer"]["first_name"], "Erika");
    assert_eq!(payment["customer"]["day_of_birth"], "24-12-1985");
    app.stop().await;
}

both_stores!(gate_sale_voucher_in_chromium_terminal_payment_and_success_callback);
async fn gate_sale_voucher_in_chromium_terminal_payment_and_success_callback(app: TestApp) {
    let (status, answer) = sale(&app, &sale_request("gate-1", 2500, "AT")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["project_id"], PROJECT);
    assert_eq!(answer["payment_id"], "gate-1");
    assert!(answer["request_id"].as_str().is_some_and(|r| r.len() == 30));

    // The same payment id again, and an unknown method.
    let (_, again) = sale(&app, &sale_request("gate-1", 2500, "AT")).await;
    assert_eq!(
        (again["status"].as_str(), again["code"].as_str()),
        (Some("error"), Some("3041")),
        "{again}"
    );
    for (path, id, code, why) in [
        (
            "/V2/Payment/Cash/CashtoCode/Sale/",
            "gate-1",
            "3041",
            "paths match whatever their case",
        ),
        (
            "/v2/payment/cash/paysafecash/sale",
            "gate-x",
            "2541",
            "an unknown method",
        ),
    ] {
        let (_, answer) = post_json(&app, path, &sale_request(id, 2500, "AT")).await;
        assert_eq!(answer["code"], code, "{why}: {answer}");
    }
    // Tampered, unsigned, another project's.
    for (field, value, code) in [
        ("/payment/amount", json!(5000), "3261"),
        ("/general/signature", json!(""), "3262"),
        ("/general/project_id", json!(999), "2442"),
    ] {
        let mut request = sale_request("gate-y", 2500, "AT");
        *request.pointer_mut(field).unwrap() = value;
        let (_, answer) = sale(&app, &request).await;
        assert_eq!(answer["code"], code, "{field}: {answer}");
    }

    // The redirect callback, signed, in the seed's structure.
    let sent = callbacks(&app, "gate-1").await;
    assert_eq!(sent.len(), 1);
    let redirect = &sent[0];
    assert_signed(redirect);
    assert_eq!(redirect["payment"]["status"], "awaiting redirect result");
    assert_eq!(redirect["operation"]["status"], "awaiting redirect result");
    assert_eq!(redirect["payment"]["method"], "cashtocode");
    assert_eq!(
        redirect["payment"]["sum"],
        json!({"amount": 2500, "currency": "EUR"})
    );
    assert_eq!(redirect["redirect_data"]["method"], "GET");
    let voucher_url = redirect["redirect_data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, status) = sdk(&["callback", SECRET], Some(&redirect.to_string()));
    assert!(ok && status == "awaiting redirect result", "{status}");

    let code = payment_row(&app, "gate-1").await["voucher_code"]
        .as_str()
        .unwrap()
        .to_string();
    common::run_browser(
        "ecommpay-voucher.mjs",
        &app.base,
        &[&voucher_url, &code, "25.00"],
    )
    .await;

    assert_eq!(
        terminal(&app, "pay", &code, Some(2500)).await["result"],
        "paid"
    );
    assert_eq!(
        terminal(&app, "pay", &code, Some(2500)).await["result"],
        "used"
    );
    assert_eq!(
        terminal(&app, "lookup", &code, None).await["result"],
        "used"
    );
    assert_eq!(
        terminal(&app, "lookup", "0000000000000000", None).await["result"],
        "unknown_code"
    );

    let sent = callbacks(&app, "gate-1").await;
    assert_eq!(sent.len(), 2, "one success callback, not two: {sent:?}");
    let success = &sent[1];
    assert_signed(success);
    assert_eq!(success["payment"]["status"], "success");
    assert_eq!(success["operation"]["code"], "0");
    assert_eq!(success["operation"]["message"], "Success");
    assert_eq!(success["customer_data"]["country"], "AT");

    // Status, with its signature; history; the Data API; exports.
    let (_, state) = payment_status(&app, "gate-1").await;
    assert_eq!(state["payment"]["status"], "success", "{state}");
    assert_eq!(state["operations"][0]["type"], "sale");
    assert_signed(&state);
    let (_, missing) = payment_status(&app, "nope").await;
    assert_eq!(missing["code"], "3061");

    let row = payment_row(&app, "gate-1").await;
    let (_, detail) = app
        .get(&format!("/v1/ecommpay/payments/{}", row["id"]))
        .await;
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["processing", "awaiting redirect result", "success"]
    );

    let query = json!({"project_id": PROJECT, "status": "success"});
    let query = {
        let mut q = query;
        q["signature"] = json!(domain::sign(SECRET, &q));
        q
    };
    let (status, operations) = post_json(&app, "/operations/get", &query).await;
    assert_eq!(status, StatusCode::OK, "{operations}");
    assert_eq!(operations["operations"][0]["payment_id"], "gate-1");
    assert_eq!(
        operations["operations"][0]["operation"]["status"],
        "success"
    );

    let csv = app
        .get_response("/v1/ecommpay/payments/export.csv?status=success")
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("id,project_id,payment_id"), "{csv}");
    assert!(
        csv.contains(",gate-1,") && csv.contains(",25.00,EUR,"),
        "{csv}"
    );
    let xlsx = app.get_response("/v1/ecommpay/payments/export.xlsx").await;
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
    app.stop().await;
}

/// A project of its own whose codes live one second.
async fn short_lived_project(app: &TestApp) -> (i64, String) {
    let project = app.create("/v1/ecommpay/projects", json!({"merchant_id": 1, "name": "short codes", "callback_url": "http://127.0.0.1:9/cb", "voucher_ttl_secs": 1})).await;
    (
        project["project_id"].as_i64().unwrap(),
        project["secret"].as_str().unwrap().to_string(),
    )
}

both_stores!(an_expired_code_declines_with_20602);
async fn an_expired_code_declines_with_20602(app: TestApp) {
    let (project, secret) = short_lived_project(&app).await;
    let (_, listed) = app.get(&format!("/v1/ecommpay/projects/{project}")).await;
    assert!(
        listed.get("secret").is_none(),
        "the secret is shown once only"
    );
    let mut request = sale_request("exp-1", 1000, "DE");
    request["general"]["project_id"] = json!(project);
    let request = signed_request(request, &secret);
    assert_eq!(sale(&app, &request).await.1["status"], "success");
    let code = payment_row(&app, "exp-1").await["voucher_code"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let sealer = kopilka::secrets::Sealer::from_hex(&app.seal_key).unwrap();
    let expired = kopilka::ecommpay::expire_cash_payments(
        &app.store,
        &sealer,
        &app.base,
        kopilka_store::now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(expired, 1);
    let again = kopilka::ecommpay::expire_cash_payments(
        &app.store,
        &sealer,
        &app.base,
        kopilka_store::now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(again, 0);

    let sent = callbacks(&app, "exp-1").await;
    let decline = sent.last().unwrap();
    assert!(domain::verify(
        &secret,
        decline,
        decline["signature"].as_str().unwrap()
    ));
    assert_eq!(decline["payment"]["status"], "decline");
    assert_eq!(decline["operation"]["code"], "20602");
    assert_eq!(
        terminal(&app, "pay", &code, Some(1000)).await["result"],
        "expired"
    );
    assert_eq!(
        callbacks(&app, "exp-1").await.len(),
        sent.len(),
        "no second final callback"
    );
    app.stop().await;
}

both_stores!(the_wrong_amount_at_the_terminal_declines);
async fn the_wrong_amount_at_the_terminal_declines(app: TestApp) {
    assert_eq!(
        sale(&app, &sale_request("wrong-1", 5000, "AT")).await.1["status"],
        "success"
    );
    let code = payment_row(&app, "wrong-1").await["voucher_code"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = terminal(&app, "pay", &code, Some(2000)).await;
    assert_eq!(answer["result"], "wrong_amount", "{answer}");
    let decline = callbacks(&app, "wrong-1").await.pop().unwrap();
    assert_signed(&decline);
    assert_eq!(decline["payment"]["status"], "decline");
    assert_eq!(decline["operation"]["code"], "20000");
    assert_eq!(decline["operation"]["message"], "General decline");
    assert_eq!(
        terminal(&app, "pay", &code, Some(5000)).await["result"],
        "declined"
    );
    // The payment's callbacks, found by the payment alone: the same ones, oldest first, each
    // with its attempts; another payment's are not among them.
    sale(&app, &sale_request("wrong-2", 5000, "AT")).await;
    let row = payment_row(&app, "wrong-1").await["id"].as_i64().unwrap();
    let (status, listed) = app
        .get(&format!("/v1/ecommpay/payments/{row}/callbacks"))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let bodies: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["kind"], "callback");
            assert!(m["attempt_log"].is_array(), "{m}");
            serde_json::from_str(m["body"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(bodies, callbacks(&app, "wrong-1").await);
    let (status, _) = app.get("/v1/ecommpay/payments/999999/callbacks").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

both_stores!(amounts_currency_country_and_customer_rules);
async fn amounts_currency_country_and_customer_rules(app: TestApp) {
    for (country, amounts) in [
        ("AT", domain::allowed_amounts("AT").unwrap()),
        ("DE", domain::allowed_amounts("DE").unwrap()),
    ] {
        for amount in amounts {
            let id = format!("rule-{country}-{amount}");
            let (_, answer) = sale(&app, &sale_request(&id, *amount, country)).await;
            assert_eq!(answer["status"], "success", "{country} {amount}: {answer}");
        }
    }
    // What CashtoCode does not take is accepted, then declined by callback (the seed's decline
    // example): 20000 General decline, the sum as asked.
    let mut usd = sale_request("rule-usd", 1000, "AT");
    usd["payment"]["currency"] = json!("USD");
    for request in [
        sale_request("rule-de-200", 20000, "DE"),
        sale_request("rule-at-15", 1500, "AT"),
        sale_request("rule-fr", 1000, "FR"),
        signed_request(usd, SECRET),
    ] {
        let id = request["general"]["payment_id"].as_str().unwrap();
        let (_, answer) = sale(&app, &request).await;
        assert_eq!(answer["status"], "success", "{id}: {answer}");
        assert_eq!(payment_row(&app, id).await["status"], "decline", "{id}");
        let sent = callbacks(&app, id).await;
        assert_eq!(sent.len(), 1, "{id}: the final callback only: {sent:?}");
        assert_signed(&sent[0]);
        assert_eq!(sent[0]["payment"]["status"], "decline");
        assert_eq!(sent[0]["operation"]["code"], "20000");
        assert_eq!(sent[0]["operation"]["message"], "General decline");
        assert_eq!(sent[0]["payment"]["sum"], request["payment"]);
    }
    let refused = |answer: &Value| answer["code"].as_str().unwrap_or("").to_string();
    let mut anonymous = sale_request("rule-anon", 1000, "AT");
    anonymous["customer"].as_object_mut().unwrap().remove("id");
    let (_, answer) = sale(&app, &signed_request(anonymous, SECRET)).await;
    assert_eq!(
        (refused(&answer), answer["field"].as_str()),
        ("2004".to_string(), Some("customer.id"))
    );
    let mut fractional = sale_request("rule-frac", 1000, "AT");
    fractional["payment"]["amount"] = json!(10.5);
    assert_eq!(
        refused(&sale(&app, &signed_request(fractional, SECRET)).await.1),
        "2005"
    );

    // The Payment Page refuses the same way, on a page.
    let page = |params: Vec<(&str, &str)>| app.url(&format!("/payment?{}", signed_query(&params)));
    let base = vec![
        ("project_id", "35"),
        ("payment_id", "pp-rule"),
        ("payment_currency", "EUR"),
        ("customer_id", "c1"),
    ];
    for (id, extra) in [
        (
            "pp-rule-de",
            vec![("payment_amount", "20000"), ("customer_country", "DE")],
        ),
        ("pp-rule-1234", vec![("payment_amount", "1234")]),
        (
            "pp-rule-usd",
            vec![("payment_amount", "1000"), ("payment_currency", "USD")],
        ),
    ] {
        let mut params = base.clone();
        params.retain(|(k, _)| *k != "payment_id" && !extra.iter().any(|(e, _)| e == k));
        params.push(("payment_id", id));
        params.extend(extra);
        let body = common::text(&app.http, page(params)).await;
        assert!(
            body.contains("data-status=\"decline\" data-code=\"20000\""),
            "{id}: {body}"
        );
        assert_eq!(payment_row(&app, id).await["status"], "decline");
        assert_eq!(callbacks(&app, id).await[0]["operation"]["code"], "20000");
    }
    let mut no_customer = base.clone();
    no_customer.retain(|(k, _)| *k != "customer_id");
    no_customer.push(("payment_amount", "1000"));
    let body = common::text(&app.http, page(no_customer)).await;
    assert!(body.contains("data-code=\"2004\""), "{body}");
    let mut ok = base.clone();
    ok.push(("payment_amount", "50000"));
    let r = app.http.get(page(ok)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text().await.unwrap().contains("id=\"country\""),
        "the page asks for the country"
    );
    // The same parameters as a form POST.
    let mut posted = base.clone();
    posted.retain(|(k, _)| *k != "payment_id");
    posted.extend([("payment_id", "pp-post"), ("payment_amount", "2500")]);
    let form = page(posted).split_once('?').unwrap().1.to_string();
    let r = app
        .http
        .post(app.url("/payment"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(payment_row(&app, "pp-post").await["status"], "processing");
    app.stop().await;
}

/// Callbacks reach a real receiver through the outbox (schedule `ecommpay`, its seconds scaled
/// down to milliseconds): the receiver fails twice and gets the callback on the third attempt, once.
#[tokio::test]
async fn callbacks_reach_a_real_receiver_on_the_third_attempt_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let app = TestApp::start_with(common::Backend::Sqlite, true, |config| {
        config.outbox.schedule_unit_ms = 1;
    })
    .await;
    let hits = Arc::new(AtomicUsize::new(0));
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (h, r) = (hits.clone(), received.clone());
    let receiver = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: String| {
            let (h, r) = (h.clone(), r.clone());
            async move {
                if h.fetch_add(1, Ordering::SeqCst) < 2 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                r.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let mut request = sale_request("recv-1", 2500, "AT");
    request["general"]["merchant_callback_url"] = json!(url);
    let request = signed_request(request, SECRET);
    assert_eq!(sale(&app, &request).await.1["status"], "success");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["payment"]["status"], "awaiting redirect result");
    assert_signed(&got[0]);
    // The payment's page reads each delivery attempt: two refusals, then the 200.
    let row = payment_row(&app, "recv-1").await["id"].as_i64().unwrap();
    let (_, listed) = app
        .get(&format!("/v1/ecommpay/payments/{row}/callbacks"))
        .await;
    let attempts: Vec<(Value, Value)> = listed[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["status_code"].clone(), a["outcome"].clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (json!(503), json!("rejected")),
            (json!(503), json!("rejected")),
            (json!(200), json!("accepted")),
        ],
        "{listed}"
    );
    assert_eq!(listed[0]["state"], "delivered");
    app.stop().await;
}

#[tokio::test]
async fn a_terminal_guessing_codes_is_locked_out() {
    let app = TestApp::start(common::Backend::Sqlite, true).await;
    for i in 0..20 {
        let answer = terminal(&app, "lookup", &format!("{i:016}"), None).await;
        assert_eq!(answer["result"], "unknown_code");
    }
    let body =
        json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": "1111222233334444"});
    let (status, answer) = post_json(&app, "/cashtocode/terminal/lookup", &body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    let wrong_key =
        json!({"terminal_id": TERMINAL.0, "terminal_key": "guess", "code": "1111222233334444"});
    assert_eq!(
        post_json(&app, "/cashtocode/terminal/lookup", &wrong_key)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn the_demo_shop_pays_through_the_gate_and_checks_callback_signatures() {
    let app = TestApp::start(common::Backend::Sqlite, true).await;
    let base = app.base.clone();
    let http = reqwest::Client::new();

    let shop = common::text(&http, format!("{base}/demo/shop/ecommpay")).await;
    assert!(shop.contains("id=\"pay-page\"") && shop.contains("id=\"pay-gate\""));
    let order = http
        .post(format!("{base}/demo/shop/ecommpay/gate"))
        .form(&[("amount", "5000"), ("country", "DE")])
        .send()
        .await
        .unwrap();
    assert!(
        order
            .url()
            .path()
            .starts_with("/demo/shop/ecommpay/payments/demo-"),
        "{}",
        order.url()
    );
    let page = order.text().await.unwrap();
    assert!(
        page.contains("awaiting redirect result")
            && page.contains("signature valid")
            && page.contains("id=\"voucher\""),
        "{page}"
    );

    let messages: Value = http
        .get(format!("{base}/v1/messages?kind=callback"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = &messages["items"][0];
    assert_eq!(
        message["recipient"],
        format!("{base}/demo/shop/ecommpay/callback")
    );
    let body = message["body"].as_str().unwrap().to_string();
    let recipient = message["recipient"].as_str().unwrap();
    let delivered = common::post_json_text(&http, recipient, None, body.clone()).await;
    assert_eq!(delivered.status(), StatusCode::OK);
    let forged = body.replace("\"amount\":5000", "\"amount\":1");
    assert_ne!(forged, body);
    let refused = http
        .post(message["recipient"].as_str().unwrap())
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let shop = common::text(&http, format!("{base}/demo/shop/ecommpay")).await;
    assert!(
        shop.contains("signature valid") && shop.contains("SIGNATURE INVALID"),
        "{shop}"
    );
    let simulator = common::text(&http, format!("{base}/demo/shop/ecommpay/terminal")).await;
    assert!(simulator.contains("demo-terminal-1"));
    app.stop().await;
}

#[tokio::test]
async fn the_demo_shop_is_served_by_kopilka_demo_only() {
    common::demo_pages_are_off_outside_demo_mode("/demo/shop/ecommpay").await;
}
