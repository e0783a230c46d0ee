//! Texts of customer messages: named templates in Russian and English with `{placeholder}`
//! substitution. A program may override any of them in its settings JSON:
//!
//! ```json
//! {"templates": {"incust.earned": {"ru": "{shop}: +{earned}, итого {balance}"}}}
//! ```
//!
//! Protocol modules render a text here and pass it to the outbox; the outbox sends it as is.

use serde_json::Value;
use thiserror::Error;

/// The language of a customer message. Anything but English is Russian, the programs' default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Ru,
    En,
}

impl Language {
    pub fn parse(code: &str) -> Language {
        if code.eq_ignore_ascii_case("en") {
            Language::En
        } else {
            Language::Ru
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::En => "en",
        }
    }
}

/// A named message with its texts and the placeholders it may use.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    pub placeholders: &'static [&'static str],
    pub ru: &'static str,
    pub en: &'static str,
}

/// kopilka's built-in templates.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "incust.earned",
        placeholders: &["shop", "earned", "balance"],
        ru: "{shop}: начислено {earned} бонусов. Баланс: {balance}",
        en: "{shop}: {earned} bonuses earned. Balance: {balance}",
    },
    Template {
        name: "incust.enrolled",
        placeholders: &["shop", "program", "earned", "balance"],
        ru: "{shop}: вы стали участником программы «{program}», начислено {earned} бонусов. Баланс: {balance}",
        en: "{shop}: welcome to {program}; {earned} bonuses earned. Balance: {balance}",
    },
    Template {
        name: "incust.redeemed",
        placeholders: &["shop", "redeemed", "balance"],
        ru: "{shop}: оплачено бонусами {redeemed}. Баланс: {balance}",
        en: "{shop}: {redeemed} paid with bonuses. Balance: {balance}",
    },
    Template {
        name: "incust.cancelled",
        placeholders: &["shop", "transaction", "balance"],
        ru: "{shop}: операция {transaction} отменена. Баланс: {balance}",
        en: "{shop}: transaction {transaction} cancelled. Balance: {balance}",
    },
    Template {
        name: "incust.cancelled.returned",
        placeholders: &["shop", "transaction", "returned", "balance"],
        ru: "{shop}: операция {transaction} отменена, возвращено {returned} бонусов. Баланс: {balance}",
        en: "{shop}: transaction {transaction} cancelled; {returned} bonuses returned. Balance: {balance}",
    },
    Template {
        name: "incust.cancelled.taken",
        placeholders: &["shop", "transaction", "taken", "balance"],
        ru: "{shop}: операция {transaction} отменена, списано {taken} бонусов. Баланс: {balance}",
        en: "{shop}: transaction {transaction} cancelled; {taken} bonuses taken back. Balance: {balance}",
    },
    Template {
        name: "incust.earn_answer",
        placeholders: &["earned", "balance"],
        ru: "Операция успешна. Начислено {earned} бонусов, баланс {balance}",
        en: "Success. {earned} bonuses earned, balance {balance}",
    },
    Template {
        name: "incust.code",
        placeholders: &["shop", "code"],
        ru: "{shop}: код подтверждения {code}. Никому его не сообщайте",
        en: "{shop}: your confirmation code is {code}. Do not share it",
    },
    Template {
        name: "enrolled",
        placeholders: &["program", "shop"],
        ru: "Вы участник программы {program}. Бонусы за покупки в {shop} копятся на вашем счёте.",
        en: "You are a member of {program}. Points for purchases at {shop} go to your account.",
    },
    Template {
        name: "confirmation_code",
        placeholders: &["code", "minutes"],
        ru: "Код подтверждения: {code}. Действует {minutes} мин.",
        en: "Confirmation code: {code}. Valid for {minutes} min.",
    },
    Template {
        name: "confirmation_code.subject",
        placeholders: &["program"],
        ru: "{program}: код подтверждения",
        en: "{program}: confirmation code",
    },
    Template {
        name: "spend_code",
        placeholders: &["shop", "amount", "code"],
        ru: "{shop}: код для оплаты {amount} бонусами: {code}",
        en: "{shop}: code to pay {amount} in points: {code}",
    },
    // Offers' messages (docs/offers.md): `points` is what the offer gave on the event,
    // `coupon` the code of the coupon it issued.
    Template {
        name: "offer.reward",
        placeholders: OFFER_PLACEHOLDERS,
        ru: "{program}: по акции «{offer}» начислено {points} бонусов",
        en: "{program}: {points} bonuses for “{offer}”",
    },
    Template {
        name: "offer.coupon",
        placeholders: OFFER_PLACEHOLDERS,
        ru: "{program}: ваш купон по акции «{offer}»: {coupon}",
        en: "{program}: your coupon for “{offer}”: {coupon}",
    },
    Template {
        name: "offer.thanks",
        placeholders: OFFER_PLACEHOLDERS,
        ru: "{program}: спасибо! Акция «{offer}»",
        en: "{program}: thank you! “{offer}”",
    },
];

