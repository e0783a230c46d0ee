//! The inCust protocol's rows: each transaction's answer, hosted page sessions and wrong
//! attempts of spend passwords and codes.

use crate::row::{row, select, Row};
use crate::tx::{execute, fetch, int, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use serde::Serialize;

/// What an inCust transaction reported when it was made. Amounts in minor units: `amount` and
/// `amount_to_pay` money, the bonuses and `card_bonuses` points; negative for a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncustTransaction {
    pub operation_id: OperationId,
    pub merchant_id: MerchantId,
    pub customer_id: CustomerId,
    /// `earn`, `redeem` or `cancel`.
    pub kind: String,
    /// The operation a cancellation cancels.
    pub cancels: Option<OperationId>,
    /// E.164 digits.
    pub cardphone: String,
    pub comment: String,
    pub amount: i64,
    pub bonuses_redeemed: i64,
    pub amount_to_pay: i64,
    pub bonuses_earned: i64,
    /// The card's balance right after the transaction.
    pub card_bonuses: i64,
    /// The message to the card's owner.
    pub message: String,
    pub created_at: i64,
}
row!(
    IncustTransaction,
    "incust_transactions.operation_id, incust_transactions.merchant_id, incust_transactions.customer_id, incust_transactions.kind, incust_transactions.cancels, incust_transactions.cardphone, incust_transactions.comment, incust_transactions.amount, incust_transactions.bonuses_redeemed, incust_transactions.amount_to_pay, incust_transactions.bonuses_earned, incust_transactions.card_bonuses, incust_transactions.message, incust_transactions.created_at",
    |c| IncustTransaction {
        operation_id: OperationId(c.next()?),
        merchant_id: MerchantId(c.next()?),
        customer_id: CustomerId(c.next()?),
        kind: c.next()?,
        cancels: c.next::<Option<i64>>()?.map(OperationId),
        cardphone: c.next()?,
        comment: c.next()?,
        amount: c.next()?,
        bonuses_redeemed: c.next()?,
        amount_to_pay: c.next()?,
        bonuses_earned: c.next()?,
        card_bonuses: c.next()?,
        message: c.next()?,
        created_at: c.next()?,
    }
);

/// A hosted redeem or earn page the shop opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncustPage {
    pub id: i64,
    /// `earn` or `redeem`.
    pub kind: String,
    pub merchant_id: MerchantId,
    pub program_id: ProgramId,
    /// `None` until an earn for an unknown phone enrols the customer.
    pub customer_id: Option<CustomerId>,
    pub cardphone: String,
    /// The order's amount, money minor units.
    pub amount: i64,
    pub comment: String,
    pub return_url: String,
    /// Digest of the one-time SMS code when the card has no spend password.
    pub code_digest: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
    pub status: Option<String>,
    pub operation_id: Option<OperationId>,
}
row!(
    IncustPage,
    "incust_pages.id, incust_pages.kind, incust_pages.merchant_id, incust_pages.program_id, incust_pages.customer_id, incust_pages.cardphone, incust_pages.amount, incust_pages.comment, incust_pages.return_url, incust_pages.code_digest, incust_pages.created_at, incust_pages.expires_at, incust_pages.finished_at, incust_pages.status, incust_pages.operation_id",
    |c| IncustPage {
        id: c.next()?,
        kind: c.next()?,
        merchant_id: MerchantId(c.next()?),
        program_id: ProgramId(c.next()?),
        customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        cardphone: c.next()?,
        amount: c.next()?,
        comment: c.next()?,
        return_url: c.next()?,
        code_digest: c.next()?,
        created_at: c.next()?,
        expires_at: c.next()?,
        finished_at: c.next()?,
        status: c.next()?,
        operation_id: c.next::<Option<i64>>()?.map(OperationId),
    }
);

/// A page to open; `form_token` is the digest of its first form token.
#[derive(Debug, Clone)]
pub struct NewIncustPage {
    pub form_token: String,
    pub kind: String,
    pub merchant_id: MerchantId,
    pub program_id: ProgramId,
    pub customer_id: Option<CustomerId>,
    pub cardphone: String,
    pub amount: i64,
    pub comment: String,
    pub return_url: String,
    pub code_digest: Option<String>,
    pub expires_at: i64,
}

