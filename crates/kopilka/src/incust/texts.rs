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

/// What an SMS's text depends on: the program's language, decimals and overrides, and the
/// names it tells.
struct Sender<'a> {
    language: &'a str,
    decimals: u8,
    settings: &'a serde_json::Value,
    shop: &'a str,
    program: &'a str,
}

impl<'a> Sender<'a> {
    fn of(shop: &'a Shop) -> Sender<'a> {
        Sender {
            language: &shop.rules.language,
            decimals: shop.rules.decimals,
            settings: &shop.program.settings,
            shop: &shop.merchant.sms_name,
            program: &shop.program.name,
        }
    }

    /// The SMS `id` (Fluent) or, when the program overrides it, its template `name`.
    fn say(&self, name: &str, id: &str, values: &[(&str, Value)]) -> String {
        let lang = i18n::of_program(self.language);
        if let Some(custom) = self.overridden(name, lang) {
            // An override is written around bare numbers ("начислено {earned} бонусов").
            let values: Vec<(&str, String)> = values
                .iter()
                .map(|(key, value)| match value {
                    Value::Name(text) => (*key, text.to_string()),
                    Value::Bonuses(minor) => (*key, i18n::number(*minor, self.decimals, lang)),
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
                    FluentValue::from(i18n::bonuses(*minor, self.decimals, lang)),
                ),
            })
            .collect();
        i18n::text(lang, id, Some(&i18n::args(&values)))
    }

    /// The program's own text of template `name` in `lang` (overrides are Russian or English).
    fn overridden(&self, name: &str, lang: Lang) -> Option<&'a str> {
        self.settings
            .get("templates")?
            .get(name)?
            .get(lang.code())?
            .as_str()
    }

    fn earned(&self, enrolled: bool, earned: i64, balance: i64) -> String {
        let mut values = vec![
            ("shop", Value::Name(self.shop)),
            ("earned", Value::Bonuses(earned)),
            ("balance", Value::Bonuses(balance)),
        ];
        if enrolled {
            values.push(("program", Value::Name(self.program)));
            return self.say("incust.enrolled", "sms-incust-enrolled", &values);
        }
        self.say("incust.earned", "sms-incust-earned", &values)
    }

    fn redeemed(&self, redeemed: i64, balance: i64) -> String {
        let values = [
            ("shop", Value::Name(self.shop)),
            ("redeemed", Value::Bonuses(redeemed)),
            ("balance", Value::Bonuses(balance)),
        ];
        self.say("incust.redeemed", "sms-incust-redeemed", &values)
    }

    fn cancelled(
        &self,
        transaction: i64,
        returned: Option<i64>,
        taken: Option<i64>,
        balance: i64,
    ) -> String {
        let transaction = transaction.to_string();
        let mut values = vec![
            ("shop", Value::Name(self.shop)),
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
        self.say(name, id, &values)
    }

    fn code(&self, code: &str) -> String {
        let values = [
            ("shop", Value::Name(self.shop)),
            ("code", Value::Name(code)),
        ];
        self.say("incust.code", "sms-incust-code", &values)
    }
}

pub fn earned(shop: &Shop, earned: i64, balance: i64) -> String {
    Sender::of(shop).earned(false, earned, balance)
}

/// The earn of a customer the earn just enrolled.
pub fn enrolled(shop: &Shop, earned: i64, balance: i64) -> String {
    Sender::of(shop).earned(true, earned, balance)
}

pub fn redeemed(shop: &Shop, redeemed: i64, balance: i64) -> String {
    Sender::of(shop).redeemed(redeemed, balance)
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
    Sender::of(shop).cancelled(transaction, returned, taken, balance)
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
    Sender::of(shop).code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sender<'a>(language: &'a str, decimals: u8, settings: &'a serde_json::Value) -> Sender<'a> {
        Sender {
            language,
            decimals,
            settings,
            shop: "Кав'ярня",
            program: "Kopilka",
        }
    }

    #[test]
    fn sms_speak_the_programs_language_with_plurals() {
        let none = json!({});
        let uk = sender("uk", 0, &none);
        assert_eq!(
            uk.earned(false, 1, 2),
            "Кав'ярня: нараховано 1 бонус. Баланс: 2 бонуси"
        );
        assert_eq!(
            uk.redeemed(5, 1_234),
            "Кав'ярня: оплачено 5 бонусів. Баланс: 1\u{a0}234 бонуси"
        );
        assert_eq!(
            uk.code("123456"),
            "Кав'ярня: код підтвердження 123456. Нікому його не повідомляйте"
        );
        let ru = sender("ru", 0, &none);
        assert_eq!(
            ru.cancelled(7, Some(21), None, 5),
            "Кав'ярня: операция 7 отменена, возвращено 21 бонус. Баланс: 5 бонусов"
        );
        assert_eq!(
            ru.earned(true, 2, 2),
            "Кав'ярня: вы стали участником программы «Kopilka», начислено 2 бонуса. Баланс: 2 бонуса"
        );
        let en = sender("en", 0, &none);
        assert_eq!(
            en.earned(false, 1, 5),
            "Кав'ярня: 1 bonus earned. Balance: 5 bonuses"
        );
        // With decimals every number is a fraction: its plural is "other".
        assert_eq!(
            sender("uk", 2, &none).cancelled(8, None, Some(100), 123_456),
            "Кав'ярня: операцію 8 скасовано, списано 1,00 бонуса. Баланс: 1\u{a0}234,56 бонуса"
        );
        assert_eq!(
            sender("en", 2, &none).redeemed(100, 0),
            "Кав'ярня: 1.00 bonuses paid. Balance: 0.00 bonuses"
        );
        // A language no page speaks: Russian, the protocol's.
        assert!(sender("fr", 0, &none)
            .code("1")
            .contains("код подтверждения"));
    }

    #[test]
    fn a_programs_override_wins_with_bare_numbers() {
        let settings = json!({"templates": {"incust.redeemed": {"ru": "{shop}: -{redeemed}, итого {balance}"}}});
        assert_eq!(
            sender("ru", 2, &settings).redeemed(150_000, 50),
            "Кав'ярня: -1\u{a0}500,00, итого 0,50"
        );
        // Overrides are Russian or English: a Ukrainian program speaks Fluent's Ukrainian.
        assert!(sender("uk", 2, &settings)
            .redeemed(100, 0)
            .contains("оплачено"));
    }
}
