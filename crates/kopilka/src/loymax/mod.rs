//! The Loymax public API (seed 001), part 1: sign-in, registration, profile, cards, balances
//! and history. Every method is served under all the path aliases real clients use
//! (`/publicapi/v1.2/`, `/publicapi/v1.1/`, `/publicapi/v1/`, `/api/v1.1/`, `/api/v1/`, `/api/`),
//! case-insensitively, with or without a trailing slash: the alias routes hand the request to
//! an inner router keyed by the lowercased method path.

mod account;
mod applications;
pub mod auth;
mod cards;
mod catalog;
mod customer;
mod history;
mod language;
mod notifications;
pub mod processing;
pub(crate) mod registration;
pub mod wire;

use crate::http::edge::{self, Cause, Refused};
use crate::observability::RouteLabel;
use crate::state::AppState;
use axum::extract::{FromRef, Request};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use kopilka_domain::loymax::Settings;
use kopilka_domain::text::MAX_TEXT_CHARS;
use kopilka_store::model::Program;
use std::sync::Arc;
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{LmError, LmResult};

/// The method path under any alias: `/api/` or `/publicapi/`, then an optional version segment
/// (`v1`, `v1.1`, `v1.2`, or any other `v` + digits and dots), lowercased, without a trailing
/// slash; and the version whose shapes it answers in. `None` for paths that are not the Loymax
/// API.
fn method_path(path: &str) -> Option<(String, wire::Version)> {
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("/authorizationservice/") {
        return Some((lower.trim_end_matches('/').to_string(), wire::Version::V12));
    }
    let (rest, public) = match lower.strip_prefix("/api/") {
        Some(rest) => (rest, false),
        None => (lower.strip_prefix("/publicapi/")?, true),
    };
    let (rest, version) = match rest.split_once('/') {
        Some((segment, tail)) if is_version(segment) => (tail, version_of(segment)),
        // `/publicapi/` is the public API of today; `/api/` is the seed's.
        _ if public => (rest, wire::Version::V12),
        _ => (rest, wire::Version::Seed),
    };
    Some((format!("/{}", rest.trim_end_matches('/')), version))
}

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|v| {
        !v.is_empty()
            && v.chars().all(|c| c.is_ascii_digit() || c == '.')
            && v.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// 1.2 and later speak the 1.2 shapes; 1 and 1.1 the seed's.
fn version_of(segment: &str) -> wire::Version {
    let mut numbers = segment[1..]
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    if (major, minor) >= (1, 2) {
        wire::Version::V12
    } else {
        wire::Version::Seed
    }
}

/// The first segment of a Loymax path in any casing (`/PUBLICAPI/…`, `/Api/…`,
/// `/AUTHORIZATIONSERVICE/…`) spelled as the router knows it, the rest as sent; `None` when the
/// path is not one or is spelled so already. The server applies it before routing.
pub fn canonical_prefix(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let (first, tail) = rest.split_once('/')?;
    let canonical = ["api", "publicapi", "authorizationService"]
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(first))?;
    (first != canonical).then(|| format!("/{canonical}/{tail}"))
}

/// The SystemApi part under `/v1/loymax`, each route with its documentation; the server adds
/// them to the admin API, which protects them.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            applications::list_applications,
            applications::create_application
        ))
        .routes(routes!(applications::rotate_application_secret))
        .routes(routes!(applications::disable_application))
        .routes(routes!(auth::issue_user_token))
        .routes(routes!(notifications::create))
        .routes(routes!(cards::set_secrets))
        .routes(routes!(processing::batch::create_key))
}

