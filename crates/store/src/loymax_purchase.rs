//! Loymax purchases and their operations (the shop's `operationId`s with stored answers).

use crate::tx::{execute, fetch, scalar, Tx};
use crate::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurchaseRow {
    pub id: i64,
    pub program_id: i64,
    pub merchant_id: i64,
    pub customer_id: i64,
    pub purchase_id: String,
    pub state: String,
    /// The domain's `Purchase` as JSON.
    pub data: String,
    pub hold_operation: Option<i64>,
    pub earn_operation: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
crate::sqlite::statement::sqlite_row!(PurchaseRow {
    id,
    program_id,
    merchant_id,
    customer_id,
    purchase_id,
    state,
    data,
    hold_operation,
    earn_operation,
    expires_at,
    created_at,
    updated_at
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurchaseOperationRow {
    pub id: i64,
    pub purchase: i64,
    pub merchant_id: i64,
    pub operation_id: String,
    pub method: String,
    pub fingerprint: String,
    pub answer: String,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(PurchaseOperationRow {
    id,
    purchase,
    merchant_id,
    operation_id,
    method,
    fingerprint,
    answer,
    created_at
});

const PURCHASE: &str = "SELECT id, program_id, merchant_id, customer_id, purchase_id, state, data, hold_operation, earn_operation, expires_at, created_at, updated_at FROM loymax_purchases";
const OPERATION: &str = "SELECT id, purchase, merchant_id, operation_id, method, fingerprint, answer, created_at FROM loymax_purchase_operations";

impl Tx {
    /// The merchant of a credential (the OAuth application a Loymax token was issued to).
    pub async fn loymax_credential_merchant(
        &mut self,
        credential_id: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(scalar!(
            self,
            fetch_optional,
            i64,
            "SELECT merchant_id FROM credentials WHERE id = $1",
            credential_id
        )?)
    }

    /// A merchant's purchase, locked on PostgreSQL.
    pub async fn loymax_purchase(
        &mut self,
        merchant_id: i64,
        purchase_id: &str,
    ) -> StoreResult<Option<PurchaseRow>> {
        let sql = format!(
            "{PURCHASE} WHERE merchant_id = $1 AND purchase_id = $2{}",
            self.lock_suffix()
        );
        Ok(fetch!(
            self,
            fetch_optional,
            PurchaseRow,
            &sql,
            merchant_id,
            purchase_id
        )?)
    }

    pub async fn loymax_purchase_by_id(&mut self, id: i64) -> StoreResult<Option<PurchaseRow>> {
        let sql = format!("{PURCHASE} WHERE id = $1{}", self.lock_suffix());
        Ok(fetch!(self, fetch_optional, PurchaseRow, &sql, id)?)
    }

    /// Inserts a purchase (`id` 0) or updates it; returns its id.
    pub async fn loymax_save_purchase(&mut self, p: &PurchaseRow) -> StoreResult<i64> {
        let now = self.now();
        if p.id == 0 {
            return Ok(scalar!(
                self,
                fetch_one,
                i64,
                "INSERT INTO loymax_purchases (program_id, merchant_id, customer_id, purchase_id, state, data, hold_operation, earn_operation, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                p.program_id,
                p.merchant_id,
                p.customer_id,
                &p.purchase_id,
                &p.state,
                &p.data,
                p.hold_operation,
                p.earn_operation,
                p.expires_at,
                now,
            )?);
        }
        execute!(
            self,
            "UPDATE loymax_purchases SET state = $1, data = $2, hold_operation = $3, earn_operation = $4, expires_at = $5, updated_at = $6 WHERE id = $7",
            &p.state,
            &p.data,
            p.hold_operation,
            p.earn_operation,
            p.expires_at,
            now,
            p.id,
        )?;
        Ok(p.id)
    }

    /// An operation a merchant already sent, by its `operationId`.
    pub async fn loymax_purchase_operation(
        &mut self,
        merchant_id: i64,
        operation_id: &str,
    ) -> StoreResult<Option<PurchaseOperationRow>> {
        Ok(fetch!(
            self,
            fetch_optional,
            PurchaseOperationRow,
            &format!("{OPERATION} WHERE merchant_id = $1 AND operation_id = $2"),
            merchant_id,
            operation_id
        )?)
    }

    /// Reserves the row of a new operation (its id is the `transactionId` shown) with a
    /// placeholder answer, filled in by [`Tx::loymax_set_answer`] in the same transaction.
    pub async fn loymax_record_operation(
        &mut self,
        purchase: i64,
        merchant_id: i64,
        operation_id: &str,
        method: &str,
        fingerprint: &str,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(scalar!(
            self,
            fetch_one,
            i64,
            "INSERT INTO loymax_purchase_operations (purchase, merchant_id, operation_id, method, fingerprint, answer, created_at) VALUES ($1, $2, $3, $4, $5, '', $6) RETURNING id",
            purchase,
            merchant_id,
            operation_id,
            method,
            fingerprint,
            now,
        )?)
    }

    pub async fn loymax_set_answer(&mut self, id: i64, answer: &str) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_purchase_operations SET answer = $1 WHERE id = $2",
            answer,
            id
        )?;
        Ok(())
    }

    /// Ids of open purchases whose time to be confirmed has passed.
    pub async fn loymax_purchases_due(&mut self, now: i64, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(scalar!(
            self,
            fetch_all,
            i64,
            "SELECT id FROM loymax_purchases WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            now,
            limit
        )?)
    }

    /// Wrong PINs a customer sent since `since`.
    pub async fn loymax_pin_failures(&mut self, customer_id: i64, since: i64) -> StoreResult<i64> {
        Ok(scalar!(
            self,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM loymax_pin_failures WHERE customer_id = $1 AND at >= $2",
            customer_id,
            since
        )?)
    }

    pub async fn loymax_record_pin_failure(&mut self, customer_id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO loymax_pin_failures (customer_id, at) VALUES ($1, $2)",
            customer_id,
            now
        )?;
        Ok(())
    }
}
