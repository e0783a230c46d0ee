//! Exports of admin listings as CSV or XLSX (docs/exports.md), streamed: rows are read by keyset
//! pages and written as they come, so memory does not grow with the rows exported.
//!
//! A listing gives its columns and a function reading one page of [`Cell`]s after a cursor; this
//! module turns them into a response. The first page is read before answering, so a bad filter
//! or a failing store still answers with the native JSON error; a failure later aborts the
//! transfer (the client sees an incomplete download, never a short file that looks whole).

use super::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, TimeZone, Timelike};
use futures::future::BoxFuture;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::money::format_decimal;
use kopilka_domain::Amount;
use kopilka_store::model::Program;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use serde::Deserialize;
use std::io;
use tokio::sync::mpsc;

/// Rows read from the store at a time.
pub const PAGE_ROWS: i64 = 1000;
/// Bytes gathered before they are sent as one chunk of the body.
const CHUNK_BYTES: usize = 64 * 1024;
/// Rows an XLSX worksheet holds (the header included); more continue on another sheet.
const SHEET_ROWS: u32 = 1_048_576;
/// Decimals an amount format is made for; currencies have fewer.
const MAX_DECIMALS: u8 = 8;
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The file format, named by the route (`export.csv`, `export.xlsx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

/// Options every export takes beside its listing's filter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportOptions {
    /// CSV only. `comma` (the default): `,` between fields, a decimal point, no byte-order mark.
    /// `excel-semicolon`: `;` between fields, a decimal comma and a UTF-8 byte-order mark, as
    /// spreadsheets set to Russian or Ukrainian open a file without asking.
    pub dialect: Option<String>,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text; one beginning with `=`, `+`, `-`, `@`, a tab or a CR is neutralised.
    Text(String),
    Integer(i64),
    /// Money or points in minor units: a number with the currency's decimals.
    Amount {
        minor: i64,
        decimals: u8,
    },
    /// Unix milliseconds, shown in `zone`.
    Time {
        ms: i64,
        zone: chrono_tz::Tz,
    },
    Empty,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    pub fn optional<T>(value: Option<T>, cell: impl FnOnce(T) -> Cell) -> Cell {
        value.map_or(Cell::Empty, cell)
    }
}

/// What a listing exports: its name (the file's and the sheet's) and column headers.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// One page of rows and the cursor to read the next after; `None` when it was the last.
pub struct Page {
    pub rows: Vec<Vec<Cell>>,
    pub next: Option<i64>,
}

impl Page {
    /// A page of `rows` read with `PAGE_ROWS` as the limit; `key` is the keyset of a row.
    pub fn of<T>(items: Vec<T>, key: impl Fn(&T) -> i64, row: impl FnMut(T) -> Vec<Cell>) -> Page {
        let next = match items.last() {
            Some(last) if items.len() as i64 == PAGE_ROWS => Some(key(last)),
            _ => None,
        };
        Page {
            rows: items.into_iter().map(row).collect(),
            next,
        }
    }
}

/// Reads the page after a cursor (`None`: from the start).
pub type Pages = Box<dyn FnMut(Option<i64>) -> BoxFuture<'static, ApiResult<Page>> + Send>;

/// Where an export starts: below the listing's `cursor`, like its next page. An export has no
/// pages, so `limit` is refused rather than ignored.
pub fn start(cursor: Option<i64>, limit: Option<i64>) -> ApiResult<Option<i64>> {
    match limit {
        Some(_) => Err(ApiError::invalid(
            "limit",
            "an export takes every row the filter selects; page with the listing instead",
        )),
        None => Ok(cursor),
    }
}

/// How a program's amounts and times read in an export.
#[derive(Debug, Clone)]
pub struct Units {
    pub currency: String,
    pub decimals: u8,
    pub zone: chrono_tz::Tz,
}

impl Units {
    pub fn amount(&self, minor: i64) -> Cell {
        Cell::Amount {
            minor,
            decimals: self.decimals,
        }
    }

    pub fn time(&self, ms: i64) -> Cell {
        Cell::Time {
            ms,
            zone: self.zone,
        }
    }
}

/// Each program's units, read once for an export.
#[derive(Clone)]
pub struct ProgramUnits(std::sync::Arc<std::collections::HashMap<ProgramId, Units>>);

impl ProgramUnits {
    pub fn new(programs: &[Program]) -> ProgramUnits {
        ProgramUnits(std::sync::Arc::new(
            programs
                .iter()
                .map(|p| {
                    let units = Units {
                        currency: p.rules.currency.clone(),
                        decimals: p.rules.decimals,
                        zone: zone(&p.rules.time_zone),
                    };
                    (p.id, units)
                })
                .collect(),
        ))
    }

    /// A program's units; a program made since the export began reads as UTC with two decimals.
    pub fn of(&self, program: ProgramId) -> Units {
        self.0.get(&program).cloned().unwrap_or(Units {
            currency: String::new(),
            decimals: 2,
            zone: chrono_tz::UTC,
        })
    }
}

/// A program's time zone (validated when the program was saved).
pub fn zone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Comma,
    ExcelSemicolon,
}

fn dialect(format: ExportFormat, options: &ExportOptions) -> ApiResult<Dialect> {
    match (format, options.dialect.as_deref()) {
        (_, None) => Ok(Dialect::Comma),
        (ExportFormat::Csv, Some("comma")) => Ok(Dialect::Comma),
        (ExportFormat::Csv, Some("excel-semicolon")) => Ok(Dialect::ExcelSemicolon),
        (ExportFormat::Csv, Some(_)) => {
            Err(ApiError::invalid("dialect", "comma or excel-semicolon"))
        }
        (ExportFormat::Xlsx, Some(_)) => Err(ApiError::invalid("dialect", "only CSV has dialects")),
    }
}

/// The export of `table` as `format`, from the cursor `start`: the first page is read now, the
/// rest while the body is sent.
pub async fn export(
    format: ExportFormat,
    options: &ExportOptions,
    table: Table,
    start: Option<i64>,
    mut pages: Pages,
) -> ApiResult<Response> {
    let dialect = dialect(format, options)?;
    let first = pages(start).await?;
    // A few chunks in flight: the reader waits for a slow client instead of buffering.
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(4);
    let body = Sender(sender);
    let (content_type, extension) = match format {
        ExportFormat::Csv => {
            tokio::spawn(write_csv(body, dialect, table.columns, first, pages));
            ("text/csv; charset=utf-8", "csv")
        }
        ExportFormat::Xlsx => {
            tokio::spawn(write_xlsx(body, table.name, table.columns, first, pages));
            (XLSX, "xlsx")
        }
    };
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{extension}\"", table.name),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The body's sending end; a send fails once the client has gone.
struct Sender(mpsc::Sender<io::Result<Bytes>>);

impl Sender {
    async fn send(&self, chunk: Vec<u8>) -> Result<(), Gone> {
        self.0.send(Ok(chunk.into())).await.map_err(|_| Gone)
    }

    /// The same from a blocking thread.
    fn send_blocking(&self, chunk: Vec<u8>) -> Result<(), Gone> {
        self.0.blocking_send(Ok(chunk.into())).map_err(|_| Gone)
    }

    /// Aborts the body: the client sees the transfer fail.
    async fn abort(&self, error: &ApiError) {
        tracing::warn!(error = %error.message, "export aborted");
        let _ = self.0.send(Err(io::Error::other("export aborted"))).await;
    }
}

struct Gone;

/// Calls `each` with every row of `first` and the pages after it: `Some` when all were written,
/// `None` when the client has gone or an error aborted the body.
async fn each_row(
    body: &Sender,
    first: Page,
    mut pages: Pages,
    mut each: impl FnMut(Vec<Cell>) -> ApiResult<Option<Vec<u8>>>,
) -> Option<()> {
    let mut page = first;
    loop {
        for row in page.rows {
            match each(row) {
                Ok(Some(chunk)) => body.send(chunk).await.ok()?,
                Ok(None) => {}
                Err(error) => {
                    body.abort(&error).await;
                    return None;
                }
            }
        }
        let Some(next) = page.next else {
            return Some(());
        };
        page = match pages(Some(next)).await {
            Ok(page) => page,
            Err(error) => {
                body.abort(&error).await;
                return None;
            }
        };
    }
}

async fn write_csv(
    body: Sender,
    dialect: Dialect,
    columns: &'static [&'static str],
    first: Page,
    pages: Pages,
) {
    let separator = match dialect {
        Dialect::Comma => ',',
        Dialect::ExcelSemicolon => ';',
    };
    let mut out = String::with_capacity(CHUNK_BYTES * 2);
    if dialect == Dialect::ExcelSemicolon {
        out.push('\u{feff}');
    }
    let header: Vec<Cell> = columns.iter().map(|c| Cell::text(*c)).collect();
    csv_row(&mut out, &header, dialect, separator);
    let wrote = each_row(&body, first, pages, |row| {
        csv_row(&mut out, &row, dialect, separator);
        Ok((out.len() >= CHUNK_BYTES).then(|| std::mem::take(&mut out).into_bytes()))
    })
    .await;
    if wrote.is_some() && !out.is_empty() {
        let _ = body.send(out.into_bytes()).await;
    }
}

fn csv_row(out: &mut String, row: &[Cell], dialect: Dialect, separator: char) {
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        match cell {
            Cell::Text(text) => {
                let text = neutralised(text);
                if text.contains([separator, '"', '\n', '\r']) {
                    out.push('"');
                    out.push_str(&text.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(&text);
                }
            }
            Cell::Integer(n) => out.push_str(&n.to_string()),
            Cell::Amount { minor, decimals } => {
                let text = format_decimal(Amount(*minor), *decimals);
                match dialect {
                    Dialect::Comma => out.push_str(&text),
                    Dialect::ExcelSemicolon => out.push_str(&text.replace('.', ",")),
                }
            }
            Cell::Time { ms, zone } => {
                if let Some(at) = local(*ms, *zone) {
                    out.push_str(&at.format("%Y-%m-%d %H:%M:%S").to_string());
                }
            }
            Cell::Empty => {}
        }
    }
    out.push_str("\r\n");
}

/// Text a spreadsheet would read as a formula, starting with `'` so it stays text.
pub fn neutralised(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn local(ms: i64, zone: chrono_tz::Tz) -> Option<chrono::NaiveDateTime> {
    zone.timestamp_millis_opt(ms)
        .single()
        .map(|at| at.naive_local())
}

/// Cell formats of a workbook: amounts by their decimals, dates, the header.
struct Formats {
    header: Format,
    time: Format,
    amounts: Vec<Format>,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            amounts: (0..=MAX_DECIMALS)
                .map(|decimals| {
                    let places = "0".repeat(usize::from(decimals));
                    let pattern = if decimals == 0 {
                        "#,##0".to_string()
                    } else {
                        format!("#,##0.{places}")
                    };
                    Format::new().set_num_format(pattern)
                })
                .collect(),
        }
    }
}

