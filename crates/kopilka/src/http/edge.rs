//! The edge of a protocol's router: input no store can keep (the NUL character) is refused
//! before a handler runs, and the refusals the framework writes as bare text (a bad body, a
//! wrong content type, an unknown method or path) come in the protocol's own format. Each
//! surface layers [`guard`] once, with the [`Edge`] that words its errors and bounds its
//! bodies: the route's largest body, the process-wide [`BodyBudget`] of bodies in memory, and
//! the longest text ([`kopilka_domain::text::MAX_TEXT_CHARS`]) — docs/abuse.md.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use kopilka_domain::text::MAX_TEXT_CHARS;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest body of an HTML form or an inCust XML document: a few fields, kilobytes.
pub const FORM_BODY_LIMIT: usize = 64 << 10;
/// The largest body of a JSON API (Loymax, Kupi-Kupi, ECommPay, the admin routes): a cheque
/// or receipt of a thousand lines fits with room to spare. The Loymax batch, which may hold a
/// million rows, is not taken whole: it streams to disk (`loymax::processing::batch`).
pub const JSON_BODY_LIMIT: usize = 1 << 20;

/// What a surface's edge refuses and how it words it: the [`guard`]'s state.
#[derive(Clone, Copy)]
pub struct Edge {
    pub refusal: Refusal,
    /// The largest body the surface's routes take.
    pub body_limit: usize,
}

impl Edge {
    pub fn new(refusal: Refusal, body_limit: usize) -> Edge {
        Edge {
            refusal,
            body_limit,
        }
    }
}

/// The bytes of request bodies every guarded route together may hold in memory at once
/// (`[connections] body_budget_bytes`): a request extension the server adds, so one budget
/// covers every surface. A body that finds it spent is refused at once, never queued.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        BodyBudget(Arc::new(Semaphore::new(bytes)))
    }
}

/// What the edge refuses: the HTTP status the framework would answer, the part of the
/// request at fault (`body`, `text` — a text inside the body —, `query`, `path`, `method`, or
/// the name of a field) and why.
#[derive(Debug)]
pub struct Refused<'a> {
    /// The request's path, for surfaces whose format differs by path.
    pub path: &'a str,
    pub status: StatusCode,
    pub place: &'a str,
    pub cause: Cause,
    pub message: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The NUL character in the path, query or body.
    Nul,
    /// A body over the route's limit.
    TooLarge,
    /// A text over [`MAX_TEXT_CHARS`]; the place is its field.
    TooLong,
    /// The [`BodyBudget`] is spent: try again later (503).
    Busy,
    /// The body stopped coming (the body-read timeout, or the client went away): 408.
    Unread,
    /// A refusal the framework wrote (status and text as it wrote them).
    Framework,
}

/// How a surface words a refusal of the edge.
pub type Refusal = fn(&Refused) -> Response;

/// The most characters of a message made of client input (a parser's complaint quoting a
/// value, a field path) that an error answer echoes.
pub const ECHO_MAX_CHARS: usize = 1024;

/// At most `max` characters of `text`: what an error answer echoes of client input, so a
/// 10 MB field never comes back.
pub fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

const NUL_REFUSED: &str = "the NUL character (U+0000) is not accepted";

/// The middleware: `axum::middleware::from_fn_with_state(Edge::new(…), guard)`.
pub async fn guard(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let refuse = |status, place: &str, cause, message: &str| {
        (edge.refusal)(&Refused {
            path: &path,
            status,
            place,
            cause,
            message,
        })
    };
    if let Some(place) = nul_in_uri(request.uri()) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            place,
            Cause::Nul,
            NUL_REFUSED,
        );
    }
    let budget = request.extensions().get::<BodyBudget>().cloned();
    let (parts, body) = request.into_parts();
    // Held until the answer is made: the body's bytes count against the budget till then.
    let (bytes, _held) = match read_body(&parts.headers, body, edge.body_limit, budget).await {
        Ok(read) => read,
        Err(cause) => {
            let (status, message) = match cause {
                Cause::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over {} KiB", edge.body_limit >> 10),
                ),
                Cause::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is receiving too many request bodies; try again later".into(),
                ),
                _ => (
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time".into(),
                ),
            };
            return refuse(status, "body", cause, &message);
        }
    };
    if let Some(place) = nul_in_body(&bytes) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            place,
            Cause::Nul,
            NUL_REFUSED,
        );
    }
    if let Some(field) = long_text(&parts.headers, &bytes) {
        let message = format!("{field}: at most {MAX_TEXT_CHARS} characters");
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &field,
            Cause::TooLong,
            &message,
        );
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !written_by_framework(&response) {
        return response;
    }
    let status = response.status();
    let (place, message) = match status {
        StatusCode::NOT_FOUND => ("path", "no such method"),
        StatusCode::METHOD_NOT_ALLOWED => ("method", "the HTTP method is not allowed here"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("body", "the content type is not accepted"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body", "the request body is too large"),
        _ => ("body", "the request is malformed"),
    };
    // The framework's own text names the parser's complaint; short, so kept.
    let detail = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .ok()
        .filter(|text| !text.is_empty())
        .map(|text| String::from_utf8_lossy(&text).into_owned());
    let message = match &detail {
        Some(detail) => format!("{message}: {detail}"),
        None => message.to_string(),
    };
    refuse(status, place, Cause::Framework, &message)
}

/// The body whole, within `limit`, its bytes counted against `budget` as they arrive (a
/// declared length at once, so a body that cannot fit is refused before it is read). The
/// permit holds the bytes' share of the budget. Errors: `TooLarge`, `Busy`, `Unread`.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: Option<BodyBudget>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Cause> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Cause::TooLarge);
    }
    let mut counted = Counted {
        budget,
        permit: None,
        bytes: 0,
    };
    let declared = declared.unwrap_or(0) as usize;
    counted.grow_to(declared)?;
    let mut buffer = Vec::with_capacity(declared);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Cause::Unread)?;
        let length = buffer.len() + chunk.len();
        if length > limit {
            return Err(Cause::TooLarge);
        }
        counted.grow_to(length)?;
        buffer.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(buffer), counted.permit))
}

