//! Operations: the ledger's operations filtered in the address (program, customer, kind,
//! protocol, status, a period of days in the program's zone), newest first a page at a time,
//! each with its postings and the messages sent about it, and the filtered view exported as
//! CSV or XLSX through the API's export (`http::export`).

use super::Operator;
use crate::api::operations as api;
use crate::http::export::{self, ExportFormat, ExportOptions, Page as ExportPage};
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n::{self, Lang};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeZone};
use kopilka_domain::ids::{CustomerId, OperationId, ProgramId};
use kopilka_domain::ledger::{OperationKind, OperationStatus};
use kopilka_store::ledger::{self, OperationFilter};
use kopilka_store::model::{Message, Operation, Posting, Program};
use kopilka_store::outbox::MessageFilter;
use serde::Deserialize;

/// Operations on a page.
const PAGE: i64 = 50;

/// Protocols an operation can come from (`operations.protocol`).
const PROTOCOLS: &[&str] = &[
    "native", "incust", "loymax", "kupikupi", "ecommpay", "offers", "system", "demo", "bench",
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
    pub field: &'static str,
    pub text: String,
}

/// The filter checked: the store's filter and the protocol.
struct Checked {
    filter: OperationFilter,
    protocol: Option<String>,
}

fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

impl Filter {
    /// The filter without its page: the address of the export and of the first page.
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

    fn check(&self, programs: &[Program], lang: Lang) -> Result<Checked, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut wrong = |field: &'static str, id: &str| {
            errors.push(FieldError {
                field,
                text: i18n::text(lang, id, None),
            })
        };
        let number = |text: &str| given(text).map(|t| t.parse::<i64>().ok().filter(|n| *n > 0));
        let program = match number(&self.program) {
            Some(Some(id)) => match programs.iter().find(|p| p.id == ProgramId(id)) {
                Some(p) => Some(p),
                None => {
                    wrong("program", "dash-ops-no-program");
                    None
                }
            },
            Some(None) => {
                wrong("program", "dash-ops-no-program");
                None
            }
            None => None,
        };
        let customer = number(&self.customer);
        if customer == Some(None) {
            wrong("customer", "dash-ops-wrong-customer");
        }
        let kind = given(&self.kind);
        if kind.is_some_and(|k| OperationKind::parse(k).is_none()) {
            wrong("kind", "dash-ops-wrong-choice");
        }
        let protocol = given(&self.protocol);
        if protocol.is_some_and(|p| !PROTOCOLS.contains(&p)) {
            wrong("protocol", "dash-ops-wrong-choice");
        }
        let status = given(&self.status);
        if status.is_some_and(|s| OperationStatus::parse(s).is_none()) {
            wrong("status", "dash-ops-wrong-choice");
        }
        let zone = program.map_or(chrono_tz::UTC, |p| export::zone(&p.rules.time_zone));
        let day = |text: &str| {
            given(text).map(|t| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|day| start_of(day, zone))
            })
        };
        let from = day(&self.from);
        if from == Some(None) {
            wrong("from", "dash-ops-wrong-day");
        }
        // The last day is included: the period ends where the next day starts.
        let to = given(&self.to).map(|t| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.succ_opt())
                .and_then(|day| start_of(day, zone))
        });
        if to == Some(None) {
            wrong("to", "dash-ops-wrong-day");
        }
        if let (Some(Some(from)), Some(Some(to))) = (from, to) {
            if from >= to {
                wrong("to", "dash-ops-wrong-period");
            }
        }
        let before = number(&self.before).flatten();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Checked {
            filter: OperationFilter {
                program_id: program.map(|p| p.id),
                customer_id: customer.flatten().map(CustomerId),
                merchant_id: None,
                kind: kind.map(str::to_string),
                status: status.map(str::to_string),
                created_from: from.flatten(),
                created_before: to.flatten(),
                before_id: before.map(OperationId),
                limit: PAGE,
            },
            protocol: protocol.map(str::to_string),
        })
    }
}

/// Where `day` begins in `zone`, in unix milliseconds (the earlier instant of a repeated hour).
fn start_of(day: NaiveDate, zone: chrono_tz::Tz) -> Option<i64> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// A choice of a filter's list.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices<'a>(
    current: &str,
    items: impl IntoIterator<Item = (String, String)> + 'a,
) -> Vec<Choice> {
    items
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == current.trim(),
            value,
            label,
        })
        .collect()
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

