//! Loymax batch balance requests, applied in one pass while the request is parsed: rows come
//! in chunks through a channel and each becomes a confirmed operation with its two postings as
//! it arrives. What is per account (its balance, a lot for credits, lot takes for withdrawals)
//! is summed in memory and written once per account when the request ends, or earlier when
//! many accounts are pending, so memory stays bounded whatever the request's size. All rows or
//! none: a row at fault, or input that stops before its end, fails the job and its writes roll
//! back.

use crate::ledger::{count_confirmed, lock_account, open_lots, system_account, take_from_lots};
use crate::tx::{execute, fetch, int, scalar, Conn, Tx};
use crate::{JobError, StoreError, StoreResult};
use kopilka_domain::ids::{CustomerId, MerchantId, ProgramId};
use kopilka_domain::ledger::{take_lots, OperationKind, Owner};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// One row of `accrue`, checked by the protocol: its member still has to be found.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// 1-based position in `accrue`.
    pub seq: i64,
    pub member_no: String,
    pub points: i64,
    pub description: Option<String>,
    /// The operation's details, a JSON object.
    pub details: String,
    /// The operation's UUID, made with the row (on the parser's thread, not the writer's).
    pub uuid: String,
}

impl BatchRow {
    pub fn new(
        seq: i64,
        member_no: String,
        points: i64,
        description: Option<String>,
        details: String,
    ) -> BatchRow {
        BatchRow {
            seq,
            member_no,
            points,
            description,
            details,
            uuid: uuid::Uuid::now_v7().to_string(),
        }
    }
}

/// What the request's parser sends: rows as they are read, then `End` once the whole body
/// was read and found well-formed, with the body's fingerprint (known only then: the body is
/// read as it arrives). A channel closed without `End` abandons the request.
#[derive(Debug)]
pub enum BatchInput {
    Rows(Vec<BatchRow>),
    End { fingerprint: String },
}

/// The request's own fields.
#[derive(Debug, Clone)]
pub struct BatchApply {
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    pub currency: String,
    pub request_id: String,
    pub request_type: i64,
    pub kind: OperationKind,
    /// Expiry of credited points.
    pub expires_at: Option<i64>,
    /// Used for rows without a description of their own.
    pub description: Option<String>,
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
    /// Every row was written; how many.
    Applied { rows: i64 },
    /// The request id was already used: its fingerprint and stored answer.
    Replay { fingerprint: String, answer: String },
}

/// Rows at fault listed in a refusal.
const REJECTED_SHOWN: usize = 100;
/// Accounts summed in memory before their sums are written.
const PENDING_ACCOUNTS: usize = 100_000;
/// Member numbers remembered with their accounts.
const MEMBERS_KEPT: usize = 200_000;
/// Bytes of COPY text sent to PostgreSQL at a time.
const COPY_PIECE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
struct Member {
    customer_id: i64,
    account_id: i64,
}

/// An account's rows so far: their number and total, what is left to spend (withdrawals),
/// and the first of its operations (the origin of the lot a credit makes).
struct Pending {
    customer_id: i64,
    rows: i64,
    total: i64,
    available: i64,
    first_operation: Option<i64>,
}

struct Run<'r> {
    request: &'r BatchApply,
    /// +1 for credits (issuance → customer), -1 for withdrawals (customer → burn).
    sign: i64,
    system_account: i64,
    members: HashMap<String, Option<Member>>,
    pending: HashMap<i64, Pending>,
    rejected: Vec<RejectedRow>,
    rows: i64,
}

impl Tx {
    /// The stored answer of an applied request, with its body's fingerprint.
    pub async fn loymax_batch_answer(
        &mut self,
        merchant_id: MerchantId,
        request_id: &str,
    ) -> StoreResult<Option<(String, String)>> {
        Ok(fetch!(
            self,
            fetch_optional,
            (String, String),
            "SELECT fingerprint, answer FROM loymax_batch_requests WHERE merchant_id = $1 AND request_id = $2",
            merchant_id.0,
            request_id,
        )?)
    }

