//! The points ledger's rules. The store loads a customer's position (and the operation being
//! confirmed or reversed), asks one of the `plan_*` functions what to write, and writes exactly
//! that plan in one transaction. Every plan's postings sum to zero.

use crate::ids::{CustomerId, MerchantId, OperationId};
use crate::money::{Amount, MAX_AMOUNT, MAX_BALANCE};
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// Who an account belongs to. Issuance is where earned points come from; burn is where expired
/// and withdrawn points go. Customer and merchant accounts never go below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Owner {
    Issuance,
    Burn,
    Customer(CustomerId),
    Merchant(MerchantId),
}

impl Owner {
    pub fn kind(self) -> &'static str {
        match self {
            Owner::Issuance => "issuance",
            Owner::Burn => "burn",
            Owner::Customer(_) => "customer",
            Owner::Merchant(_) => "merchant",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Owner::Issuance | Owner::Burn => 0,
            Owner::Customer(CustomerId(id)) | Owner::Merchant(MerchantId(id)) => id,
        }
    }

    pub fn from_parts(kind: &str, id: i64) -> Option<Owner> {
        match kind {
            "issuance" => Some(Owner::Issuance),
            "burn" => Some(Owner::Burn),
            "customer" => Some(Owner::Customer(CustomerId(id))),
            "merchant" => Some(Owner::Merchant(MerchantId(id))),
            _ => None,
        }
    }

    /// System accounts are unbounded; member accounts may never be negative.
    pub fn may_go_negative(self) -> bool {
        matches!(self, Owner::Issuance | Owner::Burn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Points earned on a purchase: issuance → customer.
    Earn,
    /// Points given by hand, a batch or an offer: issuance → customer.
    Accrue,
    /// Points spent at a merchant: customer → merchant.
    Redeem,
    /// Points taken away: customer → burn.
    Withdraw,
    /// The compensation of an earlier operation: its postings mirrored, capped at what remains.
    Reversal,
    /// Points whose lifetime ended: customer → burn.
    Expire,
    /// A merged customer's points moved to the customer it was merged into: customer →
    /// customer, its lots following with their expiry (`plan_merge`). Never reversed.
    Merge,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Earn => "earn",
            OperationKind::Accrue => "accrue",
            OperationKind::Redeem => "redeem",
            OperationKind::Withdraw => "withdraw",
            OperationKind::Reversal => "reversal",
            OperationKind::Expire => "expire",
            OperationKind::Merge => "merge",
        }
    }

    pub fn parse(text: &str) -> Option<OperationKind> {
        Some(match text {
            "earn" => OperationKind::Earn,
            "accrue" => OperationKind::Accrue,
            "redeem" => OperationKind::Redeem,
            "withdraw" => OperationKind::Withdraw,
            "reversal" => OperationKind::Reversal,
            "expire" => OperationKind::Expire,
            "merge" => OperationKind::Merge,
            _ => return None,
        })
    }

    pub fn is_credit(self) -> bool {
        matches!(self, OperationKind::Earn | OperationKind::Accrue)
    }

    fn is_debit(self) -> bool {
        matches!(self, OperationKind::Redeem | OperationKind::Withdraw)
    }
}

/// A hold is an operation in `Pending`; it resolves once, to `Confirmed` or `Voided`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    Pending,
    Confirmed,
    Voided,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Pending => "pending",
            OperationStatus::Confirmed => "confirmed",
            OperationStatus::Voided => "voided",
        }
    }

    pub fn parse(text: &str) -> Option<OperationStatus> {
        Some(match text {
            "pending" => OperationStatus::Pending,
            "confirmed" => OperationStatus::Confirmed,
            "voided" => OperationStatus::Voided,
            _ => return None,
        })
    }
}

/// A portion of a customer's points with one expiry date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub remaining: i64,
    /// Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// The operation that created the lot.
    pub origin: OperationId,
}

/// A customer's account in one currency as the store loaded it (locked) for a plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    pub balance: i64,
    /// Pending debits (holds) not yet confirmed or voided.
    pub held: i64,
    /// Lots with something remaining, in spending order: earliest expiry first, never-expiring
    /// last, older first among equals.
    pub lots: Vec<Lot>,
}

impl Position {
    pub fn spendable(&self) -> i64 {
        self.balance - self.held
    }

    /// Sorts lots into spending order.
    pub fn sort_lots(&mut self) {
        self.lots
            .sort_by_key(|l| (l.expires_at.is_none(), l.expires_at.unwrap_or(0), l.id));
    }
}

