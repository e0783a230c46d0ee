//! Loymax purchase processing (seed 001, "Покупка с использованием API"): the state machine of
//! one purchase — Calculated → Paid (points held) → Accounted (bonus computed) → Confirmed |
//! Cancelled, then refunds — and the decisions each method takes, in Loymax's `code` names.
//! Pricing itself is `cheque`'s; this file says which call may come when and what it does to
//! the purchase.

use crate::cheque::{self, ChequeLine, LineHistory, PricedCheque, PurchaseRules};
use crate::offers::{earned_per_line, ChequeOffers, Evaluation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A program's processing settings: `settings.loymax_processing` of the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingSettings {
    pub rules: PurchaseRules,
    /// Whether Payment must carry the customer's spend PIN (`pinCode`).
    pub pin_required: bool,
    /// How long a purchase may stay unconfirmed before it is cancelled and its hold released.
    pub unconfirmed_ttl_minutes: u32,
    /// Batch API lifetime definitions (`lifeTimeDefinitionExternalId`) → days points live
    /// (`None`: forever). Absent ids use the program's lifetime.
    pub lifetimes: BTreeMap<String, Option<u32>>,
}

impl Default for ProcessingSettings {
    fn default() -> Self {
        ProcessingSettings {
            rules: PurchaseRules::default(),
            pin_required: false,
            unconfirmed_ttl_minutes: 60,
            lifetimes: BTreeMap::new(),
        }
    }
}

impl ProcessingSettings {
    pub const KEY: &'static str = "loymax_processing";

