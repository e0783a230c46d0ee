//! Kupi-Kupi (seed 002): shops ask kopilka to transfer a customer's points to them; the
//! customer confirms with a code on a hosted form (or the shop's `confirmation`); kopilka tells
//! the shop how the transfer ended, and the shop's `OK` (or a signed answer saying CONFIRMED)
//! confirms the hold. This module translates the wire format; the rules are in
//! `kopilka_domain::kupikupi`, the SQL in `kopilka_store::kupikupi`.

mod admin;
pub mod demo;
mod form;
mod methods;
mod wire;

use crate::http::edge::{self, Refused};
use crate::http::i18n;
use crate::secrets::{self, Sealer};
use crate::state::AppState;
use axum::routing::{any, get};
use axum::Router;
use fluent_bundle::FluentValue;
use kopilka_domain::code_quota::{Exceeded, Surface};
use kopilka_domain::ids::CustomerId;
use kopilka_domain::kupikupi::{SandboxPhone, Step, Transfer as Rules, TransferStatus};
use kopilka_domain::ledger::{fingerprint, OperationKind, Owner};
use kopilka_domain::Amount;
use kopilka_store::code_quota::CodeSending;
use kopilka_store::kupikupi::{Platform, Transfer};
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest};
use kopilka_store::model::Message;
use kopilka_store::outbox::NewMessage;
use kopilka_store::{SharedStore, StoreError, StoreResult, Tx};
use std::sync::Arc;
use wire::ErrorCode;

pub use admin::routes as admin_routes;

/// The outbox purpose of notifications whose fate confirms or voids a hold.
pub const NOTIFICATION_PURPOSE: &str = "kupikupi.notification";

/// The protocol's paths: `/api/v1/transfer/{method}` and the `/api/v1/curl/{method}` alias,
/// method names case-insensitive, trailing slash optional (any HTTP method, so a GET is
/// answered in the protocol's JSON); the hosted form.
pub fn router() -> Router<AppState> {
    let form = Router::new().route(
        "/kupikupi/transfer/{key}",
        get(form::show).post(form::submit),
    );
    crate::http::html::customer_pages(form)
        .route("/api/v1/transfer/{method}", any(methods::dispatch))
        .route("/api/v1/transfer/{method}/", any(methods::dispatch))
        .route("/api/v1/curl/{method}", any(methods::dispatch))
        .route("/api/v1/curl/{method}/", any(methods::dispatch))
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::JSON_BODY_LIMIT),
            edge::guard,
        ))
}

/// The edge's refusals (`crate::http::edge`): on the customer's form a page, elsewhere the
/// protocol's field error.
fn edge_refusal(refused: &Refused) -> axum::response::Response {
    use axum::response::IntoResponse;
    if refused.path.starts_with("/kupikupi/") {
        return crate::http::html::refused_page(crate::http::i18n::CUSTOMER[0], refused);
    }
    wire::KkError::field(refused.place, refused.message).into_response()
}

/// The transfer's status in the rules' terms.
fn rules_of(transfer: &Transfer) -> StoreResult<Rules> {
    Ok(Rules {
        status: transfer.status,
        attempts: transfer.attempts,
        expires_at: transfer.expires_at,
    })
}

/// Cancels the transfer if its form has outlived `tx.now()` and tells the shop: its status
/// after, and whether this call canceled it.
async fn expire(
    tx: &mut Tx,
    signer: &Signer,
    transfer: &Transfer,
) -> StoreResult<(TransferStatus, bool)> {
    let mut rules = rules_of(transfer)?;
    if rules.expire(tx.now()) != Step::Expired {
        return Ok((rules.status, false));
    }
    tx.update_kupikupi_transfer(
        transfer.id,
        rules.status,
        rules.attempts,
        transfer.operation_id,
    )
    .await?;
    notify(tx, signer, transfer, Ending::Expired).await?;
    Ok((rules.status, true))
}

async fn program_of(
    tx: &mut Tx,
    platform: &Platform,
) -> StoreResult<kopilka_store::model::Program> {
    let merchant = tx
        .merchant(platform.merchant_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("platform {} merchant", platform.uid)))?;
    tx.program(merchant.program_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("merchant {} program", merchant.id)))
}

