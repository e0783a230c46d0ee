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
use crate::state::AppState;
use axum::routing::any;
use axum::Router;

/// The protocol's paths. Clients spell them in any case, with or without a trailing slash;
/// the server maps such spellings to these before routing.
pub const PATHS: &[&str] = &["/api", "/app/redeem", "/app/earn", "/app/confirm"];

pub fn router(config: &Config) -> Router<AppState> {
    let router = Router::new()
        .route("/api", any(api::handle))
        .route("/app/redeem", any(pages::redeem))
        .route("/app/earn", any(pages::earn))
        .route("/app/confirm", any(pages::confirm));
    if config.demo_pages {
        router.merge(demo_shop::router())
    } else {
        router
    }
}
