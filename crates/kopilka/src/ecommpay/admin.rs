//! Admin API under `/v1/ecommpay`: projects, CashtoCode terminals, payments and their exports.

use crate::http::export::{self, Cell, ExportFormat, ExportOptions, Page, Table};
use crate::http::{instant_range, ApiError, ApiResult};
use crate::http::{ErrorBody, Id, JsonBody, PageOf, Paging, QueryParams};
use crate::outbox::MessageView;
use crate::secrets;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use kopilka_domain::ecommpay::{self as domain, PaymentStatus};
use kopilka_domain::ids::MerchantId;
use kopilka_store::ecommpay::{
    CashPayment, CashPaymentFilter, EcommpayProject, PaymentHistoryEntry, ProjectSettings,
};
use kopilka_store::{StoreResult, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The admin routes, each with its documentation; the server adds them to the
/// admin API, which protects them.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project))
        .routes(routes!(rotate_secret))
        .routes(routes!(disable_project))
        .routes(routes!(create_terminal))
        .routes(routes!(list_payments))
        .routes(routes!(export_csv))
        .routes(routes!(export_xlsx))
        .routes(routes!(get_payment))
        .routes(routes!(payment_callbacks))
}

/// Default lifetime of a CashtoCode code: 7 days.
const DEFAULT_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    /// The `project_id` merchants sign with; the next free one when absent (create only).
    project_id: Option<i64>,
    merchant_id: i64,
    name: String,
    callback_url: Option<String>,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    return_hosts: Vec<String>,
    voucher_ttl_secs: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    project_id: i64,
    merchant_id: i64,
    name: String,
    callback_url: Option<String>,
    methods: Vec<String>,
    return_hosts: Vec<String>,
    voucher_ttl_secs: i64,
    created_at: i64,
    /// When it was disabled: the Gate and the Payment Page answer it as an unknown project.
    disabled_at: Option<i64>,
    /// Only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<EcommpayProject> for ProjectView {
    fn from(p: EcommpayProject) -> Self {
        ProjectView {
            project_id: p.id,
            merchant_id: p.merchant_id.0,
            methods: p.methods.clone(),
            return_hosts: p.return_hosts.clone(),
            name: p.name,
            callback_url: p.callback_url,
            voucher_ttl_secs: p.voucher_ttl_secs,
            created_at: p.created_at,
            disabled_at: p.disabled_at,
            secret: None,
        }
    }
}

/// Validates a project's settings; a callback URL is http(s) or a path on this kopilka.
pub(crate) fn settings(input: &ProjectInput) -> ApiResult<ProjectSettings> {
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if let Some(url) = &input.callback_url {
        if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/')) {
            return Err(ApiError::invalid("callback_url", "must be an http(s) URL"));
        }
    }
    let methods = input
        .methods
        .clone()
        .unwrap_or_else(|| vec![domain::CASHTOCODE.to_string()]);
    if let Some(m) = methods.iter().find(|m| m.as_str() != domain::CASHTOCODE) {
        return Err(ApiError::invalid(
            "methods",
            format!("unknown method {m}; kopilka offers cashtocode"),
        ));
    }
    let ttl = input.voucher_ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=90 * 24 * 3600).contains(&ttl) {
        return Err(ApiError::invalid(
            "voucher_ttl_secs",
            "between 1 second and 90 days",
        ));
    }
    Ok(ProjectSettings {
        merchant_id: MerchantId(input.merchant_id),
        name: input.name.trim().to_string(),
        callback_url: input.callback_url.clone(),
        methods,
        return_hosts: input.return_hosts.clone(),
        voucher_ttl_secs: ttl,
    })
}

/// The project's merchant must exist.
async fn merchant_exists(tx: &mut Tx, settings: &ProjectSettings) -> StoreResult<()> {
    match tx.merchant(settings.merchant_id).await? {
        Some(_) => Ok(()),
        None => Err(kopilka_domain::DomainError::NotFound { entity: "merchant" }.into()),
    }
}