/// A platform URL; the demo's relative paths resolve against kopilka's own address.
pub fn absolute(url: &str, public_url: &str) -> String {
    if url.starts_with('/') {
        format!("{public_url}{url}")
    } else {
        url.to_string()
    }
}

/// What kopilka needs to tell a shop about its transfers: the key that signs the notification
/// and the address the demo's relative URLs resolve against.
#[derive(Clone)]
pub(crate) struct Signer {
    pub sealer: Arc<Sealer>,
    pub public_url: Arc<String>,
}

impl Signer {
    pub fn of(state: &AppState) -> Signer {
        Signer {
            sealer: state.sealer.clone(),
            public_url: state.public_url.clone(),
        }
    }

    /// The key a transfer is signed with: SecretKey in production, DevSecretKey in sandbox.
    fn key(&self, platform: &Platform, sandbox: bool) -> StoreResult<String> {
        let sealed = if sandbox {
            &platform.sealed_dev_secret
        } else {
            &platform.sealed_secret
        };
        self.sealer
            .unseal(sealed)
            .map_err(|e| StoreError::Corrupt(format!("platform {} key: {e}", platform.uid)))
    }
}

/// How a transfer ended, as its notification tells the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The code was right and the points are held for the shop.
    Confirmed,
    /// Five wrong codes.
    TooManyCodes,
    /// The points were spent elsewhere before the code came.
    NotEnoughPoints,
    /// The form outlived its lifetime.
    Expired,
    /// A sandbox transfer, decided by its test phone.
    Sandbox(SandboxPhone),
}

impl Ending {
    fn status(self) -> TransferStatus {
        match self {
            Ending::Confirmed => TransferStatus::Confirmed,
            Ending::TooManyCodes | Ending::NotEnoughPoints => TransferStatus::Rejected,
            Ending::Expired => TransferStatus::Canceled,
            Ending::Sandbox(test) => test.outcome,
        }
    }

    fn error(self) -> (ErrorCode, &'static str) {
        match self {
            Ending::Confirmed => (ErrorCode::Ok, ""),
            Ending::TooManyCodes => (ErrorCode::TooManyAttempts, wire::TOO_MANY_CODES),
            Ending::NotEnoughPoints => (ErrorCode::NotEnoughPoints, wire::NOT_ENOUGH_POINTS),
            Ending::Expired => (ErrorCode::Expired, wire::FORM_EXPIRED),
            Ending::Sandbox(test) => match test.outcome {
                TransferStatus::Confirmed => (ErrorCode::Ok, ""),
                TransferStatus::Rejected => (ErrorCode::NotEnoughPoints, test.message),
                _ => (ErrorCode::Expired, test.message),
            },
        }
    }
}

/// The notification the shop gets at NotificationURL: the seed's fields, `paymentId` and
/// `amount` so a shop can match it without a checkout, and `token`, signed as the shop signs
/// its requests (with the key of the transfer's mode).
fn notification(
    signer: &Signer,
    platform: &Platform,
    transfer: &Transfer,
    ending: Ending,
) -> StoreResult<NewMessage> {
    let status = ending.status();
    let (code, text) = ending.error();
    let mut body = serde_json::json!({
        "status": status == TransferStatus::Confirmed,
        "transferStatus": status.wire(),
        "errorCode": code.as_str(),
        "message": text,
        "uidPlatform": platform.uid,
        "orderId": transfer.order_id,
        "paymentId": transfer.id,
        "amount": transfer.amount,
    });
    let key = signer.key(platform, transfer.is_sandbox())?;
    body["token"] = wire::sign(&body, &key).into();
    let mut message = NewMessage::callback(
        &absolute(&platform.notification_url, &signer.public_url),
        body.to_string(),
        vec![("Content-Type".into(), "application/json".into())],
    );
    message.accept = "ok".into();
    message.ordered_by = Some(format!("kupikupi.transfer:{}", transfer.id));
    message.merchant_id = Some(platform.merchant_id);
    message.customer_id = transfer.customer_id;
    Ok(message)
}

