//! The ledger's persistence: lock the customer's account, ask the domain for a plan, write it.

use crate::model::{Account, Operation};
use crate::row::{row, select, Row};
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::{StoreError, StoreKind, StoreResult};

mod one_statement;
use kopilka_domain::customer::Standing;
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use kopilka_domain::ledger::{
    self, check_replay, Lot, LotTake, OperationKind, OperationStatus, OperationView, Owner, Plan,
    Position, Target,
};
use kopilka_domain::{Amount, DomainError};
use std::sync::LazyLock;

/// The idempotency key of a request: `scope` is the caller (a merchant, the admin API), `key`
/// what the protocol calls the request's identity, `fingerprint` its content.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Earn or accrue points; expiry comes from the program when `expires_at` is `None` and
    /// `use_program_lifetime` is set.
    Credit {
        kind: OperationKind,
        customer_id: CustomerId,
        amount: Amount,
        expires_at: Option<i64>,
    },
    /// Redeem (to the request's merchant) or withdraw; `hold` reserves instead of moving.
    Debit {
        kind: OperationKind,
        customer_id: CustomerId,
        amount: Amount,
        hold: bool,
    },
    Confirm {
        operation_id: OperationId,
    },
    Void {
        operation_id: OperationId,
    },
    /// Reverse a confirmed operation; `amount: None` reverses what remains.
    Reverse {
        operation_id: OperationId,
        amount: Option<Amount>,
    },
}

#[derive(Debug, Clone)]
pub struct LedgerRequest {
    pub program_id: ProgramId,
    pub currency: String,
    /// The merchant asking; for confirm, void and reverse it must own the operation.
    pub merchant_id: Option<MerchantId>,
    pub protocol: String,
    pub idempotency: Option<Idempotency>,
    pub description: Option<String>,
    /// What the protocol wants to keep with the operation (order number, cheque, amounts).
    pub details: serde_json::Value,
    pub action: Action,
}

/// What a ledger request did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub operation: Operation,
    /// The customer's balance and held amount after the operation.
    pub balance: i64,
    pub held: i64,
    /// True when the request was a repeat and nothing changed.
    pub replayed: bool,
}

impl Outcome {
    pub fn spendable(&self) -> i64 {
        self.balance - self.held
    }
}

pub async fn execute(tx: &mut Tx, request: LedgerRequest) -> StoreResult<Outcome> {
    let original = original(tx, &request).await?;
    let (customer, currency) = moved_account(&request, original.as_ref())?;
    let account = lock_account(tx, request.program_id, currency, Owner::Customer(customer)).await?;
    // Re-read the original under the customer's lock: a concurrent confirm or reversal of
    // the same operation has committed by now.
    let original = match original {
        Some(op) => Some(
            operation(tx, op.id)
                .await?
                .ok_or(DomainError::OperationNotFound(op.id))?,
        ),
        None => None,
    };
    run(tx, &request, account, original).await
}

/// [`execute`] for a caller that already holds the customer's account, locked (on
/// PostgreSQL) before anything about the operation was read, as `account`: the account is
/// neither locked nor read again, and an original is read once.
pub async fn execute_locked(
    tx: &mut Tx,
    request: LedgerRequest,
    account: &Account,
) -> StoreResult<Outcome> {
    let original = original(tx, &request).await?;
    let (customer, currency) = moved_account(&request, original.as_ref())?;
    if account.owner != Owner::Customer(customer)
        || account.program_id != request.program_id
        || account.currency != currency
    {
        return Err(StoreError::Corrupt(format!(
            "account {} is not the one the operation moves",
            account.id
        )));
    }
    run(tx, &request, account.clone(), original).await
}

/// The customer and currency of the account a request moves: the request's for a credit or
/// debit, the original operation's for a confirm, void or reversal.
fn moved_account<'a>(
    request: &'a LedgerRequest,
    original: Option<&'a Operation>,
) -> StoreResult<(CustomerId, &'a str)> {
    match (&request.action, original) {
        (Action::Credit { customer_id, .. }, _) | (Action::Debit { customer_id, .. }, _) => {
            Ok((*customer_id, &request.currency))
        }
        (_, Some(op)) => Ok((op.view()?.customer_id, &op.currency)),
        _ => unreachable!("every action without an original names its customer"),
    }
}

/// The operation a confirm, void or reversal acts on, checked against the request.
async fn original(tx: &mut Tx, request: &LedgerRequest) -> StoreResult<Option<Operation>> {
    match &request.action {
        Action::Confirm { operation_id }
        | Action::Void { operation_id }
        | Action::Reverse { operation_id, .. } => {
            let op = operation(tx, *operation_id)
                .await?
                .filter(|op| op.program_id == request.program_id)
                .ok_or(DomainError::OperationNotFound(*operation_id))?;
            if request.merchant_id.is_some() && op.merchant_id != request.merchant_id {
                return Err(DomainError::ForeignOperation(*operation_id).into());
            }
            Ok(Some(op))
        }
        _ => Ok(None),
    }
}