#[utoipa::path(post, path = "/v1/ecommpay/projects", request_body = ProjectInput, responses((status = 201, description = "The project with its secret, shown this once", body = ProjectView), (status = 404, description = "No such merchant", body = ErrorBody), (status = 409, description = "The project_id is taken", body = ErrorBody)))]
async fn create_project(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<ProjectInput>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    let settings = settings(&input)?;
    if input.project_id.is_some_and(|id| id <= 0) {
        return Err(ApiError::invalid(
            "project_id",
            "must be a positive integer",
        ));
    }
    let secret = secrets::random_token(24);
    let sealed = state.sealer.seal(&secret);
    let requested = input.project_id;
    let project = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                merchant_exists(tx, &settings).await?;
                if let Some(id) = requested {
                    if tx.ecommpay_project(id).await?.is_some() {
                        return Err(kopilka_domain::DomainError::AlreadyExists {
                            entity: "project",
                        }
                        .into());
                    }
                }
                tx.create_ecommpay_project(requested, &settings, &sealed)
                    .await
            })
        })
        .await?;
    let mut view = ProjectView::from(project);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/ecommpay/projects", responses((status = 200, body = [ProjectView])))]
async fn list_projects(State(state): State<AppState>) -> ApiResult<Json<Vec<ProjectView>>> {
    let projects = state
        .store
        .read(|tx| Box::pin(async move { tx.ecommpay_projects().await }))
        .await?;
    Ok(Json(projects.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/v1/ecommpay/projects/{id}", params(("id" = i64, Path, description = "The project_id")), responses((status = 200, body = ProjectView)))]
async fn get_project(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<ProjectView>> {
    let project = state
        .store
        .read(move |tx| Box::pin(async move { tx.ecommpay_project(id).await }))
        .await?;
    Ok(Json(
        project
            .ok_or_else(|| ApiError::not_found("project"))?
            .into(),
    ))
}

#[utoipa::path(put, path = "/v1/ecommpay/projects/{id}", params(("id" = i64, Path, description = "The project_id")), request_body = ProjectInput, responses((status = 200, body = ProjectView)))]
async fn update_project(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<ProjectInput>,
) -> ApiResult<Json<ProjectView>> {
    let settings = settings(&input)?;
    let project = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                merchant_exists(tx, &settings).await?;
                tx.update_ecommpay_project(id, &settings).await
            })
        })
        .await?;
    Ok(Json(
        project
            .ok_or_else(|| ApiError::not_found("project"))?
            .into(),
    ))
}

/// Issues a new secret; the old one stops working at once. A disabled project keeps none.
#[utoipa::path(post, path = "/v1/ecommpay/projects/{id}/secret", params(("id" = i64, Path, description = "The project_id")), responses((status = 200, description = "The project with its new secret, shown this once", body = ProjectView), (status = 409, description = "The project is disabled", body = ErrorBody)))]
async fn rotate_secret(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<ProjectView>> {
    let secret = secrets::random_token(24);
    let sealed = state.sealer.seal(&secret);
    let project = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let project = tx.ecommpay_project(id).await?;
                if project.as_ref().is_some_and(|p| p.disabled_at.is_none()) {
                    tx.set_ecommpay_secret(id, &sealed).await?;
                }
                Ok(project)
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    if project.disabled_at.is_some() {
        return Err(disabled());
    }
    let mut view = ProjectView::from(project);
    view.secret = Some(secret);
    Ok(Json(view))
}

fn disabled() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "disabled", "the project is disabled")
}

