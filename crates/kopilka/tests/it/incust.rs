//! The inCust protocol (seed 000) on both stores: the seed's XML examples verbatim, idempotency,
//! every error code, the hosted pages over HTTP and in headless Chromium from the demo shop.

use crate::common;
use crate::common::incust::{
    assert_hidden, cancel_doc, earn_doc, hidden, parse_answer, seed_cancel, shop_form, SEED_EARN,
};
use crate::common::{Backend, TestApp};
use kopilka_domain::ids::CustomerId;
use kopilka_domain::incust::Status;
use kopilka_store::model::CustomerState;
use reqwest::StatusCode;
use serde_json::json;

async fn operation_count(app: &TestApp, kind: &str) -> usize {
    let (_, page) = app
        .get(&format!("/v1/operations?kind={kind}&limit=500"))
        .await;
    page["items"].as_array().map_or(0, |a| a.len())
}

/// The seed's date format, in the program's time zone (Europe/Kyiv), within a minute of now.
fn assert_recent_kyiv_date(text: &str) {
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect(text);
    let now = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Kyiv)
        .naive_local();
    assert!((now - parsed).num_seconds().abs() < 60, "{text} vs {now}");
}

both_stores!(the_seeds_earn_and_cancel_examples_answer_field_for_field);
async fn the_seeds_earn_and_cancel_examples_answer_field_for_field(app: TestApp) {
    let earn = app.incust().api(SEED_EARN).await;
    let ok = [("status", "0000"), ("statusdesc", "Ok"), ("cmddesc", "Ok")];
    earn.has(&[("cmd", "transaction")]);
    earn.has(&ok);
    let id = earn.get("transactionid").to_string();
    assert!(id.parse::<i64>().unwrap() > 0);
    assert_recent_kyiv_date(earn.get("transactiondate"));
    earn.has(&[
        ("cardphone", "380671111111"),
        ("cardbonuses", "1042.25"),
        ("amount", "211.25"),
        ("bonusesredeemed", "0.00"),
        ("amounttopay", "211.25"),
        ("bonusesearned", "42.25"),
    ]);
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

    let cancel = app.incust().api(&seed_cancel(&id)).await;
    cancel.has(&[("cmd", "transactioncancel")]);
    cancel.has(&ok);
    assert_ne!(
        cancel.get("transactionid"),
        id,
        "the compensation is an operation of its own"
    );
    assert_recent_kyiv_date(cancel.get("transactiondate"));
    cancel.has(&[
        ("cardphone", "***1111"),
        ("cardbonuses", "1000.00"),
        ("amount", "-211.25"),
        ("bonusesredeemed", "0.00"),
        ("amounttopay", "-211.25"),
        ("bonusesearned", "-42.25"),
    ]);
    assert!(cancel.raw.contains("<message />"));

    let sms = app.sms_to("380671111111").await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    let cancel_sms = sms[0]["body"].as_str().unwrap();
    let earn_sms = sms[1]["body"].as_str().unwrap();
    assert!(
        earn_sms.contains("Demo Shop")
            && earn_sms.contains("начислено 42,25 бонуса")
            && earn_sms.contains("Баланс: 1\u{a0}042,25 бонуса"),
        "{earn_sms}"
    );
    assert!(
        cancel_sms.contains("Demo Shop")
            && cancel_sms.contains(&id)
            && cancel_sms.contains("1\u{a0}000,00"),
        "{cancel_sms}"
    );
    app.audit_is_clean().await;
    app.stop().await;
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
        let answer = app.incust().post_xml(path, content_type, doc.clone()).await;
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
    let answer = app
        .incust()
        .post_xml("/api", Some("application/x-www-form-urlencoded"), form)
        .await;
    assert_eq!(answer.status(), "0000", "{}", answer.raw);
    let with_bom = format!("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doc}");
    assert_eq!(app.incust().api(&with_bom).await.status(), "0000");
    assert_eq!(
        operation_count(&app, "earn").await,
        1,
        "every request above is the same order"
    );
    app.stop().await;
}

