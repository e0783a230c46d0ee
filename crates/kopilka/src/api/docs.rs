//! `/v1/docs`: the admin API's reference page, Swagger UI over `/v1/openapi.json`, from assets
//! vendored in `assets/api-docs/` and compiled into the binary, so the page needs no other host.

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

const PAGE: &str = include_str!("../../assets/api-docs/index.html");
const INIT: &str = include_str!("../../assets/api-docs/init.js");
const BUNDLE: &str = include_str!("../../assets/api-docs/swagger-ui-bundle.js");
const STYLE: &str = include_str!("../../assets/api-docs/swagger-ui.css");

/// The page under the customer pages' content policy (`'self'` only); its assets cached for an
/// hour, as they change only with the binary.
pub fn router() -> Router<AppState> {
    let page = Router::new()
        .route("/v1/docs", get(|| async { axum::response::Html(PAGE) }))
        .route("/v1/docs/", get(|| async { axum::response::Html(PAGE) }));
    let assets = Router::new()
        .route("/v1/docs/init.js", get(|| async { javascript(INIT) }))
        .route(
            "/v1/docs/swagger-ui-bundle.js",
            get(|| async { javascript(BUNDLE) }),
        )
        .route(
            "/v1/docs/swagger-ui.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ));
    crate::http::html::customer_pages(page).merge(assets)
}

fn javascript(text: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        text,
    )
}
