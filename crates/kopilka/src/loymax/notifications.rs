//! The customer's notifications in the app (public API 1.2 `Notification`): written by the
//! program's administrator (`POST /v1/loymax/notifications`), listed newest first, counted
//! while unread, marked read one by one or all at once.

use super::auth::Session;
use super::wire::{date_time, ok, LmError, LmResult};
use crate::http::{ApiError, JsonBody};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::CustomerId;
use kopilka_store::loymax_app::LoymaxNotification;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The longest page a client may ask for.
const MAX_PAGE: i64 = 1000;

fn view(n: &LoymaxNotification) -> Value {
    json!({
        "id": n.id,
        "title": n.title,
        "body": n.body,
        "summary": n.summary,
        "creationDate": date_time(n.created_at),
        "isReaded": n.read_at.is_some(),
    })
}

/// `GET Notification?from=&count=`: a page, newest first (count 100 unless given).
pub async fn list(State(state): State<AppState>, session: Session, parts: Parts) -> LmResult {
    let query = super::wire::query(&parts);
    let number = |key: &str, default: i64| -> LmResult<i64> {
        match query.get(key).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| LmError::invalid(key, "Ожидается целое неотрицательное число")),
        }
    };
    let (from, count) = (number("from", 0)?, number("count", 100)?);
    if count > MAX_PAGE {
        return Err(LmError::invalid("count", "Не больше 1000"));
    }
    let id = session.customer.id;
    let page = state
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_notifications(id, from, count).await }))
        .await?;
    Ok(ok(page.iter().map(view).collect::<Vec<_>>()))
}

/// `GET Notification/Count`: `{unReadCount}`.
pub async fn count(State(state): State<AppState>, session: Session) -> LmResult {
    let id = session.customer.id;
    let unread = state
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_unread_notifications(id).await }))
        .await?;
    Ok(ok(json!({"unReadCount": unread})))
}

/// `POST Notification/Read`: every notification read; `data` is how many were unread.
pub async fn read_all(State(state): State<AppState>, session: Session) -> LmResult {
    let id = session.customer.id;
    let read = state
        .store
        .write(move |tx| Box::pin(async move { tx.loymax_read_all_notifications(id).await }))
        .await?;
    Ok(ok(read))
}

/// `POST Notification/{id}/Read`: that notification, read.
pub async fn read_one(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> LmResult {
    let not_found = || LmError::coded("NotificationNotFound", "Оповещение не найдено");
    let id = params
        .get("id")
        .and_then(|id| id.trim().parse::<i64>().ok());
    let id = id.ok_or_else(not_found)?;
    let customer = session.customer.id;
    let read = state
        .store
        .write(move |tx| Box::pin(async move { tx.loymax_read_notification(customer, id).await }))
        .await?;
    Ok(ok(view(&read.ok_or_else(not_found)?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    pub customer_id: i64,
    pub title: String,
    pub body: String,
    pub summary: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NotificationCreated {
    pub id: i64,
}

/// A notification for a customer, shown in the Loymax app.
#[utoipa::path(post, path = "/v1/loymax/notifications", request_body = NewNotification, responses((status = 201, body = NotificationCreated)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewNotification>,
) -> Result<(StatusCode, Json<NotificationCreated>), ApiError> {
    let long = |text: &str, max: usize| text.chars().count() > max;
    if input.title.trim().is_empty() || long(&input.title, 200) {
        return Err(ApiError::invalid("title", "1 to 200 characters"));
    }
    if input.body.trim().is_empty() || long(&input.body, 4000) {
        return Err(ApiError::invalid("body", "1 to 4000 characters"));
    }
    if input.summary.as_deref().is_some_and(|s| long(s, 500)) {
        return Err(ApiError::invalid("summary", "at most 500 characters"));
    }
    let customer = CustomerId(input.customer_id);
    let id = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if tx.customer(customer).await?.is_none() {
                    return Ok(None);
                }
                let summary = input.summary.as_deref();
                tx.loymax_add_notification(customer, &input.title, &input.body, summary)
                    .await
                    .map(Some)
            })
        })
        .await?;
    let id = id.ok_or_else(|| ApiError::invalid("customer_id", "no such customer"))?;
    Ok((StatusCode::CREATED, Json(NotificationCreated { id })))
}
