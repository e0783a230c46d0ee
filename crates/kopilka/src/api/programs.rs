use crate::http::operator::Principal;
use crate::http::{ApiError, ApiResult};
use crate::http::{Id, JsonBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kopilka_domain::ids::ProgramId;
use kopilka_domain::program::ProgramRules;
use kopilka_store::model::Program;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramInput {
    /// Short unique code ("demo").
    pub code: String,
    pub name: String,
    /// Earn rate, redeem cap, rounding, lifetime, time zone, language; defaults where absent.
    #[serde(default)]
    pub rules: Option<ProgramRules>,
    /// Protocol settings (registration steps, purchase rules…), kept as given; `point_value`
    /// (`{"money_minor": 1, "points_minor": 1}`) prices points for analytics' liability.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProgramView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub rules: ProgramRules,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: i64,
}

impl From<Program> for ProgramView {
    fn from(p: Program) -> Self {
        ProgramView {
            rules: p.rules.clone(),
            settings: p.settings.clone(),
            id: p.id.0,
            code: p.code,
            name: p.name,
            created_at: p.created_at,
        }
    }
}

/// The input's rules and settings (an empty object when absent), checked.
fn validate(input: &ProgramInput) -> ApiResult<(ProgramRules, serde_json::Value)> {
    if input.code.is_empty() || input.code.len() > 64 {
        return Err(ApiError::invalid("code", "must be 1 to 64 characters"));
    }
    if input.name.is_empty() || input.name.len() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    let rules = input.rules.clone().unwrap_or_default();
    rules.validate()?;
    if rules.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::invalid(
            "rules.time_zone",
            "not an IANA time zone (Europe/Kyiv)",
        ));
    }
    if let Some(settings) = &input.settings {
        if !settings.is_object() {
            return Err(ApiError::invalid("settings", "must be an object"));
        }
        kopilka_domain::message::validate_overrides(settings)
            .map_err(|e| ApiError::invalid("settings.templates", e.to_string()))?;
        kopilka_domain::loymax_purchase::ProcessingSettings::from_program(settings)
            .map_err(|e| ApiError::invalid("settings.loymax_processing", e))?;
        kopilka_domain::analytics::PointValue::from_settings(settings)?;
        kopilka_domain::operator::approval_threshold(settings, rules.decimals)?;
    }
    let settings = input
        .settings
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    Ok((rules, settings))
}

#[utoipa::path(get, path = "/v1/programs", responses((status = 200, body = [ProgramView])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> ApiResult<Json<Vec<ProgramView>>> {
    let programs = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    // The programs the operator may see (every one through the audit log's unguarded reads).
    let seen = |program: &Program| {
        principal
            .as_ref()
            .is_none_or(|Extension(p)| p.scope().covers(program.id.0))
    };
    Ok(Json(
        programs.into_iter().filter(seen).map(Into::into).collect(),
    ))
}

#[utoipa::path(post, path = "/v1/programs", request_body = ProgramInput, responses((status = 201, body = ProgramView), (status = 422, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<ProgramInput>,
) -> ApiResult<(StatusCode, Json<ProgramView>)> {
    let (rules, settings) = validate(&input)?;
    let program = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.create_program(&input.code, &input.name, &rules, &settings)
                    .await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(program.into())))
}

#[utoipa::path(get, path = "/v1/programs/{id}", responses((status = 200, body = ProgramView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<ProgramView>> {
    let program = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(id)).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    Ok(Json(program.into()))
}

#[utoipa::path(put, path = "/v1/programs/{id}", request_body = ProgramInput, responses((status = 200, body = ProgramView)))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<ProgramInput>,
) -> ApiResult<Json<ProgramView>> {
    let (rules, settings) = validate(&input)?;
    let program = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.update_program(ProgramId(id), &input.name, &rules, &settings)
                    .await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    Ok(Json(program.into()))
}
