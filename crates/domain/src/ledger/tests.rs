//! Property tests of the ledger rules against an in-memory book that applies plans the way the
//! stores do.

use super::*;
use crate::ids::{CustomerId, MerchantId, OperationId};
use proptest::prelude::*;
use std::collections::HashMap;

const CUSTOMER: CustomerId = CustomerId(1);
const MERCHANT: MerchantId = MerchantId(7);

#[derive(Default)]
struct Book {
    balances: HashMap<Owner, i64>,
    held: i64,
    lots: Vec<Lot>,
    ops: Vec<OperationView>,
    postings_of: HashMap<OperationId, Vec<Posting>>,
    idempotency: HashMap<String, (String, OperationId)>,
    next_lot: i64,
}

impl Book {
    fn position(&self) -> Position {
        let mut p = Position {
            balance: *self.balances.get(&Owner::Customer(CUSTOMER)).unwrap_or(&0),
            held: self.held,
            lots: self
                .lots
                .iter()
                .filter(|l| l.remaining > 0)
                .cloned()
                .collect(),
        };
        p.sort_lots();
        p
    }

    fn op(&self, id: OperationId) -> OperationView {
        self.ops[id.0 as usize].clone()
    }

    fn apply(&mut self, plan: &Plan) -> OperationId {
        assert!(plan.postings_balance(), "postings must sum to zero");
        let id = match plan.target {
            Target::New { kind, status } => {
                let id = OperationId(self.ops.len() as i64);
                self.ops.push(OperationView {
                    id,
                    kind,
                    status,
                    amount: plan.amount,
                    reversed: 0,
                    customer_id: CUSTOMER,
                    merchant_id: Some(MERCHANT),
                    consumed_expiry: None,
                });
                id
            }
            Target::Resolve { hold_id, status } => {
                self.ops[hold_id.0 as usize].status = status;
                hold_id
            }
        };
        for p in &plan.postings {
            *self.balances.entry(p.owner).or_default() += p.amount;
            self.postings_of.entry(id).or_default().push(*p);
        }
        self.held += plan.held_delta;
        let mut latest: Option<Option<i64>> = None;
        for t in &plan.takes {
            let lot = self.lots.iter_mut().find(|l| l.id == t.lot_id).unwrap();
            assert!(lot.remaining >= t.amount);
            lot.remaining -= t.amount;
            latest = Some(match (latest, lot.expires_at) {
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
                (None, Some(b)) => Some(b),
            });
        }
        if !plan.takes.is_empty() {
            self.ops[id.0 as usize].consumed_expiry = latest.flatten();
        }
        if let Some(lot) = plan.new_lot {
            self.next_lot += 1;
            self.lots.push(Lot {
                id: self.next_lot,
                remaining: plan.amount,
                expires_at: lot.expires_at,
                origin: id,
            });
        }
        if let Some((orig, amount)) = plan.reverses {
            self.ops[orig.0 as usize].reversed += amount;
        }
        id
    }

