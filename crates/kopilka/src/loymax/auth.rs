//! Sign-in: the OAuth token endpoint (password and refresh-token grants for a partner's
//! application), bearer sessions, logout, token rotation, and the SystemApi route where an
//! administrator issues a customer's token to an application (`applications.rs` registers them).

use super::wire::{ok, LmError, LmResult};
use crate::http::credentials::{self, Proof, Refusal};
pub use crate::http::secret_check::{check_secret, Attempt, SecretCheck};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kopilka_domain::ids::CustomerId;
use kopilka_domain::loymax::Settings;
use kopilka_domain::throttle::Secret;
use kopilka_store::model::{Credential, Customer, CustomerState, Program};
use kopilka_store::{StoreResult, Tx};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// Credentials of Loymax OAuth applications use this protocol name.
pub const PROTOCOL: &str = "loymax";

/// The customer behind a live bearer token whose holder has proved the phone (or never had to:
/// a card registration before its phone, a password, an application's token).
pub struct Session {
    pub token_id: i64,
    pub credential_id: Option<i64>,
    pub customer: Customer,
    pub program: Program,
    /// The token was handed out before its holder confirmed the phone: only
    /// [`ConfirmingSession`] methods take it.
    pub phone_unconfirmed: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Session
where
    AppState: FromRef<S>,
{
    type Rejection = LmError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let session = ConfirmingSession::from_request_parts(parts, state).await?.0;
        if session.phone_unconfirmed {
            return Err(kopilka_domain::loymax::RegistrationError::PhoneFirst.into());
        }
        Ok(session)
    }
}

/// A session of the methods a token waiting for its phone's confirmation may call: the
/// registration's steps list, the offer, and the phone's number, code and confirmation. A
/// stranger who began a registration for someone else's phone gets no further.
pub struct ConfirmingSession(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for ConfirmingSession
where
    AppState: FromRef<S>,
{
    type Rejection = LmError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(&parts.headers).ok_or(LmError::Unauthorized)?;
        let digest = secrets::token_digest(&token);
        let found = state
            .store
            .read(move |tx| {
                Box::pin(async move {
                    let Some(token) = tx.loymax_live_access_token(&digest).await? else {
                        return Ok(None);
                    };
                    let Some(customer) = tx.customer(token.customer_id).await? else {
                        return Ok(None);
                    };
                    let program = tx.program(customer.program_id).await?;
                    Ok(program.map(|p| (token, customer, p)))
                })
            })
            .await?;
        let (token, customer, program) = found.ok_or(LmError::Unauthorized)?;
        if customer.state == CustomerState::Blocked {
            return Err(LmError::Unauthorized);
        }
        Ok(ConfirmingSession(Session {
            token_id: token.id,
            credential_id: token.credential_id,
            customer,
            program,
            phone_unconfirmed: token.phone_unconfirmed,
        }))
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

/// Issues an access token to a customer (for an application, or for the registration flow).
pub async fn issue(
    tx: &mut Tx,
    customer_id: CustomerId,
    credential_id: Option<i64>,
    settings: &Settings,
) -> StoreResult<String> {
    issue_access(tx, customer_id, credential_id, settings, false).await
}

/// Issues a registration token that waits for the phone's confirmation ([`ConfirmingSession`]).
pub async fn issue_phone_unconfirmed(
    tx: &mut Tx,
    customer_id: CustomerId,
    settings: &Settings,
) -> StoreResult<String> {
    issue_access(tx, customer_id, None, settings, true).await
}

async fn issue_access(
    tx: &mut Tx,
    customer_id: CustomerId,
    credential_id: Option<i64>,
    settings: &Settings,
    phone_unconfirmed: bool,
) -> StoreResult<String> {
    let token = secrets::random_token(24);
    let expires_at = tx.now() + settings.access_ttl_ms;
    tx.loymax_insert_token(
        &secrets::token_digest(&token),
        "access",
        customer_id,
        credential_id,
        expires_at,
        phone_unconfirmed,
    )
    .await?;
    Ok(token)
}

/// Replaces the session's token with a new one; the old one works for the grace period.
pub async fn rotate(
    tx: &mut Tx,
    session: (i64, CustomerId, Option<i64>),
    settings: &Settings,
) -> StoreResult<String> {
    let (token_id, customer_id, credential_id) = session;
    let token = issue(tx, customer_id, credential_id, settings).await?;
    let until = tx.now() + settings.rotation_grace_ms;
    tx.loymax_end_token(token_id, until).await?;
    Ok(token)
}

impl Session {
    pub fn key(&self) -> (i64, CustomerId, Option<i64>) {
        (self.token_id, self.customer.id, self.credential_id)
    }
}

/// An OAuth error (RFC 6749 §5.2): the token endpoint speaks OAuth, not the envelope.
struct OAuthError(StatusCode, &'static str, &'static str);

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        crate::observability::record_refusal("loymax", self.1);
        (
            self.0,
            Json(json!({"error": self.1, "error_description": self.2})),
        )
            .into_response()
    }
}

