//! Native webhooks: an event per native-API operation for merchants with a `webhook_url`,
//! queued in the operation's own transaction and signed when sent:
//!
//! `Kopilka-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`

use hmac::{Hmac, Mac};
use kopilka_domain::money::format_decimal;
use kopilka_domain::Amount;
use kopilka_store::model::Operation;
use kopilka_store::outbox::NewMessage;
use kopilka_store::{StoreResult, Tx};
use serde_json::json;

/// The purpose of native webhook messages: the worker signs them with the merchant's secret.
pub const PURPOSE: &str = "native.webhook";
pub const SIGNATURE_HEADER: &str = "Kopilka-Signature";

/// Queues `event` ("operation.created", "operation.confirmed", …) about `operation` for its
/// merchant, if the merchant has a webhook URL. Call it in the operation's write job.
pub async fn operation_event(
    tx: &mut Tx,
    event: &str,
    operation: &Operation,
    decimals: u8,
) -> StoreResult<()> {
    let Some(merchant_id) = operation.merchant_id else {
        return Ok(());
    };
    let url = tx.merchant(merchant_id).await?.and_then(|m| m.webhook_url);
    operation_event_to(tx, url.as_deref(), event, operation, decimals).await
}

/// [`operation_event`] for a caller that read the merchant's webhook URL (`None`: it has
/// none) before the job, sparing the job a statement.
pub async fn operation_event_to(
    tx: &mut Tx,
    url: Option<&str>,
    event: &str,
    operation: &Operation,
    decimals: u8,
) -> StoreResult<()> {
    let (Some(merchant_id), Some(url)) = (operation.merchant_id, url) else {
        return Ok(());
    };
    let body = json!({
        "id": format!("evt_{}", uuid::Uuid::now_v7().simple()),
        "type": event,
        "created_at": tx.now(),
        "merchant_id": merchant_id,
        "data": {
            "operation": {
                "id": operation.id,
                "uuid": operation.uuid,
                "kind": operation.kind,
                "status": operation.status,
                "currency": operation.currency,
                "amount": format_decimal(Amount(operation.amount), decimals),
                "amount_minor": operation.amount,
                "reversed_minor": operation.reversed,
                "customer_id": operation.customer_id,
                "reverses": operation.reverses,
                "idempotency_key": operation.idem_key,
                "description": operation.description,
                "created_at": operation.created_at,
                "resolved_at": operation.resolved_at,
            }
        }
    });
    let mut message = NewMessage::callback(url, body.to_string(), Vec::new());
    message.purpose = Some(PURPOSE.into());
    // A reversal's event follows the events of the operation it reverses.
    message.ordered_by = Some(format!(
        "operation:{}",
        operation.reverses.unwrap_or(operation.id).0
    ));
    message.operation_id = Some(operation.id);
    message.merchant_id = Some(merchant_id);
    message.customer_id = operation.customer_id;
    tx.enqueue(&message).await?;
    Ok(())
}

/// The `Kopilka-Signature` value of `body` sent at `unix` seconds.
pub fn signature(secret: &str, unix: i64, body: &str) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_timestamp_dot_body() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            super::signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
