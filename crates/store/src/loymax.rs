//! Loymax public API state: bearer tokens (stored as SHA-256 digests), registrations in
//! progress, confirmation codes with their attempts and quotas, and the history listing.

use crate::row::{row, select, Row};
use crate::tx::{execute, fetch, int, Tx};
use crate::{StoreKind, StoreResult};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId};
use kopilka_domain::ledger::OperationKind;

#[derive(Debug, Clone)]
pub struct LoymaxToken {
    pub id: i64,
    pub kind: String,
    pub customer_id: CustomerId,
    pub credential_id: Option<i64>,
    pub expires_at: i64,
    /// A registration token issued before its holder confirmed the phone.
    pub phone_unconfirmed: bool,
}
row!(
    LoymaxToken,
    "loymax_tokens.id, loymax_tokens.kind, loymax_tokens.customer_id, loymax_tokens.credential_id, loymax_tokens.expires_at, loymax_tokens.phone_unconfirmed",
    |c| LoymaxToken {
        id: c.next()?,
        kind: c.next()?,
        customer_id: CustomerId(c.next()?),
        credential_id: c.next()?,
        expires_at: c.next()?,
        phone_unconfirmed: c.next::<i64>()? != 0,
    }
);

#[derive(Debug, Clone)]
pub struct LoymaxRegistration {
    pub customer_id: CustomerId,
    /// JSON array of step names.
    pub done: String,
    pub flow: String,
    pub new_phone: Option<String>,
    pub new_email: Option<String>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
}
row!(
    LoymaxRegistration,
    "loymax_registrations.customer_id, loymax_registrations.done, loymax_registrations.flow, loymax_registrations.new_phone, loymax_registrations.new_email, loymax_registrations.completed_at, loymax_registrations.created_at",
    |c| LoymaxRegistration {
        customer_id: CustomerId(c.next()?),
        done: c.next()?,
        flow: c.next()?,
        new_phone: c.next()?,
        new_email: c.next()?,
        completed_at: c.next()?,
        created_at: c.next()?,
    }
);

#[derive(Debug, Clone)]
pub struct LoymaxCode {
    pub id: i64,
    pub customer_id: Option<CustomerId>,
    pub purpose: String,
    pub target: String,
    pub code_hash: String,
    pub attempts: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}
row!(
    LoymaxCode,
    "loymax_codes.id, loymax_codes.customer_id, loymax_codes.purpose, loymax_codes.target, loymax_codes.code_hash, loymax_codes.attempts, loymax_codes.expires_at, loymax_codes.used_at",
    |c| LoymaxCode {
        id: c.next()?,
        customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        purpose: c.next()?,
        target: c.next()?,
        code_hash: c.next()?,
        attempts: c.next()?,
        expires_at: c.next()?,
        used_at: c.next()?,
    }
);

/// A confirmed operation as history shows it, with the kind of what it reverses, its
/// merchant's name, and the operation shown inside its row (`loymax_history_parts`), if any.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: OperationId,
    pub uuid: String,
    pub kind: OperationKind,
    pub amount: i64,
    pub currency: String,
    pub merchant_id: Option<MerchantId>,
    pub description: Option<String>,
    pub details: serde_json::Value,
    pub created_at: i64,
    pub idem_key: Option<String>,
    pub reversed_kind: Option<OperationKind>,
    pub merchant_name: Option<String>,
    pub part: Option<HistoryPart>,
}

/// An operation shown inside another's history row: its kind, amount and what it reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPart {
    pub id: OperationId,
    pub kind: OperationKind,
    pub amount: i64,
    pub reversed_kind: Option<OperationKind>,
}

fn operation_kind(s: &Option<String>) -> Option<Option<OperationKind>> {
    match s {
        Some(s) => OperationKind::parse(s).map(Some),
        None => Some(None),
    }
}

