//! Operators: sign-in (an API token per operator), the signed-in operator's own account (TOTP
//! enrolment, tokens) and operator accounts (administrators only) — docs/operators.md.

use crate::http::operator::{self, Principal, SignInRefusal};
use crate::http::{credentials, ApiError, ApiResult, ClientAddr, Id, JsonBody};
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kopilka_domain::operator::{check_login, check_password, Role, Scope};
use kopilka_store::operators::{Operator, OperatorChange, Token};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperatorView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    /// `administrator`, `program_manager`, `support` or `finance`.
    pub role: String,
    /// Whether sign-in asks for a TOTP code.
    pub totp_enabled: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The programs the operator may see and change; null: all of them.
    pub program_ids: Option<Vec<i64>>,
}

impl From<Operator> for OperatorView {
    fn from(o: Operator) -> Self {
        OperatorView {
            id: o.id,
            login: o.login,
            display_name: o.display_name,
            role: o.role.as_str().to_string(),
            totp_enabled: o.sealed_totp.is_some(),
            disabled: o.disabled,
            created_at: o.created_at,
            updated_at: o.updated_at,
            program_ids: o.program_ids,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub operator_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<Token> for TokenView {
    fn from(t: Token) -> Self {
        TokenView {
            id: t.id,
            operator_id: t.operator_id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

fn role(text: &str) -> ApiResult<Role> {
    Role::parse(text).ok_or_else(|| {
        ApiError::invalid("role", "administrator, program_manager, support or finance")
    })
}

fn display_name(text: &str) -> ApiResult<String> {
    let name = text.trim();
    match (1..=200).contains(&name.chars().count()) {
        true => Ok(name.to_string()),
        false => Err(ApiError::invalid("display_name", "1 to 200 characters")),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInInput {
    pub login: String,
    pub password: String,
    /// The current code of the operator's authenticator, when TOTP is enabled.
    #[serde(default)]
    pub totp: Option<String>,
    /// What the token is for ("laptop", "reporting script"); `sign-in` when absent.
    #[serde(default)]
    pub token_name: Option<String>,
    /// The token stops working this many seconds from now; never when absent.
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedInView {
    /// The API token, shown only here: `Authorization: Bearer …`.
    pub token: String,
    #[serde(rename = "token_info")]
    pub token_view: TokenView,
    pub operator: OperatorView,
}

/// Signs an operator in with login, password and (when enrolled) a TOTP code, and issues an
/// API token. Wrong logins, passwords and codes are throttled per client address and login.
#[utoipa::path(post, path = "/v1/sign-in", request_body = SignInInput,
    responses((status = 201, body = SignedInView),
        (status = 401, description = "Wrong login, password or code, or `totp_required`", body = crate::http::ErrorBody),
        (status = 429, description = "Too many wrong attempts from this address", body = crate::http::ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    JsonBody(input): JsonBody<SignInInput>,
) -> ApiResult<Response> {
    let name = input.token_name.as_deref().unwrap_or("sign-in").trim();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::invalid("token_name", "1 to 100 characters"));
    }
    let lifetime_ms = match input.expires_in_secs {
        None => None,
        Some(secs) if (60..=366 * 86_400).contains(&secs) => Some(secs * 1000),
        Some(_) => {
            return Err(ApiError::invalid(
                "expires_in_secs",
                "between 60 seconds and 366 days",
            ))
        }
    };
    if input.login.chars().count() > 64 || input.password.chars().count() > 256 {
        return Err(wrong_sign_in());
    }
    let signed_in = operator::sign_in(
        &state.store,
        &state.sealer,
        &input.login,
        input.password,
        input.totp,
        &address.to_string(),
    )
    .await?;
    let operator = match signed_in {
        Ok(operator) => operator,
        Err(SignInRefusal::Wrong) => return Err(wrong_sign_in()),
        Err(SignInRefusal::TotpRequired) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "the operator has a second factor: give its current code as `totp`",
            ))
        }
        Err(SignInRefusal::Throttled(credentials::Refusal::Busy)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is busy; try again in a moment",
            ))
        }
        Err(SignInRefusal::Throttled(_)) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong sign-ins from this address lately; try again later",
            ))
        }
    };
    let token = secrets::random_token(32);
    let digest = secrets::token_digest(&token);
    let (operator_id, name) = (operator.id, name.to_string());
    let issued = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let expires_at = lifetime_ms.map(|ms| tx.now() + ms);
                tx.create_operator_token(operator_id, &name, &digest, expires_at)
                    .await
            })
        })
        .await?;
    let principal = Principal::Operator {
        id: operator.id,
        login: operator.login.clone(),
        role: operator.role,
        token_id: issued.id,
        scope: operator::stored_scope(operator.program_ids.clone()),
    };
    let mut response = (
        StatusCode::CREATED,
        Json(SignedInView {
            token,
            token_view: issued.into(),
            operator: operator.into(),
        }),
    )
        .into_response();
    // The audit log names who signed in.
    response.extensions_mut().insert(principal);
    Ok(response)
}

