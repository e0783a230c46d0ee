//! The outbox monitor: the queues with messages pending or dead (per kind, purpose and
//! callback URL), the messages of one state a page at a time with their last error, one
//! message with every attempt, and a dead message's resend (`POST /v1/messages/{id}/resend`'s
//! rule: support may resend).

use super::operations::MessageRow;
use super::Operator;
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n::{self, Lang};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::phone;
use kopilka_store::dashboard::OutboxQueue;
use kopilka_store::model::{Message, MessageAttempt};
use kopilka_store::outbox::{MessageFilter, MessageKind};
use serde::Deserialize;

/// Messages on a page.
const PAGE: i64 = 50;
/// Queues shown, the deepest first.
const QUEUES: i64 = 100;
const STATES: &[&str] = &["dead", "pending", "delivered"];
const RESEND_ROUTE: &str = "/v1/messages/{id}/resend";

/// A queue as a row of the monitor.
pub struct QueueRow {
    pub kind: String,
    pub purpose: String,
    pub url: String,
    pub pending: i64,
    pub dead: i64,
    pub oldest: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Listing {
    #[serde(default)]
    state: String,
    #[serde(default)]
    before: String,
}

/// A state to list, as a link.
pub struct StateLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// A message of the listing, and whether it may be resent from here.
pub struct Listed {
    pub row: MessageRow,
    pub recipient: String,
    pub resend: bool,
}

#[derive(Template)]
#[template(path = "dashboard/outbox.html")]
struct MonitorPage {
    page: Chrome,
    queues: Vec<QueueRow>,
    states: Vec<StateLink>,
    state_label: String,
    messages: Vec<Listed>,
    first: Option<String>,
    older: Option<String>,
}

impl Page for MonitorPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// Where a message goes, as the dashboard shows it: a phone masked, others as they are.
fn recipient(message: &Message) -> String {
    match message.kind {
        MessageKind::Sms => phone::mask(&message.recipient),
        _ => message.recipient.clone(),
    }
}

/// `GET /admin/outbox`
pub async fn monitor(
    State(state): State<AppState>,
    operator: Operator,
    Query(listing): Query<Listing>,
) -> Response {
    let lang = operator.lang;
    let shown = STATES
        .iter()
        .copied()
        .find(|s| *s == listing.state.trim())
        .unwrap_or("dead");
    let before = listing.before.trim().parse::<i64>().ok();
    let filter = MessageFilter {
        state: Some(shown.to_string()),
        before_id: before,
        limit: PAGE,
        ..MessageFilter::default()
    };
    let read = state
        .store
        .read(move |tx| {
            Box::pin(
                async move { Ok((tx.outbox_queues(QUEUES).await?, tx.messages(&filter).await?)) },
            )
        })
        .await;
    let (queues, messages) = match read {
        Ok(read) => read,
        Err(e) => return operator.failed(e),
    };
    let older = match messages.last() {
        Some(last) if messages.len() as i64 == PAGE => {
            Some(format!("/admin/outbox?state={shown}&before={}", last.id))
        }
        _ => None,
    };
    let may_resend = operator.may("POST", RESEND_ROUTE);
    let page = MonitorPage {
        page: operator.chrome("/admin/outbox", "dash-outbox-title"),
        queues: queues.into_iter().map(|q| queue_row(q, lang)).collect(),
        states: STATES
            .iter()
            .map(|s| StateLink {
                label: i18n::text(lang, &format!("dash-messages-{s}"), None),
                href: format!("/admin/outbox?state={s}"),
                current: *s == shown,
            })
            .collect(),
        state_label: i18n::text(lang, &format!("dash-messages-{shown}"), None),
        messages: messages
            .into_iter()
            .map(|m| Listed {
                recipient: recipient(&m),
                resend: may_resend && m.state.as_str() == "dead",
                row: MessageRow::of(m, "UTC", lang),
            })
            .collect(),
        first: before.map(|_| format!("/admin/outbox?state={shown}")),
        older,
    };
    html::render(StatusCode::OK, &page)
}

fn queue_row(queue: OutboxQueue, lang: Lang) -> QueueRow {
    QueueRow {
        purpose: queue.purpose.unwrap_or_default(),
        url: queue.url.unwrap_or_default(),
        pending: queue.pending,
        dead: queue.dead,
        oldest: queue
            .oldest_pending_at
            .map(|at| i18n::datetime(at, "UTC", lang))
            .unwrap_or_default(),
        kind: queue.kind,
    }
}

/// An attempt of a message's page.
pub struct AttemptRow {
    pub when: String,
    pub outcome: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
struct MessagePage {
    page: Chrome,
    message: MessageRow,
    recipient: String,
    schedule: String,
    next_attempt: Option<String>,
    delivered: Option<String>,
    operation: Option<i64>,
    customer: Option<i64>,
    /// A callback's body (SMS and e-mail bodies may hold codes: not shown).
    body: Option<String>,
    attempts: Vec<AttemptRow>,
    resend: bool,
    resent: bool,
}

impl Page for MessagePage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    #[serde(default)]
    resent: Option<String>,
}

/// `GET /admin/outbox/{id}`
pub async fn message(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return operator.not_found();
    };
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(message) = tx.message(id).await? else {
                    return Ok(None);
                };
                Ok(Some((message, tx.message_attempts(id).await?)))
            })
        })
        .await;
    let (message, attempts): (Message, Vec<MessageAttempt>) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return operator.not_found(),
        Err(e) => return operator.failed(e),
    };
    let lang = operator.lang;
    let time = |at: i64| i18n::datetime(at, "UTC", lang);
    let pending = message.state.as_str() == "pending";
    let page = MessagePage {
        page: operator.chrome_with(
            "/admin/outbox",
            &i18n::text(
                lang,
                "dash-message-title",
                Some(&i18n::args(&[("id", message.id.into())])),
            ),
        ),
        recipient: recipient(&message),
        schedule: message.schedule.clone(),
        next_attempt: pending.then(|| time(message.next_attempt_at)),
        delivered: message.delivered_at.map(time),
        operation: message.operation_id.map(|id| id.0),
        customer: message.customer_id.map(|id| id.0),
        body: (message.kind == MessageKind::Callback).then(|| message.body.clone()),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptRow {
                when: time(a.at),
                outcome: i18n::text(lang, &format!("dash-attempt-{}", a.outcome.as_str()), None),
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
        resend: operator.may("POST", RESEND_ROUTE) && message.state.as_str() == "dead",
        resent: shown.resent.is_some(),
        message: MessageRow::of(message, "UTC", lang),
    };
    html::render(StatusCode::OK, &page)
}

/// `POST /admin/outbox/{id}/resend`: a dead message back in the queue, as the API's resend;
/// back to the message's page.
pub async fn resend(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Response {
    if !operator.may("POST", RESEND_ROUTE) {
        return operator.forbidden();
    }
    let Ok(id) = id.parse::<i64>() else {
        return operator.not_found();
    };
    let requeued = state
        .store
        .write(move |tx| Box::pin(async move { tx.resend_message(id).await }))
        .await;
    let answer = match requeued {
        Ok(true) => Redirect::to(&format!("/admin/outbox/{id}?resent=1")).into_response(),
        // Not dead (resent already, or delivered): its page shows where it stands.
        Ok(false) => Redirect::to(&format!("/admin/outbox/{id}")).into_response(),
        Err(e) => return operator.failed(e),
    };
    operator
        .audited(
            &state,
            "POST",
            "/admin/outbox/{id}/resend",
            Some(("messages", id.to_string())),
            answer,
        )
        .await
}