row!(
    HistoryRow,
    // An operation (op), the original it reverses (orig), its merchant (m), and its part
    // (part) with the original the part reverses (part_orig).
    "op.id, op.uuid, op.kind, op.amount, op.currency, op.merchant_id, op.description, op.details, op.created_at, op.idem_key, orig.kind, m.name, part.id, part.kind, part.amount, part_orig.kind",
    |c| HistoryRow {
        id: OperationId(c.next()?),
        uuid: c.next()?,
        kind: c.parse("operation kind", |s: &String| OperationKind::parse(s))?,
        amount: c.next()?,
        currency: c.next()?,
        merchant_id: c.next::<Option<i64>>()?.map(MerchantId),
        description: c.next()?,
        details: c.json("operation details")?,
        created_at: c.next()?,
        idem_key: c.next()?,
        reversed_kind: c.parse("operation kind", operation_kind)?,
        merchant_name: c.next()?,
        part: {
            let id: Option<i64> = c.next()?;
            let kind = c.parse("operation kind", operation_kind)?;
            let amount: Option<i64> = c.next()?;
            let reversed_kind = c.parse("operation kind", operation_kind)?;
            match (id, kind, amount) {
                (Some(id), Some(kind), Some(amount)) => Some(HistoryPart {
                    id: OperationId(id),
                    kind,
                    amount,
                    reversed_kind,
                }),
                _ => None,
            }
        },
    }
);

/// A customer's operations of one kind (and reversed kind) summed: points, and, of those
/// shown in a row of their own, how many and the money of their cheques (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryTotal {
    pub kind: OperationKind,
    pub reversed_kind: Option<OperationKind>,
    pub points: i64,
    pub rows: i64,
    pub money: i64,
}

/// Which history rows to list: the customer's confirmed operations between `from` and `to`
/// (inclusive, unix ms), optionally of some kinds and of one card, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub customer_id: CustomerId,
    pub from: i64,
    pub to: i64,
    /// Operation kinds, and kinds of originals whose reversals count too (static names).
    pub kinds: Option<(&'static [&'static str], &'static [&'static str])>,
    /// Only the history of this card of the customer's.
    pub card: Option<CardHistory>,
    /// Keyset: rows strictly older than this (created_at, id).
    pub before: Option<(i64, i64)>,
    pub offset: i64,
    pub limit: i64,
}

/// A card's history: the operations made with it (a batch row naming its number), and, for
/// the customer's main card (their first), the operations made with no card of theirs (a
/// token's purchase, a batch row naming the member number).
#[derive(Debug, Clone)]
pub struct CardHistory {
    pub card_id: i64,
    pub main: bool,
}

/// Past this many rows outside a count's dates, the rows inside are counted instead.
const OUTSIDE_LIMIT: i64 = 1000;

impl HistoryQuery {
    /// The kinds condition on a kind column and the reversed original's kind column.
    fn kinds_sql(&self, kind: &str, reversed: &str) -> String {
        let Some((kinds, reversed_kinds)) = self.kinds else {
            return String::new();
        };
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            " AND ({kind} IN ({}) OR ({kind} = 'reversal' AND {reversed} IN ({})))",
            list(kinds),
            list(reversed_kinds)
        )
    }

    /// The card condition: the card an operation names is the `member_no` of a batch row.
    fn card_sql(&self, store: StoreKind) -> String {
        let Some(card) = &self.card else {
            return String::new();
        };
        let member_no = match store {
            StoreKind::Sqlite => "json_extract(op.details, '$.member_no')",
            StoreKind::Postgres => "(op.details::jsonb ->> 'member_no')",
        };
        let id = card.card_id;
        if card.main {
            format!(
                " AND ({member_no} IS NULL OR {member_no} NOT IN (SELECT number FROM cards WHERE customer_id = $1 AND id <> {id}))"
            )
        } else {
            format!(" AND {member_no} IN (SELECT number FROM cards WHERE id = {id})")
        }
    }

    /// The customer's confirmed operations of the query's kinds, any date, each shown in a
    /// row of its own (not a part of another's).
    fn rows(&self, store: StoreKind) -> String {
        // The join to reversed originals is needed only to filter by type: without it a count
        // reads the history index alone.
        let from = match self.kinds {
            Some(_) => {
                " FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses WHERE"
            }
            None => " FROM operations op WHERE",
        };
        format!(
            "{from} op.customer_id = $1 AND op.status = 'confirmed' AND NOT EXISTS (SELECT 1 FROM loymax_history_parts hp WHERE hp.part = op.id){}{}",
            self.kinds_sql("op.kind", "orig.kind"),
            self.card_sql(store)
        )
    }
}

impl Tx {
    pub async fn loymax_insert_token(
        &mut self,
        digest: &str,
        kind: &str,
        customer_id: CustomerId,
        credential_id: Option<i64>,
        expires_at: i64,
        phone_unconfirmed: bool,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(int!(
            self,
            "INSERT INTO loymax_tokens (digest, kind, customer_id, credential_id, expires_at, created_at, phone_unconfirmed) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            digest,
            kind,
            customer_id.0,
            credential_id,
            expires_at,
            now,
            i64::from(phone_unconfirmed),
        )?)
    }

