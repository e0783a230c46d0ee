use crate::http::admin::{AuditDraft, Audited};
use crate::http::export::{self, Cell, ExportFormat, ExportOptions, Page, Table};
use crate::http::operator::Principal;
use crate::http::{instant_range, ApiError, ApiResult};
use crate::http::{DecimalInput, Id, JsonBody, PageOf, QueryParams};
use crate::outbox::webhooks;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use kopilka_domain::ledger::{fingerprint, OperationKind};
use kopilka_domain::money::format_decimal;
use kopilka_domain::operator::{approval_threshold, check_reason, needs_approval, redact};
use kopilka_domain::Amount;
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest, OperationFilter, Outcome};
use kopilka_store::model::{Operation, Posting};
use kopilka_store::operators::{AuditEntry, NewAdjustment};
use kopilka_store::StoreError;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationInput {
    /// `earn`, `accrue`, `redeem` or `withdraw`.
    pub kind: String,
    pub customer_id: i64,
    /// Required for `redeem`; the merchant an earn is credited for.
    #[serde(default)]
    pub merchant_id: Option<i64>,
    /// Points, in the currency's units ("42.25" or 42.25). For `earn`, give this or `paid`.
    #[serde(default)]
    pub amount: Option<DecimalInput>,
    /// For `earn`: the money paid; the points follow from the program's earn rate.
    #[serde(default)]
    pub paid: Option<DecimalInput>,
    /// For `redeem` and `withdraw`: reserve the points now, move them on confirm.
    #[serde(default)]
    pub hold: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Why: required for a manual `accrue` or `withdraw` (1 to 500 characters), shown with
    /// the operation. Above the program's `settings.adjustment_approval_above` such an
    /// adjustment waits for another operator's approval (answered `202` with the adjustment).
    #[serde(default)]
    pub reason: Option<String>,
    /// Repeating a request with the same key returns the first result and changes nothing.
    /// The `Idempotency-Key` header works too.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseInput {
    /// What to take back; all that remains when absent.
    #[serde(default)]
    pub amount: Option<DecimalInput>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationView {
    pub id: i64,
    pub uuid: String,
    pub kind: String,
    pub status: String,
    pub currency: String,
    /// Decimal string in the currency's units.
    pub amount: String,
    pub amount_minor: i64,
    /// How much later reversals took back, in minor units.
    pub reversed_minor: i64,
    pub program_id: i64,
    pub customer_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub reverses: Option<i64>,
    pub protocol: String,
    pub description: Option<String>,
    /// A manual adjustment's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The adjustment whose approval made this operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjustment_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    /// The customer's balance right after this request (only in answers to writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<super::customers::BalanceView>,
    /// True when the request repeated an earlier one and changed nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub postings: Option<Vec<Posting>>,
}

fn view(op: Operation, decimals: u8) -> OperationView {
    OperationView {
        amount: format_decimal(Amount(op.amount), decimals),
        id: op.id.0,
        uuid: op.uuid,
        kind: op.kind.as_str().to_string(),
        status: op.status.as_str().to_string(),
        currency: op.currency,
        amount_minor: op.amount,
        reversed_minor: op.reversed,
        program_id: op.program_id.0,
        customer_id: op.customer_id.map(|id| id.0),
        merchant_id: op.merchant_id.map(|id| id.0),
        reverses: op.reverses.map(|id| id.0),
        reason: op.details["reason"].as_str().map(str::to_string),
        adjustment_id: op.details["adjustment_id"].as_i64(),
        protocol: op.protocol,
        description: op.description,
        idempotency_key: op.idem_key,
        created_at: op.created_at,
        resolved_at: op.resolved_at,
        balance: None,
        replayed: false,
        postings: None,
    }
}

fn outcome_view(outcome: Outcome, decimals: u8) -> (StatusCode, Json<OperationView>) {
    let currency = outcome.operation.currency.clone();
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut v = view(outcome.operation, decimals);
    v.balance = Some(super::customers::balance_view(
        &currency,
        outcome.balance,
        outcome.held,
        decimals,
    ));
    v.replayed = outcome.replayed;
    (status, Json(v))
}

fn idempotency_key(headers: &HeaderMap, body: Option<String>) -> ApiResult<Option<String>> {
    let header = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
    let key = body.or(header);
    if let Some(k) = &key {
        if k.is_empty() || k.len() > 200 {
            return Err(ApiError::invalid(
                "idempotency_key",
                "must be 1 to 200 characters",
            ));
        }
    }
    Ok(key)
}

#[utoipa::path(post, path = "/v1/operations", request_body = OperationInput,
    responses((status = 201, body = OperationView), (status = 200, description = "a replay", body = OperationView),
        (status = 202, description = "a manual adjustment waiting for approval", body = super::adjustments::AdjustmentView),
        (status = 409, body = crate::http::ErrorBody), (status = 422, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    draft: Option<Extension<AuditDraft>>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<OperationInput>,
) -> ApiResult<Response> {
    let kind = match OperationKind::parse(&input.kind) {
        Some(
            k @ (OperationKind::Earn
            | OperationKind::Accrue
            | OperationKind::Redeem
            | OperationKind::Withdraw),
        ) => k,
        _ => {
            return Err(ApiError::invalid(
                "kind",
                "one of earn, accrue, redeem, withdraw",
            ))
        }
    };
    if kind == OperationKind::Redeem && input.merchant_id.is_none() {
        return Err(ApiError::invalid(
            "merchant_id",
            "a redeem needs a merchant",
        ));
    }
    if input.hold && !matches!(kind, OperationKind::Redeem | OperationKind::Withdraw) {
        return Err(ApiError::invalid(
            "hold",
            "only redeem and withdraw can be held",
        ));
    }
    if input.description.as_ref().is_some_and(|d| d.len() > 500) {
        return Err(ApiError::invalid("description", "at most 500 characters"));
    }
    let manual = matches!(kind, OperationKind::Accrue | OperationKind::Withdraw);
    let reason = match (manual, &input.reason) {
        (true, reason) | (false, reason @ Some(_)) => Some(check_reason(reason.as_deref())?),
        (false, None) => None,
    };
    let key = idempotency_key(&headers, input.idempotency_key.clone())?;
    let customer_id = input.customer_id;
    let merchant_id = input.merchant_id;
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                tx.program_of_customer(CustomerId(customer_id), merchant_id.map(MerchantId))
                    .await
            })
        })
        .await?;
    // A customer of a program the operator may not see is as unknown as one that is not.
    let found = found
        .filter(|found| principal.scope().covers(found.program.id.0))
        .ok_or_else(|| ApiError::invalid("customer_id", "no such customer"))?;
    let (program, webhook_url) = (found.program, found.merchant_webhook_url);
    if merchant_id.is_some() && found.merchant_program != Some(program.id) {
        return Err(ApiError::invalid(
            "merchant_id",
            "no such merchant in the customer's program",
        ));
    }
    let rules = program.rules.clone();
    let amount = match (&input.amount, &input.paid, kind) {
        (Some(a), None, _) => a.parse_positive("amount", rules.decimals)?,
        (None, Some(paid), OperationKind::Earn) => {
            let paid = paid.parse_positive("paid", rules.money_decimals)?;
            let points = rules.earn_for(paid);
            if points.0 <= 0 {
                return Err(ApiError::invalid(
                    "paid",
                    "earns nothing at the program's rate",
                ));
            }
            if points.0 > kopilka_domain::money::MAX_AMOUNT {
                return Err(ApiError::invalid(
                    "paid",
                    "earns more points than one operation may carry",
                ));
            }
            points
        }
        (None, Some(_), _) => return Err(ApiError::invalid("paid", "only an earn takes paid")),
        (Some(_), Some(_), _) => {
            return Err(ApiError::invalid("paid", "give amount or paid, not both"))
        }
        (None, None, _) => return Err(ApiError::invalid("amount", "required")),
    };
    let scope = match merchant_id {
        Some(m) => format!("merchant:{m}"),
        None => "admin".to_string(),
    };
    let idempotency = key.map(|key| Idempotency {
        fingerprint: fingerprint(&[
            kind.as_str(),
            &customer_id.to_string(),
            &merchant_id.unwrap_or(0).to_string(),
            &amount.0.to_string(),
            &input.hold.to_string(),
            input.description.as_deref().unwrap_or(""),
            reason.as_deref().unwrap_or(""),
        ]),
        scope,
        key,
    });
    let threshold = approval_threshold(&program.settings, rules.decimals)?;
    if manual && needs_approval(amount, threshold) {
        let new = NewAdjustment {
            program_id: program.id,
            customer_id: CustomerId(customer_id),
            kind: kind.as_str().to_string(),
            amount: amount.0,
            reason: reason.unwrap_or_default(),
            requested_by: principal.label(),
            fingerprint: idempotency.as_ref().map(|i| i.fingerprint.clone()),
            idem_key: idempotency.map(|i| i.key),
        };
        if input.hold || merchant_id.is_some() {
            return Err(ApiError::invalid(
                "hold",
                "an adjustment waiting for approval is neither held nor a merchant's",
            ));
        }
        return Ok(super::adjustments::request(&state, &program, new)
            .await?
            .into_response());
    }
    let action = match kind {
        OperationKind::Earn | OperationKind::Accrue => Action::Credit {
            kind,
            customer_id: CustomerId(customer_id),
            amount,
            expires_at: None,
        },
        _ => Action::Debit {
            kind,
            customer_id: CustomerId(customer_id),
            amount,
            hold: input.hold,
        },
    };
    let request = LedgerRequest {
        program_id: program.id,
        currency: rules.currency.clone(),
        merchant_id: merchant_id.map(MerchantId),
        protocol: "native".into(),
        idempotency,
        description: input.description.clone(),
        details: match &reason {
            Some(reason) => {
                serde_json::json!({"reason": reason, "requested_by": principal.label()})
            }
            None => serde_json::json!({}),
        },
        action,
    };
    let lifetime = rules.clone();
    let draft = draft.map(|Extension(AuditDraft(entry))| entry);
    let (status, answer) = state
        .store
        .write_retrying(|| {
            let mut request = request.clone();
            let lifetime = lifetime.clone();
            let draft = draft.clone();
            let webhook_url = webhook_url.clone();
            move |tx| {
                Box::pin(async move {
                    if let Action::Credit { expires_at, .. } = &mut request.action {
                        *expires_at = lifetime.expiry_for(tx.now());
                    }
                    let outcome = ledger::execute(tx, request).await?;
                    if !outcome.replayed {
                        webhooks::operation_event_to(
                            tx,
                            webhook_url.as_deref(),
                            "operation.created",
                            &outcome.operation,
                            lifetime.decimals,
                        )
                        .await?;
                    }
                    let (status, Json(answer)) = outcome_view(outcome, lifetime.decimals);
                    // The audit row commits with the operation it records.
                    if let Some(draft) = draft {
                        let mut after = serde_json::to_value(&answer)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        redact(&mut after);
                        let entry = AuditEntry {
                            entity_id: Some(answer.id.to_string()),
                            status: i64::from(status.as_u16()),
                            after: Some(after),
                            ..draft
                        };
                        tx.record_audit(&entry).await?;
                    }
                    Ok((status, answer))
                })
            }
        })
        .await?;
    let mut response = (status, Json(answer)).into_response();
    if draft.is_some() {
        response.extensions_mut().insert(Audited);
    }
    Ok(response)
}

