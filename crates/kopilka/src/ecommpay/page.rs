//! The Payment Page (`GET|POST /payment`) and CashtoCode's page for a payment: its voucher, or
//! how it ended.

use super::gate::url_on_hosts;
use super::wire::request_id;
use super::{
    apply_event, back_to_shop, barcode, euros, expire_if_due, html_page, proceed, project_secret,
    shop_link,
};
use crate::http::html::escape;
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
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
        let status = if self.code == Code::GeneralDecline {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = format!(
            "<h1>Payment cannot be opened</h1><div class=\"box error\" id=\"error\" data-code=\"{code}\"><p><strong>Error {code}</strong>: {message}</p>{field}</div>{back}",
            code = self.code.number(),
            message = escape(self.code.message()),
            field = if self.field.is_empty() { String::new() } else { format!("<p>Parameter: <code>{}</code></p>", escape(&self.field)) },
            back = match &self.back {
                Some(url) => shop_link(Some(url)),
                None => "<p>Please return to the shop and try again.</p>".into(),
            },
        );
        (status, Html(html_page("Payment error", &body))).into_response()
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
    body: Bytes,
) -> Response {
    let params = parameters(&method, query, &body);
    match open_inner(&state, params, Some(client.to_string())).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
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
    checked_open(state, &project, &secret, &params, ip)
        .await
        .map_err(|e| e.back(fail_url))
}

async fn checked_open(
    state: &AppState,
    project: &EcommpayProject,
    secret: &str,
    params: &Map<String, Value>,
    ip: Option<String>,
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
        return Ok(to_payment(&payment));
    }
    let forced = optional(params, "force_payment_method").is_some();
    if forced && missing_personal(&payment).is_empty() {
        return issue(state, project, &payment).await;
    }
    Ok(Html(customer_form(&payment, None)).into_response())
}

/// CashtoCode's page for the payment: its voucher, or how it ended.
fn to_payment(payment: &CashPayment) -> Response {
    Redirect::to(&format!("/cashtocode/voucher/{}", payment.token)).into_response()
}

fn valid_birth_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%d-%m-%Y").is_ok()
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
fn limits(country: &str) -> String {
    let amounts: Vec<String> = domain::allowed_amounts(country)
        .unwrap_or_default()
        .iter()
        .map(|a| (a / 100).to_string())
        .collect();
    match amounts.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} or {last} {}", rest.join(", "), domain::CURRENCY)
        }
        Some((last, _)) => format!("{last} {}", domain::CURRENCY),
        None => String::new(),
    }
}

fn country_name(code: &str) -> &str {
    domain::COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| *name)
}

/// Why CashtoCode declined a sale it does not take, in the customer's words.
fn decline_reason(payment: &CashPayment) -> Option<String> {
    let country = payment.customer.get("country").and_then(Value::as_str);
    let amount = format!("{} {}", euros(payment.amount), payment.currency);
    let reason = match domain::check_sale(&payment.currency, payment.amount, country).err()? {
        SaleDecline::Currency => format!("CashtoCode takes payments in {} only.", domain::CURRENCY),
        SaleDecline::Country => "CashtoCode serves customers in Austria and Germany only.".into(),
        SaleDecline::Amount => match country {
            Some(c) => format!(
                "In {} CashtoCode takes {}: {amount} cannot be paid there.",
                country_name(c),
                limits(c)
            ),
            None => format!("CashtoCode takes fixed amounts only: {amount} is not one of them."),
        },
    };
    Some(reason)
}

