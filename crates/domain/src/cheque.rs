//! Pricing a cheque: line discounts, the till's own discount, the largest share payable with
//! points, earning on the money actually paid, coupons, and per-line distribution so that lines
//! always add up exactly to the cheque's totals. Loymax's purchase processing is a client of
//! this; the rules are the program's.

use crate::money::{allocate, Rounding};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One line of a cheque as priced, amounts in minor units: the till's own numbers
/// ([`TillLine::to_line`]), so `price = till_discount + amount` exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChequeLine {
    pub position: i64,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    pub group: Option<String>,
    /// The goods' name, for history's `chequeItems`.
    #[serde(default)]
    pub name: Option<String>,
    /// How many units, in thousandths (weighed goods).
    #[serde(default = "Quantity::one")]
    pub quantity: Quantity,
    /// Catalogue price of the whole line (before any discount).
    pub price: i64,
    /// The till's own discount on the line.
    pub till_discount: i64,
    /// What the line costs after the till's discount.
    pub amount: i64,
}

/// A quantity in thousandths of a unit: weighed goods come with up to three decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quantity(pub i64);

impl Quantity {
    pub const DECIMALS: u8 = 3;

    pub fn one() -> Quantity {
        Quantity(1_000)
    }
}

/// A line as the till describes it: one unit's catalogue price, the quantity, the till's own
/// discount and the line's sum after that discount (`amount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TillLine {
    pub position: i64,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    pub group: Option<String>,
    pub name: Option<String>,
    /// One unit's catalogue price; absent or zero when the till leaves it out (later calls
    /// of a purchase send it as 0).
    pub unit_price: Option<i64>,
    pub quantity: Quantity,
    /// The till's own discount on the whole line; absent: whatever the price leaves.
    pub discount: Option<i64>,
    pub amount: i64,
}

impl TillLine {
    /// The line as priced. The till's `amount` and `discount` are the line's truth (the money
    /// the customer is charged); `unit_price × quantity` must agree with their sum, to within
    /// the till's own rounding of an inexact product (less than one minor unit).
    pub fn to_line(self) -> Result<ChequeLine, ChequeError> {
        let bad = |reason| ChequeError::BadLine {
            position: self.position,
            reason,
        };
        if self.amount < 0 || self.discount.is_some_and(|d| d < 0) {
            return Err(bad("amounts must not be negative"));
        }
        if self.unit_price.is_some_and(|p| p < 0) {
            return Err(bad("price must not be negative"));
        }
        if self.quantity.0 <= 0 {
            return Err(bad("quantity must be positive"));
        }
        // The catalogue sum in thousandths of a minor unit: exact.
        let catalogue_milli = self
            .unit_price
            .filter(|p| *p > 0)
            .map(|p| p as i128 * self.quantity.0 as i128);
        let discount = match (self.discount, catalogue_milli) {
            (Some(d), _) => d,
            (None, None) => 0,
            (None, Some(milli)) => {
                let catalogue = Rounding::HalfUp.divide(milli, 1_000);
                let d = catalogue - self.amount as i128;
                if d < 0 {
                    return Err(bad("amount exceeds price × quantity"));
                }
                d as i64
            }
        };
        let price = self
            .amount
            .checked_add(discount)
            .filter(|p| *p <= MAX_LINE)
            .ok_or_else(|| bad("amount too large"))?;
        if let Some(milli) = catalogue_milli {
            if (price as i128 * 1_000 - milli).abs() >= 1_000 {
                return Err(bad("amount + discount differs from price × quantity"));
            }
        }
        Ok(ChequeLine {
            position: self.position,
            goods_id: self.goods_id,
            barcode: self.barcode,
            group: self.group,
            name: self.name,
            quantity: self.quantity,
            price,
            till_discount: discount,
            amount: self.amount,
        })
    }
}

/// The largest line sum, in minor units: the sums of a cheque's lines never overflow.
pub const MAX_LINE: i64 = 1_000_000_000_000_000;

/// Which lines a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "value")]
pub enum LineFilter {
    All,
    GoodsId(String),
    Barcode(String),
    Group(String),
}

