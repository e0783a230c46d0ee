//! Operators signing in and the principal of every admin request: the bootstrap token of
//! `serve` or an operator's API token, looked up in the store on each request (a revoked token
//! is refused at once on every node). Sign-in checks login, password and TOTP under the
//! throttle of merchant passwords; the dashboard signs in through the same [`sign_in`].

use super::credentials::{self, Checked, Refusal};
use super::error::ApiError;
use crate::secrets::{self, Sealer};
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use kopilka_domain::operator::{self, Actor, Role, Scope};
use kopilka_store::operators::Operator;
use kopilka_store::{SharedStore, StoreResult};

/// Who makes an admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The admin token of `serve` (first setup): an administrator.
    Bootstrap,
    Operator {
        id: i64,
        login: String,
        role: Role,
        token_id: i64,
        /// The programs it may see and change.
        scope: Scope,
    },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Bootstrap => Role::Administrator,
            Principal::Operator { role, .. } => *role,
        }
    }

    pub fn scope(&self) -> &Scope {
        match self {
            Principal::Bootstrap => &Scope::AllPrograms,
            Principal::Operator { scope, .. } => scope,
        }
    }

    /// The program's entity unless this principal may not see its program: then the entity
    /// is not found (404), so ids of other programs do not leak.
    pub fn may_see(&self, program: i64, entity: &str) -> Result<(), ApiError> {
        match self.scope().covers(program) {
            true => Ok(()),
            false => Err(ApiError::not_found(entity)),
        }
    }

    pub fn actor(&self) -> Actor {
        match self {
            Principal::Bootstrap => Actor::Bootstrap,
            Principal::Operator { id, .. } => Actor::Operator(*id),
        }
    }

    /// How the audit log and adjustments name it: `bootstrap` or `operator:ID`.
    pub fn label(&self) -> String {
        actor_label(self.actor())
    }
}

/// The scope an operator's stored `program_ids` give (checked when they were stored).
pub fn stored_scope(program_ids: Option<Vec<i64>>) -> Scope {
    match program_ids {
        None => Scope::AllPrograms,
        Some(ids) => Scope::Programs(ids.into_iter().collect()),
    }
}

pub fn actor_label(actor: Actor) -> String {
    match actor {
        Actor::Bootstrap => "bootstrap".into(),
        Actor::Operator(id) => format!("operator:{id}"),
    }
}

/// The actor a label names; `None` for a label no code wrote.
pub fn parse_actor_label(label: &str) -> Option<Actor> {
    match label {
        "bootstrap" => Some(Actor::Bootstrap),
        _ => label
            .strip_prefix("operator:")?
            .parse()
            .ok()
            .map(Actor::Operator),
    }
}

/// The principal the request's bearer token names, or 401.
pub async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(ApiError::unauthorized());
    };
    let digest = secrets::token_digest(token);
    if secrets::constant_time_eq(&digest, &state.admin_token_digest) {
        return Ok(Principal::Bootstrap);
    }
    // The digest is the lookup key: finding it is the check (a token is 256 random bits).
    let found = state
        .store
        .read(move |tx| Box::pin(async move { tx.operator_token(&digest).await }))
        .await?;
    let now = kopilka_store::now_ms();
    let Some(holder) = found.filter(|h| h.token.is_live(now) && !h.operator.disabled) else {
        return Err(ApiError::unauthorized());
    };
    if holder
        .token
        .last_used_at
        .is_none_or(|used| used < now - 60_000)
    {
        let id = holder.token.id;
        state
            .store
            .write(move |tx| Box::pin(async move { tx.touch_operator_token(id).await }))
            .await?;
    }
    Ok(Principal::Operator {
        id: holder.operator.id,
        login: holder.operator.login,
        role: holder.operator.role,
        token_id: holder.token.id,
        scope: stored_scope(holder.operator.program_ids),
    })
}

