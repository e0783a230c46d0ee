use crate::http::{ApiError, ApiResult};
use crate::http::{Id, JsonBody, PageOf, QueryParams};
use crate::outbox::MessageView;
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::{CustomerId, OperationId, ProgramId};
use kopilka_domain::message::{self, Language};
use kopilka_domain::phone::Phone;
use kopilka_store::model::MessageAttempt;
use kopilka_store::outbox::MessageFilter;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// A phone in any common format, an e-mail address or a URL.
    pub recipient: Option<String>,
    /// `pending`, `delivered` or `dead`.
    pub state: Option<String>,
    /// `sms`, `email` or `callback`.
    pub kind: Option<String>,
    pub operation: Option<i64>,
    pub customer: Option<i64>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

/// Phones are stored as E.164 digits; e-mails and URLs as given.
fn normalize_recipient(recipient: &str) -> String {
    if recipient.contains('@') || recipient.contains("://") {
        return recipient.trim().to_string();
    }
    Phone::parse(recipient)
        .map(|p| p.digits().to_string())
        .unwrap_or_else(|_| recipient.trim().to_string())
}

#[utoipa::path(get, path = "/v1/messages", params(MessageQuery), responses((status = 200, body = PageOf<MessageView>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<MessageQuery>,
) -> ApiResult<Json<PageOf<MessageView>>> {
    let limit = crate::http::Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    if query
        .state
        .as_deref()
        .is_some_and(|s| !matches!(s, "pending" | "delivered" | "dead"))
    {
        return Err(ApiError::invalid("state", "pending, delivered or dead"));
    }
    if query
        .kind
        .as_deref()
        .is_some_and(|k| !matches!(k, "sms" | "email" | "callback"))
    {
        return Err(ApiError::invalid("kind", "sms, email or callback"));
    }
    let filter = MessageFilter {
        recipient: query.recipient.as_deref().map(normalize_recipient),
        state: query.state,
        kind: query.kind,
        operation_id: query.operation.map(OperationId),
        customer_id: query.customer.map(CustomerId),
        before_id: query.cursor,
        limit,
    };
    let messages = state
        .store
        .read(move |tx| Box::pin(async move { tx.messages(&filter).await }))
        .await?;
    let views: Vec<MessageView> = messages.into_iter().map(Into::into).collect();
    Ok(Json(PageOf::new(views, limit, |m| m.id)))
}

/// A queue of the outbox: the messages pending or dead for one destination.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueView {
    /// `sms`, `email` or `callback`.
    pub kind: String,
    /// What the messages are for (`native.webhook`); null for plain ones.
    pub purpose: Option<String>,
    /// A callback's URL; SMS and e-mail are one queue per kind (never per recipient).
    pub url: Option<String>,
    pub pending: i64,
    pub dead: i64,
    /// When the oldest pending message was created (unix ms).
    pub oldest_pending_at: Option<i64>,
}

/// The outbox's queues with a message pending or dead, the deepest first (at most 100).
#[utoipa::path(get, path = "/v1/messages/queues", responses((status = 200, body = [QueueView])))]
pub async fn queues(State(state): State<AppState>) -> ApiResult<Json<Vec<QueueView>>> {
    let queues = state
        .store
        .read(|tx| Box::pin(async move { tx.outbox_queues(100).await }))
        .await?;
    Ok(Json(
        queues
            .into_iter()
            .map(|q| QueueView {
                kind: q.kind,
                purpose: q.purpose,
                url: q.url,
                pending: q.pending,
                dead: q.dead,
                oldest_pending_at: q.oldest_pending_at,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/messages/{id}", responses((status = 200, body = MessageView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<MessageView>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let m = tx.message(id).await?;
                let attempts = tx.message_attempts(id).await?;
                Ok(m.map(|m| (m, attempts)))
            })
        })
        .await?;
    let (message, attempts) = found.ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(MessageView::with_attempts(message, attempts)))
}

#[utoipa::path(get, path = "/v1/messages/{id}/attempts", responses((status = 200, body = [Object]), (status = 404, body = crate::http::ErrorBody)))]
pub async fn attempts(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<MessageAttempt>>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                if tx.message(id).await?.is_none() {
                    return Ok(None);
                }
                tx.message_attempts(id).await.map(Some)
            })
        })
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("message"))
}

#[utoipa::path(post, path = "/v1/messages/{id}/resend", responses((status = 202), (status = 409, body = crate::http::ErrorBody)))]
pub async fn resend(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    let requeued = state
        .store
        .write(move |tx| Box::pin(async move { tx.resend_message(id).await }))
        .await?;
    if requeued {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            "only a dead message can be re-sent",
        ))
    }
}

/// A message template's text in one language.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateText {
    /// `ru` or `en` (customer messages in any other language are Russian).
    pub language: String,
    pub built_in: String,
    /// The program's own text (`settings.templates`), when it has one.
    pub custom: Option<String>,
    /// The text sent, with example values in its placeholders.
    pub preview: String,
}

/// A message template as a program sends it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub name: String,
    pub placeholders: Vec<String>,
    pub texts: Vec<TemplateText>,
}

