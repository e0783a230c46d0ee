//! The Loymax batch balance API on both stores: the seed's requests, all-or-nothing, replays.

use crate::common::loymax::{BATCH_KEY, BATCH_PATH};
use crate::common::native::of_kind;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn seed_request(request_id: &str, kind: i64, member: &str, points: &str) -> String {
    let row = format!(
        r#"{{"memberNo": "{member}", "Description": "string", "operationDate": "2013-08-14 12:26:14", "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": {points}}}"#
    );
    format!(
        r#"{{"requestId": "{request_id}", "type": {kind}, "accrueDescription": "string", "accrue": [{row}, {row}, {row}]}}"#
    )
}

/// [`seed_request`] for the demo member, as JSON to alter.
fn seed_value(request_id: &str, kind: i64, points: &str) -> Value {
    serde_json::from_str(&seed_request(request_id, kind, "012345", points)).unwrap()
}

async fn customer(app: &TestApp) -> (i64, String) {
    let id = app.loymax().customer().await;
    let (_, balances) = app.get(&format!("/v1/customers/{id}/balances")).await;
    (id, balances[0]["balance"].as_str().unwrap().to_string())
}

async fn balance(app: &TestApp) -> String {
    customer(app).await.1
}

/// A batch with the demo key whose answer has `status` `expected` (0 applied, 1 refused).
async fn batch(app: &TestApp, body: impl ToString, expected: i64) -> Value {
    let (_, answer) = app.loymax().send_batch(body).await;
    assert_eq!(answer["status"], expected, "{answer}");
    answer
}

/// The customer's operations, newest first; `query` adds to the customer filter.
async fn operations(app: &TestApp, id: i64, query: &str) -> Value {
    let (_, ops) = app
        .get(&format!("/v1/operations?customer_id={id}&{query}"))
        .await;
    ops
}

