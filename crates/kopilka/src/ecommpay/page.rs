//! The Payment Page (`GET|POST /payment`) and CashtoCode's page for a payment: its voucher, or
//! how it ended.

use super::gate::url_on_hosts;
use super::wire::request_id;
use super::{apply_event, back_to_shop, barcode, expire_if_due, proceed, project_secret};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Asked, Lang, CASH};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use kopilka_domain::ecommpay::{self as domain, Code, Event, PaymentStatus, SaleDecline};
use kopilka_store::ecommpay::{CashPayment, EcommpayProject, NewCashPayment};
use kopilka_store::StoreError;
use serde_json::{json, Map, Value};

/// A refusal shown as a page; nothing was stored and nothing is sent. Once the request's
/// signature holds, the page links back to the shop's fail URL.
struct PageError {
    code: Code,
    field: String,
    back: Option<String>,
}

impl PageError {
    fn new(code: Code, field: &str) -> PageError {
        PageError {
            code,
            field: field.to_string(),
            back: None,
        }
    }

    fn back(mut self, url: Option<&str>) -> PageError {
        self.back = url.map(str::to_string);
        self
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Duplicate(_) = e {
            return PageError::new(Code::PaymentIdExists, "payment_id");
        }
        tracing::error!("ecommpay payment page: {e}");
        PageError::new(Code::GeneralDecline, "")
    }
}

/// A page request refused at the edge: the error page naming the part at fault.
pub(super) fn edge_refusal(refused: &crate::http::edge::Refused) -> Response {
    let mut response = PageError::new(Code::FieldInvalid, refused.place).into_response();
    *response.status_mut() = refused.status;
    response
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.answer(Lang::En)
    }
}

#[derive(Template)]
#[template(path = "ecommpay/error.html")]
struct ErrorView {
    page: Chrome,
    code: &'static str,
    message: &'static str,
    field: String,
    back: Option<String>,
}

impl Page for ErrorView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl PageError {
    /// The refusal in `lang`; the Gate's message stays as the Gate words it.
    fn answer(self, lang: Lang) -> Response {
        crate::observability::record_refusal("ecommpay", self.code.number());
        let status = if self.code == Code::GeneralDecline {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let view = ErrorView {
            page: Chrome::titled(lang, "cash-error-title").forms_anywhere(),
            code: self.code.number(),
            message: self.code.message(),
            field: self.field,
            back: self.back,
        };
        render(status, &view)
    }
}

/// The query (GET) or form body (POST) as decoded strings; the first of repeated keys wins.
fn parameters(method: &Method, query: Option<String>, body: &[u8]) -> Map<String, Value> {
    let mut params = Map::new();
    let mut add = |bytes: &[u8]| {
        for (k, v) in form_urlencoded::parse(bytes) {
            params
                .entry(k.into_owned())
                .or_insert_with(|| Value::String(v.into_owned()));
        }
    };
    add(query.unwrap_or_default().as_bytes());
    if method == Method::POST {
        add(body);
    }
    params
}

fn required<'a>(params: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, PageError> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or(PageError::new(Code::FieldMissing, name))
}

fn optional<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty())
}

const RETURN_URLS: [&str; 5] = [
    "merchant_success_url",
    "merchant_fail_url",
    "merchant_return_url",
    "redirect_success_url",
    "redirect_fail_url",
];
const PERSONAL: [(&str, &str); 4] = [
    ("customer_first_name", "first_name"),
    ("customer_last_name", "last_name"),
    ("customer_day_of_birth", "day_of_birth"),
    ("customer_country", "country"),
];

pub async fn open(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    client: ClientAddr,
    asked: Asked,
    body: Bytes,
) -> Response {
    let params = parameters(&method, query, &body);
    // The shop's `language_code` unless the customer switched.
    let lang = asked.pick_given(optional(&params, "language_code"), CASH);
    match open_inner(&state, params, Some(client.to_string()), lang).await {
        Ok(r) => r,
        Err(e) => e.answer(lang),
    }
}

