//! Registration in the cabinet, by the rules of the program that registers customers (the
//! Loymax program, `loymax::program`). A phone nobody has gets a sign-in code like any other;
//! the right code begins that program's phone registration with the phone confirmed, and a
//! registration begun elsewhere (Loymax's app, half done) continues with it. The page then
//! asks for what is still open — the offer, the password, the e-mail, the questionnaire — and
//! takes each step through `loymax::registration`, the steps Loymax's API takes: one customer,
//! one registration, whichever way it goes on.

use super::{failure, form_token, session_customer, session_token};
use crate::http::html::{render, Chrome, Message, Page};
use crate::http::i18n::{self, Asked, Lang, CUSTOMER};
use crate::http::ClientAddr;
use crate::loymax::registration::{self as steps, Ctx};
use crate::loymax::wire::LmError;
use crate::secrets;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::loymax::{self as rules, Answer, Node, Step, CODE_LENGTH, PASSWORD_CHARS};
use kopilka_store::model::{Customer, CustomerState};
use kopilka_store::{JobError, StoreResult, Tx};

pub(super) const PATH: &str = "/cabinet/register";
/// Where a finished registration lands: the balance, with its welcome.
const REGISTERED: &str = "/cabinet?registered=1";
/// The form's purpose in its token.
const FORM: &str = "registration";

/// The program new phones register in, with its language: the Loymax program, whose
/// registration the cabinet takes. `None`: the cabinet registers nobody.
pub(super) async fn program(state: &AppState) -> Option<(ProgramId, String)> {
    let program = crate::loymax::program(state).await.ok()?;
    Some((program.id, program.rules.language))
}

/// Whether `customer` is in a registration still open (the cabinet shows only its page).
pub(super) async fn registering(tx: &mut Tx, customer: &Customer) -> StoreResult<bool> {
    if customer.state != CustomerState::Registering {
        return Ok(false);
    }
    let reg = tx.loymax_registration(customer.id).await?;
    Ok(reg.is_some_and(|r| r.completed_at.is_none()))
}

/// Who a right code signed in, and where they go.
pub(super) struct Entered {
    pub customer: CustomerId,
    pub next: &'static str,
}

/// The holder of `phone` proved it with the code of `program_id`: a new customer's
/// registration begins, an open one continues (its phone now confirmed), a registered
/// customer goes to the balance. `None` for a blocked customer.
pub(super) async fn entered(
    tx: &mut Tx,
    program_id: ProgramId,
    customer: Option<Customer>,
    phone: &str,
) -> Result<Option<Entered>, JobError<&'static str>> {
    let Some(customer) = customer else {
        let Some(id) = steps::begin_proved(tx, program_id, phone).await? else {
            // A registration of this phone began meanwhile: its code is another's.
            return Err(JobError::Refused("cabinet-code-stale"));
        };
        return Ok(Some(Entered {
            customer: id,
            next: PATH,
        }));
    };
    if customer.state == CustomerState::Blocked {
        return Ok(None);
    }
    if !registering(tx, &customer).await? {
        return Ok(Some(Entered {
            customer: customer.id,
            next: "/cabinet",
        }));
    }
    let mut ctx = Ctx::load(tx, customer.id).await?;
    steps::prove_phone(tx, &mut ctx, phone)
        .await
        .map_err(refused)?;
    ctx.save(tx).await?;
    Ok(Some(Entered {
        customer: customer.id,
        next: PATH,
    }))
}

/// A step's refusal as the cabinet says it: Loymax's words are the protocol's.
fn refused(error: JobError<LmError>) -> JobError<&'static str> {
    match error {
        JobError::Store(e) => JobError::Store(e),
        JobError::Refused(e) | JobError::RefusedKeeping(e) => {
            tracing::warn!("cabinet registration: a step refused: {e:?}");
            JobError::Refused("cabinet-register-refused")
        }
    }
}

/// The signed-in registering customer of a request, with the page's language.
struct Registrant {
    id: CustomerId,
    program: String,
    lang: Lang,
    asked: Asked,
    ip: String,
    token: String,
}