/// Routes of the Loymax API, to merge into the server's router.
pub fn router(state: AppState) -> Router<AppState> {
    let email_link = Router::new().route(
        registration::EMAIL_LINK_PATH,
        get(registration::confirm_email_link),
    );
    let mut router = crate::http::html::customer_pages(email_link).merge(processing::router());
    let cors = cors(&state.config.loymax.cors_allowed_origins);
    let localize = axum::middleware::from_fn_with_state(state.clone(), language::localize);
    let edge = axum::middleware::from_fn_with_state(
        edge::Edge::new(edge_refusal, edge::JSON_BODY_LIMIT),
        edge::guard,
    );
    let inner = inner(state);
    // Prefixes in the casings clients use; whatever follows is matched case-insensitively.
    // Other casings are rewritten to these before routing (`canonical_prefix`).
    for prefix in ["api", "publicapi", "authorizationService"] {
        let inner = inner.clone();
        let route: MethodRouter<AppState> =
            any(move |request: Request| dispatch(inner.clone(), request));
        let route: MethodRouter<AppState> = route.layer(edge.clone());
        let route: MethodRouter<AppState> = route.layer(localize.clone());
        let route: MethodRouter<AppState> = route.layer(fail_on_panic());
        let route = match &cors {
            Some(cors) => route.layer(cors.clone()),
            None => route,
        };
        router = router.route(&format!("/{prefix}/{{*rest}}"), route);
    }
    router
}

/// A handler that panics answers `state: Fail` with an error id that is also in the log, as
/// every other system error does, instead of a bare 500.
fn fail_on_panic(
) -> tower_http::catch_panic::CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response>
{
    fn fail(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let cause = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a handler panicked");
        LmError::Fail(format!("panic: {cause}")).into_response()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(fail as fn(_) -> Response)
}

/// CORS for browser front ends calling the public API (`[loymax] cors_allowed_origins`; `*`
/// allows any origin); none when no origin is configured.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-deviceid"),
                HeaderName::from_static("x-platformtype"),
                HeaderName::from_static("x-platformversion"),
            ])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// The method path in the client's casing (version prefix and trailing slash stripped), for
/// handlers whose path segments are the client's identifiers.
#[derive(Clone, Debug)]
pub struct MethodPath(pub String);

