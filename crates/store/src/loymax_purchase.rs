//! Loymax purchases and their operations (the shop's `operationId`s with stored answers).

use crate::ledger::count_confirmed;
use crate::model::{Account, CustomerState};
use crate::row::{row, select, Row};
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::{StoreKind, StoreResult};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use kopilka_domain::ledger::{OperationKind, Owner};
use kopilka_domain::loymax_purchase::PurchaseState;
use std::sync::LazyLock;

#[derive(Debug, Clone)]
pub struct PurchaseRow {
    pub id: i64,
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    pub customer_id: CustomerId,
    pub purchase_id: String,
    pub state: PurchaseState,
    /// The domain's `Purchase` as JSON.
    pub data: String,
    pub hold_operation: Option<OperationId>,
    pub earn_operation: Option<OperationId>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
row!(
    PurchaseRow,
    "loymax_purchases.id, loymax_purchases.program_id, loymax_purchases.merchant_id, loymax_purchases.customer_id, loymax_purchases.purchase_id, loymax_purchases.state, loymax_purchases.data, loymax_purchases.hold_operation, loymax_purchases.earn_operation, loymax_purchases.expires_at, loymax_purchases.created_at, loymax_purchases.updated_at",
    |c| PurchaseRow {
        id: c.next()?,
        program_id: ProgramId(c.next()?),
        merchant_id: MerchantId(c.next()?),
        customer_id: CustomerId(c.next()?),
        purchase_id: c.next()?,
        state: c.parse("loymax purchase state", |s: &String| PurchaseState::parse(s))?,
        data: c.next()?,
        hold_operation: c.next::<Option<i64>>()?.map(OperationId),
        earn_operation: c.next::<Option<i64>>()?.map(OperationId),
        expires_at: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
    }
);

#[derive(Debug, Clone)]
pub struct PurchaseOperationRow {
    pub id: i64,
    pub purchase: i64,
    pub merchant_id: MerchantId,
    pub operation_id: String,
    pub method: String,
    pub fingerprint: String,
    pub answer: String,
    pub created_at: i64,
}
row!(
    PurchaseOperationRow,
    "loymax_purchase_operations.id, loymax_purchase_operations.purchase, loymax_purchase_operations.merchant_id, loymax_purchase_operations.operation_id, loymax_purchase_operations.method, loymax_purchase_operations.fingerprint, loymax_purchase_operations.answer, loymax_purchase_operations.created_at",
    |c| PurchaseOperationRow {
        id: c.next()?,
        purchase: c.next()?,
        merchant_id: MerchantId(c.next()?),
        operation_id: c.next()?,
        method: c.next()?,
        fingerprint: c.next()?,
        answer: c.next()?,
        created_at: c.next()?,
    }
);

/// What a processing call names: its caller (token, customer, merchant, program) and the
/// purchase and operation ids it sent.
#[derive(Debug, Clone)]
pub struct ContextKey<'a> {
    pub program_id: ProgramId,
    pub currency: &'a str,
    pub customer_id: CustomerId,
    pub token_id: i64,
    pub merchant_id: MerchantId,
    pub purchase_id: &'a str,
    pub operation_id: &'a str,
}

