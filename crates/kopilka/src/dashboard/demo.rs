//! `kopilka demo` only: the landing page at `/` (the dashboard, the demo shops, the cabinet,
//! the API reference) and its one-click sign-in to the dashboard as the demo operator.

use super::session::{self, same_origin};
use super::{Dash, LANGUAGES};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Asked};
use crate::secrets;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::operator::Role;

/// The demo's operator: a program manager, signed in only through the landing page's button.
const DEMO_LOGIN: &str = "demo";

#[derive(Template)]
#[template(path = "dashboard/landing.html")]
struct Landing {
    page: Chrome,
}

impl Page for Landing {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

pub async fn landing(asked: Asked) -> Response {
    let lang = asked.pick(None, LANGUAGES);
    let page = Chrome::titled(lang, "dash-landing")
        .brand("kopilka")
        .switch(&asked, "/", LANGUAGES);
    render(StatusCode::OK, &Landing { page })
}

/// Signs the browser in as the demo operator (created on first use, with a password nobody
/// knows) and opens the dashboard.
pub async fn sign_in(State(dash): State<Dash>, request: Request) -> Response {
    let asked = Asked::of(request.headers(), request.uri().query());
    let lang = asked.pick(None, LANGUAGES);
    if !same_origin(request.headers()) {
        return session::refused_form(lang);
    }
    let token = secrets::random_token(32);
    let digest = secrets::token_digest(&token);
    let unusable = secrets::hash_secret_async(secrets::random_token(32)).await;
    let issued = dash
        .app
        .store
        .write(move |tx| {
            Box::pin(async move {
                let operator = match tx.operator_by_login(DEMO_LOGIN).await? {
                    Some(operator) => operator,
                    None => {
                        tx.create_operator(
                            DEMO_LOGIN,
                            "Demo",
                            Role::ProgramManager,
                            &unusable,
                            None,
                        )
                        .await?
                    }
                };
                let expires_at = tx.now() + session::SESSION_SECS * 1000;
                tx.create_operator_token(operator.id, "dashboard", &digest, Some(expires_at))
                    .await
            })
        })
        .await;
    if let Err(error) = issued {
        tracing::error!("demo sign-in failed: {error}");
        return super::message(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            "dash-failed",
            i18n::text(lang, "dash-failed-text", None),
        );
    }
    let mut response = Redirect::to("/admin").into_response();
    let cookie = session::session_cookie(&token, session::is_https(&dash));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