/// The methods, keyed by lowercased path without version prefix or trailing slash.
fn inner(state: AppState) -> Router {
    let router = Router::new()
        .route(
            "/authorizationservice/token",
            // Another method is refused as OAuth refuses, not in the envelope.
            post(auth::token).fallback(|| async { auth::request_refused(false) }),
        )
        .route("/authorizationservice/logout", post(auth::logout))
        .route("/user/logout", post(auth::logout))
        .route("/registration/beginregistration", post(registration::begin))
        .route(
            "/registration/tryfinishregistration",
            post(registration::finish),
        )
        .route("/user/actions", get(registration::actions))
        .route("/user/registrationactions", get(registration::actions))
        .route("/user/accepttenderoffer", post(registration::accept_offer))
        .route(
            "/user/phonenumber",
            get(registration::phone).post(registration::set_phone),
        )
        .route(
            "/user/phonenumber/confirm",
            post(registration::confirm_phone),
        )
        .route(
            "/user/phonenumber/sendconfirmcode",
            post(registration::resend_phone_code),
        )
        .route(
            "/user/phonenumber/cancelchange",
            post(registration::cancel_phone_change),
        )
        .route("/user/password/set", post(registration::set_password))
        .route("/user/password/change", post(account::change_password))
        .route("/user/password/reset", post(account::reset_password))
        .route("/user/password/reset/confirm", post(account::confirm_reset))
        .route(
            "/user/email",
            get(registration::email).post(registration::set_email),
        )
        .route("/user/email/confirm", post(registration::confirm_email))
        .route(
            "/user/email/sendconfirmcode",
            post(registration::resend_email_code),
        )
        .route(
            "/user/email/cancelchange",
            post(registration::cancel_email_change),
        )
        .route("/user/questions", get(registration::questions))
        .route("/user/answers", post(registration::answers))
        .route(
            "/cards/emitvirtual",
            get(registration::emission)
                .put(registration::emit_virtual)
                .post(registration::emit_virtual),
        )
        .route("/cards/set", post(registration::set_card))
        .route("/cards", get(cards::cards))
        .route("/cards/{card_id}/qrcode", get(cards::qr_code))
        .route("/user", get(account::profile))
        .route("/user/balance", get(account::balance))
        .route("/user/detailedbalance", get(account::detailed_balance))
        .route(
            "/user/detailedbalance/{currency_id}/operations",
            get(account::balance_operations),
        )
        .route("/resetpassword/start", post(account::start_reset))
        .route(
            "/resetpassword/confirm",
            post(account::confirm_reset_by_code),
        )
        .route("/user/logins", get(customer::logins))
        .route("/user/status", get(customer::status))
        .route(
            "/user/subscriptions",
            get(customer::subscriptions).post(customer::update_subscriptions),
        )
        .route(
            "/user/subscriptions/confirm",
            post(customer::confirm_subscriptions),
        )
        .route(
            "/user/subscriptions/reject",
            post(customer::reject_subscriptions),
        )
        .route("/pushes", post(customer::register_device))
        .route("/notification", get(notifications::list))
        .route("/notification/count", get(notifications::count))
        .route("/notification/read", post(notifications::read_all))
        .route("/notification/{id}/read", post(notifications::read_one))
        .route("/merchants", get(catalog::merchants_by_ids))
        .route("/merchants/byuids", get(catalog::merchants_by_uids))
        .route("/offer", get(catalog::offers))
        .route("/offer/{offer_id}", get(catalog::offer))
        .route("/offer/{offer_id}/merchants", get(catalog::offer_merchants))
        .route("/coupons", get(catalog::coupons))
        .route("/coupons/number/{number}", get(catalog::coupon_by_number))
        .route("/history", get(history::history))
        .route(
            "/history/aggregatewithdrawrewardpurchase",
            get(history::aggregate),
        );
    // Part 2: the purchase processing methods (docs/loymax-processing.md).
    let router = processing::methods()
        .into_iter()
        .fold(router, |r, (path, method)| {
            r.route(&path.to_lowercase(), method)
        });
    crate::observability::label_routes(router, "loymax")
        .fallback(|| async { LmError::NotFound })
        .method_not_allowed_fallback(|| async { LmError::NotFound })
        .with_state(MethodState {
            app: state,
            callers: Arc::default(),
        })
}

/// What the methods share: the server's state and the processing callers remembered by
/// token (`processing::callers`), which live as long as the router.
#[derive(Clone)]
pub(crate) struct MethodState {
    app: AppState,
    callers: Arc<processing::callers::Callers>,
}

impl FromRef<MethodState> for AppState {
    fn from_ref(state: &MethodState) -> AppState {
        state.app.clone()
    }
}

impl FromRef<MethodState> for Arc<processing::callers::Callers> {
    fn from_ref(state: &MethodState) -> Self {
        state.callers.clone()
    }
}

/// Strips the version prefix and the trailing slash, lowercases the method path and hands the
/// request to the inner router.
async fn dispatch(inner: Router, mut request: Request) -> Response {
    let Some((method_path, version)) = method_path(request.uri().path()) else {
        return unmatched(LmError::NotFound.into_response());
    };
    // Lowercasing ASCII keeps byte offsets: the method path is the same-length tail.
    let original = request.uri().path().trim_end_matches('/');
    let original = original[original.len() - method_path.len()..].to_string();
    request.extensions_mut().insert(MethodPath(original));
    // The inner router's route template alone names the method (`observability::label_routes`).
    request
        .extensions_mut()
        .remove::<axum::extract::MatchedPath>();
    request.extensions_mut().insert(version);
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{method_path}?{q}"),
        None => method_path,
    };
    match path_and_query.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return unmatched(LmError::NotFound.into_response()),
    }
    match inner.oneshot(request).await {
        Ok(response) if response.extensions().get::<RouteLabel>().is_some() => response,
        Ok(response) => unmatched(response),
        Err(never) => match never {},
    }
}

/// An answer no Loymax method gave: one route label for all of them.
fn unmatched(mut response: Response) -> Response {
    let label = RouteLabel("loymax:unmatched".into());
    response.extensions_mut().insert(label);
    response
}

