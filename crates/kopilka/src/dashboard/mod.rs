//! The operators' dashboard at `/admin` (docs/dashboard.md): server-rendered pages on the
//! one layout, each action allowed by the same domain rule as the API route it mirrors.
//!
//! Until the framework of part 1 (cookie sessions, CSRF, navigation) is merged, an operator is
//! the principal of the request's bearer token.

pub mod operations;
pub mod outbox;

use crate::http::html::{self, Chrome, Link};
use crate::http::i18n::{self, Asked, Lang};
use crate::http::operator::{self, Principal};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use kopilka_domain::operator::classify;
use kopilka_store::operators::AuditEntry;

/// The languages of the dashboard.
const LANGS: &[Lang] = i18n::CUSTOMER;

/// The operator a dashboard page is for, and the page's language.
pub struct Operator {
    pub principal: Principal,
    pub lang: Lang,
    asked: Asked,
    /// The request's path and query, for the language switch.
    here: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let asked = Asked::of(&parts.headers, parts.uri.query());
        let lang = asked.pick(None, LANGS);
        let principal = operator::principal(state, &parts.headers)
            .await
            .map_err(|_| {
                html::Message::new(
                    lang,
                    "dash-signed-out",
                    i18n::text(lang, "dash-signed-out-text", None),
                )
                .answer(StatusCode::UNAUTHORIZED)
            })?;
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
        Ok(Operator {
            principal,
            lang,
            asked,
            here,
        })
    }
}

impl Operator {
    /// Whether the operator's role may do what the API route `method` `api_route` does.
    pub fn may(&self, method: &str, api_route: &str) -> bool {
        classify(method, api_route).is_some_and(|action| self.principal.role().permits(action))
    }

    /// The layout of a page of `section` titled by message `title`.
    pub fn chrome(&self, section: &str, title: &str) -> Chrome {
        self.chrome_with(section, &i18n::text(self.lang, title, None))
    }

    /// The layout of a page of `section` with the title `title`.
    pub fn chrome_with(&self, section: &str, title: &str) -> Chrome {
        let here = strip_lang(&self.here);
        let mut chrome = Chrome::new(self.lang, title)
            .brand(i18n::text(self.lang, "dash-brand", None))
            .switch(&self.asked, &here, LANGS);
        chrome.nav = SECTIONS
            .iter()
            .filter(|(_, _, route)| self.may("GET", route))
            .map(|(href, label, _)| Link {
                label: i18n::text(self.lang, label, None),
                lang: "",
                href: href.to_string(),
                current: *href == section,
            })
            .collect();
        chrome
    }

    pub fn not_found(&self) -> Response {
        html::Message::new(
            self.lang,
            "dash-not-found",
            i18n::text(self.lang, "dash-not-found-text", None),
        )
        .answer(StatusCode::NOT_FOUND)
    }

    pub fn forbidden(&self) -> Response {
        html::Message::new(
            self.lang,
            "dash-forbidden",
            i18n::text(self.lang, "dash-forbidden-text", None),
        )
        .answer(StatusCode::FORBIDDEN)
    }

    /// The store failed: logged, and a page saying so.
    pub fn failed(&self, error: kopilka_store::StoreError) -> Response {
        tracing::error!("dashboard page failed: {error}");
        let id = crate::secrets::random_token(4);
        let text = i18n::text(
            self.lang,
            "common-error-text",
            Some(&i18n::args(&[("id", id.as_str().into())])),
        );
        html::Message::new(self.lang, "common-error", text)
            .answer(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `response` to a change or an export, after its row in the audit log as the API writes
    /// one for the route it mirrors: nothing is acknowledged unless the row was written.
    pub async fn audited(
        &self,
        state: &AppState,
        method: &str,
        route: &str,
        entity: Option<(&str, String)>,
        response: Response,
    ) -> Response {
        let (actor, operator_id, token_id) = match &self.principal {
            Principal::Bootstrap => ("bootstrap", None, None),
            Principal::Operator { id, token_id, .. } => ("operator", Some(*id), Some(*token_id)),
        };
        let query = self.here.split_once('?').map_or("", |(_, q)| q);
        let (entity_kind, entity_id) =
            entity.map_or((None, None), |(kind, id)| (Some(kind.into()), Some(id)));
        let entry = AuditEntry {
            id: 0,
            at: kopilka_store::now_ms(),
            actor: actor.into(),
            operator_id,
            token_id,
            method: method.into(),
            route: route.into(),
            entity_kind,
            entity_id,
            status: i64::from(response.status().as_u16()),
            before: None,
            after: None,
            request: Some(serde_json::json!({ "query": query })),
        };
        match state
            .store
            .write(move |tx| Box::pin(async move { tx.record_audit(&entry).await }))
            .await
        {
            Ok(_) => response,
            Err(e) => self.failed(e),
        }
    }
}

/// `path` without its `lang` parameter (the switch adds its own).
fn strip_lang(path: &str) -> String {
    let Some((path, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("lang=") && !pair.is_empty())
        .collect();
    match kept.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{}", kept.join("&")),
    }
}

/// The sections of part 2: the page, its title, and the API route whose reading it mirrors.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("/admin/operations", "dash-nav-operations", "/v1/operations"),
    ("/admin/outbox", "dash-nav-outbox", "/v1/messages"),
];

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/admin/operations", get(operations::list))
        .route("/admin/operations/export", get(operations::export))
        .route("/admin/operations/{id}", get(operations::detail))
        .route("/admin/outbox", get(outbox::monitor))
        .route("/admin/outbox/{id}", get(outbox::message))
        .route("/admin/outbox/{id}/resend", post(outbox::resend));
    html::customer_pages(pages)
}