/// Replays a keyed request, or plans and writes it; the customer's account is locked.
async fn run(
    tx: &mut Tx,
    request: &LedgerRequest,
    account: Account,
    original: Option<Operation>,
) -> StoreResult<Outcome> {
    let customer_id = customer_of(&account)?;
    // Read under the account's lock: a block, merge or anonymisation committed before it
    // is seen, one committed after waits for this operation; so is a request with the same
    // key.
    let (standing, keyed) =
        standing_and_keyed(tx, customer_id, request.idempotency.as_ref()).await?;
    if let (Some(idem), true) = (&request.idempotency, keyed) {
        let existing = keyed_request(tx, &idem.scope, &idem.key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key {} vanished", idem.key)))?;
        check_replay(
            existing.fingerprint.as_deref().unwrap_or(""),
            &idem.fingerprint,
        )?;
        return Ok(Outcome {
            operation: existing,
            balance: account.balance,
            held: account.held,
            replayed: true,
        });
    }
    match &request.action {
        Action::Credit { .. } | Action::Debit { .. } => standing.may_move_points()?,
        _ => standing.may_resolve()?,
    }
    let original = match original {
        Some(op) => Some(op.view()?),
        None => None,
    };
    let needs_lots = match &request.action {
        Action::Debit { hold, .. } => !hold,
        Action::Confirm { .. } => true,
        Action::Reverse { .. } => original
            .as_ref()
            .is_some_and(|o| matches!(o.kind, OperationKind::Earn | OperationKind::Accrue)),
        _ => false,
    };
    let position = position(tx, &account, needs_lots).await?;

    let plan = match (&request.action, &original) {
        (
            Action::Credit {
                kind,
                amount,
                expires_at,
                ..
            },
            _,
        ) => ledger::plan_credit(*kind, &position, customer_id, *amount, *expires_at)?,
        (
            Action::Debit {
                kind, amount, hold, ..
            },
            _,
        ) => ledger::plan_debit(
            *kind,
            &position,
            customer_id,
            request.merchant_id,
            *amount,
            *hold,
        )?,
        (Action::Confirm { .. }, Some(hold)) => ledger::plan_confirm(hold, &position)?,
        (Action::Void { .. }, Some(hold)) => ledger::plan_void(hold)?,
        (Action::Reverse { amount, .. }, Some(original)) => {
            let merchant_balance = match original.merchant_id {
                Some(m) if original.kind == OperationKind::Redeem => {
                    lock_account(
                        tx,
                        request.program_id,
                        &account.currency,
                        Owner::Merchant(m),
                    )
                    .await?
                    .balance
                }
                _ => 0,
            };
            ledger::plan_reverse(original, &position, merchant_balance, *amount)?
        }
        _ => unreachable!("originals are loaded for confirm, void and reverse"),
    };
    let entry = Entry {
        merchant_id: request.merchant_id,
        protocol: &request.protocol,
        idempotency: request.idempotency.as_ref(),
        description: request.description.as_deref(),
        details: &request.details,
    };
    apply(tx, &entry, &account, &position, plan, original.as_ref()).await
}

/// Whether a customer's points may move (no such customer: open, which the foreign key on
/// operations refuses anyway), and whether an operation holds the idempotency key: one
/// statement, a round trip less on PostgreSQL.
async fn standing_and_keyed(
    tx: &mut Tx,
    customer_id: CustomerId,
    idempotency: Option<&Idempotency>,
) -> StoreResult<(Standing, bool)> {
    let (scope, key) = match idempotency {
        Some(i) => (Some(i.scope.as_str()), Some(i.key.as_str())),
        None => (None, None),
    };
    let (state, merged_into, keyed) = fetch!(
        tx,
        fetch_one,
        (Option<String>, Option<i64>, Option<i64>),
        "SELECT (SELECT state FROM customers WHERE id = $1), (SELECT merged_into FROM customers WHERE id = $1), (SELECT id FROM operations WHERE (idem_scope = $2 AND idem_key = $3) OR (resolve_scope = $2 AND resolve_key = $3) LIMIT 1)",
        customer_id.0,
        scope,
        key,
    )?;
    let standing = match (state.as_deref(), merged_into) {
        (Some("blocked"), _) => Standing::Blocked,
        (Some("merged"), Some(into)) => Standing::Merged {
            into: CustomerId(into),
        },
        (Some("merged" | "anonymised"), _) => Standing::Anonymised,
        _ => Standing::Open,
    };
    Ok((standing, keyed.is_some()))
}

/// Locks the accounts of `customers` in each of `currencies` (creating the missing ones
/// empty), all in account order like every job that locks several accounts.
pub async fn lock_customers(
    tx: &mut Tx,
    program_id: ProgramId,
    currencies: &[String],
    customers: &[CustomerId],
) -> StoreResult<Vec<Account>> {
    let mut ids = Vec::new();
    for currency in currencies {
        for customer in customers {
            ids.push(
                ensure_member_account(tx, program_id, currency, Owner::Customer(*customer)).await?,
            );
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let sql = tx.select_locked::<Account>("accounts WHERE id = $1");
    let mut locked = Vec::with_capacity(ids.len());
    for id in ids {
        locked.push(fetch!(tx, fetch_one, Account, &sql, id)?);
    }
    Ok(locked)
}

/// Moves every point `source` holds to `target` (customers of one program, their accounts
/// `locked` by [`lock_customers`]): one `merge` operation per currency with points,
/// recorded as the target's (its `details` name the source), the source's open lots
/// following with their expiry.
pub async fn merge_locked(
    tx: &mut Tx,
    locked: &[Account],
    currencies: &[String],
    source: CustomerId,
    target: CustomerId,
) -> StoreResult<Vec<Operation>> {
    let details = serde_json::json!({ "merged_from": source.0 });
    let entry = Entry {
        merchant_id: None,
        protocol: "native",
        idempotency: None,
        description: Some("customer merged"),
        details: &details,
    };
    let mut written = Vec::new();
    for currency in currencies {
        let find = |owner| {
            locked
                .iter()
                .find(|a| a.owner == owner && &a.currency == currency)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("no locked {currency} account")))
        };
        let (from, to) = (
            find(Owner::Customer(source))?,
            find(Owner::Customer(target))?,
        );
        let from_position = position(tx, &from, true).await?;
        let to_position = position(tx, &to, false).await?;
        let Some(merge) = ledger::plan_merge(&from_position, source, &to_position, target)? else {
            continue;
        };
        let plan = Plan {
            target: Target::New {
                kind: OperationKind::Merge,
                status: OperationStatus::Confirmed,
            },
            amount: merge.amount,
            // The target's posting first: `apply` moves the account it is given (the
            // target's) and the other member's (the source's) through its posting.
            postings: merge.postings.into_iter().rev().collect(),
            held_delta: 0,
            new_lot: None,
            takes: merge.takes,
            reverses: None,
        };
        let outcome = apply(tx, &entry, &to, &to_position, plan, None).await?;
        let now = tx.now();
        for (amount, expires_at) in merge.new_lots {
            execute!(
                tx,
                "INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) VALUES ($1, $2, $2, $3, $4, $5)",
                to.id,
                amount,
                expires_at,
                outcome.operation.id.0,
                now,
            )?;
        }
        written.push(outcome.operation);
    }
    Ok(written)
}

/// Closes a customer's account in one currency: voids its pending holds and burns what is
/// left with a `withdraw` described by `description`. Returns the operations written.
pub async fn close_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    customer: CustomerId,
    description: &str,
) -> StoreResult<Vec<Operation>> {
    let mut account = lock_account(tx, program_id, currency, Owner::Customer(customer)).await?;
    let entry = Entry {
        merchant_id: None,
        protocol: "native",
        idempotency: None,
        description: Some(description),
        details: &serde_json::json!({}),
    };
    let mut written = Vec::new();
    let pending = fetch!(
        tx,
        fetch_all,
        Operation,
        &select::<Operation>(
            "operations WHERE customer_id = $1 AND currency = $2 AND status = 'pending' ORDER BY id"
        ),
        customer.0,
        currency,
    )?;
    for hold in pending {
        let view = hold.view()?;
        let position = position(tx, &account, false).await?;
        let outcome = apply(
            tx,
            &entry,
            &account,
            &position,
            ledger::plan_void(&view)?,
            None,
        )
        .await?;
        account.balance = outcome.balance;
        account.held = outcome.held;
        written.push(outcome.operation);
    }
    if account.balance > 0 {
        let position = position(tx, &account, true).await?;
        let plan = ledger::plan_debit(
            OperationKind::Withdraw,
            &position,
            customer,
            None,
            Amount(account.balance),
            false,
        )?;
        let outcome = apply(tx, &entry, &account, &position, plan, None).await?;
        written.push(outcome.operation);
    }
    Ok(written)
}

