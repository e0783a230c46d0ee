//! A cheque priced through the engine: Loymax's purchase rules read as offers, and the
//! program's stored cheque offers beside them, evaluated at the cheque's own time. The line
//! discounts, the points payment's caps and the accruals are the effects; `chequeMessage`
//! names the offers that gave them.

use super::action::{Action, Base, Discount, Points};
use super::{ChequeFacts, Customer, EffectKind, Evaluation, Event, Offer, TriggerKind, Usage};
use crate::cheque::{
    self, ChequeError, ChequeLine, DiscountRule, DiscountSize, PricedCheque, PricedLine,
    PurchaseRules,
};
use crate::ids::OfferId;
use crate::money::allocate;
use std::collections::BTreeMap;

/// The id of the offer carrying the program's points payment cap and earn rate. The rules'
/// offers have ids below zero, which stored offers may not take.
pub const PROGRAM_RULES_OFFER: OfferId = OfferId(-1);

/// The program's purchase rules as cumulative cheque offers, read from its settings (never
/// stored: a change of the rules is in force at once, as it always was). They apply in the
/// rules' own order — the discounts, the coupons, then the cap and the earn on what they
/// left — after every stored offer of a higher priority. Ids run up to
/// [`PROGRAM_RULES_OFFER`] in that order, so the ties between them go by id.
pub fn rules_as_offers(rules: &PurchaseRules) -> Vec<Offer> {
    let discount = |rule: &DiscountRule| {
        let discount = match rule.size {
            DiscountSize::Percent(bps) if bps > 0 => Discount::Percent {
                bps: bps.min(10_000),
                rounding: rules.rounding,
            },
            DiscountSize::Fixed(amount) if amount > 0 => Discount::Fixed { amount },
            _ => return None,
        };
        Some(Action::LineDiscount {
            lines: rule.lines.clone(),
            discount,
        })
    };
    let earn = |bps: u32| {
        (bps > 0).then_some(Action::Accrue {
            points: Points::PercentOfCheque {
                bps,
                of: Base::PaidWithMoney,
                rounding: rules.rounding,
            },
        })
    };
    let mut offers: Vec<(String, Vec<Action>, Option<String>)> = Vec::new();
    for rule in &rules.discounts {
        offers.push((
            rule.name.clone(),
            discount(rule).into_iter().collect(),
            None,
        ));
    }
    for coupon in &rules.coupons {
        let actions = coupon
            .discount
            .as_ref()
            .and_then(discount)
            .into_iter()
            .chain(earn(coupon.bonus_bps))
            .collect();
        offers.push((coupon.code.clone(), actions, Some(coupon.code.clone())));
    }
    let base = [Action::PointsPaymentCap {
        lines: cheque::LineFilter::All,
        bps: rules.max_bonus_payment_bps.min(10_000),
    }];
    offers.push((
        "Правила программы".into(),
        base.into_iter().chain(earn(rules.earn_bps)).collect(),
        None,
    ));
    let count = offers.len() as i64;
    (0..)
        .zip(offers)
        .filter(|(_, (_, actions, _))| !actions.is_empty())
        .map(|(k, (name, actions, coupon)): (i64, _)| Offer {
            id: OfferId(k - count),
            version: 1,
            name,
            effective_from: i64::MIN,
            effective_to: None,
            cumulative: true,
            priority: i32::MIN,
            weight: i32::MIN,
            triggers: vec![TriggerKind::Cheque],
            conditions: coupon
                .map(|code| super::Condition::Coupon { code })
                .into_iter()
                .collect(),
            actions,
            limits: Vec::new(),
        })
        .collect()
}

/// What a cheque is priced with: the offers (the rules' and the stored ones), the customer
/// and the usage the limits read, the cheque's own time and the scales of money and points.
#[derive(Debug, Clone)]
pub struct ChequeOffers<'a> {
    pub offers: &'a [Offer],
    pub customer: &'a Customer,
    pub usage: &'a Usage,
    /// The event id the effects are keyed by (the purchase's).
    pub event_id: &'a str,
    /// When the cheque was first calculated: the offers in force then price all of it.
    pub at: i64,
    pub now: i64,
    pub money_decimals: u8,
    pub points_decimals: u8,
}

/// A cheque as the offers priced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChequePricing {
    pub priced: PricedCheque,
    pub evaluation: Evaluation,
}

