//! Sums behind a program's analytics (docs/analytics.md): operations by kind and protocol in a
//! period, members active and new, ECommPay vouchers, and, as of now, the points outstanding and
//! those about to expire. Periods use the indexes of migration 0022; the figures of closed days
//! are kept once summed (`analytics_days`, migration 0026), so a period reads its days' figures
//! and sums only what lies around them.

use crate::tx::{execute, fetch, int, scalar};
use crate::{StoreError, StoreResult, Tx};
use kopilka_domain::analytics::{DaySplit, Period, EXPIRY_HORIZON_DAYS};
use kopilka_domain::ecommpay::PaymentStatus;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::ledger::{OperationKind, OperationStatus};
use roaring::RoaringTreemap;
use std::collections::BTreeMap;

const DAY_MS: i64 = 24 * 3_600_000;

/// Confirmed operations of one kind (reversing one kind) through one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSum {
    pub protocol: String,
    pub kind: OperationKind,
    /// For a reversal, the kind of the operation it reverses.
    pub reversed_kind: Option<OperationKind>,
    pub count: i64,
    pub amount: i64,
}

/// A CashtoCode voucher made in the period, as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub status: PaymentStatus,
    /// The payment's ECommPay code; `20602` is a time-out (the voucher expired).
    pub code: String,
    /// When the voucher was issued and when it was paid, from the payment's history.
    pub issued_at: Option<i64>,
    pub paid_at: Option<i64>,
}

/// What a program's ledger holds as of one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    /// The sum of the customers' balances (held points included: they are still owed).
    pub liability: i64,
    /// Points of open lots expiring before now + 30, 60 and 90 days (lots already due that the
    /// expiry job has not reached yet included).
    pub expiring: [i64; 3],
}

/// Customers, as a compressed set of their ids: the members active on a day, kept with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberSet(RoaringTreemap);

impl MemberSet {
    pub fn len(&self) -> i64 {
        self.0.len() as i64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&mut self, other: &MemberSet) {
        self.0 |= &other.0;
    }

    fn of(ids: Vec<i64>) -> MemberSet {
        MemberSet(ids.into_iter().map(|id| id as u64).collect())
    }

    fn bytes(&self) -> StoreResult<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.0.serialized_size());
        self.0
            .serialize_into(&mut bytes)
            .map_err(|e| StoreError::Corrupt(format!("member set: {e}")))?;
        Ok(bytes)
    }

    fn from_bytes(bytes: &[u8]) -> StoreResult<MemberSet> {
        RoaringTreemap::deserialize_from(bytes)
            .map(MemberSet)
            .map_err(|e| StoreError::Corrupt(format!("member set: {e}")))
    }
}

/// A closed day of a program's ledger, summed: final once none of its operations is pending,
/// since operations are never added to a day that has ended (`SETTLE_MS`) and a confirmed or
/// voided operation never changes (a reversal is a new operation on its own day).
#[derive(Debug, Clone, PartialEq)]
pub struct DayFigures {
    pub day: Period,
    pub operations: Vec<OperationSum>,
    pub active: MemberSet,
}

/// The ledger's figures of a period: confirmed operations summed, and the members active.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSums {
    /// Ordered by protocol, kind and reversed kind.
    pub operations: Vec<OperationSum>,
    pub active_members: i64,
}

/// Sums of a range of operations: the confirmed ones, and whether any is still pending.
struct RangeSums {
    operations: Vec<OperationSum>,
    pending: bool,
}

type SumKey = (String, &'static str, Option<&'static str>);

fn add_sums(totals: &mut BTreeMap<SumKey, OperationSum>, sums: &[OperationSum]) {
    for sum in sums {
        let key = (
            sum.protocol.clone(),
            sum.kind.as_str(),
            sum.reversed_kind.map(|k| k.as_str()),
        );
        let total = totals.entry(key).or_insert_with(|| OperationSum {
            count: 0,
            amount: 0,
            ..sum.clone()
        });
        total.count += sum.count;
        total.amount = total.amount.saturating_add(sum.amount);
    }
}

/// A day's sums as stored: `[protocol, kind, reversed kind or null, count, amount]`.
type StoredSum = (String, String, Option<String>, i64, i64);

fn operation_kind(text: &str) -> StoreResult<OperationKind> {
    OperationKind::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("operation kind {text:?}")))
}