/// Queues the shop's notification of how `transfer` ended. A confirmation carries the
/// settlement hook's purpose and the hold: its fate confirms or voids the hold.
pub(crate) async fn notify(
    tx: &mut Tx,
    signer: &Signer,
    transfer: &Transfer,
    ending: Ending,
) -> StoreResult<()> {
    let platform = platform_of(tx, transfer).await?;
    let mut message = notification(signer, &platform, transfer, ending)?;
    if ending == Ending::Confirmed {
        message.purpose = Some(NOTIFICATION_PURPOSE.into());
        message.operation_id = transfer.operation_id;
    }
    tx.enqueue(&message).await?;
    Ok(())
}

async fn platform_of(tx: &mut Tx, transfer: &Transfer) -> StoreResult<Platform> {
    tx.kupikupi_platform_by_id(transfer.platform_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("transfer {} platform", transfer.id)))
}

/// Texts the transfer's code to the customer, within the quotas per phone, per the caller's
/// `address` and per platform (`Err` when one is spent: nothing is sent). Sandbox transfers
/// have no code to send.
pub(crate) async fn send_code(
    tx: &mut Tx,
    sealer: &Sealer,
    transfer: &Transfer,
    address: &str,
) -> StoreResult<Result<(), Exceeded>> {
    if transfer.is_sandbox() || transfer.code_sent_at.is_some() || !transfer.status.awaits_code() {
        return Ok(Ok(()));
    }
    let sending = CodeSending {
        surface: Surface::KupiKupi,
        phone: &transfer.phone,
        address,
        sender: &format!("platform:{}", transfer.platform_id),
    };
    if let Err(exceeded) = tx.spend_code_quota(sending).await? {
        return Ok(Err(exceeded));
    }
    let platform = platform_of(tx, transfer).await?;
    let code = sealer
        .unseal(&transfer.sealed_code)
        .map_err(|e| StoreError::Corrupt(format!("transfer {} code: {e}", transfer.id)))?;
    let merchant = tx.merchant(platform.merchant_id).await?;
    let language = match &merchant {
        Some(m) => tx.program(m.program_id).await?.map(|p| p.rules.language),
        None => None,
    };
    let shop = merchant.map(|m| m.sms_name).unwrap_or_default();
    // In the program's language; the amount is roubles with two places, as the form shows it.
    let lang = i18n::of_program(language.as_deref().unwrap_or_default());
    let values = [
        ("code", FluentValue::from(code)),
        (
            "points",
            FluentValue::from(i18n::points(transfer.amount, 2, lang)),
        ),
        ("shop", FluentValue::from(shop)),
    ];
    let text = i18n::text(lang, "sms-kupikupi-code", Some(&i18n::args(&values)));
    let mut sms = NewMessage::sms(&transfer.phone, text);
    sms.customer_id = transfer.customer_id;
    sms.merchant_id = Some(platform.merchant_id);
    tx.enqueue(&sms).await?;
    tx.kupikupi_mark_code_sent(transfer.id).await?;
    Ok(Ok(()))
}

/// What entering a code did.
pub(crate) struct CodeOutcome {
    pub step: Step,
    pub transfer: Transfer,
}