impl ChequeOffers<'_> {
    /// Prices `lines` with the coupons presented and the points paying each line (by
    /// position; empty before the payment).
    pub fn price(
        &self,
        lines: &[ChequeLine],
        coupons: &[String],
        paid_with_points: BTreeMap<i64, i64>,
    ) -> Result<ChequePricing, ChequeError> {
        cheque::validate(lines)?;
        let trigger = super::Trigger {
            event_id: self.event_id.to_string(),
            at: self.at,
            event: Event::Cheque(ChequeFacts {
                lines: lines.to_vec(),
                coupons: coupons.to_vec(),
                paid_with_points,
                money_decimals: self.money_decimals,
                points_decimals: self.points_decimals,
            }),
            undoes: Vec::new(),
        };
        let evaluation =
            super::evaluate(self.offers, &trigger, self.customer, self.usage, self.now)
                .map_err(|e| ChequeError::Offers(e.to_string()))?;
        Ok(ChequePricing {
            priced: priced(lines, &evaluation, self.offers),
            evaluation,
        })
    }
}

/// The cheque after the evaluation's discounts and caps. A line no offer caps may be paid
/// with points whole; several caps on a line: the smallest holds, and never more than the
/// line costs.
fn priced(lines: &[ChequeLine], evaluation: &Evaluation, offers: &[Offer]) -> PricedCheque {
    let mut discounts: BTreeMap<i64, i64> = BTreeMap::new();
    let mut caps: BTreeMap<i64, i64> = BTreeMap::new();
    for effect in &evaluation.effects {
        let Some(position) = effect.key.line else {
            continue;
        };
        match effect.kind {
            EffectKind::LineDiscount { amount } => {
                *discounts.entry(position).or_default() += amount
            }
            EffectKind::PointsPaymentCap { amount } => {
                let cap = caps.entry(position).or_insert(amount);
                *cap = (*cap).min(amount);
            }
            _ => {}
        }
    }
    let priced: Vec<PricedLine> = lines
        .iter()
        .map(|line| {
            let amount = line.amount - discounts.get(&line.position).copied().unwrap_or(0);
            PricedLine {
                position: line.position,
                amount,
                discount: line.price - amount,
                bonus_cap: caps
                    .get(&line.position)
                    .copied()
                    .unwrap_or(amount)
                    .min(amount),
            }
        })
        .collect();
    PricedCheque {
        total_amount: priced.iter().map(|l| l.amount).sum(),
        total_discount: priced.iter().map(|l| l.discount).sum(),
        bonus_cap: priced.iter().map(|l| l.bonus_cap).sum(),
        lines: priced,
        applied: applied_names(evaluation, offers),
        coupon_bonus_bps: 0,
    }
}

/// The offers that gave the cheque something, in the order they applied, by name — not the
/// program's own cap and earn, which every cheque has.
pub fn applied_names(evaluation: &Evaluation, offers: &[Offer]) -> Vec<String> {
    let mut seen: Vec<OfferId> = Vec::new();
    for effect in &evaluation.effects {
        let id = effect.key.offer;
        if id != PROGRAM_RULES_OFFER && !seen.contains(&id) {
            seen.push(id);
        }
    }
    seen.iter()
        .filter_map(|id| {
            let version = evaluation
                .effects
                .iter()
                .find(|e| e.key.offer == *id)?
                .version;
            offers
                .iter()
                .find(|o| o.id == *id && o.version == version)
                .map(|o| o.name.clone())
        })
        .collect()
}

/// The points the evaluation accrues, per line of `priced`: an accrual on a line goes to it;
/// one on the whole cheque is spread over the lines by the money paid for them, as
/// `cheque::earn` spreads the program's rate.
pub fn earned_per_line(priced: &PricedCheque, evaluation: &Evaluation, paid: &[i64]) -> Vec<i64> {
    let money = priced.paid_with_money(paid);
    let mut earned = vec![0i64; priced.lines.len()];
    for effect in &evaluation.effects {
        let EffectKind::Accrue { points, .. } = effect.kind else {
            continue;
        };
        match effect.key.line {
            Some(position) => {
                if let Some(i) = priced.lines.iter().position(|l| l.position == position) {
                    earned[i] += points;
                }
            }
            None => {
                for (share, part) in earned.iter_mut().zip(allocate(points, &money)) {
                    *share += part;
                }
            }
        }
    }
    earned
}

