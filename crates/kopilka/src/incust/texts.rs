//! What inCust operations tell the card's owner, by SMS and in the API's `message` field. The
//! SMS texts are `sms-incust-*` of the Fluent files in the program's language (uk, ru, en), the
//! bonuses with their plural and as the language writes numbers; a program's override of the
//! domain's `incust.*` template (`settings.templates`, ru or en) wins. The seed fixes only what
//! an SMS tells (the shop's name and the operation's outcome), not its words. The API's
//! `<message>` is the protocol's, in its language (`kopilka_domain::message`).

use super::ops::Shop;
use crate::http::i18n::{self, Lang};
use fluent_bundle::FluentValue;
use kopilka_domain::message::{self, Language};

/// A value of an SMS: a name, or a number of bonuses (minor units).
enum Value<'a> {
    Name(&'a str),
    Bonuses(i64),
}

/// The SMS `id` (Fluent) or, when the program overrides it, the template `name` for the shop's
/// program.
fn sms(shop: &Shop, name: &str, id: &str, values: &[(&str, Value)]) -> String {
    let lang = i18n::of_program(&shop.rules.language);
    let decimals = shop.rules.decimals;
    if let Some(custom) = overridden(shop, name, lang) {
        // An override is written around bare numbers ("начислено {earned} бонусов").
        let values: Vec<(&str, String)> = values
            .iter()
            .map(|(key, value)| match value {
                Value::Name(text) => (*key, text.to_string()),
                Value::Bonuses(minor) => (*key, i18n::number(*minor, decimals, lang)),
            })
            .collect();
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return message::substitute(custom, &values);
    }
    let values: Vec<(&str, FluentValue)> = values
        .iter()
        .map(|(key, value)| match value {
            Value::Name(text) => (*key, FluentValue::from(*text)),
            Value::Bonuses(minor) => (
                *key,
                FluentValue::from(i18n::bonuses(*minor, decimals, lang)),
            ),
        })
        .collect();
    i18n::text(lang, id, Some(&i18n::args(&values)))
}

/// The program's own text of template `name` in `lang` (overrides are Russian or English).
fn overridden<'a>(shop: &'a Shop, name: &str, lang: Lang) -> Option<&'a str> {
    shop.program
        .settings
        .get("templates")?
        .get(name)?
        .get(lang.code())?
        .as_str()
}

pub fn earned(shop: &Shop, earned: i64, balance: i64) -> String {
    let values = [
        ("shop", Value::Name(&shop.merchant.sms_name)),
        ("earned", Value::Bonuses(earned)),
        ("balance", Value::Bonuses(balance)),
    ];
    sms(shop, "incust.earned", "sms-incust-earned", &values)
}

/// The earn of a customer the earn just enrolled.
pub fn enrolled(shop: &Shop, earned: i64, balance: i64) -> String {
    let values = [
        ("shop", Value::Name(&shop.merchant.sms_name)),
        ("program", Value::Name(&shop.program.name)),
        ("earned", Value::Bonuses(earned)),
        ("balance", Value::Bonuses(balance)),
    ];
    sms(shop, "incust.enrolled", "sms-incust-enrolled", &values)
}

pub fn redeemed(shop: &Shop, redeemed: i64, balance: i64) -> String {
    let values = [
        ("shop", Value::Name(&shop.merchant.sms_name)),
        ("redeemed", Value::Bonuses(redeemed)),
        ("balance", Value::Bonuses(balance)),
    ];
    sms(shop, "incust.redeemed", "sms-incust-redeemed", &values)
}

/// A cancellation: `returned` bonuses came back (a cancelled redeem) or `taken` went (a
/// cancelled earn).
pub fn cancelled(
    shop: &Shop,
    transaction: i64,
    returned: Option<i64>,
    taken: Option<i64>,
    balance: i64,
) -> String {
    let transaction = transaction.to_string();
    let mut values = vec![
        ("shop", Value::Name(&shop.merchant.sms_name)),
        ("transaction", Value::Name(&transaction)),
        ("balance", Value::Bonuses(balance)),
    ];
    let (name, id) = match (returned, taken) {
        (Some(returned), _) => {
            values.push(("returned", Value::Bonuses(returned)));
            ("incust.cancelled.returned", "sms-incust-cancelled-returned")
        }
        (None, Some(taken)) => {
            values.push(("taken", Value::Bonuses(taken)));
            ("incust.cancelled.taken", "sms-incust-cancelled-taken")
        }
        (None, None) => ("incust.cancelled", "sms-incust-cancelled"),
    };
    sms(shop, name, id, &values)
}

/// The `<message>` of a successful earn: the protocol's, amounts as the protocol writes them.
pub fn earn_answer(shop: &Shop, earned: &str, balance: &str) -> String {
    let language = Language::parse(&shop.rules.language);
    let values = [("earned", earned), ("balance", balance)];
    message::render(
        "incust.earn_answer",
        language,
        &shop.program.settings,
        &values,
    )
    .unwrap_or_default()
}

/// The one-time code that confirms a hosted page when the card has no spend password.
pub fn code(shop: &Shop, code: &str) -> String {
    let values = [
        ("shop", Value::Name(&shop.merchant.sms_name)),
        ("code", Value::Name(code)),
    ];
    sms(shop, "incust.code", "sms-incust-code", &values)
}
