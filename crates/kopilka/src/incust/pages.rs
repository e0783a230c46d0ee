//! The hosted pages: `POST /app/redeem/` and `POST /app/earn/` open a page for the shop's
//! customer, `POST /app/confirm/` takes the page's answer and returns to the shop's
//! `returnurl` with an auto-submitted form.

use super::api::{card_phone, comment, money};
use super::ops::{self, Done, Shop};
use super::wire::{Detail, Fault, Fields};
use crate::http::html::{self, Chrome};
use crate::http::i18n::{self, Asked, CUSTOMER};
use crate::http::secret_check::{check_secret, Attempt, SecretCheck};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use fluent_bundle::FluentValue;
use futures::FutureExt;
use kopilka_domain::code_quota::Surface;
use kopilka_domain::incust::{self as rules, Lang, Sale, Status};
use kopilka_domain::ledger::Owner;
use kopilka_domain::money::parse_decimal;
use kopilka_domain::phone::mask;
use kopilka_domain::throttle::Secret;
use kopilka_domain::Amount;
use kopilka_store::code_quota::CodeSending;
use kopilka_store::incust::{IncustPage, NewIncustPage};
use kopilka_store::ledger;
use kopilka_store::model::{Customer, CustomerState};
use kopilka_store::outbox::NewMessage;
use kopilka_store::StoreError;
use rand::Rng;
use reqwest::Url;
use std::panic::AssertUnwindSafe;

/// The largest form taken (the edge's, which reads it first).
const MAX_FORM: usize = crate::http::edge::FORM_BODY_LIMIT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Redeem,
    Earn,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Redeem => "redeem",
            Kind::Earn => "earn",
        }
    }
}

/// What the customer reads about a refusal, in the page's language: never XML, field names or
/// the words meant for the shop's developer (those go to `statusdesc` and the log).
fn customer_text(fault: &Fault, reader: i18n::Lang) -> String {
    let say = |id| i18n::text(reader, id, None);
    match fault.status {
        Status::Malformed
        | Status::MissingField
        | Status::InvalidField
        | Status::ContentType
        | Status::TooLarge
        | Status::UnknownCmd
        | Status::BadCredentials
        | Status::ReturnUrlRefused
        | Status::UnknownTransaction
        | Status::NotCancellable
        | Status::OtherCard => say("incust-shop-mistake"),
        Status::Internal => say("incust-unavailable"),
        // The number of attempts left is the customer's business.
        Status::WrongSecret => match &fault.detail {
            Some(Detail::Name(left)) => {
                let values = [("left", FluentValue::from(left.as_str()))];
                i18n::text(reader, "incust-attempts-left", Some(&i18n::args(&values)))
            }
            _ => say("incust-wrong-secret"),
        },
        Status::TryLater => say("incust-try-later"),
        Status::UnknownCard => say("incust-unknown-card"),
        Status::CardBlocked => say("incust-card-blocked"),
        Status::BadAmount => say("incust-bad-amount"),
        Status::NotEnoughBonuses => say("incust-not-enough"),
        Status::AlreadyCancelled => say("incust-already-cancelled"),
        Status::OrderConflict => say("incust-order-conflict"),
        Status::TooManyAttempts => say("incust-too-many-attempts"),
        Status::TooManyCodes => say("incust-too-many-codes"),
        Status::PageExpired => say("incust-page-expired"),
        Status::CancelledByCustomer => say("incust-cancelled"),
        Status::Ok => String::new(),
    }
}

/// A message with a number of bonuses (`incust-redeemed`, `incust-earned`, …).
fn with_bonuses(reader: i18n::Lang, id: &str, shop: &Shop, minor: i64) -> String {
    let bonuses = i18n::bonuses(minor, shop.rules.decimals, reader);
    let values = [("bonuses", FluentValue::from(bonuses))];
    i18n::text(reader, id, Some(&i18n::args(&values)))
}

/// The page's language where only the protocol's is known (the edge's refusal, a panic).
fn reader(lang: Lang) -> i18n::Lang {
    match lang {
        Lang::Ru => i18n::Lang::Ru,
        Lang::En => i18n::Lang::En,
    }
}

/// The page's language before the shop is known: the switch's cookie, the browser's, else
/// Russian, the protocol's.
fn before_the_shop(asked: &Asked) -> i18n::Lang {
    asked.pick(Some(i18n::Lang::Ru.code()), CUSTOMER)
}

/// The page's language once the shop is known: the switch (or its cookie), the browser's,
/// the program's.
fn reader_for(asked: &Asked, shop: &Shop) -> i18n::Lang {
    asked.pick(Some(&shop.rules.language), CUSTOMER)
}