const OFFER_PLACEHOLDERS: &[&str] = &["program", "offer", "points", "coupon"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown message template {0:?}")]
    UnknownTemplate(String),
    #[error("template {template:?} ({language}): unknown placeholder {{{placeholder}}}")]
    UnknownPlaceholder {
        template: String,
        language: &'static str,
        placeholder: String,
    },
    #[error("templates must be an object of {{name: {{\"ru\": text, \"en\": text}}}}")]
    Shape,
}

pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The text of `name` in `language`: the program's override when its settings have one, else
/// the built-in text.
pub fn text<'a>(name: &str, language: Language, settings: &'a Value) -> Option<&'a str> {
    let custom = settings
        .get("templates")
        .and_then(|t| t.get(name))
        .and_then(|t| t.get(language.code()))
        .and_then(Value::as_str);
    custom.or_else(|| {
        template(name).map(|t| match language {
            Language::Ru => t.ru,
            Language::En => t.en,
        })
    })
}

/// Renders template `name` for a program (`settings` is its settings JSON). Placeholders
/// without a value stay as written, so a message always goes out.
pub fn render(
    name: &str,
    language: Language,
    settings: &Value,
    values: &[(&str, &str)],
) -> Result<String, TemplateError> {
    let text = text(name, language, settings)
        .ok_or_else(|| TemplateError::UnknownTemplate(name.to_string()))?;
    Ok(substitute(text, values))
}

/// Template `name` in `language` as a program would send it, with example values in place of
/// its placeholders (the dashboard's preview); a placeholder without an example stays as written.
pub fn preview(name: &str, language: Language, settings: &Value) -> Option<String> {
    text(name, language, settings).map(preview_text)
}

/// A text with example values in place of its placeholders: what a customer would read.
pub fn preview_text(text: &str) -> String {
    const EXAMPLES: &[(&str, &str)] = &[
        ("shop", "Demo Shop"),
        ("program", "Kopilka"),
        ("earned", "25"),
        ("redeemed", "40"),
        ("returned", "10"),
        ("taken", "15"),
        ("amount", "120"),
        ("balance", "310"),
        ("code", "4821"),
        ("minutes", "5"),
        ("transaction", "T-1042"),
        ("offer", "Coffee Week"),
        ("points", "50"),
        ("coupon", "CW-7Q2F"),
    ];
    substitute(text, EXAMPLES)
}

