//! The language of the API's refusals. Messages are written in Russian; where the program
//! serving the public API speaks English (`rules.language = "en"`), a refusal's `message`, its
//! validation messages and `data.errorMessage` are given in English instead: translated where
//! the text is known, else replaced by a general English text for its kind, so an answer is
//! never half one language and half the other. Successful answers pass untouched.

use crate::state::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// Larger answers are listings, never refusals: they pass unread.
const MAX_REFUSAL_BYTES: u64 = 256 * 1024;

/// Russian texts and their English, `{}` standing for a part carried over as it is.
const TEXTS: &[(&str, &str)] = &[
    ("Ошибка валидации", "Validation error"),
    ("Требуется авторизация", "Authorization required"),
    ("Метод не найден", "Method not found"),
    ("Идентификатор ошибки: {}", "Error id: {}"),
    ("Неверное значение", "Invalid value"),
    ("Неверный тип значения", "Invalid value type"),
    ("Не указано обязательное поле {}", "Required field {} is missing"),
    ("Неизвестное поле {}", "Unknown field {}"),
    (
        "Тело запроса не является JSON: ключ {} без кавычек ({}); ключи пишутся в двойных кавычках: \"{}\"",
        "The request body is not JSON: key {} is not quoted ({}); keys are written in double quotes: \"{}\"",
    ),
    (
        "Тело запроса не является JSON: строки и ключи пишутся в двойных кавычках, не в одинарных ({})",
        "The request body is not JSON: strings and keys are written in double quotes, not single ones ({})",
    ),
    (
        "Тело запроса не является JSON: оно обрывается ({})",
        "The request body is not JSON: it ends too early ({})",
    ),
    (
        "Тело запроса не является JSON: синтаксическая ошибка ({})",
        "The request body is not JSON: syntax error ({})",
    ),
    ("строка {}, столбец {}", "line {}, column {}"),
    ("Неверная сумма", "Invalid amount"),
    ("Тело запроса слишком велико", "The request body is too large"),
    ("Неверный запрос", "Invalid request"),
    (
        "Недопустимый символ NUL (U+0000)",
        "The NUL character (U+0000) is not accepted",
    ),
    ("Недостаточно бонусов на счёте", "Not enough bonuses on the account"),
    ("Недостаточно бонусов", "Not enough bonuses"),
    (
        "Идентификатор операции уже использован для другого запроса",
        "The operation id was already used for another request",
    ),
    ("Операция не найдена", "Operation not found"),
    ("Операцию нельзя отменить", "The operation cannot be cancelled"),
    ("Операция уже отменена", "The operation is already cancelled"),
    (
        "Возврат превышает то, что осталось от операции",
        "The refund exceeds what is left of the operation",
    ),
    ("Не найдено", "Not found"),
    ("Уже существует", "Already exists"),
    ("Неверный логин или пароль", "Wrong login or password"),
    ("Неверный логин или пароль.", "Wrong login or password."),
    ("Неверный текущий пароль", "Wrong current password"),
    (
        "Слишком много неверных паролей. Попробуйте позже",
        "Too many wrong passwords. Try again later",
    ),
    (
        "Пароль должен содержать от 6 до 64 символов",
        "The password must have 6 to 64 characters",
    ),
    (
        "Пароль уже установлен: используйте смену пароля",
        "The password is already set: use the password change",
    ),
    ("Требуется пароль.", "A password is required."),
    ("Регистрация заблокирована.", "Registration is blocked."),
    ("Регистрация уже завершена.", "Registration is already completed."),
    ("Регистрация уже завершена", "Registration is already completed"),
    ("Шаг регистрации {} уже выполнен", "Registration step {} is already done"),
    (
        "Шаг регистрации {} не предусмотрен программой",
        "Registration step {} is not offered by the program",
    ),
    (
        "Не выполнены обязательные шаги регистрации: {}",
        "Required registration steps are not done: {}",
    ),
    ("Сначала подтвердите номер телефона", "Confirm the phone number first"),
    ("Код подтверждения — 6 цифр", "The confirmation code is 6 digits"),
    ("Код подтверждения не запрашивался", "No confirmation code was requested"),
    (
        "Неверный код подтверждения. Осталось попыток: {}",
        "Wrong confirmation code. Attempts left: {}",
    ),
    (
        "Превышено число попыток ввода кода. Запросите новый код",
        "Too many attempts. Request a new code",
    ),
    (
        "Срок действия кода истёк. Запросите новый код",
        "The code has expired. Request a new code",
    ),
    (
        "Превышено число запросов кода подтверждения. Попробуйте позже",
        "Too many confirmation codes requested. Try again later",
    ),
    ("Номер телефона уже используется", "The phone number is already in use"),
    ("Неверный номер телефона", "Invalid phone number"),
    ("Неверный адрес электронной почты", "Invalid e-mail address"),
    (
        "Нет номера телефона, ожидающего подтверждения",
        "No phone number is waiting for confirmation",
    ),
    (
        "Нет адреса, ожидающего подтверждения",
        "No address is waiting for confirmation",
    ),
    ("Укажите номер телефона или карты", "Give a phone or card number"),
    ("Укажите номер карты", "Give a card number"),
    ("Карта не найдена", "Card not found"),
    ("Не найдена карта.", "Card not found."),
    ("Карта недоступна для привязки", "The card cannot be bound"),
    ("Неверный CVC-код карты", "Wrong card CVC"),
    ("Неверный пароль активации карты", "Wrong card activation password"),
    (
        "Слишком много неверных попыток. Попробуйте через час",
        "Too many wrong attempts. Try again in an hour",
    ),
    ("Выпуск виртуальных карт запрещён", "Virtual cards are not issued"),
    ("Виртуальная карта уже выпущена", "The virtual card is already issued"),
    ("Ошибка при заполнении анкеты", "The questionnaire has errors"),
    ("Неверная дата", "Invalid date"),
    (
        "Ожидается целое неотрицательное число",
        "A non-negative integer is expected",
    ),
    ("Не больше 1000", "At most 1000"),
    ("Неизвестный тип подписки", "Unknown subscription type"),
    ("Ожидается true или false", "true or false is expected"),
    ("Укажите push-токен устройства", "Give the device's push token"),
    ("Ожидается Android, Ios или Harmony", "Android, Ios or Harmony is expected"),
    ("Ожидается Fcm, Apns или HMS", "Fcm, Apns or HMS is expected"),
    (
        "Ожидается Original, PersonalGoods, PersonalOffer или All",
        "Original, PersonalGoods, PersonalOffer or All is expected",
    ),
    ("BonusActivation или BonusExpiration", "BonusActivation or BonusExpiration"),
    ("Оповещение не найдено", "Notification not found"),
    ("Предложение не найдено", "Offer not found"),
    ("Купон не найден", "Coupon not found"),
];

