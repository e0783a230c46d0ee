//! Hosted pages' HTML: escaping, one shared layout (no scripts, no external assets) and the
//! security headers of every page a customer sees.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// The content policy of a page that sets none of its own: its own origin only, inline styles
/// and scripts as the pages write them, never framed. A page may send a stricter one (the
/// inCust pages, with nonces).
const DEFAULT_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// `routes` as pages a customer sees: not framed, not cached, not sniffed, no referrer sent
/// on, and a content policy unless the page set its own.
pub fn customer_pages<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    let fixed = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    let routes = fixed.into_iter().fold(routes, |routes, (name, value)| {
        routes.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ))
    });
    routes.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DEFAULT_CSP),
    ))
}

/// The value of the request's cookie `name` (the cabinet's session, a flow's binding).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}\
.amount{font-size:1.6rem;font-weight:600}.error{color:#b00020}.note{color:#555}\
input{font-size:1.2rem;padding:.3rem}button{font-size:1.1rem;padding:.4rem 1rem}code{font-size:1.2rem}";

/// A whole page; `body` is HTML the caller escaped.
pub fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    Html(html).into_response()
}

/// A page saying why the edge refused the request (`super::edge`), with the refusal's status.
pub fn refused_page(title: &str, refused: &super::edge::Refused) -> Response {
    let body = format!(
        "<h1>Запрос отклонён</h1><p class=\"error\">{}</p>",
        escape(refused.message)
    );
    let mut page = page(title, &body);
    *page.status_mut() = refused.status;
    page
}