both_stores!(the_seed_batch_requests_apply_once_and_all_or_nothing);
async fn the_seed_batch_requests_apply_once_and_all_or_nothing(app: TestApp) {
    let (id, before) = customer(&app).await;
    assert_eq!(before, "1000.00");

    // Type 2 (accrual for purchases), the seed's rows verbatim.
    let body = seed_request("123", 2, "012345", "1522.46");
    let (status, answer) = app.loymax().send_batch(&body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"requestId": "123", "type": 2, "status": 0, "message": "Операция выполнена успешно"})
    );
    assert_eq!(balance(&app).await, "5567.38");

    // The same request again (other path alias): the stored answer, nothing applied twice.
    let alias = "/Loytech.BatchOperationsService/api/requests/";
    let (_, again) = app.loymax().batch(alias, BATCH_KEY, body).await;
    assert_eq!(again, answer);
    assert_eq!(balance(&app).await, "5567.38");
    // The same requestId with another body is refused.
    batch(&app, seed_request("123", 2, "012345", "1"), 1).await;
    assert_eq!(balance(&app).await, "5567.38");

    // Each row is an operation in the customer's history with its description.
    let ops = operations(&app, id, "limit=10").await;
    let earned = of_kind(&ops, "earn");
    assert_eq!(earned.len(), 3, "{ops}");
    assert_eq!(earned[0]["description"], "string");

    // One bad row (an unknown member; too many decimals) applies nothing.
    let mut rows = seed_value("124", 4, "10");
    rows["accrue"][1]["memberNo"] = json!("999999");
    let refused = batch(&app, rows, 1).await;
    assert_eq!(refused["errors"][0]["row"], 2);
    assert_eq!(refused["errors"][0]["memberNo"], "999999");
    let refused = batch(&app, seed_request("125", 4, "012345", "1.001"), 1).await;
    let errors = refused["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "every bad row is listed");
    assert_eq!(balance(&app).await, "5567.38");
    // A NUL character, which no text column takes, is the client's mistake in a row or in
    // the header, not the server's.
    let clean = seed_value("125n", 4, "1");
    let mut in_row = clean.clone();
    in_row["accrue"][2]["Description"] = json!("a\u{0}b");
    let mut in_header = clean;
    in_header["requestId"] = json!("12\u{0}5");
    for (body, row) in [(in_row, json!(3)), (in_header, Value::Null)] {
        let (status, refused) = app.loymax().send_batch(body).await;
        assert_eq!(status, StatusCode::OK, "{refused}");
        assert_eq!(refused["status"], 1, "{refused}");
        assert_eq!(refused["errors"][0]["row"], row, "{refused}");
    }
    assert_eq!(balance(&app).await, "5567.38");

    // Type 4: a manual accrual, kept apart from purchase accruals.
    batch(&app, seed_request("126", 4, "012345", "1"), 0).await;
    assert_eq!(balance(&app).await, "5570.38");
    let ops = operations(&app, id, "kind=accrue&limit=3").await;
    assert_eq!(ops["items"][0]["description"], "string");

    // Types 3 and 5 take points back; more than the balance applies nothing. The row at
    // fault is the one the balance no longer covers.
    let short = batch(&app, seed_request("127", 5, "012345", "2000"), 1).await;
    assert_eq!(short["errors"].as_array().unwrap().len(), 1, "{short}");
    assert_eq!(short["errors"][0]["row"], 3, "{short}");
    assert_eq!(balance(&app).await, "5570.38");
    batch(&app, seed_request("128", 3, "012345", "1500"), 0).await;
    assert_eq!(balance(&app).await, "1070.38");

    // Unknown type, currency and lifetime are refused whole.
    batch(&app, seed_request("129", 7, "012345", "1"), 1).await;
    let mut with_currency = seed_value("130", 2, "1");
    with_currency["currencyExternalId"] = json!("string");
    batch(&app, with_currency, 1).await;

    // Keys: a wrong one is 401; the admin API makes new ones.
    let wrong_key = seed_request("131", 2, "012345", "1");
    let (status, _) = app.loymax().batch(BATCH_PATH, "nope", wrong_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.loymax().send_batch("{\"requestId\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let merchant = app.merchant_named("Demo Loymax Shop").await;
    let key = app
        .create("/v1/loymax/batch-keys", json!({"merchant_id": merchant}))
        .await;
    let fresh = seed_request("132", 2, "012345", "1");
    let key = key["key"].as_str().unwrap();
    let (_, fresh) = app.loymax().batch(BATCH_PATH, key, fresh).await;
    assert_eq!(fresh["status"], 0, "{fresh}");

    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_batch_is_read_whole_before_it_applies);
async fn a_batch_is_read_whole_before_it_applies(app: TestApp) {
    let (id, before) = customer(&app).await;
    assert_eq!(before, "1000.00");
    let row = r#"{"memberNo": "012345", "pointsAmount": 1}"#;

    // The header after the rows: the rows are read again under it.
    let late = format!(
        r#"{{"accrue": [{row}, {row}], "requestId": "140", "type": 4, "accrueDescription": "late"}}"#
    );
    batch(&app, late, 0).await;
    assert_eq!(balance(&app).await, "1002.00");
    let ops = operations(&app, id, "kind=accrue&limit=2").await;
    assert_eq!(ops["items"][0]["description"], "late", "{ops}");
    assert_eq!(ops["items"][1]["description"], "late", "{ops}");

    // A field of the header that changes after the rows were sent: read again too.
    let changed = format!(
        r#"{{"requestId": "141", "type": 4, "accrue": [{row}], "accrueDescription": "after"}}"#
    );
    batch(&app, changed, 0).await;
    let ops = operations(&app, id, "kind=accrue&limit=1").await;
    assert_eq!(ops["items"][0]["description"], "after", "{ops}");

    // A body cut short after its rows, or with trailing garbage: nothing applies.
    let cut = format!(r#"{{"requestId": "142", "type": 2, "accrue": [{row}, {row}"#);
    let trailing = format!(r#"{{"requestId": "143", "type": 2, "accrue": [{row}]}} x"#);
    for body in [cut, trailing] {
        let (status, _) = app.loymax().send_batch(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(balance(&app).await, "1003.00");

    // Many rows over chunks, one of them at fault near the end: nothing applies, and
    // the fault is named.
    let big = |rows: &[String]| {
        format!(
            r#"{{"requestId": "144", "type": 2, "accrue": [{}]}}"#,
            rows.join(",")
        )
    };
    let mut rows: Vec<String> = (0..12_000).map(|_| row.to_string()).collect();
    rows[11_500] = r#"{"memberNo": "nobody", "pointsAmount": 1}"#.into();
    let refused = batch(&app, big(&rows), 1).await;
    assert_eq!(refused["errors"][0]["row"], 11_501, "{refused}");
    assert_eq!(balance(&app).await, "1003.00");
    // A member unknown to the store and, in a later chunk, an amount the parser refuses:
    // both are listed.
    rows[1] = r#"{"memberNo": "nobody", "pointsAmount": 1}"#.into();
    rows[11_500] = r#"{"memberNo": "012345", "pointsAmount": -1}"#.into();
    let (_, refused) = app.loymax().send_batch(big(&rows)).await;
    assert_eq!(refused["errors"][0]["row"], 2, "{refused}");
    assert_eq!(refused["errors"][1]["row"], 11_501, "{refused}");
    rows[1] = row.to_string();
    rows[11_500] = row.to_string();
    batch(&app, big(&rows), 0).await;
    assert_eq!(balance(&app).await, "13003.00");

    // Chunks of rows written while the body still arrives (PostgreSQL reads it as it is
    // spooled), then a token too long after them: the spooler's refusal is the answer and
    // none of the rows stays.
    let huge = format!(
        r#"{{"requestId": "145", "type": 2, "accrue": [{}], "accrueDescription": "{}"}}"#,
        rows.join(","),
        "x".repeat(32 * 1024)
    );
    let (status, refused) = app.loymax().send_batch(&huge).await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused["status"], 1, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("accrueDescription")),
        "{refused}"
    );
    assert_eq!(balance(&app).await, "13003.00");

    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_batch_across_members_and_chunks_lands_every_row_once);
/// A batch over many members and more than one chunk of rows: member numbers and a card's
/// number, customers with no account yet, and the card's owner; every row lands once.
async fn a_batch_across_members_and_chunks_lands_every_row_once(app: TestApp) {
    let program = app.demo_loymax_program().await["id"].clone();
    let mut members = Vec::new();
    for i in 0..12 {
        let customer = app
            .create_customer(json!({"program_id": program, "member_no": format!("bulk-{i}")}))
            .await;
        members.push((format!("bulk-{i}"), customer["id"].as_i64().unwrap()));
    }
    let (_, card_owner) = app.get("/v1/customers?phone=%2B79161234567").await;
    let card_owner = card_owner["items"][0]["id"].as_i64().unwrap();
    members.push(("2770000000000017".into(), card_owner));
    let balance = |id: i64| {
        let app = &app;
        async move {
            let (_, b) = app.get(&format!("/v1/customers/{id}/balances")).await;
            b[0]["balance"].as_str().unwrap_or("0.00").to_string()
        }
    };
    let owner_before = balance(card_owner).await;
    assert_eq!(owner_before, "500.00");

    // 13 members × 1,000 rows of 0.01, interleaved: three chunks of the parser's 5,000.
    // The last row's description holds what a database's bulk format must escape.
    let rows: Vec<String> = (0..13_000)
        .map(|i| {
            let description = if i == 12_999 {
                r#"tab\there, back\\slash,\nnew line, \\N"#.to_string()
            } else {
                format!("row {i}")
            };
            format!(
                r#"{{"memberNo": "{}", "Description": "{description}", "pointsAmount": 0.01}}"#,
                members[i % members.len()].0
            )
        })
        .collect();
    let body = format!(
        r#"{{"requestId": "bulk-1", "type": 4, "accrue": [{}]}}"#,
        rows.join(",")
    );
    let (status, answer) = app.loymax().send_batch(&body).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!(0)),
        "{answer}"
    );
    let (_, again) = app.loymax().send_batch(body).await;
    assert_eq!(again, answer);

    for (number, id) in &members[..12] {
        assert_eq!(balance(*id).await, "10.00", "{number}");
    }
    assert_eq!(balance(card_owner).await, "510.00");
    let ops = operations(&app, members[3].1, "limit=500").await;
    assert_eq!(ops["items"].as_array().unwrap().len(), 500);
    assert_eq!(ops["items"][0]["description"], "row 12990");
    let ops = operations(&app, members[12].1, "limit=1").await;
    assert_eq!(
        ops["items"][0]["description"],
        "tab\there, back\\slash,\nnew line, \\N"
    );
    app.audit_is_clean().await;
    app.stop().await;
}
