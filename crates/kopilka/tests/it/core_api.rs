//! The native API under load and abuse, on both stores: concurrent redeems never overspend,
//! bad input is a 4xx naming the field and writes nothing, and a graceful shutdown finishes
//! what it started.

use crate::common;
use crate::common::{Backend, TestApp, ADMIN_TOKEN};
use kopilka::config::Config;
use kopilka::secrets::Sealer;
use kopilka::server;
use kopilka_store::{PgStore, SharedStore};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

both_stores!(multi_thread concurrent_redeems_over_http_never_overspend);
/// 200 concurrent redeems of 10.00 on 100.00 over HTTP: exactly ten succeed.
async fn concurrent_redeems_over_http_never_overspend(app: TestApp) {
    let customer = app.customer_with("100.00").await;
    let app = Arc::new(app);
    let redeems = (0..200).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            app.operation(json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "10.00"}),
            )
            .await
        })
    });
    let mut created = 0;
    for answer in futures::future::join_all(redeems).await {
        let (status, body) = answer.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "insufficient_funds"),
            other => panic!("{:?}: {other} {body}", app.backend),
        }
    }
    assert_eq!(created, 10, "{:?}", app.backend);
    let b = app.balance(customer).await;
    assert_eq!(
        (b["balance"].as_str(), b["held"].as_str()),
        (Some("0.00"), Some("0.00"))
    );
    app.audit_is_clean().await;
    Arc::into_inner(app).unwrap().stop().await;
}

/// What the store holds, counted, to show a refused request wrote nothing.
async fn snapshot(app: &TestApp, customer: i64) -> Value {
    let mut counts = serde_json::Map::new();
    for path in ["/v1/programs", "/v1/merchants", "/v1/cards"] {
        let (_, body) = app.get(path).await;
        counts.insert(path.into(), json!(body.as_array().map(Vec::len)));
    }
    for path in ["/v1/customers?limit=500", "/v1/operations?limit=500"] {
        let (_, body) = app.get(path).await;
        counts.insert(path.into(), json!(body["items"].as_array().map(Vec::len)));
    }
    counts.insert("balance".into(), app.balance(customer).await);
    Value::Object(counts)
}

struct Bad {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: String,
    token: Option<&'static str>,
}

impl Bad {
    fn json(method: &'static str, path: impl Into<String>, body: impl Into<String>) -> Bad {
        Bad {
            method,
            path: path.into(),
            content_type: Some("application/json"),
            body: body.into(),
            token: Some(ADMIN_TOKEN),
        }
    }

    async fn send(&self, app: &TestApp) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = app.http.request(method, app.url(&self.path));
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        if let Some(ct) = self.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.body(self.body.clone()).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{} {}: not JSON: {text}", self.method, self.path));
        (status, body)
    }
}