/// Everything a processing call reads before it decides, from one statement.
#[derive(Debug, Clone)]
struct PurchaseContextRow {
    account_id: i64,
    balance: i64,
    held: i64,
    token_kind: Option<String>,
    token_expires_at: Option<i64>,
    customer_state: CustomerState,
    program_rules: String,
    program_settings: String,
    p_id: Option<i64>,
    p_customer_id: Option<CustomerId>,
    p_state: Option<PurchaseState>,
    p_data: Option<String>,
    p_hold_operation: Option<OperationId>,
    p_earn_operation: Option<OperationId>,
    p_expires_at: Option<i64>,
    p_created_at: Option<i64>,
    p_updated_at: Option<i64>,
    o_id: Option<i64>,
    o_purchase: Option<i64>,
    o_method: Option<String>,
    o_fingerprint: Option<String>,
    o_answer: Option<String>,
    o_created_at: Option<i64>,
}
// The customer's account (a), token (t), customer (c), program (pr), purchase (p) and the
// operation under the call's `operationId` (o).
row!(
    PurchaseContextRow,
    "a.id, a.balance, a.held, t.kind, t.expires_at, c.state, pr.rules, pr.settings, p.id, p.customer_id, p.state, p.data, p.hold_operation, p.earn_operation, p.expires_at, p.created_at, p.updated_at, o.id, o.purchase, o.method, o.fingerprint, o.answer, o.created_at",
    |c| PurchaseContextRow {
        account_id: c.next()?,
        balance: c.next()?,
        held: c.next()?,
        token_kind: c.next()?,
        token_expires_at: c.next()?,
        customer_state: c.parse("customer state", |s: &String| CustomerState::parse(s))?,
        program_rules: c.next()?,
        program_settings: c.next()?,
        p_id: c.next()?,
        p_customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        p_state: c.parse("loymax purchase state", |s: &Option<String>| match s {
            Some(s) => PurchaseState::parse(s).map(Some),
            None => Some(None),
        })?,
        p_data: c.next()?,
        p_hold_operation: c.next::<Option<i64>>()?.map(OperationId),
        p_earn_operation: c.next::<Option<i64>>()?.map(OperationId),
        p_expires_at: c.next()?,
        p_created_at: c.next()?,
        p_updated_at: c.next()?,
        o_id: c.next()?,
        o_purchase: c.next()?,
        o_method: c.next()?,
        o_fingerprint: c.next()?,
        o_answer: c.next()?,
        o_created_at: c.next()?,
    }
);

/// A processing call's view: the customer's account (locked on PostgreSQL), whether the
/// token and the customer may still act, the program as stored, the purchase and the
/// operation already recorded under the call's `operationId`.
#[derive(Debug, Clone)]
pub struct PurchaseContext {
    pub account: Account,
    /// The token is a live access token.
    pub token_live: bool,
    pub customer_state: CustomerState,
    /// The program's rules and settings as stored, to tell whether a cached copy is current.
    pub program_rules: String,
    pub program_settings: String,
    pub purchase: Option<PurchaseRow>,
    pub operation: Option<PurchaseOperationRow>,
}