/// Why a sign-in failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// An unknown login, a wrong password or code, or a disabled operator: not told apart.
    Wrong,
    /// The password is right and the operator has a second factor: ask for its code.
    TotpRequired,
    Throttled(Refusal),
}

/// The operator whose `login`, `password` and (when enrolled) TOTP code these are, checked
/// from client `address` under the throttle (per address, per login from it, per login). A
/// code is taken once: a replay within its window is refused.
pub async fn sign_in(
    store: &SharedStore,
    sealer: &Sealer,
    login: &str,
    password: String,
    totp: Option<String>,
    address: &str,
) -> StoreResult<Result<Operator, SignInRefusal>> {
    let wanted = login.to_string();
    let found = store
        .read(move |tx| Box::pin(async move { tx.operator_by_login(&wanted).await }))
        .await?;
    let checking = found.clone();
    let store_for_code = store.clone();
    let sealer = sealer.clone();
    let checked = credentials::check_throttled(
        store,
        credentials::OPERATOR,
        login,
        address,
        || async move {
            let Some(operator) = checking else {
                credentials::verify_decoy(password).await?;
                return Ok(Checked::Wrong);
            };
            let right =
                secrets::verify_secret_async(password, operator.password_hash.clone()).await?;
            if !right || operator.disabled {
                return Ok(Checked::Wrong);
            }
            let Some(sealed) = &operator.sealed_totp else {
                return Ok(Checked::Right);
            };
            let Some(code) = totp else {
                return Ok(Checked::Unfinished);
            };
            Ok(
                match take_code(&store_for_code, &sealer, &operator, sealed, &code).await {
                    Ok(true) => Checked::Right,
                    Ok(false) => Checked::Wrong,
                    Err(error) => {
                        tracing::error!(operator_id = operator.id, "TOTP check failed: {error}");
                        Checked::Wrong
                    }
                },
            )
        },
    )
    .await?;
    Ok(match (checked, found) {
        (Ok(Checked::Right), Some(operator)) => Ok(operator),
        (Ok(Checked::Unfinished), _) => Err(SignInRefusal::TotpRequired),
        (Err(refusal), _) => Err(SignInRefusal::Throttled(refusal)),
        _ => Err(SignInRefusal::Wrong),
    })
}

/// Whether `code` is the operator's TOTP code for a step around now not taken before; the step
/// is taken in the same check.
async fn take_code(
    store: &SharedStore,
    sealer: &Sealer,
    operator: &Operator,
    sealed: &str,
    code: &str,
) -> anyhow::Result<bool> {
    let secret = sealer.unseal(sealed)?;
    let Some(step) = matching_step(&secret, &operator.login, code, kopilka_store::now_ms())? else {
        return Ok(false);
    };
    let id = operator.id;
    Ok(store
        .write(move |tx| Box::pin(async move { tx.take_totp_step(id, step).await }))
        .await?)
}

/// The TOTP of a base32 secret, as authenticator apps compute it (SHA-1, 6 digits, 30 s).
pub fn totp(secret_base32: &str, login: &str) -> anyhow::Result<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("TOTP secret: {e:?}"))?;
    Ok(totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        operator::TOTP_STEP_SECS as u64,
        bytes,
        Some("kopilka".to_string()),
        login.to_string(),
    )?)
}

/// A new random TOTP secret, base32.
pub fn new_totp_secret() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill(&mut bytes[..]);
    totp_rs::Secret::Raw(bytes.to_vec())
        .to_encoded()
        .to_string()
}

/// The time step around `now_ms` whose code `code` is, compared in constant time.
pub fn matching_step(
    secret_base32: &str,
    login: &str,
    code: &str,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let totp = totp(secret_base32, login)?;
    Ok(operator::totp_candidate_steps(now_ms).find(|step| {
        let time = (step * operator::TOTP_STEP_SECS).max(0) as u64;
        secrets::constant_time_eq(&totp.generate(time), code)
    }))
}
