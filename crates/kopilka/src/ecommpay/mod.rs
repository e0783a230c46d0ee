//! ECommPay (seed 003) with the CashtoCode cash method: the Payment Page, the Gate, signed
//! callbacks through the outbox, and CashtoCode's side (voucher page, terminal API, expiry).
//! Wire formats are translated here; the signature, the amount rules and the payment's state
//! machine live in `kopilka_domain::ecommpay`.

mod admin;
pub use admin::routes as admin_routes;
mod barcode;
pub mod demo_shop;
mod gate;
mod page;
mod terminal;
mod wire;

use crate::http::edge::{self, Refused};
use crate::secrets::Sealer;
use crate::state::AppState;
use axum::routing::{any, get, post};
use axum::Router;
use kopilka_domain::ecommpay::{self as domain, Event, PaymentStatus, Transition};
use kopilka_store::ecommpay::{CashPayment, EcommpayProject};
use kopilka_store::outbox::NewMessage;
use kopilka_store::{SharedStore, StoreError, Tx};
use serde_json::{json, Value};
use wire::{payment_document, signed};

/// The outbox retry schedule of ECommPay callbacks.
pub const SCHEDULE: &str = "ecommpay";

pub fn router() -> Router<AppState> {
    let pages = with_slashes([
        ("/payment", get(page::open).post(page::open)),
        ("/payment/cashtocode/{token}", post(page::submit_customer)),
        ("/cashtocode/voucher/{token}", get(page::voucher)),
        (
            "/cashtocode/voucher/{token}/barcode.svg",
            get(page::barcode),
        ),
    ]);
    let api = with_slashes([
        ("/v2/payment/cash/{method}/sale", post(gate::sale)),
        ("/v2/payment/status", post(gate::status)),
        ("/operations/get", post(gate::operations)),
        // The path merchants use with ECommPay's Data API host.
        ("/v1/operations/get", post(gate::operations)),
        ("/cashtocode/terminal/lookup", post(terminal::lookup)),
        ("/cashtocode/terminal/pay", post(terminal::pay)),
    ]);
    crate::http::html::customer_pages(pages)
        .merge(api)
        .route("/v2/payment/{*rest}", any(gate::unserved))
        .route(
            "/cashtocode/terminal/{*rest}",
            any(terminal::unknown_method),
        )
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::JSON_BODY_LIMIT),
            edge::guard,
        ))
}

/// Routes at their paths with and without a trailing slash.
fn with_slashes<const N: usize>(
    routes: [(&str, axum::routing::MethodRouter<AppState>); N],
) -> Router<AppState> {
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router
                .route(&format!("{path}/"), route.clone())
                .route(path, route)
        })
}

/// The edge's refusals (`crate::http::edge`) as each part answers: the terminal API's JSON,
/// the customer's pages, the Gate's error JSON.
fn edge_refusal(refused: &Refused) -> axum::response::Response {
    let path = refused.path.to_ascii_lowercase();
    if path.starts_with("/cashtocode/terminal/") {
        terminal::edge_refusal(refused)
    } else if path.starts_with("/payment") || path.starts_with("/cashtocode/voucher/") {
        page::edge_refusal(refused)
    } else {
        wire::edge_refusal(refused)
    }
}

