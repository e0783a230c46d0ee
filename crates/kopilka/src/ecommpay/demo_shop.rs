//! The demo shop's ECommPay side, served by `kopilka demo` only, under `/demo/shop/ecommpay`:
//! it plays the merchant of project 35 (pay cash through the Payment Page or the Gate), checks
//! the signatures of the callbacks it receives, and offers a cash terminal simulator.

use super::{euros, html_page};
use crate::http::html::escape;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use kopilka_domain::ecommpay as domain;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

pub fn router(merchant: DemoMerchant) -> Router<AppState> {
    let routes = Router::new()
        .route("/demo/shop/ecommpay", get(shop))
        .route("/demo/shop/ecommpay/gate", post(gate_sale))
        .route("/demo/shop/ecommpay/payments/{payment_id}", get(payment))
        .route("/demo/shop/ecommpay/callback", post(callback))
        .route("/demo/shop/ecommpay/terminal", get(terminal))
        .layer(Extension(Arc::new(merchant)));
    crate::http::html::customer_pages(routes)
}

type Merchant = Extension<Arc<DemoMerchant>>;

/// The demo merchant's project, secret and terminal (the first of each in `demo/demo.toml`).
pub struct DemoMerchant {
    pub project_id: i64,
    pub secret: String,
    pub terminal_id: String,
    pub terminal_key: String,
}

/// Callbacks received, newest last, with whether their signature held.
fn received() -> &'static Mutex<Vec<(bool, Value)>> {
    static RECEIVED: OnceLock<Mutex<Vec<(bool, Value)>>> = OnceLock::new();
    RECEIVED.get_or_init(|| Mutex::new(Vec::new()))
}

fn order_id() -> String {
    format!("demo-{}", crate::secrets::random_token(4))
}

/// The order's page on the demo shop, where the customer returns to: when this kopilka's host is
/// one of the project's return hosts (a demo served under another name links back nowhere).
async fn order_page(state: &AppState, project_id: i64, payment_id: &str) -> Option<String> {
    let project = state
        .store
        .read(move |tx| Box::pin(async move { tx.ecommpay_project(project_id).await }))
        .await
        .ok()??;
    let url = format!(
        "{}/demo/shop/ecommpay/payments/{payment_id}",
        state.public_url
    );
    super::gate::url_on_hosts(&url, &project.return_hosts).then_some(url)
}

async fn shop(State(state): State<AppState>, Extension(m): Merchant) -> Html<String> {
    let payment_id = order_id();
    let order = order_page(&state, m.project_id, &payment_id).await;
    let mut params = vec![
        ("project_id", m.project_id.to_string()),
        ("payment_id", payment_id.clone()),
        ("payment_amount", "2500".to_string()),
        ("payment_currency", "EUR".to_string()),
        ("customer_id", "demo-customer".to_string()),
        ("force_payment_method", domain::CASHTOCODE.to_string()),
        ("payment_description", "Demo order".to_string()),
    ];
    if let Some(order) = order {
        for name in [
            "merchant_success_url",
            "merchant_fail_url",
            "merchant_return_url",
        ] {
            params.push((name, order.clone()));
        }
    }
    let signable = Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    );
    let signature = domain::sign(&m.secret, &signable);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .append_pair("signature", &signature)
        .finish();
    let mut callbacks = String::new();
    for (ok, body) in received()
        .lock()
        .expect("demo callbacks lock")
        .iter()
        .rev()
        .take(20)
    {
        callbacks.push_str(&format!(
            "<li>{} — payment <a href=\"/demo/shop/ecommpay/payments/{id}\">{id}</a>: <strong>{}</strong> (code {})</li>",
            if *ok { "signature valid" } else { "SIGNATURE INVALID" },
            escape(body["payment"]["status"].as_str().unwrap_or("")),
            escape(body["operation"]["code"].as_str().unwrap_or("")),
            id = escape(body["payment"]["id"].as_str().unwrap_or("")),
        ));
    }
    let amounts: String = domain::allowed_amounts("AT")
        .unwrap_or_default()
        .iter()
        .map(|a| format!("<option value=\"{a}\">{} EUR</option>", euros(*a)))
        .collect();
    let body = format!(
        "<h1>Demo shop — cash payments</h1><p>Project {project} pays with ECommPay's CashtoCode method.</p>\
         <div class=\"box\"><h2>Payment Page</h2><p>25.00 EUR; the page asks for your name, birth date and country.</p><p><a id=\"pay-page\" href=\"{base}/payment?{query}\">Pay cash (CashtoCode) on the Payment Page</a></p></div>\
         <div class=\"box\"><h2>Gate</h2><form method=\"post\" action=\"/demo/shop/ecommpay/gate\"><label>Amount <select name=\"amount\">{amounts}</select></label><label>Country <select name=\"country\"><option>AT</option><option>DE</option></select></label><button id=\"pay-gate\" type=\"submit\">Pay cash (CashtoCode) through the Gate</button></form></div>\
         <div class=\"box\"><h2>Cash terminal</h2><p><a href=\"/demo/shop/ecommpay/terminal\">Terminal simulator</a>: pay a code in cash.</p></div>\
         <div class=\"box\"><h2>Callbacks received</h2><ul id=\"callbacks\">{callbacks}</ul></div>",
        project = m.project_id,
        base = state.public_url,
    );
    Html(html_page("Demo shop — CashtoCode", &body))
}

