//! The Loymax batch balance API (seed 001, "API для пакетного изменения балансов"):
//! `POST /batchoperations/v1/requests` (also `/loytech.batchoperationsservice/api/requests`),
//! authenticated with a partner API key sent as `Authorization: Bearer <key>`.
//!
//! A request may hold a million rows, so it is never held in memory whole: the body is spooled
//! to a temporary file (hashed on the way for the replay check) and, as it is spooled, parsed
//! on a blocking thread by a streaming serde visitor that hands rows over in chunks to one
//! store job, which writes them as they come and commits all rows or none — only once the
//! whole body was spooled and read. The header goes to the store job when `accrue` begins; a
//! body whose header comes after `accrue` is read twice (the second time from the file).

use super::texts::Texts;
use crate::http::credentials::{self, Proof};
use crate::http::{ApiError, ApiResult};
use crate::secrets;
use crate::state::AppState;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use kopilka_domain::ids::MerchantId;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::loymax_purchase::ProcessingSettings;
use kopilka_domain::money::{format_decimal, parse_decimal};
use kopilka_store::loymax_batch::{
    BatchApply, BatchInput, BatchOutcome, BatchRow, RejectReason, RejectedRow,
};
use kopilka_store::{JobError, StoreError, StoreKind};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The credential protocol of batch keys; the credential's login is the key's SHA-256.
pub const KEY_PROTOCOL: &str = "loymax_batch";
/// Rows per chunk sent to the store job.
const CHUNK: usize = 5_000;
/// Pieces of the body the spooler may be ahead of its first reading.
const SPOOLED_AHEAD: usize = 64;
/// Rows at fault listed in an answer.
const ERRORS_SHOWN: usize = 100;
/// The largest body accepted (a million rows take about 200 MB).
const MAX_BODY: u64 = 4 << 30;
/// The longest texts, in characters (docs/loymax-processing.md).
const MAX_REQUEST_ID: usize = 100;
const MAX_DESCRIPTION: usize = 1_000;
const MAX_EXTERNAL_ID: usize = 100;
const MAX_MEMBER_NO: usize = 64;
const MAX_OPERATION_DATE: usize = 64;
const MAX_MERCHANT_NAME: usize = 255;
/// The longest single JSON token (a string as written, escapes included, or a number) the
/// spooler lets through to the parser, which holds one token in memory at a time: every text
/// field fits in it, so the field's own limit names the field; a longer token is refused while
/// the body is spooled, named by its row and field, before anything holds it.
const MAX_TOKEN: usize = 16 * 1024;

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