/// Checks a code against a transfer (locked) and applies what the rules decide: a correct
/// code holds the points and queues the shop's notification in the same transaction; a
/// transfer that ends here (too many codes, points gone, form expired) is notified too.
pub(crate) async fn enter_code(
    tx: &mut Tx,
    signer: &Signer,
    transfer_id: i64,
    code: &str,
) -> StoreResult<Option<CodeOutcome>> {
    let Some(transfer) = tx.kupikupi_transfer(transfer_id).await? else {
        return Ok(None);
    };
    let expected = signer
        .sealer
        .unseal(&transfer.sealed_code)
        .map_err(|e| StoreError::Corrupt(format!("transfer {} code: {e}", transfer.id)))?;
    let correct = secrets::constant_time_eq(&expected, code);
    let mut rules = rules_of(&transfer)?;
    let now = tx.now();
    let mut step = rules.enter_code(correct, now);
    let mut operation_id = transfer.operation_id;
    let mut ending = match step {
        Step::WrongCode { left: 0 } => Some(Ending::TooManyCodes),
        Step::Expired => Some(Ending::Expired),
        _ => None,
    };
    if step == Step::Hold {
        let platform = platform_of(tx, &transfer).await?;
        let program = program_of(tx, &platform).await?;
        let currency = program.rules.currency.clone();
        let customer_id = transfer
            .customer_id
            .ok_or_else(|| StoreError::Corrupt(format!("transfer {} customer", transfer.id)))?;
        let account =
            ledger::lock_account(tx, program.id, &currency, Owner::Customer(customer_id)).await?;
        if account.spendable() < transfer.points {
            rules.hold_failed();
            step = Step::Moved(TransferStatus::Rejected);
            ending = Some(Ending::NotEnoughPoints);
        } else {
            let outcome = ledger::execute(
                tx,
                LedgerRequest {
                    program_id: program.id,
                    currency,
                    merchant_id: Some(platform.merchant_id),
                    protocol: "kupikupi".into(),
                    idempotency: Some(Idempotency {
                        scope: format!("kupikupi:{}", platform.uid),
                        key: format!("transfer:{}", transfer.id),
                        fingerprint: fingerprint(&[&transfer.order_id, &transfer.points.to_string()]),
                    }),
                    description: Some(format!("Kupi-Kupi order {}", transfer.order_id)),
                    details: serde_json::json!({"orderId": transfer.order_id, "paymentId": transfer.id, "amount": transfer.amount}),
                    action: Action::Debit {
                        kind: OperationKind::Redeem,
                        customer_id,
                        amount: Amount(transfer.points),
                        hold: true,
                    },
                },
            )
            .await?;
            operation_id = Some(outcome.operation.id);
            ending = Some(Ending::Confirmed);
        }
    }
    if rules.status != transfer.status
        || rules.attempts != transfer.attempts
        || operation_id != transfer.operation_id
    {
        tx.update_kupikupi_transfer(transfer.id, rules.status, rules.attempts, operation_id)
            .await?;
    }
    let transfer = tx
        .kupikupi_transfer(transfer.id)
        .await?
        .expect("locked above");
    if let Some(ending) = ending {
        notify(tx, signer, &transfer, ending).await?;
    }
    Ok(Some(CodeOutcome { step, transfer }))
}

/// A signed answer is about to tell the shop its held transfer is CONFIRMED: that counts as
/// the shop's acknowledgement, as an `OK` to the notification does, so the hold is confirmed
/// now and the status never goes back. The transfer as it is after.
pub(crate) async fn acknowledge(tx: &mut Tx, transfer: Transfer) -> StoreResult<Transfer> {
    if transfer.status != TransferStatus::Held {
        return Ok(transfer);
    }
    settle_hold(tx, &transfer, true).await?;
    Ok(tx
        .kupikupi_transfer(transfer.id)
        .await?
        .expect("locked by the caller"))
}

/// The outbox's hook for [`NOTIFICATION_PURPOSE`], as the server registers it.
pub fn notification_hook<'t>(
    tx: &'t mut Tx,
    message: &'t Message,
    settled: crate::outbox::hooks::Settlement,
) -> futures::future::BoxFuture<'t, StoreResult<()>> {
    let delivered = settled == crate::outbox::hooks::Settlement::Delivered;
    Box::pin(on_notification_settled(tx, message, delivered))
}

/// What the shop's answer to a notification does: the shop answered `OK` (`delivered`) and the
/// hold is confirmed — the points move to the shop — or the notification died and the hold
/// is voided. Runs in the transaction that marks the message delivered or dead.
pub async fn on_notification_settled(
    tx: &mut Tx,
    message: &Message,
    delivered: bool,
) -> StoreResult<()> {
    let Some(operation_id) = message.operation_id else {
        return Ok(());
    };
    let Some(transfer) = tx.kupikupi_transfer_by_operation(operation_id).await? else {
        return Ok(());
    };
    settle_hold(tx, &transfer, delivered).await
}

