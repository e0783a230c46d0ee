//! Every HTML page a person sees: one layout (`templates/layout.html`) and one stylesheet
//! (`assets/pages.css`), askama templates (auto-escaped), and the security headers — fixed
//! ones for a surface's routes ([`customer_pages`]), a content policy with a nonce fresh for
//! each answer ([`render`]).

use super::i18n::{self, Asked, Lang};
use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// The content policy of an answer that sets none of its own (the API reference's vendored
/// Swagger UI, an image, a redirect): its own origin only, never framed.
const DEFAULT_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The one stylesheet of every page, inlined under the page's nonce.
const STYLESHEET: &str = include_str!("../../assets/pages.css");

/// `routes` as pages a person sees: not framed, not cached, not sniffed, no referrer sent
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

/// Escapes text for HTML element content and quoted attribute values (an SVG's label).
pub fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// A link of the page's header: the language switch, a cabinet section.
pub struct Link {
    pub label: String,
    /// The language the link leads to (the switch's), empty for others.
    pub lang: &'static str,
    pub href: String,
    pub current: bool,
}

/// Where the language switch of a [`Chrome::switch_posting`] page posts, and what it carries.
pub struct SwitchForm {
    pub action: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

/// What the layout needs of a page: its language, title, nonce and header links.
pub struct Chrome {
    pub lang: Lang,
    pub title: String,
    /// The name over the page (the shop's, the program's).
    pub brand: String,
    pub nonce: String,
    /// The language switch: empty where the page has no address to come back to (a form's
    /// answer), or only one language.
    pub languages: Vec<Link>,
    /// The switch as buttons of a form, for a page that answers a form and has no address to
    /// come back to (inCust's hosted page).
    pub switch_form: Option<SwitchForm>,
    /// Sections (the cabinet's); a page of another module adds its own link here.
    pub nav: Vec<Link>,
    /// Keep the switch's choice in a cookie.
    remember: bool,
    /// `form-action` sources beyond none (`'self'`); `None`: forms may go anywhere (the shop).
    form_action: Option<&'static str>,
}

impl Chrome {
    pub fn new(lang: Lang, title: impl Into<String>) -> Chrome {
        Chrome {
            lang,
            title: title.into(),
            brand: String::new(),
            nonce: crate::secrets::random_token(16),
            languages: Vec::new(),
            switch_form: None,
            nav: Vec::new(),
            remember: false,
            form_action: Some("'self'"),
        }
    }

    /// The page's title in its language.
    pub fn titled(lang: Lang, id: &str) -> Chrome {
        Chrome::new(lang, i18n::text(lang, id, None))
    }

    pub fn brand(mut self, brand: impl Into<String>) -> Chrome {
        self.brand = brand.into();
        self
    }

    /// A switch to each of `offered` at `path` (`?lang=…` added to its query), remembering the
    /// choice this request made.
    pub fn switch(mut self, asked: &Asked, path: &str, offered: &[Lang]) -> Chrome {
        let joiner = if path.contains('?') { '&' } else { '?' };
        self.languages = offered
            .iter()
            .map(|lang| Link {
                label: lang.name().to_string(),
                lang: lang.code(),
                href: format!("{path}{joiner}lang={}", lang.code()),
                current: *lang == self.lang,
            })
            .collect();
        self.remember = asked.switched == Some(self.lang);
        self
    }

    /// A switch to each of `offered` that posts `fields` and `lang=…` to `action`, remembering
    /// the choice this request made.
    pub fn switch_posting(
        mut self,
        asked: &Asked,
        action: &'static str,
        fields: Vec<(&'static str, String)>,
        offered: &[Lang],
    ) -> Chrome {
        self = self.switch(asked, action, offered);
        self.switch_form = Some(SwitchForm { action, fields });
        self
    }

    /// Forms on the page may post to other sites (the way back to a shop).
    pub fn forms_anywhere(mut self) -> Chrome {
        self.form_action = None;
        self
    }

    /// Message `id` in the page's language.
    pub fn t(&self, id: &str) -> String {
        i18n::text(self.lang, id, None)
    }

    /// Message `id` with one named value.
    pub fn t_with(&self, id: &str, name: &str, value: &str) -> String {
        let values = [(name, fluent_bundle::FluentValue::from(value))];
        i18n::text(self.lang, id, Some(&i18n::args(&values)))
    }

    pub fn stylesheet(&self) -> &'static str {
        STYLESHEET
    }
}

/// A page's template: its data and its [`Chrome`].
pub trait Page: Template {
    fn chrome(&self) -> &Chrome;
}

/// `page` as an answer with `status`: its content policy allows only the page's own styles and
/// scripts (by nonce), images from its origin, forms to its origin unless it says otherwise.
pub fn render(status: StatusCode, page: &impl Page) -> Response {
    let chrome = page.chrome();
    let html = match page.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!("page template failed: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    let nonce = &chrome.nonce;
    let mut csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Some(sources) = chrome.form_action {
        csp.push_str("; form-action ");
        csp.push_str(sources);
    }
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if chrome.remember {
        let cookie = format!(
            "{}={}; Path=/; SameSite=Lax; Max-Age=31536000",
            i18n::LANG_COOKIE,
            chrome.lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.insert(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page with a heading, a text and perhaps a link: what went wrong, what was done.
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub page: Chrome,
    pub heading: String,
    pub text: String,
    /// `id="…"` of the text, for the tests and the shops' scripts.
    pub text_id: &'static str,
    pub link: Option<Link>,
}

impl Page for Message {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl Message {
    /// A page titled by message `heading` saying `text`.
    pub fn new(lang: Lang, heading: &str, text: impl Into<String>) -> Message {
        let page = Chrome::titled(lang, heading);
        Message {
            heading: page.title.clone(),
            page,
            text: text.into(),
            text_id: "message",
            link: None,
        }
    }

    pub fn link(mut self, label: String, href: impl Into<String>) -> Message {
        self.link = Some(Link {
            label,
            lang: "",
            href: href.into(),
            current: false,
        });
        self
    }

    pub fn answer(self, status: StatusCode) -> Response {
        render(status, &self)
    }
}

/// A page saying why the edge refused the request (`super::edge`), with the refusal's status.
pub fn refused_page(lang: Lang, refused: &super::edge::Refused) -> Response {
    use super::edge::Cause;
    let id = match refused.cause {
        Cause::TooLarge | Cause::TooLong => "common-refused-too-large",
        Cause::Busy => "common-refused-busy",
        Cause::Unread => "common-refused-unread",
        Cause::Nul | Cause::Framework => "common-refused-invalid",
    };
    let text = i18n::text(lang, id, None);
    let mut message = Message::new(lang, "common-request-refused", text);
    message.text_id = "error";
    message.answer(refused.status)
}
