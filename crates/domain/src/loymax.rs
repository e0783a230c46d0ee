//! Loymax customer accounts: the registration steps a program's settings ask for, the rules of
//! confirmation codes and their quotas, the questionnaire and its validation, and how ledger
//! operations read as history rows.

use crate::ledger::OperationKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A registration setting's value: 0 off, 1 on (required), 2 offered but optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Required,
    Optional,
}

impl Mode {
    fn from_value(value: Option<&Value>, default: Mode) -> Mode {
        match value.and_then(Value::as_i64) {
            Some(0) => Mode::Off,
            Some(1) => Mode::Required,
            Some(2) => Mode::Optional,
            _ => default,
        }
    }

    pub fn is_on(self) -> bool {
        self != Mode::Off
    }
}

/// The program settings (the `loymax` object of the program's settings JSON) that shape
/// registration, with the names Loymax's administrator panel uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub emit_virtual_card: Mode,
    pub main_card_assigning: Mode,
    pub provider_phone: Mode,
    pub provider_card: Mode,
    pub provider_anonymous: Mode,
    /// kopilka's own: whether the e-mail step is asked (the seed calls it usually optional).
    pub email: Mode,
    /// Codes sent to one phone or e-mail per hour.
    pub codes_per_target_hour: i64,
    /// Codes requested from one IP address per hour.
    pub codes_per_ip_hour: i64,
    /// Prefix of virtual card numbers.
    pub virtual_card_prefix: String,
    /// Lifetime of access and refresh tokens.
    pub access_ttl_ms: i64,
    pub refresh_ttl_ms: i64,
    /// How long a token replaced by a newer one keeps working (requests in flight).
    pub rotation_grace_ms: i64,
    /// Whether the token endpoint serves clients that send no client credentials (a site's or
    /// an app's front end, the public SDK): `PublicClient`, off unless set.
    pub public_client: bool,
    /// kopilka's own `OfferUrl`: where the program's offer (the terms a customer accepts when
    /// registering) is published; the cabinet's registration links to it.
    pub offer_url: Option<String>,
}

impl Settings {
    /// Reads the `loymax` object of a program's settings; absent values take the seed's
    /// phone-registration defaults.
    pub fn from_program(settings: &Value) -> Settings {
        let s = settings.get("loymax").unwrap_or(&Value::Null);
        let anonymous = s
            .get("RegistrationProviderAnonymous")
            .or_else(|| s.get("RegistrationProviderAnonymouse"));
        let int = |name: &str, default: i64| {
            s.get(name)
                .and_then(Value::as_i64)
                .filter(|v| *v >= 0)
                .unwrap_or(default)
        };
        Settings {
            emit_virtual_card: Mode::from_value(s.get("EmitVirtualCard"), Mode::Optional),
            main_card_assigning: Mode::from_value(
                s.get("MainCardAssigningRequired"),
                Mode::Optional,
            ),
            provider_phone: Mode::from_value(s.get("RegistrationProviderPhone"), Mode::Required),
            provider_card: Mode::from_value(s.get("RegistrationProviderCard"), Mode::Off),
            provider_anonymous: Mode::from_value(anonymous, Mode::Required),
            email: Mode::from_value(s.get("EmailRequired"), Mode::Optional),
            codes_per_target_hour: int("CodesPerPhonePerHour", 5),
            codes_per_ip_hour: int("CodesPerIpPerHour", 30),
            virtual_card_prefix: s
                .get("VirtualCardPrefix")
                .and_then(Value::as_str)
                .unwrap_or("2770")
                .to_string(),
            access_ttl_ms: int("AccessTokenLifetimeSeconds", 86_400) * 1000,
            refresh_ttl_ms: int("RefreshTokenLifetimeSeconds", 30 * 86_400) * 1000,
            rotation_grace_ms: int("TokenRotationGraceMs", 30_000),
            public_client: s
                .get("PublicClient")
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_i64().is_some_and(|n| n > 0)),
            offer_url: s
                .get("OfferUrl")
                .and_then(Value::as_str)
                .filter(|url| {
                    url.starts_with("https://")
                        || url.starts_with("http://")
                        || url.starts_with('/')
                })
                .map(str::to_string),
        }
    }

    /// The questionnaire configured for the program (`loymax.questions`).
    pub fn questionnaire(settings: &Value) -> Result<Vec<Node>, String> {
        match settings.get("loymax").and_then(|s| s.get("questions")) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
        }
    }
}