fn wrong_sign_in() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "wrong_credentials",
        "wrong login, password or code",
    )
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeView {
    /// `bootstrap` (the admin token of `serve`) or `operator`.
    pub actor: String,
    pub role: String,
    /// The operator, when the token is an operator's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<i64>,
}

/// The operator (or the bootstrap token) making the request.
#[utoipa::path(get, path = "/v1/me", responses((status = 200, body = MeView)))]
pub async fn me(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<MeView>> {
    let role = principal.role().as_str().to_string();
    match principal {
        Principal::Bootstrap => Ok(Json(MeView {
            actor: "bootstrap".into(),
            role,
            operator: None,
            token_id: None,
        })),
        Principal::Operator { id, token_id, .. } => {
            let operator = find(&state, id).await?;
            Ok(Json(MeView {
                actor: "operator".into(),
                role,
                operator: Some(operator.into()),
                token_id: Some(token_id),
            }))
        }
    }
}

/// The operator id of the principal, or 409 for the bootstrap token (no account).
fn own_id(principal: &Principal) -> ApiResult<i64> {
    match principal {
        Principal::Operator { id, .. } => Ok(*id),
        Principal::Bootstrap => Err(ApiError::new(
            StatusCode::CONFLICT,
            "bootstrap_token",
            "the bootstrap token has no operator account; sign in as an operator",
        )),
    }
}

async fn find(state: &AppState, id: i64) -> ApiResult<Operator> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.operator(id).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("operator"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpEnrolmentView {
    /// For the authenticator app (also as a QR code): shown only here.
    pub otpauth_uri: String,
    /// The same secret, base32, for typing in.
    pub secret: String,
}

/// Starts TOTP enrolment: a new secret, in force once `POST /v1/me/totp/confirm` gives one of
/// its codes (until then sign-in goes on as before).
#[utoipa::path(post, path = "/v1/me/totp", responses((status = 201, body = TotpEnrolmentView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn enrol_totp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<(StatusCode, Json<TotpEnrolmentView>)> {
    let id = own_id(&principal)?;
    let operator = find(&state, id).await?;
    let secret = operator::new_totp_secret();
    let totp = operator::totp(&secret, &operator.login).map_err(ApiError::internal)?;
    let sealed = state.sealer.seal(&secret);
    state
        .store
        .write(move |tx| Box::pin(async move { tx.set_pending_totp(id, &sealed).await }))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolmentView {
            otpauth_uri: totp.get_url(),
            secret,
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeInput {
    /// A current code of the new secret.
    pub totp: String,
}

/// Confirms TOTP enrolment with a current code: from now on sign-in asks for a code.
#[utoipa::path(post, path = "/v1/me/totp/confirm", request_body = TotpCodeInput, responses((status = 200, body = OperatorView), (status = 409, body = crate::http::ErrorBody), (status = 429, body = crate::http::ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ClientAddr(address): ClientAddr,
    JsonBody(input): JsonBody<TotpCodeInput>,
) -> ApiResult<Json<OperatorView>> {
    let id = own_id(&principal)?;
    let operator = find(&state, id).await?;
    let Some(sealed) = operator.sealed_totp_pending.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_enrolment",
            "no TOTP enrolment is waiting: POST /v1/me/totp first",
        ));
    };
    let secret = state.sealer.unseal(&sealed).map_err(ApiError::internal)?;
    let login = operator.login.clone();
    let code = input.totp;
    let store = state.store.clone();
    let checked = credentials::check_throttled(
        &state.store,
        credentials::OPERATOR,
        &operator.login,
        &address.to_string(),
        || async move {
            let step = operator::matching_step(&secret, &login, &code, kopilka_store::now_ms())
                .ok()
                .flatten();
            let Some(step) = step else {
                return Ok(credentials::Checked::Wrong);
            };
            let taken = store
                .write(move |tx| {
                    Box::pin(async move {
                        let taken = tx.take_totp_step(id, step).await?;
                        if taken {
                            tx.confirm_totp(id).await?;
                        }
                        Ok(taken)
                    })
                })
                .await;
            Ok(match taken {
                Ok(true) => credentials::Checked::Right,
                _ => credentials::Checked::Wrong,
            })
        },
    )
    .await?;
    match checked {
        Ok(credentials::Checked::Right) => Ok(Json(find(&state, id).await?.into())),
        Ok(_) => Err(ApiError::invalid(
            "totp",
            "not a current code of the new secret",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many wrong codes lately; try again later",
        )),
    }
}

