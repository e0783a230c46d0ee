//! The outbox: messages written in the same transaction as what caused them, delivered later.

use crate::model::{stored_names, Message, MessageAttempt, MessageState};
use crate::row::Row;
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::{StoreKind, StoreResult};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId};

stored_names!(
    MessageKind {
        Sms = "sms",
        Email = "email",
        Callback = "callback",
        // Offers' messages (docs/offers.md): to a push token or a Viber phone, through their
        // HTTP gateways.
        Push = "push",
        Viber = "viber",
    }
);

/// A message to send once the transaction that writes it commits.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: MessageKind,
    /// A phone (E.164 digits), an e-mail address or a URL.
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    /// Extra HTTP headers of a callback.
    pub headers: Vec<(String, String)>,
    /// What counts as delivered: `2xx` (default), `200` (that status only) or `ok` (a 2xx and
    /// a body of exactly `OK`).
    pub accept: String,
    /// The retry schedule's name (`default`, `ecommpay`).
    pub schedule: String,
    /// Names the hook the outbox worker runs when the message is delivered or dies
    /// (`kupikupi.notification`); `None` for plain messages.
    pub purpose: Option<String>,
    /// The subject whose messages to this destination go out in order (`ecommpay.payment:7`,
    /// `kupikupi.transfer:12`, `operation:42`); messages about other subjects pass them by.
    /// `None` orders the message with every other message to its destination that names none.
    pub ordered_by: Option<String>,
    pub operation_id: Option<OperationId>,
    pub merchant_id: Option<MerchantId>,
    pub customer_id: Option<CustomerId>,
}

impl NewMessage {
    pub fn sms(phone: &str, body: String) -> NewMessage {
        NewMessage {
            kind: MessageKind::Sms,
            recipient: phone.to_string(),
            subject: None,
            body,
            headers: Vec::new(),
            accept: "2xx".into(),
            schedule: "default".into(),
            purpose: None,
            ordered_by: None,
            operation_id: None,
            merchant_id: None,
            customer_id: None,
        }
    }

    pub fn email(address: &str, subject: String, body: String) -> NewMessage {
        NewMessage {
            kind: MessageKind::Email,
            subject: Some(subject),
            ..NewMessage::sms(address, body)
        }
    }

    /// A push notification to one device's token.
    pub fn push(token: &str, body: String) -> NewMessage {
        NewMessage {
            kind: MessageKind::Push,
            ..NewMessage::sms(token, body)
        }
    }

    pub fn viber(phone: &str, body: String) -> NewMessage {
        NewMessage {
            kind: MessageKind::Viber,
            ..NewMessage::sms(phone, body)
        }
    }

    pub fn callback(url: &str, body: String, headers: Vec<(String, String)>) -> NewMessage {
        NewMessage {
            kind: MessageKind::Callback,
            headers,
            ..NewMessage::sms(url, body)
        }
    }
}

