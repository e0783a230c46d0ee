//! The admin API under `/v1`: the native routes, and for every admin route (the server adds
//! the protocols') the token check, the OpenAPI document (`/v1/openapi.json`) and its reference
//! page (`/v1/docs`).

mod adjustments;
mod analytics;
mod audit;
mod customers;
mod docs;
mod liability;
mod merchants;
mod messages;
mod offers;
mod openapi;
mod operations;
mod operators;
mod programs;

use crate::http::admin::Auditor;
use crate::http::{admin_routes, ApiError};
use crate::state::AppState;
pub use analytics::keep_closed_days;
use axum::routing::{any, get};
use axum::Router;
pub use openapi::area;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The native admin routes, each registered with its documentation by `routes!`, grouped by
/// area (the document's tags). Handlers on one path go in one `routes!`.
pub fn routes() -> OpenApiRouter<AppState> {
    let programs = OpenApiRouter::new()
        .routes(routes!(programs::list, programs::create))
        .routes(routes!(programs::get, programs::update));
    let analytics = OpenApiRouter::new()
        .routes(routes!(analytics::get))
        .routes(routes!(liability::liability_csv))
        .routes(routes!(liability::liability_xlsx));
    let offers = OpenApiRouter::new()
        .routes(routes!(offers::list, offers::create))
        .routes(routes!(offers::event))
        .routes(routes!(offers::versions))
        .routes(routes!(offers::explain))
        .routes(routes!(offers::counters));
    let merchants = OpenApiRouter::new()
        .routes(routes!(merchants::list, merchants::create))
        .routes(routes!(merchants::get, merchants::update))
        .routes(routes!(
            merchants::list_credentials,
            merchants::add_credential
        ))
        .routes(routes!(merchants::rotate_webhook_secret));
    let customers = OpenApiRouter::new()
        .routes(routes!(customers::list, customers::create))
        .routes(routes!(customers::export_csv))
        .routes(routes!(customers::export_xlsx))
        .routes(routes!(customers::get, customers::update))
        .routes(routes!(customers::block))
        .routes(routes!(customers::unblock))
        .routes(routes!(customers::anonymise))
        .routes(routes!(customers::merge))
        .routes(routes!(customers::set_pin))
        .routes(routes!(customers::balances))
        .routes(routes!(customers::lots))
        .routes(routes!(customers::identities))
        .routes(routes!(customers::list_cards, customers::create_card))
        .routes(routes!(customers::get_card));
    let operations = OpenApiRouter::new()
        .routes(routes!(operations::list, operations::create))
        .routes(routes!(operations::export_csv))
        .routes(routes!(operations::export_xlsx))
        .routes(routes!(operations::get))
        .routes(routes!(operations::confirm))
        .routes(routes!(operations::void))
        .routes(routes!(operations::reverse))
        .routes(routes!(operations::audit));
    let messages = OpenApiRouter::new()
        .routes(routes!(messages::list))
        .routes(routes!(messages::queues))
        .routes(routes!(messages::get))
        .routes(routes!(messages::attempts))
        .routes(routes!(messages::resend))
        .routes(routes!(messages::templates))
        .routes(routes!(messages::set_template, messages::reset_template));
    let adjustments = OpenApiRouter::new()
        .routes(routes!(adjustments::list))
        .routes(routes!(adjustments::get))
        .routes(routes!(adjustments::approve))
        .routes(routes!(adjustments::reject));
    let operators = OpenApiRouter::new()
        .routes(routes!(operators::sign_in))
        .routes(routes!(operators::me))
        .routes(routes!(operators::enrol_totp))
        .routes(routes!(operators::confirm_totp))
        .routes(routes!(operators::my_tokens))
        .routes(routes!(operators::revoke_my_token))
        .routes(routes!(operators::list, operators::create))
        .routes(routes!(operators::get, operators::update))
        .routes(routes!(operators::list_tokens))
        .routes(routes!(operators::revoke_token));
    let audit = OpenApiRouter::new().routes(routes!(audit::list));
    OpenApiRouter::default()
        .merge(area("programs", programs))
        .merge(area("analytics", analytics))
        .merge(area("offers", offers))
        .merge(area("merchants", merchants))
        .merge(area("customers", customers))
        .merge(area("operations", operations))
        .merge(area("messages", messages))
        .merge(area("adjustments", adjustments))
        .merge(area("operators", operators))
        .merge(area("audit", audit))
}

/// Every admin route (`admin`) at its full path (`/v1/…`), behind the admin token; the document
/// and its reference page are open. Unknown paths under `/v1` answer in the native error format.
pub fn router(state: AppState, admin: OpenApiRouter<AppState>) -> Router<AppState> {
    let (routes, document) = admin.split_for_parts();
    let document = openapi::document(document);
    let reads = document
        .paths
        .paths
        .iter()
        .filter(|(_, item)| item.get.is_some())
        .map(|(path, _)| path.clone())
        .collect();
    let auditor = Auditor::new(state.clone(), routes.clone(), reads);
    let not_found = || async { ApiError::not_found("route") };
    admin_routes(routes, state, auditor)
        .route(
            "/v1/openapi.json",
            get(move || std::future::ready(axum::Json(document.clone()))),
        )
        .merge(docs::router())
        .route("/v1", any(not_found))
        .route("/v1/{*rest}", any(not_found))
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}
