//! ECommPay projects, CashtoCode cash payments with their status history, and cash terminals.

use crate::row::{row, select};
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::StoreResult;
use kopilka_domain::ecommpay::PaymentStatus;
use kopilka_domain::ids::{MerchantId, OperationId};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct EcommpayProject {
    pub id: i64,
    pub merchant_id: MerchantId,
    pub name: String,
    #[serde(skip)]
    pub sealed_secret: String,
    pub callback_url: Option<String>,
    #[serde(skip)]
    pub methods: Vec<String>,
    #[serde(skip)]
    pub return_hosts: Vec<String>,
    pub voucher_ttl_secs: i64,
    pub created_at: i64,
    /// When an operator disabled it: the Gate and the Payment Page no longer know it.
    pub disabled_at: Option<i64>,
}
row!(
    EcommpayProject,
    "ecommpay_projects.id, ecommpay_projects.merchant_id, ecommpay_projects.name, ecommpay_projects.sealed_secret, ecommpay_projects.callback_url, ecommpay_projects.methods, ecommpay_projects.return_hosts, ecommpay_projects.voucher_ttl_secs, ecommpay_projects.created_at, ecommpay_projects.disabled_at",
    |c| EcommpayProject {
        id: c.next()?,
        merchant_id: MerchantId(c.next()?),
        name: c.next()?,
        sealed_secret: c.next()?,
        callback_url: c.next()?,
        methods: c.json("ecommpay project methods")?,
        return_hosts: c.json("ecommpay project return hosts")?,
        voucher_ttl_secs: c.next()?,
        created_at: c.next()?,
        disabled_at: c.next()?,
    }
);

/// A project's settings as the admin API writes them.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    pub merchant_id: MerchantId,
    pub name: String,
    pub callback_url: Option<String>,
    pub methods: Vec<String>,
    pub return_hosts: Vec<String>,
    pub voucher_ttl_secs: i64,
}

/// A cash payment, with the id of its sale operation.
#[derive(Debug, Clone, Serialize)]
pub struct CashPayment {
    pub id: i64,
    pub project_id: i64,
    pub payment_id: String,
    pub interface: String,
    pub method: String,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    #[serde(skip)]
    pub customer: serde_json::Map<String, serde_json::Value>,
    pub callback_url: Option<String>,
    #[serde(skip)]
    pub return_urls: serde_json::Map<String, serde_json::Value>,
    pub request_id: String,
    #[serde(skip)]
    pub token: String,
    pub voucher_code: Option<String>,
    pub expires_at: Option<i64>,
    pub code: String,
    pub message: String,
    pub paid_amount: Option<i64>,
    pub terminal_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub operation_id: OperationId,
}
row!(
    CashPayment,
    // A payment (p) with its sale operation (o).
    "p.id, p.project_id, p.payment_id, p.interface, p.method, p.status, p.amount, p.currency, p.description, p.customer, p.callback_url, p.return_urls, p.request_id, p.token, p.voucher_code, p.expires_at, p.code, p.message, p.paid_amount, p.terminal_id, p.created_at, p.updated_at, o.id",
    |c| CashPayment {
        id: c.next()?,
        project_id: c.next()?,
        payment_id: c.next()?,
        interface: c.next()?,
        method: c.next()?,
        status: c.parse("cash payment status", |s: &String| PaymentStatus::parse(s))?,
        amount: c.next()?,
        currency: c.next()?,
        description: c.next()?,
        customer: c.json("cash payment customer")?,
        callback_url: c.next()?,
        return_urls: c.json("cash payment return urls")?,
        request_id: c.next()?,
        token: c.next()?,
        voucher_code: c.next()?,
        expires_at: c.next()?,
        code: c.next()?,
        message: c.next()?,
        paid_amount: c.next()?,
        terminal_id: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
        operation_id: OperationId(c.next()?),
    }
);