impl Refusal {
    /// A system failure: HTTP 500, the cause in the log under an error id the answer gives.
    fn system(cause: impl std::fmt::Display) -> Refusal {
        let id = uuid::Uuid::new_v4().simple().to_string();
        tracing::error!(error_id = %id, "loymax batch: {cause}");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Системная ошибка. Идентификатор ошибки: {id}"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // The batch API answers by HTTP status alone.
        crate::observability::record_refusal("loymax", format!("batch_{}", self.http.as_u16()));
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
    let logins = vec![secrets::token_digest(key)];
    // A key is found by its digest: nothing to throttle, no address needed.
    let found = credentials::authenticate(&state.store, KEY_PROTOCOL, logins, Proof::KeyDigest, "")
        .await
        .map_err(|e| Refusal::system(e.to_string()))?;
    let holder = found.map_err(|_| unauthorized())?;
    Ok(Partner {
        merchant_id: holder.merchant.id.0,
        program: holder.program,
    })
}

pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match process(state, request).await {
        Ok(answer) => (StatusCode::OK, Json(answer)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// Any method but POST, in the batch API's answer (the route is outside the edge, which
/// rewords the framework's bare 405 elsewhere).
pub async fn wrong_method() -> Response {
    let message = "Запрос отправляется методом POST";
    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, message).into_response()
}

async fn process(state: AppState, request: Request) -> Result<Answer, Refusal> {
    let partner = authenticate(&state, request.headers()).await?;
    let rules = &partner.program.rules;
    let reading = Reading {
        decimals: rules.decimals,
        money_decimals: rules.money_decimals,
        t: Texts::of(rules),
    };
    let fingerprint = Arc::new(OnceLock::new());
    let (chunks_in, chunks_out) = mpsc::channel(SPOOLED_AHEAD);
    let spooler = tokio::spawn(spool(
        request.into_body(),
        reading.t,
        chunks_in,
        fingerprint.clone(),
    ));
    let started = std::time::Instant::now();
    // On PostgreSQL the first reading takes the body's bytes as the spooler writes them, so
    // the rows are applied while the body still arrives: the job holds its members' accounts
    // meanwhile, no more. On SQLite the job holds the only writer: the body is spooled whole
    // first, so no slow upload keeps every other write waiting.
    let first = match state.store.kind() {
        StoreKind::Postgres => {
            let handed = Handed {
                chunks: chunks_out,
                current: Bytes::new(),
                fingerprint: fingerprint.clone(),
            };
            Some(read_and_apply(&state, &partner, reading, handed, None, &fingerprint).await)
        }
        StoreKind::Sqlite => {
            drop(chunks_out);
            None
        }
    };
    // The spooler's refusals (too large, a token too long) come first, as when the body was
    // spooled whole before its reading: nothing was applied then (the reading saw no end).
    let file = spooler
        .await
        .map_err(|_| Refusal::system("spooler stopped"))??;
    let mut done = match first {
        Some(first) => first?,
        None => {
            read_and_apply(
                &state,
                &partner,
                reading,
                from_start(&file)?,
                None,
                &fingerprint,
            )
            .await?
        }
    };
    let fingerprint = fingerprint
        .get()
        .cloned()
        .ok_or_else(|| Refusal::system("the body spooled without a fingerprint"))?;
    // The rows are read under the header seen before `accrue`; read again when the header
    // came (or changed) after it.
    let spooled = Arc::new(OnceLock::from(fingerprint.clone()));
    let (announced, applied, pass) = loop {
        match done {
            (_, _, Pass::Again(header)) => {
                done = read_and_apply(
                    &state,
                    &partner,
                    reading,
                    from_start(&file)?,
                    Some(header),
                    &spooled,
                )
                .await?;
            }
            read => break read,
        }
    };
    let answer = match pass {
        Pass::Again(_) => unreachable!("read again above"),
        Pass::Malformed(message) => Err(Refusal::new(StatusCode::BAD_REQUEST, message)),
        Pass::Stopped => answer(&partner, None, announced, &fingerprint, applied),
        Pass::Streamed(read) => answer(&partner, Some(read), announced, &fingerprint, applied),
    };
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        status = answer.as_ref().map_or(1, |a| a.status),
        "loymax batch request"
    );
    answer
}

/// The spooled body from its start, for a reading of it.
fn from_start(file: &std::fs::File) -> Result<std::fs::File, Refusal> {
    let mut again = file.try_clone().map_err(Refusal::system)?;
    again.seek(SeekFrom::Start(0)).map_err(Refusal::system)?;
    Ok(again)
}

/// What one reading gives: the header the store job ran under, what the store job did (`None`
/// when it never ran) and how the reading went.
type ReadingDone = (
    Option<Header>,
    Option<Result<BatchOutcome, JobError<Vec<RejectedRow>>>>,
    Pass,
);

/// Reads the body once from `source` (under `known`, when given) and runs the store job the
/// rows go to once the header is known.
async fn read_and_apply(
    state: &AppState,
    partner: &Partner,
    reading: Reading,
    source: impl std::io::Read + Send + 'static,
    known: Option<Header>,
    fingerprint: &Arc<OnceLock<String>>,
) -> Result<ReadingDone, Refusal> {
    let (header_in, header_out) = oneshot::channel();
    let (rows_in, mut rows_out) = mpsc::channel::<BatchInput>(2);
    let fingerprint = fingerprint.clone();
    let parser = tokio::task::spawn_blocking(move || {
        parse(source, reading, known, header_in, rows_in, fingerprint)
    });
    let mut announced = None;
    let applied = match header_out.await {
        Ok(header) => {
            let (apply, _) = store_request(partner, &header)?;
            announced = Some(header);
            Some(
                state
                    .store
                    .write_bulk_refusing(move |tx| {
                        Box::pin(async move { tx.loymax_batch_apply(&apply, &mut rows_out).await })
                    })
                    .await,
            )
        }
        Err(_) => None,
    };
    let pass = parser
        .await
        .map_err(|_| Refusal::system("parser stopped"))?;
    Ok((announced, applied, pass))
}

/// The store's request, and the answer it gives when it applies, from the request's header.
fn store_request(partner: &Partner, header: &Header) -> Result<(BatchApply, Answer), Refusal> {
    let t = Texts::of(&partner.program.rules);
    let refuse = |message: String| header.refusal(message, Vec::new());
    let texts = [
        ("requestId", &header.request_id, MAX_REQUEST_ID),
        ("accrueDescription", &header.description, MAX_DESCRIPTION),
        ("currencyExternalId", &header.currency, MAX_EXTERNAL_ID),
        (
            "lifeTimeDefinitionExternalId",
            &header.lifetime,
            MAX_EXTERNAL_ID,
        ),
    ];
    for (field, text, max) in texts {
        if let Some(problem) = text_problem(text.as_deref(), max, t) {
            return Err(refuse(format!("{field}: {problem}")));
        }
    }
    let Some(request_id) = header.request_id.clone().filter(|r| !r.is_empty()) else {
        return Err(refuse(format!(
            "requestId: {}",
            t.pick("обязательное поле", "required")
        )));
    };
    let kind = match header.request_type {
        Some(2) => OperationKind::Earn,
        Some(4) => OperationKind::Accrue,
        Some(3) | Some(5) => OperationKind::Withdraw,
        _ => {
            let expected = t.pick("ожидается 2, 3, 4 или 5", "expected 2, 3, 4 or 5");
            return Err(refuse(format!("type: {expected}")));
        }
    };
    let request_type = header.request_type.unwrap_or_default();
    let rules = partner.program.rules.clone();
    if let Some(currency) = &header.currency {
        if !currency.is_empty() && !currency.eq_ignore_ascii_case(&rules.currency) {
            let unknown = t.pick("неизвестная валюта", "unknown currency");
            return Err(refuse(format!("currencyExternalId: {unknown} {currency}")));
        }
    }
    let settings = ProcessingSettings::from_program(&partner.program.settings)
        .map_err(|e| Refusal::system(format!("settings.loymax_processing: {e}")))?;
    let lifetime_days = match header.lifetime.as_deref().filter(|l| !l.is_empty()) {
        None => rules.lifetime_days,
        Some(id) => match settings.lifetimes.get(id) {
            Some(days) => *days,
            None => {
                let unknown = t.pick("неизвестное время жизни", "unknown lifetime");
                return Err(refuse(format!(
                    "lifeTimeDefinitionExternalId: {unknown} {id}"
                )));
            }
        },
    };
    let ok = Answer {
        request_id: Some(request_id.clone()),
        request_type: Some(request_type),
        status: 0,
        message: t
            .pick("Операция выполнена успешно", "The operation succeeded")
            .into(),
        errors: Vec::new(),
    };
    let apply = BatchApply {
        program_id: partner.program.id,
        merchant_id: MerchantId(partner.merchant_id),
        currency: rules.currency.clone(),
        request_id,
        request_type,
        kind,
        expires_at: kopilka_domain::program::expiry_after(lifetime_days, kopilka_store::now_ms()),
        description: header.description.clone(),
        answer: serde_json::to_string(&ok).expect("answer serializes"),
    };
    Ok((apply, ok))
}

/// The answer from what the parser read (`None` when it stopped early because the store
/// job had decided), the header the store job ran under, and what the store job did (`None`
/// when it never ran).
fn answer(
    partner: &Partner,
    read: Option<Read>,
    announced: Option<Header>,
    fingerprint: &str,
    applied: Option<Result<BatchOutcome, JobError<Vec<RejectedRow>>>>,
) -> Result<Answer, Refusal> {
    let header = read
        .as_ref()
        .map(|r| r.header.clone())
        .or(announced)
        .unwrap_or_default();
    let t = Texts::of(&partner.program.rules);
    let refuse = |message: String, errors: Vec<RowError>| header.refusal(message, errors);
    if let Some(read) = &read {
        let (_, ok) = store_request(partner, &read.header)?;
        if !read.errors.is_empty() {
            // The store checked the rows before the first malformed one: its finds go too.
            let mut errors = read.errors.clone();
            if let Some(Err(JobError::Refused(rows))) = &applied {
                errors.extend(rows.iter().map(|r| row_error(r, t)));
                errors.sort_by_key(|e| e.row);
                errors.truncate(ERRORS_SHOWN);
            }
            return Err(refuse(t.rows_at_fault(read.error_count), errors));
        }
        if read.rows == 0 {
            let empty = t.pick("нет строк", "no rows");
            return Err(refuse(format!("accrue: {empty}"), Vec::new()));
        }
        if let Some(Ok(BatchOutcome::Applied { .. })) = &applied {
            return Ok(ok);
        }
    }
    match applied {
        Some(Ok(BatchOutcome::Applied { .. })) | None => {
            Err(Refusal::system("the request was not read to its end"))
        }
        Some(Ok(BatchOutcome::Replay {
            fingerprint: stored,
            answer,
        })) => {
            if stored != fingerprint {
                let used = t.pick(
                    "уже использован для другого запроса",
                    "was used for another request",
                );
                return Err(refuse(
                    format!(
                        "requestId {} (type {}) {used}",
                        header.request_id.as_deref().unwrap_or_default(),
                        header.request_type.unwrap_or_default()
                    ),
                    Vec::new(),
                ));
            }
            serde_json::from_str(&answer).map_err(|e| Refusal::system(e.to_string()))
        }
        Some(Err(JobError::Refused(rows) | JobError::RefusedKeeping(rows))) => Err(refuse(
            t.rows_at_fault(rows.len()),
            rows.iter().map(|r| row_error(r, t)).collect(),
        )),
        // A race on the request id: the other request applied it; its answer is the one.
        Some(Err(JobError::Store(StoreError::Duplicate(_)))) => Err(refuse(
            format!(
                "requestId {} (type {}) {}",
                header.request_id.as_deref().unwrap_or_default(),
                header.request_type.unwrap_or_default(),
                t.pick(
                    "обрабатывается другим запросом",
                    "is being applied by another request"
                )
            ),
            Vec::new(),
        )),
        Some(Err(JobError::Store(e))) => Err(Refusal::system(e.to_string())),
    }
}

fn row_error(row: &RejectedRow, t: Texts) -> RowError {
    RowError {
        row: row.seq,
        member_no: Some(row.member_no.clone()),
        message: match row.reason {
            RejectReason::UnknownMember => t.pick("Участник не найден", "Member not found"),
            RejectReason::NotEnoughPoints => t.pick(
                "Недостаточно баллов на счёте",
                "Not enough points in the account",
            ),
        }
        .into(),
    }
}

/// Writes the body to an anonymous temporary file and hands each piece, once scanned, to the
/// first reading (while it reads; a reading that stopped leaves the spooler to finish alone).
/// Sets the body's hash once all of it is written, before the first reading sees its end.
async fn spool(
    body: Body,
    t: Texts,
    reading: mpsc::Sender<Bytes>,
    fingerprint: Arc<OnceLock<String>>,
) -> Result<std::fs::File, Refusal> {
    let fail = |e: std::io::Error| Refusal::system(e.to_string());
    let file = tempfile::tempfile().map_err(fail)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut tokens = TokenBound {
        texts: Some(t),
        ..TokenBound::default()
    };
    let mut reading = Some(reading);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        total += chunk.len() as u64;
        if total > MAX_BODY {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{} {} GiB",
                    t.pick("Запрос больше", "The request is larger than"),
                    MAX_BODY >> 30
                ),
            ));
        }
        tokens.scan(&chunk)?;
        hasher.update(&chunk);
        writer.write_all(&chunk).map_err(fail)?;
        if let Some(sender) = &reading {
            if sender.send(chunk).await.is_err() {
                reading = None;
            }
        }
    }
    let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
    let _ = fingerprint.set(hex::encode(hasher.finalize()));
    Ok(file)
}