/// `best_before`, the page's deadline, as unix ms: ISO 8601 with an offset, or without one
/// (UTC) as Python's `datetime.isoformat()` writes a naive time.
fn best_before(params: &Map<String, Value>) -> Result<Option<i64>, PageError> {
    let Some(text) = optional(params, "best_before") else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z"))
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_millis())
        })
        .map(Some)
        .map_err(|_| PageError::new(Code::FieldInvalid, "best_before"))
}

async fn open_inner(
    state: &AppState,
    params: Map<String, Value>,
    ip: Option<String>,
    lang: Lang,
) -> Result<Response, PageError> {
    let signature = optional(&params, "signature")
        .ok_or(PageError::new(Code::SignatureEmpty, "signature"))?
        .to_string();
    let project_id: i64 = required(&params, "project_id")?
        .parse()
        .map_err(|_| PageError::new(Code::FieldInvalid, "project_id"))?;
    let project = state
        .store
        .read(move |tx| Box::pin(async move { tx.ecommpay_project(project_id).await }))
        .await?
        .filter(|p| p.disabled_at.is_none())
        .ok_or(PageError::new(Code::ProjectNotFound, "project_id"))?;
    let secret = project_secret(&state.sealer, &project)?;
    if !domain::verify_page(&secret, &params, &signature) {
        return Err(PageError::new(Code::SignatureInvalid, "signature"));
    }
    // From here on the request is the shop's own: its fail URL, if on its hosts, is a way back.
    let fail_url = ["merchant_fail_url", "redirect_fail_url"]
        .into_iter()
        .filter_map(|name| optional(&params, name))
        .find(|url| url_on_hosts(url, &project.return_hosts));
    checked_open(state, &project, &secret, &params, ip, lang)
        .await
        .map_err(|e| e.back(fail_url))
}

async fn checked_open(
    state: &AppState,
    project: &EcommpayProject,
    secret: &str,
    params: &Map<String, Value>,
    ip: Option<String>,
    lang: Lang,
) -> Result<Response, PageError> {
    let payment_id = required(params, "payment_id")?.to_string();
    let currency = required(params, "payment_currency")?.to_string();
    let amount: i64 = required(params, "payment_amount")?
        .parse()
        .ok()
        .filter(|a| *a > 0)
        .ok_or(PageError::new(Code::FieldInvalid, "payment_amount"))?;
    let customer_id = required(params, "customer_id")?.to_string();
    if optional(params, "force_payment_method").is_some_and(|m| m != domain::CASHTOCODE)
        || !project.methods.iter().any(|m| m == domain::CASHTOCODE)
    {
        return Err(PageError::new(Code::MethodUnknown, "force_payment_method"));
    }
    let mut return_urls = Map::new();
    for name in RETURN_URLS {
        if let Some(url) = optional(params, name) {
            if !url_on_hosts(url, &project.return_hosts) {
                return Err(PageError::new(Code::FieldInvalid, name));
            }
            return_urls.insert(name.to_string(), json!(url));
        }
    }
    if let Some(dob) = optional(params, "customer_day_of_birth") {
        if !valid_birth_date(dob) {
            return Err(PageError::new(Code::FieldInvalid, "customer_day_of_birth"));
        }
    }
    let deadline = best_before(params)?;
    let mut customer = Map::new();
    customer.insert("id".into(), json!(customer_id));
    for (param, key) in PERSONAL {
        if let Some(v) = optional(params, param) {
            let v = if key == "country" {
                v.to_ascii_uppercase()
            } else {
                v.to_string()
            };
            customer.insert(key.into(), json!(v));
        }
    }
    if let Some(ip) = ip {
        customer.insert("ip_address".into(), json!(ip));
    }
    let new = NewCashPayment {
        project_id: project.id,
        payment_id: payment_id.clone(),
        interface: "payment_page",
        method: domain::CASHTOCODE.into(),
        status: PaymentStatus::Created,
        amount,
        currency: currency.clone(),
        description: optional(params, "payment_description")
            .unwrap_or("")
            .to_string(),
        customer: Value::Object(customer.clone()),
        callback_url: None,
        return_urls: Value::Object(return_urls),
        request_id: request_id(),
        token: secrets::random_token(16),
        code: Code::Success.number().into(),
        message: Code::Success.message().into(),
        expires_at: None,
    };
    let (public_url, job_project, job_secret) = (
        state.public_url.to_string(),
        project.clone(),
        secret.to_string(),
    );
    // The same request again (the customer reopening the link) shows the payment as it is;
    // any other reuse of the payment id is refused.
    let payment = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (public_url, project, secret) = (&public_url, &job_project, &job_secret);
                let row = match tx.cash_payment(new.project_id, &new.payment_id).await? {
                    Some(existing) => {
                        let same = existing.interface == "payment_page"
                            && existing.amount == new.amount
                            && existing.currency == new.currency
                            && existing.customer.get("id") == new.customer.get("id");
                        if !same {
                            return Ok(None);
                        }
                        existing.id
                    }
                    None => {
                        let deadline =
                            deadline.unwrap_or_else(|| tx.now() + project.voucher_ttl_secs * 1000);
                        let created = tx
                            .create_cash_payment(&NewCashPayment {
                                expires_at: Some(deadline),
                                ..new
                            })
                            .await?;
                        let country = created.customer.get("country").and_then(Value::as_str);
                        if domain::check_sale(&created.currency, created.amount, country).is_err() {
                            apply_event(
                                tx,
                                public_url,
                                project,
                                secret,
                                created.id,
                                Event::Refused,
                                None,
                            )
                            .await?;
                        }
                        created.id
                    }
                };
                expire_if_due(tx, public_url, project, secret, row).await?;
                tx.cash_payment_row(row, false).await
            })
        })
        .await?
        .ok_or(PageError::new(Code::PaymentIdExists, "payment_id"))?;
    if payment.status != PaymentStatus::Created {
        return Ok(to_payment(&payment, lang));
    }
    let forced = optional(params, "force_payment_method").is_some();
    if forced && missing_personal(&payment).is_empty() {
        return issue(state, project, &payment, lang).await;
    }
    let shop = shop_name(state, project.id).await;
    Ok(customer_form(&payment, &shop, &Map::new(), None, lang))
}

