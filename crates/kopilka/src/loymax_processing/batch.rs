//! The Loymax batch balance API (seed 001, "API для пакетного изменения балансов"):
//! `POST /batchoperations/v1/requests` (also `/loytech.batchoperationsservice/api/requests`),
//! authenticated with a partner API key sent as `Authorization: Bearer <key>`.
//!
//! A request may hold a million rows, so it is never held in memory whole: the body is spooled
//! to a temporary file (hashed on the way for the replay check), parsed on a blocking thread by
//! a streaming serde visitor that hands rows over in chunks, each chunk staged by a short write
//! job; one final job applies the request with set-based SQL, all rows or none.

use crate::error::{ApiError, ApiResult};
use crate::secrets;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::loymax_purchase::ProcessingSettings;
use kopilka_domain::money::{format_decimal, parse_decimal};
use kopilka_store::loymax_batch::{BatchApply, BatchOutcome, RejectReason, StagedRow};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use tokio::sync::mpsc;

/// The credential protocol of batch keys; the credential's login is the key's SHA-256.
pub const KEY_PROTOCOL: &str = "loymax_batch";
/// Rows per staging job.
const CHUNK: usize = 10_000;
/// Staged rows cleared per job once a request is answered.
const DISCARD_STEP: i64 = 50_000;
/// Rows at fault listed in an answer.
const ERRORS_SHOWN: usize = 100;
/// The largest body accepted (a million rows take about 200 MB).
const MAX_BODY: u64 = 4 << 30;
const OK_MESSAGE: &str = "Операция выполнена успешно";

/// The seed's answer, plus the rows at fault when a request is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub request_id: Option<String>,
    #[serde(rename = "type")]
    pub request_type: Option<i64>,
    /// 0: applied, 1: refused (nothing applied).
    pub status: u8,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowError {
    /// 1-based position in `accrue`.
    pub row: i64,
    pub member_no: Option<String>,
    pub message: String,
}

struct Refusal {
    http: StatusCode,
    answer: Answer,
}

impl Refusal {
    fn new(http: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            http,
            answer: Answer {
                request_id: None,
                request_type: None,
                status: 1,
                message: message.into(),
                errors: Vec::new(),
            },
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.http, Json(self.answer)).into_response()
    }
}

/// The partner a key belongs to.
struct Partner {
    merchant_id: i64,
    program: kopilka_store::model::Program,
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Partner, Refusal> {
    let unauthorized = || Refusal::new(StatusCode::UNAUTHORIZED, "Неверный ключ API");
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(unauthorized)?;
    let digest = secrets::token_digest(key);
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(credential) = tx.credential(KEY_PROTOCOL, &digest).await? else {
                    return Ok(None);
                };
                let Some(merchant) = tx.merchant(credential.merchant_id).await? else {
                    return Ok(None);
                };
                Ok(tx
                    .program(merchant.program_id)
                    .await?
                    .map(|p| (merchant.id, p)))
            })
        })
        .await
        .map_err(|e| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let (merchant_id, program) = found.ok_or_else(unauthorized)?;
    Ok(Partner {
        merchant_id,
        program,
    })
}

pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match process(state, request).await {
        Ok(answer) => (StatusCode::OK, Json(answer)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn process(state: AppState, request: Request) -> Result<Answer, Refusal> {
    let partner = authenticate(&state, request.headers()).await?;
    let (file, fingerprint) = spool(request.into_body()).await?;
    let rules = partner.program.rules();
    let batch = uuid::Uuid::now_v7().to_string();
    let (sender, mut receiver) = mpsc::channel::<Vec<StagedRow>>(2);
    let (decimals, money_decimals) = (rules.decimals, rules.money_decimals);
    let parser = tokio::task::spawn_blocking(move || parse(file, decimals, money_decimals, sender));
    let mut staged = 0usize;
    let mut staging_error = None;
    let started = std::time::Instant::now();
    while let Some(chunk) = receiver.recv().await {
        staged += chunk.len();
        let (batch, program, currency) =
            (batch.clone(), partner.program.id, rules.currency.clone());
        let result = state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    tx.loymax_batch_stage(&batch, program, &currency, &chunk)
                        .await
                })
            })
            .await;
        if let Err(e) = result {
            staging_error = Some(e);
            break;
        }
    }
    drop(receiver);
    let parsed = parser
        .await
        .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "parser stopped"));
    let outcome = match (staging_error, parsed) {
        (Some(e), _) => Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        (None, Err(r)) => Err(r),
        (None, Ok(Err(message))) => Err(Refusal::new(StatusCode::BAD_REQUEST, message)),
        (None, Ok(Ok(header))) => {
            let staged_in = started.elapsed();
            let outcome = apply(&state, &partner, &batch, header, fingerprint, staged).await;
            tracing::info!(
                rows = staged,
                staged_ms = staged_in.as_millis() as u64,
                applied_ms = (started.elapsed() - staged_in).as_millis() as u64,
                status = outcome.as_ref().map_or(1, |a| a.status),
                "loymax batch request"
            );
            outcome
        }
    };
    if staged > 0 {
        let store = state.store.clone();
        // The answer does not wait for the staging rows to be cleared.
        tokio::spawn(async move {
            loop {
                let batch = batch.clone();
                let result = store
                    .write(move |tx| {
                        Box::pin(async move { tx.loymax_batch_discard(&batch, DISCARD_STEP).await })
                    })
                    .await;
                match result {
                    Ok(n) if n < DISCARD_STEP as u64 => return,
                    Ok(_) => {}
                    Err(e) => return tracing::warn!("clearing staged batch rows failed: {e}"),
                }
            }
        });
    }
    outcome
}