    /// Reads the settings from a program's settings object; absent means the defaults.
    pub fn from_program(settings: &serde_json::Value) -> Result<ProcessingSettings, String> {
        match settings.get(Self::KEY) {
            None | Some(serde_json::Value::Null) => Ok(ProcessingSettings::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
        }
    }

    pub fn unconfirmed_ttl_ms(&self) -> i64 {
        self.unconfirmed_ttl_minutes.max(1) as i64 * 60_000
    }
}

/// Loymax's processing answer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Code {
    Ok,
    NotEnoughMoney,
    LargePaymentAmount,
    #[serde(rename = "NotUniqueOperationID")]
    NotUniqueOperationId,
    OperationNotFound,
    OperationIsConfirmed,
    OperationIsCanceled,
    WrongPin,
    CardNotFound,
    CardBlocked,
    PurchaseNotFound,
    DifferentCheque,
    IncorrectOperationOrder,
    ConfirmedPurchaseOperation,
    PurchaseExtraPayment,
    CouponsException,
    BusinessError,
    /// Sic: Loymax's spelling.
    RequereFieldException,
    SystemError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "Ok",
            Code::NotEnoughMoney => "NotEnoughMoney",
            Code::LargePaymentAmount => "LargePaymentAmount",
            Code::NotUniqueOperationId => "NotUniqueOperationID",
            Code::OperationNotFound => "OperationNotFound",
            Code::OperationIsConfirmed => "OperationIsConfirmed",
            Code::OperationIsCanceled => "OperationIsCanceled",
            Code::WrongPin => "WrongPin",
            Code::CardNotFound => "CardNotFound",
            Code::CardBlocked => "CardBlocked",
            Code::PurchaseNotFound => "PurchaseNotFound",
            Code::DifferentCheque => "DifferentCheque",
            Code::IncorrectOperationOrder => "IncorrectOperationOrder",
            Code::ConfirmedPurchaseOperation => "ConfirmedPurchaseOperation",
            Code::PurchaseExtraPayment => "PurchaseExtraPayment",
            Code::CouponsException => "CouponsException",
            Code::BusinessError => "BusinessError",
            Code::RequereFieldException => "RequereFieldException",
            Code::SystemError => "SystemError",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseState {
    /// Priced; nothing held.
    Calculated,
    /// Points held for the payment.
    Paid,
    /// Bonus computed on the money paid; waiting for Confirm.
    Accounted,
    Confirmed,
    Cancelled,
}

impl PurchaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseState::Calculated => "calculated",
            PurchaseState::Paid => "paid",
            PurchaseState::Accounted => "accounted",
            PurchaseState::Confirmed => "confirmed",
            PurchaseState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<PurchaseState> {
        Some(match text {
            "calculated" => PurchaseState::Calculated,
            "paid" => PurchaseState::Paid,
            "accounted" => PurchaseState::Accounted,
            "confirmed" => PurchaseState::Confirmed,
            "cancelled" => PurchaseState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the purchase still waits for Confirm (and expires if it never comes).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            PurchaseState::Calculated | PurchaseState::Paid | PurchaseState::Accounted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Calculate,
    Available,
    Payment,
    Bonus,
    Confirm,
    Cancel,
    Refund,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Calculate => "calculate",
            Method::Available => "available",
            Method::Payment => "payment",
            Method::Bonus => "bonus",
            Method::Confirm => "confirm",
            Method::Cancel => "cancel",
            Method::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        Some(match text {
            "calculate" => Method::Calculate,
            "available" => Method::Available,
            "payment" => Method::Payment,
            "bonus" => Method::Bonus,
            "confirm" => Method::Confirm,
            "cancel" => Method::Cancel,
            "refund" => Method::Refund,
            _ => return None,
        })
    }
}

/// Whether `method` may run on a purchase in `state` (`None`: no such purchase yet). The
/// seed's order is Calculate → (Available) → (Payment) → Bonus → Confirm, then Refund; Cancel
/// any time before it is cancelled.
pub fn check_order(state: Option<PurchaseState>, method: Method) -> Result<(), Code> {
    use Method as M;
    use PurchaseState as S;
    match (state, method) {
        (None | Some(S::Calculated), M::Calculate) => Ok(()),
        (Some(S::Calculated), M::Available | M::Payment) => Ok(()),
        (Some(S::Calculated | S::Paid), M::Bonus) => Ok(()),
        (Some(S::Accounted), M::Confirm) => Ok(()),
        (Some(S::Calculated | S::Paid | S::Accounted | S::Confirmed), M::Cancel) => Ok(()),
        (Some(S::Confirmed), M::Refund) => Ok(()),
        (None, M::Available | M::Payment | M::Bonus) => Err(Code::IncorrectOperationOrder),
        (None, _) => Err(Code::PurchaseNotFound),
        (Some(S::Cancelled), _) => Err(Code::OperationIsCanceled),
        (Some(S::Confirmed), M::Confirm) => Err(Code::OperationIsConfirmed),
        (Some(S::Confirmed), _) => Err(Code::ConfirmedPurchaseOperation),
        (Some(S::Paid | S::Accounted), M::Payment) => Err(Code::PurchaseExtraPayment),
        _ => Err(Code::IncorrectOperationOrder),
    }
}

/// A purchase as kept between calls: the cheque as calculated, the payment, the bonus, and
/// what refunds returned per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub state: PurchaseState,
    pub lines: Vec<ChequeLine>,
    pub coupons: Vec<String>,
    pub priced: PricedCheque,
    /// Points paid (held, then redeemed), per line.
    pub paid: Vec<i64>,
    /// Points earned, per line.
    pub earned: Vec<i64>,
    /// Money refunded, points returned and points reclaimed, per line.
    pub refunded: Vec<i64>,
    pub returned: Vec<i64>,
    pub reclaimed: Vec<i64>,
    /// `operationId`s cancelled one by one (`Operations/{operationId}/Cancel`).
    #[serde(default)]
    pub cancelled_operations: Vec<String>,
    /// The cheque's number at the till, as the Calculate sent it.
    #[serde(default)]
    pub cheque_number: Option<String>,
    /// The codes of coupons offers issued to the customer that the cheque presents (priced as
    /// their series in `coupons`): the confirmation uses them up.
    #[serde(default)]
    pub issued_coupons: Vec<String>,
}

impl Purchase {
    /// Prices a cheque through the offers in force at its time: the start of a purchase (or a
    /// fresh Calculate of one not yet paid).
    pub fn calculate(
        lines: Vec<ChequeLine>,
        coupons: Vec<String>,
        offers: &ChequeOffers,
    ) -> Result<Purchase, Code> {
        let priced = offers
            .price(&lines, &coupons, BTreeMap::new())
            .map_err(|_| Code::BusinessError)?
            .priced;
        let n = lines.len();
        Ok(Purchase {
            state: PurchaseState::Calculated,
            lines,
            coupons,
            priced,
            paid: vec![0; n],
            earned: vec![0; n],
            refunded: vec![0; n],
            returned: vec![0; n],
            reclaimed: vec![0; n],
            cancelled_operations: Vec::new(),
            cheque_number: None,
            issued_coupons: Vec::new(),
        })
    }

