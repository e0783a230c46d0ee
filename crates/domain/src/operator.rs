//! Operators of the admin API: their roles, what each role may do, which admin routes are which
//! kind of action, what the audit log must never hold, the TOTP replay rule and the
//! second-person approval of manual adjustments (docs/operators.md).

use crate::money::{parse_decimal, Amount};
use crate::DomainError;

/// What an operator is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, operators included.
    Administrator,
    /// Programs, offers, customers, operations, merchants and protocol credentials, messages;
    /// not operators.
    ProgramManager,
    /// Reads everything (no read shows a secret) and re-sends messages.
    Support,
    /// Reads and exports.
    Finance,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::ProgramManager,
        Role::Support,
        Role::Finance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::ProgramManager => "program_manager",
            Role::Support => "support",
            Role::Finance => "finance",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Whether this role may take `action`.
    pub fn permits(self, action: Action) -> bool {
        match action {
            Action::SignIn | Action::Own | Action::Read => true,
            Action::Export => matches!(
                self,
                Role::Administrator | Role::ProgramManager | Role::Finance
            ),
            Action::Resend => matches!(
                self,
                Role::Administrator | Role::ProgramManager | Role::Support
            ),
            Action::Change | Action::Approve => {
                matches!(self, Role::Administrator | Role::ProgramManager)
            }
            Action::ManageOperators => self == Role::Administrator,
        }
    }
}

/// The kind of action an admin route takes, derived from its method and path template
/// ([`classify`]), never declared by the route: a new route falls in a class by its area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST /v1/sign-in`: open, the password is the credential.
    SignIn,
    /// `/v1/me/…`: the signed-in operator's own account and tokens.
    Own,
    /// A read (`GET`); no read answers a secret.
    Read,
    /// A download of a filtered view (`…/export.csv`, `…/export.xlsx`).
    Export,
    /// `POST /v1/messages/{id}/resend`.
    Resend,
    /// Any other change of programs, merchants, customers, operations, protocol settings.
    Change,
    /// Approving or rejecting another operator's manual adjustment.
    Approve,
    /// Operator accounts (`/v1/operators/…`), reads included.
    ManageOperators,
}

/// Whether the audit log records a request: every one but a read, and every export.
pub fn is_audited(method: &str, action: Action) -> bool {
    method != "GET" || action == Action::Export
}

/// Areas under `/v1` whose routes are classified by method alone.
const PROGRAM_AREAS: &[&str] = &[
    "programs",
    "merchants",
    "customers",
    "cards",
    "operations",
    "adjustments",
    "offers",
    "ledger",
    "messages",
    "audit",
    "ecommpay",
    "loymax",
    "kupikupi",
];

/// The action an admin route takes, from its method (upper case) and path template
/// (`/v1/programs/{id}`); `None` for a route no rule covers, which every role is refused.
pub fn classify(method: &str, template: &str) -> Option<Action> {
    let rest = template.strip_prefix("/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let area = segments[0];
    let last = segments.last().copied().unwrap_or_default();
    let read = method == "GET";
    Some(match area {
        "sign-in" if method == "POST" && segments.len() == 1 => Action::SignIn,
        "me" => Action::Own,
        "operators" => Action::ManageOperators,
        area if !PROGRAM_AREAS.contains(&area) => return None,
        _ if read && last.starts_with("export.") => Action::Export,
        _ if read => Action::Read,
        "audit" | "ledger" => return None,
        "messages" if last == "resend" => Action::Resend,
        "adjustments" if matches!(last, "approve" | "reject") => Action::Approve,
        _ => Action::Change,
    })
}

/// The programs an operator may see and change: all of them, or a set (docs/operators.md,
/// "Programs"). An administrator is always global.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    AllPrograms,
    Programs(std::collections::BTreeSet<i64>),
}

/// The most programs one operator may be limited to.
pub const MAX_SCOPED_PROGRAMS: usize = 1000;