/// The operation being confirmed, voided or reversed, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationView {
    pub id: OperationId,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub amount: i64,
    /// How much of it earlier reversals already took back.
    pub reversed: i64,
    pub customer_id: CustomerId,
    pub merchant_id: Option<MerchantId>,
    /// The latest expiry among the lots a debit consumed (`None`: some never expired, or none).
    pub consumed_expiry: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub owner: Owner,
    pub amount: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotTake {
    pub lot_id: i64,
    pub amount: i64,
}

/// Where the plan's effects are recorded: a new operation, or the hold it resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    New {
        kind: OperationKind,
        status: OperationStatus,
    },
    Resolve {
        hold_id: OperationId,
        status: OperationStatus,
    },
}

/// What to write, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub target: Target,
    pub amount: i64,
    pub postings: Vec<Posting>,
    /// Change of the customer account's held amount.
    pub held_delta: i64,
    /// A new lot of `amount` for the customer, with this expiry, when points are credited.
    pub new_lot: Option<NewLot>,
    /// Lots reduced by the plan, in order.
    pub takes: Vec<LotTake>,
    /// The operation reversed and by how much.
    pub reverses: Option<(OperationId, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLot {
    pub expires_at: Option<i64>,
}

impl Plan {
    pub fn postings_balance(&self) -> bool {
        self.postings.iter().map(|p| p.amount as i128).sum::<i128>() == 0
    }
}

fn check_amount(amount: i64) -> Result<(), DomainError> {
    if amount <= 0 {
        return Err(DomainError::InvalidAmount("must be positive".into()));
    }
    if amount > MAX_AMOUNT {
        return Err(DomainError::InvalidAmount("too large".into()));
    }
    Ok(())
}

/// Refuses what would lift a customer's balance past [`MAX_BALANCE`].
fn check_room(position: &Position, amount: i64) -> Result<(), DomainError> {
    if position.balance > MAX_BALANCE - amount {
        return Err(DomainError::InvalidAmount(
            "the balance would exceed the most an account may hold".into(),
        ));
    }
    Ok(())
}

/// Takes `amount` from the lots in spending order, starting with `first` if given.
pub fn take_lots(lots: &[Lot], amount: i64, first: Option<OperationId>) -> Vec<LotTake> {
    let mut order: Vec<&Lot> = Vec::with_capacity(lots.len());
    order.extend(lots.iter().filter(|l| Some(l.origin) == first));
    order.extend(lots.iter().filter(|l| Some(l.origin) != first));
    let mut left = amount;
    let mut takes = Vec::new();
    for lot in order {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        if take > 0 {
            takes.push(LotTake {
                lot_id: lot.id,
                amount: take,
            });
            left -= take;
        }
    }
    takes
}

/// Earn or accrue: issuance → customer, as a new lot.
pub fn plan_credit(
    kind: OperationKind,
    position: &Position,
    customer: CustomerId,
    amount: Amount,
    expires_at: Option<i64>,
) -> Result<Plan, DomainError> {
    assert!(kind.is_credit(), "plan_credit takes earn or accrue");
    check_amount(amount.0)?;
    check_room(position, amount.0)?;
    Ok(Plan {
        target: Target::New {
            kind,
            status: OperationStatus::Confirmed,
        },
        amount: amount.0,
        postings: vec![
            Posting {
                owner: Owner::Issuance,
                amount: -amount.0,
            },
            Posting {
                owner: Owner::Customer(customer),
                amount: amount.0,
            },
        ],
        held_delta: 0,
        new_lot: Some(NewLot { expires_at }),
        takes: Vec::new(),
        reverses: None,
    })
}

/// Redeem (to `merchant`) or withdraw (to burn). A hold only reserves the points: it counts
/// against the spendable balance until it is confirmed or voided.
pub fn plan_debit(
    kind: OperationKind,
    position: &Position,
    customer: CustomerId,
    merchant: Option<MerchantId>,
    amount: Amount,
    hold: bool,
) -> Result<Plan, DomainError> {
    assert!(kind.is_debit(), "plan_debit takes redeem or withdraw");
    check_amount(amount.0)?;
    if position.spendable() < amount.0 {
        return Err(DomainError::InsufficientFunds {
            spendable: position.spendable(),
            requested: amount.0,
        });
    }
    let to = match (kind, merchant) {
        (OperationKind::Redeem, Some(m)) => Owner::Merchant(m),
        (OperationKind::Redeem, None) => {
            return Err(DomainError::Invalid {
                field: "merchant",
                reason: "a redeem needs a merchant".into(),
            })
        }
        _ => Owner::Burn,
    };
    if hold {
        return Ok(Plan {
            target: Target::New {
                kind,
                status: OperationStatus::Pending,
            },
            amount: amount.0,
            postings: Vec::new(),
            held_delta: amount.0,
            new_lot: None,
            takes: Vec::new(),
            reverses: None,
        });
    }
    Ok(Plan {
        target: Target::New {
            kind,
            status: OperationStatus::Confirmed,
        },
        amount: amount.0,
        postings: debit_postings(customer, to, amount.0),
        held_delta: 0,
        new_lot: None,
        takes: take_lots(&position.lots, amount.0, None),
        reverses: None,
    })
}

fn debit_postings(customer: CustomerId, to: Owner, amount: i64) -> Vec<Posting> {
    vec![
        Posting {
            owner: Owner::Customer(customer),
            amount: -amount,
        },
        Posting { owner: to, amount },
    ]
}

fn pending_check(hold: &OperationView) -> Result<(), DomainError> {
    if hold.status != OperationStatus::Pending {
        return Err(DomainError::HoldNotPending {
            id: hold.id,
            status: hold.status.as_str(),
        });
    }
    Ok(())
}

/// Confirms a pending hold: the reserved points move now, from the lots expiring first.
pub fn plan_confirm(hold: &OperationView, position: &Position) -> Result<Plan, DomainError> {
    pending_check(hold)?;
    let to = match (hold.kind, hold.merchant_id) {
        (OperationKind::Redeem, Some(m)) => Owner::Merchant(m),
        _ => Owner::Burn,
    };
    Ok(Plan {
        target: Target::Resolve {
            hold_id: hold.id,
            status: OperationStatus::Confirmed,
        },
        amount: hold.amount,
        postings: debit_postings(hold.customer_id, to, hold.amount),
        held_delta: -hold.amount,
        new_lot: None,
        takes: take_lots(&position.lots, hold.amount, None),
        reverses: None,
    })
}

/// A merge's movement of one currency: the source's whole balance to the target, every open
/// lot of the source taken whole and given again to the target with its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePlan {
    pub amount: i64,
    pub postings: Vec<Posting>,
    pub takes: Vec<LotTake>,
    /// The target's new lots: what remained of each source lot, with its expiry, in order.
    pub new_lots: Vec<(i64, Option<i64>)>,
}

