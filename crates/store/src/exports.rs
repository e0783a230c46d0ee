//! Keyset pages the exports read beyond the listings' own queries (docs/exports.md): the open
//! lots that make up a program's liability. Newest first, below an id, like every listing.

use crate::row::{Columns, FromColumns};
use crate::tx::{fetch, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, OperationId, ProgramId};

/// An open lot of a customer: points still owed, and when they expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiabilityLot {
    pub id: i64,
    pub customer_id: CustomerId,
    pub member_no: String,
    /// The operation that credited the lot.
    pub origin: OperationId,
    pub created_at: i64,
    /// Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
    pub amount: i64,
    pub remaining: i64,
}

impl FromColumns for LiabilityLot {
    fn decode(c: &mut Columns<'_>) -> StoreResult<LiabilityLot> {
        Ok(LiabilityLot {
            id: c.next()?,
            customer_id: CustomerId(c.next()?),
            member_no: c.next()?,
            origin: OperationId(c.next()?),
            created_at: c.next()?,
            expires_at: c.next()?,
            amount: c.next()?,
            remaining: c.next()?,
        })
    }
}

impl Tx {
    /// The program's customers' lots with points remaining, newest first below `before_id`.
    /// SQLite walks the lots down their primary key (`CROSS JOIN` keeps them the outer loop), so
    /// a page stops at its end instead of sorting every lot of the program.
    pub async fn liability_lots(
        &mut self,
        program_id: ProgramId,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<LiabilityLot>> {
        Ok(fetch!(
            self,
            fetch_all,
            LiabilityLot,
            "SELECT l.id, c.id, c.member_no, l.origin, l.created_at, l.expires_at, l.amount, l.remaining \
             FROM lots l CROSS JOIN accounts a JOIN customers c ON c.id = a.owner_id \
             WHERE a.id = l.account_id AND a.program_id = $1 AND a.owner_kind = 'customer' AND l.remaining > 0 AND ($2 IS NULL OR l.id < $2) \
             ORDER BY l.id DESC LIMIT $3",
            program_id.0,
            before_id,
            limit
        )?)
    }
}
