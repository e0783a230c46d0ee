//! The inCust protocol (seed 000) on both stores: the seed's XML examples verbatim, idempotency,
//! every error code, the hosted pages over HTTP and in headless Chromium from the demo shop.

mod common;

use common::{Backend, TestApp};
use kopilka_domain::incust::{Status, MAX_ATTEMPTS};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The seed's earn request, byte for byte.
const SEED_EARN: &str = "<root>\n<cmd>transaction</cmd>\n<phone>380501111111</phone>\n<password>0000</password>\n<cardphone>380671111111</cardphone>\n<amount>211.25</amount>\n<comment>12-2345</comment>\n</root>";

/// The seed's cancel request, with the transaction number to cancel.
fn seed_cancel(id: &str) -> String {
    format!("<root>\n<cmd>transactioncancel</cmd>\n<phone>380501111111</phone>\n<password>0000</password>\n<cardphone>380671111111</cardphone>\n<transactionid>{id}</transactionid>\n</root>")
}

fn earn_doc(login: &str, password: &str, cardphone: &str, amount: &str, comment: &str) -> String {
    format!("<root><cmd>transaction</cmd><phone>{login}</phone><password>{password}</password><cardphone>{cardphone}</cardphone><amount>{amount}</amount><comment>{comment}</comment></root>")
}

fn cancel_doc(login: &str, cardphone: &str, id: &str) -> String {
    format!("<root><cmd>transactioncancel</cmd><phone>{login}</phone><password>0000</password><cardphone>{cardphone}</cardphone><transactionid>{id}</transactionid></root>")
}

/// An answer: the raw document and its fields.
struct Answer {
    raw: String,
    fields: HashMap<String, String>,
}

impl Answer {
    fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no <{name}> in {}", self.raw))
    }

    fn status(&self) -> &str {
        self.get("status")
    }
}

fn parse_answer(raw: String) -> Answer {
    let mut fields = HashMap::new();
    let body = raw
        .trim()
        .strip_prefix("<root>")
        .and_then(|b| b.strip_suffix("</root>"));
    let body = body.unwrap_or_else(|| panic!("not an inCust envelope: {raw}"));
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('<').and_then(|l| l.strip_suffix(" />")) {
            fields.insert(name.to_string(), String::new());
            continue;
        }
        let open = line.find('>').expect("element");
        let name = &line[1..open];
        let value = line[open + 1..]
            .strip_suffix(&format!("</{name}>"))
            .expect("closed on its line");
        let value = value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        fields.insert(name.to_string(), value);
    }
    Answer { raw, fields }
}

async fn post_xml(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut request = app.http.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/xml"), "{ct}");
    parse_answer(response.text().await.unwrap())
}

async fn api(app: &TestApp, body: &str) -> Answer {
    post_xml(app, "/api", Some("text/xml"), body.to_string()).await
}

async fn sms_to(app: &TestApp, phone: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/v1/messages?recipient={phone}&kind=sms"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn operation_count(app: &TestApp, kind: &str) -> usize {
    let (_, page) = app
        .get(&format!("/v1/operations?kind={kind}&limit=500"))
        .await;
    page["items"].as_array().map_or(0, |a| a.len())
}

async fn audit_is_clean(app: &TestApp) {
    let (_, audit) = app.get("/v1/ledger/audit").await;
    assert_eq!(audit["mismatched_accounts"], json!([]));
}

/// The seed's date format, in the program's time zone (Europe/Kyiv), within a minute of now.
fn assert_recent_kyiv_date(text: &str) {
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect(text);
    let now = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Kyiv)
        .naive_local();
    assert!((now - parsed).num_seconds().abs() < 60, "{text} vs {now}");
}