    pub fn payment_total(&self) -> i64 {
        self.paid.iter().sum()
    }

    pub fn earned_total(&self) -> i64 {
        self.earned.iter().sum()
    }

    /// Whether a later call's cheque is the one calculated: the same positions, each line's
    /// amount either the calculated one (after our discounts) or the one first sent.
    pub fn same_cheque(&self, sent: &[ChequeLine]) -> bool {
        sent.len() == self.lines.len()
            && sent.iter().all(|s| {
                self.lines.iter().zip(&self.priced.lines).any(|(l, p)| {
                    l.position == s.position && (s.amount == p.amount || s.amount == l.amount)
                })
            })
    }

    /// Places the payment: `amount` points within the cap and what the customer can spend.
    pub fn pay(&mut self, amount: i64, spendable: i64) -> Result<Vec<Booking>, Code> {
        if amount <= 0 {
            return Err(Code::RequereFieldException);
        }
        if amount > self.priced.bonus_cap {
            return Err(Code::LargePaymentAmount);
        }
        if amount > spendable {
            return Err(Code::NotEnoughMoney);
        }
        self.paid = cheque::distribute_payment(&self.priced, amount)
            .map_err(|_| Code::LargePaymentAmount)?;
        self.state = PurchaseState::Paid;
        Ok(vec![Booking::Hold(amount)])
    }

    /// Computes the bonus on the money paid: the offers evaluated with the points paying each
    /// line. `loymax_paid` is what the till says points paid (its `pays` of type Loymax): it
    /// must be the payment placed. The evaluation is what the offers give.
    pub fn account(&mut self, loymax_paid: i64, offers: &ChequeOffers) -> Result<Evaluation, Code> {
        if loymax_paid != self.payment_total() {
            return Err(Code::DifferentCheque);
        }
        let evaluation = self.evaluate_paid(offers)?;
        self.take_earned(&evaluation);
        self.state = PurchaseState::Accounted;
        Ok(evaluation)
    }

    /// The offers evaluated on the cheque as calculated, with its payment.
    pub fn evaluate_paid(&self, offers: &ChequeOffers) -> Result<Evaluation, Code> {
        let paid = self
            .lines
            .iter()
            .zip(&self.paid)
            .filter(|(_, p)| **p > 0)
            .map(|(l, p)| (l.position, *p))
            .collect();
        offers
            .price(&self.lines, &self.coupons, paid)
            .map(|pricing| pricing.evaluation)
            .map_err(|_| Code::BusinessError)
    }

    /// Takes the bonus per line from what the offers accrue.
    pub fn take_earned(&mut self, evaluation: &Evaluation) {
        self.earned = earned_per_line(&self.priced, evaluation, &self.paid);
    }

    /// Confirms the purchase: the payment's hold is committed and the bonus credited.
    pub fn confirm(&mut self) -> Vec<Booking> {
        let mut bookings = Vec::new();
        if self.payment_total() > 0 {
            bookings.push(Booking::ConfirmHold);
        }
        if self.earned_total() > 0 {
            bookings.push(Booking::Earn(self.earned_total()));
        }
        self.state = PurchaseState::Confirmed;
        bookings
    }

    /// Cancels the purchase: an open one releases its hold; a confirmed one gives back what
    /// remains of its payment and takes back what remains of its bonus, as far as the
    /// customer can still spend it (`spendable` before anything is given back).
    pub fn cancel(&mut self, spendable: i64) -> Vec<Booking> {
        let bookings = if self.state == PurchaseState::Confirmed {
            let returned: Vec<i64> = (0..self.lines.len())
                .map(|i| self.paid[i] - self.returned[i])
                .collect();
            let reclaimed: Vec<i64> = (0..self.lines.len())
                .map(|i| self.earned[i] - self.reclaimed[i])
                .collect();
            for (refunded, line) in self.refunded.iter_mut().zip(&self.priced.lines) {
                *refunded = line.amount;
            }
            self.reverse(&returned, &reclaimed, spendable)
        } else if self.payment_total() > 0 {
            vec![Booking::VoidHold]
        } else {
            Vec::new()
        };
        self.state = PurchaseState::Cancelled;
        bookings
    }

