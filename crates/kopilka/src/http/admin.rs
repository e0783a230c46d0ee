//! The admin token check every admin route (native `/v1` and the protocols' admin routes) uses.

use super::error::ApiError;
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The admin bearer token of the request, checked in constant time.
pub fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(secrets::token_digest);
    match presented {
        Some(digest) if secrets::constant_time_eq(&digest, &state.admin_token_digest) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Middleware: routes behind it answer 401 without the admin token.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match check_admin(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
