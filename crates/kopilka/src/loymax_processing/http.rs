//! The processing methods' HTTP side: paths, bodies, the envelope.

use super::access::{self, Holder};
use super::purchases::{self, Call, RequestIn};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Router;
use kopilka_domain::ledger::Owner;
use serde_json::{json, Value};

/// The processing methods, by path below the version prefix (canonical casing).
pub fn methods() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/Processing/Purchases/{purchase_id}/Calculate",
            post(calculate),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Bonus/Available",
            post(available),
        ),
        (
            "/Processing/Purchases/{purchase_id}/Bonus/Payment",
            post(payment),
        ),
        ("/Processing/Purchases/{purchase_id}/Bonus", post(bonus)),
        ("/Processing/Purchases/{purchase_id}/Confirm", post(confirm)),
        ("/Processing/Purchases/{purchase_id}/Cancel", post(cancel)),
        ("/Processing/Purchases/{purchase_id}/Refund", post(refund)),
        (
            "/Processing/Purchases/{purchase_id}/Operations/{operation_id}/Cancel",
            post(cancel_operation),
        ),
        ("/Processing/Balance", post(balance).get(balance)),
    ]
}

async fn run(
    state: AppState,
    holder: Holder,
    purchase_id: String,
    call: Call,
    bytes: Bytes,
) -> Response {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let body: RequestIn = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(b) => b,
        Err(e) => {
            let path = e.path().to_string();
            return access::invalid(purchases::Invalid {
                field: if path == "." { "body".into() } else { path },
                message: e.inner().to_string(),
            });
        }
    };
    match purchases::process(&state.store, holder.0, purchase_id, call, text, body).await {
        Ok(answer) => access::respond(answer),
        Err(invalid) => access::invalid(invalid),
    }
}

async fn calculate(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Calculate, b).await
}

async fn available(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Available, b).await
}

async fn payment(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Payment, b).await
}

async fn bonus(State(s): State<AppState>, h: Holder, Path(id): Path<String>, b: Bytes) -> Response {
    run(s, h, id, Call::Bonus, b).await
}

async fn confirm(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Confirm, b).await
}

async fn cancel(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Cancel, b).await
}

async fn refund(
    State(s): State<AppState>,
    h: Holder,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::Refund, b).await
}

async fn cancel_operation(
    State(s): State<AppState>,
    h: Holder,
    Path((id, operation)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    run(s, h, id, Call::CancelOperation(operation), b).await
}

/// The token holder's balance: total, spendable, and held by unconfirmed payments.
async fn balance(State(state): State<AppState>, holder: Holder) -> Response {
    let caller = holder.0;
    let rules = caller.program.rules();
    let (program, currency, customer) = (
        caller.program.id,
        rules.currency.clone(),
        caller.customer_id,
    );
    let result = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                kopilka_store::ledger::balance(tx, program, &currency, Owner::Customer(customer))
                    .await
            })
        })
        .await;
    match result {
        Ok((balance, held)) => {
            let n = |v| purchases::number(v, rules.decimals);
            access::respond(purchases::Answer {
                code: kopilka_domain::loymax_purchase::Code::Ok,
                item: json!({
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
                }),
            })
        }
        Err(e) => access::fail(&e.to_string()),
    }
}

/// Version prefixes the processing methods are served under.
const PREFIXES: [&str; 6] = [
    "/publicapi/v1.2",
    "/publicapi/v1.1",
    "/publicapi/v1",
    "/api/v1.1",
    "/api/v1",
    "/api",
];

/// STAND-IN routing until part 1's case-insensitive dispatcher is merged: every prefix, the
/// canonical and the lowercase casing, with and without a trailing slash.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new()
        .route("/v1/loymax/applications", post(access::create_application))
        .route(
            "/v1/loymax/applications/{client_id}/tokens",
            post(access::issue_user_token),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::require_admin,
        ));
    for prefix in PREFIXES {
        for (path, method) in methods() {
            for p in [path.to_string(), path.to_lowercase()] {
                let full = format!("{prefix}{p}");
                router = router
                    .route(&full, method.clone())
                    .route(&format!("{full}/"), method.clone());
            }
        }
    }
    router
}