/// A registration step, in the order `user/actions` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    AcceptTenderOffer,
    ChangePhone,
    ChangeEmail,
    PasswordRequired,
    Questions,
    AssignCard,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::AcceptTenderOffer,
        Step::ChangePhone,
        Step::ChangeEmail,
        Step::PasswordRequired,
        Step::Questions,
        Step::AssignCard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::AcceptTenderOffer => "AcceptTenderOffer",
            Step::ChangePhone => "ChangePhone",
            Step::ChangeEmail => "ChangeEmail",
            Step::PasswordRequired => "PasswordRequired",
            Step::Questions => "Questions",
            Step::AssignCard => "AssignCard",
        }
    }
}

/// One line of `user/actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub step: Step,
    /// `Required` or, for an optional step, `Custom`.
    pub required: bool,
    pub done: bool,
}

/// The steps a registration asks for, given the settings, whether the questionnaire has
/// questions (and required ones) and what is done.
pub fn actions(settings: &Settings, questions: Option<bool>, done: &[Step]) -> Vec<Action> {
    Step::ALL
        .iter()
        .filter_map(|&step| {
            let mode = match step {
                Step::AcceptTenderOffer | Step::ChangePhone | Step::PasswordRequired => {
                    Mode::Required
                }
                Step::ChangeEmail => settings.email,
                Step::Questions => match questions {
                    None => Mode::Off,
                    Some(true) => Mode::Required,
                    Some(false) => Mode::Optional,
                },
                Step::AssignCard => settings.main_card_assigning,
            };
            mode.is_on().then(|| Action {
                step,
                required: mode == Mode::Required,
                done: done.contains(&step),
            })
        })
        .collect()
}

/// Why a registration request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("Шаг регистрации {0} уже выполнен")]
    AlreadyDone(&'static str),
    #[error("Шаг регистрации {0} не предусмотрен программой")]
    NotOffered(&'static str),
    #[error("Сначала подтвердите номер телефона")]
    PhoneFirst,
    #[error("Регистрация уже завершена")]
    Completed,
    #[error("Не выполнены обязательные шаги регистрации: {0}")]
    Unfinished(String),
}

/// Whether `step` may be taken now. Repeating a finished step is a protocol error (the seed);
/// the password waits for a confirmed phone so nobody sets it for a number they do not hold.
pub fn check_step(actions: &[Action], step: Step) -> Result<(), RegistrationError> {
    let action = actions
        .iter()
        .find(|a| a.step == step)
        .ok_or(RegistrationError::NotOffered(step.name()))?;
    if action.done {
        return Err(RegistrationError::AlreadyDone(step.name()));
    }
    if step == Step::PasswordRequired
        && actions
            .iter()
            .any(|a| a.step == Step::ChangePhone && !a.done)
    {
        return Err(RegistrationError::PhoneFirst);
    }
    Ok(())
}

/// Whether every required step is done.
pub fn check_finish(actions: &[Action]) -> Result<(), RegistrationError> {
    let missing: Vec<&str> = actions
        .iter()
        .filter(|a| a.required && !a.done)
        .map(|a| a.step.name())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RegistrationError::Unfinished(missing.join(", ")))
    }
}

/// What `BeginRegistration` answers for a login that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// A new registration, or a continuation: issue a token.
    Token,
    /// The registration has a password: ask for it (`PasswordRequired`).
    PasswordRequired,
    InvalidLoginPassword,
    RegistrationAlreadyCompleted,
    RegistrationBlocked,
}