/// The body as the spooler hands it over, for its first reading. It ends where the body does
/// only once the spooler has taken all of it (the fingerprint is set then); a body the
/// spooler refused or lost ends in an error, so no reading of it reaches its end.
struct Handed {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
    fingerprint: Arc<OnceLock<String>>,
}

impl std::io::Read for Handed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None if self.fingerprint.get().is_some() => return Ok(0),
                None => return Err(std::io::Error::other("the body was not spooled whole")),
            }
        }
        let piece = self.current.split_to(buf.len().min(self.current.len()));
        buf[..piece.len()].copy_from_slice(&piece);
        Ok(piece.len())
    }
}

/// Watches the body's JSON as it is spooled for a token longer than [`MAX_TOKEN`], and
/// knows where it is (a header field, or a row's field) to name it.
#[derive(Default)]
struct TokenBound {
    /// The open objects (each with its current key, the first bytes of it) and arrays (each
    /// with the index of its current element).
    open: Vec<Container>,
    in_string: bool,
    escaped: bool,
    /// The string being read is a key.
    in_key: bool,
    key: Vec<u8>,
    /// Bytes of the token being read.
    token: usize,
    /// The program's language for the refusal (Russian when none).
    texts: Option<Texts>,
}

enum Container {
    Object { key: Vec<u8>, expects_key: bool },
    Array { index: usize },
}