#[derive(Template)]
#[template(path = "incust/page.html")]
struct PageView {
    page: Chrome,
    heading: String,
    confirm: &'static str,
    redeem: bool,
    shop: String,
    order: String,
    card: String,
    balance: String,
    earn: String,
    max: String,
    /// The most bonuses, as the locale writes them.
    at_most: String,
    chosen: String,
    step: String,
    by_code: bool,
    /// Until when the page takes an answer, in the program's time zone.
    until: String,
    token: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "incust/back.html")]
struct BackView {
    page: Chrome,
    heading: String,
    message: String,
    url: String,
    fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "incust/error.html")]
struct ErrorView {
    page: Chrome,
    message: String,
    hint: String,
}

/// What the customer is told to do after an error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Nothing could have happened: try again from the shop.
    NothingDone,
    /// Something may have happened (a form from an unknown or forgotten page): check first.
    CheckOrder,
}

/// A page request refused at the edge: the error page with the envelope's `status`.
pub(super) fn edge_refusal(refused: &crate::http::edge::Refused, status: Status) -> Response {
    let fault = Fault::with(status, refused.place);
    Page::error(refused.status, fault, reader(Lang::Ru)).render()
}

/// What a page request ends in.
enum Page {
    /// Nothing is posted anywhere: the request cannot be trusted or answered.
    Error {
        status: StatusCode,
        fault: Fault,
        reader: i18n::Lang,
        hint: Hint,
    },
    /// The page with its form (again, with an error, after a wrong answer).
    Form(Box<PageView>),
    /// Back to the shop with these fields.
    Back {
        url: String,
        fields: Vec<(&'static str, String)>,
        message: String,
        reader: i18n::Lang,
    },
}

impl Page {
    fn error(status: StatusCode, fault: impl Into<Fault>, reader: i18n::Lang) -> Page {
        Page::Error {
            status,
            fault: fault.into(),
            reader,
            hint: Hint::NothingDone,
        }
    }

    /// A form whose page kopilka no longer knows (or a page it cannot read now): whatever that
    /// page did stands, so the customer checks the order rather than pays again.
    fn stale(status: StatusCode, fault: impl Into<Fault>, reader: i18n::Lang) -> Page {
        Page::Error {
            status,
            fault: fault.into(),
            reader,
            hint: Hint::CheckOrder,
        }
    }

    /// A refusal posted back: `status` and `statusdesc` (in the protocol's language `lang`),
    /// no `transactionid`.
    fn refusal(url: &str, fault: impl Into<Fault>, lang: Lang, reader: i18n::Lang) -> Page {
        let fault = fault.into();
        Page::Back {
            url: url.to_string(),
            message: customer_text(&fault, reader),
            fields: vec![
                ("status", fault.status.code().to_string()),
                ("statusdesc", fault.text(lang)),
            ],
            reader,
        }
    }

    fn render(self) -> Response {
        match self {
            Page::Error {
                status,
                fault,
                reader,
                hint,
            } => {
                if fault.status == Status::Internal {
                    tracing::error!("inCust page failed: {}", fault.text(Lang::En));
                } else {
                    tracing::info!("inCust page refused: {}", fault.text(Lang::En));
                }
                let hint = match hint {
                    Hint::NothingDone => "incust-nothing-done",
                    Hint::CheckOrder => "incust-check-order",
                };
                let view = ErrorView {
                    page: Chrome::titled(reader, "common-error"),
                    message: customer_text(&fault, reader),
                    hint: i18n::text(reader, hint, None),
                };
                html::render(status, &view)
            }
            Page::Form(view) => html::render(StatusCode::OK, view.as_ref()),
            Page::Back {
                url,
                fields,
                message,
                reader,
            } => {
                // Its form goes to the shop, whose return page may redirect further.
                let page = Chrome::titled(reader, "incust-returning").forms_anywhere();
                let view = BackView {
                    heading: page.title.clone(),
                    page,
                    message,
                    url,
                    fields,
                };
                html::render(StatusCode::OK, &view)
            }
        }
    }
}

impl html::Page for PageView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl html::Page for BackView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

impl html::Page for ErrorView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

pub async fn redeem(
    State(state): State<AppState>,
    client: ClientAddr,
    request: Request,
) -> Response {
    guarded(open(state, client, request, Kind::Redeem)).await
}

pub async fn earn(State(state): State<AppState>, client: ClientAddr, request: Request) -> Response {
    guarded(open(state, client, request, Kind::Earn)).await
}

pub async fn confirm(
    State(state): State<AppState>,
    client: ClientAddr,
    request: Request,
) -> Response {
    guarded(answer(state, client, request)).await
}

/// Renders the page a handler ends in; a panic becomes an error page, not a dropped connection.
async fn guarded(handler: impl std::future::Future<Output = Page>) -> Response {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(page) => page.render(),
        Err(_) => Page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            Status::Internal,
            reader(Lang::Ru),
        )
        .render(),
    }
}

