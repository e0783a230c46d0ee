//! Registration (seed "Registration. Методы процесса регистрации" and its two flows): the
//! steps come from the program's settings, each step is taken once, codes go by SMS and e-mail
//! through the outbox, and tokens rotate where the seed says a response carries a new one.

use super::auth::{self, ConfirmingSession, Session};
use super::wire::{self, ok, LmError, LmResult, Version};
use crate::http::i18n;
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use fluent_bundle::FluentValue;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::loymax::{self as rules, Action, Begin, CodeCheck, Node, Settings, Step};
use kopilka_domain::phone::{mask, Phone};
use kopilka_store::entities::NewCustomer;
use kopilka_store::loymax::LoymaxRegistration;
use kopilka_store::model::{Card, CardKind, CardState, Customer, CustomerState, Program};
use kopilka_store::outbox::NewMessage;
use kopilka_store::{JobError, StoreResult, Tx};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A customer with everything registration decides on, loaded in one transaction.
pub(crate) struct Ctx {
    pub customer: Customer,
    pub program: Program,
    pub settings: Settings,
    pub tree: Vec<Node>,
    pub reg: Option<LoymaxRegistration>,
    /// The registration's steps done, decoded from `reg.done` once.
    steps_done: Vec<Step>,
    pub cards: Vec<Card>,
    /// The session's token waits for the phone's confirmation: to it the phone is not
    /// confirmed, whatever the registration says.
    phone_unconfirmed: bool,
}

impl Ctx {
    pub(crate) async fn load(tx: &mut Tx, customer_id: CustomerId) -> StoreResult<Ctx> {
        let customer = tx
            .customer(customer_id)
            .await?
            .ok_or(kopilka_domain::DomainError::NotFound { entity: "customer" })?;
        let program = tx
            .program(customer.program_id)
            .await?
            .ok_or(kopilka_domain::DomainError::NotFound { entity: "program" })?;
        let settings = Settings::from_program(&program.settings);
        let tree = Settings::questionnaire(&program.settings)
            .map_err(|e| kopilka_store::StoreError::Corrupt(format!("loymax.questions: {e}")))?;
        let reg = tx.loymax_registration(customer_id).await?;
        let steps_done = match &reg {
            Some(reg) => serde_json::from_str(&reg.done).map_err(|e| {
                kopilka_store::StoreError::Corrupt(format!(
                    "registration of customer {customer_id}: done: {e}"
                ))
            })?,
            None => Vec::new(),
        };
        let cards = tx.cards(None, Some(customer_id)).await?;
        Ok(Ctx {
            customer,
            program,
            settings,
            tree,
            reg,
            steps_done,
            cards,
            phone_unconfirmed: false,
        })
    }

    /// Whether the registration's phone was confirmed (by anyone).
    fn phone_confirmed(&self) -> bool {
        !self.registering() || self.steps_done.contains(&Step::ChangePhone)
    }

    /// The phone whose code proves a caller without a password: the confirmed one, or in a
    /// phone registration the one it began with (or was corrected to). A card registration
    /// before its phone is confirmed has none: the card is its credential.
    fn phone_to_prove(&self) -> Option<String> {
        let reg = self.reg.as_ref()?;
        if self.phone_confirmed() {
            return self.customer.phone.clone();
        }
        match reg.flow.as_str() {
            "phone" => reg.new_phone.clone().or(self.customer.phone.clone()),
            _ => None,
        }
    }

    /// A customer without a registration row registered some other way (the native API, the
    /// demo, another protocol): nothing is left to do.
    pub fn registering(&self) -> bool {
        self.reg.as_ref().is_some_and(|r| r.completed_at.is_none())
    }

    fn done(&self) -> Vec<Step> {
        if !self.registering() {
            return Step::ALL.to_vec();
        }
        let mut done = self.steps_done.clone();
        if !self.cards.is_empty() {
            done.push(Step::AssignCard);
        }
        if self.phone_unconfirmed {
            done.retain(|s| *s != Step::ChangePhone);
        }
        done
    }

    pub fn actions(&self) -> Vec<Action> {
        rules::actions(
            &self.settings,
            rules::questionnaire_kind(&self.tree),
            &self.done(),
        )
    }

    /// Refuses a step that is done (while registering) or not offered.
    fn check(&self, step: Step) -> LmResult<()> {
        if self.registering() {
            rules::check_step(&self.actions(), step)?;
        }
        Ok(())
    }

    fn mark(&mut self, step: Step) {
        if self.reg.is_some() && !self.steps_done.contains(&step) {
            self.steps_done.push(step);
        }
    }

    /// The registration row, created (as completed) for a customer changing a phone or e-mail
    /// after registering elsewhere.
    fn reg_mut(&mut self, now: i64) -> &mut LoymaxRegistration {
        let customer_id = self.customer.id;
        self.reg.get_or_insert_with(|| LoymaxRegistration {
            customer_id,
            done: "[]".into(),
            flow: "phone".into(),
            new_phone: None,
            new_email: None,
            completed_at: Some(now),
            created_at: now,
        })
    }

    pub(crate) async fn save(&mut self, tx: &mut Tx) -> StoreResult<()> {
        if let Some(reg) = self.reg.as_mut() {
            reg.done = serde_json::to_string(&self.steps_done).expect("steps serialize");
            tx.loymax_save_registration(reg).await?;
        }
        Ok(())
    }

    fn virtual_cards(&self) -> usize {
        self.cards
            .iter()
            .filter(|c| c.kind == CardKind::Virtual)
            .count()
    }
}

/// Runs a write job that may refuse, answering its refusal or failure in Loymax's terms.
pub(super) async fn job<T, F>(state: &AppState, f: F) -> LmResult<T>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx) -> futures::future::BoxFuture<'a, Result<T, JobError<LmError>>>
        + Send
        + 'static,
{
    Ok(state.store.write_refusing(f).await?)
}

/// Sends a confirmation code, within the quotas per target and per IP.
pub(super) async fn send_code(
    tx: &mut Tx,
    settings: &Settings,
    customer_id: Option<CustomerId>,
    purpose: &str,
    target: &str,
    ip: &str,
) -> Result<(), JobError<LmError>> {
    send_code_with_link(tx, settings, customer_id, purpose, target, ip, None).await
}

