//! What a protocol does when one of its messages is settled.
//!
//! **Contract.** [`on_settled`] runs inside the write job that marks a message `delivered`
//! or `dead`, so whatever a hook writes (confirming a hold when a shop answered `OK`, voiding
//! it when the notification died) commits together with the message's new state, exactly
//! once per settlement. A hook:
//! - is registered for one `message.purpose` (the protocol sets it when it queues the message)
//!   by the server, which knows every protocol (the outbox knows none);
//! - does no network IO (it is inside a transaction) and may queue further messages;
//! - returns an error only when the settlement must not happen: the whole job rolls back,
//!   the attempt is recorded as failed and the message is retried (so it is sent again);
//! - must tolerate the rare second delivery of a message (at-least-once), but never sees a
//!   second settlement of one message.

use super::webhooks;
use futures::future::BoxFuture;
use kopilka_store::model::Message;
use kopilka_store::{StoreResult, Tx};
use std::collections::HashMap;
use std::sync::Arc;

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The destination accepted it.
    Delivered,
    /// Its retry schedule ran out; `message.last_error` says why.
    Dead,
}

/// A protocol's hook for the messages of one purpose.
pub type Hook = for<'t> fn(&'t mut Tx, &'t Message, Settlement) -> BoxFuture<'t, StoreResult<()>>;

/// The hooks by purpose.
#[derive(Clone, Default)]
pub struct Hooks(Arc<HashMap<&'static str, Hook>>);

impl Hooks {
    pub fn new(hooks: impl IntoIterator<Item = (&'static str, Hook)>) -> Hooks {
        Hooks(Arc::new(hooks.into_iter().collect()))
    }

    pub async fn on_settled(
        &self,
        tx: &mut Tx,
        message: &Message,
        settled: Settlement,
    ) -> StoreResult<()> {
        let Some(purpose) = message.purpose.as_deref() else {
            return Ok(());
        };
        match self.0.get(purpose) {
            Some(hook) => hook(tx, message, settled).await,
            None if purpose == webhooks::PURPOSE => Ok(()),
            None => {
                tracing::warn!(
                    message_id = message.id,
                    purpose,
                    ?settled,
                    "no hook for this message purpose"
                );
                Ok(())
            }
        }
    }
}
