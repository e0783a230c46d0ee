//! ECommPay projects, CashtoCode cash payments with their status history, and cash terminals.

use crate::tx::{execute, fetch, scalar, Tx};
use crate::StoreResult;
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EcommpayProject {
    pub id: i64,
    pub merchant_id: i64,
    pub name: String,
    #[serde(skip)]
    pub sealed_secret: String,
    pub callback_url: Option<String>,
    #[serde(skip)]
    pub methods: String,
    #[serde(skip)]
    pub return_hosts: String,
    pub voucher_ttl_secs: i64,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(EcommpayProject {
    id,
    merchant_id,
    name,
    sealed_secret,
    callback_url,
    methods,
    return_hosts,
    voucher_ttl_secs,
    created_at
});

impl EcommpayProject {
    pub fn methods(&self) -> Vec<String> {
        serde_json::from_str(&self.methods).unwrap_or_default()
    }

    pub fn return_hosts(&self) -> Vec<String> {
        serde_json::from_str(&self.return_hosts).unwrap_or_default()
    }
}

/// A project's settings as the admin API writes them.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    pub merchant_id: i64,
    pub name: String,
    pub callback_url: Option<String>,
    pub methods: Vec<String>,
    pub return_hosts: Vec<String>,
    pub voucher_ttl_secs: i64,
}

/// A cash payment, with the id of its sale operation.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct CashPayment {
    pub id: i64,
    pub project_id: i64,
    pub payment_id: String,
    pub interface: String,
    pub method: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    #[serde(skip)]
    pub customer: String,
    pub callback_url: Option<String>,
    #[serde(skip)]
    pub return_urls: String,
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
    pub operation_id: i64,
}
crate::sqlite::statement::sqlite_row!(CashPayment {
    id,
    project_id,
    payment_id,
    interface,
    method,
    status,
    amount,
    currency,
    description,
    customer,
    callback_url,
    return_urls,
    request_id,
    token,
    voucher_code,
    expires_at,
    code,
    message,
    paid_amount,
    terminal_id,
    created_at,
    updated_at,
    operation_id
});

