//! Customers: the search (`GET /v1/customers`: phone, e-mail, card, member number, name, state;
//! keyset pages), a customer's page (balances, points with their expiry, history with the
//! running balance, messages, cards, linked social profiles) and its actions — block, unblock, anonymise after a confirmation, manual accrual and
//! withdrawal with a reason (`POST /v1/operations`; above the program's threshold it waits
//! for approval). Each action is the API route it names.

use super::{Posted, SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::analytics::customer_change;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::program::ProgramRules;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Customers on a page of the search, operations on a page of the history.
const PAGE: i64 = 25;
/// Messages shown on a customer's page.
const MESSAGES: i64 = 10;
/// Lots on a page of a customer's points.
const LOTS: i64 = 25;
/// Points expiring within this are marked "expires soon" (30 days, as the analytics count).
const EXPIRES_SOON_MS: i64 = 30 * 24 * 3600 * 1000;

/// A program as the pages need it: its id, name and rules (currency places, time zone).
#[derive(Clone)]
pub struct Program {
    pub id: i64,
    pub name: String,
    pub rules: ProgramRules,
}

/// Every program (`GET /v1/programs`).
pub async fn programs(signed: &SignedIn) -> Result<Vec<Program>, super::ApiFailure> {
    let list = signed.get("/v1/programs").await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Program {
                id: p["id"].as_i64()?,
                name: p["name"].as_str()?.to_string(),
                rules: serde_json::from_value(p["rules"].clone()).ok()?,
            })
        })
        .collect())
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(lang: Lang, prefix: &str, values: &[&str], chosen: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|value| Choice {
            value: value.to_string(),
            label: i18n::text(
                lang,
                &format!("{prefix}{}", if value.is_empty() { "any" } else { value }),
                None,
            ),
            selected: *value == chosen,
        })
        .collect()
}

fn program_choices(programs: &[Program], chosen: Option<i64>) -> Vec<Choice> {
    programs
        .iter()
        .map(|p| Choice {
            value: p.id.to_string(),
            label: p.name.clone(),
            selected: Some(p.id) == chosen,
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    program: Option<i64>,
    #[serde(default)]
    by: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    cursor: Option<i64>,
}

const SEARCH_BY: &[&str] = &["phone", "email", "card", "member_no", "name"];
const STATES: &[&str] = &[
    "",
    "registering",
    "active",
    "blocked",
    "merged",
    "anonymised",
];

/// A row of the search.
struct Found {
    id: i64,
    member_no: String,
    name: String,
    phone: String,
    email: String,
    state: String,
    state_label: String,
    balance: String,
}

#[derive(Template)]
#[template(path = "dashboard/customers.html")]
struct SearchPage {
    page: Chrome,
    who: Who,
    programs: Vec<Choice>,
    by: Vec<Choice>,
    states: Vec<Choice>,
    q: String,
    error: Option<String>,
    found: Vec<Found>,
    next: Option<String>,
}

impl Page for SearchPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

fn state_label(lang: Lang, state: &str) -> String {
    i18n::text(lang, &format!("dash-state-{state}"), None)
}

pub async fn search(signed: SignedIn, Query(query): Query<SearchQuery>) -> Response {
    let lang = signed.lang;
    let programs = match programs(&signed).await {
        Ok(programs) => programs,
        Err(failure) => return signed.failed(&failure),
    };
    let program = query.program.or(programs.first().map(|p| p.id));
    let by = if SEARCH_BY.contains(&query.by.as_str()) {
        query.by.as_str()
    } else {
        "phone"
    };
    let q = query.q.trim();
    let filter = {
        let mut api = form_urlencoded::Serializer::new(String::new());
        if let Some(program) = program {
            api.append_pair("program_id", &program.to_string());
        }
        if !q.is_empty() {
            api.append_pair(by, q);
        }
        if STATES.contains(&query.state.as_str()) && !query.state.is_empty() {
            api.append_pair("state", &query.state);
        }
        api.append_pair("limit", &PAGE.to_string());
        api.finish()
    };
    let uri = match query.cursor {
        Some(cursor) => format!("/v1/customers?{filter}&cursor={cursor}"),
        None => format!("/v1/customers?{filter}"),
    };
    let (found, next, error) = match signed.get(&uri).await {
        Ok(page) => {
            let decimals = |program_id: i64| {
                programs
                    .iter()
                    .find(|p| p.id == program_id)
                    .map_or(0, |p| p.rules.decimals)
            };
            let found = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| {
                    let c = item;
                    let text = |name: &str| c[name].as_str().unwrap_or_default().to_string();
                    let state = text("state");
                    let places = decimals(c["program_id"].as_i64().unwrap_or_default());
                    let balance = item["balances"]
                        .as_array()
                        .and_then(|b| b.first())
                        .map(|b| {
                            i18n::points(b["spendable_minor"].as_i64().unwrap_or(0), places, lang)
                        })
                        .unwrap_or_else(|| i18n::points(0, places, lang));
                    Found {
                        id: c["id"].as_i64().unwrap_or_default(),
                        member_no: text("member_no"),
                        name: text("name"),
                        phone: text("phone"),
                        email: text("email"),
                        state_label: state_label(lang, &state),
                        state,
                        balance,
                    }
                })
                .collect();
            let next = page["next_cursor"].as_i64().map(|cursor| {
                let mut link = form_urlencoded::Serializer::new(String::new());
                if let Some(program) = program {
                    link.append_pair("program", &program.to_string());
                }
                link.append_pair("by", by)
                    .append_pair("q", q)
                    .append_pair("state", &query.state)
                    .append_pair("cursor", &cursor.to_string());
                format!("/admin/customers?{}", link.finish())
            });
            (found, next, None)
        }
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            (Vec::new(), None, Some(failure.message))
        }
        Err(failure) => return signed.failed(&failure),
    };
    let view = SearchPage {
        page: signed.chrome(signed.t("dash-nav-customers")),
        who: signed.who(),
        programs: program_choices(&programs, program),
        by: choices(lang, "dash-customers-by-", SEARCH_BY, by),
        states: choices(lang, "dash-state-", STATES, &query.state),
        q: q.to_string(),
        error,
        found,
        next,
    };
    render(StatusCode::OK, &view)
}

