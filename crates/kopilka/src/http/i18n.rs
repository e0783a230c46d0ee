//! The words, numbers and times of the pages a person sees, in the reader's language: Fluent
//! files compiled in (`crates/kopilka/locales/LANG/pages.ftl`, the dashboard's
//! `dashboard.ftl`), the language chosen from the
//! page's switch, `Accept-Language` and the program's setting (docs/pages.md).

use axum::http::{header, request::Parts, HeaderMap};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::types::{FluentNumber, FluentNumberOptions};
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;

/// The cookie that keeps the language a person picked with the switch.
pub const LANG_COOKIE: &str = "kopilka_lang";

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Uk,
    Ru,
    En,
    De,
}

/// The languages of the customer pages (the CashtoCode voucher and Payment Page: [`CASH`]).
pub const CUSTOMER: &[Lang] = &[Lang::Uk, Lang::Ru, Lang::En];
/// The languages CashtoCode's pages are written in (its customers are in Austria and Germany).
pub const CASH: &[Lang] = &[Lang::En, Lang::De];

/// Each language's Fluent files, in one bundle per language (an id is unique across them).
const SOURCES: [(Lang, &[&str]); 4] = [
    (
        Lang::Uk,
        &[
            include_str!("../../locales/uk/pages.ftl"),
            include_str!("../../locales/uk/dashboard.ftl"),
        ],
    ),
    (
        Lang::Ru,
        &[
            include_str!("../../locales/ru/pages.ftl"),
            include_str!("../../locales/ru/dashboard.ftl"),
        ],
    ),
    (
        Lang::En,
        &[
            include_str!("../../locales/en/pages.ftl"),
            include_str!("../../locales/en/dashboard.ftl"),
        ],
    ),
    (Lang::De, &[include_str!("../../locales/de/pages.ftl")]),
];

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Uk => "uk",
            Lang::Ru => "ru",
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// A language tag's language (`uk-UA`, `ru`, `EN`); `None` for one the pages lack.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "uk" | "ua" => Some(Lang::Uk),
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    /// The language's own name, as the switch shows it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Uk => "Українська",
            Lang::Ru => "Русский",
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    fn index(self) -> usize {
        match self {
            Lang::Uk => 0,
            Lang::Ru => 1,
            Lang::En => 2,
            Lang::De => 3,
        }
    }
}

static BUNDLES: LazyLock<Vec<FluentBundle<FluentResource>>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(lang, sources)| {
            let id = lang.code().parse().expect("a language tag");
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // No bidi isolation marks: every language here writes left to right.
            bundle.set_use_isolating(false);
            for source in *sources {
                let resource = FluentResource::try_new(source.to_string())
                    .unwrap_or_else(|(_, errors)| panic!("locales/{}: {errors:?}", lang.code()));
                bundle
                    .add_resource(resource)
                    .unwrap_or_else(|errors| panic!("locales/{}: {errors:?}", lang.code()));
            }
            bundle
        })
        .collect()
});

/// Message `id` in `lang` with `args`; English where `lang` lacks it, the id where all do (a
/// test keeps every id in every language).
pub fn text(lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
    for lang in [lang, Lang::En] {
        let bundle = &BUNDLES[lang.index()];
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            return bundle
                .format_pattern(pattern, args, &mut errors)
                .into_owned();
        }
    }
    id.to_string()
}

/// Named values for [`text`].
pub fn args<'a>(values: &[(&'a str, FluentValue<'a>)]) -> FluentArgs<'a> {
    let mut args = FluentArgs::new();
    for (name, value) in values {
        args.set(*name, value.clone());
    }
    args
}

/// `minor` units with `decimals` places as a number Fluent's plural rules read (1,50 is
/// "other", not "one").
pub fn count(minor: i64, decimals: u8) -> FluentValue<'static> {
    let value = minor as f64 / 10f64.powi(i32::from(decimals));
    FluentValue::Number(FluentNumber::new(
        value,
        FluentNumberOptions {
            minimum_fraction_digits: Some(usize::from(decimals)),
            maximum_fraction_digits: Some(usize::from(decimals)),
            ..FluentNumberOptions::default()
        },
    ))
}

/// `minor` units with `decimals` places as `lang` writes a number: `1 000,00` (a no-break space
/// between thousands, CLDR's for uk and ru), `1.000,00` in German, `1,000.00` in English.
pub fn number(minor: i64, decimals: u8, lang: Lang) -> String {
    let (group, point) = match lang {
        Lang::Uk | Lang::Ru => ('\u{a0}', ','),
        Lang::De => ('.', ','),
        Lang::En => (',', '.'),
    };
    let plain = kopilka_domain::money::format_decimal(kopilka_domain::Amount(minor), decimals);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let mut out = String::from(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(digit);
    }
    if !fraction.is_empty() {
        out.push(point);
        out.push_str(fraction);
    }
    out
}

