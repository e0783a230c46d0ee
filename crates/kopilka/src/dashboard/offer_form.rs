//! The typed form of an offer version (docs/dashboard.md, "Offers"): a new offer
//! (`/admin/programs/{id}/offers/new`) or a new version of one prefilled from the version in
//! force (`…/offers/{offer}/new`), with a row of real fields for each condition, action and
//! limit of the offers engine (docs/offers.md). No script: a condition, action or limit is
//! added or removed by a submit button that renders the form again with everything typed kept.
//! Amounts are typed as the operator's language writes numbers and read exactly in minor units
//! (`i18n::parse_number`); the version goes to `POST /v1/programs/{id}/offers`, whose refusals
//! are shown beside the part they name.

use super::{Posted, SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::cheque::{LineFilter, Quantity};
use kopilka_domain::offers::{
    Action, Base, Cap, Channel, Condition, Discount, Limit, LimitScope, Offer, Period, Points,
    TriggerKind, Weekday,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// How an input is typed.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A number with decimals, as the operator's language writes it.
    Decimal,
    /// A whole number, maybe negative.
    Whole,
    Time,
    /// A moment in the program's time zone.
    Moment,
    Flag,
    /// One of these, named in the texts (`dash-of-{key}-{option}`).
    Choose(&'static [&'static str]),
    /// Any of these, each a checkbox.
    Checks(&'static [&'static str]),
    /// A message template's name.
    Template,
}

type Spec = (&'static str, Kind);

const NETWORKS: &[&str] = &["vk", "odnoklassniki", "facebook", "instagram", "moi_mir"];
const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LINES_BY: &[&str] = &["all", "goods_id", "barcode", "group"];
const BASES: &[&str] = &["amount", "paid_with_money"];
const ROUNDINGS: &[&str] = &["half_up", "half_even", "down", "up"];
const PERIODS: &[&str] = &["none", "day", "month", "year"];
const CHANNELS: &[&str] = &["sms", "email", "push", "viber"];
const SWITCH: &[&str] = &["on", "off"];
const SCOPES: &[&str] = &["customer", "offer", "global"];
const CAPS: &[&str] = &["points", "count"];
/// The triggers an offer answers: the kinds of `TriggerKind`, a social one by its kind.
const TRIGGERS: &[&str] = &[
    "cheque",
    "registration",
    "card_activated",
    "profile_linked",
    "group_joined",
    "group_left",
    "like",
    "like_removed",
    "comment",
    "comment_removed",
    "repost",
    "repost_removed",
];

const LINES: [Spec; 2] = [("by", Kind::Choose(LINES_BY)), ("match", Kind::Text)];
const SHARE: [Spec; 3] = [
    ("percent", Kind::Decimal),
    ("of", Kind::Choose(BASES)),
    ("rounding", Kind::Choose(ROUNDINGS)),
];

/// Every condition of the engine with its fields.
const CONDITIONS: &[(&str, &[Spec])] = &[
    ("network", &[("networks", Kind::Checks(NETWORKS))]),
    ("group", &[("groups", Kind::Text)]),
    ("in_segment", &[("segment", Kind::Text)]),
    ("not_in_segment", &[("segment", Kind::Text)]),
    (
        "attribute",
        &[("attribute", Kind::Text), ("equals", Kind::Text)],
    ),
    ("lines", &[LINES[0], LINES[1], ("quantity", Kind::Decimal)]),
    ("coupon", &[("code", Kind::Text)]),
    (
        "time_window",
        &[
            ("weekdays", Kind::Checks(WEEKDAYS)),
            ("from", Kind::Time),
            ("to", Kind::Time),
        ],
    ),
    (
        "counter",
        &[
            ("counter", Kind::Text),
            ("at_least", Kind::Whole),
            ("below", Kind::Whole),
        ],
    ),
];

/// Every action of the engine with its fields; an accrual and a discount by each way of
/// counting them.
const ACTIONS: &[(&str, &[Spec])] = &[
    ("accrue_fixed", &[("points", Kind::Decimal)]),
    ("accrue_percent_of_cheque", &SHARE),
    (
        "accrue_percent_of_lines",
        &[LINES[0], LINES[1], SHARE[0], SHARE[1], SHARE[2]],
    ),
    (
        "accrue_tiered",
        &[
            ("first", Kind::Text),
            ("then", Kind::Decimal),
            ("period", Kind::Choose(PERIODS)),
        ],
    ),
    ("withdraw", &[("points", Kind::Decimal)]),
    (
        "take_back",
        &[("offer", Kind::Whole), ("action", Kind::Whole)],
    ),
    (
        "discount_percent",
        &[LINES[0], LINES[1], SHARE[0], SHARE[2]],
    ),
    (
        "discount_fixed",
        &[LINES[0], LINES[1], ("amount", Kind::Decimal)],
    ),
    (
        "discount_fixed_per_line",
        &[LINES[0], LINES[1], ("amount", Kind::Decimal)],
    ),
    ("points_payment_cap", &[LINES[0], LINES[1], SHARE[0]]),
    (
        "message",
        &[
            ("channel", Kind::Choose(CHANNELS)),
            ("template", Kind::Template),
        ],
    ),
    (
        "counter",
        &[("counter", Kind::Text), ("change", Kind::Whole)],
    ),
    (
        "subscription",
        &[
            ("channel", Kind::Choose(CHANNELS)),
            ("switch", Kind::Choose(SWITCH)),
        ],
    ),
    ("issue_coupon", &[("series", Kind::Text)]),
];

/// A limit's fields (one kind).
const LIMIT: &[Spec] = &[
    ("scope", Kind::Choose(SCOPES)),
    ("pool", Kind::Text),
    ("per_customer", Kind::Flag),
    ("period", Kind::Choose(PERIODS)),
    ("cap_kind", Kind::Choose(CAPS)),
    ("cap", Kind::Decimal),
];

/// The version's own fields.
const HEAD: &[Spec] = &[
    ("name", Kind::Text),
    ("from", Kind::Moment),
    ("to", Kind::Moment),
    ("priority", Kind::Whole),
    ("weight", Kind::Whole),
    ("cumulative", Kind::Flag),
    ("trigger", Kind::Checks(TRIGGERS)),
];

/// The sections of rows: the form's prefix of a row, its kinds.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    Conditions,
    Actions,
    Limits,
}

