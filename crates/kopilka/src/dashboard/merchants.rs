//! Merchants and their protocol credentials: the list (`GET /v1/merchants`), a merchant's page
//! with its credentials, ECommPay projects, Kupi-Kupi platforms and Loymax applications as the
//! API lists them; forms making each of those, a new secret for each and disabling one. A
//! secret is shown once, on the answer page of the form that made it (pages are `no-store`);
//! afterwards only a masked hint.

use super::operations::{not_found, unreadable};
use super::{ApiAnswer, ApiFailure, Posted, SignedIn, Who};
use crate::http::check_url;
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
const PROJECTS: &str = "/v1/ecommpay/projects";
const ROTATE_PROJECT: &str = "/v1/ecommpay/projects/{id}/secret";
const DISABLE_PROJECT: &str = "/v1/ecommpay/projects/{id}/disable";
const PLATFORMS: &str = "/v1/kupikupi/platforms";
const ROTATE_PLATFORM: &str = "/v1/kupikupi/platforms/{uid}/keys";
const DISABLE_PLATFORM: &str = "/v1/kupikupi/platforms/{uid}/disable";
const APPLICATIONS: &str = "/v1/loymax/applications";
const ROTATE_APPLICATION: &str = "/v1/loymax/applications/{client_id}/secret";
const DISABLE_APPLICATION: &str = "/v1/loymax/applications/{client_id}/disable";
/// The protocols a plain credential (login and hashed secret) is for; ECommPay projects,
/// Kupi-Kupi platforms and Loymax applications have forms of their own.
const PROTOCOLS: &[&str] = &["native", "incust"];
/// The creation forms with their fields, as the API names them in its errors.
const PROJECT_FIELDS: &[&str] = &["project_id", "name", "callback_url", "return_hosts"];
const PLATFORM_FIELDS: &[&str] = &["site", "success_url", "fail_url", "notification_url"];
const APPLICATION_FIELDS: &[&str] = &["client_id"];
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
    created_at: i64,
    disabled_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PlatformItem {
    uid: String,
    merchant_id: i64,
    site: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ApplicationItem {
    client_id: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

/// A row of a merchant's protocol credentials, whatever the API it comes from.
pub struct CredentialRow {
    pub protocol: String,
    pub login: String,
    pub detail: String,
    pub created: String,
    /// When it was disabled; its protocol no longer knows it.
    pub disabled: Option<String>,
    /// The dashboard's address that makes a new secret for it, when the role may.
    pub rotate: Option<String>,
    /// The dashboard's address that disables it, when the role may.
    pub disable: Option<String>,
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
    add_project: bool,
    add_platform: bool,
    add_application: bool,
    /// A secret just made, shown on this answer only.
    secret: Option<Shown>,
    /// A form the API refused, as typed.
    refused: Option<Refused>,
}

/// A secret just made: what it is for and its value.
pub struct Shown {
    pub what: String,
    pub value: String,
}

/// A form the API refused: which one, its field at fault (when the form has it), the API's
/// message and the form's fields as typed (no secret among them).
pub struct Refused {
    pub form: &'static str,
    pub field: Option<String>,
    pub message: String,
    pub typed: Vec<(String, String)>,
}

impl MerchantPage {
    /// The error beside `form`'s field `name`.
    fn error(&self, form: &str, name: &str) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|r| r.form == form && r.field.as_deref() == Some(name))
            .map(|r| r.message.as_str())
    }

    /// The error over `form`, when it names none of its fields.
    fn form_error(&self, form: &str) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|r| r.form == form && r.field.is_none())
            .map(|r| r.message.as_str())
    }

    /// What was typed into `form`'s field `name` when the API refused it.
    fn typed(&self, form: &str, name: &str) -> &str {
        self.refused
            .as_ref()
            .filter(|r| r.form == form)
            .and_then(|r| r.typed.iter().find(|(n, _)| n == name))
            .map_or("", |(_, value)| value.as_str())
    }
}