/// The signed-in operator's tokens, revoked ones included.
#[utoipa::path(get, path = "/v1/me/tokens", responses((status = 200, body = [TokenView]), (status = 409, body = crate::http::ErrorBody)))]
pub async fn my_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<Vec<TokenView>>> {
    tokens_of(&state, own_id(&principal)?).await
}

/// Revokes one of the signed-in operator's tokens (the one in use too): refused from the next
/// request on, on every node.
#[utoipa::path(delete, path = "/v1/me/tokens/{id}", responses((status = 204), (status = 409, body = crate::http::ErrorBody)))]
pub async fn revoke_my_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Id(token_id): Id,
) -> ApiResult<StatusCode> {
    revoke(&state, own_id(&principal)?, token_id).await
}

async fn tokens_of(state: &AppState, operator_id: i64) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = state
        .store
        .read(move |tx| Box::pin(async move { tx.operator_tokens(operator_id).await }))
        .await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

async fn revoke(state: &AppState, operator_id: i64, token_id: i64) -> ApiResult<StatusCode> {
    let revoked = state
        .store
        .write(move |tx| {
            Box::pin(async move { tx.revoke_operator_token(operator_id, token_id).await })
        })
        .await?;
    match revoked {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("live token")),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorInput {
    pub login: String,
    pub display_name: String,
    /// `administrator`, `program_manager`, `support` or `finance`.
    pub role: String,
    /// 12 to 256 characters; stored as an argon2id hash.
    pub password: String,
    /// Limits the operator to these programs (not an administrator); absent or null: all.
    #[serde(default)]
    pub program_ids: Option<Vec<i64>>,
}

/// `program_ids` as given, the role's rule checked (`Scope::of`) and each program known.
async fn scope(state: &AppState, role: Role, program_ids: Option<&[i64]>) -> ApiResult<Scope> {
    let scope = Scope::of(role, program_ids)?;
    if let Some(ids) = scope.programs() {
        let known = state
            .store
            .read(|tx| Box::pin(async move { tx.programs().await }))
            .await?;
        if let Some(unknown) = ids.iter().find(|id| !known.iter().any(|p| p.id.0 == **id)) {
            return Err(ApiError::invalid(
                "program_ids",
                format!("no program {unknown}"),
            ));
        }
    }
    Ok(scope)
}

/// A field that may be given as null (`Some(None)`), unlike one left out (`None`).
fn given<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Vec<i64>>>, D::Error> {
    Option::<Vec<i64>>::deserialize(d).map(Some)
}

#[utoipa::path(get, path = "/v1/operators", responses((status = 200, body = [OperatorView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<OperatorView>>> {
    let operators = state
        .store
        .read(|tx| Box::pin(async move { tx.operators().await }))
        .await?;
    Ok(Json(operators.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/v1/operators", request_body = OperatorInput, responses((status = 201, body = OperatorView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<OperatorInput>,
) -> ApiResult<(StatusCode, Json<OperatorView>)> {
    check_login(&input.login)?;
    let name = display_name(&input.display_name)?;
    let role = role(&input.role)?;
    check_password(&input.password)?;
    let programs = scope(&state, role, input.program_ids.as_deref())
        .await?
        .programs();
    let hash = secrets::hash_secret_async(input.password).await;
    let login = input.login;
    let operator = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.create_operator(&login, &name, role, &hash, programs.as_deref())
                    .await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(operator.into())))
}