async fn apply(
    state: &AppState,
    partner: &Partner,
    batch: &str,
    header: Parsed,
    fingerprint: String,
    staged: usize,
) -> Result<Answer, Refusal> {
    let refuse = |message: String, errors: Vec<RowError>| Refusal {
        http: StatusCode::OK,
        answer: Answer {
            request_id: header.request_id.clone(),
            request_type: header.request_type,
            status: 1,
            message,
            errors,
        },
    };
    let Some(request_id) = header.request_id.clone().filter(|r| !r.is_empty()) else {
        return Err(refuse("requestId: обязательное поле".into(), Vec::new()));
    };
    let kind = match header.request_type {
        Some(2) => OperationKind::Earn,
        Some(4) => OperationKind::Accrue,
        Some(3) | Some(5) => OperationKind::Withdraw,
        _ => return Err(refuse("type: ожидается 2, 3, 4 или 5".into(), Vec::new())),
    };
    let request_type = header.request_type.unwrap_or_default();
    let rules = partner.program.rules();
    if let Some(currency) = &header.currency {
        if !currency.is_empty() && !currency.eq_ignore_ascii_case(&rules.currency) {
            return Err(refuse(
                format!("currencyExternalId: неизвестная валюта {currency}"),
                Vec::new(),
            ));
        }
    }
    let settings = ProcessingSettings::from_program(&partner.program.settings())
        .map_err(|e| refuse(format!("настройки программы: {e}"), Vec::new()))?;
    let lifetime_days = match header.lifetime.as_deref().filter(|l| !l.is_empty()) {
        None => rules.lifetime_days,
        Some(id) => match settings.lifetimes.get(id) {
            Some(days) => *days,
            None => {
                return Err(refuse(
                    format!("lifeTimeDefinitionExternalId: неизвестное время жизни {id}"),
                    Vec::new(),
                ))
            }
        },
    };
    if header.rows == 0 {
        return Err(refuse("accrue: нет строк".into(), Vec::new()));
    }
    if !header.errors.is_empty() {
        return Err(refuse(
            format!(
                "Строк с ошибками: {}; ничего не применено",
                header.error_count
            ),
            header.errors,
        ));
    }
    let ok = Answer {
        request_id: Some(request_id.clone()),
        request_type: Some(request_type),
        status: 0,
        message: OK_MESSAGE.into(),
        errors: Vec::new(),
    };
    let purpose = if request_type <= 3 {
        "purchase"
    } else {
        "manual"
    };
    let details_prefix = format!(
        "{{\"source\":\"loymax_batch\",\"request_id\":{},\"type\":{request_type},\"purpose\":\"{purpose}\",",
        serde_json::Value::String(request_id.clone())
    );
    let apply = BatchApply {
        batch: batch.to_string(),
        program_id: partner.program.id,
        merchant_id: partner.merchant_id,
        currency: rules.currency.clone(),
        request_id,
        request_type,
        kind,
        expires_at: lifetime_days
            .map(|d| kopilka_store::now_ms() + d as i64 * kopilka_domain::program::MS_PER_DAY),
        description: header.description.clone(),
        details_prefix,
        fingerprint: fingerprint.clone(),
        row_count: staged as i64,
        answer: serde_json::to_string(&ok).expect("answer serializes"),
    };
    let outcome = state
        .store
        .write(move |tx| Box::pin(async move { tx.loymax_batch_apply(&apply).await }))
        .await;
    match outcome {
        Ok(BatchOutcome::Applied) => Ok(ok),
        Ok(BatchOutcome::Replay {
            fingerprint: stored,
            answer,
        }) => {
            if stored != fingerprint {
                return Err(refuse(
                    "requestId уже использован для другого запроса".into(),
                    Vec::new(),
                ));
            }
            serde_json::from_str(&answer)
                .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Ok(BatchOutcome::Rejected(rows)) => {
            let errors: Vec<RowError> = rows
                .into_iter()
                .map(|r| RowError {
                    row: r.seq,
                    member_no: Some(r.member_no),
                    message: match r.reason {
                        RejectReason::UnknownMember => "Участник не найден".into(),
                        RejectReason::NotEnoughPoints => "Недостаточно баллов на счёте".into(),
                    },
                })
                .collect();
            Err(refuse(
                "Есть строки с ошибками; ничего не применено".into(),
                errors,
            ))
        }
        // A race on the request id: the other request applied it; its answer is the one.
        Err(kopilka_store::StoreError::Duplicate(_)) => Err(refuse(
            "requestId обрабатывается другим запросом".into(),
            Vec::new(),
        )),
        Err(e) => Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// Writes the body to an anonymous temporary file, returning it rewound with the body's hash.
async fn spool(body: Body) -> Result<(std::fs::File, String), Refusal> {
    let fail = |e: std::io::Error| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let file = tempfile::tempfile().map_err(fail)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        total += chunk.len() as u64;
        if total > MAX_BODY {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Запрос слишком велик",
            ));
        }
        hasher.update(&chunk);
        writer.write_all(&chunk).map_err(fail)?;
    }
    let mut file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(fail)?;
    Ok((file, hex::encode(hasher.finalize())))
}

