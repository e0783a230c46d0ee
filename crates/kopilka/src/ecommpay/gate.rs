//! The Gate: `POST /v2/payment/cash/{method}/sale`, `POST /v2/payment/status` and the Data API
//! `POST /operations/get`. Answers are JSON with HTTP 200 for business errors.

use super::wire::{
    int_field, parse_body, parse_interval, payment_document, request_id, signed, text_field,
    GateError,
};
use super::{proceed, project_secret, voucher_url};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kopilka_domain::ecommpay::{self as domain, Code, PaymentStatus};
use kopilka_store::ecommpay::{CashPaymentFilter, EcommpayProject, NewCashPayment};
use serde_json::{json, Map, Value};

/// Finds the project and checks the request's signature (`general.signature`).
async fn authenticate(
    state: &AppState,
    request: &Value,
) -> Result<(EcommpayProject, String), GateError> {
    let project_id = int_field(request, "project_id")?;
    let signature = match &request["general"]["signature"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => {
            return Err(GateError::new(
                Code::SignatureEmpty,
                "general.signature".to_string(),
            ))
        }
    };
    signed_project(state, request, project_id, &signature, "general.").await
}

/// The project `project_id` names, once `signature` checks out against its secret; `at` is
/// where the request keeps both fields (`general.` or the top level).
async fn signed_project(
    state: &AppState,
    request: &Value,
    project_id: i64,
    signature: &str,
    at: &str,
) -> Result<(EcommpayProject, String), GateError> {
    let project = state
        .store
        .read(move |tx| Box::pin(async move { tx.ecommpay_project(project_id).await }))
        .await?
        .filter(|p| p.disabled_at.is_none())
        .ok_or(GateError::new(
            Code::ProjectNotFound,
            format!("{at}project_id"),
        ))?;
    let secret = project_secret(&state.sealer, &project)?;
    if !domain::verify(&secret, request, signature) {
        return Err(GateError::new(
            Code::SignatureInvalid,
            format!("{at}signature"),
        ));
    }
    Ok((project, secret))
}

/// Whether `url` is an http(s) URL on one of `hosts`.
pub(crate) fn url_on_hosts(url: &str, hosts: &[String]) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

pub async fn sale(
    State(state): State<AppState>,
    Path(method): Path<String>,
    bytes: Bytes,
) -> Response {
    let request = match parse_body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match sale_inner(&state, &method, &request).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.about(&request).into_response(),
    }
}

async fn sale_inner(state: &AppState, method: &str, request: &Value) -> Result<Value, GateError> {
    let method = method.to_ascii_lowercase();
    if method != domain::CASHTOCODE {
        return Err(GateError::new(Code::MethodUnknown, "method".to_string()));
    }
    let (project, secret) = authenticate(state, request).await?;
    if !project.methods.iter().any(|m| m == &method) {
        return Err(GateError::new(Code::MethodUnknown, "method".to_string()));
    }
    let payment_id = text_field(request, "general", "payment_id")?.to_string();
    let customer_id = text_field(request, "customer", "id")?;
    let ip_address = text_field(request, "customer", "ip_address")?;
    let amount = match &request["payment"]["amount"] {
        Value::Null => {
            return Err(GateError::new(
                Code::FieldMissing,
                "payment.amount".to_string(),
            ))
        }
        Value::Number(n) => n.as_i64().filter(|a| *a > 0).ok_or(GateError::new(
            Code::FieldInvalid,
            "payment.amount".to_string(),
        ))?,
        _ => {
            return Err(GateError::new(
                Code::FieldInvalid,
                "payment.amount".to_string(),
            ))
        }
    };
    let currency = text_field(request, "payment", "currency")?.to_string();
    // The personal data the seed lists for the method; the country may be left to the IP.
    let mut customer = Map::new();
    customer.insert("id".into(), json!(customer_id));
    customer.insert("ip_address".into(), json!(ip_address));
    for key in ["first_name", "last_name"] {
        customer.insert(key.into(), json!(text_field(request, "customer", key)?));
    }
    let birth_date = text_field(request, "customer", "day_of_birth")?;
    customer.insert("day_of_birth".into(), json!(birth_date));
    if chrono::NaiveDate::parse_from_str(birth_date, "%d-%m-%Y").is_err() {
        return Err(GateError::new(
            Code::FieldInvalid,
            "customer.day_of_birth".to_string(),
        ));
    }
    match &request["customer"]["country"] {
        Value::String(c) if !c.trim().is_empty() => {
            customer.insert("country".into(), json!(c.trim().to_ascii_uppercase()));
        }
        Value::Null | Value::String(_) => {}
        _ => {
            return Err(GateError::new(
                Code::FieldInvalid,
                "customer.country".to_string(),
            ))
        }
    }
    let callback_url = match &request["general"]["merchant_callback_url"] {
        Value::String(u) if is_http_url(u) => Some(u.clone()),
        Value::Null => None,
        _ => {
            return Err(GateError::new(
                Code::FieldInvalid,
                "general.merchant_callback_url".to_string(),
            ))
        }
    };
    let mut return_urls = Map::new();
    if let Value::Object(urls) = &request["return_url"] {
        for (k, v) in urls {
            match v.as_str() {
                Some(u) if url_on_hosts(u, &project.return_hosts) => {
                    return_urls.insert(k.clone(), json!(u));
                }
                _ => {
                    return Err(GateError::new(
                        Code::FieldInvalid,
                        format!("return_url.{k}"),
                    ))
                }
            }
        }
    }
    let new = NewCashPayment {
        project_id: project.id,
        payment_id: payment_id.clone(),
        interface: "gate",
        method: method.clone(),
        status: PaymentStatus::Created,
        amount,
        currency,
        description: request["payment"]["description"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        customer: Value::Object(customer),
        callback_url,
        return_urls: Value::Object(return_urls),
        request_id: request_id(),
        token: secrets::random_token(16),
        code: Code::Success.number().into(),
        message: Code::Success.message().into(),
        expires_at: None,
    };
    let public_url = state.public_url.to_string();
    let created = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if tx
                    .cash_payment(new.project_id, &new.payment_id)
                    .await?
                    .is_some()
                {
                    return Ok(None);
                }
                // Accepted: CashtoCode issues the voucher (the redirect callback), or declines a
                // sale it does not take by the final callback.
                let payment = tx.create_cash_payment(&new).await?;
                proceed(tx, &public_url, &project, &secret, payment.id).await?;
                Ok(Some(payment))
            })
        })
        .await?;
    let payment = created.ok_or(GateError::new(
        Code::PaymentIdExists,
        "general.payment_id".to_string(),
    ))?;
    Ok(json!({
        "status": "success",
        "request_id": payment.request_id,
        "project_id": payment.project_id,
        "payment_id": payment.payment_id,
    }))
}