/// [`send_code`], and for an e-mail with `link_base` (the server's public URL) a link that
/// confirms the address too: its token is a code of its own (`link:` + the address), so either
/// confirms and the other then finds nothing waiting.
async fn send_code_with_link(
    tx: &mut Tx,
    settings: &Settings,
    customer_id: Option<CustomerId>,
    purpose: &str,
    target: &str,
    ip: &str,
    link_base: Option<&str>,
) -> Result<(), JobError<LmError>> {
    if let Some(refusal) = quota_refusal(tx, settings, target, ip).await? {
        return Err(LmError::coded("TooManyConfirmCodes", refusal).into());
    }
    let code = rules::code_from(rand::random());
    let hash = code_digest(purpose, target, &code);
    let expires_at = tx.now() + rules::CODE_TTL_MS;
    tx.loymax_insert_code(customer_id, purpose, target, ip, &hash, expires_at)
        .await?;
    // In the customer's program's language (Russian, Loymax's own, when there is none).
    let program = match customer_id {
        Some(id) => match tx.customer(id).await? {
            Some(customer) => tx.program(customer.program_id).await?,
            None => None,
        },
        None => None,
    };
    let lang = i18n::of_program(program.as_ref().map_or("", |p| p.rules.language.as_str()));
    let say =
        |id: &str, values: &[(&str, FluentValue)]| i18n::text(lang, id, Some(&i18n::args(values)));
    let mut text = say(
        "sms-loymax-code",
        &[("code", FluentValue::from(code.as_str()))],
    );
    if let Some(base) = link_base {
        let token = secrets::random_token(24);
        let link_target = email_link_target(target);
        let hash = code_digest(purpose, &link_target, &token);
        // Not counted against the client's address: it is part of the same sending.
        tx.loymax_insert_code(customer_id, purpose, &link_target, "", &hash, expires_at)
            .await?;
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("email", target)
            .append_pair("token", &token)
            .finish();
        let link = format!("{base}{EMAIL_LINK_PATH}?{query}");
        text.push('\n');
        text.push_str(&say(
            "email-loymax-link",
            &[("link", FluentValue::from(link))],
        ));
    }
    let mut message = if purpose == "email" {
        NewMessage::email(target, say("email-loymax-code-subject", &[]), text)
    } else {
        NewMessage::sms(target, text)
    };
    message.customer_id = customer_id;
    tx.enqueue(&message).await?;
    Ok(())
}

/// Why one more code may not go to `target` from `ip` now, if it may not.
async fn quota_refusal(
    tx: &mut Tx,
    settings: &Settings,
    target: &str,
    ip: &str,
) -> StoreResult<Option<String>> {
    // Requests for one target or from one address count one after the other, in every
    // process: target first, then address, everywhere.
    tx.serialize_on(&format!("codes:target:{target}")).await?;
    tx.serialize_on(&format!("codes:ip:{ip}")).await?;
    let since = tx.now() - rules::HOUR_MS;
    let (by_target, by_ip) = tx.loymax_codes_sent(target, ip, since).await?;
    if rules::quota_allows(settings, by_target, by_ip) {
        return Ok(None);
    }
    tracing::warn!(target = %masked(target), ip, "loymax: confirmation code quota exceeded");
    metrics::counter!("kopilka_code_quota_refusals_total", "surface" => "loymax", "key" => "phone_or_address")
        .increment(1);
    Ok(Some(
        "Превышено число запросов кода подтверждения. Попробуйте позже".into(),
    ))
}

/// Where the e-mail confirmation link leads (served by [`confirm_email_link`]).
pub(super) const EMAIL_LINK_PATH: &str = "/loymax/email/confirm";

/// The code target of an address's confirmation link.
fn email_link_target(email: &str) -> String {
    format!("link:{email}")
}

fn code_digest(purpose: &str, target: &str, code: &str) -> String {
    secrets::token_digest(&format!("{purpose}:{target}:{}", code.trim()))
}

fn masked(target: &str) -> String {
    if target.contains('@') {
        let (user, domain) = target.split_once('@').unwrap_or((target, ""));
        format!("{}***@{domain}", user.chars().next().unwrap_or('*'))
    } else {
        mask(target)
    }
}

/// Checks an entered code, counting the attempt.
pub(super) async fn check_code(
    tx: &mut Tx,
    purpose: &str,
    target: &str,
    entered: &str,
) -> StoreResult<CodeCheck> {
    let Some(code) = tx.loymax_latest_code(purpose, target).await? else {
        return Ok(CodeCheck::Missing);
    };
    let matches =
        secrets::constant_time_eq(&code_digest(purpose, target, entered), &code.code_hash);
    let result = rules::check_code(
        tx.now(),
        code.expires_at,
        code.attempts,
        code.used_at.is_some(),
        matches,
    );
    if matches!(
        result,
        CodeCheck::Accepted | CodeCheck::Wrong { .. } | CodeCheck::Blocked
    ) && code.attempts < rules::CODE_ATTEMPTS
    {
        tx.loymax_code_attempt(code.id, result == CodeCheck::Accepted)
            .await?;
    }
    Ok(result)
}

pub(super) fn code_error(result: CodeCheck) -> LmError {
    let code = match result {
        CodeCheck::Blocked => "ConfirmCodeBlocked",
        CodeCheck::Expired => "ConfirmCodeExpired",
        _ => "WrongConfirmCode",
    };
    LmError::coded(code, result.message())
}

/// A virtual card for the customer, numbered with the program's prefix.
async fn emit(tx: &mut Tx, ctx: &mut Ctx) -> StoreResult<()> {
    loop {
        let mut number = ctx.settings.virtual_card_prefix.clone();
        while number.len() < 16 {
            number.push(char::from(b'0' + rand::random::<u8>() % 10));
        }
        if tx.card_by_number(ctx.program.id, &number).await?.is_none() {
            let card = tx
                .create_card(
                    ctx.program.id,
                    &number,
                    CardKind::Virtual,
                    Some(ctx.customer.id),
                )
                .await?;
            ctx.cards.push(card);
            return Ok(());
        }
    }
}

fn confirm_code(bytes: &[u8]) -> LmResult<String> {
    let value: Value = wire::body(bytes)?;
    let code = match value
        .get("confirmCode")
        .or_else(|| value.get("ConfirmCode"))
    {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if code.len() != rules::CODE_LENGTH || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LmError::invalid(
            "confirmCode",
            "Код подтверждения — 6 цифр",
        ));
    }
    Ok(code)
}