/// The bytes of a key kept to name it: every field name is shorter.
const KEY_KEPT: usize = 64;

impl TokenBound {
    fn scan(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.in_key {
                        if let Some(Container::Object { key, .. }) = self.open.last_mut() {
                            *key = std::mem::take(&mut self.key);
                        }
                    }
                    self.token = 0;
                    continue;
                }
                if self.in_key && self.key.len() < KEY_KEPT {
                    self.key.push(b);
                }
                self.token += 1;
            } else {
                match b {
                    b'"' => {
                        self.in_string = true;
                        self.in_key = matches!(
                            self.open.last(),
                            Some(Container::Object {
                                expects_key: true,
                                ..
                            })
                        );
                        self.key.clear();
                        self.token = 0;
                    }
                    b'{' => self.open.push(Container::Object {
                        key: Vec::new(),
                        expects_key: true,
                    }),
                    b'[' => self.open.push(Container::Array { index: 0 }),
                    b'}' | b']' => {
                        self.open.pop();
                    }
                    b':' => {
                        if let Some(Container::Object { expects_key, .. }) = self.open.last_mut() {
                            *expects_key = false;
                        }
                    }
                    b',' => match self.open.last_mut() {
                        Some(Container::Object { expects_key, .. }) => *expects_key = true,
                        Some(Container::Array { index }) => *index += 1,
                        None => {}
                    },
                    b' ' | b'\t' | b'\r' | b'\n' => self.token = 0,
                    _ => self.token += 1,
                }
                if matches!(b, b'{' | b'[' | b'}' | b']' | b':' | b',') {
                    self.token = 0;
                }
            }
            if self.token > MAX_TOKEN {
                return Err(self.refusal());
            }
        }
        Ok(())
    }

    /// The refusal of the token being read, named by its row (1-based) and field.
    fn refusal(&self) -> Refusal {
        let key_of = |c: &Container| match c {
            Container::Object { key, .. } => Some(String::from_utf8_lossy(key).into_owned()),
            Container::Array { .. } => None,
        };
        let t = self.texts.unwrap_or_default();
        let field = if self.in_key {
            t.pick("имя поля", "field name").to_string()
        } else {
            self.open.last().and_then(key_of).unwrap_or_default()
        };
        let limit = [
            ("requestId", MAX_REQUEST_ID),
            ("accrueDescription", MAX_DESCRIPTION),
            ("currencyExternalId", MAX_EXTERNAL_ID),
            ("lifeTimeDefinitionExternalId", MAX_EXTERNAL_ID),
            ("memberNo", MAX_MEMBER_NO),
            ("Description", MAX_DESCRIPTION),
            ("operationDate", MAX_OPERATION_DATE),
            ("merchantName", MAX_MERCHANT_NAME),
        ]
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&field))
        .map_or_else(|| t.too_long_bytes(MAX_TOKEN), |(_, max)| t.too_long(*max));
        let message = format!("{field}: {limit}");
        // A row: the root object's `accrue`, one of its elements, a field of that.
        let row = match &self.open[..] {
            [Container::Object { key, .. }, Container::Array { index }, _, ..]
                if key.eq_ignore_ascii_case(b"accrue") =>
            {
                Some(*index as i64 + 1)
            }
            _ => None,
        };
        let mut refusal = Refusal::new(StatusCode::OK, message.clone());
        if let Some(row) = row {
            refusal.answer.message = t.rows_at_fault(1);
            refusal.answer.errors.push(RowError {
                row,
                member_no: None,
                message,
            });
        }
        refusal
    }
}

