//! Extractors whose rejections are the native API's JSON errors, naming the field at fault.

use super::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use serde::Deserialize;

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