/// The program's customer message templates: kopilka's texts, the program's overrides
/// (`settings.templates`, changed with `PUT /v1/programs/{id}/templates/{name}/{language}`
/// or `PUT /v1/programs/{id}`) and a preview of each.
#[utoipa::path(get, path = "/v1/programs/{id}/templates", responses((status = 200, body = [TemplateView]), (status = 404, body = crate::http::ErrorBody)))]
pub async fn templates(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<TemplateView>>> {
    let program = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(id)).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    Ok(Json(
        message::TEMPLATES
            .iter()
            .map(|t| template_view(t, &program.settings))
            .collect(),
    ))
}

/// A template as a program with `settings` sends it.
fn template_view(t: &message::Template, settings: &serde_json::Value) -> TemplateView {
    TemplateView {
        name: t.name.to_string(),
        placeholders: t.placeholders.iter().map(|p| p.to_string()).collect(),
        texts: [(Language::Ru, t.ru), (Language::En, t.en)]
            .into_iter()
            .map(|(language, built_in)| TemplateText {
                language: language.code().to_string(),
                built_in: built_in.to_string(),
                custom: settings["templates"][t.name][language.code()]
                    .as_str()
                    .map(str::to_string),
                preview: message::preview(t.name, language, settings).unwrap_or_default(),
            })
            .collect(),
    }
}

/// The program's own text of a template in one language.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateOverride {
    /// Only the template's placeholders (`{shop}`); other braces are text.
    pub text: String,
}

/// The longest text a program may give a template.
const OVERRIDE_MAX_CHARS: usize = 2000;

/// Sets the program's own text of template `name` in `language` (`ru` or `en`): the next
/// message of that template in that language is written with it. A placeholder the template
/// does not have is refused on `text`.
#[utoipa::path(put, path = "/v1/programs/{id}/templates/{name}/{language}", request_body = TemplateOverride, responses((status = 200, body = TemplateView), (status = 404, body = crate::http::ErrorBody), (status = 422, body = crate::http::ErrorBody)))]
pub async fn set_template(
    State(state): State<AppState>,
    path: Result<Path<(i64, String, String)>, PathRejection>,
    JsonBody(input): JsonBody<TemplateOverride>,
) -> ApiResult<Json<TemplateView>> {
    let (id, template, language) = template_path(path)?;
    let text = input.text.trim().to_string();
    if text.is_empty() || text.chars().count() > OVERRIDE_MAX_CHARS {
        return Err(ApiError::invalid("text", "must be 1 to 2000 characters"));
    }
    message::check_text(template, language, &text)
        .map_err(|e| ApiError::invalid("text", e.to_string()))?;
    change_override(&state, id, template, language, Some(text)).await
}

/// Removes the program's own text of template `name` in `language`: kopilka's is sent again.
#[utoipa::path(delete, path = "/v1/programs/{id}/templates/{name}/{language}", responses((status = 200, body = TemplateView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn reset_template(
    State(state): State<AppState>,
    path: Result<Path<(i64, String, String)>, PathRejection>,
) -> ApiResult<Json<TemplateView>> {
    let (id, template, language) = template_path(path)?;
    change_override(&state, id, template, language, None).await
}

/// The program, the known template and the language a template's path names; 404 otherwise.
fn template_path(
    path: Result<Path<(i64, String, String)>, PathRejection>,
) -> ApiResult<(i64, &'static message::Template, Language)> {
    let Ok(Path((id, name, language))) = path else {
        return Err(ApiError::not_found("template"));
    };
    let template = message::template(&name).ok_or_else(|| ApiError::not_found("template"))?;
    let language = match language.as_str() {
        "ru" => Language::Ru,
        "en" => Language::En,
        _ => return Err(ApiError::not_found("language")),
    };
    Ok((id, template, language))
}

/// The program's settings with its text of `template` in `language` set (or removed, and the
/// template's entry with it when no language is left), written in one job.
async fn change_override(
    state: &AppState,
    id: i64,
    template: &'static message::Template,
    language: Language,
    text: Option<String>,
) -> ApiResult<Json<TemplateView>> {
    let program = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let program = tx
                    .program(ProgramId(id))
                    .await?
                    .ok_or_else(|| ApiError::not_found("program"))?;
                let mut settings = program.settings.clone();
                let templates = settings
                    .as_object_mut()
                    .ok_or_else(|| ApiError::invalid("settings", "must be an object"))?
                    .entry("templates")
                    .or_insert_with(|| serde_json::json!({}));
                let texts = templates
                    .as_object_mut()
                    .ok_or_else(|| ApiError::invalid("settings.templates", "must be an object"))?
                    .entry(template.name)
                    .or_insert_with(|| serde_json::json!({}));
                let texts = texts
                    .as_object_mut()
                    .ok_or_else(|| ApiError::invalid("settings.templates", "must be an object"))?;
                match text {
                    Some(text) => {
                        texts.insert(language.code().into(), text.into());
                    }
                    None => {
                        texts.remove(language.code());
                    }
                }
                if texts.is_empty() {
                    templates.as_object_mut().map(|t| t.remove(template.name));
                }
                let updated = tx
                    .update_program(ProgramId(id), &program.name, &program.rules, &settings)
                    .await?
                    .ok_or_else(|| ApiError::not_found("program"))?;
                Ok::<_, kopilka_store::JobError<ApiError>>(updated)
            })
        })
        .await?;
    Ok(Json(template_view(template, &program.settings)))
}