#[tokio::test]
async fn the_seeds_earn_and_cancel_examples_answer_field_for_field() {
    for app in TestApp::each(true).await {
        let earn = api(&app, SEED_EARN).await;
        assert_eq!(earn.get("cmd"), "transaction");
        assert_eq!(earn.status(), "0000");
        assert_eq!(earn.get("statusdesc"), "Ok");
        assert_eq!(earn.get("cmddesc"), "Ok");
        let id = earn.get("transactionid").to_string();
        assert!(id.parse::<i64>().unwrap() > 0);
        assert_recent_kyiv_date(earn.get("transactiondate"));
        assert_eq!(earn.get("cardphone"), "380671111111");
        assert_eq!(earn.get("cardbonuses"), "1042.25");
        assert_eq!(earn.get("amount"), "211.25");
        assert_eq!(earn.get("bonusesredeemed"), "0.00");
        assert_eq!(earn.get("amounttopay"), "211.25");
        assert_eq!(earn.get("bonusesearned"), "42.25");
        assert!(
            earn.get("message").starts_with("Операция успешна"),
            "{}",
            earn.raw
        );
        let order: Vec<&str> = earn
            .raw
            .lines()
            .filter_map(|l| l.strip_prefix('<'))
            .map(|l| l.split(['>', ' ']).next().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "root",
                "cmd",
                "status",
                "statusdesc",
                "cmddesc",
                "transactionid",
                "transactiondate",
                "cardphone",
                "cardbonuses",
                "amount",
                "bonusesredeemed",
                "amounttopay",
                "bonusesearned",
                "message",
                "/root"
            ]
        );

        let cancel = api(&app, &seed_cancel(&id)).await;
        assert_eq!(cancel.get("cmd"), "transactioncancel");
        assert_eq!(cancel.status(), "0000", "{}", cancel.raw);
        assert_eq!(cancel.get("statusdesc"), "Ok");
        assert_eq!(cancel.get("cmddesc"), "Ok");
        assert_ne!(
            cancel.get("transactionid"),
            id,
            "the compensation is an operation of its own"
        );
        assert_recent_kyiv_date(cancel.get("transactiondate"));
        assert_eq!(cancel.get("cardphone"), "***1111");
        assert_eq!(cancel.get("cardbonuses"), "1000.00");
        assert_eq!(cancel.get("amount"), "-211.25");
        assert_eq!(cancel.get("bonusesredeemed"), "0.00");
        assert_eq!(cancel.get("amounttopay"), "-211.25");
        assert_eq!(cancel.get("bonusesearned"), "-42.25");
        assert!(cancel.raw.contains("<message />"));

        let sms = sms_to(&app, "380671111111").await;
        assert_eq!(sms.len(), 2, "{sms:?}");
        let cancel_sms = sms[0]["body"].as_str().unwrap();
        let earn_sms = sms[1]["body"].as_str().unwrap();
        assert!(
            earn_sms.contains("Demo Shop")
                && earn_sms.contains("42.25")
                && earn_sms.contains("1042.25"),
            "{earn_sms}"
        );
        assert!(
            cancel_sms.contains("Demo Shop")
                && cancel_sms.contains(&id)
                && cancel_sms.contains("1000.00"),
            "{cancel_sms}"
        );
        audit_is_clean(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn paths_content_types_and_encodings_real_clients_use() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    let doc = earn_doc("380501111111", "0000", "380671111111", "10.00", "ct-1");
    for (path, content_type) in [
        ("/API/", Some("application/xml")),
        ("/api/", None),
        ("/Api", Some("application/x-www-form-urlencoded")),
        ("/api", Some("text/xml; charset=utf-8")),
    ] {
        let answer = post_xml(&app, path, content_type, doc.clone()).await;
        assert_eq!(
            answer.status(),
            "0000",
            "{path} {content_type:?}: {}",
            answer.raw
        );
        assert_eq!(answer.get("bonusesearned"), "2.00");
    }
    // A form field holding the document, and a BOM with a declaration.
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("xml", &doc)
        .finish();
    let answer = post_xml(
        &app,
        "/api",
        Some("application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_eq!(answer.status(), "0000", "{}", answer.raw);
    let with_bom = format!("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doc}");
    assert_eq!(api(&app, &with_bom).await.status(), "0000");
    assert_eq!(
        operation_count(&app, "earn").await,
        1,
        "every request above is the same order"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_earn_is_one_operation_with_one_answer_and_one_sms() {
    for app in TestApp::each(true).await {
        let first = api(&app, SEED_EARN).await;
        let again = api(&app, SEED_EARN).await;
        assert_eq!(first.raw, again.raw, "a repeat returns the first answer");
        let docs: Vec<String> = (0..8)
            .map(|_| earn_doc("380501111111", "0000", "380671111111", "100.00", "race-1"))
            .collect();
        let answers = futures::future::join_all(docs.iter().map(|d| api(&app, d))).await;
        let ids: std::collections::HashSet<&str> =
            answers.iter().map(|a| a.get("transactionid")).collect();
        assert_eq!(
            ids.len(),
            1,
            "{:?}",
            answers.iter().map(|a| &a.raw).collect::<Vec<_>>()
        );
        assert!(answers
            .iter()
            .all(|a| a.status() == "0000" && a.get("cardbonuses") == "1062.25"));
        // Concurrent first earns of a phone nobody has yet: one enrolment, one operation.
        let docs: Vec<String> = (0..6)
            .map(|_| earn_doc("380501111111", "0000", "380670000042", "50.00", "race-2"))
            .collect();
        let answers = futures::future::join_all(docs.iter().map(|d| api(&app, d))).await;
        let ids: std::collections::HashSet<&str> =
            answers.iter().map(|a| a.get("transactionid")).collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(answers[0].get("cardbonuses"), "10.00");
        assert_eq!(operation_count(&app, "earn").await, 3);
        assert_eq!(sms_to(&app, "380671111111").await.len(), 2);
        let welcome = sms_to(&app, "380670000042").await;
        assert_eq!(welcome.len(), 1);
        assert!(
            welcome[0]["body"].as_str().unwrap().contains("участником"),
            "{welcome:?}"
        );

        // The same order with another amount or card is refused.
        let other_amount = api(
            &app,
            &earn_doc("380501111111", "0000", "380671111111", "211.24", "12-2345"),
        )
        .await;
        assert_eq!(other_amount.status(), Status::OrderConflict.code());
        let other_card = api(
            &app,
            &earn_doc("380501111111", "0000", "380670000042", "211.25", "12-2345"),
        )
        .await;
        assert_eq!(other_card.status(), Status::OrderConflict.code());

        // A cancel twice: one compensation; concurrent cancels: one wins.
        let id = first.get("transactionid");
        assert_eq!(api(&app, &seed_cancel(id)).await.status(), "0000");
        let second = api(&app, &seed_cancel(id)).await;
        assert_eq!(second.status(), Status::AlreadyCancelled.code());
        assert_eq!(second.get("cmd"), "transactioncancel");
        let earn_again = api(&app, SEED_EARN).await;
        assert_eq!(
            earn_again.status(),
            Status::AlreadyCancelled.code(),
            "a cancelled order is not answered as if it stood"
        );
        let race_id = answers[0].get("transactionid").to_string();
        let docs: Vec<String> = (0..5)
            .map(|_| cancel_doc("380501111111", "380670000042", &race_id))
            .collect();
        let cancels = futures::future::join_all(docs.iter().map(|d| api(&app, d))).await;
        let ok = cancels.iter().filter(|a| a.status() == "0000").count();
        assert_eq!(
            ok,
            1,
            "{:?}",
            cancels.iter().map(|a| &a.raw).collect::<Vec<_>>()
        );
        assert!(cancels
            .iter()
            .all(|a| a.status() == "0000" || a.status() == Status::AlreadyCancelled.code()));
        assert_eq!(operation_count(&app, "reversal").await, 2);
        assert_eq!(sms_to(&app, "380671111111").await.len(), 3);
        audit_is_clean(&app).await;
        app.stop().await;
    }
}

/// A second shop in the demo program, and a program that does not enrol on earn.
async fn more_shops(app: &TestApp) {
    let (status, m) = app
        .post(
            "/v1/merchants",
            json!({"program_id": 1, "name": "Other Shop", "return_hosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let (status, c) = app
        .post(
            &format!("/v1/merchants/{}/credentials", m["id"]),
            json!({"protocol": "incust", "login": "380502222222", "secret": "2222"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (status, p) = app
        .post("/v1/programs", json!({"code": "closed", "name": "Closed", "rules": {"earn_bps": 1000, "enrol_on_earn": false, "language": "en"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (_, m) = app
        .post(
            "/v1/merchants",
            json!({"program_id": p["id"], "name": "Closed Shop"}),
        )
        .await;
    let (status, _) = app
        .post(
            &format!("/v1/merchants/{}/credentials", m["id"]),
            json!({"protocol": "incust", "login": "380503333333", "secret": "3333"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn every_refusal_has_its_code_in_the_same_envelope() {
    for app in TestApp::each(true).await {
        more_shops(&app).await;
        let code = |s: Status| s.code();
        let cases: Vec<(String, Status)> = vec![
            ("not xml".into(), Status::Malformed),
            (
                "<other><cmd>transaction</cmd></other>".into(),
                Status::Malformed,
            ),
            ("<root><cmd>transaction</cmd>".into(), Status::Malformed),
            (
                "<root><phone>380501111111</phone></root>".into(),
                Status::MissingField,
            ),
            ("<root><cmd>balance</cmd></root>".into(), Status::UnknownCmd),
            (
                "<root><cmd>transaction</cmd><phone>380501111111</phone></root>".into(),
                Status::MissingField,
            ),
            (
                earn_doc("380501111111", "0001", "380671111111", "1.00", "e1"),
                Status::BadCredentials,
            ),
            (
                earn_doc("380509999999", "0000", "380671111111", "1.00", "e1"),
                Status::BadCredentials,
            ),
            (
                earn_doc("380501111111", "0000", "not-a-phone", "1.00", "e1"),
                Status::InvalidField,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "1.00", ""),
                Status::MissingField,
            ),
            (
                earn_doc(
                    "380501111111",
                    "0000",
                    "380671111111",
                    "1.00",
                    &"x".repeat(101),
                ),
                Status::InvalidField,
            ),
            (
                earn_doc("380503333333", "3333", "380670000077", "1.00", "e1"),
                Status::UnknownCard,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "211.255", "e1"),
                Status::BadAmount,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "-5", "e1"),
                Status::BadAmount,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "0", "e1"),
                Status::BadAmount,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "1e3", "e1"),
                Status::BadAmount,
            ),
            (
                earn_doc("380501111111", "0000", "380671111111", "0.02", "e1"),
                Status::BadAmount,
            ),
            (
                cancel_doc("380501111111", "380671111111", "999999"),
                Status::UnknownTransaction,
            ),
            (
                cancel_doc("380501111111", "380671111111", "abc"),
                Status::InvalidField,
            ),
        ];
        for (doc, status) in &cases {
            let answer = api(&app, doc).await;
            assert_eq!(answer.status(), code(*status), "{doc}: {}", answer.raw);
            assert_eq!(answer.get("statusdesc"), answer.get("cmddesc"));
            assert!(!answer.get("statusdesc").is_empty());
        }
        // The closed program speaks English.
        let answer = api(
            &app,
            &earn_doc("380503333333", "3333", "380670000077", "1.00", "e1"),
        )
        .await;
        assert_eq!(answer.get("statusdesc"), "No card has this phone number");

        let earn = api(
            &app,
            &earn_doc("380501111111", "0000", "380671111111", "100.00", "o-1"),
        )
        .await;
        let id = earn.get("transactionid").to_string();
        let other = api(
            &app,
            &earn_doc("380502222222", "2222", "380671111111", "100.00", "o-1"),
        )
        .await;
        assert_eq!(
            other.status(),
            "0000",
            "the same order number at another shop is another order"
        );
        let other_id = other.get("transactionid").to_string();
        let refusals = [
            (
                cancel_doc("380501111111", "380671111111", &other_id),
                Status::ForeignTransaction,
            ),
            (
                cancel_doc("380501111111", "380670000001", &id),
                Status::OtherCard,
            ),
        ];
        for (doc, status) in &refusals {
            assert_eq!(api(&app, doc).await.status(), code(*status), "{doc}");
        }
        let cancel = api(&app, &cancel_doc("380501111111", "380671111111", &id)).await;
        let cancel_id = cancel.get("transactionid").to_string();
        assert_eq!(
            api(
                &app,
                &cancel_doc("380501111111", "380671111111", &cancel_id)
            )
            .await
            .status(),
            code(Status::NotCancellable)
        );
        assert_eq!(
            api(&app, &cancel_doc("380501111111", "380671111111", &id))
                .await
                .status(),
            code(Status::AlreadyCancelled)
        );

        // An earn whose bonuses were spent cannot be cancelled.
        let fresh = api(
            &app,
            &earn_doc("380501111111", "0000", "380670000055", "100.00", "o-2"),
        )
        .await;
        let customer = fresh_customer(&app, "380670000055").await;
        let (status, spent) = app
            .post("/v1/operations", json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "15.00"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{spent}");
        let refused = api(
            &app,
            &cancel_doc("380501111111", "380670000055", fresh.get("transactionid")),
        )
        .await;
        assert_eq!(refused.status(), code(Status::NotEnoughBonuses));

        // A blocked card.
        block(&app, customer).await;
        let blocked = api(
            &app,
            &earn_doc("380501111111", "0000", "380670000055", "10.00", "o-3"),
        )
        .await;
        assert_eq!(blocked.status(), code(Status::CardBlocked));
        audit_is_clean(&app).await;
        app.stop().await;
    }
}

async fn fresh_customer(app: &TestApp, phone: &str) -> i64 {
    let (_, customers) = app.get(&format!("/v1/customers?phone={phone}")).await;
    customers["items"][0]["id"].as_i64().expect("customer")
}

async fn block(app: &TestApp, customer_id: i64) {
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let mut customer = tx
                    .customer(kopilka_domain::ids::CustomerId(customer_id))
                    .await?
                    .expect("customer");
                customer.state = kopilka_store::model::CustomerState::Blocked;
                tx.update_customer(&customer).await
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn bodies_that_are_not_inust_documents_get_a_clean_xml_error() {
    for app in TestApp::each(true).await {
        let empty = post_xml(&app, "/api", Some("text/xml"), "").await;
        assert_eq!(empty.status(), Status::Malformed.code());
        assert_eq!(empty.get("cmd"), "");
        let json = post_xml(
            &app,
            "/api",
            Some("application/json"),
            "{\"cmd\":\"transaction\"}",
        )
        .await;
        assert_eq!(json.status(), Status::ContentType.code());
        let multipart = post_xml(
            &app,
            "/api",
            Some("multipart/form-data; boundary=x"),
            "--x--",
        )
        .await;
        assert_eq!(multipart.status(), Status::ContentType.code());
        let huge = format!(
            "<root><comment>{}</comment></root>",
            "x".repeat(10 * 1024 * 1024)
        );
        let too_large = post_xml(&app, "/api", Some("text/xml"), huge).await;
        assert_eq!(too_large.status(), Status::TooLarge.code());
        let binary = post_xml(&app, "/api", Some("text/xml"), vec![0xff, 0xfe, 0x00, 0x3c]).await;
        assert_eq!(binary.status(), Status::Malformed.code());
        let response = app.http.get(app.url("/api")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            parse_answer(response.text().await.unwrap()).status(),
            Status::Malformed.code()
        );
        app.stop().await;
    }
}

/// Posts a form; returns the status, the HTML and the headers.
async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let response = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

fn shop_form<'a>(returnurl: &'a str, amount: &'a str, comment: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("returnurl", returnurl),
        ("phone", "380501111111"),
        ("password", "0000"),
        ("cardphone", "380671111111"),
        ("amount", "1.00"),
        ("comment", comment),
        // The seed's example sends amount twice: the last one counts.
        ("amount", amount),
    ]
}

#[tokio::test]
async fn hosted_pages_over_http_guard_their_forms() {
    for app in TestApp::each(true).await {
        let back = "http://127.0.0.1:9/shop/return?x=1";
        // A foreign return address: an error page, nothing to post anywhere.
        let (status, html, headers) = post_form(
            &app,
            "/app/redeem/",
            &shop_form("https://evil.example/steal", "251.25", "p-1"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            !html.contains("evil.example/steal") && !html.contains("<form"),
            "{html}"
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        let (status, html, _) = post_form(
            &app,
            "/app/redeem/",
            &shop_form("javascript:alert(1)", "251.25", "p-1"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!html.contains("<form"));
        let mut wrong = shop_form(back, "251.25", "p-1");
        wrong[2] = ("password", "9999");
        let (status, html, _) = post_form(&app, "/app/redeem/", &wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!html.contains("<form"));

        // The page: shop, order, masked phone, balance, the most the program allows.
        let (status, html, headers) =
            post_form(&app, "/App/Redeem", &shop_form(back, "251.25", "p-1")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_eq!(headers["x-frame-options"], "DENY");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
            "{csp}"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
        for text in [
            "Demo Shop",
            "251.25",
            "***1111",
            "1000.00",
            "value=\"251.25\"",
        ] {
            assert!(html.contains(text), "{text} in {html}");
        }
        assert!(!html.contains("380671111111"));
        let token = hidden(&html, "token").unwrap();

        // More than the order allows: the form again, no attempt spent, a new token.
        let (_, html, _) = post_form(
            &app,
            "/app/confirm/",
            &[
                ("token", &token),
                ("bonuses", "251.26"),
                ("secret", "0000"),
                ("action", "confirm"),
            ],
        )
        .await;
        assert!(html.contains("id=\"error\""), "{html}");
        let token2 = hidden(&html, "token").unwrap();
        assert_ne!(token, token2);
        let (status, _, _) = post_form(
            &app,
            "/app/confirm/",
            &[("token", &token), ("bonuses", "40.00"), ("secret", "0000")],
        )
        .await;
        assert_eq!(status, StatusCode::GONE, "a used form is refused");

        let (status, html, headers) = post_form(
            &app,
            "/app/confirm/",
            &[
                ("token", &token2),
                ("bonuses", "40.00"),
                ("secret", "0000"),
                ("action", "confirm"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert!(
            html.contains(&format!("action=\"{}\"", back.replace('&', "&#38;"))),
            "{html}"
        );
        assert_eq!(hidden(&html, "status").as_deref(), Some("0000"));
        assert_eq!(hidden(&html, "cardphone").as_deref(), Some("380671111111"));
        assert_eq!(hidden(&html, "bonusesredeemed").as_deref(), Some("40.00"));
        assert_eq!(hidden(&html, "cardbonuses").as_deref(), Some("960.00"));
        let id = hidden(&html, "transactionid").unwrap();
        let (status, _, _) = post_form(
            &app,
            "/app/confirm/",
            &[("token", &token2), ("bonuses", "40.00"), ("secret", "0000")],
        )
        .await;
        assert_eq!(status, StatusCode::GONE, "a replayed answer does nothing");
        let sms = sms_to(&app, "380671111111").await;
        assert_eq!(sms.len(), 1);
        assert!(sms[0]["body"].as_str().unwrap().contains("40.00"));

        // The redeem is cancelled through the API: the bonuses come back.
        let cancel = api(&app, &seed_cancel(&id)).await;
        assert_eq!(cancel.status(), "0000", "{}", cancel.raw);
        assert_eq!(cancel.get("amount"), "-251.25");
        assert_eq!(cancel.get("bonusesredeemed"), "-40.00");
        assert_eq!(cancel.get("amounttopay"), "-211.25");
        assert_eq!(cancel.get("bonusesearned"), "0.00");
        assert_eq!(cancel.get("cardbonuses"), "1000.00");

        // A second page for the same order: the same redeem is the first one; another amount is
        // refused; a cancelled order is not redeemed again.
        let first = redeem_on_page(&app, back, "p-5", "10.00").await;
        assert_eq!(first["status"], "0000");
        let again = redeem_on_page(&app, back, "p-5", "10.00").await;
        assert_eq!(again["transactionid"], first["transactionid"]);
        assert_eq!(again["cardbonuses"], first["cardbonuses"]);
        let other = redeem_on_page(&app, back, "p-5", "11.00").await;
        assert_eq!(other["status"], Status::OrderConflict.code());
        let cancelled = redeem_on_page(&app, back, "p-1", "40.00").await;
        assert_eq!(cancelled["status"], Status::AlreadyCancelled.code());
        assert_eq!(
            sms_to(&app, "380671111111").await.len(),
            3,
            "redeem, cancel, redeem"
        );

        // The customer cancels on the page: status and statusdesc only.
        let (_, html, _) = post_form(&app, "/app/redeem/", &shop_form(back, "251.25", "p-2")).await;
        let token = hidden(&html, "token").unwrap();
        let (_, html, _) = post_form(
            &app,
            "/app/confirm/",
            &[("token", &token), ("action", "cancel")],
        )
        .await;
        assert_eq!(
            hidden(&html, "status").as_deref(),
            Some(Status::CancelledByCustomer.code())
        );
        assert!(hidden(&html, "statusdesc").is_some());
        assert!(hidden(&html, "transactionid").is_none());

        // Refusals after the shop is known go back to it.
        let mut unknown = shop_form(back, "251.25", "p-3");
        unknown[3] = ("cardphone", "380670000099");
        let (_, html, _) = post_form(&app, "/app/redeem/", &unknown).await;
        assert_eq!(
            hidden(&html, "status").as_deref(),
            Some(Status::UnknownCard.code())
        );

        // An earn page for a phone with no spend password asks for the SMS code.
        let mut enrol = shop_form(back, "100.00", "p-4");
        enrol[3] = ("cardphone", "380670000088");
        let (_, html, _) = post_form(&app, "/app/earn/", &enrol).await;
        assert!(html.contains("autocomplete=\"one-time-code\""), "{html}");
        let token = hidden(&html, "token").unwrap();
        let code_sms = sms_to(&app, "380670000088").await;
        let body = code_sms[0]["body"].as_str().unwrap();
        let code: String = body.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(code.len(), 6, "{body}");
        let (_, html, _) = post_form(
            &app,
            "/app/confirm/",
            &[("token", &token), ("secret", &code)],
        )
        .await;
        assert_eq!(hidden(&html, "status").as_deref(), Some("0000"), "{html}");
        assert_eq!(hidden(&html, "amount").as_deref(), Some("100.00"));
        assert_eq!(hidden(&html, "bonusesearned").as_deref(), Some("20.00"));
        assert_eq!(hidden(&html, "cardbonuses").as_deref(), Some("20.00"));
        assert_eq!(sms_to(&app, "380670000088").await.len(), 2);
        audit_is_clean(&app).await;
        app.stop().await;
    }
}

/// Opens a redeem page for `comment` and pays `bonuses` with the right password; returns the
/// fields posted back to the shop.
async fn redeem_on_page(
    app: &TestApp,
    back: &str,
    comment: &str,
    bonuses: &str,
) -> HashMap<String, String> {
    let (_, html, _) = post_form(app, "/app/redeem/", &shop_form(back, "251.25", comment)).await;
    let token = hidden(&html, "token").unwrap_or_else(|| panic!("a page: {html}"));
    let (_, html, _) = post_form(
        app,
        "/app/confirm/",
        &[("token", &token), ("bonuses", bonuses), ("secret", "0000")],
    )
    .await;
    [
        "transactionid",
        "cardphone",
        "bonusesredeemed",
        "cardbonuses",
        "status",
        "statusdesc",
    ]
    .into_iter()
    .filter_map(|name| hidden(&html, name).map(|v| (name.to_string(), v)))
    .collect()
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_card_for_the_window() {
    for app in TestApp::each(true).await {
        let back = "http://localhost:9/return";
        let (_, html, _) = post_form(&app, "/app/redeem/", &shop_form(back, "251.25", "l-1")).await;
        let mut token = hidden(&html, "token").unwrap();
        for attempt in 1..=MAX_ATTEMPTS {
            let (_, html, _) = post_form(
                &app,
                "/app/confirm/",
                &[("token", &token), ("bonuses", "10.00"), ("secret", "1234")],
            )
            .await;
            if attempt < MAX_ATTEMPTS {
                assert!(
                    html.contains(&format!("осталось попыток {}", MAX_ATTEMPTS - attempt)),
                    "{html}"
                );
                token = hidden(&html, "token").unwrap();
            } else {
                assert_eq!(
                    hidden(&html, "status").as_deref(),
                    Some(Status::TooManyAttempts.code()),
                    "{html}"
                );
            }
        }
        // Within the window even a new page with the right password is refused.
        let (_, html, _) = post_form(&app, "/app/redeem/", &shop_form(back, "251.25", "l-2")).await;
        assert_eq!(
            hidden(&html, "status").as_deref(),
            Some(Status::TooManyAttempts.code())
        );
        assert_eq!(operation_count(&app, "redeem").await, 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_demo_shop_redeems_earns_and_cancels_in_a_browser() {
    for app in TestApp::each(true).await {
        common::run_browser("incust-checkout.mjs", &app.base, &[]).await;
        audit_is_clean(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn the_earn_page_returns_without_scripts_and_locks_and_refuses_in_a_browser() {
    for app in TestApp::each(true).await {
        common::run_browser("incust-guards.mjs", &app.base, &[]).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn the_demo_shop_is_served_by_kopilka_demo_only() {
    let app = TestApp::start(Backend::Sqlite, false).await;
    let response = app.http.get(app.url("/demo/shop")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
