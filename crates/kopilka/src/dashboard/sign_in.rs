//! Signing in to the dashboard and out: the form posts login, password and (when the operator
//! has a second factor) the authenticator's code to `POST /v1/sign-in` itself, so throttles,
//! lockout and the audit row are the API's; the token it issues is the session cookie.

use super::api::{self, Carried};
use super::session::{self, Posted, SignedIn};
use super::{Dash, LANGUAGES};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Asked, Lang};
use askama::Template;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "dashboard/sign_in.html")]
struct SignInPage {
    page: Chrome,
    login: String,
    next: String,
    error: Option<String>,
    /// The operator has a second factor: the code field is required and says so.
    totp_asked: bool,
}

impl Page for SignInPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

fn sign_in_page(asked: &Asked, lang: Lang, view: SignIn, status: StatusCode) -> Response {
    let next = session::safe_next(Some(&view.next));
    let back = form_urlencoded::Serializer::for_suffix(String::from("/admin/sign-in?"), 15)
        .append_pair("next", &next)
        .finish();
    let page = Chrome::titled(lang, "dash-sign-in")
        .brand(i18n::text(lang, "dash-brand", None))
        .switch(asked, &back, LANGUAGES);
    render(
        status,
        &SignInPage {
            page,
            login: view.login,
            next,
            error: view.error,
            totp_asked: view.totp_asked,
        },
    )
}

#[derive(Default)]
struct SignIn {
    login: String,
    next: String,
    error: Option<String>,
    totp_asked: bool,
}

pub async fn page(asked: Asked, Query(next): Query<Next>) -> Response {
    let lang = asked.pick(None, LANGUAGES);
    let view = SignIn {
        next: next.next.unwrap_or_default(),
        ..SignIn::default()
    };
    sign_in_page(&asked, lang, view, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(State(dash): State<Dash>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let asked = Asked::of(&parts.headers, parts.uri.query());
    let lang = asked.pick(None, LANGUAGES);
    // A sign-in form from another site would sign the browser in to someone else's account.
    if !session::same_origin(&parts.headers) {
        return session::refused_form(lang);
    }
    let carried = Carried::of(&parts);
    let Ok(Form(form)) =
        Form::<SignInForm>::from_request(Request::from_parts(parts, body), &()).await
    else {
        return sign_in_page(&asked, lang, SignIn::default(), StatusCode::BAD_REQUEST);
    };
    let totp = form.totp.trim();
    let body = serde_json::json!({
        "login": form.login.trim(),
        "password": form.password,
        "totp": (!totp.is_empty()).then_some(totp),
        "token_name": "dashboard",
        "expires_in_secs": session::SESSION_SECS,
    });
    let answer = api::call(
        &dash.api,
        &carried,
        None,
        Method::POST,
        "/v1/sign-in",
        Some(body),
    )
    .await;
    let refused = |id: &str, status, totp_asked| {
        let view = SignIn {
            login: form.login.clone(),
            next: form.next.clone(),
            error: Some(i18n::text(lang, id, None)),
            totp_asked,
        };
        sign_in_page(&asked, lang, view, status)
    };
    let failure = match answer {
        Ok(answer) => {
            let Some(token) = answer.json["token"].as_str() else {
                return refused("dash-failed-text", StatusCode::INTERNAL_SERVER_ERROR, false);
            };
            let cookie = session::session_cookie(token, session::is_https(&dash));
            let mut response = Redirect::to(&session::safe_next(Some(&form.next))).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            return response;
        }
        Err(failure) => failure,
    };
    match failure.code.as_str() {
        "totp_required" => refused("dash-sign-in-totp-required", StatusCode::UNAUTHORIZED, true),
        "too_many_attempts" => refused(
            "dash-sign-in-throttled",
            StatusCode::TOO_MANY_REQUESTS,
            !totp.is_empty(),
        ),
        "busy" => refused(
            "dash-busy",
            StatusCode::SERVICE_UNAVAILABLE,
            !totp.is_empty(),
        ),
        "wrong_credentials" | "invalid_field" => refused(
            "dash-sign-in-wrong",
            StatusCode::UNAUTHORIZED,
            !totp.is_empty(),
        ),
        _ => {
            tracing::error!(code = %failure.code, "dashboard sign-in failed: {}", failure.message);
            refused("dash-failed-text", failure.status, false)
        }
    }
}

/// No fields but the form token.
#[derive(Deserialize)]
pub struct Nothing {}

/// Revokes the session's token (`DELETE /v1/me/tokens/{id}`) and clears the cookie.
pub async fn sign_out(State(dash): State<Dash>, posted: Posted<Nothing>) -> Response {
    let signed: SignedIn = posted.signed;
    let revoked = signed
        .api(
            Method::DELETE,
            &format!("/v1/me/tokens/{}", signed.token_id),
            None,
        )
        .await;
    if let Err(failure) = revoked {
        return signed.failed(&failure);
    }
    let mut response = Redirect::to("/admin/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::cleared_cookie(session::is_https(&dash))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