/// Disables the project for good: the Gate and the Payment Page answer it as an unknown
/// project from now on; its payments stay.
#[utoipa::path(post, path = "/v1/ecommpay/projects/{id}/disable", params(("id" = i64, Path, description = "The project_id")), responses((status = 200, description = "The project, disabled", body = ProjectView), (status = 404, body = ErrorBody)))]
async fn disable_project(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<ProjectView>> {
    let project = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.disable_ecommpay_project(id).await?;
                tx.ecommpay_project(id).await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(Json(project.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalInput {
    terminal_id: Option<String>,
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TerminalView {
    terminal_id: String,
    terminal_key: String,
}

/// A CashtoCode terminal; its key is shown this once.
#[utoipa::path(post, path = "/v1/ecommpay/terminals", request_body = TerminalInput, responses((status = 201, body = TerminalView), (status = 409, description = "The terminal_id is taken", body = ErrorBody)))]
async fn create_terminal(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<TerminalInput>,
) -> ApiResult<(StatusCode, Json<TerminalView>)> {
    let id = input
        .terminal_id
        .unwrap_or_else(|| format!("T{}", secrets::random_token(6)));
    if id.trim().is_empty() || id.len() > 64 {
        return Err(ApiError::invalid("terminal_id", "1 to 64 characters"));
    }
    let key = secrets::random_token(24);
    let (digest, name, tid) = (secrets::token_digest(&key), input.name, id.clone());
    state
        .store
        .write(move |tx| {
            Box::pin(async move { tx.create_cash_terminal(&tid, &name, &digest).await })
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TerminalView {
            terminal_id: id,
            terminal_key: key,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    project_id: Option<i64>,
    status: Option<String>,
    payment_id: Option<String>,
    /// Created at or after this instant (RFC 3339, `2026-12-01T00:00:00+02:00`).
    from: Option<String>,
    /// Created before this instant (RFC 3339): `from` and `to` make a half-open range.
    to: Option<String>,
    cursor: Option<i64>,
    limit: Option<i64>,
}

impl PaymentQuery {
    fn filter(&self, limit: i64) -> ApiResult<CashPaymentFilter> {
        if self
            .status
            .as_deref()
            .is_some_and(|s| PaymentStatus::parse(s).is_none())
        {
            return Err(ApiError::invalid(
                "status",
                "processing, awaiting redirect result, success or decline",
            ));
        }
        let (created_from, created_to) = instant_range(self.from.as_deref(), self.to.as_deref())?;
        Ok(CashPaymentFilter {
            project_id: self.project_id,
            status: self.status.clone(),
            payment_id: self.payment_id.clone(),
            created_from,
            created_to,
            before_id: self.cursor,
            limit,
        })
    }
}

/// A CashtoCode payment: its row's fields, the customer as the merchant sent it, and (for one
/// payment) its status history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    payment: CashPayment,
    #[schema(value_type = Object)]
    customer: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    history: Option<Vec<PaymentHistoryEntry>>,
}

impl From<CashPayment> for PaymentView {
    fn from(p: CashPayment) -> Self {
        PaymentView {
            customer: Value::Object(p.customer.clone()),
            payment: p,
            history: None,
        }
    }
}

#[utoipa::path(get, path = "/v1/ecommpay/payments", params(PaymentQuery), responses((status = 200, body = PageOf<PaymentView>)))]
async fn list_payments(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PaymentQuery>,
) -> ApiResult<Json<PageOf<PaymentView>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let filter = query.filter(limit)?;
    let payments = state
        .store
        .read(move |tx| Box::pin(async move { tx.cash_payments(&filter).await }))
        .await?;
    let views: Vec<PaymentView> = payments.into_iter().map(Into::into).collect();
    Ok(Json(PageOf::new(views, limit, |v| v.payment.id)))
}

/// A payment with its status history.
#[utoipa::path(get, path = "/v1/ecommpay/payments/{id}", responses((status = 200, body = PaymentView)))]
async fn get_payment(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<PaymentView>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(p) = tx.cash_payment_row(id, false).await? else {
                    return Ok(None);
                };
                let history = tx.cash_payment_history(id).await?;
                Ok(Some((p, history)))
            })
        })
        .await?;
    let (payment, history) = found.ok_or_else(|| ApiError::not_found("payment"))?;
    let mut view = PaymentView::from(payment);
    view.history = Some(history);
    Ok(Json(view))
}

/// The most callbacks a payment's listing shows; a payment sends one per final state.
const CALLBACKS_MAX: i64 = 100;

/// The callbacks sent to the shop about a payment (one per status it reported), oldest first,
/// each with every delivery attempt. A payment posts nothing to the points ledger (cash is
/// not points: docs/ecommpay.md), so these are all it caused beyond its own rows.
#[utoipa::path(get, path = "/v1/ecommpay/payments/{id}/callbacks", responses((status = 200, body = [MessageView]), (status = 404, body = ErrorBody)))]
async fn payment_callbacks(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<MessageView>>> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                if tx.cash_payment_row(id, false).await?.is_none() {
                    return Ok(None);
                }
                let subject = super::callback_subject(id);
                let mut callbacks = Vec::new();
                for message in tx.messages_of_subject(&subject, CALLBACKS_MAX).await? {
                    let attempts = tx.message_attempts(message.id).await?;
                    callbacks.push((message, attempts));
                }
                Ok(Some(callbacks))
            })
        })
        .await?;
    let callbacks = found.ok_or_else(|| ApiError::not_found("payment"))?;
    Ok(Json(
        callbacks
            .into_iter()
            .map(|(message, attempts)| MessageView::with_attempts(message, attempts))
            .collect(),
    ))
}

