//! Mailing subscriptions, kept in a customer's profile (`subscriptions`: type id → channel →
//! on): Loymax's types and channels (public API 1.2), which the app and the cabinet both edit.

use serde_json::{json, Map, Value};

/// The mailing types (`typeId`, `externalId`, name) in 1.2's order; `System` messages cannot be
/// turned off.
pub const TYPES: [(i64, &str, &str); 7] = [
    (1, "DiscountOperation", "Начисление бонусов"),
    (2, "PaymentOperation", "Оплата бонусами"),
    (3, "DepositOperation", "Пополнение счёта"),
    (4, "CommunicationOffer", "Персональные предложения"),
    (5, "System", "Системные сообщения"),
    (6, "Advertisement", "Рекламные рассылки"),
    (7, "RefundOperation", "Возвраты"),
];

pub const CHANNELS: [&str; 6] = [
    "smsNotification",
    "emailNotification",
    "pushNotification",
    "viberNotification",
    "socialNetworksNotification",
    "chatBotNotification",
];

/// The mailing type of offers' messages: personal offers.
pub const OFFERS: i64 = 4;

/// Whether a mailing type is `System`, which no customer can turn off.
pub fn read_only(external_id: &str) -> bool {
    external_id == "System"
}

/// Whether a profile chose a channel of a type.
pub fn selected(profile: &Value, type_id: i64, external_id: &str, channel: &str) -> bool {
    read_only(external_id)
        || profile
            .get("subscriptions")
            .and_then(|s| s.get(type_id.to_string()))
            .and_then(|t| t.get(channel))
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

/// Turns each (type, channel) of `changes` on or off in a profile.
pub fn set(profile: &mut Map<String, Value>, changes: Vec<(i64, &'static str, bool)>) {
    let subscriptions = object(profile, "subscriptions");
    for (type_id, channel, on) in changes {
        let by_type = object(subscriptions, &type_id.to_string());
        by_type.insert(channel.to_string(), json!(on));
    }
}

/// `map[key]` as an object, made one if it is not.
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made an object above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_the_other_channels_and_system_messages_always_come() {
        let mut profile = Map::new();
        set(&mut profile, vec![(4, "smsNotification", true)]);
        set(&mut profile, vec![(4, "emailNotification", true)]);
        let profile = Value::Object(profile);
        assert!(selected(
            &profile,
            4,
            "CommunicationOffer",
            "smsNotification"
        ));
        assert!(selected(
            &profile,
            4,
            "CommunicationOffer",
            "emailNotification"
        ));
        assert!(!selected(
            &profile,
            1,
            "DiscountOperation",
            "smsNotification"
        ));
        assert!(selected(&profile, 5, "System", "viberNotification"));
    }
}
