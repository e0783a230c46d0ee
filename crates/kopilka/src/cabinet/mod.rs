//! The customer cabinet at `/cabinet`: sign-in with the phone and a code sent by SMS, then the
//! balance, the codes of transfers waiting for confirmation, and the history. Minimal on
//! purpose; the full cabinet adds its pages to [`router`] and reuses [`Customer`] sessions.

use crate::http::edge::{self, Refused};
use crate::http::html::{escape, page};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kopilka_domain::code_quota::Surface;
use kopilka_domain::kupikupi::MAX_CODE_ATTEMPTS;
use kopilka_domain::ledger::Owner;
use kopilka_domain::money::format_decimal;
use kopilka_domain::phone::Phone;
use kopilka_domain::Amount;
use kopilka_store::code_quota::CodeSending;
use kopilka_store::ledger::{self, OperationFilter};
use kopilka_store::outbox::NewMessage;
use kopilka_store::{JobError, StoreError, Tx};
use serde::Deserialize;

const COOKIE: &str = "kopilka_cabinet";
const SESSION_MS: i64 = 24 * 3600 * 1000;
const CODE_MS: i64 = 10 * 60 * 1000;

pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/cabinet", get(home))
        .route("/cabinet/", get(home))
        .route("/cabinet/code", post(send_code))
        .route("/cabinet/signin", post(sign_in))
        .route("/cabinet/signout", post(sign_out))
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::FORM_BODY_LIMIT),
            edge::guard,
        ));
    crate::http::html::customer_pages(pages)
}

/// The edge's refusals (`crate::http::edge`) as a page.
fn edge_refusal(refused: &Refused) -> Response {
    crate::http::html::refused_page("Личный кабинет", refused)
}

/// The signed-in customer of a request (from the session cookie).
pub struct Customer(pub kopilka_store::model::Customer);

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = session_token(&parts.headers) else {
            return Err(sign_in_page(None, None));
        };
        let digest = secrets::token_digest(&token);
        let found = state
            .store
            .read(move |tx| {
                Box::pin(async move {
                    match tx.cabinet_session(&digest).await? {
                        Some(session) => tx.customer(session.customer_id).await,
                        None => Ok(None),
                    }
                })
            })
            .await
            .map_err(failure)?;
        found.map(Customer).ok_or_else(|| sign_in_page(None, None))
    }
}

fn sign_in_page(phone: Option<&str>, note: Option<&str>) -> Response {
    let note = note.map_or(String::new(), |n| {
        format!("<p class=\"note\" id=\"note\">{}</p>", escape(n))
    });
    let body = match phone {
        None => format!(
            "<h1>Личный кабинет</h1>{note}<form method=\"post\" action=\"/cabinet/code\"><p><label>Телефон<br><input id=\"phone\" name=\"phone\" inputmode=\"tel\" required autofocus></label></p><button id=\"send\" type=\"submit\">Получить код</button></form>"
        ),
        Some(phone) => format!(
            "<h1>Личный кабинет</h1>{note}<form method=\"post\" action=\"/cabinet/signin\"><input type=\"hidden\" name=\"phone\" value=\"{}\"><p><label>Код из SMS<br><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"6\" required autofocus></label></p><button id=\"signin\" type=\"submit\">Войти</button></form>",
            escape(phone)
        ),
    };
    page("Личный кабинет", &body)
}

fn failure(error: StoreError) -> Response {
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, "cabinet: {error}");
    let mut response = page(
        "Ошибка",
        &format!("<h1>Ошибка</h1><p>Попробуйте ещё раз. Код ошибки {id}.</p>"),
    );
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