/// The request's own fields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Header {
    request_id: Option<String>,
    request_type: Option<i64>,
    description: Option<String>,
    currency: Option<String>,
    lifetime: Option<String>,
}

impl Header {
    fn refusal(&self, message: String, errors: Vec<RowError>) -> Refusal {
        Refusal {
            http: StatusCode::OK,
            answer: Answer {
                request_id: self.request_id.clone(),
                request_type: self.request_type,
                status: 1,
                message,
                errors,
            },
        }
    }
}

/// A body read to its end: its header, its rows, and the rows at fault.
#[derive(Debug, Default)]
struct Read {
    header: Header,
    rows: usize,
    errors: Vec<RowError>,
    error_count: usize,
}

/// How one reading of the body went.
enum Pass {
    /// Read to its end; the rows were sent (and `End` after them when none was at fault).
    Streamed(Read),
    /// The rows must be read again under this header, which came or changed after them.
    Again(Header),
    Malformed(String),
    /// The store job stopped taking rows: it decided without them.
    Stopped,
}

/// How a program's rows are read: its points' and money's decimals, its language.
#[derive(Debug, Clone, Copy)]
struct Reading {
    decimals: u8,
    money_decimals: u8,
    t: Texts,
}

/// Reads the body from `source`. The header goes out when `accrue` begins (under `known`,
/// when given), then the rows in chunks, while none is at fault, and at the end (the body's
/// fingerprint known) `End`.
fn parse(
    source: impl std::io::Read,
    reading: Reading,
    known: Option<Header>,
    header: oneshot::Sender<Header>,
    rows: mpsc::Sender<BatchInput>,
    fingerprint: Arc<OnceLock<String>>,
) -> Pass {
    let reader = std::io::BufReader::with_capacity(1 << 20, source);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let Reading {
        decimals,
        money_decimals,
        t,
    } = reading;
    let mut sink = RowSink {
        decimals,
        money_decimals,
        t,
        known,
        header_out: Some(header),
        announced: None,
        details_prefix: String::new(),
        skipped: false,
        sender: rows,
        chunk: Vec::with_capacity(CHUNK),
        read: Read::default(),
        stopped: false,
        fingerprint,
    };
    let parsed =
        serde::Deserializer::deserialize_map(&mut deserializer, RequestVisitor { sink: &mut sink })
            .and_then(|()| deserializer.end());
    drop(deserializer);
    match parsed {
        _ if sink.stopped => Pass::Stopped,
        // serde's own words are English: where, in the program's language.
        Err(e) => Pass::Malformed(format!(
            "{} {}:{}",
            t.pick(
                "Неверный JSON: строка:столбец",
                "Malformed JSON at line:column"
            ),
            e.line(),
            e.column()
        )),
        Ok(()) => sink.finish(),
    }
}

