//! ECommPay payments: the CashtoCode payments filtered in the address (project, status, the
//! shop's payment id, a period of days in UTC), newest first a page at a time; a payment with
//! its status history and the callbacks sent to the shop with each delivery attempt (time,
//! host, HTTP status, outcome); the filtered view exported. Every read is the admin API's
//! (`GET /v1/ecommpay/payments…`). A payment posts nothing to the points ledger (cash is not
//! points), so its page names ECommPay's own operation, not a ledger one.

use super::operations::{not_found, unreadable, Choice, FieldError, Links, MessageItem};
use super::{ApiFailure, SignedIn, Who};
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;

/// Payments on a page.
const PAGE: i64 = 50;
/// A payment's statuses as the API writes them.
const STATUSES: &[&str] = &[
    "processing",
    "awaiting redirect result",
    "success",
    "decline",
];

#[derive(Debug, Deserialize)]
struct ProjectItem {
    project_id: i64,
    name: String,
}

/// A payment as the API answers it.
#[derive(Debug, Deserialize)]
struct PaymentItem {
    id: i64,
    project_id: i64,
    payment_id: String,
    method: String,
    status: String,
    amount: i64,
    currency: String,
    description: String,
    voucher_code: Option<String>,
    code: String,
    message: String,
    paid_amount: Option<i64>,
    created_at: i64,
    updated_at: i64,
    operation_id: i64,
    #[serde(default)]
    history: Option<Vec<HistoryItem>>,
}

#[derive(Debug, Deserialize)]
struct HistoryItem {
    status: String,
    code: String,
    message: String,
    at: i64,
}

#[derive(Debug, Deserialize)]
struct PaymentPage {
    items: Vec<PaymentItem>,
    next_cursor: Option<i64>,
}

/// The filter as the address carries it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    #[serde(default)]
    project: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    payment: String,
    /// The first day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    from: String,
    /// The last day, included.
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

/// Where a UTC day begins, as the API's RFC 3339 instant.
fn day_start(text: &str, after: u64) -> Option<String> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let day = day.checked_add_days(chrono::Days::new(after))?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc();
    Some(start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl Filter {
    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let pairs = [
            ("project", &self.project),
            ("status", &self.status),
            ("payment", &self.payment),
            ("from", &self.from),
            ("to", &self.to),
        ];
        for (name, value) in pairs {
            if let Some(value) = given(value) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }

    /// The API's query, or the fields that are wrong (with the message for each).
    fn api_query(&self, lang: Lang) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut query = form_urlencoded::Serializer::new(String::new());
        let wrong = |field: &str, id: &str| FieldError {
            field: field.into(),
            text: i18n::text(lang, id, None),
        };
        if let Some(project) = given(&self.project) {
            match project.parse::<i64>() {
                Ok(id) => {
                    query.append_pair("project_id", &id.to_string());
                }
                Err(_) => errors.push(wrong("project", "dash-ops-wrong-choice")),
            }
        }
        if let Some(status) = given(&self.status) {
            match STATUSES.contains(&status) {
                true => {
                    query.append_pair("status", status);
                }
                false => errors.push(wrong("status", "dash-ops-wrong-choice")),
            }
        }
        if let Some(payment) = given(&self.payment) {
            query.append_pair("payment_id", payment);
        }
        for (field, value, after) in [("from", &self.from, 0), ("to", &self.to, 1)] {
            let Some(value) = given(value) else { continue };
            match day_start(value, after) {
                Some(instant) => {
                    query.append_pair(field, &instant);
                }
                None => errors.push(wrong(field, "dash-ops-wrong-day")),
            }
        }
        if let Some(before) = given(&self.before).and_then(|b| b.parse::<i64>().ok()) {
            query.append_pair("cursor", &before.to_string());
        }
        match errors.is_empty() {
            true => Ok(query.finish()),
            false => Err(errors),
        }
    }
}

