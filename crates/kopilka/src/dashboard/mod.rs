//! The operators' dashboard at `/admin` (docs/dashboard.md): server-rendered pages on the
//! shared layout, signed in with the operator accounts of the admin API. Every read and change
//! a page makes is a request to the admin API itself, made in process with the operator's own
//! token ([`SignedIn::api`]): the API's role check (`operator::classify`), edge and audit log
//! apply to the dashboard unchanged, so what a role may do cannot drift between the two.
//!
//! A section is a file here with its routes in [`router`], its templates under
//! `templates/dashboard/`, its texts in `locales/*/dashboard.ftl` and a row in [`SECTIONS`].

mod api;
mod audit;
mod customers;
mod demo;
mod home;
mod merchants;
mod offer_form;
mod operations;
mod outbox;
mod payments;
mod programs;
mod session;
mod sign_in;
mod templates;

pub use api::{ApiAnswer, ApiFailure};
pub use customers::{programs, Choice, Program};
pub use session::{Posted, SignedIn, Who};

use crate::http::edge::{self, Refused};
use crate::http::html::{self, Link, Message};
use crate::http::i18n::{self, Lang, CUSTOMER};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

/// The dashboard's own styles, after the pages' stylesheet (`templates/dashboard/base.html`).
pub const STYLESHEET: &str = include_str!("../../assets/dashboard.css");

/// The languages of the dashboard.
pub const LANGUAGES: &[Lang] = CUSTOMER;

/// What every dashboard handler shares: the server's state and the admin API's routes (with
/// their guard, edge and audit layers), which the pages call in process.
#[derive(Clone)]
pub struct Dash {
    pub app: AppState,
    api: Router,
}

/// A section of the dashboard: its address, the Fluent id of its name, and the admin API
/// route (method, template) it equals — the navigation shows it only to roles that route's
/// action (`operator::classify`) is open to.
pub struct Section {
    pub href: &'static str,
    pub label: &'static str,
    pub route: (&'static str, &'static str),
}

/// The dashboard's sections, in the order the navigation shows them.
pub const SECTIONS: &[Section] = &[
    Section {
        href: "/admin",
        label: "dash-nav-home",
        route: ("GET", "/v1/programs/{id}/analytics"),
    },
    Section {
        href: "/admin/customers",
        label: "dash-nav-customers",
        route: ("GET", "/v1/customers"),
    },
    Section {
        href: "/admin/operations",
        label: "dash-nav-operations",
        route: ("GET", "/v1/operations"),
    },
    Section {
        href: "/admin/payments",
        label: "dash-nav-payments",
        route: ("GET", "/v1/ecommpay/payments"),
    },
    Section {
        href: "/admin/programs",
        label: "dash-nav-programs",
        route: ("GET", "/v1/programs"),
    },
    Section {
        href: "/admin/outbox",
        label: "dash-nav-outbox",
        route: ("GET", "/v1/messages"),
    },
    Section {
        href: "/admin/audit",
        label: "dash-nav-audit",
        route: ("GET", "/v1/audit"),
    },
    Section {
        href: "/admin/merchants",
        label: "dash-nav-merchants",
        route: ("GET", "/v1/merchants"),
    },
    Section {
        href: "/admin/templates",
        label: "dash-nav-templates",
        route: ("GET", "/v1/programs/{id}/templates"),
    },
];

/// The dashboard's routes (`api`: the admin API's routes with their state, as `api::router`
/// serves them). Every answer carries the pages' fixed headers; bodies pass the edge.
pub fn router(state: &AppState, api: Router) -> Router<AppState> {
    let dash = Dash {
        app: state.clone(),
        api,
    };
    let demo = if state.config.demo_pages {
        Router::new()
            .route("/", get(demo::landing))
            .route("/demo/dashboard", post(demo::sign_in))
    } else {
        Router::new()
    };
    let pages = Router::new()
        .merge(demo)
        .route("/admin", get(home::page))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route("/admin/customers", get(customers::search))
        .route("/admin/customers/{id}", get(customers::customer))
        .route("/admin/customers/{id}/block", post(customers::block))
        .route("/admin/customers/{id}/unblock", post(customers::unblock))
        .route(
            "/admin/customers/{id}/anonymise",
            get(customers::confirm_anonymise).post(customers::anonymise),
        )
        .route("/admin/customers/{id}/adjust", post(customers::adjust))
        .route("/admin/audit", get(audit::page))
        .route("/admin/operations", get(operations::list))
        .route("/admin/operations/export", get(operations::export))
        .route("/admin/operations/{id}", get(operations::detail))
        .route("/admin/payments", get(payments::list))
        .route("/admin/payments/export", get(payments::export))
        .route("/admin/payments/{id}", get(payments::detail))
        .route("/admin/programs", get(programs::list))
        .route(
            "/admin/programs/{id}",
            get(programs::program).post(programs::update),
        )
        .route("/admin/programs/{id}/offers", post(programs::add_offer))
        .route(
            "/admin/programs/{id}/offers/new",
            get(offer_form::new_offer),
        )
        .route("/admin/programs/{id}/offers/form", post(offer_form::submit))
        .route(
            "/admin/programs/{program}/offers/{offer}",
            get(programs::offer),
        )
        .route(
            "/admin/programs/{program}/offers/{offer}/new",
            get(offer_form::new_version),
        )
        .route("/admin/outbox", get(outbox::monitor))
        .route("/admin/outbox/{id}", get(outbox::message))
        .route("/admin/outbox/{id}/resend", post(outbox::resend))
        .route("/admin/merchants", get(merchants::list))
        .route("/admin/merchants/{id}", get(merchants::merchant))
        .route(
            "/admin/merchants/{id}/credentials",
            post(merchants::add_credential),
        )
        .route(
            "/admin/merchants/{id}/webhook-secret",
            post(merchants::rotate_webhook),
        )
        .route(
            "/admin/merchants/{id}/ecommpay",
            post(merchants::add_project),
        )
        .route(
            "/admin/merchants/{id}/kupikupi",
            post(merchants::add_platform),
        )
        .route(
            "/admin/merchants/{id}/loymax",
            post(merchants::add_application),
        )
        .route(
            "/admin/merchants/{id}/{kind}/{key}/{action}",
            post(merchants::credential_action),
        )
        .route("/admin/templates", get(templates::list))
        .route(
            "/admin/templates/{name}",
            get(templates::edit).post(templates::change),
        )
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::FORM_BODY_LIMIT),
            edge::guard,
        ))
        .with_state(dash);
    html::customer_pages(pages)
}

/// The edge's refusals (`crate::http::edge`) as a page.
fn edge_refusal(refused: &Refused) -> Response {
    html::refused_page(LANGUAGES[0], refused)
}

/// The navigation for `signed`'s role, the section `path` is in marked current.
pub fn sections(signed: &SignedIn, path: &str) -> Vec<Link> {
    let current = SECTIONS
        .iter()
        .filter(|s| path == s.href || path.starts_with(&format!("{}/", s.href)))
        .max_by_key(|s| s.href.len())
        .map(|s| s.href);
    SECTIONS
        .iter()
        .filter(|s| signed.may(s.route.0, s.route.1))
        .map(|s| Link {
            label: i18n::text(signed.lang, s.label, None),
            lang: "",
            href: s.href.to_string(),
            current: Some(s.href) == current,
        })
        .collect()
}

/// A short page saying what went wrong, with a way back to the dashboard.
pub fn message(lang: Lang, status: StatusCode, heading: &str, text: String) -> Response {
    Message::new(lang, heading, text)
        .link(i18n::text(lang, "dash-back-home", None), "/admin")
        .answer(status)
}