    /// Cancels one earlier operation of the purchase (`Operations/{operationId}/Cancel`),
    /// named by its `operationId` and the method it was.
    pub fn cancel_operation(
        &mut self,
        operation_id: &str,
        method: Method,
        spendable: i64,
    ) -> Result<Vec<Booking>, Code> {
        if self.state == PurchaseState::Cancelled
            || self.cancelled_operations.iter().any(|o| o == operation_id)
        {
            return Err(Code::OperationIsCanceled);
        }
        let bookings = match (method, self.state) {
            (Method::Payment, PurchaseState::Paid | PurchaseState::Accounted) => {
                let bookings = if self.payment_total() > 0 {
                    vec![Booking::VoidHold]
                } else {
                    Vec::new()
                };
                self.paid = vec![0; self.lines.len()];
                self.earned = vec![0; self.lines.len()];
                self.state = PurchaseState::Calculated;
                bookings
            }
            (Method::Bonus, PurchaseState::Accounted) => {
                self.earned = vec![0; self.lines.len()];
                self.state = if self.payment_total() > 0 {
                    PurchaseState::Paid
                } else {
                    PurchaseState::Calculated
                };
                Vec::new()
            }
            (Method::Calculate | Method::Confirm, _) => self.cancel(spendable),
            (_, PurchaseState::Confirmed) => return Err(Code::ConfirmedPurchaseOperation),
            _ => return Err(Code::IncorrectOperationOrder),
        };
        self.cancelled_operations.push(operation_id.to_string());
        Ok(bookings)
    }

    /// Refunds `requests` (position, money amount; `None`: all that remains of every line):
    /// per line, the points paid come back and the points earned are taken back in
    /// proportion, never more than was given; of the points earned, only what the customer
    /// can still spend (`spendable` before the refund, plus what it gives back) is taken
    /// back, and only what is taken is recorded as reclaimed: a later refund or cancel of
    /// the purchase may take the rest.
    pub fn refund(
        &mut self,
        requests: Option<&[(i64, i64)]>,
        spendable: i64,
    ) -> Result<Vec<Booking>, Code> {
        let wanted: Vec<(usize, i64)> = match requests {
            None => (0..self.lines.len())
                .filter(|&i| self.priced.lines[i].amount > self.refunded[i])
                .map(|i| (i, self.priced.lines[i].amount - self.refunded[i]))
                .collect(),
            Some(list) => {
                let mut out = Vec::new();
                for (position, amount) in list {
                    let i = self
                        .lines
                        .iter()
                        .position(|l| l.position == *position)
                        .ok_or(Code::DifferentCheque)?;
                    out.push((i, *amount));
                }
                out
            }
        };
        if wanted.is_empty() {
            return Err(Code::BusinessError);
        }
        let mut next = self.clone();
        let mut returned = vec![0; self.lines.len()];
        let mut reclaimed = vec![0; self.lines.len()];
        for (i, amount) in wanted {
            let history = LineHistory {
                amount: next.priced.lines[i].amount,
                paid_with_points: next.paid[i],
                earned: next.earned[i],
                refunded: next.refunded[i],
                returned: next.returned[i] + returned[i],
                reclaimed: next.reclaimed[i] + reclaimed[i],
            };
            let r = cheque::refund_line(next.lines[i].position, &history, amount)
                .map_err(|_| Code::BusinessError)?;
            next.refunded[i] += amount;
            returned[i] += r.points_returned;
            reclaimed[i] += r.points_reclaimed;
        }
        let bookings = next.reverse(&returned, &reclaimed, spendable);
        *self = next;
        Ok(bookings)
    }