/// Filters for listing messages, newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub recipient: Option<String>,
    pub state: Option<String>,
    pub kind: Option<String>,
    pub operation_id: Option<OperationId>,
    pub customer_id: Option<CustomerId>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Tx {
    /// Queues a message in this transaction. Messages of one sequence — one destination, and
    /// one subject there when the message names one (`ordered_by`) — go out in order.
    pub async fn enqueue(&mut self, message: &NewMessage) -> StoreResult<i64> {
        let now = self.now();
        let destination = format!("{}:{}", message.kind.as_str(), message.recipient);
        // The subject (ours, without spaces) comes first: a recipient may hold any character.
        let sequence = match &message.ordered_by {
            Some(subject) => format!("{subject} {destination}"),
            None => destination.clone(),
        };
        Ok(int!(
            self,
            "INSERT INTO messages (kind, recipient, destination, sequence, subject, body, headers, accept, schedule, purpose, state, attempts, next_attempt_at, operation_id, merchant_id, customer_id, created_at) VALUES ($1, $2, $3, $14, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $12, $13, $10) RETURNING id",
            message.kind.as_str(),
            &message.recipient,
            destination,
            &message.subject,
            &message.body,
            serde_json::to_string(&message.headers).expect("headers serialize"),
            &message.accept,
            &message.schedule,
            &message.purpose,
            now,
            message.operation_id.map(|id| id.0),
            message.merchant_id.map(|id| id.0),
            message.customer_id.map(|id| id.0),
            sequence,
        )?)
    }

    pub async fn message(&mut self, id: i64) -> StoreResult<Option<Message>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Message,
            &format!("SELECT {} FROM messages WHERE id = $1", Message::COLUMNS),
            id
        )?)
    }

    pub async fn messages(&mut self, filter: &MessageFilter) -> StoreResult<Vec<Message>> {
        Ok(fetch!(
            self,
            fetch_all,
            Message,
            &format!("SELECT {} FROM messages WHERE ($1 IS NULL OR recipient = $1) AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR operation_id = $4) AND ($5 IS NULL OR customer_id = $5) AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7", Message::COLUMNS),
            filter.recipient.clone(),
            filter.state.clone(),
            filter.kind.clone(),
            filter.operation_id.map(|id| id.0),
            filter.customer_id.map(|id| id.0),
            filter.before_id,
            filter.limit,
        )?)
    }

    /// The messages queued about one subject (`ordered_by`: an ECommPay payment…) to any
    /// destination, oldest first, at most `limit`. Their sequences begin with the subject and
    /// a space (`enqueue`); the range reads migration 0034's index, compared byte by byte.
    pub async fn messages_of_subject(
        &mut self,
        subject: &str,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let sequence = match self.kind() {
            StoreKind::Sqlite => "sequence",
            StoreKind::Postgres => "(sequence COLLATE \"C\")",
        };
        Ok(fetch!(
            self,
            fetch_all,
            Message,
            &format!(
                "SELECT {} FROM messages WHERE {sequence} >= $1 AND {sequence} < $2 ORDER BY id LIMIT $3",
                Message::COLUMNS
            ),
            format!("{subject} "),
            // The byte after the space: every sequence beginning "subject " sorts below it.
            format!("{subject}!"),
            limit,
        )?)
    }

    pub async fn message_attempts(&mut self, message_id: i64) -> StoreResult<Vec<MessageAttempt>> {
        Ok(fetch!(
            self,
            fetch_all,
            MessageAttempt,
            &format!(
                "SELECT {} FROM message_attempts WHERE message_id = $1 ORDER BY id",
                MessageAttempt::COLUMNS
            ),
            message_id,
        )?)
    }

    /// Puts a dead message back in the queue for a new round of its schedule: `attempts`
    /// counts the round, the attempt log keeps every attempt.
    pub async fn resend_message(&mut self, id: i64) -> StoreResult<bool> {
        let now = self.now();
        let changed = execute!(
            self,
            "UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL WHERE id = $2 AND state = 'dead'",
            now,
            id,
        )?;
        Ok(changed == 1)
    }

    /// Leases up to `limit` due messages until `lease_until`. Only the oldest pending message
    /// of a sequence is eligible, so each destination receives the messages of one subject in
    /// order, and a subject waiting for a retry holds back no other subject. On
    /// PostgreSQL, rows another process is claiming are skipped (`FOR UPDATE SKIP LOCKED`);
    /// SQLite's single writer runs one claim at a time. The lease is the claim's token: a
    /// worker settles a message only while `lease_until` is still the value it set.
    pub async fn claim_due(&mut self, limit: i64, lease_until: i64) -> StoreResult<Vec<Message>> {
        let now = self.now();
        let lock = match self.kind() {
            crate::StoreKind::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::StoreKind::Sqlite => "",
        };
        Ok(fetch!(
            self,
            fetch_all,
            Message,
            &format!(
                "UPDATE messages SET lease_until = $1 WHERE id IN (\
                 SELECT m.id FROM messages m WHERE m.state = 'pending' AND m.next_attempt_at <= $2 \
                 AND (m.lease_until IS NULL OR m.lease_until <= $2) \
                 AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.sequence = m.sequence AND o.state = 'pending' AND o.id < m.id) \
                 ORDER BY m.next_attempt_at, m.id LIMIT $3{lock}) RETURNING {}",
                Message::COLUMNS
            ),
            lease_until,
            now,
            limit,
        )?)
    }

    /// Whether any message is due: a read the worker makes before claiming, so an idle queue
    /// costs no write transactions.
    pub async fn has_due(&mut self) -> StoreResult<bool> {
        let now = self.now();
        Ok(scalar!(
            self,
            fetch_optional,
            i64,
            "SELECT id FROM messages WHERE state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) LIMIT 1",
            now,
        )?
        .is_some())
    }

    /// Records one delivery attempt of a message this worker leased and moves the message on.
    /// Returns the updated message, or `None` when the lease was lost (it expired and another
    /// worker claimed the message): then nothing is written.
    pub async fn finish_attempt(
        &mut self,
        id: i64,
        lease_until: i64,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<Option<Message>> {
        let now = self.now();
        let (state, next_attempt_at, delivered_at, error) = match next {
            NextStep::Delivered => (MessageState::Delivered, now, Some(now), None),
            NextStep::Retry { at } => (MessageState::Pending, at, None, attempt.error.clone()),
            NextStep::Dead => (MessageState::Dead, now, None, attempt.error.clone()),
        };
        let changed = execute!(
            self,
            "UPDATE messages SET state = $1, attempts = attempts + 1, next_attempt_at = $2, delivered_at = $3, \
             last_error = COALESCE($4, last_error), lease_until = NULL \
             WHERE id = $5 AND state = 'pending' AND lease_until = $6",
            state.as_str(),
            next_attempt_at,
            delivered_at,
            error,
            id,
            lease_until,
        )?;
        if changed == 0 {
            return Ok(None);
        }
        execute!(
            self,
            "INSERT INTO message_attempts (message_id, at, outcome, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            attempt.at,
            attempt.outcome.as_str(),
            attempt.status_code,
            &attempt.error,
            attempt.duration_ms,
        )?;
        self.message(id).await
    }

    /// Gives a leased message back unsent (the worker is stopping).
    pub async fn release_lease(&mut self, id: i64, lease_until: i64) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE messages SET lease_until = NULL WHERE id = $1 AND state = 'pending' AND lease_until = $2",
            id,
            lease_until,
        )?;
        Ok(())
    }

    /// The queue's depth and the creation time of its oldest pending message.
    pub async fn outbox_stats(&mut self) -> StoreResult<QueueStats> {
        let (depth, oldest_created_at) = fetch!(
            self,
            fetch_one,
            (i64, Option<i64>),
            "SELECT COUNT(*), MIN(created_at) FROM messages WHERE state = 'pending'"
        )?;
        Ok(QueueStats {
            depth,
            oldest_created_at,
        })
    }
}

stored_names!(
    /// How one delivery attempt ended.
    AttemptOutcome {
        /// The destination accepted the message.
        Accepted = "accepted",
        /// The destination answered, but not with what counts as delivered.
        Rejected = "rejected",
        /// No answer: connection refused, timeout, TLS or protocol error.
        Failed = "failed",
    }
);

/// One delivery attempt, as recorded in `message_attempts`.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What happens to a message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    Retry { at: i64 },
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Pending messages.
    pub depth: i64,
    pub oldest_created_at: Option<i64>,
}
