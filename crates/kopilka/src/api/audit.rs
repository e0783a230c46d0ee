//! The audit log of admin actions (`GET /v1/audit`), newest first — docs/operators.md.

use crate::http::{instant_range, ApiResult, PageOf, Paging, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use kopilka_store::operators::{AuditEntry, AuditFilter};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Actions of this operator.
    pub operator_id: Option<i64>,
    /// `bootstrap` or `operator`.
    pub actor: Option<String>,
    /// The entity's kind as the route names it: `programs`, `kupikupi/platforms`…
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    /// At or after this instant (RFC 3339, `2026-12-01T00:00:00+02:00`).
    pub from: Option<String>,
    /// Before this instant (RFC 3339): `from` and `to` make a half-open range.
    pub to: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: i64,
    /// `bootstrap` (the admin token of `serve`) or `operator`.
    pub actor: String,
    pub operator_id: Option<i64>,
    pub token_id: Option<i64>,
    pub method: String,
    /// The route's template (`/v1/programs/{id}`).
    pub route: String,
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    /// The answer's HTTP status.
    pub status: i64,
    /// The entity as `GET` showed it before the change; secrets redacted.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The entity as `GET` showed it after the change; secrets redacted.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// The request's query and JSON body; secrets redacted.
    #[schema(value_type = Option<Object>)]
    pub request: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            id: e.id,
            at: e.at,
            actor: e.actor,
            operator_id: e.operator_id,
            token_id: e.token_id,
            method: e.method,
            route: e.route,
            entity_kind: e.entity_kind,
            entity_id: e.entity_id,
            status: e.status,
            before: e.before,
            after: e.after,
            request: e.request,
        }
    }
}

#[utoipa::path(get, path = "/v1/audit", params(AuditQuery), responses((status = 200, body = PageOf<AuditEntryView>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> ApiResult<Json<PageOf<AuditEntryView>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let (from, to) = instant_range(query.from.as_deref(), query.to.as_deref())?;
    let filter = AuditFilter {
        operator_id: query.operator_id,
        actor: query.actor,
        entity_kind: query.entity_kind,
        entity_id: query.entity_id,
        from,
        to,
        before_id: query.cursor,
        limit,
    };
    let entries = state
        .store
        .read(move |tx| Box::pin(async move { tx.audit_entries(&filter).await }))
        .await?;
    let views = entries.into_iter().map(AuditEntryView::from).collect();
    Ok(Json(PageOf::new(views, limit, |v: &AuditEntryView| v.id)))
}
