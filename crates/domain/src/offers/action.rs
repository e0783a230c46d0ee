//! What an offer does when it applies.

use super::limit::Period;
use crate::cheque::LineFilter;
use crate::ids::OfferId;
use crate::money::{Rounding, MAX_AMOUNT};
use crate::DomainError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    Accrue {
        points: Points,
    },
    /// Points taken from the customer (to the burn account).
    Withdraw {
        points: i64,
    },
    /// Takes back what action `action` of offer `offer` gave for the event this trigger undoes:
    /// exactly that, once.
    TakeBack {
        offer: OfferId,
        action: u16,
    },
    /// Money off the matching lines, never below zero.
    LineDiscount {
        lines: LineFilter,
        discount: Discount,
    },
    /// The most points may pay of each matching line: `bps` of what it costs, rounded down.
    /// When several offers cap a line, the smallest cap holds.
    PointsPaymentCap {
        lines: LineFilter,
        bps: u32,
    },
    Message {
        channel: Channel,
        /// A message template's name (`message.rs`: `offer.reward`, `offer.coupon`,
        /// `offer.thanks`, or any other, each overridable in the program's settings).
        template: String,
    },
    /// Adds `by` to the customer's counter.
    Counter {
        name: String,
        by: i64,
    },
    /// Switches the customer's mailing subscription on a channel.
    Subscription {
        channel: Channel,
        on: bool,
    },
    IssueCoupon {
        series: String,
    },
}

/// How many points an accrual gives, in minor units of the points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Points {
    Fixed {
        points: i64,
    },
    /// A share of the whole cheque, in basis points, rounded once.
    PercentOfCheque {
        bps: u32,
        #[serde(default)]
        of: Base,
        #[serde(default)]
        rounding: Rounding,
    },
    /// A share of each matching line, one effect per line.
    PercentOfLines {
        lines: LineFilter,
        bps: u32,
        #[serde(default)]
        of: Base,
        #[serde(default)]
        rounding: Rounding,
    },
    /// By occurrence in the period: the n-th time the offer applies to the customer gives
    /// `first[n-1]`, and `then` once `first` is used up. "5 for the first like, 1 for each
    /// next": `first: [5], then: 1`.
    Tiered {
        first: Vec<i64>,
        then: i64,
        period: Period,
    },
}

/// What a percentage accrual is a share of: a line's amount as the offers applied before
/// left it, or the part of it paid with money (known once the points payment is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    #[default]
    Amount,
    PaidWithMoney,
}

/// A line discount's size. Shares of several lines are rounded once, over their sum, and
/// spread by largest remainder, as `cheque::price` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Discount {
    /// A share of the matching lines' amounts, in basis points.
    Percent {
        bps: u32,
        #[serde(default)]
        rounding: Rounding,
    },
    /// A sum spread over the matching lines in proportion, at most what they cost.
    Fixed { amount: i64 },
    /// A sum off each matching line, at most what the line costs.
    FixedPerLine { amount: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Push,
    Viber,
}

impl Channel {
    /// The channel's field in a customer's mailing subscriptions (Loymax's public API 1.2).
    pub fn subscription_field(self) -> &'static str {
        match self {
            Channel::Sms => "smsNotification",
            Channel::Email => "emailNotification",
            Channel::Push => "pushNotification",
            Channel::Viber => "viberNotification",
        }
    }
}

/// The most an accrual may earn on money: 100 times it.
const MAX_ACCRUE_BPS: u32 = 1_000_000;

impl Action {
    pub(super) fn validate(&self) -> Result<(), DomainError> {
        let bad = |reason: &str| {
            Err(DomainError::Invalid {
                field: "actions",
                reason: reason.to_string(),
            })
        };
        let amount = |value: i64| (1..=MAX_AMOUNT).contains(&value);
        let named = |name: &str| !name.trim().is_empty();
        match self {
            Action::Accrue { points } => match points {
                Points::Fixed { points } if !amount(*points) => bad("points must be positive"),
                Points::PercentOfCheque { bps, .. } | Points::PercentOfLines { bps, .. }
                    if *bps == 0 || *bps > MAX_ACCRUE_BPS =>
                {
                    bad("bps must be 1 to 1 000 000")
                }
                // A tier of nothing would never count as an occurrence, so the next never comes.
                Points::Tiered { first, then, .. }
                    if !first.iter().all(|p| amount(*p))
                        || !(0..=MAX_AMOUNT).contains(then)
                        || (first.is_empty() && *then == 0) =>
                {
                    bad("tiers must be positive; `then` may be 0 after them")
                }
                _ => Ok(()),
            },
            Action::Withdraw { points } if !amount(*points) => bad("points must be positive"),
            Action::LineDiscount { discount, .. } => match discount {
                Discount::Percent { bps, .. } if *bps == 0 || *bps > 10_000 => {
                    bad("a discount is 1 to 10 000 bps")
                }
                Discount::Fixed { amount: sum } | Discount::FixedPerLine { amount: sum }
                    if !amount(*sum) =>
                {
                    bad("a discount must be positive")
                }
                _ => Ok(()),
            },
            Action::PointsPaymentCap { bps, .. } if *bps > 10_000 => {
                bad("a payment cap is 0 to 10 000 bps")
            }
            // Only a known template: a program's texts override known ones (`message.rs`).
            Action::Message { template, .. } if crate::message::template(template).is_none() => {
                bad("a message needs a known template (offer.reward, offer.coupon, offer.thanks)")
            }
            Action::Counter { name, by } if !named(name) || *by == 0 || by.abs() > MAX_AMOUNT => {
                bad("a counter needs a name and a non-zero change")
            }
            Action::IssueCoupon { series } if !named(series) => bad("a coupon needs a series"),
            _ => Ok(()),
        }
    }
}