/// Sends a sign-in code. The answer is the same whether or not the phone is known.
/// The customer the cabinet signs in by `digits`, in whichever program has them (the newest);
/// a merged customer's phone signs the customer it was merged into in.
async fn customer_by_phone(
    tx: &mut Tx,
    digits: &str,
) -> kopilka_store::StoreResult<Option<kopilka_store::model::Customer>> {
    let filter = kopilka_store::customers::CustomerFilter {
        phone: Some(digits.to_string()),
        ..Default::default()
    };
    let found = kopilka_store::customers::search(tx, &filter, None, 1)
        .await?
        .into_iter()
        .next();
    match found.map(|f| f.customer) {
        Some(c) => match c.merged_into {
            Some(into) => tx.customer(into).await,
            None => Ok(Some(c)),
        },
        None => Ok(None),
    }
}

/// A phone typed into the cabinet, which serves every program: read in each program's
/// region (or with its country code), taken only when every program reads the same number.
async fn read_phone(state: &AppState, text: &str) -> Option<Phone> {
    let programs = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await
        .ok()?;
    if programs.is_empty() {
        return Phone::parse(text).ok();
    }
    let mut read: Option<Phone> = None;
    for program in programs {
        let Ok(phone) = program.rules.parse_phone(text) else {
            continue;
        };
        match &read {
            Some(other) if *other != phone => return None,
            _ => read = Some(phone),
        }
    }
    read
}

async fn send_code(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(form): Form<PhoneForm>,
) -> Response {
    let Some(phone) = read_phone(&state, &form.phone).await else {
        return sign_in_page(None, Some("Введите телефон с кодом страны: 79000000000"));
    };
    let digits = phone.digits().to_string();
    let code = format!(
        "{:06}",
        rand::Rng::gen_range(&mut rand::thread_rng(), 0..1_000_000)
    );
    let digest = secrets::token_digest(&format!("{digits}:{code}"));
    let (lookup, address) = (digits.clone(), client.to_string());
    let sent = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                // Every request counts, known phone or not, so the quota's answer tells
                // nothing about who is a customer.
                let sending = CodeSending {
                    surface: Surface::Cabinet,
                    phone: &lookup,
                    address: &address,
                    sender: "cabinet",
                };
                if tx.spend_code_quota(sending).await?.is_err() {
                    return Ok(false);
                }
                let Some(customer) = customer_by_phone(tx, &lookup).await? else {
                    return Ok(true);
                };
                let now = tx.now();
                tx.create_cabinet_code(customer.program_id, &lookup, &digest, now + CODE_MS)
                    .await?;
                let mut sms =
                    NewMessage::sms(&lookup, format!("Код для входа в личный кабинет: {code}"));
                sms.customer_id = Some(customer.id);
                tx.enqueue(&sms).await?;
                Ok(true)
            })
        })
        .await;
    match sent {
        Ok(true) => sign_in_page(
            Some(&digits),
            Some("Если этот телефон зарегистрирован, мы отправили на него код."),
        ),
        Ok(false) => too_many_codes(),
        Err(e) => failure(e),
    }
}

/// The quota's answer: a page that says so, with 429 for clients that read statuses.
fn too_many_codes() -> Response {
    let mut response = sign_in_page(None, Some("Слишком много кодов: попробуйте через час."));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Response {
    let Some(phone) = read_phone(&state, &form.phone).await else {
        return sign_in_page(None, None);
    };
    let digits = phone.digits().to_string();
    let presented = secrets::token_digest(&format!("{digits}:{}", form.code.trim()));
    let session = secrets::random_token(32);
    let session_digest = secrets::token_digest(&session);
    let lookup = digits.clone();
    let outcome = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let Some(customer) = customer_by_phone(tx, &lookup).await? else {
                    return Err(JobError::Refused("Неверный код."));
                };
                let Some(code) = tx
                    .cabinet_current_code(customer.program_id, &lookup)
                    .await?
                else {
                    return Err(JobError::Refused("Код устарел: запросите новый."));
                };
                if !secrets::constant_time_eq(&presented, &code.code_digest) {
                    let attempts = code.attempts + 1;
                    tx.update_cabinet_code(code.id, attempts, attempts >= MAX_CODE_ATTEMPTS)
                        .await?;
                    // The wrong attempt counts.
                    return Err(JobError::RefusedKeeping(if attempts >= MAX_CODE_ATTEMPTS {
                        "Слишком много попыток: запросите новый код."
                    } else {
                        "Неверный код."
                    }));
                }
                tx.update_cabinet_code(code.id, code.attempts, true).await?;
                let now = tx.now();
                tx.create_cabinet_session(customer.id, &session_digest, now + SESSION_MS)
                    .await?;
                Ok(())
            })
        })
        .await;
    match outcome {
        Ok(()) => {
            let secure = if state.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={session}; Path=/cabinet; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                SESSION_MS / 1000
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/cabinet")).into_response()
        }
        Err(JobError::Refused(note) | JobError::RefusedKeeping(note)) => {
            sign_in_page(Some(&digits), Some(note))
        }
        Err(JobError::Store(e)) => failure(e),
    }
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        let digest = secrets::token_digest(&token);
        if let Err(e) = state
            .store
            .write(move |tx| Box::pin(async move { tx.delete_cabinet_session(&digest).await }))
            .await
        {
            return failure(e);
        }
    }
    let cookie = format!("{COOKIE}=; Path=/cabinet; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/cabinet")).into_response()
}

