//! The inCust e-shop protocol (seed 000): the XML gateway `POST /api`, the hosted redeem and
//! earn pages under `/app/`, and the demo shop. It translates between inCust's wire formats and
//! the ledger; the rules it applies live in `kopilka_domain::incust`.

mod api;
mod demo_shop;
mod ops;
mod pages;
mod texts;
mod wire;

use crate::config::Config;
use crate::http::edge::{self, Cause, Refused};
use crate::state::AppState;
use axum::routing::any;
use axum::Router;

/// The protocol's paths. Clients spell them in any case, with or without a trailing slash;
/// the server maps such spellings to these before routing.
pub const PATHS: &[&str] = &["/api", "/app/redeem", "/app/earn", "/app/confirm"];

/// The edge's refusals (`crate::http::edge`): the XML envelope's status on `/api`, a page on
/// the hosted pages.
fn edge_refusal(refused: &Refused) -> axum::response::Response {
    use kopilka_domain::incust::Status;
    let status = match (refused.cause, refused.status) {
        // Raw in the body, it is no document; inside a text, that field is invalid.
        (Cause::Nul, _) if refused.place != "body" => Status::InvalidField,
        (Cause::TooLong, _) => Status::InvalidField,
        (Cause::Busy | Cause::Unread, _) => Status::TryLater,
        (_, axum::http::StatusCode::PAYLOAD_TOO_LARGE) => Status::TooLarge,
        (_, axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE) => Status::ContentType,
        _ => Status::Malformed,
    };
    if refused.path.starts_with("/app/") {
        pages::edge_refusal(refused, status)
    } else {
        api::edge_refusal(status)
    }
}

pub fn router(config: &Config) -> Router<AppState> {
    let pages = Router::new()
        .route("/app/redeem", any(pages::redeem))
        .route("/app/earn", any(pages::earn))
        .route("/app/confirm", any(pages::confirm));
    let router = crate::http::html::customer_pages(pages)
        .route("/api", any(api::handle))
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::FORM_BODY_LIMIT),
            edge::guard,
        ));
    if config.demo_pages {
        router.merge(demo_shop::router())
    } else {
        router
    }
}
