//! Platform registration under the native admin API: `/v1/kupikupi/platforms`.

use crate::http::{check_url, ApiError, ApiResult, JsonBody};
use crate::secrets::Sealer;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::MerchantId;
use kopilka_store::kupikupi::{Platform, PlatformUrls};
use kopilka_store::{SharedStore, StoreResult};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Platform administration under `/v1`, each route with its documentation; the server adds
/// them to the admin API, which protects them.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(rotate))
        .routes(routes!(disable))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformInput {
    pub merchant_id: i64,
    #[serde(flatten)]
    pub urls: UrlsInput,
    /// An existing UidPlatform (moving a shop from another service); generated when absent.
    #[serde(default)]
    pub uid: Option<String>,
    /// Existing keys, likewise; generated when absent.
    #[serde(default)]
    pub secret_key: Option<String>,
    #[serde(default)]
    pub dev_secret_key: Option<String>,
}

/// Each an absolute https URL of at most 512 characters (http only on a loopback host).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UrlsInput {
    pub site: String,
    pub success_url: String,
    pub fail_url: String,
    pub notification_url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlatformView {
    /// The platform's UidPlatform.
    pub uid: String,
    pub merchant_id: i64,
    pub site: String,
    pub success_url: String,
    pub fail_url: String,
    pub notification_url: String,
    /// Present only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_secret_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When it was disabled: the protocol's methods answer it as an unknown platform.
    pub disabled_at: Option<i64>,
}

impl From<Platform> for PlatformView {
    fn from(p: Platform) -> Self {
        PlatformView {
            uid: p.uid,
            merchant_id: p.merchant_id.0,
            site: p.site,
            success_url: p.success_url,
            fail_url: p.fail_url,
            notification_url: p.notification_url,
            secret_key: None,
            dev_secret_key: None,
            created_at: p.created_at,
            updated_at: p.updated_at,
            disabled_at: p.disabled_at,
        }
    }
}

impl UrlsInput {
    fn validate(self) -> ApiResult<PlatformUrls> {
        check_url("site", &self.site)?;
        check_url("success_url", &self.success_url)?;
        check_url("fail_url", &self.fail_url)?;
        check_url("notification_url", &self.notification_url)?;
        Ok(PlatformUrls {
            site: self.site,
            success_url: self.success_url,
            fail_url: self.fail_url,
            notification_url: self.notification_url,
        })
    }
}

/// `len` random letters and digits (the shape of the seed's `M2hULcD58iYGkmS7`).
pub fn random_key(len: usize) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn check_key(field: &'static str, key: &str, min: usize) -> ApiResult<()> {
    if key.len() < min || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            field,
            format!("must be {min} to 64 printable characters"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/kupikupi/platforms", request_body = PlatformInput, responses((status = 201, description = "The platform with its keys, shown this once", body = PlatformView), (status = 422, body = crate::http::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<PlatformInput>,
) -> ApiResult<(StatusCode, Json<PlatformView>)> {
    let urls = input.urls.validate()?;
    let uid = input.uid.unwrap_or_else(|| random_key(16));
    if uid.is_empty() || uid.len() > 20 || !uid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid(
            "uid",
            "must be 1 to 20 letters and digits",
        ));
    }
    let secret = input.secret_key.unwrap_or_else(|| random_key(32));
    let dev_secret = input.dev_secret_key.unwrap_or_else(|| random_key(32));
    check_key("secret_key", &secret, 16)?;
    check_key("dev_secret_key", &dev_secret, 16)?;
    if secret == dev_secret {
        return Err(ApiError::invalid(
            "dev_secret_key",
            "must differ from secret_key",
        ));
    }
    let platform = register(
        &state.store,
        &state.sealer,
        MerchantId(input.merchant_id),
        uid,
        urls,
        (&secret, &dev_secret),
    )
    .await?;
    let mut view = PlatformView::from(platform);
    view.secret_key = Some(secret);
    view.dev_secret_key = Some(dev_secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Registers a platform of a merchant, its keys (live, test) sealed.
pub(super) async fn register(
    store: &SharedStore,
    sealer: &Sealer,
    merchant_id: MerchantId,
    uid: String,
    urls: PlatformUrls,
    (secret, dev_secret): (&str, &str),
) -> StoreResult<Platform> {
    let (sealed, sealed_dev) = (sealer.seal(secret), sealer.seal(dev_secret));
    store
        .write(move |tx| {
            Box::pin(async move {
                if tx.merchant(merchant_id).await?.is_none() {
                    return Err(kopilka_domain::DomainError::Invalid {
                        field: "merchant_id",
                        reason: "no such merchant".into(),
                    }
                    .into());
                }
                if tx.kupikupi_platform(&uid).await?.is_some() {
                    return Err(
                        kopilka_domain::DomainError::AlreadyExists { entity: "platform" }.into(),
                    );
                }
                tx.create_kupikupi_platform(&uid, merchant_id, &urls, &sealed, &sealed_dev)
                    .await
            })
        })
        .await
}

#[utoipa::path(get, path = "/v1/kupikupi/platforms", responses((status = 200, body = [PlatformView])))]
async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<PlatformView>>> {
    let platforms = state
        .store
        .read(|tx| Box::pin(async move { tx.kupikupi_platforms().await }))
        .await?;
    Ok(Json(platforms.into_iter().map(Into::into).collect()))
}

async fn find(state: &AppState, uid: String) -> ApiResult<Platform> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.kupikupi_platform(&uid).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("platform"))
}

