//! Kupi-Kupi platforms (a shop's site with its keys and URLs) and transfers.

use crate::row::{row, select};
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId};
use kopilka_domain::kupikupi::TransferStatus;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub id: i64,
    pub uid: String,
    pub merchant_id: MerchantId,
    pub site: String,
    pub success_url: String,
    pub fail_url: String,
    pub notification_url: String,
    #[serde(skip)]
    pub sealed_secret: String,
    #[serde(skip)]
    pub sealed_dev_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When an operator disabled it: the protocol's methods no longer know it.
    pub disabled_at: Option<i64>,
}
row!(
    Platform,
    "kupikupi_platforms.id, kupikupi_platforms.uid, kupikupi_platforms.merchant_id, kupikupi_platforms.site, kupikupi_platforms.success_url, kupikupi_platforms.fail_url, kupikupi_platforms.notification_url, kupikupi_platforms.sealed_secret, kupikupi_platforms.sealed_dev_secret, kupikupi_platforms.created_at, kupikupi_platforms.updated_at, kupikupi_platforms.disabled_at",
    |c| Platform {
        id: c.next()?,
        uid: c.next()?,
        merchant_id: MerchantId(c.next()?),
        site: c.next()?,
        success_url: c.next()?,
        fail_url: c.next()?,
        notification_url: c.next()?,
        sealed_secret: c.next()?,
        sealed_dev_secret: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
        disabled_at: c.next()?,
    }
);

/// A platform's address book: where the customer returns and where the shop is told.
#[derive(Debug, Clone)]
pub struct PlatformUrls {
    pub site: String,
    pub success_url: String,
    pub fail_url: String,
    pub notification_url: String,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    /// The paymentId.
    pub id: i64,
    pub platform_id: i64,
    pub sandbox: i64,
    pub order_id: String,
    pub phone: String,
    pub customer_id: Option<CustomerId>,
    /// Kopecks, as the shop asked.
    pub amount: i64,
    /// The same amount in the program's minor units.
    pub points: i64,
    pub status: TransferStatus,
    pub attempts: i64,
    pub sealed_code: String,
    pub form_key: String,
    pub operation_id: Option<OperationId>,
    pub expires_at: i64,
    /// When the code's SMS went out; `None` while the per-phone quota held it back.
    pub code_sent_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
row!(
    Transfer,
    "kupikupi_transfers.id, kupikupi_transfers.platform_id, kupikupi_transfers.sandbox, kupikupi_transfers.order_id, kupikupi_transfers.phone, kupikupi_transfers.customer_id, kupikupi_transfers.amount, kupikupi_transfers.points, kupikupi_transfers.status, kupikupi_transfers.attempts, kupikupi_transfers.sealed_code, kupikupi_transfers.form_key, kupikupi_transfers.operation_id, kupikupi_transfers.expires_at, kupikupi_transfers.code_sent_at, kupikupi_transfers.created_at, kupikupi_transfers.updated_at",
    |c| Transfer {
        id: c.next()?,
        platform_id: c.next()?,
        sandbox: c.next()?,
        order_id: c.next()?,
        phone: c.next()?,
        customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        amount: c.next()?,
        points: c.next()?,
        status: c.parse("kupikupi transfer status", |s: &String| TransferStatus::parse(s))?,
        attempts: c.next()?,
        sealed_code: c.next()?,
        form_key: c.next()?,
        operation_id: c.next::<Option<i64>>()?.map(OperationId),
        expires_at: c.next()?,
        code_sent_at: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
    }
);

impl Transfer {
    pub fn is_sandbox(&self) -> bool {
        self.sandbox != 0
    }
}

#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub platform_id: i64,
    pub sandbox: bool,
    pub order_id: String,
    pub phone: String,
    pub customer_id: Option<CustomerId>,
    pub amount: i64,
    pub points: i64,
    pub status: TransferStatus,
    pub sealed_code: String,
    pub form_key: String,
    pub expires_at: i64,
}