#[derive(Deserialize)]
struct BeginBody {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

enum Login {
    FreeCard(Card),
    Customer {
        customer: Box<Customer>,
        by_card: bool,
    },
    NewPhone(Phone),
}

/// What `login` names: a card (when cards register), else a phone (when phones do).
async fn find_login(
    state: &AppState,
    program: &Program,
    settings: &Settings,
    login: &str,
) -> LmResult<Login> {
    let program_id = program.id;
    if settings.provider_card.is_on() {
        let number = login.to_string();
        let card = state
            .store
            .read(move |tx| Box::pin(async move { tx.card_by_number(program_id, &number).await }))
            .await?;
        if let Some(card) = card {
            let Some(holder) = card.customer_id else {
                return Ok(Login::FreeCard(card));
            };
            let customer = state
                .store
                .read(move |tx| Box::pin(async move { tx.customer(holder).await }))
                .await?
                .ok_or_else(|| LmError::Fail(format!("card {} has no customer", card.id)))?;
            return Ok(Login::Customer {
                customer: Box::new(customer),
                by_card: true,
            });
        }
    }
    if !settings.provider_phone.is_on() {
        return Err(LmError::invalid("login", "Карта не найдена"));
    }
    let phone = program
        .rules
        .parse_phone(login)
        .map_err(|_| LmError::invalid("login", "Неверный номер телефона или карты"))?;
    let digits = phone.digits().to_string();
    let existing = state
        .store
        .read(move |tx| Box::pin(async move { tx.customer_by_phone(program_id, &digits).await }))
        .await?;
    Ok(match existing {
        Some(customer) => Login::Customer {
            customer: Box::new(customer),
            by_card: false,
        },
        None => Login::NewPhone(phone),
    })
}

/// How many times BeginRegistration looks its login up again when a concurrent request
/// registered it between the look-up and the write.
const BEGIN_LOOKUPS: usize = 3;

/// `POST Registration/BeginRegistration`: a new registration by phone or by card, or the
/// continuation of an interrupted one. Concurrent calls for one login all get an answer: the
/// one that creates the registration, the others its continuation.
pub async fn begin(State(state): State<AppState>, parts: Parts, bytes: Bytes) -> LmResult {
    let input: BeginBody = wire::body(&bytes)?;
    let ip = super::client_ip(&state, &parts);
    let program = super::program(&state).await?;
    let settings = super::settings(&program);
    let login = input.login.unwrap_or_default().trim().to_string();
    let password = input.password.unwrap_or_default();
    if login.is_empty() {
        return Err(LmError::invalid(
            "login",
            "Укажите номер телефона или карты",
        ));
    }
    for _ in 0..BEGIN_LOOKUPS {
        let started = match find_login(&state, &program, &settings, &login).await? {
            Login::Customer { customer, by_card } => Some(
                continue_registration(&state, *customer, by_card, password.clone(), ip.clone())
                    .await?,
            ),
            Login::FreeCard(card) => begin_by_card(&state, card, &settings, &password).await?,
            Login::NewPhone(phone) => {
                begin_by_phone(&state, program.id, &phone, &settings, &ip).await?
            }
        };
        if let Some(token) = started {
            return Ok(ok(
                json!({"state": "Success", "errorMessage": null, "authToken": token}),
            ));
        }
    }
    Err(LmError::business(
        "Регистрация уже начата, повторите запрос",
    ))
}

/// A registration by a free physical card: the card is the credential, so its token needs no
/// phone. `None` when a concurrent request took the card first.
async fn begin_by_card(
    state: &AppState,
    card: Card,
    settings: &Settings,
    activation_password: &str,
) -> LmResult<Option<String>> {
    if card.kind != CardKind::Physical || card.state != CardState::Free {
        return Err(LmError::invalid(
            "login",
            "Карта недоступна для регистрации",
        ));
    }
    super::cards::check_secret(
        state,
        card.id,
        super::cards::Secret::Activation,
        Some(activation_password.to_string()),
    )
    .await?;
    let settings = settings.clone();
    job(state, move |tx| {
        Box::pin(async move {
            let Some(card) = tx
                .card(card.id)
                .await?
                .filter(|c| c.customer_id.is_none() && c.state == CardState::Free)
            else {
                return Ok(None);
            };
            let customer = tx
                .create_customer(&registering(card.program_id, None))
                .await?;
            tx.update_card(card.id, CardState::Active, Some(customer.id))
                .await?;
            if let Some(program) = tx.program(card.program_id).await? {
                crate::offers::welcome(
                    tx,
                    &program,
                    customer.id,
                    crate::offers::Welcome::CardActivated { card: card.id },
                )
                .await?;
            }
            tx.loymax_save_registration(&new_registration(tx, customer.id, "card", None))
                .await?;
            Ok(Some(auth::issue(tx, customer.id, None, &settings).await?))
        })
    })
    .await
}

/// A registration by phone: the customer waits for the phone's code, and so does the token.
/// `None` when a concurrent request registered the phone first.
async fn begin_by_phone(
    state: &AppState,
    program_id: ProgramId,
    phone: &Phone,
    settings: &Settings,
    ip: &str,
) -> LmResult<Option<String>> {
    let settings = Arc::new(settings.clone());
    let (digits, ip) = (phone.digits().to_string(), ip.to_string());
    // A phone taken by a concurrent writer other than BeginRegistration: run again, and find it.
    let begun = state.store.write_retrying_refusing(|| {
        let (settings, digits, ip) = (settings.clone(), digits.clone(), ip.clone());
        move |tx: &mut Tx| {
            Box::pin(async move {
                // Refused before anything is written: BeginRegistration is what SMS bombers
                // call. The quota's keys also make the requests for this phone wait for each
                // other.
                if let Some(refusal) = quota_refusal(tx, &settings, &digits, &ip).await? {
                    return Err(begin_answer(Begin::RegistrationBlocked, Some(refusal)).into());
                }
                if tx.customer_by_phone(program_id, &digits).await?.is_some() {
                    return Ok(None);
                }
                let customer = tx
                    .create_customer(&registering(program_id, Some(digits.clone())))
                    .await?;
                let reg = new_registration(tx, customer.id, "phone", Some(digits.clone()));
                tx.loymax_save_registration(&reg).await?;
                send_code(tx, &settings, Some(customer.id), "phone", &digits, &ip).await?;
                Ok(Some(
                    auth::issue_phone_unconfirmed(tx, customer.id, &settings).await?,
                ))
            })
                as futures::future::BoxFuture<'_, Result<Option<String>, JobError<LmError>>>
        }
    });
    Ok(begun.await?)
}

/// A refused BeginRegistration: the seed's `data` with the state, and the envelope's error.
fn begin_answer(answer: Begin, message: Option<String>) -> LmError {
    let message = message
        .or_else(|| answer.message().map(str::to_string))
        .unwrap_or_default();
    LmError::with_data(
        message.clone(),
        json!({"state": answer.state(), "errorMessage": message, "authToken": null}),
    )
}

fn registering(program_id: ProgramId, phone: Option<String>) -> NewCustomer {
    NewCustomer {
        state: CustomerState::Registering,
        ..NewCustomer::active(program_id, phone)
    }
}

fn new_registration(
    tx: &Tx,
    customer_id: CustomerId,
    flow: &str,
    phone: Option<String>,
) -> LoymaxRegistration {
    LoymaxRegistration {
        customer_id,
        done: "[]".into(),
        flow: flow.into(),
        new_phone: phone,
        new_email: None,
        completed_at: None,
        created_at: tx.now(),
    }
}

/// BeginRegistration for a login that exists (the seed's "Продолжение регистрации"). Only a
/// password proves who the caller is; without one, a registration whose phone is known hands
/// out a token that waits for that phone's code (a new one is sent), so a stranger who knows
/// the number can neither read the person's data nor act for them. An anonymous card holder's
/// registration starts on the card's own account.
async fn continue_registration(
    state: &AppState,
    customer: Customer,
    by_card: bool,
    password: String,
    ip: String,
) -> LmResult<String> {
    let customer_id = customer.id;
    let reg = state
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_registration(customer_id).await }))
        .await?;
    if by_card && reg.is_none() && anonymous_holder(&customer) {
        return begin_anonymous(state, &customer).await;
    }
    let completed = match &reg {
        Some(r) => r.completed_at.is_some(),
        None => customer.state != CustomerState::Registering,
    };
    let has_password = customer.password_hash.is_some();
    let password_ok = match (has_password, password.is_empty()) {
        (true, false) => match auth::check_password(state, &customer, password, &ip).await? {
            auth::SecretCheck::Right => Some(true),
            auth::SecretCheck::Wrong => Some(false),
            auth::SecretCheck::TooSoon => {
                return Err(begin_answer(
                    Begin::RegistrationBlocked,
                    Some("Слишком много неверных паролей. Попробуйте позже".into()),
                ))
            }
        },
        (false, false) => Some(false),
        _ => None,
    };
    let answer = rules::begin_existing(
        completed,
        customer.state == CustomerState::Blocked,
        has_password,
        password_ok,
    );
    if answer != Begin::Token {
        return Err(begin_answer(answer, None));
    }
    let proved = password_ok == Some(true);
    job(state, move |tx| {
        Box::pin(async move {
            let ctx = Ctx::load(tx, customer_id).await?;
            let settings = ctx.settings.clone();
            if !ctx.registering() {
                return Err(begin_answer(Begin::RegistrationAlreadyCompleted, None).into());
            }
            let phone = if proved { None } else { ctx.phone_to_prove() };
            let Some(phone) = phone else {
                return Ok(auth::issue(tx, customer_id, None, &settings).await?);
            };
            if let Some(refusal) = quota_refusal(tx, &settings, &phone, &ip).await? {
                return Err(begin_answer(Begin::RegistrationBlocked, Some(refusal)).into());
            }
            send_code(tx, &settings, Some(customer_id), "phone", &phone, &ip).await?;
            Ok(auth::issue_phone_unconfirmed(tx, customer_id, &settings).await?)
        })
    })
    .await
}