/// Plans moving `source`'s points to `target` (both locked). `None`: nothing to move. A
/// source with pending holds is refused: a hold resolves against the account it reserved.
pub fn plan_merge(
    source: &Position,
    source_id: CustomerId,
    target: &Position,
    target_id: CustomerId,
) -> Result<Option<MergePlan>, DomainError> {
    if source.held > 0 {
        return Err(DomainError::Invalid {
            field: "source_id",
            reason: "the customer has pending holds; confirm or void them first".into(),
        });
    }
    if source.balance == 0 {
        return Ok(None);
    }
    check_room(target, source.balance)?;
    let takes: Vec<LotTake> = source
        .lots
        .iter()
        .filter(|l| l.remaining > 0)
        .map(|l| LotTake {
            lot_id: l.id,
            amount: l.remaining,
        })
        .collect();
    let new_lots = source
        .lots
        .iter()
        .filter(|l| l.remaining > 0)
        .map(|l| (l.remaining, l.expires_at))
        .collect::<Vec<_>>();
    if new_lots.iter().map(|(n, _)| n).sum::<i64>() != source.balance {
        return Err(DomainError::Invalid {
            field: "source_id",
            reason: "the customer's lots do not add up to the balance".into(),
        });
    }
    Ok(Some(MergePlan {
        amount: source.balance,
        postings: vec![
            Posting {
                owner: Owner::Customer(source_id),
                amount: -source.balance,
            },
            Posting {
                owner: Owner::Customer(target_id),
                amount: source.balance,
            },
        ],
        takes,
        new_lots,
    }))
}

/// Voids a pending hold: the reservation is dropped, nothing moves.
pub fn plan_void(hold: &OperationView) -> Result<Plan, DomainError> {
    pending_check(hold)?;
    Ok(Plan {
        target: Target::Resolve {
            hold_id: hold.id,
            status: OperationStatus::Voided,
        },
        amount: hold.amount,
        postings: Vec::new(),
        held_delta: -hold.amount,
        new_lot: None,
        takes: Vec::new(),
        reverses: None,
    })
}

