//! ECommPay (seed 003) with the CashtoCode cash method: the request signature, the method's
//! amount and country rules, and the cash payment's state machine.
//!
//! The signature is `base64(HMAC-SHA512(secret, S))` where `S` joins the flattened parameters
//! with `;`. The official SDKs build `S` each their own way (`SdkForm`); a request signed in the
//! form of any of them verifies. What kopilka signs itself is in the PHP SDK's form, and holds
//! nothing on which the SDKs disagree, so every SDK accepts it.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha512;
use std::cmp::Ordering;
use subtle::ConstantTimeEq;

/// Keys that never take part in a signature, at any depth.
const IGNORED_KEYS: [&str; 2] = ["signature", "frame_mode"];

/// How an official SDK flattens parameters into the string it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkForm {
    /// PHP (`ITECOMMPAY/paymentpage-sdk-php`): full paths ordered by PHP's natural order
    /// (`ksort(…, SORT_NATURAL)`, so `a:2` < `a:10`), `:` in a key written `::`, null as empty.
    Php,
    /// Python (PyPI `ecommpay-sdk`): full paths ordered by code point (`a:10` < `a:2`), `None`
    /// signed as the text `None`.
    Python,
    /// JavaScript (npm `ecommpay`): keys ordered level by level, integer keys first in numeric
    /// order (how JavaScript objects enumerate), so `customer:id` < `customer2`; null as empty.
    JavaScript,
}

const SDK_FORMS: [SdkForm; 3] = [SdkForm::Php, SdkForm::Python, SdkForm::JavaScript];

/// The string the HMAC is computed over, in the PHP SDK's form: what kopilka signs.
pub fn string_to_sign(params: &Value) -> String {
    string_to_sign_as(params, SdkForm::Php)
}

/// The string `form`'s SDK computes the HMAC over.
pub fn string_to_sign_as(params: &Value, form: SdkForm) -> String {
    let mut leaves = Vec::new();
    if form == SdkForm::JavaScript {
        level_by_level(params, "", &mut leaves);
        return leaves.join(";");
    }
    let mut paths = Vec::new();
    flatten(params, "", form, &mut paths);
    if form == SdkForm::Php {
        paths.sort_by(|a, b| natural_cmp(&a.0, &b.0).then_with(|| a.0.cmp(&b.0)));
    } else {
        paths.sort_by(|a, b| a.0.cmp(&b.0));
    }
    paths
        .into_iter()
        .map(|(_, leaf)| leaf)
        .collect::<Vec<_>>()
        .join(";")
}

/// Full paths and their `path:value` leaves, for the SDKs that sort the flattened paths.
fn flatten(value: &Value, path: &str, form: SdkForm, out: &mut Vec<(String, String)>) {
    let child = |key: &str| {
        let key = match form {
            SdkForm::Php => key.replace(':', "::"),
            _ => key.to_string(),
        };
        if path.is_empty() {
            key
        } else {
            format!("{path}:{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if !IGNORED_KEYS.contains(&key.as_str()) {
                    flatten(v, &child(key), form, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, &child(&i.to_string()), form, out);
            }
        }
        leaf => out.push((
            path.to_string(),
            format!("{path}:{}", leaf_text(leaf, form)),
        )),
    }
}