impl Section {
    const ALL: [Section; 3] = [Section::Conditions, Section::Actions, Section::Limits];

    fn prefix(self) -> char {
        match self {
            Section::Conditions => 'c',
            Section::Actions => 'a',
            Section::Limits => 'l',
        }
    }

    fn kinds(self) -> &'static [(&'static str, &'static [Spec])] {
        match self {
            Section::Conditions => CONDITIONS,
            Section::Actions => ACTIONS,
            Section::Limits => &[("limit", LIMIT)],
        }
    }

    /// The API's field for the section (`Offer::validate` names it).
    fn field(self) -> &'static str {
        match self {
            Section::Conditions => "conditions",
            Section::Actions => "actions",
            Section::Limits => "limits",
        }
    }
}

/// A condition, action or limit as typed: its kind and its fields by key.
#[derive(Debug, Clone, Default)]
struct Row {
    kind: String,
    values: BTreeMap<String, String>,
}

/// An offer version as typed: the version's fields, and the rows of each section.
#[derive(Debug, Clone, Default)]
struct Draft {
    head: BTreeMap<String, String>,
    rows: [Vec<Row>; 3],
}

impl Draft {
    /// The form as posted: `c2.kind`, `c2.networks.vk` are the third condition's; rows keep
    /// their order, renumbered from 0.
    fn of_form(form: &BTreeMap<String, String>) -> Draft {
        let mut draft = Draft::default();
        let mut rows: [BTreeMap<usize, Row>; 3] = Default::default();
        for (name, value) in form {
            let row = Section::ALL.iter().enumerate().find_map(|(i, s)| {
                let (index, key) = name.strip_prefix(s.prefix())?.split_once('.')?;
                Some((i, index.parse::<usize>().ok()?, key))
            });
            match row {
                Some((section, index, "kind")) => {
                    rows[section].entry(index).or_default().kind = value.clone()
                }
                Some((section, index, key)) => {
                    rows[section]
                        .entry(index)
                        .or_default()
                        .values
                        .insert(key.to_string(), value.clone());
                }
                None => {
                    draft.head.insert(name.clone(), value.clone());
                }
            }
        }
        for (section, rows) in rows.into_iter().enumerate() {
            let kinds = Section::ALL[section].kinds();
            draft.rows[section] = rows
                .into_values()
                .filter(|r| kinds.iter().any(|(k, _)| *k == r.kind))
                .collect();
        }
        draft
    }
}

/// What reading and writing the form's numbers and times needs: the program's scales and
/// time zone, and the operator's language.
struct Scales {
    lang: Lang,
    points: u8,
    money: u8,
    zone: chrono_tz::Tz,
}