impl Begin {
    pub fn state(self) -> &'static str {
        match self {
            Begin::Token => "Success",
            Begin::PasswordRequired => "PasswordRequired",
            Begin::InvalidLoginPassword => "InvalidLoginPassword",
            Begin::RegistrationAlreadyCompleted => "RegistrationAlreadyCompleted",
            Begin::RegistrationBlocked => "RegistrationBlocked",
        }
    }

    pub fn message(self) -> Option<&'static str> {
        match self {
            Begin::Token => None,
            Begin::PasswordRequired => Some("Требуется пароль."),
            Begin::InvalidLoginPassword => Some("Неверный логин или пароль."),
            Begin::RegistrationAlreadyCompleted => Some("Регистрация уже завершена."),
            Begin::RegistrationBlocked => Some("Регистрация заблокирована."),
        }
    }
}

/// Decides a `BeginRegistration` for an existing customer. `password_ok` is `None` when no
/// password was sent, otherwise whether it matched.
pub fn begin_existing(
    completed: bool,
    blocked: bool,
    has_password: bool,
    password_ok: Option<bool>,
) -> Begin {
    if blocked {
        return Begin::RegistrationBlocked;
    }
    if completed {
        return Begin::RegistrationAlreadyCompleted;
    }
    match (has_password, password_ok) {
        (false, _) => Begin::Token,
        (true, None) => Begin::PasswordRequired,
        (true, Some(true)) => Begin::Token,
        (true, Some(false)) => Begin::InvalidLoginPassword,
    }
}

pub const CODE_LENGTH: usize = 6;
/// A customer's password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 6..=64;
/// A physical card's CVC, in digits, and its activation password, in characters.
pub const CVC_DIGITS: std::ops::RangeInclusive<usize> = 3..=8;
pub const ACTIVATION_PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 4..=64;
/// Wrong card secrets in a row that block the card's secrets, and for how long: a 3-digit CVC
/// must not be walkable, so this is a block, not the growing delay of passwords.
pub const CARD_SECRET_ATTEMPTS: i64 = 5;
pub const CARD_SECRET_BLOCK_MS: i64 = 3_600_000;
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const CODE_ATTEMPTS: i64 = 5;
pub const HOUR_MS: i64 = 3_600_000;

/// Whether a card's holder is anonymous: a participant the till gave the card to, with no
/// phone, e-mail or password (`RegistrationProviderAnonymous` lets them register by the card).
pub fn anonymous_holder(
    active: bool,
    has_phone: bool,
    has_email: bool,
    has_password: bool,
) -> bool {
    active && !has_phone && !has_email && !has_password
}

/// A six-digit code from a random number.
pub fn code_from(random: u32) -> String {
    format!("{:06}", random % 1_000_000)
}

/// What checking an entered code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    /// Wrong; `left` more tries before the code is blocked.
    Wrong {
        left: i64,
    },
    /// Too many wrong tries: a new code must be requested.
    Blocked,
    Expired,
    Missing,
}

/// Checks a code attempt against the live code's state (`attempts` made before this one).
pub fn check_code(
    now: i64,
    expires_at: i64,
    attempts: i64,
    used: bool,
    matches: bool,
) -> CodeCheck {
    if used {
        return CodeCheck::Missing;
    }
    if attempts >= CODE_ATTEMPTS {
        return CodeCheck::Blocked;
    }
    if now > expires_at {
        return CodeCheck::Expired;
    }
    if matches {
        CodeCheck::Accepted
    } else if attempts + 1 >= CODE_ATTEMPTS {
        CodeCheck::Blocked
    } else {
        CodeCheck::Wrong {
            left: CODE_ATTEMPTS - attempts - 1,
        }
    }
}

impl CodeCheck {
    pub fn message(self) -> String {
        match self {
            CodeCheck::Accepted => String::new(),
            CodeCheck::Wrong { left } => {
                format!("Неверный код подтверждения. Осталось попыток: {left}")
            }
            CodeCheck::Blocked => "Превышено число попыток ввода кода. Запросите новый код".into(),
            CodeCheck::Expired => "Срок действия кода истёк. Запросите новый код".into(),
            CodeCheck::Missing => "Код подтверждения не запрашивался".into(),
        }
    }
}

/// Whether one more code may go out: counts of codes sent in the last hour to the target and
/// from the IP address.
pub fn quota_allows(settings: &Settings, sent_to_target: i64, sent_from_ip: i64) -> bool {
    sent_to_target < settings.codes_per_target_hour && sent_from_ip < settings.codes_per_ip_hour
}