/// The JavaScript SDK's walk: each object's keys in JavaScript's enumeration order after
/// `Object.keys(…).sort()`.
fn level_by_level(value: &Value, path: &str, out: &mut Vec<String>) {
    let mut entries: Vec<(String, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !IGNORED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        leaf => {
            out.push(format!("{path}:{}", leaf_text(leaf, SdkForm::JavaScript)));
            return;
        }
    };
    entries.sort_by(|(a, _), (b, _)| match (array_index(a), array_index(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
    });
    for (key, v) in entries {
        let child = if path.is_empty() {
            key
        } else {
            format!("{path}:{key}")
        };
        level_by_level(v, &child, out);
    }
}

/// A key JavaScript enumerates as an integer: `0` or digits without a leading zero, below 2³²−1.
fn array_index(key: &str) -> Option<u32> {
    let digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    if !digits || (key.starts_with('0') && key != "0") {
        return None;
    }
    key.parse::<u32>().ok().filter(|n| *n < u32::MAX)
}

/// A leaf as `form`'s SDK writes it.
fn leaf_text(leaf: &Value, form: SdkForm) -> String {
    match leaf {
        Value::Null if form == SdkForm::Python => "None".into(),
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => "0".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            // Python prints a float with its fraction (`100.0`); PHP and JavaScript drop `.0`.
            Some(f) if form == SdkForm::Python => format!("{f:?}"),
            Some(f) => format!("{f}"),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The signature of `params` under the project's `secret`.
pub fn sign(secret: &str, params: &Value) -> String {
    signature_of(secret, &string_to_sign(params))
}

fn signature_of(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` signs `params` in the form of any official SDK. Each distinct form is
/// computed and compared in constant time (three at most).
pub fn verify(secret: &str, params: &Value, signature: &str) -> bool {
    verify_any(secret, std::slice::from_ref(params), signature)
}

/// The Payment Page parameters the SDKs document as booleans.
const PAGE_BOOLEANS: [&str; 6] = [
    "cashier_manual_input",
    "close_on_missclick",
    "force_acs_new_window",
    "recurring_register",
    "redirect",
    "redirect_on_mobile",
];

/// Whether `signature` signs the Payment Page's `params` (decoded strings). A value spelled
/// `true`/`True`/`false`/`False` is a boolean the SDK signed as `1`/`0`, or a string signed as
/// written: three readings are tried — every such value as written, the documented boolean
/// parameters as booleans and the rest as written, and every such value as a boolean — each in
/// every SDK's form, distinct strings only.
pub fn verify_page(secret: &str, params: &Map<String, Value>, signature: &str) -> bool {
    let reading = |booleans: &dyn Fn(&str) -> bool| {
        let read: Map<String, Value> = params
            .iter()
            .map(|(k, v)| {
                let v = match v.as_str() {
                    Some("true" | "True") if booleans(k) => Value::Bool(true),
                    Some("false" | "False") if booleans(k) => Value::Bool(false),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        Value::Object(read)
    };
    let mut readings = vec![
        reading(&|_| false),
        reading(&|k| PAGE_BOOLEANS.contains(&k)),
        reading(&|_| true),
    ];
    readings.dedup();
    verify_any(secret, &readings, signature)
}

fn verify_any(secret: &str, readings: &[Value], signature: &str) -> bool {
    let mut forms: Vec<String> = Vec::new();
    for params in readings {
        for form in SDK_FORMS {
            let text = string_to_sign_as(params, form);
            if !forms.contains(&text) {
                forms.push(text);
            }
        }
    }
    let mut matched = subtle::Choice::from(0);
    for text in forms {
        matched |= signature_of(secret, &text)
            .as_bytes()
            .ct_eq(signature.as_bytes());
    }
    matched.into()
}

/// PHP's `strnatcmp` (ext/standard/strnatcmp.c), byte for byte: runs of digits compare as
/// numbers (right-aligned, or left-aligned when one starts with `0`), whitespace is skipped.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() || b.is_empty() {
        return a.len().cmp(&b.len());
    }
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let (mut ai, mut bi) = (0usize, 0usize);
    let mut leading = true;
    loop {
        let mut ca = at(a, ai);
        let mut cb = at(b, bi);
        while leading && ca == b'0' && ai + 1 < a.len() && a[ai + 1].is_ascii_digit() {
            ai += 1;
            ca = a[ai];
        }
        while leading && cb == b'0' && bi + 1 < b.len() && b[bi + 1].is_ascii_digit() {
            bi += 1;
            cb = b[bi];
        }
        leading = false;
        while is_space(ca) {
            ai += 1;
            ca = at(a, ai);
        }
        while is_space(cb) {
            bi += 1;
            cb = at(b, bi);
        }
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let result = if ca == b'0' || cb == b'0' {
                compare_left(a, &mut ai, b, &mut bi)
            } else {
                compare_right(a, &mut ai, b, &mut bi)
            };
            if result != Ordering::Equal {
                return result;
            }
            match (ai >= a.len(), bi >= b.len()) {
                (true, true) => return Ordering::Equal,
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                _ => {}
            }
            ca = a[ai];
            cb = b[bi];
        }
        match ca.cmp(&cb) {
            Ordering::Equal => {}
            other => return other,
        }
        ai += 1;
        bi += 1;
        match (ai >= a.len(), bi >= b.len()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

fn compare_right(a: &[u8], ai: &mut usize, b: &[u8], bi: &mut usize) -> Ordering {
    let mut bias = Ordering::Equal;
    loop {
        match (digit_at(a, *ai), digit_at(b, *bi)) {
            (false, false) => return bias,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => {
                if bias == Ordering::Equal {
                    bias = a[*ai].cmp(&b[*bi]);
                }
            }
        }
        *ai += 1;
        *bi += 1;
    }
}

fn compare_left(a: &[u8], ai: &mut usize, b: &[u8], bi: &mut usize) -> Ordering {
    loop {
        match (digit_at(a, *ai), digit_at(b, *bi)) {
            (false, false) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => match a[*ai].cmp(&b[*bi]) {
                Ordering::Equal => {}
                other => return other,
            },
        }
        *ai += 1;
        *bi += 1;
    }
}

/// The method's code in `force_payment_method`, callbacks and Gate paths.
pub const CASHTOCODE: &str = "cashtocode";
/// The only currency CashtoCode takes.
pub const CURRENCY: &str = "EUR";

/// The longest `payment_id` ECommPay takes (its field is `string(255)`).
pub const PAYMENT_ID_MAX_CHARS: usize = 255;

/// The fixed amounts (EUR cents) a CashtoCode voucher can have in `country` (seed 003).
pub fn allowed_amounts(country: &str) -> Option<&'static [i64]> {
    const AT: [i64; 8] = [1000, 2500, 5000, 10000, 20000, 30000, 40000, 50000];
    const DE: [i64; 4] = [1000, 2500, 5000, 10000];
    match country {
        "AT" => Some(&AT),
        "DE" => Some(&DE),
        _ => None,
    }
}

/// ECommPay's response codes kopilka answers with (`operation.code`, Gate `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    /// A required field is missing.
    FieldMissing,
    /// A field is present but malformed.
    FieldInvalid,
    ProjectNotFound,
    MethodUnknown,
    PaymentIdExists,
    PaymentNotFound,
    SignatureInvalid,
    SignatureEmpty,
    GeneralDecline,
    /// The customer did not pay before the code expired.
    Timeout,
}

impl Code {
    pub fn number(self) -> &'static str {
        match self {
            Code::Success => "0",
            Code::FieldMissing => "2004",
            Code::FieldInvalid => "2005",
            Code::ProjectNotFound => "2442",
            Code::MethodUnknown => "2541",
            Code::PaymentIdExists => "3041",
            Code::PaymentNotFound => "3061",
            Code::SignatureInvalid => "3261",
            Code::SignatureEmpty => "3262",
            Code::GeneralDecline => "20000",
            Code::Timeout => "20602",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::FieldMissing => "Required field is missing",
            Code::FieldInvalid => "Invalid field value",
            Code::ProjectNotFound => "Project not found",
            Code::MethodUnknown => "Unknown payment method",
            Code::PaymentIdExists => "Payment ID already exists",
            Code::PaymentNotFound => "Payment not found",
            Code::SignatureInvalid => "Invalid signature",
            Code::SignatureEmpty => "Empty signature",
            Code::GeneralDecline => "General decline",
            Code::Timeout => "Time-out",
        }
    }
}

/// Why CashtoCode declines a sale it was asked for. The request is accepted and the payment
/// declined by callback with `20000` General decline, as the seed's decline example shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleDecline {
    /// Not EUR.
    Currency,
    /// Neither Austria nor Germany.
    Country,
    /// Not one of the country's fixed amounts.
    Amount,
}

/// Checks a CashtoCode sale: EUR only, and one of the fixed amounts of the customer's country.
/// An unknown country (still to be asked on the page) accepts any amount some country allows.
pub fn check_sale(currency: &str, amount: i64, country: Option<&str>) -> Result<(), SaleDecline> {
    if currency != CURRENCY {
        return Err(SaleDecline::Currency);
    }
    let allowed = match country {
        Some(c) => allowed_amounts(c).ok_or(SaleDecline::Country)?,
        None => allowed_amounts("AT").expect("AT allows the most amounts"),
    };
    if allowed.contains(&amount) {
        Ok(())
    } else {
        Err(SaleDecline::Amount)
    }
}

/// The countries CashtoCode serves, with their names, for the page's choice.
pub const COUNTRIES: [(&str, &str); 2] = [("AT", "Austria"), ("DE", "Germany")];

/// A cash payment's status (`payment.status` and `operation.status` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Accepted; the customer's personal data may still be missing.
    Created,
    /// The voucher exists; the customer is to pay it at a terminal.
    AwaitingRedirectResult,
    Success,
    Decline,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Created => "processing",
            PaymentStatus::AwaitingRedirectResult => "awaiting redirect result",
            PaymentStatus::Success => "success",
            PaymentStatus::Decline => "decline",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::Created,
            PaymentStatus::AwaitingRedirectResult,
            PaymentStatus::Success,
            PaymentStatus::Decline,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, PaymentStatus::Success | PaymentStatus::Decline)
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for PaymentStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What happens to a cash payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The customer's data is complete and CashtoCode issued the voucher.
    VoucherIssued,
    /// A terminal took `paid` cents for the voucher.
    CashPaid { paid: i64 },
    /// The voucher's time ran out, or the page's before the customer got a voucher.
    Expired,
    /// CashtoCode does not take this sale (`SaleDecline`).
    Refused,
}