/// A member account's id, the account created empty if it is new (not locked).
async fn ensure_member_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<i64> {
    insert_empty_account(tx, program_id, currency, owner).await?;
    Ok(int!(
        tx,
        "SELECT id FROM accounts WHERE program_id = $1 AND currency = $2 AND owner_kind = $3 AND owner_id = $4",
        program_id.0,
        currency,
        owner.kind(),
        owner.id(),
    )?)
}

/// The customer a customer's account belongs to.
fn customer_of(account: &Account) -> StoreResult<CustomerId> {
    match account.owner {
        Owner::Customer(customer) => Ok(customer),
        _ => Err(StoreError::Corrupt(format!(
            "account {} is not a customer's",
            account.id
        ))),
    }
}

/// What an operation records besides its plan.
struct Entry<'a> {
    /// The merchant asking (a reversal belongs to the merchant of what it reverses).
    merchant_id: Option<MerchantId>,
    protocol: &'a str,
    idempotency: Option<&'a Idempotency>,
    description: Option<&'a str>,
    details: &'a serde_json::Value,
}

/// Writes a plan that moves the customer's `account` (locked). `original` is the operation
/// confirmed, voided or reversed, if any.
async fn apply(
    tx: &mut Tx,
    entry: &Entry<'_>,
    account: &Account,
    position: &Position,
    plan: Plan,
    original: Option<&OperationView>,
) -> StoreResult<Outcome> {
    debug_assert!(plan.postings_balance());
    let now = tx.now();
    let customer_id = customer_of(account)?;
    let (program_id, currency) = (account.program_id, account.currency.as_str());
    let consumed_expiry = consumed_expiry(position, &plan);
    // A new operation stores its idempotency key as its own, a resolution as the resolve's.
    let (scope, key, fingerprint) = match entry.idempotency {
        Some(i) => (
            Some(i.scope.clone()),
            Some(i.key.clone()),
            Some(i.fingerprint.clone()),
        ),
        None => (None, None, None),
    };
    let reversed_kind = match (plan.reverses, original) {
        (Some(_), Some(original)) => Some(original.kind),
        _ => None,
    };
    // The customer's held amount and balance change in one statement: `CHECK held <= balance`
    // holds for the row it leaves (a confirm releases the hold as it takes the points).
    let customer = Owner::Customer(customer_id);
    let balance_delta: i64 = plan
        .postings
        .iter()
        .filter(|p| p.owner == customer)
        .map(|p| p.amount)
        .sum();
    let record = match plan.target {
        Target::New { kind, status } => Record::New(NewOperation {
            uuid: uuid::Uuid::now_v7().to_string(),
            program_id,
            currency,
            kind,
            status,
            amount: plan.amount,
            customer_id,
            merchant_id: match (kind, original) {
                // A reversal belongs to the merchant of what it reverses.
                (OperationKind::Reversal, Some(original)) => original.merchant_id,
                _ => entry.merchant_id,
            },
            reverses: plan.reverses.map(|r| r.0),
            consumed_expiry,
            protocol: entry.protocol,
            scope,
            key,
            fingerprint,
            description: entry.description,
            details: entry.details.to_string(),
            now,
        }),
        Target::Resolve { hold_id, status } => Record::Resolve(Resolution {
            hold_id,
            status,
            consumed_expiry,
            scope,
            key,
            fingerprint,
            now,
        }),
    };
    if tx.kind() == StoreKind::Postgres {
        let moved = Moved {
            account,
            balance_delta,
            reversed_kind,
        };
        if let Some(operation) = one_statement::write(tx, &record, &plan, &moved).await? {
            return Ok(written(operation, account, balance_delta, plan.held_delta));
        }
    }
    let operation = match record {
        Record::New(new) => {
            static SQL: LazyLock<String> = LazyLock::new(|| {
                format!("{} RETURNING {}", NewOperation::INSERT, Operation::COLUMNS)
            });
            fetch!(
                tx,
                fetch_one,
                Operation,
                &SQL,
                new.uuid,
                program_id.0,
                currency,
                new.kind.as_str(),
                new.status.as_str(),
                new.amount,
                customer_id.0,
                new.merchant_id.map(|id| id.0),
                new.reverses.map(|r| r.0),
                consumed_expiry,
                new.protocol,
                new.scope,
                new.key,
                new.fingerprint,
                new.description,
                new.details,
                now,
            )?
        }
        Record::Resolve(resolution) => {
            let not_pending = resolution.not_pending();
            static SQL: LazyLock<String> = LazyLock::new(|| {
                format!("{} RETURNING {}", Resolution::UPDATE, Operation::COLUMNS)
            });
            fetch!(
                tx,
                fetch_optional,
                Operation,
                &SQL,
                resolution.status.as_str(),
                now,
                consumed_expiry,
                resolution.scope,
                resolution.key,
                resolution.fingerprint,
                resolution.hold_id.0
            )?
            .ok_or(not_pending)?
        }
    };
    // Nothing below changes the operation's own row: `operation` is what is stored.
    let operation_id = operation.id;
    if operation.status == OperationStatus::Confirmed {
        count_confirmed(tx, customer_id, operation.kind, reversed_kind, 1).await?;
    }
    if plan.held_delta != 0 || balance_delta != 0 {
        execute!(
            tx,
            "UPDATE accounts SET held = held + $1, balance = balance + $2 WHERE id = $3",
            plan.held_delta,
            balance_delta,
            account.id,
        )?;
    }
    write_postings(
        tx,
        program_id,
        currency,
        operation_id,
        customer,
        account.id,
        &plan.postings,
        now,
    )
    .await?;
    take_from_lots(tx, &plan.takes).await?;
    if let Some(lot) = plan.new_lot {
        execute!(
            tx,
            "INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) VALUES ($1, $2, $2, $3, $4, $5)",
            account.id,
            plan.amount,
            lot.expires_at,
            operation_id.0,
            now,
        )?;
    }
    if let Some((original, amount)) = plan.reverses {
        execute!(
            tx,
            "UPDATE operations SET reversed = reversed + $1 WHERE id = $2",
            amount,
            original.0,
        )?;
    }
    Ok(written(operation, account, balance_delta, plan.held_delta))
}

