//! The customer cabinet at `/cabinet`: sign-in with the phone and a code sent by SMS, then the
//! balance (points expiring soonest first, the codes of transfers waiting for one), the history
//! and the profile. Each section is a page on the shared layout (`templates/cabinet/`); a
//! module adding a section routes it under `/cabinet/…`, takes a [`Customer`], and builds its
//! page's header with [`chrome`] (docs/pages.md).

use crate::http::edge::{self, Refused};
use crate::http::html::{self, render, Chrome, Link, Message, Page};
use crate::http::i18n::{self, Asked, Lang, CUSTOMER};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use fluent_bundle::FluentValue;
use kopilka_domain::code_quota::Surface;
use kopilka_domain::ids::OperationId;
use kopilka_domain::kupikupi::MAX_CODE_ATTEMPTS;
use kopilka_domain::ledger::{OperationKind, OperationStatus, Owner};
use kopilka_domain::phone::{mask, Phone};
use kopilka_domain::program::ProgramRules;
use kopilka_store::code_quota::CodeSending;
use kopilka_store::ledger::{self, OperationFilter};
use kopilka_store::outbox::NewMessage;
use kopilka_store::{JobError, StoreError, Tx};
use serde::Deserialize;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

mod registration;
mod subscriptions;

const COOKIE: &str = "kopilka_cabinet";
pub(crate) const SESSION_MS: i64 = 24 * 3600 * 1000;
const CODE_MS: i64 = 10 * 60 * 1000;
/// Operations on a page of the history.
const HISTORY_PAGE: i64 = 20;
/// Lots shown under "expiring soon".
const EXPIRING_SHOWN: usize = 5;

pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/cabinet", get(home))
        .route("/cabinet/", get(home))
        .route("/cabinet/history", get(history))
        .route("/cabinet/profile", get(profile))
        .route("/cabinet/subscriptions", post(subscriptions::save))
        .route("/cabinet/code", post(send_code))
        .route("/cabinet/signin", post(sign_in))
        .route("/cabinet/signout", post(sign_out))
        .route(
            "/cabinet/register",
            get(registration::page).post(registration::save),
        )
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::FORM_BODY_LIMIT),
            edge::guard,
        ));
    html::customer_pages(pages)
}

/// The edge's refusals (`crate::http::edge`) as a page.
fn edge_refusal(refused: &Refused) -> Response {
    html::refused_page(CUSTOMER[0], refused)
}

/// The signed-in customer of a request (from the session cookie), the program's rules and the
/// language of the answer.
pub struct Customer {
    pub customer: kopilka_store::model::Customer,
    pub program: String,
    pub rules: ProgramRules,
    pub lang: Lang,
    pub asked: Asked,
}

pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    html::cookie(headers, COOKIE)
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let asked = Asked::of(&parts.headers, parts.uri.query());
        let lang = asked.pick(None, CUSTOMER);
        let Some(token) = session_token(&parts.headers) else {
            return Err(sign_in_page(&asked, lang, SignIn::default()));
        };
        let found = session_customer(state, &token)
            .await
            .map_err(|e| failure(lang, e))?;
        let Some(SessionCustomer {
            customer,
            program,
            registering,
        }) = found
        else {
            return Err(sign_in_page(&asked, lang, SignIn::default()));
        };
        if registering {
            return Err(Redirect::to(registration::PATH).into_response());
        }
        let (program, rules) = program.map(|p| (p.name, p.rules)).unwrap_or_default();
        let lang = asked.pick(Some(&rules.language), CUSTOMER);
        Ok(Customer {
            customer,
            program,
            rules,
            lang,
            asked,
        })
    }
}

/// The customer a session token signs in, with the program and whether the customer's
/// registration is still open.
struct SessionCustomer {
    customer: kopilka_store::model::Customer,
    program: Option<kopilka_store::model::Program>,
    registering: bool,
}

async fn session_customer(
    state: &AppState,
    token: &str,
) -> kopilka_store::StoreResult<Option<SessionCustomer>> {
    let digest = secrets::token_digest(token);
    state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(session) = tx.cabinet_session(&digest).await? else {
                    return Ok(None);
                };
                let Some(customer) = tx.customer(session.customer_id).await? else {
                    return Ok(None);
                };
                let registering = registration::registering(tx, &customer).await?;
                let program = tx.program(customer.program_id).await?;
                Ok(Some(SessionCustomer {
                    customer,
                    program,
                    registering,
                }))
            })
        })
        .await
}

