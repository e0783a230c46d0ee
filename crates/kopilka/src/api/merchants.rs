use crate::http::{ApiError, ApiResult};
use crate::http::{Id, JsonBody};
use crate::secrets;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::{MerchantId, ProgramId};
use kopilka_store::model::{Credential, Merchant};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantInput {
    pub program_id: i64,
    pub name: String,
    /// The shop's name in customer messages; the name when absent.
    #[serde(default)]
    pub sms_name: Option<String>,
    /// Hosts a hosted page may send the customer back to ("shop.example", "localhost").
    #[serde(default)]
    pub return_hosts: Vec<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MerchantView {
    pub id: i64,
    pub program_id: i64,
    pub name: String,
    pub sms_name: String,
    pub return_hosts: Vec<String>,
    pub webhook_url: Option<String>,
    pub created_at: i64,
}

impl From<Merchant> for MerchantView {
    fn from(m: Merchant) -> Self {
        MerchantView {
            return_hosts: m.return_hosts.clone(),
            id: m.id.0,
            program_id: m.program_id.0,
            name: m.name,
            sms_name: m.sms_name,
            webhook_url: m.webhook_url,
            created_at: m.created_at,
        }
    }
}

fn validate(input: &MerchantInput) -> ApiResult<()> {
    if input.name.trim().is_empty() || input.name.len() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    for (i, host) in input.return_hosts.iter().enumerate() {
        let ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
        if !ok {
            return Err(ApiError::invalid(
                format!("return_hosts[{i}]"),
                "not a host name",
            ));
        }
    }
    if let Some(url) = &input.webhook_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 512 {
            return Err(ApiError::invalid(
                "webhook_url",
                "must be an http(s) URL of at most 512 characters",
            ));
        }
    }
    Ok(())
}

async fn program_exists(state: &AppState, program_id: i64) -> ApiResult<()> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(program_id)).await }))
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::invalid("program_id", "no such program"))
}

#[utoipa::path(get, path = "/v1/merchants", responses((status = 200, body = [MerchantView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<MerchantView>>> {
    let merchants = state
        .store
        .read(|tx| Box::pin(async move { tx.merchants(None).await }))
        .await?;
    Ok(Json(merchants.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/v1/merchants", request_body = MerchantInput, responses((status = 201, body = MerchantView), (status = 422, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<MerchantInput>,
) -> ApiResult<(StatusCode, Json<MerchantView>)> {
    validate(&input)?;
    program_exists(&state, input.program_id).await?;
    let merchant = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let sms_name = input.sms_name.clone().unwrap_or_else(|| input.name.clone());
                let m = tx
                    .create_merchant(
                        ProgramId(input.program_id),
                        &input.name,
                        &sms_name,
                        &input.return_hosts,
                    )
                    .await?;
                if input.webhook_url.is_some() {
                    return Ok(tx
                        .update_merchant(
                            m.id,
                            &m.name,
                            &m.sms_name,
                            &input.return_hosts,
                            input.webhook_url.as_deref(),
                        )
                        .await?
                        .expect("just created"));
                }
                Ok(m)
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(merchant.into())))
}

#[utoipa::path(get, path = "/v1/merchants/{id}", responses((status = 200, body = MerchantView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<MerchantView>> {
    let merchant = state
        .store
        .read(move |tx| Box::pin(async move { tx.merchant(MerchantId(id)).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("merchant"))?;
    Ok(Json(merchant.into()))
}

#[utoipa::path(put, path = "/v1/merchants/{id}", request_body = MerchantInput, responses((status = 200, body = MerchantView)))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<MerchantInput>,
) -> ApiResult<Json<MerchantView>> {
    validate(&input)?;
    let merchant = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let sms_name = input.sms_name.clone().unwrap_or_else(|| input.name.clone());
                tx.update_merchant(
                    MerchantId(id),
                    &input.name,
                    &sms_name,
                    &input.return_hosts,
                    input.webhook_url.as_deref(),
                )
                .await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("merchant"))?;
    Ok(Json(merchant.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    /// `incust`, `loymax`, `kupikupi`, `ecommpay`, `native`.
    pub protocol: String,
    pub login: String,
    /// The password or key; stored only as a hash. Generated and shown once when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    pub id: i64,
    pub merchant_id: i64,
    pub protocol: String,
    pub login: String,
    /// Present only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: i64,
}

impl From<Credential> for CredentialView {
    fn from(c: Credential) -> Self {
        CredentialView {
            id: c.id,
            merchant_id: c.merchant_id.0,
            protocol: c.protocol,
            login: c.login,
            secret: None,
            created_at: c.created_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/merchants/{id}/credentials", responses((status = 200, body = [CredentialView])))]
pub async fn list_credentials(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<CredentialView>>> {
    let creds = state
        .store
        .read(move |tx| Box::pin(async move { tx.credentials_of(MerchantId(id)).await }))
        .await?;
    Ok(Json(creds.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/v1/merchants/{id}/credentials", request_body = CredentialInput, responses((status = 201, body = CredentialView)))]
pub async fn add_credential(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<CredentialInput>,
) -> ApiResult<(StatusCode, Json<CredentialView>)> {
    if !matches!(
        input.protocol.as_str(),
        "incust" | "loymax" | "kupikupi" | "ecommpay" | "native"
    ) {
        return Err(ApiError::invalid(
            "protocol",
            "one of incust, loymax, kupikupi, ecommpay, native",
        ));
    }
    if input.login.is_empty() || input.login.len() > 128 {
        return Err(ApiError::invalid("login", "must be 1 to 128 characters"));
    }
    let generated = input.secret.is_none();
    let secret = input
        .secret
        .clone()
        .unwrap_or_else(|| secrets::random_token(16));
    let hash = secrets::hash_secret_async(secret.clone()).await;
    let credential = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if tx.merchant(MerchantId(id)).await?.is_none() {
                    return Err(kopilka_domain::DomainError::NotFound { entity: "merchant" }.into());
                }
                tx.add_credential(
                    MerchantId(id),
                    &input.protocol,
                    &input.login,
                    Some(&hash),
                    None,
                    &serde_json::json!({}),
                )
                .await
            })
        })
        .await?;
    let mut view: CredentialView = credential.into();
    if generated {
        view.secret = Some(secret);
    }
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookSecretView {
    /// Signs the merchant's webhooks from now on (`Kopilka-Signature`); shown only here.
    pub secret: String,
}

/// Creates the merchant's webhook secret, or replaces it: webhooks sent from now on are signed
/// with the new one.
#[utoipa::path(post, path = "/v1/merchants/{id}/webhook-secret", responses((status = 201, body = WebhookSecretView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<(StatusCode, Json<WebhookSecretView>)> {
    let secret = format!("whsec_{}", secrets::random_token(24));
    let sealed = state.sealer.seal(&secret);
    let found = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if tx.merchant(MerchantId(id)).await?.is_none() {
                    return Ok(false);
                }
                tx.set_webhook_secret(MerchantId(id), &sealed).await?;
                Ok(true)
            })
        })
        .await?;
    if !found {
        return Err(ApiError::not_found("merchant"));
    }
    Ok((StatusCode::CREATED, Json(WebhookSecretView { secret })))
}
