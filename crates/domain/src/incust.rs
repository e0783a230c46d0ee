//! The inCust e-shop protocol's rules (seed 000): its status codes, what a sale earns or may pay
//! with bonuses, what a cancellation reports, and how often a customer may get the spend password
//! or code wrong. The wire formats live in the server's `incust` module.

use crate::money::{rescale, Amount, MAX_AMOUNT};
use crate::program::ProgramRules;
use crate::{DomainError, Rounding};

/// How many wrong entries one SMS code takes within [`ATTEMPT_WINDOW_MS`] (spend passwords are
/// throttled by `throttle`, never counted to a lock).
pub const MAX_ATTEMPTS: i64 = 5;
/// The window wrong attempts are counted in: 15 minutes.
pub const ATTEMPT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a hosted page stays usable after the shop opened it.
pub const PAGE_LIFETIME_MS: i64 = 15 * 60 * 1000;
/// Digits of a one-time SMS code.
pub const CODE_DIGITS: usize = 6;

/// A language the protocol's texts exist in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// The program's language; Russian, the protocol's own, for anything else.
    pub fn of(rules: &ProgramRules) -> Lang {
        match rules.language.as_str() {
            "en" => Lang::En,
            _ => Lang::Ru,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// The outcome of a request: `0000` or one code per cause of refusal. The seed publishes no
/// error codes; these are kopilka's, listed in docs/incust.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    /// The body is not a well-formed XML document with a `<root>` element (or is empty).
    Malformed,
    /// A required field is missing or empty.
    MissingField,
    /// A field is not in its format (a phone, a transaction number, an overlong comment).
    InvalidField,
    /// The body was sent with a content type other than XML.
    ContentType,
    /// The body is larger than the endpoint takes.
    TooLarge,
    /// `cmd` is none of `transaction`, `transactioncancel`.
    UnknownCmd,
    /// The shop's login or password is wrong.
    BadCredentials,
    /// Too many wrong shop passwords from this address lately (or the server is busy checking
    /// passwords): nothing was checked, try again later.
    TryLater,
    /// No card has this phone (and the program does not enrol on earn, or it is a redeem).
    UnknownCard,
    /// The card or its owner is blocked.
    CardBlocked,
    /// The amount is not a positive number with at most the currency's decimals, or earns nothing.
    BadAmount,
    /// The card has fewer bonuses than asked, or the order allows fewer.
    NotEnoughBonuses,
    /// No transaction of this shop has this number (another shop's is not told apart: its
    /// numbers are no business of this one).
    UnknownTransaction,
    /// The transaction was already cancelled.
    AlreadyCancelled,
    /// The transaction cannot be cancelled (it is itself a cancellation, or the bonuses are gone).
    NotCancellable,
    /// The order number was already used with another card or amount.
    OrderConflict,
    /// `cardphone` is not the card of the transaction.
    OtherCard,
    /// The spend password or SMS code is wrong.
    WrongSecret,
    /// Five wrong entries of a page's SMS code: the code is spent.
    TooManyAttempts,
    /// The phone, the customer's address or the shop asked for too many SMS codes this hour.
    TooManyCodes,
    /// The page was open too long, or was already used.
    PageExpired,
    /// The customer cancelled on the page.
    CancelledByCustomer,
    /// `returnurl` is missing, not http(s) or not on a host registered for the shop.
    ReturnUrlRefused,
    /// Something went wrong inside kopilka; the log has the details.
    Internal,
}

impl Status {
    pub const ALL: [Status; 25] = [
        Status::Ok,
        Status::Malformed,
        Status::MissingField,
        Status::InvalidField,
        Status::ContentType,
        Status::TooLarge,
        Status::UnknownCmd,
        Status::BadCredentials,
        Status::TryLater,
        Status::UnknownCard,
        Status::CardBlocked,
        Status::BadAmount,
        Status::NotEnoughBonuses,
        Status::UnknownTransaction,
        Status::AlreadyCancelled,
        Status::NotCancellable,
        Status::OrderConflict,
        Status::OtherCard,
        Status::WrongSecret,
        Status::TooManyAttempts,
        Status::TooManyCodes,
        Status::PageExpired,
        Status::CancelledByCustomer,
        Status::ReturnUrlRefused,
        Status::Internal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Ok => "0000",
            Status::Malformed => "1001",
            Status::MissingField => "1002",
            Status::InvalidField => "1003",
            Status::ContentType => "1004",
            Status::TooLarge => "1005",
            Status::UnknownCmd => "1006",
            Status::BadCredentials => "2001",
            Status::TryLater => "2002",
            Status::UnknownCard => "3001",
            Status::CardBlocked => "3002",
            Status::BadAmount => "4001",
            Status::NotEnoughBonuses => "4002",
            Status::UnknownTransaction => "5001",
            Status::AlreadyCancelled => "5003",
            Status::NotCancellable => "5004",
            Status::OrderConflict => "5005",
            Status::OtherCard => "5006",
            Status::WrongSecret => "6001",
            Status::TooManyAttempts => "6002",
            Status::PageExpired => "6003",
            Status::CancelledByCustomer => "6004",
            Status::ReturnUrlRefused => "6005",
            Status::TooManyCodes => "6006",
            Status::Internal => "9999",
        }
    }

    pub fn from_code(code: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The human-readable text sent as `statusdesc`/`cmddesc`.
    pub fn text(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ru => match self {
                Status::Ok => "Ok",
                Status::Malformed => "Запрос не является XML-документом с элементом <root>",
                Status::MissingField => "Не заполнено обязательное поле",
                Status::InvalidField => "Поле заполнено неверно",
                Status::ContentType => {
                    "Запрос должен быть XML (Content-Type: text/xml или application/xml)"
                }
                Status::TooLarge => "Запрос слишком большой",
                Status::UnknownCmd => "Неизвестная команда",
                Status::BadCredentials => "Неверный логин или пароль магазина",
                Status::TryLater => "Слишком много попыток входа, повторите позже",
                Status::UnknownCard => "Карточка с таким номером телефона не найдена",
                Status::CardBlocked => "Карточка заблокирована",
                Status::BadAmount => "Неверная сумма",
                Status::NotEnoughBonuses => "Недостаточно бонусов",
                Status::UnknownTransaction => "Транзакция не найдена",
                Status::AlreadyCancelled => "Транзакция уже отменена",
                Status::NotCancellable => "Транзакцию нельзя отменить",
                Status::OrderConflict => {
                    "Заказ с этим номером уже проведён с другой карточкой или суммой"
                }
                Status::OtherCard => "Транзакция проведена по другой карточке",
                Status::WrongSecret => "Неверный пароль или код",
                Status::TooManyAttempts => "Слишком много неверных кодов, запросите новый код",
                Status::TooManyCodes => "Слишком много запросов кода, попробуйте позже",
                Status::PageExpired => "Страница устарела или уже использована",
                Status::CancelledByCustomer => "Операция отменена покупателем",
                Status::ReturnUrlRefused => "Адрес возврата не зарегистрирован для магазина",
                Status::Internal => "Внутренняя ошибка, повторите позже",
            },
            Lang::En => match self {
                Status::Ok => "Ok",
                Status::Malformed => "The request is not an XML document with a <root> element",
                Status::MissingField => "A required field is missing",
                Status::InvalidField => "A field is not valid",
                Status::ContentType => {
                    "The request must be XML (Content-Type: text/xml or application/xml)"
                }
                Status::TooLarge => "The request is too large",
                Status::UnknownCmd => "Unknown command",
                Status::BadCredentials => "Wrong shop login or password",
                Status::TryLater => "Too many sign-in attempts; try again later",
                Status::UnknownCard => "No card has this phone number",
                Status::CardBlocked => "The card is blocked",
                Status::BadAmount => "Invalid amount",
                Status::NotEnoughBonuses => "Not enough bonuses",
                Status::UnknownTransaction => "Transaction not found",
                Status::AlreadyCancelled => "The transaction is already cancelled",
                Status::NotCancellable => "The transaction cannot be cancelled",
                Status::OrderConflict => {
                    "This order number was already used with another card or amount"
                }
                Status::OtherCard => "The transaction was made with another card",
                Status::WrongSecret => "Wrong password or code",
                Status::TooManyAttempts => "Too many wrong codes; ask for a new one",
                Status::TooManyCodes => "Too many codes requested; try again later",
                Status::PageExpired => "The page has expired or was already used",
                Status::CancelledByCustomer => "Cancelled by the customer",
                Status::ReturnUrlRefused => "The return address is not registered for the shop",
                Status::Internal => "Internal error, please try again later",
            },
        }
    }

    /// The status a ledger refusal means to an inCust client.
    pub fn of_domain(error: &DomainError) -> Status {
        match error {
            DomainError::InvalidAmount(_) => Status::BadAmount,
            DomainError::InsufficientFunds { .. } => Status::NotEnoughBonuses,
            DomainError::IdempotencyConflict => Status::OrderConflict,
            DomainError::OperationNotFound(_) => Status::UnknownTransaction,
            DomainError::ForeignOperation(_) => Status::UnknownTransaction,
            DomainError::AlreadyReversed { .. } => Status::AlreadyCancelled,
            DomainError::NotReversible { .. }
            | DomainError::ReversalTooLarge { .. }
            | DomainError::HoldNotPending { .. }
            | DomainError::MerchantFundsShort { .. } => Status::NotCancellable,
            DomainError::NotFound { .. } => Status::UnknownCard,
            DomainError::Invalid { .. } => Status::InvalidField,
            DomainError::AlreadyExists { .. } => Status::Internal,
            DomainError::CustomerBlocked => Status::CardBlocked,
            // Closed accounts: their phone leads to the merged-into customer, or to no one.
            DomainError::CustomerMerged { .. } | DomainError::CustomerAnonymised => {
                Status::UnknownCard
            }
        }
    }
}