async fn home(State(state): State<AppState>, customer: Result<Customer, Response>) -> Response {
    let Customer(customer) = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let sealer = state.sealer.clone();
    let public_url = state.public_url.clone();
    let loaded = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let program = tx.program(customer.program_id).await?;
                let rules = program.map(|p| p.rules.clone()).unwrap_or_default();
                let (balance, held) = ledger::balance(
                    tx,
                    customer.program_id,
                    &rules.currency,
                    Owner::Customer(customer.id),
                )
                .await?;
                let pending =
                    crate::kupikupi::pending_codes(tx, &sealer, &public_url, customer.id.0).await?;
                let history = ledger::operations(
                    tx,
                    &OperationFilter {
                        customer_id: Some(customer.id),
                        limit: 30,
                        ..OperationFilter::default()
                    },
                )
                .await?;
                Ok((customer, rules, balance, held, pending, history))
            })
        })
        .await;
    let (customer, rules, balance, held, pending, history) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e),
    };
    let points = |minor: i64| format_decimal(Amount(minor), rules.decimals);
    let mut body = format!(
        "<h1>Личный кабинет</h1><p>Телефон: {}</p><p>Баланс: <span class=\"amount\" id=\"balance\">{}</span> баллов</p>",
        escape(&customer.phone.as_deref().map(kopilka_domain::phone::mask).unwrap_or_default()),
        points(balance - held),
    );
    if held > 0 {
        body.push_str(&format!(
            "<p class=\"note\">Ещё {} баллов ждут подтверждения магазина.</p>",
            points(held)
        ));
    }
    body.push_str("<h2>Коды для переводов</h2>");
    if pending.is_empty() {
        body.push_str("<p class=\"note\" id=\"no-codes\">Нет переводов, ждущих подтверждения.</p>");
    } else {
        body.push_str("<table id=\"codes\"><tr><th>Магазин</th><th>Сумма, ₽</th><th>Код</th></tr>");
        for p in &pending {
            body.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td><code class=\"code\">{}</code></td></tr>",
                escape(&p.url),
                escape(&p.shop),
                format_decimal(Amount(p.amount), 2),
                escape(&p.code)
            ));
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>История</h2><table id=\"history\"><tr><th>Дата</th><th>Операция</th><th>Баллы</th><th>Статус</th></tr>");
    for op in &history {
        let when = chrono::DateTime::from_timestamp_millis(op.created_at)
            .map(|d| d.format("%d.%m.%Y %H:%M").to_string())
            .unwrap_or_default();
        body.push_str(&format!(
            "<tr><td>{when}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(op.description.as_deref().unwrap_or(op.kind.as_str())),
            points(op.amount),
            escape(op.status.as_str())
        ));
    }
    body.push_str("</table><form method=\"post\" action=\"/cabinet/signout\"><button type=\"submit\">Выйти</button></form>");
    page("Личный кабинет", &body)
}