struct RowSink {
    decimals: u8,
    money_decimals: u8,
    t: Texts,
    /// The header to read the rows under (a second reading).
    known: Option<Header>,
    header_out: Option<oneshot::Sender<Header>>,
    /// The header the rows were sent under.
    announced: Option<Header>,
    /// Opening members of every row's details, from that header.
    details_prefix: String,
    /// `accrue` came before the header and was skipped.
    skipped: bool,
    sender: mpsc::Sender<BatchInput>,
    chunk: Vec<BatchRow>,
    read: Read,
    /// The receiver went away.
    stopped: bool,
    /// The body's fingerprint, set once all of it was spooled.
    fingerprint: Arc<OnceLock<String>>,
}

impl RowSink {
    /// Whether the rows can be sent now: the header is known, and has gone out.
    fn announce(&mut self) -> bool {
        let header = match &self.known {
            Some(known) => known.clone(),
            None if self.read.header.request_id.is_some()
                && self.read.header.request_type.is_some() =>
            {
                self.read.header.clone()
            }
            None => return false,
        };
        if let Some(out) = self.header_out.take() {
            if out.send(header.clone()).is_err() {
                self.stopped = true;
            }
        }
        self.details_prefix = details_prefix(&header);
        self.announced = Some(header);
        true
    }

    fn send(&mut self, input: BatchInput) {
        if !self.stopped && self.sender.blocking_send(input).is_err() {
            self.stopped = true;
        }
    }

    fn flush(&mut self) {
        if self.chunk.is_empty() || !self.read.errors.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.send(BatchInput::Rows(chunk));
    }

    fn finish(mut self) -> Pass {
        if let Some(known) = self.known.take() {
            self.read.header = known;
        }
        let changed = self
            .announced
            .as_ref()
            .is_some_and(|sent| *sent != self.read.header);
        if self.skipped || changed {
            return Pass::Again(self.read.header);
        }
        self.flush();
        if self.read.errors.is_empty() && self.read.rows > 0 {
            // The reading ended where the body did: the spooler had all of it.
            if let Some(fingerprint) = self.fingerprint.get().cloned() {
                self.send(BatchInput::End { fingerprint });
            }
        }
        if self.stopped {
            return Pass::Stopped;
        }
        Pass::Streamed(self.read)
    }

    fn fail(&mut self, row: i64, member_no: Option<String>, message: String) {
        self.read.error_count += 1;
        if self.read.errors.len() < ERRORS_SHOWN {
            self.read.errors.push(RowError {
                row,
                member_no,
                message,
            });
        }
        // Nothing of a request with a bad row is applied: sending more is wasted work.
        self.chunk.clear();
    }