/// A status change and the code the callback carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: PaymentStatus,
    pub code: Code,
}

/// Why an event does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the payment is already final")]
    AlreadyFinal,
    #[error("the payment has no voucher yet")]
    NoVoucher,
    #[error("the payment is already under way")]
    AlreadyUnderWay,
    #[error("the voucher was already issued")]
    VoucherExists,
}

/// The state machine: created → awaiting redirect result → success | decline. A sale the
/// method refuses declines before any voucher, cash of the wrong amount declines (the terminal
/// returns it), and so does expiry — of the voucher, or of the page the customer abandoned —
/// with its own code.
pub fn transition(
    status: PaymentStatus,
    amount: i64,
    event: Event,
) -> Result<Transition, TransitionError> {
    if status.is_final() {
        return Err(TransitionError::AlreadyFinal);
    }
    match (status, event) {
        (PaymentStatus::Created, Event::VoucherIssued) => Ok(Transition {
            status: PaymentStatus::AwaitingRedirectResult,
            code: Code::Success,
        }),
        (_, Event::VoucherIssued) => Err(TransitionError::VoucherExists),
        (PaymentStatus::Created, Event::Refused) => Ok(Transition {
            status: PaymentStatus::Decline,
            code: Code::GeneralDecline,
        }),
        (_, Event::Refused) => Err(TransitionError::AlreadyUnderWay),
        (PaymentStatus::Created, Event::CashPaid { .. }) => Err(TransitionError::NoVoucher),
        (_, Event::CashPaid { paid }) if paid == amount => Ok(Transition {
            status: PaymentStatus::Success,
            code: Code::Success,
        }),
        (_, Event::CashPaid { .. }) => Ok(Transition {
            status: PaymentStatus::Decline,
            code: Code::GeneralDecline,
        }),
        (_, Event::Expired) => Ok(Transition {
            status: PaymentStatus::Decline,
            code: Code::Timeout,
        }),
    }
}

/// What a payment whose customer data is complete comes to: past its deadline it expires, a
/// sale CashtoCode does not take is refused, else the voucher is issued.
pub fn on_complete(
    deadline: Option<i64>,
    now: i64,
    currency: &str,
    amount: i64,
    country: Option<&str>,
) -> Event {
    if is_past(deadline, now) {
        Event::Expired
    } else if check_sale(currency, amount, country).is_err() {
        Event::Refused
    } else {
        Event::VoucherIssued
    }
}

/// Whether a payment in `status` with this deadline (the page's, then the voucher's) has run
/// out of time and is to expire.
pub fn is_due(status: PaymentStatus, deadline: Option<i64>, now: i64) -> bool {
    !status.is_final() && is_past(deadline, now)
}

fn is_past(deadline: Option<i64>, now: i64) -> bool {
    deadline.is_some_and(|at| at <= now)
}

/// The event a terminal's payment means: after expiry it is an expiry, whatever was paid.
pub fn terminal_event(expires_at: i64, now: i64, paid: i64) -> Event {
    if now >= expires_at {
        Event::Expired
    } else {
        Event::CashPaid { paid }
    }
}

#[cfg(test)]
mod tests;