    /// Ends a customer's tokens still waiting for the phone's confirmation, but `keep`: the
    /// phone is confirmed, and whoever else asked for them never will.
    pub async fn loymax_end_unconfirmed_tokens(
        &mut self,
        customer_id: CustomerId,
        keep: i64,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE loymax_tokens SET expires_at = $1 WHERE customer_id = $2 AND phone_unconfirmed = 1 AND id <> $3 AND expires_at > $1",
            now,
            customer_id.0,
            keep,
        )?;
        Ok(())
    }

    /// A token by its digest, live or not.
    pub async fn loymax_token(&mut self, digest: &str) -> StoreResult<Option<LoymaxToken>> {
        Ok(fetch!(
            self,
            fetch_optional,
            LoymaxToken,
            &select::<LoymaxToken>("loymax_tokens WHERE digest = $1"),
            digest
        )?)
    }

    /// The access token with this digest, if it has not expired: what authenticates a call.
    pub async fn loymax_live_access_token(
        &mut self,
        digest: &str,
    ) -> StoreResult<Option<LoymaxToken>> {
        let now = self.now();
        Ok(self
            .loymax_token(digest)
            .await?
            .filter(|token| token.kind == "access" && token.expires_at > now))
    }

    /// Brings a token's end forward to `until` (rotation grace, logout); never extends it.
    pub async fn loymax_end_token(&mut self, id: i64, until: i64) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_tokens SET expires_at = $1 WHERE id = $2 AND expires_at > $1",
            until,
            id,
        )?;
        Ok(())
    }

    /// Ends every token of a customer (issued to one application, or to none) at `until`.
    pub async fn loymax_end_tokens_of(
        &mut self,
        customer_id: CustomerId,
        credential_id: Option<i64>,
        kind: &str,
        until: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_tokens SET expires_at = $1 WHERE customer_id = $2 AND kind = $3 AND expires_at > $1 AND (credential_id = $4 OR ($4 IS NULL AND credential_id IS NULL))",
            until,
            customer_id.0,
            kind,
            credential_id,
        )?;
        Ok(())
    }

    /// Ends every token handed out to an application at `until` (it was disabled).
    pub async fn loymax_end_application_tokens(
        &mut self,
        credential_id: i64,
        until: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_tokens SET expires_at = $1 WHERE credential_id = $2 AND expires_at > $1",
            until,
            credential_id,
        )?;
        Ok(())
    }

    /// Ends every token of a customer at `until` (a password reset).
    pub async fn loymax_end_all_tokens(
        &mut self,
        customer_id: CustomerId,
        until: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_tokens SET expires_at = $1 WHERE customer_id = $2 AND expires_at > $1",
            until,
            customer_id.0,
        )?;
        Ok(())
    }

    pub async fn loymax_registration(
        &mut self,
        customer_id: CustomerId,
    ) -> StoreResult<Option<LoymaxRegistration>> {
        Ok(fetch!(
            self,
            fetch_optional,
            LoymaxRegistration,
            &select::<LoymaxRegistration>("loymax_registrations WHERE customer_id = $1"),
            customer_id.0
        )?)
    }

    pub async fn loymax_save_registration(&mut self, r: &LoymaxRegistration) -> StoreResult<()> {
        execute!(
            self,
            "INSERT INTO loymax_registrations (customer_id, done, flow, new_phone, new_email, completed_at, created_at) VALUES ($1, $2, $7, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET done = excluded.done, new_phone = excluded.new_phone, new_email = excluded.new_email, completed_at = excluded.completed_at",
            r.customer_id.0,
            &r.done,
            &r.new_phone,
            &r.new_email,
            r.completed_at,
            r.created_at,
            &r.flow,
        )?;
        Ok(())
    }

    pub async fn loymax_insert_code(
        &mut self,
        customer_id: Option<CustomerId>,
        purpose: &str,
        target: &str,
        ip: &str,
        code_hash: &str,
        expires_at: i64,
    ) -> StoreResult<i64> {
        let now = self.now();
        // A new code replaces the ones before it.
        execute!(
            self,
            "UPDATE loymax_codes SET used_at = $1 WHERE used_at IS NULL AND purpose = $2 AND target = $3",
            now,
            purpose,
            target,
        )?;
        Ok(int!(
            self,
            "INSERT INTO loymax_codes (customer_id, purpose, target, ip, code_hash, attempts, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7) RETURNING id",
            customer_id.map(|id| id.0),
            purpose,
            target,
            ip,
            code_hash,
            expires_at,
            now,
        )?)
    }

    /// The latest code of a purpose sent to a target.
    pub async fn loymax_latest_code(
        &mut self,
        purpose: &str,
        target: &str,
    ) -> StoreResult<Option<LoymaxCode>> {
        Ok(fetch!(
            self,
            fetch_optional,
            LoymaxCode,
            &select::<LoymaxCode>(
                "loymax_codes WHERE purpose = $1 AND target = $2 ORDER BY id DESC LIMIT 1"
            ),
            purpose,
            target
        )?)
    }

    /// Records one attempt at a code; a right one uses it up.
    pub async fn loymax_code_attempt(&mut self, id: i64, accepted: bool) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE loymax_codes SET attempts = attempts + 1, used_at = CASE WHEN $1 THEN $2 ELSE used_at END WHERE id = $3",
            accepted,
            now,
            id,
        )?;
        Ok(())
    }

    /// Codes sent since `since` to `target` and from `ip`.
    pub async fn loymax_codes_sent(
        &mut self,
        target: &str,
        ip: &str,
        since: i64,
    ) -> StoreResult<(i64, i64)> {
        let by_target = int!(
            self,
            "SELECT COUNT(*) FROM loymax_codes WHERE target = $1 AND created_at >= $2",
            target,
            since
        )?;
        let by_ip = int!(
            self,
            "SELECT COUNT(*) FROM loymax_codes WHERE ip = $1 AND created_at >= $2",
            ip,
            since
        )?;
        Ok((by_target, by_ip))
    }

    /// How many rows the query lists (keyset and offset aside). The customer's counter
    /// (`operation_counts`, kept by every writer of operations) less the rows outside the dates while those are
    /// few — no dates, or only recent rows after `to` — so a page never counts the customer's
    /// whole history; else the rows inside the dates.
    pub async fn loymax_history_count(&mut self, q: &HistoryQuery) -> StoreResult<i64> {
        // Rows before `from` and after `to` would overlap.
        if q.from > q.to {
            return Ok(0);
        }
        let store = self.kind();
        // A card's rows are not counted apart: they are counted inside the dates.
        let outside = |dates: &str| {
            format!(
                "SELECT COUNT(*) FROM (SELECT 1{} AND {dates} LIMIT $4) AS r",
                q.rows(store)
            )
        };
        let sql = format!(
            "SELECT (SELECT CAST(COALESCE(SUM(c.n), 0) AS BIGINT) FROM operation_counts c WHERE c.customer_id = $1{}), ({}), ({})",
            q.kinds_sql("c.kind", "c.reversed_kind"),
            outside("op.created_at < $2"),
            outside("op.created_at > $3"),
        );
        let (total, before, after) = fetch!(
            self,
            fetch_one,
            (i64, i64, i64),
            &sql,
            q.customer_id.0,
            q.from,
            q.to,
            OUTSIDE_LIMIT
        )?;
        if q.card.is_none() && before < OUTSIDE_LIMIT && after < OUTSIDE_LIMIT {
            return Ok(total - before - after);
        }
        let sql = format!(
            "SELECT COUNT(*){} AND op.created_at >= $2 AND op.created_at <= $3",
            q.rows(store)
        );
        Ok(int!(self, &sql, q.customer_id.0, q.from, q.to)?)
    }

    /// A page of the query's rows, newest first. `all` is how many rows the query lists
    /// (`loymax_history_count`): an offset past the middle is read from the oldest end, so a
    /// deep page skips the fewer rows.
    pub async fn loymax_history(
        &mut self,
        q: &HistoryQuery,
        all: i64,
    ) -> StoreResult<Vec<HistoryRow>> {
        // One upper bound, the keyset's or `to`'s: beside `created_at <= to` SQLite's planner
        // left the keyset out of the index range and scanned down from `to`.
        let (before_at, before_id) = match q.before {
            Some(key) if key < (q.to, i64::MAX) => key,
            _ => (q.to, i64::MAX),
        };
        let from_oldest = q.before.is_none() && q.offset > all / 2;
        let (order, limit, offset) = if from_oldest {
            let end = all - q.offset;
            ("ASC", q.limit.min(end).max(0), (end - q.limit).max(0))
        } else {
            ("DESC", q.limit, q.offset)
        };
        let sql = format!(
            "SELECT {} FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses LEFT JOIN merchants m ON m.id = op.merchant_id LEFT JOIN loymax_history_parts hr ON hr.row_operation = op.id LEFT JOIN operations part ON part.id = hr.part LEFT JOIN operations part_orig ON part_orig.id = part.reverses WHERE op.id IN (SELECT op.id{} AND op.created_at >= $2 AND (op.created_at, op.id) < ($3, $4) ORDER BY op.created_at {order}, op.id {order} LIMIT $5 OFFSET $6) ORDER BY op.created_at DESC, op.id DESC",
            HistoryRow::COLUMNS,
            q.rows(self.kind())
        );
        Ok(fetch!(
            self,
            fetch_all,
            HistoryRow,
            &sql,
            q.customer_id.0,
            q.from,
            before_at,
            before_id,
            limit,
            offset
        )?)
    }

    /// A customer's confirmed operations between `from` and `to` summed by kind and reversed
    /// kind: points, and, of those shown in a row of their own, how many and the money of their
    /// cheques (`details.cheque.amount`, or the batch's `transaction_amount`, which is written
    /// with exactly the money's decimals). Loymax's `History/AggregateWithdrawRewardPurchase`.
    pub async fn loymax_history_totals(
        &mut self,
        customer_id: CustomerId,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<HistoryTotal>> {
        let (cheque, batch) = match self.kind() {
            StoreKind::Sqlite => (
                "json_extract(op.details, '$.cheque.amount')",
                "CAST(REPLACE(json_extract(op.details, '$.transaction_amount'), '.', '') AS INTEGER)",
            ),
            StoreKind::Postgres => (
                "(op.details::jsonb #>> '{cheque,amount}')::bigint",
                "REPLACE(op.details::jsonb ->> 'transaction_amount', '.', '')::bigint",
            ),
        };
        let sql = format!(
            "SELECT op.kind, orig.kind, CAST(SUM(op.amount) AS BIGINT), CAST(SUM(CASE WHEN hp.part IS NULL THEN 1 ELSE 0 END) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN hp.part IS NULL THEN COALESCE({cheque}, {batch}, 0) ELSE 0 END), 0) AS BIGINT) FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses LEFT JOIN loymax_history_parts hp ON hp.part = op.id WHERE op.customer_id = $1 AND op.status = 'confirmed' AND op.created_at >= $2 AND op.created_at <= $3 GROUP BY op.kind, orig.kind"
        );
        let rows = fetch!(
            self,
            fetch_all,
            (String, Option<String>, i64, i64, i64),
            &sql,
            customer_id.0,
            from,
            to
        )?;
        let kind = |k: &str| {
            OperationKind::parse(k)
                .ok_or_else(|| crate::StoreError::Corrupt(format!("operation kind {k}")))
        };
        rows.into_iter()
            .map(|(k, reversed, points, rows, money)| {
                Ok(HistoryTotal {
                    kind: kind(&k)?,
                    reversed_kind: reversed.as_deref().map(kind).transpose()?,
                    points,
                    rows,
                    money,
                })
            })
            .collect()
    }

    /// The (created_at, id) of a customer's operation by its UUID: the keyset of `filter.from`.
    pub async fn loymax_history_key(
        &mut self,
        customer_id: CustomerId,
        uuid: &str,
    ) -> StoreResult<Option<(i64, i64)>> {
        Ok(fetch!(
            self,
            fetch_optional,
            (i64, i64),
            "SELECT created_at, id FROM operations WHERE uuid = $1 AND customer_id = $2",
            uuid,
            customer_id.0
        )?)
    }

    /// Open lots of a customer's account with their expiry, soonest first (never-expiring last).
    pub async fn loymax_open_lots(
        &mut self,
        account_id: i64,
    ) -> StoreResult<Vec<(i64, Option<i64>)>> {
        Ok(fetch!(
            self,
            fetch_all,
            (i64, Option<i64>),
            "SELECT remaining, expires_at FROM lots WHERE account_id = $1 AND remaining > 0 ORDER BY expires_at IS NULL, expires_at, id",
            account_id
        )?)
    }
}