    fn check(&self) {
        let customer = *self.balances.get(&Owner::Customer(CUSTOMER)).unwrap_or(&0);
        let merchant = *self.balances.get(&Owner::Merchant(MERCHANT)).unwrap_or(&0);
        assert!(customer >= 0, "customer balance negative");
        assert!(merchant >= 0, "merchant balance negative");
        assert!(customer - self.held >= 0, "spendable negative");
        assert_eq!(
            self.lots.iter().map(|l| l.remaining).sum::<i64>(),
            customer,
            "lots must sum to the balance"
        );
        assert_eq!(
            self.balances.values().sum::<i64>(),
            0,
            "ledger must balance"
        );
        for op in &self.ops {
            assert!(op.reversed <= op.amount, "reversed beyond the original");
        }
        let mut from_postings: HashMap<Owner, i64> = HashMap::new();
        for ps in self.postings_of.values() {
            for p in ps {
                *from_postings.entry(p.owner).or_default() += p.amount;
            }
        }
        for (owner, balance) in &self.balances {
            assert_eq!(from_postings.get(owner).copied().unwrap_or(0), *balance);
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Earn(i64, Option<i64>),
    Redeem(i64, bool),
    Withdraw(i64),
    Confirm(usize),
    Void(usize),
    Reverse(usize, Option<i64>),
    Expire(i64),
    Idempotent(u8, i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..10_000, proptest::option::of(0i64..100)).prop_map(|(a, e)| Step::Earn(a, e)),
        (1i64..10_000, any::<bool>()).prop_map(|(a, h)| Step::Redeem(a, h)),
        (1i64..5_000).prop_map(Step::Withdraw),
        (0usize..64).prop_map(Step::Confirm),
        (0usize..64).prop_map(Step::Void),
        (0usize..64, proptest::option::of(1i64..10_000)).prop_map(|(i, a)| Step::Reverse(i, a)),
        (0i64..120).prop_map(Step::Expire),
        (0u8..4, 1i64..1_000).prop_map(|(k, a)| Step::Idempotent(k, a)),
    ]
}

fn run(book: &mut Book, step: &Step) {
    let position = book.position();
    let pick = |i: usize| -> Option<OperationView> {
        if book.ops.is_empty() {
            None
        } else {
            Some(book.op(OperationId((i % book.ops.len()) as i64)))
        }
    };
    let plan = match step {
        Step::Earn(a, e) => plan_credit(OperationKind::Earn, &position, CUSTOMER, Amount(*a), *e),
        Step::Redeem(a, hold) => plan_debit(
            OperationKind::Redeem,
            &position,
            CUSTOMER,
            Some(MERCHANT),
            Amount(*a),
            *hold,
        ),
        Step::Withdraw(a) => plan_debit(
            OperationKind::Withdraw,
            &position,
            CUSTOMER,
            None,
            Amount(*a),
            false,
        ),
        Step::Confirm(i) => match pick(*i) {
            Some(op) => plan_confirm(&op, &position),
            None => return,
        },
        Step::Void(i) => match pick(*i) {
            Some(op) => plan_void(&op),
            None => return,
        },
        Step::Reverse(i, a) => match pick(*i) {
            Some(op) => {
                let merchant = *book.balances.get(&Owner::Merchant(MERCHANT)).unwrap_or(&0);
                let before = op.amount - op.reversed;
                let result = plan_reverse(&op, &position, merchant, a.map(Amount));
                if let Ok(plan) = &result {
                    assert!(
                        plan.amount <= before,
                        "a reversal never exceeds what remains"
                    );
                }
                result
            }
            None => return,
        },
        Step::Expire(now) => match plan_expiry(&position, CUSTOMER, *now) {
            Some(plan) => {
                // Oldest-expiring lots burn first: every lot taken expires no later than
                // any due lot left untouched.
                let taken: Vec<i64> = plan.takes.iter().map(|t| t.lot_id).collect();
                let expiry = |id: i64| {
                    position
                        .lots
                        .iter()
                        .find(|l| l.id == id)
                        .unwrap()
                        .expires_at
                };
                for t in &plan.takes {
                    for l in &position.lots {
                        if l.expires_at.is_some_and(|e| e <= *now) && !taken.contains(&l.id) {
                            assert!(expiry(t.lot_id) <= l.expires_at);
                        }
                    }
                }
                Ok(plan)
            }
            None => return,
        },
        Step::Idempotent(key, a) => {
            let key = format!("k{key}");
            let fp = fingerprint(&["earn", &a.to_string()]);
            if let Some((stored, _)) = book.idempotency.get(&key) {
                let before = book.balances.clone();
                let _ = check_replay(stored, &fp);
                assert_eq!(before, book.balances, "a replay changes nothing");
                return;
            }
            let plan = plan_credit(
                OperationKind::Accrue,
                &book.position(),
                CUSTOMER,
                Amount(*a),
                None,
            )
            .unwrap();
            let id = book.apply(&plan);
            book.idempotency.insert(key, (fp, id));
            return;
        }
    };
    if let Ok(plan) = plan {
        book.apply(&plan);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ledger_invariants_hold_for_any_sequence(steps in proptest::collection::vec(step(), 1..80)) {
        let mut book = Book::default();
        for s in &steps {
            run(&mut book, s);
            book.check();
        }
    }
}

#[test]
fn expiry_burns_the_earliest_lots_and_spares_holds() {
    let mut book = Book::default();
    book.apply(
        &plan_credit(
            OperationKind::Earn,
            &book.position(),
            CUSTOMER,
            Amount(100),
            Some(10),
        )
        .unwrap(),
    );
    book.apply(
        &plan_credit(
            OperationKind::Earn,
            &book.position(),
            CUSTOMER,
            Amount(100),
            Some(5),
        )
        .unwrap(),
    );
    book.apply(
        &plan_credit(
            OperationKind::Earn,
            &book.position(),
            CUSTOMER,
            Amount(100),
            None,
        )
        .unwrap(),
    );
    let hold = plan_debit(
        OperationKind::Redeem,
        &book.position(),
        CUSTOMER,
        Some(MERCHANT),
        Amount(250),
        true,
    )
    .unwrap();
    book.apply(&hold);
    let plan = plan_expiry(&book.position(), CUSTOMER, 7).unwrap();
    assert_eq!(plan.amount, 50, "only what holds do not reserve");
    assert_eq!(
        plan.takes,
        vec![LotTake {
            lot_id: 2,
            amount: 50
        }]
    );
}

#[test]
fn reversal_is_capped_and_final() {
    let mut book = Book::default();
    let id = book.apply(
        &plan_credit(
            OperationKind::Earn,
            &book.position(),
            CUSTOMER,
            Amount(1000),
            None,
        )
        .unwrap(),
    );
    let r1 = plan_reverse(&book.op(id), &book.position(), 0, Some(Amount(400))).unwrap();
    book.apply(&r1);
    let too_much = plan_reverse(&book.op(id), &book.position(), 0, Some(Amount(601)));
    assert!(matches!(
        too_much,
        Err(DomainError::ReversalTooLarge { remaining: 600, .. })
    ));
    let rest = plan_reverse(&book.op(id), &book.position(), 0, None).unwrap();
    assert_eq!(rest.amount, 600);
    book.apply(&rest);
    assert_eq!(
        plan_reverse(&book.op(id), &book.position(), 0, None),
        Err(DomainError::AlreadyReversed { id })
    );
}

#[test]
fn a_balance_stays_below_the_ceiling() {
    use crate::money::{MAX_AMOUNT, MAX_BALANCE};
    let full = Position {
        balance: MAX_BALANCE - 1,
        ..Position::default()
    };
    let refused = plan_credit(OperationKind::Accrue, &full, CUSTOMER, Amount(2), None);
    assert!(matches!(refused, Err(DomainError::InvalidAmount(_))));
    assert!(plan_credit(OperationKind::Accrue, &full, CUSTOMER, Amount(1), None).is_ok());
    let redeem = OperationView {
        id: OperationId(1),
        kind: OperationKind::Redeem,
        status: OperationStatus::Confirmed,
        amount: MAX_AMOUNT,
        reversed: 0,
        customer_id: CUSTOMER,
        merchant_id: Some(MERCHANT),
        consumed_expiry: None,
    };
    let refund = plan_reverse(&redeem, &full, MAX_AMOUNT, None);
    assert!(matches!(refund, Err(DomainError::InvalidAmount(_))));
}