impl Page for MerchantPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET uri` as a list, or nothing when the role may not read it.
async fn listed<T: serde::de::DeserializeOwned>(
    signed: &SignedIn,
    template: &str,
    uri: &str,
) -> Result<Vec<T>, ApiFailure> {
    if !signed.may("GET", template) {
        return Ok(Vec::new());
    }
    serde_json::from_value(signed.get(uri).await?).map_err(unreadable)
}

/// The merchant's page, with `secret` shown once or a `refused` form.
async fn merchant_page(
    signed: &SignedIn,
    id: i64,
    status: StatusCode,
    secret: Option<Shown>,
    refused: Option<Refused>,
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
        let projects: Vec<ProjectItem> = listed(signed, PROJECTS, PROJECTS).await?;
        let platforms: Vec<PlatformItem> = listed(signed, PLATFORMS, PLATFORMS).await?;
        let applications: Vec<ApplicationItem> = listed(
            signed,
            APPLICATIONS,
            &format!("{APPLICATIONS}?merchant_id={id}"),
        )
        .await?;
        Ok::<_, ApiFailure>((merchant, credentials, projects, platforms, applications))
    };
    let (merchant, credentials, projects, platforms, applications) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let time = |at: i64| i18n::datetime(at, "UTC", lang);
    // A credential's actions at `/admin/merchants/{id}/{kind}/{key}/…`, when the role may.
    let action = |template: &str, kind: &str, key: &str, last: &str| {
        let key = path_segment(key);
        signed
            .may("POST", template)
            .then(|| format!("/admin/merchants/{id}/{kind}/{key}/{last}"))
    };
    let row =
        |protocol: &str, login: String, detail: String, created: i64, disabled: Option<i64>| {
            CredentialRow {
                protocol: protocol.into(),
                login,
                detail,
                created: time(created),
                disabled: disabled.map(&time),
                rotate: None,
                disable: None,
            }
        };
    let mut rows: Vec<CredentialRow> = credentials
        .into_iter()
        // Loymax applications are listed as such below, with their state.
        .filter(|c| !(c.protocol == "loymax" && signed.may("GET", APPLICATIONS)))
        .map(|c| {
            let detail = format!("№ {}", c.id);
            row(&c.protocol, c.login, detail, c.created_at, None)
        })
        .collect();
    for p in projects.into_iter().filter(|p| p.merchant_id == id) {
        let key = p.project_id.to_string();
        let detail = [Some(p.name), p.callback_url].into_iter().flatten();
        let live = p.disabled_at.is_none();
        rows.push(CredentialRow {
            rotate: action(ROTATE_PROJECT, "ecommpay", &key, "secret").filter(|_| live),
            disable: action(DISABLE_PROJECT, "ecommpay", &key, "disable").filter(|_| live),
            ..row(
                "ecommpay",
                key,
                detail.collect::<Vec<_>>().join(" · "),
                p.created_at,
                p.disabled_at,
            )
        });
    }
    for p in platforms.into_iter().filter(|p| p.merchant_id == id) {
        let live = p.disabled_at.is_none();
        rows.push(CredentialRow {
            rotate: action(ROTATE_PLATFORM, "kupikupi", &p.uid, "keys").filter(|_| live),
            disable: action(DISABLE_PLATFORM, "kupikupi", &p.uid, "disable").filter(|_| live),
            ..row("kupikupi", p.uid, p.site, p.created_at, p.disabled_at)
        });
    }
    for a in applications {
        let live = a.disabled_at.is_none();
        rows.push(CredentialRow {
            rotate: action(ROTATE_APPLICATION, "loymax", &a.client_id, "secret").filter(|_| live),
            disable: action(DISABLE_APPLICATION, "loymax", &a.client_id, "disable")
                .filter(|_| live),
            ..row(
                "loymax",
                a.client_id,
                String::new(),
                a.created_at,
                a.disabled_at,
            )
        });
    }
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
        add_project: signed.may("POST", PROJECTS),
        add_platform: signed.may("POST", PLATFORMS),
        add_application: signed.may("POST", APPLICATIONS),
        secret,
        refused,
    };
    html::render(status, &page)
}

/// The merchant's id in a dashboard path; a page saying it is not found otherwise. (A
/// handler's refusal is the page it answers, so it is a whole `Response`.)
#[allow(clippy::result_large_err)]
fn merchant_id(signed: &SignedIn, id: &str) -> Result<i64, Response> {
    id.parse::<i64>().map_err(|_| signed.failed(&not_found()))
}

/// A posted form's operator, the merchant its path names, and the form.
#[allow(clippy::result_large_err)]
fn posted_to<T>(posted: Posted<T>, id: &str) -> Result<(SignedIn, i64, T), Response> {
    let id = merchant_id(&posted.signed, id)?;
    Ok((posted.signed, id, posted.form))
}

/// `GET /admin/merchants/{id}`
pub async fn merchant(signed: SignedIn, Path(id): Path<String>) -> Result<Response, Response> {
    let id = merchant_id(&signed, &id)?;
    Ok(merchant_page(&signed, id, StatusCode::OK, None, None).await)
}

/// The answer to a form that made a secret: the merchant's page with `shown(answer)` once, the
/// form again with the API's refusal beside its field, or the API's failure.
async fn made(
    signed: &SignedIn,
    id: i64,
    made: Result<ApiAnswer, ApiFailure>,
    form: (&'static str, &[&str], Vec<(String, String)>),
    shown: impl FnOnce(&serde_json::Value) -> Shown,
) -> Response {
    let (form, fields, typed) = form;
    match made {
        Ok(answer) => {
            let shown = shown(&answer.json);
            merchant_page(signed, id, StatusCode::CREATED, Some(shown), None).await
        }
        Err(failure)
            if matches!(
                failure.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT
            ) =>
        {
            // A conflict is the id the form asked for being taken: its first field.
            let field = match failure.status {
                StatusCode::CONFLICT => fields.first().map(|f| f.to_string()),
                _ => failure.field.filter(|f| fields.contains(&f.as_str())),
            };
            let refused = Refused {
                form,
                field,
                message: failure.message,
                typed,
            };
            merchant_page(signed, id, failure.status, None, Some(refused)).await
        }
        Err(failure) => signed.failed(&failure),
    }
}

/// A field of the answer as text.
fn text(json: &serde_json::Value, name: &str) -> String {
    json[name].as_str().unwrap_or_default().to_string()
}

#[derive(Debug, Deserialize)]
pub struct CredentialForm {
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    login: String,
}

/// `POST /admin/merchants/{id}/credentials`: a credential with a generated secret, shown once.
pub async fn add_credential(
    Path(id): Path<String>,
    posted: Posted<CredentialForm>,
) -> Result<Response, Response> {
    let (signed, id, form) = posted_to(posted, &id)?;
    let (protocol, login) = (form.protocol.trim(), form.login.trim());
    let body = json!({"protocol": protocol, "login": login});
    let answer = signed
        .api(
            Method::POST,
            &format!("/v1/merchants/{id}/credentials"),
            Some(body),
        )
        .await;
    let typed = vec![("login".to_string(), login.to_string())];
    Ok(made(
        &signed,
        id,
        answer,
        ("credential", &["login"], typed),
        |json| Shown {
            what: format!("{} {}", text(json, "protocol"), text(json, "login")),
            value: text(json, "secret"),
        },
    )
    .await)
}

#[derive(Debug, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    callback_url: String,
    #[serde(default)]
    return_hosts: String,
}

/// `POST /admin/merchants/{id}/ecommpay`: an ECommPay project; its secret shown once. Its
/// callback URL is https (plain http only on a loopback host, a demo's).
pub async fn add_project(
    Path(id): Path<String>,
    posted: Posted<ProjectForm>,
) -> Result<Response, Response> {
    let (signed, id, form) = posted_to(posted, &id)?;
    let typed = vec![
        ("project_id".to_string(), form.project_id.trim().to_string()),
        ("name".to_string(), form.name.trim().to_string()),
        (
            "callback_url".to_string(),
            form.callback_url.trim().to_string(),
        ),
        (
            "return_hosts".to_string(),
            form.return_hosts.trim().to_string(),
        ),
    ];
    let answer = async {
        let project_id = match form.project_id.trim() {
            "" => None,
            number => Some(
                number
                    .parse::<i64>()
                    .map_err(|_| local_refusal("project_id", "must be a positive integer"))?,
            ),
        };
        let callback_url = Some(form.callback_url.trim()).filter(|url| !url.is_empty());
        if let Some(url) = callback_url {
            check_url("callback_url", url)
                .map_err(|e| local_refusal("callback_url", &e.message))?;
        }
        let return_hosts: Vec<&str> = form
            .return_hosts
            .split([',', ' '])
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .collect();
        let body = json!({
            "project_id": project_id,
            "merchant_id": id,
            "name": form.name.trim(),
            "callback_url": callback_url,
            "return_hosts": return_hosts,
        });
        signed.api(Method::POST, PROJECTS, Some(body)).await
    };
    let answer = answer.await;
    Ok(made(
        &signed,
        id,
        answer,
        ("project", PROJECT_FIELDS, typed),
        |json| Shown {
            what: format!("ecommpay {}", json["project_id"]),
            value: text(json, "secret"),
        },
    )
    .await)
}

/// A form's field refused here, before the API is asked.
fn local_refusal(field: &str, message: &str) -> ApiFailure {
    ApiFailure {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_field".into(),
        field: Some(field.into()),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct PlatformForm {
    #[serde(default)]
    site: String,
    #[serde(default)]
    success_url: String,
    #[serde(default)]
    fail_url: String,
    #[serde(default)]
    notification_url: String,
}

/// `POST /admin/merchants/{id}/kupikupi`: a Kupi-Kupi platform; its keys shown once.
pub async fn add_platform(
    Path(id): Path<String>,
    posted: Posted<PlatformForm>,
) -> Result<Response, Response> {
    let (signed, id, form) = posted_to(posted, &id)?;
    let urls = [
        ("site", form.site),
        ("success_url", form.success_url),
        ("fail_url", form.fail_url),
        ("notification_url", form.notification_url),
    ];
    let typed: Vec<(String, String)> = urls
        .iter()
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect();
    let mut body = json!({"merchant_id": id});
    for (name, value) in &typed {
        body[name] = value.as_str().into();
    }
    let answer = signed.api(Method::POST, PLATFORMS, Some(body)).await;
    Ok(made(
        &signed,
        id,
        answer,
        ("platform", PLATFORM_FIELDS, typed),
        platform_keys,
    )
    .await)
}

/// A platform's keys as an answer shows them: the live key, then the test key.
fn platform_keys(json: &serde_json::Value) -> Shown {
    Shown {
        what: format!("kupikupi {}", text(json, "uid")),
        value: [text(json, "secret_key"), text(json, "dev_secret_key")]
            .into_iter()
            .filter(|key| !key.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

#[derive(Debug, Deserialize)]
pub struct ApplicationForm {
    #[serde(default)]
    client_id: String,
}

/// `POST /admin/merchants/{id}/loymax`: a Loymax application; its client secret shown once.
pub async fn add_application(
    Path(id): Path<String>,
    posted: Posted<ApplicationForm>,
) -> Result<Response, Response> {
    let (signed, id, form) = posted_to(posted, &id)?;
    let client_id = form.client_id.trim();
    let body = json!({
        "merchant_id": id,
        "client_id": Some(client_id).filter(|c| !c.is_empty()),
    });
    let answer = signed.api(Method::POST, APPLICATIONS, Some(body)).await;
    let typed = vec![("client_id".to_string(), client_id.to_string())];
    Ok(made(
        &signed,
        id,
        answer,
        ("application", APPLICATION_FIELDS, typed),
        application_secret,
    )
    .await)
}

/// An application's secret as an answer shows it.
fn application_secret(json: &serde_json::Value) -> Shown {
    Shown {
        what: format!("loymax {}", text(json, "client_id")),
        value: text(json, "client_secret"),
    }
}

/// The rotation and disabling forms: nothing but their form token.
#[derive(Debug, Deserialize)]
pub struct RotateForm {}

/// `POST /admin/merchants/{id}/webhook-secret`: a new webhook secret, shown once.
pub async fn rotate_webhook(
    Path(id): Path<String>,
    posted: Posted<RotateForm>,
) -> Result<Response, Response> {
    let (signed, id, _) = posted_to(posted, &id)?;
    let uri = format!("/v1/merchants/{id}/webhook-secret");
    let answer = signed.api(Method::POST, &uri, None).await;
    let what = signed.t("dash-merchant-webhook-secret");
    Ok(
        made(&signed, id, answer, ("webhook", &[], Vec::new()), |json| {
            Shown {
                what,
                value: text(json, "secret"),
            }
        })
        .await,
    )
}

/// `text` as one segment of a path, every byte but letters, digits and `-._~` escaped.
fn path_segment(text: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// The admin API's path of a protocol's credential (`kind` as the dashboard names it).
fn credential_path(kind: &str, key: &str) -> Option<String> {
    let key = path_segment(key);
    match kind {
        "ecommpay" => Some(format!("{PROJECTS}/{key}")),
        "kupikupi" => Some(format!("{PLATFORMS}/{key}")),
        "loymax" => Some(format!("{APPLICATIONS}/{key}")),
        _ => None,
    }
}

/// `POST /admin/merchants/{id}/{kind}/{key}/{action}`: a protocol credential's new secret
/// (`secret` for an ECommPay project or a Loymax application, `keys` for a Kupi-Kupi
/// platform), shown once; or the credential disabled for good (`disable`).
pub async fn credential_action(
    Path((id, kind, key, action)): Path<(String, String, String, String)>,
    posted: Posted<RotateForm>,
) -> Result<Response, Response> {
    let (signed, id, _) = posted_to(posted, &id)?;
    let rotation = if kind == "kupikupi" { "keys" } else { "secret" };
    let path = credential_path(&kind, &key);
    let Some(path) = path.filter(|_| action == rotation || action == "disable") else {
        return Err(signed.failed(&not_found()));
    };
    let answer = signed
        .api(Method::POST, &format!("{path}/{action}"), None)
        .await;
    if action == "disable" {
        return Ok(match answer {
            Ok(_) => merchant_page(&signed, id, StatusCode::OK, None, None).await,
            Err(failure) => signed.failed(&failure),
        });
    }
    Ok(made(
        &signed,
        id,
        answer,
        ("rotate", &[], Vec::new()),
        |json| match kind.as_str() {
            "kupikupi" => platform_keys(json),
            "loymax" => application_secret(json),
            _ => Shown {
                what: format!("ecommpay {key}"),
                value: text(json, "secret"),
            },
        },
    )
    .await)
}