both_stores!(a_repeated_earn_is_one_operation_with_one_answer_and_one_sms);
async fn a_repeated_earn_is_one_operation_with_one_answer_and_one_sms(app: TestApp) {
    let first = app.incust().api(SEED_EARN).await;
    let again = app.incust().api(SEED_EARN).await;
    assert_eq!(first.raw, again.raw, "a repeat returns the first answer");
    let docs: Vec<String> = (0..8)
        .map(|_| earn_doc("380501111111", "0000", "380671111111", "100.00", "race-1"))
        .collect();
    let answers = futures::future::join_all(docs.iter().map(|d| app.incust().api(d))).await;
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
    let answers = futures::future::join_all(docs.iter().map(|d| app.incust().api(d))).await;
    let ids: std::collections::HashSet<&str> =
        answers.iter().map(|a| a.get("transactionid")).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(answers[0].get("cardbonuses"), "10.00");
    assert_eq!(operation_count(&app, "earn").await, 3);
    assert_eq!(app.sms_to("380671111111").await.len(), 2);
    let welcome = app.sms_to("380670000042").await;
    assert_eq!(welcome.len(), 1);
    assert!(
        welcome[0]["body"].as_str().unwrap().contains("участником"),
        "{welcome:?}"
    );

    // The same order with another amount or card is refused.
    let other_amount = app
        .incust()
        .earn("380501111111", "0000", "380671111111", "211.24", "12-2345")
        .await;
    assert_eq!(other_amount.status(), Status::OrderConflict.code());
    let other_card = app
        .incust()
        .earn("380501111111", "0000", "380670000042", "211.25", "12-2345")
        .await;
    assert_eq!(other_card.status(), Status::OrderConflict.code());

    // A cancel twice: one compensation; concurrent cancels: one wins.
    let id = first.get("transactionid");
    assert_eq!(app.incust().api(&seed_cancel(id)).await.status(), "0000");
    let second = app.incust().api(&seed_cancel(id)).await;
    assert_eq!(second.status(), Status::AlreadyCancelled.code());
    assert_eq!(second.get("cmd"), "transactioncancel");
    let earn_again = app.incust().api(SEED_EARN).await;
    assert_eq!(
        earn_again.status(),
        Status::AlreadyCancelled.code(),
        "a cancelled order is not answered as if it stood"
    );
    let race_id = answers[0].get("transactionid").to_string();
    let docs: Vec<String> = (0..5)
        .map(|_| cancel_doc("380501111111", "380670000042", &race_id))
        .collect();
    let cancels = futures::future::join_all(docs.iter().map(|d| app.incust().api(d))).await;
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
    assert_eq!(app.sms_to("380671111111").await.len(), 3);
    app.audit_is_clean().await;
    app.stop().await;
}