async fn read_form(request: Request) -> Result<Fields, Fault> {
    if request.method() != axum::http::Method::POST {
        return Err(Fault::said(
            Status::Malformed,
            "форма магазина должна отправляться методом post",
            "the shop's form must use method=post",
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if !matches!(
        content_type.as_deref(),
        None | Some("application/x-www-form-urlencoded")
    ) {
        return Err(Fault::said(
            Status::ContentType,
            "отправьте HTML-форму (application/x-www-form-urlencoded)",
            "send an HTML form (application/x-www-form-urlencoded)",
        ));
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM)
        .await
        .map_err(|_| Fault::new(Status::TooLarge))?;
    Ok(Fields::from_pairs(super::wire::form_pairs(&bytes)))
}

/// The shop's `returnurl`: an http(s) address on a host the shop registered.
fn return_url(fields: &Fields) -> Result<Url, Fault> {
    let raw = fields
        .require("returnurl")
        .map_err(|_| Fault::with(Status::ReturnUrlRefused, "returnurl"))?;
    let url = Url::parse(raw).map_err(|_| Fault::with(Status::ReturnUrlRefused, "returnurl"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Fault::said(
            Status::ReturnUrlRefused,
            "returnurl должен быть адресом http(s)",
            "returnurl must be an http(s) address",
        ));
    }
    Ok(url)
}

/// The card as the page sees it: its owner (none yet for an earn that will enrol) and
/// spendable points.
struct CardState {
    customer: Option<Customer>,
    spendable: i64,
}

async fn card_state(state: &AppState, shop: &Shop, phone: &str) -> Result<CardState, Fault> {
    let (program_id, currency, phone) = (
        shop.program.id,
        shop.rules.currency.clone(),
        phone.to_string(),
    );
    state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let customer = tx.customer_by_phone(program_id, &phone).await?;
                let spendable = match &customer {
                    Some(c) => {
                        let (balance, held) =
                            ledger::balance(tx, program_id, &currency, Owner::Customer(c.id))
                                .await?;
                        balance - held
                    }
                    None => 0,
                };
                Ok(CardState {
                    customer,
                    spendable,
                })
            })
        })
        .await
        .map_err(ops::store_fault)
}

async fn open(state: AppState, client: ClientAddr, request: Request, kind: Kind) -> Page {
    let asked = Asked::of(request.headers(), None);
    let unknown = before_the_shop(&asked);
    let fields = match read_form(request).await {
        Ok(f) => f,
        Err(fault) => return Page::error(StatusCode::BAD_REQUEST, fault, unknown),
    };
    let url = match return_url(&fields) {
        Ok(u) => u,
        Err(fault) => return Page::error(StatusCode::BAD_REQUEST, fault, unknown),
    };
    let login = fields
        .require("phone")
        .and_then(|p| Ok((p, fields.require("password")?)));
    let shop = match login {
        Ok((phone, password)) => ops::authenticate(&state, phone, password, client).await,
        Err(fault) => Err(fault),
    };
    let shop = match shop {
        Ok(s) => s,
        Err(fault) => return Page::error(StatusCode::UNAUTHORIZED, fault, unknown),
    };
    let reader = reader_for(&asked, &shop);
    let host = url.host_str().unwrap_or_default();
    if !rules::return_host_allowed(host, &shop.merchant.return_hosts) {
        tracing::warn!(
            merchant = shop.merchant.id.0,
            host,
            "inCust page refused a foreign returnurl"
        );
        return Page::error(
            StatusCode::FORBIDDEN,
            Fault::with(Status::ReturnUrlRefused, host),
            reader,
        );
    }
    let url = url.to_string();
    // From here on the shop is known and its address trusted: refusals go back to it.
    let opening = Opening {
        shop: &shop,
        fields: &fields,
        url: &url,
        kind,
        asked: &asked,
    };
    match prepare(&state, opening, client).await {
        Ok(page) => page,
        Err(fault) => Page::refusal(&url, fault, shop.lang, reader),
    }
}

/// A page a shop's form asks to open.
struct Opening<'a> {
    shop: &'a Shop,
    fields: &'a Fields,
    url: &'a str,
    kind: Kind,
    asked: &'a Asked,
}