/// CashtoCode's page for the payment, in `lang`: its voucher, or how it ended.
fn to_payment(payment: &CashPayment, lang: Lang) -> Response {
    Redirect::to(&format!(
        "/cashtocode/voucher/{}?lang={}",
        payment.token,
        lang.code()
    ))
    .into_response()
}

fn valid_birth_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%d-%m-%Y").is_ok()
}

/// A date input's `YYYY-MM-DD` as CashtoCode's `DD-MM-YYYY`; other text as it came.
fn birth_date_from_input(text: &str) -> String {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.format("%d-%m-%Y").to_string())
        .unwrap_or_else(|_| text.to_string())
}

fn missing_personal(payment: &CashPayment) -> Vec<&'static str> {
    let customer = payment.customer.clone();
    PERSONAL
        .iter()
        .map(|(_, key)| *key)
        .filter(|key| {
            customer
                .get(*key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .collect()
}

/// `10, 25, 50 or 100 EUR`: the amounts CashtoCode takes in `country`.
fn limits(country: &str, lang: Lang) -> String {
    let amounts: Vec<String> = domain::allowed_amounts(country)
        .unwrap_or_default()
        .iter()
        .map(|a| (a / 100).to_string())
        .collect();
    let or = i18n::text(lang, "cash-or", None);
    match amounts.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {or} {last} {}", rest.join(", "), domain::CURRENCY)
        }
        Some((last, _)) => format!("{last} {}", domain::CURRENCY),
        None => String::new(),
    }
}

fn country_name(code: &str, lang: Lang) -> String {
    if domain::COUNTRIES.iter().any(|(c, _)| *c == code) {
        i18n::text(lang, &format!("cash-country-{code}"), None)
    } else {
        code.to_string()
    }
}

/// `amount currency` as `lang` writes the amount.
fn money(payment: &CashPayment, lang: Lang) -> String {
    format!(
        "{} {}",
        i18n::number(payment.amount, 2, lang),
        payment.currency
    )
}