/// The cabinet's sections, `current` marked.
fn sections(lang: Lang, current: &str) -> Vec<Link> {
    [
        ("/cabinet", "cabinet-nav-balance"),
        ("/cabinet/history", "cabinet-nav-history"),
        ("/cabinet/profile", "cabinet-nav-profile"),
        ("/cabinet/social", "cabinet-nav-social"),
    ]
    .into_iter()
    .map(|(href, id)| Link {
        label: i18n::text(lang, id, None),
        lang: "",
        href: href.to_string(),
        current: href == current,
    })
    .collect()
}

/// The header of a signed-in page at `path`: the program's name, the sections, the switch.
pub fn chrome(customer: &Customer, path: &str, title: &str) -> Chrome {
    let lang = customer.lang;
    let mut page = Chrome::titled(lang, title)
        .brand(customer.program.clone())
        .switch(&customer.asked, path, CUSTOMER);
    page.nav = sections(lang, path);
    page
}

/// The sign-in form: the phone, or (once a code went out) the code for `phone`.
#[derive(Template)]
#[template(path = "cabinet/signin.html")]
struct SignInView {
    page: Chrome,
    phone: Option<String>,
    note: Option<String>,
    error: Option<String>,
}

impl Page for SignInView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Default)]
struct SignIn<'a> {
    phone: Option<&'a str>,
    note: Option<&'a str>,
    error: Option<&'a str>,
}

fn sign_in_page(asked: &Asked, lang: Lang, step: SignIn) -> Response {
    let page = Chrome::titled(lang, "cabinet-title").switch(asked, "/cabinet", CUSTOMER);
    let masked = step.phone.map(mask).unwrap_or_default();
    let note = step.note.map(|id| {
        let values = [("phone", FluentValue::from(masked))];
        i18n::text(lang, id, Some(&i18n::args(&values)))
    });
    let view = SignInView {
        page,
        phone: step.phone.map(str::to_string),
        note,
        error: step.error.map(|id| i18n::text(lang, id, None)),
    };
    render(StatusCode::OK, &view)
}

fn failure(lang: Lang, error: StoreError) -> Response {
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, "cabinet: {error}");
    let values = [("id", FluentValue::from(id.to_string()))];
    let text = i18n::text(lang, "common-error-text", Some(&i18n::args(&values)));
    let mut message = Message::new(lang, "common-error", text);
    message.text_id = "error";
    message.answer(StatusCode::INTERNAL_SERVER_ERROR)
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

/// The customer the cabinet signs in by `digits`, in whichever program has them (the newest),
/// with the program's language; a merged customer's phone signs the customer it was merged
/// into in.
async fn customer_by_phone(
    tx: &mut Tx,
    digits: &str,
) -> kopilka_store::StoreResult<Option<(kopilka_store::model::Customer, String)>> {
    let filter = kopilka_store::customers::CustomerFilter {
        phone: Some(digits.to_string()),
        ..Default::default()
    };
    let found = kopilka_store::customers::search(tx, &filter, None, 1)
        .await?
        .into_iter()
        .next();
    let customer = match found.map(|f| f.customer) {
        Some(c) => match c.merged_into {
            Some(into) => tx.customer(into).await?,
            None => Some(c),
        },
        None => None,
    };
    let Some(customer) = customer else {
        return Ok(None);
    };
    let language = tx
        .program(customer.program_id)
        .await?
        .map(|p| p.rules.language)
        .unwrap_or_default();
    Ok(Some((customer, language)))
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

/// Sends a sign-in code. The answer is the same whether or not the phone is known.
async fn send_code(
    State(state): State<AppState>,
    client: ClientAddr,
    asked: Asked,
    Form(form): Form<PhoneForm>,
) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let Some(phone) = read_phone(&state, &form.phone).await else {
        let step = SignIn {
            error: Some("cabinet-phone-invalid"),
            ..SignIn::default()
        };
        return sign_in_page(&asked, lang, step);
    };
    let digits = phone.digits().to_string();
    let code = format!(
        "{:06}",
        rand::Rng::gen_range(&mut rand::thread_rng(), 0..1_000_000)
    );
    let digest = secrets::token_digest(&format!("{digits}:{code}"));
    let (lookup, address) = (digits.clone(), client.to_string());
    let registers = registration::program(&state).await;
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
                // A phone nobody has gets the code of the program that registers new
                // customers: the same page and SMS, so the answer tells nobody who is one.
                let (program_id, language, customer_id) =
                    match customer_by_phone(tx, &lookup).await? {
                        Some((customer, language)) => {
                            (customer.program_id, language, Some(customer.id))
                        }
                        None => match registers {
                            Some((program_id, language)) => (program_id, language, None),
                            None => return Ok(true),
                        },
                    };
                let now = tx.now();
                tx.create_cabinet_code(program_id, &lookup, &digest, now + CODE_MS)
                    .await?;
                // The SMS in the program's language: the page's may be a stranger's choice.
                let sms_lang = i18n::of_program(&language);
                let values = [("code", FluentValue::from(code))];
                let text = i18n::text(sms_lang, "cabinet-sms-code", Some(&i18n::args(&values)));
                let mut sms = NewMessage::sms(&lookup, text);
                sms.customer_id = customer_id;
                tx.enqueue(&sms).await?;
                Ok(true)
            })
        })
        .await;
    match sent {
        Ok(true) => {
            let step = SignIn {
                phone: Some(&digits),
                note: Some("cabinet-code-sent"),
                ..SignIn::default()
            };
            sign_in_page(&asked, lang, step)
        }
        Ok(false) => {
            // The quota's answer, with 429 for clients that read statuses.
            let step = SignIn {
                error: Some("cabinet-too-many-codes"),
                ..SignIn::default()
            };
            let mut response = sign_in_page(&asked, lang, step);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
        }
        Err(e) => failure(lang, e),
    }
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

