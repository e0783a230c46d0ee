//! Loymax purchases and their operations (the shop's `operationId`s with stored answers).

use crate::model::Account;
use crate::tx::{execute, fetch, scalar, Tx};
use crate::{StoreKind, StoreResult};

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

/// What a processing call names: its caller (token, customer, merchant, program) and the
/// purchase and operation ids it sent.
#[derive(Debug, Clone)]
pub struct ContextKey<'a> {
    pub program_id: i64,
    pub currency: &'a str,
    pub customer_id: i64,
    pub token_id: i64,
    pub merchant_id: i64,
    pub purchase_id: &'a str,
    pub operation_id: &'a str,
}

/// Everything a processing call reads before it decides, from one statement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurchaseContextRow {
    pub account_id: i64,
    pub balance: i64,
    pub held: i64,
    pub token_kind: Option<String>,
    pub token_expires_at: Option<i64>,
    pub customer_state: String,
    pub program_rules: String,
    pub program_settings: String,
    pub p_id: Option<i64>,
    pub p_customer_id: Option<i64>,
    pub p_state: Option<String>,
    pub p_data: Option<String>,
    pub p_hold_operation: Option<i64>,
    pub p_earn_operation: Option<i64>,
    pub p_expires_at: Option<i64>,
    pub p_created_at: Option<i64>,
    pub p_updated_at: Option<i64>,
    pub o_id: Option<i64>,
    pub o_purchase: Option<i64>,
    pub o_method: Option<String>,
    pub o_fingerprint: Option<String>,
    pub o_answer: Option<String>,
    pub o_created_at: Option<i64>,
}
crate::sqlite::statement::sqlite_row!(PurchaseContextRow {
    account_id,
    balance,
    held,
    token_kind,
    token_expires_at,
    customer_state,
    program_rules,
    program_settings,
    p_id,
    p_customer_id,
    p_state,
    p_data,
    p_hold_operation,
    p_earn_operation,
    p_expires_at,
    p_created_at,
    p_updated_at,
    o_id,
    o_purchase,
    o_method,
    o_fingerprint,
    o_answer,
    o_created_at,
});