/// The method choice with the personal data still missing. No country is chosen for the
/// customer: each one's amounts are shown, and the one chosen is explained before it counts.
fn customer_form(payment: &CashPayment, error: Option<&str>) -> String {
    let customer = payment.customer.clone();
    let value = |k: &str| escape(customer.get(k).and_then(Value::as_str).unwrap_or(""));
    let mut fields = String::new();
    for key in missing_personal(payment) {
        fields.push_str(&match key {
            "first_name" => format!("<label>First name <input name=\"first_name\" id=\"first_name\" required value=\"{}\"></label>", value(key)),
            "last_name" => format!("<label>Last name <input name=\"last_name\" id=\"last_name\" required value=\"{}\"></label>", value(key)),
            "day_of_birth" => "<label>Date of birth (DD-MM-YYYY) <input name=\"day_of_birth\" id=\"day_of_birth\" required pattern=\"\\d{2}-\\d{2}-\\d{4}\" placeholder=\"31-12-1990\"></label>".to_string(),
            _ => country_choice(payment),
        });
    }
    let error = error
        .map(|e| format!("<div class=\"box error\" id=\"error\">{}</div>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Payment {id}</h1><p>Amount: <strong id=\"amount\">{amount} {currency}</strong></p>{error}<form method=\"post\" action=\"/payment/cashtocode/{token}\" class=\"box\"><fieldset><legend>Payment method</legend><label><input type=\"radio\" name=\"method\" value=\"cashtocode\" checked> Cash at a terminal (CashtoCode, Austria and Germany)</label></fieldset>{fields}<p><button type=\"submit\" id=\"pay\">Get my cash code</button></p></form>{back}",
        id = escape(&payment.payment_id),
        amount = euros(payment.amount),
        currency = escape(&payment.currency),
        token = escape(&payment.token),
        back = shop_link(back_to_shop(payment)),
    );
    html_page("Pay cash with CashtoCode", &body)
}

/// The country select: nothing chosen, each country with its amounts, and a note that says
/// what the chosen country means for this payment before the form is sent.
fn country_choice(payment: &CashPayment) -> String {
    let amount = format!("{} {}", euros(payment.amount), payment.currency);
    let mut options =
        String::from("<option value=\"\" selected disabled>Choose your country</option>");
    let mut notes = String::new();
    for (code, name) in domain::COUNTRIES {
        let takes = domain::check_sale(&payment.currency, payment.amount, Some(code)).is_ok();
        options.push_str(&format!(
            "<option value=\"{code}\">{name} ({})</option>",
            limits(code)
        ));
        let note = if takes {
            format!(
                "In {name} CashtoCode takes {}: {amount} can be paid there.",
                limits(code)
            )
        } else {
            format!(
                "In {name} CashtoCode takes {}: {amount} cannot be paid there, and choosing {name} declines this payment.",
                limits(code)
            )
        };
        notes.push_str(&format!(
            "<p class=\"country-note\" data-country=\"{code}\" data-payable=\"{takes}\" hidden>{}</p>",
            escape(&note)
        ));
    }
    format!(
        "<label>Country of residence <select name=\"country\" id=\"country\" required>{options}</select></label><p>CashtoCode takes fixed amounts, set by country; choose the country you live in.</p><div id=\"country-limits\">{notes}</div><script>document.getElementById('country').addEventListener('change',function(e){{document.querySelectorAll('.country-note').forEach(function(n){{n.hidden=n.dataset.country!==e.target.value;}});}});</script>"
    )
}

pub async fn submit_customer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
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
        Ok(None) => return PageError::new(Code::PaymentNotFound, "payment").into_response(),
        Err(e) => return PageError::from(e).into_response(),
    };
    if payment.status != PaymentStatus::Created {
        return to_payment(&payment);
    }
    let mut customer = payment.customer.clone();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = v.trim().to_string();
        let known = PERSONAL.iter().any(|(_, key)| *key == k);
        let already = customer
            .get(k.as_ref())
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if known && !already && !v.is_empty() {
            let v = if k == "country" {
                v.to_ascii_uppercase()
            } else {
                v
            };
            customer.insert(k.into_owned(), json!(v));
        }
    }
    let mut updated = payment.clone();
    updated.customer = customer.clone();
    let missing = missing_personal(&updated);
    if !missing.is_empty() {
        return Html(customer_form(
            &updated,
            Some(&format!("Please fill in: {}", missing.join(", "))),
        ))
        .into_response();
    }
    let dob = customer
        .get("day_of_birth")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !valid_birth_date(dob) {
        updated.customer = payment.customer.clone();
        return Html(customer_form(
            &updated,
            Some("The date of birth must be written DD-MM-YYYY."),
        ))
        .into_response();
    }
    let secret = match project_secret(&state.sealer, &project) {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
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
        Ok(()) => to_payment(&payment),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Issues the voucher (or declines what CashtoCode does not take) and shows the result.
async fn issue(
    state: &AppState,
    project: &EcommpayProject,
    payment: &CashPayment,
) -> Result<Response, PageError> {
    let secret = project_secret(&state.sealer, project)?;
    let (public_url, project, row) = (state.public_url.to_string(), project.clone(), payment.id);
    state
        .store
        .write(move |tx| {
            Box::pin(async move { proceed(tx, &public_url, &project, &secret, row).await })
        })
        .await?;
    Ok(to_payment(payment))
}

async fn by_token(state: &AppState, token: String) -> Result<CashPayment, PageError> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payment_by_token(&token).await }))
        .await?
        .ok_or(PageError::new(Code::PaymentNotFound, "voucher"))
}