/// The outcome of an operation written that moved `account` by the deltas.
fn written(
    operation: Operation,
    account: &Account,
    balance_delta: i64,
    held_delta: i64,
) -> Outcome {
    metrics::counter!("kopilka_ledger_operations_total", "kind" => operation.kind.as_str(), "status" => operation.status.as_str()).increment(1);
    Outcome {
        operation,
        balance: account.balance + balance_delta,
        held: account.held + held_delta,
        replayed: false,
    }
}

/// A new operation's row, as written.
struct NewOperation<'a> {
    uuid: String,
    program_id: ProgramId,
    currency: &'a str,
    kind: OperationKind,
    status: OperationStatus,
    amount: i64,
    customer_id: CustomerId,
    merchant_id: Option<MerchantId>,
    reverses: Option<OperationId>,
    consumed_expiry: Option<i64>,
    protocol: &'a str,
    scope: Option<String>,
    key: Option<String>,
    fingerprint: Option<String>,
    description: Option<&'a str>,
    details: String,
    now: i64,
}

impl NewOperation<'_> {
    /// The `INSERT` of the row, its values `$1`…`$17` in the struct's order.
    const INSERT: &'static str = "INSERT INTO operations (uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, reverses, consumed_expiry, protocol, idem_scope, idem_key, fingerprint, description, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
}

