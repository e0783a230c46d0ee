//! ECommPay's wire format: the Gate's JSON fields and error answers, the payment document of
//! callbacks and status answers, its dates and its signature.

use crate::http::edge::{clip, ECHO_MAX_CHARS};
use crate::secrets;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kopilka_domain::ecommpay::{self as domain, Code};
use kopilka_store::ecommpay::CashPayment;
use kopilka_store::StoreError;
use serde_json::{json, Value};

/// A Gate refusal in ECommPay's error format.
pub(crate) struct GateError {
    pub(super) status: StatusCode,
    pub(super) code: Code,
    pub(super) field: Option<String>,
    pub(super) project_id: Option<i64>,
    pub(super) payment_id: Option<String>,
}

impl GateError {
    pub(super) fn new(code: Code, field: impl Into<Option<String>>) -> GateError {
        GateError {
            status: StatusCode::OK,
            code,
            field: field.into(),
            project_id: None,
            payment_id: None,
        }
    }

    pub(super) fn about(mut self, request: &Value) -> GateError {
        self.project_id = int_field(request, "project_id").ok();
        self.payment_id = request["general"]["payment_id"]
            .as_str()
            .map(str::to_string);
        self
    }
}

impl From<StoreError> for GateError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Duplicate(_) = e {
            return GateError::new(Code::PaymentIdExists, "general.payment_id".to_string());
        }
        tracing::error!("ecommpay gate: {e}");
        let status = match e {
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        GateError {
            status,
            ..GateError::new(Code::GeneralDecline, None)
        }
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        crate::observability::record_refusal("ecommpay", self.code.number());
        let mut body = json!({
            "status": "error",
            "request_id": request_id(),
            "code": self.code.number(),
            "message": self.code.message(),
        });
        if let Some(p) = self.project_id {
            body["project_id"] = json!(p);
        }
        if let Some(p) = self.payment_id {
            body["payment_id"] = json!(clip(&p, domain::PAYMENT_ID_MAX_CHARS));
        }
        if let Some(f) = self.field {
            body["field"] = json!(clip(&f, ECHO_MAX_CHARS));
        }
        (self.status, Json(body)).into_response()
    }
}

pub(crate) fn request_id() -> String {
    secrets::random_token(15)
}

/// A Gate request refused at the edge: an invalid field (the part of the request at fault).
pub(super) fn edge_refusal(refused: &crate::http::edge::Refused) -> Response {
    let code = match refused.status {
        StatusCode::NOT_FOUND => Code::MethodUnknown,
        _ => Code::FieldInvalid,
    };
    GateError {
        status: refused.status,
        ..GateError::new(code, format!("{}: {}", refused.place, refused.message))
    }
    .into_response()
}

pub(super) fn parse_body(bytes: &[u8]) -> Result<Value, GateError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| GateError {
        status: StatusCode::BAD_REQUEST,
        ..GateError::new(Code::FieldInvalid, Some(format!("body: {e}")))
    })?;
    if !value.is_object() {
        return Err(GateError {
            status: StatusCode::BAD_REQUEST,
            ..GateError::new(Code::FieldInvalid, "body".to_string())
        });
    }
    Ok(value)
}

/// `general.project_id`, a JSON integer or a string of digits.
pub(super) fn int_field(request: &Value, name: &str) -> Result<i64, GateError> {
    let field = format!("general.{name}");
    match &request["general"][name] {
        Value::Null => Err(GateError::new(Code::FieldMissing, field)),
        Value::Number(n) => n.as_i64().ok_or(GateError::new(Code::FieldInvalid, field)),
        Value::String(s) => s
            .parse()
            .map_err(|_| GateError::new(Code::FieldInvalid, field)),
        _ => Err(GateError::new(Code::FieldInvalid, field)),
    }
}

pub(super) fn text_field<'a>(
    request: &'a Value,
    object: &str,
    name: &str,
) -> Result<&'a str, GateError> {
    match &request[object][name] {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::Null => Err(GateError::new(
            Code::FieldMissing,
            format!("{object}.{name}"),
        )),
        Value::String(_) => Err(GateError::new(
            Code::FieldMissing,
            format!("{object}.{name}"),
        )),
        _ => Err(GateError::new(
            Code::FieldInvalid,
            format!("{object}.{name}"),
        )),
    }
}

/// `2024-05-01 10:00:00` (UTC) as unix ms.
pub(super) fn parse_interval(
    request: &Value,
    name: &'static str,
) -> Result<Option<i64>, GateError> {
    match &request[name] {
        Value::Null => Ok(None),
        Value::String(s) => chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .map(|t| Some(t.and_utc().timestamp_millis()))
            .map_err(|_| GateError::new(Code::FieldInvalid, name.to_string())),
        _ => Err(GateError::new(Code::FieldInvalid, name.to_string())),
    }
}

/// `2019-06-27T12:21:46+0000`, the documents' date format.
pub(crate) fn wire_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

/// The payment and its sale operation in the seed's callback structure, unsigned.
pub(crate) fn payment_document(payment: &CashPayment) -> Value {
    let customer = payment.customer.clone();
    let text = |k: &str| {
        customer
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let sum = json!({"amount": payment.amount, "currency": payment.currency});
    json!({
        "project_id": payment.project_id,
        "payment": {
            "id": payment.payment_id,
            "type": "purchase",
            "status": payment.status,
            "date": wire_date(payment.updated_at),
            "method": payment.method,
            "sum": sum,
            "is_new_attempts_available": false,
            "attempts_timeout": 0,
            "description": payment.description,
        },
        "customer": {"id": text("id")},
        "customer_data": {
            "day_of_birth": text("day_of_birth"),
            "first_name": text("first_name"),
            "last_name": text("last_name"),
            "country": text("country"),
            "ip_address": text("ip_address"),
        },
        "merchant_account_id": payment.project_id,
        "operation": {
            "id": payment.operation_id,
            "type": "sale",
            "status": payment.status,
            "date": wire_date(payment.updated_at),
            "created_date": wire_date(payment.created_at),
            "request_id": payment.request_id,
            "sum_initial": sum,
            "sum_converted": sum,
            "provider": {"id": payment.project_id, "payment_id": "", "auth_code": ""},
            "code": payment.code,
            "message": payment.message,
        },
    })
}

/// Adds `signature` over everything else.
pub(crate) fn signed(mut document: Value, secret: &str) -> Value {
    let signature = domain::sign(secret, &document);
    document["signature"] = Value::String(signature);
    document
}
