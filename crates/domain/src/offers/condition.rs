//! The closed set of conditions an offer may have: no script language, every one typed.

use super::{Customer, Event, LocalTime, Network};
use crate::cheque::{LineFilter, Quantity};
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Condition {
    /// A social event on one of these networks.
    Network {
        any_of: Vec<Network>,
    },
    /// A social event in one of these groups.
    Group {
        any_of: Vec<String>,
    },
    InSegment {
        segment: String,
    },
    NotInSegment {
        segment: String,
    },
    /// A customer attribute (questionnaire answer, gender, city…) equal to a value.
    Attribute {
        name: String,
        equals: String,
    },
    /// A cheque with at least `min_quantity` (thousandths) of matching goods.
    Lines {
        lines: LineFilter,
        #[serde(default = "Quantity::one")]
        min_quantity: Quantity,
    },
    /// A cheque presenting this coupon (case-insensitive).
    Coupon {
        code: String,
    },
    /// On these local weekdays, from `from_minute` (inclusive) to `to_minute` (exclusive) of the
    /// local day; a window with `from_minute > to_minute` runs past midnight.
    TimeWindow {
        weekdays: Vec<Weekday>,
        from_minute: u16,
        to_minute: u16,
    },
    /// A customer counter's value, before this trigger, within the bounds.
    Counter {
        name: String,
        #[serde(default)]
        at_least: Option<i64>,
        #[serde(default)]
        below: Option<i64>,
    },
}

impl Condition {
    pub(super) fn validate(&self) -> Result<(), DomainError> {
        let bad = |reason: &str| {
            Err(DomainError::Invalid {
                field: "conditions",
                reason: reason.to_string(),
            })
        };
        match self {
            Condition::Network { any_of } if any_of.is_empty() => bad("no network named"),
            Condition::Group { any_of } if any_of.is_empty() => bad("no group named"),
            Condition::Lines { min_quantity, .. } if min_quantity.0 <= 0 => {
                bad("min_quantity must be positive")
            }
            Condition::TimeWindow {
                weekdays,
                from_minute,
                to_minute,
            } => {
                if weekdays.is_empty() {
                    bad("a time window needs a weekday")
                } else if *from_minute >= 1440 || *to_minute > 1440 || from_minute == to_minute {
                    bad("a time window is minutes 0 to 1440, not empty")
                } else {
                    Ok(())
                }
            }
            Condition::Counter {
                at_least: None,
                below: None,
                ..
            } => bad("a counter condition needs a bound"),
            _ => Ok(()),
        }
    }

    pub(super) fn holds(
        &self,
        event: &Event,
        customer: &Customer,
        counters: &BTreeMap<String, i64>,
        local: &LocalTime,
    ) -> bool {
        let social = match event {
            Event::Social(social) => Some(social),
            _ => None,
        };
        let cheque = match event {
            Event::Cheque(cheque) => Some(cheque),
            _ => None,
        };
        match self {
            Condition::Network { any_of } => social.is_some_and(|s| any_of.contains(&s.network)),
            Condition::Group { any_of } => {
                social.is_some_and(|s| s.group.as_ref().is_some_and(|g| any_of.contains(g)))
            }
            Condition::InSegment { segment } => customer.segments.contains(segment),
            Condition::NotInSegment { segment } => !customer.segments.contains(segment),
            Condition::Attribute { name, equals } => customer.attributes.get(name) == Some(equals),
            Condition::Lines {
                lines,
                min_quantity,
            } => cheque.is_some_and(|c| {
                let quantity: i64 = c
                    .lines
                    .iter()
                    .filter(|l| lines.matches(l))
                    .map(|l| l.quantity.0)
                    .fold(0, i64::saturating_add);
                quantity >= min_quantity.0
            }),
            Condition::Coupon { code } => {
                cheque.is_some_and(|c| c.coupons.iter().any(|p| p.eq_ignore_ascii_case(code)))
            }
            Condition::TimeWindow {
                weekdays,
                from_minute,
                to_minute,
            } => {
                let in_window = if from_minute < to_minute {
                    (*from_minute..*to_minute).contains(&local.minute)
                } else {
                    local.minute >= *from_minute || local.minute < *to_minute
                };
                weekdays.contains(&local.weekday) && in_window
            }
            Condition::Counter {
                name,
                at_least,
                below,
            } => {
                let value = counters.get(name).copied().unwrap_or(0);
                at_least.is_none_or(|min| value >= min) && below.is_none_or(|max| value < max)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<chrono::Weekday> for Weekday {
    fn from(day: chrono::Weekday) -> Weekday {
        match day {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }
}