/// Every case: the request, the status it must get, and the field its error must name.
fn bad_requests(
    customer: i64,
    op: i64,
    hold: i64,
    fine_customer: i64,
) -> Vec<(Bad, StatusCode, Option<&'static str>)> {
    use StatusCode as S;
    const UNPROCESSABLE: S = S::UNPROCESSABLE_ENTITY;
    let ops = "/v1/operations";
    let redeem = |field: &str, value: &str| {
        let mut body = serde_json::Map::new();
        body.insert("kind".into(), json!("redeem"));
        body.insert("customer_id".into(), json!(customer));
        body.insert("merchant_id".into(), json!(1));
        body.insert("amount".into(), json!("1.00"));
        let mut text = Value::Object(body).to_string();
        // The value goes in as raw JSON text, so numbers too large for any float survive.
        let key = format!("\"{field}\":");
        if let Some(start) = text.find(&key) {
            let rest = &text[start + key.len()..];
            let end = rest.find([',', '}']).unwrap();
            text = format!("{}{value}{}", &text[..start + key.len()], &rest[end..]);
        } else {
            text = format!("{},\"{field}\":{value}}}", &text[..text.len() - 1]);
        }
        Bad::json("POST", ops, text)
    };
    let mut cases = vec![
        // Text with the NUL character, which no store keeps.
        (
            redeem("description", "\"a\\u0000b\""),
            UNPROCESSABLE,
            Some("text"),
        ),
        // Wrong types.
        (
            redeem("customer_id", "\"1\""),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("customer_id", "1.5"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("customer_id", "null"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("merchant_id", "\"one\""),
            UNPROCESSABLE,
            Some("merchant_id"),
        ),
        (redeem("kind", "5"), UNPROCESSABLE, Some("kind")),
        (redeem("kind", "\"steal\""), UNPROCESSABLE, Some("kind")),
        (redeem("hold", "\"yes\""), UNPROCESSABLE, Some("hold")),
        (redeem("amount", "true"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "[1]"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "{}"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "null"), UNPROCESSABLE, Some("amount")),
        (
            redeem("description", "7"),
            UNPROCESSABLE,
            Some("description"),
        ),
        (
            redeem("idempotency_key", "1"),
            UNPROCESSABLE,
            Some("idempotency_key"),
        ),
        // Huge numbers.
        (
            redeem("customer_id", "1e30"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("customer_id", "99999999999999999999"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("merchant_id", "-99999999999999999999"),
            UNPROCESSABLE,
            Some("merchant_id"),
        ),
        (redeem("amount", "1e30"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "1E2"), UNPROCESSABLE, Some("amount")),
        (
            redeem("amount", "99999999999999999999"),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            redeem("amount", "\"99999999999999999999\""),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            redeem("amount", "10000000000000.01"),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            redeem("amount", &format!("1{}", "0".repeat(400))),
            UNPROCESSABLE,
            Some("amount"),
        ),
        // Negative, zero and over-precise.
        (redeem("amount", "-5"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"-5.00\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "0"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"0.00\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "-0.0"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "10.001"), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"0.005\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"1,50\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\" 1.50\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"\""), UNPROCESSABLE, Some("amount")),
        (redeem("amount", "\"NaN\""), UNPROCESSABLE, Some("amount")),
        // Unknown ids.
        (
            redeem("customer_id", "999999"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("customer_id", "-1"),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            redeem("merchant_id", "999999"),
            UNPROCESSABLE,
            Some("merchant_id"),
        ),
        // Unknown fields and contradictions.
        (redeem("amout", "1"), UNPROCESSABLE, Some("amout")),
        (redeem("paid", "\"10.00\""), UNPROCESSABLE, Some("paid")),
        (
            redeem("merchant_id", "null"),
            UNPROCESSABLE,
            Some("merchant_id"),
        ),
        (
            redeem("idempotency_key", "\"\""),
            UNPROCESSABLE,
            Some("idempotency_key"),
        ),
        (
            redeem("idempotency_key", &format!("\"{}\"", "k".repeat(201))),
            UNPROCESSABLE,
            Some("idempotency_key"),
        ),
        (
            redeem("description", &format!("\"{}\"", "d".repeat(501))),
            UNPROCESSABLE,
            Some("description"),
        ),
        (
            Bad::json(
                "POST",
                ops,
                json!({"kind": "earn", "customer_id": customer, "paid": "0.01"}).to_string(),
            ),
            UNPROCESSABLE,
            Some("paid"),
        ),
        (
            Bad::json(
                "POST",
                ops,
                json!({"kind": "earn", "customer_id": customer, "paid": "1e3"}).to_string(),
            ),
            UNPROCESSABLE,
            Some("paid"),
        ),
        (
            Bad::json(
                "POST",
                ops,
                json!({"kind": "accrue", "customer_id": customer, "amount": "1", "hold": true})
                    .to_string(),
            ),
            UNPROCESSABLE,
            Some("hold"),
        ),
        (
            Bad::json(
                "POST",
                ops,
                json!({"kind": "earn", "customer_id": customer}).to_string(),
            ),
            UNPROCESSABLE,
            Some("amount"),
        ),
        // Not JSON, or not an object.
        (Bad::json("POST", ops, "{"), UNPROCESSABLE, Some("body")),
        (Bad::json("POST", ops, "hello"), UNPROCESSABLE, Some("body")),
        (Bad::json("POST", ops, ""), UNPROCESSABLE, Some("body")),
        (Bad::json("POST", ops, "[]"), UNPROCESSABLE, Some("body")),
        (Bad::json("POST", ops, "{} {}"), UNPROCESSABLE, Some("body")),
        (Bad::json("POST", ops, "\u{0}"), UNPROCESSABLE, Some("body")),
        // Wrong content type, missing or wrong authentication.
        (
            Bad {
                content_type: Some("text/plain"),
                ..redeem("amount", "\"1.00\"")
            },
            S::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            Bad {
                content_type: None,
                ..redeem("amount", "\"1.00\"")
            },
            S::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            Bad {
                content_type: Some("application/x-www-form-urlencoded"),
                ..Bad::json("POST", ops, "kind=redeem")
            },
            S::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            Bad {
                token: None,
                ..redeem("amount", "\"1.00\"")
            },
            S::UNAUTHORIZED,
            None,
        ),
        (
            Bad {
                token: Some("wrong"),
                ..redeem("amount", "\"1.00\"")
            },
            S::UNAUTHORIZED,
            None,
        ),
        (
            Bad {
                token: None,
                ..Bad::json("GET", "/v1/ledger/audit", "")
            },
            S::UNAUTHORIZED,
            None,
        ),
        (Bad::json("DELETE", ops, ""), S::METHOD_NOT_ALLOWED, None),
        (
            Bad::json("PUT", format!("/v1/operations/{op}"), "{}"),
            S::METHOD_NOT_ALLOWED,
            None,
        ),
        (
            Bad::json(
                "POST",
                ops,
                format!("{{\"description\": \"{}\"}}", "x".repeat(17 << 20)),
            ),
            S::PAYLOAD_TOO_LARGE,
            None,
        ),
        // Resolving and reversing.
        (
            Bad::json("POST", "/v1/operations/999999/confirm", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("POST", "/v1/operations/999999/void", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("POST", "/v1/operations/999999/reverse", "{}"),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("POST", "/v1/operations/abc/reverse", "{}"),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("POST", "/v1/operations/99999999999999999999/confirm", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("POST", format!("/v1/operations/{op}/confirm"), ""),
            S::CONFLICT,
            None,
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                r#"{"amount": "10.001"}"#,
            ),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                r#"{"amount": -1}"#,
            ),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                r#"{"amount": 1e30}"#,
            ),
            UNPROCESSABLE,
            Some("amount"),
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                r#"{"amount": "5.01"}"#,
            ),
            S::CONFLICT,
            None,
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                r#"{"amont": 1}"#,
            ),
            UNPROCESSABLE,
            Some("amont"),
        ),
        (
            Bad::json("POST", format!("/v1/operations/{op}/reverse"), "[1]"),
            UNPROCESSABLE,
            Some("body"),
        ),
        (
            Bad::json("POST", format!("/v1/operations/{hold}/reverse"), "{}"),
            S::CONFLICT,
            None,
        ),
        (
            Bad::json(
                "POST",
                format!("/v1/operations/{op}/reverse"),
                " ".repeat(17 << 20),
            ),
            S::PAYLOAD_TOO_LARGE,
            None,
        ),
        // Reading.
        (
            Bad::json("GET", "/v1/operations/999999", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/customers/999999", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/customers/999999/balances", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/customers/x/balances", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/programs/999999", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/merchants/999999", ""),
            S::NOT_FOUND,
            None,
        ),
        (Bad::json("GET", "/v1/cards/999999", ""), S::NOT_FOUND, None),
        (
            Bad::json("GET", "/v1/no-such-route", ""),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json("GET", "/v1/operations?limit=0", ""),
            UNPROCESSABLE,
            Some("limit"),
        ),
        (
            Bad::json("GET", "/v1/operations?limit=1e30", ""),
            UNPROCESSABLE,
            Some("limit"),
        ),
        (
            Bad::json("GET", "/v1/operations?cursor=99999999999999999999", ""),
            UNPROCESSABLE,
            Some("cursor"),
        ),
        (
            Bad::json("GET", "/v1/operations?kind=steal", ""),
            UNPROCESSABLE,
            Some("kind"),
        ),
        (
            Bad::json("GET", "/v1/operations?customer_id=x", ""),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
        (
            Bad::json("GET", "/v1/customers?phone=abc", ""),
            UNPROCESSABLE,
            Some("phone"),
        ),
        // Entities.
        (
            Bad::json("POST", "/v1/customers", r#"{"program_id": "1"}"#),
            UNPROCESSABLE,
            Some("program_id"),
        ),
        (
            Bad::json("POST", "/v1/customers", r#"{"program_id": 999999}"#),
            UNPROCESSABLE,
            Some("program_id"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "phone": "call me"}"#,
            ),
            UNPROCESSABLE,
            Some("phone"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "phone": "380671111111"}"#,
            ),
            S::CONFLICT,
            None,
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "email": "nobody"}"#,
            ),
            UNPROCESSABLE,
            Some("email"),
        ),
        (
            Bad::json("POST", "/v1/customers", r#"{"program_id": 1, "pin": "1"}"#),
            UNPROCESSABLE,
            Some("pin"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "opening_balance": 1e30}"#,
            ),
            UNPROCESSABLE,
            Some("opening_balance"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "opening_balance": "0.001"}"#,
            ),
            UNPROCESSABLE,
            Some("opening_balance"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "opening_balance": -3}"#,
            ),
            UNPROCESSABLE,
            Some("opening_balance"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/customers",
                r#"{"program_id": 1, "nickname": "x"}"#,
            ),
            UNPROCESSABLE,
            Some("nickname"),
        ),
        (
            Bad::json("PUT", "/v1/customers/999999/pin", r#"{"pin": "1234"}"#),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json(
                "PUT",
                format!("/v1/customers/{customer}/pin"),
                r#"{"pin": 1234}"#,
            ),
            UNPROCESSABLE,
            Some("pin"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "x", "name": "X", "rules": {"decimals": 7}}"#,
            ),
            UNPROCESSABLE,
            Some("decimals"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "x", "name": "X", "rules": {"earn_bps": -1}}"#,
            ),
            UNPROCESSABLE,
            Some("rules.earn_bps"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "x", "name": "X", "rules": {"earn_bps": 1e30}}"#,
            ),
            UNPROCESSABLE,
            Some("rules.earn_bps"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "x", "name": "X", "rules": {"time_zone": "Mars/Base"}}"#,
            ),
            UNPROCESSABLE,
            Some("rules.time_zone"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "x", "name": "X", "rules": {"colour": "red"}}"#,
            ),
            UNPROCESSABLE,
            Some("rules.colour"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/programs",
                r#"{"code": "demo", "name": "Again"}"#,
            ),
            S::CONFLICT,
            None,
        ),
        (
            Bad::json("POST", "/v1/programs", r#"{"code": "", "name": "X"}"#),
            UNPROCESSABLE,
            Some("code"),
        ),
        (
            Bad::json(
                "PUT",
                "/v1/programs/999999",
                r#"{"code": "x", "name": "X"}"#,
            ),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json(
                "POST",
                "/v1/merchants",
                r#"{"program_id": 999999, "name": "M"}"#,
            ),
            UNPROCESSABLE,
            Some("program_id"),
        ),
        (
            Bad::json("POST", "/v1/merchants", r#"{"program_id": 1, "name": " "}"#),
            UNPROCESSABLE,
            Some("name"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/merchants",
                r#"{"program_id": 1, "name": "M", "return_hosts": ["a/b"]}"#,
            ),
            UNPROCESSABLE,
            Some("return_hosts[0]"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/merchants",
                r#"{"program_id": 1, "name": "M", "webhook_url": "ftp://x"}"#,
            ),
            UNPROCESSABLE,
            Some("webhook_url"),
        ),
        (
            Bad::json(
                "PUT",
                "/v1/merchants/999999",
                r#"{"program_id": 1, "name": "M"}"#,
            ),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json(
                "POST",
                "/v1/merchants/999999/credentials",
                r#"{"protocol": "native", "login": "x", "secret": "s"}"#,
            ),
            S::NOT_FOUND,
            None,
        ),
        (
            Bad::json(
                "POST",
                "/v1/merchants/1/credentials",
                r#"{"protocol": "smtp", "login": "x"}"#,
            ),
            UNPROCESSABLE,
            Some("protocol"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/cards",
                r#"{"program_id": 1, "number": "12ab", "kind": "virtual"}"#,
            ),
            UNPROCESSABLE,
            Some("number"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/cards",
                r#"{"program_id": 1, "number": "1234", "kind": "plastic"}"#,
            ),
            UNPROCESSABLE,
            Some("kind"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/cards",
                r#"{"program_id": 999999, "number": "1234", "kind": "virtual"}"#,
            ),
            UNPROCESSABLE,
            Some("program_id"),
        ),
        (
            Bad::json(
                "POST",
                "/v1/cards",
                r#"{"program_id": 1, "number": "1234", "kind": "virtual", "customer_id": 999999}"#,
            ),
            UNPROCESSABLE,
            Some("customer_id"),
        ),
    ];
    // In a program whose points are finer than its money, and generous, the points an earn
    // computes overflow any amount: refused, never wrapped.
    cases.push((
        Bad::json(
            "POST",
            ops,
            json!({"kind": "earn", "customer_id": fine_customer, "paid": "1000000000000000"})
                .to_string(),
        ),
        UNPROCESSABLE,
        Some("paid"),
    ));
    cases
}

