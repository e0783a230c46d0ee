//! Offers ("акции", seed 001): what a trigger — a social-network event, a cheque, a registration,
//! a card's activation — gives a customer. One engine for cheques and events: an offer is a
//! versioned set of typed conditions, actions and limits, and [`evaluate`] turns a trigger into
//! effects, counter and usage changes, and a trace of why each offer did or did not apply.
//!
//! The store makes it exactly-once and atomic: see docs/offers.md for the contract.

mod action;
mod cheque;
mod condition;
mod evaluate;
mod limit;
#[cfg(test)]
mod tests;

pub use action::{Action, Base, Channel, Discount, Points};
pub use cheque::{
    accruals_by_offer, applied_names, earned_per_line, offers_know_coupon, rules_as_offers,
    ChequeOfferIndex, ChequeOffers, ChequePricing, PROGRAM_RULES_OFFER,
};
pub use condition::{Condition, Weekday};
pub use evaluate::{evaluate, usage_keys};
pub use limit::{
    refund_usage, Cap, Limit, LimitScope, Period, PeriodBucket, Usage, UsageChange, UsageKey,
    UsageOwner, Used,
};

use crate::cheque::ChequeLine;
use crate::ids::{CustomerId, OfferId};
use crate::DomainError;
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One version of an offer. Versions share the id; the one in force at a trigger's time is the
/// one with the latest `effective_from` not after it (the higher version on a tie), unless its
/// `effective_to` has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub id: OfferId,
    pub version: u32,
    /// Shown to the customer and in a cheque's message.
    pub name: String,
    /// Unix ms, inclusive.
    pub effective_from: i64,
    /// Unix ms, exclusive; `None`: open-ended.
    #[serde(default)]
    pub effective_to: Option<i64>,
    /// Cumulative offers stack; non-cumulative ones take at most one per cheque line (or event).
    #[serde(default)]
    pub cumulative: bool,
    /// Higher first among non-cumulative offers.
    #[serde(default)]
    pub priority: i32,
    /// Higher first when priorities tie.
    #[serde(default)]
    pub weight: i32,
    /// The triggers the offer answers; any of them.
    pub triggers: Vec<TriggerKind>,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub limits: Vec<Limit>,
}

impl Offer {
    /// Refuses an offer the engine could not apply as written (what the admin API checks).
    pub fn validate(&self) -> Result<(), DomainError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(DomainError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.name.trim().is_empty() {
            return invalid("name", "must not be empty");
        }
        if self
            .effective_to
            .is_some_and(|to| to <= self.effective_from)
        {
            return invalid("effective_to", "must be after effective_from");
        }
        if self.triggers.is_empty() {
            return invalid("triggers", "at least one");
        }
        if self.actions.is_empty() {
            return invalid("actions", "at least one");
        }
        if self.actions.len() > u16::MAX as usize
            || self.conditions.len() > u16::MAX as usize
            || self.limits.len() > u16::MAX as usize
        {
            return invalid("actions", "too many actions, conditions or limits");
        }
        for condition in &self.conditions {
            condition.validate()?;
        }
        for action in &self.actions {
            action.validate()?;
        }
        for limit in &self.limits {
            limit.validate()?;
        }
        Ok(())
    }
}

/// The social networks of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Vk,
    Odnoklassniki,
    Facebook,
    Instagram,
    MoiMir,
}

/// What happened on a social network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocialKind {
    ProfileLinked,
    GroupJoined,
    GroupLeft,
    Like,
    LikeRemoved,
    Comment,
    CommentRemoved,
    Repost,
    RepostRemoved,
}

/// The kind of trigger an offer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Social(SocialKind),
    Cheque,
    Registration,
    CardActivated,
}

/// Something that happened to a customer, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Unique per program for one real event (VK's `event_id`, an idempotency key, a purchase's
    /// id): it starts every effect's key, so a repeat is recognised.
    pub event_id: String,
    /// When it happened, unix ms: offers, periods and time windows are those of this instant.
    pub at: i64,
    pub event: Event,
    /// The effects recorded for the event this one undoes (a like, for its removal; the join,
    /// for leaving), as the store found them. Empty for other events.
    #[serde(default)]
    pub undoes: Vec<PastEffect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Event {
    Social(SocialEvent),
    Cheque(ChequeFacts),
    Registration,
    CardActivated,
}

impl Event {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Event::Social(social) => TriggerKind::Social(social.kind),
            Event::Cheque(_) => TriggerKind::Cheque,
            Event::Registration => TriggerKind::Registration,
            Event::CardActivated => TriggerKind::CardActivated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialEvent {
    pub network: Network,
    pub kind: SocialKind,
    /// The group (community, page) the activity is in; `None` for linking a profile.
    #[serde(default)]
    pub group: Option<String>,
}

/// A cheque as offers see it: its lines after the till's discount, the coupons presented, and
/// the scales of its money and of the program's points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChequeFacts {
    pub lines: Vec<ChequeLine>,
    #[serde(default)]
    pub coupons: Vec<String>,
    /// Points paying each line, by position: known after the points payment (Loymax's Bonus
    /// step), empty before it.
    #[serde(default)]
    pub paid_with_points: BTreeMap<i64, i64>,
    pub money_decimals: u8,
    pub points_decimals: u8,
}

