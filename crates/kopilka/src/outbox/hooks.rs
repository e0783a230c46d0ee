//! What a protocol does when one of its messages is settled.
//!
//! **Contract.** [`on_settled`] runs inside the write job that marks a message `delivered`
//! or `dead`, so whatever a hook writes (confirming a hold when a shop answered `OK`, voiding
//! it when the notification died) commits together with the message's new state, exactly
//! once per settlement. A hook:
//! - dispatches on `message.purpose`, set by the protocol when it queued the message;
//! - does no network IO (it is inside a transaction) and may queue further messages;
//! - returns an error only when the settlement must not happen: the whole job rolls back,
//!   the attempt is recorded as failed and the message is retried (so it is sent again);
//! - must tolerate the rare second delivery of a message (at-least-once), but never sees a
//!   second settlement of one message.

use super::webhooks;
use kopilka_store::model::Message;
use kopilka_store::{StoreResult, Tx};

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The destination accepted it.
    Delivered,
    /// Its retry schedule ran out; `message.last_error` says why.
    Dead,
}

pub async fn on_settled(tx: &mut Tx, message: &Message, settled: Settlement) -> StoreResult<()> {
    match message.purpose.as_deref() {
        None | Some(webhooks::PURPOSE) => Ok(()),
        Some(crate::kupikupi::NOTIFICATION_PURPOSE) => {
            crate::kupikupi::on_notification_settled(tx, message, settled == Settlement::Delivered)
                .await
        }
        Some(other) => {
            tracing::warn!(
                message = message.id,
                purpose = other,
                ?settled,
                "no hook for this message purpose"
            );
            Ok(())
        }
    }
}
