//! Loymax batch balance requests: rows are staged in chunks (each chunk its own short write
//! job), then applied in one transaction with set-based SQL: every row becomes an operation
//! with its postings (and a lot for credits, lot takes for withdrawals), balances move once per
//! account, and the request's answer is stored for replays. All rows or none.

use crate::tx::{execute, fetch, scalar, Tx};
use crate::{StoreKind, StoreResult};
use kopilka_domain::ledger::{OperationKind, Owner};

/// One row as staged: `details` is a JSON object's members without the opening brace, so the
/// apply can prefix the request's own members.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StagedRow {
    pub seq: i64,
    pub member_no: String,
    pub points: i64,
    pub description: Option<String>,
    pub details: String,
}

/// What the apply needs besides the staged rows.
#[derive(Debug, Clone)]
pub struct BatchApply {
    /// The staging key of this request's rows.
    pub batch: String,
    pub program_id: i64,
    pub merchant_id: i64,
    pub currency: String,
    pub request_id: String,
    pub request_type: i64,
    pub kind: OperationKind,
    /// Expiry of credited points.
    pub expires_at: Option<i64>,
    /// Used for rows without a description of their own.
    pub description: Option<String>,
    /// Opening members of every row's details (`{"source":"loymax_batch",…,`).
    pub details_prefix: String,
    pub fingerprint: String,
    pub row_count: i64,
    /// The answer stored for replays when the request applies.
    pub answer: String,
}

/// A row the apply refused, by its 1-based position in `accrue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub seq: i64,
    pub member_no: String,
    pub reason: RejectReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    UnknownMember,
    NotEnoughPoints,
}

#[derive(Debug)]
pub enum BatchOutcome {
    Applied,
    /// Nothing was written; the first rows at fault.
    Rejected(Vec<RejectedRow>),
    /// The request id was already used: its fingerprint and stored answer.
    Replay {
        fingerprint: String,
        answer: String,
    },
}

const REJECTED_SHOWN: i64 = 100;

/// A staged row as it travels to the database: seq, member, points, description, details, uuid.
type PackedRow<'a> = (i64, &'a str, i64, Option<&'a str>, &'a str, &'a str);

impl Tx {
    /// The stored answer of an applied request, with its body's fingerprint.
    pub async fn loymax_batch_answer(
        &mut self,
        merchant_id: i64,
        request_id: &str,
    ) -> StoreResult<Option<(String, String)>> {
        Ok(fetch!(
            self,
            fetch_optional,
            (String, String),
            "SELECT fingerprint, answer FROM loymax_batch_requests WHERE merchant_id = $1 AND request_id = $2",
            merchant_id,
            request_id,
        )?)
    }

