//! The native JSON API under `/v1`, for administration and for kopilka's own tools.

mod customers;
mod merchants;
mod messages;
mod offers;
mod openapi;

pub use openapi::document;
mod operations;
mod programs;

use crate::http::{admin_routes, ApiError};
use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// The native API; `document` is the OpenAPI document served at `/openapi.json` (the server
/// merges in the protocols' admin routes that live under `/v1`).
pub fn router(state: AppState, document: utoipa::openapi::OpenApi) -> Router<AppState> {
    let protected = Router::new()
        .route("/programs", get(programs::list).post(programs::create))
        .route("/programs/{id}", get(programs::get).put(programs::update))
        .route(
            "/programs/{id}/offers",
            get(offers::list).post(offers::create),
        )
        .route("/programs/{id}/events", post(offers::event))
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
        .route("/ledger/audit", get(operations::audit));
    let protected = admin_routes(protected, state);
    Router::new()
        .route(
            "/openapi.json",
            get(move || std::future::ready(axum::Json(document.clone()))),
        )
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