/// A processing call's view: the customer's account (locked on PostgreSQL), whether the
/// token and the customer may still act, the program as stored, the purchase and the
/// operation already recorded under the call's `operationId`.
#[derive(Debug, Clone)]
pub struct PurchaseContext {
    pub account: Account,
    /// The token is a live access token.
    pub token_live: bool,
    pub customer_state: String,
    pub program_rules: String,
    pub program_settings: String,
    pub purchase: Option<PurchaseRow>,
    pub operation: Option<PurchaseOperationRow>,
}

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

    /// Reads what a processing call needs, locking the customer's account first: every call
    /// and the expiry job lock the account before they read the purchase, so calls on one
    /// purchase run one after the other. The account is created empty if it is new. `None`
    /// when the customer does not exist.
    pub async fn loymax_purchase_context(
        &mut self,
        key: &ContextKey<'_>,
    ) -> StoreResult<Option<PurchaseContext>> {
        // PostgreSQL locks by a statement of its own: READ COMMITTED then reads the rest in a
        // snapshot taken after the lock, so a call that waited sees what the one before it
        // wrote. SQLite's single writer needs no lock.
        if self.kind() == StoreKind::Postgres {
            self.lock_purchase_account(key).await?;
        }
        for _ in 0..2 {
            if let Some(row) = fetch!(
                self,
                fetch_optional,
                PurchaseContextRow,
                "SELECT a.id AS account_id, a.balance, a.held, t.kind AS token_kind, t.expires_at AS token_expires_at, c.state AS customer_state, pr.rules AS program_rules, pr.settings AS program_settings, p.id AS p_id, p.customer_id AS p_customer_id, p.state AS p_state, p.data AS p_data, p.hold_operation AS p_hold_operation, p.earn_operation AS p_earn_operation, p.expires_at AS p_expires_at, p.created_at AS p_created_at, p.updated_at AS p_updated_at, o.id AS o_id, o.purchase AS o_purchase, o.method AS o_method, o.fingerprint AS o_fingerprint, o.answer AS o_answer, o.created_at AS o_created_at FROM accounts a JOIN customers c ON c.id = a.owner_id JOIN programs pr ON pr.id = a.program_id LEFT JOIN loymax_tokens t ON t.id = $4 AND t.customer_id = a.owner_id LEFT JOIN loymax_purchases p ON p.merchant_id = $5 AND p.purchase_id = $6 LEFT JOIN loymax_purchase_operations o ON o.merchant_id = $5 AND o.operation_id = $7 WHERE a.program_id = $1 AND a.currency = $2 AND a.owner_kind = 'customer' AND a.owner_id = $3",
                key.program_id,
                key.currency,
                key.customer_id,
                key.token_id,
                key.merchant_id,
                key.purchase_id,
                key.operation_id,
            )? {
                let now = self.now();
                return Ok(Some(context(row, key, now)));
            }
            if self.kind() == StoreKind::Postgres {
                return Ok(None);
            }
            if self.customer(key.customer_id).await?.is_none() {
                return Ok(None);
            }
            self.lock_purchase_account(key).await?;
        }
        Ok(None)
    }

    /// The customer's account of the program's currency, locked (created empty if new).
    async fn lock_purchase_account(&mut self, key: &ContextKey<'_>) -> StoreResult<()> {
        crate::ledger::lock_account(
            self,
            key.program_id,
            key.currency,
            kopilka_domain::ledger::Owner::Customer(key.customer_id),
        )
        .await?;
        Ok(())
    }

    pub async fn loymax_purchase_by_id(&mut self, id: i64) -> StoreResult<Option<PurchaseRow>> {
        Ok(fetch!(
            self,
            fetch_optional,
            PurchaseRow,
            &format!("{PURCHASE} WHERE id = $1"),
            id
        )?)
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

    /// Records a new operation with its answer; returns its id (the `transactionId` shown,
    /// which the stored answer leaves for a replay to fill in from the id).
    pub async fn loymax_record_operation(
        &mut self,
        purchase: i64,
        merchant_id: i64,
        operation_id: &str,
        method: &str,
        fingerprint: &str,
        answer: &str,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(scalar!(
            self,
            fetch_one,
            i64,
            "INSERT INTO loymax_purchase_operations (purchase, merchant_id, operation_id, method, fingerprint, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            purchase,
            merchant_id,
            operation_id,
            method,
            fingerprint,
            answer,
            now,
        )?)
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

fn context(row: PurchaseContextRow, key: &ContextKey<'_>, now: i64) -> PurchaseContext {
    let purchase = match (row.p_id, row.p_customer_id, row.p_state, row.p_data) {
        (Some(id), Some(customer_id), Some(state), Some(data)) => Some(PurchaseRow {
            id,
            program_id: key.program_id,
            merchant_id: key.merchant_id,
            customer_id,
            purchase_id: key.purchase_id.to_string(),
            state,
            data,
            hold_operation: row.p_hold_operation,
            earn_operation: row.p_earn_operation,
            expires_at: row.p_expires_at,
            created_at: row.p_created_at.unwrap_or_default(),
            updated_at: row.p_updated_at.unwrap_or_default(),
        }),
        _ => None,
    };
    let operation = match (row.o_id, row.o_purchase, row.o_method, row.o_fingerprint) {
        (Some(id), Some(purchase), Some(method), Some(fingerprint)) => Some(PurchaseOperationRow {
            id,
            purchase,
            merchant_id: key.merchant_id,
            operation_id: key.operation_id.to_string(),
            method,
            fingerprint,
            answer: row.o_answer.unwrap_or_default(),
            created_at: row.o_created_at.unwrap_or_default(),
        }),
        _ => None,
    };
    PurchaseContext {
        account: Account {
            id: row.account_id,
            program_id: key.program_id,
            currency: key.currency.to_string(),
            owner_kind: "customer".into(),
            owner_id: key.customer_id,
            balance: row.balance,
            held: row.held,
        },
        token_live: row.token_kind.as_deref() == Some("access")
            && row.token_expires_at.is_some_and(|at| at > now),
        customer_state: row.customer_state,
        program_rules: row.program_rules,
        program_settings: row.program_settings,
        purchase,
        operation,
    }
}