/// A hold confirmed or voided, as written.
struct Resolution {
    hold_id: OperationId,
    status: OperationStatus,
    consumed_expiry: Option<i64>,
    scope: Option<String>,
    key: Option<String>,
    fingerprint: Option<String>,
    now: i64,
}

impl Resolution {
    /// The `UPDATE` of the hold, its values `$1`…`$7` in the struct's order (`now` second).
    const UPDATE: &'static str = "UPDATE operations SET status = $1, resolved_at = $2, consumed_expiry = $3, resolve_scope = $4, resolve_key = $5, resolve_fingerprint = $6 WHERE id = $7 AND status = 'pending'";

    /// The refusal when the hold was resolved by a concurrent request.
    fn not_pending(&self) -> DomainError {
        DomainError::HoldNotPending {
            id: self.hold_id,
            status: "resolved",
        }
    }
}

/// The operation's own row: a new one, or the hold a plan resolves.
enum Record<'a> {
    New(NewOperation<'a>),
    Resolve(Resolution),
}

/// What an operation does to the customer's `account` (locked) besides its postings.
struct Moved<'a> {
    account: &'a Account,
    balance_delta: i64,
    /// The kind of the operation a reversal reverses, for the history counts.
    reversed_kind: Option<OperationKind>,
}

/// Adds `n` confirmed operations of a kind (and, for reversals, of the kind reversed) to a
/// customer's history counts, which Loymax history reads instead of counting rows. Every
/// writer of operations calls it in the transaction that confirms them.
pub(crate) async fn count_confirmed(
    tx: &mut Tx,
    customer_id: CustomerId,
    kind: OperationKind,
    reversed_kind: Option<OperationKind>,
    n: i64,
) -> StoreResult<()> {
    execute!(
        tx,
        "INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n",
        customer_id.0,
        kind.as_str(),
        // Stored as '' when the operation reverses nothing: part of the table's key.
        reversed_kind.map_or("", OperationKind::as_str),
        n,
    )?;
    Ok(())
}

/// Writes a plan's postings: the customer's (whose balance the caller moved) and the other
/// side's, a merchant's (its balance moved here) or a system account's, in one statement
/// when the plan is the usual pair.
#[allow(clippy::too_many_arguments)]
async fn write_postings(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    operation_id: OperationId,
    customer: Owner,
    customer_account: i64,
    postings: &[kopilka_domain::ledger::Posting],
    now: i64,
) -> StoreResult<()> {
    let (mine, other) = match postings {
        [a, b] if a.owner == customer && b.owner != customer => (a, b),
        [a, b] if b.owner == customer && a.owner != customer => (b, a),
        _ => {
            for posting in postings {
                let account_id = if posting.owner == customer {
                    customer_account
                } else if posting.owner.may_go_negative() {
                    post_to_system_account(
                        tx,
                        operation_id,
                        program_id,
                        currency,
                        posting.owner,
                        posting.amount,
                        now,
                    )
                    .await?;
                    continue;
                } else {
                    member_posting_account(tx, program_id, currency, posting).await?
                };
                insert_posting(tx, operation_id, account_id, posting.amount, now).await?;
            }
            return Ok(());
        }
    };
    let customer_first = postings[0].owner == customer;
    if other.owner.may_go_negative() {
        // The system account's id comes from its unique key inside the statement; the first
        // operation of a program and currency finds no account and creates it.
        let sql = if customer_first {
            "INSERT INTO postings (operation_id, account_id, amount, created_at) SELECT $1, $2, $3, $4 UNION ALL SELECT $1, id, $5, $4 FROM accounts WHERE program_id = $6 AND currency = $7 AND owner_kind = $8 AND owner_id = 0"
        } else {
            "INSERT INTO postings (operation_id, account_id, amount, created_at) SELECT $1, id, $5, $4 FROM accounts WHERE program_id = $6 AND currency = $7 AND owner_kind = $8 AND owner_id = 0 UNION ALL SELECT $1, $2, $3, $4"
        };
        let written = execute!(
            tx,
            sql,
            operation_id.0,
            customer_account,
            mine.amount,
            now,
            other.amount,
            program_id.0,
            currency,
            other.owner.kind(),
        )?;
        if written != 2 {
            post_to_system_account(
                tx,
                operation_id,
                program_id,
                currency,
                other.owner,
                other.amount,
                now,
            )
            .await?;
        }
        return Ok(());
    }
    let other_account = member_posting_account(tx, program_id, currency, other).await?;
    let (first, second) = if customer_first {
        (
            (customer_account, mine.amount),
            (other_account, other.amount),
        )
    } else {
        (
            (other_account, other.amount),
            (customer_account, mine.amount),
        )
    };
    execute!(
        tx,
        "INSERT INTO postings (operation_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4), ($1, $5, $6, $4)",
        operation_id.0,
        first.0,
        first.1,
        now,
        second.0,
        second.1,
    )?;
    Ok(())
}