/// The edge's refusals (`crate::http::edge`) in the envelope, or as an OAuth error on the
/// token endpoint.
fn edge_refusal(refused: &Refused) -> Response {
    let path = refused.path.trim_end_matches('/').to_ascii_lowercase();
    if path.ends_with("/authorizationservice/token") {
        return auth::request_refused(refused.cause == Cause::Nul);
    }
    match (refused.cause, refused.status) {
        (Cause::Nul, _) => LmError::invalid(refused.place, "Недопустимый символ NUL (U+0000)"),
        (Cause::TooLong, _) => LmError::invalid(
            refused.place,
            format!("Не больше {MAX_TEXT_CHARS} символов"),
        ),
        (Cause::Busy | Cause::Unread, _) => {
            LmError::invalid("body", "Тело запроса не получено: повторите запрос позже")
        }
        (_, StatusCode::NOT_FOUND) => LmError::NotFound,
        (_, StatusCode::PAYLOAD_TOO_LARGE) => {
            LmError::invalid("body", "Тело запроса слишком велико")
        }
        _ => LmError::invalid(refused.place, "Неверный запрос"),
    }
    .into_response()
}

/// The program the public API serves: the first one whose settings hold a `loymax` object.
pub(crate) async fn program(state: &AppState) -> LmResult<Program> {
    let programs = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    programs
        .into_iter()
        .find(|p| p.settings.get("loymax").is_some_and(|v| v.is_object()))
        .ok_or_else(|| {
            LmError::Fail("no program is configured for Loymax (settings.loymax)".into())
        })
}

pub(crate) fn settings(program: &Program) -> Settings {
    Settings::from_program(&program.settings)
}

/// The client's address behind the trusted proxies, for per-address quotas.
pub(crate) fn client_ip(state: &AppState, request: &axum::http::request::Parts) -> String {
    crate::http::ClientAddr::of(request, &state.config.trusted_proxies).to_string()
}

/// `currencyInfo` of the program's bonus currency (settings `loymax.currency`, with defaults).
pub(crate) fn currency_info(program: &Program) -> serde_json::Value {
    let configured = program
        .settings
        .get("loymax")
        .and_then(|s| s.get("currency"))
        .cloned()
        .unwrap_or_default();
    let get = |key: &str, default: &str| {
        configured
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or(default)
            .to_string()
    };
    let cases = configured.get("nameCases").cloned().unwrap_or_else(|| {
        serde_json::json!({"nominative": "бонус", "genitive": "бонуса", "plural": "бонусов", "abbreviation": "бнс"})
    });
    serde_json::json!({
        "id": configured.get("id").and_then(|v| v.as_i64()).unwrap_or(1),
        "name": get("name", "Бонусы"),
        "externalId": get("externalId", &entity_uuid(0xB0, program.id.0)),
        "description": get("description", "Бонусные баллы"),
        "isDeleted": false,
        "nameCases": cases,
    })
}

/// [`currency_info`] as 1.2 shows it: with the currency's `code`, `uid` and `imageId`.
pub(crate) fn currency_info_1_2(program: &Program) -> serde_json::Value {
    let mut info = currency_info(program);
    let code = program
        .settings
        .get("loymax")
        .and_then(|s| s.get("currency"))
        .and_then(|c| c.get("code"))
        .and_then(|c| c.as_str())
        .unwrap_or(&program.rules.currency)
        .to_string();
    info["code"] = serde_json::json!(code);
    info["uid"] = serde_json::json!(entity_uuid(0xB1, program.id.0));
    info["imageId"] = serde_json::Value::Null;
    info
}

/// A stable UUID for an entity kopilka numbers with integers (partners, locations, brands).
pub(crate) fn entity_uuid(kind: u8, id: i64) -> String {
    format!("00000000-0000-4000-80{kind:02x}-{:012x}", id.max(0))
}