/// A holder the till gave a card to and nothing else: no phone, e-mail or password, and no
/// registration begun.
fn anonymous_holder(customer: &Customer) -> bool {
    rules::anonymous_holder(
        customer.state == CustomerState::Active,
        customer.phone.is_some(),
        customer.email.is_some(),
        customer.password_hash.is_some(),
    )
}

/// BeginRegistration by the card of an anonymous holder (`RegistrationProviderAnonymous`):
/// the card registration starts on the holder's own account, so the points the card earned at
/// the till stay, and the card keeps working meanwhile. Refused when the program does not
/// register anonymous holders.
async fn begin_anonymous(state: &AppState, customer: &Customer) -> LmResult<String> {
    let program = super::program(state).await?;
    let settings = super::settings(&program);
    if !settings.provider_anonymous.is_on() {
        return Err(LmError::invalid(
            "login",
            "Карта недоступна для регистрации",
        ));
    }
    let customer_id = customer.id;
    job(state, move |tx| {
        Box::pin(async move {
            // A concurrent request may have begun it: then this is its continuation.
            if tx.loymax_registration(customer_id).await?.is_none() {
                let reg = new_registration(tx, customer_id, "card", None);
                tx.loymax_save_registration(&reg).await?;
                // Signs in once registered, as every registering customer; the till's
                // operations do not look at it.
                if let Some(mut customer) = tx.customer(customer_id).await? {
                    customer.state = CustomerState::Registering;
                    tx.update_customer(&customer).await?;
                }
            }
            Ok(auth::issue(tx, customer_id, None, &settings).await?)
        })
    })
    .await
}

fn action_view(a: &Action) -> Value {
    json!({
        "userActionType": a.step.name(),
        "actionState": if a.required { "Required" } else { "Custom" },
        "isDone": a.done,
    })
}

/// `GET user/actions`.
pub async fn actions(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
) -> LmResult {
    let ctx = read_ctx(&state, &session).await?;
    let actions: Vec<Value> = ctx.actions().iter().map(action_view).collect();
    Ok(ok(json!({"actions": actions})))
}

/// Loads the session's customer in a write job, runs `f` on it and saves the registration
/// unless `f` refuses.
async fn step<T, F>(state: &AppState, session: &Session, f: F) -> LmResult<T>
where
    T: Send + 'static,
    F: for<'a> FnOnce(
            &'a mut Tx,
            &'a mut Ctx,
        ) -> futures::future::BoxFuture<'a, Result<T, JobError<LmError>>>
        + Send
        + 'static,
{
    let (id, phone_unconfirmed) = (session.customer.id, session.phone_unconfirmed);
    job(state, move |tx| {
        Box::pin(async move {
            let mut ctx = Ctx::load(tx, id).await?;
            ctx.phone_unconfirmed = phone_unconfirmed;
            let value = f(tx, &mut ctx).await?;
            ctx.save(tx).await?;
            Ok(value)
        })
    })
    .await
}

