//! ECommPay as shops use it (issue 21): the way back to the shop from every page, abandoned and
//! reopened Payment Pages, the Gate's required personal data, unserved methods, the terminal's
//! one error format, the Data API's path, the country choice, and both official SDKs (Python
//! and JavaScript) signing requests where they disagree.
use crate::common;
use crate::common::ecommpay::*;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SHOP: &str = "http://localhost/shop";

/// A Payment Page URL for the demo project with the shop's three return URLs.
fn page_url(app: &TestApp, payment_id: &str, amount: &str, extra: &[(&str, &str)]) -> String {
    let success = format!("{SHOP}/success?order={payment_id}");
    let fail = format!("{SHOP}/fail?order={payment_id}");
    let back = format!("{SHOP}/back?order={payment_id}");
    let mut params = vec![
        ("project_id", "35"),
        ("payment_id", payment_id),
        ("payment_amount", amount),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
        ("merchant_success_url", success.as_str()),
        ("merchant_fail_url", fail.as_str()),
        ("merchant_return_url", back.as_str()),
    ];
    params.extend_from_slice(extra);
    app.url(&format!("/payment?{}", signed_query(&params)))
}

const EVERYTHING: [(&str, &str); 5] = [
    ("customer_first_name", "John"),
    ("customer_last_name", "Johnson"),
    ("customer_day_of_birth", "12-12-1990"),
    ("customer_country", "AT"),
    ("force_payment_method", "cashtocode"),
];

/// The page at `url` (redirects followed): its final URL and body.
async fn open(app: &TestApp, url: &str) -> (String, String) {
    let r = app.http.get(url).send().await.unwrap();
    (r.url().to_string(), r.text().await.unwrap())
}

/// Where the page's "back to the shop" link goes.
fn back_link(page: &str) -> Option<String> {
    let at = page.find("id=\"back-to-shop\" href=\"")? + "id=\"back-to-shop\" href=\"".len();
    Some(page[at..].split('"').next()?.replace("&amp;", "&"))
}

async fn expire_all(app: &TestApp, at: i64) -> usize {
    let sealer = kopilka::secrets::Sealer::from_hex(&app.seal_key).unwrap();
    kopilka::ecommpay::expire_cash_payments(&app.store, &sealer, &app.base, at)
        .await
        .unwrap()
}

const A_MONTH_MS: i64 = 31 * 24 * 3600 * 1000;

both_stores!(every_page_leads_back_to_the_shop_with_the_right_url);
async fn every_page_leads_back_to_the_shop_with_the_right_url(app: TestApp) {
    // Waiting: the voucher links to the return URL; paid: to the success URL.
    let (voucher_url, page) = open(&app, &page_url(&app, "back-paid", "2500", &EVERYTHING)).await;
    assert!(
        voucher_url.contains("/cashtocode/voucher/"),
        "{voucher_url}"
    );
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/back?order=back-paid")
    );
    let code = voucher_code(&app, "back-paid").await;
    assert_eq!(
        terminal(&app, "pay", &code, Some(2500)).await["result"],
        "paid"
    );
    let (_, page) = open(&app, &voucher_url).await;
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/success?order=back-paid")
    );

    // Declined (the wrong cash) and expired: the fail URL.
    open(&app, &page_url(&app, "back-wrong", "2500", &EVERYTHING)).await;
    let code = voucher_code(&app, "back-wrong").await;
    terminal(&app, "pay", &code, Some(1000)).await;
    let (voucher_url, page) = open(&app, &page_url(&app, "back-wrong", "2500", &EVERYTHING)).await;
    assert!(page.contains("data-status=\"decline\""), "{page}");
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/fail?order=back-wrong"),
        "{voucher_url}"
    );
    open(&app, &page_url(&app, "back-expired", "2500", &EVERYTHING)).await;
    assert!(expire_all(&app, kopilka_store::now_ms() + A_MONTH_MS).await >= 1);
    let (_, page) = open(&app, &page_url(&app, "back-expired", "2500", &EVERYTHING)).await;
    assert!(page.contains("This code has expired"), "{page}");
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/fail?order=back-expired")
    );

    // The form page links back with the return URL; an error page, once the request is the
    // shop's own, with the fail URL.
    let (_, form) = open(&app, &page_url(&app, "back-form", "2500", &[])).await;
    assert!(form.contains("id=\"country\""), "{form}");
    assert_eq!(
        back_link(&form).as_deref(),
        Some("http://localhost/shop/back?order=back-form")
    );
    let (_, reused) = open(&app, &page_url(&app, "back-form", "5000", &[])).await;
    assert!(reused.contains("data-code=\"3041\""), "{reused}");
    assert_eq!(
        back_link(&reused).as_deref(),
        Some("http://localhost/shop/fail?order=back-form")
    );
    let forged = page_url(&app, "back-forged", "2500", &[]).replace("2500", "5000");
    let (_, refused) = open(&app, &forged).await;
    assert!(refused.contains("data-code=\"3261\""));
    assert_eq!(
        back_link(&refused),
        None,
        "no link from a request not signed"
    );

    // The Gate's return URLs serve its voucher the same way.
    let mut request = sale_request("back-gate", 2500, "AT");
    request["return_url"] = json!({
        "success": format!("{SHOP}/gate-success"),
        "decline": format!("{SHOP}/gate-decline"),
        "return": format!("{SHOP}/gate-return"),
    });
    let request = signed_request(request, SECRET);
    assert_eq!(sale(&app, &request).await.1["status"], "success");
    let redirect = &callbacks(&app, "back-gate").await[0];
    let voucher = redirect["redirect_data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, page) = open(&app, &voucher).await;
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/gate-return")
    );
    let code = voucher_code(&app, "back-gate").await;
    terminal(&app, "pay", &code, Some(100)).await;
    let (_, page) = open(&app, &voucher).await;
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/gate-decline")
    );
    app.stop().await;
}