impl Tx {
    /// The merchant of a credential (the OAuth application a Loymax token was issued to).
    pub async fn loymax_credential_merchant(
        &mut self,
        credential_id: i64,
    ) -> StoreResult<Option<MerchantId>> {
        let merchant = scalar!(
            self,
            fetch_optional,
            i64,
            "SELECT merchant_id FROM credentials WHERE id = $1",
            credential_id
        )?;
        Ok(merchant.map(MerchantId))
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
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {} FROM accounts a JOIN customers c ON c.id = a.owner_id JOIN programs pr ON pr.id = a.program_id LEFT JOIN loymax_tokens t ON t.id = $4 AND t.customer_id = a.owner_id LEFT JOIN loymax_purchases p ON p.merchant_id = $5 AND p.purchase_id = $6 LEFT JOIN loymax_purchase_operations o ON o.merchant_id = $5 AND o.operation_id = $7 WHERE a.program_id = $1 AND a.currency = $2 AND a.owner_kind = 'customer' AND a.owner_id = $3", PurchaseContextRow::COLUMNS)
        });
        for _ in 0..2 {
            if let Some(row) = fetch!(
                self,
                fetch_optional,
                PurchaseContextRow,
                &SQL,
                key.program_id.0,
                key.currency,
                key.customer_id.0,
                key.token_id,
                key.merchant_id.0,
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
            Owner::Customer(key.customer_id),
        )
        .await?;
        Ok(())
    }

    pub async fn loymax_purchase_by_id(&mut self, id: i64) -> StoreResult<Option<PurchaseRow>> {
        Ok(fetch!(
            self,
            fetch_optional,
            PurchaseRow,
            &select::<PurchaseRow>("loymax_purchases WHERE id = $1"),
            id
        )?)
    }

    /// Inserts a purchase (`id` 0) or updates it; returns its id.
    pub async fn loymax_save_purchase(&mut self, p: &PurchaseRow) -> StoreResult<i64> {
        let now = self.now();
        // What both statements write, bound as $1 to $6 ahead of `$arg`s.
        macro_rules! saving {
            ($run:ident!($($head:tt)*) $(, $arg:expr)*) => {
                $run!(
                    $($head)*,
                    p.state.as_str(),
                    &p.data,
                    p.hold_operation.map(|id| id.0),
                    p.earn_operation.map(|id| id.0),
                    p.expires_at,
                    now
                    $(, $arg)*
                )
            };
        }
        if p.id == 0 {
            return Ok(saving!(
                int!(self, "INSERT INTO loymax_purchases (program_id, merchant_id, customer_id, purchase_id, state, data, hold_operation, earn_operation, expires_at, created_at, updated_at) VALUES ($7, $8, $9, $10, $1, $2, $3, $4, $5, $6, $6) RETURNING id"),
                p.program_id.0,
                p.merchant_id.0,
                p.customer_id.0,
                &p.purchase_id
            )?);
        }
        saving!(
            execute!(self, "UPDATE loymax_purchases SET state = $1, data = $2, hold_operation = $3, earn_operation = $4, expires_at = $5, updated_at = $6 WHERE id = $7"),
            p.id
        )?;
        Ok(p.id)
    }

    /// An operation a merchant already sent, by its `operationId`.
    pub async fn loymax_purchase_operation(
        &mut self,
        merchant_id: MerchantId,
        operation_id: &str,
    ) -> StoreResult<Option<PurchaseOperationRow>> {
        Ok(fetch!(
            self,
            fetch_optional,
            PurchaseOperationRow,
            &select::<PurchaseOperationRow>(
                "loymax_purchase_operations WHERE merchant_id = $1 AND operation_id = $2"
            ),
            merchant_id.0,
            operation_id
        )?)
    }

    /// Records a new operation with its answer; returns its id (the `transactionId` shown,
    /// which the stored answer leaves for a replay to fill in from the id).
    pub async fn loymax_record_operation(
        &mut self,
        purchase: i64,
        merchant_id: MerchantId,
        operation_id: &str,
        method: &str,
        fingerprint: &str,
        answer: &str,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(int!(
            self,
            "INSERT INTO loymax_purchase_operations (purchase, merchant_id, operation_id, method, fingerprint, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            purchase,
            merchant_id.0,
            operation_id,
            method,
            fingerprint,
            answer,
            now,
        )?)
    }

    /// Shows the confirmed operation `part` inside `row`'s Loymax history row (a purchase's
    /// payment beside its bonus, a refund's points given back beside those taken back):
    /// history lists `row` alone, and the customer's history counts lose `part`'s.
    pub async fn loymax_history_part(
        &mut self,
        row: OperationId,
        part: OperationId,
    ) -> StoreResult<()> {
        if self.kind() == StoreKind::Postgres {
            // One statement: the part's row, the mark and the count, a round trip each before.
            let marked = int!(
                self,
                "WITH part AS (SELECT op.customer_id, op.kind, COALESCE(orig.kind, '') AS reversed_kind FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses WHERE op.id = $1 AND op.status = 'confirmed' AND op.customer_id IS NOT NULL), marked AS (INSERT INTO loymax_history_parts (part, row_operation) SELECT $1, $2 FROM part RETURNING 1), counted AS (INSERT INTO operation_counts (customer_id, kind, reversed_kind, n) SELECT customer_id, kind, reversed_kind, -1 FROM part ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = operation_counts.n + excluded.n) SELECT count(*) FROM marked",
                part.0,
                row.0
            )?;
            if marked != 1 {
                return Err(crate::StoreError::Corrupt(format!(
                    "history part {part}: no confirmed operation of a customer"
                )));
            }
            return Ok(());
        }
        let (customer, kind, reversed_kind) = fetch!(
            self,
            fetch_one,
            (Option<i64>, String, Option<String>),
            "SELECT op.customer_id, op.kind, orig.kind FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses WHERE op.id = $1 AND op.status = 'confirmed'",
            part.0
        )?;
        let parse = |kind: &str| {
            OperationKind::parse(kind)
                .ok_or_else(|| crate::StoreError::Corrupt(format!("operation kind {kind}")))
        };
        let kind = parse(&kind)?;
        let reversed_kind = reversed_kind.as_deref().map(parse).transpose()?;
        let customer = customer.ok_or_else(|| {
            crate::StoreError::Corrupt("a history part without a customer".into())
        })?;
        execute!(
            self,
            "INSERT INTO loymax_history_parts (part, row_operation) VALUES ($1, $2)",
            part.0,
            row.0
        )?;
        count_confirmed(self, CustomerId(customer), kind, reversed_kind, -1).await
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
            owner: Owner::Customer(key.customer_id),
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
