//! Limits on what offers give, and the usage buckets the store keeps for them: one row per
//! owner and period, holding the points given and the times an offer applied.

use super::LocalTime;
use crate::ids::{CustomerId, OfferId};
use crate::money::MAX_AMOUNT;
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub scope: LimitScope,
    pub period: Period,
    pub cap: Cap,
}

impl Limit {
    pub(super) fn validate(&self) -> Result<(), DomainError> {
        let bad = |reason: &str| {
            Err(DomainError::Invalid {
                field: "limits",
                reason: reason.to_string(),
            })
        };
        match (&self.scope, self.cap) {
            (LimitScope::Global { pool, .. }, _) if pool.trim().is_empty() => {
                bad("a pool needs a name")
            }
            (_, Cap::Points(points)) if !(1..=MAX_AMOUNT).contains(&points) => {
                bad("a points cap must be positive")
            }
            (_, Cap::Count(0)) => bad("a count cap must be positive"),
            _ => Ok(()),
        }
    }

    /// The bucket this limit counts in for `customer` and `offer` at `local`.
    pub(super) fn key(&self, customer: CustomerId, offer: OfferId, local: &LocalTime) -> UsageKey {
        let owner = match &self.scope {
            LimitScope::Customer => UsageOwner::CustomerOffer { customer, offer },
            LimitScope::Offer => UsageOwner::Offer { offer },
            LimitScope::Global {
                pool,
                per_customer: true,
            } => UsageOwner::CustomerPool {
                customer,
                pool: pool.clone(),
            },
            LimitScope::Global {
                pool,
                per_customer: false,
            } => UsageOwner::Pool { pool: pool.clone() },
        };
        UsageKey {
            owner,
            bucket: self.period.bucket(local),
        }
    }
}

/// Whose use a limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum LimitScope {
    /// One customer's use of this offer.
    Customer,
    /// Every customer's use of this offer together: the offer's budget.
    Offer,
    /// Global: every offer naming the pool together, one customer's use or everyone's ("at
    /// most 100 social bonuses a month per customer", "10 000 for the whole campaign").
    Global { pool: String, per_customer: bool },
}

/// Periods are the customer's local days, months and years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[serde(rename = "none")]
    AllTime,
    Day,
    Month,
    Year,
}

impl Period {
    pub fn bucket(self, local: &LocalTime) -> PeriodBucket {
        match self {
            Period::AllTime => PeriodBucket::AllTime,
            Period::Year => PeriodBucket::Year { year: local.year },
            Period::Month => PeriodBucket::Month {
                year: local.year,
                month: local.month,
            },
            Period::Day => PeriodBucket::Day {
                year: local.year,
                month: local.month,
                day: local.day,
            },
        }
    }
}

/// A cap on the points given or on the times an offer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    Points(i64),
    Count(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum UsageOwner {
    CustomerOffer {
        customer: CustomerId,
        offer: OfferId,
    },
    Offer {
        offer: OfferId,
    },
    Pool {
        pool: String,
    },
    CustomerPool {
        customer: CustomerId,
        pool: String,
    },
}

/// One period of a limit, on the customer's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "period")]
pub enum PeriodBucket {
    AllTime,
    Year { year: i32 },
    Month { year: i32, month: u8 },
    Day { year: i32, month: u8, day: u8 },
}

/// "all", "2026", "2026-02", "2026-02-01": the form a store keeps in a column.
impl fmt::Display for PeriodBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeriodBucket::AllTime => f.write_str("all"),
            PeriodBucket::Year { year } => write!(f, "{year:04}"),
            PeriodBucket::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            PeriodBucket::Day { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UsageKey {
    pub owner: UsageOwner,
    pub bucket: PeriodBucket,
}

/// What a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Used {
    pub points: i64,
    /// Times an offer applied (a take-back does not return them).
    pub count: i64,
}

/// To add to a bucket, in the transaction that records the effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChange {
    pub key: UsageKey,
    pub points: i64,
    pub count: i64,
}

/// The customer's counters and the buckets [`super::usage_keys`] named, as locked by the store.
/// A bucket not given is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usage {
    pub counters: BTreeMap<String, i64>,
    pub buckets: BTreeMap<UsageKey, Used>,
}

/// What a refund of a cheque returns to the limits it counted in (`counted`, the cheque's own
/// usage changes): of each, the points in proportion to the bonus this refund took back
/// (`earned` the cheque's bonus, `reclaimed_before` and `reclaimed_after` what was taken back
/// of it before and after; rounded down, cumulatively, so refunds in parts return at most what
/// was counted), and the application itself once the cheque is wholly refunded
/// (`wholly_refunded`: by this refund). What the customer kept still counts.
pub fn refund_usage(
    counted: &[UsageChange],
    earned: i64,
    reclaimed_before: i64,
    reclaimed_after: i64,
    wholly_refunded: bool,
) -> Vec<UsageChange> {
    let share = |points: i64, reclaimed: i64| -> i64 {
        if earned <= 0 {
            return 0;
        }
        let reclaimed = reclaimed.clamp(0, earned);
        (i128::from(points) * i128::from(reclaimed) / i128::from(earned)) as i64
    };
    counted
        .iter()
        .map(|change| UsageChange {
            key: change.key.clone(),
            points: -(share(change.points, reclaimed_after)
                - share(change.points, reclaimed_before)),
            count: if wholly_refunded { -change.count } else { 0 },
        })
        .filter(|change| change.points != 0 || change.count != 0)
        .collect()
}
