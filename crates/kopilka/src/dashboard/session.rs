//! The signed-in operator of a dashboard request: the session cookie carries an operator API
//! token issued by `POST /v1/sign-in` (so it is looked up on every request and revocable like
//! any token), and every form carries a token bound to it (CSRF).

use super::api::{self, ApiAnswer, ApiFailure, Carried};
use super::Dash;
use crate::http::html::{self, Chrome};
use crate::http::i18n::{self, Asked, Lang};
use crate::http::operator::{self, Principal};
use crate::secrets;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::operator::{classify, Role};
use serde::de::DeserializeOwned;

/// The session cookie: an operator's API token, `HttpOnly`, `SameSite=Strict`, path `/admin`.
pub const COOKIE: &str = "kopilka_admin";
/// How long a dashboard session's token lives (it is revoked at sign-out).
pub const SESSION_SECS: i64 = 12 * 3600;

/// The operator signed in to the dashboard, the language of the answer and what an API call
/// made for them carries.
#[derive(Clone)]
pub struct SignedIn {
    pub id: i64,
    pub login: String,
    pub role: Role,
    pub token_id: i64,
    pub lang: Lang,
    pub asked: Asked,
    /// The request's path and query without `lang` (the switch's target).
    pub here: String,
    token: String,
    csrf: String,
    carried: Carried,
    dash: Dash,
}

/// What the dashboard's base template shows of the operator, and the form token.
pub struct Who {
    pub login: String,
    pub role: String,
    pub csrf: String,
}

/// The CSRF token of a session: bound to its token, unguessable without it.
fn csrf_of(token: &str) -> String {
    secrets::token_digest(&format!("dashboard-form:{token}"))
}

/// The request's path and query without the switch's `lang`.
fn here(parts: &Parts) -> String {
    let path = parts.uri.path();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .filter(|(k, _)| k != "lang")
                .collect()
        })
        .unwrap_or_default();
    if query.is_empty() {
        return path.to_string();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{path}?{query}")
}

/// Where sign-in sends a person back to: a dashboard address only (never another site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if (next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?"))
                && !next.contains("//")
                && !next.contains('\\') =>
        {
            next.to_string()
        }
        _ => "/admin".to_string(),
    }
}

/// The answer for a request nobody is signed in for: the sign-in page, coming back here.
fn to_sign_in(parts: &Parts) -> Response {
    let back = if parts.method == Method::GET {
        here(parts)
    } else {
        "/admin".into()
    };
    let target = form_urlencoded::Serializer::for_suffix(String::from("/admin/sign-in?"), 15)
        .append_pair("next", &back)
        .finish();
    Redirect::to(&target).into_response()
}

impl FromRequestParts<Dash> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Dash) -> Result<Self, Response> {
        let asked = Asked::of(&parts.headers, parts.uri.query());
        let lang = asked.pick(None, super::LANGUAGES);
        let Some(token) = html::cookie(&parts.headers, COOKIE) else {
            return Err(to_sign_in(parts));
        };
        let mut bearer = HeaderMap::new();
        let value =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| to_sign_in(parts))?;
        bearer.insert(header::AUTHORIZATION, value);
        // The bootstrap token is for setting up, not a person: the dashboard takes operators.
        let principal = operator::principal(&dash.app, &bearer).await;
        let Ok(Principal::Operator {
            id,
            login,
            role,
            token_id,
            ..
        }) = principal
        else {
            return Err(to_sign_in(parts));
        };
        Ok(SignedIn {
            id,
            login,
            role,
            token_id,
            lang,
            asked,
            here: here(parts),
            csrf: csrf_of(&token),
            token,
            carried: Carried::of(parts),
            dash: dash.clone(),
        })
    }
}

impl SignedIn {
    /// Whether the operator's role may take the admin route `method template` — the same rule
    /// the API applies when the call is made; pages hide what this denies.
    pub fn may(&self, method: &str, template: &str) -> bool {
        classify(method, template).is_some_and(|action| self.role.permits(action))
    }

