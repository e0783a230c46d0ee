//! The demo shop's ECommPay side, served by `kopilka demo` only, under `/demo/shop/ecommpay`:
//! it plays the merchant of project 35 (pay cash through the Payment Page or the Gate), checks
//! the signatures of the callbacks it receives, and offers a cash terminal simulator.

use super::euros;
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::Lang;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
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

async fn shop(State(state): State<AppState>, Extension(m): Merchant) -> Response {
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
    let callbacks = received()
        .lock()
        .expect("demo callbacks lock")
        .iter()
        .rev()
        .take(20)
        .map(|(valid, body)| Callback::of(*valid, body))
        .collect();
    let amounts = domain::allowed_amounts("AT")
        .unwrap_or_default()
        .iter()
        .map(|a| (*a, format!("{} EUR", euros(*a))))
        .collect();
    let view = ShopView {
        page: demo_chrome("Demo shop — CashtoCode"),
        project: m.project_id,
        page_url: format!("{}/payment?{query}", state.public_url),
        amounts,
        callbacks,
    };
    render(StatusCode::OK, &view)
}

/// A callback as the demo shop lists it.
struct Callback {
    valid: bool,
    id: String,
    status: String,
    code: String,
}

impl Callback {
    fn of(valid: bool, body: &Value) -> Callback {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        Callback {
            valid,
            id: text(&body["payment"]["id"]),
            status: text(&body["payment"]["status"]),
            code: text(&body["operation"]["code"]),
        }
    }
}

/// The demo shop's pages are English, as ECommPay's documentation is.
fn demo_chrome(title: &str) -> Chrome {
    Chrome::new(Lang::En, title)
        .brand("Demo shop")
        .forms_anywhere()
}

#[derive(Template)]
#[template(path = "demo/ecommpay.html")]
struct ShopView {
    page: Chrome,
    project: i64,
    page_url: String,
    amounts: Vec<(i64, String)>,
    callbacks: Vec<Callback>,
}

#[derive(Template)]
#[template(path = "demo/ecommpay_order.html")]
struct OrderView {
    page: Chrome,
    id: String,
    status: String,
    verified: bool,
    voucher: Option<String>,
    callbacks: Vec<Callback>,
}

#[derive(Template)]
#[template(path = "demo/answer.html")]
struct AnswerView {
    page: Chrome,
    heading: &'static str,
    answer: String,
    back: &'static str,
    back_label: &'static str,
}

#[derive(Template)]
#[template(path = "demo/terminal.html")]
struct TerminalView {
    page: Chrome,
    terminal_id: String,
    terminal_key: String,
}

impl Page for ShopView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl Page for OrderView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl Page for AnswerView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl Page for TerminalView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
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
    let view = AnswerView {
        page: demo_chrome("Demo shop — refused"),
        heading: "The Gate refused",
        answer: answer.to_string(),
        back: "/demo/shop/ecommpay",
        back_label: "Back",
    };
    render(StatusCode::OK, &view)
}

async fn payment(
    State(state): State<AppState>,
    Extension(m): Merchant,
    Path(payment_id): Path<String>,
) -> Response {
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
    let view = OrderView {
        page: demo_chrome("Demo shop — order"),
        status: answer["payment"]["status"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        voucher: answer["redirect_data"]["url"].as_str().map(str::to_string),
        callbacks: received()
            .lock()
            .expect("demo callbacks lock")
            .iter()
            .filter(|(_, b)| b["payment"]["id"] == payment_id.as_str())
            .map(|(valid, body)| Callback::of(*valid, body))
            .collect(),
        id: payment_id,
        verified,
    };
    render(StatusCode::OK, &view)
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

async fn terminal(Extension(m): Merchant) -> Response {
    let view = TerminalView {
        page: demo_chrome("CashtoCode terminal simulator"),
        terminal_id: m.terminal_id.clone(),
        terminal_key: m.terminal_key.clone(),
    };
    render(StatusCode::OK, &view)
}