/// Moves the balance of a member account other than the customer's (a merchant's) by its
/// posting and returns the account's id. A credit creates the account if it is new; a debit
/// is of an account the plan already locked and checked.
async fn member_posting_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    posting: &kopilka_domain::ledger::Posting,
) -> StoreResult<i64> {
    Ok(if posting.amount > 0 {
        int!(
            tx,
            "INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (program_id, currency, owner_kind, owner_id) DO UPDATE SET balance = accounts.balance + excluded.balance RETURNING id",
            program_id.0,
            currency,
            posting.owner.kind(),
            posting.owner.id(),
            posting.amount,
        )?
    } else {
        int!(
            tx,
            "UPDATE accounts SET balance = balance + $1 WHERE program_id = $2 AND currency = $3 AND owner_kind = $4 AND owner_id = $5 RETURNING id",
            posting.amount,
            program_id.0,
            currency,
            posting.owner.kind(),
            posting.owner.id(),
        )?
    })
}

async fn insert_posting(
    tx: &mut Tx,
    operation_id: OperationId,
    account_id: i64,
    amount: i64,
    now: i64,
) -> StoreResult<()> {
    execute!(
        tx,
        "INSERT INTO postings (operation_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4)",
        operation_id.0,
        account_id,
        amount,
        now,
    )?;
    Ok(())
}

/// The latest expiry among the lots a plan takes (`None` if any of them never expires).
fn consumed_expiry(position: &Position, plan: &Plan) -> Option<i64> {
    let mut latest: Option<i64> = None;
    for take in &plan.takes {
        let lot = position.lots.iter().find(|l| l.id == take.lot_id)?;
        let expiry = lot.expires_at?;
        latest = Some(latest.map_or(expiry, |l| l.max(expiry)));
    }
    latest
}

async fn position(tx: &mut Tx, account: &Account, with_lots: bool) -> StoreResult<Position> {
    let lots = if with_lots {
        open_lots(tx, account.id).await?
    } else {
        Vec::new()
    };
    Ok(Position {
        balance: account.balance,
        held: account.held,
        lots,
    })
}

/// Lowers the lots by what a plan takes from them.
pub(crate) async fn take_from_lots(tx: &mut Tx, takes: &[LotTake]) -> StoreResult<()> {
    for take in takes {
        execute!(
            tx,
            "UPDATE lots SET remaining = remaining - $1 WHERE id = $2",
            take.amount,
            take.lot_id,
        )?;
    }
    Ok(())
}

row!(
    Lot,
    "lots.id, lots.remaining, lots.expires_at, lots.origin",
    |c| Lot {
        id: c.next()?,
        remaining: c.next()?,
        expires_at: c.next()?,
        origin: OperationId(c.next()?),
    }
);

/// An account's lots with points left, in spending order.
pub async fn open_lots(tx: &mut Tx, account_id: i64) -> StoreResult<Vec<Lot>> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| select::<Lot>("lots WHERE account_id = $1 AND remaining > 0"));
    let mut position = Position {
        lots: fetch!(tx, fetch_all, Lot, &SQL, account_id)?,
        ..Position::default()
    };
    position.sort_lots();
    Ok(position.lots)
}

/// Locks (on PostgreSQL) and returns a member account, creating it empty if it is new.
pub async fn lock_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<Account> {
    let sql = tx.select_locked::<Account>(
        "accounts WHERE program_id = $1 AND currency = $2 AND owner_kind = $3 AND owner_id = $4",
    );
    // The account, read with `fetch_optional` before it may be created, `fetch_one` after.
    macro_rules! account {
        ($method:ident) => {
            fetch!(
                tx,
                $method,
                Account,
                &sql,
                program_id.0,
                currency,
                owner.kind(),
                owner.id()
            )
        };
    }
    if let Some(account) = account!(fetch_optional)? {
        return Ok(account);
    }
    insert_empty_account(tx, program_id, currency, owner).await?;
    Ok(account!(fetch_one)?)
}

/// Creates a member account, empty, unless it exists.
async fn insert_empty_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<()> {
    execute!(
        tx,
        "INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) VALUES ($1, $2, $3, $4, 0, 0) ON CONFLICT (program_id, currency, owner_kind, owner_id) DO NOTHING",
        program_id.0,
        currency,
        owner.kind(),
        owner.id(),
    )?;
    Ok(())
}

/// The id of a system account, which is never locked: its balance is the sum of its postings.
pub(crate) async fn system_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<i64> {
    const SQL: &str = "SELECT id FROM accounts WHERE program_id = $1 AND currency = $2 AND owner_kind = $3 AND owner_id = 0";
    if let Some(id) = scalar!(
        tx,
        fetch_optional,
        i64,
        SQL,
        program_id.0,
        currency,
        owner.kind()
    )? {
        return Ok(id);
    }
    create_system_account(tx, program_id, currency, owner).await?;
    Ok(int!(tx, SQL, program_id.0, currency, owner.kind())?)
}