async fn prepare(
    state: &AppState,
    opening: Opening<'_>,
    client: ClientAddr,
) -> Result<Page, Fault> {
    let Opening {
        shop,
        fields,
        url,
        kind,
        asked,
    } = opening;
    let reader = reader_for(asked, shop);
    let phone = card_phone(fields, &shop.rules)?;
    let amount = money(fields, "amount", shop.rules.money_decimals)?;
    let comment = comment(fields)?;
    let earn = match kind {
        Kind::Earn => Sale::earn(&shop.rules, amount)?.bonuses_earned,
        Kind::Redeem => Amount::ZERO,
    };
    if let Some(page) =
        already_done(state, shop, kind, &phone, amount, &comment, url, reader).await?
    {
        return Ok(page);
    }
    let card = card_state(state, shop, &phone).await?;
    match (&card.customer, kind) {
        (Some(c), _) if c.state == CustomerState::Blocked => return Err(Status::CardBlocked.into()),
        (None, Kind::Redeem) => return Err(Status::UnknownCard.into()),
        (None, Kind::Earn) if !shop.rules.enrol_on_earn => return Err(Status::UnknownCard.into()),
        _ => {}
    }
    let max = shop.rules.max_redeemable(amount, Amount(card.spendable));
    if kind == Kind::Redeem && max.0 <= 0 {
        return Err(Status::NotEnoughBonuses.into());
    }
    let pin = card.customer.as_ref().and_then(|c| c.pin_hash.clone());
    let code = pin.is_none().then(one_time_code);
    let token = secrets::random_token(24);
    let mut page = NewIncustPage {
        form_token: secrets::token_digest(&token),
        kind: kind.as_str().into(),
        merchant_id: shop.merchant.id,
        program_id: shop.program.id,
        customer_id: card.customer.as_ref().map(|c| c.id),
        cardphone: phone.clone(),
        amount: amount.0,
        comment,
        return_url: url.to_string(),
        code_digest: code
            .as_ref()
            .map(|c| code_digest(&secrets::random_token(8), c)),
        expires_at: kopilka_store::now_ms() + rules::PAGE_LIFETIME_MS,
    };
    let sms = code.map(|c| NewMessage {
        merchant_id: Some(shop.merchant.id),
        customer_id: card.customer.as_ref().map(|c| c.id),
        ..NewMessage::sms(&phone, super::texts::code(shop, &c))
    });
    let address = client.to_string();
    let opened = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(sms) = &sms else {
                    tx.incust_open_page(&page).await?;
                    return Ok(Ok(page.expires_at));
                };
                let sending = CodeSending {
                    surface: Surface::IncustPage,
                    phone: &page.cardphone,
                    address: &address,
                    sender: &format!("merchant:{}", page.merchant_id.0),
                };
                tx.serialize_code_sending(sending).await?;
                // A page opened again while the shop's last code for the card is valid
                // takes that code, and lives as long as it: no new SMS.
                let now = tx.now();
                if let Some((digest, expires_at)) = tx
                    .incust_valid_code(page.merchant_id, &page.cardphone, now)
                    .await?
                {
                    page.code_digest = Some(digest);
                    page.expires_at = expires_at;
                    tx.incust_open_page(&page).await?;
                    return Ok(Ok(expires_at));
                }
                if let Err(exceeded) = tx.spend_code_quota(sending).await? {
                    return Ok(Err(exceeded));
                }
                tx.incust_open_page(&page).await?;
                tx.enqueue(sms).await?;
                Ok(Ok(page.expires_at))
            })
        })
        .await
        .map_err(ops::store_fault)?;
    let until = match opened {
        Ok(until) => until,
        Err(exceeded) => {
            tracing::warn!(
                merchant = shop.merchant.id.0,
                %client,
                ?exceeded,
                "inCust page refused: code SMS quota spent"
            );
            return Err(Status::TooManyCodes.into());
        }
    };
    let view = FormData {
        kind,
        phone,
        amount,
        earn,
        spendable: card.spendable,
        max,
        chosen: max,
        by_code: pin.is_none(),
        until,
    };
    Ok(Page::Form(Box::new(view.view(shop, asked, token, None))))
}

/// An order this shop already paid with bonuses (or earned on) through a page or the API: the
/// customer is told so at once and goes back to the shop with that transaction's answer,
/// instead of being offered to pay again. A cancelled one, or one with another card or amount,
/// is refused as the XML API refuses it.
#[allow(clippy::too_many_arguments)]
async fn already_done(
    state: &AppState,
    shop: &Shop,
    kind: Kind,
    phone: &str,
    amount: Amount,
    comment: &str,
    url: &str,
    reader: i18n::Lang,
) -> Result<Option<Page>, Fault> {
    let (merchant_id, comment) = (shop.merchant.id, comment.to_string());
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(transaction) = tx
                    .incust_order_transaction(merchant_id, kind.as_str(), &comment)
                    .await?
                else {
                    return Ok(None);
                };
                let cancelled = ledger::operation(tx, transaction.operation_id)
                    .await?
                    .is_some_and(|op| op.reversed > 0);
                Ok(Some((transaction, cancelled)))
            })
        })
        .await
        .map_err(ops::store_fault)?;
    let Some((transaction, cancelled)) = found else {
        return Ok(None);
    };
    if cancelled {
        return Err(Status::AlreadyCancelled.into());
    }
    if transaction.cardphone != phone || transaction.amount != amount.0 {
        return Err(Status::OrderConflict.into());
    }
    let done = Done {
        transaction,
        replayed: true,
    };
    let (fields, _) = success(shop, kind, &done, reader);
    let t = &done.transaction;
    let message = match kind {
        Kind::Redeem => with_bonuses(reader, "incust-already-paid", shop, t.bonuses_redeemed),
        Kind::Earn => with_bonuses(reader, "incust-already-earned", shop, t.bonuses_earned),
    };
    Ok(Some(Page::Back {
        url: url.to_string(),
        fields,
        message,
        reader,
    }))
}