#[utoipa::path(get, path = "/v1/kupikupi/platforms/{uid}", responses((status = 200, body = PlatformView), (status = 404, body = crate::http::ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> ApiResult<Json<PlatformView>> {
    Ok(Json(find(&state, uid).await?.into()))
}

#[utoipa::path(put, path = "/v1/kupikupi/platforms/{uid}", request_body = UrlsInput, responses((status = 200, body = PlatformView), (status = 422, body = crate::http::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    JsonBody(input): JsonBody<UrlsInput>,
) -> ApiResult<Json<PlatformView>> {
    let urls = input.validate()?;
    let platform = find(&state, uid).await?;
    let updated = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.update_kupikupi_platform_urls(platform.id, &urls).await?;
                tx.kupikupi_platform_by_id(platform.id).await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("platform"))?;
    Ok(Json(updated.into()))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// `secret`, `dev` or `both` (default).
    #[serde(default)]
    which: Option<String>,
}

/// Issues new keys; the old ones stop working at once. A disabled platform gets none.
#[utoipa::path(post, path = "/v1/kupikupi/platforms/{uid}/keys", request_body(content = Option<RotateInput>), responses((status = 200, description = "The platform with its new keys, shown this once", body = PlatformView), (status = 409, description = "The platform is disabled", body = crate::http::ErrorBody)))]
async fn rotate(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<PlatformView>> {
    let input: RotateInput = if body.is_empty() {
        RotateInput::default()
    } else {
        crate::http::parse_json(&body)?
    };
    let (production, dev) = match input.which.as_deref().unwrap_or("both") {
        "both" => (true, true),
        "secret" => (true, false),
        "dev" => (false, true),
        _ => return Err(ApiError::invalid("which", "secret, dev or both")),
    };
    let platform = find(&state, uid).await?;
    if platform.disabled_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "disabled",
            "the platform is disabled",
        ));
    }
    let secret = production.then(|| random_key(32));
    let dev_secret = dev.then(|| random_key(32));
    let sealed = secret
        .as_deref()
        .map_or(platform.sealed_secret.clone(), |s| state.sealer.seal(s));
    let sealed_dev = dev_secret
        .as_deref()
        .map_or(platform.sealed_dev_secret.clone(), |s| state.sealer.seal(s));
    let updated = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.update_kupikupi_platform_keys(platform.id, &sealed, &sealed_dev)
                    .await?;
                tx.kupikupi_platform_by_id(platform.id).await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("platform"))?;
    let mut view = PlatformView::from(updated);
    view.secret_key = secret;
    view.dev_secret_key = dev_secret;
    Ok(Json(view))
}

/// Disables the platform for good: its requests are answered as an unknown platform's from now
/// on, so its transfers under way are left to expire.
#[utoipa::path(post, path = "/v1/kupikupi/platforms/{uid}/disable", responses((status = 200, description = "The platform, disabled", body = PlatformView), (status = 404, body = crate::http::ErrorBody)))]
async fn disable(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> ApiResult<Json<PlatformView>> {
    let platform = find(&state, uid).await?;
    let disabled = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.disable_kupikupi_platform(platform.id).await?;
                tx.kupikupi_platform_by_id(platform.id).await
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("platform"))?;
    Ok(Json(disabled.into()))
}