both_stores!(bad_input_is_a_4xx_naming_the_field_and_writes_nothing);
async fn bad_input_is_a_4xx_naming_the_field_and_writes_nothing(app: TestApp) {
    let customer = app.customer_with("100.00").await;
    let op = app
        .create(
            "/v1/operations",
            json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "5.00"}),
        )
        .await;
    let (_, hold) = app.operation(json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "1.00", "hold": true}),
        )
        .await;
    let (op, hold) = (op["id"].as_i64().unwrap(), hold["id"].as_i64().unwrap());
    let rules =
        json!({"currency": "FINE", "decimals": 6, "money_decimals": 0, "earn_bps": 1_000_000});
    let fine = app
        .create_program(json!({"code": "fine", "name": "Fine", "rules": rules}))
        .await;
    let fine_customer = app.create_customer(json!({"program_id": fine["id"]})).await;
    let fine_customer = fine_customer["id"].as_i64().unwrap();
    let before = snapshot(&app, customer).await;
    let mut wrong = Vec::new();
    for (request, want_status, want_field) in bad_requests(customer, op, hold, fine_customer) {
        let (status, body) = request.send(&app).await;
        let named = want_field.is_none_or(|f| body["error"]["field"] == f);
        if status != want_status || !body["error"]["code"].is_string() || !named {
            let body_text: String = request.body.chars().take(100).collect();
            wrong.push(format!(
                "{} {} {body_text} → {status} {body}",
                request.method, request.path
            ));
        }
    }
    assert!(wrong.is_empty(), "{:?}: {wrong:#?}", app.backend);
    assert_eq!(snapshot(&app, customer).await, before, "{:?}", app.backend);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(multi_thread graceful_shutdown_finishes_what_it_started, Backend);