/// A second shop in the demo program, and a program that does not enrol on earn.
async fn more_shops(app: &TestApp) {
    let m = app
        .create_merchant(
            json!({"program_id": 1, "name": "Other Shop", "return_hosts": ["127.0.0.1"]}),
        )
        .await;
    app.create(
        &format!("/v1/merchants/{}/credentials", m["id"]),
        json!({"protocol": "incust", "login": "380502222222", "secret": "2222"}),
    )
    .await;
    let p = app.create_program(json!({"code": "closed", "name": "Closed", "rules": {"earn_bps": 1000, "enrol_on_earn": false, "language": "en"}})).await;
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

both_stores!(every_refusal_has_its_code_in_the_same_envelope);
async fn every_refusal_has_its_code_in_the_same_envelope(app: TestApp) {
    more_shops(&app).await;
    let code = |s: Status| s.code();
    use Status as S;
    let (shop, card) = ("380501111111", "380671111111");
    let with = |login: &str, password: &str, cardphone: &str| {
        earn_doc(login, password, cardphone, "1.00", "e1")
    };
    let amount = |amount: &str| earn_doc(shop, "0000", card, amount, "e1");
    let comment = |comment: &str| earn_doc(shop, "0000", card, "1.00", comment);
    let cancel = |id: &str| cancel_doc(shop, card, id);
    let cases: Vec<(String, Status)> = vec![
        ("not xml".into(), S::Malformed),
        ("<other><cmd>transaction</cmd></other>".into(), S::Malformed),
        ("<root><cmd>transaction</cmd>".into(), S::Malformed),
        (
            "<root><phone>380501111111</phone></root>".into(),
            S::MissingField,
        ),
        ("<root><cmd>balance</cmd></root>".into(), S::UnknownCmd),
        (
            "<root><cmd>transaction</cmd><phone>380501111111</phone></root>".into(),
            S::MissingField,
        ),
        (with(shop, "0001", card), S::BadCredentials),
        (with("380509999999", "0000", card), S::BadCredentials),
        (with(shop, "0000", "not-a-phone"), S::InvalidField),
        (comment(""), S::MissingField),
        (comment(&"x".repeat(101)), S::InvalidField),
        (with("380503333333", "3333", "380670000077"), S::UnknownCard),
        (amount("211.255"), S::BadAmount),
        (amount("-5"), S::BadAmount),
        (amount("0"), S::BadAmount),
        (amount("1e3"), S::BadAmount),
        (amount("0.02"), S::BadAmount),
        (cancel("999999"), S::UnknownTransaction),
        (cancel("abc"), S::InvalidField),
    ];
    for (doc, status) in &cases {
        let answer = app.incust().api(doc).await;
        assert_eq!(answer.status(), code(*status), "{doc}: {}", answer.raw);
        assert_eq!(answer.get("statusdesc"), answer.get("cmddesc"));
        assert!(!answer.get("statusdesc").is_empty());
    }
    // The closed program speaks English.
    let answer = app
        .incust()
        .earn("380503333333", "3333", "380670000077", "1.00", "e1")
        .await;
    assert_eq!(answer.get("statusdesc"), "No card has this phone number");

    let earn = app
        .incust()
        .earn("380501111111", "0000", "380671111111", "100.00", "o-1")
        .await;
    let id = earn.get("transactionid").to_string();
    let other = app
        .incust()
        .earn("380502222222", "2222", "380671111111", "100.00", "o-1")
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
            Status::UnknownTransaction,
        ),
        (
            cancel_doc("380501111111", "380670000001", &id),
            Status::OtherCard,
        ),
    ];
    for (doc, status) in &refusals {
        assert_eq!(app.incust().api(doc).await.status(), code(*status), "{doc}");
    }
    let cancel = app
        .incust()
        .cancel("380501111111", "380671111111", &id)
        .await;
    let cancel_id = cancel.get("transactionid").to_string();
    assert_eq!(
        app.incust()
            .cancel("380501111111", "380671111111", &cancel_id)
            .await
            .status(),
        code(Status::NotCancellable)
    );
    assert_eq!(
        app.incust()
            .cancel("380501111111", "380671111111", &id)
            .await
            .status(),
        code(Status::AlreadyCancelled)
    );

    // An earn whose bonuses were spent cannot be cancelled.
    let fresh = app
        .incust()
        .earn("380501111111", "0000", "380670000055", "100.00", "o-2")
        .await;
    let customer = fresh_customer(&app, "380670000055").await;
    app.create(
        "/v1/operations",
        json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "15.00"}),
    )
    .await;
    let refused = app
        .incust()
        .cancel("380501111111", "380670000055", fresh.get("transactionid"))
        .await;
    assert_eq!(refused.status(), code(Status::NotEnoughBonuses));

    // A blocked card.
    block(&app, customer).await;
    let blocked = app
        .incust()
        .earn("380501111111", "0000", "380670000055", "10.00", "o-3")
        .await;
    assert_eq!(blocked.status(), code(Status::CardBlocked));
    app.audit_is_clean().await;
    app.stop().await;
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
                    .customer(CustomerId(customer_id))
                    .await?
                    .expect("customer");
                customer.state = CustomerState::Blocked;
                tx.update_customer(&customer).await
            })
        })
        .await
        .unwrap();
}

