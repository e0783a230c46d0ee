//! Loymax's envelope `{data, result{state, httpCode, message, messageCode, validationErrors}}`,
//! its errors, lenient JSON bodies, exact amounts and times.

use crate::http::edge::{clip, ECHO_MAX_CHARS};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kopilka_domain::money::{format_decimal_trimmed, Amount};
use kopilka_store::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// A successful answer: `data` in the envelope with `state: Success`.
pub struct Success(Data);

enum Data {
    Value(Value),
    /// `[item]`, the item already JSON text.
    One(String),
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        match self.0 {
            Data::Value(data) => envelope(
                StatusCode::OK,
                data,
                "Success",
                200,
                None,
                None,
                Value::Null,
            ),
            // The envelope `envelope` writes, around text that needs no second pass.
            Data::One(item) => {
                const HEAD: &str = r#"{"data":["#;
                const RESULT: &str = r#"],"result":{"httpCode":200,"message":null,"messageCode":null,"state":"Success","validationErrors":null}}"#;
                let mut body = String::with_capacity(HEAD.len() + item.len() + RESULT.len());
                body.push_str(HEAD);
                body.push_str(&item);
                body.push_str(RESULT);
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        axum::http::HeaderValue::from_static("application/json"),
                    )],
                    body,
                )
                    .into_response()
            }
        }
    }
}

pub fn ok(data: impl Serialize) -> Success {
    Success(Data::Value(
        serde_json::to_value(data).unwrap_or(Value::Null),
    ))
}

/// [`ok`] of `[item]` for an item that is JSON text already.
pub fn ok_one(item: String) -> Success {
    Success(Data::One(item))
}

/// A refusal in Loymax's terms.
#[derive(Debug)]
pub enum LmError {
    /// A business error: `state: Error`, HTTP 200, `httpCode` 400; `data` as the seed shows it
    /// for that error (questionnaire errors, BeginRegistration's state) or null.
    Business {
        message: String,
        code: Option<&'static str>,
        data: Value,
    },
    /// Bad input: `state: ValidationError` with the fields at fault.
    Validation(Vec<(String, String)>),
    /// No token, or a dead one: HTTP 401.
    Unauthorized,
    /// Unknown method: HTTP 404 in the envelope.
    NotFound,
    /// A system failure: `state: Fail` with an error id that is also in the log.
    Fail(String),
}

impl LmError {
    pub fn business(message: impl Into<String>) -> LmError {
        LmError::Business {
            message: message.into(),
            code: None,
            data: Value::Null,
        }
    }

    pub fn coded(code: &'static str, message: impl Into<String>) -> LmError {
        LmError::Business {
            message: message.into(),
            code: Some(code),
            data: Value::Null,
        }
    }

    pub fn with_data(message: impl Into<String>, data: Value) -> LmError {
        LmError::Business {
            message: message.into(),
            code: None,
            data,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> LmError {
        LmError::Validation(vec![(field.to_string(), message.into())])
    }
}

impl From<StoreError> for LmError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(e) => domain_refusal(e),
            other => LmError::Fail(other.to_string()),
        }
    }
}

/// A domain refusal in Loymax's terms, in Russian like every other message of the API.
fn domain_refusal(error: kopilka_domain::DomainError) -> LmError {
    use kopilka_domain::DomainError as E;
    match error {
        E::Invalid { field, .. } => LmError::invalid(field, "Неверное значение"),
        E::InvalidAmount(_) => LmError::invalid("amount", "Неверная сумма"),
        E::InsufficientFunds { .. } => {
            LmError::coded("NotEnoughBonuses", "Недостаточно бонусов на счёте")
        }
        E::IdempotencyConflict => LmError::coded(
            "NotUniqueOperationID",
            "Идентификатор операции уже использован для другого запроса",
        ),
        E::OperationNotFound(_) | E::ForeignOperation(_) => {
            LmError::coded("OperationNotFound", "Операция не найдена")
        }
        E::NotReversible { .. } | E::HoldNotPending { .. } => {
            LmError::coded("OperationNotCancelable", "Операцию нельзя отменить")
        }
        E::AlreadyReversed { .. } => LmError::coded("OperationCanceled", "Операция уже отменена"),
        E::ReversalTooLarge { .. } | E::MerchantFundsShort { .. } => LmError::coded(
            "RefundTooLarge",
            "Возврат превышает то, что осталось от операции",
        ),
        E::NotFound { .. } => LmError::coded("NotFound", "Не найдено"),
        E::AlreadyExists { .. } => LmError::coded("AlreadyExists", "Уже существует"),
        E::CustomerBlocked => LmError::coded("CardBlocked", "Участник заблокирован"),
        E::CustomerMerged { .. } | E::CustomerAnonymised => {
            LmError::coded("CardNotFound", "Участник не найден")
        }
    }
}

crate::http::error::job_refusal!(LmError);

impl From<kopilka_domain::loymax::RegistrationError> for LmError {
    fn from(error: kopilka_domain::loymax::RegistrationError) -> Self {
        LmError::coded("RegistrationStep", error.to_string())
    }
}