/// The share of the body budget a body holds.
struct Counted {
    budget: Option<BodyBudget>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Counted {
    fn grow_to(&mut self, bytes: usize) -> Result<(), Cause> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if bytes <= self.bytes {
            return Ok(());
        }
        let more = u32::try_from(bytes - self.bytes).map_err(|_| Cause::TooLarge)?;
        let permit = budget
            .0
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| Cause::Busy)?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = bytes;
        Ok(())
    }
}

/// A refusal written as bare text or with no body at all: the framework's, not a handler's.
fn written_by_framework(response: &Response) -> bool {
    let framework_status = [
        StatusCode::BAD_REQUEST,
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    if !framework_status.contains(&response.status()) {
        return false;
    }
    match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.as_bytes().starts_with(b"text/plain"),
    }
}

/// The part of the URI holding an escaped NUL character, if any.
fn nul_in_uri(uri: &Uri) -> Option<&'static str> {
    let escaped_nul = |text: &str| text.as_bytes().windows(3).any(|w| w == b"%00");
    if escaped_nul(uri.path()) {
        return Some("path");
    }
    uri.query().filter(|q| escaped_nul(q)).map(|_| "query")
}

/// Where the body holds the NUL character, if it does: raw in the `body` (no text format
/// takes it), or in a `text` — percent-escaped (a form), a JSON escape (`\u0000`) or an XML
/// character reference (`&#0;`, `&#x0;`); `text` is also how the stores name it. Every
/// spelling is looked for whatever the content type says: handlers read their own format
/// whatever the type (the Gate JSON sent as a form, the token endpoint a form sent untyped).
fn nul_in_body(body: &Bytes) -> Option<&'static str> {
    if body.contains(&0) {
        return Some("body");
    }
    let percent_escaped = body.windows(3).any(|w| w == b"%00");
    let in_text = percent_escaped || json_escaped_nul(body) || xml_referenced_nul(body);
    in_text.then_some("text")
}

/// `\u0000` as a JSON escape (not the text after an escaped backslash, `\\u0000`).
fn json_escaped_nul(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            if body.get(i + 1) == Some(&b'u') && body.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// `&#0;`, `&#x0;` and their zero-padded spellings.
fn xml_referenced_nul(body: &[u8]) -> bool {
    body.windows(2)
        .enumerate()
        .filter(|(_, w)| *w == b"&#")
        .any(|(at, _)| {
            let rest = &body[at + 2..];
            let digits = match rest.first() {
                Some(b'x' | b'X') => &rest[1..],
                _ => rest,
            };
            let zeros = digits.iter().take_while(|b| **b == b'0').count();
            zeros > 0 && digits.get(zeros) == Some(&b';')
        })
}

/// The field of the first text longer than [`MAX_TEXT_CHARS`] in the body, if any: in a form
/// (a value that is itself an XML document is read as one), an XML document or JSON.
fn long_text(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_ascii_lowercase())
        .is_some_and(|t| t.starts_with(b"application/x-www-form-urlencoded"));
    let raw = body.trim_ascii_start();
    if form && !raw.starts_with(b"<") {
        return form_urlencoded::parse(body).find_map(|(name, value)| {
            if value.trim_start().starts_with('<') {
                return xml_long_text(value.as_bytes());
            }
            (value.chars().count() > MAX_TEXT_CHARS).then(|| name.into_owned())
        });
    }
    if raw.starts_with(b"<") {
        xml_long_text(raw)
    } else {
        json_long_text(raw)
    }
}

/// Characters of UTF-8 text: bytes that do not continue a character.
fn chars_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

