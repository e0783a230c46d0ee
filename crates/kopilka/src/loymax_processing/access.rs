//! STAND-IN for Loymax part 1 (envelope and user tokens), isolated here until part 1 is
//! merged: the `{data, result{…}}` envelope, and Bearer user tokens issued through the same
//! admin routes part 1 serves (`POST /v1/loymax/applications`,
//! `POST /v1/loymax/applications/{client_id}/tokens`). Replaced by `crate::loymax` on merge.

use super::purchases::{Answer, Caller, Invalid};
use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kopilka_domain::loymax_purchase::Code;
use serde::Deserialize;
use serde_json::{json, Value};

const APPLICATION: &str = "loymax";
const TOKEN: &str = "loymax_user_token";

fn envelope(
    status: StatusCode,
    data: Value,
    state: &str,
    http_code: u16,
    message: Option<String>,
    message_code: Option<&str>,
    validation_errors: Value,
) -> Response {
    let body = json!({
        "data": data,
        "result": {
            "state": state,
            "httpCode": http_code,
            "message": message,
            "messageCode": message_code,
            "validationErrors": validation_errors,
        }
    });
    (status, Json(body)).into_response()
}

/// `data: [item]`; a business refusal is `state: Error`, HTTP 200, `httpCode` 400.
pub fn respond(answer: Answer) -> Response {
    if answer.code == Code::Ok {
        return envelope(
            StatusCode::OK,
            json!([answer.item]),
            "Success",
            200,
            None,
            None,
            Value::Null,
        );
    }
    let message = answer.item["errorMessage"].as_str().map(str::to_string);
    envelope(
        StatusCode::OK,
        json!([answer.item]),
        "Error",
        400,
        message,
        Some(answer.code.as_str()),
        Value::Null,
    )
}

pub fn invalid(error: Invalid) -> Response {
    envelope(
        StatusCode::OK,
        Value::Null,
        "ValidationError",
        400,
        Some("Ошибка валидации".into()),
        None,
        json!([{"field": error.field, "errorMessages": [error.message]}]),
    )
}

pub fn unauthorized() -> Response {
    envelope(
        StatusCode::UNAUTHORIZED,
        Value::Null,
        "Error",
        401,
        Some("Требуется авторизация".into()),
        Some("Unauthorized"),
        Value::Null,
    )
}

pub fn fail(cause: &str) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(error_id = %id, "loymax: {cause}");
    envelope(
        StatusCode::OK,
        Value::Null,
        "Fail",
        500,
        Some(format!("Идентификатор ошибки: {id}")),
        None,
        Value::Null,
    )
}

/// The holder of the request's Bearer user token and its application's merchant.
pub struct Holder(pub Caller);

pub struct Rejected(Response);

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        self.0
    }
}

impl FromRequestParts<AppState> for Holder {
    type Rejection = Rejected;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
            .map(|(_, t)| t.trim().to_string())
            .ok_or_else(|| Rejected(unauthorized()))?;
        let digest = secrets::token_digest(&token);
        let found = state
            .store
            .read(move |tx| {
                Box::pin(async move {
                    let Some(credential) = tx.credential(TOKEN, &digest).await? else {
                        return Ok(None);
                    };
                    let meta: Value = serde_json::from_str(&credential.meta).unwrap_or_default();
                    let Some(customer) = meta["customer_id"].as_i64() else {
                        return Ok(None);
                    };
                    let Some(customer) = tx.customer(customer).await? else {
                        return Ok(None);
                    };
                    let program = tx.program(customer.program_id).await?;
                    Ok(program.map(|program| Caller {
                        program,
                        merchant_id: credential.merchant_id,
                        customer_id: customer.id,
                    }))
                })
            })
            .await
            .map_err(|e| Rejected(fail(&e.to_string())))?;
        let caller = found.ok_or_else(|| Rejected(unauthorized()))?;
        Ok(Holder(caller))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub merchant_id: i64,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// `POST /v1/loymax/applications` (admin): a partner's OAuth application.
pub async fn create_application(
    State(state): State<AppState>,
    crate::api::JsonBody(input): crate::api::JsonBody<NewApplication>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let client_id = input.client_id.unwrap_or_else(|| secrets::random_token(8));
    let secret = input
        .client_secret
        .unwrap_or_else(|| secrets::random_token(16));
    let hash = secrets::hash_secret_async(secret.clone()).await;
    let (merchant_id, id) = (input.merchant_id, client_id.clone());
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.add_credential(merchant_id, APPLICATION, &id, Some(&hash), None, &json!({}))
                    .await
            })
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"client_id": client_id, "client_secret": secret, "merchant_id": merchant_id})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTokenRequest {
    pub customer_id: i64,
}

/// `POST /v1/loymax/applications/{client_id}/tokens` (admin): a customer's token for an
/// application.
pub async fn issue_user_token(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    crate::api::JsonBody(input): crate::api::JsonBody<UserTokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let token = secrets::random_token(24);
    let digest = secrets::token_digest(&token);
    let found = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(application) = tx.credential(APPLICATION, &client_id).await? else {
                    return Ok(false);
                };
                tx.add_credential(
                    application.merchant_id,
                    TOKEN,
                    &digest,
                    None,
                    None,
                    &json!({"customer_id": input.customer_id}),
                )
                .await?;
                Ok(true)
            })
        })
        .await?;
    if !found {
        return Err(ApiError::not_found("application"));
    }
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"access_token": token, "token_type": "bearer", "expires_in": 86_400, "refresh_token": Value::Null}),
        ),
    ))
}