    /// Gives back `returned` of the payment and takes back up to `reclaimed` of the bonus
    /// (per line), the bonus capped at what the customer can spend once the payment is back;
    /// records what is actually moved.
    fn reverse(&mut self, returned: &[i64], reclaimed: &[i64], spendable: i64) -> Vec<Booking> {
        let returned_total: i64 = returned.iter().sum();
        let wanted: i64 = reclaimed.iter().sum();
        let taken = wanted.min((spendable + returned_total).max(0));
        let taken_by_line = crate::money::allocate(taken, reclaimed);
        for i in 0..self.lines.len() {
            self.returned[i] += returned[i];
            self.reclaimed[i] += taken_by_line[i];
        }
        let mut bookings = Vec::new();
        if returned_total > 0 {
            bookings.push(Booking::ReturnPayment(returned_total));
        }
        if taken > 0 {
            bookings.push(Booking::ReclaimBonus(taken));
        }
        bookings
    }

    /// Money not yet refunded, per line: what a cancel of the confirmed purchase refunds.
    pub fn unrefunded(&self) -> Vec<i64> {
        if self.state != PurchaseState::Confirmed {
            return vec![0; self.lines.len()];
        }
        self.priced
            .lines
            .iter()
            .zip(&self.refunded)
            .map(|(l, r)| l.amount - r)
            .collect()
    }

    /// Whether nothing of the confirmed cheque is left: cancelled, or every line refunded.
    pub fn wholly_refunded(&self) -> bool {
        self.state == PurchaseState::Cancelled
            || self
                .priced
                .lines
                .iter()
                .zip(&self.refunded)
                .all(|(line, refunded)| *refunded >= line.amount)
    }

    /// Points given back (paid) and taken back (earned) so far.
    pub fn reversed_totals(&self) -> (i64, i64) {
        (self.returned.iter().sum(), self.reclaimed.iter().sum())
    }
}

/// A points movement a transition asks for; the processing module books it in the ledger on
/// the purchase's own operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booking {
    /// Hold the payment (points set aside until Confirm).
    Hold(i64),
    /// Commit the payment's hold.
    ConfirmHold,
    /// Release the payment's hold.
    VoidHold,
    /// Credit the bonus.
    Earn(i64),
    /// Give back this much of the confirmed payment.
    ReturnPayment(i64),
    /// Take back this much of the credited bonus.
    ReclaimBonus(i64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cheque::tests::seed_line;
    use crate::cheque::CouponRule;
    use crate::offers::{rules_as_offers, Customer, Offer, Usage};
    use proptest::prelude::*;

    /// The rules as the offers a purchase is priced with.
    struct Pricing {
        offers: Vec<Offer>,
        customer: Customer,
        usage: Usage,
    }

    impl Pricing {
        fn of(rules: &PurchaseRules) -> Pricing {
            Pricing {
                offers: rules_as_offers(rules),
                customer: Customer::default(),
                usage: Usage::default(),
            }
        }

        fn offers(&self) -> ChequeOffers<'_> {
            ChequeOffers {
                offers: &self.offers,
                customer: &self.customer,
                usage: &self.usage,
                event_id: "purchase",
                at: 0,
                now: 0,
                money_decimals: 2,
                points_decimals: 2,
            }
        }
    }

    /// The cheque tests' rules with a coupon that grants nothing itself.
    fn demo_rules() -> PurchaseRules {
        PurchaseRules {
            coupons: vec![CouponRule {
                code: "WELCOME10".into(),
                discount: None,
                bonus_bps: 0,
            }],
            ..crate::cheque::tests::demo_rules()
        }
    }

    #[test]
    fn the_seed_flow() {
        let rules = demo_rules();
        let mut p =
            Purchase::calculate(vec![seed_line()], vec![], &Pricing::of(&rules).offers()).unwrap();
        assert_eq!(p.priced.total_amount, 7_650);
        let mut sent = seed_line();
        sent.amount = 7_650;
        assert!(p.same_cheque(&[sent.clone()]));
        sent.amount = 7_000;
        assert!(!p.same_cheque(&[sent]));
        assert_eq!(p.pay(3_826, 1_000_000), Err(Code::LargePaymentAmount));
        assert_eq!(p.pay(3_650, 3_000), Err(Code::NotEnoughMoney));
        p.pay(3_650, 1_000_000).unwrap();
        assert_eq!(p.paid, vec![3_650]);
        assert_eq!(
            p.account(3_000, &Pricing::of(&rules).offers()),
            Err(Code::DifferentCheque)
        );
        p.account(3_650, &Pricing::of(&rules).offers()).unwrap();
        assert_eq!(p.earned, vec![400]);
    }