/// `POST User/AcceptTenderOffer`. In the card flow with `EmitVirtualCard` 1 a virtual card is
/// issued here (the seed).
pub async fn accept_offer(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
) -> LmResult {
    step(&state, &session, |tx, ctx| {
        Box::pin(async move {
            accept_offer_step(tx, ctx).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// The offer accepted (Loymax's `User/AcceptTenderOffer`, the cabinet's box).
pub(crate) async fn accept_offer_step(tx: &mut Tx, ctx: &mut Ctx) -> Result<(), JobError<LmError>> {
    ctx.check(Step::AcceptTenderOffer)?;
    if !ctx.registering() {
        return Err(LmError::from(rules::RegistrationError::Completed).into());
    }
    // Nobody accepts the offer for the holder of a confirmed phone but the holder.
    if ctx.phone_unconfirmed && ctx.phone_confirmed() {
        return Err(LmError::from(rules::RegistrationError::PhoneFirst).into());
    }
    ctx.mark(Step::AcceptTenderOffer);
    let card_flow = ctx.reg.as_ref().is_some_and(|r| r.flow == "card");
    if card_flow
        && ctx.settings.emit_virtual_card == rules::Mode::Required
        && ctx.virtual_cards() == 0
    {
        emit(tx, ctx).await?;
    }
    Ok(())
}

/// The two contacts registration confirms by code; their handlers differ only in these.
#[derive(Clone, Copy, PartialEq)]
enum Contact {
    Phone,
    Email,
}

impl Contact {
    fn step(self) -> Step {
        match self {
            Contact::Phone => Step::ChangePhone,
            Contact::Email => Step::ChangeEmail,
        }
    }

    /// The code's purpose, which also picks SMS or e-mail.
    fn purpose(self) -> &'static str {
        match self {
            Contact::Phone => "phone",
            Contact::Email => "email",
        }
    }

    /// The value waiting for its code: for a token that waits for the phone's confirmation,
    /// the confirmed phone itself.
    fn waiting(self, ctx: &Ctx) -> Option<String> {
        let reg = ctx.reg.as_ref()?;
        match self {
            Contact::Phone if ctx.phone_unconfirmed && ctx.phone_confirmed() => {
                ctx.customer.phone.clone()
            }
            Contact::Phone => reg.new_phone.clone(),
            Contact::Email => reg.new_email.clone(),
        }
    }

    fn pending(self, reg: &mut LoymaxRegistration) -> &mut Option<String> {
        match self {
            Contact::Phone => &mut reg.new_phone,
            Contact::Email => &mut reg.new_email,
        }
    }

    fn current(self, customer: &mut Customer) -> &mut Option<String> {
        match self {
            Contact::Phone => &mut customer.phone,
            Contact::Email => &mut customer.email,
        }
    }

    fn nothing_pending(self) -> LmError {
        LmError::business(match self {
            Contact::Phone => "Нет номера телефона, ожидающего подтверждения",
            Contact::Email => "Нет адреса, ожидающего подтверждения",
        })
    }
}

/// The session's customer, read for a GET.
async fn read_ctx(state: &AppState, session: &Session) -> LmResult<Ctx> {
    let (id, phone_unconfirmed) = (session.customer.id, session.phone_unconfirmed);
    let mut ctx = state
        .store
        .read(move |tx| Box::pin(async move { Ctx::load(tx, id).await }))
        .await?;
    ctx.phone_unconfirmed = phone_unconfirmed;
    Ok(ctx)
}

/// Whether another customer of the program has `phone`.
async fn phone_taken(tx: &mut Tx, ctx: &Ctx, phone: &str) -> StoreResult<bool> {
    let other = tx.customer_by_phone(ctx.program.id, phone).await?;
    Ok(other.is_some_and(|other| other.id != ctx.customer.id))
}

fn phone_in_use() -> LmError {
    LmError::coded("PhoneNumberInUse", "Номер телефона уже используется")
}

/// A code for `contact`: to `new`, which then waits for it (`POST User/PhoneNumber`,
/// `POST User/Email`), or again to the one waiting (`…/SendConfirmCode`); within the quotas.
async fn send_contact_code(
    state: &AppState,
    session: &Session,
    parts: &Parts,
    contact: Contact,
    new: Option<String>,
) -> LmResult {
    let ip = super::client_ip(state, parts);
    let link_base = (contact == Contact::Email).then(|| state.public_url.to_string());
    step(state, session, move |tx, ctx| {
        Box::pin(async move {
            contact_code(tx, ctx, contact, new, &ip, link_base.as_deref()).await?;
            Ok(ok(json!({"codeLength": rules::CODE_LENGTH})))
        })
    })
    .await
}

/// The body of [`send_contact_code`], in the caller's job.
async fn contact_code(
    tx: &mut Tx,
    ctx: &mut Ctx,
    contact: Contact,
    new: Option<String>,
    ip: &str,
    link_base: Option<&str>,
) -> Result<(), JobError<LmError>> {
    ctx.check(contact.step())?;
    let target = match &new {
        // Only the confirmed phone's code makes such a token the registration's.
        Some(_) if contact == Contact::Phone && ctx.phone_unconfirmed && ctx.phone_confirmed() => {
            return Err(LmError::from(rules::RegistrationError::PhoneFirst).into());
        }
        Some(new) => {
            if contact == Contact::Phone && phone_taken(tx, ctx, new).await? {
                return Err(phone_in_use().into());
            }
            new.clone()
        }
        None => contact
            .waiting(ctx)
            .ok_or_else(|| contact.nothing_pending())?,
    };
    send_code_with_link(
        tx,
        &ctx.settings,
        Some(ctx.customer.id),
        contact.purpose(),
        &target,
        ip,
        link_base,
    )
    .await?;
    if new.is_some() {
        let now = tx.now();
        *contact.pending(ctx.reg_mut(now)) = Some(target);
    }
    Ok(())
}

/// An address for the registration to confirm (Loymax's `POST User/Email`): its code and
/// link go out within the quotas, and it waits for either.
pub(crate) async fn email_code_step(
    tx: &mut Tx,
    ctx: &mut Ctx,
    address: String,
    ip: &str,
    link_base: &str,
) -> Result<(), JobError<LmError>> {
    contact_code(tx, ctx, Contact::Email, Some(address), ip, Some(link_base)).await
}

/// The address waiting for its code becomes the customer's (Loymax's `User/Email/Confirm`).
pub(crate) async fn confirm_email_step(
    tx: &mut Tx,
    ctx: &mut Ctx,
    code: &str,
) -> Result<(), JobError<LmError>> {
    confirm(tx, ctx, Contact::Email, code).await
}

/// The address waiting for its code, if any.
pub(crate) fn email_waiting(ctx: &Ctx) -> Option<String> {
    Contact::Email.waiting(ctx)
}

/// The waiting contact becomes the customer's once `code` matches. Refusals after the code is
/// checked keep its attempt (or its use).
async fn confirm(
    tx: &mut Tx,
    ctx: &mut Ctx,
    contact: Contact,
    code: &str,
) -> Result<(), JobError<LmError>> {
    ctx.check(contact.step())?;
    let target = contact
        .waiting(ctx)
        .ok_or_else(|| contact.nothing_pending())?;
    let result = check_code(tx, contact.purpose(), &target, code).await?;
    if result != CodeCheck::Accepted {
        return Err(JobError::RefusedKeeping(code_error(result)));
    }
    take_waiting(tx, ctx, contact, target).await
}

/// The waiting contact, its code accepted, becomes the customer's.
async fn take_waiting(
    tx: &mut Tx,
    ctx: &mut Ctx,
    contact: Contact,
    target: String,
) -> Result<(), JobError<LmError>> {
    if contact == Contact::Phone && phone_taken(tx, ctx, &target).await? {
        return Err(JobError::RefusedKeeping(phone_in_use()));
    }
    *contact.current(&mut ctx.customer) = Some(target);
    tx.update_customer(&ctx.customer).await?;
    ctx.mark(contact.step());
    if let Some(reg) = ctx.reg.as_mut() {
        *contact.pending(reg) = None;
    }
    Ok(())
}

/// `GET User/PhoneNumber`: the confirmed number and the one waiting for its code, masked.
pub async fn phone(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
) -> LmResult {
    let ctx = read_ctx(&state, &session).await?;
    let confirmed = ctx.phone_confirmed() && !ctx.phone_unconfirmed;
    let current = match (&ctx.customer.phone, confirmed) {
        (Some(p), true) => mask(p),
        _ => String::new(),
    };
    let pending = Contact::Phone
        .waiting(&ctx)
        .map(|p| json!({"phoneNumber": mask(&p)}));
    Ok(ok(json!({
        "currentPhoneNumber": current,
        "newPhoneNumber": pending,
        "confirmCodeLength": rules::CODE_LENGTH,
    })))
}

/// `POST User/PhoneNumber`: a (new) number to confirm; a code goes to it.
pub async fn set_phone(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
    parts: Parts,
    bytes: Bytes,
) -> LmResult {
    let value: Value = wire::body(&bytes)?;
    let text = value
        .get("phoneNumber")
        .and_then(Value::as_str)
        .unwrap_or("");
    let phone = session
        .program
        .rules
        .parse_phone(text)
        .map_err(|_| LmError::invalid("phoneNumber", "Неверный номер телефона"))?;
    let digits = phone.digits().to_string();
    send_contact_code(&state, &session, &parts, Contact::Phone, Some(digits)).await
}

/// `POST User/PhoneNumber/SendConfirmCode`.
pub async fn resend_phone_code(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
    parts: Parts,
) -> LmResult {
    send_contact_code(&state, &session, &parts, Contact::Phone, None).await
}

/// `POST User/PhoneNumber/Confirm`: the number becomes the customer's; the answer carries a
/// new token, which no longer waits for the phone. Other tokens still waiting for it end.
pub async fn confirm_phone(
    State(state): State<AppState>,
    version: Version,
    ConfirmingSession(session): ConfirmingSession,
    bytes: Bytes,
) -> LmResult {
    let code = confirm_code(&bytes)?;
    let key = session.key();
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            confirm(tx, ctx, Contact::Phone, &code).await?;
            tx.loymax_end_unconfirmed_tokens(ctx.customer.id, key.0)
                .await?;
            Ok(ok(new_token(tx, key, &ctx.settings, version).await?))
        })
    })
    .await
}