/// Earn requests racing a graceful shutdown: each one either finished with 201 or was refused
/// before it started, and what the store holds is exactly what was acknowledged.
async fn graceful_shutdown_finishes_what_it_started(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
    let schema = common::unique_schema("shut");
    let open = || async {
        match backend {
            Backend::Sqlite => kopilka_store::open(&sqlite_url).await.unwrap(),
            Backend::Postgres => Arc::new(
                PgStore::open(&common::postgres_url(), Some(&schema))
                    .await
                    .unwrap(),
            ) as SharedStore,
        }
    };
    let store = open().await;
    let seal_key = Sealer::generate_key();
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    kopilka::demo::seed(&store, &Sealer::from_hex(&seal_key).unwrap(), &data)
        .await
        .unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(ADMIN_TOKEN.into()),
        seal_key: Some(seal_key),
        jobs_interval_secs: 3600,
        ..Config::default()
    };
    let running = server::start_with_store(config, store).await.unwrap();
    let base = running.public_url.clone();
    let http = reqwest::Client::new();
    // Several customers, so PostgreSQL's row locks do not queue every earn behind one.
    let mut customers = Vec::new();
    for _ in 0..10 {
        let created = http
            .post(format!("{base}/v1/customers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"program_id": 1}))
            .send()
            .await
            .unwrap();
        let body: Value = created.json().await.unwrap();
        customers.push(body["id"].as_i64().unwrap());
    }
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let earns: Vec<_> = (0..150)
        .map(|i| {
            let (http, base, answered) = (http.clone(), base.clone(), answered.clone());
            let customer = customers[i % customers.len()];
            tokio::spawn(async move {
                let sent = http
                    .post(format!("{base}/v1/operations"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"kind": "accrue", "customer_id": customer, "amount": "1.00", "idempotency_key": format!("e{i}")}))
                    .send()
                    .await;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match sent {
                    Ok(response) => Some(response.status()),
                    // Refused: the server was no longer taking connections.
                    Err(_) => None,
                }
            })
        })
        .collect();
    // Shut down while most requests are still on their way.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    running.shutdown().await;
    let mut acknowledged = Vec::new();
    for (i, earn) in earns.into_iter().enumerate() {
        match earn.await.unwrap() {
            Some(StatusCode::CREATED) => acknowledged.push(format!("e{i}")),
            Some(other) => panic!("{backend:?}: request {i} answered {other} during shutdown"),
            None => {}
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "{backend:?}: the shutdown came before any request"
    );

    let store = open().await;
    let (keys, audit) = store
        .read(|tx| {
            Box::pin(async move {
                let filter = kopilka_store::ledger::OperationFilter {
                    kind: Some("accrue".into()),
                    limit: 1000,
                    ..Default::default()
                };
                let ops = kopilka_store::ledger::operations(tx, &filter).await?;
                let keys: Vec<String> = ops.into_iter().filter_map(|o| o.idem_key).collect();
                Ok((keys, kopilka_store::ledger::audit(tx).await?))
            })
        })
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    acknowledged.sort();
    assert_eq!(
        keys, acknowledged,
        "{backend:?}: stored earns differ from acknowledged ones"
    );
    assert_eq!(audit, Vec::<i64>::new());
    store.close().await;
}

both_stores!(resolving_a_hold_replays_under_its_key);
/// Confirm and void take an `Idempotency-Key` header: the repeat replays, another request on
/// the resolved hold is refused.
async fn resolving_a_hold_replays_under_its_key(app: TestApp) {
    let customer = app.customer_with("50.00").await;
    let (_, hold) = app.operation(json!({"kind": "redeem", "customer_id": customer, "merchant_id": 1, "amount": "20.00", "hold": true}),
        )
        .await;
    let confirm = |key: &'static str| app.resolve_with_key(&hold["id"], "confirm", key);
    let first = confirm("c1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let again = confirm("c1").await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["replayed"].as_bool(), again["status"].as_str()),
        (Some(true), Some("confirmed"))
    );
    let other = confirm("c2").await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let (status, void) = app
        .post(&format!("/v1/operations/{}/void", hold["id"]), json!({}))
        .await;
    assert_eq!(
        (status, void["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("hold_not_pending"))
    );
    let b = app.balance(customer).await;
    assert_eq!(
        (b["balance"].as_str(), b["held"].as_str()),
        (Some("30.00"), Some("0.00"))
    );
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(native_holds_past_their_programs_lifetime_are_voided);
/// A program may give native holds a lifetime: the job voids those that outlive it (and only
/// those), and their points are spendable again.
async fn native_holds_past_their_programs_lifetime_are_voided(app: TestApp) {
    let (status, refused) = app
        .post(
            "/v1/programs",
            json!({"code": "hold0", "name": "Zero", "rules": {"hold_lifetime_minutes": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let program = app
        .create_program(
            json!({"code": "holds", "name": "Holds", "rules": {"hold_lifetime_minutes": 30}}),
        )
        .await;
    let (_, merchant) = app
        .post(
            "/v1/merchants",
            json!({"program_id": program["id"], "name": "Shop"}),
        )
        .await;
    let (_, customer) = app
        .post(
            "/v1/customers",
            json!({"program_id": program["id"], "opening_balance": "100.00"}),
        )
        .await;
    let hold = |amount: &str| json!({"kind": "redeem", "customer_id": customer["id"], "merchant_id": merchant["id"], "amount": amount, "hold": true});
    let first = app.create("/v1/operations", hold("30.00")).await;
    // A hold in a program without a lifetime (the demo's) stays whatever its age.
    let other = app.customer_with("50.00").await;
    let (_, kept) = app.operation(json!({"kind": "redeem", "customer_id": other, "merchant_id": 1, "amount": "5.00", "hold": true}),
        )
        .await;

    let now = kopilka_store::now_ms();
    let voided = kopilka::jobs::void_stale_holds(&app.store, now + 29 * 60_000)
        .await
        .unwrap();
    assert_eq!(voided, 0, "{:?}", app.backend);
    let voided = kopilka::jobs::void_stale_holds(&app.store, now + 31 * 60_000)
        .await
        .unwrap();
    assert_eq!(voided, 1, "{:?}", app.backend);
    let (_, first) = app.get(&format!("/v1/operations/{}", first["id"])).await;
    assert_eq!(first["status"], "voided", "{first}");
    let (_, kept) = app.get(&format!("/v1/operations/{}", kept["id"])).await;
    assert_eq!(kept["status"], "pending", "{kept}");
    let customer = customer["id"].as_i64().unwrap();
    assert_eq!(app.balance(customer).await["held"], "0.00");
    let (status, _) = app.operation(hold("100.00")).await;
    assert_eq!(status, StatusCode::CREATED, "all 100.00 is spendable again");
    app.audit_is_clean().await;
    app.stop().await;
}