async fn sign_in(
    State(state): State<AppState>,
    asked: Asked,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let Some(phone) = read_phone(&state, &form.phone).await else {
        return sign_in_page(&asked, lang, SignIn::default());
    };
    let digits = phone.digits().to_string();
    let presented = secrets::token_digest(&format!("{digits}:{}", form.code.trim()));
    let session = secrets::random_token(32);
    let session_digest = secrets::token_digest(&session);
    let lookup = digits.clone();
    let registers = registration::program(&state).await.map(|(id, _)| id);
    let outcome = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let customer = customer_by_phone(tx, &lookup).await?.map(|(c, _)| c);
                let program_id = match (&customer, registers) {
                    (Some(customer), _) => customer.program_id,
                    (None, Some(program_id)) => program_id,
                    (None, None) => return Err(JobError::Refused("cabinet-code-wrong")),
                };
                let Some(code) = tx.cabinet_current_code(program_id, &lookup).await? else {
                    return Err(JobError::Refused("cabinet-code-stale"));
                };
                if !secrets::constant_time_eq(&presented, &code.code_digest) {
                    let attempts = code.attempts + 1;
                    tx.update_cabinet_code(code.id, attempts, attempts >= MAX_CODE_ATTEMPTS)
                        .await?;
                    // The wrong attempt counts.
                    return Err(JobError::RefusedKeeping(if attempts >= MAX_CODE_ATTEMPTS {
                        "cabinet-code-spent"
                    } else {
                        "cabinet-code-wrong"
                    }));
                }
                tx.update_cabinet_code(code.id, code.attempts, true).await?;
                // Only now, the phone proved, may the answer differ: a new customer's
                // registration begins, a half-done one continues.
                let Some(entered) =
                    registration::entered(tx, program_id, customer, &lookup).await?
                else {
                    return Err(JobError::RefusedKeeping("cabinet-blocked"));
                };
                let now = tx.now();
                tx.create_cabinet_session(entered.customer, &session_digest, now + SESSION_MS)
                    .await?;
                Ok(entered.next)
            })
        })
        .await;
    match outcome {
        Ok(next) => (
            [(header::SET_COOKIE, session_cookie(&state, &session))],
            Redirect::to(next),
        )
            .into_response(),
        Err(JobError::RefusedKeeping("cabinet-blocked")) => {
            let text = i18n::text(lang, "cabinet-blocked", None);
            Message::new(lang, "cabinet-title", text).answer(StatusCode::FORBIDDEN)
        }
        Err(JobError::Refused(error) | JobError::RefusedKeeping(error)) => {
            let step = SignIn {
                phone: Some(&digits),
                error: Some(error),
                ..SignIn::default()
            };
            sign_in_page(&asked, lang, step)
        }
        Err(JobError::Store(e)) => failure(lang, e),
    }
}