/// What the page form shows.
struct FormData {
    kind: Kind,
    phone: String,
    amount: Amount,
    earn: Amount,
    spendable: i64,
    max: Amount,
    chosen: Amount,
    by_code: bool,
    /// When the page stops taking an answer (unix ms).
    until: i64,
}

impl FormData {
    /// The page in the language `asked` picks, its switch posting the form's token back.
    fn view(&self, shop: &Shop, asked: &Asked, token: String, error: Option<String>) -> PageView {
        let reader = reader_for(asked, shop);
        let (heading, confirm) = match self.kind {
            Kind::Redeem => ("incust-redeem", "incust-pay"),
            Kind::Earn => ("incust-earn", "incust-confirm-earn"),
        };
        let heading = i18n::text(reader, heading, None);
        let switch = vec![("token", token.clone()), ("action", "language".to_string())];
        let (decimals, rules) = (shop.rules.decimals, &shop.rules);
        let plain = |minor| kopilka_domain::money::format_decimal(Amount(minor), decimals);
        PageView {
            page: Chrome::new(reader, format!("{heading} — {}", shop.merchant.name))
                .brand(shop.merchant.name.clone())
                .switch_posting(asked, "/app/confirm/", switch, CUSTOMER),
            heading,
            confirm,
            redeem: self.kind == Kind::Redeem,
            shop: shop.merchant.name.clone(),
            order: i18n::number(self.amount.0, rules.money_decimals, reader),
            card: mask(&self.phone),
            balance: i18n::bonuses(self.spendable, decimals, reader),
            earn: i18n::bonuses(self.earn.0, decimals, reader),
            max: plain(self.max.0),
            at_most: with_bonuses(reader, "incust-at-most", shop, self.max.0),
            chosen: plain(self.chosen.0),
            step: plain(1),
            by_code: self.by_code,
            until: i18n::datetime(self.until, &rules.time_zone, reader),
            token,
            error,
        }
    }
}

fn one_time_code() -> String {
    let mut rng = rand::thread_rng();
    (0..rules::CODE_DIGITS)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// `salt:sha256(salt:code)`: the code is short-lived and attempts are limited, so a fast hash
/// is enough to keep it out of the database.
fn code_digest(salt: &str, code: &str) -> String {
    format!(
        "{salt}:{}",
        secrets::token_digest(&format!("{salt}:{code}"))
    )
}

fn code_matches(stored: &str, code: &str) -> bool {
    match stored.split_once(':') {
        Some((salt, _)) => secrets::constant_time_eq(&code_digest(salt, code), stored),
        None => false,
    }
}

/// What the customer's answer leads to.
#[derive(Clone)]
enum Verdict {
    Cancel(Status),
    /// The form again, with a problem that costs no attempt.
    Again(Fault),
    Try {
        right: bool,
        sale: Sale,
    },
}

/// A page found by a form token, with its shop.
struct Found {
    page: IncustPage,
    shop: Shop,
    now: i64,
    /// The token is the page's current one (not a form from before its last answer).
    current: bool,
}

async fn find(state: &AppState, digest: &str) -> Result<Option<Found>, StoreError> {
    let digest = digest.to_string();
    state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(page) = tx.incust_page_by_any_token(&digest).await? else {
                    return Ok(None);
                };
                let current = tx.incust_page_by_token(&digest).await?.is_some();
                let merchant = tx.merchant(page.merchant_id).await?;
                let program = tx.program(page.program_id).await?;
                let now = tx.now();
                Ok(merchant.zip(program).map(|(merchant, program)| {
                    let rules = program.rules.clone();
                    Found {
                        page,
                        shop: Shop {
                            lang: Lang::of(&rules),
                            merchant,
                            program,
                            rules,
                        },
                        now,
                        current,
                    }
                }))
            })
        })
        .await
}

fn kind_of(page: &IncustPage) -> Kind {
    if page.kind == "earn" {
        Kind::Earn
    } else {
        Kind::Redeem
    }
}