both_stores!(an_abandoned_page_ends_and_a_reopened_link_shows_the_result);
async fn an_abandoned_page_ends_and_a_reopened_link_shows_the_result(app: TestApp) {
    // The customer leaves the form: at the page's deadline the payment declines with 20602 and
    // the final callback.
    let url = page_url(&app, "abandoned", "2500", &[]);
    let (_, form) = open(&app, &url).await;
    assert!(form.contains("id=\"first_name\""));
    assert_eq!(payment_row(&app, "abandoned").await["status"], "processing");
    assert_eq!(
        expire_all(&app, kopilka_store::now_ms()).await,
        0,
        "not yet"
    );
    assert_eq!(
        expire_all(&app, kopilka_store::now_ms() + A_MONTH_MS).await,
        1
    );
    assert_eq!(payment_row(&app, "abandoned").await["status"], "decline");
    let sent = callbacks(&app, "abandoned").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_signed(&sent[0]);
    assert_eq!(sent[0]["payment"]["status"], "decline");
    assert_eq!(sent[0]["operation"]["code"], "20602");
    let (_, page) = open(&app, &url).await;
    assert!(page.contains("data-code=\"20602\""), "{page}");
    assert!(page.contains("not completed in time"));
    assert_eq!(
        back_link(&page).as_deref(),
        Some("http://localhost/shop/fail?order=abandoned")
    );

    // `best_before` sets the page's deadline; a page opened after it shows it ended.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    let url = page_url(
        &app,
        "best-before",
        "2500",
        &[("best_before", soon.as_str())],
    );
    open(&app, &url).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, page) = open(&app, &url).await;
    assert!(page.contains("data-code=\"20602\""), "{page}");
    assert_eq!(callbacks(&app, "best-before").await.len(), 1);
    let (_, bad) = open(
        &app,
        &page_url(&app, "best-bad", "2500", &[("best_before", "tomorrow")]),
    )
    .await;
    assert!(bad.contains("data-code=\"2005\""), "{bad}");

    // A paid payment's link shows it paid, not error 3041.
    let url = page_url(&app, "reopened", "5000", &EVERYTHING);
    open(&app, &url).await;
    let code = voucher_code(&app, "reopened").await;
    assert_eq!(
        terminal(&app, "pay", &code, Some(5000)).await["result"],
        "paid"
    );
    let (at, page) = open(&app, &url).await;
    assert!(at.contains("/cashtocode/voucher/"), "{at}");
    assert!(page.contains("data-status=\"success\""), "{page}");
    assert!(!page.contains("3041"));
    assert_eq!(
        callbacks(&app, "reopened").await.len(),
        1,
        "nothing sent again"
    );
    app.stop().await;
}