/// The token endpoint's answer to a request refused before it ran (the NUL character, a body
/// over the limit).
pub(super) fn request_refused(nul: bool) -> Response {
    let description = if nul {
        "Недопустимый символ NUL (U+0000)"
    } else {
        "Неверный запрос"
    };
    OAuthError(StatusCode::BAD_REQUEST, "invalid_request", description).into_response()
}

/// An OAuth token pair `{access_token, token_type, expires_in, refresh_token}` for a customer,
/// of an application or (`None`) of the public client.
pub(super) async fn pair(
    tx: &mut Tx,
    customer_id: CustomerId,
    credential_id: Option<i64>,
    settings: &Settings,
) -> StoreResult<serde_json::Value> {
    let access = issue(tx, customer_id, credential_id, settings).await?;
    let refresh = secrets::random_token(24);
    let expires_at = tx.now() + settings.refresh_ttl_ms;
    tx.loymax_insert_token(
        &secrets::token_digest(&refresh),
        "refresh",
        customer_id,
        credential_id,
        expires_at,
        false,
    )
    .await?;
    Ok(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": settings.access_ttl_ms / 1000,
        "refresh_token": refresh,
    }))
}

/// Replaces the session's token with a new pair (the 1.2 answers of the steps that rotate it);
/// the old token works for the grace period.
pub(super) async fn rotate_pair(
    tx: &mut Tx,
    session: (i64, CustomerId, Option<i64>),
    settings: &Settings,
) -> StoreResult<serde_json::Value> {
    let (token_id, customer_id, credential_id) = session;
    let tokens = pair(tx, customer_id, credential_id, settings).await?;
    let until = tx.now() + settings.rotation_grace_ms;
    tx.loymax_end_token(token_id, until).await?;
    Ok(tokens)
}

/// The application a request names (form fields or HTTP Basic), with its secret checked; or,
/// when it names none and the public API's program allows a public client, no application.
async fn client(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    client_addr: &str,
) -> Result<(Option<Credential>, Program), OAuthError> {
    use base64::Engine;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let server_error = OAuthError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Внутренняя ошибка, повторите запрос позже",
    );
    let (id, secret) = match (form.get("client_id"), form.get("client_secret"), basic) {
        (Some(id), Some(secret), _) => (id.clone(), secret.clone()),
        (_, _, Some(pair)) => pair,
        (None, None, None) => {
            let program = super::program(state).await.map_err(|_| server_error)?;
            if super::settings(&program).public_client {
                return Ok((None, program));
            }
            return Err(OAuthError(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Требуются client_id и client_secret",
            ));
        }
        _ => {
            return Err(OAuthError(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Требуются client_id и client_secret",
            ))
        }
    };
    let proof = Proof::Password(secret);
    let found = credentials::authenticate(&state.store, PROTOCOL, vec![id], proof, client_addr)
        .await
        .map_err(|_| server_error)?;
    let holder = found.map_err(|refusal| match refusal {
        Refusal::Wrong => OAuthError(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Неизвестный клиент или неверный секрет",
        ),
        Refusal::TooSoon | Refusal::Busy => OAuthError(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "Слишком много попыток, повторите позже",
        ),
    })?;
    Ok((Some(holder.credential), holder.program))
}