impl IntoResponse for LmError {
    fn into_response(self) -> Response {
        let code = match &self {
            LmError::Business { code, .. } => code.unwrap_or("Error"),
            LmError::Validation(_) => "ValidationError",
            LmError::Unauthorized => "Unauthorized",
            LmError::NotFound => "NotFound",
            LmError::Fail(_) => "Fail",
        };
        crate::observability::record_refusal("loymax", code);
        match self {
            LmError::Business {
                message,
                code,
                data,
            } => envelope(
                StatusCode::OK,
                data,
                "Error",
                400,
                Some(clip(&message, ECHO_MAX_CHARS).to_string()),
                code,
                Value::Null,
            ),
            LmError::Validation(fields) => {
                let errors: Vec<Value> = fields
                    .into_iter()
                    .map(|(field, message)| {
                        let (field, message) =
                            (clip(&field, ECHO_MAX_CHARS), clip(&message, ECHO_MAX_CHARS));
                        json!({"field": field, "errorMessages": [message]})
                    })
                    .collect();
                envelope(
                    StatusCode::OK,
                    Value::Null,
                    "ValidationError",
                    400,
                    Some("Ошибка валидации".into()),
                    None,
                    Value::Array(errors),
                )
            }
            LmError::Unauthorized => envelope(
                StatusCode::UNAUTHORIZED,
                Value::Null,
                "Error",
                401,
                Some("Требуется авторизация".into()),
                Some("Unauthorized"),
                Value::Null,
            ),
            LmError::NotFound => envelope(
                StatusCode::NOT_FOUND,
                Value::Null,
                "Error",
                404,
                Some("Метод не найден".into()),
                Some("NotFound"),
                Value::Null,
            ),
            LmError::Fail(cause) => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(error_id = %id, "loymax: {cause}");
                envelope(
                    StatusCode::OK,
                    Value::Null,
                    "Fail",
                    500,
                    Some(format!("Идентификатор ошибки: {id}")),
                    None,
                    Value::Null,
                )
            }
        }
    }
}

fn envelope(
    status: StatusCode,
    data: Value,
    state: &str,
    http_code: u16,
    message: Option<String>,
    message_code: Option<&str>,
    validation_errors: Value,
) -> Response {
    let body = json!({
        "data": data,
        "result": {
            "state": state,
            "httpCode": http_code,
            "message": message,
            "messageCode": message_code,
            "validationErrors": validation_errors,
        }
    });
    (status, axum::Json(body)).into_response()
}

pub type LmResult<T = Success> = Result<T, LmError>;

/// Parses a JSON body whatever its content type (clients differ); an empty body is `{}`.
/// A body that is not JSON is a `ValidationError` on `body` saying where and why, in Russian
/// (the seed prints its examples with unquoted keys, which clients copy).
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> LmResult<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let error = e.into_inner();
        if error.is_syntax() || error.is_eof() {
            return LmError::invalid("body", not_json(bytes, &error));
        }
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        LmError::invalid(&field, data_error(&error))
    })
}

/// Why a body is not JSON, naming an unquoted key when that is the cause.
fn not_json(bytes: &[u8], error: &serde_json::Error) -> String {
    let at = format!("строка {}, столбец {}", error.line(), error.column());
    if error.is_eof() {
        return format!("Тело запроса не является JSON: оно обрывается ({at})");
    }
    if let Some(key) = unquoted_key(bytes, error) {
        return format!(
            "Тело запроса не является JSON: ключ {key} без кавычек ({at}); ключи пишутся в двойных кавычках: \"{key}\""
        );
    }
    if bytes.contains(&b'\'') {
        return format!(
            "Тело запроса не является JSON: строки и ключи пишутся в двойных кавычках, не в одинарных ({at})"
        );
    }
    format!("Тело запроса не является JSON: синтаксическая ошибка ({at})")
}

/// The identifier at the place a syntax error points to, when one stands there unquoted.
fn unquoted_key(bytes: &[u8], error: &serde_json::Error) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().nth(error.line().checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(error.column().saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    let key: String = line[start..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let after = line[start + key.len()..].trim_start();
    (!key.is_empty() && after.starts_with(':')).then_some(key)
}

/// A field of the wrong type or value, in Russian.
fn data_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("Не указано обязательное поле {name}");
    }
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("Неизвестное поле {name}");
    }
    if text.starts_with("invalid type") {
        return "Неверный тип значения".into();
    }
    "Неверное значение".into()
}

/// The API version a request's path names: `/publicapi/v1.2/` (and later, or `/publicapi/`
/// alone) speaks the shapes of Loymax's public API 1.2 that the public SDK reads; `/api/v1/`,
/// `/api/v1.1/` and `/api/` speak the seed's older shapes (docs/loymax.md, "Paths and versions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Seed,
    V12,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Version {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Version>()
            .copied()
            .unwrap_or(Version::Seed))
    }
}

/// Minor units as a JSON number written from the exact decimal text (76.5, 500, -10); exact for
/// up to 15 significant digits.
pub fn number(amount: i64, decimals: u8) -> Value {
    serde_json::from_str(&format_decimal_trimmed(Amount(amount), decimals))
        .expect("a decimal is valid JSON")
}

/// `yyyy-MM-ddTHH:mm:ss.sssZ` in UTC.
pub fn date_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Parses an ISO date or date-time (UTC unless it names an offset) to unix ms. A bare date is
/// its first millisecond, or its last with `end_of_day`.
pub fn parse_time(text: &str, end_of_day: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(text, "%d.%m.%Y"))
        .ok()?;
    let start = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(if end_of_day {
        start + 86_400_000 - 1
    } else {
        start
    })
}

/// Today's date in a time zone.
pub fn today(time_zone: &str) -> kopilka_domain::loymax::Date {
    use chrono::Datelike;
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let now = chrono::Utc::now().with_timezone(&tz);
    kopilka_domain::loymax::Date {
        year: now.year(),
        month: now.month(),
        day: now.day(),
    }
}

/// Query parameters by lowercased name (`filter.onlyRequired` → `filter.onlyrequired`).
pub fn query(parts: &axum::http::request::Parts) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}