async fn gate_sale(State(state): State<AppState>, Extension(m): Merchant, body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let amount: i64 = form
        .get("amount")
        .and_then(|a| a.parse().ok())
        .unwrap_or(2500);
    let country = form.get("country").cloned().unwrap_or_else(|| "AT".into());
    let payment_id = order_id();
    let mut request = json!({
        "general": {"project_id": m.project_id, "payment_id": payment_id},
        "customer": {"id": "demo-customer", "ip_address": "127.0.0.1", "first_name": "Max", "last_name": "Muster", "day_of_birth": "01-01-1990", "country": country},
        "payment": {"amount": amount, "currency": "EUR", "description": "Demo order"},
    });
    if let Some(order) = order_page(&state, m.project_id, &payment_id).await {
        request["return_url"] = json!({ "default": order });
    }
    request["general"]["signature"] = json!(domain::sign(&m.secret, &request));
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v2/payment/cash/cashtocode/sale",
            state.public_url
        ))
        .json(&request)
        .send()
        .await;
    let answer: Value = match answer {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => json!({"status": "error", "message": e.to_string()}),
    };
    if answer["status"] == "success" {
        return Redirect::to(&format!("/demo/shop/ecommpay/payments/{payment_id}")).into_response();
    }
    let body = format!("<h1>The Gate refused</h1><pre id=\"answer\">{}</pre><p><a href=\"/demo/shop/ecommpay\">Back</a></p>", escape(&answer.to_string()));
    Html(html_page("Demo shop — refused", &body)).into_response()
}

async fn payment(
    State(state): State<AppState>,
    Extension(m): Merchant,
    Path(payment_id): Path<String>,
) -> Html<String> {
    let mut request = json!({"general": {"project_id": m.project_id, "payment_id": payment_id}});
    request["general"]["signature"] = json!(domain::sign(&m.secret, &request));
    let answer: Value = match reqwest::Client::new()
        .post(format!("{}/v2/payment/status", state.public_url))
        .json(&request)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let verified = answer["signature"]
        .as_str()
        .is_some_and(|s| domain::verify(&m.secret, &answer, s));
    let voucher = answer["redirect_data"]["url"]
        .as_str()
        .map(|u| {
            format!(
                "<p><a id=\"voucher\" href=\"{}\">Open your CashtoCode code</a></p>",
                escape(u)
            )
        })
        .unwrap_or_default();
    let callbacks: String = received()
        .lock()
        .expect("demo callbacks lock")
        .iter()
        .filter(|(_, b)| b["payment"]["id"] == payment_id.as_str())
        .map(|(ok, b)| {
            format!(
                "<li>{} {} (code {})</li>",
                if *ok { "✔" } else { "✘ bad signature" },
                escape(b["payment"]["status"].as_str().unwrap_or("")),
                escape(b["operation"]["code"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        "<h1>Order {id}</h1><div class=\"box\"><p>Status from ECommPay: <strong id=\"status\">{status}</strong> ({sig})</p>{voucher}</div><div class=\"box\"><h2>Callbacks for this order</h2><ul>{callbacks}</ul></div><p><a href=\"/demo/shop/ecommpay\">Back to the shop</a></p>",
        id = escape(&payment_id),
        status = escape(answer["payment"]["status"].as_str().unwrap_or("unknown")),
        sig = if verified { "signature valid" } else { "not verified" },
    );
    Html(html_page("Demo shop — order", &body))
}

/// Verifies and records a callback; `200` acknowledges it, a bad signature gets `400`.
async fn callback(Extension(m): Merchant, body: Bytes) -> Response {
    let Ok(document) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let signature = document["signature"].as_str().unwrap_or("").to_string();
    let ok = domain::verify(&m.secret, &document, &signature);
    received()
        .lock()
        .expect("demo callbacks lock")
        .push((ok, document));
    if ok {
        (StatusCode::OK, "OK").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "invalid signature").into_response()
    }
}

async fn terminal(Extension(m): Merchant) -> Html<String> {
    let body = format!(
        "<h1>CashtoCode terminal simulator</h1><div class=\"box\"><label>Code <input id=\"code\" inputmode=\"numeric\"></label><button id=\"lookup\">Look up</button><label>Cash inserted (cents) <input id=\"amount\" inputmode=\"numeric\"></label><button id=\"pay\">Pay</button><pre id=\"result\"></pre></div>\
         <script>\
         const creds = {{terminal_id: {tid}, terminal_key: {tkey}}};\
         async function call(path, extra) {{\
           const r = await fetch(path, {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({{...creds, code: document.getElementById('code').value, ...extra}})}});\
           const j = await r.json(); document.getElementById('result').textContent = JSON.stringify(j, null, 2); return j;\
         }}\
         document.getElementById('lookup').onclick = async () => {{ const j = await call('/cashtocode/terminal/lookup', {{}}); if (j.amount) document.getElementById('amount').value = j.amount; }};\
         document.getElementById('pay').onclick = () => call('/cashtocode/terminal/pay', {{amount: Number(document.getElementById('amount').value)}});\
         </script>",
        tid = json!(m.terminal_id),
        tkey = json!(m.terminal_key),
    );
    Html(html_page("CashtoCode terminal simulator", &body))
}