both_stores!(bodies_that_are_not_inust_documents_get_a_clean_xml_error);
async fn bodies_that_are_not_inust_documents_get_a_clean_xml_error(app: TestApp) {
    let empty = app.incust().post_xml("/api", Some("text/xml"), "").await;
    assert_eq!(empty.status(), Status::Malformed.code());
    assert_eq!(empty.get("cmd"), "");
    let json = app
        .incust()
        .post_xml(
            "/api",
            Some("application/json"),
            "{\"cmd\":\"transaction\"}",
        )
        .await;
    assert_eq!(json.status(), Status::ContentType.code());
    let multipart = app
        .incust()
        .post_xml("/api", Some("multipart/form-data; boundary=x"), "--x--")
        .await;
    assert_eq!(multipart.status(), Status::ContentType.code());
    let huge = format!(
        "<root><comment>{}</comment></root>",
        "x".repeat(10 * 1024 * 1024)
    );
    let too_large = app.incust().post_xml("/api", Some("text/xml"), huge).await;
    assert_eq!(too_large.status(), Status::TooLarge.code());
    let binary = app
        .incust()
        .post_xml("/api", Some("text/xml"), vec![0xff, 0xfe, 0x00, 0x3c])
        .await;
    assert_eq!(binary.status(), Status::Malformed.code());
    let response = app.http.get(app.url("/api")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        parse_answer(response.text().await.unwrap()).status(),
        Status::Malformed.code()
    );
    app.stop().await;
}

