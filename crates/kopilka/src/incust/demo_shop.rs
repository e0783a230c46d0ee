//! The seed's demo checkout made real, at `/demo/shop` (served by `kopilka demo` only): an
//! order, the redeem and earn forms, the server-side XML earn and cancel calls, and a panel
//! with every field posted back and every XML request and response. Its state lives in memory.

use super::wire::{self, Fields};
use crate::http::html::{self, Chrome};
use crate::http::i18n::Lang;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, RawForm, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use kopilka_domain::money::{format_decimal, parse_decimal};
use quick_xml::escape::escape;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The seed's demo values.
const LOGIN: &str = "380501111111";
const PASSWORD: &str = "0000";
const CARDPHONE: &str = "380671111111";
const FIRST_ORDER: u32 = 3001;
const AMOUNT: &str = "251.25";

#[derive(Clone, Default)]
pub struct Order {
    pub number: String,
    pub amount: String,
    pub redeemed: String,
}

pub struct Operation {
    pub id: String,
    pub order: String,
    pub kind: &'static str,
    pub cardphone: String,
    pub cancelled: bool,
}

pub struct Entry {
    pub kind: &'static str,
    pub title: String,
    pub fields: Vec<(String, String)>,
    pub request: Option<String>,
    pub response: Option<String>,
}

struct Book {
    next: u32,
    cardphone: String,
    order: Order,
    operations: Vec<Operation>,
    log: Vec<Entry>,
}

impl Book {
    fn new() -> Book {
        Book {
            next: FIRST_ORDER,
            cardphone: CARDPHONE.into(),
            order: order(FIRST_ORDER, AMOUNT),
            operations: Vec::new(),
            log: Vec::new(),
        }
    }

    fn to_pay(&self) -> String {
        let amount = parse_decimal(&self.order.amount, 2).unwrap_or_default();
        let redeemed = parse_decimal(&self.order.redeemed, 2).unwrap_or_default();
        format_decimal(kopilka_domain::Amount((amount.0 - redeemed.0).max(0)), 2)
    }
}

fn order(n: u32, amount: &str) -> Order {
    Order {
        number: format!("12-{n}"),
        amount: amount.to_string(),
        redeemed: "0.00".into(),
    }
}

type Shared = Arc<Mutex<Book>>;

impl html::Page for ShopView<'_> {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Template)]
#[template(path = "incust/shop.html")]
struct ShopView<'a> {
    page: Chrome,
    login: &'a str,
    password: &'a str,
    cardphone: &'a str,
    order: &'a Order,
    to_pay: String,
    return_url: String,
    operations: &'a [Operation],
    log: Vec<&'a Entry>,
}

pub fn router() -> Router<AppState> {
    let book: Shared = Arc::new(Mutex::new(Book::new()));
    let routes = Router::new()
        .route("/demo/shop", get(show))
        .route("/demo/shop/order", post(new_order))
        .route("/demo/shop/return", post(returned))
        .route("/demo/shop/paid", post(paid))
        .route("/demo/shop/cancel", post(cancel))
        .layer(Extension(book));
    crate::http::html::customer_pages(routes)
}

fn lock(book: &Shared) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn show(
    State(state): State<AppState>,
    Extension(book): Extension<Shared>,
    headers: HeaderMap,
) -> Response {
    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| state.public_url.to_string());
    let book = lock(&book);
    let order_number: String =
        form_urlencoded::byte_serialize(book.order.number.as_bytes()).collect();
    let view = ShopView {
        // The demo shop is the shop's page, in Russian as the protocol's shops are.
        page: Chrome::new(Lang::Ru, "Demo Shop — оформление заказа (inCust)").brand("Demo Shop"),
        login: LOGIN,
        password: PASSWORD,
        cardphone: &book.cardphone,
        order: &book.order,
        to_pay: book.to_pay(),
        return_url: format!("{base}/demo/shop/return?order={order_number}"),
        operations: &book.operations,
        log: book.log.iter().rev().collect(),
    };
    html::render(StatusCode::OK, &view)
}

fn form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn new_order(Extension(book): Extension<Shared>, RawForm(raw): RawForm) -> Redirect {
    let fields = Fields::from_pairs(form(&raw));
    let mut book = lock(&book);
    book.next += 1;
    let amount = fields
        .get("amount")
        .and_then(|a| parse_decimal(a, 2).ok())
        .filter(|a| a.0 > 0)
        .map(|a| format_decimal(a, 2))
        .unwrap_or_else(|| AMOUNT.into());
    book.order = order(book.next, &amount);
    if let Some(phone) = fields.get("cardphone") {
        book.cardphone = phone.to_string();
    }
    Redirect::to("/demo/shop")
}

