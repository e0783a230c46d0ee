//! The audit log (`GET /v1/audit`): who changed or exported what, with filters kept in the URL
//! and keyset pages; each row opens to the request and the entity before and after.

use super::{SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

const PAGE: i64 = 50;

struct Row {
    at: String,
    who: String,
    action: String,
    entity: String,
    status: i64,
    request: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    page: Chrome,
    who: Who,
    operator: String,
    kind: String,
    entity: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
}

impl Page for AuditPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    operator: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<i64>,
}

/// The API's bound of a day given as `YYYY-MM-DD` (UTC): its start, or with `end` the next
/// day's start (the day included).
fn bound(date: &str, end: bool) -> Option<String> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    let start = day.and_hms_opt(0, 0, 0)?.and_utc();
    Some(start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn pretty(value: &serde_json::Value) -> Option<String> {
    (!value.is_null()).then(|| serde_json::to_string_pretty(value).unwrap_or_default())
}

pub async fn page(signed: SignedIn, Query(query): Query<AuditQuery>) -> Response {
    let lang = signed.lang;
    let filters = {
        let mut filters = form_urlencoded::Serializer::new(String::new());
        if let Ok(id) = query.operator.trim().parse::<i64>() {
            filters.append_pair("operator_id", &id.to_string());
        }
        if !query.kind.trim().is_empty() {
            filters.append_pair("entity_kind", query.kind.trim());
        }
        if !query.entity.trim().is_empty() {
            filters.append_pair("entity_id", query.entity.trim());
        }
        if let Some(from) = bound(&query.from, false) {
            filters.append_pair("from", &from);
        }
        if let Some(to) = bound(&query.to, true) {
            filters.append_pair("to", &to);
        }
        filters.append_pair("limit", &PAGE.to_string());
        filters.finish()
    };
    let uri = match query.cursor {
        Some(cursor) => format!("/v1/audit?{filters}&cursor={cursor}"),
        None => format!("/v1/audit?{filters}"),
    };
    let (rows, next, error) = match signed.get(&uri).await {
        Ok(page) => {
            let rows = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let who = match e["operator_id"].as_i64() {
                        Some(id) => i18n::text(
                            lang,
                            "dash-audit-operator",
                            Some(&i18n::args(&[("id", id.into())])),
                        ),
                        None => signed.t("dash-audit-bootstrap"),
                    };
                    let entity = [e["entity_kind"].as_str(), e["entity_id"].as_str()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    Row {
                        at: i18n::datetime(e["at"].as_i64().unwrap_or(0), "UTC", lang),
                        who,
                        action: format!(
                            "{} {}",
                            e["method"].as_str().unwrap_or_default(),
                            e["route"].as_str().unwrap_or_default()
                        ),
                        entity,
                        status: e["status"].as_i64().unwrap_or_default(),
                        request: pretty(&e["request"]),
                        before: pretty(&e["before"]),
                        after: pretty(&e["after"]),
                    }
                })
                .collect();
            let next = page["next_cursor"].as_i64().map(|cursor| {
                let link = form_urlencoded::Serializer::new(String::new())
                    .append_pair("operator", &query.operator)
                    .append_pair("kind", &query.kind)
                    .append_pair("entity", &query.entity)
                    .append_pair("from", &query.from)
                    .append_pair("to", &query.to)
                    .append_pair("cursor", &cursor.to_string())
                    .finish();
                format!("/admin/audit?{link}")
            });
            (rows, next, None)
        }
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            (Vec::new(), None, Some(failure.message))
        }
        Err(failure) => return signed.failed(&failure),
    };
    let view = AuditPage {
        page: signed.chrome(signed.t("dash-nav-audit")),
        who: signed.who(),
        operator: query.operator,
        kind: query.kind,
        entity: query.entity,
        from: query.from,
        to: query.to,
        rows,
        next,
        error,
    };
    render(StatusCode::OK, &view)
}