both_stores!(the_page_records_the_ip_and_explains_country_limits_before_a_final_refusal);
async fn the_page_records_the_ip_and_explains_country_limits_before_a_final_refusal(app: TestApp) {
    // No country is chosen for the customer; each is shown with its amounts.
    let url = page_url(&app, "de-200", "20000", &[]);
    let (_, form) = open(&app, &url).await;
    assert!(
        form.contains("<option value=\"\" selected disabled>"),
        "{form}"
    );
    assert!(!form.contains("value=\"AT\" selected") && !form.contains("value=\"DE\" selected"));
    assert!(form.contains("Germany (10, 25, 50 or 100 EUR)"), "{form}");
    assert!(
        form.contains("choosing Germany declines this payment"),
        "{form}"
    );
    let payment = payment_row(&app, "de-200").await;
    assert_eq!(payment["customer"]["ip_address"], "127.0.0.1");
    let token = form
        .split("action=\"/payment/cashtocode/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let submit = |country: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let r = app
                .http
                .post(app.url(&format!("/payment/cashtocode/{token}")))
                .form(&[
                    ("first_name", "Max"),
                    ("last_name", "Muster"),
                    ("day_of_birth", "01-02-1980"),
                    ("country", country),
                ])
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        }
    };
    // Germany does not take 200 EUR: declined for good, with the reason and the callback.
    let page = submit("DE").await;
    assert!(
        page.contains("data-status=\"decline\" data-code=\"20000\""),
        "{page}"
    );
    assert!(
        page.contains("In Germany CashtoCode takes 10, 25, 50 or 100 EUR"),
        "{page}"
    );
    let sent = callbacks(&app, "de-200").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["operation"]["code"], "20000");
    assert_eq!(sent[0]["customer_data"]["country"], "DE");
    assert_eq!(sent[0]["customer_data"]["ip_address"], "127.0.0.1");
    // Switching to Austria afterwards changes nothing.
    let page = submit("AT").await;
    assert!(page.contains("data-status=\"decline\""), "{page}");
    assert_eq!(
        payment_row(&app, "de-200").await["customer"]["country"],
        "DE"
    );
    assert_eq!(callbacks(&app, "de-200").await.len(), 1);

    // The merchant's country decides where given: no choice is offered.
    let (_, page) = open(
        &app,
        &page_url(&app, "de-given", "20000", &[("customer_country", "DE")]),
    )
    .await;
    assert!(page.contains("data-code=\"20000\""), "{page}");
    assert!(!page.contains("id=\"country\""));
    app.stop().await;
}