impl CashPayment {
    pub fn customer(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.customer).unwrap_or_default()
    }

    pub fn return_urls(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.return_urls).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct NewCashPayment {
    pub project_id: i64,
    pub payment_id: String,
    pub interface: &'static str,
    pub method: String,
    pub status: String,
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
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PaymentHistoryEntry {
    pub status: String,
    pub code: String,
    pub message: String,
    pub at: i64,
}
crate::sqlite::statement::sqlite_row!(PaymentHistoryEntry {
    status,
    code,
    message,
    at
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CashTerminal {
    pub id: String,
    pub name: String,
    pub key_digest: String,
    pub failures: i64,
    pub failure_window_start: i64,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(CashTerminal {
    id,
    name,
    key_digest,
    failures,
    failure_window_start,
    created_at
});

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

const PROJECT: &str = "SELECT id, merchant_id, name, sealed_secret, callback_url, methods, return_hosts, voucher_ttl_secs, created_at FROM ecommpay_projects";
const PAYMENT: &str = "SELECT p.id, p.project_id, p.payment_id, p.interface, p.method, p.status, p.amount, p.currency, p.description, p.customer, p.callback_url, p.return_urls, p.request_id, p.token, p.voucher_code, p.expires_at, p.code, p.message, p.paid_amount, p.terminal_id, p.created_at, p.updated_at, o.id AS operation_id FROM ecommpay_payments p JOIN ecommpay_operations o ON o.payment_row = p.id";

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
            None => scalar!(
                self,
                fetch_one,
                i64,
                "SELECT COALESCE(MAX(id), 0) + 1 FROM ecommpay_projects"
            )?,
        };
        let now = self.now();
        execute!(
            self,
            "INSERT INTO ecommpay_projects (id, merchant_id, name, sealed_secret, callback_url, methods, return_hosts, voucher_ttl_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            id,
            settings.merchant_id,
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
            settings.merchant_id,
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

    pub async fn ecommpay_project(&mut self, id: i64) -> StoreResult<Option<EcommpayProject>> {
        Ok(fetch!(
            self,
            fetch_optional,
            EcommpayProject,
            &format!("{PROJECT} WHERE id = $1"),
            id
        )?)
    }

    pub async fn ecommpay_projects(&mut self) -> StoreResult<Vec<EcommpayProject>> {
        Ok(fetch!(
            self,
            fetch_all,
            EcommpayProject,
            &format!("{PROJECT} ORDER BY id")
        )?)
    }

    /// Inserts a payment, its sale operation and the first history entry.
    pub async fn create_cash_payment(&mut self, new: &NewCashPayment) -> StoreResult<CashPayment> {
        let now = self.now();
        let row = scalar!(
            self,
            fetch_one,
            i64,
            "INSERT INTO ecommpay_payments (project_id, payment_id, interface, method, status, amount, currency, description, customer, callback_url, return_urls, request_id, token, code, message, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING id",
            new.project_id,
            &new.payment_id,
            new.interface,
            &new.method,
            &new.status,
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
        )?;
        execute!(
            self,
            "INSERT INTO ecommpay_operations (payment_row, type, created_at) VALUES ($1, 'sale', $2)",
            row,
            now
        )?;
        self.record_cash_history(row, &new.status, &new.code, &new.message)
            .await?;
        self.cash_payment_row(row, false)
            .await
            .map(|p| p.expect("just inserted"))
    }

    async fn record_cash_history(
        &mut self,
        row: i64,
        status: &str,
        code: &str,
        message: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO ecommpay_payment_history (payment_row, status, code, message, at) VALUES ($1, $2, $3, $4, $5)",
            row,
            status,
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
            &format!("{PAYMENT} WHERE p.id = $1{suffix}"),
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
            &format!("{PAYMENT} WHERE p.project_id = $1 AND p.payment_id = $2"),
            project_id,
            payment_id
        )?)
    }

    pub async fn cash_payment_by_token(&mut self, token: &str) -> StoreResult<Option<CashPayment>> {
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!("{PAYMENT} WHERE p.token = $1"),
            token
        )?)
    }

    pub async fn cash_payment_by_code(&mut self, code: &str) -> StoreResult<Option<CashPayment>> {
        let suffix = self.payment_lock_suffix();
        Ok(fetch!(
            self,
            fetch_optional,
            CashPayment,
            &format!("{PAYMENT} WHERE p.voucher_code = $1{suffix}"),
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
        status: &str,
        code: &str,
        message: &str,
        voucher: Option<(&str, i64)>,
        paid: Option<(i64, &str)>,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE ecommpay_payments SET status = $1, code = $2, message = $3, voucher_code = COALESCE($4, voucher_code), expires_at = COALESCE($5, expires_at), paid_amount = COALESCE($6, paid_amount), terminal_id = COALESCE($7, terminal_id), updated_at = $8 WHERE id = $9",
            status,
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
            "SELECT status, code, message, at FROM ecommpay_payment_history WHERE payment_row = $1 ORDER BY id",
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
            &format!("{PAYMENT} WHERE ($1 IS NULL OR p.project_id = $1) AND ($2 IS NULL OR p.status = $2) AND ($3 IS NULL OR p.payment_id = $3) AND ($4 IS NULL OR p.created_at >= $4) AND ($5 IS NULL OR p.created_at < $5) AND ($6 IS NULL OR p.id < $6) ORDER BY p.id DESC LIMIT $7"),
            filter.project_id,
            filter.status.clone(),
            filter.payment_id.clone(),
            filter.created_from,
            filter.created_to,
            filter.before_id,
            filter.limit,
        )?)
    }

    /// Row ids of vouchers whose time ran out, oldest first.
    pub async fn due_cash_vouchers(&mut self, now: i64, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(scalar!(
            self,
            fetch_all,
            i64,
            "SELECT id FROM ecommpay_payments WHERE status = 'awaiting redirect result' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
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
            "SELECT id, name, key_digest, failures, failure_window_start, created_at FROM cashtocode_terminals WHERE id = $1",
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
        Ok(scalar!(
            self,
            fetch_one,
            i64,
            "SELECT failures FROM cashtocode_terminals WHERE id = $1",
            id
        )?)
    }
}