impl Scope {
    /// An operator's scope as given (`None`: all programs), checked against its role: an
    /// administrator manages operators and so every program, and a limit names at least one.
    pub fn of(role: Role, programs: Option<&[i64]>) -> Result<Scope, DomainError> {
        let Some(programs) = programs else {
            return Ok(Scope::AllPrograms);
        };
        let invalid = |reason: &str| DomainError::Invalid {
            field: "program_ids",
            reason: reason.into(),
        };
        if role == Role::Administrator {
            return Err(invalid("an administrator is not limited to programs"));
        }
        if programs.is_empty() || programs.len() > MAX_SCOPED_PROGRAMS {
            return Err(invalid("1 to 1000 program ids, or null for all programs"));
        }
        Ok(Scope::Programs(programs.iter().copied().collect()))
    }

    /// Whether the program is one this scope covers.
    pub fn covers(&self, program: i64) -> bool {
        match self {
            Scope::AllPrograms => true,
            Scope::Programs(programs) => programs.contains(&program),
        }
    }

    /// The programs of a limited scope, `None` for all.
    pub fn programs(&self) -> Option<Vec<i64>> {
        match self {
            Scope::AllPrograms => None,
            Scope::Programs(programs) => Some(programs.iter().copied().collect()),
        }
    }
}

/// What a program-limited operator's request is checked against, from the route's method and
/// template ([`program_route`]); a global operator's requests are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramRoute {
    /// `/v1/me/…` and sign-in: the operator's own; no program.
    Own,
    /// A route under one entity of a program, named by the path's first `{…}`: the entity's
    /// program must be in scope, else the entity is not found (404, so ids do not leak).
    Entity(ProgramEntity),
    /// A list, export or read naming its program in this query parameter (`program_id`; the
    /// offers' `program`): that program must be in scope (else 404); without one, the
    /// operator's only program is taken.
    Listed(&'static str),
    /// `GET /v1/programs`: the handler lists the programs in scope.
    Programs,
    /// A creation naming its program in the body (`POST /v1/customers`: `program_id`;
    /// `POST /v1/operations`: `customer_id`): the handler checks it.
    InBody,
    /// Everything else (protocol settings, messages, cards, adjustments, merges, the audit log,
    /// operators): global operators only.
    Global,
}

/// The kinds of entity a route may be under, each belonging to one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramEntity {
    Program,
    Customer,
    Operation,
    Merchant,
}

impl ProgramEntity {
    /// How a 404 names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgramEntity::Program => "program",
            ProgramEntity::Customer => "customer",
            ProgramEntity::Operation => "operation",
            ProgramEntity::Merchant => "merchant",
        }
    }
}

