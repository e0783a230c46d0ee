//! Operations: the ledger's operations filtered in the address (program, customer, kind,
//! protocol, status, a period of days in the program's zone), newest first a page at a time,
//! each with its postings and the messages sent about it; the filtered view exported as CSV or
//! XLSX. Every read is the admin API's (`GET /v1/operations…`, `/v1/messages?operation=`), the
//! export its `export.csv`/`export.xlsx` with the same filter.

use super::{ApiFailure, SignedIn, Who};
use crate::http::export;
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone};
use kopilka_domain::ledger::{OperationKind, OperationStatus};
use serde::Deserialize;

/// Operations on a page.
const PAGE: i64 = 50;

/// Protocols an operation can come from (`protocol` of an operation).
const PROTOCOLS: &[&str] = &[
    "native", "incust", "loymax", "kupikupi", "ecommpay", "offers", "system", "demo",
];

const KINDS: &[OperationKind] = &[
    OperationKind::Earn,
    OperationKind::Accrue,
    OperationKind::Redeem,
    OperationKind::Withdraw,
    OperationKind::Reversal,
    OperationKind::Expire,
    OperationKind::Merge,
];

const STATUSES: &[OperationStatus] = &[
    OperationStatus::Pending,
    OperationStatus::Confirmed,
    OperationStatus::Voided,
];

/// A program as the pages need it (`GET /v1/programs`).
#[derive(Debug, Clone, Deserialize)]
pub struct ProgramBrief {
    pub id: i64,
    pub name: String,
    pub rules: ProgramUnits,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProgramUnits {
    pub decimals: u8,
    pub time_zone: String,
}

/// The programs, for their names, decimals and time zones.
pub async fn programs(signed: &SignedIn) -> Result<Vec<ProgramBrief>, ApiFailure> {
    let json = signed.get("/v1/programs").await?;
    Ok(serde_json::from_value(json).unwrap_or_default())
}

/// The filter as the address carries it; every field text, so a wrong one is shown next to
/// its field instead of refusing the page.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    #[serde(default)]
    program: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    status: String,
    /// The first day (`YYYY-MM-DD`) in the program's time zone (UTC without a program).
    #[serde(default)]
    from: String,
    /// The last day, included.
    #[serde(default)]
    to: String,
    /// Keyset: operations below this id.
    #[serde(default)]
    before: String,
}

/// A field the filter could not take, and the message saying why.
pub struct FieldError {
    pub field: String,
    pub text: String,
}

/// The message about `field` among a filter's errors, shown beside it.
pub fn error_of<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.text.as_str())
}

fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

impl Filter {
    /// The filter without its page, as this page's address carries it.
    fn query(&self) -> String {
        let pairs = [
            ("program", &self.program),
            ("customer", &self.customer),
            ("kind", &self.kind),
            ("protocol", &self.protocol),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            if let Some(value) = given(value) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }

    /// The API's query for the filter (`GET /v1/operations` and its exports), or what is
    /// wrong with it, field by field.
    fn api_query(&self, programs: &[ProgramBrief], lang: Lang) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut wrong = |field: &str, id: &str| {
            errors.push(FieldError {
                field: field.to_string(),
                text: i18n::text(lang, id, None),
            })
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        let number = |text: &str| given(text).map(|t| t.parse::<i64>().ok().filter(|n| *n > 0));
        let program = match number(&self.program) {
            Some(id) => {
                let found = id.and_then(|id| programs.iter().find(|p| p.id == id));
                if found.is_none() {
                    wrong("program", "dash-ops-no-program");
                }
                found
            }
            None => None,
        };
        if let Some(p) = program {
            query.append_pair("program_id", &p.id.to_string());
        }
        match number(&self.customer) {
            Some(Some(id)) => {
                query.append_pair("customer_id", &id.to_string());
            }
            Some(None) => wrong("customer", "dash-ops-wrong-customer"),
            None => {}
        }
        let chosen = [
            (
                "kind",
                &self.kind,
                KINDS.iter().any(|k| Some(k.as_str()) == given(&self.kind)),
            ),
            (
                "protocol",
                &self.protocol,
                PROTOCOLS.contains(&self.protocol.trim()),
            ),
            (
                "status",
                &self.status,
                STATUSES
                    .iter()
                    .any(|s| Some(s.as_str()) == given(&self.status)),
            ),
        ];
        for (field, value, known) in chosen {
            match (given(value), known) {
                (Some(value), true) => {
                    query.append_pair(field, value);
                }
                (Some(_), false) => wrong(field, "dash-ops-wrong-choice"),
                (None, _) => {}
            }
        }
        let zone = program.map_or(chrono_tz::UTC, |p| export::zone(&p.rules.time_zone));
        // The last day is included: the period ends where the next day starts.
        let days = [("from", &self.from, 0), ("to", &self.to, 1)];
        let mut period = Vec::new();
        for (field, text, after) in days {
            let Some(text) = given(text) else { continue };
            let start = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.checked_add_days(chrono::Days::new(after)))
                .and_then(|day| start_of(day, zone));
            match start {
                Some(instant) => {
                    period.push(instant);
                    query.append_pair(field, &instant.to_rfc3339());
                }
                None => wrong(field, "dash-ops-wrong-day"),
            }
        }
        if let [from, to] = period[..] {
            if from >= to {
                wrong("to", "dash-ops-wrong-period");
            }
        }
        if let Some(Some(before)) = number(&self.before) {
            query.append_pair("cursor", &before.to_string());
        }
        match errors.is_empty() {
            true => Ok(query.finish()),
            false => Err(errors),
        }
    }
}

