//! The wire format: a JSON object of fields in, `status`/`errorCode`/`message` plus the method's
//! fields out. Numbers are read from the raw JSON text, never through a float.

use crate::http::edge::{clip, ECHO_MAX_CHARS};
use axum::response::{IntoResponse, Response};
use kopilka_domain::kupikupi::TokenValue;
use kopilka_domain::phone::Phone;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// kopilka's error codes (docs/kupikupi.md lists them with their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Ok,
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
            ErrorCode::Ok => "0",
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

/// The seed's own wording where it has one; kopilka's texts follow it in Russian.
pub const NOT_ENOUGH_POINTS: &str = "Не достаточно средств";
pub const TOO_MANY_CODES: &str = "Слишком много неверных кодов: перевод отклонён";
pub const TOO_MANY_CODE_SMS: &str = "Слишком много запросов кода: попробуйте позже";
pub const FORM_EXPIRED: &str = "Время формы перевода истекло: перевод отменён";
pub const ORDER_REUSED: &str = "Заказ уже зарегистрирован с другими данными";

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
                KkError::new(ErrorCode::NotEnoughPoints, NOT_ENOUGH_POINTS)
            }
            StoreError::Domain(DomainError::IdempotencyConflict) => {
                KkError::new(ErrorCode::OrderReused, ORDER_REUSED)
            }
            StoreError::Domain(DomainError::Invalid { field, .. }) => {
                KkError::field(field, "недопустимое значение")
            }
            // The nearest of the codes: the phone is no member who may spend.
            StoreError::Domain(DomainError::CustomerBlocked) => {
                KkError::new(ErrorCode::UnknownPhone, "Участник заблокирован")
            }
            StoreError::Domain(
                DomainError::CustomerMerged { .. } | DomainError::CustomerAnonymised,
            ) => KkError::new(ErrorCode::UnknownPhone, "Участник не найден"),
            StoreError::Domain(e) => {
                tracing::info!("kupikupi: refused: {e}");
                KkError::new(ErrorCode::BadField, "Запрос отклонён: неверные данные")
            }
            other => {
                let id = uuid::Uuid::new_v4();
                tracing::error!(error_id = %id, "kupikupi: {other}");
                KkError::new(ErrorCode::Internal, format!("Внутренняя ошибка {id}"))
            }
        }
    }
}

crate::http::error::job_refusal!(KkError);

