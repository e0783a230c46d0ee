//! CashtoCode's terminal API: a cash terminal looks a code up and pays it.
//!
//! `POST /cashtocode/terminal/lookup {terminal_id, terminal_key, code}` and
//! `POST /cashtocode/terminal/pay {terminal_id, terminal_key, code, amount}` (cents). Answers are
//! `{"result": "…", …}` with HTTP 200 for every business outcome; every refusal, a malformed
//! request included, is `{"result": "…", "message": "…"}`.

use super::{apply_event, project_secret, Applied};
use crate::http::edge::{clip, ECHO_MAX_CHARS};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kopilka_domain::ecommpay::{self as domain, Code, PaymentStatus, TransitionError};
use kopilka_store::ecommpay::CashPayment;
use kopilka_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

/// Failed look-ups a terminal may make per window before it is refused.
const MAX_FAILURES: i64 = 20;
const FAILURE_WINDOW_MS: i64 = 10 * 60 * 1000;

#[derive(Deserialize)]
pub struct TerminalRequest {
    terminal_id: String,
    terminal_key: String,
    code: String,
    /// Cash inserted, in cents (pay only).
    amount: Option<i64>,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn refusal(result: &str, message: &str) -> Response {
    answer(
        StatusCode::OK,
        json!({"result": result, "message": message}),
    )
}

/// The refusal of a malformed request, in the API's own format.
/// A terminal request refused at the edge, in the terminal API's format.
pub(super) fn edge_refusal(refused: &crate::http::edge::Refused) -> Response {
    let message = format!("{}: {}", refused.place, refused.message);
    answer(
        refused.status,
        json!({"result": "invalid", "message": message}),
    )
}

/// A path under the terminal API that names no method, in the terminal's format.
pub(super) async fn unknown_method() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({"result": "invalid", "message": "no such method: lookup or pay"}),
    )
}

fn malformed(e: serde_json::Error) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"result": "invalid", "message": format!("malformed request: {}", clip(&e.to_string(), ECHO_MAX_CHARS))}),
    )
}

fn internal(e: StoreError) -> Response {
    tracing::error!("cashtocode terminal: {e}");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"result": "error", "message": "internal error"}),
    )
}

/// Checks the terminal's key; refuses a terminal that guessed too many codes.
async fn authenticate(state: &AppState, request: &TerminalRequest) -> Result<(), Response> {
    let id = request.terminal_id.clone();
    let terminal = state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_terminal(&id).await }))
        .await
        .map_err(internal)?;
    let unauthorized = || {
        answer(
            StatusCode::UNAUTHORIZED,
            json!({"result": "unauthorized", "message": "unknown terminal or wrong key"}),
        )
    };
    let Some(terminal) = terminal else {
        return Err(unauthorized());
    };
    if !secrets::constant_time_eq(
        &secrets::token_digest(&request.terminal_key),
        &terminal.key_digest,
    ) {
        return Err(unauthorized());
    }
    let now = kopilka_store::now_ms();
    if terminal.failures >= MAX_FAILURES && terminal.failure_window_start + FAILURE_WINDOW_MS > now
    {
        return Err(answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"result": "too_many_attempts", "message": "too many unknown codes; try again later"}),
        ));
    }
    Ok(())
}

async fn find(state: &AppState, request: &TerminalRequest) -> Result<CashPayment, Response> {
    // Codes are read out and typed in groups: `1234 5678-9012 3456`.
    let code: String = request
        .code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let found = state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payment_by_code(&code).await }))
        .await
        .map_err(internal)?;
    match found {
        Some(p) => Ok(p),
        None => {
            let id = request.terminal_id.clone();
            state
                .store
                .write(move |tx| {
                    Box::pin(
                        async move { tx.record_terminal_failure(&id, FAILURE_WINDOW_MS).await },
                    )
                })
                .await
                .map_err(internal)?;
            Err(refusal("unknown_code", "no such code"))
        }
    }
}

/// Why a code cannot be paid now, if it cannot.
fn unpayable(payment: &CashPayment, now: i64) -> Option<Response> {
    match payment.status.as_str() {
        "success" => Some(refusal("used", "this code was already paid")),
        "decline" if payment.code == Code::Timeout.number() => {
            Some(refusal("expired", "this code has expired"))
        }
        "decline" => Some(refusal("declined", "this payment was declined")),
        _ if payment.expires_at.is_some_and(|at| now >= at) => {
            Some(refusal("expired", "this code has expired"))
        }
        _ => None,
    }
}

pub async fn lookup(State(state): State<AppState>, bytes: Bytes) -> Response {
    let request: TerminalRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return malformed(e),
    };
    if let Err(r) = authenticate(&state, &request).await {
        return r;
    }
    let payment = match find(&state, &request).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = unpayable(&payment, kopilka_store::now_ms()) {
        return r;
    }
    answer(
        StatusCode::OK,
        json!({
            "result": "payable",
            "code": payment.voucher_code,
            "amount": payment.amount,
            "currency": payment.currency,
            "expires_at": payment.expires_at,
        }),
    )
}

pub async fn pay(State(state): State<AppState>, bytes: Bytes) -> Response {
    let request: TerminalRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return malformed(e),
    };
    if let Err(r) = authenticate(&state, &request).await {
        return r;
    }
    let Some(paid) = request.amount.filter(|a| *a > 0) else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"result": "invalid", "message": "amount (cents, > 0) is required"}),
        );
    };
    let payment = match find(&state, &request).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let project_id = payment.project_id;
    let project = match state
        .store
        .read(move |tx| Box::pin(async move { tx.ecommpay_project(project_id).await }))
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return internal(StoreError::Corrupt("payment without project".into())),
        Err(e) => return internal(e),
    };
    let secret = match project_secret(&state.sealer, &project) {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let (public_url, row, terminal_id) = (
        state.public_url.to_string(),
        payment.id,
        request.terminal_id.clone(),
    );
    let applied = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let locked = super::stored_payment(tx, row, true).await?;
                let event =
                    domain::terminal_event(locked.expires_at.unwrap_or(i64::MAX), tx.now(), paid);
                let applied = apply_event(
                    tx,
                    &public_url,
                    &project,
                    &secret,
                    row,
                    event,
                    Some(&terminal_id),
                )
                .await?;
                Ok((applied, tx.cash_payment_row(row, false).await?))
            })
        })
        .await;
    match applied {
        Ok((Applied::Changed(t), _)) if t.status == PaymentStatus::Success => answer(
            StatusCode::OK,
            json!({"result": "paid", "amount": paid, "currency": payment.currency}),
        ),
        Ok((Applied::Changed(t), _)) if t.code == Code::Timeout => {
            refusal("expired", "this code has expired; return the cash")
        }
        Ok((Applied::Changed(_), _)) => answer(
            StatusCode::OK,
            json!({"result": "wrong_amount", "message": "the amount differs from the code's; the payment is declined, return the cash", "expected": payment.amount, "paid": paid}),
        ),
        Ok((Applied::Refused(TransitionError::AlreadyFinal), Some(now))) => {
            unpayable(&now, kopilka_store::now_ms())
                .unwrap_or_else(|| refusal("used", "this code was already used"))
        }
        Ok((Applied::Refused(_), _)) => {
            refusal("unknown_code", "no voucher was issued for this code")
        }
        Err(e) => internal(e),
    }
}