/// Where `day` begins in `zone` (the earlier instant of a repeated hour).
fn start_of(day: NaiveDate, zone: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The links around a filtered list: its first page when this is a later one, the next, and
/// the export of the same filter (`…/export?…&` for the format to follow) for roles that export.
pub struct Links {
    pub first: Option<String>,
    pub older: Option<String>,
    pub export: Option<String>,
}

impl Links {
    /// The links of the list at `path` with the filter `query`; `before` is this page's
    /// cursor, `older` the next page's.
    pub fn new(path: &str, query: &str, before: &str, older: Option<i64>, export: bool) -> Links {
        let address = |path: &str, extra: &str| {
            let parts: Vec<&str> = [query, extra]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            format!("{path}?{}", parts.join("&"))
        };
        Links {
            first: given(before).map(|_| match query.is_empty() {
                true => path.to_string(),
                false => format!("{path}?{query}"),
            }),
            older: older.map(|id| address(path, &format!("before={id}"))),
            export: export.then(|| {
                let link = address(&format!("{path}/export"), "");
                match link.ends_with('?') {
                    true => link,
                    false => link + "&",
                }
            }),
        }
    }
}

/// A choice of a filter's list.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(current: &str, items: impl IntoIterator<Item = (String, String)>) -> Vec<Choice> {
    items
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == current.trim(),
            value,
            label,
        })
        .collect()
}

/// An operation as the API answers it.
#[derive(Debug, Deserialize)]
pub struct OperationItem {
    pub id: i64,
    pub uuid: String,
    pub kind: String,
    pub status: String,
    pub currency: String,
    pub amount_minor: i64,
    pub reversed_minor: i64,
    pub program_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub reverses: Option<i64>,
    pub protocol: String,
    pub description: Option<String>,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    #[serde(default)]
    pub postings: Option<Vec<PostingItem>>,
}

#[derive(Debug, Deserialize)]
pub struct PostingItem {
    pub account_id: i64,
    pub amount: i64,
}

#[derive(Debug, Deserialize)]
struct OperationPage {
    items: Vec<OperationItem>,
    next_cursor: Option<i64>,
}

/// An operation as a row of the list and the head of its page.
pub struct Row {
    pub id: i64,
    pub when: String,
    pub kind: String,
    /// `earn` (points come in) or `spend` (they go out): the label's colour.
    pub class: &'static str,
    pub status: String,
    pub amount: String,
    pub reversed: Option<String>,
    pub customer: Option<i64>,
    pub merchant: Option<i64>,
    pub program: String,
    pub protocol: String,
    pub reverses: Option<i64>,
    pub description: Option<String>,
    pub reason: Option<String>,
}

/// The program of an operation: its name, decimals and zone (the first program's when the
/// API does not say, two decimals in UTC when there is none).
fn units_of(programs: &[ProgramBrief], id: Option<i64>) -> Option<&ProgramBrief> {
    programs.iter().find(|p| Some(p.id) == id)
}