async fn resolve(
    state: &AppState,
    id: i64,
    make: impl Fn(i64) -> Action,
    key: Option<String>,
    amount_text: Option<DecimalInput>,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let op = ledger::operation(tx, OperationId(id)).await?;
                let program = match &op {
                    Some(op) => tx.program(op.program_id).await?,
                    None => None,
                };
                Ok(op.zip(program))
            })
        })
        .await?;
    let (op, program) = found.ok_or_else(|| ApiError::not_found("operation"))?;
    let rules = program.rules.clone();
    let amount = match &amount_text {
        Some(a) => Some(a.parse_positive("amount", rules.decimals)?),
        None => None,
    };
    let mut action = make(id);
    if let Action::Reverse { amount: a, .. } = &mut action {
        *a = amount;
    }
    let idempotency = key.map(|key| Idempotency {
        fingerprint: fingerprint(&["resolve", &id.to_string(), &format!("{action:?}")]),
        scope: "admin".into(),
        key,
    });
    let request = LedgerRequest {
        program_id: op.program_id,
        currency: op.currency.clone(),
        merchant_id: None,
        protocol: "native".into(),
        idempotency,
        description: None,
        details: serde_json::json!({}),
        action,
    };
    let event = match &request.action {
        Action::Confirm { .. } => "operation.confirmed",
        Action::Void { .. } => "operation.voided",
        _ => "operation.reversed",
    };
    let decimals = rules.decimals;
    let outcome = state
        .store
        .write_retrying(|| {
            let request = request.clone();
            move |tx| {
                Box::pin(async move {
                    let outcome = ledger::execute(tx, request).await?;
                    if !outcome.replayed {
                        webhooks::operation_event(tx, event, &outcome.operation, decimals).await?;
                    }
                    Ok(outcome)
                })
            }
        })
        .await?;
    let (status, json) = outcome_view(outcome, rules.decimals);
    Ok((status, json))
}