/// History's `offerExternalId` of an offer: the program's purchase rules read as offers
/// (ids below zero) and stored offers are numbered apart.
pub(crate) fn offer_uuid(id: i64) -> String {
    if id < 0 {
        entity_uuid(0x61, id.saturating_neg())
    } else {
        entity_uuid(0x60, id)
    }
}

#[cfg(test)]
mod tests {
    use super::method_path;

    #[test]
    fn aliases_versions_and_casing_reach_one_method() {
        for path in [
            "/publicapi/v1.2/User/Actions",
            "/publicapi/v1.1/user/actions/",
            "/PublicApi/v1/USER/actions",
            "/api/v1.1/user/actions",
            "/api/v1/user/actions/",
            "/api/user/actions",
            "/API/V2/user/actions",
        ] {
            assert_eq!(
                method_path(path).map(|m| m.0).as_deref(),
                Some("/user/actions"),
                "{path}"
            );
        }
        assert_eq!(
            method_path("/authorizationService/token/")
                .map(|m| m.0)
                .as_deref(),
            Some("/authorizationservice/token")
        );
        assert_eq!(method_path("/v1/programs"), None);
    }

    #[test]
    fn the_public_api_of_today_speaks_1_2_and_the_seeds_paths_their_own() {
        use super::wire::Version::{Seed, V12};
        for (path, version) in [
            ("/publicapi/v1.2/User", V12),
            ("/publicapi/v2/User", V12),
            ("/publicapi/v1.10/User", V12),
            ("/publicapi/User", V12),
            ("/api/v1.2/User", V12),
            ("/publicapi/v1.1/User", Seed),
            ("/api/v1.1/User", Seed),
            ("/api/v1/User", Seed),
            ("/api/User", Seed),
        ] {
            assert_eq!(method_path(path).map(|m| m.1), Some(version), "{path}");
        }
    }

    #[test]
    fn prefixes_in_any_casing_are_spelled_as_routed() {
        use super::canonical_prefix;
        assert_eq!(
            canonical_prefix("/PUBLICAPI/v1.2/User").as_deref(),
            Some("/publicapi/v1.2/User")
        );
        assert_eq!(
            canonical_prefix("/Api/v1.1/User").as_deref(),
            Some("/api/v1.1/User")
        );
        assert_eq!(
            canonical_prefix("/AUTHORIZATIONSERVICE/token").as_deref(),
            Some("/authorizationService/token")
        );
        assert_eq!(canonical_prefix("/publicapi/v1.2/User"), None);
        assert_eq!(canonical_prefix("/API"), None);
        assert_eq!(canonical_prefix("/v1/programs"), None);
    }

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_fail_with_an_error_id() {
        use axum::body::Body;
        use tower::ServiceExt;
        let app: axum::Router = axum::Router::new().route(
            "/boom",
            axum::routing::get(boom).layer(super::fail_on_panic()),
        );
        let request = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["result"]["state"], "Fail");
        assert_eq!(answer["result"]["httpCode"], 500);
        let message = answer["result"]["message"].as_str().unwrap();
        assert!(message.starts_with("Идентификатор ошибки: "), "{message}");
    }

    /// Other protocols' routes under `/api` (inCust's `/api`, Kupi-Kupi's `/api/v1/transfer/…`)
    /// live next to the alias wildcard: static routes win.
    #[tokio::test]
    async fn the_alias_wildcard_leaves_other_protocols_routes_alone() {
        use axum::body::Body;
        use axum::routing::{any, post};
        use tower::ServiceExt;
        let app: axum::Router = axum::Router::new()
            .route("/api", any(|| async { "incust" }))
            .route("/api/v1/transfer/{method}", post(|| async { "kupikupi" }))
            .route("/api/{*rest}", any(|| async { "loymax" }));
        for (path, expected) in [
            ("/api", "incust"),
            ("/api/v1/transfer/balance", "kupikupi"),
            ("/api/v1/user/actions", "loymax"),
            ("/api/v1/transfer", "loymax"),
        ] {
            let request = axum::http::Request::post(path).body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(body, expected, "{path}");
        }
    }
}