/// How a program-limited operator's request on this route is checked.
pub fn program_route(method: &str, template: &str) -> ProgramRoute {
    let Some(rest) = template.strip_prefix("/v1/") else {
        return ProgramRoute::Global;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let under_id = segments.get(1).is_some_and(|s| s.starts_with('{'));
    let read = method == "GET";
    let entity = |kind| match under_id {
        true => Some(ProgramRoute::Entity(kind)),
        false => None,
    };
    let found = match segments[0] {
        "sign-in" | "me" => Some(ProgramRoute::Own),
        "programs" => entity(ProgramEntity::Program)
            .or((read && segments.len() == 1).then_some(ProgramRoute::Programs)),
        "customers" => entity(ProgramEntity::Customer).or(match (method, &segments[1..]) {
            ("GET", [] | ["export.csv" | "export.xlsx"]) => {
                Some(ProgramRoute::Listed("program_id"))
            }
            ("POST", []) => Some(ProgramRoute::InBody),
            _ => None,
        }),
        "operations" => entity(ProgramEntity::Operation).or(match (method, &segments[1..]) {
            ("GET", [] | ["export.csv" | "export.xlsx"]) => {
                Some(ProgramRoute::Listed("program_id"))
            }
            ("POST", []) => Some(ProgramRoute::InBody),
            _ => None,
        }),
        "merchants" => entity(ProgramEntity::Merchant),
        "offers" if under_id => Some(ProgramRoute::Listed("program")),
        _ => None,
    };
    found.unwrap_or(ProgramRoute::Global)
}

/// Whether a JSON field of that name may hold a secret (a password, PIN, key, token, TOTP
/// secret or code, a card's CVC): the audit log writes `"[redacted]"` in its place. Names are split into words
/// at `_`, `-` and lower-to-upper case changes (`secret_key`, `SecretKey`, `dev-secret`).
pub fn is_secret_field(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "secret",
        "secrets",
        "password",
        "passwords",
        "pin",
        "pins",
        "key",
        "keys",
        "token",
        "tokens",
        "totp",
        "otpauth",
        "cvc",
        "cvv",
        "hash",
        "authorization",
    ];
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        let separator = matches!(c, '_' | '-' | '.');
        if (separator || (c.is_uppercase() && previous_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        if !separator {
            word.extend(c.to_lowercase());
        }
    }
    words.push(word);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// `value` with every field [`is_secret_field`] names replaced by `"[redacted]"`, at any depth.
pub fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if is_secret_field(name) && !field.is_null() {
                    *field = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(field);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// How long a TOTP code stands for (RFC 6238's default), in seconds.
pub const TOTP_STEP_SECS: i64 = 30;

/// Codes of this many steps before or after now are taken (a clock a little off).
pub const TOTP_SKEW_STEPS: i64 = 1;

/// The TOTP time steps a code presented at `now_ms` may belong to, the current one first.
pub fn totp_candidate_steps(now_ms: i64) -> impl Iterator<Item = i64> {
    let current = now_ms.div_euclid(1000 * TOTP_STEP_SECS);
    std::iter::once(current)
        .chain((1..=TOTP_SKEW_STEPS).flat_map(move |d| [current - d, current + d]))
}

/// A code matching `step` is taken only after every step used before: a code seen once (or
/// an older one) is never taken again, on any node.
pub fn totp_step_fresh(last_used_step: i64, step: i64) -> bool {
    step > last_used_step
}

/// Checks an operator's login: 1 to 64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_login(login: &str) -> Result<(), DomainError> {
    let valid = !login.is_empty()
        && login.chars().count() <= 64
        && login
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    match valid {
        true => Ok(()),
        false => Err(invalid(
            "login",
            "1 to 64 letters, digits, '.', '_', '-' or '@'",
        )),
    }
}

/// Operator passwords: 12 to 256 characters.
pub fn check_password(password: &str) -> Result<(), DomainError> {
    match (12..=256).contains(&password.chars().count()) {
        true => Ok(()),
        false => Err(invalid("password", "12 to 256 characters")),
    }
}

/// The reason a manual accrual or withdrawal must carry: 1 to 500 characters, not blank.
pub fn check_reason(reason: Option<&str>) -> Result<String, DomainError> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(invalid(
            "reason",
            "a manual accrual or withdrawal needs a reason",
        ));
    }
    if reason.chars().count() > 500 {
        return Err(invalid("reason", "at most 500 characters"));
    }
    Ok(reason.to_string())
}

/// The program setting naming the amount above which a manual adjustment waits for a second
/// operator's approval.
pub const APPROVAL_SETTING: &str = "adjustment_approval_above";

/// The program's approval threshold in minor units, if it sets one: a decimal string or
/// number in the currency's units, at most `decimals` places, not negative.
pub fn approval_threshold(
    settings: &serde_json::Value,
    decimals: u8,
) -> Result<Option<Amount>, DomainError> {
    let text = match settings.get(APPROVAL_SETTING) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(serde_json::Value::Number(number)) => number.to_string(),
        Some(_) => {
            return Err(invalid(
                "settings.adjustment_approval_above",
                "an amount (a decimal string)",
            ))
        }
    };
    match parse_decimal(&text, decimals) {
        Ok(amount) if amount.0 >= 0 => Ok(Some(amount)),
        _ => Err(invalid(
            "settings.adjustment_approval_above",
            "a non-negative amount in the currency's units",
        )),
    }
}