/// A message about a country: `cash-takes`, `cash-takes-not`, `cash-declined-amount`.
fn country_text(id: &str, country: &str, amount: &str, lang: Lang) -> String {
    let values = [
        ("country", FluentValue::from(country_name(country, lang))),
        ("limits", FluentValue::from(limits(country, lang))),
        ("amount", FluentValue::from(amount.to_string())),
    ];
    i18n::text(lang, id, Some(&i18n::args(&values)))
}

/// Why CashtoCode declined a sale it does not take, in the customer's words.
fn decline_reason(payment: &CashPayment, lang: Lang) -> Option<String> {
    let country = payment.customer.get("country").and_then(Value::as_str);
    let amount = money(payment, lang);
    let with = |id: &str, name: &str, value: String| {
        let values = [(name, FluentValue::from(value))];
        i18n::text(lang, id, Some(&i18n::args(&values)))
    };
    let reason = match domain::check_sale(&payment.currency, payment.amount, country).err()? {
        SaleDecline::Currency => with(
            "cash-declined-currency",
            "currency",
            domain::CURRENCY.to_string(),
        ),
        SaleDecline::Country => i18n::text(lang, "cash-declined-country", None),
        SaleDecline::Amount => match country {
            Some(c) => country_text("cash-declined-amount", c, &amount, lang),
            None => with("cash-declined-fixed", "amount", amount),
        },
    };
    Some(reason)
}

/// A country of the select, with what choosing it means for this payment.
struct CountryOption {
    code: &'static str,
    label: String,
    payable: bool,
    note: String,
}

#[derive(Template)]
#[template(path = "ecommpay/customer.html")]
struct CustomerView {
    page: Chrome,
    shop: String,
    payment_id: String,
    description: String,
    amount: String,
    action: String,
    error: Option<String>,
    /// The fields still missing (`first_name`, …) with what the customer typed.
    first_name: Option<String>,
    last_name: Option<String>,
    /// `YYYY-MM-DD`, a date input's value.
    day_of_birth: Option<String>,
    country: Option<String>,
    countries: Vec<CountryOption>,
    back: Option<String>,
}

impl Page for CustomerView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The method choice with the personal data still missing, filled with what the customer typed
/// (`typed`). No country is chosen for the customer: each one's amounts are shown, and the one
/// chosen is explained before it counts.
fn customer_form(
    payment: &CashPayment,
    shop: &str,
    typed: &Map<String, Value>,
    error: Option<String>,
    lang: Lang,
) -> Response {
    let missing = missing_personal(payment);
    let value = |key: &str| {
        missing.contains(&key).then(|| {
            typed
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
    };
    let amount = money(payment, lang);
    let countries = domain::COUNTRIES
        .iter()
        .map(|(code, _)| {
            let payable = domain::check_sale(&payment.currency, payment.amount, Some(code)).is_ok();
            let id = if payable {
                "cash-takes"
            } else {
                "cash-takes-not"
            };
            CountryOption {
                code,
                label: format!("{} ({})", country_name(code, lang), limits(code, lang)),
                payable,
                note: country_text(id, code, &amount, lang),
            }
        })
        .collect();
    let path = format!("/payment/cashtocode/{}", payment.token);
    let view = CustomerView {
        page: Chrome::titled(lang, "cash-payment-title")
            .brand(shop.to_string())
            .forms_anywhere(),
        shop: shop.to_string(),
        payment_id: payment.payment_id.clone(),
        description: payment.description.clone(),
        amount,
        action: format!("{path}?lang={}", lang.code()),
        error,
        first_name: value("first_name"),
        last_name: value("last_name"),
        day_of_birth: value("day_of_birth").map(|d| {
            chrono::NaiveDate::parse_from_str(&d, "%d-%m-%Y")
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or(d)
        }),
        country: value("country"),
        countries,
        back: back_to_shop(payment).map(str::to_string),
    };
    render(StatusCode::OK, &view)
}

/// The name of the shop behind `project_id` (its merchant's).
async fn shop_name(state: &AppState, project_id: i64) -> String {
    let name = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(project) = tx.ecommpay_project(project_id).await? else {
                    return Ok(None);
                };
                Ok(tx.merchant(project.merchant_id).await?.map(|m| m.name))
            })
        })
        .await;
    name.ok().flatten().unwrap_or_default()
}

