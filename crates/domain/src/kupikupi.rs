//! Kupi-Kupi: the request token and the transfer state machine.
//!
//! A shop asks for a transfer (`init`, status NEW); the customer opens the form (FORM_SHOWED) and
//! enters the code kopilka gave them; a correct code holds the points (HELD, CONFIRMED on the
//! wire, as the notification says) and the shop is notified; the shop's `OK` — or any signed
//! answer that told the shop CONFIRMED — confirms the hold (CONFIRMED). Five wrong codes reject
//! the transfer (REJECTED), a form nobody finished in time is CANCELED, and a notification the
//! shop never acknowledged in any way voids the hold (REJECTED).

use crate::money::rescale;
use crate::program::ProgramRules;
use crate::{Amount, Rounding};
use sha2::{Digest, Sha256};

/// Wrong codes a transfer (or a cabinet sign-in code) tolerates; the fifth closes it.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// How long a transfer form lives unless configured otherwise.
pub const DEFAULT_FORM_LIFETIME_MS: i64 = 15 * 60 * 1000;
/// The key the secret is added under before signing (the public PHP class's spelling).
pub const SECRET_FIELD: &str = "secretKey";

/// A request field's value as the token algorithm sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenValue {
    /// Text that is concatenated as is: strings, numbers as written, `true` as "1".
    Text(String),
    /// Arrays and objects: left out of the signed string.
    Skip,
}

impl TokenValue {
    pub fn text(value: impl Into<String>) -> TokenValue {
        TokenValue::Text(value.into())
    }

    /// PHP's string conversion of a boolean: "1" or "".
    pub fn boolean(value: bool) -> TokenValue {
        TokenValue::Text(if value { "1" } else { "" }.into())
    }

    pub fn null() -> TokenValue {
        TokenValue::Text(String::new())
    }
}

/// The string a token signs: every field except `token`, plus the secret under `secretKey`,
/// sorted by key byte-wise, values concatenated without separators.
pub fn signing_string(fields: &[(String, TokenValue)], secret: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(key, _)| key != "token" && key != SECRET_FIELD)
        .filter_map(|(key, value)| match value {
            TokenValue::Text(text) => Some((key.as_str(), text.as_str())),
            TokenValue::Skip => None,
        })
        .collect();
    pairs.push((SECRET_FIELD, secret));
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    pairs.into_iter().map(|(_, value)| value).collect()
}

/// The token of a request: lower-case hex SHA-256 of [`signing_string`].
pub fn token(fields: &[(String, TokenValue)], secret: &str) -> String {
    hex::encode(Sha256::digest(signing_string(fields, secret).as_bytes()))
}

/// The status of a transfer as kopilka keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    New,
    FormShowed,
    /// A correct code held the points; the shop has not acknowledged the notification yet.
    Held,
    Confirmed,
    Rejected,
    Canceled,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::New => "NEW",
            TransferStatus::FormShowed => "FORM_SHOWED",
            TransferStatus::Held => "HELD",
            TransferStatus::Confirmed => "CONFIRMED",
            TransferStatus::Rejected => "REJECTED",
            TransferStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(text: &str) -> Option<TransferStatus> {
        Some(match text {
            "NEW" => TransferStatus::New,
            "FORM_SHOWED" => TransferStatus::FormShowed,
            "HELD" => TransferStatus::Held,
            "CONFIRMED" => TransferStatus::Confirmed,
            "REJECTED" => TransferStatus::Rejected,
            "CANCELED" => TransferStatus::Canceled,
            _ => return None,
        })
    }

    /// The status the protocol shows: a hold waiting for the shop's `OK` is CONFIRMED, what the
    /// notification says, so a shop that checks the notification with `checkout` sees the same.
    pub fn wire(self) -> &'static str {
        match self {
            TransferStatus::Held => "CONFIRMED",
            other => other.as_str(),
        }
    }

    /// Waiting for the customer's code.
    pub fn awaits_code(self) -> bool {
        matches!(self, TransferStatus::New | TransferStatus::FormShowed)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            TransferStatus::Confirmed | TransferStatus::Rejected | TransferStatus::Canceled
        )
    }
}

/// What happened to a transfer, and what kopilka must do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The status is now this; nothing else to do.
    Moved(TransferStatus),
    /// Nothing changed (a repeat).
    Unchanged,
    /// The code was right: hold the points and notify the shop.
    Hold,
    /// The code was wrong; `left` attempts remain (0: the transfer is now REJECTED).
    WrongCode { left: i64 },
    /// The form's lifetime passed: the transfer is now CANCELED.
    Expired,
    /// The transfer is final (or held) and takes no code.
    Closed(TransferStatus),
}