#[derive(Debug, Clone)]
pub struct NewCashPayment {
    pub project_id: i64,
    pub payment_id: String,
    pub interface: &'static str,
    pub method: String,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub customer: serde_json::Value,
    pub callback_url: Option<String>,
    pub return_urls: serde_json::Value,
    pub request_id: String,
    pub token: String,
    pub code: String,
    pub message: String,
    /// When a Payment Page payment still without a voucher ends (the page's deadline).
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentHistoryEntry {
    pub status: PaymentStatus,
    pub code: String,
    pub message: String,
    pub at: i64,
}
row!(
    PaymentHistoryEntry,
    "ecommpay_payment_history.status, ecommpay_payment_history.code, ecommpay_payment_history.message, ecommpay_payment_history.at",
    |c| PaymentHistoryEntry {
        status: c.parse("cash payment history status", |s: &String| PaymentStatus::parse(s))?,
        code: c.next()?,
        message: c.next()?,
        at: c.next()?,
    }
);

#[derive(Debug, Clone)]
pub struct CashTerminal {
    pub id: String,
    pub name: String,
    pub key_digest: String,
    pub failures: i64,
    pub failure_window_start: i64,
    pub created_at: i64,
}
row!(
    CashTerminal,
    "cashtocode_terminals.id, cashtocode_terminals.name, cashtocode_terminals.key_digest, cashtocode_terminals.failures, cashtocode_terminals.failure_window_start, cashtocode_terminals.created_at",
    |c| CashTerminal {
        id: c.next()?,
        name: c.next()?,
        key_digest: c.next()?,
        failures: c.next()?,
        failure_window_start: c.next()?,
        created_at: c.next()?,
    }
);

/// Filters for listing payments, newest first.
#[derive(Debug, Clone, Default)]
pub struct CashPaymentFilter {
    pub project_id: Option<i64>,
    pub status: Option<String>,
    pub payment_id: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

const PAYMENT: &str = "ecommpay_payments p JOIN ecommpay_operations o ON o.payment_row = p.id";

impl Tx {
    /// Creates a project; `id` is the `project_id` merchants sign with (the next free one when
    /// `None`).
    pub async fn create_ecommpay_project(
        &mut self,
        id: Option<i64>,
        settings: &ProjectSettings,
        sealed_secret: &str,
    ) -> StoreResult<EcommpayProject> {
        let id = match id {
            Some(id) => id,
            None => int!(
                self,
                "SELECT COALESCE(MAX(id), 0) + 1 FROM ecommpay_projects"
            )?,
        };
        let now = self.now();
        execute!(
            self,
            "INSERT INTO ecommpay_projects (id, merchant_id, name, sealed_secret, callback_url, methods, return_hosts, voucher_ttl_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            id,
            settings.merchant_id.0,
            &settings.name,
            sealed_secret,
            &settings.callback_url,
            serde_json::to_string(&settings.methods).expect("methods serialize"),
            serde_json::to_string(&settings.return_hosts).expect("hosts serialize"),
            settings.voucher_ttl_secs,
            now,
        )?;
        self.ecommpay_project(id)
            .await
            .map(|p| p.expect("just inserted"))
    }

    pub async fn update_ecommpay_project(
        &mut self,
        id: i64,
        settings: &ProjectSettings,
    ) -> StoreResult<Option<EcommpayProject>> {
        execute!(
            self,
            "UPDATE ecommpay_projects SET merchant_id = $1, name = $2, callback_url = $3, methods = $4, return_hosts = $5, voucher_ttl_secs = $6 WHERE id = $7",
            settings.merchant_id.0,
            &settings.name,
            &settings.callback_url,
            serde_json::to_string(&settings.methods).expect("methods serialize"),
            serde_json::to_string(&settings.return_hosts).expect("hosts serialize"),
            settings.voucher_ttl_secs,
            id,
        )?;
        self.ecommpay_project(id).await
    }

    pub async fn set_ecommpay_secret(&mut self, id: i64, sealed_secret: &str) -> StoreResult<bool> {
        let changed = execute!(
            self,
            "UPDATE ecommpay_projects SET sealed_secret = $1 WHERE id = $2",
            sealed_secret,
            id
        )?;
        Ok(changed == 1)
    }

