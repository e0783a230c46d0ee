//! The native JSON API under `/v1`, for administration and for kopilka's own tools.

mod customers;
mod merchants;
mod messages;
mod openapi;
mod operations;
mod programs;

use crate::error::{ApiError, ApiResult};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/programs", get(programs::list).post(programs::create))
        .route("/programs/{id}", get(programs::get).put(programs::update))
        .route("/merchants", get(merchants::list).post(merchants::create))
        .route(
            "/merchants/{id}",
            get(merchants::get).put(merchants::update),
        )
        .route(
            "/merchants/{id}/credentials",
            get(merchants::list_credentials).post(merchants::add_credential),
        )
        .route(
            "/merchants/{id}/webhook-secret",
            post(merchants::rotate_webhook_secret),
        )
        .route("/customers", get(customers::list).post(customers::create))
        .route("/customers/{id}", get(customers::get))
        .route(
            "/customers/{id}/pin",
            axum::routing::put(customers::set_pin),
        )
        .route("/customers/{id}/balances", get(customers::balances))
        .route(
            "/cards",
            get(customers::list_cards).post(customers::create_card),
        )
        .route("/cards/{id}", get(customers::get_card))
        .route(
            "/operations",
            get(operations::list).post(operations::create),
        )
        .route("/operations/{id}", get(operations::get))
        .route("/operations/{id}/confirm", post(operations::confirm))
        .route("/operations/{id}/void", post(operations::void))
        .route("/operations/{id}/reverse", post(operations::reverse))
        .route("/messages", get(messages::list))
        .route("/messages/{id}", get(messages::get))
        .route("/messages/{id}/attempts", get(messages::attempts))
        .route("/messages/{id}/resend", post(messages::resend))
        .route("/ledger/audit", get(operations::audit))
        .merge(crate::kupikupi::admin_routes())
        .route_layer(middleware::from_fn_with_state(state, require_admin));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}

pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(secrets::token_digest);
    match presented {
        Some(digest) if secrets::constant_time_eq(&digest, &state.admin_token_digest) => {
            next.run(request).await
        }
        _ => axum::response::IntoResponse::into_response(ApiError::unauthorized()),
    }
}

/// A JSON body whose errors name the field at fault (`customer_id: invalid type…`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "body_rejected", e.body_text()))?;
        parse_json_object(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the field at fault in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        // "." is the document itself; "?" where the parser failed before reaching a field.
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(field, e.inner().to_string())
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    Ok(value)
}

/// Parses a request body that must be a JSON object: serde would otherwise also take a
/// struct's fields positionally from an array (`[1]` as `{"amount": 1}`).
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("body", "expected a JSON object"));
    }
    parse_json(bytes)
}

/// An amount as the client wrote it, a JSON number (76.5) or string ("76.50"); parsed exactly
/// once the currency's decimals are known, never through a float.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(value_type = String, example = "211.25")]
pub struct DecimalInput(pub String);

impl<'de> Deserialize<'de> for DecimalInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            return Ok(DecimalInput(inner.to_string()));
        }
        if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Ok(DecimalInput(text.to_string()));
        }
        Err(serde::de::Error::custom(
            "expected a decimal number or a string holding one",
        ))
    }
}

impl DecimalInput {
    pub fn parse_positive(&self, field: &str, decimals: u8) -> ApiResult<kopilka_domain::Amount> {
        let amount = kopilka_domain::money::parse_decimal(&self.0, decimals)
            .map_err(|e| ApiError::invalid(field, format!("{e}")))?;
        if amount.0 <= 0 {
            return Err(ApiError::invalid(field, "must be greater than zero"));
        }
        Ok(amount)
    }
}

/// Keyset paging: `cursor` is the id to continue below, `limit` 1–500 (default 50).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Paging {
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

impl Paging {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(l) if (1..=500).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
        }
    }
}

/// A page of results, newest first; pass `next_cursor` as `cursor` for the next one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageOf<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

impl<T: Serialize> PageOf<T> {
    pub fn new(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> PageOf<T> {
        let next_cursor = if items.len() as i64 == limit {
            items.last().map(&id)
        } else {
            None
        };
        PageOf { items, next_cursor }
    }
}

/// Query strings whose errors are JSON errors naming the parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|e| ApiError::invalid(e.path().to_string(), e.inner().to_string()))
    }
}

/// Path ids that are not numbers are a 404, not a 400 with a text body.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("resource"))?;
        raw.parse::<i64>()
            .map(Id)
            .map_err(|_| ApiError::not_found("resource"))
    }
}