/// Reverses a confirmed operation, wholly (`requested` = None: what remains) or partly. A credit
/// is taken back from its own lot first; a debit is given back as a lot expiring no earlier than
/// the latest of the lots it spent. Never beyond what remains of the original.
pub fn plan_reverse(
    original: &OperationView,
    position: &Position,
    merchant_balance: i64,
    requested: Option<Amount>,
) -> Result<Plan, DomainError> {
    let not = |reason| DomainError::NotReversible {
        id: original.id,
        reason,
    };
    match original.kind {
        OperationKind::Reversal => return Err(not("it is itself a reversal")),
        OperationKind::Expire => return Err(not("expiry is final")),
        OperationKind::Merge => return Err(not("a merge is final")),
        _ => {}
    }
    match original.status {
        OperationStatus::Pending => return Err(not("it is a pending hold; void it instead")),
        OperationStatus::Voided => return Err(not("it was voided")),
        OperationStatus::Confirmed => {}
    }
    let remaining = original.amount - original.reversed;
    if remaining <= 0 {
        return Err(DomainError::AlreadyReversed { id: original.id });
    }
    let amount = match requested {
        Some(a) => {
            check_amount(a.0)?;
            if a.0 > remaining {
                return Err(DomainError::ReversalTooLarge {
                    id: original.id,
                    remaining,
                    requested: a.0,
                });
            }
            a.0
        }
        None => remaining,
    };
    let customer = Owner::Customer(original.customer_id);
    let target = Target::New {
        kind: OperationKind::Reversal,
        status: OperationStatus::Confirmed,
    };
    if original.kind.is_credit() {
        if position.spendable() < amount {
            return Err(DomainError::InsufficientFunds {
                spendable: position.spendable(),
                requested: amount,
            });
        }
        return Ok(Plan {
            target,
            amount,
            postings: vec![
                Posting {
                    owner: customer,
                    amount: -amount,
                },
                Posting {
                    owner: Owner::Issuance,
                    amount,
                },
            ],
            held_delta: 0,
            new_lot: None,
            takes: take_lots(&position.lots, amount, Some(original.id)),
            reverses: Some((original.id, amount)),
        });
    }
    let from = match (original.kind, original.merchant_id) {
        (OperationKind::Redeem, Some(m)) => {
            if merchant_balance < amount {
                return Err(DomainError::MerchantFundsShort {
                    balance: merchant_balance,
                    requested: amount,
                });
            }
            Owner::Merchant(m)
        }
        _ => Owner::Burn,
    };
    check_room(position, amount)?;
    Ok(Plan {
        target,
        amount,
        postings: vec![
            Posting {
                owner: from,
                amount: -amount,
            },
            Posting {
                owner: customer,
                amount,
            },
        ],
        held_delta: 0,
        new_lot: Some(NewLot {
            expires_at: original.consumed_expiry,
        }),
        takes: Vec::new(),
        reverses: Some((original.id, amount)),
    })
}

/// Burns what is due at `now` (unix ms), oldest-expiring first. Points reserved by pending
/// holds are left until the holds resolve, so a hold can always be confirmed.
pub fn plan_expiry(position: &Position, customer: CustomerId, now: i64) -> Option<Plan> {
    let due: Vec<Lot> = position
        .lots
        .iter()
        .filter(|l| l.expires_at.is_some_and(|e| e <= now) && l.remaining > 0)
        .cloned()
        .collect();
    let due_total: i64 = due.iter().map(|l| l.remaining).sum();
    let amount = due_total.min(position.spendable());
    if amount <= 0 {
        return None;
    }
    Some(Plan {
        target: Target::New {
            kind: OperationKind::Expire,
            status: OperationStatus::Confirmed,
        },
        amount,
        postings: debit_postings(customer, Owner::Burn, amount),
        held_delta: 0,
        new_lot: None,
        takes: take_lots(&due, amount, None),
        reverses: None,
    })
}

/// The content of a request an idempotency key stands for: the same key with the same
/// fingerprint replays, with another fingerprint is refused.
pub fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Decides what a repeated idempotency key means.
pub fn check_replay(stored_fingerprint: &str, fingerprint: &str) -> Result<(), DomainError> {
    if stored_fingerprint == fingerprint {
        Ok(())
    } else {
        Err(DomainError::IdempotencyConflict)
    }
}

#[cfg(test)]
mod tests;