async fn create_system_account(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<()> {
    execute!(
        tx,
        "INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) VALUES ($1, $2, $3, 0, 0, 0) ON CONFLICT (program_id, currency, owner_kind, owner_id) DO NOTHING",
        program_id.0,
        currency,
        owner.kind(),
    )?;
    Ok(())
}

/// Posts to a system account, which is never locked (its balance is the sum of its postings),
/// creating the account the first time. One statement once the account exists.
async fn post_to_system_account(
    tx: &mut Tx,
    operation_id: OperationId,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
    amount: i64,
    now: i64,
) -> StoreResult<()> {
    // The posting; 0 rows while the account does not exist.
    macro_rules! post {
        () => {
            execute!(
                tx,
                "INSERT INTO postings (operation_id, account_id, amount, created_at) SELECT $1, id, $2, $3 FROM accounts WHERE program_id = $4 AND currency = $5 AND owner_kind = $6 AND owner_id = 0",
                operation_id.0,
                amount,
                now,
                program_id.0,
                currency,
                owner.kind()
            )
        };
    }
    if post!()? == 1 {
        return Ok(());
    }
    create_system_account(tx, program_id, currency, owner).await?;
    if post!()? != 1 {
        return Err(StoreError::Corrupt(format!(
            "no {} account for program {program_id}",
            owner.kind()
        )));
    }
    Ok(())
}

pub async fn operation(tx: &mut Tx, id: OperationId) -> StoreResult<Option<Operation>> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| select::<Operation>("operations WHERE id = $1"));
    Ok(fetch!(tx, fetch_optional, Operation, &SQL, id.0)?)
}

/// The operation an idempotency key names: the one its request created, or the hold its
/// request confirmed or voided. `fingerprint` is that request's.
async fn keyed_request(tx: &mut Tx, scope: &str, key: &str) -> StoreResult<Option<Operation>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns = Operation::COLUMNS.replace(
            "operations.fingerprint",
            "CASE WHEN idem_scope = $1 AND idem_key = $2 THEN fingerprint ELSE resolve_fingerprint END",
        );
        format!("SELECT {columns} FROM operations WHERE (idem_scope = $1 AND idem_key = $2) OR (resolve_scope = $1 AND resolve_key = $2)")
    });
    Ok(fetch!(tx, fetch_optional, Operation, &SQL, scope, key)?)
}

/// Reversals of an operation, oldest first.
pub async fn reversals_of(tx: &mut Tx, id: OperationId) -> StoreResult<Vec<Operation>> {
    let sql = select::<Operation>("operations WHERE reverses = $1 ORDER BY id");
    Ok(fetch!(tx, fetch_all, Operation, &sql, id.0)?)
}

/// Filters for listing operations.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub program_id: Option<ProgramId>,
    pub customer_id: Option<CustomerId>,
    pub merchant_id: Option<MerchantId>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Created at or after this instant (unix milliseconds).
    pub created_from: Option<i64>,
    /// Created before this instant (half-open with `created_from`).
    pub created_before: Option<i64>,
    /// Only operations with an id below this (keyset paging, newest first).
    pub before_id: Option<OperationId>,
    pub limit: i64,
}

/// Operations newest first. Only the filters given become conditions on columns (the others
/// are `$n IS NULL`), so a customer's listing reads their newest rows through an index of
/// theirs instead of walking every operation, and a program's likewise.
pub async fn operations(tx: &mut Tx, filter: &OperationFilter) -> StoreResult<Vec<Operation>> {
    let condition = |given: bool, column: &str, n: usize| {
        if given {
            format!("{column} ${n}")
        } else {
            format!("${n} IS NULL")
        }
    };
    // A customer's rows through `operations_customer_newest` (customer_id, id), else a
    // program's through `operations_program` (program_id, id): newest first, a walk that reads
    // those rows only and stops at the page's end (the exports read every page). `+` keeps the
    // planners off the indexes that would read and sort every row of the customer's program
    // or of a period (`operations_program_created`, `loymax_history`) for each page.
    let program = match filter.customer_id {
        Some(_) => "+program_id =",
        None => "program_id =",
    };
    let sql = format!(
        "SELECT {} FROM operations WHERE {} AND {} AND {} AND {} AND {} AND {} AND {} AND {} ORDER BY id DESC LIMIT $9",
        Operation::COLUMNS,
        condition(filter.program_id.is_some(), program, 1),
        condition(filter.customer_id.is_some(), "customer_id =", 2),
        condition(filter.merchant_id.is_some(), "merchant_id =", 3),
        condition(filter.kind.is_some(), "kind =", 4),
        condition(filter.status.is_some(), "status =", 5),
        condition(filter.before_id.is_some(), "id <", 6),
        condition(filter.created_from.is_some(), "+created_at >=", 7),
        condition(filter.created_before.is_some(), "+created_at <", 8),
    );
    Ok(fetch!(
        tx,
        fetch_all,
        Operation,
        &sql,
        filter.program_id.map(|id| id.0),
        filter.customer_id.map(|id| id.0),
        filter.merchant_id.map(|id| id.0),
        filter.kind.clone(),
        filter.status.clone(),
        filter.before_id.map(|id| id.0),
        filter.created_from,
        filter.created_before,
        filter.limit,
    )?)
}