/// Confirm and void: no body, and 200 whether the call is the first or a replay.
async fn settle(
    state: &AppState,
    id: i64,
    headers: &HeaderMap,
    make: impl Fn(i64) -> Action,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    let key = idempotency_key(headers, None)?;
    let (_, json) = resolve(state, id, make, key, None).await?;
    Ok((StatusCode::OK, json))
}

#[utoipa::path(post, path = "/v1/operations/{id}/confirm", params(("Idempotency-Key" = Option<String>, Header, description = "a repeat with the same key replays")), responses((status = 200, body = OperationView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    settle(&state, id, &headers, |operation_id| Action::Confirm {
        operation_id: OperationId(operation_id),
    })
    .await
}

#[utoipa::path(post, path = "/v1/operations/{id}/void", params(("Idempotency-Key" = Option<String>, Header, description = "a repeat with the same key replays")), responses((status = 200, body = OperationView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn void(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    settle(&state, id, &headers, |operation_id| Action::Void {
        operation_id: OperationId(operation_id),
    })
    .await
}

#[utoipa::path(post, path = "/v1/operations/{id}/reverse", request_body = ReverseInput, responses((status = 201, body = OperationView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn reverse(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    let body = body.map_err(|e| ApiError::new(e.status(), "body_rejected", e.body_text()))?;
    let input: ReverseInput = if body.iter().all(u8::is_ascii_whitespace) {
        ReverseInput::default()
    } else {
        crate::http::parse_json_object(&body)?
    };
    let key = idempotency_key(&headers, input.idempotency_key.clone())?;
    resolve(
        &state,
        id,
        |operation_id| Action::Reverse {
            operation_id: OperationId(operation_id),
            amount: None,
        },
        key,
        input.amount,
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperationQuery {
    pub program_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// The protocol that made the operation: `native`, `incust`, `loymax`, `kupikupi`,
    /// `ecommpay`, `offers`, `system`, `demo`.
    pub protocol: Option<String>,
    /// Created at or after this instant (RFC 3339, `2026-12-01T00:00:00+02:00`).
    pub from: Option<String>,
    /// Created before this instant (RFC 3339): `from` and `to` make a half-open range.
    pub to: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

impl OperationQuery {
    /// The filter the listing and its exports share, from `before` on, `limit` at a time.
    fn filter(&self, before: Option<i64>, limit: i64) -> ApiResult<OperationFilter> {
        if let Some(k) = &self.kind {
            if OperationKind::parse(k).is_none() {
                return Err(ApiError::invalid("kind", "unknown operation kind"));
            }
        }
        if let Some(s) = &self.status {
            if kopilka_domain::ledger::OperationStatus::parse(s).is_none() {
                return Err(ApiError::invalid("status", "pending, confirmed or voided"));
            }
        }
        let (created_from, created_before) =
            instant_range(self.from.as_deref(), self.to.as_deref())?;
        Ok(OperationFilter {
            created_from,
            created_before,
            program_id: self.program_id.map(ProgramId),
            customer_id: self.customer_id.map(CustomerId),
            merchant_id: self.merchant_id.map(MerchantId),
            kind: self.kind.clone(),
            status: self.status.clone(),
            before_id: before.map(OperationId),
            limit,
        })
    }
}

#[utoipa::path(get, path = "/v1/operations", params(OperationQuery), responses((status = 200, body = PageOf<OperationView>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<OperationQuery>,
) -> ApiResult<Json<PageOf<OperationView>>> {
    let limit = crate::http::Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let filter = query.filter(query.cursor, limit)?;
    let protocol = query.protocol.clone();
    let (ops, programs) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let ops = tx
                    .operations_of_protocol(&filter, protocol.as_deref())
                    .await?;
                Ok((ops, tx.programs().await?))
            })
        })
        .await?;
    let decimals = |program_id: i64| {
        programs
            .iter()
            .find(|p| p.id == ProgramId(program_id))
            .map_or(2, |p| p.rules.decimals)
    };
    let views: Vec<OperationView> = ops
        .into_iter()
        .map(|op| {
            let d = decimals(op.program_id.0);
            view(op, d)
        })
        .collect();
    Ok(Json(PageOf::new(views, limit, |v| v.id)))
}