    /// Stages a chunk of rows (the chunk travels as one JSON array), resolving each row's
    /// customer (by member number, else by an active card's number) and account, so the final
    /// apply only reads the staged rows. Accounts missing for known customers are created
    /// empty. On PostgreSQL each row also draws its operation id from the sequence.
    pub async fn loymax_batch_stage(
        &mut self,
        batch: &str,
        program_id: i64,
        currency: &str,
        rows: &[StagedRow],
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let uuids: Vec<String> = rows
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let packed: Vec<PackedRow> = rows
            .iter()
            .zip(&uuids)
            .map(|(r, u)| {
                (
                    r.seq,
                    r.member_no.as_str(),
                    r.points,
                    r.description.as_deref(),
                    r.details.as_str(),
                    u.as_str(),
                )
            })
            .collect();
        let json = serde_json::to_string(&packed).expect("rows serialize");
        let customer = |program: &str| {
            format!("COALESCE((SELECT c.id FROM customers c WHERE c.program_id = {program} AND c.member_no = r.member_no), (SELECT k.customer_id FROM cards k WHERE k.program_id = {program} AND k.number = r.member_no AND k.state = 'active'))")
        };
        let (members, rows_sql) = match self.kind() {
            StoreKind::Sqlite => (
                "SELECT DISTINCT json_extract(value, '$[1]') AS member_no FROM json_each($1)",
                "SELECT json_extract(value, '$[0]') AS seq, json_extract(value, '$[1]') AS member_no, json_extract(value, '$[2]') AS points, json_extract(value, '$[3]') AS description, json_extract(value, '$[4]') AS details, json_extract(value, '$[5]') AS uuid FROM json_each($2)",
            ),
            StoreKind::Postgres => (
                "SELECT DISTINCT e->>1 AS member_no FROM json_array_elements($1::json) e",
                "SELECT (e->>0)::bigint AS seq, e->>1 AS member_no, (e->>2)::bigint AS points, e->>3 AS description, e->>4 AS details, e->>5 AS uuid FROM json_array_elements($2::json) e",
            ),
        };
        // Accounts first (empty ones for known customers who have none), so each row can
        // name its account as it is staged.
        execute!(
            self,
            &format!("INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) SELECT $2, $3, 'customer', m.customer_id, 0, 0 FROM (SELECT {} AS customer_id FROM ({members}) AS r) AS m WHERE m.customer_id IS NOT NULL ON CONFLICT (program_id, currency, owner_kind, owner_id) DO NOTHING", customer("$2")),
            &json,
            program_id,
            currency,
        )?;
        let operation_id = match self.kind() {
            StoreKind::Sqlite => "NULL",
            StoreKind::Postgres => "nextval(pg_get_serial_sequence('operations', 'id'))",
        };
        execute!(
            self,
            &format!("INSERT INTO loymax_batch_rows (batch, seq, member_no, points, description, details, uuid, customer_id, account_id, operation_id) SELECT $1, s.seq, s.member_no, s.points, s.description, s.details, s.uuid, s.customer_id, (SELECT a.id FROM accounts a WHERE a.program_id = $3 AND a.currency = $4 AND a.owner_kind = 'customer' AND a.owner_id = s.customer_id), {operation_id} FROM (SELECT r.*, {} AS customer_id FROM ({rows_sql}) AS r) AS s", customer("$3")),
            batch,
            &json,
            program_id,
            currency,
        )?;
        Ok(())
    }

    /// Drops up to `limit` of a request's staged rows; returns how many it dropped. Small
    /// steps keep each job's undo short.
    pub async fn loymax_batch_discard(&mut self, batch: &str, limit: i64) -> StoreResult<u64> {
        Ok(execute!(
            self,
            "DELETE FROM loymax_batch_rows WHERE batch = $1 AND seq IN (SELECT seq FROM loymax_batch_rows WHERE batch = $1 ORDER BY seq LIMIT $2)",
            batch,
            limit
        )?)
    }

