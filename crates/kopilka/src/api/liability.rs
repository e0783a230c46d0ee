//! `GET /v1/programs/{id}/liability/export.{csv,xlsx}`: what the program owes, lot by lot —
//! each customer's open lots with the points remaining, when they were earned and when they
//! expire, and their value in money (docs/exports.md).

use crate::http::export::{self, Cell, ExportFormat, ExportOptions, Page, Table};
use crate::http::{ApiError, ApiResult, Id, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use kopilka_domain::analytics::PointValue;
use kopilka_domain::ids::ProgramId;

const EXPORT: Table = Table {
    name: "liability",
    columns: &[
        "lot_id",
        "customer_id",
        "member_no",
        "earned_at",
        "expires_at",
        "earned",
        "remaining",
        "currency",
        "remaining_value",
        "origin_operation_id",
    ],
};

async fn export(
    state: AppState,
    id: i64,
    options: ExportOptions,
    format: ExportFormat,
) -> ApiResult<Response> {
    let program = ProgramId(id);
    let found = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(program).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    let point_value = PointValue::from_settings(&found.settings)?;
    let units = export::ProgramUnits::new(std::slice::from_ref(&found)).of(program);
    let money_decimals = found.rules.money_decimals;
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, units) = (state.clone(), units.clone());
        Box::pin(async move {
            let lots = state
                .store
                .read(move |tx| {
                    Box::pin(
                        async move { tx.liability_lots(program, cursor, export::PAGE_ROWS).await },
                    )
                })
                .await?;
            Ok(Page::of(
                lots,
                |lot| lot.id,
                |lot| {
                    vec![
                        Cell::Integer(lot.id),
                        Cell::Integer(lot.customer_id.0),
                        Cell::Text(lot.member_no),
                        units.time(lot.created_at),
                        Cell::optional(lot.expires_at, |at| units.time(at)),
                        units.amount(lot.amount),
                        units.amount(lot.remaining),
                        Cell::Text(units.currency.clone()),
                        Cell::optional(point_value, |value| Cell::Amount {
                            minor: value.money(lot.remaining),
                            decimals: money_decimals,
                        }),
                        Cell::Integer(lot.origin.0),
                    ]
                },
            ))
        })
    });
    export::export(format, &options, EXPORT, None, pages).await
}

/// CSV of the program's open lots: its liability per customer and expiry.
#[utoipa::path(get, path = "/v1/programs/{id}/liability/export.csv",
    params(("id" = i64, Path, description = "The program's id"), ExportOptions),
    responses((status = 200, description = "CSV, one open lot a row", content_type = "text/csv", body = String)))]
pub async fn liability_csv(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<Response> {
    export(state, id, options, ExportFormat::Csv).await
}

/// XLSX of the program's open lots: its liability per customer and expiry.
#[utoipa::path(get, path = "/v1/programs/{id}/liability/export.xlsx",
    params(("id" = i64, Path, description = "The program's id"), ExportOptions),
    responses((status = 200, description = "An XLSX workbook, one open lot a row", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String)))]
pub async fn liability_xlsx(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<Response> {
    export(state, id, options, ExportFormat::Xlsx).await
}