/// Any other Gate path (`/v2/payment/card/sale`, `/v2/payment/cash/other/sale` …): a method
/// kopilka does not serve, answered in ECommPay's error format.
pub async fn unserved(bytes: Bytes) -> Response {
    let request = parse_body(&bytes).unwrap_or(Value::Null);
    GateError::new(Code::MethodUnknown, "method".to_string())
        .about(&request)
        .into_response()
}

pub async fn status(State(state): State<AppState>, bytes: Bytes) -> Response {
    let request = match parse_body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match status_inner(&state, &request).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.about(&request).into_response(),
    }
}

async fn status_inner(state: &AppState, request: &Value) -> Result<Value, GateError> {
    let (project, secret) = authenticate(state, request).await?;
    let payment_id = text_field(request, "general", "payment_id")?.to_string();
    let project_id = project.id;
    let payment = state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payment(project_id, &payment_id).await }))
        .await?
        .ok_or(GateError::new(
            Code::PaymentNotFound,
            "general.payment_id".to_string(),
        ))?;
    let document = payment_document(&payment);
    let mut answer = json!({
        "project_id": payment.project_id,
        "payment": document["payment"],
        "customer": document["customer"],
        "customer_data": document["customer_data"],
        "operations": [document["operation"]],
    });
    if payment.status == PaymentStatus::AwaitingRedirectResult {
        answer["redirect_data"] =
            json!({"method": "GET", "body": {}, "url": voucher_url(&state.public_url, &payment)});
    }
    Ok(signed(answer, &secret))
}

pub async fn operations(State(state): State<AppState>, bytes: Bytes) -> Response {
    let request = match parse_body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match operations_inner(&state, &request).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The Data API: the project's operations as JSON, newest first, signed like every request
/// (`project_id` and `signature` at the top level).
async fn operations_inner(state: &AppState, request: &Value) -> Result<Value, GateError> {
    let wrapped = json!({"general": {"project_id": request["project_id"], "signature": request["signature"]}});
    let project_id = int_field(&wrapped, "project_id").map_err(|e| GateError {
        field: Some("project_id".into()),
        ..e
    })?;
    let signature = request["signature"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or(GateError::new(
            Code::SignatureEmpty,
            "signature".to_string(),
        ))?;
    signed_project(state, request, project_id, signature, "").await?;
    let limit = match &request["limit"] {
        Value::Null => 100,
        v => v
            .as_i64()
            .filter(|l| (1..=1000).contains(l))
            .ok_or(GateError::new(Code::FieldInvalid, "limit".to_string()))?,
    };
    let status = match &request["status"] {
        Value::Null => None,
        Value::String(s) if PaymentStatus::parse(s).is_some() => Some(s.clone()),
        _ => return Err(GateError::new(Code::FieldInvalid, "status".to_string())),
    };
    let filter = CashPaymentFilter {
        project_id: Some(project_id),
        status,
        payment_id: None,
        created_from: parse_interval(request, "interval_from")?,
        created_to: parse_interval(request, "interval_to")?,
        before_id: match &request["cursor"] {
            Value::Null => None,
            v => Some(
                v.as_i64()
                    .ok_or(GateError::new(Code::FieldInvalid, "cursor".to_string()))?,
            ),
        },
        limit,
    };
    let payments = state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payments(&filter).await }))
        .await?;
    let next_cursor = if payments.len() as i64 == limit {
        payments.last().map(|p| p.id)
    } else {
        None
    };
    let operations: Vec<Value> = payments
        .iter()
        .map(|p| {
            let d = payment_document(p);
            json!({
                "payment_id": p.payment_id,
                "payment_status": p.status,
                "payment_method": p.method,
                "customer_id": d["customer"]["id"],
                "operation": d["operation"],
            })
        })
        .collect();
    Ok(json!({"project_id": project_id, "operations": operations, "next_cursor": next_cursor}))
}
