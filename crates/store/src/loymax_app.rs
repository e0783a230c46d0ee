//! What the Loymax customer app (public API 1.2) keeps besides registration: the secrets of
//! physical cards and the customer's notifications with their read marks.

use crate::row::{row, select};
use crate::tx::{execute, fetch, int, Tx};
use crate::StoreResult;
use kopilka_domain::ids::CustomerId;

#[derive(Debug, Clone)]
pub struct LoymaxNotification {
    pub id: i64,
    pub customer_id: CustomerId,
    pub title: String,
    pub body: String,
    pub summary: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}
row!(
    LoymaxNotification,
    "loymax_notifications.id, loymax_notifications.customer_id, loymax_notifications.title, loymax_notifications.body, loymax_notifications.summary, loymax_notifications.created_at, loymax_notifications.read_at",
    |c| LoymaxNotification {
        id: c.next()?,
        customer_id: CustomerId(c.next()?),
        title: c.next()?,
        body: c.next()?,
        summary: c.next()?,
        created_at: c.next()?,
        read_at: c.next()?,
    }
);

/// The secrets printed on a physical card (argon2 hashes) and the wrong entries counted.
#[derive(Debug, Clone)]
pub struct CardSecrets {
    pub card_id: i64,
    pub cvc_hash: Option<String>,
    pub activation_hash: Option<String>,
    pub failures: i64,
    pub blocked_until: Option<i64>,
}
row!(
    CardSecrets,
    "loymax_card_secrets.card_id, loymax_card_secrets.cvc_hash, loymax_card_secrets.activation_hash, loymax_card_secrets.failures, loymax_card_secrets.blocked_until",
    |c| CardSecrets {
        card_id: c.next()?,
        cvc_hash: c.next()?,
        activation_hash: c.next()?,
        failures: c.next()?,
        blocked_until: c.next()?,
    }
);

impl Tx {
    /// A card's secrets, when it has any.
    pub async fn loymax_card_secrets(&mut self, card_id: i64) -> StoreResult<Option<CardSecrets>> {
        Ok(fetch!(
            self,
            fetch_optional,
            CardSecrets,
            &select::<CardSecrets>("loymax_card_secrets WHERE card_id = $1"),
            card_id
        )?)
    }

    /// Sets a card's CVC and activation password hashes; `None` keeps the one there. Setting
    /// them lifts a block.
    pub async fn loymax_set_card_secrets(
        &mut self,
        card_id: i64,
        cvc_hash: Option<&str>,
        activation_hash: Option<&str>,
    ) -> StoreResult<()> {
        execute!(
            self,
            "INSERT INTO loymax_card_secrets (card_id, cvc_hash, activation_hash) VALUES ($1, $2, $3) ON CONFLICT (card_id) DO UPDATE SET cvc_hash = COALESCE(excluded.cvc_hash, loymax_card_secrets.cvc_hash), activation_hash = COALESCE(excluded.activation_hash, loymax_card_secrets.activation_hash), failures = 0, blocked_until = NULL",
            card_id,
            cvc_hash,
            activation_hash,
        )?;
        Ok(())
    }

    /// Counts a wrong secret entered for a card; the `limit`-th in a row blocks its secrets
    /// until `blocked_until` (and starts the count again).
    pub async fn loymax_card_secret_failed(
        &mut self,
        card_id: i64,
        limit: i64,
        blocked_until: i64,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_card_secrets SET failures = CASE WHEN failures + 1 >= $1 THEN 0 ELSE failures + 1 END, blocked_until = CASE WHEN failures + 1 >= $1 THEN $2 ELSE blocked_until END WHERE card_id = $3",
            limit,
            blocked_until,
            card_id,
        )?;
        Ok(())
    }

    /// A right secret entered: the count of wrong ones starts again.
    pub async fn loymax_card_secret_passed(&mut self, card_id: i64) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE loymax_card_secrets SET failures = 0 WHERE card_id = $1",
            card_id,
        )?;
        Ok(())
    }

    pub async fn loymax_add_notification(
        &mut self,
        customer_id: CustomerId,
        title: &str,
        body: &str,
        summary: Option<&str>,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(int!(
            self,
            "INSERT INTO loymax_notifications (customer_id, title, body, summary, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            customer_id.0,
            title,
            body,
            summary,
            now,
        )?)
    }

    /// A page of a customer's notifications, newest first.
    pub async fn loymax_notifications(
        &mut self,
        customer_id: CustomerId,
        from: i64,
        count: i64,
    ) -> StoreResult<Vec<LoymaxNotification>> {
        Ok(fetch!(
            self,
            fetch_all,
            LoymaxNotification,
            &select::<LoymaxNotification>(
                "loymax_notifications WHERE customer_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
            ),
            customer_id.0,
            count,
            from
        )?)
    }

    pub async fn loymax_unread_notifications(
        &mut self,
        customer_id: CustomerId,
    ) -> StoreResult<i64> {
        Ok(int!(
            self,
            "SELECT COUNT(*) FROM loymax_notifications WHERE customer_id = $1 AND read_at IS NULL",
            customer_id.0
        )?)
    }

    /// Marks one of the customer's notifications read; `None` when the customer has no such
    /// notification.
    pub async fn loymax_read_notification(
        &mut self,
        customer_id: CustomerId,
        id: i64,
    ) -> StoreResult<Option<LoymaxNotification>> {
        let now = self.now();
        execute!(
            self,
            "UPDATE loymax_notifications SET read_at = $1 WHERE id = $2 AND customer_id = $3 AND read_at IS NULL",
            now,
            id,
            customer_id.0,
        )?;
        Ok(fetch!(
            self,
            fetch_optional,
            LoymaxNotification,
            &select::<LoymaxNotification>(
                "loymax_notifications WHERE id = $1 AND customer_id = $2"
            ),
            id,
            customer_id.0
        )?)
    }

    /// Marks every unread notification of the customer read: how many were.
    pub async fn loymax_read_all_notifications(
        &mut self,
        customer_id: CustomerId,
    ) -> StoreResult<u64> {
        let now = self.now();
        Ok(execute!(
            self,
            "UPDATE loymax_notifications SET read_at = $1 WHERE customer_id = $2 AND read_at IS NULL",
            now,
            customer_id.0,
        )?)
    }
}

impl Tx {
    /// What an account has received and what it has given, in all (1.2's `accumulated` and
    /// `paid`).
    pub async fn loymax_account_turnover(&mut self, account_id: i64) -> StoreResult<(i64, i64)> {
        Ok(fetch!(
            self,
            fetch_one,
            (i64, i64),
            "SELECT CAST(COALESCE(SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END), 0) AS BIGINT) FROM postings WHERE account_id = $1",
            account_id
        )?)
    }

    /// An account's lots: (amount, remaining, created, expires), oldest first.
    pub async fn loymax_lots(
        &mut self,
        account_id: i64,
    ) -> StoreResult<Vec<(i64, i64, i64, Option<i64>)>> {
        Ok(fetch!(
            self,
            fetch_all,
            (i64, i64, i64, Option<i64>),
            "SELECT amount, remaining, created_at, expires_at FROM lots WHERE account_id = $1 ORDER BY id",
            account_id
        )?)
    }
}
