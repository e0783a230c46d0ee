//! The OAuth 2.0 authorization-code flow with PKCE (RFC 7636, S256) as VK ID and Facebook
//! speak it: the authorize URL, the code exchanged at the token endpoint, and the account's id
//! from the user-info endpoint. Network IO only: never inside a store job.

use kopilka_domain::offers::Network;
use kopilka_store::social::OAuthClient;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long kopilka waits for a network's token or user-info endpoint.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a flow could not finish; the customer sees a page saying the network did not answer.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("the network could not be reached: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the network refused: {0}")]
    Refused(String),
}

/// The PKCE challenge of a verifier: base64url(SHA-256(verifier)), unpadded.
pub fn challenge(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The scope asking for the account's id and nothing more.
fn scope(network: Network) -> &'static str {
    match network {
        Network::Vk => "vkid.personal_info",
        _ => "public_profile",
    }
}

/// Where the browser goes to authorize.
pub fn authorize_url(
    client: &OAuthClient,
    redirect_uri: &str,
    state: &str,
    verifier: &str,
) -> Result<String, OAuthError> {
    let mut url = reqwest::Url::parse(&client.authorize_url)
        .map_err(|e| OAuthError::Refused(format!("authorize_url: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("scope", scope(client.network))
        .append_pair("code_challenge", &challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain client builds")
}

async fn json_of(response: reqwest::Response) -> Result<Value, OAuthError> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() || body.get("error").is_some() {
        let error = body
            .get("error")
            .map(Value::to_string)
            .unwrap_or_else(|| status.to_string());
        return Err(OAuthError::Refused(error));
    }
    Ok(body)
}

/// An id of an account as kopilka keeps it: digits, letters, `-` and `_`, at most 64.
fn account_id(value: Option<&Value>) -> Result<String, OAuthError> {
    let id = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(OAuthError::Refused("no account id".into())),
    };
    let fits = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    fits.then_some(id)
        .ok_or_else(|| OAuthError::Refused("an account id kopilka cannot keep".into()))
}

/// What the callback brought: the code, and VK ID's `device_id`.
pub struct Callback<'a> {
    pub code: &'a str,
    pub device_id: Option<&'a str>,
    pub state: &'a str,
}

/// Exchanges the code (with the verifier) and asks who the account is.
pub async fn account(
    client: &OAuthClient,
    client_secret: &str,
    redirect_uri: &str,
    verifier: &str,
    callback: Callback<'_>,
) -> Result<String, OAuthError> {
    let http = http();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", callback.code),
        ("redirect_uri", redirect_uri),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client_secret),
        ("code_verifier", verifier),
    ];
    if client.network == Network::Vk {
        form.push(("state", callback.state));
        if let Some(device_id) = callback.device_id {
            form.push(("device_id", device_id));
        }
    }
    // VK ID takes a form; Graph API's `oauth/access_token` is documented as a GET.
    let exchange = match client.network {
        Network::Vk => http.post(&client.token_url).form(&form),
        _ => http.get(&client.token_url).query(&form),
    };
    let token = json_of(exchange.send().await?).await?;
    let access_token = token
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::Refused("no access_token".into()))?;
    let info = match client.network {
        // VK ID: POST client_id and access_token; `{"user": {"user_id": …}}`.
        Network::Vk => {
            let form = [
                ("client_id", client.client_id.as_str()),
                ("access_token", access_token),
            ];
            let info = json_of(http.post(&client.user_info_url).form(&form).send().await?).await?;
            return account_id(info.get("user").and_then(|u| u.get("user_id")));
        }
        // Graph API: `GET /me?fields=id`; `{"id": …}`.
        _ => {
            http.get(&client.user_info_url)
                .query(&[("fields", "id"), ("access_token", access_token)])
                .send()
                .await?
        }
    };
    account_id(json_of(info).await?.get("id"))
}