fn row(op: Operation, programs: &[Program], lang: Lang) -> Row {
    let program = programs.iter().find(|p| p.id == op.program_id);
    let (decimals, zone) = program.map_or((2, "UTC"), |p| {
        (p.rules.decimals, p.rules.time_zone.as_str())
    });
    let brings = match op.kind {
        OperationKind::Earn | OperationKind::Accrue | OperationKind::Merge => true,
        OperationKind::Reversal => op.amount < 0,
        _ => false,
    };
    Row {
        id: op.id.0,
        when: i18n::datetime(op.created_at, zone, lang),
        kind: i18n::text(lang, &format!("dash-kind-{}", op.kind.as_str()), None),
        class: if brings { "earn" } else { "spend" },
        status: i18n::text(lang, &format!("dash-status-{}", op.status.as_str()), None),
        amount: format!(
            "{} {}",
            i18n::number(op.amount, decimals, lang),
            op.currency
        ),
        reversed: (op.reversed != 0).then(|| i18n::number(op.reversed, decimals, lang)),
        customer: op.customer_id.map(|id| id.0),
        merchant: op.merchant_id.map(|id| id.0),
        program: program.map_or_else(|| op.program_id.0.to_string(), |p| p.name.clone()),
        protocol: op.protocol,
        reverses: op.reverses.map(|id| id.0),
        reason: op.details["reason"].as_str().map(str::to_string),
        description: op.description,
    }
}

#[derive(Template)]
#[template(path = "dashboard/operations.html")]
struct ListPage {
    page: Chrome,
    filter: Filter,
    errors: Vec<FieldError>,
    programs: Vec<Choice>,
    kinds: Vec<Choice>,
    protocols: Vec<Choice>,
    statuses: Vec<Choice>,
    rows: Vec<Row>,
    /// The first page of the same filter, when this is a later one.
    first: Option<String>,
    older: Option<String>,
    /// The export's address with the filter (`.csv` or `.xlsx` appended), for roles that export.
    export: Option<String>,
}

impl Page for ListPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl ListPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.text.as_str())
    }
}

/// `GET /admin/operations`
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(filter): Query<Filter>,
) -> Response {
    let lang = operator.lang;
    let programs = match state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await
    {
        Ok(programs) => programs,
        Err(e) => return operator.failed(e),
    };
    let checked = filter.check(&programs, lang);
    let (rows, errors, older) = match checked {
        Ok(checked) => {
            let read = state
                .store
                .read(move |tx| {
                    Box::pin(async move {
                        tx.operations_of_protocol(&checked.filter, checked.protocol.as_deref())
                            .await
                    })
                })
                .await;
            let ops = match read {
                Ok(ops) => ops,
                Err(e) => return operator.failed(e),
            };
            let older = match ops.last() {
                Some(last) if ops.len() as i64 == PAGE => Some(last.id.0),
                _ => None,
            };
            let rows = ops.into_iter().map(|op| row(op, &programs, lang)).collect();
            (rows, Vec::new(), older)
        }
        Err(errors) => (Vec::new(), errors, None),
    };
    let query = filter.query();
    let joined = |extra: String| match (query.is_empty(), extra.is_empty()) {
        (true, _) => format!("/admin/operations?{extra}"),
        (false, true) => format!("/admin/operations?{query}"),
        (false, false) => format!("/admin/operations?{query}&{extra}"),
    };
    let page = ListPage {
        page: operator.chrome("/admin/operations", "dash-ops-title"),
        programs: choices(
            &filter.program,
            programs
                .iter()
                .map(|p| (p.id.0.to_string(), p.name.clone())),
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
        first: given(&filter.before).map(|_| joined(String::new())),
        older: older.map(|id| joined(format!("before={id}"))),
        export: (errors.is_empty() && operator.may("GET", "/v1/operations/export.csv")).then(
            || match query.is_empty() {
                true => "/admin/operations/export".to_string(),
                false => format!("/admin/operations/export?{query}"),
            },
        ),
        rows,
        errors,
        filter,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html::render(status, &page)
}

/// A posting of the operation's page.
pub struct PostingRow {
    pub account: i64,
    pub amount: String,
    pub class: &'static str,
}

/// A message about the operation (a callback, a webhook, an SMS).
pub struct MessageRow {
    pub id: i64,
    pub kind: String,
    pub purpose: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub when: String,
}

impl MessageRow {
    pub fn of(m: Message, zone: &str, lang: Lang) -> MessageRow {
        MessageRow {
            id: m.id,
            kind: m.kind.as_str().to_string(),
            purpose: m.purpose.unwrap_or_default(),
            state: i18n::text(lang, &format!("dash-message-{}", m.state.as_str()), None),
            attempts: m.attempts,
            last_error: m.last_error,
            when: i18n::datetime(m.created_at, zone, lang),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/operation.html")]
struct DetailPage {
    page: Chrome,
    op: Row,
    uuid: String,
    idempotency_key: Option<String>,
    resolved: Option<String>,
    postings: Vec<PostingRow>,
    messages: Vec<MessageRow>,
    /// Reversals of this operation.
    reversals: Vec<i64>,
}

impl Page for DetailPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

type Found = (
    Operation,
    Vec<Program>,
    Vec<Posting>,
    Vec<Message>,
    Vec<i64>,
);

/// `GET /admin/operations/{id}`
pub async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return operator.not_found();
    };
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(op) = ledger::operation(tx, OperationId(id)).await? else {
                    return Ok(None);
                };
                let postings = ledger::postings_of(tx, op.id).await?;
                let messages = tx
                    .messages(&MessageFilter {
                        operation_id: Some(op.id),
                        limit: 100,
                        ..MessageFilter::default()
                    })
                    .await?;
                let reversals = tx
                    .operations_of_protocol(
                        &OperationFilter {
                            program_id: Some(op.program_id),
                            customer_id: op.customer_id,
                            kind: Some(OperationKind::Reversal.as_str().into()),
                            created_from: Some(op.created_at),
                            limit: 100,
                            ..OperationFilter::default()
                        },
                        None,
                    )
                    .await?
                    .into_iter()
                    .filter(|r| r.reverses == Some(op.id))
                    .map(|r| r.id.0)
                    .collect();
                Ok(Some((
                    op,
                    tx.programs().await?,
                    postings,
                    messages,
                    reversals,
                )))
            })
        })
        .await;
    let (op, programs, postings, messages, reversals): Found = match found {
        Ok(Some(found)) => found,
        Ok(None) => return operator.not_found(),
        Err(e) => return operator.failed(e),
    };
    let lang = operator.lang;
    let program = programs.iter().find(|p| p.id == op.program_id);
    let (decimals, zone) = program.map_or((2, "UTC".to_string()), |p| {
        (p.rules.decimals, p.rules.time_zone.clone())
    });
    let page = DetailPage {
        page: operator.chrome_with(
            "/admin/operations",
            &i18n::text(
                lang,
                "dash-op-title",
                Some(&i18n::args(&[("id", op.id.0.into())])),
            ),
        ),
        uuid: op.uuid.clone(),
        idempotency_key: op.idem_key.clone(),
        resolved: op.resolved_at.map(|at| i18n::datetime(at, &zone, lang)),
        postings: postings
            .into_iter()
            .map(|p| PostingRow {
                account: p.account_id,
                amount: i18n::number(p.amount, decimals, lang),
                class: if p.amount >= 0 { "plus" } else { "minus" },
            })
            .collect(),
        messages: messages
            .into_iter()
            .map(|m| MessageRow::of(m, &zone, lang))
            .collect(),
        reversals,
        op: row(op, &programs, lang),
    };
    html::render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    format: String,
    /// `excel-semicolon` for spreadsheets set to Russian or Ukrainian.
    #[serde(default)]
    dialect: Option<String>,
}