    #[test]
    fn the_order_is_enforced() {
        use Method as M;
        use PurchaseState as S;
        assert_eq!(
            check_order(None, M::Payment),
            Err(Code::IncorrectOperationOrder)
        );
        assert_eq!(check_order(None, M::Confirm), Err(Code::PurchaseNotFound));
        assert_eq!(
            check_order(Some(S::Calculated), M::Confirm),
            Err(Code::IncorrectOperationOrder)
        );
        assert_eq!(
            check_order(Some(S::Paid), M::Payment),
            Err(Code::PurchaseExtraPayment)
        );
        assert_eq!(
            check_order(Some(S::Paid), M::Confirm),
            Err(Code::IncorrectOperationOrder)
        );
        assert_eq!(
            check_order(Some(S::Accounted), M::Refund),
            Err(Code::IncorrectOperationOrder)
        );
        assert_eq!(
            check_order(Some(S::Confirmed), M::Confirm),
            Err(Code::OperationIsConfirmed)
        );
        assert_eq!(
            check_order(Some(S::Confirmed), M::Payment),
            Err(Code::ConfirmedPurchaseOperation)
        );
        assert_eq!(
            check_order(Some(S::Cancelled), M::Cancel),
            Err(Code::OperationIsCanceled)
        );
        assert_eq!(check_order(Some(S::Accounted), M::Confirm), Ok(()));
        assert_eq!(check_order(Some(S::Confirmed), M::Refund), Ok(()));
    }

    fn line(position: i64, price: i64) -> ChequeLine {
        ChequeLine {
            position,
            goods_id: None,
            barcode: None,
            group: None,
            name: None,
            quantity: crate::cheque::Quantity::one(),
            price,
            till_discount: 0,
            amount: price,
        }
    }

    /// A confirmed purchase of `prices` paid `pay_share` of its cap with points.
    fn confirmed(prices: &[i64], pay_share: u32) -> Purchase {
        let rules = demo_rules();
        let lines = prices
            .iter()
            .enumerate()
            .map(|(i, p)| line(i as i64 + 1, *p))
            .collect();
        let mut p = Purchase::calculate(lines, vec![], &Pricing::of(&rules).offers()).unwrap();
        let pay = (p.priced.bonus_cap as i128 * pay_share as i128 / 10_000) as i64;
        if pay > 0 {
            assert_eq!(p.pay(pay, i64::MAX).unwrap(), vec![Booking::Hold(pay)]);
        }
        p.account(pay, &Pricing::of(&rules).offers()).unwrap();
        p.confirm();
        p
    }

    /// Sums what bookings give back and take back.
    fn booked(bookings: &[Booking]) -> (i64, i64) {
        bookings.iter().fold((0, 0), |(r, c), b| match b {
            Booking::ReturnPayment(n) => (r + n, c),
            Booking::ReclaimBonus(n) => (r, c + n),
            _ => (r, c),
        })
    }

    #[test]
    fn confirm_commits_the_hold_and_credits_the_bonus() {
        let rules = demo_rules();
        let mut p =
            Purchase::calculate(vec![seed_line()], vec![], &Pricing::of(&rules).offers()).unwrap();
        p.pay(3_650, 1_000_000).unwrap();
        p.account(3_650, &Pricing::of(&rules).offers()).unwrap();
        assert_eq!(p.confirm(), vec![Booking::ConfirmHold, Booking::Earn(400)]);
        assert_eq!(p.state, PurchaseState::Confirmed);
    }