/// Replaces each `{name}` (a name of letters, digits, `_` and `.`) with its value. Other
/// braces are text, so JSON and other braced formats can be templates too.
pub fn substitute(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some((before, key, after)) = next_placeholder(rest) {
        out.push_str(before);
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => {
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Splits `text` around its first placeholder: (text before, name, text after).
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find('{').map(|i| i + from) {
        let tail = &text[i + 1..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(tail.len());
        if len > 0 && tail[len..].starts_with('}') {
            return Some((&text[..i], &tail[..len], &tail[len + 1..]));
        }
        from = i + 1;
    }
    None
}

/// Checks a program's `templates` settings: known names, and texts that use only their
/// template's placeholders.
pub fn validate_overrides(settings: &Value) -> Result<(), TemplateError> {
    let Some(templates) = settings.get("templates") else {
        return Ok(());
    };
    let templates = templates.as_object().ok_or(TemplateError::Shape)?;
    for (name, texts) in templates {
        let known = template(name).ok_or_else(|| TemplateError::UnknownTemplate(name.clone()))?;
        let texts = texts.as_object().ok_or(TemplateError::Shape)?;
        for (language, text) in texts {
            let language = match language.as_str() {
                "ru" => Language::Ru,
                "en" => Language::En,
                _ => return Err(TemplateError::Shape),
            };
            check_text(known, language, text.as_str().ok_or(TemplateError::Shape)?)?;
        }
    }
    Ok(())
}

/// Checks a program's text of `template`: it may use only the template's placeholders.
pub fn check_text(
    template: &Template,
    language: Language,
    text: &str,
) -> Result<(), TemplateError> {
    let mut rest = text;
    while let Some((_, key, after)) = next_placeholder(rest) {
        if !template.placeholders.contains(&key) {
            return Err(TemplateError::UnknownPlaceholder {
                template: template.name.to_string(),
                language: language.code(),
                placeholder: key.to_string(),
            });
        }
        rest = after;
    }
    Ok(())
}

/// How long a text is as an SMS: GSM 03.38's 7-bit alphabet (an escaped character counts
/// twice) fits 160 in one message and 153 in each part of a longer one; any other character
/// makes it UCS-2: 70, and 67 a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    /// Characters as the encoding counts them.
    pub units: usize,
    pub segments: usize,
    pub unicode: bool,
}

impl SmsLength {
    pub fn of(text: &str) -> SmsLength {
        const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
            ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        const ESCAPED: &str = "^{}\\[~]|€\u{c}";
        let gsm: Option<usize> = text
            .chars()
            .map(|c| match c {
                c if BASIC.contains(c) => Some(1),
                c if ESCAPED.contains(c) => Some(2),
                _ => None,
            })
            .sum();
        let (units, unicode) = match gsm {
            Some(units) => (units, false),
            None => (text.encode_utf16().count(), true),
        };
        let (single, part) = if unicode { (70, 67) } else { (160, 153) };
        let segments = match units {
            0 => 0,
            n if n <= single => 1,
            n => n.div_ceil(part),
        };
        SmsLength {
            units,
            segments,
            unicode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALUES: &[(&str, &str)] = &[
        ("shop", "Кофейня"),
        ("redeemed", "10.50"),
        ("balance", "991.50"),
    ];

    #[test]
    fn renders_an_incust_message_in_both_languages() {
        let none = json!({});
        assert_eq!(
            render("incust.redeemed", Language::Ru, &none, VALUES).unwrap(),
            "Кофейня: оплачено бонусами 10.50. Баланс: 991.50"
        );
        assert_eq!(
            render("incust.redeemed", Language::En, &none, VALUES).unwrap(),
            "Кофейня: 10.50 paid with bonuses. Balance: 991.50"
        );
    }

    #[test]
    fn a_program_override_wins_for_its_language_only() {
        let settings = json!({"templates": {"incust.redeemed": {"ru": "{shop}: {balance} Б"}}});
        assert_eq!(
            render("incust.redeemed", Language::Ru, &settings, VALUES).unwrap(),
            "Кофейня: 991.50 Б"
        );
        assert!(render("incust.redeemed", Language::En, &settings, VALUES)
            .unwrap()
            .starts_with("Кофейня: 10.50 paid"));
        assert!(validate_overrides(&settings).is_ok());
    }

    #[test]
    fn every_template_uses_only_its_placeholders() {
        for template in TEMPLATES {
            let texts = json!({template.name: {"ru": template.ru, "en": template.en}});
            assert_eq!(
                validate_overrides(&json!({"templates": texts})),
                Ok(()),
                "{}",
                template.name
            );
        }
    }

    #[test]
    fn other_braces_and_unknown_placeholders_stay() {
        assert_eq!(substitute("{{a}} {b} } {", &[("a", "1")]), "{1} {b} } {");
        assert_eq!(substitute("{a", &[("a", "1")]), "{a");
        assert_eq!(substitute("", &[]), "");
        assert_eq!(
            substitute(
                r#"{"to":"{phone}","text":"{text}"}"#,
                &[("phone", "7900"), ("text", "hi")]
            ),
            r#"{"to":"7900","text":"hi"}"#
        );
    }

    #[test]
    fn overrides_are_checked() {
        let bad = json!({"templates": {"incust.earned": {"ru": "{shop} {oops}"}}});
        assert!(matches!(
            validate_overrides(&bad),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
        let unknown = json!({"templates": {"nope": {"ru": "x"}}});
        assert_eq!(
            validate_overrides(&unknown),
            Err(TemplateError::UnknownTemplate("nope".into()))
        );
        let braces = json!({"templates": {"enrolled": {"en": "{program} {"}}});
        assert!(validate_overrides(&braces).is_ok());
        assert_eq!(
            validate_overrides(&json!({"templates": []})),
            Err(TemplateError::Shape)
        );
        assert!(render("nope", Language::Ru, &json!({}), &[]).is_err());
    }

    #[test]
    fn sms_length_counts_gsm_and_unicode_parts() {
        assert_eq!(
            SmsLength::of(&"a".repeat(160)),
            SmsLength {
                units: 160,
                segments: 1,
                unicode: false
            }
        );
        assert_eq!(SmsLength::of(&"a".repeat(161)).segments, 2);
        assert_eq!(SmsLength::of("{€}").units, 6);
        let russian = SmsLength::of(&"я".repeat(71));
        assert_eq!(
            (russian.units, russian.segments, russian.unicode),
            (71, 2, true)
        );
        assert_eq!(SmsLength::of("").segments, 0);
    }
}