/// `GET /admin/operations/export?…&format=csv|xlsx`: exactly the list's filter (every page
/// of it), for the roles the API lets export.
pub async fn export(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ExportQuery>,
) -> Response {
    if !operator.may("GET", "/v1/operations/export.csv") {
        return operator.forbidden();
    }
    let format = match query.format.as_str() {
        "xlsx" => ExportFormat::Xlsx,
        _ => ExportFormat::Csv,
    };
    let programs = match state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await
    {
        Ok(programs) => programs,
        Err(e) => return operator.failed(e),
    };
    let checked = match query.filter.check(&programs, operator.lang) {
        Ok(checked) => checked,
        // The list shows what is wrong with the filter.
        Err(_) => {
            let back = format!("/admin/operations?{}", query.filter.query());
            return axum::response::Redirect::to(&back).into_response();
        }
    };
    let units = export::ProgramUnits::new(&programs);
    let Checked { filter, protocol } = checked;
    let start = filter.before_id.map(|id| id.0);
    let reader = state.clone();
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, units, protocol) = (reader.clone(), units.clone(), protocol.clone());
        let mut filter = filter.clone();
        filter.before_id = cursor.map(OperationId);
        filter.limit = export::PAGE_ROWS;
        Box::pin(async move {
            let ops = state
                .store
                .read(move |tx| {
                    Box::pin(async move {
                        tx.operations_of_protocol(&filter, protocol.as_deref())
                            .await
                    })
                })
                .await?;
            Ok(ExportPage::of(
                ops,
                |op| op.id.0,
                |op| api::export_row(op, &units),
            ))
        })
    });
    let options = ExportOptions {
        dialect: query.dialect,
    };
    let answer = export::export(format, &options, api::EXPORT, start, pages)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    operator
        .audited(&state, "GET", "/admin/operations/export", None, answer)
        .await
}