const EXPORT: Table = Table {
    name: "operations",
    columns: &[
        "id",
        "created_at",
        "program_id",
        "customer_id",
        "merchant_id",
        "kind",
        "status",
        "amount",
        "currency",
        "reversed",
        "reverses",
        "protocol",
        "description",
        "resolved_at",
        "uuid",
    ],
};

/// The operations the listing's filter selects, every page of them, newest first.
async fn export(
    state: AppState,
    query: OperationQuery,
    options: ExportOptions,
    format: ExportFormat,
) -> ApiResult<axum::response::Response> {
    let filter = query.filter(None, export::PAGE_ROWS)?;
    let start = export::start(query.cursor, query.limit)?;
    let units = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    let units = export::ProgramUnits::new(&units);
    let protocol = query.protocol.clone();
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, units, protocol) = (state.clone(), units.clone(), protocol.clone());
        let mut filter = filter.clone();
        filter.before_id = cursor.map(OperationId);
        Box::pin(async move {
            let ops = state
                .store
                .read(move |tx| {
                    Box::pin(async move {
                        tx.operations_of_protocol(&filter, protocol.as_deref())
                            .await
                    })
                })
                .await?;
            Ok(Page::of(
                ops,
                |op| op.id.0,
                |op| {
                    let units = units.of(op.program_id);
                    let (amount, time) = (|minor| units.amount(minor), |ms| units.time(ms));
                    vec![
                        Cell::Integer(op.id.0),
                        time(op.created_at),
                        Cell::Integer(op.program_id.0),
                        Cell::optional(op.customer_id, |id| Cell::Integer(id.0)),
                        Cell::optional(op.merchant_id, |id| Cell::Integer(id.0)),
                        Cell::text(op.kind.as_str()),
                        Cell::text(op.status.as_str()),
                        amount(op.amount),
                        Cell::Text(op.currency),
                        amount(op.reversed),
                        Cell::optional(op.reverses, |id| Cell::Integer(id.0)),
                        Cell::Text(op.protocol),
                        Cell::optional(op.description, Cell::Text),
                        Cell::optional(op.resolved_at, time),
                        Cell::Text(op.uuid),
                    ]
                },
            ))
        })
    });
    export::export(format, &options, EXPORT, start, pages).await
}