/// The key of the first JSON string over the maximum (an escape counts as one character); a
/// string with no key before it is `text`.
fn json_long_text(body: &[u8]) -> Option<String> {
    let mut key: Option<&[u8]> = None;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let (mut end, mut chars) = (start, 0usize);
        while end < body.len() && body[end] != b'"' {
            if body[end] == b'\\' {
                end += if body.get(end + 1) == Some(&b'u') {
                    6
                } else {
                    2
                };
                chars += 1;
            } else {
                if (body[end] & 0xC0) != 0x80 {
                    chars += 1;
                }
                end += 1;
            }
        }
        let text = &body[start..end.min(body.len())];
        let is_key = body
            .get(end + 1..)
            .and_then(|rest| rest.iter().find(|b| !b.is_ascii_whitespace()))
            == Some(&b':');
        if chars > MAX_TEXT_CHARS {
            let field = if is_key { None } else { key };
            return Some(field_name(field));
        }
        if is_key {
            key = Some(text);
        }
        i = end + 1;
    }
    None
}

/// The element of the first XML text or attribute value over the maximum.
fn xml_long_text(body: &[u8]) -> Option<String> {
    let mut element: Option<&[u8]> = None;
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'<' {
            let name_end = body[i + 1..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'))
                .map_or(body.len(), |p| i + 1 + p);
            let name = &body[i + 1..name_end];
            if !name.is_empty() {
                element = Some(name);
            }
            // The tag, its attribute values one by one.
            let mut j = name_end;
            while j < body.len() && body[j] != b'>' {
                if matches!(body[j], b'"' | b'\'') {
                    let quote = body[j];
                    let end = body[j + 1..]
                        .iter()
                        .position(|b| *b == quote)
                        .map_or(body.len(), |p| j + 1 + p);
                    if chars_in(&body[j + 1..end]) > MAX_TEXT_CHARS {
                        return Some(field_name(element));
                    }
                    j = end;
                }
                j += 1;
            }
            i = j + 1;
        } else {
            let end = body[i..]
                .iter()
                .position(|b| *b == b'<')
                .map_or(body.len(), |p| i + p);
            if chars_in(&body[i..end]) > MAX_TEXT_CHARS {
                return Some(field_name(element));
            }
            i = end;
        }
    }
    None
}

/// A field's name as the client wrote it, clipped; `text` when there is none.
fn field_name(name: Option<&[u8]>) -> String {
    match name {
        Some(name) => clip(&String::from_utf8_lossy(name), 64).to_string(),
        None => "text".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_by_characters() {
        assert_eq!(clip("абвг", 2), "аб");
        assert_eq!(clip("ab", 5), "ab");
    }

    #[test]
    fn finds_the_nul_character_however_it_is_spelled() {
        assert!(json_escaped_nul(br#"{"a":"x\u0000"}"#));
        assert!(!json_escaped_nul(br#"{"a":"x\\u0000"}"#));
        assert!(json_escaped_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(!json_escaped_nul(br#"{"a":"\u0001"}"#));
        assert!(xml_referenced_nul(b"<a>&#0;</a>"));
        assert!(xml_referenced_nul(b"<a>&#x000;</a>"));
        assert!(!xml_referenced_nul(b"<a>&#10;</a>"));
        assert!(!xml_referenced_nul(b"<a>&#x;</a>"));
        // Whatever the content type: a body may be read in a format its type does not name.
        for body in [
            &b"client_id=a%00b"[..],
            br#"{"a":"\u0000"}"#,
            b"<a>&#0;</a>",
        ] {
            assert_eq!(nul_in_body(&Bytes::from(body)), Some("text"));
        }
        assert_eq!(nul_in_body(&Bytes::from_static(b"a=%2500")), None);
    }

    #[test]
    fn names_the_field_of_a_text_over_the_maximum() {
        let long = "я".repeat(MAX_TEXT_CHARS + 1);
        let fits = "я".repeat(MAX_TEXT_CHARS);
        let json = |text: &str| format!(r#"{{"a": {{"b": 1}}, "description" : "{text}"}}"#);
        assert_eq!(
            json_long_text(json(&long).as_bytes()).as_deref(),
            Some("description")
        );
        assert_eq!(json_long_text(json(&fits).as_bytes()), None);
        let escaped = format!(r#"{{"d": "{}"}}"#, r"\u044f".repeat(MAX_TEXT_CHARS));
        assert_eq!(json_long_text(escaped.as_bytes()), None);
        let listed = format!(r#"{{"items": ["x", "{long}"]}}"#);
        assert_eq!(json_long_text(listed.as_bytes()).as_deref(), Some("items"));
        let bare = format!(r#""{long}""#);
        assert_eq!(json_long_text(bare.as_bytes()).as_deref(), Some("text"));
        let xml = format!("<root><comment>{long}</comment></root>");
        assert_eq!(xml_long_text(xml.as_bytes()).as_deref(), Some("comment"));
        let attribute = format!("<root><item name='{long}'/></root>");
        assert_eq!(xml_long_text(attribute.as_bytes()).as_deref(), Some("item"));
        assert_eq!(xml_long_text(format!("<a>{fits}</a>").as_bytes()), None);
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let body = format!("phone=1&comment={}", "x".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(
            long_text(&form, body.as_bytes()).as_deref(),
            Some("comment")
        );
        let body = format!("xml=<a><c>{}</c></a>", "x".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(long_text(&form, body.as_bytes()).as_deref(), Some("c"));
    }
}