const EXPORT: Table = Table {
    name: "payments",
    columns: &[
        "id",
        "project_id",
        "payment_id",
        "operation_id",
        "interface",
        "method",
        "status",
        "code",
        "message",
        "amount",
        "currency",
        "customer_id",
        "created",
        "updated",
    ],
};

/// The payments the listing's filter selects, newest first; times in the time zone of the
/// project's merchant's program.
async fn export(
    state: AppState,
    query: PaymentQuery,
    options: ExportOptions,
    format: ExportFormat,
) -> ApiResult<Response> {
    let filter = query.filter(export::PAGE_ROWS)?;
    let start = export::start(query.cursor, query.limit)?;
    let (projects, merchants, programs) = state
        .store
        .read(|tx| {
            Box::pin(async move {
                Ok((
                    tx.ecommpay_projects().await?,
                    tx.merchants(None).await?,
                    tx.programs().await?,
                ))
            })
        })
        .await?;
    let units = export::ProgramUnits::new(&programs);
    let zones: Arc<HashMap<i64, chrono_tz::Tz>> = Arc::new(
        projects
            .iter()
            .filter_map(|project| {
                let merchant = merchants.iter().find(|m| m.id == project.merchant_id)?;
                Some((project.id, units.of(merchant.program_id).zone))
            })
            .collect(),
    );
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, zones) = (state.clone(), zones.clone());
        let mut filter = filter.clone();
        filter.before_id = cursor;
        Box::pin(async move {
            let payments = state
                .store
                .read(move |tx| Box::pin(async move { tx.cash_payments(&filter).await }))
                .await?;
            Ok(Page::of(
                payments,
                |p| p.id,
                |p| {
                    let zone = zones.get(&p.project_id).copied().unwrap_or(chrono_tz::UTC);
                    let customer_id = p.customer.get("id").and_then(Value::as_str);
                    vec![
                        Cell::Integer(p.id),
                        Cell::Integer(p.project_id),
                        Cell::Text(p.payment_id.clone()),
                        Cell::Integer(p.operation_id.0),
                        Cell::Text(p.interface.clone()),
                        Cell::Text(p.method.clone()),
                        Cell::text(p.status.to_string()),
                        Cell::Text(p.code.clone()),
                        Cell::Text(p.message.clone()),
                        // ECommPay amounts are in cents.
                        Cell::Amount {
                            minor: p.amount,
                            decimals: 2,
                        },
                        Cell::Text(p.currency.clone()),
                        Cell::optional(customer_id, Cell::text),
                        Cell::Time {
                            ms: p.created_at,
                            zone,
                        },
                        Cell::Time {
                            ms: p.updated_at,
                            zone,
                        },
                    ]
                },
            ))
        })
    });
    export::export(format, &options, EXPORT, start, pages).await
}

/// The payments the filter selects, as CSV (docs/exports.md).
#[utoipa::path(get, path = "/v1/ecommpay/payments/export.csv", params(PaymentQuery, ExportOptions), responses((status = 200, description = "CSV, one payment a row", content_type = "text/csv", body = String)))]
async fn export_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PaymentQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<Response> {
    export(state, query, options, ExportFormat::Csv).await
}

/// The payments the filter selects, as an XLSX workbook (docs/exports.md).
#[utoipa::path(get, path = "/v1/ecommpay/payments/export.xlsx", params(PaymentQuery, ExportOptions), responses((status = 200, description = "An XLSX workbook, one payment a row", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String)))]
async fn export_xlsx(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PaymentQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<Response> {
    export(state, query, options, ExportFormat::Xlsx).await
}
