//! What inCust operations tell the card's owner, by SMS and in the API's `message` field: the
//! domain's `incust.*` templates in the program's language, with the program's overrides
//! (`settings.templates`). Amounts arrive formatted.

use super::ops::Shop;
use kopilka_domain::message::{self, Language};

/// Template `name` for the shop's program. The names are the built-in ones, so there is always
/// a text; an empty one would only come from a name missing from the domain's list.
fn render(shop: &Shop, name: &str, values: &[(&str, &str)]) -> String {
    let language = Language::parse(&shop.rules.language);
    message::render(name, language, &shop.program.settings, values).unwrap_or_default()
}

pub fn earned(shop: &Shop, earned: &str, balance: &str) -> String {
    let values = [
        ("shop", shop.merchant.sms_name.as_str()),
        ("earned", earned),
        ("balance", balance),
    ];
    render(shop, "incust.earned", &values)
}

/// The earn of a customer the earn just enrolled.
pub fn enrolled(shop: &Shop, earned: &str, balance: &str) -> String {
    let values = [
        ("shop", shop.merchant.sms_name.as_str()),
        ("program", shop.program.name.as_str()),
        ("earned", earned),
        ("balance", balance),
    ];
    render(shop, "incust.enrolled", &values)
}

pub fn redeemed(shop: &Shop, redeemed: &str, balance: &str) -> String {
    let values = [
        ("shop", shop.merchant.sms_name.as_str()),
        ("redeemed", redeemed),
        ("balance", balance),
    ];
    render(shop, "incust.redeemed", &values)
}

/// A cancellation: `returned` bonuses came back (a cancelled redeem) or `taken` went (a
/// cancelled earn).
pub fn cancelled(
    shop: &Shop,
    transaction: i64,
    returned: Option<&str>,
    taken: Option<&str>,
    balance: &str,
) -> String {
    let transaction = transaction.to_string();
    let mut values = vec![
        ("shop", shop.merchant.sms_name.as_str()),
        ("transaction", transaction.as_str()),
        ("balance", balance),
    ];
    let name = match (returned, taken) {
        (Some(returned), _) => {
            values.push(("returned", returned));
            "incust.cancelled.returned"
        }
        (None, Some(taken)) => {
            values.push(("taken", taken));
            "incust.cancelled.taken"
        }
        (None, None) => "incust.cancelled",
    };
    render(shop, name, &values)
}

/// The `<message>` of a successful earn.
pub fn earn_answer(shop: &Shop, earned: &str, balance: &str) -> String {
    render(
        shop,
        "incust.earn_answer",
        &[("earned", earned), ("balance", balance)],
    )
}

/// The one-time code that confirms a hosted page when the card has no spend password.
pub fn code(shop: &Shop, code: &str) -> String {
    let values = [("shop", shop.merchant.sms_name.as_str()), ("code", code)];
    render(shop, "incust.code", &values)
}