/// A row of a customer's history.
struct HistoryRow {
    id: i64,
    at: String,
    kind: String,
    kind_class: &'static str,
    status: String,
    change: String,
    change_class: &'static str,
    /// The balance after the operation; empty where it cannot be told (before a merge).
    running: String,
    note: String,
}

struct Balance {
    balance: String,
    held: String,
    spendable: String,
}

struct Sent {
    at: String,
    kind: String,
    state: String,
    text: String,
}

struct CardRow {
    number: String,
    kind: String,
    state: String,
}

/// A lot: points left of one credit, and when they expire.
struct LotRow {
    operation: i64,
    earned: String,
    remaining: String,
    amount: String,
    expires: String,
    /// "Expires soon" or "expired", in words: the mark is not only a colour.
    mark: Option<(&'static str, String)>,
}

struct IdentityRow {
    network: String,
    user: String,
    linked: String,
}

#[derive(Template)]
#[template(path = "dashboard/customer.html")]
struct CustomerPage {
    page: Chrome,
    who: Who,
    id: i64,
    facts: Vec<(String, String)>,
    state: String,
    state_label: String,
    balances: Vec<Balance>,
    history: Vec<HistoryRow>,
    history_next: Option<String>,
    messages: Vec<Sent>,
    cards: Vec<CardRow>,
    lots: Vec<LotRow>,
    lots_next: Option<String>,
    identities: Vec<IdentityRow>,
    notice: Option<String>,
    error: Option<String>,
    may_block: bool,
    may_unblock: bool,
    may_anonymise: bool,
    may_adjust: bool,
    may_read_messages: bool,
    kinds: Vec<Choice>,
}

impl Page for CustomerPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct CustomerQuery {
    /// The history page's cursor and the balance after its newest operation.
    cursor: Option<i64>,
    after: Option<i64>,
    /// The points' page cursor (a lot's id).
    lots: Option<i64>,
    /// What the last action did (`blocked`, `accrued`, `pending`…), shown as a notice.
    done: Option<String>,
}

/// A customer's page; `error` is a refused form's message shown above the forms.
pub async fn customer(
    signed: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<CustomerQuery>,
) -> Response {
    show(&signed, id, query, None, StatusCode::OK).await
}

async fn show(
    signed: &SignedIn,
    id: i64,
    query: CustomerQuery,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = signed.lang;
    let customer = match signed.get(&format!("/v1/customers/{id}")).await {
        Ok(customer) => customer,
        Err(failure) => return signed.failed(&failure),
    };
    let program_id = customer["program_id"].as_i64().unwrap_or_default();
    let program = match signed.get(&format!("/v1/programs/{program_id}")).await {
        Ok(p) => Program {
            id: program_id,
            name: p["name"].as_str().unwrap_or_default().to_string(),
            rules: serde_json::from_value(p["rules"].clone()).unwrap_or_default(),
        },
        Err(failure) => return signed.failed(&failure),
    };
    let (places, zone) = (program.rules.decimals, program.rules.time_zone.clone());
    let balances = match signed.get(&format!("/v1/customers/{id}/balances")).await {
        Ok(b) => b,
        Err(failure) => return signed.failed(&failure),
    };
    let points = |minor: &Value| i18n::points(minor.as_i64().unwrap_or(0), places, lang);
    let balances: Vec<Balance> = balances
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| Balance {
            balance: points(&b["balance_minor"]),
            held: points(&b["held_minor"]),
            spendable: points(&b["spendable_minor"]),
        })
        .collect();
    let current = balances_minor(signed, id).await;
    let mut uri = format!("/v1/operations?customer_id={id}&limit={PAGE}");
    if let Some(cursor) = query.cursor {
        uri.push_str(&format!("&cursor={cursor}"));
    }
    let operations = match signed.get(&uri).await {
        Ok(page) => page,
        Err(failure) => return signed.failed(&failure),
    };
    let items = operations["items"].as_array().cloned().unwrap_or_default();
    let kinds = reversed_kinds(signed, &items).await;
    let mut running = if query.cursor.is_some() {
        query.after
    } else {
        current
    };
    let mut history = Vec::new();
    for op in &items {
        let kind_text = op["kind"].as_str().unwrap_or_default();
        let kind = OperationKind::parse(kind_text);
        let amount = op["amount_minor"].as_i64().unwrap_or(0);
        let confirmed = op["status"] == "confirmed";
        let reversed_kind = op["reverses"].as_i64().and_then(|r| kinds.get(&r).copied());
        let change = kind.and_then(|k| customer_change(k, reversed_kind, amount));
        let shown = if confirmed { change } else { Some(0) };
        let after = running;
        running = match (running, shown) {
            (Some(balance), Some(change)) => Some(balance - change),
            _ => None,
        };
        let (change_text, change_class) = match change {
            Some(c) if c > 0 => (format!("+{}", i18n::number(c, places, lang)), "plus"),
            Some(c) if c < 0 => (i18n::number(c, places, lang), "minus"),
            _ => (i18n::number(amount, places, lang), ""),
        };
        let note = [op["reason"].as_str(), op["description"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
        history.push(HistoryRow {
            id: op["id"].as_i64().unwrap_or_default(),
            at: i18n::datetime(op["created_at"].as_i64().unwrap_or(0), &zone, lang),
            kind: i18n::text(lang, &format!("dash-kind-{kind_text}"), None),
            kind_class: match change {
                Some(c) if c > 0 => "earn",
                Some(c) if c < 0 => "spend",
                _ => "",
            },
            status: i18n::text(
                lang,
                &format!("dash-op-{}", op["status"].as_str().unwrap_or_default()),
                None,
            ),
            change: change_text,
            change_class: if confirmed { change_class } else { "pending" },
            running: after.map_or_else(String::new, |b| i18n::number(b, places, lang)),
            note,
        });
    }
    let history_next = operations["next_cursor"].as_i64().map(|cursor| {
        let after = running.map_or_else(String::new, |b| format!("&after={b}"));
        format!("/admin/customers/{id}?cursor={cursor}{after}#history")
    });
    let may_read_messages = signed.may("GET", "/v1/messages");
    let messages = if may_read_messages {
        let uri = format!("/v1/messages?customer={id}&limit={MESSAGES}");
        match signed.get(&uri).await {
            Ok(page) => page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| Sent {
                    at: i18n::datetime(m["created_at"].as_i64().unwrap_or(0), &zone, lang),
                    kind: m["kind"].as_str().unwrap_or_default().to_string(),
                    state: i18n::text(
                        lang,
                        &format!("dash-message-{}", m["state"].as_str().unwrap_or_default()),
                        None,
                    ),
                    text: m["subject"]
                        .as_str()
                        .or(m["body"].as_str())
                        .unwrap_or_default()
                        .chars()
                        .take(120)
                        .collect(),
                })
                .collect(),
            Err(failure) => return signed.failed(&failure),
        }
    } else {
        Vec::new()
    };
    let cards = match signed.get(&format!("/v1/cards?customer_id={id}")).await {
        Ok(list) => list
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| CardRow {
                number: c["number"].as_str().unwrap_or_default().to_string(),
                kind: c["kind"].as_str().unwrap_or_default().to_string(),
                state: c["state"].as_str().unwrap_or_default().to_string(),
            })
            .collect(),
        Err(failure) => return signed.failed(&failure),
    };
    let mut uri = format!("/v1/customers/{id}/lots?limit={LOTS}");
    if let Some(cursor) = query.lots {
        uri.push_str(&format!("&cursor={cursor}"));
    }
    let lots_page = match signed.get(&uri).await {
        Ok(page) => page,
        Err(failure) => return signed.failed(&failure),
    };
    let soon = chrono::Utc::now().timestamp_millis() + EXPIRES_SOON_MS;
    let lots = lots_page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|lot| {
            let expires_at = lot["expires_at"].as_i64();
            let mark = match expires_at {
                _ if lot["expired"] == true => Some(("expired", signed.t("dash-lot-expired"))),
                Some(at) if at <= soon => Some(("soon", signed.t("dash-lot-soon"))),
                _ => None,
            };
            LotRow {
                operation: lot["operation_id"].as_i64().unwrap_or_default(),
                earned: i18n::datetime(lot["earned_at"].as_i64().unwrap_or(0), &zone, lang),
                remaining: points(&lot["remaining_minor"]),
                amount: points(&lot["amount_minor"]),
                expires: expires_at.map_or_else(
                    || signed.t("dash-lot-never"),
                    |at| i18n::datetime(at, &zone, lang),
                ),
                mark,
            }
        })
        .collect();
    let lots_next = lots_page["next_cursor"]
        .as_i64()
        .map(|cursor| format!("/admin/customers/{id}?lots={cursor}#lots"));
    let identities = match signed.get(&format!("/v1/customers/{id}/identities")).await {
        Ok(list) => list
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| IdentityRow {
                network: signed.t(&format!(
                    "dash-network-{}",
                    i["network"].as_str().unwrap_or_default()
                )),
                user: i["network_user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                linked: i18n::datetime(i["linked_at"].as_i64().unwrap_or(0), &zone, lang),
            })
            .collect(),
        Err(failure) => return signed.failed(&failure),
    };
    let text = |name: &str| customer[name].as_str().unwrap_or_default().to_string();
    let state = text("state");
    let mut facts = vec![
        (signed.t("dash-customer-program"), program.name.clone()),
        (signed.t("dash-customer-member-no"), text("member_no")),
        (signed.t("dash-customer-phone"), text("phone")),
        (signed.t("dash-customer-email"), text("email")),
        (
            signed.t("dash-customer-since"),
            i18n::datetime(customer["created_at"].as_i64().unwrap_or(0), &zone, lang),
        ),
    ];
    if let Some(reason) = customer["blocked_reason"].as_str() {
        facts.push((signed.t("dash-customer-blocked-reason"), reason.to_string()));
    }
    facts.retain(|(_, value)| !value.is_empty());
    let name = text("name");
    let title = if name.is_empty() {
        i18n::text(
            lang,
            "dash-customer-title",
            Some(&i18n::args(&[("id", id.into())])),
        )
    } else {
        name
    };
    let open = !matches!(state.as_str(), "anonymised" | "merged");
    let view = CustomerPage {
        page: signed.chrome(title),
        who: signed.who(),
        id,
        facts,
        state_label: state_label(lang, &state),
        balances,
        history,
        history_next,
        messages,
        cards,
        lots,
        lots_next,
        identities,
        notice: query
            .done
            .filter(|d| DONE.contains(&d.as_str()))
            .map(|d| signed.t(&format!("dash-done-{d}"))),
        error,
        may_block: open && state != "blocked" && signed.may("POST", "/v1/customers/{id}/block"),
        may_unblock: state == "blocked" && signed.may("POST", "/v1/customers/{id}/unblock"),
        may_anonymise: state != "anonymised" && signed.may("POST", "/v1/customers/{id}/anonymise"),
        may_adjust: open && state != "blocked" && signed.may("POST", "/v1/operations"),
        may_read_messages,
        kinds: choices(lang, "dash-kind-", &["accrue", "withdraw"], "accrue"),
        state,
    };
    render(status, &view)
}