fn row(op: &OperationItem, programs: &[ProgramBrief], lang: Lang) -> Row {
    let program = units_of(programs, op.program_id);
    let (decimals, zone) = program.map_or((2, "UTC"), |p| {
        (p.rules.decimals, p.rules.time_zone.as_str())
    });
    let brings = match OperationKind::parse(&op.kind) {
        Some(OperationKind::Earn | OperationKind::Accrue | OperationKind::Merge) => true,
        Some(OperationKind::Reversal) => op.amount_minor < 0,
        _ => false,
    };
    Row {
        id: op.id,
        when: i18n::datetime(op.created_at, zone, lang),
        kind: i18n::text(lang, &format!("dash-kind-{}", op.kind), None),
        class: if brings { "earn" } else { "spend" },
        status: i18n::text(lang, &format!("dash-status-{}", op.status), None),
        amount: format!(
            "{} {}",
            i18n::number(op.amount_minor, decimals, lang),
            op.currency
        ),
        reversed: (op.reversed_minor != 0).then(|| i18n::number(op.reversed_minor, decimals, lang)),
        customer: op.customer_id,
        merchant: op.merchant_id,
        program: program.map_or_else(
            || op.program_id.map(|id| id.to_string()).unwrap_or_default(),
            |p| p.name.clone(),
        ),
        protocol: op.protocol.clone(),
        reverses: op.reverses,
        reason: op.reason.clone(),
        description: op.description.clone(),
    }
}

#[derive(Template)]
#[template(path = "dashboard/operations.html")]
struct ListPage {
    page: Chrome,
    who: Who,
    filter: Filter,
    errors: Vec<FieldError>,
    programs: Vec<Choice>,
    kinds: Vec<Choice>,
    protocols: Vec<Choice>,
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
        error_of(&self.errors, field)
    }
}

/// `GET /admin/operations`
pub async fn list(signed: SignedIn, Query(filter): Query<Filter>) -> Response {
    let lang = signed.lang;
    let programs = match programs(&signed).await {
        Ok(programs) => programs,
        Err(failure) => return signed.failed(&failure),
    };
    let (rows, errors, older) = match filter.api_query(&programs, lang) {
        Ok(query) => {
            let uri = format!("/v1/operations?{query}&limit={PAGE}");
            let json = match signed.get(&uri).await {
                Ok(json) => json,
                // A filter the API refuses is shown at its field.
                Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
                    return answer_list(
                        &signed,
                        filter,
                        &programs,
                        Vec::new(),
                        vec![FieldError {
                            field: failure.field.unwrap_or_default(),
                            text: failure.message,
                        }],
                        None,
                    );
                }
                Err(failure) => return signed.failed(&failure),
            };
            let page: OperationPage = match serde_json::from_value(json) {
                Ok(page) => page,
                Err(e) => return signed.failed(&unreadable(e)),
            };
            let rows = page
                .items
                .iter()
                .map(|op| row(op, &programs, lang))
                .collect();
            (rows, Vec::new(), page.next_cursor)
        }
        Err(errors) => (Vec::new(), errors, None),
    };
    answer_list(&signed, filter, &programs, rows, errors, older)
}

fn answer_list(
    signed: &SignedIn,
    filter: Filter,
    programs: &[ProgramBrief],
    rows: Vec<Row>,
    errors: Vec<FieldError>,
    older: Option<i64>,
) -> Response {
    let lang = signed.lang;
    let exports = signed.may("GET", "/v1/operations/export.csv");
    let links = Links::new(
        "/admin/operations",
        &filter.query(),
        &filter.before,
        older,
        exports && errors.is_empty(),
    );
    let page = ListPage {
        page: signed.chrome(signed.t("dash-ops-title")),
        who: signed.who(),
        programs: choices(
            &filter.program,
            programs.iter().map(|p| (p.id.to_string(), p.name.clone())),
        ),
        kinds: choices(
            &filter.kind,
            KINDS.iter().map(|k| {
                let label = i18n::text(lang, &format!("dash-kind-{}", k.as_str()), None);
                (k.as_str().to_string(), label)
            }),
        ),
        protocols: choices(
            &filter.protocol,
            PROTOCOLS.iter().map(|p| (p.to_string(), p.to_string())),
        ),
        statuses: choices(
            &filter.status,
            STATUSES.iter().map(|s| {
                let label = i18n::text(lang, &format!("dash-status-{}", s.as_str()), None);
                (s.as_str().to_string(), label)
            }),
        ),
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

/// An answer of the API the page could not read: the server's fault.
pub fn unreadable(error: serde_json::Error) -> ApiFailure {
    ApiFailure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "unreadable".into(),
        field: None,
        message: format!("the API's answer did not read: {error}"),
    }
}

/// A posting of the operation's page.
pub struct PostingRow {
    pub account: i64,
    pub amount: String,
    pub class: &'static str,
}

/// A message as the API answers it (`GET /v1/messages…`).
#[derive(Debug, Deserialize)]
pub struct MessageItem {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub operation_id: Option<i64>,
    pub purpose: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    #[serde(default)]
    pub attempt_log: Option<Vec<AttemptItem>>,
}

#[derive(Debug, Deserialize)]
pub struct AttemptItem {
    pub at: i64,
    pub outcome: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Deserialize)]