/// A sale as the protocol reports it. `amount` and `amount_to_pay` are money, the bonuses are
/// points, all in minor units; a cancellation reports the original negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sale {
    pub amount: Amount,
    pub bonuses_redeemed: Amount,
    pub amount_to_pay: Amount,
    pub bonuses_earned: Amount,
}

impl Sale {
    /// An earn on `paid` money: nothing redeemed, everything paid with money.
    pub fn earn(rules: &ProgramRules, paid: Amount) -> Result<Sale, Status> {
        if paid.0 <= 0 || paid.0 > MAX_AMOUNT {
            return Err(Status::BadAmount);
        }
        let earned = rules.earn_for(paid);
        if earned.0 <= 0 {
            return Err(Status::BadAmount);
        }
        Ok(Sale {
            amount: paid,
            bonuses_redeemed: Amount::ZERO,
            amount_to_pay: paid,
            bonuses_earned: earned,
        })
    }

    /// Paying `bonuses` of an order of `amount` money: at most what the program lets points
    /// pay of the order. Whether the card has them is the ledger's check.
    pub fn redeem(rules: &ProgramRules, amount: Amount, bonuses: Amount) -> Result<Sale, Status> {
        if amount.0 <= 0 || amount.0 > MAX_AMOUNT || bonuses.0 <= 0 {
            return Err(Status::BadAmount);
        }
        if bonuses > rules.max_redeemable(amount, Amount(MAX_AMOUNT)) {
            return Err(Status::NotEnoughBonuses);
        }
        let paid_with_points = rescale(bonuses, rules.decimals, rules.money_decimals, Rounding::Up);
        Ok(Sale {
            amount,
            bonuses_redeemed: bonuses,
            amount_to_pay: Amount((amount.0 - paid_with_points.0).max(0)),
            bonuses_earned: Amount::ZERO,
        })
    }

