//! Evaluation: which offers apply to a trigger, in which order, and what they give.
//!
//! Non-cumulative offers go first, best first — priority, then weight, then benefit to the
//! customer over the whole cheque, then id — and each cheque line (or a non-cheque event as a
//! whole) goes to one of them. Cumulative offers then stack on what is left.

use super::action::{Action, Base, Discount, Points};
use super::condition::Condition;
use super::limit::{Cap, Period, Usage, UsageChange, UsageKey, UsageOwner, Used};
use super::{
    ChequeFacts, CounterChange, Customer, Effect, EffectKey, EffectKind, Evaluation, Event,
    LocalTime, Offer, Outcome, TraceEntry, Trigger,
};
use crate::ids::{CustomerId, OfferId};
use crate::money::{allocate, Rounding, MAX_AMOUNT};
use crate::DomainError;
use std::collections::{BTreeMap, BTreeSet};

/// Evaluates `trigger` against every version of every offer. `usage` holds the buckets
/// [`usage_keys`] named, locked by the store. A trigger stamped after `now` (a network's clock
/// ahead of ours) is evaluated at `now`, so no offer applies before it starts.
pub fn evaluate(
    offers: &[Offer],
    trigger: &Trigger,
    customer: &Customer,
    usage: &Usage,
    now: i64,
) -> Result<Evaluation, DomainError> {
    let at = trigger.at.min(now);
    let local = LocalTime::at(at, customer.utc_offset_minutes)?;
    let cheque = match &trigger.event {
        Event::Cheque(cheque) => {
            cheque.validate()?;
            Some(cheque)
        }
        _ => None,
    };
    // Take-back keys are (this event, offer, action, line): unique only for one original event.
    if trigger
        .undoes
        .windows(2)
        .any(|pair| pair[0].key.event_id != pair[1].key.event_id)
    {
        return Err(DomainError::Invalid {
            field: "undoes",
            reason: "the effects of one event".into(),
        });
    }
    let kind = trigger.event.kind();
    let mut run = Run::new(trigger, customer, usage, local, cheque);
    let mut trace = BTreeMap::new();
    let mut exclusive = Vec::new();
    let mut cumulative = Vec::new();
    for (id, versions) in by_id(offers) {
        let offer = match in_force(&versions, at) {
            Ok(offer) => offer,
            Err((version, outcome)) => {
                trace.insert(id, (version, outcome));
                continue;
            }
        };
        let refusal = if offer.triggers.contains(&kind) {
            (0..=u16::MAX)
                .zip(&offer.conditions)
                .find(|(_, c)| !c.holds(&trigger.event, customer, &usage.counters, &local))
                .map(|(condition, _)| Outcome::ConditionFalse { condition })
        } else {
            Some(Outcome::OtherTrigger)
        };
        match refusal {
            Some(outcome) => {
                trace.insert(id, (Some(offer.version), outcome));
            }
            None if offer.cumulative => cumulative.push(offer),
            None => exclusive.push((offer, run.benefit(offer))),
        }
    }
    exclusive.sort_by(|(a, a_benefit), (b, b_benefit)| {
        b.priority
            .cmp(&a.priority)
            .then(b.weight.cmp(&a.weight))
            .then(b_benefit.cmp(a_benefit))
            .then(a.id.cmp(&b.id))
    });
    cumulative.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(b.weight.cmp(&a.weight))
            .then(a.id.cmp(&b.id))
    });
    for (offer, _) in exclusive {
        let outcome = run.apply(offer, true);
        trace.insert(offer.id, (Some(offer.version), outcome));
    }
    for offer in cumulative {
        let outcome = run.apply(offer, false);
        trace.insert(offer.id, (Some(offer.version), outcome));
    }
    Ok(Evaluation {
        effects: run.effects,
        counter_changes: run
            .counters
            .into_iter()
            .filter(|(_, by)| *by != 0)
            .map(|(counter, by)| CounterChange { counter, by })
            .collect(),
        usage_changes: run
            .pending
            .into_iter()
            .filter(|(_, used)| *used != Used::default())
            .map(|(key, used)| UsageChange {
                key,
                points: used.points,
                count: used.count,
            })
            .collect(),
        trace: trace
            .into_iter()
            .map(|(offer, (version, outcome))| TraceEntry {
                offer,
                version,
                outcome,
            })
            .collect(),
    })
}