impl Tx {
    pub async fn create_kupikupi_platform(
        &mut self,
        uid: &str,
        merchant_id: MerchantId,
        urls: &PlatformUrls,
        sealed_secret: &str,
        sealed_dev_secret: &str,
    ) -> StoreResult<Platform> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO kupikupi_platforms (uid, merchant_id, site, success_url, fail_url, notification_url, sealed_secret, sealed_dev_secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            uid,
            merchant_id.0,
            &urls.site,
            &urls.success_url,
            &urls.fail_url,
            &urls.notification_url,
            sealed_secret,
            sealed_dev_secret,
            now,
        )?;
        Ok(fetch!(
            self,
            fetch_one,
            Platform,
            &select::<Platform>("kupikupi_platforms WHERE id = $1"),
            id
        )?)
    }

    pub async fn kupikupi_platform(&mut self, uid: &str) -> StoreResult<Option<Platform>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Platform,
            &select::<Platform>("kupikupi_platforms WHERE uid = $1"),
            uid
        )?)
    }

    pub async fn kupikupi_platform_by_id(&mut self, id: i64) -> StoreResult<Option<Platform>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Platform,
            &select::<Platform>("kupikupi_platforms WHERE id = $1"),
            id
        )?)
    }

    pub async fn kupikupi_platforms(&mut self) -> StoreResult<Vec<Platform>> {
        Ok(fetch!(
            self,
            fetch_all,
            Platform,
            &select::<Platform>("kupikupi_platforms ORDER BY id")
        )?)
    }

    pub async fn update_kupikupi_platform_urls(
        &mut self,
        id: i64,
        urls: &PlatformUrls,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE kupikupi_platforms SET site = $1, success_url = $2, fail_url = $3, notification_url = $4, updated_at = $5 WHERE id = $6",
            &urls.site,
            &urls.success_url,
            &urls.fail_url,
            &urls.notification_url,
            now,
            id,
        )?;
        Ok(())
    }

    /// Disables the platform (once: a disabled one keeps its first time).
    pub async fn disable_kupikupi_platform(&mut self, id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE kupikupi_platforms SET disabled_at = COALESCE(disabled_at, $1), updated_at = $1 WHERE id = $2",
            now,
            id,
        )?;
        Ok(())
    }

    pub async fn update_kupikupi_platform_keys(
        &mut self,
        id: i64,
        sealed_secret: &str,
        sealed_dev_secret: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE kupikupi_platforms SET sealed_secret = $1, sealed_dev_secret = $2, updated_at = $3 WHERE id = $4",
            sealed_secret,
            sealed_dev_secret,
            now,
            id,
        )?;
        Ok(())
    }

    pub async fn create_kupikupi_transfer(&mut self, new: &NewTransfer) -> StoreResult<Transfer> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO kupikupi_transfers (platform_id, sandbox, order_id, phone, customer_id, amount, points, status, attempts, sealed_code, form_key, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11, $12, $12) RETURNING id",
            new.platform_id,
            i64::from(new.sandbox),
            &new.order_id,
            &new.phone,
            new.customer_id.map(|id| id.0),
            new.amount,
            new.points,
            new.status.as_str(),
            &new.sealed_code,
            &new.form_key,
            new.expires_at,
            now,
        )?;
        Ok(fetch!(
            self,
            fetch_one,
            Transfer,
            &select::<Transfer>("kupikupi_transfers WHERE id = $1"),
            id
        )?)
    }

    /// Reads a transfer, locking it on PostgreSQL so its state changes one at a time.
    pub async fn kupikupi_transfer(&mut self, id: i64) -> StoreResult<Option<Transfer>> {
        let sql = self.select_locked::<Transfer>("kupikupi_transfers WHERE id = $1");
        Ok(fetch!(self, fetch_optional, Transfer, &sql, id)?)
    }

    pub async fn kupikupi_transfer_by_form(
        &mut self,
        form_key: &str,
    ) -> StoreResult<Option<Transfer>> {
        let sql = self.select_locked::<Transfer>("kupikupi_transfers WHERE form_key = $1");
        Ok(fetch!(self, fetch_optional, Transfer, &sql, form_key)?)
    }

    pub async fn kupikupi_transfer_by_operation(
        &mut self,
        operation_id: OperationId,
    ) -> StoreResult<Option<Transfer>> {
        let sql = self.select_locked::<Transfer>("kupikupi_transfers WHERE operation_id = $1");
        Ok(fetch!(
            self,
            fetch_optional,
            Transfer,
            &sql,
            operation_id.0
        )?)
    }

    /// The order's newest transfer.
    pub async fn kupikupi_transfer_by_order(
        &mut self,
        platform_id: i64,
        sandbox: bool,
        order_id: &str,
    ) -> StoreResult<Option<Transfer>> {
        self.kupikupi_newest_transfer(platform_id, sandbox, "order_id = $3", order_id)
            .await
    }

    /// The production transfers of `phone` on a platform that wait for a code and whose form
    /// still lives at `now`, newest first. Not locked: the caller locks the one it acts on
    /// (locking them all would hold rows the expiry job takes in another order).
    pub async fn kupikupi_waiting_transfers_of_phone(
        &mut self,
        platform_id: i64,
        phone: &str,
        now: i64,
    ) -> StoreResult<Vec<Transfer>> {
        let sql = select::<Transfer>(
            "kupikupi_transfers WHERE platform_id = $1 AND sandbox = 0 AND phone = $2 AND status IN ('NEW', 'FORM_SHOWED') AND expires_at > $3 ORDER BY id DESC LIMIT 20",
        );
        Ok(fetch!(
            self,
            fetch_all,
            Transfer,
            &sql,
            platform_id,
            phone,
            now
        )?)
    }

    pub async fn kupikupi_mark_code_sent(&mut self, id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE kupikupi_transfers SET code_sent_at = $1 WHERE id = $2",
            now,
            id
        )?;
        Ok(())
    }

    /// The newest transfer on a platform that matches `filter`, in which `$3` is `value`.
    async fn kupikupi_newest_transfer(
        &mut self,
        platform_id: i64,
        sandbox: bool,
        filter: &str,
        value: &str,
    ) -> StoreResult<Option<Transfer>> {
        let sql = self.select_locked::<Transfer>(&format!(
                "kupikupi_transfers WHERE platform_id = $1 AND sandbox = $2 AND {filter} ORDER BY id DESC LIMIT 1"
            ));
        Ok(fetch!(
            self,
            fetch_optional,
            Transfer,
            &sql,
            platform_id,
            i64::from(sandbox),
            value
        )?)
    }

    /// A customer's transfers, newest first.
    pub async fn kupikupi_transfers_of_customer(
        &mut self,
        customer_id: CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<Transfer>> {
        Ok(fetch!(
            self,
            fetch_all,
            Transfer,
            &select::<Transfer>(
                "kupikupi_transfers WHERE customer_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            customer_id.0,
            limit
        )?)
    }

    /// Ids of transfers whose form lifetime passed while they waited for a code.
    pub async fn kupikupi_expired_transfers(
        &mut self,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        Ok(scalar!(
            self,
            fetch_all,
            i64,
            "SELECT id FROM kupikupi_transfers WHERE status IN ('NEW', 'FORM_SHOWED') AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            now,
            limit
        )?)
    }

    pub async fn update_kupikupi_transfer(
        &mut self,
        id: i64,
        status: TransferStatus,
        attempts: i64,
        operation_id: Option<OperationId>,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE kupikupi_transfers SET status = $1, attempts = $2, operation_id = $3, updated_at = $4 WHERE id = $5",
            status.as_str(),
            attempts,
            operation_id.map(|id| id.0),
            now,
            id,
        )?;
        Ok(())
    }
}