/// A number as `lang` writes it (`1 000,50`, `1.000,50`, `1,000.50`; a point is read as the
/// decimal point in every language) in minor units with `decimals` places, exactly: more places
/// than that is an error, never a rounding.
pub fn parse_number(
    text: &str,
    decimals: u8,
    lang: Lang,
) -> Result<i64, kopilka_domain::money::MoneyError> {
    kopilka_domain::money::parse_decimal(&plain_number(text, lang), decimals).map(|a| a.0)
}

/// A number as `lang` writes it, without its group separators and with a point for the
/// decimal one: `1 000,50` is `1000.50`.
pub fn plain_number(text: &str, lang: Lang) -> String {
    let text = text.trim().replace([' ', '\u{a0}', '\u{202f}'], "");
    // An English comma groups thousands only where every group after it has three digits:
    // `10,5` typed in English is ten and a half, never a hundred and five.
    let grouped = |text: &str| {
        let whole = text.split('.').next().unwrap_or_default();
        whole.split(',').skip(1).all(|group| group.len() == 3)
    };
    match lang {
        Lang::En if grouped(&text) => text.replace(',', ""),
        Lang::De if text.contains(',') => text.replace('.', "").replace(',', "."),
        _ => text.replace(',', "."),
    }
}

/// `minor` points with their word: "1 бал", "2 бали", "5 балів", "1,50 бала".
pub fn points(minor: i64, decimals: u8, lang: Lang) -> String {
    counted("points", minor, decimals, lang)
}

/// `minor` bonuses (inCust's word for its points) with their word: "1 бонус", "2 бонуси",
/// "5 бонусів".
pub fn bonuses(minor: i64, decimals: u8, lang: Lang) -> String {
    counted("bonuses", minor, decimals, lang)
}

/// Message `id` (a plural whose variable is named as the message) for `minor` units.
fn counted(id: &str, minor: i64, decimals: u8, lang: Lang) -> String {
    let values = [
        ("count", count(minor, decimals)),
        (id, FluentValue::from(number(minor, decimals, lang))),
    ];
    text(lang, id, Some(&args(&values)))
}

/// The language of a program's messages (SMS, e-mail): its `rules.language` among the customer
/// languages, Russian (the protocols' own) for any other.
pub fn of_program(language: &str) -> Lang {
    Lang::parse(language)
        .filter(|lang| CUSTOMER.contains(lang))
        .unwrap_or(Lang::Ru)
}

/// A moment (unix ms) in the time zone `zone` (the program's; UTC when unknown) as `lang`
/// writes it, with the zone's abbreviation.
pub fn datetime(ms: i64, zone: &str, lang: Lang) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let Some(utc) = chrono::DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    let local = utc.with_timezone(&zone);
    let pattern = match lang {
        Lang::En => "%-d %b %Y, %H:%M %Z",
        _ => "%d.%m.%Y %H:%M %Z",
    };
    local.format(pattern).to_string()
}

/// What a request asks about its language: the switch's `lang` parameter, the cookie the switch
/// left, and `Accept-Language`.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// `?lang=` of this request: the response keeps it in [`LANG_COOKIE`].
    pub switched: Option<Lang>,
    cookie: Option<Lang>,
    accepted: Vec<Lang>,
}

impl Asked {
    pub fn of(headers: &HeaderMap, query: Option<&str>) -> Asked {
        let switched = query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Lang::parse(&v))
        });
        let cookie =
            super::html::cookie(headers, LANG_COOKIE).and_then(|value| Lang::parse(&value));
        Asked {
            switched,
            cookie,
            accepted: accepted(headers),
        }
    }

    /// The language of the answer among `offered`: the switch (this request's or the cookie's),
    /// else the first of `Accept-Language` offered, else the program's, else the first offered.
    pub fn pick(&self, program: Option<&str>, offered: &[Lang]) -> Lang {
        let offers = |lang: &Lang| offered.contains(lang);
        [self.switched, self.cookie]
            .into_iter()
            .flatten()
            .find(offers)
            .or_else(|| self.accepted.iter().copied().find(offers))
            .or_else(|| program.and_then(Lang::parse).filter(offers))
            .unwrap_or(offered[0])
    }
}

impl Asked {
    /// These wishes with the switch's choice carried some other way than `?lang=` (a form's
    /// field, on a page that has no address to come back to).
    pub fn switched_to(mut self, lang: Option<Lang>) -> Asked {
        if lang.is_some() {
            self.switched = lang;
        }
        self
    }

    /// The language among `offered` when a caller named one (`given`: the shop's
    /// `language_code`): the switch, else `given`, else `Accept-Language`, else the first.
    pub fn pick_given(&self, given: Option<&str>, offered: &[Lang]) -> Lang {
        let offers = |lang: &Lang| offered.contains(lang);
        [self.switched, self.cookie, given.and_then(Lang::parse)]
            .into_iter()
            .flatten()
            .find(offers)
            .or_else(|| self.accepted.iter().copied().find(offers))
            .unwrap_or(offered[0])
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Asked {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Asked::of(&parts.headers, parts.uri.query()))
    }
}

