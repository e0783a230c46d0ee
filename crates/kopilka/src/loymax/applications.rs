//! Partners' OAuth applications under the admin API (`/v1/loymax/applications`): registered,
//! listed, given a new secret, disabled. An application is a merchant's credential of the
//! protocol `loymax` (client_id the login, the secret hashed), shown once when made.

use super::auth::PROTOCOL;
use crate::http::{ApiError, ApiResult, ErrorBody, JsonBody, QueryParams};
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::MerchantId;
use kopilka_store::model::Credential;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub merchant_id: i64,
    /// Generated when absent.
    pub client_id: Option<String>,
    /// Generated when absent; returned once.
    pub client_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub client_id: String,
    /// Only in the answer that created it or gave it a new secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub merchant_id: i64,
    pub program_id: i64,
    pub created_at: i64,
    /// When it was disabled: the token endpoint no longer knows it and its tokens ended.
    pub disabled_at: Option<i64>,
}

impl ApplicationView {
    fn of(credential: Credential, program_id: i64) -> ApplicationView {
        ApplicationView {
            client_id: credential.login,
            client_secret: None,
            merchant_id: credential.merchant_id.0,
            program_id,
            created_at: credential.created_at,
            disabled_at: credential.disabled_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplicationQuery {
    /// Only this merchant's applications.
    merchant_id: Option<i64>,
    /// Only the applications of this program's merchants.
    program_id: Option<i64>,
}

/// The applications, oldest first, of a merchant or a program when asked.
#[utoipa::path(get, path = "/v1/loymax/applications", params(ApplicationQuery), responses((status = 200, body = [ApplicationView])))]
pub async fn list_applications(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ApplicationQuery>,
) -> ApiResult<Json<Vec<ApplicationView>>> {
    let (credentials, merchants) = state
        .store
        .read(|tx| {
            Box::pin(async move {
                Ok((
                    tx.credentials_for(PROTOCOL).await?,
                    tx.merchants(None).await?,
                ))
            })
        })
        .await?;
    let program_of: HashMap<i64, i64> = merchants
        .into_iter()
        .map(|m| (m.id.0, m.program_id.0))
        .collect();
    let listed = credentials
        .into_iter()
        .filter_map(|c| {
            let program_id = *program_of.get(&c.merchant_id.0)?;
            let wanted = query.merchant_id.is_none_or(|m| m == c.merchant_id.0)
                && query.program_id.is_none_or(|p| p == program_id);
            wanted.then(|| ApplicationView::of(c, program_id))
        })
        .collect();
    Ok(Json(listed))
}

/// Registers a partner's OAuth application.
#[utoipa::path(post, path = "/v1/loymax/applications", request_body = NewApplication, responses((status = 201, body = ApplicationView), (status = 422, body = ErrorBody)))]
pub async fn create_application(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewApplication>,
) -> ApiResult<(StatusCode, Json<ApplicationView>)> {
    let client_id = input.client_id.unwrap_or_else(|| secrets::random_token(8));
    if client_id.is_empty() || client_id.len() > 100 {
        return Err(ApiError::invalid("client_id", "1 to 100 characters"));
    }
    let secret = input
        .client_secret
        .unwrap_or_else(|| secrets::random_token(16));
    if secret.len() < 8 {
        return Err(ApiError::invalid("client_secret", "at least 8 characters"));
    }
    let hash = secrets::hash_secret_async(secret.clone()).await;
    let merchant_id = MerchantId(input.merchant_id);
    let created = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(merchant) = tx.merchant(merchant_id).await? else {
                    return Ok(None);
                };
                if tx.credential(PROTOCOL, &client_id).await?.is_some() {
                    return Err(kopilka_domain::DomainError::AlreadyExists {
                        entity: "application",
                    }
                    .into());
                }
                let credential = tx
                    .add_credential(
                        merchant_id,
                        PROTOCOL,
                        &client_id,
                        Some(&hash),
                        None,
                        &json!({}),
                    )
                    .await?;
                Ok(Some(ApplicationView::of(credential, merchant.program_id.0)))
            })
        })
        .await?;
    let mut view = created.ok_or_else(|| ApiError::invalid("merchant_id", "no such merchant"))?;
    view.client_secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// The application `client_id` names, with its merchant's program.
async fn find(state: &AppState, client_id: String) -> ApiResult<ApplicationView> {
    state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(credential) = tx.credential(PROTOCOL, &client_id).await? else {
                    return Ok(None);
                };
                let merchant = tx.merchant(credential.merchant_id).await?;
                Ok(merchant.map(|m| ApplicationView::of(credential, m.program_id.0)))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("application"))
}

/// A new secret for the application; the old one stops working at once (tokens already handed
/// out keep their lifetimes).
#[utoipa::path(post, path = "/v1/loymax/applications/{client_id}/secret", params(("client_id" = String, Path, description = "The application's client_id")), responses((status = 200, description = "The application with its new secret, shown this once", body = ApplicationView), (status = 404, body = ErrorBody), (status = 409, description = "The application is disabled", body = ErrorBody)))]
pub async fn rotate_application_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ApiResult<Json<ApplicationView>> {
    let mut view = find(&state, client_id.clone()).await?;
    let secret = secrets::random_token(16);
    let hash = secrets::hash_secret_async(secret.clone()).await;
    let changed = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                match tx.credential(PROTOCOL, &client_id).await? {
                    Some(c) => tx.set_credential_secret_hash(c.id, &hash).await,
                    None => Ok(false),
                }
            })
        })
        .await?;
    if !changed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "disabled",
            "the application is disabled",
        ));
    }
    view.client_secret = Some(secret);
    Ok(Json(view))
}

/// Disables the application for good: the token endpoint no longer knows it and every token it
/// was given ends now.
#[utoipa::path(post, path = "/v1/loymax/applications/{client_id}/disable", params(("client_id" = String, Path, description = "The application's client_id")), responses((status = 200, description = "The application, disabled", body = ApplicationView), (status = 404, body = ErrorBody)))]
pub async fn disable_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ApiResult<Json<ApplicationView>> {
    let lookup = client_id.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if let Some(c) = tx.credential(PROTOCOL, &lookup).await? {
                    tx.disable_credential(c.id).await?;
                    let now = tx.now();
                    tx.loymax_end_application_tokens(c.id, now).await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(Json(find(&state, client_id).await?))
}
