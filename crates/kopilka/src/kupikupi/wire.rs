//! The wire format: a JSON object of fields in, `status`/`errorCode`/`message` plus the method's
//! fields out. Numbers are read from the raw JSON text, never through a float.

use axum::response::{IntoResponse, Response};
use kopilka_domain::kupikupi::TokenValue;
use kopilka_domain::phone::Phone;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// kopilka's error codes (docs/kupikupi.md lists them with their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadToken,
    UnknownPlatform,
    BadField,
    UnknownPhone,
    NotEnoughPoints,
    UnknownOrder,
    OrderReused,
    WrongCode,
    TooManyAttempts,
    Expired,
    AlreadyPaid,
    TransferClosed,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadToken => "1",
            ErrorCode::UnknownPlatform => "2",
            ErrorCode::BadField => "3",
            ErrorCode::UnknownPhone => "4",
            ErrorCode::NotEnoughPoints => "5",
            ErrorCode::UnknownOrder => "6",
            ErrorCode::OrderReused => "7",
            ErrorCode::WrongCode => "8",
            ErrorCode::TooManyAttempts => "9",
            ErrorCode::Expired => "10",
            ErrorCode::AlreadyPaid => "11",
            ErrorCode::TransferClosed => "12",
            ErrorCode::Internal => "99",
        }
    }
}

/// A refusal in the protocol's own format: HTTP 200, `status: false`.
#[derive(Debug)]
pub struct KkError {
    pub code: ErrorCode,
    pub message: String,
}

impl KkError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> KkError {
        KkError {
            code,
            message: message.into(),
        }
    }

    pub fn field(name: &str, problem: &str) -> KkError {
        KkError::new(ErrorCode::BadField, format!("{name}: {problem}"))
    }
}

impl From<kopilka_store::StoreError> for KkError {
    fn from(error: kopilka_store::StoreError) -> Self {
        use kopilka_domain::DomainError;
        use kopilka_store::StoreError;
        match error {
            StoreError::Domain(DomainError::InsufficientFunds { .. }) => {
                KkError::new(ErrorCode::NotEnoughPoints, "Не достаточно средств")
            }
            StoreError::Domain(DomainError::IdempotencyConflict) => KkError::new(
                ErrorCode::OrderReused,
                "the order was registered with other data",
            ),
            StoreError::Domain(e) => KkError::new(ErrorCode::BadField, e.to_string()),
            other => {
                let id = uuid::Uuid::new_v4();
                tracing::error!(error_id = %id, "kupikupi: {other}");
                KkError::new(ErrorCode::Internal, format!("internal error {id}"))
            }
        }
    }
}

crate::http::error::job_refusal!(KkError);

impl IntoResponse for KkError {
    fn into_response(self) -> Response {
        axum::Json(Body(vec![
            ("status".to_string(), raw(&Value::Bool(false))),
            (
                "errorCode".to_string(),
                raw(&Value::String(self.code.as_str().into())),
            ),
            ("message".to_string(), raw(&Value::String(self.message))),
        ]))
        .into_response()
    }
}

/// A response body: fields in the order given, values as raw JSON so decimals keep their
/// two places (`1000.00`).
struct Body(Vec<(String, Box<RawValue>)>);

impl serde::Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value serializes")
}

/// A success: `status: true`, `errorCode: "0"`, an empty `message` and `fields`.
pub fn success(fields: Vec<(&str, Box<RawValue>)>) -> Response {
    let mut body = vec![
        ("status".to_string(), raw(&Value::Bool(true))),
        ("errorCode".to_string(), raw(&Value::String("0".into()))),
        ("message".to_string(), raw(&Value::String(String::new()))),
    ];
    body.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    axum::Json(Body(body)).into_response()
}

/// A JSON value as a response field.
pub fn field(value: impl Into<Value>) -> Box<RawValue> {
    raw(&value.into())
}

/// A decimal JSON number written exactly as `text` ("1000.00").
pub fn decimal_number(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string())
        .unwrap_or_else(|_| raw(&Value::String(text.to_string())))
}

/// A request's fields, each as the client wrote it.
pub struct Fields {
    raw: HashMap<String, Box<RawValue>>,
}