    /// Disables the project (once: a disabled one keeps its first time); whether it exists.
    pub async fn disable_ecommpay_project(&mut self, id: i64) -> StoreResult<bool> {
        let now = self.now();
        let changed = execute!(
            self,
            "UPDATE ecommpay_projects SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2",
            now,
            id
        )?;
        Ok(changed == 1)
    }

    pub async fn ecommpay_project(&mut self, id: i64) -> StoreResult<Option<EcommpayProject>> {
        Ok(fetch!(
            self,
            fetch_optional,
            EcommpayProject,
            &select::<EcommpayProject>("ecommpay_projects WHERE id = $1"),
            id
        )?)
    }

    pub async fn ecommpay_projects(&mut self) -> StoreResult<Vec<EcommpayProject>> {
        Ok(fetch!(
            self,
            fetch_all,
            EcommpayProject,
            &select::<EcommpayProject>("ecommpay_projects ORDER BY id")
        )?)
    }

    /// Inserts a payment, its sale operation and the first history entry.
    pub async fn create_cash_payment(&mut self, new: &NewCashPayment) -> StoreResult<CashPayment> {
        let now = self.now();
        let row = int!(
            self,
            "INSERT INTO ecommpay_payments (project_id, payment_id, interface, method, status, amount, currency, description, customer, callback_url, return_urls, request_id, token, code, message, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17) RETURNING id",
            new.project_id,
            &new.payment_id,
            new.interface,
            &new.method,
            new.status.as_str(),
            new.amount,
            &new.currency,
            &new.description,
            new.customer.to_string(),
            &new.callback_url,
            new.return_urls.to_string(),
            &new.request_id,
            &new.token,
            &new.code,
            &new.message,
            now,
            new.expires_at,
        )?;
        execute!(
            self,
            "INSERT INTO ecommpay_operations (payment_row, type, created_at) VALUES ($1, 'sale', $2)",
            row,
            now
        )?;
        self.record_cash_history(row, new.status, &new.code, &new.message)
            .await?;
        self.cash_payment_row(row, false)
            .await
            .map(|p| p.expect("just inserted"))
    }

    async fn record_cash_history(
        &mut self,
        row: i64,
        status: PaymentStatus,
        code: &str,
        message: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO ecommpay_payment_history (payment_row, status, code, message, at) VALUES ($1, $2, $3, $4, $5)",
            row,
            status.as_str(),
            code,
            message,
            now,
        )?;
        Ok(())
    }