/// The usage buckets evaluating `trigger` reads or changes. The store locks them (creating
/// empty ones) and loads them into [`Usage`] before [`evaluate`], in the same transaction that
/// then writes the evaluation: two concurrent triggers never both pass a limit. An offer a
/// condition rules out needs none (counters are read with the buckets, so a counter condition
/// counts as holding here): a cheque locks only the buckets of offers that can apply to it.
pub fn usage_keys(
    offers: &[Offer],
    trigger: &Trigger,
    customer: &Customer,
    now: i64,
) -> Result<Vec<UsageKey>, DomainError> {
    let at = trigger.at.min(now);
    let local = LocalTime::at(at, customer.utc_offset_minutes)?;
    let kind = trigger.event.kind();
    let no_counters = BTreeMap::new();
    let may_hold = |condition: &Condition| {
        matches!(condition, Condition::Counter { .. })
            || condition.holds(&trigger.event, customer, &no_counters, &local)
    };
    let mut keys = BTreeSet::new();
    for versions in by_id(offers).into_values() {
        if let Ok(offer) = in_force(&versions, at) {
            if offer.triggers.contains(&kind) && offer.conditions.iter().all(may_hold) {
                keys.extend(counted_in(offer, customer.id, &local));
            }
        }
    }
    for past in &trigger.undoes {
        keys.extend(past.counted_in.iter().cloned());
    }
    Ok(keys.into_iter().collect())
}

fn by_id(offers: &[Offer]) -> BTreeMap<OfferId, Vec<&Offer>> {
    let mut versions: BTreeMap<OfferId, Vec<&Offer>> = BTreeMap::new();
    for offer in offers {
        versions.entry(offer.id).or_default().push(offer);
    }
    versions
}

/// The version in force at `at`: the latest started (the higher version on a tie), unless it
/// has ended.
fn in_force<'a>(versions: &[&'a Offer], at: i64) -> Result<&'a Offer, (Option<u32>, Outcome)> {
    let started = versions
        .iter()
        .filter(|o| o.effective_from <= at)
        .max_by_key(|o| (o.effective_from, o.version));
    match started {
        None => Err((
            None,
            Outcome::NotYetEffective {
                from: versions
                    .iter()
                    .map(|o| o.effective_from)
                    .min()
                    .unwrap_or(at),
            },
        )),
        Some(offer) => match offer.effective_to {
            Some(to) if to <= at => Err((Some(offer.version), Outcome::Ended { at: to })),
            _ => Ok(offer),
        },
    }
}

/// Every bucket an application of `offer` counts in: its limits' and its tiers'.
fn counted_in(offer: &Offer, customer: CustomerId, local: &LocalTime) -> BTreeSet<UsageKey> {
    let limits = offer
        .limits
        .iter()
        .map(|limit| limit.key(customer, offer.id, local));
    let tiers = offer.actions.iter().filter_map(|action| match action {
        Action::Accrue {
            points: Points::Tiered { period, .. },
        } => Some(tier_key(customer, offer.id, *period, local)),
        _ => None,
    });
    limits.chain(tiers).collect()
}

/// A tier counts the offer's applications to the customer in its period.
fn tier_key(customer: CustomerId, offer: OfferId, period: Period, local: &LocalTime) -> UsageKey {
    UsageKey {
        owner: UsageOwner::CustomerOffer { customer, offer },
        bucket: period.bucket(local),
    }
}

/// `bps` of `base` money, in points.
fn share(base: i64, bps: u32, cheque: &ChequeFacts, rounding: Rounding) -> i64 {
    let numerator = base as i128 * bps as i128 * 10i128.pow(cheque.points_decimals as u32);
    let denominator = 10_000 * 10i128.pow(cheque.money_decimals as u32);
    rounding
        .divide(numerator, denominator)
        .clamp(0, MAX_AMOUNT as i128) as i64
}

/// What one offer would do, before its limits.
#[derive(Default)]
struct Draft {
    effects: Vec<Effect>,
    counters: Vec<(String, i64)>,
    /// Take-backs returning points to the buckets they were counted in.
    usage: Vec<UsageChange>,
    /// Each line's amount after the offer's discounts.
    amounts: Vec<i64>,
    /// The lines its accruals and discounts are on.
    lines: BTreeSet<usize>,
    /// Whether it gives something on the whole cheque.
    whole_cheque: bool,
    /// The offer holding a line this one wanted.
    lost_to: Option<OfferId>,
}