async fn answer(state: AppState, client: ClientAddr, request: Request) -> Page {
    let asked = Asked::of(request.headers(), None);
    let fields = match read_form(request).await {
        Ok(f) => f,
        Err(fault) => return Page::error(StatusCode::BAD_REQUEST, fault, before_the_shop(&asked)),
    };
    // The switch on the page posts its choice with the form's token.
    let asked = asked.switched_to(fields.get("lang").and_then(i18n::Lang::parse));
    let unknown = before_the_shop(&asked);
    let stale = || Page::stale(StatusCode::GONE, Status::PageExpired, unknown);
    let Some(token) = fields.get("token") else {
        return stale();
    };
    let digest = secrets::token_digest(token);
    let unavailable = |e: StoreError, reader| {
        Page::stale(StatusCode::SERVICE_UNAVAILABLE, ops::store_fault(e), reader)
    };
    let Found {
        page,
        shop,
        now,
        current,
    } = match find(&state, &digest).await {
        Ok(Some(found)) => found,
        Ok(None) => return stale(),
        Err(e) => return unavailable(e, unknown),
    };
    let reader = reader_for(&asked, &shop);
    // The same form again (refresh, back button): what the page did stands and is shown.
    if page.finished_at.is_some() {
        return completed(&state, &shop, &page, reader).await;
    }
    let kind = kind_of(&page);
    let card = match card_state(&state, &shop, &page.cardphone).await {
        Ok(c) => c,
        Err(fault) => return Page::stale(StatusCode::SERVICE_UNAVAILABLE, fault, reader),
    };
    let next = secrets::random_token(24);
    if !current || fields.get("action") == Some("language") {
        // A form from before the page's last answer, or the language switch: the page again,
        // as it is now.
        let reissued = {
            let (id, next) = (page.id, secrets::token_digest(&next));
            state
                .store
                .write(move |tx| Box::pin(async move { tx.incust_reissue_page(id, &next).await }))
                .await
        };
        let again = Again {
            shop: &shop,
            page: &page,
            card: &card,
            fields: &fields,
            asked: &asked,
        };
        return match reissued {
            Ok(true) => again.form(kind, next, None),
            Ok(false) => completed(&state, &shop, &page, reader).await,
            Err(e) => unavailable(e, reader),
        };
    }
    let verdict = judge(&state, client, &shop, &page, &card, &fields, kind, now).await;
    let result = settle(&state, &shop, &page, &digest, &next, &verdict, kind, reader).await;
    let again = Again {
        shop: &shop,
        page: &page,
        card: &card,
        fields: &fields,
        asked: &asked,
    };
    match result {
        // Another submission of this form took it first.
        Ok(Settled::Stale) => match find(&state, &digest).await {
            Ok(Some(found)) if found.page.finished_at.is_some() => {
                completed(&state, &shop, &found.page, reader).await
            }
            Ok(_) => stale(),
            Err(e) => unavailable(e, reader),
        },
        Ok(Settled::Back(fields, message)) => Page::Back {
            url: page.return_url.clone(),
            fields,
            message,
            reader,
        },
        Ok(Settled::Again(fault)) => again.form(kind, next, Some(form_error(&fault, reader))),
        Err(StoreError::Domain(e)) => {
            // The operation was refused and rolled back; the page closes with the reason.
            let status = Status::of_domain(&e);
            match settle(
                &state,
                &shop,
                &page,
                &digest,
                &next,
                &Verdict::Cancel(status),
                kind,
                reader,
            )
            .await
            {
                Ok(Settled::Back(fields, message)) => Page::Back {
                    url: page.return_url.clone(),
                    fields,
                    message,
                    reader,
                },
                Ok(_) => stale(),
                Err(e) => unavailable(e, reader),
            }
        }
        Err(e) => unavailable(e, reader),
    }
}

/// What a problem with the customer's own answer says on the form.
fn form_error(fault: &Fault, reader: i18n::Lang) -> String {
    match fault.status {
        Status::MissingField => i18n::text(reader, "incust-fill-in", None),
        _ => customer_text(fault, reader),
    }
}

/// An open page and what its last form said, to show the form again.
struct Again<'a> {
    shop: &'a Shop,
    page: &'a IncustPage,
    card: &'a CardState,
    fields: &'a Fields,
    asked: &'a Asked,
}

impl Again<'_> {
    /// The page's form again, with a fresh token.
    fn form(&self, kind: Kind, next: String, error: Option<String>) -> Page {
        let Again {
            shop,
            page,
            card,
            fields,
            asked,
        } = self;
        let max = shop
            .rules
            .max_redeemable(Amount(page.amount), Amount(card.spendable));
        let chosen = fields
            .get("bonuses")
            .and_then(|b| parse_decimal(b, shop.rules.decimals).ok())
            .filter(|b| b.0 > 0 && *b <= max)
            .unwrap_or(max);
        let data = FormData {
            kind,
            phone: page.cardphone.clone(),
            amount: Amount(page.amount),
            earn: Sale::earn(&shop.rules, Amount(page.amount))
                .map(|s| s.bonuses_earned)
                .unwrap_or_default(),
            spendable: card.spendable,
            max,
            chosen,
            by_code: page.code_digest.is_some(),
            until: page.expires_at,
        };
        Page::Form(Box::new(data.view(shop, asked, next, error)))
    }
}