/// The offers' accruals on a cheque, by offer, largest first: the first is the one History
/// names for the purchase's bonus.
pub fn accruals_by_offer(evaluation: &Evaluation) -> Vec<(OfferId, u32, i64)> {
    let mut by_offer: BTreeMap<OfferId, (u32, i64)> = BTreeMap::new();
    for effect in &evaluation.effects {
        if let EffectKind::Accrue { points, .. } = effect.kind {
            let entry = by_offer
                .entry(effect.key.offer)
                .or_insert((effect.version, 0));
            entry.1 += points;
        }
    }
    let mut list: Vec<(OfferId, u32, i64)> = by_offer
        .into_iter()
        .map(|(id, (v, p))| (id, v, p))
        .collect();
    list.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    list
}

/// Whether an offer asks for the coupon (compared case-insensitively): a coupon the program
/// knows, whatever else it gives.
pub fn offers_know_coupon(offers: &[Offer], code: &str) -> bool {
    offers.iter().any(|o| {
        o.conditions
            .iter()
            .any(|c| matches!(c, super::Condition::Coupon { code: wanted } if wanted.eq_ignore_ascii_case(code)))
    })
}

/// What a cheque must carry for an offer to apply to it: goods, a barcode or a group on a line,
/// or a coupon (upper case).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum IndexKey {
    Goods(String),
    Barcode(String),
    Group(String),
    Coupon(String),
}

impl IndexKey {
    /// The key a version's conditions require, if one does: a `lines` condition on goods, a
    /// barcode or a group, or a `coupon` condition.
    fn required_by(offer: &Offer) -> Option<IndexKey> {
        offer
            .conditions
            .iter()
            .find_map(|condition| match condition {
                super::Condition::Lines { lines, .. } => match lines {
                    cheque::LineFilter::GoodsId(g) => Some(IndexKey::Goods(g.clone())),
                    cheque::LineFilter::Barcode(b) => Some(IndexKey::Barcode(b.clone())),
                    cheque::LineFilter::Group(g) => Some(IndexKey::Group(g.clone())),
                    cheque::LineFilter::All => None,
                },
                super::Condition::Coupon { code } => Some(IndexKey::Coupon(code.to_uppercase())),
                _ => None,
            })
    }
}

/// A program's cheque offers indexed by what a cheque must carry for them to apply, so a
/// cheque evaluates only the offers that can: of a program's hundreds, most target goods,
/// groups or coupons the cheque does not have. An offer's versions go together — under every
/// key they require, or, when one of them requires none, with every cheque.
#[derive(Debug, Clone, Default)]
pub struct ChequeOfferIndex {
    offers: Vec<Offer>,
    always: Vec<usize>,
    keyed: BTreeMap<IndexKey, Vec<usize>>,
}

impl ChequeOfferIndex {
    pub fn new(offers: Vec<Offer>) -> ChequeOfferIndex {
        let mut by_id: BTreeMap<OfferId, Vec<usize>> = BTreeMap::new();
        for (i, offer) in offers.iter().enumerate() {
            by_id.entry(offer.id).or_default().push(i);
        }
        let mut index = ChequeOfferIndex::default();
        for versions in by_id.into_values() {
            let keys: Option<Vec<IndexKey>> = versions
                .iter()
                .map(|i| IndexKey::required_by(&offers[*i]))
                .collect();
            match keys {
                Some(mut keys) => {
                    keys.sort();
                    keys.dedup();
                    for key in keys {
                        index.keyed.entry(key).or_default().extend(&versions);
                    }
                }
                None => index.always.extend(&versions),
            }
        }
        index.offers = offers;
        index
    }

    /// Every offer version that may apply to a cheque of `lines` presenting `coupons`.
    pub fn candidates(&self, lines: &[ChequeLine], coupons: &[String]) -> Vec<Offer> {
        let mut picked: Vec<usize> = self.always.clone();
        let mut keys: Vec<IndexKey> = Vec::new();
        for line in lines {
            keys.extend(line.goods_id.clone().map(IndexKey::Goods));
            keys.extend(line.barcode.clone().map(IndexKey::Barcode));
            keys.extend(line.group.clone().map(IndexKey::Group));
        }
        keys.extend(coupons.iter().map(|c| IndexKey::Coupon(c.to_uppercase())));
        for key in keys {
            if let Some(found) = self.keyed.get(&key) {
                picked.extend(found);
            }
        }
        picked.sort_unstable();
        picked.dedup();
        picked.into_iter().map(|i| self.offers[i].clone()).collect()
    }
}