/// Gives a refusal in the language of the program serving the API.
pub async fn localize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let small = HttpBody::size_hint(response.body())
        .upper()
        .is_some_and(|n| n <= MAX_REFUSAL_BYTES);
    if !small {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REFUSAL_BYTES as usize).await else {
        return Response::from_parts(parts, Body::empty());
    };
    // `result` closes the envelope: searched from the end, a success is found at once.
    let has = |text: &str| {
        bytes
            .windows(text.len())
            .rev()
            .any(|w| w == text.as_bytes())
    };
    // An envelope that is not a success, or an OAuth error.
    let refusal = bytes.starts_with(b"{")
        && !has(SUCCESS)
        && (has(r#""state":""#) || parts.status.as_u16() >= 400);
    if !refusal || !english(&state).await {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    to_english(&mut answer);
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(Bytes::from(answer.to_string())))
}

const SUCCESS: &str = r#""state":"Success""#;

async fn english(state: &AppState) -> bool {
    super::program(state)
        .await
        .is_ok_and(|p| p.rules.language == "en")
}

/// Every message of a refusal in English.
pub fn to_english(answer: &mut Value) {
    let state = answer["result"]["state"].as_str().unwrap_or("").to_string();
    if let Some(message) = answer.pointer_mut("/result/message") {
        translate(message, general(&state));
    }
    if let Some(errors) = answer
        .pointer_mut("/result/validationErrors")
        .and_then(Value::as_array_mut)
    {
        for error in errors {
            for message in error["errorMessages"].as_array_mut().into_iter().flatten() {
                translate(message, "Invalid value");
            }
        }
    }
    if let Some(message) = answer.pointer_mut("/data/errorMessage") {
        translate(message, "The request was refused");
    }
    // The OAuth endpoint's refusals.
    if let Some(message) = answer.get_mut("error_description") {
        translate(message, "The request was refused");
    }
}

fn general(state: &str) -> &'static str {
    match state {
        "ValidationError" => "Validation error",
        "Fail" => "Internal error",
        _ => "The request was refused",
    }
}