/// A finished page shown again: back to the shop with what it returned the first time.
async fn completed(state: &AppState, shop: &Shop, page: &IncustPage, reader: i18n::Lang) -> Page {
    let status = page
        .status
        .as_deref()
        .and_then(Status::from_code)
        .unwrap_or(Status::PageExpired);
    let back = |fields, message| Page::Back {
        url: page.return_url.clone(),
        fields,
        message,
        reader,
    };
    let Some(operation_id) = page.operation_id.filter(|_| status == Status::Ok) else {
        let (fields, message) = refused(status, shop.lang, reader);
        return back(fields, message);
    };
    let transaction = state
        .store
        .read(move |tx| Box::pin(async move { tx.incust_transaction(operation_id.0).await }))
        .await;
    match transaction {
        Ok(Some(transaction)) => {
            let done = Done {
                transaction,
                replayed: true,
            };
            let (fields, message) = success(shop, kind_of(page), &done, reader);
            back(fields, message)
        }
        Ok(None) => Page::stale(
            StatusCode::SERVICE_UNAVAILABLE,
            ops::store_fault(StoreError::Corrupt(format!(
                "page {} operation {operation_id} has no inCust answer",
                page.id
            ))),
            reader,
        ),
        Err(e) => Page::stale(StatusCode::SERVICE_UNAVAILABLE, ops::store_fault(e), reader),
    }
}