pub async fn voucher(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let payment = match by_token(&state, token).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(code) = payment.voucher_code.clone() else {
        return without_voucher(&payment);
    };
    let expires = super::wire::wire_date(payment.expires_at.unwrap_or_default());
    let (state_en, state_de) = match payment.status {
        PaymentStatus::Success => ("Paid. Thank you!", "Bezahlt. Danke!"),
        PaymentStatus::Decline if payment.code == Code::Timeout.number() => {
            ("This code has expired.", "Dieser Code ist abgelaufen.")
        }
        PaymentStatus::Decline => (
            "This payment was declined.",
            "Diese Zahlung wurde abgelehnt.",
        ),
        _ => (
            "Waiting for your cash payment.",
            "Wir warten auf Ihre Barzahlung.",
        ),
    };
    let body = format!(
        "<h1>CashtoCode</h1><div class=\"box\"><p>Your payment code / Ihr Zahlungscode:</p><p class=\"code\" id=\"code\">{code}</p><img id=\"barcode\" alt=\"Code 128 barcode of {code}\" src=\"/cashtocode/voucher/{token}/barcode.svg\"><p>Amount / Betrag: <strong id=\"amount\">{amount} {currency}</strong></p><p>Valid until / Gültig bis: <strong id=\"expires\" data-expires-at=\"{expires_ms}\">{expires}</strong></p><p id=\"status\" data-status=\"{status}\">{state_en} / {state_de}</p>{back}</div><div class=\"box\" lang=\"en\"><h2>How to pay</h2><ol><li>Go to a CashtoCode cash terminal in Austria or Germany.</li><li>Choose CashtoCode and scan the barcode or type in the code.</li><li>Insert exactly {amount} {currency} in cash.</li><li>Keep the receipt. The shop is told as soon as you have paid.</li></ol></div><div class=\"box\" lang=\"de\"><h2>So bezahlen Sie</h2><ol><li>Gehen Sie zu einem CashtoCode-Bargeldterminal in Österreich oder Deutschland.</li><li>Wählen Sie CashtoCode und scannen Sie den Barcode oder geben Sie den Code ein.</li><li>Zahlen Sie genau {amount} {currency} in bar ein.</li><li>Bewahren Sie den Beleg auf. Der Shop wird sofort nach Ihrer Zahlung benachrichtigt.</li></ol></div>",
        code = escape(&code),
        token = escape(&payment.token),
        amount = euros(payment.amount),
        currency = escape(&payment.currency),
        expires_ms = payment.expires_at.unwrap_or_default(),
        status = escape(payment.status.as_str()),
        back = shop_link(back_to_shop(&payment)),
    );
    Html(html_page("CashtoCode payment code", &body)).into_response()
}

/// A payment that never got a voucher: still waiting for the customer's data (the form), or
/// declined before any (why, and the way back to the shop).
fn without_voucher(payment: &CashPayment) -> Response {
    if payment.status == PaymentStatus::Created {
        return Html(customer_form(payment, None)).into_response();
    }
    let (state_en, state_de) = if payment.code == Code::Timeout.number() {
        (
            "This payment was not completed in time.",
            "Diese Zahlung wurde nicht rechtzeitig abgeschlossen.",
        )
    } else {
        (
            "This payment was declined.",
            "Diese Zahlung wurde abgelehnt.",
        )
    };
    let reason = decline_reason(payment)
        .map(|r| format!("<p id=\"reason\">{}</p>", escape(&r)))
        .unwrap_or_default();
    let body = format!(
        "<h1>CashtoCode</h1><div class=\"box error\"><p>Payment / Zahlung <strong>{id}</strong>: <strong id=\"amount\">{amount} {currency}</strong></p><p id=\"status\" data-status=\"{status}\" data-code=\"{code}\">{state_en} / {state_de}</p>{reason}</div>{back}",
        id = escape(&payment.payment_id),
        amount = euros(payment.amount),
        currency = escape(&payment.currency),
        status = escape(payment.status.as_str()),
        code = escape(&payment.code),
        back = shop_link(back_to_shop(payment)),
    );
    Html(html_page("CashtoCode payment", &body)).into_response()
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
