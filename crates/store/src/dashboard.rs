//! What the operators' dashboard reads beyond the admin API's listings (docs/dashboard.md):
//! operations filtered by the protocol that made them too, and the outbox's queues.

use crate::ledger::{self, OperationFilter};
use crate::model::Operation;
use crate::row::Row;
use crate::tx::{fetch, Tx};
use crate::StoreResult;

/// How many messages wait for one destination, or died there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxQueue {
    /// `sms`, `email` or `callback`.
    pub kind: String,
    /// What the messages are for (`native.webhook`, `kupikupi.notification`); `None`: plain.
    pub purpose: Option<String>,
    /// A callback's URL; SMS and e-mail are counted per kind, never per recipient (a phone is
    /// personal data, and each customer would be a queue of their own).
    pub url: Option<String>,
    pub pending: i64,
    pub dead: i64,
    /// The creation time of the oldest pending message.
    pub oldest_pending_at: Option<i64>,
}

/// A queue as the query reads it: kind, purpose, URL, pending, dead, oldest pending.
type QueueRow = (
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

impl Tx {
    /// Operations newest first as [`ledger::operations`] lists them, and only those `protocol`
    /// made (`native`, `incust`, `loymax`, `kupikupi`, `ecommpay`) when it is given. The filter
    /// on the protocol runs over the listing's own pages, so it reads the same index.
    pub async fn operations_of_protocol(
        &mut self,
        filter: &OperationFilter,
        protocol: Option<&str>,
    ) -> StoreResult<Vec<Operation>> {
        let Some(protocol) = protocol else {
            return ledger::operations(self, filter).await;
        };
        let conditions = [
            (filter.program_id.map(|id| id.0), "+program_id = "),
            (filter.customer_id.map(|id| id.0), "customer_id = "),
            (filter.merchant_id.map(|id| id.0), "merchant_id = "),
            (filter.before_id.map(|id| id.0), "id < "),
            (filter.created_from, "created_at >= "),
            (filter.created_before, "created_at < "),
        ];
        let mut sql = format!(
            "SELECT {} FROM operations WHERE protocol = $1 AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR status = $3)",
            Operation::COLUMNS
        );
        // Only the numbers given become conditions on their columns (the others are
        // `$n IS NULL`), so the listing reads the index its filter names.
        for (n, (value, column)) in conditions.iter().enumerate() {
            match value {
                Some(_) => sql.push_str(&format!(" AND {column}${}", n + 4)),
                None => sql.push_str(&format!(" AND ${} IS NULL", n + 4)),
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT $10");
        let values = conditions.map(|(value, _)| value);
        Ok(fetch!(
            self,
            fetch_all,
            Operation,
            &sql,
            protocol,
            filter.kind.clone(),
            filter.status.clone(),
            values[0],
            values[1],
            values[2],
            values[3],
            values[4],
            values[5],
            filter.limit,
        )?)
    }

    /// The outbox's queues with a message pending or dead: callbacks per URL, SMS and e-mail
    /// per kind, each per purpose; the deepest first, at most `limit`.
    pub async fn outbox_queues(&mut self, limit: i64) -> StoreResult<Vec<OutboxQueue>> {
        let rows: Vec<QueueRow> = fetch!(
            self,
            fetch_all,
            QueueRow,
            "SELECT kind, purpose, url, SUM(pending), SUM(dead), MIN(pending_at) FROM (\
               SELECT kind, purpose, CASE WHEN kind = 'callback' THEN recipient END AS url, \
                 CASE WHEN state = 'pending' THEN 1 ELSE 0 END AS pending, \
                 CASE WHEN state = 'dead' THEN 1 ELSE 0 END AS dead, \
                 CASE WHEN state = 'pending' THEN created_at END AS pending_at \
               FROM messages WHERE state IN ('pending', 'dead')) waiting \
             GROUP BY kind, purpose, url ORDER BY 4 DESC, 5 DESC, kind, url LIMIT $1",
            limit,
        )?;
        Ok(rows
            .into_iter()
            .map(
                |(kind, purpose, url, pending, dead, oldest_pending_at)| OutboxQueue {
                    kind,
                    purpose,
                    url,
                    pending,
                    dead,
                    oldest_pending_at,
                },
            )
            .collect())
    }
}