    fn push(&mut self, row: RowIn) {
        self.read.rows += 1;
        let seq = self.read.rows as i64;
        let member_no = row.member_no.as_deref().map(raw_text);
        let Some(member) = member_no.clone().filter(|m| !m.is_empty()) else {
            let required = self.t.pick("обязательное поле", "required");
            return self.fail(seq, None, format!("memberNo: {required}"));
        };
        let texts = [
            ("memberNo", Some(member.as_str()), MAX_MEMBER_NO),
            ("Description", row.description.as_deref(), MAX_DESCRIPTION),
            (
                "operationDate",
                row.operation_date.as_deref(),
                MAX_OPERATION_DATE,
            ),
            (
                "merchantName",
                row.merchant_name.as_deref(),
                MAX_MERCHANT_NAME,
            ),
        ];
        for (field, text, max) in texts {
            if let Some(problem) = text_problem(text, max, self.t) {
                let member_no = member_no.filter(|m| m.chars().count() <= MAX_MEMBER_NO);
                return self.fail(seq, member_no, format!("{field}: {problem}"));
            }
        }
        let t = self.t;
        let points = match row.points_amount.as_deref().map(raw_text) {
            None => {
                let required = t.pick("обязательное поле", "required");
                return self.fail(seq, member_no, format!("pointsAmount: {required}"));
            }
            Some(text) => match parse_decimal(&text, self.decimals) {
                Ok(a) if a.0 > 0 => a.0,
                _ => {
                    let bad = t.positive_amount(self.decimals);
                    return self.fail(seq, member_no, format!("pointsAmount: {bad}"));
                }
            },
        };
        let transaction_amount = match row.transaction_amount.as_deref().map(raw_text) {
            None => None,
            Some(text) => match parse_decimal(&text, self.money_decimals) {
                Ok(a) if a.0 >= 0 => Some(format_decimal(a, self.money_decimals)),
                _ => {
                    let bad = t.bad_amount(self.money_decimals);
                    return self.fail(seq, member_no, format!("transactionAmount: {bad}"));
                }
            },
        };
        if !self.read.errors.is_empty() || self.stopped {
            return;
        }
        let details = serde_json::to_string(&RowDetails {
            member_no: &member,
            operation_date: row.operation_date.as_deref(),
            merchant_name: row.merchant_name.as_deref(),
            transaction_amount,
        })
        .expect("details serialize");
        let mut full = String::with_capacity(self.details_prefix.len() + details.len());
        full.push_str(&self.details_prefix);
        full.push_str(&details[1..]);
        self.chunk.push(BatchRow::new(
            seq,
            member,
            points,
            row.description.filter(|d| !d.is_empty()),
            full,
        ));
        if self.chunk.len() >= CHUNK {
            self.flush();
        }
    }
}

