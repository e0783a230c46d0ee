//! Sums behind a program's analytics (docs/analytics.md): operations by kind and protocol in a
//! period, members active and new, ECommPay vouchers, and, as of now, the points outstanding and
//! those about to expire. Periods use the indexes of migration 0022.

use crate::tx::{fetch, int};
use crate::{StoreError, StoreResult, Tx};
use kopilka_domain::analytics::{Period, EXPIRY_HORIZON_DAYS};
use kopilka_domain::ecommpay::PaymentStatus;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::ledger::OperationKind;

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

impl Tx {
    /// Confirmed operations created in `period`, summed by protocol, kind and reversed kind.
    pub async fn operation_sums(
        &mut self,
        program: ProgramId,
        period: Period,
    ) -> StoreResult<Vec<OperationSum>> {
        let rows = fetch!(
            self,
            fetch_all,
            (String, String, Option<String>, i64, i64),
            "SELECT op.protocol, op.kind, orig.kind, COUNT(*), CAST(SUM(op.amount) AS BIGINT) \
             FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses \
             WHERE op.program_id = $1 AND op.created_at >= $2 AND op.created_at < $3 AND op.status = 'confirmed' \
             GROUP BY op.protocol, op.kind, orig.kind ORDER BY op.protocol, op.kind, orig.kind",
            program.0,
            period.from,
            period.to,
        )?;
        let kind = |text: &str| {
            OperationKind::parse(text)
                .ok_or_else(|| StoreError::Corrupt(format!("operation kind {text:?}")))
        };
        rows.into_iter()
            .map(|(protocol, k, reversed, count, amount)| {
                Ok(OperationSum {
                    protocol,
                    kind: kind(&k)?,
                    reversed_kind: reversed.as_deref().map(kind).transpose()?,
                    count,
                    amount,
                })
            })
            .collect()
    }

    /// Customers with a confirmed operation of their own (not an expiry) created in `period`.
    pub async fn active_members(&mut self, program: ProgramId, period: Period) -> StoreResult<i64> {
        int!(
            self,
            "SELECT COUNT(DISTINCT customer_id) FROM operations \
             WHERE program_id = $1 AND created_at >= $2 AND created_at < $3 \
             AND status = 'confirmed' AND kind <> 'expire' AND customer_id IS NOT NULL",
            program.0,
            period.from,
            period.to,
        )
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