    #[test]
    fn cancelling_operations_one_by_one() {
        let rules = demo_rules();
        let mut p =
            Purchase::calculate(vec![seed_line()], vec![], &Pricing::of(&rules).offers()).unwrap();
        p.pay(3_650, 1_000_000).unwrap();
        p.account(3_650, &Pricing::of(&rules).offers()).unwrap();
        assert_eq!(p.cancel_operation("b", Method::Bonus, 0), Ok(vec![]));
        assert_eq!(p.state, PurchaseState::Paid);
        assert_eq!(
            p.cancel_operation("b", Method::Bonus, 0),
            Err(Code::OperationIsCanceled)
        );
        assert_eq!(
            p.cancel_operation("p", Method::Payment, 0),
            Ok(vec![Booking::VoidHold])
        );
        assert_eq!((p.state, p.payment_total()), (PurchaseState::Calculated, 0));
        assert_eq!(p.cancel_operation("c", Method::Calculate, 0), Ok(vec![]));
        assert_eq!(p.state, PurchaseState::Cancelled);
        let mut done = confirmed(&[10_000], 10_000);
        assert_eq!(
            done.cancel_operation("p", Method::Payment, 0),
            Err(Code::ConfirmedPurchaseOperation)
        );
    }

    #[test]
    fn a_bonus_already_spent_is_taken_back_only_as_far_as_it_can_be() {
        // Paid 3 825 of the cap, earned 383; the customer then spent all but 100 points.
        let mut p = confirmed(&[8_500], 10_000);
        let (paid, earned) = (p.payment_total(), p.earned_total());
        assert_eq!((paid, earned), (3_825, 383));
        let bookings = p.refund(None, 100 - paid).unwrap();
        // The payment comes back first; of the bonus, what the customer then has.
        assert_eq!(
            bookings,
            vec![Booking::ReturnPayment(paid), Booking::ReclaimBonus(100)]
        );
        assert_eq!(p.reversed_totals(), (paid, 100));
        // The record says what moved; a cancel later takes what it can of the rest.
        assert_eq!(p.cancel(1_000), vec![Booking::ReclaimBonus(earned - 100)]);
        assert_eq!(p.reversed_totals(), (paid, earned));
    }

    proptest! {
        /// However a confirmed purchase is refunded — by lines, in parts, then whole, then
        /// cancelled — with whatever the customer can spend at each step: the points given
        /// back never exceed those paid, those taken back never exceed those earned nor what
        /// the customer can spend, and the purchase's record is exactly what the bookings
        /// moved. With enough points, a full refund returns and reclaims everything.
        #[test]
        fn refunds_and_the_record_agree_with_the_bookings(
            prices in proptest::collection::vec(1i64..100_000, 1..6),
            pay_share in 0u32..=10_000,
            parts in proptest::collection::vec((0usize..6, 1u32..=10_000, 0i64..2_000), 0..10),
            last_spendable in prop_oneof![Just(i64::MAX / 4), 0i64..2_000],
        ) {
            let mut p = confirmed(&prices, pay_share);
            let (paid, earned) = (p.payment_total(), p.earned_total());
            let (mut returned, mut reclaimed) = (0, 0);
            for (index, share, spendable) in parts {
                let i = index % p.lines.len();
                let left = p.priced.lines[i].amount - p.refunded[i];
                let amount = (left as i128 * share as i128 / 10_000) as i64;
                if amount == 0 {
                    continue;
                }
                let (r, c) = booked(&p.refund(Some(&[(p.lines[i].position, amount)]), spendable).unwrap());
                prop_assert!(c <= spendable + r);
                returned += r;
                reclaimed += c;
                prop_assert!(returned <= paid && reclaimed <= earned);
                prop_assert_eq!(p.reversed_totals(), (returned, reclaimed));
            }
            if let Ok(bookings) = p.refund(None, last_spendable) {
                let (r, c) = booked(&bookings);
                returned += r;
                reclaimed += c;
            }
            prop_assert_eq!(p.reversed_totals(), (returned, reclaimed));
            prop_assert_eq!(returned, paid);
            prop_assert!(p.refund(None, i64::MAX / 4).is_err());
            let (r, c) = booked(&p.cancel(i64::MAX / 4));
            prop_assert_eq!((returned + r, reclaimed + c), (paid, earned));
            prop_assert_eq!(p.reversed_totals(), (paid, earned));
        }
    }
}