/// The token of a form of the session of `headers` (`purpose` names the form): a digest of
/// the session token, which is never readable by a page's script (HttpOnly), so no other site
/// can know it.
fn form_token(headers: &HeaderMap, purpose: &str) -> String {
    session_token(headers)
        .map(|session| secrets::token_digest(&format!("{purpose}:{session}")))
        .unwrap_or_default()
}

/// The cookie of a new cabinet session (also set by signing in through a social network).
pub(crate) fn session_cookie(state: &AppState, session: &str) -> String {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={session}; Path=/cabinet; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_MS / 1000
    )
}

async fn sign_out(State(state): State<AppState>, asked: Asked, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        let digest = secrets::token_digest(&token);
        if let Err(e) = state
            .store
            .write(move |tx| Box::pin(async move { tx.delete_cabinet_session(&digest).await }))
            .await
        {
            return failure(asked.pick(None, CUSTOMER), e);
        }
    }
    let cookie = format!("{COOKIE}=; Path=/cabinet; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/cabinet")).into_response()
}

/// A transfer's code as the balance page shows it.
struct CodeRow {
    shop: String,
    amount: String,
    code: String,
    url: String,
    /// Unix ms.
    expires_at: i64,
    until: String,
}

#[derive(Template)]
#[template(path = "cabinet/home.html")]
struct HomeView {
    page: Chrome,
    phone: String,
    spendable: String,
    held: Option<String>,
    /// (points, until) soonest first.
    expiring: Vec<(String, String)>,
    codes: Vec<CodeRow>,
    /// The registration was just completed.
    registered: bool,
}

impl Page for HomeView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize)]
struct HomeQuery {
    #[serde(default)]
    registered: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    customer: Result<Customer, Response>,
    Query(query): Query<HomeQuery>,
) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let sealer = state.sealer.clone();
    let public_url = state.public_url.clone();
    let (id, program_id, currency) = (
        customer.customer.id,
        customer.customer.program_id,
        customer.rules.currency.clone(),
    );
    let loaded = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let (balance, held) =
                    ledger::balance(tx, program_id, &currency, Owner::Customer(id)).await?;
                let account = ledger::accounts_of(tx, Owner::Customer(id))
                    .await?
                    .into_iter()
                    .find(|a| a.program_id == program_id && a.currency == currency);
                let lots = match account {
                    Some(account) => tx.loymax_open_lots(account.id).await?,
                    None => Vec::new(),
                };
                let pending =
                    crate::kupikupi::pending_codes(tx, &sealer, &public_url, id.0).await?;
                Ok((balance, held, lots, pending))
            })
        })
        .await;
    let (lang, rules) = (customer.lang, &customer.rules);
    let (balance, held, lots, pending) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(lang, e),
    };
    let points = |minor| i18n::points(minor, rules.decimals, lang);
    let when = |ms| i18n::datetime(ms, &rules.time_zone, lang);
    let view = HomeView {
        page: chrome(&customer, "/cabinet", "cabinet-title"),
        phone: customer
            .customer
            .phone
            .as_deref()
            .map(mask)
            .unwrap_or_default(),
        spendable: i18n::number(balance - held, rules.decimals, lang),
        held: (held > 0).then(|| {
            let values = [("points", FluentValue::from(points(held)))];
            i18n::text(lang, "cabinet-held", Some(&i18n::args(&values)))
        }),
        expiring: lots
            .into_iter()
            .filter_map(|(remaining, expires)| Some((points(remaining), when(expires?))))
            .take(EXPIRING_SHOWN)
            .collect(),
        codes: pending
            .into_iter()
            .map(|p| CodeRow {
                shop: p.shop,
                // Kupi-Kupi's amounts are roubles and kopecks.
                amount: format!("{} ₽", i18n::number(p.amount, 2, lang)),
                code: p.code,
                url: p.url,
                expires_at: p.expires_at,
                until: when(p.expires_at),
            })
            .collect(),
        registered: query.registered.is_some(),
    };
    render(StatusCode::OK, &view)
}

/// An operation as the history shows it.
struct HistoryRow {
    when: String,
    kind: String,
    /// `earn` (points came) or `spend` (points went): the sign and the colour.
    class: &'static str,
    sign: &'static str,
    points: String,
    shop: String,
    note: Option<String>,
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "cabinet/history.html")]
struct HistoryView {
    page: Chrome,
    rows: Vec<HistoryRow>,
    /// The newest page, when this is not it.
    newest: Option<String>,
    older: Option<String>,
}