impl Tx {
    /// The ledger's figures of a period cut into days (`split`): each closed day from its kept
    /// figures, or summed now (and returned in the second value to be kept, when final); the
    /// parts around them summed now.
    pub async fn ledger_sums(
        &mut self,
        program: ProgramId,
        split: &DaySplit,
    ) -> StoreResult<(LedgerSums, Vec<DayFigures>)> {
        let mut totals = BTreeMap::new();
        let mut members = MemberSet::default();
        let mut fresh = Vec::new();
        let kept = match (split.days.first(), split.days.last()) {
            (Some(first), Some(last)) => self.kept_days(program, first.from, last.to).await?,
            _ => Vec::new(),
        };
        for day in &split.days {
            if let Some(kept) = kept.iter().find(|k| k.day == *day) {
                add_sums(&mut totals, &kept.operations);
                members.union(&kept.active);
                continue;
            }
            // The sums first: when they find nothing pending, the day is final, so the members
            // read after (on PostgreSQL, in a later snapshot) are of the same operations.
            let sums = self.operation_sums(program, *day).await?;
            let active = MemberSet::of(self.active_member_ids(program, *day).await?);
            add_sums(&mut totals, &sums.operations);
            members.union(&active);
            if !sums.pending {
                fresh.push(DayFigures {
                    day: *day,
                    operations: sums.operations,
                    active,
                });
            }
        }
        for part in &split.live {
            add_sums(
                &mut totals,
                &self.operation_sums(program, *part).await?.operations,
            );
            members.union(&MemberSet::of(
                self.active_member_ids(program, *part).await?,
            ));
        }
        Ok((
            LedgerSums {
                operations: totals.into_values().collect(),
                active_members: members.len(),
            },
            fresh,
        ))
    }

