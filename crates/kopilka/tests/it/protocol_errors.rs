//! Bad input answered in each protocol's own format (issue 17, "Errors" and "Metric labels";
//! docs/errors.md), on both stores: the NUL character in every text field of one request per
//! protocol surface, control characters, invalid UTF-8 and lone surrogates, the framework's
//! refusals, the admin token before the body, bounded echoes, the customer pages' headers and
//! the metric labels, and texts over the maximum length.

use crate::common::ecommpay::{signed_query, signed_request, PROJECT, SECRET, TERMINAL};
use crate::common::kupikupi::signed;
use crate::common::loymax::purchase_path;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const NUL: &str = "\u{0}";

/// Copies of `value`, one per string in it, with the NUL character inside that string; each
/// named by the string's path.
fn with_nul_in_each_text(value: &Value) -> Vec<(String, Value)> {
    fn walk(value: &Value, path: String, found: &mut Vec<String>) {
        match value {
            Value::String(_) => found.push(path),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}/{i}"), found);
                }
            }
            Value::Object(fields) => {
                for (name, item) in fields {
                    walk(item, format!("{path}/{name}"), found);
                }
            }
            _ => {}
        }
    }
    let mut paths = Vec::new();
    walk(value, String::new(), &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let mut copy = value.clone();
            let text = copy.pointer_mut(&path).unwrap();
            let old = text.as_str().unwrap();
            let (head, tail) = old.split_at(old.len() / 2);
            *text = json!(format!("{head}{NUL}{tail}"));
            (path, copy)
        })
        .collect()
}

/// The fields of a form, one copy per field with the NUL character in its value.
fn form_with_nul_in_each<'a>(
    form: &[(&'a str, &'a str)],
) -> Vec<(&'a str, Vec<(&'a str, String)>)> {
    form.iter()
        .map(|(name, _)| {
            let copy = form
                .iter()
                .map(|(n, v)| {
                    let v = if n == name {
                        format!("{v}{NUL}")
                    } else {
                        v.to_string()
                    };
                    (*n, v)
                })
                .collect();
            (*name, copy)
        })
        .collect()
}

fn assert_refused_not_failed(surface: &str, field: &str, status: StatusCode, body: &str) {
    assert!(
        !status.is_server_error(),
        "{surface} {field}: {status} {body}"
    );
    for failure in ["SystemError", "internal error", "\"internal\""] {
        assert!(
            !body.contains(failure),
            "{surface} {field}: {failure} in {body}"
        );
    }
}