async fn registrant(
    state: &AppState,
    headers: &HeaderMap,
    asked: Asked,
    ip: String,
) -> Result<Registrant, Response> {
    let lang = asked.pick(None, CUSTOMER);
    let Some(session) = session_token(headers) else {
        return Err(Redirect::to("/cabinet").into_response());
    };
    let found = session_customer(state, &session)
        .await
        .map_err(|e| failure(lang, e))?;
    // Signed out, or registered: the cabinet's own page says which.
    let Some((id, program)) = found
        .filter(|found| found.registering)
        .and_then(|found| Some((found.customer.id, found.program?)))
    else {
        return Err(Redirect::to("/cabinet").into_response());
    };
    Ok(Registrant {
        id,
        lang: asked.pick(Some(&program.rules.language), CUSTOMER),
        program: program.name,
        asked,
        ip,
        token: form_token(headers, FORM),
    })
}

/// A question of the questionnaire as the form shows it.
struct Question {
    /// The field's name: `q` + the question's id.
    name: String,
    label: String,
    /// `text`, `date`, `select` or `flag`.
    kind: &'static str,
    required: bool,
    max_length: Option<usize>,
    /// The browser's autofill token for the question's logical name, if it has one.
    autocomplete: &'static str,
    value: String,
    /// (id, label, chosen) of a choice.
    options: Vec<(String, String, bool)>,
    errors: Vec<String>,
}

/// The e-mail step: the address to type, or the code of the one waiting.
struct Email {
    required: bool,
    value: String,
    waiting: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "cabinet/register.html")]
struct RegisterView {
    page: Chrome,
    token: String,
    /// The offer's step is open: its text's address, if the program publishes one.
    offer: Option<Option<String>>,
    offer_ticked: bool,
    offer_error: Option<String>,
    password: bool,
    password_error: Option<String>,
    email: Option<Email>,
    questions: Vec<Question>,
    /// Required steps the cabinet cannot take (a card to bind).
    elsewhere: bool,
    error: Option<String>,
}

impl Page for RegisterView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// What the customer sent, kept to show again after an error.
#[derive(Default)]
struct Sent {
    offer: bool,
    password: String,
    email: String,
    email_code: String,
    /// (field name, value)
    answers: Vec<(String, String)>,
}

impl Sent {
    fn parse(body: &[u8]) -> (String, Sent) {
        let mut token = String::new();
        let mut sent = Sent::default();
        for (key, value) in form_urlencoded::parse(body).into_owned() {
            match key.as_str() {
                "token" => token = value,
                "offer" => sent.offer = true,
                "password" => sent.password = value,
                "email" => sent.email = value.trim().to_string(),
                "email_code" => sent.email_code = value.trim().to_string(),
                _ if key.starts_with('q') => sent.answers.push((key, value)),
                _ => {}
            }
        }
        (token, sent)
    }

    fn answer(&self, name: &str) -> Option<&str> {
        self.answers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The autofill token of a questionnaire's logical name (Loymax's usual ones).
fn autocomplete(logical_name: Option<&str>) -> &'static str {
    match logical_name.map(str::to_ascii_lowercase).as_deref() {
        Some("lastname") => "family-name",
        Some("firstname") => "given-name",
        Some("patronymicname" | "middlename") => "additional-name",
        Some("birthdate" | "birthday") => "bday",
        Some("sex" | "gender") => "sex",
        _ => "",
    }
}

/// The step is offered and not done.
fn open(ctx: &Ctx, step: Step) -> Option<bool> {
    ctx.actions()
        .into_iter()
        .find(|a| a.step == step && !a.done)
        .map(|a| a.required)
}