/// A refusal going back to the shop: `status` and `statusdesc` in the protocol's language
/// `lang`, and what the customer reads.
fn refused(
    status: Status,
    lang: Lang,
    reader: i18n::Lang,
) -> (Vec<(&'static str, String)>, String) {
    let fault = Fault::new(status);
    (
        vec![
            ("status", status.code().to_string()),
            ("statusdesc", fault.text(lang)),
        ],
        customer_text(&fault, reader),
    )
}

/// Decides, before any write, what the answer asks for and whether its secret is right. A
/// spend password is checked under the growing delays of `kopilka_domain::throttle` (per
/// client address, per card, per shop): nobody locks a card by failing it.
#[allow(clippy::too_many_arguments)]
async fn judge(
    state: &AppState,
    client: ClientAddr,
    shop: &Shop,
    page: &IncustPage,
    card: &CardState,
    fields: &Fields,
    kind: Kind,
    now: i64,
) -> Verdict {
    if fields.get("action") == Some("cancel") {
        return Verdict::Cancel(Status::CancelledByCustomer);
    }
    if now > page.expires_at {
        return Verdict::Cancel(Status::PageExpired);
    }
    let sale = match kind {
        Kind::Earn => match Sale::earn(&shop.rules, Amount(page.amount)) {
            Ok(s) => s,
            Err(status) => return Verdict::Cancel(status),
        },
        Kind::Redeem => {
            let Some(text) = fields.get("bonuses") else {
                return Verdict::Again(Fault::with(Status::MissingField, "bonuses"));
            };
            let bonuses = match parse_decimal(text, shop.rules.decimals) {
                Ok(b) if b.0 > 0 => b,
                _ => return Verdict::Again(Status::BadAmount.into()),
            };
            let sale = match Sale::redeem(&shop.rules, Amount(page.amount), bonuses) {
                Ok(s) => s,
                Err(status) => return Verdict::Again(status.into()),
            };
            if bonuses.0 > card.spendable {
                return Verdict::Again(Status::NotEnoughBonuses.into());
            }
            sale
        }
    };
    let Some(secret) = fields.get("secret") else {
        return Verdict::Again(Fault::new(Status::MissingField));
    };
    let right = match (&page.code_digest, &card.customer) {
        (Some(stored), _) => code_matches(stored, secret),
        (None, Some(customer)) => {
            let address = client.to_string();
            let attempt = Attempt {
                secret: Secret::Pin,
                customer_id: customer.id,
                address: &address,
                address_is_client: true,
                shop: Some(shop.merchant.id),
            };
            let hash = customer.pin_hash.clone();
            match check_secret(&state.store, attempt, hash, secret.to_string()).await {
                Ok(SecretCheck::Right) => true,
                Ok(SecretCheck::Wrong) => false,
                Ok(SecretCheck::TooSoon) => return Verdict::Again(Status::TryLater.into()),
                Err(e) => return Verdict::Again(ops::store_fault(e)),
            }
        }
        (None, None) => false,
    };
    Verdict::Try { right, sale }
}

enum Settled {
    Stale,
    Back(Vec<(&'static str, String)>, String),
    Again(Fault),
}

/// Takes the page's form token and does what the verdict says, in one transaction: the wrong
/// attempt, the refusal, or the operation with its answer and SMS.
#[allow(clippy::too_many_arguments)]
async fn settle(
    state: &AppState,
    shop: &Shop,
    page: &IncustPage,
    digest: &str,
    next: &str,
    verdict: &Verdict,
    kind: Kind,
    reader: i18n::Lang,
) -> Result<Settled, StoreError> {
    let next_digest = secrets::token_digest(next);
    let lang = shop.lang;
    state
        .store
        .write_retrying(|| {
            let (shop, page, digest, next_digest) = (
                shop.clone(),
                page.clone(),
                digest.to_string(),
                next_digest.clone(),
            );
            let verdict = verdict.clone();
            move |tx| {
                Box::pin(async move {
                    if tx.incust_claim_page(&digest, &next_digest).await?.is_none() {
                        return Ok(Settled::Stale);
                    }
                    let refuse = |status: Status| {
                        let (fields, message) = refused(status, lang, reader);
                        Settled::Back(fields, message)
                    };
                    let (right, sale) = match verdict {
                        Verdict::Cancel(status) => {
                            tx.incust_finish_page(page.id, status.code(), None).await?;
                            return Ok(refuse(status));
                        }
                        Verdict::Again(fault) => return Ok(Settled::Again(fault)),
                        Verdict::Try { right, sale } => (right, sale),
                    };
                    // A code allows five wrong entries, on every page that shows it; a spend
                    // password was throttled as it was checked.
                    let Some(code) = &page.code_digest else {
                        if !right {
                            return Ok(Settled::Again(Status::WrongSecret.into()));
                        }
                        return settle_operation(tx, &shop, &page, kind, sale, reader).await;
                    };
                    let attempts = format!("code:{code}");
                    let since = tx.now() - rules::ATTEMPT_WINDOW_MS;
                    let failures = tx
                        .incust_failures(page.program_id, &attempts, since)
                        .await?;
                    let spent = failures >= rules::MAX_ATTEMPTS;
                    if !right && !spent {
                        tx.incust_add_failure(page.program_id, &attempts, since)
                            .await?;
                        let left = rules::attempts_left(failures + 1);
                        if left > 0 {
                            // The form says how many are left (`customer_text`).
                            let left = Fault::with(Status::WrongSecret, left.to_string());
                            return Ok(Settled::Again(left));
                        }
                    }
                    if !right || spent {
                        // Every page showing the code closes: the card's next page texts a
                        // new one (within the phone's quota).
                        tx.incust_finish_code_pages(
                            page.merchant_id,
                            &page.cardphone,
                            code,
                            Status::TooManyAttempts.code(),
                        )
                        .await?;
                        return Ok(refuse(Status::TooManyAttempts));
                    }
                    tx.incust_clear_failures(page.program_id, &attempts).await?;
                    settle_operation(tx, &shop, &page, kind, sale, reader).await
                })
            }
        })
        .await
}

/// The page's operation, its answer and SMS, and the page finished with its status.
async fn settle_operation(
    tx: &mut kopilka_store::Tx,
    shop: &Shop,
    page: &IncustPage,
    kind: Kind,
    sale: Sale,
    reader: i18n::Lang,
) -> Result<Settled, StoreError> {
    let done = match kind {
        Kind::Redeem => ops::redeem(tx, shop, &page.cardphone, sale, &page.comment).await,
        Kind::Earn => ops::earn(tx, shop, &page.cardphone, sale.amount_to_pay, &page.comment).await,
    };
    // A refused operation wrote nothing (or only what it keeps): the page
    // closes with its status.
    let done = match done {
        Ok(done) => done,
        Err(e) => {
            let status = e.refusal()?;
            tx.incust_finish_page(page.id, status.code(), None).await?;
            let (fields, message) = refused(status, shop.lang, reader);
            return Ok(Settled::Back(fields, message));
        }
    };
    tx.incust_finish_page(
        page.id,
        Status::Ok.code(),
        Some(done.transaction.operation_id.0),
    )
    .await?;
    let (fields, message) = success(shop, kind, &done, reader);
    Ok(Settled::Back(fields, message))
}

/// The seed's answer fields plus `status`, and what the customer reads.
fn success(
    shop: &Shop,
    kind: Kind,
    done: &Done,
    reader: i18n::Lang,
) -> (Vec<(&'static str, String)>, String) {
    let t = &done.transaction;
    let mut fields = vec![
        ("transactionid", t.operation_id.to_string()),
        ("cardphone", t.cardphone.clone()),
    ];
    let message = match kind {
        Kind::Redeem => {
            fields.push(("bonusesredeemed", shop.points(t.bonuses_redeemed)));
            with_bonuses(reader, "incust-redeemed", shop, t.bonuses_redeemed)
        }
        Kind::Earn => {
            fields.push(("amount", shop.money(t.amount)));
            fields.push(("bonusesearned", shop.points(t.bonuses_earned)));
            with_bonuses(reader, "incust-earned", shop, t.bonuses_earned)
        }
    };
    fields.push(("cardbonuses", shop.points(t.card_bonuses)));
    fields.push(("status", Status::Ok.code().to_string()));
    (fields, message)
}