/// What the actions report back (`?done=`).
const DONE: &[&str] = &[
    "blocked",
    "unblocked",
    "anonymised",
    "accrued",
    "withdrawn",
    "pending",
];

/// The customer's balance now (the first currency's), for the running balance.
async fn balances_minor(signed: &SignedIn, id: i64) -> Option<i64> {
    let balances = signed
        .get(&format!("/v1/customers/{id}/balances"))
        .await
        .ok()?;
    balances.as_array()?.first()?["balance_minor"].as_i64()
}

/// The kinds of the operations the reversals among `items` reverse.
async fn reversed_kinds(signed: &SignedIn, items: &[Value]) -> HashMap<i64, OperationKind> {
    let mut kinds: HashMap<i64, OperationKind> = items
        .iter()
        .filter_map(|op| {
            Some((
                op["id"].as_i64()?,
                OperationKind::parse(op["kind"].as_str()?)?,
            ))
        })
        .collect();
    for op in items {
        let Some(original) = op["reverses"].as_i64() else {
            continue;
        };
        if kinds.contains_key(&original) {
            continue;
        }
        if let Ok(found) = signed.get(&format!("/v1/operations/{original}")).await {
            if let Some(kind) = found["kind"].as_str().and_then(OperationKind::parse) {
                kinds.insert(original, kind);
            }
        }
    }
    kinds
}

