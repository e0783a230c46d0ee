//! Admin API under `/v1/ecommpay`: projects, CashtoCode terminals, payments and their exports.

use super::euros;
use super::wire::wire_date;
use crate::http::{admin_routes, Id, JsonBody, PageOf, Paging, QueryParams};
use crate::http::{ApiError, ApiResult};
use crate::secrets;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kopilka_domain::ecommpay::{self as domain, PaymentStatus};
use kopilka_domain::ids::MerchantId;
use kopilka_store::ecommpay::{
    CashPayment, CashPaymentFilter, EcommpayProject, PaymentHistoryEntry, ProjectSettings,
};
use kopilka_store::{StoreResult, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub fn router(state: AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{id}", get(get_project).put(update_project))
        .route("/projects/{id}/secret", post(rotate_secret))
        .route("/terminals", post(create_terminal))
        .route("/payments", get(list_payments))
        .route("/payments/export.csv", get(export_csv))
        .route("/payments/export.xlsx", get(export_xlsx))
        .route("/payments/{id}", get(get_payment));
    admin_routes(routes, state)
}

/// Default lifetime of a CashtoCode code: 7 days.
const DEFAULT_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Deserialize)]
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

#[derive(Serialize)]
pub struct ProjectView {
    project_id: i64,
    merchant_id: i64,
    name: String,
    callback_url: Option<String>,
    methods: Vec<String>,
    return_hosts: Vec<String>,
    voucher_ttl_secs: i64,
    created_at: i64,
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

async fn list_projects(State(state): State<AppState>) -> ApiResult<Json<Vec<ProjectView>>> {
    let projects = state
        .store
        .read(|tx| Box::pin(async move { tx.ecommpay_projects().await }))
        .await?;
    Ok(Json(projects.into_iter().map(Into::into).collect()))
}

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

async fn rotate_secret(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<ProjectView>> {
    let secret = secrets::random_token(24);
    let sealed = state.sealer.seal(&secret);
    let project = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.set_ecommpay_secret(id, &sealed).await?;
                tx.ecommpay_project(id).await
            })
        })
        .await?;
    let mut view = ProjectView::from(project.ok_or_else(|| ApiError::not_found("project"))?);
    view.secret = Some(secret);
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalInput {
    terminal_id: Option<String>,
    name: String,
}

async fn create_terminal(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<TerminalInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
        Json(serde_json::json!({"terminal_id": id, "terminal_key": key})),
    ))
}

#[derive(Deserialize)]
pub struct PaymentQuery {
    project_id: Option<i64>,
    status: Option<String>,
    payment_id: Option<String>,
    /// Created at or after (unix ms).
    from: Option<i64>,
    /// Created before (unix ms).
    to: Option<i64>,
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
        Ok(CashPaymentFilter {
            project_id: self.project_id,
            status: self.status.clone(),
            payment_id: self.payment_id.clone(),
            created_from: self.from,
            created_to: self.to,
            before_id: self.cursor,
            limit,
        })
    }
}

#[derive(Serialize)]
pub struct PaymentView {
    #[serde(flatten)]
    payment: CashPayment,
    customer: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
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

const COLUMNS: [&str; 14] = [
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
];

fn row(p: &CashPayment) -> [String; 14] {
    [
        p.id.to_string(),
        p.project_id.to_string(),
        p.payment_id.clone(),
        p.operation_id.to_string(),
        p.interface.clone(),
        p.method.clone(),
        p.status.to_string(),
        p.code.clone(),
        p.message.clone(),
        euros(p.amount),
        p.currency.clone(),
        p.customer
            .clone()
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        wire_date(p.created_at),
        wire_date(p.updated_at),
    ]
}

/// Calls `each` with every payment matching the query, page by page, newest first.
async fn for_each_payment(
    state: &AppState,
    query: &PaymentQuery,
    mut each: impl FnMut(&CashPayment) -> ApiResult<()>,
) -> ApiResult<()> {
    let mut filter = query.filter(500)?;
    loop {
        let page_filter = filter.clone();
        let page = state
            .store
            .read(move |tx| Box::pin(async move { tx.cash_payments(&page_filter).await }))
            .await?;
        for p in &page {
            each(p)?;
        }
        match page.last() {
            Some(last) if page.len() == 500 => filter.before_id = Some(last.id),
            _ => return Ok(()),
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

async fn export_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PaymentQuery>,
) -> ApiResult<Response> {
    let mut out = COLUMNS.join(",") + "\r\n";
    for_each_payment(&state, &query, |p| {
        out.push_str(
            &row(p)
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
        Ok(())
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

async fn export_xlsx(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PaymentQuery>,
) -> ApiResult<Response> {
    use rust_xlsxwriter::Workbook;
    let mut workbook = Workbook::new();
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(ApiError::internal)?;
    sheet.set_name("Payments").map_err(ApiError::internal)?;
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet
            .write_string(0, c as u16, *name)
            .map_err(ApiError::internal)?;
    }
    let mut r = 0u32;
    for_each_payment(&state, &query, |p| {
        r += 1;
        for (c, value) in row(p).iter().enumerate() {
            sheet
                .write_string(r, c as u16, value)
                .map_err(ApiError::internal)?;
        }
        Ok(())
    })
    .await?;
    let bytes = workbook.save_to_buffer().map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