/// `POST /authorizationService/token`, form-encoded.
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&state, &headers, &body, &client.to_string()).await {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn token_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    client_addr: &str,
) -> Result<serde_json::Value, OAuthError> {
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let (credential, program) = client(state, headers, &form, client_addr).await?;
    let settings = super::settings(&program);
    let server_error = |_| {
        OAuthError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Внутренняя ошибка, повторите запрос позже",
        )
    };
    let credential_id = credential.map(|c| c.id);
    match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            let username = form.get("username").cloned().unwrap_or_default();
            let password = form.get("password").cloned().unwrap_or_default();
            let found_in = program.clone();
            let customer = state
                .store
                .read(move |tx| {
                    Box::pin(async move { find_by_login(tx, &found_in, &username).await })
                })
                .await
                .map_err(server_error)?;
            let invalid = OAuthError(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Неверный логин или пароль",
            );
            let customer = customer
                .filter(|c| c.state == CustomerState::Active)
                .ok_or(invalid)?;
            let refusal = |description| {
                Err(OAuthError(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    description,
                ))
            };
            match check_password(state, &customer, password, client_addr).await {
                Ok(SecretCheck::Right) => {}
                Ok(SecretCheck::Wrong) => return refusal("Неверный логин или пароль"),
                Ok(SecretCheck::TooSoon) => {
                    return refusal("Слишком много неверных паролей, попробуйте позже")
                }
                Err(_) => {
                    return Err(OAuthError(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "Внутренняя ошибка, повторите запрос позже",
                    ))
                }
            }
            state
                .store
                .write(move |tx| {
                    Box::pin(async move { pair(tx, customer.id, credential_id, &settings).await })
                })
                .await
                .map_err(server_error)
        }
        Some("refresh_token") => {
            let digest =
                secrets::token_digest(form.get("refresh_token").map(String::as_str).unwrap_or(""));
            let issued = state
                .store
                .write(move |tx| {
                    Box::pin(async move {
                        let Some(old) = tx.loymax_token(&digest).await? else {
                            return Ok(None);
                        };
                        if old.kind != "refresh"
                            || old.expires_at <= tx.now()
                            || old.credential_id != credential_id
                        {
                            return Ok(None);
                        }
                        // A refresh token is used once.
                        let now = tx.now();
                        tx.loymax_end_token(old.id, now).await?;
                        pair(tx, old.customer_id, credential_id, &settings)
                            .await
                            .map(Some)
                    })
                })
                .await
                .map_err(server_error)?;
            issued.ok_or(OAuthError(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Неизвестный или истёкший токен обновления",
            ))
        }
        _ => Err(OAuthError(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Поддерживаются grant_type password и refresh_token",
        )),
    }
}

/// Checks a customer's password, throttled per client address and per account.
pub async fn check_password(
    state: &AppState,
    customer: &Customer,
    password: String,
    client: &str,
) -> LmResult<SecretCheck> {
    let hash = customer.password_hash.clone();
    let attempt = Attempt {
        secret: Secret::Password,
        customer_id: customer.id,
        address: client,
        address_is_client: true,
        shop: None,
    };
    Ok(check_secret(&state.store, attempt, hash, password).await?)
}

/// A customer by the login they sign in with: a card number or a phone.
pub async fn find_by_login(
    tx: &mut Tx,
    program: &Program,
    login: &str,
) -> StoreResult<Option<Customer>> {
    let program_id = program.id;
    let login = login.trim();
    if let Some(card) = tx.card_by_number(program_id, login).await? {
        if let Some(id) = card.customer_id {
            return tx.customer(id).await;
        }
    }
    if let Ok(phone) = program.rules.parse_phone(login) {
        if let Some(c) = tx.customer_by_phone(program_id, phone.digits()).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Ends the session's token now, and the customer's refresh tokens for the same application.
pub async fn logout(
    State(state): State<AppState>,
    ConfirmingSession(session): ConfirmingSession,
) -> LmResult {
    let (token_id, customer_id, credential_id) = session.key();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let now = tx.now();
                tx.loymax_end_token(token_id, now).await?;
                tx.loymax_end_tokens_of(customer_id, credential_id, "refresh", now)
                    .await
            })
        })
        .await?;
    Ok(ok(serde_json::Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserTokenRequest {
    pub customer_id: i64,
}

/// A customer's token for an application (the e-shop route of the seed: the shop processes
/// purchases on the customer's behalf).
#[utoipa::path(post, path = "/v1/loymax/applications/{client_id}/tokens", params(("client_id" = String, Path, description = "The application's client_id")), request_body = UserTokenRequest, responses((status = 201, description = "`access_token`, `token_type`, `expires_in` (seconds) and `refresh_token`", body = serde_json::Value)))]
pub async fn issue_user_token(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    crate::http::JsonBody(input): crate::http::JsonBody<UserTokenRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), crate::http::ApiError> {
    use crate::http::ApiError;
    let issued = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let Some(holder) = credentials::find(tx, PROTOCOL, &[client_id]).await? else {
                    return Err(ApiError::not_found("application").into());
                };
                let Some(customer) = tx.customer(CustomerId(input.customer_id)).await? else {
                    return Err(ApiError::invalid("customer_id", "no such customer").into());
                };
                if customer.program_id != holder.merchant.program_id {
                    return Err(ApiError::invalid(
                        "customer_id",
                        "the customer is in another program",
                    )
                    .into());
                }
                let settings = super::settings(&holder.program);
                Ok(pair(tx, customer.id, Some(holder.credential.id), &settings).await?)
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}
