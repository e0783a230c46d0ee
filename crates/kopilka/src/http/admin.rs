//! The admin token check every admin route (native `/v1` and the protocols' admin routes) uses,
//! before anything else.

use super::error::ApiError;
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The admin bearer token of the request, checked in constant time.
fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
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

/// Admin routes as every surface mounts them: the token checked first (before any extractor
/// reads the body), then the edge in the native error format.
pub fn admin_routes(routes: Router<AppState>, state: AppState) -> Router<AppState> {
    routes
        .layer(axum::middleware::from_fn_with_state(
            super::edge::Edge::new(super::error::native_refusal, super::edge::JSON_BODY_LIMIT),
            super::edge::guard,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}