impl Scales {
    fn of(program: &Value, lang: Lang) -> Scales {
        let places = |v: &Value, default| v.as_u64().map_or(default, |d| d.min(18) as u8);
        Scales {
            lang,
            points: places(&program["rules"]["decimals"], 2),
            money: places(&program["rules"]["money_decimals"], 2),
            zone: program["rules"]["time_zone"]
                .as_str()
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC),
        }
    }

    fn number(&self, minor: i64, places: u8) -> String {
        i18n::number(minor, places, self.lang)
    }

    /// A moment as `datetime-local` writes it, in the program's zone.
    fn when(&self, ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&self.zone)
                    .format("%Y-%m-%dT%H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

/// The snake-case name serde gives a unit variant (`Rounding::HalfUp`: `half_up`).
fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A version as the form shows it.
fn draft_of(offer: &Offer, scales: &Scales) -> Draft {
    let mut head = BTreeMap::new();
    let mut put = |key: &str, value: String| head.insert(key.to_string(), value);
    put("id", offer.id.0.to_string());
    put("version", offer.version.to_string());
    put("name", offer.name.clone());
    put("from", scales.when(offer.effective_from));
    put(
        "to",
        offer
            .effective_to
            .map(|t| scales.when(t))
            .unwrap_or_default(),
    );
    put("priority", offer.priority.to_string());
    put("weight", offer.weight.to_string());
    if offer.cumulative {
        put("cumulative", "on".into());
    }
    for trigger in &offer.triggers {
        let name = match trigger {
            TriggerKind::Social(kind) => name_of(kind),
            other => name_of(other),
        };
        put(&format!("trigger.{name}"), "on".into());
    }
    let conditions = offer.conditions.iter().map(|c| condition_row(c, scales));
    let actions = offer.actions.iter().map(|a| action_row(a, scales));
    let limits = offer.limits.iter().map(|l| limit_row(l, scales));
    Draft {
        head,
        rows: [conditions.collect(), actions.collect(), limits.collect()],
    }
}

fn row(kind: &str, values: &[(&str, String)]) -> Row {
    Row {
        kind: kind.to_string(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// The `by` and `match` fields of a line filter.
fn lines_values(lines: &LineFilter) -> [(&'static str, String); 2] {
    let (by, value) = match lines {
        LineFilter::All => ("all", ""),
        LineFilter::GoodsId(v) => ("goods_id", v.as_str()),
        LineFilter::Barcode(v) => ("barcode", v.as_str()),
        LineFilter::Group(v) => ("group", v.as_str()),
    };
    [("by", by.to_string()), ("match", value.to_string())]
}

/// Checkboxes' fields: `networks.vk` on.
fn checked<T: Serialize>(key: &str, values: &[T]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (format!("{key}.{}", name_of(v)), "on".to_string()))
        .collect()
}

fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", (minute / 60) % 24, minute % 60)
}

fn condition_row(condition: &Condition, scales: &Scales) -> Row {
    let optional = |v: &Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    match condition {
        Condition::Network { any_of } => {
            let mut r = row("network", &[]);
            r.values.extend(checked("networks", any_of));
            r
        }
        Condition::Group { any_of } => row("group", &[("groups", any_of.join(", "))]),
        Condition::InSegment { segment } => row("in_segment", &[("segment", segment.clone())]),
        Condition::NotInSegment { segment } => {
            row("not_in_segment", &[("segment", segment.clone())])
        }
        Condition::Attribute { name, equals } => row(
            "attribute",
            &[("attribute", name.clone()), ("equals", equals.clone())],
        ),
        Condition::Lines {
            lines,
            min_quantity,
        } => {
            let [by, value] = lines_values(lines);
            let quantity = (
                "quantity",
                scales.number(min_quantity.0, Quantity::DECIMALS),
            );
            row("lines", &[by, value, quantity])
        }
        Condition::Coupon { code } => row("coupon", &[("code", code.clone())]),
        Condition::TimeWindow {
            weekdays,
            from_minute,
            to_minute,
        } => {
            let mut r = row(
                "time_window",
                &[("from", clock(*from_minute)), ("to", clock(*to_minute))],
            );
            r.values.extend(checked("weekdays", weekdays));
            r
        }
        Condition::Counter {
            name,
            at_least,
            below,
        } => row(
            "counter",
            &[
                ("counter", name.clone()),
                ("at_least", optional(at_least)),
                ("below", optional(below)),
            ],
        ),
    }
}

fn action_row(action: &Action, scales: &Scales) -> Row {
    let points = |p: i64| scales.number(p, scales.points);
    let money = |p: i64| scales.number(p, scales.money);
    let percent = |bps: u32| ("percent", scales.number(i64::from(bps), 2));
    match action {
        Action::Accrue { points: how } => match how {
            Points::Fixed { points: p } => row("accrue_fixed", &[("points", points(*p))]),
            Points::PercentOfCheque { bps, of, rounding } => row(
                "accrue_percent_of_cheque",
                &[
                    percent(*bps),
                    ("of", name_of(of)),
                    ("rounding", name_of(rounding)),
                ],
            ),
            Points::PercentOfLines {
                lines,
                bps,
                of,
                rounding,
            } => {
                let [by, value] = lines_values(lines);
                row(
                    "accrue_percent_of_lines",
                    &[
                        by,
                        value,
                        percent(*bps),
                        ("of", name_of(of)),
                        ("rounding", name_of(rounding)),
                    ],
                )
            }
            Points::Tiered {
                first,
                then,
                period,
            } => row(
                "accrue_tiered",
                &[
                    (
                        "first",
                        first
                            .iter()
                            .map(|p| points(*p))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    ("then", points(*then)),
                    ("period", name_of(period)),
                ],
            ),
        },
        Action::Withdraw { points: p } => row("withdraw", &[("points", points(*p))]),
        Action::TakeBack { offer, action } => row(
            "take_back",
            &[
                ("offer", offer.0.to_string()),
                ("action", (u32::from(*action) + 1).to_string()),
            ],
        ),
        Action::LineDiscount { lines, discount } => {
            let [by, value] = lines_values(lines);
            match discount {
                Discount::Percent { bps, rounding } => row(
                    "discount_percent",
                    &[by, value, percent(*bps), ("rounding", name_of(rounding))],
                ),
                Discount::Fixed { amount } => {
                    row("discount_fixed", &[by, value, ("amount", money(*amount))])
                }
                Discount::FixedPerLine { amount } => row(
                    "discount_fixed_per_line",
                    &[by, value, ("amount", money(*amount))],
                ),
            }
        }
        Action::PointsPaymentCap { lines, bps } => {
            let [by, value] = lines_values(lines);
            row("points_payment_cap", &[by, value, percent(*bps)])
        }
        Action::Message { channel, template } => row(
            "message",
            &[
                ("channel", name_of(channel)),
                ("template", template.clone()),
            ],
        ),
        Action::Counter { name, by } => row(
            "counter",
            &[("counter", name.clone()), ("change", by.to_string())],
        ),
        Action::Subscription { channel, on } => row(
            "subscription",
            &[
                ("channel", name_of(channel)),
                ("switch", if *on { "on" } else { "off" }.to_string()),
            ],
        ),
        Action::IssueCoupon { series } => row("issue_coupon", &[("series", series.clone())]),
    }
}

fn limit_row(limit: &Limit, scales: &Scales) -> Row {
    let (scope, pool, per_customer) = match &limit.scope {
        LimitScope::Customer => ("customer", "", false),
        LimitScope::Offer => ("offer", "", false),
        LimitScope::Global { pool, per_customer } => ("global", pool.as_str(), *per_customer),
    };
    let (cap_kind, cap) = match limit.cap {
        Cap::Points(p) => ("points", scales.number(p, scales.points)),
        Cap::Count(n) => ("count", n.to_string()),
    };
    let mut r = row(
        "limit",
        &[
            ("scope", scope.to_string()),
            ("pool", pool.to_string()),
            ("period", name_of(&limit.period)),
            ("cap_kind", cap_kind.to_string()),
            ("cap", cap),
        ],
    );
    if per_customer {
        r.values.insert("per_customer".into(), "on".into());
    }
    r
}

/// Reads one part of the form (the version's fields, or a row), noting each field it cannot
/// read by its form name.
struct Reader<'a> {
    values: &'a BTreeMap<String, String>,
    prefix: String,
    scales: &'a Scales,
    errors: &'a mut BTreeMap<String, String>,
}

impl Reader<'_> {
    fn fail(&mut self, key: &str, text: &str) {
        let name = format!("{}{key}", self.prefix);
        let text = i18n::text(self.scales.lang, text, None);
        self.errors.entry(name).or_insert(text);
    }

    fn optional(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A text that must be given.
    fn text(&mut self, key: &str) -> String {
        self.optional(key).unwrap_or_else(|| {
            self.fail(key, "dash-of-error-required");
            String::new()
        })
    }

    fn flag(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// A number with `places` decimals, in minor units.
    fn decimal(&mut self, key: &str, places: u8) -> i64 {
        let Some(text) = self.optional(key) else {
            self.fail(key, "dash-of-error-required");
            return 0;
        };
        i18n::parse_number(&text, places, self.scales.lang).unwrap_or_else(|_| {
            self.fail(key, "dash-of-error-number");
            0
        })
    }

    /// A percentage in basis points.
    fn bps(&mut self, key: &str) -> u32 {
        let bps = self.decimal(key, 2);
        u32::try_from(bps).unwrap_or_else(|_| {
            self.fail(key, "dash-of-error-number");
            0
        })
    }

    fn whole_optional(&mut self, key: &str) -> Option<i64> {
        let text = self.optional(key)?.replace([' ', '\u{a0}'], "");
        text.parse().map(Some).unwrap_or_else(|_| {
            self.fail(key, "dash-of-error-whole");
            None
        })
    }

    fn whole(&mut self, key: &str) -> i64 {
        match self.whole_optional(key) {
            Some(n) => n,
            None => {
                self.fail(key, "dash-of-error-required");
                0
            }
        }
    }

    /// One of a closed set, by the name serde gives it.
    fn choice<T: DeserializeOwned>(&mut self, key: &str, fallback: T) -> T {
        let value = self.optional(key).unwrap_or_default();
        serde_json::from_value(Value::String(value)).unwrap_or_else(|_| {
            self.fail(key, "dash-of-error-choose");
            fallback
        })
    }

    /// The checked ones of `options` (`key.option` fields), each as serde reads its name.
    fn checks<T: DeserializeOwned>(&mut self, key: &str, options: &[&str]) -> Vec<T> {
        let chosen: Vec<T> = options
            .iter()
            .filter(|o| self.flag(&format!("{key}.{o}")))
            .filter_map(|o| serde_json::from_value(Value::String(o.to_string())).ok())
            .collect();
        if chosen.is_empty() {
            self.fail(key, "dash-of-error-choose");
        }
        chosen
    }

    /// A local clock time (`HH:MM`) as a minute of the day.
    fn minute(&mut self, key: &str) -> u16 {
        let read = self.optional(key).and_then(|t| {
            let (h, m) = t.split_once(':')?;
            let (h, m) = (h.parse::<u16>().ok()?, m.get(..2)?.parse::<u16>().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        });
        read.unwrap_or_else(|| {
            self.fail(key, "dash-of-error-time");
            0
        })
    }

    /// A moment typed in the program's zone (`datetime-local`), unix ms.
    fn moment(&mut self, key: &str) -> Option<i64> {
        use chrono::TimeZone;
        let text = self.optional(key)?;
        let read = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S"))
            .ok()
            .and_then(|t| self.scales.zone.from_local_datetime(&t).earliest());
        match read {
            Some(t) => Some(t.timestamp_millis()),
            None => {
                self.fail(key, "dash-of-error-when");
                None
            }
        }
    }

    fn lines(&mut self) -> LineFilter {
        let by = self.optional("by").unwrap_or_else(|| "all".into());
        if by == "all" {
            return LineFilter::All;
        }
        let value = self.text("match");
        match by.as_str() {
            "goods_id" => LineFilter::GoodsId(value),
            "barcode" => LineFilter::Barcode(value),
            "group" => LineFilter::Group(value),
            _ => {
                self.fail("by", "dash-of-error-choose");
                LineFilter::All
            }
        }
    }

    fn points(&mut self, key: &str) -> i64 {
        self.decimal(key, self.scales.points)
    }
}

fn read_condition(row: &Row, r: &mut Reader) -> Condition {
    match row.kind.as_str() {
        "network" => Condition::Network {
            any_of: r.checks("networks", NETWORKS),
        },
        "group" => Condition::Group {
            any_of: r
                .text("groups")
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
        },
        "in_segment" => Condition::InSegment {
            segment: r.text("segment"),
        },
        "not_in_segment" => Condition::NotInSegment {
            segment: r.text("segment"),
        },
        "attribute" => Condition::Attribute {
            name: r.text("attribute"),
            equals: r.text("equals"),
        },
        "lines" => Condition::Lines {
            lines: r.lines(),
            min_quantity: Quantity(r.decimal("quantity", Quantity::DECIMALS)),
        },
        "coupon" => Condition::Coupon {
            code: r.text("code"),
        },
        "time_window" => Condition::TimeWindow {
            weekdays: r.checks::<Weekday>("weekdays", WEEKDAYS),
            from_minute: r.minute("from"),
            to_minute: r.minute("to"),
        },
        _ => Condition::Counter {
            name: r.text("counter"),
            at_least: r.whole_optional("at_least"),
            below: r.whole_optional("below"),
        },
    }
}

fn read_action(row: &Row, r: &mut Reader) -> Action {
    let accrue = |points| Action::Accrue { points };
    match row.kind.as_str() {
        "accrue_fixed" => accrue(Points::Fixed {
            points: r.points("points"),
        }),
        "accrue_percent_of_cheque" => accrue(Points::PercentOfCheque {
            bps: r.bps("percent"),
            of: r.choice("of", Base::Amount),
            rounding: r.choice("rounding", Default::default()),
        }),
        "accrue_percent_of_lines" => accrue(Points::PercentOfLines {
            lines: r.lines(),
            bps: r.bps("percent"),
            of: r.choice("of", Base::Amount),
            rounding: r.choice("rounding", Default::default()),
        }),
        "accrue_tiered" => {
            let first = r.optional("first").unwrap_or_default();
            let first = first
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| i18n::parse_number(p, r.scales.points, r.scales.lang))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|_| {
                    r.fail("first", "dash-of-error-number");
                    Vec::new()
                });
            accrue(Points::Tiered {
                first,
                then: r.points("then"),
                period: r.choice("period", Period::AllTime),
            })
        }
        "withdraw" => Action::Withdraw {
            points: r.points("points"),
        },
        "take_back" => Action::TakeBack {
            offer: kopilka_domain::ids::OfferId(r.whole("offer")),
            // Numbered from 1 on the form, as the form numbers its actions.
            action: u16::try_from(r.whole("action") - 1).unwrap_or_else(|_| {
                r.fail("action", "dash-of-error-whole");
                0
            }),
        },
        "discount_percent" => Action::LineDiscount {
            lines: r.lines(),
            discount: Discount::Percent {
                bps: r.bps("percent"),
                rounding: r.choice("rounding", Default::default()),
            },
        },
        "discount_fixed" => Action::LineDiscount {
            lines: r.lines(),
            discount: Discount::Fixed {
                amount: r.decimal("amount", r.scales.money),
            },
        },
        "discount_fixed_per_line" => Action::LineDiscount {
            lines: r.lines(),
            discount: Discount::FixedPerLine {
                amount: r.decimal("amount", r.scales.money),
            },
        },
        "points_payment_cap" => Action::PointsPaymentCap {
            lines: r.lines(),
            bps: r.bps("percent"),
        },
        "message" => Action::Message {
            channel: r.choice("channel", Channel::Sms),
            template: r.text("template"),
        },
        "counter" => Action::Counter {
            name: r.text("counter"),
            by: r.whole("change"),
        },
        "subscription" => Action::Subscription {
            channel: r.choice("channel", Channel::Sms),
            on: r.optional("switch").as_deref() != Some("off"),
        },
        _ => Action::IssueCoupon {
            series: r.text("series"),
        },
    }
}

fn read_limit(r: &mut Reader) -> Limit {
    let scope = match r.optional("scope").as_deref() {
        Some("offer") => LimitScope::Offer,
        Some("global") => LimitScope::Global {
            pool: r.text("pool"),
            per_customer: r.flag("per_customer"),
        },
        _ => LimitScope::Customer,
    };
    let period = r.choice("period", Period::AllTime);
    let cap = match r.optional("cap_kind").as_deref() {
        Some("count") => Cap::Count(r.whole("cap")),
        _ => Cap::Points(r.points("cap")),
    };
    Limit { scope, period, cap }
}

/// The version the form describes, or each field it could not read.
fn offer_of(draft: &Draft, scales: &Scales) -> Result<Offer, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut head = Reader {
        values: &draft.head,
        prefix: String::new(),
        scales,
        errors: &mut errors,
    };
    let id = head.whole("id");
    let version = u32::try_from(head.whole("version")).unwrap_or_default();
    let name = head.text("name");
    let effective_from = head.moment("from").unwrap_or_else(|| {
        head.fail("from", "dash-of-error-when");
        0
    });
    let effective_to = head.moment("to");
    let priority = head.whole_optional("priority").unwrap_or(0);
    let weight = head.whole_optional("weight").unwrap_or(0);
    let cumulative = head.flag("cumulative");
    let mut triggers = Vec::new();
    for trigger in TRIGGERS {
        if !head.flag(&format!("trigger.{trigger}")) {
            continue;
        }
        let kind = match *trigger {
            "cheque" => TriggerKind::Cheque,
            "registration" => TriggerKind::Registration,
            "card_activated" => TriggerKind::CardActivated,
            social => match serde_json::from_value(Value::String(social.into())) {
                Ok(kind) => TriggerKind::Social(kind),
                Err(_) => continue,
            },
        };
        triggers.push(kind);
    }
    let (priority, weight) = (
        i32::try_from(priority).unwrap_or_else(|_| {
            head.fail("priority", "dash-of-error-whole");
            0
        }),
        i32::try_from(weight).unwrap_or_else(|_| {
            head.fail("weight", "dash-of-error-whole");
            0
        }),
    );
    let mut parts: [Vec<Value>; 3] = Default::default();
    for (s, section) in Section::ALL.iter().enumerate() {
        for (i, row) in draft.rows[s].iter().enumerate() {
            let mut r = Reader {
                values: &row.values,
                prefix: format!("{}{i}.", section.prefix()),
                scales,
                errors: &mut errors,
            };
            let value = match section {
                Section::Conditions => serde_json::to_value(read_condition(row, &mut r)),
                Section::Actions => serde_json::to_value(read_action(row, &mut r)),
                Section::Limits => serde_json::to_value(read_limit(&mut r)),
            };
            parts[s].push(value.unwrap_or_default());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let [conditions, actions, limits] = parts;
    let offer = serde_json::json!({
        "id": id, "version": version, "name": name,
        "effective_from": effective_from, "effective_to": effective_to,
        "cumulative": cumulative, "priority": priority, "weight": weight,
        "triggers": triggers, "conditions": conditions, "actions": actions, "limits": limits,
    });
    serde_json::from_value(offer).map_err(|e| BTreeMap::from([(String::new(), e.to_string())]))
}

/// An option of a list or a checkbox.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input of the form as the page shows it.
pub struct Input {
    /// The form's name; a checkbox of a group is `{name}.{value}`.
    pub name: String,
    /// The element's id (`f-c0-networks`).
    pub id: String,
    pub label: String,
    /// `text`, `decimal`, `whole`, `time`, `datetime-local`, `flag`, `select` or `checks`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
    pub error: Option<String>,
}

/// A condition, action or limit as the page shows it.
pub struct RowView {
    pub id: String,
    pub number: usize,
    pub kind: String,
    pub label: String,
    pub inputs: Vec<Input>,
}

/// A section of rows as the page shows it.
pub struct SectionView {
    pub key: &'static str,
    pub heading: String,
    pub rows: Vec<RowView>,
    /// The kinds a new row may be (none for limits: one kind).
    pub kinds: Vec<Choice>,
    pub add_label: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/offer_form.html")]
struct OfferFormPage {
    page: Chrome,
    who: Who,
    program: i64,
    program_name: String,
    /// The offer a new version is of; `None` for a new offer.
    offer: Option<i64>,
    id: String,
    version: String,
    head: Vec<Input>,
    sections: Vec<SectionView>,
    error: Option<String>,
}

impl Page for OfferFormPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The texts' id of a name: `dash-of-` and the name with dashes.
fn label_id(parts: &[&str]) -> String {
    format!("dash-of-{}", parts.join("-").replace('_', "-"))
}

fn inputs(
    signed: &SignedIn,
    specs: &[Spec],
    prefix: &str,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<Input> {
    specs
        .iter()
        .map(|&(key, kind)| {
            let name = format!("{prefix}{key}");
            let value = values.get(key).cloned().unwrap_or_default();
            let options = |names: &[&str], labelled: bool| -> Vec<Choice> {
                names
                    .iter()
                    .map(|&o| Choice {
                        value: o.to_string(),
                        label: if labelled {
                            signed.t(&label_id(&[key, o]))
                        } else {
                            o.to_string()
                        },
                        selected: match kind {
                            Kind::Checks(_) => values.contains_key(&format!("{key}.{o}")),
                            _ => value == o,
                        },
                    })
                    .collect()
            };
            let (kind, options) = match kind {
                Kind::Moment => ("datetime-local", Vec::new()),
                Kind::Text => ("text", Vec::new()),
                Kind::Decimal => ("decimal", Vec::new()),
                Kind::Whole => ("whole", Vec::new()),
                Kind::Time => ("time", Vec::new()),
                Kind::Flag => ("flag", Vec::new()),
                Kind::Choose(names) => ("select", options(names, true)),
                Kind::Checks(names) => ("checks", options(names, true)),
                Kind::Template => {
                    let names: Vec<&str> = kopilka_domain::message::TEMPLATES
                        .iter()
                        .map(|t| t.name)
                        .filter(|n| n.starts_with("offer."))
                        .collect();
                    ("select", options(&names, false))
                }
            };
            Input {
                id: format!("f-{}", name.replace('.', "-")),
                label: signed.t(&label_id(&[key])),
                error: errors.get(&name).cloned(),
                name,
                kind,
                value,
                options,
            }
        })
        .collect()
}

/// The form's page with `draft` as typed and `errors` by form name (the empty name: over the
/// form; a section's API field: over the section).
async fn show(
    signed: &SignedIn,
    program: i64,
    offer: Option<i64>,
    draft: &Draft,
    errors: &BTreeMap<String, String>,
    status: StatusCode,
) -> Response {
    let program_json = match signed.get(&format!("/v1/programs/{program}")).await {
        Ok(p) => p,
        Err(failure) => return signed.failed(&failure),
    };
    let sections = Section::ALL
        .iter()
        .enumerate()
        .map(|(s, section)| {
            let prefix_letter = section.prefix().to_string();
            let rows = draft.rows[s]
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let prefix = format!("{}{i}.", section.prefix());
                    let specs = section
                        .kinds()
                        .iter()
                        .find(|(k, _)| *k == row.kind)
                        .map_or(&[][..], |(_, specs)| specs);
                    RowView {
                        id: format!("{}{i}", section.prefix()),
                        number: i + 1,
                        kind: row.kind.clone(),
                        label: signed.t(&label_id(&[prefix_letter.as_str(), row.kind.as_str()])),
                        inputs: inputs(signed, specs, &prefix, &row.values, errors),
                    }
                })
                .collect();
            let kinds = match section {
                Section::Limits => Vec::new(),
                _ => section
                    .kinds()
                    .iter()
                    .map(|(k, _)| Choice {
                        value: k.to_string(),
                        label: signed.t(&label_id(&[prefix_letter.as_str(), k])),
                        selected: false,
                    })
                    .collect(),
            };
            SectionView {
                key: section.field(),
                heading: signed.t(&label_id(&[section.field()])),
                rows,
                kinds,
                add_label: signed.t(&label_id(&["add", section.field()])),
                error: errors.get(section.field()).cloned(),
            }
        })
        .collect();
    let head = inputs(signed, HEAD, "", &draft.head, errors);
    let title = match offer {
        Some(id) => i18n::text(
            signed.lang,
            "dash-of-title-version",
            Some(&i18n::args(&[("id", id.into())])),
        ),
        None => signed.t("dash-of-title-new"),
    };
    let view = OfferFormPage {
        page: signed.chrome(title),
        who: signed.who(),
        program,
        program_name: super::programs::text(&program_json["name"]),
        offer,
        id: draft.head.get("id").cloned().unwrap_or_default(),
        version: draft.head.get("version").cloned().unwrap_or_default(),
        head,
        sections,
        error: errors.get("").cloned(),
    };
    render(status, &view)
}

/// The program's scales and its offers' versions.
async fn program_and_offers(
    signed: &SignedIn,
    program: i64,
) -> Result<(Scales, Vec<Value>), Response> {
    let program_json = signed
        .get(&format!("/v1/programs/{program}"))
        .await
        .map_err(|f| signed.failed(&f))?;
    let offers = signed
        .get(&format!("/v1/programs/{program}/offers"))
        .await
        .map_err(|f| signed.failed(&f))?;
    let offers = offers.as_array().cloned().unwrap_or_default();
    Ok((Scales::of(&program_json, signed.lang), offers))
}

fn forbidden(signed: &SignedIn) -> Response {
    super::message(
        signed.lang,
        StatusCode::FORBIDDEN,
        "dash-forbidden",
        signed.t("dash-forbidden-text"),
    )
}

/// `GET /admin/programs/{id}/offers/new`: an empty offer, numbered after the program's last,
/// starting now, answering cheques and giving a fixed number of points.
pub async fn new_offer(signed: SignedIn, Path(program): Path<i64>) -> Response {
    if !signed.may("POST", "/v1/programs/{id}/offers") {
        return forbidden(&signed);
    }
    let (scales, offers) = match program_and_offers(&signed, program).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let next = offers
        .iter()
        .filter_map(|o| o["id"].as_i64())
        .max()
        .unwrap_or(0)
        + 1;
    let mut draft = Draft::default();
    for (key, value) in [
        ("id", next.to_string()),
        ("version", "1".into()),
        ("from", scales.when(chrono::Utc::now().timestamp_millis())),
        ("priority", "0".into()),
        ("weight", "0".into()),
        ("trigger.cheque", "on".into()),
    ] {
        draft.head.insert(key.into(), value);
    }
    draft.rows[1].push(row("accrue_fixed", &[]));
    show(
        &signed,
        program,
        None,
        &draft,
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

/// `GET /admin/programs/{id}/offers/{offer}/new`: the next version, prefilled from the one in
/// force (else the newest) and starting now.
pub async fn new_version(signed: SignedIn, Path((program, offer)): Path<(i64, i64)>) -> Response {
    if !signed.may("POST", "/v1/programs/{id}/offers") {
        return forbidden(&signed);
    }
    let (scales, _) = match program_and_offers(&signed, program).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let answer = match signed
        .get(&format!("/v1/offers/{offer}/versions?program={program}"))
        .await
    {
        Ok(a) => a,
        Err(failure) => return signed.failed(&failure),
    };
    let versions: Vec<Offer> = answer["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    let in_force = answer["in_force"].as_u64();
    let current = versions
        .iter()
        .find(|v| Some(u64::from(v.version)) == in_force)
        .or_else(|| versions.iter().max_by_key(|v| v.version));
    let Some(current) = current else {
        return signed.failed(&super::ApiFailure {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            field: None,
            message: "offer".into(),
        });
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut next = current.clone();
    next.version = versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
    next.effective_from = now;
    next.effective_to = next.effective_to.filter(|to| *to > now);
    let draft = draft_of(&next, &scales);
    show(
        &signed,
        program,
        Some(offer),
        &draft,
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/programs/{id}/offers/form`: `op` adds a row (`add-conditions` with the kind in
/// `new-conditions`), removes one (`remove-a2`), or saves the version (any other, the form's
/// first button, so Enter in a field saves).
pub async fn submit(
    Path(program): Path<i64>,
    posted: Posted<BTreeMap<String, String>>,
) -> Response {
    let signed = posted.signed;
    let mut form = posted.form;
    let op = form.remove("op").unwrap_or_default();
    let added: BTreeMap<&str, String> = Section::ALL
        .iter()
        .map(|s| {
            (
                s.field(),
                form.remove(&format!("new-{}", s.field()))
                    .unwrap_or_default(),
            )
        })
        .collect();
    form.remove("csrf");
    let offer = form.remove("offer").and_then(|o| o.parse::<i64>().ok());
    let mut draft = Draft::of_form(&form);
    // Adding or removing a row shows the form again with it; nothing is sent.
    let mut reshown = false;
    for (s, section) in Section::ALL.iter().enumerate() {
        if op == format!("add-{}", section.field()) {
            reshown = true;
            let kind = match section {
                Section::Limits => "limit".to_string(),
                _ => added[section.field()].clone(),
            };
            if section.kinds().iter().any(|(k, _)| *k == kind) {
                let mut new = row(&kind, &[]);
                if kind == "lines" {
                    new.values.insert("quantity".into(), "1".into());
                }
                draft.rows[s].push(new);
            }
        }
        let removed = op
            .strip_prefix("remove-")
            .and_then(|r| r.strip_prefix(section.prefix()))
            .and_then(|i| i.parse::<usize>().ok());
        if let Some(i) = removed.filter(|i| *i < draft.rows[s].len()) {
            reshown = true;
            draft.rows[s].remove(i);
        }
    }
    if reshown {
        let errors = BTreeMap::new();
        return show(&signed, program, offer, &draft, &errors, StatusCode::OK).await;
    }
    let program_json = match signed.get(&format!("/v1/programs/{program}")).await {
        Ok(p) => p,
        Err(failure) => return signed.failed(&failure),
    };
    let scales = Scales::of(&program_json, signed.lang);
    let version = match offer_of(&draft, &scales) {
        Ok(version) => version,
        Err(errors) => {
            return show(
                &signed,
                program,
                offer,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let body = serde_json::to_value(&version).unwrap_or_default();
    match signed
        .api(
            Method::POST,
            &format!("/v1/programs/{program}/offers"),
            Some(body),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "/admin/programs/{program}/offers/{}",
            version.id.0
        ))
        .into_response(),
        Err(failure) if failure.status.is_client_error() && failure.status.as_u16() != 401 => {
            let message = match failure.status {
                StatusCode::FORBIDDEN => signed.t("dash-forbidden-text"),
                _ => failure.message.clone(),
            };
            // The API's field (`name`, `effective_to`, `actions`) as the form names it.
            let field = match failure.field.as_deref() {
                Some("name") => "name",
                Some("effective_from") => "from",
                Some("effective_to") => "to",
                Some("triggers") => "trigger",
                Some(f) if Section::ALL.iter().any(|s| s.field() == f) => f,
                _ => "",
            };
            let errors = BTreeMap::from([(field.to_string(), message)]);
            show(&signed, program, offer, &draft, &errors, failure.status).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scales() -> Scales {
        Scales {
            lang: Lang::Uk,
            points: 2,
            money: 2,
            zone: chrono_tz::Europe::Kyiv,
        }
    }

    /// Every kind of condition, action and limit shown on the form reads back as it was.
    #[test]
    fn every_kind_makes_a_round_trip_through_the_form() {
        let offer: Offer = serde_json::from_value(serde_json::json!({
            "id": 3, "version": 2, "name": "Кава", "effective_from": 1_767_225_600_000_i64,
            "effective_to": 1_798_761_600_000_i64, "cumulative": true, "priority": 2, "weight": -1,
            "triggers": ["cheque", {"social": "like"}],
            "conditions": [
                {"type": "network", "any_of": ["vk", "facebook"]},
                {"type": "group", "any_of": ["a", "b"]},
                {"type": "in_segment", "segment": "vip"},
                {"type": "not_in_segment", "segment": "staff"},
                {"type": "attribute", "name": "city", "equals": "Kyiv"},
                {"type": "lines", "lines": {"by": "group", "value": "coffee"}, "min_quantity": 1500},
                {"type": "coupon", "code": "LIKE"},
                {"type": "time_window", "weekdays": ["mon", "sun"], "from_minute": 1320, "to_minute": 360},
                {"type": "counter", "name": "likes", "at_least": 2},
            ],
            "actions": [
                {"type": "accrue", "points": {"by": "fixed", "points": 100_050}},
                {"type": "accrue", "points": {"by": "percent_of_cheque", "bps": 550, "of": "paid_with_money", "rounding": "down"}},
                {"type": "accrue", "points": {"by": "percent_of_lines", "lines": {"by": "all"}, "bps": 1000}},
                {"type": "accrue", "points": {"by": "tiered", "first": [500, 250], "then": 100, "period": "month"}},
                {"type": "withdraw", "points": 7},
                {"type": "take_back", "offer": 3, "action": 0},
                {"type": "line_discount", "lines": {"by": "barcode", "value": "460"}, "discount": {"by": "percent", "bps": 1500}},
                {"type": "line_discount", "lines": {"by": "all"}, "discount": {"by": "fixed", "amount": 1000}},
                {"type": "line_discount", "lines": {"by": "goods_id", "value": "g1"}, "discount": {"by": "fixed_per_line", "amount": 50}},
                {"type": "points_payment_cap", "lines": {"by": "all"}, "bps": 5000},
                {"type": "message", "channel": "push", "template": "offer.thanks"},
                {"type": "counter", "name": "likes", "by": -1},
                {"type": "subscription", "channel": "email", "on": false},
                {"type": "issue_coupon", "series": "LIKE"},
            ],
            "limits": [
                {"scope": {"type": "customer"}, "period": "day", "cap": {"points": 1500}},
                {"scope": {"type": "global", "pool": "social", "per_customer": true}, "period": "none", "cap": {"count": 3}},
            ],
        }))
        .unwrap();
        offer.validate().unwrap();
        let draft = draft_of(&offer, &scales());
        assert_eq!(draft.rows[1][0].values["points"], "1\u{a0}000,50");
        // As the browser posts it back.
        let mut form = draft.head.clone();
        for (s, section) in Section::ALL.iter().enumerate() {
            for (i, row) in draft.rows[s].iter().enumerate() {
                let prefix = format!("{}{i}.", section.prefix());
                form.insert(format!("{prefix}kind"), row.kind.clone());
                for (k, v) in &row.values {
                    form.insert(format!("{prefix}{k}"), v.clone());
                }
            }
        }
        let read = offer_of(&Draft::of_form(&form), &scales()).unwrap();
        assert_eq!(read, offer);
    }

    #[test]
    fn what_cannot_be_read_is_named_by_its_field() {
        let form = BTreeMap::from(
            [
                ("id", "1"),
                ("version", "1"),
                ("name", ""),
                ("from", "2026-12-01T10:00"),
                ("trigger.cheque", "on"),
                ("a0.kind", "accrue_fixed"),
                ("a0.points", "1,005"),
                ("c0.kind", "time_window"),
                ("c0.from", "25:00"),
                ("c0.to", "10:00"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let errors = offer_of(&Draft::of_form(&form), &scales()).unwrap_err();
        let named: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(named, ["a0.points", "c0.from", "c0.weekdays", "name"]);
    }
}
