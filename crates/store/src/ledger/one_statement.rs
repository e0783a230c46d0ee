//! PostgreSQL: an operation's row (a new one, or the hold it resolves) and everything else its
//! plan writes in one statement (data-modifying `WITH` parts), one round trip instead of four
//! to seven. The plan is the domain's, made
//! before; the statement only writes it, and the table's `CHECK`s still refuse a negative
//! balance. Plans of another shape go the statement-by-statement way, which SQLite always takes.

use super::{post_to_system_account, Moved, NewOperation, Record, Resolution};
use crate::model::Operation;
use crate::row::{Columns, FromColumns, Row};
use crate::tx::{Conn, Tx};
use crate::{StoreError, StoreResult};
use kopilka_domain::ledger::{OperationStatus, Owner, Plan, Posting};
use sqlx::postgres::PgArguments;
use sqlx::Arguments;

/// The plan's postings when they are ones the statement writes: none, or the customer's and
/// one other account's.
enum Postings<'p> {
    None,
    Pair {
        customer: &'p Posting,
        other: &'p Posting,
        customer_first: bool,
    },
}

impl<'p> Postings<'p> {
    fn of(postings: &'p [Posting], customer: Owner) -> Option<Postings<'p>> {
        match postings {
            [] => Some(Postings::None),
            [a, b] if a.owner == customer && b.owner != customer => Some(Postings::Pair {
                customer: a,
                other: b,
                customer_first: true,
            }),
            [a, b] if b.owner == customer && a.owner != customer => Some(Postings::Pair {
                customer: b,
                other: a,
                customer_first: false,
            }),
            _ => None,
        }
    }
}

/// Writes the operation's `record` and the rest of `plan` in one statement; `None` (nothing
/// written) when the plan is of a shape it does not write.
pub(super) async fn write(
    tx: &mut Tx,
    record: &Record<'_>,
    plan: &Plan,
    moved: &Moved<'_>,
) -> StoreResult<Option<Operation>> {
    let account = moved.account;
    let customer = account.owner;
    let Some(postings) = Postings::of(&plan.postings, customer) else {
        return Ok(None);
    };
    let mut taken: Vec<i64> = plan.takes.iter().map(|t| t.lot_id).collect();
    taken.sort_unstable();
    taken.dedup();
    if taken.len() != plan.takes.len() {
        // Two takes from one lot would be one row's update in a single statement.
        return Ok(None);
    }
    let mut args = PgArguments::default();
    // Binds a value and evaluates to its placeholder's number.
    macro_rules! arg {
        ($value:expr) => {{
            args.add($value).map_err(sqlx::Error::Encode)?;
            args.len()
        }};
    }
    // The operation's row first, then the rest, which writes only once the row is written: a
    // hold resolved meanwhile leaves nothing changed.
    let (mut sql, status, now) = match record {
        Record::New(new) => {
            arg!(new.uuid.as_str());
            arg!(new.program_id.0);
            arg!(new.currency);
            arg!(new.kind.as_str());
            arg!(new.status.as_str());
            arg!(new.amount);
            arg!(new.customer_id.0);
            arg!(new.merchant_id.map(|id| id.0));
            arg!(new.reverses.map(|id| id.0));
            arg!(new.consumed_expiry);
            arg!(new.protocol);
            arg!(new.scope.as_deref());
            arg!(new.key.as_deref());
            arg!(new.fingerprint.as_deref());
            arg!(new.description);
            arg!(new.details.as_str());
            let now = arg!(new.now);
            (NewOperation::INSERT.to_string(), new.status, now)
        }
        Record::Resolve(resolution) => {
            arg!(resolution.status.as_str());
            let now = arg!(resolution.now);
            arg!(resolution.consumed_expiry);
            arg!(resolution.scope.as_deref());
            arg!(resolution.key.as_deref());
            arg!(resolution.fingerprint.as_deref());
            arg!(resolution.hold_id.0);
            (Resolution::UPDATE.to_string(), resolution.status, now)
        }
    };
    sql = format!("WITH op AS ({sql} RETURNING *)");
    let program = arg!(account.program_id.0);
    let currency = arg!(account.currency.as_str());
    let customer_id = arg!(customer.id());
    let account = arg!(account.id);
    if status == OperationStatus::Confirmed {
        let reversed_kind = arg!(moved.reversed_kind.map_or("", |k| k.as_str()));
        sql += &format!(", counted AS (INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) SELECT ${customer_id}, op.kind, ${reversed_kind}, 1 FROM op ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n)");
    }
    if plan.held_delta != 0 || moved.balance_delta != 0 {
        let held = arg!(plan.held_delta);
        let balance = arg!(moved.balance_delta);
        sql += &format!(", moved AS (UPDATE accounts SET held = held + ${held}, balance = balance + ${balance} WHERE id = ${account} AND EXISTS (SELECT FROM op))");
    }
    let expected_postings = match &postings {
        Postings::None => 0,
        Postings::Pair {
            customer,
            other,
            customer_first,
        } => {
            let mine = arg!(customer.amount);
            let theirs = arg!(other.amount);
            let owner_kind = arg!(other.owner.kind());
            let other_account = if other.owner.may_go_negative() {
                // A system account is never locked nor moved: its balance is its postings'.
                format!("(SELECT id FROM accounts WHERE program_id = ${program} AND currency = ${currency} AND owner_kind = ${owner_kind} AND owner_id = 0)")
            } else {
                let owner_id = arg!(other.owner.id());
                sql += &if other.amount > 0 {
                    format!(", member AS (INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) SELECT ${program}, ${currency}, ${owner_kind}, ${owner_id}, ${theirs}, 0 FROM op ON CONFLICT (program_id, currency, owner_kind, owner_id) DO UPDATE SET balance = accounts.balance + excluded.balance RETURNING id)")
                } else {
                    // A debit of an account the plan locked and checked.
                    format!(", member AS (UPDATE accounts SET balance = balance + ${theirs} WHERE program_id = ${program} AND currency = ${currency} AND owner_kind = ${owner_kind} AND owner_id = ${owner_id} AND EXISTS (SELECT FROM op) RETURNING id)")
                };
                "(SELECT id FROM member)".to_string()
            };
            let mine = format!(
                "SELECT op.id, ${account}::BIGINT, ${mine}::BIGINT, ${now}::BIGINT FROM op"
            );
            let theirs = format!("SELECT op.id, other.id, ${theirs}, ${now} FROM op, {other_account} AS other(id) WHERE other.id IS NOT NULL");
            let (first, second) = if *customer_first {
                (mine, theirs)
            } else {
                (theirs, mine)
            };
            sql += &format!(", posted AS (INSERT INTO postings (operation_id, account_id, amount, created_at) {first} UNION ALL {second} RETURNING 1)");
            2
        }
    };
    if !plan.takes.is_empty() {
        let lots = arg!(plan.takes.iter().map(|t| t.lot_id).collect::<Vec<_>>());
        let amounts = arg!(plan.takes.iter().map(|t| t.amount).collect::<Vec<_>>());
        sql += &format!(", taken AS (UPDATE lots SET remaining = remaining - t.amount FROM unnest(${lots}::BIGINT[], ${amounts}::BIGINT[]) AS t(id, amount) WHERE lots.id = t.id AND EXISTS (SELECT FROM op))");
    }
    if let Some(lot) = &plan.new_lot {
        let amount = arg!(plan.amount);
        let expires_at = arg!(lot.expires_at);
        sql += &format!(", lot AS (INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) SELECT ${account}, ${amount}, ${amount}, ${expires_at}, op.id, ${now} FROM op)");
    }
    if let Some((reversed, amount)) = plan.reverses {
        let reversed = arg!(reversed.0);
        let amount = arg!(amount);
        sql += &format!(", reversal AS (UPDATE operations SET reversed = reversed + ${amount} WHERE id = ${reversed} AND EXISTS (SELECT FROM op))");
    }
    let counted_postings = if expected_postings > 0 {
        "(SELECT count(*) FROM posted)"
    } else {
        "0::BIGINT"
    };
    sql += &format!(
        " SELECT {}, {counted_postings} FROM op AS operations",
        Operation::COLUMNS
    );
    let Conn::Pg(conn) = &mut tx.conn else {
        return Ok(None);
    };
    let Some(row) = sqlx::query_with(&sql, args)
        .fetch_optional(&mut **conn)
        .await?
    else {
        return match record {
            Record::Resolve(resolution) => Err(resolution.not_pending().into()),
            Record::New(_) => Err(StoreError::Corrupt(
                "a new operation's row not written".into(),
            )),
        };
    };
    // Decoded before the next await: the columns borrow a row type that is not `Send`.
    let (operation, posted) = {
        let mut columns = Columns::Pg(&row, 0);
        (Operation::decode(&mut columns)?, columns.next::<i64>()?)
    };
    if posted != expected_postings {
        // The first operation of a program and currency: its system account is created now.
        match postings {
            Postings::Pair { other, .. } if other.owner.may_go_negative() => {
                post_to_system_account(
                    tx,
                    operation.id,
                    moved.account.program_id,
                    &moved.account.currency,
                    other.owner,
                    other.amount,
                    operation.resolved_at.unwrap_or(operation.created_at),
                )
                .await?
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "operation {} wrote {posted} postings of {expected_postings}",
                    operation.id
                )))
            }
        }
    }
    Ok(Some(operation))
}