/// The answer of a step that replaces the token: the seed's `{authToken}`, or in 1.2 an OAuth
/// pair (`access_token`, `refresh_token`, …) as the public SDK reads it.
async fn new_token(
    tx: &mut Tx,
    key: (i64, CustomerId, Option<i64>),
    settings: &Settings,
    version: Version,
) -> StoreResult<Value> {
    Ok(match version {
        Version::Seed => json!({"authToken": auth::rotate(tx, key, settings).await?}),
        Version::V12 => auth::rotate_pair(tx, key, settings).await?,
    })
}

/// `POST User/PhoneNumber/CancelChange`: the number waiting for its code is dropped.
pub async fn cancel_phone_change(State(state): State<AppState>, session: Session) -> LmResult {
    cancel_change(&state, &session, Contact::Phone).await
}

/// `POST User/Email/CancelChange`.
pub async fn cancel_email_change(State(state): State<AppState>, session: Session) -> LmResult {
    cancel_change(&state, &session, Contact::Email).await
}

async fn cancel_change(state: &AppState, session: &Session, contact: Contact) -> LmResult {
    step(state, session, move |_, ctx| {
        Box::pin(async move {
            if contact.waiting(ctx).is_none() {
                return Err(contact.nothing_pending().into());
            }
            if let Some(reg) = ctx.reg.as_mut() {
                *contact.pending(reg) = None;
            }
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// `POST User/Password/Set`: the registration's password; the answer carries a new token.
pub async fn set_password(
    State(state): State<AppState>,
    version: Version,
    session: Session,
    bytes: Bytes,
) -> LmResult {
    let value: Value = wire::body(&bytes)?;
    let password = value
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    validate_password(&password, "password")?;
    let hash = secrets::hash_secret_async(password).await;
    let key = session.key();
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            set_password_step(tx, ctx, hash).await?;
            Ok(ok(new_token(tx, key, &ctx.settings, version).await?))
        })
    })
    .await
}

/// The registration's password (its argon2 `hash`), once its phone is confirmed.
pub(crate) async fn set_password_step(
    tx: &mut Tx,
    ctx: &mut Ctx,
    hash: String,
) -> Result<(), JobError<LmError>> {
    if !ctx.registering() {
        return Err(LmError::coded(
            "PasswordAlreadySet",
            "Пароль уже установлен: используйте смену пароля",
        )
        .into());
    }
    ctx.check(Step::PasswordRequired)?;
    ctx.customer.password_hash = Some(hash);
    tx.update_customer(&ctx.customer).await?;
    ctx.mark(Step::PasswordRequired);
    Ok(())
}

pub(super) fn validate_password(password: &str, field: &str) -> LmResult<()> {
    let length = password.chars().count();
    if !kopilka_domain::loymax::PASSWORD_CHARS.contains(&length) {
        return Err(LmError::invalid(
            field,
            "Пароль должен содержать от 6 до 64 символов",
        ));
    }
    Ok(())
}

/// `GET User/Email`.
pub async fn email(State(state): State<AppState>, version: Version, session: Session) -> LmResult {
    let ctx = read_ctx(&state, &session).await?;
    let pending = ctx.reg.as_ref().and_then(|r| r.new_email.clone());
    let mut answer = json!({
        "currentEmail": ctx.customer.email,
        "newEmail": {"email": pending},
        "confirmCodeLength": rules::CODE_LENGTH,
    });
    if version == Version::V12 {
        let status = if ctx.customer.email.is_some() {
            "Verified"
        } else {
            "Unverified"
        };
        answer["currentNotifierStatus"] = json!(status);
        answer["notifierMask"] = json!(ctx.customer.email.as_deref().map(masked));
    }
    Ok(ok(answer))
}

pub(crate) fn valid_email(email: &str) -> bool {
    let Some((user, domain)) = email.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

/// `POST User/Email`: an address to confirm; a code goes to it.
pub async fn set_email(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    bytes: Bytes,
) -> LmResult {
    let value: Value = wire::body(&bytes)?;
    let address = value
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if !valid_email(&address) {
        return Err(LmError::invalid(
            "email",
            "Неверный адрес электронной почты",
        ));
    }
    send_contact_code(&state, &session, &parts, Contact::Email, Some(address)).await
}

/// `POST User/Email/SendConfirmCode`.
pub async fn resend_email_code(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
) -> LmResult {
    send_contact_code(&state, &session, &parts, Contact::Email, None).await
}

/// `POST User/Email/Confirm`.
pub async fn confirm_email(
    State(state): State<AppState>,
    session: Session,
    bytes: Bytes,
) -> LmResult {
    let code = confirm_code(&bytes)?;
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            confirm(tx, ctx, Contact::Email, &code).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// `GET /loymax/email/confirm?email=…&token=…`, the link of the e-mail confirmation: the
/// address waiting for its code becomes the customer's, as `User/Email/Confirm` with the code
/// does. Answers a small page for the browser.
pub async fn confirm_email_link(
    State(state): State<AppState>,
    parts: Parts,
) -> axum::response::Response {
    use crate::http::html::Message;
    use crate::http::i18n::Lang;
    use axum::http::StatusCode;
    // The Loymax programs' customers read Russian (the protocol's own language).
    let page = |heading: &str, text: &str| {
        let mut message = Message::new(Lang::Ru, "", text);
        message.heading = heading.to_string();
        message.page.title = heading.to_string();
        message.answer(StatusCode::OK)
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let (Some(email), Some(token)) = (query.get("email"), query.get("token")) else {
        return page("Ссылка неполна", "В ссылке нет адреса или ключа.");
    };
    let (email, token) = (email.clone(), token.clone());
    let done = job(&state, move |tx| {
        Box::pin(async move {
            let target = email_link_target(&email);
            let Some(code) = tx
                .loymax_latest_code(Contact::Email.purpose(), &target)
                .await?
            else {
                return Err(code_error(CodeCheck::Missing).into());
            };
            let customer_id = code
                .customer_id
                .ok_or_else(|| code_error(CodeCheck::Missing))?;
            let result = check_code(tx, Contact::Email.purpose(), &target, &token).await?;
            if result != CodeCheck::Accepted {
                return Err(JobError::RefusedKeeping(code_error(result)));
            }
            let mut ctx = Ctx::load(tx, customer_id).await?;
            if Contact::Email.waiting(&ctx).as_deref() != Some(email.as_str()) {
                return Err(JobError::RefusedKeeping(Contact::Email.nothing_pending()));
            }
            ctx.check(Step::ChangeEmail)?;
            take_waiting(tx, &mut ctx, Contact::Email, email).await?;
            ctx.save(tx).await?;
            Ok(())
        })
    })
    .await;
    match done {
        Ok(()) => page("Адрес подтверждён", "Адрес электронной почты подтверждён."),
        Err(LmError::Business { message, .. }) => page("Адрес не подтверждён", &message),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

/// The customer's stored answers, by question id.
fn stored_answers(customer: &Customer) -> serde_json::Map<String, Value> {
    customer
        .profile
        .get("answers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn fill(nodes: &mut [Node], answers: &serde_json::Map<String, Value>) {
    for node in nodes {
        if node.node_type == "Question" {
            if let Some(value) = node
                .id
                .and_then(|id| answers.get(&id.to_string()))
                .and_then(Value::as_str)
            {
                if node.field_type.as_deref() == Some("Choice") {
                    for option in node.children.iter_mut().flatten() {
                        option.selected =
                            Some(option.id.map(|i| i.to_string()).as_deref() == Some(value));
                    }
                } else {
                    node.value = Some(value.to_string());
                }
            }
        } else if let Some(children) = node.children.as_mut() {
            fill(children, answers);
        }
    }
}

/// `GET User/Questions` (`filter.onlyRequired=true` keeps the required ones).
pub async fn questions(session: Session, parts: Parts) -> LmResult {
    let only_required = wire::query(&parts)
        .get("filter.onlyrequired")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let tree = Settings::questionnaire(&session.program.settings).map_err(LmError::Fail)?;
    let mut tree = if only_required {
        rules::only_required(&tree)
    } else {
        tree
    };
    fill(&mut tree, &stored_answers(&session.customer));
    Ok(ok(json!({"questions": tree})))
}

/// `POST User/Answers`: validated against the tree; errors in the seed's shape.
pub async fn answers(
    State(state): State<AppState>,
    version: Version,
    session: Session,
    bytes: Bytes,
) -> LmResult {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        answers: Vec<rules::Answer>,
    }
    let input = match version {
        Version::Seed => wire::body::<Body>(&bytes)?,
        Version::V12 => Body {
            answers: answers_of_1_2(wire::body(&bytes)?),
        },
    };
    let today = wire::today(&session.program.rules.time_zone);
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            answers_step(tx, ctx, &input.answers, today).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// The questionnaire's answers, validated against the program's tree (while registering,
/// every required question answered) and kept in the profile.
pub(crate) async fn answers_step(
    tx: &mut Tx,
    ctx: &mut Ctx,
    answers: &[rules::Answer],
    today: rules::Date,
) -> Result<(), JobError<LmError>> {
    ctx.check(Step::Questions)?;
    let registering = ctx.registering();
    let kept =
        rules::validate_answers(&ctx.tree, answers, today, registering).map_err(|errors| {
            LmError::with_data("Ошибка при заполнении анкеты", json!({"errors": errors}))
        })?;
    let mut profile = ctx.customer.profile.clone();
    if !profile.is_object() {
        profile = json!({});
    }
    for answer in kept {
        profile["answers"][answer.id.to_string()] = json!(answer.value);
        if let Some(name) = answer.logical_name {
            profile[name] = json!(answer.value);
        }
    }
    ctx.customer.profile = profile;
    tx.update_customer(&ctx.customer).await?;
    ctx.mark(Step::Questions);
    Ok(())
}

/// An answer of the 1.2 questionnaire (`[{questionId, questionGroupId, value, fixedAnswerIds,
/// tag}]`, the public SDK's body).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Answer12 {
    question_id: i64,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    fixed_answer_ids: Vec<Value>,
}

/// The seed's answers for 1.2 ones: a value answers its question; chosen options name the
/// question in `groupID` and the option in `id`.
fn answers_of_1_2(answers: Vec<Answer12>) -> Vec<rules::Answer> {
    let mut seed = Vec::new();
    for answer in answers {
        if answer.fixed_answer_ids.is_empty() {
            let value = match answer.value {
                Some(Value::String(s)) => Some(s),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            };
            seed.push(rules::Answer {
                group_id: None,
                id: answer.question_id,
                value,
                selected: false,
            });
        }
        for option in answer.fixed_answer_ids {
            let id = match &option {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            seed.push(rules::Answer {
                group_id: Some(answer.question_id),
                // An option that is not a number matches none, and validation names it.
                id: id.unwrap_or(-1),
                value: None,
                selected: true,
            });
        }
    }
    seed
}

/// `GET Cards/EmitVirtual`: whether a virtual card may be issued.
pub async fn emission(State(state): State<AppState>, session: Session) -> LmResult {
    let ctx = read_ctx(&state, &session).await?;
    let count = ctx.virtual_cards();
    Ok(ok(json!({
        "currentCountOfVirtualCards": count,
        "isVirtualCardEmissionAllowed": ctx.settings.emit_virtual_card.is_on() && count == 0,
    })))
}

/// `PUT` (or `POST`) `Cards/EmitVirtual`: issues the customer's virtual card.
pub async fn emit_virtual(
    State(state): State<AppState>,
    version: Version,
    session: Session,
) -> LmResult {
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            if !ctx.settings.emit_virtual_card.is_on() {
                return Err(LmError::coded(
                    "VirtualCardEmissionForbidden",
                    "Выпуск виртуальных карт запрещён",
                )
                .into());
            }
            if ctx.virtual_cards() > 0 {
                return Err(LmError::coded(
                    "VirtualCardAlreadyEmitted",
                    "Виртуальная карта уже выпущена",
                )
                .into());
            }
            emit(tx, ctx).await?;
            Ok(match (version, ctx.cards.last()) {
                (Version::V12, Some(card)) => ok(super::cards::emitted(card)),
                _ => ok(Value::Null),
            })
        })
    })
    .await
}

/// `POST Cards/Set`: binds a free physical card; `cvcCode` must match the card's CVC when it
/// has one (checked before the job: argon2 is slow).
pub async fn set_card(
    State(state): State<AppState>,
    version: Version,
    session: Session,
    bytes: Bytes,
) -> LmResult {
    let value: Value = wire::body(&bytes)?;
    let number = match value.get("cardNumber") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if number.is_empty() || number.len() > 32 {
        return Err(LmError::invalid("cardNumber", "Укажите номер карты"));
    }
    let cvc = match value.get("cvcCode") {
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (program_id, lookup) = (session.program.id, number.clone());
    let card = state
        .store
        .read(move |tx| Box::pin(async move { tx.card_by_number(program_id, &lookup).await }))
        .await?;
    if let Some(card) = card.filter(|c| c.customer_id.is_none()) {
        super::cards::check_secret(&state, card.id, super::cards::Secret::Cvc, cvc).await?;
    }
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            let assigned = || {
                LmError::from(rules::RegistrationError::AlreadyDone(
                    Step::AssignCard.name(),
                ))
            };
            if ctx.registering() && ctx.cards.iter().any(|c| c.kind == CardKind::Physical) {
                return Err(assigned().into());
            }
            let Some(card) = tx.card_by_number(ctx.program.id, &number).await? else {
                return Err(LmError::coded("CardNotFound", "Карта не найдена").into());
            };
            if card.customer_id == Some(ctx.customer.id) {
                return Err(assigned().into());
            }
            if card.customer_id.is_some()
                || card.state != CardState::Free
                || card.kind != CardKind::Physical
            {
                return Err(
                    LmError::coded("CardNotAvailable", "Карта недоступна для привязки").into(),
                );
            }
            tx.update_card(card.id, CardState::Active, Some(ctx.customer.id))
                .await?;
            crate::offers::welcome(
                tx,
                &ctx.program,
                ctx.customer.id,
                crate::offers::Welcome::CardActivated { card: card.id },
            )
            .await?;
            Ok(match version {
                Version::Seed => ok(Value::Null),
                Version::V12 => {
                    let mut card = card;
                    card.state = CardState::Active;
                    card.customer_id = Some(ctx.customer.id);
                    ok(super::cards::emitted(&card))
                }
            })
        })
    })
    .await
}