impl IntoResponse for KkError {
    fn into_response(self) -> Response {
        crate::observability::record_refusal("kupikupi", self.code.as_str());
        axum::Json(Body(vec![
            ("status".to_string(), raw(&Value::Bool(false))),
            (
                "errorCode".to_string(),
                raw(&Value::String(self.code.as_str().into())),
            ),
            (
                "message".to_string(),
                raw(&Value::String(clip(&self.message, ECHO_MAX_CHARS).into())),
            ),
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

/// The token of a JSON object kopilka sends (the notification), computed as a shop computes
/// a request's: every field but `token`, PHP's string forms.
pub fn sign(body: &Value, key: &str) -> String {
    let fields: Vec<(String, TokenValue)> = body
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let value = match value {
                Value::String(s) => TokenValue::text(s.clone()),
                Value::Bool(b) => TokenValue::boolean(*b),
                Value::Null => TokenValue::null(),
                Value::Array(_) | Value::Object(_) => TokenValue::Skip,
                Value::Number(n) => TokenValue::text(n.to_string()),
            };
            (name.clone(), value)
        })
        .collect();
    kopilka_domain::kupikupi::token(&fields, key)
}

const REQUIRED: &str = "обязательное поле";
const PHONE_FORMAT: &str = "должен быть из 11 цифр: 79999999999";
const KOPECKS: &str = "должна быть целым числом копеек (не больше 10 цифр)";
const CODE_FORMAT: &str = "должен быть из 6 цифр";

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
            tracing::debug!("kupikupi: body is not a JSON object: {e}");
            KkError::new(
                ErrorCode::BadField,
                "Тело запроса должно быть JSON-объектом",
            )
        })?;
        Ok(Fields { raw })
    }

    /// Refuses a number with a fraction or an exponent in any field. Every number of the
    /// protocol is whole, and such a request cannot be signed faithfully: PHP signs a float as
    /// it prints it (`19.99*100` is sent as `1998.9999999999998` and signed as `1999`), so it
    /// must be answered as the bad amount it is, not as a bad token.
    pub fn whole_numbers(&self) -> Result<(), KkError> {
        let mut names: Vec<&String> = self.raw.keys().collect();
        names.sort();
        for name in names {
            if let Some(Scalar::Number(n)) = self.scalar(name) {
                if n.contains(['.', 'e', 'E']) {
                    let problem = if name == "amount" || name == "discount" {
                        "должна быть целым числом копеек (без дробной части)"
                    } else {
                        "должно быть целым числом"
                    };
                    return Err(KkError::field(name, problem));
                }
            }
        }
        Ok(())
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
        Err(KkError::field("uidPlatform", REQUIRED))
    }

    pub fn token(&self) -> Result<String, KkError> {
        match self.scalar("token") {
            Some(Scalar::Text(t)) if t.len() == 64 => Ok(t.to_ascii_lowercase()),
            Some(_) => Err(KkError::new(
                ErrorCode::BadToken,
                "token: должен быть из 64 шестнадцатеричных цифр",
            )),
            None => Err(KkError::field("token", REQUIRED)),
        }
    }

    /// A string field; integers are accepted as their digits (shops send `orderId: 1234`).
    pub fn text(&self, name: &str, max: usize) -> Result<String, KkError> {
        let value = match self.scalar(name) {
            Some(Scalar::Text(t)) => t,
            Some(Scalar::Number(n)) if n.bytes().all(|b| b.is_ascii_digit()) => n,
            Some(_) => return Err(KkError::field(name, "должно быть строкой")),
            None => return Err(KkError::field(name, REQUIRED)),
        };
        if value.trim().is_empty() || value.chars().count() > max {
            return Err(KkError::field(
                name,
                &format!("должно быть от 1 до {max} символов"),
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
                .map_err(|_| KkError::field("phone", PHONE_FORMAT))?,
            Some(Scalar::Other) => return Err(KkError::field("phone", PHONE_FORMAT)),
            None => return Err(KkError::field("phone", REQUIRED)),
        };
        if digits.len() != 11
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(KkError::field("phone", PHONE_FORMAT));
        }
        Phone::parse(&digits).map_err(|_| KkError::field("phone", PHONE_FORMAT))
    }

    /// An amount in kopecks: a positive integer of at most 10 digits, number or digit string.
    pub fn kopecks(&self, name: &str) -> Result<i64, KkError> {
        let text = match self.scalar(name) {
            Some(Scalar::Number(n)) | Some(Scalar::Text(n)) => n,
            Some(Scalar::Other) => return Err(KkError::field(name, KOPECKS)),
            None => return Err(KkError::field(name, REQUIRED)),
        };
        if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KkError::field(name, KOPECKS));
        }
        match text.parse::<i64>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(KkError::field(name, "должна быть больше нуля")),
        }
    }

    /// An optional amount in kopecks that may be zero; absent is zero.
    pub fn kopecks_or_zero(&self, name: &str) -> Result<i64, KkError> {
        match self.scalar(name) {
            None => Ok(0),
            Some(Scalar::Number(n) | Scalar::Text(n))
                if n.bytes().all(|b| b == b'0') && !n.is_empty() =>
            {
                Ok(0)
            }
            Some(_) => self.kopecks(name),
        }
    }

    /// A whole number field, number or digit string.
    pub fn integer(&self, name: &str) -> Result<i64, KkError> {
        match self.scalar(name) {
            Some(Scalar::Number(n) | Scalar::Text(n)) => n
                .trim()
                .parse::<i64>()
                .map_err(|_| KkError::field(name, "должно быть целым числом")),
            Some(Scalar::Other) => Err(KkError::field(name, "должно быть целым числом")),
            None => Err(KkError::field(name, REQUIRED)),
        }
    }

    /// A 6-digit code; a JSON number loses leading zeros, so it is padded back.
    pub fn code(&self) -> Result<String, KkError> {
        let text = match self.scalar("code") {
            Some(Scalar::Text(t)) => t.trim().to_string(),
            Some(Scalar::Number(n)) if n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{n:0>6}")
            }
            Some(_) => return Err(KkError::field("code", CODE_FORMAT)),
            None => return Err(KkError::field("code", REQUIRED)),
        };
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KkError::field("code", CODE_FORMAT));
        }
        Ok(text)
    }
}