async fn post_json(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, String) {
    let mut request = app.http.post(app.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

both_stores!(nul_in_every_text_field_is_a_validation_error_in_the_protocols_format);
async fn nul_in_every_text_field_is_a_validation_error_in_the_protocols_format(app: TestApp) {
    // Loymax: the OAuth token endpoint (a form).
    let grant = [
        ("grant_type", "password"),
        ("username", "79000000001"),
        ("password", "secret"),
        ("client_id", "demo-pos"),
        ("client_secret", "demo-pos-secret"),
    ];
    for (field, form) in form_with_nul_in_each(&grant) {
        let url = app.url("/authorizationService/token");
        let response = app.http.post(url).form(&form).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_refused_not_failed("Loymax token", field, status, &body);
        let answer: Value = serde_json::from_str(&body).expect(&body);
        assert!(answer["error"].is_string(), "{field}: {body}");
    }

    // Loymax: the public API (registration) and processing (a purchase's calculation).
    let begin = json!({"login": "79000000002", "password": "secret-password"});
    for (field, body) in with_nul_in_each_text(&begin) {
        let path = "/api/v1.1/Registration/BeginRegistration";
        let (status, text) = post_json(&app, path, None, &body).await;
        assert_refused_not_failed("Loymax BeginRegistration", &field, status, &text);
        let answer: Value = serde_json::from_str(&text).expect(&text);
        assert!(answer["result"]["state"].is_string(), "{field}: {text}");
    }
    let shop = app.loymax().shop().await;
    let calculate: Value =
        serde_json::from_str(include_str!("fixtures/loymax/calculate.json")).unwrap();
    for (field, body) in with_nul_in_each_text(&calculate) {
        let path = purchase_path("nul-purchase", "Calculate");
        let (status, text) = post_json(&app, &path, Some(&shop.token), &body).await;
        assert_refused_not_failed("Loymax Calculate", &field, status, &text);
        let answer: Value = serde_json::from_str(&text).expect(&text);
        assert!(answer["result"]["state"].is_string(), "{field}: {text}");
    }
    let path = purchase_path("nul\u{0}purchase", "Calculate");
    let (status, text) = post_json(&app, &path, Some(&shop.token), &calculate).await;
    assert_refused_not_failed("Loymax Calculate", "purchase id", status, &text);

    // ECommPay: the Gate (signed with the NUL inside) and the Payment Page.
    let sale = json!({
        "general": {"project_id": PROJECT, "payment_id": "nul-sale"},
        "customer": {"id": "customer1", "ip_address": "185.123.111.222", "first_name": "John", "last_name": "Doe", "day_of_birth": "02-10-2002", "country": "DE"},
        "payment": {"amount": 1000, "currency": "EUR", "description": "an order"},
    });
    for (field, body) in with_nul_in_each_text(&sale) {
        let body = signed_request(body, SECRET);
        let path = "/v2/payment/cash/cashtocode/sale";
        let (status, text) = post_json(&app, path, None, &body).await;
        assert_refused_not_failed("ECommPay Gate", &field, status, &text);
        let answer: Value = serde_json::from_str(&text).expect(&text);
        assert!(answer["status"].is_string(), "{field}: {text}");
    }
    let project = PROJECT.to_string();
    let page = [
        ("project_id", project.as_str()),
        ("payment_id", "nul-page"),
        ("payment_amount", "1000"),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
        ("payment_description", "an order"),
    ];
    for (field, params) in form_with_nul_in_each(&page) {
        let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let url = app.url(&format!("/payment?{}", signed_query(&params)));
        let response = app.http.get(url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_refused_not_failed("Payment Page", field, status, &body);
    }

    // CashtoCode's terminal API.
    let terminal = json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": "1234567890", "amount": 100});
    for action in ["lookup", "pay"] {
        for (field, body) in with_nul_in_each_text(&terminal) {
            let path = format!("/cashtocode/terminal/{action}");
            let (status, text) = post_json(&app, &path, None, &body).await;
            assert_refused_not_failed("CashtoCode terminal", &field, status, &text);
            serde_json::from_str::<Value>(&text).expect(&text);
        }
    }

    // Kupi-Kupi (signed with the NUL inside).
    let platform = crate::common::kupikupi::shop(&app, 0).await;
    let init = json!({"platformUid": platform.uid, "phone": "79000000000", "orderId": "nul-order", "amount": 100});
    for (field, body) in with_nul_in_each_text(&init) {
        let body = signed(body, &platform.secret);
        let (status, text) = post_json(&app, "/api/v1/transfer/init", None, &body).await;
        assert_refused_not_failed("Kupi-Kupi init", &field, status, &text);
        let answer: Value = serde_json::from_str(&text).expect(&text);
        assert!(answer.is_object(), "{field}: {text}");
    }

    // inCust: the XML API.
    let fields = [
        ("phone", "380501111111"),
        ("password", "0000"),
        ("cardphone", "380671111111"),
        ("amount", "10.00"),
        ("comment", "an order"),
    ];
    for (field, form) in form_with_nul_in_each(&fields) {
        let elements: String = form
            .iter()
            .map(|(n, v)| format!("<{n}>{v}</{n}>"))
            .collect();
        let doc = format!("<root><cmd>transaction</cmd>{elements}</root>");
        let response = app
            .http
            .post(app.url("/api"))
            .header("content-type", "text/xml")
            .body(doc)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_refused_not_failed("inCust", field, status, &body);
        assert!(body.contains("<status>"), "{field}: {body}");
    }

    // The native API.
    let customer = json!({"program_id": 1, "phone": "+79000000003", "email": "ann@example.com", "pin": "1234", "password": "ann-password", "member_no": "ann-1"});
    for (field, body) in with_nul_in_each_text(&customer) {
        let (status, text) = post_json(&app, "/v1/customers", None, &body).await;
        let status_ok = status == StatusCode::UNAUTHORIZED || status.is_client_error();
        assert!(status_ok, "native {field}: {status} {text}");
        let (status, answer) = app.post("/v1/customers", body).await;
        assert_refused_not_failed("native", &field, status, &answer.to_string());
        assert!(answer["error"]["code"].is_string(), "{field}: {answer}");
    }

    // The cabinet's sign-in.
    let url = app.url("/cabinet/code");
    let form = [("phone", "+7900\u{0}0000000")];
    let response = app.http.post(url).form(&form).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_refused_not_failed("cabinet", "phone", status, &body);

    app.audit_is_clean().await;
    app.stop().await;
}

/// A body over every route's limit.
fn oversized_body() -> Vec<u8> {
    vec![b' '; 17 * 1024 * 1024]
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, String, String) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

both_stores!(framework_refusals_come_in_each_protocols_format);
async fn framework_refusals_come_in_each_protocols_format(app: TestApp) {
    use reqwest::Method;
    let json = |surface: &str, (status, content_type, body): (StatusCode, String, String)| {
        assert!(
            content_type.starts_with("application/json"),
            "{surface}: {status} {content_type} {body}"
        );
        serde_json::from_str::<Value>(&body).expect(&body)
    };
    // ECommPay's Gate: a method it does not take, a body over the limit.
    let answer = json(
        "Gate 405",
        send(&app, Method::GET, "/v2/payment/status", None).await,
    );
    assert_eq!(answer["status"], "error", "{answer}");
    let big = send(
        &app,
        Method::POST,
        "/v2/payment/status",
        Some(oversized_body()),
    )
    .await;
    assert_eq!(big.0, StatusCode::PAYLOAD_TOO_LARGE);
    let answer = json("Gate 413", big);
    assert_eq!(answer["status"], "error", "{answer}");
    // CashtoCode's terminal API.
    let path = "/cashtocode/terminal/lookup";
    let answer = json("terminal 405", send(&app, Method::GET, path, None).await);
    assert_eq!(answer["result"], "invalid", "{answer}");
    // Kupi-Kupi: a body over the limit; the customer's form with a method it does not take.
    let path = "/api/v1/transfer/init";
    let answer = json(
        "Kupi-Kupi 413",
        send(&app, Method::POST, path, Some(oversized_body())).await,
    );
    assert_eq!(answer["status"], false, "{answer}");
    assert_eq!(answer["errorCode"], "3", "{answer}");
    let (status, content_type, body) =
        send(&app, Method::PUT, "/kupikupi/transfer/some-key", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        content_type.starts_with("text/html"),
        "{content_type} {body}"
    );
    // Loymax: an admin route's path that is not a number (native JSON); a public method with a
    // method it does not take (the envelope).
    let response = app
        .http
        .put(app.url("/v1/loymax/cards/not-a-number/secrets"))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .json(&json!({"cvc": "123"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]["code"].is_string(), "{answer}");
    let path = "/api/Registration/BeginRegistration";
    let answer = json("Loymax 405", send(&app, Method::GET, path, None).await);
    assert!(answer["result"]["state"].is_string(), "{answer}");
    app.stop().await;
}

both_stores!(admin_routes_ask_for_the_token_before_reading_the_body);
async fn admin_routes_ask_for_the_token_before_reading_the_body(app: TestApp) {
    use reqwest::Method;
    let routes = [
        (Method::POST, "/v1/loymax/applications"),
        (Method::POST, "/v1/loymax/applications/demo-pos/tokens"),
        (Method::POST, "/v1/loymax/notifications"),
        (Method::PUT, "/v1/loymax/cards/1/secrets"),
        (Method::POST, "/v1/loymax/batch-keys"),
        (Method::POST, "/v1/kupikupi/platforms"),
        (Method::POST, "/v1/ecommpay/projects"),
        (Method::POST, "/v1/ecommpay/terminals"),
        (Method::POST, "/v1/customers"),
        (Method::POST, "/v1/operations"),
    ];
    for (method, path) in routes {
        for body in [
            &b"not json"[..],
            b"{\"unknown\": 1}",
            b"{\"a\": \"\\u0000\"}",
        ] {
            let response = app
                .http
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {answer}"
            );
            assert_eq!(answer["error"]["code"], "unauthorized", "{path}: {answer}");
        }
    }
    app.stop().await;
}

both_stores!(error_answers_echo_at_most_a_fields_maximum);
async fn error_answers_echo_at_most_a_fields_maximum(app: TestApp) {
    // The longest text the edge lets through; every echo of it is clipped.
    let huge = "7".repeat(kopilka_domain::text::MAX_TEXT_CHARS);
    let small = |surface: &str, text: &str| {
        assert!(text.len() < 4 * 1024, "{surface}: {} bytes", text.len());
    };
    // ECommPay: an unknown signature for a payment_id of 4,096 characters.
    let sale = json!({
        "general": {"project_id": PROJECT, "payment_id": huge, "signature": "wrong"},
        "customer": {"id": "customer1"},
        "payment": {"amount": 1000, "currency": "EUR"},
    });
    let path = "/v2/payment/cash/cashtocode/sale";
    let (status, text) = post_json(&app, path, None, &sale).await;
    small("Gate", &text);
    let answer: Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(answer["status"], "error", "{status} {answer}");
    assert_eq!(answer["payment_id"].as_str().unwrap().len(), 255);
    let status_request = json!({"general": {"project_id": PROJECT, "payment_id": huge}});
    let status_request = signed_request(status_request, SECRET);
    let (_, text) = post_json(&app, "/v2/payment/status", None, &status_request).await;
    small("Gate status", &text);
    // Parsers quoting the value they could not take.
    let terminal =
        json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": "1", "amount": huge});
    let (_, text) = post_json(&app, "/cashtocode/terminal/pay", None, &terminal).await;
    small("terminal", &text);
    let shop = app.loymax().shop().await;
    let calculate = json!({"operationId": "1", "cheque": huge});
    let path = purchase_path("echo", "Calculate");
    let (_, text) = post_json(&app, &path, Some(&shop.token), &calculate).await;
    small("Loymax", &text);
    let (_, answer) = app.post("/v1/customers", json!({"program_id": huge})).await;
    small("native", &answer.to_string());
    let platform = crate::common::kupikupi::shop(&app, 0).await;
    let init = json!({"platformUid": platform.uid, "phone": huge, "orderId": huge, "amount": 100});
    let (_, text) = post_json(
        &app,
        "/api/v1/transfer/init",
        None,
        &signed(init, &platform.secret),
    )
    .await;
    small("Kupi-Kupi", &text);
    app.stop().await;
}

both_stores!(every_page_a_customer_sees_sends_the_security_headers);
async fn every_page_a_customer_sees_sends_the_security_headers(app: TestApp) {
    let project = PROJECT.to_string();
    let page = signed_query(&[
        ("project_id", project.as_str()),
        ("payment_id", "headers-page"),
        ("payment_amount", "1000"),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
    ]);
    let pages = [
        format!("/payment?{page}"),
        "/payment?project_id=1".into(),
        "/cashtocode/voucher/unknown-token".into(),
        "/kupikupi/transfer/unknown-key".into(),
        "/cabinet".into(),
        "/app/redeem".into(),
        "/loymax/email/confirm".into(),
        "/demo/shop".into(),
        "/demo/shop/ecommpay".into(),
        "/demo/shop/kupikupi".into(),
    ];
    for path in pages {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("{path}: no {name} ({:?})", headers))
        };
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    app.stop().await;
}

both_stores!(metric_labels_come_from_a_closed_set);
async fn metric_labels_come_from_a_closed_set(app: TestApp) {
    let metrics = || async {
        let response = app.http.get(app.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    };
    // Warm up the labels a random method may reach (`other` at each route and status).
    let send = |i: u32| {
        let method = reqwest::Method::from_bytes(format!("RND{i:05}X").as_bytes()).unwrap();
        let path = format!("/no/such/path/{i}");
        app.http.request(method, app.url(&path)).send()
    };
    for i in 0..10 {
        send(i).await.unwrap();
        app.http
            .request(
                reqwest::Method::from_bytes(format!("RND{i:05}Y").as_bytes()).unwrap(),
                app.url("/healthz"),
            )
            .send()
            .await
            .unwrap();
    }
    let before = metrics().await.len();
    for i in 10..1010 {
        send(i).await.unwrap();
        let method = reqwest::Method::from_bytes(format!("RND{i:05}Y").as_bytes()).unwrap();
        app.http
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
    }
    let after = metrics().await;
    assert!(!after.contains("RND0"), "a client's method became a label");
    assert!(
        !after.contains("/no/such/path"),
        "a client's path became a label"
    );
    // Other tests in this process may add a few labels of their own meanwhile.
    let grown = after.len().saturating_sub(before);
    assert!(grown < 64 * 1024, "/metrics grew by {grown} bytes");
    app.stop().await;
}

both_stores!(control_characters_invalid_utf8_and_lone_surrogates_never_fail);
async fn control_characters_invalid_utf8_and_lone_surrogates_never_fail(app: TestApp) {
    let shop = app.loymax().shop().await;
    let calculate = purchase_path("hostile-text", "Calculate");
    let loymax_body = |text: &str| {
        format!(r#"{{"operationId": "{text}", "cheque": {{"number": "{text}", "lines": []}}}}"#)
    };
    let gate_body = |text: &str| {
        format!(
            r#"{{"general": {{"project_id": {PROJECT}, "payment_id": "{text}", "signature": "x"}}}}"#
        )
    };
    let terminal_body = |text: &str| {
        format!(r#"{{"terminal_id": "{text}", "terminal_key": "k", "code": "{text}"}}"#)
    };
    let native_body = |text: &str| format!(r#"{{"program_id": 1, "email": "{text}"}}"#);
    let incust_body = |text: &str| {
        format!("<root><cmd>transaction</cmd><phone>{text}</phone><comment>{text}</comment></root>")
    };
    type Body = fn(&str) -> String;
    let surfaces: [(&str, Option<&str>, Body); 5] = [
        (&calculate, Some(&shop.token), loymax_body),
        ("/v2/payment/status", None, gate_body),
        ("/cashtocode/terminal/lookup", None, terminal_body),
        (
            "/v1/customers",
            Some(crate::common::ADMIN_TOKEN),
            native_body,
        ),
        ("/api", None, incust_body),
    ];
    for (path, token, body) in surfaces {
        for text in ["a\\ud800b", "a\\udfffb", "a\u{1}\u{1f}\u{7f}b", "a\\u0001b"] {
            let mut bytes = body(text).into_bytes();
            let response = |bytes: Vec<u8>| {
                let mut request = app.http.post(app.url(path)).body(bytes);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.header("content-type", "application/json").send()
            };
            let answer = response(bytes.clone()).await.unwrap();
            let status = answer.status();
            let text_answer = answer.text().await.unwrap();
            assert_refused_not_failed(path, text, status, &text_answer);
            // Invalid UTF-8 in place of the first text.
            let at = bytes.iter().position(|b| *b == b'a').unwrap();
            bytes[at] = 0xff;
            let answer = response(bytes).await.unwrap();
            let status = answer.status();
            let text_answer = answer.text().await.unwrap();
            assert_refused_not_failed(path, "invalid UTF-8", status, &text_answer);
        }
    }
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_text_over_the_maximum_is_refused_naming_its_field);
async fn a_text_over_the_maximum_is_refused_naming_its_field(app: TestApp) {
    // 300 kB: a description stored and served back whole once took 600 MB of a History answer.
    let long = "д".repeat(150_000);
    let named = |surface: &str, status: StatusCode, text: &str, field: &str| {
        assert_refused_not_failed(surface, field, status, text);
        assert!(text.len() < 4096, "{surface}: {} bytes", text.len());
        assert!(text.contains(field), "{surface}: {status} {text}");
    };
    // ECommPay: the payment's description.
    let sale = json!({
        "general": {"project_id": PROJECT, "payment_id": "long-sale"},
        "customer": {"id": "customer1"},
        "payment": {"amount": 1000, "currency": "EUR", "description": long},
    });
    let body = signed_request(sale, SECRET);
    let (status, text) = post_json(&app, "/v2/payment/cash/cashtocode/sale", None, &body).await;
    named("ECommPay Gate", status, &text, "description");
    let answer: Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(answer["status"], "error", "{answer}");
    // Loymax processing: a cheque line's name.
    let shop = app.loymax().shop().await;
    let mut calculate: Value =
        serde_json::from_str(include_str!("fixtures/loymax/calculate.json")).unwrap();
    calculate["cheque"]["lines"][0]["name"] = json!(long);
    let path = purchase_path("long-purchase", "Calculate");
    let (status, text) = post_json(&app, &path, Some(&shop.token), &calculate).await;
    named("Loymax Calculate", status, &text, "name");
    let answer: Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(answer["result"]["state"], "ValidationError", "{answer}");
    // Kupi-Kupi: the shop's order id.
    let platform = crate::common::kupikupi::shop(&app, 0).await;
    let init = json!({"platformUid": platform.uid, "phone": "79000000000", "orderId": long, "amount": 100});
    let body = signed(init, &platform.secret);
    let (status, text) = post_json(&app, "/api/v1/transfer/init", None, &body).await;
    named("Kupi-Kupi init", status, &text, "orderId");
    // The native API: an operation's description.
    let (status, answer) = app
        .post("/v1/operations", json!({"kind": "earn", "customer_id": 1, "merchant_id": 1, "amount": "1.00", "description": long}))
        .await;
    named("native", status, &answer.to_string(), "description");
    assert_eq!(answer["error"]["field"], "description", "{answer}");
    // inCust: over its 64 KiB body, the document is refused whole.
    let doc = format!("<root><cmd>transaction</cmd><comment>{long}</comment></root>");
    let response = app
        .http
        .post(app.url("/api"))
        .header("content-type", "text/xml")
        .body(doc)
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(body.contains("<status>1005</status>"), "{body}");
    app.stop().await;
}