async fn write_xlsx(
    body: Sender,
    name: &'static str,
    columns: &'static [&'static str],
    first: Page,
    pages: Pages,
) {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    let mut sheets = 0;
    let mut row_number = SHEET_ROWS;
    let wrote = each_row(&body, first, pages, |row| {
        if row_number == SHEET_ROWS {
            sheets += 1;
            let sheet = workbook
                .add_worksheet_with_constant_memory()
                .map_err(ApiError::internal)?;
            let sheet_name = match sheets {
                1 => name.to_string(),
                n => format!("{name} {n}"),
            };
            sheet.set_name(sheet_name).map_err(ApiError::internal)?;
            for (c, column) in columns.iter().enumerate() {
                sheet
                    .write_string_with_format(0, c as u16, *column, &formats.header)
                    .map_err(ApiError::internal)?;
            }
            row_number = 1;
        }
        let sheet = workbook
            .worksheet_from_index(sheets - 1)
            .map_err(ApiError::internal)?;
        xlsx_row(sheet, row_number, &row, &formats).map_err(ApiError::internal)?;
        row_number += 1;
        Ok(None)
    })
    .await;
    if wrote.is_none() {
        return;
    }
    if sheets == 0 {
        let sheet = workbook.add_worksheet();
        let _ = sheet.set_name(name);
        for (c, column) in columns.iter().enumerate() {
            let _ = sheet.write_string_with_format(0, c as u16, *column, &formats.header);
        }
    }
    // The sheets' rows wait in temporary files; the ZIP streams out of them into the body.
    let saved = tokio::task::spawn_blocking(move || {
        let mut writer = BodyWriter {
            body: &body,
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        let saved = workbook
            .save_to_writer(&mut writer)
            .and_then(|()| Ok(io::Write::flush(&mut writer)?));
        if let Err(error) = saved {
            // Also when the client has gone; the abort then reaches nobody.
            tracing::warn!(%error, "export aborted");
            let _ = body
                .0
                .blocking_send(Err(io::Error::other("export aborted")));
        }
    })
    .await;
    if let Err(error) = saved {
        tracing::error!(%error, "export: the workbook's writer failed");
    }
}

fn xlsx_row(
    sheet: &mut Worksheet,
    row_number: u32,
    row: &[Cell],
    formats: &Formats,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    for (c, cell) in row.iter().enumerate() {
        let c = c as u16;
        match cell {
            Cell::Text(text) => {
                sheet.write_string(row_number, c, neutralised(text))?;
            }
            Cell::Integer(n) => {
                sheet.write_number(row_number, c, *n as f64)?;
            }
            Cell::Amount { minor, decimals } => {
                // The double nearest the decimal, as a spreadsheet stores "12.34" typed in.
                let value = *minor as f64 / 10f64.powi(i32::from(*decimals));
                let format =
                    &formats.amounts[usize::from(*decimals).min(formats.amounts.len() - 1)];
                sheet.write_number_with_format(row_number, c, value, format)?;
            }
            Cell::Time { ms, zone } => {
                if let Some(at) = local(*ms, *zone) {
                    let date = ExcelDateTime::from_ymd(
                        at.year() as u16,
                        at.month() as u8,
                        at.day() as u8,
                    )?
                    .and_hms_milli(
                        at.hour() as u16,
                        at.minute() as u8,
                        at.second() as u8,
                        (at.nanosecond() / 1_000_000).min(999) as u16,
                    )?;
                    sheet.write_datetime_with_format(row_number, c, &date, &formats.time)?;
                }
            }
            Cell::Empty => {}
        }
    }
    Ok(())
}

/// The workbook's ZIP written into the body from a blocking thread, a chunk at a time.
struct BodyWriter<'a> {
    body: &'a Sender,
    buffer: Vec<u8>,
}

impl io::Write for BodyWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.body
            .send_blocking(chunk)
            .map_err(|Gone| io::Error::new(io::ErrorKind::BrokenPipe, "the client has gone"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for text in ["=1+2", "+7", "-3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(text), format!("'{text}"));
        }
        assert_eq!(neutralised("plain -x"), "plain -x");
    }

    #[test]
    fn csv_dialects_write_amounts_and_quotes() {
        let utc = chrono_tz::UTC;
        let row = [
            Cell::text("a;b"),
            Cell::Amount {
                minor: -1250,
                decimals: 2,
            },
            Cell::Time { ms: 0, zone: utc },
            Cell::Empty,
        ];
        let mut comma = String::new();
        csv_row(&mut comma, &row, Dialect::Comma, ',');
        assert_eq!(comma, "a;b,-12.50,1970-01-01 00:00:00,\r\n");
        let mut semicolon = String::new();
        csv_row(&mut semicolon, &row, Dialect::ExcelSemicolon, ';');
        assert_eq!(semicolon, "\"a;b\";-12,50;1970-01-01 00:00:00;\r\n");
    }
}