    /// A payment by its row id; `lock` takes the row for the rest of the transaction.
    pub async fn cash_payment_row(
        &mut self,
        row: i64,
        lock: bool,
    ) -> StoreResult<Option<CashPayment>> {
        let suffix = if lock { self.payment_lock_suffix() } else { "" };
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!("{} WHERE p.id = $1{suffix}", select::<CashPayment>(PAYMENT)),
            row
        )?)
    }

    fn payment_lock_suffix(&self) -> &'static str {
        match self.lock_suffix() {
            "" => "",
            _ => " FOR UPDATE OF p",
        }
    }

    pub async fn cash_payment(
        &mut self,
        project_id: i64,
        payment_id: &str,
    ) -> StoreResult<Option<CashPayment>> {
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!(
                "{} WHERE p.project_id = $1 AND p.payment_id = $2",
                select::<CashPayment>(PAYMENT)
            ),
            project_id,
            payment_id
        )?)
    }

    pub async fn cash_payment_by_token(&mut self, token: &str) -> StoreResult<Option<CashPayment>> {
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!("{} WHERE p.token = $1", select::<CashPayment>(PAYMENT)),
            token
        )?)
    }

    pub async fn cash_payment_by_code(&mut self, code: &str) -> StoreResult<Option<CashPayment>> {
        let suffix = self.payment_lock_suffix();
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!(
                "{} WHERE p.voucher_code = $1{suffix}",
                select::<CashPayment>(PAYMENT)
            ),
            code
        )?)
    }

    /// Stores the personal data the customer entered on the Payment Page.
    pub async fn set_cash_customer(
        &mut self,
        row: i64,
        customer: &serde_json::Value,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE ecommpay_payments SET customer = $1, updated_at = $2 WHERE id = $3",
            customer.to_string(),
            now,
            row
        )?;
        Ok(())
    }

    /// Moves a payment to `status`, recording it in the history. `voucher` sets the code and
    /// its expiry; `paid` the cash a terminal took.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_cash_status(
        &mut self,
        row: i64,
        status: PaymentStatus,
        code: &str,
        message: &str,
        voucher: Option<(&str, i64)>,
        paid: Option<(i64, &str)>,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE ecommpay_payments SET status = $1, code = $2, message = $3, voucher_code = COALESCE($4, voucher_code), expires_at = COALESCE($5, expires_at), paid_amount = COALESCE($6, paid_amount), terminal_id = COALESCE($7, terminal_id), updated_at = $8 WHERE id = $9",
            status.as_str(),
            code,
            message,
            voucher.map(|v| v.0.to_string()),
            voucher.map(|v| v.1),
            paid.map(|p| p.0),
            paid.map(|p| p.1.to_string()),
            now,
            row,
        )?;
        self.record_cash_history(row, status, code, message).await
    }

    pub async fn cash_payment_history(
        &mut self,
        row: i64,
    ) -> StoreResult<Vec<PaymentHistoryEntry>> {
        Ok(fetch!(
            self,
            fetch_all,
            PaymentHistoryEntry,
            &select::<PaymentHistoryEntry>(
                "ecommpay_payment_history WHERE payment_row = $1 ORDER BY id"
            ),
            row
        )?)
    }

    pub async fn cash_payments(
        &mut self,
        filter: &CashPaymentFilter,
    ) -> StoreResult<Vec<CashPayment>> {
        Ok(fetch!(
            self,
            fetch_all,
            CashPayment,
            &format!("{} WHERE ($1 IS NULL OR p.project_id = $1) AND ($2 IS NULL OR p.status = $2) AND ($3 IS NULL OR p.payment_id = $3) AND ($4 IS NULL OR p.created_at >= $4) AND ($5 IS NULL OR p.created_at < $5) AND ($6 IS NULL OR p.id < $6) ORDER BY p.id DESC LIMIT $7", select::<CashPayment>(PAYMENT)),
            filter.project_id,
            filter.status.clone(),
            filter.payment_id.clone(),
            filter.created_from,
            filter.created_to,
            filter.before_id,
            filter.limit,
        )?)
    }

    /// Row ids of payments whose time ran out — a voucher not paid, a page not completed —
    /// oldest first.
    pub async fn due_cash_payments(&mut self, now: i64, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(scalar!(
            self,
            fetch_all,
            i64,
            "SELECT id FROM ecommpay_payments WHERE status IN ('processing', 'awaiting redirect result') AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
            now,
            limit
        )?)
    }

    pub async fn create_cash_terminal(
        &mut self,
        id: &str,
        name: &str,
        key_digest: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO cashtocode_terminals (id, name, key_digest, created_at) VALUES ($1, $2, $3, $4)",
            id,
            name,
            key_digest,
            now
        )?;
        Ok(())
    }

    pub async fn cash_terminal(&mut self, id: &str) -> StoreResult<Option<CashTerminal>> {
        Ok(fetch!(
            self,
            fetch_optional,
            CashTerminal,
            &select::<CashTerminal>("cashtocode_terminals WHERE id = $1"),
            id
        )?)
    }

    /// Counts a failed code look-up in the terminal's current window (`window_ms` long) and
    /// returns the failures in it.
    pub async fn record_terminal_failure(&mut self, id: &str, window_ms: i64) -> StoreResult<i64> {
        let now = self.now();
        execute!(
            self,
            "UPDATE cashtocode_terminals SET failures = CASE WHEN failure_window_start + $1 <= $2 THEN 1 ELSE failures + 1 END, failure_window_start = CASE WHEN failure_window_start + $1 <= $2 THEN $2 ELSE failure_window_start END WHERE id = $3",
            window_ms,
            now,
            id
        )?;
        Ok(int!(
            self,
            "SELECT failures FROM cashtocode_terminals WHERE id = $1",
            id
        )?)
    }
}