/// `POST Registration/TryFinishRegistration`: completes a registration whose required steps
/// are done; with `EmitVirtualCard` 1 a customer without a virtual card gets one here.
pub async fn finish(State(state): State<AppState>, version: Version, session: Session) -> LmResult {
    let key = session.key();
    step(&state, &session, move |tx, ctx| {
        Box::pin(async move {
            if !ctx.registering() {
                return Err(LmError::from(rules::RegistrationError::Completed).into());
            }
            if let Err((e, actions)) = complete(tx, ctx).await? {
                if version == Version::V12 {
                    // 1.2 answers the steps still open as data, as the public SDK reads it.
                    let open: Vec<Value> = actions
                        .iter()
                        .filter(|a| a.required && !a.done)
                        .map(action_view)
                        .collect();
                    return Ok(ok(json!({
                        "token_type": "bearer",
                        "access_token": null,
                        "refresh_token": null,
                        "expires_in": null,
                        "registrationCompleted": false,
                        "uncompletedActions": open,
                    })));
                }
                return Err(LmError::with_data(
                    e.to_string(),
                    json!({"registrationCompleted": false, "authToken": null}),
                )
                .into());
            }
            let mut answer = new_token(tx, key, &ctx.settings, version).await?;
            answer["registrationCompleted"] = json!(true);
            if version == Version::V12 {
                answer["uncompletedActions"] = json!([]);
            }
            Ok(ok(answer))
        })
    })
    .await
}