/// Whether a manual adjustment of `amount` waits for approval under `threshold`.
pub fn needs_approval(amount: Amount, threshold: Option<Amount>) -> bool {
    threshold.is_some_and(|threshold| amount.0 > threshold.0)
}

/// Who acts: an operator by id, or the bootstrap token of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Bootstrap,
    Operator(i64),
}

/// A second operator approves a pending adjustment: the one who asked for it cannot (they
/// may reject it, which changes nothing).
pub fn check_approver(requested_by: Actor, approver: Actor) -> Result<(), DomainError> {
    match requested_by == approver {
        true => Err(invalid(
            "operator",
            "a manual adjustment is approved by another operator than the one who made it",
        )),
        false => Ok(()),
    }
}

fn invalid(field: &'static str, reason: &str) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_limited_operators_are_checked_by_route() {
        use ProgramEntity::*;
        for (method, template, route) in [
            ("GET", "/v1/me", ProgramRoute::Own),
            ("GET", "/v1/programs", ProgramRoute::Programs),
            ("POST", "/v1/programs", ProgramRoute::Global),
            (
                "GET",
                "/v1/programs/{id}/analytics",
                ProgramRoute::Entity(Program),
            ),
            ("PUT", "/v1/programs/{id}", ProgramRoute::Entity(Program)),
            (
                "GET",
                "/v1/programs/{id}/liability/export.csv",
                ProgramRoute::Entity(Program),
            ),
            ("GET", "/v1/customers", ProgramRoute::Listed("program_id")),
            (
                "GET",
                "/v1/customers/export.xlsx",
                ProgramRoute::Listed("program_id"),
            ),
            ("POST", "/v1/customers", ProgramRoute::InBody),
            ("POST", "/v1/customers/merge", ProgramRoute::Global),
            (
                "POST",
                "/v1/customers/{id}/block",
                ProgramRoute::Entity(Customer),
            ),
            (
                "GET",
                "/v1/operations/export.csv",
                ProgramRoute::Listed("program_id"),
            ),
            ("POST", "/v1/operations", ProgramRoute::InBody),
            (
                "POST",
                "/v1/operations/{id}/reverse",
                ProgramRoute::Entity(Operation),
            ),
            ("PUT", "/v1/merchants/{id}", ProgramRoute::Entity(Merchant)),
            ("GET", "/v1/merchants", ProgramRoute::Global),
            (
                "GET",
                "/v1/offers/{id}/versions",
                ProgramRoute::Listed("program"),
            ),
            ("GET", "/v1/audit", ProgramRoute::Global),
            ("GET", "/v1/ecommpay/payments", ProgramRoute::Global),
            ("POST", "/v1/adjustments/{id}/approve", ProgramRoute::Global),
        ] {
            assert_eq!(
                program_route(method, template),
                route,
                "{method} {template}"
            );
        }
    }

    #[test]
    fn scopes_are_checked_against_the_role() {
        assert_eq!(Scope::of(Role::Support, None).unwrap(), Scope::AllPrograms);
        let scope = Scope::of(Role::Finance, Some(&[2, 1, 2])).unwrap();
        assert!(scope.covers(1) && scope.covers(2) && !scope.covers(3));
        assert_eq!(scope.programs(), Some(vec![1, 2]));
        assert!(Scope::of(Role::Administrator, Some(&[1])).is_err());
        assert!(Scope::of(Role::ProgramManager, Some(&[])).is_err());
        assert!(Scope::AllPrograms.covers(7));
    }

    #[test]
    fn roles_permit_their_actions_only() {
        use Action::*;
        let all = [
            SignIn,
            Own,
            Read,
            Export,
            Resend,
            Change,
            Approve,
            ManageOperators,
        ];
        let allowed =
            |role: Role| -> Vec<Action> { all.into_iter().filter(|a| role.permits(*a)).collect() };
        assert_eq!(allowed(Role::Administrator), all);
        assert_eq!(
            allowed(Role::ProgramManager),
            [SignIn, Own, Read, Export, Resend, Change, Approve]
        );
        assert_eq!(allowed(Role::Support), [SignIn, Own, Read, Resend]);
        assert_eq!(allowed(Role::Finance), [SignIn, Own, Read, Export]);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn routes_are_classified_by_method_and_area() {
        assert_eq!(classify("GET", "/v1/programs/{id}"), Some(Action::Read));
        assert_eq!(classify("PUT", "/v1/programs/{id}"), Some(Action::Change));
        assert_eq!(
            classify("GET", "/v1/ecommpay/payments/export.csv"),
            Some(Action::Export)
        );
        assert_eq!(
            classify("POST", "/v1/messages/{id}/resend"),
            Some(Action::Resend)
        );
        assert_eq!(
            classify("POST", "/v1/adjustments/{id}/approve"),
            Some(Action::Approve)
        );
        assert_eq!(
            classify("GET", "/v1/operators"),
            Some(Action::ManageOperators)
        );
        assert_eq!(classify("POST", "/v1/sign-in"), Some(Action::SignIn));
        assert_eq!(classify("GET", "/v1/sign-in"), None);
        assert_eq!(classify("DELETE", "/v1/me/tokens/{id}"), Some(Action::Own));
        assert_eq!(classify("POST", "/v1/newthing"), None);
        assert_eq!(classify("POST", "/v1/audit"), None);
        assert_eq!(classify("GET", "/metrics"), None);
    }

    #[test]
    fn secret_fields_are_redacted_at_any_depth() {
        for name in [
            "secret",
            "secret_key",
            "SecretKey",
            "dev_secret_key",
            "password",
            "pin",
            "totp",
            "token",
            "otpauth_uri",
            "api-key",
            "idempotency_key",
            "cvc",
            "activation_password",
        ] {
            assert!(is_secret_field(name), "{name}");
        }
        for name in ["shipping", "login", "amount", "code", "keyword", "uid"] {
            assert!(!is_secret_field(name), "{name}");
        }
        let mut value =
            serde_json::json!({"login": "a", "inner": [{"password": "p", "n": 1}], "pin": null});
        redact(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"login": "a", "inner": [{"password": "[redacted]", "n": 1}], "pin": null})
        );
    }

    #[test]
    fn a_totp_step_is_taken_once() {
        let steps: Vec<i64> = totp_candidate_steps(90_000).collect();
        assert_eq!(steps, [3, 2, 4]);
        assert!(totp_step_fresh(0, 3));
        assert!(!totp_step_fresh(3, 3));
        assert!(!totp_step_fresh(3, 2));
    }

    #[test]
    fn approvals_above_the_threshold_by_another_operator() {
        let settings = serde_json::json!({APPROVAL_SETTING: "100.50"});
        let threshold = approval_threshold(&settings, 2).unwrap();
        assert_eq!(threshold, Some(Amount(10050)));
        assert!(!needs_approval(Amount(10050), threshold));
        assert!(needs_approval(Amount(10051), threshold));
        assert!(!needs_approval(Amount(i64::MAX), None));
        assert!(approval_threshold(&serde_json::json!({APPROVAL_SETTING: "-1"}), 2).is_err());
        assert!(approval_threshold(&serde_json::json!({APPROVAL_SETTING: "1.001"}), 2).is_err());
        assert!(approval_threshold(&serde_json::json!({}), 2)
            .unwrap()
            .is_none());
        assert!(check_approver(Actor::Operator(1), Actor::Operator(1)).is_err());
        assert!(check_approver(Actor::Bootstrap, Actor::Bootstrap).is_err());
        assert!(check_approver(Actor::Operator(1), Actor::Operator(2)).is_ok());
        assert!(check_reason(Some("  ")).is_err());
        assert_eq!(check_reason(Some(" goodwill ")).unwrap(), "goodwill");
    }
}