/// `Accept-Language`'s languages the pages know, by preference (`q`), ties in the order given.
fn accepted(headers: &HeaderMap) -> Vec<Lang> {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Vec::new();
    };
    let mut ranked: Vec<(u32, usize, Lang)> = value
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let lang = Lang::parse(parts.next()?)?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some(((q * 1000.0) as u32, i, lang))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, _, lang)| lang).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ids(sources: &[&str]) -> Vec<String> {
        sources
            .iter()
            .flat_map(|source| source.lines())
            .filter(|l| !l.starts_with([' ', '#', '\t']) && l.contains(" ="))
            .map(|l| l.split(" =").next().unwrap_or("").trim().to_string())
            .collect()
    }

    #[test]
    fn every_language_has_every_message() {
        let english = ids(SOURCES[Lang::En.index()].1);
        for (lang, source) in SOURCES {
            let have = ids(source);
            for id in &english {
                // CashtoCode's pages are in English and German only, and German has no other
                // (the dashboard's `dash-` texts included).
                let cash = id.starts_with("cash-") || id.starts_with("common-");
                let needed = match lang {
                    Lang::De => cash,
                    _ => !id.starts_with("cash-"),
                };
                assert!(!needed || have.contains(id), "{} lacks {id}", lang.code());
            }
            assert!(!BUNDLES[lang.index()].has_message("missing"));
        }
    }

    #[test]
    fn points_take_the_plural_of_their_number() {
        let say = |minor, lang| points(minor, 0, lang);
        assert_eq!(say(1, Lang::Uk), "1 бал");
        assert_eq!(say(2, Lang::Uk), "2 бали");
        assert_eq!(say(5, Lang::Uk), "5 балів");
        assert_eq!(say(21, Lang::Uk), "21 бал");
        assert_eq!(say(1, Lang::Ru), "1 балл");
        assert_eq!(say(2, Lang::Ru), "2 балла");
        assert_eq!(say(5, Lang::Ru), "5 баллов");
        assert_eq!(say(1, Lang::En), "1 point");
        assert_eq!(say(5, Lang::En), "5 points");
        assert_eq!(points(150, 2, Lang::Uk), "1,50 бала");
        assert_eq!(points(100_000, 2, Lang::Ru), "1\u{a0}000,00 балла");
    }

    #[test]
    fn numbers_are_written_as_the_locale_writes_them() {
        assert_eq!(number(100_000, 2, Lang::Uk), "1\u{a0}000,00");
        assert_eq!(number(-123_456_789, 2, Lang::En), "-1,234,567.89");
        assert_eq!(number(100_000, 2, Lang::De), "1.000,00");
        assert_eq!(number(999, 0, Lang::Ru), "999");
    }

    #[test]
    fn times_are_in_the_programs_zone() {
        // 2026-01-01 00:30 UTC is 02:30 in Kyiv.
        let ms = 1_767_227_400_000;
        assert_eq!(
            datetime(ms, "Europe/Kyiv", Lang::Uk),
            "01.01.2026 02:30 EET"
        );
        assert_eq!(datetime(ms, "nowhere", Lang::En), "1 Jan 2026, 00:30 UTC");
    }

    #[test]
    fn the_switch_wins_then_the_browser_then_the_program() {
        let mut headers = HeaderMap::new();
        let asked = Asked::of(&headers, None);
        assert_eq!(asked.pick(Some("ru"), CUSTOMER), Lang::Ru);
        assert_eq!(asked.pick(Some("fr"), CUSTOMER), Lang::Uk);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr, en;q=0.5, ru-RU;q=0.8"),
        );
        assert_eq!(
            Asked::of(&headers, None).pick(Some("uk"), CUSTOMER),
            Lang::Ru
        );
        assert_eq!(Asked::of(&headers, None).pick(None, CASH), Lang::En);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; kopilka_lang=uk"),
        );
        assert_eq!(Asked::of(&headers, None).pick(None, CUSTOMER), Lang::Uk);
        let switched = Asked::of(&headers, Some("x=1&lang=en"));
        assert_eq!(switched.switched, Some(Lang::En));
        assert_eq!(switched.pick(None, CUSTOMER), Lang::En);
        assert_eq!(
            Asked::of(&headers, None).pick_given(Some("de"), CASH),
            Lang::De
        );
        // A language the page lacks falls through to the next choice.
        assert_eq!(
            Asked::of(&headers, Some("lang=de")).pick(None, CUSTOMER),
            Lang::Uk
        );
    }

    #[test]
    fn numbers_are_read_as_each_language_writes_them() {
        assert_eq!(parse_number("1\u{a0}000,50", 2, Lang::Uk), Ok(100_050));
        assert_eq!(parse_number(" 1 000.5 ", 2, Lang::Ru), Ok(100_050));
        assert_eq!(parse_number("1,000.50", 2, Lang::En), Ok(100_050));
        assert_eq!(parse_number("10,5", 2, Lang::En), Ok(1_050));
        assert_eq!(parse_number("1.000,5", 2, Lang::De), Ok(100_050));
        assert!(parse_number("1,005", 2, Lang::Uk).is_err());
        assert!(parse_number("1 0x", 2, Lang::Uk).is_err());
    }
}
