//! What inCust operations tell the card's owner, by SMS and in the API's `message` field, in
//! the program's language. Amounts arrive formatted.

use kopilka_domain::incust::Lang;

pub fn earned(lang: Lang, shop: &str, earned: &str, balance: &str) -> String {
    match lang {
        Lang::Ru => format!("{shop}: начислено {earned} бонусов. Баланс: {balance}"),
        Lang::En => format!("{shop}: {earned} bonuses earned. Balance: {balance}"),
    }
}

/// The earn of a customer the earn just enrolled.
pub fn enrolled(lang: Lang, shop: &str, program: &str, earned: &str, balance: &str) -> String {
    match lang {
        Lang::Ru => format!(
            "{shop}: вы стали участником программы «{program}», начислено {earned} бонусов. Баланс: {balance}"
        ),
        Lang::En => format!(
            "{shop}: welcome to {program}; {earned} bonuses earned. Balance: {balance}"
        ),
    }
}

pub fn redeemed(lang: Lang, shop: &str, redeemed: &str, balance: &str) -> String {
    match lang {
        Lang::Ru => format!("{shop}: оплачено бонусами {redeemed}. Баланс: {balance}"),
        Lang::En => format!("{shop}: {redeemed} paid with bonuses. Balance: {balance}"),
    }
}

/// A cancellation: `returned` bonuses came back (a cancelled redeem) or `taken` went (a
/// cancelled earn).
pub fn cancelled(
    lang: Lang,
    shop: &str,
    transaction: i64,
    returned: Option<&str>,
    taken: Option<&str>,
    balance: &str,
) -> String {
    let change = match (lang, returned, taken) {
        (Lang::Ru, Some(r), _) => format!(", возвращено {r} бонусов"),
        (Lang::Ru, None, Some(t)) => format!(", списано {t} бонусов"),
        (Lang::En, Some(r), _) => format!("; {r} bonuses returned"),
        (Lang::En, None, Some(t)) => format!("; {t} bonuses taken back"),
        (_, None, None) => String::new(),
    };
    match lang {
        Lang::Ru => format!("{shop}: операция {transaction} отменена{change}. Баланс: {balance}"),
        Lang::En => {
            format!("{shop}: transaction {transaction} cancelled{change}. Balance: {balance}")
        }
    }
}

/// The `<message>` of a successful earn.
pub fn earn_answer(lang: Lang, earned: &str, balance: &str) -> String {
    match lang {
        Lang::Ru => format!("Операция успешна. Начислено {earned} бонусов, баланс {balance}"),
        Lang::En => format!("Success. {earned} bonuses earned, balance {balance}"),
    }
}

/// The one-time code that confirms a hosted page when the card has no spend password.
pub fn code(lang: Lang, shop: &str, code: &str) -> String {
    match lang {
        Lang::Ru => format!("{shop}: код подтверждения {code}. Никому его не сообщайте"),
        Lang::En => format!("{shop}: your confirmation code is {code}. Do not share it"),
    }
}
