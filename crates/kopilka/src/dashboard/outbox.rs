//! The outbox monitor: the queues with messages pending or dead (`GET /v1/messages/queues`:
//! per kind, purpose and callback URL), the messages of one state a page at a time with their
//! last error, one message with every attempt, and a dead message's resend
//! (`POST /v1/messages/{id}/resend`, which support may use).

use super::operations::{not_found, unreadable, MessageItem, MessagePage, MessageRow};
use super::{ApiFailure, Posted, SignedIn, Who};
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Messages on a page.
const PAGE: i64 = 50;
const STATES: &[&str] = &["dead", "pending", "delivered"];
const RESEND: &str = "/v1/messages/{id}/resend";

/// A queue as the API answers it.
#[derive(Debug, Deserialize)]
struct QueueItem {
    kind: String,
    purpose: Option<String>,
    url: Option<String>,
    pending: i64,
    dead: i64,
    oldest_pending_at: Option<i64>,
}

/// A queue as a row of the monitor.
pub struct QueueRow {
    pub kind: String,
    pub purpose: String,
    pub url: String,
    pub pending: i64,
    pub dead: i64,
    pub oldest: String,
}

impl QueueRow {
    fn of(queue: QueueItem, lang: Lang) -> QueueRow {
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

#[derive(Template)]
#[template(path = "dashboard/outbox.html")]
struct MonitorPage {
    page: Chrome,
    who: Who,
    queues: Vec<QueueRow>,
    states: Vec<StateLink>,
    state_label: String,
    messages: Vec<MessageRow>,
    /// Dead messages show a resend button (the role may resend).
    resend: bool,
    first: Option<String>,
    older: Option<String>,
}

impl Page for MonitorPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET /admin/outbox`
pub async fn monitor(signed: SignedIn, Query(listing): Query<Listing>) -> Response {
    let lang = signed.lang;
    let shown = STATES
        .iter()
        .copied()
        .find(|s| *s == listing.state.trim())
        .unwrap_or("dead");
    let before = listing.before.trim().parse::<i64>().ok();
    let cursor = before.map(|id| format!("&cursor={id}")).unwrap_or_default();
    let read = async {
        let queues: Vec<QueueItem> =
            serde_json::from_value(signed.get("/v1/messages/queues").await?).map_err(unreadable)?;
        let uri = format!("/v1/messages?state={shown}&limit={PAGE}{cursor}");
        let messages: MessagePage =
            serde_json::from_value(signed.get(&uri).await?).map_err(unreadable)?;
        Ok::<_, ApiFailure>((queues, messages))
    };
    let (queues, messages) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let page = MonitorPage {
        page: signed.chrome(signed.t("dash-outbox-title")),
        who: signed.who(),
        queues: queues.into_iter().map(|q| QueueRow::of(q, lang)).collect(),
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
            .items
            .iter()
            .map(|m| MessageRow::of(m, "UTC", lang))
            .collect(),
        resend: signed.may("POST", RESEND),
        first: before.map(|_| format!("/admin/outbox?state={shown}")),
        older: messages
            .next_cursor
            .map(|id| format!("/admin/outbox?state={shown}&before={id}")),
    };
    html::render(StatusCode::OK, &page)
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
struct MessageView {
    page: Chrome,
    who: Who,
    message: MessageRow,
    next_attempt: Option<String>,
    delivered: Option<String>,
    operation: Option<i64>,
    /// A callback's body (an SMS or an e-mail may hold a code: not shown).
    body: Option<String>,
    attempts: Vec<AttemptRow>,
    resend: bool,
    resent: bool,
}

impl Page for MessageView {
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
    signed: SignedIn,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let read = async {
        let json = signed.get(&format!("/v1/messages/{id}")).await?;
        serde_json::from_value::<MessageItem>(json).map_err(unreadable)
    };
    let message = match read.await {
        Ok(message) => message,
        Err(failure) => return signed.failed(&failure),
    };
    let lang = signed.lang;
    let time = |at: i64| i18n::datetime(at, "UTC", lang);
    let title = i18n::text(
        lang,
        "dash-message-title",
        Some(&i18n::args(&[("id", message.id.into())])),
    );
    let row = MessageRow::of(&message, "UTC", lang);
    let view = MessageView {
        page: signed.chrome(title),
        who: signed.who(),
        next_attempt: (message.state == "pending").then(|| time(message.next_attempt_at)),
        delivered: message.delivered_at.map(time),
        operation: message.operation_id,
        body: (message.kind == "callback").then(|| message.body.clone()),
        attempts: message
            .attempt_log
            .iter()
            .flatten()
            .map(|a| AttemptRow {
                when: time(a.at),
                outcome: i18n::text(lang, &format!("dash-attempt-{}", a.outcome), None),
                status_code: a.status_code,
                error: a.error.clone(),
                duration_ms: a.duration_ms,
            })
            .collect(),
        resend: row.dead && signed.may("POST", RESEND),
        resent: shown.resent.is_some(),
        message: row,
    };
    html::render(StatusCode::OK, &view)
}

/// The resend form: nothing but its form token.
#[derive(Debug, Deserialize)]
pub struct ResendForm {}

/// `POST /admin/outbox/{id}/resend`: the API's resend, then the message's page.
pub async fn resend(Path(id): Path<String>, posted: Posted<ResendForm>) -> Response {
    let signed = posted.signed;
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let resent = signed
        .api(Method::POST, &format!("/v1/messages/{id}/resend"), None)
        .await;
    match resent {
        Ok(_) => Redirect::to(&format!("/admin/outbox/{id}?resent=1")).into_response(),
        Err(failure) => signed.failed(&failure),
    }
}