    /// Applies a staged request: all rows or none.
    pub async fn loymax_batch_apply(&mut self, req: &BatchApply) -> StoreResult<BatchOutcome> {
        if let Some((fingerprint, answer)) = self
            .loymax_batch_answer(req.merchant_id, &req.request_id)
            .await?
        {
            return Ok(BatchOutcome::Replay {
                fingerprint,
                answer,
            });
        }
        let credit = matches!(req.kind, OperationKind::Earn | OperationKind::Accrue);
        let batch = req.batch.as_str();
        let unknown = fetch!(
            self,
            fetch_all,
            (i64, String),
            "SELECT seq, member_no FROM loymax_batch_rows WHERE batch = $1 AND customer_id IS NULL ORDER BY seq LIMIT $2",
            batch,
            REJECTED_SHOWN,
        )?;
        if !unknown.is_empty() {
            return Ok(rejected(unknown, RejectReason::UnknownMember));
        }
        // Staged rows carry their operation ids on PostgreSQL (from the sequence); on SQLite
        // the single writer owns the sequence and numbers them after the largest id used.
        let base = match self.kind() {
            StoreKind::Sqlite => scalar!(
                self,
                fetch_one,
                i64,
                "SELECT MAX(n) FROM (SELECT COALESCE(MAX(id), 0) AS n FROM operations UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'operations') AS t",
            )?,
            StoreKind::Postgres => {
                // Lock the accounts in id order, as every other writer does.
                scalar!(
                    self,
                    fetch_one,
                    i64,
                    "SELECT COUNT(*) FROM (SELECT id FROM accounts WHERE id IN (SELECT account_id FROM loymax_batch_rows WHERE batch = $1) ORDER BY id FOR UPDATE) AS locked",
                    batch,
                )?;
                0
            }
        };
        if !credit {
            let short = fetch!(
                self,
                fetch_all,
                (i64, String),
                "SELECT r.seq, r.member_no FROM loymax_batch_rows r JOIN (SELECT account_id, SUM(points) AS total FROM loymax_batch_rows WHERE batch = $1 GROUP BY account_id) t ON t.account_id = r.account_id JOIN accounts a ON a.id = r.account_id WHERE r.batch = $1 AND t.total > a.balance - a.held ORDER BY r.seq LIMIT $2",
                batch,
                REJECTED_SHOWN,
            )?;
            if !short.is_empty() {
                return Ok(rejected(short, RejectReason::NotEnoughPoints));
            }
        }
        let now = self.now();
        execute!(
            self,
            "INSERT INTO operations (id, uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, protocol, description, details, created_at) SELECT COALESCE(operation_id, $9 + seq), uuid, $2, $3, $4, 'confirmed', points, 0, customer_id, $5, 'loymax', COALESCE(description, $6), $7 || details, $8 FROM loymax_batch_rows WHERE batch = $1 ORDER BY seq",
            batch,
            req.program_id,
            &req.currency,
            req.kind.as_str(),
            req.merchant_id,
            &req.description,
            &req.details_prefix,
            now,
            base,
        )?;
        let (system, sign) = if credit {
            (Owner::Issuance, 1i64)
        } else {
            (Owner::Burn, -1i64)
        };
        let system_id =
            crate::ledger::system_account(self, req.program_id, &req.currency, system).await?;
        execute!(
            self,
            "INSERT INTO postings (operation_id, account_id, amount, created_at) SELECT COALESCE(operation_id, $5 + seq), $2, -$3 * points, $4 FROM loymax_batch_rows WHERE batch = $1 ORDER BY seq",
            batch,
            system_id,
            sign,
            now,
            base,
        )?;
        execute!(
            self,
            "INSERT INTO postings (operation_id, account_id, amount, created_at) SELECT COALESCE(operation_id, $4 + seq), account_id, $2 * points, $3 FROM loymax_batch_rows WHERE batch = $1 ORDER BY seq",
            batch,
            sign,
            now,
            base,
        )?;
        if credit {
            execute!(
                self,
                "INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) SELECT account_id, points, points, $2, COALESCE(operation_id, $4 + seq), $3 FROM loymax_batch_rows WHERE batch = $1 ORDER BY seq",
                batch,
                req.expires_at,
                now,
                base,
            )?;
        } else {
            // Each account's total is taken from its lots in spending order: earliest expiry
            // first, never-expiring last, older first among equals.
            execute!(
                self,
                "WITH totals AS (SELECT account_id, SUM(points) AS total FROM loymax_batch_rows WHERE batch = $1 GROUP BY account_id), ordered AS (SELECT l.id, l.remaining, t.total, COALESCE(SUM(l.remaining) OVER (PARTITION BY l.account_id ORDER BY CASE WHEN l.expires_at IS NULL THEN 1 ELSE 0 END, l.expires_at, l.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM lots l JOIN totals t ON t.account_id = l.account_id WHERE l.remaining > 0), takes AS (SELECT id, CASE WHEN total - before >= remaining THEN remaining ELSE total - before END AS take FROM ordered WHERE total > before) UPDATE lots SET remaining = remaining - takes.take FROM takes WHERE lots.id = takes.id",
                batch,
            )?;
        }
        execute!(
            self,
            "UPDATE accounts SET balance = accounts.balance + $2 * t.total FROM (SELECT account_id, SUM(points) AS total FROM loymax_batch_rows WHERE batch = $1 GROUP BY account_id) AS t WHERE accounts.id = t.account_id",
            batch,
            sign,
        )?;
        execute!(
            self,
            "INSERT INTO loymax_batch_requests (merchant_id, request_id, type, fingerprint, row_count, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            req.merchant_id,
            &req.request_id,
            req.request_type,
            &req.fingerprint,
            req.row_count,
            &req.answer,
            now,
        )?;
        metrics::counter!("kopilka_ledger_operations_total", "kind" => req.kind.as_str(), "status" => "confirmed").increment(req.row_count as u64);
        Ok(BatchOutcome::Applied)
    }
}

fn rejected(rows: Vec<(i64, String)>, reason: RejectReason) -> BatchOutcome {
    BatchOutcome::Rejected(
        rows.into_iter()
            .map(|(seq, member_no)| RejectedRow {
                seq,
                member_no,
                reason,
            })
            .collect(),
    )
}