/// Finished pages are kept this long after they expire, then deleted.
const PAGE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

impl Tx {
    pub async fn incust_record(&mut self, t: &IncustTransaction) -> StoreResult<()> {
        execute!(
            self,
            "INSERT INTO incust_transactions (operation_id, merchant_id, customer_id, kind, cancels, cardphone, comment, amount, bonuses_redeemed, amount_to_pay, bonuses_earned, card_bonuses, message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            t.operation_id.0,
            t.merchant_id.0,
            t.customer_id.0,
            &t.kind,
            t.cancels.map(|id| id.0),
            &t.cardphone,
            &t.comment,
            t.amount,
            t.bonuses_redeemed,
            t.amount_to_pay,
            t.bonuses_earned,
            t.card_bonuses,
            &t.message,
            t.created_at,
        )?;
        Ok(())
    }

    pub async fn incust_transaction(
        &mut self,
        operation_id: i64,
    ) -> StoreResult<Option<IncustTransaction>> {
        Ok(fetch!(
            self,
            fetch_optional,
            IncustTransaction,
            &select::<IncustTransaction>("incust_transactions WHERE operation_id = $1"),
            operation_id
        )?)
    }

    /// Opens a page, deleting pages that expired more than a day ago.
    pub async fn incust_open_page(&mut self, page: &NewIncustPage) -> StoreResult<i64> {
        let now = self.now();
        execute!(
            self,
            "DELETE FROM incust_page_tokens WHERE page_id IN (SELECT id FROM incust_pages WHERE expires_at < $1)",
            now - PAGE_RETENTION_MS
        )?;
        execute!(
            self,
            "DELETE FROM incust_pages WHERE expires_at < $1",
            now - PAGE_RETENTION_MS
        )?;
        let id = int!(
            self,
            "INSERT INTO incust_pages (form_token, kind, merchant_id, program_id, customer_id, cardphone, amount, comment, return_url, code_digest, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &page.form_token,
            &page.kind,
            page.merchant_id.0,
            page.program_id.0,
            page.customer_id.map(|id| id.0),
            &page.cardphone,
            page.amount,
            &page.comment,
            &page.return_url,
            &page.code_digest,
            now,
            page.expires_at,
        )?;
        self.incust_remember_token(id, &page.form_token).await?;
        Ok(id)
    }

    /// The code of the shop's unfinished page for `cardphone` that is still valid at `now`:
    /// its digest and when it expires. A page opened again for the card reuses it.
    pub async fn incust_valid_code(
        &mut self,
        merchant_id: MerchantId,
        cardphone: &str,
        now: i64,
    ) -> StoreResult<Option<(String, i64)>> {
        Ok(fetch!(
            self,
            fetch_optional,
            (String, i64),
            "SELECT code_digest, expires_at FROM incust_pages WHERE merchant_id = $1 AND cardphone = $2 AND expires_at > $3 AND code_digest IS NOT NULL AND finished_at IS NULL ORDER BY expires_at DESC LIMIT 1",
            merchant_id.0,
            cardphone,
            now
        )?)
    }

    /// Keeps every form token a page carried, so a form submitted again finds its page.
    async fn incust_remember_token(&mut self, page_id: i64, token: &str) -> StoreResult<()> {
        execute!(
            self,
            "INSERT INTO incust_page_tokens (form_token, page_id) VALUES ($1, $2)",
            token,
            page_id
        )?;
        Ok(())
    }

    /// The page that carried the form token `token` at any time, finished or not.
    pub async fn incust_page_by_any_token(
        &mut self,
        token: &str,
    ) -> StoreResult<Option<IncustPage>> {
        Ok(fetch!(
            self,
            fetch_optional,
            IncustPage,
            &select::<IncustPage>(
                "incust_page_tokens JOIN incust_pages ON incust_pages.id = incust_page_tokens.page_id WHERE incust_page_tokens.form_token = $1"
            ),
            token
        )?)
    }

    /// Gives an unfinished page the form token `next` in place of its current one (a form
    /// from before the last answer came back). False when the page is finished.
    pub async fn incust_reissue_page(&mut self, page_id: i64, next: &str) -> StoreResult<bool> {
        let changed = execute!(
            self,
            "UPDATE incust_pages SET form_token = $1 WHERE id = $2 AND finished_at IS NULL",
            next,
            page_id
        )?;
        if changed == 0 {
            return Ok(false);
        }
        self.incust_remember_token(page_id, next).await?;
        Ok(true)
    }