fn translate(message: &mut Value, fallback: &str) {
    let Some(text) = message.as_str() else {
        return;
    };
    let english = TEXTS
        .iter()
        .find_map(|(ru, en)| fill(ru, en, text))
        .unwrap_or_else(|| {
            if text.chars().any(is_cyrillic) {
                fallback.to_string()
            } else {
                text.to_string()
            }
        });
    *message = Value::String(english);
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, 'А'..='я' | 'Ё' | 'ё')
}

/// `text` read against `pattern` (its `{}` parts taken as they are, each translated when it
/// is a known text itself) and written out in `english`.
fn fill(pattern: &str, english: &str, text: &str) -> Option<String> {
    let literals: Vec<&str> = pattern.split("{}").collect();
    let mut rest = text.strip_prefix(literals[0])?;
    let mut parts = Vec::new();
    for (i, literal) in literals.iter().enumerate().skip(1) {
        let last = i == literals.len() - 1;
        let end = if last {
            if !rest.ends_with(literal) {
                return None;
            }
            rest.len() - literal.len()
        } else {
            rest.find(literal)?
        };
        parts.push(&rest[..end]);
        rest = &rest[end + literal.len()..];
    }
    if literals.len() == 1 && !rest.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, piece) in english.split("{}").enumerate() {
        if i > 0 {
            let part = parts.get(i - 1).copied().unwrap_or_default();
            let translated = TEXTS.iter().find_map(|(ru, en)| fill(ru, en, part));
            out.push_str(translated.as_deref().unwrap_or(part));
        }
        out.push_str(piece);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::to_english;
    use serde_json::json;

    #[test]
    fn refusals_read_in_english_and_never_half_russian() {
        let mut answer = json!({"data": null, "result": {
            "state": "ValidationError",
            "message": "Ошибка валидации",
            "validationErrors": [
                {"field": "body", "errorMessages": ["Тело запроса не является JSON: ключ login без кавычек (строка 2, столбец 2); ключи пишутся в двойных кавычках: \"login\""]},
                {"field": "x", "errorMessages": ["Что-то неведомое"]},
            ],
        }});
        to_english(&mut answer);
        assert_eq!(answer["result"]["message"], "Validation error");
        assert_eq!(
            answer["result"]["validationErrors"][0]["errorMessages"][0],
            "The request body is not JSON: key login is not quoted (line 2, column 2); keys are written in double quotes: \"login\""
        );
        assert_eq!(
            answer["result"]["validationErrors"][1]["errorMessages"][0],
            "Invalid value"
        );
        let mut answer = json!({"result": {"state": "Error", "message": "Шаг регистрации Questions уже выполнен"}});
        to_english(&mut answer);
        assert_eq!(
            answer["result"]["message"],
            "Registration step Questions is already done"
        );
        let mut answer =
            json!({"result": {"state": "Fail", "message": "Идентификатор ошибки: 0af3"}});
        to_english(&mut answer);
        assert_eq!(answer["result"]["message"], "Error id: 0af3");
        let mut answer = json!({"data": {"state": "PasswordRequired", "errorMessage": "Требуется пароль."}, "result": {"state": "Error", "message": "Неизвестное"}});
        to_english(&mut answer);
        assert_eq!(answer["data"]["errorMessage"], "A password is required.");
        assert_eq!(answer["result"]["message"], "The request was refused");
    }
}