    /// Applies a request as its rows arrive: all rows or none. Rows at fault refuse the job
    /// (the first of them, after reading every row); input that ends without
    /// [`BatchInput::End`] fails it with [`StoreError::Abandoned`] (or refuses it with the rows
    /// at fault before it ended).
    pub async fn loymax_batch_apply(
        &mut self,
        request: &BatchApply,
        input: &mut mpsc::Receiver<BatchInput>,
    ) -> Result<BatchOutcome, JobError<Vec<RejectedRow>>> {
        if let Some((fingerprint, answer)) = self
            .loymax_batch_answer(request.merchant_id, &request.request_id)
            .await?
        {
            return Ok(BatchOutcome::Replay {
                fingerprint,
                answer,
            });
        }
        let (system, sign) = if request.kind.is_credit() {
            (Owner::Issuance, 1)
        } else {
            (Owner::Burn, -1)
        };
        let mut run = Run {
            request,
            sign,
            system_account: system_account(self, request.program_id, &request.currency, system)
                .await?,
            members: HashMap::new(),
            pending: HashMap::new(),
            rejected: Vec::new(),
            rows: 0,
        };
        let fingerprint = loop {
            match input.recv().await {
                Some(BatchInput::Rows(rows)) => run.take(self, rows).await?,
                Some(BatchInput::End { fingerprint }) => break Some(fingerprint),
                // The rows at fault so far still go back, for the list of errors.
                None if run.rejected.is_empty() => return Err(StoreError::Abandoned.into()),
                None => break None,
            }
        };
        if !run.rejected.is_empty() {
            return Err(JobError::Refused(run.rejected));
        }
        let fingerprint = fingerprint.ok_or(StoreError::Abandoned)?;
        run.settle(self).await?;
        let now = self.now();
        execute!(
            self,
            "INSERT INTO loymax_batch_requests (merchant_id, request_id, type, fingerprint, row_count, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            request.merchant_id.0,
            &request.request_id,
            request.request_type,
            &fingerprint,
            run.rows,
            &request.answer,
            now,
        )?;
        metrics::counter!("kopilka_ledger_operations_total", "kind" => request.kind.as_str(), "status" => "confirmed").increment(run.rows as u64);
        Ok(BatchOutcome::Applied { rows: run.rows })
    }
}

