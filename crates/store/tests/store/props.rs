//! Random operation sequences applied to a real store of each kind, checked against a model
//! of one customer's account and lots after every step.

use crate::support::{base_time, credit, debit, Ledger};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId};
use kopilka_domain::ledger::{OperationKind, OperationStatus as Status, Owner};
use kopilka_domain::{Amount, DomainError};
use kopilka_store::ledger::{Action, Idempotency, LedgerRequest, Outcome};
use kopilka_store::{StoreError, StoreKind, StoreResult};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Expiry dates and expiry runs fall on a few instants, so lots share and cross them.
const TICK: i64 = 1_000;

#[derive(Debug, Clone)]
enum Step {
    Earn {
        amount: i64,
        expires: Option<i64>,
    },
    Spend {
        kind: OperationKind,
        amount: i64,
        hold: bool,
    },
    Confirm(usize),
    Void(usize),
    Reverse(usize, Option<i64>),
    Expire(i64),
    /// Sends an earlier successful request again, unchanged.
    Replay(usize),
    /// Sends an earlier request's key with other content.
    Conflict(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1i64..=3_000, prop::option::weighted(0.7, 1i64..=4))
            .prop_map(|(amount, expires)| Step::Earn { amount, expires }),
        4 => (prop::bool::ANY, 1i64..=2_500, prop::bool::weighted(0.4))
            .prop_map(|(withdraw, amount, hold)| Step::Spend {
                kind: if withdraw { OperationKind::Withdraw } else { OperationKind::Redeem },
                amount,
                hold,
            }),
        2 => any::<usize>().prop_map(Step::Confirm),
        1 => any::<usize>().prop_map(Step::Void),
        3 => (any::<usize>(), prop::option::of(1i64..=2_000)).prop_map(|(i, a)| Step::Reverse(i, a)),
        1 => (0i64..=5).prop_map(Step::Expire),
        2 => any::<usize>().prop_map(Step::Replay),
        1 => any::<usize>().prop_map(Step::Conflict),
    ]
}

#[derive(Debug, Clone)]
struct ModelOp {
    id: OperationId,
    kind: OperationKind,
    status: Status,
    amount: i64,
    reversed: i64,
    consumed_expiry: Option<i64>,
}

#[derive(Debug, Clone)]
struct ModelLot {
    remaining: i64,
    expires_at: Option<i64>,
    origin: OperationId,
}

/// What one customer's account should look like, by the rules in DOMAIN.md.
#[derive(Default)]
struct Model {
    balance: i64,
    held: i64,
    merchant: i64,
    ops: Vec<ModelOp>,
    /// In creation order, which is also the store's lot id order.
    lots: Vec<ModelLot>,
    /// Keyed requests that succeeded and the operation each named.
    done: Vec<(LedgerRequest, OperationId)>,
}

impl Model {
    fn spendable(&self) -> i64 {
        self.balance - self.held
    }

    fn op(&mut self, id: OperationId) -> &mut ModelOp {
        self.ops.iter_mut().find(|o| o.id == id).expect("model op")
    }

    /// Takes `amount` from the lots in spending order (`first`'s own lot first); returns the
    /// latest expiry taken from, `None` when a taken lot never expires.
    fn take(
        &mut self,
        amount: i64,
        first: Option<OperationId>,
        due_at: Option<i64>,
    ) -> Option<i64> {
        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|&i| self.lots[i].remaining > 0)
            .filter(|&i| due_at.is_none_or(|now| self.lots[i].expires_at.is_some_and(|e| e <= now)))
            .collect();
        order.sort_by_key(|&i| {
            let l = &self.lots[i];
            (
                Some(l.origin) != first,
                l.expires_at.is_none(),
                l.expires_at.unwrap_or(0),
                i,
            )
        });
        let mut left = amount;
        let mut latest: Option<Option<i64>> = None;
        for i in order {
            if left == 0 {
                break;
            }
            let lot = &mut self.lots[i];
            let take = lot.remaining.min(left);
            lot.remaining -= take;
            left -= take;
            latest = Some(match (latest, lot.expires_at) {
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
                (None, Some(b)) => Some(b),
            });
        }
        assert_eq!(left, 0, "the model's lots hold the balance");
        latest.flatten()
    }

    fn due(&self, now: i64) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.expires_at.is_some_and(|e| e <= now))
            .map(|l| l.remaining)
            .sum()
    }
}