/// A node of the questionnaire tree, in Loymax's wire shape. Choice questions hold their
/// options as children (`nodeType: "Answer"`, `groupID` = the question's id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub node_type: String,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub logical_name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default, rename = "groupID")]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub selected: Option<bool>,
    #[serde(default)]
    pub max_length: Option<usize>,
    /// `String`, `Date`, `Choice` or `Flag` for questions.
    #[serde(default)]
    pub field_type: Option<String>,
    #[serde(default)]
    pub children: Option<Vec<Node>>,
    /// kopilka's own: checks on a date answer. Not sent to clients.
    #[serde(default, skip_serializing)]
    pub rules: Vec<Rule>,
}

/// A check on an answer, with the message the customer sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The date answer must be at least this many years before today.
    #[serde(default)]
    pub min_age: Option<u32>,
    pub message: String,
}

impl Node {
    fn is_question(&self) -> bool {
        self.node_type == "Question"
    }

    fn visit<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
        for node in nodes {
            if node.is_question() {
                out.push(node);
            } else if let Some(children) = &node.children {
                Node::visit(children, out);
            }
        }
    }
}

/// Every question in the tree, depth first.
pub fn questions(tree: &[Node]) -> Vec<&Node> {
    let mut out = Vec::new();
    Node::visit(tree, &mut out);
    out
}

/// `Some(has required)` when the tree holds questions.
pub fn questionnaire_kind(tree: &[Node]) -> Option<bool> {
    let all = questions(tree);
    (!all.is_empty()).then(|| all.iter().any(|q| q.required == Some(true)))
}

/// The tree with only required questions (and the headers holding them).
pub fn only_required(tree: &[Node]) -> Vec<Node> {
    tree.iter()
        .filter_map(|node| {
            if node.is_question() {
                return (node.required == Some(true)).then(|| node.clone());
            }
            let children = only_required(node.children.as_deref().unwrap_or(&[]));
            (!children.is_empty()).then(|| Node {
                children: Some(children),
                ..node.clone()
            })
        })
        .collect()
}

/// An answer as the client sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(default, rename = "groupID")]
    pub group_id: Option<i64>,
    pub id: i64,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected: bool,
}

/// The errors of one question, in the seed's shape (`idQuestion` is a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionError {
    pub id_question: String,
    pub errors: Vec<String>,
}

