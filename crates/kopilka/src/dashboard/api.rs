//! The admin API called in process: a request with the operator's bearer token (or none, for
//! sign-in) carrying the client's address, through the API's own guard, edge and audit log.

use crate::http::edge::BodyBudget;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, request::Parts, HeaderName, HeaderValue, Method, StatusCode};
use axum::Router;
use std::net::SocketAddr;
use tower::ServiceExt;

/// The most of an answer the dashboard reads (a page of a listing is far less).
const ANSWER_MAX: usize = 16 << 20;

/// What of the browser's request an API call carries: the client's address as the server saw
/// it (sign-in's throttle is per address), and the process's body budget.
#[derive(Clone, Default)]
pub struct Carried {
    peer: Option<ConnectInfo<SocketAddr>>,
    budget: Option<BodyBudget>,
    forwarded: Vec<(HeaderName, HeaderValue)>,
}

impl Carried {
    pub fn of(parts: &Parts) -> Carried {
        let forwarded = ["x-forwarded-for", "forwarded"]
            .into_iter()
            .flat_map(|name| {
                parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(move |v| (HeaderName::from_static(name), v.clone()))
            })
            .collect();
        Carried {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            budget: parts.extensions.get::<BodyBudget>().cloned(),
            forwarded,
        }
    }
}

/// A successful answer: its status and JSON (`Null` for an empty body).
#[derive(Debug)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub json: serde_json::Value,
}

/// A refusal of the API, as its native error names it.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

impl ApiFailure {
    fn internal(message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            field: None,
            message: message.into(),
        }
    }
}

/// `method uri` with `body` as JSON, as `token`'s holder.
pub async fn call(
    api: &Router,
    carried: &Carried,
    token: Option<&str>,
    method: Method,
    uri: &str,
    body: Option<serde_json::Value>,
) -> Result<ApiAnswer, ApiFailure> {
    read(send(api, carried, token, method, uri, body).await?).await
}

/// An answer of the API as JSON, or its refusal.
pub async fn read(response: axum::response::Response) -> Result<ApiAnswer, ApiFailure> {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), ANSWER_MAX)
        .await
        .map_err(|e| ApiFailure::internal(format!("answer: {e}")))?;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    };
    if status.is_success() {
        return Ok(ApiAnswer { status, json });
    }
    let error = &json["error"];
    Err(ApiFailure {
        status,
        code: error["code"].as_str().unwrap_or("unknown").to_string(),
        field: error["field"].as_str().map(str::to_string),
        message: error["message"].as_str().unwrap_or_default().to_string(),
    })
}

/// The API's whole answer to `method uri`, its body unread (an export streams it on).
pub async fn send(
    api: &Router,
    carried: &Carried,
    token: Option<&str>,
    method: Method,
    uri: &str,
    body: Option<serde_json::Value>,
) -> Result<axum::response::Response, ApiFailure> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in &carried.forwarded {
        request = request.header(name, value);
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request
        .body(body)
        .map_err(|e| ApiFailure::internal(format!("request: {e}")))?;
    if let Some(peer) = carried.peer {
        request.extensions_mut().insert(peer);
    }
    if let Some(budget) = &carried.budget {
        request.extensions_mut().insert(budget.clone());
    }
    api.clone()
        .oneshot(request)
        .await
        .map_err(|e| ApiFailure::internal(format!("{e}")))
}
