//! The edge of a protocol's router: input no store can keep (the NUL character) is refused
//! before a handler runs, and the refusals the framework writes as bare text (a bad body, a
//! wrong content type, an unknown method or path) come in the protocol's own format. Each
//! surface layers [`guard`] once, with the [`Refusal`] that words its errors.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// The largest body a guarded route takes whole (the server's body limit).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What the edge refuses: the HTTP status the framework would answer, the part of the
/// request at fault (`body`, `text` — a text inside the body —, `query`, `path`, `method`) and
/// why.
#[derive(Debug)]
pub struct Refused<'a> {
    /// The request's path, for surfaces whose format differs by path.
    pub path: &'a str,
    pub status: StatusCode,
    pub place: &'static str,
    pub cause: Cause,
    pub message: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The NUL character in the path, query or body.
    Nul,
    /// A body over [`BODY_LIMIT`].
    TooLarge,
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

/// The middleware: `axum::middleware::from_fn_with_state(refusal as Refusal, guard)`.
pub async fn guard(State(refusal): State<Refusal>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let refuse = |status, place, cause, message: &str| {
        refusal(&Refused {
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
    let (parts, body) = request.into_parts();
    // A body cut short fails here too; its client is gone and never reads the answer.
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        let too_large = format!("the request body is over {} MB", BODY_LIMIT >> 20);
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            Cause::TooLarge,
            &too_large,
        );
    };
    if let Some(place) = nul_in_body(&bytes) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            place,
            Cause::Nul,
            NUL_REFUSED,
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
}