/// Opening members of every row's details (`{"source":"loymax_batch",…,`): where the row
/// came from, and whether it is a purchase-related or a manual change.
fn details_prefix(header: &Header) -> String {
    let request_type = header.request_type.unwrap_or_default();
    let purpose = if request_type <= 3 {
        "purchase"
    } else {
        "manual"
    };
    format!(
        "{{\"source\":\"loymax_batch\",\"request_id\":{},\"type\":{request_type},\"purpose\":\"{purpose}\",",
        serde_json::Value::String(header.request_id.clone().unwrap_or_default())
    )
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

/// What is wrong with a text field, if anything: the NUL character, or more than `max`
/// characters.
fn text_problem(text: Option<&str>, max: usize, t: Texts) -> Option<String> {
    let text = text?;
    // No database column can hold it (PostgreSQL refuses the NUL character in text).
    if text.contains('\0') {
        return Some(t.nul().into());
    }
    (text.chars().count() > max).then(|| t.too_long(max))
}

/// A row of `accrue`; its keys in any casing (`Description` and `description` alike).
#[derive(Default)]
struct RowIn {
    member_no: Option<Box<RawValue>>,
    description: Option<String>,
    operation_date: Option<String>,
    merchant_name: Option<String>,
    transaction_amount: Option<Box<RawValue>>,
    points_amount: Option<Box<RawValue>>,
}

/// A row's field, its key matched without regard to case.
enum RowField {
    MemberNo,
    Description,
    OperationDate,
    MerchantName,
    TransactionAmount,
    PointsAmount,
    Other,
}

impl<'de> Deserialize<'de> for RowField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = RowField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row field name")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<RowField, E> {
                let is = |name: &str| key.eq_ignore_ascii_case(name);
                Ok(if is("memberNo") {
                    RowField::MemberNo
                } else if is("Description") {
                    RowField::Description
                } else if is("operationDate") {
                    RowField::OperationDate
                } else if is("merchantName") {
                    RowField::MerchantName
                } else if is("transactionAmount") {
                    RowField::TransactionAmount
                } else if is("pointsAmount") {
                    RowField::PointsAmount
                } else {
                    RowField::Other
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RowIn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = RowIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowIn, A::Error> {
                let mut row = RowIn::default();
                while let Some(field) = map.next_key::<RowField>()? {
                    match field {
                        RowField::MemberNo => row.member_no = map.next_value()?,
                        RowField::Description => row.description = map.next_value()?,
                        RowField::OperationDate => row.operation_date = map.next_value()?,
                        RowField::MerchantName => row.merchant_name = map.next_value()?,
                        RowField::TransactionAmount => row.transaction_amount = map.next_value()?,
                        RowField::PointsAmount => row.points_amount = map.next_value()?,
                        RowField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(row)
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
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
            // Keys in any casing (`RequestId`, `TYPE`).
            match key.to_ascii_lowercase().as_str() {
                "requestid" => {
                    let raw: Box<RawValue> = map.next_value()?;
                    self.sink.read.header.request_id = Some(raw_text(&raw));
                }
                "type" => {
                    // A number, or a string holding one (`"4"`); anything else is no type.
                    let raw: Option<Box<RawValue>> = map.next_value()?;
                    self.sink.read.header.request_type =
                        raw.map(|r| raw_text(&r).trim().parse::<i64>().unwrap_or(0));
                }
                "accruedescription" => self.sink.read.header.description = map.next_value()?,
                "currencyexternalid" => self.sink.read.header.currency = map.next_value()?,
                "lifetimedefinitionexternalid" => {
                    self.sink.read.header.lifetime = map.next_value()?
                }
                "accrue" if self.sink.announce() => map.next_value_seed(RowsSeed {
                    sink: &mut *self.sink,
                })?,
                "accrue" => {
                    self.sink.skipped = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.sink.stopped {
                return Err(serde::de::Error::custom(
                    "the store job stopped taking rows",
                ));
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
            if self.sink.stopped {
                return Err(serde::de::Error::custom(
                    "the store job stopped taking rows",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    pub merchant_id: i64,
    /// Generated when absent.
    pub key: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub merchant_id: i64,
    pub key: String,
}

/// A batch API key for a merchant: shown this once, stored as its SHA-256.
#[utoipa::path(post, path = "/v1/loymax/batch-keys", request_body = KeyInput, responses((status = 201, body = KeyView)))]
pub async fn create_key(
    State(state): State<AppState>,
    crate::http::JsonBody(input): crate::http::JsonBody<KeyInput>,
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
                if tx.merchant(MerchantId(merchant_id)).await?.is_none() {
                    return Err(kopilka_domain::DomainError::NotFound { entity: "merchant" }.into());
                }
                tx.add_credential(
                    MerchantId(merchant_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `body` in chunks of `size` bytes; the refusal's message and rows at fault.
    fn scan(body: &str, size: usize) -> Option<(String, Vec<i64>)> {
        let mut bound = TokenBound::default();
        for chunk in body.as_bytes().chunks(size) {
            if let Err(r) = bound.scan(chunk) {
                let rows = r.answer.errors.iter().map(|e| e.row).collect();
                let message = r
                    .answer
                    .errors
                    .first()
                    .map_or(r.answer.message, |e| e.message.clone());
                return Some((message, rows));
            }
        }
        None
    }

    #[test]
    fn an_overlong_token_is_named_by_row_and_field_in_any_chunking() {
        let long = "x".repeat(MAX_TOKEN + 1);
        let body = format!(
            r#"{{"requestId": "1", "accrue": [{{"memberNo": "1", "pointsAmount": 1}}, {{"memberNo": "2", "description": "a\"{long}"}}]}}"#
        );
        for size in [1, 7, 4096, body.len()] {
            let (message, rows) = scan(&body, size).expect("refused");
            assert_eq!(message, "description: не длиннее 1000 символов");
            assert_eq!(rows, vec![2]);
        }
        let header = format!(r#"{{"accrueDescription": "{long}"}}"#);
        let (message, rows) = scan(&header, 100).expect("refused");
        assert_eq!(message, "accrueDescription: не длиннее 1000 символов");
        assert!(rows.is_empty());
        let number = format!(
            r#"{{"accrue": [{{"pointsAmount": 1{}}}]}}"#,
            "0".repeat(MAX_TOKEN)
        );
        assert_eq!(scan(&number, 10).unwrap().1, vec![1]);
        let fine = format!(
            r#"{{"accrue": [{{"Description": "{}"}}]}}"#,
            "я".repeat(MAX_DESCRIPTION)
        );
        assert!(scan(&fine, 3).is_none());
    }
}