impl LineFilter {
    pub fn matches(&self, line: &ChequeLine) -> bool {
        match self {
            LineFilter::All => true,
            LineFilter::GoodsId(g) => line.goods_id.as_deref() == Some(g),
            LineFilter::Barcode(b) => line.barcode.as_deref() == Some(b),
            LineFilter::Group(g) => line.group.as_deref() == Some(g),
        }
    }
}

/// How much a discount takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountSize {
    /// A share of the matching lines' current amount, in basis points.
    Percent(u32),
    /// A fixed sum spread over the matching lines in proportion to their amounts.
    Fixed(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountRule {
    /// Shown in `chequeMessage` when applied.
    pub name: String,
    pub lines: LineFilter,
    pub size: DiscountSize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponRule {
    /// The coupon number the customer presents, compared case-insensitively.
    pub code: String,
    /// An extra discount the coupon gives.
    #[serde(default)]
    pub discount: Option<DiscountRule>,
    /// Extra points earned on the money paid, in basis points.
    #[serde(default)]
    pub bonus_bps: u32,
}

/// A program's purchase rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PurchaseRules {
    /// Applied in order, each on what the earlier ones left.
    pub discounts: Vec<DiscountRule>,
    /// The largest share of each line payable with points, in basis points.
    pub max_bonus_payment_bps: u32,
    /// Points earned on the money actually paid (not the points-paid part), in basis points.
    pub earn_bps: u32,
    pub coupons: Vec<CouponRule>,
    pub rounding: Rounding,
}

impl Default for PurchaseRules {
    fn default() -> Self {
        PurchaseRules {
            discounts: Vec::new(),
            max_bonus_payment_bps: 10_000,
            earn_bps: 0,
            coupons: Vec::new(),
            rounding: Rounding::HalfUp,
        }
    }
}

impl PurchaseRules {
    /// Whether the rules know the coupon (compared case-insensitively).
    pub fn knows_coupon(&self, code: &str) -> bool {
        self.coupons
            .iter()
            .any(|c| c.code.eq_ignore_ascii_case(code))
    }

    /// The coupons a customer presents, each once, split by whether the rules know them.
    pub fn presented_coupons(&self, presented: &[String]) -> (Vec<String>, Vec<String>) {
        presented_coupons(presented, |code| self.knows_coupon(code))
    }
}

/// The coupons a customer presents, each once (compared case-insensitively, as sent first):
/// those `known`, and the others (ignored, and named to the cashier).
pub fn presented_coupons(
    presented: &[String],
    known: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    let (mut kept, mut unknown): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for code in presented {
        if kept
            .iter()
            .chain(&unknown)
            .any(|c| c.eq_ignore_ascii_case(code))
        {
            continue;
        }
        if known(code) {
            kept.push(code.clone());
        } else {
            unknown.push(code.clone());
        }
    }
    (kept, unknown)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChequeError {
    #[error("the cheque has no lines")]
    Empty,
    #[error("line {position}: {reason}")]
    BadLine { position: i64, reason: &'static str },
    #[error("unknown coupon {0}")]
    UnknownCoupon(String),
    #[error("payment of {requested} exceeds the {available} available")]
    LargePayment { requested: i64, available: i64 },
    #[error("refund of line {position} exceeds what remains of it")]
    RefundTooLarge { position: i64 },
    /// The offers could not evaluate the cheque (its scales, its time).
    #[error("offers: {0}")]
    Offers(String),
}

/// A line after pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub position: i64,
    /// What the line costs after every discount.
    pub amount: i64,
    /// Every discount on the line, the till's included.
    pub discount: i64,
    /// The most points may pay of this line.
    pub bonus_cap: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedCheque {
    pub lines: Vec<PricedLine>,
    pub total_amount: i64,
    pub total_discount: i64,
    /// The most points may pay of the whole cheque (before the customer's balance).
    pub bonus_cap: i64,
    /// Names of the rules and coupons applied, for `chequeMessage`.
    pub applied: Vec<String>,
    /// Extra earn rate from coupons.
    pub coupon_bonus_bps: u32,
}

impl PricedCheque {
    /// The money paid for each line: its amount less the points paying it (`paid`, by line;
    /// missing: none).
    pub fn paid_with_money(&self, paid: &[i64]) -> Vec<i64> {
        self.lines
            .iter()
            .zip(paid.iter().chain(std::iter::repeat(&0)))
            .map(|(l, p)| (l.amount - p).max(0))
            .collect()
    }

    /// The most points the customer can pay: the cap, limited by what they can spend.
    pub fn available(&self, spendable: i64) -> i64 {
        self.bonus_cap.min(spendable.max(0))
    }
}

pub(crate) fn validate(lines: &[ChequeLine]) -> Result<(), ChequeError> {
    if lines.is_empty() {
        return Err(ChequeError::Empty);
    }
    for line in lines {
        let bad = |reason| ChequeError::BadLine {
            position: line.position,
            reason,
        };
        if line.price < 0 || line.till_discount < 0 || line.amount < 0 {
            return Err(bad("amounts must not be negative"));
        }
        if line.amount > line.price {
            return Err(bad("amount exceeds price"));
        }
        if line.price > MAX_LINE {
            return Err(bad("amount too large"));
        }
    }
    Ok(())
}

/// Applies one discount to the lines' current amounts; returns what it took in total.
fn apply_discount(
    amounts: &mut [i64],
    lines: &[ChequeLine],
    rule: &DiscountRule,
    rounding: Rounding,
) -> i64 {
    let weights: Vec<i64> = lines
        .iter()
        .zip(amounts.iter())
        .map(|(l, a)| if rule.lines.matches(l) { *a } else { 0 })
        .collect();
    let base: i64 = weights.iter().sum();
    if base == 0 {
        return 0;
    }
    let total = match rule.size {
        DiscountSize::Percent(bps) => {
            rounding.divide(base as i128 * bps.min(10_000) as i128, 10_000) as i64
        }
        DiscountSize::Fixed(sum) => sum.clamp(0, base),
    };
    let parts = allocate(total, &weights);
    for (amount, part) in amounts.iter_mut().zip(parts) {
        *amount -= part;
    }
    total
}

/// Prices a cheque under `rules` with the coupons presented.
pub fn price(
    lines: &[ChequeLine],
    rules: &PurchaseRules,
    coupons: &[String],
) -> Result<PricedCheque, ChequeError> {
    validate(lines)?;
    let mut amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let mut applied = Vec::new();
    for rule in &rules.discounts {
        if apply_discount(&mut amounts, lines, rule, rules.rounding) > 0 {
            applied.push(rule.name.clone());
        }
    }
    let mut coupon_bonus_bps = 0u32;
    let mut presented: Vec<&str> = Vec::new();
    for code in coupons {
        let coupon = rules
            .coupons
            .iter()
            .find(|c| c.code.eq_ignore_ascii_case(code))
            .ok_or_else(|| ChequeError::UnknownCoupon(code.clone()))?;
        // A coupon listed twice (in any casing) applies once.
        if presented.contains(&coupon.code.as_str()) {
            continue;
        }
        presented.push(&coupon.code);
        if let Some(rule) = &coupon.discount {
            apply_discount(&mut amounts, lines, rule, rules.rounding);
        }
        coupon_bonus_bps = coupon_bonus_bps.saturating_add(coupon.bonus_bps);
        applied.push(coupon.code.clone());
    }
    let priced: Vec<PricedLine> = lines
        .iter()
        .zip(&amounts)
        .map(|(line, amount)| PricedLine {
            position: line.position,
            amount: *amount,
            discount: line.price - amount,
            bonus_cap: Rounding::Down.divide(
                *amount as i128 * rules.max_bonus_payment_bps.min(10_000) as i128,
                10_000,
            ) as i64,
        })
        .collect();
    Ok(PricedCheque {
        total_amount: priced.iter().map(|l| l.amount).sum(),
        total_discount: priced.iter().map(|l| l.discount).sum(),
        bonus_cap: priced.iter().map(|l| l.bonus_cap).sum(),
        lines: priced,
        applied,
        coupon_bonus_bps,
    })
}

/// Spreads a points payment over the lines in proportion to their caps; no line gets more than
/// its cap and the parts sum to `amount`.
pub fn distribute_payment(cheque: &PricedCheque, amount: i64) -> Result<Vec<i64>, ChequeError> {
    if amount < 0 || amount > cheque.bonus_cap {
        return Err(ChequeError::LargePayment {
            requested: amount,
            available: cheque.bonus_cap,
        });
    }
    let caps: Vec<i64> = cheque.lines.iter().map(|l| l.bonus_cap).collect();
    Ok(allocate(amount, &caps))
}

/// Points earned per line on the money paid (line amount less its points payment): the total
/// is rounded once and spread by largest remainder.
pub fn earn(cheque: &PricedCheque, paid_with_points: &[i64], rules: &PurchaseRules) -> Vec<i64> {
    let money = cheque.paid_with_money(paid_with_points);
    let base: i64 = money.iter().sum();
    let bps = rules.earn_bps.saturating_add(cheque.coupon_bonus_bps);
    let total = rules.rounding.divide(base as i128 * bps as i128, 10_000) as i64;
    allocate(total, &money)
}

/// What a refund of part of a line gives back and takes back: `refunded` of the line's
/// `amount`, given the points it was paid with and earned, and what earlier refunds of the
/// line already returned. Proportional, rounded down, and never past what remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRefund {
    /// Points returned to the customer (they had paid them).
    pub points_returned: i64,
    /// Points taken back (they had earned them).
    pub points_reclaimed: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineHistory {
    pub amount: i64,
    pub paid_with_points: i64,
    pub earned: i64,
    /// Money amount already refunded, points already returned and reclaimed.
    pub refunded: i64,
    pub returned: i64,
    pub reclaimed: i64,
}

pub fn refund_line(
    position: i64,
    line: &LineHistory,
    refund_amount: i64,
) -> Result<LineRefund, ChequeError> {
    let remaining = line.amount - line.refunded;
    if refund_amount <= 0 || refund_amount > remaining {
        return Err(ChequeError::RefundTooLarge { position });
    }
    // Cumulative shares, so a line refunded in parts returns exactly what it would whole.
    let share = |total: i64, refunded_after: i64| -> i64 {
        if line.amount == 0 {
            return 0;
        }
        Rounding::Down.divide(total as i128 * refunded_after as i128, line.amount as i128) as i64
    };
    let after = line.refunded + refund_amount;
    let (returned_after, reclaimed_after) = if after == line.amount {
        (line.paid_with_points, line.earned)
    } else {
        (
            share(line.paid_with_points, after),
            share(line.earned, after),
        )
    };
    Ok(LineRefund {
        points_returned: (returned_after - line.returned).max(0),
        points_reclaimed: (reclaimed_after - line.reclaimed).max(0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The seed's example line (Loymax processing prices the same cheque).
    pub(crate) fn seed_line() -> ChequeLine {
        ChequeLine {
            position: 1,
            goods_id: Some("0036961".into()),
            barcode: Some("8765653477".into()),
            group: None,
            name: Some("Товар100".into()),
            quantity: Quantity::one(),
            price: 10_000,
            till_discount: 1_500,
            amount: 8_500,
        }
    }

    pub(crate) fn demo_rules() -> PurchaseRules {
        PurchaseRules {
            discounts: vec![DiscountRule {
                name: "Скидка программы 10%".into(),
                lines: LineFilter::All,
                size: DiscountSize::Percent(1_000),
            }],
            max_bonus_payment_bps: 5_000,
            earn_bps: 1_000,
            coupons: vec![CouponRule {
                code: "WELCOME10".into(),
                discount: Some(DiscountRule {
                    name: "WELCOME10".into(),
                    lines: LineFilter::All,
                    size: DiscountSize::Percent(1_000),
                }),
                bonus_bps: 0,
            }],
            rounding: Rounding::HalfUp,
        }
    }

    #[test]
    fn the_seed_cheque_prices_as_documented() {
        let cheque = price(&[seed_line()], &demo_rules(), &[]).unwrap();
        assert_eq!(cheque.total_amount, 7_650);
        assert_eq!(cheque.total_discount, 2_350);
        assert_eq!(cheque.available(1_000_000), 3_825);
        assert_eq!(distribute_payment(&cheque, 3_650).unwrap(), vec![3_650]);
        assert_eq!(earn(&cheque, &[3_650], &demo_rules()), vec![400]);
    }

    #[test]
    fn coupons_add_their_discount_once() {
        let cheque = price(&[seed_line()], &demo_rules(), &["welcome10".into()]).unwrap();
        assert_eq!(cheque.total_amount, 6_885);
        let twice = ["WELCOME10".into(), "welcome10".into()];
        assert_eq!(
            price(&[seed_line()], &demo_rules(), &twice).unwrap(),
            cheque
        );
        assert!(price(&[seed_line()], &demo_rules(), &["NOPE".into()]).is_err());
        let presented: Vec<String> = ["welcome10", "X", "WELCOME10", "x"]
            .map(String::from)
            .into();
        assert_eq!(
            demo_rules().presented_coupons(&presented),
            (vec!["welcome10".to_string()], vec!["X".to_string()])
        );
    }

    fn till(
        unit_price: Option<i64>,
        quantity: i64,
        discount: Option<i64>,
        amount: i64,
    ) -> TillLine {
        TillLine {
            position: 1,
            goods_id: None,
            barcode: None,
            group: None,
            name: None,
            unit_price,
            quantity: Quantity(quantity),
            discount,
            amount,
        }
    }

    #[test]
    fn a_line_is_one_units_price_times_its_quantity() {
        // 2 × 100 with the till's discount of 30: 170.
        let two = till(Some(10_000), 2_000, Some(3_000), 17_000)
            .to_line()
            .unwrap();
        assert_eq!(
            (two.price, two.till_discount, two.amount),
            (20_000, 3_000, 17_000)
        );
        // 0.342 kg at 500, no discount: 171, and the program's 10 % is 17.1.
        let weighed = till(Some(50_000), 342, Some(0), 17_100).to_line().unwrap();
        let cheque = price(&[weighed], &demo_rules(), &[]).unwrap();
        assert_eq!(
            (cheque.total_amount, cheque.total_discount),
            (15_390, 1_710)
        );
        // The discount left out is what the price leaves.
        let implied = till(Some(10_000), 2_000, None, 17_000).to_line().unwrap();
        assert_eq!(implied.till_discount, 3_000);
        // Later calls send the price as 0: the line is amount + discount.
        let later = till(Some(0), 1_000, None, 7_650).to_line().unwrap();
        assert_eq!((later.price, later.till_discount), (7_650, 0));
        // An inexact product may be rounded either way by the till, no further.
        assert!(till(Some(199), 333, Some(0), 66).to_line().is_ok());
        assert!(till(Some(199), 333, Some(0), 67).to_line().is_ok());
        assert!(till(Some(199), 333, Some(0), 65).to_line().is_err());
        assert!(till(Some(10_000), 2_000, Some(3_000), 17_001)
            .to_line()
            .is_err());
        assert!(till(Some(10_000), 2_000, None, 20_001).to_line().is_err());
        assert!(till(Some(10_000), 0, None, 0).to_line().is_err());
        assert!(till(None, 1_000, Some(i64::MAX), 1).to_line().is_err());
    }

    #[test]
    fn refunds_in_parts_return_exactly_the_whole() {
        let mut line = LineHistory {
            amount: 1_000,
            paid_with_points: 333,
            earned: 67,
            refunded: 0,
            returned: 0,
            reclaimed: 0,
        };
        for part in [300, 300, 400] {
            let r = refund_line(1, &line, part).unwrap();
            line.refunded += part;
            line.returned += r.points_returned;
            line.reclaimed += r.points_reclaimed;
        }
        assert_eq!((line.returned, line.reclaimed), (333, 67));
        assert!(refund_line(1, &line, 1).is_err());
    }

    fn line_strategy() -> impl Strategy<Value = ChequeLine> {
        (1i64..1_000_000, 0i64..100).prop_map(|(price, pct)| {
            let till = price * pct / 200;
            ChequeLine {
                position: 0,
                goods_id: None,
                barcode: None,
                group: Some(if pct % 2 == 0 { "even" } else { "odd" }.into()),
                name: None,
                quantity: Quantity::one(),
                price,
                till_discount: till,
                amount: price - till,
            }
        })
    }

    proptest! {
        /// A line of any unit price and quantity, with any discount of the till's, prices
        /// exactly: the till's amount is kept, every discount is accounted for, and the
        /// cheque's totals are the sums of its lines.
        #[test]
        fn any_quantity_prices_exactly(
            lines in proptest::collection::vec(
                (0i64..10_000_000, 1i64..1_000_000, 0u32..=10_000, any::<bool>(), any::<bool>()),
                1..8,
            ),
            pct in 0u32..=10_000,
        ) {
            let mut sent = Vec::new();
            for (i, (unit, qty, share, round_down, send_discount)) in lines.into_iter().enumerate() {
                let exact = unit as i128 * qty as i128;
                let catalogue = if round_down {
                    Rounding::Down.divide(exact, 1_000)
                } else {
                    Rounding::HalfUp.divide(exact, 1_000)
                } as i64;
                let discount = (catalogue as i128 * share as i128 / 10_000) as i64;
                let line = TillLine {
                    position: i as i64 + 1,
                    discount: send_discount.then_some(discount),
                    amount: catalogue - discount,
                    ..till(Some(unit), qty, None, 0)
                }
                .to_line()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(line.amount, catalogue - discount);
                prop_assert_eq!(line.price, line.amount + line.till_discount);
                sent.push(line);
            }
            let rules = PurchaseRules {
                discounts: vec![DiscountRule { name: "p".into(), lines: LineFilter::All, size: DiscountSize::Percent(pct) }],
                ..PurchaseRules::default()
            };
            let cheque = price(&sent, &rules, &[]).unwrap();
            prop_assert_eq!(cheque.lines.iter().map(|l| l.amount).sum::<i64>(), cheque.total_amount);
            prop_assert_eq!(cheque.lines.iter().map(|l| l.discount).sum::<i64>(), cheque.total_discount);
            for (line, priced) in sent.iter().zip(&cheque.lines) {
                prop_assert_eq!(priced.amount + priced.discount, line.price);
                prop_assert!(priced.discount >= line.till_discount);
            }
        }

        #[test]
        fn lines_always_add_up(
            lines in proptest::collection::vec(line_strategy(), 1..12),
            pct in 0u32..10_000,
            fixed in 0i64..100_000,
            cap in 0u32..=10_000,
            earn_bps in 0u32..5_000,
            pay_share in 0u32..=10_000,
            balance in 0i64..10_000_000,
        ) {
            let rules = PurchaseRules {
                discounts: vec![
                    DiscountRule { name: "p".into(), lines: LineFilter::Group("even".into()), size: DiscountSize::Percent(pct) },
                    DiscountRule { name: "f".into(), lines: LineFilter::All, size: DiscountSize::Fixed(fixed) },
                ],
                max_bonus_payment_bps: cap,
                earn_bps,
                ..PurchaseRules::default()
            };
            let cheque = price(&lines, &rules, &[]).unwrap();
            prop_assert_eq!(cheque.lines.iter().map(|l| l.amount).sum::<i64>(), cheque.total_amount);
            prop_assert_eq!(cheque.lines.iter().map(|l| l.discount).sum::<i64>(), cheque.total_discount);
            prop_assert_eq!(cheque.total_amount + cheque.total_discount, lines.iter().map(|l| l.price).sum::<i64>());
            for l in &cheque.lines {
                prop_assert!(l.amount >= 0);
            }
            let available = cheque.available(balance);
            prop_assert!(available <= balance);
            prop_assert!(available as i128 <= cheque.total_amount as i128 * cap as i128 / 10_000);
            let pay = available as i128 * pay_share as i128 / 10_000;
            let parts = distribute_payment(&cheque, pay as i64).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), pay as i64);
            for (p, l) in parts.iter().zip(&cheque.lines) {
                prop_assert!(*p <= l.bonus_cap);
            }
            let earned = earn(&cheque, &parts, &rules);
            let money: i64 = cheque.total_amount - pay as i64;
            let expected = Rounding::HalfUp.divide(money as i128 * earn_bps as i128, 10_000) as i64;
            prop_assert_eq!(earned.iter().sum::<i64>(), expected, "earn only on money paid");
            prop_assert!(distribute_payment(&cheque, cheque.bonus_cap + 1).is_err());
        }
    }
}