both_stores!(the_gate_requires_personal_data_and_answers_every_method_in_its_format);
async fn the_gate_requires_personal_data_and_answers_every_method_in_its_format(app: TestApp) {
    for (field, value, code) in [
        ("first_name", Value::Null, "2004"),
        ("last_name", json!(""), "2004"),
        ("day_of_birth", Value::Null, "2004"),
        ("day_of_birth", json!("1990-12-12"), "2005"),
        ("day_of_birth", json!("31-02-1990"), "2005"),
    ] {
        let mut request = sale_request("gate-personal", 2500, "AT");
        match value {
            Value::Null => {
                request["customer"].as_object_mut().unwrap().remove(field);
            }
            v => request["customer"][field] = v,
        }
        let (_, answer) = sale(&app, &signed_request(request, SECRET)).await;
        assert_eq!(answer["status"], "error", "{field}: {answer}");
        assert_eq!(answer["code"], code, "{field}: {answer}");
        assert_eq!(answer["field"], format!("customer.{field}"));
    }
    assert_eq!(payment_row(&app, "gate-personal").await, Value::Null);
    // The country may be left to the IP address.
    let mut request = sale_request("gate-no-country", 2500, "AT");
    request["customer"]
        .as_object_mut()
        .unwrap()
        .remove("country");
    assert_eq!(
        sale(&app, &signed_request(request, SECRET)).await.1["status"],
        "success"
    );

    for path in [
        "/v2/payment/card/sale",
        "/v2/payment/cash/paysafecash/sale",
        "/v2/payment/wallet/qiwi/sale",
        "/V2/Payment/Banks/Sofort/Sale/",
    ] {
        let (status, answer) = post_json(&app, path, &sale_request("gate-other", 2500, "AT")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(answer["status"], "error", "{path}: {answer}");
        assert_eq!(answer["code"], "2541", "{path}: {answer}");
        assert_eq!(answer["payment_id"], "gate-other");
    }

    // The Data API at the path merchants use with ECommPay's Data API host.
    let mut query = json!({"project_id": PROJECT});
    query["signature"] = json!(kopilka_domain::ecommpay::sign(SECRET, &query));
    for path in [
        "/operations/get",
        "/v1/operations/get",
        "/V1/Operations/Get",
    ] {
        let (status, answer) = post_json(&app, path, &query).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_eq!(
            answer["operations"][0]["payment_id"], "gate-no-country",
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_terminal_api_has_one_error_format_and_takes_grouped_codes() {
    let app = TestApp::start(common::Backend::Sqlite, true).await;
    for body in ["{", "[]", r#"{"terminal_id": "demo-terminal-1"}"#] {
        let r = app
            .http
            .post(app.url("/cashtocode/terminal/lookup"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["result"], "invalid", "{body}: {answer}");
        assert!(answer["message"].as_str().is_some(), "{answer}");
    }
    let (_, answer) = post_json(
        &app,
        "/cashtocode/terminal/pay",
        &json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": "1"}),
    )
    .await;
    assert_eq!(answer["result"], "invalid", "{answer}");
    assert_eq!(
        sale(&app, &sale_request("grouped", 2500, "AT")).await.1["status"],
        "success"
    );
    let code = voucher_code(&app, "grouped").await;
    let grouped = format!(
        "{}-{} {} {}",
        &code[..4],
        &code[4..8],
        &code[8..12],
        &code[12..]
    );
    assert_eq!(
        terminal(&app, "lookup", &grouped, None).await["result"],
        "payable"
    );
    let dashed = format!(
        "{}-{}-{}-{}",
        &code[..4],
        &code[4..8],
        &code[8..12],
        &code[12..]
    );
    assert_eq!(
        terminal(&app, "pay", &dashed, Some(2500)).await["result"],
        "paid"
    );
    app.stop().await;
}

/// A Gate request holding what the SDKs sign differently: a null, an array of more than ten
/// items, sibling keys that prefix each other, strings that read `true`/`false`.
fn divergent_request(payment_id: &str) -> Value {
    json!({
        "general": {"project_id": PROJECT, "payment_id": payment_id},
        "customer": {"id": "customer1", "ip_address": "185.123.111.222", "first_name": "True", "last_name": "false", "day_of_birth": "02-10-2002", "country": "AT"},
        "customer2": "y",
        "payment": {"amount": 2500, "currency": "EUR", "description": null, "extra_param": "true"},
        "receipt_data": {"positions": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]},
    })
}

both_stores!(gate_requests_signed_by_either_official_sdk_are_accepted);
async fn gate_requests_signed_by_either_official_sdk_are_accepted(app: TestApp) {
    for (sdk_name, signer) in [
        ("python", sdk as fn(&[&str], Option<&str>) -> (bool, String)),
        ("javascript", js_sdk),
    ] {
        let id = format!("sdk-{sdk_name}");
        let mut request = divergent_request(&id);
        let (ok, signature) = signer(&["sign", SECRET], Some(&request.to_string()));
        assert!(ok, "{sdk_name}: {signature}");
        assert!(
            !kopilka_domain::ecommpay::sign(SECRET, &request).eq(&signature),
            "{sdk_name} signs this request its own way"
        );
        request["general"]["signature"] = json!(signature);
        let (_, answer) = sale(&app, &request).await;
        assert_eq!(answer["status"], "success", "{sdk_name}: {answer}");
        // Tampered: refused.
        request["general"]["payment_id"] = json!(format!("{id}-tampered"));
        let (_, answer) = sale(&app, &request).await;
        assert_eq!(answer["code"], "3261", "{sdk_name}: {answer}");
        // Our callbacks pass the SDK's own check.
        let sent = callbacks(&app, &id).await;
        let (ok, status) = signer(&["callback", SECRET], Some(&sent[0].to_string()));
        assert!(ok, "{sdk_name} refused our callback: {status}");
        assert_eq!(status, "awaiting redirect result");
    }
    app.stop().await;
}

both_stores!(payment_page_urls_of_either_official_sdk_open);
async fn payment_page_urls_of_either_official_sdk_open(app: TestApp) {
    // Python: a boolean parameter (sent `True`, signed 1), a string that reads `True`, and a
    // naive `best_before`.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let best_before = format!("best_before={later}");
    let (ok, url) = sdk(
        &[
            "url",
            &app.base,
            SECRET,
            "35",
            "pp-py",
            "2500",
            "AT",
            "close_on_missclick:=true",
            "merchant_data=True",
            &best_before,
        ],
        None,
    );
    assert!(ok, "{url}");
    assert!(url.contains("close_on_missclick=True") && url.contains("merchant_data=True"));
    let (at, page) = open(&app, &url).await;
    assert!(at.contains("/cashtocode/voucher/"), "{at}: {page}");
    // JavaScript: a boolean sent `true`, a string that reads `true`, and the page's form.
    let base = app.base.clone();
    let (ok, url) = js_sdk(
        &[
            "url",
            &base,
            SECRET,
            "35",
            "pp-js",
            "1000",
            "customer_country=DE",
            "redirect:=true",
            "payment_description=true",
        ],
        None,
    );
    assert!(ok, "{url}");
    assert!(url.contains("redirect=true") && url.contains("payment_description=true"));
    let (_, page) = open(&app, &url).await;
    assert!(page.contains("id=\"first_name\""), "{page}");
    let payment = payment_row(&app, "pp-js").await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["description"], "true");
    app.stop().await;
}

#[tokio::test]
async fn the_country_choice_in_chromium_is_explained_final_and_leads_back() {
    let app = TestApp::start(common::Backend::Sqlite, true).await;
    let fail = app.url("/demo/shop/ecommpay?order=chromium-de");
    let params = [
        ("project_id", "35"),
        ("payment_id", "chromium-de"),
        ("payment_amount", "20000"),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
        ("merchant_fail_url", fail.as_str()),
    ];
    let url = app.url(&format!("/payment?{}", signed_query(&params)));
    common::run_browser("ecommpay-country.mjs", &app.base, &[&url, &fail]).await;
    assert_eq!(payment_row(&app, "chromium-de").await["status"], "decline");
    app.stop().await;
}

both_stores!(the_payment_page_keeps_what_was_typed_and_takes_a_date_input);
async fn the_payment_page_keeps_what_was_typed_and_takes_a_date_input(app: TestApp) {
    let (_, form) = open(&app, &page_url(&app, "typed", "2500", &[])).await;
    assert!(
        form.contains("type=\"date\"") && form.contains("autocomplete=\"given-name\""),
        "{form}"
    );
    let at = form.find("action=\"").unwrap() + "action=\"".len();
    let action = form[at..].split('"').next().unwrap().replace("&#38;", "&");
    let post = |fields: Vec<(&'static str, &'static str)>| {
        app.http.post(app.url(&action)).form(&fields).send()
    };
    // A field missing: the form again with what was typed, and nothing stored.
    let again = post(vec![
        ("first_name", "Erika"),
        ("last_name", ""),
        ("day_of_birth", "1985-12-24"),
        ("country", "AT"),
    ])
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(again.contains("id=\"error\""), "{again}");
    assert!(
        again.contains("value=\"Erika\"")
            && again.contains("value=\"1985-12-24\"")
            && again.contains("value=\"AT\" selected"),
        "{again}"
    );
    assert_eq!(
        payment_row(&app, "typed").await["customer"]["first_name"],
        Value::Null
    );
    // The date input's value is stored as CashtoCode writes it.
    let done = post(vec![
        ("first_name", "Erika"),
        ("last_name", "Musterfrau"),
        ("day_of_birth", "1985-12-24"),
        ("country", "AT"),
    ])
    .await
    .unwrap();
    assert!(
        done.url().path().starts_with("/cashtocode/voucher/"),
        "{}",
        done.url()
    );
    let payment = payment_row(&app, "typed").await;
    assert_eq!(payment["customer"]["day_of_birth"], "24-12-1985");
    assert_eq!(payment["customer"]["last_name"], "Musterfrau");
    app.stop().await;
}