impl ChequeFacts {
    fn validate(&self) -> Result<(), DomainError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(DomainError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.money_decimals > 6 || self.points_decimals > 6 {
            return invalid("decimals", "at most 6 decimal places");
        }
        let mut positions = BTreeSet::new();
        let mut total: i64 = 0;
        for line in &self.lines {
            if !(0..=crate::cheque::MAX_LINE).contains(&line.amount) {
                return invalid("lines", "a line's amount is negative or too large");
            }
            // Effects on a line are keyed by its position.
            if !positions.insert(line.position) {
                return invalid("lines", "two lines with the same position");
            }
            // Sums over the lines never overflow.
            total = match total.checked_add(line.amount) {
                Some(sum) if sum <= crate::money::MAX_BALANCE => sum,
                _ => return invalid("lines", "the cheque's total is too large"),
            };
        }
        for (position, points) in &self.paid_with_points {
            if !positions.contains(position) || *points < 0 {
                return invalid("paid_with_points", "a line of the cheque, not negative");
            }
        }
        Ok(())
    }
}

/// Who the trigger happened to, as conditions see them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    /// The customer's offset from UTC at the trigger's time, in minutes (the caller resolves the
    /// customer's or program's zone): days, months, years and time windows are local to it.
    pub utc_offset_minutes: i32,
    #[serde(default)]
    pub segments: BTreeSet<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An effect's identity: unique per program, and the same every time the same event is
/// evaluated, so the store refuses a second one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EffectKey {
    pub event_id: String,
    pub offer: OfferId,
    /// The action's index in the offer.
    pub action: u16,
    /// The cheque line's position, for an effect on one line.
    pub line: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub key: EffectKey,
    /// The offer's version that gave it (History's offer and the explain API name it).
    pub version: u32,
    pub kind: EffectKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EffectKind {
    /// Points credited; `counted_in` are the usage buckets they were counted in, which a
    /// take-back returns them to.
    Accrue {
        points: i64,
        counted_in: Vec<UsageKey>,
    },
    Withdraw {
        points: i64,
    },
    /// Takes back exactly what `original` gave: the store does it only if no take-back of
    /// `original` exists yet.
    TakeBack {
        original: EffectKey,
        points: i64,
    },
    /// Money off the line named in the key.
    LineDiscount {
        amount: i64,
    },
    /// The most points may pay of the line named in the key.
    PointsPaymentCap {
        amount: i64,
    },
    Message {
        channel: Channel,
        template: String,
    },
    Subscription {
        channel: Channel,
        on: bool,
    },
    IssueCoupon {
        series: String,
    },
}

/// An effect recorded earlier, as a take-back needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastEffect {
    pub key: EffectKey,
    /// What the effect accrued.
    pub points: i64,
    /// Whether a take-back of it is already recorded.
    pub taken_back: bool,
    pub counted_in: Vec<UsageKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterChange {
    pub counter: String,
    pub by: i64,
}

/// What a trigger gives: to be written atomically, with the usage and counter changes, by the
/// store (docs/offers.md).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evaluation {
    pub effects: Vec<Effect>,
    pub counter_changes: Vec<CounterChange>,
    pub usage_changes: Vec<UsageChange>,
    /// One entry per offer id, by id.
    pub trace: Vec<TraceEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub offer: OfferId,
    /// The version considered; `None` when none was in force.
    pub version: Option<u32>,
    pub outcome: Outcome,
}

/// Why an offer did or did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// It gave something; a limit may have cut its points, and a better non-cumulative offer
    /// may have taken some of the lines it wanted.
    Applied {
        cut_by_limit: Option<u16>,
        lines_lost_to: Option<OfferId>,
    },
    NotYetEffective {
        from: i64,
    },
    Ended {
        at: i64,
    },
    /// It does not answer this kind of trigger.
    OtherTrigger,
    /// The condition at this index is false.
    ConditionFalse {
        condition: u16,
    },
    /// Its actions give nothing here (no matching line, nothing left to take back).
    NothingToApply,
    /// The limit at this index leaves nothing.
    LimitReached {
        limit: u16,
    },
    /// A non-cumulative offer ranked higher holds the event or the lines.
    OutrankedBy {
        offer: OfferId,
    },
}

/// A trigger's instant on the customer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub weekday: Weekday,
    /// Minutes since local midnight.
    pub minute: u16,
}

impl LocalTime {
    pub fn at(unix_ms: i64, utc_offset_minutes: i32) -> Result<LocalTime, DomainError> {
        let invalid = |field: &'static str, reason: &str| DomainError::Invalid {
            field,
            reason: reason.to_string(),
        };
        // ±18 hours: the range ISO 8601 and every real zone stay within.
        let offset = (utc_offset_minutes.abs() <= 18 * 60)
            .then(|| FixedOffset::east_opt(utc_offset_minutes * 60))
            .flatten()
            .ok_or_else(|| invalid("utc_offset_minutes", "at most 18 hours either way"))?;
        let local = DateTime::from_timestamp_millis(unix_ms)
            .ok_or_else(|| invalid("at", "out of range"))?
            .with_timezone(&offset);
        Ok(LocalTime {
            year: local.year(),
            month: local.month() as u8,
            day: local.day() as u8,
            weekday: local.weekday().into(),
            minute: (local.hour() * 60 + local.minute()) as u16,
        })
    }
}