enum Scalar {
    Text(String),
    Number(String),
    Other,
}

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Fields, KkError> {
        let raw: HashMap<String, Box<RawValue>> = serde_json::from_slice(body).map_err(|e| {
            KkError::new(
                ErrorCode::BadField,
                format!("the body must be a JSON object: {e}"),
            )
        })?;
        Ok(Fields { raw })
    }

    fn scalar(&self, name: &str) -> Option<Scalar> {
        let raw = self.raw.get(name)?.get();
        Some(if raw.starts_with('"') {
            match serde_json::from_str::<String>(raw) {
                Ok(s) => Scalar::Text(s),
                Err(_) => Scalar::Other,
            }
        } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Scalar::Number(raw.to_string())
        } else {
            Scalar::Other
        })
    }

    /// Every field as the token algorithm sees it.
    pub fn token_fields(&self) -> Vec<(String, TokenValue)> {
        self.raw
            .iter()
            .map(|(key, raw)| {
                let text = raw.get();
                let value = match text {
                    "true" => TokenValue::boolean(true),
                    "false" => TokenValue::boolean(false),
                    "null" => TokenValue::null(),
                    t if t.starts_with('[') || t.starts_with('{') => TokenValue::Skip,
                    t if t.starts_with('"') => {
                        TokenValue::text(serde_json::from_str::<String>(t).unwrap_or_default())
                    }
                    t => TokenValue::text(t),
                };
                (key.clone(), value)
            })
            .collect()
    }

    /// `uidPlatform` (the seed) or `platformUid` (the public PHP class).
    pub fn platform_uid(&self) -> Result<String, KkError> {
        for name in ["uidPlatform", "platformUid"] {
            if self.raw.contains_key(name) {
                return self.text(name, 20);
            }
        }
        Err(KkError::field("uidPlatform", "is required"))
    }

    pub fn token(&self) -> Result<String, KkError> {
        match self.scalar("token") {
            Some(Scalar::Text(t)) if t.len() == 64 => Ok(t.to_ascii_lowercase()),
            Some(_) => Err(KkError::new(
                ErrorCode::BadToken,
                "token: must be 64 hex digits",
            )),
            None => Err(KkError::field("token", "is required")),
        }
    }

    /// A string field; integers are accepted as their digits (shops send `orderId: 1234`).
    pub fn text(&self, name: &str, max: usize) -> Result<String, KkError> {
        let value = match self.scalar(name) {
            Some(Scalar::Text(t)) => t,
            Some(Scalar::Number(n)) if n.bytes().all(|b| b.is_ascii_digit()) => n,
            Some(_) => return Err(KkError::field(name, "must be a string")),
            None => return Err(KkError::field(name, "is required")),
        };
        if value.trim().is_empty() || value.chars().count() > max {
            return Err(KkError::field(
                name,
                &format!("must be 1 to {max} characters"),
            ));
        }
        Ok(value)
    }

    /// A phone of 11 digits (79999999999), as a JSON number or a string.
    pub fn phone(&self) -> Result<Phone, KkError> {
        let digits = match self.scalar("phone") {
            Some(Scalar::Number(n)) => n,
            Some(Scalar::Text(t)) => Phone::parse(&t)
                .map(|p| p.digits().to_string())
                .map_err(|_| KkError::field("phone", "must be 11 digits: 79999999999"))?,
            Some(Scalar::Other) => {
                return Err(KkError::field("phone", "must be 11 digits: 79999999999"))
            }
            None => return Err(KkError::field("phone", "is required")),
        };
        if digits.len() != 11
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(KkError::field("phone", "must be 11 digits: 79999999999"));
        }
        Phone::parse(&digits).map_err(|_| KkError::field("phone", "must be 11 digits: 79999999999"))
    }

    /// An amount in kopecks: a positive integer of at most 10 digits, number or digit string.
    pub fn kopecks(&self, name: &str) -> Result<i64, KkError> {
        let text = match self.scalar(name) {
            Some(Scalar::Number(n)) | Some(Scalar::Text(n)) => n,
            Some(Scalar::Other) => {
                return Err(KkError::field(name, "must be an integer number of kopecks"))
            }
            None => return Err(KkError::field(name, "is required")),
        };
        if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KkError::field(
                name,
                "must be an integer number of kopecks (at most 10 digits)",
            ));
        }
        match text.parse::<i64>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(KkError::field(name, "must be greater than zero")),
        }
    }

    /// A 6-digit code; a JSON number loses leading zeros, so it is padded back.
    pub fn code(&self) -> Result<String, KkError> {
        let text = match self.scalar("code") {
            Some(Scalar::Text(t)) => t.trim().to_string(),
            Some(Scalar::Number(n)) if n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{n:0>6}")
            }
            Some(_) => return Err(KkError::field("code", "must be 6 digits")),
            None => return Err(KkError::field("code", "is required")),
        };
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KkError::field("code", "must be 6 digits"));
        }
        Ok(text)
    }
}