    /// The periods of the program's kept days starting in `[from, to)`.
    pub async fn kept_day_periods(
        &mut self,
        program: ProgramId,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<Period>> {
        let rows = fetch!(
            self,
            fetch_all,
            (i64, i64),
            "SELECT day_start, day_end FROM analytics_days \
             WHERE program_id = $1 AND day_start >= $2 AND day_start < $3",
            program.0,
            from,
            to,
        )?;
        Ok(rows
            .into_iter()
            .map(|(from, to)| Period { from, to })
            .collect())
    }

    /// A closed day summed from the ledger, to keep; `None` while one of its operations is
    /// pending (not final yet).
    pub async fn final_day(
        &mut self,
        program: ProgramId,
        day: Period,
    ) -> StoreResult<Option<DayFigures>> {
        let sums = self.operation_sums(program, day).await?;
        if sums.pending {
            return Ok(None);
        }
        Ok(Some(DayFigures {
            day,
            operations: sums.operations,
            active: MemberSet::of(self.active_member_ids(program, day).await?),
        }))
    }

    /// The program's kept days starting in `[from, to)`.
    async fn kept_days(
        &mut self,
        program: ProgramId,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<DayFigures>> {
        let rows = fetch!(
            self,
            fetch_all,
            (i64, i64, String, Vec<u8>),
            "SELECT day_start, day_end, sums, active_members FROM analytics_days \
             WHERE program_id = $1 AND day_start >= $2 AND day_start < $3",
            program.0,
            from,
            to,
        )?;
        rows.into_iter()
            .map(|(start, end, sums, active)| {
                let stored: Vec<StoredSum> = serde_json::from_str(&sums)
                    .map_err(|e| StoreError::Corrupt(format!("analytics day sums: {e}")))?;
                let operations = stored
                    .into_iter()
                    .map(|(protocol, kind, reversed, count, amount)| {
                        Ok(OperationSum {
                            protocol,
                            kind: operation_kind(&kind)?,
                            reversed_kind: reversed.as_deref().map(operation_kind).transpose()?,
                            count,
                            amount,
                        })
                    })
                    .collect::<StoreResult<_>>()?;
                Ok(DayFigures {
                    day: Period {
                        from: start,
                        to: end,
                    },
                    operations,
                    active: MemberSet::from_bytes(&active)?,
                })
            })
            .collect()
    }

    /// Keeps final days' figures (a day summed again replaces itself: the same figures, or a
    /// day of the program's new time zone starting at the same instant).
    pub async fn keep_days(&mut self, program: ProgramId, days: &[DayFigures]) -> StoreResult<()> {
        for day in days {
            let sums: Vec<StoredSum> = day
                .operations
                .iter()
                .map(|s| {
                    (
                        s.protocol.clone(),
                        s.kind.as_str().to_string(),
                        s.reversed_kind.map(|k| k.as_str().to_string()),
                        s.count,
                        s.amount,
                    )
                })
                .collect();
            let sums = serde_json::to_string(&sums)
                .map_err(|e| StoreError::Corrupt(format!("analytics day sums: {e}")))?;
            execute!(
                self,
                "INSERT INTO analytics_days (program_id, day_start, day_end, sums, active_members) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (program_id, day_start) DO UPDATE SET day_end = excluded.day_end, sums = excluded.sums, active_members = excluded.active_members",
                program.0,
                day.day.from,
                day.day.to,
                sums,
                day.active.bytes()?,
            )?;
        }
        Ok(())
    }

    /// Operations created in `period`, the confirmed ones summed by protocol, kind and
    /// reversed kind. Unprepared: a day's range is small, which a generic plan does not know
    /// (it took a parallel bitmap scan, ten times slower, on PostgreSQL).
    async fn operation_sums(
        &mut self,
        program: ProgramId,
        period: Period,
    ) -> StoreResult<RangeSums> {
        let rows = fetch!(
            unprepared;
            self,
            fetch_all,
            (String, String, Option<String>, String, i64, i64),
            "SELECT op.protocol, op.kind, orig.kind, op.status, COUNT(*), CAST(SUM(op.amount) AS BIGINT) \
             FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses \
             WHERE op.program_id = $1 AND op.created_at >= $2 AND op.created_at < $3 \
             GROUP BY op.protocol, op.kind, orig.kind, op.status",
            program.0,
            period.from,
            period.to,
        )?;
        let mut sums = RangeSums {
            operations: Vec::new(),
            pending: false,
        };
        for (protocol, kind, reversed, status, count, amount) in rows {
            match OperationStatus::parse(&status) {
                Some(OperationStatus::Confirmed) => sums.operations.push(OperationSum {
                    protocol,
                    kind: operation_kind(&kind)?,
                    reversed_kind: reversed.as_deref().map(operation_kind).transpose()?,
                    count,
                    amount,
                }),
                Some(OperationStatus::Pending) => sums.pending = true,
                Some(OperationStatus::Voided) => {}
                None => return Err(StoreError::Corrupt(format!("operation status {status:?}"))),
            }
        }
        Ok(sums)
    }

    /// Customers with a confirmed operation of their own (not an expiry) created in `period`.
    async fn active_member_ids(
        &mut self,
        program: ProgramId,
        period: Period,
    ) -> StoreResult<Vec<i64>> {
        Ok(scalar!(
            unprepared;
            self,
            fetch_all,
            i64,
            "SELECT DISTINCT customer_id FROM operations \
             WHERE program_id = $1 AND created_at >= $2 AND created_at < $3 \
             AND status = 'confirmed' AND kind <> 'expire' AND customer_id IS NOT NULL",
            program.0,
            period.from,
            period.to,
        )?)
    }

    /// Customers created in `period`.
    pub async fn new_members(&mut self, program: ProgramId, period: Period) -> StoreResult<i64> {
        int!(
            self,
            "SELECT COUNT(*) FROM customers WHERE program_id = $1 AND created_at >= $2 AND created_at < $3",
            program.0,
            period.from,
            period.to,
        )
    }

    /// The program's CashtoCode vouchers whose payments were created in `period`.
    pub async fn vouchers(
        &mut self,
        program: ProgramId,
        period: Period,
    ) -> StoreResult<Vec<Voucher>> {
        let rows = fetch!(
            self,
            fetch_all,
            (String, String, Option<i64>, Option<i64>),
            "SELECT p.status, p.code, \
             (SELECT MIN(h.at) FROM ecommpay_payment_history h WHERE h.payment_row = p.id AND h.status = 'awaiting redirect result'), \
             (SELECT MIN(h.at) FROM ecommpay_payment_history h WHERE h.payment_row = p.id AND h.status = 'success') \
             FROM ecommpay_payments p JOIN ecommpay_projects pr ON pr.id = p.project_id JOIN merchants m ON m.id = pr.merchant_id \
             WHERE m.program_id = $1 AND p.created_at >= $2 AND p.created_at < $3 AND p.voucher_code IS NOT NULL",
            program.0,
            period.from,
            period.to,
        )?;
        rows.into_iter()
            .map(|(status, code, issued_at, paid_at)| {
                Ok(Voucher {
                    status: PaymentStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("payment status {status:?}")))?,
                    code,
                    issued_at,
                    paid_at,
                })
            })
            .collect()
    }

    /// The program's outstanding points and those expiring soon, as of `now_ms`.
    pub async fn outstanding(
        &mut self,
        program: ProgramId,
        now_ms: i64,
    ) -> StoreResult<Outstanding> {
        let liability = int!(
            self,
            "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts WHERE program_id = $1 AND owner_kind = 'customer'",
            program.0,
        )?;
        let [h30, h60, h90] = EXPIRY_HORIZON_DAYS.map(|days| now_ms + days * DAY_MS);
        let (e30, e60, e90) = fetch!(
            self,
            fetch_one,
            (i64, i64, i64),
            "SELECT CAST(COALESCE(SUM(CASE WHEN l.expires_at < $2 THEN l.remaining ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN l.expires_at < $3 THEN l.remaining ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) \
             FROM lots l JOIN accounts a ON a.id = l.account_id \
             WHERE l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at < $4 \
             AND a.program_id = $1 AND a.owner_kind = 'customer'",
            program.0,
            h30,
            h60,
            h90,
        )?;
        Ok(Outstanding {
            liability,
            expiring: [e30, e60, e90],
        })
    }
}