/// Confirms (`delivered`) or voids a held transfer's hold; a transfer no longer held is left
/// as it is.
async fn settle_hold(tx: &mut Tx, transfer: &Transfer, delivered: bool) -> StoreResult<()> {
    let mut rules = rules_of(transfer)?;
    if rules.settle(delivered) == Step::Unchanged {
        return Ok(());
    }
    let Some(operation_id) = transfer.operation_id else {
        return Err(StoreError::Corrupt(format!(
            "held transfer {} has no operation",
            transfer.id
        )));
    };
    let platform = platform_of(tx, transfer).await?;
    let program = program_of(tx, &platform).await?;
    let action = if delivered {
        Action::Confirm { operation_id }
    } else {
        Action::Void { operation_id }
    };
    ledger::execute(
        tx,
        LedgerRequest {
            program_id: program.id,
            currency: program.rules.currency.clone(),
            merchant_id: Some(platform.merchant_id),
            protocol: "kupikupi".into(),
            idempotency: None,
            description: Some(format!("Kupi-Kupi order {}", transfer.order_id)),
            details: serde_json::json!({"orderId": transfer.order_id, "paymentId": transfer.id}),
            action,
        },
    )
    .await?;
    tx.update_kupikupi_transfer(
        transfer.id,
        rules.status,
        transfer.attempts,
        transfer.operation_id,
    )
    .await
}

/// Cancels every transfer whose form lived past its lifetime at `now` and tells its shop. Such
/// transfers hold nothing yet (the hold comes with the correct code), so canceling releases
/// their claim.
pub async fn expire_forms(
    store: &SharedStore,
    sealer: &Sealer,
    public_url: &str,
    now: i64,
) -> StoreResult<usize> {
    let signer = Signer {
        sealer: Arc::new(sealer.clone()),
        public_url: Arc::new(public_url.to_string()),
    };
    let mut total = 0;
    loop {
        let signer = signer.clone();
        let done = store
            .write(move |tx| {
                Box::pin(async move {
                    tx.set_now(now);
                    let ids = tx.kupikupi_expired_transfers(now, 100).await?;
                    let mut done = 0;
                    for id in &ids {
                        let Some(transfer) = tx.kupikupi_transfer(*id).await? else {
                            continue;
                        };
                        if expire(tx, &signer, &transfer).await?.1 {
                            done += 1;
                        }
                    }
                    Ok((done, ids.len()))
                })
            })
            .await?;
        total += done.0;
        if done.1 < 100 {
            return Ok(total);
        }
    }
}

/// A random 6-digit code.
fn new_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// A transfer waiting for its code, as the customer cabinet shows it.
pub struct PendingCode {
    pub shop: String,
    /// Kopecks.
    pub amount: i64,
    pub code: String,
    pub url: String,
    /// Unix ms.
    pub expires_at: i64,
}

/// The codes of a customer's transfers that still wait for one.
pub async fn pending_codes(
    tx: &mut Tx,
    sealer: &Sealer,
    public_url: &str,
    customer_id: i64,
) -> StoreResult<Vec<PendingCode>> {
    let now = tx.now();
    let mut pending = Vec::new();
    for transfer in tx
        .kupikupi_transfers_of_customer(CustomerId(customer_id), 20)
        .await?
    {
        if !transfer.status.awaits_code() || transfer.expires_at <= now {
            continue;
        }
        let Some(platform) = tx.kupikupi_platform_by_id(transfer.platform_id).await? else {
            continue;
        };
        let shop = tx
            .merchant(platform.merchant_id)
            .await?
            .map(|m| m.name)
            .unwrap_or_default();
        let code = sealer
            .unseal(&transfer.sealed_code)
            .map_err(|e| StoreError::Corrupt(format!("transfer {} code: {e}", transfer.id)))?;
        pending.push(PendingCode {
            shop,
            amount: transfer.amount,
            code,
            url: form::url(public_url, &transfer.form_key),
            expires_at: transfer.expires_at,
        });
    }
    Ok(pending)
}
