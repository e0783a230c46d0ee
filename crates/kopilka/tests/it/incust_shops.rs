//! inCust as shops and their customers really use it (issue 21): forms sent again, a second
//! page for a paid order, windows-1251 documents, one language per text, no XML or developer
//! English in front of customers.

use crate::common::incust::{assert_hidden, hidden, shop_form};
use crate::common::TestApp;
use kopilka_domain::incust::Status;
use reqwest::StatusCode;

const BACK: &str = "http://127.0.0.1:9/shop/return";

/// The text a customer reads on a page: the HTML without its tags and hidden fields.
fn visible(html: &str) -> String {
    let body = html.split("<body>").nth(1).unwrap_or(html);
    let body = body.split("<script").next().unwrap_or(body);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// No XML, no Latin words: what a Russian customer reads is Russian.
fn assert_russian_for_customers(html: &str) {
    let text = visible(html);
    assert!(
        !text.chars().any(|c| c.is_ascii_alphabetic()),
        "the customer reads: {text}"
    );
}

both_stores!(a_finished_form_sent_again_shows_its_result);
async fn a_finished_form_sent_again_shows_its_result(app: TestApp) {
    let incust = app.incust();
    let (_, html, _) = incust.open("/app/redeem/", BACK, "251.25", "again-1").await;
    let first = hidden(&html, "token").unwrap();
    // A wrong password: the form comes back with a new token.
    let (_, html, _) = incust.pay(&first, "40.00", "9999", &[]).await;
    let second = hidden(&html, "token").unwrap();
    let (_, paid, _) = incust.pay(&second, "40.00", "0000", &[]).await;
    let id = hidden(&paid, "transactionid").unwrap();
    let result = [
        ("status", "0000"),
        ("bonusesredeemed", "40.00"),
        ("cardbonuses", "960.00"),
        ("transactionid", id.as_str()),
    ];
    // Refresh (the last form again) and the back button (an earlier form): the same result
    // goes back to the shop; nothing is paid twice, nothing invites paying again.
    for token in [&second, &first, &second] {
        let (status, html, _) = incust.pay(token, "40.00", "0000", &[]).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains(&format!("action=\"{BACK}\"")), "{html}");
        assert_hidden(&html, &result);
        assert!(!html.contains("попробуйте снова"), "{html}");
        assert_russian_for_customers(&html);
    }
    assert_eq!(app.sms_to("380671111111").await.len(), 1);
    // A refusal stands as well: the customer cancelled, the form sent again says so.
    let (_, html, _) = incust.open("/app/redeem/", BACK, "251.25", "again-2").await;
    let token = hidden(&html, "token").unwrap();
    let cancel = [("action", "cancel")];
    incust.pay(&token, "40.00", "", &cancel).await;
    let (_, html, _) = incust.pay(&token, "40.00", "", &cancel).await;
    assert_hidden(&html, &[("status", Status::CancelledByCustomer.code())]);
    // A token kopilka never issued is still refused, telling the customer to check first.
    let (status, html, _) = incust.pay("forged", "40.00", "0000", &[]).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("Проверьте состояние заказа"), "{html}");
    assert!(!html.contains("попробуйте снова"), "{html}");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_second_page_for_a_paid_order_says_so_at_once);