/// Postings of an operation.
pub async fn postings_of(
    tx: &mut Tx,
    operation_id: OperationId,
) -> StoreResult<Vec<crate::model::Posting>> {
    Ok(fetch!(
        tx,
        fetch_all,
        crate::model::Posting,
        &select::<crate::model::Posting>("postings WHERE operation_id = $1 ORDER BY id"),
        operation_id.0,
    )?)
}

/// A customer's accounts, one per currency.
pub async fn accounts_of(tx: &mut Tx, owner: Owner) -> StoreResult<Vec<Account>> {
    Ok(fetch!(
        tx,
        fetch_all,
        Account,
        &select::<Account>("accounts WHERE owner_kind = $1 AND owner_id = $2 ORDER BY currency"),
        owner.kind(),
        owner.id(),
    )?)
}

/// An account's balance: the stored one for members, the sum of postings for system accounts.
pub async fn balance(
    tx: &mut Tx,
    program_id: ProgramId,
    currency: &str,
    owner: Owner,
) -> StoreResult<(i64, i64)> {
    if owner.may_go_negative() {
        let sum = scalar!(
            tx,
            fetch_one,
            Option<i64>,
            "SELECT CAST(SUM(p.amount) AS BIGINT) FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.program_id = $1 AND a.currency = $2 AND a.owner_kind = $3",
            program_id.0,
            currency,
            owner.kind(),
        )?;
        return Ok((sum.unwrap_or(0), 0));
    }
    let row = fetch!(
        tx,
        fetch_optional,
        Account,
        &select::<Account>(
            "accounts WHERE program_id = $1 AND currency = $2 AND owner_kind = $3 AND owner_id = $4"
        ),
        program_id.0,
        currency,
        owner.kind(),
        owner.id(),
    )?;
    Ok(row.map_or((0, 0), |a| (a.balance, a.held)))
}

/// Checks that every member account's balance equals the sum of its postings and of its lots
/// (customers). Returns the ids of accounts that disagree: none, always.
pub async fn audit(tx: &mut Tx) -> StoreResult<Vec<i64>> {
    Ok(scalar!(
        tx,
        fetch_all,
        i64,
        // One pass over postings and lots each (per-account subqueries would scan the lots of
        // every account once per account: lots has only a partial index on open lots).
        "SELECT a.id FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM postings GROUP BY account_id) p ON p.account_id = a.id LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM lots GROUP BY account_id) l ON l.account_id = a.id WHERE a.owner_kind IN ('customer', 'merchant') AND (a.balance <> COALESCE(p.total, 0) OR (a.owner_kind = 'customer' AND a.balance <> COALESCE(l.total, 0))) ORDER BY a.id",
    )?)
}

/// Holds made through `protocol` that are still pending and were made before `cutoff`, in
/// the order of their customers' accounts (the order every job that locks several accounts
/// takes them in, so two jobs never wait on each other).
pub async fn stale_holds(
    tx: &mut Tx,
    program_id: ProgramId,
    protocol: &str,
    cutoff: i64,
    limit: i64,
) -> StoreResult<Vec<OperationId>> {
    let holds = scalar!(
        tx,
        fetch_all,
        i64,
        "SELECT o.id FROM operations o JOIN accounts a ON a.program_id = o.program_id AND a.currency = o.currency AND a.owner_kind = 'customer' AND a.owner_id = o.customer_id WHERE o.status = 'pending' AND o.program_id = $1 AND o.protocol = $2 AND o.created_at < $3 ORDER BY a.id, o.id LIMIT $4",
        program_id.0,
        protocol,
        cutoff,
        limit,
    )?;
    Ok(holds.into_iter().map(OperationId).collect())
}

/// Burns points whose lifetime has ended, at most `limit` accounts per call; each account's
/// expiry is an operation of its own. Returns the operations written.
pub async fn expire_due(tx: &mut Tx, now: i64, limit: i64) -> StoreResult<Vec<Operation>> {
    let due = fetch!(
        tx,
        fetch_all,
        (i64, i64, String, i64),
        "SELECT DISTINCT a.id, a.program_id, a.currency, a.owner_id FROM lots l JOIN accounts a ON a.id = l.account_id WHERE l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= $1 AND a.balance > a.held ORDER BY a.id LIMIT $2",
        now,
        limit,
    )?;
    let entry = Entry {
        merchant_id: None,
        protocol: "system",
        idempotency: None,
        description: Some("points expired"),
        details: &serde_json::json!({}),
    };
    let mut written = Vec::new();
    for (_, program_id, currency, customer_id) in due {
        let customer = CustomerId(customer_id);
        let account = lock_account(
            tx,
            ProgramId(program_id),
            &currency,
            Owner::Customer(customer),
        )
        .await?;
        let position = position(tx, &account, true).await?;
        let Some(plan) = ledger::plan_expiry(&position, customer, now) else {
            continue;
        };
        let outcome = apply(tx, &entry, &account, &position, plan, None).await?;
        written.push(outcome.operation);
    }
    Ok(written)
}