/// An answer that passed validation, normalised (dates as `YYYY-MM-DD`, options by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: i64,
    pub logical_name: Option<String>,
    pub value: String,
}

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD` (optionally followed by a time) or `DD.MM.YYYY`.
    pub fn parse(text: &str) -> Option<Date> {
        let text = text.trim();
        let (year, month, day) = if text.len() >= 10 && text.as_bytes()[4] == b'-' {
            (text.get(0..4)?, text.get(5..7)?, text.get(8..10)?)
        } else if text.len() == 10 && text.as_bytes()[2] == b'.' {
            (text.get(6..10)?, text.get(3..5)?, text.get(0..2)?)
        } else {
            return None;
        };
        let date = Date {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
            day: day.parse().ok()?,
        };
        let days_in_month = match date.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if date.year % 4 == 0 && (date.year % 100 != 0 || date.year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        (date.day >= 1 && date.day <= days_in_month && date.year >= 1900).then_some(date)
    }

    /// Whole years from `self` to `today`.
    pub fn years_until(self, today: Date) -> i32 {
        let mut years = today.year - self.year;
        if (today.month, today.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }

    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Checks answers against the tree. Returns what to keep (question id, logical name, value) or
/// the errors per question. With `complete`, every required question must be answered.
pub fn validate_answers(
    tree: &[Node],
    answers: &[Answer],
    today: Date,
    complete: bool,
) -> Result<Vec<Accepted>, Vec<QuestionError>> {
    let all = questions(tree);
    let mut errors: Vec<QuestionError> = Vec::new();
    fn add(errors: &mut Vec<QuestionError>, id: i64, message: String) {
        match errors.iter_mut().find(|e| e.id_question == id.to_string()) {
            Some(e) => e.errors.push(message),
            None => errors.push(QuestionError {
                id_question: id.to_string(),
                errors: vec![message],
            }),
        }
    }
    let mut kept = Vec::new();
    for answer in answers {
        // A chosen option names its question in groupID.
        let (question_id, option) = match answer.group_id {
            Some(group) if answer.selected => (group, Some(answer.id)),
            _ => (answer.id, None),
        };
        let Some(question) = all.iter().find(|q| q.id == Some(question_id)) else {
            add(&mut errors, question_id, "Неизвестный вопрос анкеты".into());
            continue;
        };
        if question.read_only {
            add(
                &mut errors,
                question_id,
                "Вопрос доступен только для чтения".into(),
            );
            continue;
        }
        let value = answer.value.clone().unwrap_or_default();
        let field_type = question.field_type.as_deref().unwrap_or("String");
        let stored = match field_type {
            "Choice" => {
                let options = question.children.as_deref().unwrap_or(&[]);
                match option.and_then(|o| options.iter().find(|n| n.id == Some(o))) {
                    Some(chosen) => chosen.id.unwrap_or_default().to_string(),
                    None => {
                        add(
                            &mut errors,
                            question_id,
                            "Выберите один из предложенных ответов".into(),
                        );
                        continue;
                    }
                }
            }
            "Flag" => match value.to_ascii_lowercase().as_str() {
                "true" | "1" => "true".into(),
                "false" | "0" | "" => (answer.selected).to_string(),
                _ => {
                    add(&mut errors, question_id, "Ожидается да или нет".into());
                    continue;
                }
            },
            "Date" => match Date::parse(&value) {
                Some(date) => {
                    let mut ok = true;
                    for rule in &question.rules {
                        if let Some(min_age) = rule.min_age {
                            if date.years_until(today) < min_age as i32 {
                                add(&mut errors, question_id, rule.message.clone());
                                ok = false;
                            }
                        }
                    }
                    if date > today {
                        add(
                            &mut errors,
                            question_id,
                            "Дата не может быть в будущем".into(),
                        );
                        ok = false;
                    }
                    if !ok {
                        continue;
                    }
                    date.iso()
                }
                None if value.trim().is_empty() && question.required != Some(true) => String::new(),
                None => {
                    add(&mut errors, question_id, "Неверный формат даты".into());
                    continue;
                }
            },
            _ => {
                if let Some(max) = question.max_length {
                    if value.chars().count() > max {
                        add(
                            &mut errors,
                            question_id,
                            format!("Длина ответа не должна превышать {max} символов"),
                        );
                        continue;
                    }
                }
                value.trim().to_string()
            }
        };
        if stored.is_empty() && question.required == Some(true) {
            add(&mut errors, question_id, "Обязательный вопрос".into());
            continue;
        }
        kept.push(Accepted {
            id: question_id,
            logical_name: question.logical_name.clone(),
            value: stored,
        });
    }
    if complete {
        for q in all.iter().filter(|q| q.required == Some(true)) {
            let id = q.id.unwrap_or_default();
            let answered = kept.iter().any(|k| k.id == id);
            let errored = errors.iter().any(|e| e.id_question == id.to_string());
            if !answered && !errored {
                add(&mut errors, id, "Обязательный вопрос".into());
            }
        }
    }
    if errors.is_empty() {
        Ok(kept)
    } else {
        Err(errors)
    }
}

/// The three kinds of history rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryType {
    Purchase,
    RewardData,
    WithdrawData,
}

impl HistoryType {
    pub fn name(self) -> &'static str {
        match self {
            HistoryType::Purchase => "Purchase",
            HistoryType::RewardData => "RewardData",
            HistoryType::WithdrawData => "WithdrawData",
        }
    }

    pub fn parse(text: &str) -> Option<HistoryType> {
        match text.to_ascii_lowercase().as_str() {
            "purchase" | "purchasedata" => Some(HistoryType::Purchase),
            "rewarddata" | "reward" => Some(HistoryType::RewardData),
            "withdrawdata" | "withdraw" => Some(HistoryType::WithdrawData),
            _ => None,
        }
    }

    /// `filter.historyItemType` as clients send it: a type (the seed's names, v1.2's
    /// `PurchaseData`, any casing), or `All` for every type (`Some(None)`).
    pub fn parse_filter(text: &str) -> Option<Option<HistoryType>> {
        if text.eq_ignore_ascii_case("all") {
            return Some(None);
        }
        HistoryType::parse(text).map(Some)
    }

    /// How an operation kind reads in history; a reversal reads by what it reverses (a refund
    /// of a purchase is a purchase row with `isRefund`).
    pub fn of(kind: OperationKind, reversed_kind: Option<OperationKind>) -> HistoryType {
        use OperationKind::{Accrue, Earn, Expire, Merge, Redeem, Reversal, Withdraw};
        match (kind, reversed_kind) {
            (Earn | Redeem, _) => HistoryType::Purchase,
            // Points received from a customer merged into this one.
            (Accrue | Merge, _) => HistoryType::RewardData,
            (Reversal, Some(Accrue)) => HistoryType::WithdrawData,
            (Reversal, Some(Withdraw | Expire)) => HistoryType::RewardData,
            (Reversal, _) => HistoryType::Purchase,
            (Withdraw | Expire, _) => HistoryType::WithdrawData,
        }
    }

    /// The operation kinds (and kinds of reversed originals) a type covers, for filtering.
    pub fn kinds(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            HistoryType::Purchase => (&["earn", "redeem"], &["earn", "redeem"]),
            HistoryType::RewardData => (&["accrue", "merge"], &["withdraw", "expire"]),
            HistoryType::WithdrawData => (&["withdraw", "expire"], &["accrue"]),
        }
    }
}

/// What `GET History` returns for the parameters given (the seed's remarks): nothing without
/// `toDate`, only the count with `toDate` alone, rows with both `toDate` and `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAnswer {
    Nothing,
    CountOnly,
    Rows,
}