pub struct MessagePage {
    pub items: Vec<MessageItem>,
    pub next_cursor: Option<i64>,
}

/// A message about an operation (a callback, a webhook, an SMS) as a row.
pub struct MessageRow {
    pub id: i64,
    pub kind: String,
    pub purpose: String,
    /// Where it goes: a phone masked, a URL or an address as it is.
    pub recipient: String,
    pub state: String,
    pub dead: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub when: String,
}

impl MessageRow {
    pub fn of(m: &MessageItem, zone: &str, lang: Lang) -> MessageRow {
        MessageRow {
            id: m.id,
            kind: m.kind.clone(),
            purpose: m.purpose.clone().unwrap_or_default(),
            recipient: match m.kind.as_str() {
                "sms" => kopilka_domain::phone::mask(&m.recipient),
                _ => m.recipient.clone(),
            },
            state: i18n::text(lang, &format!("dash-message-{}", m.state), None),
            dead: m.state == "dead",
            attempts: m.attempts,
            last_error: m.last_error.clone(),
            when: i18n::datetime(m.created_at, zone, lang),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/operation.html")]
struct DetailPage {
    page: Chrome,
    who: Who,
    op: Row,
    uuid: String,
    idempotency_key: Option<String>,
    resolved: Option<String>,
    postings: Vec<PostingRow>,
    messages: Vec<MessageRow>,
}

impl Page for DetailPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET /admin/operations/{id}`
pub async fn detail(signed: SignedIn, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let read = async {
        let op = signed.get(&format!("/v1/operations/{id}")).await?;
        let op: OperationItem = serde_json::from_value(op).map_err(unreadable)?;
        let messages = signed
            .get(&format!("/v1/messages?operation={id}&limit=100"))
            .await?;
        let messages: MessagePage = serde_json::from_value(messages).map_err(unreadable)?;
        Ok::<_, ApiFailure>((op, messages.items, programs(&signed).await?))
    };
    let (op, messages, programs) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let lang = signed.lang;
    let program = units_of(&programs, op.program_id);
    let (decimals, zone) = program.map_or((2, "UTC".to_string()), |p| {
        (p.rules.decimals, p.rules.time_zone.clone())
    });
    let title = i18n::text(
        lang,
        "dash-op-title",
        Some(&i18n::args(&[("id", op.id.into())])),
    );
    let page = DetailPage {
        page: signed.chrome(title),
        who: signed.who(),
        uuid: op.uuid.clone(),
        idempotency_key: op.idempotency_key.clone(),
        resolved: op.resolved_at.map(|at| i18n::datetime(at, &zone, lang)),
        postings: op
            .postings
            .iter()
            .flatten()
            .map(|p| PostingRow {
                account: p.account_id,
                amount: i18n::number(p.amount, decimals, lang),
                class: if p.amount >= 0 { "plus" } else { "minus" },
            })
            .collect(),
        messages: messages
            .iter()
            .map(|m| MessageRow::of(m, &zone, lang))
            .collect(),
        op: row(&op, &programs, lang),
    };
    html::render(StatusCode::OK, &page)
}

/// The API's 404, for an address whose id is no number.
pub fn not_found() -> ApiFailure {
    ApiFailure {
        status: StatusCode::NOT_FOUND,
        code: "not_found".into(),
        field: None,
        message: String::new(),
    }
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    format: String,
    /// `excel-semicolon`: for spreadsheets set to Russian or Ukrainian.
    #[serde(default)]
    dialect: String,
}

/// `GET /admin/operations/export?…&format=csv|xlsx`: the API's export of exactly the list's
/// filter (every page of it), with the API's role rule and audit row.
pub async fn export(signed: SignedIn, Query(query): Query<ExportQuery>) -> Response {
    let programs = match programs(&signed).await {
        Ok(programs) => programs,
        Err(failure) => return signed.failed(&failure),
    };
    let Ok(mut api_query) = query.filter.api_query(&programs, signed.lang) else {
        // The list says what is wrong with the filter.
        let back = format!("/admin/operations?{}", query.filter.query());
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
        .download(&format!("/v1/operations/{file}?{api_query}"))
        .await
}