pub async fn submit_customer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    asked: Asked,
    body: Bytes,
) -> Response {
    let lang = asked.pick_given(None, CASH);
    let lookup = token.clone();
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(p) = tx.cash_payment_by_token(&lookup).await? else {
                    return Ok(None);
                };
                let project = tx.ecommpay_project(p.project_id).await?;
                Ok(project.map(|project| (p, project)))
            })
        })
        .await;
    let (payment, project) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return PageError::new(Code::PaymentNotFound, "payment").answer(lang),
        Err(e) => return PageError::from(e).answer(lang),
    };
    if payment.status != PaymentStatus::Created {
        return to_payment(&payment, lang);
    }
    let mut typed = Map::new();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = v.trim().to_string();
        let v = match k.as_ref() {
            "country" => v.to_ascii_uppercase(),
            "day_of_birth" => birth_date_from_input(&v),
            _ => v,
        };
        typed.entry(k.into_owned()).or_insert(json!(v));
    }
    let mut customer = payment.customer.clone();
    for (_, key) in PERSONAL {
        let already = customer
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let given = typed
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty());
        if let (false, Some(v)) = (already, given) {
            customer.insert(key.into(), json!(v));
        }
    }
    let mut updated = payment.clone();
    updated.customer = customer.clone();
    let missing = missing_personal(&updated);
    let dob = customer
        .get("day_of_birth")
        .and_then(Value::as_str)
        .unwrap_or("");
    let error = if !missing.is_empty() {
        let labels: Vec<String> = missing
            .iter()
            .map(|key| i18n::text(lang, &format!("cash-field-{key}"), None))
            .collect();
        let values = [("fields", FluentValue::from(labels.join(", ")))];
        Some(i18n::text(lang, "cash-fill-in", Some(&i18n::args(&values))))
    } else if !valid_birth_date(dob) {
        Some(i18n::text(lang, "cash-birth-invalid", None))
    } else {
        None
    };
    if let Some(error) = error {
        // The form again with what was typed; nothing is stored until all of it holds.
        let shop = shop_name(&state, payment.project_id).await;
        return customer_form(&payment, &shop, &typed, Some(error), lang);
    }
    let secret = match project_secret(&state.sealer, &project) {
        Ok(s) => s,
        Err(e) => return PageError::from(e).answer(lang),
    };
    // The data and what CashtoCode makes of it (a voucher, or a decline the chosen country's
    // amounts call for) commit together; a second submission finds the payment moved on.
    let (public_url, row, stored) = (
        state.public_url.to_string(),
        payment.id,
        Value::Object(customer),
    );
    let moved = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let locked = tx.cash_payment_row(row, true).await?;
                if locked.is_some_and(|p| p.status == PaymentStatus::Created) {
                    tx.set_cash_customer(row, &stored).await?;
                    proceed(tx, &public_url, &project, &secret, row).await?;
                }
                Ok(())
            })
        })
        .await;
    match moved {
        Ok(()) => to_payment(&payment, lang),
        Err(e) => PageError::from(e).answer(lang),
    }
}

/// Issues the voucher (or declines what CashtoCode does not take) and shows the result.
async fn issue(
    state: &AppState,
    project: &EcommpayProject,
    payment: &CashPayment,
    lang: Lang,
) -> Result<Response, PageError> {
    let secret = project_secret(&state.sealer, project)?;
    let (public_url, project, row) = (state.public_url.to_string(), project.clone(), payment.id);
    state
        .store
        .write(move |tx| {
            Box::pin(async move { proceed(tx, &public_url, &project, &secret, row).await })
        })
        .await?;
    Ok(to_payment(payment, lang))
}

async fn by_token(state: &AppState, token: String) -> Result<CashPayment, PageError> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payment_by_token(&token).await }))
        .await?
        .ok_or(PageError::new(Code::PaymentNotFound, "voucher"))
}