/// The shop's `returnurl`: records every field the page posted back.
async fn returned(
    Extension(book): Extension<Shared>,
    Query(query): Query<HashMap<String, String>>,
    RawForm(raw): RawForm,
) -> Redirect {
    let pairs = form(&raw);
    let fields = Fields::from_pairs(pairs.clone());
    let number = query.get("order").cloned().unwrap_or_default();
    let mut book = lock(&book);
    if fields.get("status") == Some("0000") {
        let kind = if fields.get("bonusesredeemed").is_some() {
            "redeem"
        } else {
            "earn"
        };
        if kind == "redeem" && book.order.number == number {
            book.order.redeemed = fields.get("bonusesredeemed").unwrap_or("0.00").to_string();
        }
        book.operations.push(Operation {
            id: fields.get("transactionid").unwrap_or_default().to_string(),
            order: number.clone(),
            kind,
            cardphone: fields.get("cardphone").unwrap_or_default().to_string(),
            cancelled: false,
        });
    }
    book.log.push(Entry {
        kind: "posted",
        title: format!("Ответ платёжной страницы: POST на returnurl (заказ {number})"),
        fields: pairs,
        request: None,
        response: None,
    });
    Redirect::to("/demo/shop")
}

fn document(fields: &[(&str, &str)]) -> String {
    let mut xml = String::from("<root>\n");
    for (name, value) in fields {
        xml.push_str(&format!("<{name}>{}</{name}>\n", escape(*value)));
    }
    xml.push_str("</root>");
    xml
}

/// Sends a document to kopilka's own `/api`, as a shop's server would.
async fn call(state: &AppState, xml: &str) -> String {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return format!("(no HTTP client: {e})"),
    };
    let sent = client
        .post(format!("{}/api", state.public_url))
        .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(xml.to_string())
        .send()
        .await;
    match sent {
        Ok(response) => response
            .text()
            .await
            .unwrap_or_else(|e| format!("(unreadable answer: {e})")),
        Err(e) => format!("(request failed: {e})"),
    }
}

/// "Payment received": the server-side XML earn on the money part of the order.
async fn paid(State(state): State<AppState>, Extension(book): Extension<Shared>) -> Redirect {
    let (number, to_pay, cardphone) = {
        let book = lock(&book);
        (
            book.order.number.clone(),
            book.to_pay(),
            book.cardphone.clone(),
        )
    };
    let request = document(&[
        ("cmd", "transaction"),
        ("phone", LOGIN),
        ("password", PASSWORD),
        ("cardphone", &cardphone),
        ("amount", &to_pay),
        ("comment", &number),
    ]);
    let response = call(&state, &request).await;
    let answer = wire::parse(&response).unwrap_or_default();
    let mut book = lock(&book);
    if answer.get("status") == Some("0000")
        && !book
            .operations
            .iter()
            .any(|o| Some(o.id.as_str()) == answer.get("transactionid"))
    {
        book.operations.push(Operation {
            id: answer.get("transactionid").unwrap_or_default().to_string(),
            order: number.clone(),
            kind: "earn",
            cardphone,
            cancelled: false,
        });
    }
    book.log.push(Entry {
        kind: "xml",
        title: format!("Оплата получена: начисление бонусов по заказу {number} (cmd=transaction)"),
        fields: Vec::new(),
        request: Some(request),
        response: Some(response),
    });
    Redirect::to("/demo/shop")
}

async fn cancel(
    State(state): State<AppState>,
    Extension(book): Extension<Shared>,
    RawForm(raw): RawForm,
) -> Redirect {
    let fields = Fields::from_pairs(form(&raw));
    let id = fields.get("transactionid").unwrap_or_default().to_string();
    let cardphone = fields.get("cardphone").unwrap_or_default().to_string();
    let request = document(&[
        ("cmd", "transactioncancel"),
        ("phone", LOGIN),
        ("password", PASSWORD),
        ("cardphone", &cardphone),
        ("transactionid", &id),
    ]);
    let response = call(&state, &request).await;
    let answer = wire::parse(&response).unwrap_or_default();
    let mut guard = lock(&book);
    let book = &mut *guard;
    if answer.get("status") == Some("0000") {
        let order = book.order.number.clone();
        if let Some(op) = book.operations.iter_mut().find(|o| o.id == id) {
            op.cancelled = true;
            if op.kind == "redeem" && op.order == order {
                book.order.redeemed = "0.00".into();
            }
        }
    }
    book.log.push(Entry {
        kind: "xml",
        title: format!("Отмена операции {id} (cmd=transactioncancel)"),
        fields: Vec::new(),
        request: Some(request),
        response: Some(response),
    });
    Redirect::to("/demo/shop")
}