    /// The admin API's answer to `method uri` (`body` as JSON) made as this operator.
    pub async fn api(
        &self,
        method: Method,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> Result<ApiAnswer, ApiFailure> {
        api::call(
            &self.dash.api,
            &self.carried,
            Some(&self.token),
            method,
            uri,
            body,
        )
        .await
    }

    /// A file the API answers to `GET uri` (an export), passed on as it streams: the API's
    /// role check and audit row apply; a refusal is a page.
    pub async fn download(&self, uri: &str) -> Response {
        let sent = api::send(
            &self.dash.api,
            &self.carried,
            Some(&self.token),
            Method::GET,
            uri,
            None,
        )
        .await;
        match sent {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => match api::read(response).await {
                Err(failure) => self.failed(&failure),
                Ok(answer) => self.failed(&ApiFailure {
                    status: answer.status,
                    code: "unexpected".into(),
                    field: None,
                    message: String::new(),
                }),
            },
            Err(failure) => self.failed(&failure),
        }
    }

    /// `GET uri` as this operator: its JSON.
    pub async fn get(&self, uri: &str) -> Result<serde_json::Value, ApiFailure> {
        Ok(self.api(Method::GET, uri, None).await?.json)
    }

    /// `POST uri` with `body` as this operator: its JSON.
    pub async fn post(
        &self,
        uri: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ApiFailure> {
        Ok(self.api(Method::POST, uri, Some(body)).await?.json)
    }

    /// The page's header: the dashboard's name, the sections this role may use (the one of
    /// `self.here` current) and the language switch back to this address.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        let path = self.here.split('?').next().unwrap_or_default().to_string();
        let mut chrome = Chrome::new(self.lang, title)
            .brand(i18n::text(self.lang, "dash-brand", None))
            .switch(&self.asked, &self.here, super::LANGUAGES);
        chrome.nav = super::sections(self, &path);
        chrome
    }

    /// Message `id` in the page's language.
    pub fn t(&self, id: &str) -> String {
        i18n::text(self.lang, id, None)
    }

    /// What the base template shows and every form carries.
    pub fn who(&self) -> Who {
        Who {
            login: self.login.clone(),
            role: i18n::text(
                self.lang,
                &format!("dash-role-{}", self.role.as_str()),
                None,
            ),
            csrf: self.csrf.clone(),
        }
    }

    /// The page for an API refusal: signed out (401) goes to sign-in; 403, 404 and the rest
    /// are a short page saying so in the operator's language.
    pub fn failed(&self, failure: &ApiFailure) -> Response {
        let (heading, text) = match failure.status {
            StatusCode::UNAUTHORIZED => {
                return Redirect::to("/admin/sign-in").into_response();
            }
            StatusCode::FORBIDDEN => ("dash-forbidden", self.t("dash-forbidden-text")),
            StatusCode::NOT_FOUND => ("dash-not-found", self.t("dash-not-found-text")),
            status if status.is_client_error() => ("dash-refused", failure.message.clone()),
            _ => {
                tracing::error!(code = %failure.code, "dashboard: the API failed: {}", failure.message);
                ("dash-failed", self.t("dash-failed-text"))
            }
        };
        super::message(self.lang, failure.status, heading, text)
    }
}

/// Whether a form's POST comes from the dashboard's own pages: `Sec-Fetch-Site`, which every
/// current browser sends, is same-origin (or a person's own navigation); without it, `Origin`,
/// when it names one, is this host. (The pages send no referrer, so a browser's `Origin` on
/// their forms is `null`.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        // A page sent with `Referrer-Policy: no-referrer` (every dashboard page) posts its
        // forms with `Origin: null` and `Sec-Fetch-Site: same-origin` (taken above); without
        // the browser's word, a null origin may be anyone's.
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// The refusal of a form that did not come from the session's own page.
pub fn refused_form(lang: Lang) -> Response {
    super::message(
        lang,
        StatusCode::FORBIDDEN,
        "dash-form-refused",
        i18n::text(lang, "dash-form-refused-text", None),
    )
}

/// A dashboard form, posted by the signed-in operator from one of the dashboard's pages: its
/// `csrf` field is the session's form token (compared in constant time) and the request is not
/// cross-site; `T` is the rest of its fields.
pub struct Posted<T> {
    pub signed: SignedIn,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<Dash> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, dash: &Dash) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = SignedIn::from_request_parts(&mut parts, dash).await?;
        if !same_origin(&parts.headers) {
            return Err(refused_form(signed.lang));
        }
        // The edge read the body within the form limit: it is in memory already.
        let bytes = axum::body::to_bytes(body, crate::http::edge::FORM_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let given = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !secrets::constant_time_eq(&given, &signed.csrf) {
            return Err(refused_form(signed.lang));
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(form) => Ok(Posted { signed, form }),
            Err(error) => Err(super::message(
                signed.lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                "dash-refused",
                error.to_string(),
            )),
        }
    }
}

/// The `Set-Cookie` of a new session (`Secure` when the server's public address is https).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{secure}"
    )
}

/// The `Set-Cookie` that ends the session in the browser.
pub fn cleared_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The dashboard's address is https: cookies go with `Secure`.
pub fn is_https(dash: &Dash) -> bool {
    dash.app.public_url.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_goes_back_only_into_the_dashboard() {
        assert_eq!(
            safe_next(Some("/admin/customers?q=1")),
            "/admin/customers?q=1"
        );
        assert_eq!(safe_next(Some("https://evil.example/admin")), "/admin");
        assert_eq!(safe_next(Some("/admin//evil.example")), "/admin");
        assert_eq!(safe_next(Some("/adminx")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn a_cross_site_form_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("shop.example:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            "origin",
            HeaderValue::from_static("http://shop.example:8080"),
        );
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("null"));
        assert!(same_origin(&headers), "a page without a referrer");
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&headers), "a no-referrer page's own form");
        headers.remove("sec-fetch-site");
        assert!(!same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&headers));
    }
}