/// A transfer's state as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub status: TransferStatus,
    pub attempts: i64,
    pub expires_at: i64,
}

impl Transfer {
    pub fn new(now: i64, lifetime_ms: i64) -> Transfer {
        Transfer {
            status: TransferStatus::New,
            attempts: 0,
            expires_at: now + lifetime_ms,
        }
    }

    fn expired(&self, now: i64) -> bool {
        self.status.awaits_code() && now >= self.expires_at
    }

    /// The customer opened the form.
    pub fn open_form(&mut self, now: i64) -> Step {
        if self.expired(now) {
            self.status = TransferStatus::Canceled;
            return Step::Expired;
        }
        match self.status {
            TransferStatus::New => {
                self.status = TransferStatus::FormShowed;
                Step::Moved(TransferStatus::FormShowed)
            }
            _ => Step::Unchanged,
        }
    }

    /// The customer entered a code; `correct` is the constant-time comparison's answer.
    pub fn enter_code(&mut self, correct: bool, now: i64) -> Step {
        if self.expired(now) {
            self.status = TransferStatus::Canceled;
            return Step::Expired;
        }
        if !self.status.awaits_code() {
            return Step::Closed(self.status);
        }
        if correct {
            self.status = TransferStatus::Held;
            return Step::Hold;
        }
        self.attempts += 1;
        let left = (MAX_CODE_ATTEMPTS - self.attempts).max(0);
        if left == 0 {
            self.status = TransferStatus::Rejected;
        }
        Step::WrongCode { left }
    }

    /// The points could not be held (the customer spent them meanwhile).
    pub fn hold_failed(&mut self) {
        self.status = TransferStatus::Rejected;
    }

    /// The background job's pass: a form nobody finished in time is CANCELED.
    pub fn expire(&mut self, now: i64) -> Step {
        if self.expired(now) {
            self.status = TransferStatus::Canceled;
            Step::Expired
        } else {
            Step::Unchanged
        }
    }

    /// The notification was acknowledged with `OK` (`delivered`) or died: confirm or void. A
    /// signed answer that reported the hold as CONFIRMED acknowledges it as `OK` does.
    pub fn settle(&mut self, delivered: bool) -> Step {
        if self.status != TransferStatus::Held {
            return Step::Unchanged;
        }
        self.status = if delivered {
            TransferStatus::Confirmed
        } else {
            TransferStatus::Rejected
        };
        Step::Moved(self.status)
    }
}

/// The seed's sandbox customers: requests signed with the DevSecretKey see only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxPhone {
    pub phone: &'static str,
    /// Balance in kopecks (points have two decimals).
    pub balance: i64,
    pub outcome: TransferStatus,
    pub message: &'static str,
}

pub const SANDBOX_PHONES: [SandboxPhone; 3] = [
    SandboxPhone {
        phone: "79000000001",
        balance: 100_000_000,
        outcome: TransferStatus::Confirmed,
        message: "Успешная оплата",
    },
    SandboxPhone {
        phone: "79000000002",
        balance: 0,
        outcome: TransferStatus::Rejected,
        message: "Не достаточно средств",
    },
    SandboxPhone {
        phone: "79000000003",
        balance: 0,
        outcome: TransferStatus::Canceled,
        message: "Ошибка перевода",
    },
];

pub fn sandbox_phone(phone: &str) -> Option<SandboxPhone> {
    SANDBOX_PHONES.iter().copied().find(|p| p.phone == phone)
}

/// A fiscal receipt's `receipt_type`, numbered as fiscal documents number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptType {
    /// 1, приход: the customer paid; the money part earns cashback.
    Sale,
    /// 2, возврат прихода: money went back to the customer; it earns nothing and takes back
    /// what its sale earned.
    Refund,
}

impl ReceiptType {
    pub fn parse(code: i64) -> Option<ReceiptType> {
        match code {
            1 => Some(ReceiptType::Sale),
            2 => Some(ReceiptType::Refund),
            _ => None,
        }
    }

    pub fn code(self) -> i64 {
        match self {
            ReceiptType::Sale => 1,
            ReceiptType::Refund => 2,
        }
    }
}

/// How far a receipt's `pay_date` may lie ahead of kopilka's clock (clocks of tills drift).
pub const PAY_DATE_LEEWAY_MS: i64 = 5 * 60 * 1000;