/// The questions as form fields, with what was sent (or is kept) and the errors by id.
fn questions(tree: &[Node], sent: &Sent, errors: &[rules::QuestionError]) -> Vec<Question> {
    rules::questions(tree)
        .into_iter()
        .filter_map(|q| {
            let id = q.id?;
            let name = format!("q{id}");
            let value = sent.answer(&name).unwrap_or("").to_string();
            let kind = match q.field_type.as_deref() {
                Some("Date") => "date",
                Some("Choice") => "select",
                Some("Flag") => "flag",
                _ => "text",
            };
            let options = q
                .children
                .iter()
                .flatten()
                .filter_map(|o| {
                    let option = o.id?.to_string();
                    let chosen = option == value;
                    Some((option, o.display_name.clone(), chosen))
                })
                .collect();
            Some(Question {
                errors: errors
                    .iter()
                    .find(|e| e.id_question == id.to_string())
                    .map(|e| e.errors.clone())
                    .unwrap_or_default(),
                label: q.display_name.clone(),
                kind,
                required: q.required == Some(true),
                max_length: q.max_length,
                autocomplete: autocomplete(q.logical_name.as_deref()),
                value,
                options,
                name,
            })
        })
        .collect()
}

/// The answers of the form in the questionnaire's terms; questions left empty are not
/// answers (a required one is then named by the validation).
fn answers(tree: &[Node], sent: &Sent) -> Vec<Answer> {
    rules::questions(tree)
        .into_iter()
        .filter_map(|q| {
            let id = q.id?;
            let value = sent.answer(&format!("q{id}")).unwrap_or("").trim();
            match q.field_type.as_deref() {
                Some("Flag") => Some(Answer {
                    group_id: None,
                    id,
                    value: Some((!value.is_empty()).to_string()),
                    selected: false,
                }),
                _ if value.is_empty() => None,
                // A choice names its question in groupID and the option in id.
                Some("Choice") => Some(Answer {
                    group_id: Some(id),
                    id: value.parse().unwrap_or(-1),
                    value: None,
                    selected: true,
                }),
                _ => Some(Answer {
                    group_id: None,
                    id,
                    value: Some(value.to_string()),
                    selected: false,
                }),
            }
        })
        .collect()
}

/// Errors of the form, found before anything is written.
#[derive(Default)]
struct Errors {
    offer: Option<&'static str>,
    password: Option<&'static str>,
    email: Option<&'static str>,
    questions: Vec<rules::QuestionError>,
    general: Option<&'static str>,
}

impl Errors {
    fn any(&self) -> bool {
        self.offer.is_some()
            || self.password.is_some()
            || self.email.is_some()
            || !self.questions.is_empty()
            || self.general.is_some()
    }
}

fn view(who: &Registrant, ctx: &Ctx, sent: &Sent, errors: &Errors) -> RegisterView {
    let lang = who.lang;
    let say = |id: &str| i18n::text(lang, id, None);
    let page = Chrome::titled(lang, "cabinet-register")
        .brand(who.program.clone())
        .switch(&who.asked, PATH, CUSTOMER);
    let email = open(ctx, Step::ChangeEmail).map(|required| Email {
        required,
        value: sent.email.clone(),
        waiting: steps::email_waiting(ctx),
        error: errors.email.map(say),
    });
    let elsewhere = ctx
        .actions()
        .iter()
        .any(|a| a.required && !a.done && a.step == Step::AssignCard)
        && ctx.settings.emit_virtual_card != rules::Mode::Required;
    RegisterView {
        page,
        token: who.token.clone(),
        offer: open(ctx, Step::AcceptTenderOffer).map(|_| ctx.settings.offer_url.clone()),
        offer_ticked: sent.offer,
        offer_error: errors.offer.map(say),
        password: open(ctx, Step::PasswordRequired).is_some(),
        password_error: errors.password.map(say),
        email,
        questions: match open(ctx, Step::Questions) {
            Some(_) => questions(&ctx.tree, sent, &errors.questions),
            None => Vec::new(),
        },
        elsewhere,
        error: errors.general.map(say),
    }
}

async fn load(state: &AppState, id: CustomerId) -> StoreResult<Ctx> {
    state
        .store
        .read(move |tx| Box::pin(async move { Ctx::load(tx, id).await }))
        .await
}

