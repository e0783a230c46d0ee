//! The access log and request ids: every request gets an id (the client's `X-Request-Id` when it
//! is 1–64 characters of `[A-Za-z0-9-_.:]`, else a new UUIDv7), returned in the answer's
//! `X-Request-Id` and carried by every log line of the request (the `request` span); one log
//! line per request names its method, route (the protocol method, never the raw path, whose
//! ids and query may hold phones or codes), status, latency, client address and id. The same
//! pass records the request metrics.

use crate::http::ClientAddr;
use crate::observability;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::time::Instant;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
const MAX_REQUEST_ID: usize = 64;

/// `router` with request ids, the access log and the request metrics.
pub fn wrap(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log_request,
        ))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), NewRequestId))
        .layer(axum::middleware::map_request(drop_unfit_request_id))
}

/// Whether a client's request id is kept: short, and of characters safe in any log format.
fn fit_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A client's request id that is not fit is dropped, so a new one replaces it.
async fn drop_unfit_request_id(mut request: Request) -> Request {
    let mut ids = request.headers().get_all(&X_REQUEST_ID).iter();
    let fit = match (ids.next(), ids.next()) {
        (Some(one), None) => fit_request_id(one.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !fit {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

/// A UUIDv7: unique, and sorting by time.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().to_string();
        Some(RequestId::new(id.parse().ok()?))
    }
}

async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = observability::method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let client = ClientAddr::of_request(&request, &state.config.trusted_proxies);
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let response = next.run(request).instrument(span).await;
    let elapsed = started.elapsed();
    let route = observability::route_label(&response, matched.as_ref());
    let status = response.status().as_u16();
    observability::record_request(&route, method, status, elapsed);
    tracing::info!(
        target: "kopilka::access",
        request_id = %id,
        method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        client = %client,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::fit_request_id;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(fit_request_id(b"abc-123_x.y:z"));
        assert!(fit_request_id(&[b'a'; 64]));
        assert!(!fit_request_id(&[b'a'; 65]));
        assert!(!fit_request_id(b""));
        assert!(!fit_request_id(b"a b"));
        assert!(!fit_request_id(b"a\"}{"));
        assert!(!fit_request_id("id\u{e9}".as_bytes()));
    }
}
