//! Manual adjustments above their program's `adjustment_approval_above`: recorded pending (no
//! effect on balances) and made by a second operator's approval, which writes the operation
//! in the transaction that marks the adjustment approved — docs/operators.md.

use crate::http::operator::{actor_label, parse_actor_label, Principal};
use crate::http::{ApiError, ApiResult, Id, PageOf, Paging, QueryParams};
use crate::outbox::webhooks;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kopilka_domain::ids::CustomerId;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::money::format_decimal;
use kopilka_domain::operator::check_approver;
use kopilka_domain::Amount;
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest};
use kopilka_store::model::Program;
use kopilka_store::operators::{Adjustment, NewAdjustment};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdjustmentView {
    pub id: i64,
    pub program_id: i64,
    pub customer_id: i64,
    /// `accrue` or `withdraw`.
    pub kind: String,
    /// Decimal string in the currency's units.
    pub amount: String,
    pub amount_minor: i64,
    pub reason: String,
    /// `pending` (no effect yet), `approved` or `rejected`.
    pub status: String,
    /// `bootstrap` or `operator:ID`.
    pub requested_by: String,
    pub decided_by: Option<String>,
    /// The operation the approval made.
    pub operation_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// True when the request repeated an earlier one and changed nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

fn view(a: Adjustment, decimals: u8) -> AdjustmentView {
    AdjustmentView {
        id: a.id,
        program_id: a.program_id.0,
        customer_id: a.customer_id.0,
        kind: a.kind,
        amount: format_decimal(Amount(a.amount), decimals),
        amount_minor: a.amount,
        reason: a.reason,
        status: a.status,
        requested_by: a.requested_by,
        decided_by: a.decided_by,
        operation_id: a.operation_id.map(|id| id.0),
        idempotency_key: a.idem_key,
        created_at: a.created_at,
        decided_at: a.decided_at,
        replayed: false,
    }
}

/// Records a manual adjustment that waits for approval; a repeat of its idempotency key
/// answers the adjustment it made (another content is refused).
pub async fn request(
    state: &AppState,
    program: &Program,
    new: NewAdjustment,
) -> ApiResult<(StatusCode, Json<AdjustmentView>)> {
    let decimals = program.rules.decimals;
    let (adjustment, replayed) = state
        .store
        .write_retrying_refusing(|| {
            let new = new.clone();
            move |tx| {
                Box::pin(async move {
                    if let Some(key) = &new.idem_key {
                        if let Some(earlier) = tx.adjustment_by_key(key).await? {
                            if earlier.fingerprint != new.fingerprint {
                                return Err(ApiError::from(
                                    kopilka_domain::DomainError::IdempotencyConflict,
                                )
                                .into());
                            }
                            return Ok((earlier, true));
                        }
                    }
                    Ok((tx.create_adjustment(&new).await?, false))
                })
            }
        })
        .await?;
    let mut answer = view(adjustment, decimals);
    answer.replayed = replayed;
    let status = match replayed {
        true => StatusCode::OK,
        false => StatusCode::ACCEPTED,
    };
    Ok((status, Json(answer)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdjustmentQuery {
    /// `pending`, `approved` or `rejected`.
    pub status: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/adjustments", params(AdjustmentQuery), responses((status = 200, body = PageOf<AdjustmentView>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AdjustmentQuery>,
) -> ApiResult<Json<PageOf<AdjustmentView>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    if let Some(status) = &query.status {
        if !matches!(status.as_str(), "pending" | "approved" | "rejected") {
            return Err(ApiError::invalid("status", "pending, approved or rejected"));
        }
    }
    let (adjustments, programs) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let found = tx
                    .adjustments(query.status.as_deref(), query.cursor, limit)
                    .await?;
                Ok((found, tx.programs().await?))
            })
        })
        .await?;
    let decimals = |a: &Adjustment| {
        programs
            .iter()
            .find(|p| p.id == a.program_id)
            .map_or(2, |p| p.rules.decimals)
    };
    let views = adjustments
        .into_iter()
        .map(|a| {
            let d = decimals(&a);
            view(a, d)
        })
        .collect();
    Ok(Json(PageOf::new(views, limit, |v: &AdjustmentView| v.id)))
}

#[utoipa::path(get, path = "/v1/adjustments/{id}", responses((status = 200, body = AdjustmentView)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<AdjustmentView>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(adjustment) = tx.adjustment(id).await? else {
                    return Ok(None);
                };
                let program = tx.program(adjustment.program_id).await?;
                Ok(Some((adjustment, program)))
            })
        })
        .await?;
    let (adjustment, program) = found.ok_or_else(|| ApiError::not_found("adjustment"))?;
    Ok(Json(view(
        adjustment,
        program.map_or(2, |p| p.rules.decimals),
    )))
}

