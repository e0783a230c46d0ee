//! A program's social settings under the admin API: `/v1/programs/{id}/social` — the VK group
//! (Callback API), the Facebook/Instagram app (webhooks) and the OAuth clients customers link
//! their profiles through. Secrets are sealed and never shown again.

use crate::http::{ApiError, ApiResult, Id, JsonBody};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::offers::Network;
use kopilka_store::social::{OAuthClient, SocialSettings};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update))
}

/// The shortest webhook secret: long enough that guessing it is hopeless, so the webhooks need
/// no rate limit of their own.
const MIN_SECRET_CHARS: usize = 16;
const MAX_TEXT_CHARS: usize = 200;
const MAX_IDS: usize = 50;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialInput {
    /// The VK community whose Callback API server is `/social/{id}/vk`; null: none.
    #[serde(default)]
    pub vk: Option<VkInput>,
    /// The Facebook app whose webhooks (pages' `feed`, Instagram's `comments`) call
    /// `/social/{id}/facebook`; null: none.
    #[serde(default)]
    pub facebook: Option<FacebookInput>,
    /// OAuth clients for linking profiles and signing in from the cabinet (`vk` for VK ID,
    /// `facebook`); the whole list is replaced.
    #[serde(default)]
    pub oauth: Vec<OAuthInput>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VkInput {
    /// The community's id (positive).
    pub group_id: i64,
    /// The string VK expects back from the `confirmation` request.
    pub confirmation: String,
    /// The Callback API's secret key (16 to 200 characters); omitted: the stored one stays.
    #[serde(default)]
    pub secret: Option<String>,
    /// A VK API token (a community's or service token) the periodic collector reads the
    /// community's members with (docs/social.md); omitted: the stored one stays; `""`: no
    /// collector.
    #[serde(default)]
    pub access_token: Option<String>,
    /// The VK API's address; omitted: `https://api.vk.com/method` (an https URL, or http on
    /// loopback).
    #[serde(default)]
    pub api_url: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacebookInput {
    /// The app secret that signs every POST (`X-Hub-Signature-256`); omitted: the stored one stays.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// The token the verification request (`hub.verify_token`) must carry; omitted: the stored one stays.
    #[serde(default)]
    pub verify_token: Option<String>,
    /// The pages whose `feed` changes count (the group of the events).
    #[serde(default)]
    pub page_ids: Vec<String>,
    /// The Instagram professional accounts whose `comments` count.
    #[serde(default)]
    pub instagram_account_ids: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthInput {
    /// `vk` (VK ID) or `facebook`.
    #[schema(value_type = String)]
    pub network: Network,
    pub client_id: String,
    /// Omitted: the stored one stays.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The network's own endpoints unless given (a stand-in server in tests).
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub user_info_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SocialView {
    pub vk: Option<VkView>,
    pub facebook: Option<FacebookView>,
    pub oauth: Vec<OAuthView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VkView {
    pub group_id: i64,
    pub confirmation: String,
    pub secret_set: bool,
    /// The address to give VK as the Callback API server.
    pub callback_url: String,
    /// Whether the periodic collector reads the community (a token is set).
    pub access_token_set: bool,
    pub api_url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FacebookView {
    pub app_secret_set: bool,
    pub verify_token_set: bool,
    pub page_ids: Vec<String>,
    pub instagram_account_ids: Vec<String>,
    /// The callback URL to give the app's Webhooks product.
    pub callback_url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthView {
    #[schema(value_type = String)]
    pub network: Network,
    pub client_id: String,
    pub client_secret_set: bool,
    pub authorize_url: String,
    pub token_url: String,
    pub user_info_url: String,
    /// The redirect URI to register with the network.
    pub redirect_uri: String,
}

/// The networks' own OAuth endpoints: (authorize, token, user info).
fn default_endpoints(network: Network) -> (&'static str, &'static str, &'static str) {
    match network {
        Network::Vk => (
            "https://id.vk.com/authorize",
            "https://id.vk.com/oauth2/auth",
            "https://id.vk.com/oauth2/user_info",
        ),
        _ => (
            "https://www.facebook.com/v19.0/dialog/oauth",
            "https://graph.facebook.com/v19.0/oauth/access_token",
            "https://graph.facebook.com/v19.0/me",
        ),
    }
}

fn check_text(field: &str, value: &str, min: usize) -> ApiResult<()> {
    let chars = value.chars().count();
    if chars < min.max(1) || chars > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be {} to {MAX_TEXT_CHARS} printable characters",
                min.max(1)
            ),
        ));
    }
    Ok(())
}

/// VK's API, which the periodic collector reads.
pub const VK_API: &str = "https://api.vk.com/method";

fn check_ids(field: &str, ids: &[String]) -> ApiResult<()> {
    if ids.len() > MAX_IDS {
        return Err(ApiError::invalid(field, format!("at most {MAX_IDS}")));
    }
    for id in ids {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::invalid(field, "numeric ids of the network"));
        }
    }
    Ok(())
}

/// A new secret sealed, or the stored one; a section without either is refused.
fn secret(
    state: &AppState,
    field: &str,
    given: Option<&str>,
    stored: Option<String>,
    min: usize,
) -> ApiResult<String> {
    match (given, stored) {
        (Some(given), _) => {
            check_text(field, given, min)?;
            Ok(state.sealer.seal(given))
        }
        (None, Some(stored)) => Ok(stored),
        (None, None) => Err(ApiError::invalid(field, "required")),
    }
}

fn view(
    state: &AppState,
    id: i64,
    settings: SocialSettings,
    clients: Vec<OAuthClient>,
) -> SocialView {
    let base = format!("{}/social/{id}", state.public_url);
    SocialView {
        vk: settings.vk_group_id.map(|group_id| VkView {
            group_id,
            confirmation: settings.vk_confirmation.clone().unwrap_or_default(),
            secret_set: settings.sealed_vk_secret.is_some(),
            callback_url: format!("{base}/vk"),
            access_token_set: settings.sealed_vk_access_token.is_some(),
            api_url: settings
                .vk_api_url
                .clone()
                .unwrap_or_else(|| VK_API.to_string()),
        }),
        facebook: settings
            .sealed_facebook_app_secret
            .is_some()
            .then(|| FacebookView {
                app_secret_set: true,
                verify_token_set: settings.sealed_facebook_verify_token.is_some(),
                page_ids: settings.facebook_page_ids.clone(),
                instagram_account_ids: settings.instagram_account_ids.clone(),
                callback_url: format!("{base}/facebook"),
            }),
        oauth: clients
            .into_iter()
            .map(|c| OAuthView {
                redirect_uri: super::cabinet::redirect_uri(state, c.network),
                network: c.network,
                client_id: c.client_id,
                client_secret_set: true,
                authorize_url: c.authorize_url,
                token_url: c.token_url,
                user_info_url: c.user_info_url,
            })
            .collect(),
    }
}

async fn stored(state: &AppState, id: i64) -> ApiResult<(SocialSettings, Vec<OAuthClient>)> {
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let program = tx.program(ProgramId(id)).await?;
                let settings = tx.social_settings(ProgramId(id)).await?;
                let clients = tx.oauth_clients(ProgramId(id)).await?;
                Ok((program.is_some(), settings, clients))
            })
        })
        .await?;
    match found {
        (false, _, _) => Err(ApiError::not_found("program")),
        (true, settings, clients) => Ok((settings.unwrap_or_default(), clients)),
    }
}

