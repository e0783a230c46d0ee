//! The processing methods' HTTP side: paths, bodies, answers in part 1's envelope
//! (`crate::loymax::wire`), the caller from part 1's `Session`.

use super::purchases::{self, Call, Caller, Processed, RequestIn};
use super::texts::Texts;
use crate::loymax::auth::{bearer, Session};
use crate::loymax::wire::{ok, ok_one, LmError, LmResult, Success};
use crate::loymax::{MethodPath, MethodState};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{post, MethodRouter};
use axum::Extension;
use kopilka_domain::ids::MerchantId;
use kopilka_domain::ledger::Owner;
use serde_json::{json, Value};

/// The processing methods, by path below the version prefix (canonical casing; part 1's inner
/// router serves them lowercased).
pub(in crate::loymax) fn methods() -> Vec<(&'static str, MethodRouter<MethodState>)> {
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

/// The merchant of the OAuth application the session's token was issued to. A token without
/// an application (the registration flow's) cannot process.
async fn session_merchant(state: &AppState, session: &Session) -> LmResult<MerchantId> {
    let credential = session.credential_id.ok_or(LmError::Unauthorized)?;
    state
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_credential_merchant(credential).await }))
        .await?
        .ok_or(LmError::Unauthorized)
}

/// A path segment in the client's own casing (the inner router sees the path lowercased, and
/// purchase and operation ids are the shop's, case and all).
fn segment(path: &MethodPath, index: usize) -> String {
    path.0.split('/').nth(index).unwrap_or_default().to_string()
}

/// A refusal: a business error carrying its code and `data: [item]`.
fn refusal(answer: purchases::Answer) -> LmError {
    let message = answer.item["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    LmError::Business {
        message,
        code: Some(answer.code.as_str()),
        data: json!([answer.item]),
    }
}

/// One processing call. The caller comes from `state.callers` (no read once the token is
/// known); the job checks the token and the program again and may send the call back here: a
/// token found ended is forgotten and refused, a program found changed is read again.
async fn run(
    state: MethodState,
    headers: HeaderMap,
    path: MethodPath,
    call: Call,
    bytes: Bytes,
) -> LmResult<Success> {
    let digest = crate::secrets::token_digest(&bearer(&headers).ok_or(LmError::Unauthorized)?);
    let (store, callers) = (&state.app.store, &state.callers);
    let mut caller: Caller = callers.resolve(store, &digest).await?;
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
    let t = Texts::of(&caller.program.rules);
    let body: RequestIn = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        // serde's own words are English: the field is named, the message in the program's
        // language.
        let (field, message) = if path == "." {
            let message = t.pick(
                "тело запроса — не объект JSON метода",
                "the body is not the method's JSON object",
            );
            ("body".into(), message)
        } else {
            let message = t.pick("неверное значение", "invalid value");
            (path, message)
        };
        LmError::Validation(vec![(field, message.into())])
    })?;
    for _ in 0..3 {
        let program_id = caller.program.program.id;
        let processed = purchases::process(store, caller, purchase_id.clone(), call.clone(), &body)
            .await
            .map_err(|invalid| LmError::Validation(vec![(invalid.field, invalid.message)]))?;
        match processed {
            Processed::Done(item) => return Ok(ok_one(item)),
            Processed::Answer(a) => return Err(refusal(a)),
            Processed::Failed(cause) => return Err(LmError::Fail(cause)),
            Processed::Unauthorized => {
                callers.forget_token(&digest);
                return Err(LmError::Unauthorized);
            }
            Processed::StaleProgram => {
                callers.forget_program(program_id.0);
                caller = callers.resolve(store, &digest).await?;
            }
        }
    }
    Err(LmError::Fail(
        "the program keeps changing; try again".into(),
    ))
}

/// The handler of one processing method: every one takes the token, the path and the body.
fn purchase_call(call: Call) -> MethodRouter<MethodState> {
    post(
        move |State(s): State<MethodState>,
              headers: HeaderMap,
              Extension(path): Extension<MethodPath>,
              b: Result<Bytes, BytesRejection>| async move {
            // A body past the server's limit is answered in Loymax's envelope.
            let b = b.map_err(|e| {
                let too_large = e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
                let message = if too_large {
                    "Запрос слишком велик"
                } else {
                    "Тело запроса не прочитано"
                };
                LmError::invalid("body", message)
            })?;
            run(s, headers, path, call.clone(), b).await
        },
    )
}

/// The token holder's balance: total, spendable, and held by unconfirmed payments.
async fn balance(State(state): State<AppState>, session: Session) -> LmResult<Success> {
    session_merchant(&state, &session).await?;
    let rules = session.program.rules.clone();
    let (program, currency, customer) = (
        session.program.id,
        rules.currency.clone(),
        session.customer.id,
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