/// `GET /cabinet/register`: the steps still open.
pub(super) async fn page(
    State(state): State<AppState>,
    asked: Asked,
    client: ClientAddr,
    headers: HeaderMap,
) -> Response {
    let who = match registrant(&state, &headers, asked, client.to_string()).await {
        Ok(who) => who,
        Err(page) => return page,
    };
    match load(&state, who.id).await {
        Ok(ctx) => render(
            StatusCode::OK,
            &view(&who, &ctx, &Sent::default(), &Errors::default()),
        ),
        Err(e) => failure(who.lang, e),
    }
}

/// Checks the form against the steps open; nothing is written when it finds an error.
fn check(ctx: &Ctx, sent: &Sent, today: rules::Date) -> Errors {
    let mut errors = Errors::default();
    if open(ctx, Step::AcceptTenderOffer).is_some() && !sent.offer {
        errors.offer = Some("cabinet-register-offer-needed");
    }
    if open(ctx, Step::PasswordRequired).is_some()
        && !PASSWORD_CHARS.contains(&sent.password.chars().count())
    {
        errors.password = Some("cabinet-register-password-length");
    }
    if let Some(required) = open(ctx, Step::ChangeEmail) {
        let waiting = steps::email_waiting(ctx).is_some();
        if !sent.email.is_empty() && !steps::valid_email(&sent.email) {
            errors.email = Some("cabinet-register-email-invalid");
        } else if !sent.email_code.is_empty()
            && (sent.email_code.len() != CODE_LENGTH
                || !sent.email_code.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.email = Some("cabinet-code-wrong");
        } else if required && sent.email.is_empty() && !waiting {
            errors.email = Some("cabinet-register-email-needed");
        }
    }
    if open(ctx, Step::Questions).is_some() {
        if let Err(found) =
            rules::validate_answers(&ctx.tree, &answers(&ctx.tree, sent), today, true)
        {
            errors.questions = found;
        }
    }
    errors
}

/// How the form's job ended.
enum Saved {
    /// Registered: the welcome.
    Done,
    /// Steps are still open (an e-mail's code to type, a card to bind); what to say.
    Open(Option<&'static str>),
}

/// `POST /cabinet/register`: takes every step the form answers, in Loymax's order, then
/// finishes the registration when nothing required is left.
pub(super) async fn save(
    State(state): State<AppState>,
    asked: Asked,
    client: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let who = match registrant(&state, &headers, asked, client.to_string()).await {
        Ok(who) => who,
        Err(page) => return page,
    };
    let lang = who.lang;
    let (token, sent) = Sent::parse(&body);
    if who.token.is_empty() || !secrets::constant_time_eq(&token, &who.token) {
        let text = i18n::text(lang, "cabinet-form-stale", None);
        return Message::new(lang, "common-request-refused", text)
            .link(i18n::text(lang, "cabinet-register", None), PATH)
            .answer(StatusCode::FORBIDDEN);
    }
    let ctx = match load(&state, who.id).await {
        Ok(ctx) => ctx,
        Err(e) => return failure(lang, e),
    };
    let today = crate::loymax::wire::today(&ctx.program.rules.time_zone);
    let errors = check(&ctx, &sent, today);
    if errors.any() {
        return render(StatusCode::OK, &view(&who, &ctx, &sent, &errors));
    }
    let hash = match open(&ctx, Step::PasswordRequired) {
        Some(_) => Some(secrets::hash_secret_async(sent.password.clone()).await),
        None => None,
    };
    let answers = answers(&ctx.tree, &sent);
    let email = EmailSent {
        address: sent.email.clone(),
        code: sent.email_code.clone(),
        ip: who.ip.clone(),
        link_base: state.public_url.to_string(),
    };
    let id = who.id;
    let saved = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let mut ctx = Ctx::load(tx, id).await?;
                let saved = take_steps(tx, &mut ctx, hash, &answers, today, email).await;
                // The steps taken stay (a registration goes on where it stopped), also when
                // an e-mail's code was wrong: its attempt counts.
                ctx.save(tx).await?;
                let note = match saved {
                    Ok(note) => note,
                    Err(JobError::Store(e)) => return Err(JobError::Store(e)),
                    Err(JobError::Refused(e)) => return Err(JobError::Refused(e)),
                    Err(JobError::RefusedKeeping(e)) => Some(e),
                };
                if note.is_some() {
                    return Ok(Saved::Open(note));
                }
                match steps::complete(tx, &mut ctx).await? {
                    Ok(()) => {
                        ctx.save(tx).await?;
                        Ok(Saved::Done)
                    }
                    Err(_) => Ok(Saved::Open(None)),
                }
            })
        })
        .await;
    let general = match saved {
        Ok(Saved::Done) => return Redirect::to(REGISTERED).into_response(),
        Ok(Saved::Open(note)) => note,
        Err(JobError::Refused(e) | JobError::RefusedKeeping(e)) => Some(e),
        Err(JobError::Store(e)) => return failure(lang, e),
    };
    match load(&state, who.id).await {
        Ok(ctx) if !ctx.registering() => Redirect::to(REGISTERED).into_response(),
        Ok(ctx) => {
            let errors = Errors {
                general,
                ..Errors::default()
            };
            let kept = Sent {
                password: String::new(),
                ..sent
            };
            render(StatusCode::OK, &view(&who, &ctx, &kept, &errors))
        }
        Err(e) => failure(lang, e),
    }
}