#[utoipa::path(get, path = "/v1/operators/{id}", responses((status = 200, body = OperatorView)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<OperatorView>> {
    Ok(Json(find(&state, id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorUpdate {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// A new password (12 to 256 characters).
    #[serde(default)]
    pub password: Option<String>,
    /// A disabled operator's tokens and sign-ins are refused at once.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Removes the TOTP second factor (a lost phone); the operator may enrol again.
    #[serde(default)]
    pub remove_totp: bool,
    /// Limits the operator to these programs; null: all programs; absent: unchanged.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<Vec<i64>>)]
    pub program_ids: Option<Option<Vec<i64>>>,
}

#[utoipa::path(put, path = "/v1/operators/{id}", request_body = OperatorUpdate, responses((status = 200, body = OperatorView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Id(id): Id,
    JsonBody(input): JsonBody<OperatorUpdate>,
) -> ApiResult<Json<OperatorView>> {
    let demoted = input
        .role
        .as_deref()
        .is_some_and(|r| r != Role::Administrator.as_str());
    if principal.actor() == kopilka_domain::operator::Actor::Operator(id)
        && (input.disabled == Some(true) || demoted)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "own_account",
            "an administrator cannot disable or demote their own account",
        ));
    }
    let password_hash = match input.password {
        Some(password) => {
            check_password(&password)?;
            Some(secrets::hash_secret_async(password).await)
        }
        None => None,
    };
    // The role and programs it will have, checked together: an administrator is global.
    let current = find(&state, id).await?;
    let role_after = input.role.as_deref().map(role).transpose()?;
    let programs_after = input.program_ids.clone().unwrap_or(current.program_ids);
    let programs_after = scope(
        &state,
        role_after.unwrap_or(current.role),
        programs_after.as_deref(),
    )
    .await?
    .programs();
    let program_ids = input.program_ids.is_some().then_some(programs_after);
    let change = OperatorChange {
        display_name: input
            .display_name
            .as_deref()
            .map(display_name)
            .transpose()?,
        role: role_after,
        password_hash,
        disabled: input.disabled,
        remove_totp: input.remove_totp,
        program_ids,
    };
    let updated = state
        .store
        .write(move |tx| Box::pin(async move { tx.update_operator(id, &change).await }))
        .await?;
    if !updated {
        return Err(ApiError::not_found("operator"));
    }
    Ok(Json(find(&state, id).await?.into()))
}

/// An operator's tokens, revoked ones included.
#[utoipa::path(get, path = "/v1/operators/{id}/tokens", responses((status = 200, body = [TokenView])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<TokenView>>> {
    find(&state, id).await?;
    tokens_of(&state, id).await
}

/// Revokes an operator's token: refused from the next request on, on every node.
#[utoipa::path(delete, path = "/v1/operators/{id}/tokens/{token_id}", params(("token_id" = i64, Path, description = "The token's id")), responses((status = 204)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    path: Result<Path<(i64, i64)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<StatusCode> {
    let Path((id, token_id)) = path.map_err(|e| ApiError::invalid("path", e.body_text()))?;
    revoke(&state, id, token_id).await
}