impl Page for HistoryView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<i64>,
}

/// Whether an operation of `kind` brings points (a reversal: the opposite of what it reverses).
fn brings_points(kind: OperationKind, reversed: Option<OperationKind>) -> bool {
    match kind {
        OperationKind::Earn | OperationKind::Accrue | OperationKind::Merge => true,
        OperationKind::Redeem | OperationKind::Withdraw | OperationKind::Expire => false,
        OperationKind::Reversal => reversed.is_some_and(|k| !brings_points(k, None)),
    }
}

async fn history(
    State(state): State<AppState>,
    customer: Result<Customer, Response>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let filter = OperationFilter {
        customer_id: Some(customer.customer.id),
        before_id: query.before.map(OperationId),
        limit: HISTORY_PAGE + 1,
        ..OperationFilter::default()
    };
    let loaded = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let operations = ledger::operations(tx, &filter).await?;
                let mut shops = HashMap::new();
                let mut reversed = HashMap::new();
                for op in &operations {
                    if let Some(merchant) = op.merchant_id {
                        if let Entry::Vacant(shop) = shops.entry(merchant) {
                            let name = tx.merchant(merchant).await?.map(|m| m.name);
                            shop.insert(name.unwrap_or_default());
                        }
                    }
                    if let Some(original) = op.reverses {
                        if let Some(o) = ledger::operation(tx, original).await? {
                            reversed.insert(original, o.kind);
                        }
                    }
                }
                Ok((operations, shops, reversed))
            })
        })
        .await;
    let (lang, rules) = (customer.lang, &customer.rules);
    let (mut operations, shops, reversed) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(lang, e),
    };
    let more = operations.len() as i64 > HISTORY_PAGE;
    operations.truncate(HISTORY_PAGE as usize);
    let rows = operations
        .iter()
        .map(|op| {
            let original = op.reverses.and_then(|id| reversed.get(&id).copied());
            let plus = brings_points(op.kind, original);
            HistoryRow {
                when: i18n::datetime(op.created_at, &rules.time_zone, lang),
                kind: i18n::text(lang, &format!("kind-{}", op.kind.as_str()), None),
                class: if plus { "earn" } else { "spend" },
                sign: if plus { "+" } else { "−" },
                points: i18n::number(op.amount.abs(), rules.decimals, lang),
                shop: op
                    .merchant_id
                    .and_then(|m| shops.get(&m).cloned())
                    .unwrap_or_default(),
                note: op.description.clone(),
                status: match op.status {
                    OperationStatus::Confirmed => None,
                    OperationStatus::Pending => Some(i18n::text(lang, "status-pending", None)),
                    OperationStatus::Voided => Some(i18n::text(lang, "status-voided", None)),
                },
            }
        })
        .collect();
    let view = HistoryView {
        page: chrome(&customer, "/cabinet/history", "cabinet-history"),
        rows,
        newest: query.before.map(|_| "/cabinet/history".to_string()),
        older: more
            .then(|| {
                operations
                    .last()
                    .map(|op| format!("/cabinet/history?before={}", op.id.0))
            })
            .flatten(),
    };
    render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "cabinet/profile.html")]
struct ProfileView {
    page: Chrome,
    phone: String,
    email: String,
    member: String,
    since: String,
    mailings: Vec<subscriptions::Mailing>,
    /// The subscriptions form's token.
    token: String,
    /// The subscriptions were just saved.
    saved: bool,
}

impl Page for ProfileView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize)]
struct ProfileQuery {
    #[serde(default)]
    saved: Option<String>,
}

async fn profile(
    customer: Result<Customer, Response>,
    headers: HeaderMap,
    Query(query): Query<ProfileQuery>,
) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let (lang, c) = (customer.lang, &customer.customer);
    let view = ProfileView {
        page: chrome(&customer, "/cabinet/profile", "cabinet-profile"),
        phone: c.phone.as_deref().map(mask).unwrap_or_default(),
        email: c.email.clone().unwrap_or_default(),
        member: c.member_no.clone(),
        since: i18n::datetime(c.created_at, &customer.rules.time_zone, lang),
        mailings: subscriptions::mailings(c, lang),
        token: form_token(&headers, subscriptions::FORM),
        saved: query.saved.is_some(),
    };
    render(StatusCode::OK, &view)
}