/// The e-mail part of the form, with where its code is sent from.
struct EmailSent {
    address: String,
    code: String,
    ip: String,
    link_base: String,
}

/// The steps the form answers, each as Loymax takes it: the offer, the password, the
/// questionnaire, then the e-mail (its code checked, or a new address's code and link sent).
/// Refuses (nothing kept) on a step's refusal; a wrong e-mail code or the codes' quota
/// refuses keeping the steps before it. `Some(note)` when the registration must wait (a
/// required address's code was sent).
async fn take_steps(
    tx: &mut Tx,
    ctx: &mut Ctx,
    hash: Option<String>,
    answers: &[Answer],
    today: rules::Date,
    email: EmailSent,
) -> Result<Option<&'static str>, JobError<&'static str>> {
    if !ctx.registering() {
        return Ok(None);
    }
    if ctx.customer.state == CustomerState::Blocked {
        return Err(JobError::Refused("cabinet-blocked"));
    }
    if open(ctx, Step::AcceptTenderOffer).is_some() {
        steps::accept_offer_step(tx, ctx).await.map_err(refused)?;
    }
    if let (Some(_), Some(hash)) = (open(ctx, Step::PasswordRequired), hash) {
        steps::set_password_step(tx, ctx, hash)
            .await
            .map_err(refused)?;
    }
    if open(ctx, Step::Questions).is_some() {
        steps::answers_step(tx, ctx, answers, today)
            .await
            .map_err(refused)?;
    }
    let Some(required) = open(ctx, Step::ChangeEmail) else {
        return Ok(None);
    };
    let waiting = steps::email_waiting(ctx);
    let retyped = email.address.is_empty() || waiting.as_deref() == Some(email.address.as_str());
    if waiting.is_some() && !email.code.is_empty() && retyped {
        return match steps::confirm_email_step(tx, ctx, &email.code).await {
            Ok(()) => Ok(None),
            Err(JobError::Store(e)) => Err(JobError::Store(e)),
            // The attempt counts; the steps before it stay.
            Err(_) => Err(JobError::RefusedKeeping("cabinet-code-wrong")),
        };
    }
    if !email.address.is_empty() && !retyped {
        match steps::email_code_step(tx, ctx, email.address, &email.ip, &email.link_base).await {
            Ok(()) => {}
            Err(JobError::Store(e)) => return Err(JobError::Store(e)),
            Err(_) => return Err(JobError::RefusedKeeping("cabinet-too-many-codes")),
        }
        // An optional address is confirmed later by its link; a required one first.
        return Ok(required.then_some("cabinet-register-email-sent"));
    }
    Ok(None)
}