/// CSV of the operations `GET /v1/operations` lists with the same filter (docs/exports.md).
#[utoipa::path(get, path = "/v1/operations/export.csv", params(OperationQuery, ExportOptions),
    responses((status = 200, description = "CSV, one operation a row", content_type = "text/csv", body = String)))]
pub async fn export_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<OperationQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<axum::response::Response> {
    export(state, query, options, ExportFormat::Csv).await
}

/// XLSX of the operations `GET /v1/operations` lists with the same filter (docs/exports.md).
#[utoipa::path(get, path = "/v1/operations/export.xlsx", params(OperationQuery, ExportOptions),
    responses((status = 200, description = "An XLSX workbook, one operation a row", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String)))]
pub async fn export_xlsx(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<OperationQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<axum::response::Response> {
    export(state, query, options, ExportFormat::Xlsx).await
}

#[utoipa::path(get, path = "/v1/operations/{id}", responses((status = 200, body = OperationView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<OperationView>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(op) = ledger::operation(tx, OperationId(id)).await? else {
                    return Ok(None);
                };
                let program = tx.program(op.program_id).await?;
                let postings = ledger::postings_of(tx, OperationId(id)).await?;
                Ok(Some((op, program, postings)))
            })
        })
        .await?;
    let (op, program, postings) = found.ok_or_else(|| ApiError::not_found("operation"))?;
    let mut v = view(op, program.map_or(2, |p| p.rules.decimals));
    v.postings = Some(postings);
    Ok(Json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// Member accounts whose balance differs from their postings or lots: always empty.
    pub mismatched_accounts: Vec<i64>,
}

#[utoipa::path(get, path = "/v1/ledger/audit", responses((status = 200, body = AuditView)))]
pub async fn audit(State(state): State<AppState>) -> ApiResult<Json<AuditView>> {
    let mismatched = state
        .store
        .read(|tx| Box::pin(async move { ledger::audit(tx).await }))
        .await?;
    if !mismatched.is_empty() {
        tracing::error!(accounts = ?mismatched, "ledger audit found mismatched accounts");
    }
    Ok(Json(AuditView {
        mismatched_accounts: mismatched,
    }))
}