/// Whether a receipt paid at `pay_date` (unix ms) lies in the future at `now`.
pub fn pay_date_in_future(pay_date: i64, now: i64) -> bool {
    pay_date > now.saturating_add(PAY_DATE_LEEWAY_MS)
}

/// The cashback a sale receipt earns: the program's earn on the money paid, `amount − discount`
/// kopecks (the discount is what was not paid with money), rounded down to the program's money.
pub fn receipt_cashback(rules: &ProgramRules, amount: i64, discount: i64) -> Amount {
    let money = rescale(
        Amount(amount - discount),
        2,
        rules.money_decimals,
        Rounding::Down,
    );
    rules.earn_for(money)
}

/// A sale receipt as its refunds see it. `amount` and `refunded` are kopecks, `cashback` and
/// `taken_back` the program's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleReceipt {
    pub amount: i64,
    pub refunded: i64,
    pub cashback: i64,
    pub taken_back: i64,
}

impl SaleReceipt {
    /// Whether a refund of `amount` kopecks fits what is left of the sale.
    pub fn fits(&self, amount: i64) -> bool {
        amount > 0 && amount <= self.amount - self.refunded
    }

    /// The points a refund of `amount` kopecks takes back: the sale's cashback in proportion to
    /// all money refunded so far, rounded down, less what earlier refunds took; the refund that
    /// completes the sale takes the rest. Refunds never take back more than the sale earned,
    /// nor more than the customer can still `spendable` (points already spent stay spent).
    pub fn take_back(&self, amount: i64, spendable: i64) -> i64 {
        let refunded = self.refunded + amount;
        let due = if refunded >= self.amount {
            self.cashback
        } else {
            // Rounding::Down: the customer keeps a fraction until the last refund.
            (i128::from(self.cashback) * i128::from(refunded) / i128::from(self.amount)) as i64
        };
        (due - self.taken_back)
            .clamp(0, self.cashback - self.taken_back)
            .min(spendable.max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, TokenValue)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), TokenValue::text(*v)))
            .collect()
    }

    #[test]
    fn protocols_md_example_vector() {
        let init = fields(&[
            ("platformUid", "XXXXX"),
            ("phone", "79000000000"),
            ("orderId", "1234"),
            ("amount", "25000"),
        ]);
        assert_eq!(
            signing_string(&init, "YYYYY"),
            "25000123479000000000XXXXXYYYYY"
        );
        assert_eq!(
            token(&init, "YYYYY"),
            "3b9507e4741ba38256d2c393fdec8ff2c49bd66859fceff370a717bfc450d873"
        );
    }

    #[test]
    fn seed_spelling_sorts_the_platform_after_the_secret() {
        let init = fields(&[
            ("uidPlatform", "M2hULcD58iYGkmS7"),
            ("phone", "79000000000"),
            ("orderId", "1234"),
            ("amount", "25000"),
            ("token", "ignored"),
        ]);
        assert_eq!(
            signing_string(&init, "yIKirCvplm8N1D9g"),
            "25000123479000000000yIKirCvplm8N1D9gM2hULcD58iYGkmS7"
        );
        assert_eq!(
            token(&init, "yIKirCvplm8N1D9g"),
            "7d273e5a48b052d68e61c1576cbbe8c5dae938cebd4910bdac4f998a3dbe5333"
        );
    }

    #[test]
    fn php_class_spelling_with_the_seed_keys() {
        let init = fields(&[
            ("platformUid", "M2hULcD58iYGkmS7"),
            ("phone", "79000000000"),
            ("orderId", "1234"),
            ("amount", "25000"),
        ]);
        assert_eq!(
            signing_string(&init, "yIKirCvplm8N1D9g"),
            "25000123479000000000M2hULcD58iYGkmS7yIKirCvplm8N1D9g"
        );
        assert_eq!(
            token(&init, "yIKirCvplm8N1D9g"),
            "5bc81ae28f1d9c16807c4b0ecb53cb69d4d286b2570eb89fbcb4f9c7b2d226ea"
        );
    }

    #[test]
    fn a_wrong_key_gives_another_token() {
        let balance = fields(&[
            ("platformUid", "M2hULcD58iYGkmS7"),
            ("phone", "79000000001"),
        ]);
        assert_ne!(
            token(&balance, "yIKirCvplm8N1D9g"),
            token(&balance, "kopilka-demo-dev")
        );
        assert_eq!(token(&balance, "yIKirCvplm8N1D9g").len(), 64);
    }

    #[test]
    fn booleans_nulls_and_arrays_follow_php() {
        let mixed = vec![
            ("b".to_string(), TokenValue::boolean(true)),
            ("c".to_string(), TokenValue::boolean(false)),
            ("d".to_string(), TokenValue::null()),
            ("a".to_string(), TokenValue::Skip),
            ("e".to_string(), TokenValue::text("x")),
        ];
        assert_eq!(signing_string(&mixed, "S"), "1xS");
    }

    #[test]
    fn the_happy_path() {
        let mut t = Transfer::new(0, DEFAULT_FORM_LIFETIME_MS);
        assert_eq!(t.open_form(1), Step::Moved(TransferStatus::FormShowed));
        assert_eq!(t.open_form(2), Step::Unchanged);
        assert_eq!(t.enter_code(false, 3), Step::WrongCode { left: 4 });
        assert_eq!(t.enter_code(true, 4), Step::Hold);
        assert_eq!(t.status.wire(), "CONFIRMED");
        assert_eq!(t.enter_code(true, 5), Step::Closed(TransferStatus::Held));
        assert_eq!(t.expire(DEFAULT_FORM_LIFETIME_MS + 1), Step::Unchanged);
        assert_eq!(t.settle(true), Step::Moved(TransferStatus::Confirmed));
        assert_eq!(t.settle(false), Step::Unchanged);
    }

    #[test]
    fn five_wrong_codes_reject() {
        let mut t = Transfer::new(0, 1000);
        for left in (0..5).rev() {
            assert_eq!(t.enter_code(false, 1), Step::WrongCode { left });
        }
        assert_eq!(t.status, TransferStatus::Rejected);
        assert_eq!(
            t.enter_code(true, 2),
            Step::Closed(TransferStatus::Rejected)
        );
    }

    #[test]
    fn forms_expire_and_dead_notifications_reject() {
        let mut t = Transfer::new(0, 1000);
        assert_eq!(t.expire(999), Step::Unchanged);
        assert_eq!(t.expire(1000), Step::Expired);
        assert_eq!(t.status, TransferStatus::Canceled);
        let mut late = Transfer::new(0, 1000);
        assert_eq!(late.enter_code(true, 1000), Step::Expired);
        let mut held = Transfer::new(0, 1000);
        held.enter_code(true, 1);
        assert_eq!(held.settle(false), Step::Moved(TransferStatus::Rejected));
    }

    #[test]
    fn refunds_take_back_in_proportion_and_never_more() {
        let sale = SaleReceipt {
            amount: 10_000,
            refunded: 0,
            cashback: 333,
            taken_back: 0,
        };
        assert!(sale.fits(10_000) && !sale.fits(10_001) && !sale.fits(0));
        assert_eq!(sale.take_back(10_000, i64::MAX), 333);
        assert_eq!(sale.take_back(5_000, i64::MAX), 166);
        // Points already spent stay spent: no more than the customer can still spend.
        assert_eq!(sale.take_back(10_000, 100), 100);
        assert_eq!(sale.take_back(10_000, -5), 0);
        let half = SaleReceipt {
            refunded: 5_000,
            taken_back: 166,
            ..sale
        };
        assert_eq!(half.take_back(5_000, i64::MAX), 167);
        assert!(!half.fits(5_001));
        // Nothing could be taken the first time (the points were spent): the next takes it.
        let missed = SaleReceipt {
            refunded: 5_000,
            taken_back: 0,
            ..sale
        };
        assert_eq!(missed.take_back(1_000, i64::MAX), 199);
        assert_eq!(ReceiptType::parse(2), Some(ReceiptType::Refund));
        assert_eq!(ReceiptType::parse(3), None);
        assert!(pay_date_in_future(PAY_DATE_LEEWAY_MS + 1, 0));
        assert!(!pay_date_in_future(PAY_DATE_LEEWAY_MS, 0));
    }

    #[test]
    fn sandbox_phones_are_the_seeds() {
        assert_eq!(sandbox_phone("79000000001").unwrap().balance, 100_000_000);
        assert_eq!(
            sandbox_phone("79000000002").unwrap().outcome,
            TransferStatus::Rejected
        );
        assert_eq!(
            sandbox_phone("79000000003").unwrap().outcome,
            TransferStatus::Canceled
        );
        assert!(sandbox_phone("79000000000").is_none());
    }
}