pub fn history_answer(has_to_date: bool, has_count: bool) -> HistoryAnswer {
    match (has_to_date, has_count) {
        (false, _) => HistoryAnswer::Nothing,
        (true, false) => HistoryAnswer::CountOnly,
        (true, true) => HistoryAnswer::Rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo_tree() -> Vec<Node> {
        serde_json::from_value(json!([{
            "nodeType": "Header", "displayName": "Личные данные",
            "children": [
                {"nodeType": "Question", "displayName": "Фамилия", "logicalName": "LastName", "required": true, "id": 2, "fieldType": "String", "maxLength": 5},
                {"nodeType": "Question", "displayName": "Дата рождения", "logicalName": "BirthDate", "required": true, "id": 7, "fieldType": "Date",
                 "rules": [{"minAge": 18, "message": "Не допускается участие в программе лиц младше 18 лет"}]},
                {"nodeType": "Question", "displayName": "Пол", "id": 5, "fieldType": "Choice", "required": false,
                 "children": [{"nodeType": "Answer", "displayName": "М", "id": 1, "groupID": 5}]}
            ]
        }]))
        .unwrap()
    }

    #[test]
    fn a_public_client_is_served_only_where_the_program_says_so() {
        let public = |loymax: serde_json::Value| {
            Settings::from_program(&json!({ "loymax": loymax })).public_client
        };
        assert!(public(json!({"PublicClient": true})));
        assert!(public(json!({"PublicClient": 1})));
        assert!(!public(json!({"PublicClient": false})));
        assert!(!public(json!({"PublicClient": 0})));
        assert!(!public(json!({"PublicClient": "yes"})));
        assert!(!public(json!({})));
    }

    #[test]
    fn settings_shape_the_steps() {
        let phone = Settings::from_program(
            &json!({"loymax": {"MainCardAssigningRequired": 2, "EmailRequired": 0}}),
        );
        let steps = actions(&phone, Some(true), &[]);
        let names: Vec<_> = steps.iter().map(|a| (a.step.name(), a.required)).collect();
        assert_eq!(
            names,
            [
                ("AcceptTenderOffer", true),
                ("ChangePhone", true),
                ("PasswordRequired", true),
                ("Questions", true),
                ("AssignCard", false)
            ]
        );
        let none = Settings::from_program(&json!({"loymax": {"MainCardAssigningRequired": 0}}));
        assert!(actions(&none, None, &[])
            .iter()
            .all(|a| a.step != Step::AssignCard && a.step != Step::Questions));
    }

    #[test]
    fn steps_once_and_password_after_phone() {
        let settings = Settings::from_program(&json!({}));
        let acts = actions(&settings, None, &[Step::AcceptTenderOffer]);
        assert_eq!(
            check_step(&acts, Step::AcceptTenderOffer),
            Err(RegistrationError::AlreadyDone("AcceptTenderOffer"))
        );
        assert_eq!(
            check_step(&acts, Step::PasswordRequired),
            Err(RegistrationError::PhoneFirst)
        );
        assert!(check_finish(&acts).is_err());
        let acts = actions(
            &settings,
            None,
            &[
                Step::AcceptTenderOffer,
                Step::ChangePhone,
                Step::PasswordRequired,
            ],
        );
        assert!(check_finish(&acts).is_ok());
    }

    #[test]
    fn codes_block_after_five_tries() {
        assert_eq!(
            check_code(0, 10, 0, false, false),
            CodeCheck::Wrong { left: 4 }
        );
        assert_eq!(check_code(0, 10, 4, false, false), CodeCheck::Blocked);
        assert_eq!(check_code(0, 10, 5, false, true), CodeCheck::Blocked);
        assert_eq!(check_code(11, 10, 0, false, true), CodeCheck::Expired);
        assert_eq!(check_code(0, 10, 2, false, true), CodeCheck::Accepted);
        assert_eq!(code_from(42), "000042");
    }

    #[test]
    fn questionnaire_rules() {
        let tree = demo_tree();
        let today = Date {
            year: 2026,
            month: 11,
            day: 23,
        };
        let young = [Answer {
            group_id: None,
            id: 7,
            value: Some("2010-01-01".into()),
            selected: false,
        }];
        let errors = validate_answers(&tree, &young, today, false).unwrap_err();
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            json!([{"idQuestion": "7", "errors": ["Не допускается участие в программе лиц младше 18 лет"]}])
        );
        let errors = validate_answers(&tree, &[], today, true).unwrap_err();
        assert_eq!(errors.len(), 2);
        let ok = [
            Answer {
                group_id: None,
                id: 2,
                value: Some("Ivanov".into()),
                selected: false,
            },
            Answer {
                group_id: None,
                id: 7,
                value: Some("23.11.2008".into()),
                selected: false,
            },
            Answer {
                group_id: Some(5),
                id: 1,
                value: None,
                selected: true,
            },
        ];
        assert_eq!(
            validate_answers(&tree, &ok, today, true).unwrap_err()[0].id_question,
            "2"
        );
        let ok = [
            ok[1].clone(),
            ok[2].clone(),
            Answer {
                value: Some("Ivan".into()),
                ..ok[0].clone()
            },
        ];
        let kept = validate_answers(&tree, &ok, today, true).unwrap();
        assert_eq!(
            kept[0],
            Accepted {
                id: 7,
                logical_name: Some("BirthDate".into()),
                value: "2008-11-23".into()
            }
        );
        assert_eq!(only_required(&tree)[0].children.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn history_semantics() {
        assert_eq!(HistoryType::parse_filter("All"), Some(None));
        assert_eq!(
            HistoryType::parse_filter("PurchaseData"),
            Some(Some(HistoryType::Purchase))
        );
        assert_eq!(
            HistoryType::parse_filter("withdrawData"),
            Some(Some(HistoryType::WithdrawData))
        );
        assert_eq!(HistoryType::parse_filter("Everything"), None);
        assert_eq!(history_answer(false, true), HistoryAnswer::Nothing);
        assert_eq!(history_answer(true, false), HistoryAnswer::CountOnly);
        assert_eq!(
            HistoryType::of(OperationKind::Reversal, Some(OperationKind::Earn)),
            HistoryType::Purchase
        );
        assert_eq!(
            HistoryType::of(OperationKind::Expire, None),
            HistoryType::WithdrawData
        );
        assert_eq!(
            HistoryType::of(OperationKind::Reversal, Some(OperationKind::Accrue)),
            HistoryType::WithdrawData
        );
    }
}