/// ECommPay's fixed paths match whatever their case (`/V2/Payment/Status`): clients differ.
/// Runs before routing; other paths are left alone.
pub fn normalize_path(mut request: axum::extract::Request) -> axum::extract::Request {
    const FIXED: [&str; 5] = [
        "/payment",
        "/v2/payment/",
        "/operations/get",
        "/v1/operations/get",
        "/cashtocode/terminal/",
    ];
    let path = request.uri().path();
    let lower = path.to_ascii_lowercase();
    if lower != path && FIXED.iter().any(|f| lower.starts_with(f)) {
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{lower}?{q}"),
            None => lower,
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// A project's signing secret, unsealed.
pub(crate) fn project_secret(
    sealer: &Sealer,
    project: &EcommpayProject,
) -> Result<String, StoreError> {
    sealer
        .unseal(&project.sealed_secret)
        .map_err(|e| StoreError::Corrupt(format!("project {}: {e}", project.id)))
}

/// Where a callback goes: the request's own URL, else the project's; one starting with `/` is
/// on this kopilka (the demo shop).
pub(crate) fn callback_target(
    public_url: &str,
    payment: &CashPayment,
    project: &EcommpayProject,
) -> Option<String> {
    let url = payment
        .callback_url
        .clone()
        .or_else(|| project.callback_url.clone())?;
    Some(if url.starts_with('/') {
        format!("{public_url}{url}")
    } else {
        url
    })
}

/// The shop's page a customer goes back to from a payment in its current state: the success
/// URL once paid, the fail URL once declined, and while the payment waits for the customer the
/// return URL (else the default, else the success URL: the order is placed and its payment under
/// way). Payment Page names first, then the Gate's `return_url` keys.
pub(crate) fn back_to_shop(payment: &CashPayment) -> Option<&str> {
    const PAID: [&str; 4] = [
        "merchant_success_url",
        "redirect_success_url",
        "success",
        "default",
    ];
    const DECLINED: [&str; 4] = [
        "merchant_fail_url",
        "redirect_fail_url",
        "decline",
        "default",
    ];
    const WAITING: [&str; 6] = [
        "merchant_return_url",
        "return",
        "default",
        "merchant_success_url",
        "redirect_success_url",
        "success",
    ];
    let names: &[&str] = match payment.status {
        PaymentStatus::Success => &PAID,
        PaymentStatus::Decline => &DECLINED,
        _ => &WAITING,
    };
    names
        .iter()
        .find_map(|name| payment.return_urls.get(*name).and_then(Value::as_str))
}

/// The link back to the shop on a hosted page, when the shop gave one.
pub(crate) fn voucher_url(public_url: &str, payment: &CashPayment) -> String {
    format!("{public_url}/cashtocode/voucher/{}", payment.token)
}

/// A payment row the caller already knows exists (`lock`: for update on PostgreSQL); gone is
/// corrupt, not a refusal.
pub(crate) async fn stored_payment(
    tx: &mut Tx,
    row: i64,
    lock: bool,
) -> Result<CashPayment, StoreError> {
    tx.cash_payment_row(row, lock)
        .await?
        .ok_or(StoreError::Corrupt("payment vanished".into()))
}

/// The outbox subject of a payment's callbacks: they go out in order, and are found by it.
pub(crate) fn callback_subject(row: i64) -> String {
    format!("ecommpay.payment:{row}")
}

/// Queues the signed callback for the payment's current state, in the caller's transaction.
pub(crate) async fn enqueue_callback(
    tx: &mut Tx,
    public_url: &str,
    project: &EcommpayProject,
    secret: &str,
    row: i64,
) -> Result<(), StoreError> {
    let payment = stored_payment(tx, row, false).await?;
    let Some(url) = callback_target(public_url, &payment, project) else {
        return Ok(());
    };
    let mut document = payment_document(&payment);
    if payment.status == PaymentStatus::AwaitingRedirectResult {
        document["redirect_data"] =
            json!({"method": "GET", "body": {}, "url": voucher_url(public_url, &payment)});
    }
    let body = signed(document, secret).to_string();
    let mut message = NewMessage::callback(
        &url,
        body,
        vec![("Content-Type".into(), "application/json".into())],
    );
    message.schedule = SCHEDULE.into();
    // ECommPay acknowledges a callback with HTTP 200 only.
    message.accept = "200".into();
    message.ordered_by = Some(callback_subject(payment.id));
    message.merchant_id = Some(project.merchant_id);
    tx.enqueue(&message).await?;
    Ok(())
}

/// What applying an event did.
#[derive(Debug)]
pub(crate) enum Applied {
    Changed(Transition),
    Refused(domain::TransitionError),
}

/// Applies `event` to the locked payment `row`: status, history and callback in one go.
pub(crate) async fn apply_event(
    tx: &mut Tx,
    public_url: &str,
    project: &EcommpayProject,
    secret: &str,
    row: i64,
    event: Event,
    terminal_id: Option<&str>,
) -> Result<Applied, StoreError> {
    let payment = stored_payment(tx, row, true).await?;
    let transition = match domain::transition(payment.status, payment.amount, event) {
        Ok(t) => t,
        Err(e) => return Ok(Applied::Refused(e)),
    };
    let voucher = match event {
        Event::VoucherIssued => {
            let expires_at = tx.now() + project.voucher_ttl_secs * 1000;
            Some((voucher_code(), expires_at))
        }
        _ => None,
    };
    let paid = match (event, terminal_id) {
        (Event::CashPaid { paid }, Some(t)) => Some((paid, t)),
        _ => None,
    };
    tx.set_cash_status(
        row,
        transition.status,
        transition.code.number(),
        transition.code.message(),
        voucher.as_ref().map(|(c, at)| (c.as_str(), *at)),
        paid,
    )
    .await?;
    let gate_redirect =
        payment.interface == "gate" && transition.status == PaymentStatus::AwaitingRedirectResult;
    if transition.status.is_final() || gate_redirect {
        enqueue_callback(tx, public_url, project, secret, row).await?;
    }
    Ok(Applied::Changed(transition))
}

/// Moves a payment waiting for the customer's data on, once it is complete: CashtoCode issues
/// the voucher, or declines a sale it does not take (`20000`, with the final callback). A
/// payment past its page's deadline ends instead (`20602`).
pub(crate) async fn proceed(
    tx: &mut Tx,
    public_url: &str,
    project: &EcommpayProject,
    secret: &str,
    row: i64,
) -> Result<Applied, StoreError> {
    let payment = stored_payment(tx, row, true).await?;
    let event = domain::on_complete(
        payment.expires_at,
        tx.now(),
        &payment.currency,
        payment.amount,
        payment.customer.get("country").and_then(Value::as_str),
    );
    apply_event(tx, public_url, project, secret, row, event, None).await
}

/// Ends a payment whose deadline passed before the expiry job came to it, so a page shows it
/// as it is.
pub(crate) async fn expire_if_due(
    tx: &mut Tx,
    public_url: &str,
    project: &EcommpayProject,
    secret: &str,
    row: i64,
) -> Result<(), StoreError> {
    let payment = stored_payment(tx, row, true).await?;
    if domain::is_due(payment.status, payment.expires_at, tx.now()) {
        apply_event(tx, public_url, project, secret, row, Event::Expired, None).await?;
    }
    Ok(())
}

/// A CashtoCode code: 16 random digits, which Code 128 set C packs into 8 symbols.
fn voucher_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// Declines every voucher whose time ran out, and every Payment Page payment whose page the
/// customer abandoned (`20602`), one write job each.
pub async fn expire_cash_payments(
    store: &SharedStore,
    sealer: &Sealer,
    public_url: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let due = store
        .read(move |tx| Box::pin(async move { tx.due_cash_payments(now, 500).await }))
        .await?;
    let mut expired = 0;
    for row in due {
        let project = store
            .read(move |tx| {
                Box::pin(async move {
                    let payment = tx.cash_payment_row(row, false).await?;
                    match payment {
                        Some(p) => tx.ecommpay_project(p.project_id).await,
                        None => Ok(None),
                    }
                })
            })
            .await?;
        let Some(project) = project else { continue };
        let secret = project_secret(sealer, &project)?;
        let public_url = public_url.to_string();
        let applied = store
            .write(move |tx| {
                Box::pin(async move {
                    tx.set_now(now.max(tx.now()));
                    apply_event(
                        tx,
                        &public_url,
                        &project,
                        &secret,
                        row,
                        Event::Expired,
                        None,
                    )
                    .await
                })
            })
            .await?;
        if matches!(applied, Applied::Changed(_)) {
            expired += 1;
        }
    }
    Ok(expired)
}

/// `25.00`, for pages.
pub(crate) fn euros(cents: i64) -> String {
    kopilka_domain::money::format_decimal(kopilka_domain::Amount(cents), 2)
}