impl Draft {
    fn accrued(&self) -> i64 {
        self.effects
            .iter()
            .map(|e| match e.kind {
                EffectKind::Accrue { points, .. } => points,
                _ => 0,
            })
            .fold(0, i64::saturating_add)
    }
}

struct Run<'a> {
    trigger: &'a Trigger,
    customer: &'a Customer,
    usage: &'a Usage,
    local: LocalTime,
    cheque: Option<&'a ChequeFacts>,
    /// Each line's amount after the discounts applied so far.
    amounts: Vec<i64>,
    /// The non-cumulative offer holding each line.
    claimed: Vec<Option<OfferId>>,
    /// The non-cumulative offer holding a non-cheque event.
    event_claimed: Option<OfferId>,
    /// What this evaluation adds to the buckets.
    pending: BTreeMap<UsageKey, Used>,
    counters: BTreeMap<String, i64>,
    effects: Vec<Effect>,
}

impl<'a> Run<'a> {
    fn new(
        trigger: &'a Trigger,
        customer: &'a Customer,
        usage: &'a Usage,
        local: LocalTime,
        cheque: Option<&'a ChequeFacts>,
    ) -> Run<'a> {
        let lines = cheque.map_or(&[][..], |c| &c.lines);
        Run {
            trigger,
            customer,
            usage,
            local,
            cheque,
            amounts: lines.iter().map(|l| l.amount).collect(),
            claimed: vec![None; lines.len()],
            event_claimed: None,
            pending: BTreeMap::new(),
            counters: BTreeMap::new(),
            effects: Vec::new(),
        }
    }

    fn used(&self, key: &UsageKey) -> Used {
        let stored = self.usage.buckets.get(key).copied().unwrap_or_default();
        let added = self.pending.get(key).copied().unwrap_or_default();
        // Saturating: a stored value out of any real range must not panic.
        Used {
            points: stored.points.saturating_add(added.points),
            count: stored.count.saturating_add(added.count),
        }
    }

    /// What a percentage of line `i`, which now costs `amount`, is of.
    fn base(&self, of: Base, i: usize, amount: i64) -> i64 {
        match (of, self.cheque) {
            (Base::PaidWithMoney, Some(cheque)) => {
                let position = cheque.lines[i].position;
                let paid = cheque.paid_with_points.get(&position).copied();
                (amount - paid.unwrap_or(0)).max(0)
            }
            _ => amount,
        }
    }

    /// What the offer alone would give the customer over the whole cheque, in a unit fine
    /// enough for both points and money.
    fn benefit(&self, offer: &Offer) -> i128 {
        let Ok((draft, _)) = self.limit(offer, self.draft(offer, false)) else {
            return 0;
        };
        let (money_decimals, points_decimals) = self
            .cheque
            .map_or((0, 0), |c| (c.money_decimals, c.points_decimals));
        let points: i128 = draft
            .effects
            .iter()
            .map(|e| match e.kind {
                EffectKind::Accrue { points, .. } => points as i128,
                EffectKind::Withdraw { points } | EffectKind::TakeBack { points, .. } => {
                    -(points as i128)
                }
                _ => 0,
            })
            .sum();
        let discounts: i128 = self
            .amounts
            .iter()
            .zip(&draft.amounts)
            .map(|(before, after)| (before - after) as i128)
            .sum();
        points * 10i128.pow(money_decimals as u32) + discounts * 10i128.pow(points_decimals as u32)
    }

    fn apply(&mut self, offer: &Offer, exclusive: bool) -> Outcome {
        if exclusive && self.cheque.is_none() {
            if let Some(holder) = self.event_claimed {
                return Outcome::OutrankedBy { offer: holder };
            }
        }
        let draft = self.draft(offer, exclusive);
        if draft.effects.is_empty() && draft.counters.is_empty() {
            return match draft.lost_to {
                Some(holder) => Outcome::OutrankedBy { offer: holder },
                None => Outcome::NothingToApply,
            };
        }
        match self.limit(offer, draft) {
            Err(outcome) => outcome,
            Ok((draft, cut_by_limit)) => {
                let lines_lost_to = draft.lost_to;
                self.commit(offer, draft, exclusive);
                Outcome::Applied {
                    cut_by_limit,
                    lines_lost_to,
                }
            }
        }
    }

    /// The offer's actions on the lines (or event) left to it.
    fn draft(&self, offer: &Offer, exclusive: bool) -> Draft {
        let lines = self.cheque.map_or(&[][..], |c| &c.lines);
        let holder = |i: usize| if exclusive { self.claimed[i] } else { None };
        let whole_cheque_holder = || (0..lines.len()).find_map(holder);
        let key = |action: u16, line: Option<i64>| EffectKey {
            event_id: self.trigger.event_id.clone(),
            offer: offer.id,
            action,
            line,
        };
        let effect = |action: u16, line: Option<i64>, kind: EffectKind| Effect {
            key: key(action, line),
            version: offer.version,
            kind,
        };
        let accrual = |points: i64| EffectKind::Accrue {
            points,
            counted_in: Vec::new(),
        };
        let mut draft = Draft {
            amounts: self.amounts.clone(),
            ..Draft::default()
        };
        for (index, action) in (0..=u16::MAX).zip(&offer.actions) {
            match action {
                Action::Accrue {
                    points:
                        Points::PercentOfLines {
                            lines: filter,
                            bps,
                            of,
                            rounding,
                        },
                } => {
                    let Some(cheque) = self.cheque else {
                        continue;
                    };
                    for (i, line) in lines.iter().enumerate().filter(|(_, l)| filter.matches(l)) {
                        if let Some(other) = holder(i) {
                            draft.lost_to.get_or_insert(other);
                            continue;
                        }
                        let base = self.base(*of, i, draft.amounts[i]);
                        let points = share(base, *bps, cheque, *rounding);
                        draft.lines.insert(i);
                        if points > 0 {
                            draft
                                .effects
                                .push(effect(index, Some(line.position), accrual(points)));
                        }
                    }
                }
                Action::Accrue { points } => {
                    if let Some(other) = whole_cheque_holder() {
                        draft.lost_to.get_or_insert(other);
                        continue;
                    }
                    let points = match points {
                        Points::Fixed { points } => *points,
                        Points::Tiered {
                            first,
                            then,
                            period,
                        } => {
                            let before = self
                                .used(&tier_key(self.customer.id, offer.id, *period, &self.local))
                                .count;
                            usize::try_from(before)
                                .ok()
                                .and_then(|n| first.get(n))
                                .copied()
                                .unwrap_or(*then)
                        }
                        Points::PercentOfCheque { bps, of, rounding } => match self.cheque {
                            Some(cheque) => {
                                let base = (draft.amounts.iter().enumerate())
                                    .map(|(i, amount)| self.base(*of, i, *amount))
                                    .sum();
                                share(base, *bps, cheque, *rounding)
                            }
                            None => continue,
                        },
                        Points::PercentOfLines { .. } => continue,
                    };
                    draft.whole_cheque = true;
                    if points > 0 {
                        draft.effects.push(effect(index, None, accrual(points)));
                    }
                }
                Action::Withdraw { points } => {
                    draft.effects.push(effect(
                        index,
                        None,
                        EffectKind::Withdraw { points: *points },
                    ));
                }
                Action::TakeBack {
                    offer: original_offer,
                    action: original_action,
                } => {
                    for past in &self.trigger.undoes {
                        if past.key.offer != *original_offer
                            || past.key.action != *original_action
                            || past.taken_back
                            || past.points <= 0
                        {
                            continue;
                        }
                        draft.effects.push(effect(
                            index,
                            past.key.line,
                            EffectKind::TakeBack {
                                original: past.key.clone(),
                                points: past.points,
                            },
                        ));
                        draft
                            .usage
                            .extend(past.counted_in.iter().map(|key| UsageChange {
                                key: key.clone(),
                                points: -past.points,
                                count: 0,
                            }));
                    }
                }
                Action::LineDiscount {
                    lines: filter,
                    discount,
                } => {
                    let mut matching = Vec::new();
                    for (i, _) in lines.iter().enumerate().filter(|(_, l)| filter.matches(l)) {
                        match holder(i) {
                            Some(other) => {
                                draft.lost_to.get_or_insert(other);
                            }
                            None => matching.push(i),
                        }
                    }
                    let left: Vec<i64> = matching.iter().map(|i| draft.amounts[*i]).collect();
                    let base: i64 = left.iter().sum();
                    // Parts of a total no larger than `base`, spread by amount, never exceed
                    // their line's amount.
                    let parts = match discount {
                        Discount::Percent { bps, rounding } => allocate(
                            rounding.divide(base as i128 * *bps as i128, 10_000) as i64,
                            &left,
                        ),
                        Discount::Fixed { amount } => allocate((*amount).min(base), &left),
                        Discount::FixedPerLine { amount } => {
                            left.iter().map(|l| (*amount).min(*l)).collect()
                        }
                    };
                    for (i, amount) in matching.into_iter().zip(parts) {
                        draft.lines.insert(i);
                        if amount > 0 {
                            draft.amounts[i] -= amount;
                            draft.effects.push(effect(
                                index,
                                Some(lines[i].position),
                                EffectKind::LineDiscount { amount },
                            ));
                        }
                    }
                }
                Action::PointsPaymentCap { lines: filter, bps } => {
                    for (i, line) in lines.iter().enumerate().filter(|(_, l)| filter.matches(l)) {
                        let amount =
                            Rounding::Down.divide(draft.amounts[i] as i128 * *bps as i128, 10_000);
                        draft.effects.push(effect(
                            index,
                            Some(line.position),
                            EffectKind::PointsPaymentCap {
                                amount: amount as i64,
                            },
                        ));
                    }
                }
                Action::Message { channel, template } => draft.effects.push(effect(
                    index,
                    None,
                    EffectKind::Message {
                        channel: *channel,
                        template: template.clone(),
                    },
                )),
                Action::Subscription { channel, on } => draft.effects.push(effect(
                    index,
                    None,
                    EffectKind::Subscription {
                        channel: *channel,
                        on: *on,
                    },
                )),
                Action::IssueCoupon { series } => draft.effects.push(effect(
                    index,
                    None,
                    EffectKind::IssueCoupon {
                        series: series.clone(),
                    },
                )),
                Action::Counter { name, by } => draft.counters.push((name.clone(), *by)),
            }
        }
        draft
    }

    /// Cuts the draft's accruals to its limits and counts the application in its buckets;
    /// the index of the limit that cut it, if one did.
    fn limit(&self, offer: &Offer, mut draft: Draft) -> Result<(Draft, Option<u16>), Outcome> {
        let accrued = draft.accrued();
        let mut room: Option<(i64, u16)> = None;
        for (index, limit) in (0..=u16::MAX).zip(&offer.limits) {
            let used = self.used(&limit.key(self.customer.id, offer.id, &self.local));
            match limit.cap {
                Cap::Count(cap) if used.count >= cap => {
                    return Err(Outcome::LimitReached { limit: index })
                }
                Cap::Points(cap) if accrued > 0 => {
                    let left = cap.saturating_sub(used.points).max(0);
                    if room.is_none_or(|(smallest, _)| left < smallest) {
                        room = Some((left, index));
                    }
                }
                _ => {}
            }
        }
        let mut cut_by = None;
        if let Some((left, index)) = room.filter(|(left, _)| *left < accrued) {
            if left == 0 {
                return Err(Outcome::LimitReached { limit: index });
            }
            cut_by = Some(index);
            let mut left = left;
            for effect in &mut draft.effects {
                if let EffectKind::Accrue { points, .. } = &mut effect.kind {
                    *points = (*points).min(left);
                    left -= *points;
                }
            }
            draft
                .effects
                .retain(|e| !matches!(e.kind, EffectKind::Accrue { points: 0, .. }));
        }
        let counted_in = counted_in(offer, self.customer.id, &self.local);
        let accrued = draft.accrued();
        for effect in &mut draft.effects {
            if let EffectKind::Accrue {
                counted_in: keys, ..
            } = &mut effect.kind
            {
                keys.extend(counted_in.iter().cloned());
            }
        }
        draft
            .usage
            .extend(counted_in.into_iter().map(|key| UsageChange {
                key,
                points: accrued,
                count: 1,
            }));
        Ok((draft, cut_by))
    }

    fn commit(&mut self, offer: &Offer, draft: Draft, exclusive: bool) {
        if exclusive {
            if self.cheque.is_none() {
                self.event_claimed = Some(offer.id);
            } else if draft.whole_cheque {
                self.claimed.iter_mut().for_each(|c| {
                    c.get_or_insert(offer.id);
                });
            } else {
                for i in draft.lines {
                    self.claimed[i].get_or_insert(offer.id);
                }
            }
        }
        self.amounts = draft.amounts;
        for change in draft.usage {
            let used = self.pending.entry(change.key).or_default();
            used.points = used.points.saturating_add(change.points);
            used.count = used.count.saturating_add(change.count);
        }
        for (name, by) in draft.counters {
            let counter = self.counters.entry(name).or_default();
            *counter = counter.saturating_add(by);
        }
        self.effects.extend(draft.effects);
    }
}