/// Approves another operator's pending adjustment: its operation is made in the same
/// transaction. A repeat answers the approved adjustment and changes nothing.
#[utoipa::path(post, path = "/v1/adjustments/{id}/approve", responses((status = 200, body = AdjustmentView), (status = 403, description = "The operator who made it", body = crate::http::ErrorBody), (status = 409, body = crate::http::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Id(id): Id,
) -> ApiResult<Json<AdjustmentView>> {
    decide(&state, &principal, id, true).await
}

/// Rejects a pending adjustment (its maker may too): nothing moves.
#[utoipa::path(post, path = "/v1/adjustments/{id}/reject", responses((status = 200, body = AdjustmentView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Id(id): Id,
) -> ApiResult<Json<AdjustmentView>> {
    decide(&state, &principal, id, false).await
}

async fn decide(
    state: &AppState,
    principal: &Principal,
    id: i64,
    approve: bool,
) -> ApiResult<Json<AdjustmentView>> {
    let decider = principal.actor();
    let (adjustment, decimals) = state
        .store
        .write_retrying_refusing(|| {
            move |tx| {
                Box::pin(async move {
                    let adjustment = tx
                        .adjustment_locked(id)
                        .await?
                        .ok_or_else(|| ApiError::not_found("adjustment"))?;
                    let program = tx
                        .program(adjustment.program_id)
                        .await?
                        .ok_or_else(|| ApiError::not_found("program"))?;
                    let decimals = program.rules.decimals;
                    let wanted = if approve { "approved" } else { "rejected" };
                    if adjustment.status == wanted {
                        return Ok((adjustment, decimals));
                    }
                    if adjustment.status != "pending" {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "adjustment_decided",
                            format!("the adjustment was {} already", adjustment.status),
                        )
                        .into());
                    }
                    let requested_by =
                        parse_actor_label(&adjustment.requested_by).ok_or_else(|| {
                            ApiError::internal("an adjustment's maker is not an actor label")
                        })?;
                    let operation_id = if approve {
                        check_approver(requested_by, decider)
                            .map_err(|e| ApiError::forbidden(&e.to_string()))?;
                        Some(make_operation(tx, &adjustment, &program, decider).await?)
                    } else {
                        None
                    };
                    tx.decide_adjustment(id, wanted, &actor_label(decider), operation_id)
                        .await?;
                    let decided = tx
                        .adjustment(id)
                        .await?
                        .ok_or_else(|| ApiError::not_found("adjustment"))?;
                    Ok((decided, decimals))
                })
            }
        })
        .await?;
    Ok(Json(view(adjustment, decimals)))
}

/// The adjustment's operation, through the ledger like any manual one, keyed by the
/// adjustment so that it is made once.
async fn make_operation(
    tx: &mut kopilka_store::Tx,
    adjustment: &Adjustment,
    program: &Program,
    approver: kopilka_domain::operator::Actor,
) -> Result<kopilka_domain::ids::OperationId, kopilka_store::JobError<ApiError>> {
    let kind = OperationKind::parse(&adjustment.kind)
        .ok_or_else(|| ApiError::internal("an adjustment's kind is not an operation kind"))?;
    let customer_id = CustomerId(adjustment.customer_id.0);
    let amount = Amount(adjustment.amount);
    let action = match kind {
        OperationKind::Accrue => Action::Credit {
            kind,
            customer_id,
            amount,
            expires_at: program.rules.expiry_for(tx.now()),
        },
        _ => Action::Debit {
            kind,
            customer_id,
            amount,
            hold: false,
        },
    };
    let request = LedgerRequest {
        program_id: program.id,
        currency: program.rules.currency.clone(),
        merchant_id: None,
        protocol: "native".into(),
        idempotency: Some(Idempotency {
            fingerprint: format!("adjustment:{}", adjustment.id),
            scope: "adjustment".into(),
            key: adjustment.id.to_string(),
        }),
        description: None,
        details: serde_json::json!({
            "reason": adjustment.reason,
            "adjustment_id": adjustment.id,
            "requested_by": adjustment.requested_by,
            "approved_by": actor_label(approver),
        }),
        action,
    };
    let outcome = ledger::execute(tx, request).await?;
    if !outcome.replayed {
        webhooks::operation_event(
            tx,
            "operation.created",
            &outcome.operation,
            program.rules.decimals,
        )
        .await?;
    }
    Ok(outcome.operation.id)
}