/// Seconds between the voucher's own reloads while it waits for the cash.
const VOUCHER_REFRESH_SECS: u32 = 15;

#[derive(Template)]
#[template(path = "ecommpay/voucher.html")]
struct VoucherView {
    page: Chrome,
    shop: String,
    payment_id: String,
    description: String,
    amount: String,
    status: &'static str,
    /// The Gate's code of the payment's last step.
    wire_code: String,
    code: String,
    /// The voucher's code in groups of four, for reading out; `None` without a voucher.
    groups: Option<Vec<String>>,
    token: String,
    /// Unix ms, and the same in UTC as `lang` writes it (the page's script shows local time).
    expires_at: i64,
    expires: String,
    expires_iso: String,
    /// The message id of where the payment stands, and whether that is bad news.
    state: &'static str,
    failed: bool,
    waiting: bool,
    reason: Option<String>,
    back: Option<String>,
    refreshes: String,
    refresh_ms: u32,
}

impl Page for VoucherView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// CashtoCode's page for a payment: the voucher while it waits (code, barcode, the way to pay,
/// reloading itself), how it ended once it did, or the form while data is missing.
pub async fn voucher(
    State(state): State<AppState>,
    Path(token): Path<String>,
    asked: Asked,
) -> Response {
    let lang = asked.pick_given(None, CASH);
    let payment = match by_token(&state, token).await {
        Ok(p) => p,
        Err(e) => return e.answer(lang),
    };
    let shop = shop_name(&state, payment.project_id).await;
    if payment.voucher_code.is_none() && payment.status == PaymentStatus::Created {
        return customer_form(&payment, &shop, &Map::new(), None, lang);
    }
    let timed_out = payment.code == Code::Timeout.number();
    let (state_id, failed) = match (payment.status, &payment.voucher_code) {
        (PaymentStatus::Success, _) => ("cash-paid", false),
        (PaymentStatus::Decline, Some(_)) if timed_out => ("cash-expired", true),
        (PaymentStatus::Decline, None) if timed_out => ("cash-not-in-time", true),
        (PaymentStatus::Decline, _) => ("cash-declined", true),
        _ => ("cash-waiting", false),
    };
    let waiting = state_id == "cash-waiting";
    let code = payment.voucher_code.clone().unwrap_or_default();
    let expires_at = payment.expires_at.unwrap_or_default();
    let page = Chrome::titled(lang, "cash-voucher-title")
        .brand(shop.clone())
        .switch(
            &asked,
            &format!("/cashtocode/voucher/{}", payment.token),
            CASH,
        );
    let values = [("seconds", FluentValue::from(VOUCHER_REFRESH_SECS))];
    let view = VoucherView {
        page,
        shop,
        payment_id: payment.payment_id.clone(),
        description: payment.description.clone(),
        amount: money(&payment, lang),
        status: payment.status.as_str(),
        wire_code: payment.code.clone(),
        groups: payment.voucher_code.as_ref().map(|c| {
            c.as_bytes()
                .chunks(4)
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .collect()
        }),
        code,
        token: payment.token.clone(),
        expires_at,
        expires: i18n::datetime(expires_at, "UTC", lang),
        expires_iso: chrono::DateTime::from_timestamp_millis(expires_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        state: state_id,
        failed,
        waiting,
        reason: payment
            .voucher_code
            .is_none()
            .then(|| decline_reason(&payment, lang))
            .flatten(),
        back: back_to_shop(&payment).map(str::to_string),
        refreshes: i18n::text(lang, "cash-refreshes", Some(&i18n::args(&values))),
        refresh_ms: VOUCHER_REFRESH_SECS * 1000,
    };
    render(StatusCode::OK, &view)
}

pub async fn barcode(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match by_token(&state, token).await {
        Ok(CashPayment {
            voucher_code: Some(code),
            ..
        }) => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            barcode::code128_svg(&code),
        )
            .into_response(),
        Ok(_) => PageError::new(Code::PaymentNotFound, "voucher").into_response(),
        Err(e) => e.into_response(),
    }
}