/// Completes a registration whose required steps are done (with `EmitVirtualCard` 1 a
/// customer without a virtual card gets one here) and gives the registration's welcome
/// offers; otherwise why not, with the steps as they stand.
pub(crate) async fn complete(
    tx: &mut Tx,
    ctx: &mut Ctx,
) -> StoreResult<Result<(), (rules::RegistrationError, Vec<Action>)>> {
    let emits = ctx.settings.emit_virtual_card == rules::Mode::Required && ctx.virtual_cards() == 0;
    let mut actions = ctx.actions();
    if emits {
        for a in actions.iter_mut().filter(|a| a.step == Step::AssignCard) {
            a.done = true;
        }
    }
    if let Err(e) = rules::check_finish(&actions) {
        return Ok(Err((e, actions)));
    }
    if emits {
        emit(tx, ctx).await?;
    }
    ctx.customer.state = CustomerState::Active;
    tx.update_customer(&ctx.customer).await?;
    // A welcome bonus is an offer on the registration, given with it.
    crate::offers::welcome(
        tx,
        &ctx.program,
        ctx.customer.id,
        crate::offers::Welcome::Registration,
    )
    .await?;
    let now = tx.now();
    ctx.reg_mut(now).completed_at = Some(now);
    Ok(Ok(()))
}

/// A phone registration begun by someone who proved the phone with a code (the cabinet's
/// sign-in code): the registering customer, its phone confirmed. `None` when the program has
/// the phone already (a concurrent registration).
pub(crate) async fn begin_proved(
    tx: &mut Tx,
    program_id: ProgramId,
    phone: &str,
) -> StoreResult<Option<CustomerId>> {
    if tx.customer_by_phone(program_id, phone).await?.is_some() {
        return Ok(None);
    }
    let customer = tx
        .create_customer(&registering(program_id, Some(phone.to_string())))
        .await?;
    let mut reg = new_registration(tx, customer.id, "phone", None);
    reg.done = serde_json::to_string(&[Step::ChangePhone]).expect("steps serialize");
    tx.loymax_save_registration(&reg).await?;
    Ok(Some(customer.id))
}

/// The registration's phone proved by its holder elsewhere (a cabinet code to `phone`), as
/// `User/PhoneNumber/Confirm` proves it: the phone becomes confirmed, and tokens still waiting
/// for its code (a stranger's) end.
pub(crate) async fn prove_phone(
    tx: &mut Tx,
    ctx: &mut Ctx,
    phone: &str,
) -> Result<(), JobError<LmError>> {
    if ctx.phone_confirmed() {
        return Ok(());
    }
    take_waiting(tx, ctx, Contact::Phone, phone.to_string()).await?;
    tx.loymax_end_unconfirmed_tokens(ctx.customer.id, 0).await?;
    Ok(())
}