struct Case<'a> {
    l: &'a Ledger,
    customer: CustomerId,
    merchant: MerchantId,
    base: i64,
    keys: usize,
    model: Model,
}

impl Case<'_> {
    fn request(&mut self, action: Action) -> LedgerRequest {
        self.keys += 1;
        LedgerRequest {
            program_id: self.l.program,
            currency: crate::support::CURRENCY.into(),
            merchant_id: Some(self.merchant),
            protocol: "test".into(),
            idempotency: Some(Idempotency {
                scope: format!("merchant:{}", self.merchant),
                key: format!("k{}", self.keys),
                fingerprint: format!("{action:?}"),
            }),
            description: None,
            details: serde_json::json!({}),
            action,
        }
    }

    fn nth_op(&self, i: usize) -> Option<ModelOp> {
        (!self.model.ops.is_empty()).then(|| self.model.ops[i % self.model.ops.len()].clone())
    }

    /// The model's answer to a ledger action: a refusal, or the operation the store must
    /// write (applied to the model once the store agrees).
    fn expect(&self, action: &Action) -> Result<(), DomainError> {
        let m = &self.model;
        if let Action::Confirm { operation_id }
        | Action::Void { operation_id }
        | Action::Reverse { operation_id, .. } = action
        {
            // Expiry belongs to no merchant, so no merchant may touch it.
            if m.ops
                .iter()
                .any(|o| o.id == *operation_id && o.kind == OperationKind::Expire)
            {
                return Err(DomainError::ForeignOperation(*operation_id));
            }
        }
        match action {
            Action::Credit { .. } => Ok(()),
            Action::Debit { amount, .. } => {
                if m.spendable() < amount.0 {
                    Err(DomainError::InsufficientFunds {
                        spendable: m.spendable(),
                        requested: amount.0,
                    })
                } else {
                    Ok(())
                }
            }
            Action::Confirm { operation_id } | Action::Void { operation_id } => {
                let op = m.ops.iter().find(|o| o.id == *operation_id).unwrap();
                if op.status != Status::Pending {
                    let status = if op.status == Status::Voided {
                        "voided"
                    } else {
                        "confirmed"
                    };
                    Err(DomainError::HoldNotPending { id: op.id, status })
                } else {
                    Ok(())
                }
            }
            Action::Reverse {
                operation_id,
                amount,
            } => {
                let op = m.ops.iter().find(|o| o.id == *operation_id).unwrap();
                let not = |reason| Err(DomainError::NotReversible { id: op.id, reason });
                match op.kind {
                    OperationKind::Reversal => return not("it is itself a reversal"),
                    OperationKind::Expire => return not("expiry is final"),
                    _ => {}
                }
                match op.status {
                    Status::Pending => return not("it is a pending hold; void it instead"),
                    Status::Voided => return not("it was voided"),
                    Status::Confirmed => {}
                }
                let remaining = op.amount - op.reversed;
                if remaining <= 0 {
                    return Err(DomainError::AlreadyReversed { id: op.id });
                }
                let amount = amount.map_or(remaining, |a| a.0);
                if amount > remaining {
                    return Err(DomainError::ReversalTooLarge {
                        id: op.id,
                        remaining,
                        requested: amount,
                    });
                }
                match op.kind {
                    OperationKind::Earn | OperationKind::Accrue if m.spendable() < amount => {
                        Err(DomainError::InsufficientFunds {
                            spendable: m.spendable(),
                            requested: amount,
                        })
                    }
                    OperationKind::Redeem if m.merchant < amount => {
                        Err(DomainError::MerchantFundsShort {
                            balance: m.merchant,
                            requested: amount,
                        })
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Applies what the store did to the model.
    fn apply(&mut self, action: &Action, outcome: &Outcome) {
        let m = &mut self.model;
        let id = outcome.operation.id;
        match action {
            Action::Credit {
                amount, expires_at, ..
            } => {
                m.balance += amount.0;
                m.lots.push(ModelLot {
                    remaining: amount.0,
                    expires_at: *expires_at,
                    origin: id,
                });
                m.ops.push(ModelOp {
                    id,
                    kind: OperationKind::Accrue,
                    status: Status::Confirmed,
                    amount: amount.0,
                    reversed: 0,
                    consumed_expiry: None,
                });
            }
            Action::Debit {
                kind, amount, hold, ..
            } => {
                let consumed_expiry = if *hold {
                    m.held += amount.0;
                    None
                } else {
                    m.balance -= amount.0;
                    if *kind == OperationKind::Redeem {
                        m.merchant += amount.0;
                    }
                    m.take(amount.0, None, None)
                };
                let status = if *hold {
                    Status::Pending
                } else {
                    Status::Confirmed
                };
                m.ops.push(ModelOp {
                    id,
                    kind: *kind,
                    status,
                    amount: amount.0,
                    reversed: 0,
                    consumed_expiry,
                });
            }
            Action::Confirm { operation_id } => {
                let op = m.op(*operation_id).clone();
                m.held -= op.amount;
                m.balance -= op.amount;
                if op.kind == OperationKind::Redeem {
                    m.merchant += op.amount;
                }
                let consumed_expiry = m.take(op.amount, None, None);
                let op = m.op(*operation_id);
                op.status = Status::Confirmed;
                op.consumed_expiry = consumed_expiry;
            }
            Action::Void { operation_id } => {
                let amount = m.op(*operation_id).amount;
                m.held -= amount;
                m.op(*operation_id).status = Status::Voided;
            }
            Action::Reverse { operation_id, .. } => {
                let amount = outcome.operation.amount;
                let original = m.op(*operation_id).clone();
                m.op(*operation_id).reversed += amount;
                match original.kind {
                    OperationKind::Earn | OperationKind::Accrue => {
                        m.balance -= amount;
                        m.take(amount, Some(original.id), None);
                    }
                    kind => {
                        m.balance += amount;
                        if kind == OperationKind::Redeem {
                            m.merchant -= amount;
                        }
                        m.lots.push(ModelLot {
                            remaining: amount,
                            expires_at: original.consumed_expiry,
                            origin: id,
                        });
                    }
                }
                m.ops.push(ModelOp {
                    id,
                    kind: OperationKind::Reversal,
                    status: Status::Confirmed,
                    amount,
                    reversed: 0,
                    consumed_expiry: None,
                });
            }
        }
    }

    async fn send(&self, request: LedgerRequest) -> StoreResult<Outcome> {
        self.l.exec(request).await
    }

    async fn run(&mut self, step: Step) {
        let action = match step {
            Step::Earn { amount, expires } => {
                credit(self.customer, amount, expires.map(|t| self.base + t * TICK))
            }
            Step::Spend { kind, amount, hold } => debit(kind, self.customer, amount, hold),
            Step::Confirm(i) | Step::Void(i) => {
                let Some(op) = self.nth_op(i) else { return };
                if matches!(step, Step::Confirm(_)) {
                    Action::Confirm {
                        operation_id: op.id,
                    }
                } else {
                    Action::Void {
                        operation_id: op.id,
                    }
                }
            }
            Step::Reverse(i, amount) => {
                let Some(op) = self.nth_op(i) else { return };
                Action::Reverse {
                    operation_id: op.id,
                    amount: amount.map(Amount),
                }
            }
            Step::Expire(t) => return self.expire(self.base + t * TICK).await,
            Step::Replay(i) | Step::Conflict(i) => {
                if self.model.done.is_empty() {
                    return;
                }
                let (mut request, id) = self.model.done[i % self.model.done.len()].clone();
                let conflict = matches!(step, Step::Conflict(_));
                if conflict {
                    request.idempotency.as_mut().unwrap().fingerprint = "other content".into();
                }
                let result = self.send(request).await;
                if conflict {
                    assert!(
                        matches!(
                            result,
                            Err(StoreError::Domain(DomainError::IdempotencyConflict))
                        ),
                        "{result:?}"
                    );
                } else {
                    let outcome = result.expect("a replay succeeds");
                    assert!(outcome.replayed);
                    assert_eq!(outcome.operation.id, id);
                    self.check_outcome(&outcome);
                }
                return;
            }
        };
        let expected = self.expect(&action);
        let request = self.request(action.clone());
        match (self.send(request.clone()).await, expected) {
            (Ok(outcome), Ok(())) => {
                assert!(!outcome.replayed);
                self.apply(&action, &outcome);
                self.check_outcome(&outcome);
                self.model.done.push((request, outcome.operation.id));
            }
            (Err(StoreError::Domain(got)), Err(want)) => assert_eq!(got, want, "{action:?}"),
            (got, want) => panic!("{action:?}: the store answered {got:?}, the model {want:?}"),
        }
    }

    async fn expire(&mut self, now: i64) {
        let mut burned = Vec::new();
        loop {
            let written = self.l.expire(now).await;
            let n = written.len();
            burned.extend(
                written
                    .into_iter()
                    .filter(|o| o.customer_id == Some(self.customer)),
            );
            if n < 100 {
                break;
            }
        }
        let m = &mut self.model;
        let amount = m.due(now).min(m.spendable());
        if amount <= 0 {
            assert!(burned.is_empty(), "nothing is due: {burned:?}");
            return;
        }
        assert_eq!(burned.len(), 1, "one expiry operation per account");
        assert_eq!(
            burned[0].amount, amount,
            "expiry burns what is due and not held"
        );
        m.balance -= amount;
        m.take(amount, None, Some(now));
        m.ops.push(ModelOp {
            id: burned[0].id,
            kind: OperationKind::Expire,
            status: Status::Confirmed,
            amount,
            reversed: 0,
            consumed_expiry: None,
        });
    }

    fn check_outcome(&self, outcome: &Outcome) {
        assert_eq!(
            (outcome.balance, outcome.held),
            (self.model.balance, self.model.held)
        );
        assert!(outcome.held >= 0 && outcome.held <= outcome.balance);
    }

    async fn check_store(&self) {
        let l = self.l;
        assert_eq!(
            l.balance(Owner::Customer(self.customer)).await,
            (self.model.balance, self.model.held)
        );
        assert_eq!(
            l.balance(Owner::Merchant(self.merchant)).await.0,
            self.model.merchant
        );
        let stored = l.operations_of(self.customer).await;
        assert_eq!(stored.len(), self.model.ops.len());
        for op in &self.model.ops {
            let s = stored
                .iter()
                .find(|s| s.id == op.id)
                .expect("stored operation");
            assert_eq!(
                (s.kind, s.status, s.amount, s.reversed),
                (op.kind, op.status, op.amount, op.reversed)
            );
        }
        l.check_invariants_of(Some(self.customer)).await;
    }
}

fn random_sequences_keep_the_ledger_sound(kind: StoreKind) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let l = runtime.block_on(Ledger::open(kind));
    let config = Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&prop::collection::vec(step(), 1..30), |steps| {
            runtime.block_on(async {
                let mut case = Case {
                    l: &l,
                    customer: l.customer().await,
                    merchant: l.new_merchant().await,
                    base: base_time(),
                    keys: 0,
                    model: Model::default(),
                };
                for step in steps {
                    case.run(step).await;
                }
                case.check_store().await;
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", l.name()));
}

on_both_stores!(blocking: random_sequences_keep_the_ledger_sound);
