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

/// A case: the request, the status it must get, and the field its error must name.
type Case = (Bad, StatusCode, Option<&'static str>);

impl Bad {
    fn get(path: impl Into<String>) -> Bad {
        Bad::json("GET", path, "")
    }

    fn post(path: impl Into<String>, body: impl Into<String>) -> Bad {
        Bad::json("POST", path, body)
    }

    fn put(path: impl Into<String>, body: impl Into<String>) -> Bad {
        Bad::json("PUT", path, body)
    }

    /// Refused with `status`, whatever field.
    fn is(self, status: StatusCode) -> Case {
        (self, status, None)
    }

    /// Refused with 422, the error naming `field`.
    fn names(self, field: &'static str) -> Case {
        (self, StatusCode::UNPROCESSABLE_ENTITY, Some(field))
    }

    /// Another content type.
    fn typed(self, content_type: Option<&'static str>) -> Bad {
        Bad {
            content_type,
            ..self
        }
    }

    /// Another admin token, or none.
    fn token(self, token: Option<&'static str>) -> Bad {
        Bad { token, ..self }
    }
}

/// Every case.
fn bad_requests(customer: i64, op: i64, hold: i64, fine_customer: i64) -> Vec<Case> {
    use StatusCode as S;
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
        Bad::post(ops, text)
    };
    // A redeem with `field` set to `value`, refused naming that field.
    let wrong = |field: &'static str, value: &str| redeem(field, value).names(field);
    // An operation of `kind` for the customer with `fields` besides.
    let operation = |kind: &str, customer: i64, fields: Value| {
        let mut body = json!({"kind": kind, "customer_id": customer});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        Bad::post(ops, body.to_string())
    };
    let reverse = |body: &str| Bad::post(format!("/v1/operations/{op}/reverse"), body);
    let new_customer =
        |fields: &str| Bad::post("/v1/customers", format!(r#"{{"program_id": 1, {fields}}}"#));
    let new_program = |rules: &str| {
        let body = format!(r#"{{"code": "x", "name": "X", "rules": {{{rules}}}}}"#);
        Bad::post("/v1/programs", body)
    };
    let new_merchant = |fields: &str| {
        let body = format!(r#"{{"program_id": 1, "name": "M", {fields}}}"#);
        Bad::post("/v1/merchants", body)
    };
    let new_card = |body: &str| Bad::post("/v1/cards", body);
    let good = || redeem("amount", "\"1.00\"");
    let huge = |body: String| Bad::post(ops, body).is(S::PAYLOAD_TOO_LARGE);
    vec![
        // Text with the NUL character, which no store keeps.
        redeem("description", "\"a\\u0000b\"").names("text"),
        // Wrong types.
        wrong("customer_id", "\"1\""),
        wrong("customer_id", "1.5"),
        wrong("customer_id", "null"),
        wrong("merchant_id", "\"one\""),
        wrong("kind", "5"),
        wrong("kind", "\"steal\""),
        wrong("hold", "\"yes\""),
        wrong("amount", "true"),
        wrong("amount", "[1]"),
        wrong("amount", "{}"),
        wrong("amount", "null"),
        wrong("description", "7"),
        wrong("idempotency_key", "1"),
        // Huge numbers.
        wrong("customer_id", "1e30"),
        wrong("customer_id", "99999999999999999999"),
        wrong("merchant_id", "-99999999999999999999"),
        wrong("amount", "1e30"),
        wrong("amount", "1E2"),
        wrong("amount", "99999999999999999999"),
        wrong("amount", "\"99999999999999999999\""),
        wrong("amount", "10000000000000.01"),
        wrong("amount", &format!("1{}", "0".repeat(400))),
        // Negative, zero and over-precise.
        wrong("amount", "-5"),
        wrong("amount", "\"-5.00\""),
        wrong("amount", "0"),
        wrong("amount", "\"0.00\""),
        wrong("amount", "-0.0"),
        wrong("amount", "10.001"),
        wrong("amount", "\"0.005\""),
        wrong("amount", "\"1,50\""),
        wrong("amount", "\" 1.50\""),
        wrong("amount", "\"\""),
        wrong("amount", "\"NaN\""),
        // Unknown ids.
        wrong("customer_id", "999999"),
        wrong("customer_id", "-1"),
        wrong("merchant_id", "999999"),
        // Unknown fields and contradictions.
        wrong("amout", "1"),
        wrong("paid", "\"10.00\""),
        wrong("merchant_id", "null"),
        wrong("idempotency_key", "\"\""),
        wrong("idempotency_key", &format!("\"{}\"", "k".repeat(201))),
        wrong("description", &format!("\"{}\"", "d".repeat(501))),
        operation("earn", customer, json!({"paid": "0.01"})).names("paid"),
        operation("earn", customer, json!({"paid": "1e3"})).names("paid"),
        operation("accrue", customer, json!({"amount": "1", "hold": true})).names("hold"),
        operation("earn", customer, json!({})).names("amount"),
        // Not JSON, or not an object.
        Bad::post(ops, "{").names("body"),
        Bad::post(ops, "hello").names("body"),
        Bad::post(ops, "").names("body"),
        Bad::post(ops, "[]").names("body"),
        Bad::post(ops, "{} {}").names("body"),
        Bad::post(ops, "\u{0}").names("body"),
        // Wrong content type, missing or wrong authentication.
        good()
            .typed(Some("text/plain"))
            .is(S::UNSUPPORTED_MEDIA_TYPE),
        good().typed(None).is(S::UNSUPPORTED_MEDIA_TYPE),
        Bad::post(ops, "kind=redeem")
            .typed(Some("application/x-www-form-urlencoded"))
            .is(S::UNSUPPORTED_MEDIA_TYPE),
        good().token(None).is(S::UNAUTHORIZED),
        good().token(Some("wrong")).is(S::UNAUTHORIZED),
        Bad::get("/v1/ledger/audit").token(None).is(S::UNAUTHORIZED),
        Bad::json("DELETE", ops, "").is(S::METHOD_NOT_ALLOWED),
        Bad::put(format!("/v1/operations/{op}"), "{}").is(S::METHOD_NOT_ALLOWED),
        huge(format!("{{\"description\": \"{}\"}}", "x".repeat(17 << 20))),
        // Resolving and reversing.
        Bad::post("/v1/operations/999999/confirm", "").is(S::NOT_FOUND),
        Bad::post("/v1/operations/999999/void", "").is(S::NOT_FOUND),
        Bad::post("/v1/operations/999999/reverse", "{}").is(S::NOT_FOUND),
        Bad::post("/v1/operations/abc/reverse", "{}").is(S::NOT_FOUND),
        Bad::post("/v1/operations/99999999999999999999/confirm", "").is(S::NOT_FOUND),
        Bad::post(format!("/v1/operations/{op}/confirm"), "").is(S::CONFLICT),
        reverse(r#"{"amount": "10.001"}"#).names("amount"),
        reverse(r#"{"amount": -1}"#).names("amount"),
        reverse(r#"{"amount": 1e30}"#).names("amount"),
        reverse(r#"{"amount": "5.01"}"#).is(S::CONFLICT),
        reverse(r#"{"amont": 1}"#).names("amont"),
        reverse("[1]").names("body"),
        Bad::post(format!("/v1/operations/{hold}/reverse"), "{}").is(S::CONFLICT),
        reverse(&" ".repeat(17 << 20)).is(S::PAYLOAD_TOO_LARGE),
        // Reading.
        Bad::get("/v1/operations/999999").is(S::NOT_FOUND),
        Bad::get("/v1/customers/999999").is(S::NOT_FOUND),
        Bad::get("/v1/customers/999999/balances").is(S::NOT_FOUND),
        Bad::get("/v1/customers/x/balances").is(S::NOT_FOUND),
        Bad::get("/v1/programs/999999").is(S::NOT_FOUND),
        Bad::get("/v1/merchants/999999").is(S::NOT_FOUND),
        Bad::get("/v1/cards/999999").is(S::NOT_FOUND),
        Bad::get("/v1/no-such-route").is(S::NOT_FOUND),
        Bad::get("/v1/operations?limit=0").names("limit"),
        Bad::get("/v1/operations?limit=1e30").names("limit"),
        Bad::get("/v1/operations?cursor=99999999999999999999").names("cursor"),
        Bad::get("/v1/operations?kind=steal").names("kind"),
        Bad::get("/v1/operations?customer_id=x").names("customer_id"),
        Bad::get("/v1/customers?phone=abc").names("phone"),
        // Entities.
        Bad::post("/v1/customers", r#"{"program_id": "1"}"#).names("program_id"),
        Bad::post("/v1/customers", r#"{"program_id": 999999}"#).names("program_id"),
        new_customer(r#""phone": "call me""#).names("phone"),
        new_customer(r#""phone": "380671111111""#).is(S::CONFLICT),
        new_customer(r#""email": "nobody""#).names("email"),
        new_customer(r#""pin": "1""#).names("pin"),
        new_customer(r#""opening_balance": 1e30"#).names("opening_balance"),
        new_customer(r#""opening_balance": "0.001""#).names("opening_balance"),
        new_customer(r#""opening_balance": -3"#).names("opening_balance"),
        new_customer(r#""nickname": "x""#).names("nickname"),
        Bad::put("/v1/customers/999999/pin", r#"{"pin": "1234"}"#).is(S::NOT_FOUND),
        Bad::put(format!("/v1/customers/{customer}/pin"), r#"{"pin": 1234}"#).names("pin"),
        new_program(r#""decimals": 7"#).names("decimals"),
        new_program(r#""earn_bps": -1"#).names("rules.earn_bps"),
        new_program(r#""earn_bps": 1e30"#).names("rules.earn_bps"),
        new_program(r#""time_zone": "Mars/Base""#).names("rules.time_zone"),
        new_program(r#""colour": "red""#).names("rules.colour"),
        Bad::post("/v1/programs", r#"{"code": "demo", "name": "Again"}"#).is(S::CONFLICT),
        Bad::post("/v1/programs", r#"{"code": "", "name": "X"}"#).names("code"),
        Bad::put("/v1/programs/999999", r#"{"code": "x", "name": "X"}"#).is(S::NOT_FOUND),
        Bad::post("/v1/merchants", r#"{"program_id": 999999, "name": "M"}"#).names("program_id"),
        Bad::post("/v1/merchants", r#"{"program_id": 1, "name": " "}"#).names("name"),
        new_merchant(r#""return_hosts": ["a/b"]"#).names("return_hosts[0]"),
        new_merchant(r#""webhook_url": "ftp://x""#).names("webhook_url"),
        Bad::put("/v1/merchants/999999", r#"{"program_id": 1, "name": "M"}"#).is(S::NOT_FOUND),
        Bad::post(
            "/v1/merchants/999999/credentials",
            r#"{"protocol": "native", "login": "x", "secret": "s"}"#,
        )
        .is(S::NOT_FOUND),
        Bad::post(
            "/v1/merchants/1/credentials",
            r#"{"protocol": "smtp", "login": "x"}"#,
        )
        .names("protocol"),
        new_card(r#"{"program_id": 1, "number": "12ab", "kind": "virtual"}"#).names("number"),
        new_card(r#"{"program_id": 1, "number": "1234", "kind": "plastic"}"#).names("kind"),
        new_card(r#"{"program_id": 999999, "number": "1234", "kind": "virtual"}"#)
            .names("program_id"),
        new_card(
            r#"{"program_id": 1, "number": "1234", "kind": "virtual", "customer_id": 999999}"#,
        )
        .names("customer_id"),
        // In a program whose points are finer than its money, and generous, the points an
        // earn computes overflow any amount: refused, never wrapped.
        operation("earn", fine_customer, json!({"paid": "1000000000000000"})).names("paid"),
    ]
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
                    .json(&json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00", "idempotency_key": format!("e{i}")}))
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
