//! A message as the admin API shows it: the outbox's row and, on a detail, its delivery
//! attempts. Shared by every surface that lists messages (`/v1/messages`, a payment's callbacks).

use kopilka_store::model::{Message, MessageAttempt};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub state: String,
    /// Delivery attempts in the current round (a re-send starts a new one).
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub operation_id: Option<i64>,
    /// What the message is for (`native.webhook`, `kupikupi.notification`); null for plain ones.
    pub purpose: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attempt_log: Option<Vec<MessageAttempt>>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            kind: m.kind.as_str().to_string(),
            recipient: m.recipient,
            subject: m.subject,
            body: m.body,
            state: m.state.as_str().to_string(),
            attempts: m.attempts,
            last_error: m.last_error,
            next_attempt_at: m.next_attempt_at,
            operation_id: m.operation_id.map(|id| id.0),
            purpose: m.purpose,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
            attempt_log: None,
        }
    }
}

impl MessageView {
    /// A message with its delivery attempts, every round's.
    pub fn with_attempts(message: Message, attempts: Vec<MessageAttempt>) -> MessageView {
        MessageView {
            attempt_log: Some(attempts),
            ..message.into()
        }
    }
}