impl Run<'_> {
    /// Checks a chunk's rows and, while none has been at fault, writes them.
    async fn take(&mut self, tx: &mut Tx, rows: Vec<BatchRow>) -> StoreResult<()> {
        if self.members.len() > MEMBERS_KEPT {
            self.members.clear();
        }
        let mut unknown: Vec<String> = rows
            .iter()
            .filter(|row| !self.members.contains_key(&row.member_no))
            .map(|row| row.member_no.clone())
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            let found = self.members_of(tx, unknown).await?;
            self.members.extend(found);
        }
        let mut accepted = Vec::with_capacity(rows.len());
        for row in rows {
            self.rows += 1;
            let member = self.members.get(&row.member_no).copied().flatten();
            let Some(member) = member else {
                self.reject(row, RejectReason::UnknownMember);
                continue;
            };
            if !self.pending.contains_key(&member.account_id) {
                let available = if self.sign < 0 {
                    int!(
                        tx,
                        "SELECT balance - held FROM accounts WHERE id = $1",
                        member.account_id
                    )?
                } else {
                    0
                };
                self.pending.insert(
                    member.account_id,
                    Pending {
                        customer_id: member.customer_id,
                        rows: 0,
                        total: 0,
                        available,
                        first_operation: None,
                    },
                );
            }
            let pending = self
                .pending
                .get_mut(&member.account_id)
                .expect("inserted above");
            if self.sign < 0 {
                if pending.available < row.points {
                    self.reject(row, RejectReason::NotEnoughPoints);
                    continue;
                }
                pending.available -= row.points;
            }
            pending.total += row.points;
            pending.rows += 1;
            if self.rejected.is_empty() {
                accepted.push((row, member));
            }
        }
        if !self.rejected.is_empty() {
            return Ok(());
        }
        let ids = self.write(tx, &accepted).await?;
        for ((_, member), id) in accepted.iter().zip(ids) {
            if let Some(pending) = self.pending.get_mut(&member.account_id) {
                pending.first_operation.get_or_insert(id);
            }
        }
        if self.pending.len() > PENDING_ACCOUNTS {
            self.settle(tx).await?;
        }
        Ok(())
    }

    fn reject(&mut self, row: BatchRow, reason: RejectReason) {
        if self.rejected.len() < REJECTED_SHOWN {
            self.rejected.push(RejectedRow {
                seq: row.seq,
                member_no: row.member_no,
                reason,
            });
        }
    }

    /// The customers with these member numbers (else an active card's owners) and their
    /// accounts (created empty if they have none; locked on PostgreSQL, in account order).
    async fn members_of(
        &self,
        tx: &mut Tx,
        numbers: Vec<String>,
    ) -> StoreResult<Vec<(String, Option<Member>)>> {
        let program = self.request.program_id.0;
        let currency = &self.request.currency;
        let Conn::Pg(c) = &mut tx.conn else {
            // Statements cost no round trips on SQLite: one member at a time.
            let mut found = Vec::with_capacity(numbers.len());
            for number in numbers {
                let member = self.member(tx, &number).await?;
                found.push((number, member));
            }
            return Ok(found);
        };
        // A few statements for the whole chunk, not a few round trips per member.
        let customers: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT t.no, COALESCE(c.merged_into, c.id, k.customer_id) FROM unnest($2::text[]) AS t(no) LEFT JOIN customers c ON c.program_id = $1 AND c.member_no = t.no LEFT JOIN cards k ON k.program_id = $1 AND k.number = t.no AND k.state = 'active'",
        )
        .bind(program)
        .bind(&numbers)
        .fetch_all(&mut **c)
        .await?;
        let mut ids: Vec<i64> = customers.iter().filter_map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        sqlx::query(
            "INSERT INTO accounts (program_id, currency, owner_kind, owner_id, balance, held) SELECT $1, $2, 'customer', t.id, 0, 0 FROM unnest($3::bigint[]) AS t(id) ORDER BY t.id ON CONFLICT (program_id, currency, owner_kind, owner_id) DO NOTHING",
        )
        .bind(program)
        .bind(currency)
        .bind(&ids)
        .execute(&mut **c)
        .await?;
        let accounts: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
            "SELECT owner_id, id FROM accounts WHERE program_id = $1 AND currency = $2 AND owner_kind = 'customer' AND owner_id = ANY($3) ORDER BY id FOR UPDATE",
        )
        .bind(program)
        .bind(currency)
        .bind(&ids)
        .fetch_all(&mut **c)
        .await?
        .into_iter()
        .collect();
        Ok(customers
            .into_iter()
            .map(|(number, customer)| {
                let member = customer.and_then(|customer_id| {
                    accounts.get(&customer_id).map(|&account_id| Member {
                        customer_id,
                        account_id,
                    })
                });
                (number, member)
            })
            .collect())
    }

    /// The customer with this member number (else an active card's owner) and their account
    /// (created empty if they have none).
    async fn member(&self, tx: &mut Tx, member_no: &str) -> StoreResult<Option<Member>> {
        let program = self.request.program_id;
        let Some(customer_id) = scalar!(
            tx,
            fetch_optional,
            Option<i64>,
            "SELECT COALESCE((SELECT COALESCE(merged_into, id) FROM customers WHERE program_id = $1 AND member_no = $2), (SELECT customer_id FROM cards WHERE program_id = $1 AND number = $2 AND state = 'active'))",
            program.0,
            member_no,
        )?
        .flatten() else {
            return Ok(None);
        };
        let account = lock_account(
            tx,
            program,
            &self.request.currency,
            Owner::Customer(CustomerId(customer_id)),
        )
        .await?;
        Ok(Some(Member {
            customer_id,
            account_id: account.id,
        }))
    }

    /// Writes each row's operation and its two postings; returns the operations' ids.
    async fn write(&self, tx: &mut Tx, rows: &[(BatchRow, Member)]) -> StoreResult<Vec<i64>> {
        let request = self.request;
        let now = tx.now();
        fn description<'a>(row: &'a BatchRow, request: &'a BatchApply) -> Option<&'a String> {
            row.description.as_ref().or(request.description.as_ref())
        }
        match &mut tx.conn {
            // Row by row through two cached statements: no round trips to save.
            Conn::Sqlite(c) => {
                let mut operation = c.prepare_cached("INSERT INTO operations (uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, protocol, description, details, created_at) VALUES (?1, ?2, ?3, ?4, 'confirmed', ?5, 0, ?6, ?7, 'loymax', ?8, ?9, ?10)")?;
                // One row per statement: SQLite journals every page a multi-row statement
                // touches, in case it fails half-way.
                let mut posting = c.prepare_cached("INSERT INTO postings (operation_id, account_id, amount, created_at) VALUES (?1, ?2, ?3, ?4)")?;
                let mut ids = Vec::with_capacity(rows.len());
                for (row, member) in rows {
                    operation.execute(rusqlite::params![
                        row.uuid,
                        request.program_id.0,
                        request.currency,
                        request.kind.as_str(),
                        row.points,
                        member.customer_id,
                        request.merchant_id.0,
                        description(row, request),
                        row.details,
                        now,
                    ])?;
                    let id = c.last_insert_rowid();
                    let points = self.sign * row.points;
                    posting.execute(rusqlite::params![id, member.account_id, points, now])?;
                    posting.execute(rusqlite::params![id, self.system_account, -points, now])?;
                    ids.push(id);
                }
                Ok(ids)
            }
            // A chunk through two COPYs (PostgreSQL's fastest way in), with ids drawn from
            // the sequence first so the postings can name their operations.
            Conn::Pg(c) => {
                use std::fmt::Write;
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('operations', 'id')) FROM generate_series(1, $1)",
                )
                .bind(rows.len() as i64)
                .fetch_all(&mut **c)
                .await?;
                // Sent in pieces as they are made: the server takes each while the next is made.
                let mut copy = c
                    .copy_in_raw("COPY operations (id, uuid, program_id, currency, kind, status, amount, reversed, customer_id, merchant_id, protocol, description, details, created_at) FROM STDIN")
                    .await?;
                let mut piece = String::with_capacity(COPY_PIECE + 4096);
                for ((row, member), id) in rows.iter().zip(&ids) {
                    let _ = write!(piece, "{id}\t{}\t{}\t", row.uuid, request.program_id);
                    copy_text(&mut piece, Some(&request.currency));
                    let _ = write!(
                        piece,
                        "\t{}\tconfirmed\t{}\t0\t{}\t{}\tloymax\t",
                        request.kind.as_str(),
                        row.points,
                        member.customer_id,
                        request.merchant_id
                    );
                    copy_text(&mut piece, description(row, request).map(String::as_str));
                    piece.push('\t');
                    copy_text(&mut piece, Some(&row.details));
                    let _ = writeln!(piece, "\t{now}");
                    if piece.len() >= COPY_PIECE {
                        copy.send(piece.as_bytes()).await?;
                        piece.clear();
                    }
                }
                copy.send(piece.as_bytes()).await?;
                // The postings are made while the server takes the last operations.
                let mut postings = String::with_capacity(rows.len() * 64);
                for ((row, member), id) in rows.iter().zip(&ids) {
                    let points = self.sign * row.points;
                    let _ = writeln!(
                        postings,
                        "{id}\t{}\t{points}\t{now}\n{id}\t{}\t{}\t{now}",
                        member.account_id, self.system_account, -points
                    );
                }
                copy.finish().await?;
                let mut copy = c
                    .copy_in_raw(
                        "COPY postings (operation_id, account_id, amount, created_at) FROM STDIN",
                    )
                    .await?;
                copy.send(postings.into_bytes()).await?;
                copy.finish().await?;
                Ok(ids)
            }
        }
    }

    /// Writes the pending accounts' sums, in account order: balances and history counts, then
    /// a lot per credited account or the withdrawn points taken from each account's lots in
    /// spending order.
    async fn settle(&mut self, tx: &mut Tx) -> StoreResult<()> {
        let mut accounts: Vec<(i64, Pending)> = self.pending.drain().collect();
        accounts.sort_unstable_by_key(|(id, _)| *id);
        let now = tx.now();
        if let Conn::Pg(c) = &mut tx.conn {
            if self.sign > 0 {
                return self.settle_credits_pg(c, &accounts, now).await;
            }
        }
        for (account_id, pending) in accounts {
            execute!(
                tx,
                "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                self.sign * pending.total,
                account_id,
            )?;
            count_confirmed(
                tx,
                CustomerId(pending.customer_id),
                self.request.kind,
                None,
                pending.rows,
            )
            .await?;
            if self.sign > 0 {
                let origin = pending
                    .first_operation
                    .ok_or_else(|| StoreError::Corrupt("a credited account without rows".into()))?;
                execute!(
                    tx,
                    "INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) VALUES ($1, $2, $2, $3, $4, $5)",
                    account_id,
                    pending.total,
                    self.request.expires_at,
                    origin,
                    now,
                )?;
            } else {
                let lots = open_lots(tx, account_id).await?;
                take_from_lots(tx, &take_lots(&lots, pending.total, None)).await?;
            }
        }
        Ok(())
    }

    /// The same for credited accounts on PostgreSQL, in three statements over arrays.
    async fn settle_credits_pg(
        &self,
        c: &mut sqlx::pool::PoolConnection<sqlx::Postgres>,
        accounts: &[(i64, Pending)],
        now: i64,
    ) -> StoreResult<()> {
        let ids: Vec<i64> = accounts.iter().map(|(id, _)| *id).collect();
        let totals: Vec<i64> = accounts.iter().map(|(_, p)| p.total).collect();
        let customers: Vec<i64> = accounts.iter().map(|(_, p)| p.customer_id).collect();
        let rows: Vec<i64> = accounts.iter().map(|(_, p)| p.rows).collect();
        let origins = accounts
            .iter()
            .map(|(_, p)| {
                p.first_operation
                    .ok_or_else(|| StoreError::Corrupt("a credited account without rows".into()))
            })
            .collect::<StoreResult<Vec<i64>>>()?;
        sqlx::query("UPDATE accounts a SET balance = a.balance + t.total FROM unnest($1::bigint[], $2::bigint[]) AS t(id, total) WHERE a.id = t.id")
            .bind(&ids)
            .bind(&totals)
            .execute(&mut **c)
            .await?;
        sqlx::query("INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) SELECT t.customer, $1, '', t.n FROM unnest($2::bigint[], $3::bigint[]) AS t(customer, n) ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n")
            .bind(self.request.kind.as_str())
            .bind(&customers)
            .bind(&rows)
            .execute(&mut **c)
            .await?;
        sqlx::query("INSERT INTO lots (account_id, amount, remaining, expires_at, origin, created_at) SELECT t.id, t.total, t.total, $1, t.origin, $2 FROM unnest($3::bigint[], $4::bigint[], $5::bigint[]) AS t(id, total, origin)")
            .bind(self.request.expires_at)
            .bind(now)
            .bind(&ids)
            .bind(&totals)
            .bind(&origins)
            .execute(&mut **c)
            .await?;
        Ok(())
    }
}

/// Appends a text field in COPY's text format: `\N` for NULL, and backslash, tab, newline and
/// carriage return escaped. The text between them goes in whole.
fn copy_text(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    let mut start = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escaped = match byte {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        // ASCII bytes: never inside a character, so `i` is a character boundary.
        out.push_str(&value[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&value[start..]);
}