    /// What cancelling this sale reports: every amount negated.
    pub fn cancellation(&self) -> Sale {
        Sale {
            amount: Amount(-self.amount.0),
            bonuses_redeemed: Amount(-self.bonuses_redeemed.0),
            amount_to_pay: Amount(-self.amount_to_pay.0),
            bonuses_earned: Amount(-self.bonuses_earned.0),
        }
    }
}

/// Wrong attempts still allowed after `failures` within the window.
pub fn attempts_left(failures: i64) -> i64 {
    (MAX_ATTEMPTS - failures).max(0)
}

/// Whether a return address on `host` may receive the page's answer: the host must be one the
/// shop registered (case-insensitive, any port).
pub fn return_host_allowed(host: &str, registered: &[String]) -> bool {
    !host.is_empty() && registered.iter().any(|h| h.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> ProgramRules {
        ProgramRules {
            earn_bps: 2_000,
            ..Default::default()
        }
    }

    #[test]
    fn the_seed_examples_add_up() {
        let earn = Sale::earn(&demo(), Amount(21125)).unwrap();
        assert_eq!(earn.bonuses_earned, Amount(4225));
        assert_eq!(earn.amount_to_pay, Amount(21125));
        let redeem = Sale::redeem(&demo(), Amount(25125), Amount(4000)).unwrap();
        assert_eq!(redeem.amount_to_pay, Amount(21125));
        let cancel = earn.cancellation();
        assert_eq!(cancel.amount, Amount(-21125));
        assert_eq!(cancel.bonuses_redeemed, Amount(0));
        assert_eq!(cancel.bonuses_earned, Amount(-4225));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert_eq!(Sale::earn(&demo(), Amount(0)), Err(Status::BadAmount));
        assert_eq!(Sale::earn(&demo(), Amount(2)), Err(Status::BadAmount));
        assert_eq!(
            Sale::redeem(&demo(), Amount(100), Amount(101)),
            Err(Status::NotEnoughBonuses)
        );
        let half = ProgramRules {
            max_redeem_bps: 5_000,
            ..demo()
        };
        assert_eq!(
            Sale::redeem(&half, Amount(100), Amount(51)),
            Err(Status::NotEnoughBonuses)
        );
        assert!(Sale::redeem(&half, Amount(100), Amount(50)).is_ok());
    }

    #[test]
    fn codes_are_four_digits_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for status in Status::ALL {
            assert_eq!(status.code().len(), 4);
            assert!(status.code().bytes().all(|b| b.is_ascii_digit()));
            assert!(seen.insert(status.code()), "{status:?}");
            assert_eq!(Status::from_code(status.code()), Some(status));
            assert!(!status.text(Lang::Ru).is_empty() && !status.text(Lang::En).is_empty());
        }
    }

    #[test]
    fn return_hosts_match_case_insensitively() {
        let hosts = vec!["127.0.0.1".to_string(), "Shop.example".to_string()];
        assert!(return_host_allowed("shop.EXAMPLE", &hosts));
        assert!(!return_host_allowed("evil.example", &hosts));
        assert!(!return_host_allowed("", &hosts));
        assert_eq!(attempts_left(3), 2);
        assert_eq!(attempts_left(7), 0);
    }
}
