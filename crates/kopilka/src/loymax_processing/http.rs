//! The processing methods' HTTP side: paths, bodies, answers in part 1's envelope
//! (`crate::loymax::wire`), the caller from part 1's `Session`.

use super::purchases::{self, Call, Caller, RequestIn};
use crate::loymax::auth::Session;
use crate::loymax::wire::{ok, LmError, LmResult, Success};
use crate::loymax::MethodPath;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{post, MethodRouter};
use axum::Extension;
use kopilka_domain::ledger::Owner;
use kopilka_domain::loymax_purchase::Code;
use serde_json::{json, Value};

/// The processing methods, by path below the version prefix (canonical casing; part 1's inner
/// router serves them lowercased).
pub fn methods() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/Processing/Purchases/{purchase_id}/Calculate",
            purchase_call(Call::Calculate),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Bonus/Available",
            purchase_call(Call::Available),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Bonus/Payment",
            purchase_call(Call::Payment),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Bonus",
            purchase_call(Call::Bonus),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Confirm",
            purchase_call(Call::Confirm),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Cancel",
            purchase_call(Call::Cancel),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Refund",
            purchase_call(Call::Refund),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Operations/{operation_id}/Cancel",
            purchase_call(Call::CancelOperation(String::new())),
        ),
        ("/Processing/Balance", post(balance).get(balance)),
    ]
}

/// The caller: the session's customer and program, the merchant of the OAuth application the
/// token was issued to. A token without an application (the registration flow's) cannot process.
async fn caller(state: &AppState, session: Session) -> LmResult<Caller> {
    let credential = session.credential_id.ok_or(LmError::Unauthorized)?;
    let merchant = state
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_credential_merchant(credential).await }))
        .await?
        .ok_or(LmError::Unauthorized)?;
    Ok(Caller {
        merchant_id: merchant,
        customer_id: session.customer.id,
        program: session.program,
    })
}

/// A path segment in the client's own casing (the inner router sees the path lowercased, and
/// purchase and operation ids are the shop's, case and all).
fn segment(path: &MethodPath, index: usize) -> String {
    path.0.split('/').nth(index).unwrap_or_default().to_string()
}

/// `data: [item]`; a refusal is a business error carrying its code and the same `data`.
fn answer(answer: purchases::Answer) -> LmResult<Success> {
    if answer.code == Code::Ok {
        return Ok(ok(json!([answer.item])));
    }
    let message = answer.item["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Err(LmError::Business {
        message,
        code: Some(answer.code.as_str()),
        data: json!([answer.item]),
    })
}

async fn run(
    state: AppState,
    session: Session,
    path: MethodPath,
    call: Call,
    bytes: Bytes,
) -> LmResult<Success> {
    let caller = caller(&state, session).await?;
    let purchase_id = segment(&path, 3);
    let call = match call {
        Call::CancelOperation(_) => Call::CancelOperation(segment(&path, 5)),
        other => other,
    };
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let body: RequestIn = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".into() } else { path };
        LmError::Validation(vec![(field, e.inner().to_string())])
    })?;
    match purchases::process(&state.store, caller, purchase_id, call, text, body).await {
        Ok(a) => answer(a),
        Err(invalid) => Err(LmError::Validation(vec![(invalid.field, invalid.message)])),
    }
}

/// The handler of one processing method: every one takes the session, the path and the body.
fn purchase_call(call: Call) -> MethodRouter<AppState> {
    post(
        move |State(s): State<AppState>,
              session: Session,
              Extension(path): Extension<MethodPath>,
              b: Bytes| run(s, session, path, call.clone(), b),
    )
}

/// The token holder's balance: total, spendable, and held by unconfirmed payments.
async fn balance(State(state): State<AppState>, session: Session) -> LmResult<Success> {
    let caller = caller(&state, session).await?;
    let rules = caller.program.rules();
    let (program, currency, customer) = (
        caller.program.id,
        rules.currency.clone(),
        caller.customer_id,
    );
    let (balance, held) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                kopilka_store::ledger::balance(tx, program, &currency, Owner::Customer(customer))
                    .await
            })
        })
        .await?;
    let n = |v| purchases::number(v, rules.decimals);
    Ok(ok(json!([{
        "balance": n(balance),
        "availableAmount": n(balance - held),
        "heldAmount": n(held),
        "currency": rules.currency,
        "transactionId": Value::Null,
        "deviceLogicalId": Value::Null,
        "operationId": Value::Null,
        "code": "Ok",
        "errorMessage": Value::Null,
        "cashierMessage": Value::Null,
        "chequeMessage": Value::Null,
    }])))
}
