//! Merchants and their protocol credentials: the list (`GET /v1/merchants`), a merchant's page
//! with its credentials, ECommPay projects and Kupi-Kupi platforms as the API lists them, a new
//! credential and a new webhook secret. A secret is shown once, on the answer page of the
//! form that made it (pages are `no-store`); afterwards only a masked hint.

use super::operations::{not_found, unreadable};
use super::{ApiFailure, Posted, SignedIn, Who};
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n;
use askama::Template;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

const ADD_CREDENTIAL: &str = "/v1/merchants/{id}/credentials";
const ROTATE_WEBHOOK: &str = "/v1/merchants/{id}/webhook-secret";
const ROTATE_PROJECT: &str = "/v1/ecommpay/projects/{id}/secret";
const ROTATE_PLATFORM: &str = "/v1/kupikupi/platforms/{uid}/keys";
/// The protocols a credential may be for (`POST /v1/merchants/{id}/credentials`).
const PROTOCOLS: &[&str] = &["native", "incust", "loymax", "kupikupi", "ecommpay"];
/// What stands for a secret once it has been shown (it is stored hashed or sealed).
const MASK: &str = "••••••••";

#[derive(Debug, Deserialize)]
struct MerchantItem {
    id: i64,
    program_id: i64,
    name: String,
    sms_name: String,
    #[serde(default)]
    return_hosts: Vec<String>,
    webhook_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CredentialItem {
    id: i64,
    protocol: String,
    login: String,
    created_at: i64,
}

#[derive(Debug, Deserialize)]
struct ProjectItem {
    project_id: i64,
    merchant_id: i64,
    name: String,
    callback_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PlatformItem {
    uid: String,
    merchant_id: i64,
    site: String,
}

/// A row of a merchant's protocol credentials, whatever the API it comes from.
pub struct CredentialRow {
    pub protocol: String,
    pub login: String,
    pub detail: String,
    pub created: String,
    /// The dashboard's address that makes a new secret for it, when the role may.
    pub rotate: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/merchants.html")]
struct ListPage {
    page: Chrome,
    who: Who,
    merchants: Vec<MerchantRow>,
}

pub struct MerchantRow {
    pub id: i64,
    pub program_id: i64,
    pub name: String,
    pub webhook_url: String,
}

impl Page for ListPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET /admin/merchants`
pub async fn list(signed: SignedIn) -> Response {
    let read = async {
        serde_json::from_value::<Vec<MerchantItem>>(signed.get("/v1/merchants").await?)
            .map_err(unreadable)
    };
    let merchants = match read.await {
        Ok(merchants) => merchants,
        Err(failure) => return signed.failed(&failure),
    };
    let page = ListPage {
        page: signed.chrome(signed.t("dash-merchants-title")),
        who: signed.who(),
        merchants: merchants
            .into_iter()
            .map(|m| MerchantRow {
                id: m.id,
                program_id: m.program_id,
                name: m.name,
                webhook_url: m.webhook_url.unwrap_or_default(),
            })
            .collect(),
    };
    html::render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "dashboard/merchant.html")]
struct MerchantPage {
    page: Chrome,
    who: Who,
    id: i64,
    program_id: i64,
    sms_name: String,
    return_hosts: String,
    webhook_url: String,
    mask: &'static str,
    credentials: Vec<CredentialRow>,
    protocols: &'static [&'static str],
    add: bool,
    rotate: bool,
    /// A secret just made, shown on this answer only.
    secret: Option<Shown>,
    error: Option<String>,
}

/// A secret just made: what it is for and its value.
pub struct Shown {
    pub what: String,
    pub value: String,
}

impl Page for MerchantPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The merchant's page, with `secret` shown once or `error` above the forms.
async fn merchant_page(
    signed: &SignedIn,
    id: i64,
    status: StatusCode,
    secret: Option<Shown>,
    error: Option<String>,
) -> Response {
    let lang = signed.lang;
    let read = async {
        let merchant: MerchantItem =
            serde_json::from_value(signed.get(&format!("/v1/merchants/{id}")).await?)
                .map_err(unreadable)?;
        let credentials: Vec<CredentialItem> = serde_json::from_value(
            signed
                .get(&format!("/v1/merchants/{id}/credentials"))
                .await?,
        )
        .map_err(unreadable)?;
        // The protocols' own lists, when the role may read them.
        let projects: Vec<ProjectItem> = if signed.may("GET", "/v1/ecommpay/projects") {
            serde_json::from_value(signed.get("/v1/ecommpay/projects").await?)
                .map_err(unreadable)?
        } else {
            Vec::new()
        };
        let platforms: Vec<PlatformItem> = if signed.may("GET", "/v1/kupikupi/platforms") {
            serde_json::from_value(signed.get("/v1/kupikupi/platforms").await?)
                .map_err(unreadable)?
        } else {
            Vec::new()
        };
        Ok::<_, ApiFailure>((merchant, credentials, projects, platforms))
    };
    let (merchant, credentials, projects, platforms) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let time = |at: i64| i18n::datetime(at, "UTC", lang);
    let mut rows: Vec<CredentialRow> = credentials
        .into_iter()
        .map(|c| CredentialRow {
            protocol: c.protocol,
            login: c.login,
            detail: format!("№ {}", c.id),
            created: time(c.created_at),
            rotate: None,
        })
        .collect();
    let rotate_project = signed.may("POST", ROTATE_PROJECT);
    let rotate_platform = signed.may("POST", ROTATE_PLATFORM);
    rows.extend(
        projects
            .into_iter()
            .filter(|p| p.merchant_id == id)
            .map(|p| CredentialRow {
                protocol: "ecommpay".into(),
                login: p.project_id.to_string(),
                detail: [Some(p.name), p.callback_url]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
                created: String::new(),
                rotate: rotate_project
                    .then(|| format!("/admin/merchants/{id}/ecommpay/{}/secret", p.project_id)),
            }),
    );
    rows.extend(
        platforms
            .into_iter()
            .filter(|p| p.merchant_id == id)
            .map(|p| CredentialRow {
                protocol: "kupikupi".into(),
                rotate: rotate_platform.then(|| {
                    let uid: String = form_urlencoded::byte_serialize(p.uid.as_bytes()).collect();
                    format!("/admin/merchants/{id}/kupikupi/{uid}/keys")
                }),
                login: p.uid,
                detail: p.site,
                created: String::new(),
            }),
    );
    let page = MerchantPage {
        page: signed.chrome(merchant.name),
        who: signed.who(),
        id,
        program_id: merchant.program_id,
        sms_name: merchant.sms_name,
        return_hosts: merchant.return_hosts.join(", "),
        webhook_url: merchant.webhook_url.unwrap_or_default(),
        mask: MASK,
        credentials: rows,
        protocols: PROTOCOLS,
        add: signed.may("POST", ADD_CREDENTIAL),
        rotate: signed.may("POST", ROTATE_WEBHOOK),
        secret,
        error,
    };
    html::render(status, &page)
}

/// `GET /admin/merchants/{id}`
pub async fn merchant(signed: SignedIn, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    merchant_page(&signed, id, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct CredentialForm {
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    login: String,
}

/// `POST /admin/merchants/{id}/credentials`: a credential with a generated secret, shown once.
pub async fn add_credential(Path(id): Path<String>, posted: Posted<CredentialForm>) -> Response {
    let signed = posted.signed;
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let body = json!({"protocol": posted.form.protocol.trim(), "login": posted.form.login.trim()});
    let made = signed
        .api(
            Method::POST,
            &format!("/v1/merchants/{id}/credentials"),
            Some(body),
        )
        .await;
    match made {
        Ok(answer) => {
            let shown = Shown {
                what: format!(
                    "{} {}",
                    answer.json["protocol"].as_str().unwrap_or_default(),
                    answer.json["login"].as_str().unwrap_or_default()
                ),
                value: answer.json["secret"].as_str().unwrap_or_default().into(),
            };
            merchant_page(&signed, id, StatusCode::CREATED, Some(shown), None).await
        }
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            merchant_page(&signed, id, failure.status, None, Some(failure.message)).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

/// The rotation form: nothing but its form token.
#[derive(Debug, Deserialize)]
pub struct RotateForm {}

/// `POST /admin/merchants/{id}/webhook-secret`: a new webhook secret, shown once.
pub async fn rotate_webhook(Path(id): Path<String>, posted: Posted<RotateForm>) -> Response {
    let signed = posted.signed;
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let made = signed
        .api(
            Method::POST,
            &format!("/v1/merchants/{id}/webhook-secret"),
            None,
        )
        .await;
    match made {
        Ok(answer) => {
            let shown = Shown {
                what: signed.t("dash-merchant-webhook-secret"),
                value: answer.json["secret"].as_str().unwrap_or_default().into(),
            };
            merchant_page(&signed, id, StatusCode::CREATED, Some(shown), None).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

/// `POST /admin/merchants/{id}/ecommpay/{project}/secret`: the project's new secret, shown once.
pub async fn rotate_project(
    Path((id, project)): Path<(String, String)>,
    posted: Posted<RotateForm>,
) -> Response {
    let signed = posted.signed;
    let (Ok(id), Ok(project)) = (id.parse::<i64>(), project.parse::<i64>()) else {
        return signed.failed(&not_found());
    };
    let uri = format!("/v1/ecommpay/projects/{project}/secret");
    match signed.api(Method::POST, &uri, None).await {
        Ok(answer) => {
            let shown = Shown {
                what: format!("ecommpay {project}"),
                value: answer.json["secret"].as_str().unwrap_or_default().into(),
            };
            merchant_page(&signed, id, StatusCode::CREATED, Some(shown), None).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

/// `POST /admin/merchants/{id}/kupikupi/{uid}/keys`: the platform's new keys (production and
/// test), shown once.
pub async fn rotate_platform(
    Path((id, uid)): Path<(String, String)>,
    posted: Posted<RotateForm>,
) -> Response {
    let signed = posted.signed;
    let Ok(id) = id.parse::<i64>() else {
        return signed.failed(&not_found());
    };
    let encoded: String = form_urlencoded::byte_serialize(uid.as_bytes()).collect();
    let uri = format!("/v1/kupikupi/platforms/{encoded}/keys");
    match signed.api(Method::POST, &uri, None).await {
        Ok(answer) => {
            let keys = [&answer.json["secret_key"], &answer.json["dev_secret_key"]];
            let shown = Shown {
                what: format!("kupikupi {uid}"),
                value: keys
                    .iter()
                    .filter_map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" · "),
            };
            merchant_page(&signed, id, StatusCode::CREATED, Some(shown), None).await
        }
        Err(failure) => signed.failed(&failure),
    }
}