/// After an action: the customer's page saying what was done, or the refusal beside the forms.
async fn after(
    signed: &SignedIn,
    id: i64,
    answer: Result<super::ApiAnswer, super::ApiFailure>,
    done: &str,
) -> Response {
    match answer {
        Ok(_) => Redirect::to(&format!("/admin/customers/{id}?done={done}")).into_response(),
        Err(failure) if failure.status.is_client_error() && failure.status.as_u16() != 401 => {
            let status = failure.status;
            let message = match failure.status {
                StatusCode::FORBIDDEN => signed.t("dash-forbidden-text"),
                _ => failure.message,
            };
            show(signed, id, CustomerQuery::default(), Some(message), status).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

#[derive(Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    reason: String,
}

pub async fn block(Path(id): Path<i64>, posted: Posted<BlockForm>) -> Response {
    let signed = posted.signed;
    let body = json!({"reason": posted.form.reason.trim()});
    let answer = signed
        .api(
            Method::POST,
            &format!("/v1/customers/{id}/block"),
            Some(body),
        )
        .await;
    after(&signed, id, answer, "blocked").await
}

pub async fn unblock(Path(id): Path<i64>, posted: Posted<super::sign_in::Nothing>) -> Response {
    let signed = posted.signed;
    let answer = signed
        .api(Method::POST, &format!("/v1/customers/{id}/unblock"), None)
        .await;
    after(&signed, id, answer, "unblocked").await
}

#[derive(Template)]
#[template(path = "dashboard/anonymise.html")]
struct AnonymisePage {
    page: Chrome,
    who: Who,
    id: i64,
}

impl Page for AnonymisePage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The confirmation step before anonymising: what it does, and the button that does it.
pub async fn confirm_anonymise(signed: SignedIn, Path(id): Path<i64>) -> Response {
    if let Err(failure) = signed.get(&format!("/v1/customers/{id}")).await {
        return signed.failed(&failure);
    }
    let view = AnonymisePage {
        page: signed.chrome(signed.t("dash-anonymise-title")),
        who: signed.who(),
        id,
    };
    render(StatusCode::OK, &view)
}

pub async fn anonymise(Path(id): Path<i64>, posted: Posted<super::sign_in::Nothing>) -> Response {
    let signed = posted.signed;
    let answer = signed
        .api(Method::POST, &format!("/v1/customers/{id}/anonymise"), None)
        .await;
    after(&signed, id, answer, "anonymised").await
}

#[derive(Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

/// A manual accrual or withdrawal with its reason; answered 202 when it waits for approval.
pub async fn adjust(Path(id): Path<i64>, posted: Posted<AdjustForm>) -> Response {
    let signed = posted.signed;
    let form = posted.form;
    let kind = if form.kind == "withdraw" {
        "withdraw"
    } else {
        "accrue"
    };
    // The amount as the operator's language writes it; the API parses it exactly.
    let amount = crate::http::i18n::plain_number(&form.amount, signed.lang);
    let body = json!({
        "kind": kind,
        "customer_id": id,
        "amount": amount,
        "reason": form.reason,
    });
    let answer = signed.api(Method::POST, "/v1/operations", Some(body)).await;
    let done = match &answer {
        Ok(a) if a.status == StatusCode::ACCEPTED => "pending",
        _ if kind == "withdraw" => "withdrawn",
        _ => "accrued",
    };
    after(&signed, id, answer, done).await
}