async fn a_second_page_for_a_paid_order_says_so_at_once(app: TestApp) {
    let incust = app.incust();
    let paid = incust.redeem_on_page(BACK, "twice-1", "40.00").await;
    assert_eq!(paid["status"], "0000");
    let (status, html, _) = incust.open("/app/redeem/", BACK, "251.25", "twice-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(hidden(&html, "token").is_none(), "no second form: {html}");
    assert!(
        html.contains("Заказ уже оплачен бонусами: 40,00 бонуса"),
        "{html}"
    );
    assert_hidden(
        &html,
        &[
            ("status", "0000"),
            ("transactionid", paid["transactionid"].as_str()),
            ("bonusesredeemed", "40.00"),
        ],
    );
    assert_russian_for_customers(&html);
    // Another amount for the same order is the shop's mistake, refused at once.
    let (_, html, _) = incust.open("/app/redeem/", BACK, "300.00", "twice-1").await;
    assert_hidden(&html, &[("status", Status::OrderConflict.code())]);
    assert_eq!(app.sms_to("380671111111").await.len(), 1);
    // An order earned through the XML API: its earn page says so and returns that earn.
    let earned = incust
        .earn("380501111111", "0000", "380671111111", "100.00", "earned-1")
        .await;
    let (_, html, _) = incust.open("/app/earn/", BACK, "100.00", "earned-1").await;
    assert!(hidden(&html, "token").is_none(), "{html}");
    assert!(
        html.contains("Бонусы за этот заказ уже начислены: 20,00 бонуса"),
        "{html}"
    );
    assert_hidden(
        &html,
        &[
            ("status", "0000"),
            ("transactionid", earned.get("transactionid")),
            ("bonusesearned", "20.00"),
        ],
    );
    // A cancelled order is not paid again.
    incust
        .cancel(
            "380501111111",
            "380671111111",
            paid["transactionid"].as_str(),
        )
        .await
        .has(&[("status", "0000")]);
    let (_, html, _) = incust.open("/app/redeem/", BACK, "251.25", "twice-1").await;
    assert_hidden(&html, &[("status", Status::AlreadyCancelled.code())]);
    app.stop().await;
}

both_stores!(windows_1251_documents_are_read);
async fn windows_1251_documents_are_read(app: TestApp) {
    let incust = app.incust();
    let document = "<?xml version=\"1.0\" encoding=\"windows-1251\"?>\n<root><cmd>transaction</cmd><phone>380501111111</phone><password>0000</password><cardphone>380671111111</cardphone><amount>100.00</amount><comment>Заказ №7</comment></root>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(document);
    let first = incust
        .post_xml("/api", Some("text/xml"), bytes.to_vec())
        .await;
    first.has(&[("status", "0000"), ("bonusesearned", "20.00")]);
    // The same order in UTF-8 is the same order: the first answer again.
    let utf8 = document.replace("windows-1251", "utf-8");
    let again = incust.api(&utf8).await;
    assert_eq!(again.get("transactionid"), first.get("transactionid"));
    // PHP's curl with the document in a form field, percent-encoded in windows-1251.
    let other = document.replace("Заказ №7", "Заказ №8");
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&other);
    let field: String = form_urlencoded::byte_serialize(&bytes).collect();
    let form = incust
        .post_xml(
            "/api",
            Some("application/x-www-form-urlencoded"),
            format!("xml={field}"),
        )
        .await;
    form.has(&[("status", "0000")]);
    assert_ne!(form.get("transactionid"), first.get("transactionid"));
    // An encoding nobody knows is a clean refusal.
    let unknown = incust
        .api(&document.replace("windows-1251", "x-klingon"))
        .await;
    assert_eq!(unknown.status(), Status::Malformed.code());
    // A page opened from a windows-1251 checkout page: its order number reads right.
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Заказ №9");
    let comment: String = form_urlencoded::byte_serialize(&bytes).collect();
    let mut body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            shop_form(BACK, "50.00", "x")
                .into_iter()
                .filter(|(k, _)| *k != "comment"),
        )
        .finish();
    body.push_str(&format!("&comment={comment}"));
    let response = app
        .http
        .post(app.url("/app/redeem/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let html = response.text().await.unwrap();
    let token = hidden(&html, "token").unwrap_or_else(|| panic!("{html}"));
    let (_, paid, _) = incust.pay(&token, "10.00", "0000", &[]).await;
    let id = hidden(&paid, "transactionid").unwrap();
    let (_, operation) = app.get(&format!("/v1/operations/{id}")).await;
    assert!(operation.to_string().contains("Заказ №9"), "{operation}");
    app.stop().await;
}

/// English words an English developer's message would carry.
const ENGLISH: [&str; 10] = [
    " the ",
    "must",
    "send ",
    "at most",
    "syntax",
    " not ",
    "body",
    "greater",
    "characters",
    "error",
];

both_stores!(statusdesc_and_cmddesc_speak_one_language);
async fn statusdesc_and_cmddesc_speak_one_language(app: TestApp) {
    let incust = app.incust();
    let long = "x".repeat(101);
    let documents = [
        "<root><cmd>transaction</cmd>".to_string(),
        "<root><cmd>transaction</cmd><cmd><x/></cmd></root>".to_string(),
        "<!DOCTYPE root><root/>".to_string(),
        "<root><cmd>transaction</cmd></root><more/>".to_string(),
        crate::common::incust::earn_doc("380501111111", "0000", "380671111111", "-1", "o-1"),
        crate::common::incust::earn_doc("380501111111", "0000", "380671111111", "1.234", "o-1"),
        crate::common::incust::earn_doc("380501111111", "0000", "380671111111", "1.00", &long),
    ];
    for document in documents {
        let answer = incust.api(&document).await;
        let text = answer.get("statusdesc");
        assert_eq!(text, answer.get("cmddesc"));
        assert_ne!(answer.status(), "0000");
        for word in ENGLISH {
            assert!(!text.contains(word), "{word:?} in {text}");
        }
    }
    let get = app.http.get(app.url("/api")).send().await.unwrap();
    let answer = crate::common::incust::parse_answer(get.text().await.unwrap());
    for word in ENGLISH {
        assert!(!answer.get("statusdesc").contains(word), "{}", answer.raw);
    }
    app.stop().await;
}

both_stores!(customers_never_read_xml_or_developer_english);
async fn customers_never_read_xml_or_developer_english(app: TestApp) {
    let incust = app.incust();
    // Before the shop is known: an error page.
    let get = app.http.get(app.url("/app/redeem/")).send().await.unwrap();
    assert_russian_for_customers(&get.text().await.unwrap());
    let json = app
        .http
        .post(app.url("/app/redeem/"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_russian_for_customers(&json.text().await.unwrap());
    let mut foreign = shop_form("ftp://127.0.0.1/x", "10.00", "c-1");
    foreign.retain(|(k, _)| *k != "cardphone");
    let (_, html, _) = incust.post_form("/app/redeem/", &foreign).await;
    assert_russian_for_customers(&html);
    // After: the refusal goes back to the shop, in words for the customer on the way.
    let mut missing = shop_form(BACK, "10.00", "c-2");
    missing.retain(|(k, _)| *k != "cardphone");
    let (_, html, _) = incust.post_form("/app/redeem/", &missing).await;
    assert_hidden(&html, &[("status", Status::MissingField.code())]);
    assert_russian_for_customers(&html);
    let (_, html, _) = incust.open("/app/redeem/", BACK, "abc", "c-3").await;
    assert_hidden(&html, &[("status", Status::BadAmount.code())]);
    assert_russian_for_customers(&html);
    // On the form: a wrong password says so, in Russian.
    let (_, html, _) = incust.open("/app/redeem/", BACK, "10.00", "c-4").await;
    let token = hidden(&html, "token").unwrap();
    let (_, html, _) = incust.pay(&token, "5.00", "9999", &[]).await;
    assert!(html.contains("Неверный пароль или код"), "{html}");
    let token = hidden(&html, "token").unwrap();
    let (_, html, _) = incust
        .post_form("/app/confirm/", &[("token", &token), ("bonuses", "5.00")])
        .await;
    let error = html.split("id=\"error\"").nth(1).unwrap_or_default();
    assert!(error.contains("Заполните"), "{html}");
    app.stop().await;
}