/// The request's own fields, known once the whole body is read, and the rows at fault.
#[derive(Debug, Default)]
struct Parsed {
    request_id: Option<String>,
    request_type: Option<i64>,
    description: Option<String>,
    currency: Option<String>,
    lifetime: Option<String>,
    rows: usize,
    errors: Vec<RowError>,
    error_count: usize,
}

/// Parses the spooled body, sending rows in chunks while none is at fault. Returns the
/// request's fields, or the message of a malformed body.
fn parse(
    file: std::fs::File,
    decimals: u8,
    money_decimals: u8,
    sender: mpsc::Sender<Vec<StagedRow>>,
) -> Result<Parsed, String> {
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut rows = RowSink {
        decimals,
        money_decimals,
        sender,
        chunk: Vec::with_capacity(CHUNK),
        parsed: Parsed::default(),
        closed: false,
    };
    serde::Deserializer::deserialize_map(&mut deserializer, RequestVisitor { sink: &mut rows })
        .map_err(|e| format!("Неверный JSON: {e}"))?;
    deserializer
        .end()
        .map_err(|e| format!("Неверный JSON: {e}"))?;
    rows.flush();
    Ok(rows.parsed)
}

struct RowSink {
    decimals: u8,
    money_decimals: u8,
    sender: mpsc::Sender<Vec<StagedRow>>,
    chunk: Vec<StagedRow>,
    parsed: Parsed,
    /// The receiver went away (staging failed): stop sending.
    closed: bool,
}