/// A fiscal receipt the shop registered. Kopecks for `amount`, `discount` and `refunded`;
/// the program's points for `cashback` and `taken_back`.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: i64,
    pub platform_id: i64,
    pub customer_id: CustomerId,
    /// `fn:fd:fp`.
    pub fiscal_key: String,
    pub receipt_type: i64,
    pub amount: i64,
    pub discount: i64,
    /// Unix ms.
    pub pay_date: i64,
    /// A sale's cashback earned; a refund's points taken back.
    pub cashback: i64,
    /// A sale's earn, a refund's reversal; `None` when no points moved.
    pub operation_id: Option<OperationId>,
    /// The sale a refund was matched to.
    pub refund_of: Option<i64>,
    /// A sale's money refunded so far.
    pub refunded: i64,
    /// A sale's points its refunds took back so far.
    pub taken_back: i64,
    pub created_at: i64,
}
row!(
    Receipt,
    "kupikupi_receipts.id, kupikupi_receipts.platform_id, kupikupi_receipts.customer_id, kupikupi_receipts.fiscal_key, kupikupi_receipts.receipt_type, kupikupi_receipts.amount, kupikupi_receipts.discount, kupikupi_receipts.pay_date, kupikupi_receipts.cashback, kupikupi_receipts.operation_id, kupikupi_receipts.refund_of, kupikupi_receipts.refunded, kupikupi_receipts.taken_back, kupikupi_receipts.created_at",
    |c| Receipt {
        id: c.next()?,
        platform_id: c.next()?,
        customer_id: CustomerId(c.next()?),
        fiscal_key: c.next()?,
        receipt_type: c.next()?,
        amount: c.next()?,
        discount: c.next()?,
        pay_date: c.next()?,
        cashback: c.next()?,
        operation_id: c.next::<Option<i64>>()?.map(OperationId),
        refund_of: c.next()?,
        refunded: c.next()?,
        taken_back: c.next()?,
        created_at: c.next()?,
    }
);