    /// The shop's newest transaction of `kind` (`earn`, `redeem`) for the order `comment`.
    pub async fn incust_order_transaction(
        &mut self,
        merchant_id: MerchantId,
        kind: &str,
        comment: &str,
    ) -> StoreResult<Option<IncustTransaction>> {
        Ok(fetch!(
            self,
            fetch_optional,
            IncustTransaction,
            &select::<IncustTransaction>(
                "incust_transactions WHERE merchant_id = $1 AND kind = $2 AND comment = $3 ORDER BY operation_id DESC LIMIT 1"
            ),
            merchant_id.0,
            kind,
            comment
        )?)
    }

    /// Takes the form token `used` of an unfinished page and puts `next` in its place, so the
    /// same form is accepted once. `None` when no unfinished page has that token.
    pub async fn incust_claim_page(
        &mut self,
        used: &str,
        next: &str,
    ) -> StoreResult<Option<IncustPage>> {
        let page = fetch!(
            self,
            fetch_optional,
            IncustPage,
            &format!("UPDATE incust_pages SET form_token = $1 WHERE form_token = $2 AND finished_at IS NULL RETURNING {}", IncustPage::COLUMNS),
            next,
            used
        )?;
        if let Some(page) = &page {
            self.incust_remember_token(page.id, next).await?;
        }
        Ok(page)
    }

    /// An unfinished page by its current form token, without taking it.
    pub async fn incust_page_by_token(&mut self, token: &str) -> StoreResult<Option<IncustPage>> {
        Ok(fetch!(
            self,
            fetch_optional,
            IncustPage,
            &select::<IncustPage>("incust_pages WHERE form_token = $1 AND finished_at IS NULL"),
            token
        )?)
    }

    /// Closes a page with the status it returned to the shop.
    pub async fn incust_finish_page(
        &mut self,
        id: i64,
        status: &str,
        operation_id: Option<i64>,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE incust_pages SET finished_at = $1, status = $2, operation_id = $3 WHERE id = $4",
            now,
            status,
            operation_id,
            id,
        )?;
        Ok(())
    }

    /// Closes every unfinished page that shows the code `code_digest` (its attempts are
    /// spent) with `status`.
    pub async fn incust_finish_code_pages(
        &mut self,
        merchant_id: MerchantId,
        cardphone: &str,
        code_digest: &str,
        status: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE incust_pages SET finished_at = $1, status = $2 WHERE merchant_id = $3 AND cardphone = $4 AND code_digest = $5 AND finished_at IS NULL",
            now,
            status,
            merchant_id.0,
            cardphone,
            code_digest,
        )?;
        Ok(())
    }

    /// Wrong attempts at one SMS code (`code:` and its digest, the `cardphone` column) since
    /// `since` (unix ms).
    pub async fn incust_failures(
        &mut self,
        program_id: ProgramId,
        cardphone: &str,
        since: i64,
    ) -> StoreResult<i64> {
        Ok(int!(
            self,
            "SELECT COUNT(*) FROM incust_attempts WHERE program_id = $1 AND cardphone = $2 AND at > $3",
            program_id.0,
            cardphone,
            since,
        )?)
    }

    /// Records a wrong attempt, forgetting those older than `since`.
    pub async fn incust_add_failure(
        &mut self,
        program_id: ProgramId,
        cardphone: &str,
        since: i64,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "DELETE FROM incust_attempts WHERE program_id = $1 AND cardphone = $2 AND at <= $3",
            program_id.0,
            cardphone,
            since,
        )?;
        execute!(
            self,
            "INSERT INTO incust_attempts (program_id, cardphone, at) VALUES ($1, $2, $3)",
            program_id.0,
            cardphone,
            now,
        )?;
        Ok(())
    }

    /// Forgets a card's wrong attempts (after a right one).
    pub async fn incust_clear_failures(
        &mut self,
        program_id: ProgramId,
        cardphone: &str,
    ) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM incust_attempts WHERE program_id = $1 AND cardphone = $2",
            program_id.0,
            cardphone,
        )?;
        Ok(())
    }
}