/// A payment as a row.
pub struct Row {
    pub id: i64,
    pub payment_id: String,
    pub project: String,
    pub method: String,
    pub status: String,
    pub amount: String,
    pub when: String,
}

fn row(p: &PaymentItem, projects: &[ProjectItem], lang: Lang) -> Row {
    Row {
        id: p.id,
        payment_id: p.payment_id.clone(),
        project: projects
            .iter()
            .find(|project| project.project_id == p.project_id)
            .map_or_else(|| p.project_id.to_string(), |project| project.name.clone()),
        method: p.method.clone(),
        status: p.status.clone(),
        // ECommPay amounts are in cents.
        amount: format!("{} {}", i18n::number(p.amount, 2, lang), p.currency),
        when: i18n::datetime(p.created_at, "UTC", lang),
    }
}

#[derive(Template)]
#[template(path = "dashboard/payments.html")]
struct ListPage {
    page: Chrome,
    who: Who,
    filter: Filter,
    errors: Vec<FieldError>,
    projects: Vec<Choice>,
    statuses: Vec<Choice>,
    rows: Vec<Row>,
    links: Links,
}

impl Page for ListPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl ListPage {
    fn error(&self, field: &str) -> Option<&str> {
        super::operations::error_of(&self.errors, field)
    }
}

async fn projects(signed: &SignedIn) -> Result<Vec<ProjectItem>, ApiFailure> {
    serde_json::from_value(signed.get("/v1/ecommpay/projects").await?).map_err(unreadable)
}

/// `GET /admin/payments`
pub async fn list(signed: SignedIn, Query(filter): Query<Filter>) -> Response {
    let lang = signed.lang;
    let projects = match projects(&signed).await {
        Ok(projects) => projects,
        Err(failure) => return signed.failed(&failure),
    };
    let (rows, errors, older) = match filter.api_query(lang) {
        Ok(query) => {
            let uri = format!("/v1/ecommpay/payments?{query}&limit={PAGE}");
            let read = async {
                serde_json::from_value::<PaymentPage>(signed.get(&uri).await?).map_err(unreadable)
            };
            match read.await {
                Ok(page) => (
                    page.items.iter().map(|p| row(p, &projects, lang)).collect(),
                    Vec::new(),
                    page.next_cursor,
                ),
                Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => (
                    Vec::new(),
                    vec![FieldError {
                        field: failure.field.unwrap_or_default(),
                        text: failure.message,
                    }],
                    None,
                ),
                Err(failure) => return signed.failed(&failure),
            }
        }
        Err(errors) => (Vec::new(), errors, None),
    };
    let exports = signed.may("GET", "/v1/ecommpay/payments/export.csv") && errors.is_empty();
    let links = Links::new(
        "/admin/payments",
        &filter.query(),
        &filter.before,
        older,
        exports,
    );
    let page = ListPage {
        page: signed.chrome(signed.t("dash-pay-title")),
        who: signed.who(),
        projects: projects
            .iter()
            .map(|p| Choice {
                value: p.project_id.to_string(),
                label: format!("{} ({})", p.name, p.project_id),
                selected: given(&filter.project) == Some(&p.project_id.to_string()),
            })
            .collect(),
        statuses: STATUSES
            .iter()
            .map(|s| Choice {
                value: s.to_string(),
                label: s.to_string(),
                selected: given(&filter.status) == Some(s),
            })
            .collect(),
        links,
        rows,
        errors,
        filter,
    };
    let status = match page.errors.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    html::render(status, &page)
}

/// A status the payment passed through.
pub struct HistoryRow {
    pub status: String,
    pub code: String,
    pub message: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "dashboard/payment.html")]
struct DetailPage {
    page: Chrome,
    who: Who,
    payment: Row,
    description: String,
    code: String,
    message: String,
    voucher: Option<String>,
    paid: Option<String>,
    updated: String,
    operation: i64,
    history: Vec<HistoryRow>,
    deliveries: Vec<DeliveryRow>,
}