#[utoipa::path(get, path = "/v1/programs/{id}/social",
    responses((status = 200, body = SocialView), (status = 404, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn show(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<SocialView>> {
    let (settings, clients) = stored(&state, id).await?;
    Ok(Json(view(&state, id, settings, clients)))
}

#[utoipa::path(put, path = "/v1/programs/{id}/social", request_body = SocialInput,
    responses((status = 200, body = SocialView), (status = 404, body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<SocialInput>,
) -> ApiResult<Json<SocialView>> {
    let (old, old_clients) = stored(&state, id).await?;
    let mut settings = SocialSettings::default();
    if let Some(vk) = &input.vk {
        if vk.group_id <= 0 {
            return Err(ApiError::invalid(
                "vk.group_id",
                "a community's positive id",
            ));
        }
        check_text("vk.confirmation", &vk.confirmation, 1)?;
        settings.vk_group_id = Some(vk.group_id);
        settings.vk_confirmation = Some(vk.confirmation.clone());
        settings.sealed_vk_secret = Some(secret(
            &state,
            "vk.secret",
            vk.secret.as_deref(),
            old.sealed_vk_secret.clone(),
            MIN_SECRET_CHARS,
        )?);
        settings.sealed_vk_access_token = match vk.access_token.as_deref() {
            Some("") => None,
            Some(token) => {
                check_text("vk.access_token", token, 1)?;
                Some(state.sealer.seal(token))
            }
            None => old.sealed_vk_access_token.clone(),
        };
        if let Some(url) = &vk.api_url {
            crate::http::check_url("vk.api_url", url)?;
            settings.vk_api_url = Some(url.trim_end_matches('/').to_string());
        }
    }
    if let Some(facebook) = &input.facebook {
        check_ids("facebook.page_ids", &facebook.page_ids)?;
        check_ids(
            "facebook.instagram_account_ids",
            &facebook.instagram_account_ids,
        )?;
        settings.sealed_facebook_app_secret = Some(secret(
            &state,
            "facebook.app_secret",
            facebook.app_secret.as_deref(),
            old.sealed_facebook_app_secret.clone(),
            MIN_SECRET_CHARS,
        )?);
        settings.sealed_facebook_verify_token = Some(secret(
            &state,
            "facebook.verify_token",
            facebook.verify_token.as_deref(),
            old.sealed_facebook_verify_token.clone(),
            MIN_SECRET_CHARS,
        )?);
        settings.facebook_page_ids = facebook.page_ids.clone();
        settings.instagram_account_ids = facebook.instagram_account_ids.clone();
    }
    let mut clients = Vec::new();
    for (n, client) in input.oauth.iter().enumerate() {
        let field = |name: &str| format!("oauth[{n}].{name}");
        if !matches!(client.network, Network::Vk | Network::Facebook) {
            return Err(ApiError::invalid(field("network"), "vk or facebook"));
        }
        if clients
            .iter()
            .any(|c: &OAuthClient| c.network == client.network)
        {
            return Err(ApiError::invalid(
                field("network"),
                "one client per network",
            ));
        }
        check_text(&field("client_id"), &client.client_id, 1)?;
        let stored = old_clients
            .iter()
            .find(|c| c.network == client.network)
            .map(|c| c.sealed_client_secret.clone());
        let (authorize, token, info) = default_endpoints(client.network);
        let url = |name: &str, given: &Option<String>, default: &str| -> ApiResult<String> {
            let url = given.clone().unwrap_or_else(|| default.to_string());
            crate::http::check_url(&field(name), &url)?;
            Ok(url)
        };
        clients.push(OAuthClient {
            network: client.network,
            client_id: client.client_id.clone(),
            sealed_client_secret: secret(
                &state,
                &field("client_secret"),
                client.client_secret.as_deref(),
                stored,
                1,
            )?,
            authorize_url: url("authorize_url", &client.authorize_url, authorize)?,
            token_url: url("token_url", &client.token_url, token)?,
            user_info_url: url("user_info_url", &client.user_info_url, info)?,
        });
    }
    let (saved, saved_clients) = (settings.clone(), clients.clone());
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.put_social_settings(ProgramId(id), &saved, &saved_clients)
                    .await
            })
        })
        .await?;
    Ok(Json(view(&state, id, settings, clients)))
}