both_stores!(hosted_pages_over_http_guard_their_forms);
async fn hosted_pages_over_http_guard_their_forms(app: TestApp) {
    let back = "http://127.0.0.1:9/shop/return?x=1";
    // A foreign return address: an error page, nothing to post anywhere.
    let redeem = |back, comment| app.incust().open("/app/redeem/", back, "251.25", comment);
    let (status, html, headers) = redeem("https://evil.example/steal", "p-1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !html.contains("evil.example/steal") && !html.contains("<form"),
        "{html}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let (status, html, _) = redeem("javascript:alert(1)", "p-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!html.contains("<form"));
    let mut wrong = shop_form(back, "251.25", "p-1");
    wrong[2] = ("password", "9999");
    let (status, html, _) = app.incust().post_form("/app/redeem/", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!html.contains("<form"));

    // The page: shop, order, masked phone, balance, the most the program allows.
    let (status, html, headers) = app
        .incust()
        .open("/App/Redeem", back, "251.25", "p-1")
        .await;
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
        "251,25",
        "***1111",
        "1\u{a0}000,00 бонуса",
        "value=\"251.25\"",
    ] {
        assert!(html.contains(text), "{text} in {html}");
    }
    assert!(!html.contains("380671111111"));
    let token = hidden(&html, "token").unwrap();

    // More than the order allows: the form again, no attempt spent, a new token.
    let confirm = [("action", "confirm")];
    let pay = |token, extra| app.incust().pay(token, "40.00", "0000", extra);
    let (_, html, _) = app.incust().pay(&token, "251.26", "0000", &confirm).await;
    assert!(html.contains("id=\"error\""), "{html}");
    let token2 = hidden(&html, "token").unwrap();
    assert_ne!(token, token2);
    // The first form again (the back button): the page as it is now, no attempt spent.
    let (status, html, _) = pay(&token, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(!html.contains("id=\"error\""), "{html}");
    let token2 = hidden(&html, "token").unwrap();

    let (status, html, headers) = pay(&token2, &confirm).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(
        html.contains(&format!("action=\"{}\"", back.replace('&', "&#38;"))),
        "{html}"
    );
    let paid = [
        ("status", "0000"),
        ("cardphone", "380671111111"),
        ("bonusesredeemed", "40.00"),
        ("cardbonuses", "960.00"),
    ];
    assert_hidden(&html, &paid);
    let id = hidden(&html, "transactionid").unwrap();
    // The answer sent again (refresh): the same result goes back to the shop, nothing more.
    let (status, again, _) = pay(&token2, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_hidden(&again, &paid);
    assert_eq!(hidden(&again, "transactionid").unwrap(), id);
    let sms = app.sms_to("380671111111").await;
    assert_eq!(sms.len(), 1);
    assert!(sms[0]["body"].as_str().unwrap().contains("40,00"));

    // The redeem is cancelled through the API: the bonuses come back.
    let cancel = app.incust().api(&seed_cancel(&id)).await;
    cancel.has(&[
        ("status", "0000"),
        ("amount", "-251.25"),
        ("bonusesredeemed", "-40.00"),
        ("amounttopay", "-211.25"),
        ("bonusesearned", "0.00"),
        ("cardbonuses", "1000.00"),
    ]);

    // A second page for the same order: the same redeem is the first one; another amount is
    // refused; a cancelled order is not redeemed again.
    let first = app.incust().redeem_on_page(back, "p-5", "10.00").await;
    assert_eq!(first["status"], "0000");
    let again = app.incust().redeem_on_page(back, "p-5", "10.00").await;
    assert_eq!(again["transactionid"], first["transactionid"]);
    assert_eq!(again["cardbonuses"], first["cardbonuses"]);
    let other = app.incust().redeem_on_page(back, "p-5", "11.00").await;
    assert_eq!(other["transactionid"], first["transactionid"]);
    let cancelled = app.incust().redeem_on_page(back, "p-1", "40.00").await;
    assert_eq!(cancelled["status"], Status::AlreadyCancelled.code());
    assert_eq!(
        app.sms_to("380671111111").await.len(),
        3,
        "redeem, cancel, redeem"
    );

    // The customer cancels on the page: status and statusdesc only.
    let (_, html, _) = redeem(back, "p-2").await;
    let token = hidden(&html, "token").unwrap();
    let (_, html, _) = app
        .incust()
        .post_form("/app/confirm/", &[("token", &token), ("action", "cancel")])
        .await;
    assert_hidden(&html, &[("status", Status::CancelledByCustomer.code())]);
    assert!(hidden(&html, "statusdesc").is_some());
    assert!(hidden(&html, "transactionid").is_none());

    // Refusals after the shop is known go back to it.
    let mut unknown = shop_form(back, "251.25", "p-3");
    unknown[3] = ("cardphone", "380670000099");
    let (_, html, _) = app.incust().post_form("/app/redeem/", &unknown).await;
    assert_hidden(&html, &[("status", Status::UnknownCard.code())]);

    // An earn page for a phone with no spend password asks for the SMS code.
    let mut enrol = shop_form(back, "100.00", "p-4");
    enrol[3] = ("cardphone", "380670000088");
    let (_, html, _) = app.incust().post_form("/app/earn/", &enrol).await;
    assert!(html.contains("autocomplete=\"one-time-code\""), "{html}");
    let token = hidden(&html, "token").unwrap();
    let code_sms = app.sms_to("380670000088").await;
    let body = code_sms[0]["body"].as_str().unwrap();
    let code: String = body.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{body}");
    let (_, html, _) = app
        .incust()
        .post_form("/app/confirm/", &[("token", &token), ("secret", &code)])
        .await;
    let earned = [
        ("status", "0000"),
        ("amount", "100.00"),
        ("bonusesearned", "20.00"),
        ("cardbonuses", "20.00"),
    ];
    assert_hidden(&html, &earned);
    assert_eq!(app.sms_to("380670000088").await.len(), 2);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(the_demo_shop_redeems_earns_and_cancels_in_a_browser);
async fn the_demo_shop_redeems_earns_and_cancels_in_a_browser(app: TestApp) {
    common::run_browser("incust-checkout.mjs", &app.base, &[]).await;
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(the_earn_page_returns_without_scripts_slows_guessers_and_refuses_in_a_browser);
async fn the_earn_page_returns_without_scripts_slows_guessers_and_refuses_in_a_browser(
    app: TestApp,
) {
    common::run_browser("incust-guards.mjs", &app.base, &[]).await;
    app.stop().await;
}

#[tokio::test]
async fn the_demo_shop_is_served_by_kopilka_demo_only() {
    let app = TestApp::start(Backend::Sqlite, false).await;
    let response = app.http.get(app.url("/demo/shop")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
