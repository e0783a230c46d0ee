//! Bad input answered in each protocol's own format (issue 17, "Errors"): the NUL character in
//! every text field of one request per protocol surface, on both stores.

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