impl RowSink {
    fn flush(&mut self) {
        if self.chunk.is_empty() || self.closed {
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        if self.sender.blocking_send(chunk).is_err() {
            self.closed = true;
        }
    }

    fn fail(&mut self, row: i64, member_no: Option<String>, message: String) {
        self.parsed.error_count += 1;
        if self.parsed.errors.len() < ERRORS_SHOWN {
            self.parsed.errors.push(RowError {
                row,
                member_no,
                message,
            });
        }
        // Nothing of a request with a bad row is applied: staging more is wasted work.
        self.chunk.clear();
        self.closed = true;
    }

    fn push(&mut self, row: RowIn) {
        self.parsed.rows += 1;
        let seq = self.parsed.rows as i64;
        let member_no = row.member_no.as_deref().map(raw_text);
        let Some(member) = member_no.clone().filter(|m| !m.is_empty()) else {
            return self.fail(seq, None, "memberNo: обязательное поле".into());
        };
        let points = match row.points_amount.as_deref().map(raw_text) {
            None => return self.fail(seq, member_no, "pointsAmount: обязательное поле".into()),
            Some(text) => match parse_decimal(&text, self.decimals) {
                Ok(a) if a.0 > 0 => a.0,
                Ok(_) => {
                    return self.fail(
                        seq,
                        member_no,
                        "pointsAmount: должно быть больше нуля".into(),
                    )
                }
                Err(e) => return self.fail(seq, member_no, format!("pointsAmount: {e}")),
            },
        };
        let transaction_amount = match row.transaction_amount.as_deref().map(raw_text) {
            None => None,
            Some(text) => match parse_decimal(&text, self.money_decimals) {
                Ok(a) if a.0 >= 0 => Some(format_decimal(a, self.money_decimals)),
                Ok(_) => {
                    return self.fail(
                        seq,
                        member_no,
                        "transactionAmount: не может быть отрицательной".into(),
                    )
                }
                Err(e) => return self.fail(seq, member_no, format!("transactionAmount: {e}")),
            },
        };
        if self.closed {
            return;
        }
        let details = serde_json::to_string(&RowDetails {
            member_no: &member,
            operation_date: row.operation_date.as_deref(),
            merchant_name: row.merchant_name.as_deref(),
            transaction_amount,
        })
        .expect("details serialize");
        self.chunk.push(StagedRow {
            seq,
            member_no: member,
            points,
            description: row.description.filter(|d| !d.is_empty()),
            details: details[1..].to_string(),
        });
        if self.chunk.len() >= CHUNK {
            self.flush();
        }
    }
}

#[derive(Serialize)]
struct RowDetails<'a> {
    member_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_amount: Option<String>,
}

/// A number or a string, as written.
fn raw_text(raw: &RawValue) -> String {
    let text = raw.get();
    match serde_json::from_str::<String>(text) {
        Ok(s) => s,
        Err(_) => text.to_string(),
    }
}

#[derive(Deserialize)]
struct RowIn {
    #[serde(rename = "memberNo")]
    member_no: Option<Box<RawValue>>,
    #[serde(rename = "Description", alias = "description")]
    description: Option<String>,
    #[serde(rename = "operationDate")]
    operation_date: Option<String>,
    #[serde(rename = "merchantName")]
    merchant_name: Option<String>,
    #[serde(rename = "transactionAmount")]
    transaction_amount: Option<Box<RawValue>>,
    #[serde(rename = "pointsAmount")]
    points_amount: Option<Box<RawValue>>,
}

struct RequestVisitor<'a> {
    sink: &'a mut RowSink,
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a batch request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "requestId" => {
                    let raw: Box<RawValue> = map.next_value()?;
                    self.sink.parsed.request_id = Some(raw_text(&raw));
                }
                "type" => self.sink.parsed.request_type = map.next_value()?,
                "accrueDescription" => self.sink.parsed.description = map.next_value()?,
                "currencyExternalId" => self.sink.parsed.currency = map.next_value()?,
                "lifeTimeDefinitionExternalId" => self.sink.parsed.lifetime = map.next_value()?,
                "accrue" => map.next_value_seed(RowsSeed {
                    sink: &mut *self.sink,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct RowsSeed<'a> {
    sink: &'a mut RowSink,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<RowIn>()? {
            self.sink.push(row);
        }
        Ok(())
    }
}

/// Creates a batch API key for a merchant (admin): the key is shown once, stored as its SHA-256.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    pub merchant_id: i64,
    /// Generated when absent.
    pub key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: i64,
    pub merchant_id: i64,
    pub key: String,
}

pub async fn create_key(
    State(state): State<AppState>,
    crate::api::JsonBody(input): crate::api::JsonBody<KeyInput>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let key = match input.key {
        Some(k) if k.len() >= 16 && k.len() <= 256 => k,
        Some(_) => return Err(ApiError::invalid("key", "must be 16 to 256 characters")),
        None => secrets::random_token(24),
    };
    let id = add_key(&state.store, input.merchant_id, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyView {
            id,
            merchant_id: input.merchant_id,
            key,
        }),
    ))
}

/// Stores a batch key for a merchant; returns the credential's id.
pub async fn add_key(
    store: &kopilka_store::SharedStore,
    merchant_id: i64,
    key: &str,
) -> ApiResult<i64> {
    let digest = secrets::token_digest(key);
    let credential = store
        .write(move |tx| {
            Box::pin(async move {
                if tx.merchant(merchant_id).await?.is_none() {
                    return Err(kopilka_domain::DomainError::NotFound { entity: "merchant" }.into());
                }
                tx.add_credential(
                    merchant_id,
                    KEY_PROTOCOL,
                    &digest,
                    None,
                    None,
                    &serde_json::json!({}),
                )
                .await
            })
        })
        .await?;
    Ok(credential.id)
}