impl From<&Receipt> for kopilka_domain::kupikupi::SaleReceipt {
    fn from(sale: &Receipt) -> Self {
        Self {
            amount: sale.amount,
            refunded: sale.refunded,
            cashback: sale.cashback,
            taken_back: sale.taken_back,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub platform_id: i64,
    pub customer_id: CustomerId,
    pub fiscal_key: String,
    pub receipt_type: i64,
    pub amount: i64,
    pub discount: i64,
    pub pay_date: i64,
    pub cashback: i64,
    pub operation_id: Option<OperationId>,
    pub refund_of: Option<i64>,
}

impl Tx {
    pub async fn kupikupi_receipt(
        &mut self,
        platform_id: i64,
        fiscal_key: &str,
    ) -> StoreResult<Option<Receipt>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Receipt,
            &select::<Receipt>("kupikupi_receipts WHERE platform_id = $1 AND fiscal_key = $2"),
            platform_id,
            fiscal_key
        )?)
    }

    pub async fn create_kupikupi_receipt(&mut self, new: &NewReceipt) -> StoreResult<Receipt> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO kupikupi_receipts (platform_id, customer_id, fiscal_key, receipt_type, amount, discount, pay_date, cashback, operation_id, refund_of, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            new.platform_id,
            new.customer_id.0,
            &new.fiscal_key,
            new.receipt_type,
            new.amount,
            new.discount,
            new.pay_date,
            new.cashback,
            new.operation_id.map(|id| id.0),
            new.refund_of,
            now,
        )?;
        Ok(fetch!(
            self,
            fetch_one,
            Receipt,
            &select::<Receipt>("kupikupi_receipts WHERE id = $1"),
            id
        )?)
    }

    /// A customer's sale receipts on a platform paid no later than `until`, newest first,
    /// locked on PostgreSQL so concurrent refunds of one sale take turns.
    pub async fn kupikupi_sales_of_customer(
        &mut self,
        platform_id: i64,
        customer_id: CustomerId,
        until: i64,
    ) -> StoreResult<Vec<Receipt>> {
        let sql = self.select_locked::<Receipt>(
            "kupikupi_receipts WHERE platform_id = $1 AND customer_id = $2 AND receipt_type = 1 AND pay_date <= $3 AND refunded < amount ORDER BY pay_date DESC, id DESC LIMIT 100",
        );
        Ok(fetch!(
            self,
            fetch_all,
            Receipt,
            &sql,
            platform_id,
            customer_id.0,
            until
        )?)
    }

    /// Adds a refund of `amount` kopecks that took back `taken` points to its sale.
    pub async fn kupikupi_refund_sale(
        &mut self,
        sale_id: i64,
        amount: i64,
        taken: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE kupikupi_receipts SET refunded = refunded + $1, taken_back = taken_back + $2 WHERE id = $3",
            amount,
            taken,
            sale_id
        )?;
        Ok(())
    }
}