/// A delivery attempt of a callback, or a callback not tried yet.
pub struct DeliveryRow {
    pub callback: i64,
    pub when: String,
    /// The callback URL's host: where it went, without its path and query.
    pub host: String,
    pub status_code: Option<i64>,
    pub outcome: String,
}

/// A callback's attempts as rows, oldest first; one waiting for its first attempt is a row
/// saying so.
fn deliveries(callback: &MessageItem, lang: Lang) -> Vec<DeliveryRow> {
    let host = callback
        .recipient
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_string))
        .unwrap_or_else(|| callback.recipient.clone());
    let row = |at: i64, status_code: Option<i64>, outcome: String| DeliveryRow {
        callback: callback.id,
        when: i18n::datetime(at, "UTC", lang),
        host: host.clone(),
        status_code,
        outcome,
    };
    let attempts = callback.attempt_log.as_deref().unwrap_or_default();
    if attempts.is_empty() {
        let state = i18n::text(lang, &format!("dash-message-{}", callback.state), None);
        return vec![row(callback.created_at, None, state)];
    }
    attempts
        .iter()
        .map(|a| {
            let outcome = i18n::text(lang, &format!("dash-attempt-{}", a.outcome), None);
            let outcome = match &a.error {
                Some(error) => format!("{outcome} · {error}"),
                None => outcome,
            };
            row(a.at, a.status_code, outcome)
        })
        .collect()
}

impl Page for DetailPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET /admin/payments/{id}`
pub async fn detail(signed: SignedIn, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let read = async {
        let payment: PaymentItem =
            serde_json::from_value(signed.get(&format!("/v1/ecommpay/payments/{id}")).await?)
                .map_err(unreadable)?;
        let uri = format!("/v1/ecommpay/payments/{id}/callbacks");
        let callbacks: Vec<MessageItem> =
            serde_json::from_value(signed.get(&uri).await?).map_err(unreadable)?;
        Ok::<_, ApiFailure>((payment, callbacks, projects(&signed).await?))
    };
    let (payment, callbacks, projects) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let lang = signed.lang;
    let title = i18n::text(
        lang,
        "dash-pay-one",
        Some(&i18n::args(&[("id", payment.payment_id.as_str().into())])),
    );
    let page = DetailPage {
        page: signed.chrome(title),
        who: signed.who(),
        description: payment.description.clone(),
        code: payment.code.clone(),
        message: payment.message.clone(),
        voucher: payment.voucher_code.clone(),
        paid: payment
            .paid_amount
            .map(|paid| format!("{} {}", i18n::number(paid, 2, lang), payment.currency)),
        updated: i18n::datetime(payment.updated_at, "UTC", lang),
        operation: payment.operation_id,
        history: payment
            .history
            .iter()
            .flatten()
            .map(|h| HistoryRow {
                status: h.status.clone(),
                code: h.code.clone(),
                message: h.message.clone(),
                when: i18n::datetime(h.at, "UTC", lang),
            })
            .collect(),
        deliveries: callbacks
            .iter()
            .flat_map(|callback| deliveries(callback, lang))
            .collect(),
        payment: row(&payment, &projects, lang),
    };
    html::render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    format: String,
    #[serde(default)]
    dialect: String,
}

/// `GET /admin/payments/export?…&format=csv|xlsx`: the API's export of the list's filter.
pub async fn export(signed: SignedIn, Query(query): Query<ExportQuery>) -> Response {
    let Ok(mut api_query) = query.filter.api_query(signed.lang) else {
        let back = format!("/admin/payments?{}", query.filter.query());
        return Redirect::to(&back).into_response();
    };
    if query.dialect == "excel-semicolon" {
        api_query.push_str("&dialect=excel-semicolon");
    }
    let file = match query.format.as_str() {
        "xlsx" => "export.xlsx",
        _ => "export.csv",
    };
    signed
        .download(&format!("/v1/ecommpay/payments/{file}?{api_query}"))
        .await
}
