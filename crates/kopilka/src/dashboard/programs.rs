//! Programs, their rules and offers (`/admin/programs`): the operator's programs, a program's
//! settings with the form of its typed rules (`PUT /v1/programs/{id}`), its offers with the
//! version in force, an offer's versions and the explain form (`GET /v1/offers/{id}/explain`).

use super::{Posted, SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The setting of the manual adjustments' approval threshold (`operator::approval_threshold`).
const APPROVAL: &str = "adjustment_approval_above";

struct ProgramRow {
    id: i64,
    code: String,
    name: String,
    currency: String,
    language: String,
    time_zone: String,
}

#[derive(Template)]
#[template(path = "dashboard/programs.html")]
struct ProgramsPage {
    page: Chrome,
    who: Who,
    rows: Vec<ProgramRow>,
}

impl Page for ProgramsPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// A JSON value as a page shows it: a string as it is, nothing as empty.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn list(signed: SignedIn) -> Response {
    let programs = match signed.get("/v1/programs").await {
        Ok(list) => list,
        Err(failure) => return signed.failed(&failure),
    };
    let rows = programs
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| ProgramRow {
            id: p["id"].as_i64().unwrap_or_default(),
            code: text(&p["code"]),
            name: text(&p["name"]),
            currency: text(&p["rules"]["currency"]),
            language: text(&p["rules"]["language"]),
            time_zone: text(&p["rules"]["time_zone"]),
        })
        .collect();
    let view = ProgramsPage {
        page: signed.chrome(signed.t("dash-nav-programs")),
        who: signed.who(),
        rows,
    };
    render(StatusCode::OK, &view)
}

/// The program's settings the form edits: the form's field, where it lives in the program's
/// JSON (`rules` or `settings`), and whether it is a whole number.
const FIELDS: &[(&str, &str, bool)] = &[
    ("currency", "rules", false),
    ("earn_bps", "rules", true),
    ("max_redeem_bps", "rules", true),
    ("lifetime_days", "rules", true),
    ("hold_lifetime_minutes", "rules", true),
    ("time_zone", "rules", false),
    ("language", "rules", false),
    ("phone_region", "rules", false),
    (APPROVAL, "settings", false),
];

struct Field {
    name: &'static str,
    label: String,
    value: String,
    error: Option<String>,
}

struct OfferRow {
    id: i64,
    name: String,
    versions: usize,
    in_force: Option<u64>,
    state: &'static str,
    state_label: String,
}

#[derive(Template)]
#[template(path = "dashboard/program.html")]
struct ProgramPage {
    page: Chrome,
    who: Who,
    id: i64,
    code: String,
    name: Field,
    fields: Vec<Field>,
    may_edit: bool,
    notice: Option<String>,
    error: Option<String>,
    rules: String,
    settings: String,
    offers: Vec<OfferRow>,
    may_add_offer: bool,
    /// The offer version's JSON as typed, and the refusal of it.
    draft: String,
    draft_error: Option<String>,
}

impl Page for ProgramPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct ProgramQuery {
    done: Option<String>,
}

/// The state of an offer at `now` from its versions: the one in force as the engine picks it
/// (`api::offers::in_force`), else `scheduled` when one starts later, else `ended`.
fn offer_state(versions: &[&Value], now: i64) -> (Option<u64>, &'static str) {
    let from = |v: &Value| v["effective_from"].as_i64().unwrap_or(i64::MAX);
    let newest = versions
        .iter()
        .filter(|v| from(v) <= now)
        .max_by_key(|v| (from(v), v["version"].as_u64()));
    match newest {
        Some(v) if v["effective_to"].as_i64().is_none_or(|to| to > now) => {
            (v["version"].as_u64(), "in-force")
        }
        _ if versions.iter().any(|v| from(v) > now) => (None, "scheduled"),
        _ => (None, "ended"),
    }
}

pub async fn program(
    signed: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<ProgramQuery>,
) -> Response {
    let notice = query
        .done
        .filter(|d| d == "saved")
        .map(|_| signed.t("dash-program-saved"));
    show(&signed, id, None, None, notice, None, StatusCode::OK).await
}

/// The program's page; `form` is a refused form as typed, with the field the API named.
async fn show(
    signed: &SignedIn,
    id: i64,
    form: Option<(&BTreeMap<String, String>, Option<String>)>,
    draft: Option<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let program = match signed.get(&format!("/v1/programs/{id}")).await {
        Ok(p) => p,
        Err(failure) => return signed.failed(&failure),
    };
    let offers = match signed.get(&format!("/v1/programs/{id}/offers")).await {
        Ok(o) => o,
        Err(failure) => return signed.failed(&failure),
    };
    let (typed, field) = match form {
        Some((typed, field)) => (Some(typed), field),
        None => (None, None),
    };
    let field_error = |name: &str| {
        (field.as_deref() == Some(name))
            .then(|| error.clone())
            .flatten()
    };
    let value = |name: &str, stored: &Value| match typed {
        Some(typed) => typed.get(name).cloned().unwrap_or_default(),
        None => text(stored),
    };
    let fields = FIELDS
        .iter()
        .map(|(name, place, _)| Field {
            name,
            label: signed.t(&format!("dash-program-{}", name.replace('_', "-"))),
            value: value(name, &program[*place][*name]),
            error: field_error(name),
        })
        .collect();
    let name = Field {
        name: "name",
        label: signed.t("dash-program-name"),
        value: value("name", &program["name"]),
        error: field_error("name"),
    };
    let mut by_offer: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for offer in offers.as_array().into_iter().flatten() {
        by_offer
            .entry(offer["id"].as_i64().unwrap_or_default())
            .or_default()
            .push(offer);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let offers = by_offer
        .into_iter()
        .map(|(offer, versions)| {
            let (in_force, state) = offer_state(&versions, now);
            // The name of the version in force, else of the newest.
            let shown = versions
                .iter()
                .find(|v| in_force.is_some() && v["version"].as_u64() == in_force)
                .or_else(|| versions.iter().max_by_key(|v| v["version"].as_u64()));
            OfferRow {
                id: offer,
                name: shown.map(|v| text(&v["name"])).unwrap_or_default(),
                versions: versions.len(),
                in_force,
                state,
                state_label: signed.t(&format!("dash-offer-state-{state}")),
            }
        })
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    // An error the form's fields don't name is shown over the form.
    let general = error.filter(|_| {
        field
            .as_deref()
            .is_none_or(|f| f != "name" && FIELDS.iter().all(|(n, _, _)| *n != f))
    });
    let view = ProgramPage {
        page: signed.chrome(text(&program["name"])),
        who: signed.who(),
        id,
        code: text(&program["code"]),
        name,
        fields,
        may_edit: signed.may("PUT", "/v1/programs/{id}"),
        notice,
        error: general,
        rules: pretty(&program["rules"]),
        settings: pretty(&program["settings"]),
        offers,
        may_add_offer: signed.may("POST", "/v1/programs/{id}/offers"),
        draft: draft.as_ref().map(|d| d.0.clone()).unwrap_or_default(),
        draft_error: draft.map(|d| d.1),
    };
    render(status, &view)
}

/// The program's settings changed: the program as the API holds it with the form's fields
/// put in, sent back whole (`PUT` takes the whole program).
pub async fn update(Path(id): Path<i64>, posted: Posted<BTreeMap<String, String>>) -> Response {
    let signed = posted.signed;
    let typed = posted.form;
    let mut program = match signed.get(&format!("/v1/programs/{id}")).await {
        Ok(p) => p,
        Err(failure) => return signed.failed(&failure),
    };
    let refused = |field: &str, message: String| (Some(field.to_string()), message);
    let mut local: Option<(Option<String>, String)> = None;
    let entry = |name: &str| {
        typed
            .get(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    program["name"] = Value::String(entry("name"));
    for (name, place, whole) in FIELDS {
        let typed_value = entry(name);
        let value = if typed_value.is_empty() {
            Value::Null
        } else if *whole {
            match typed_value.parse::<u32>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    local.get_or_insert(refused(name, signed.t("dash-program-whole-number")));
                    continue;
                }
            }
        } else {
            Value::String(typed_value)
        };
        match (place, value) {
            // An absent threshold: no approval asked.
            (&"settings", Value::Null) => {
                if let Some(settings) = program["settings"].as_object_mut() {
                    settings.remove(*name);
                }
            }
            (place, value) => program[*place][*name] = value,
        }
    }
    if let Some((field, message)) = local {
        return show(
            &signed,
            id,
            Some((&typed, field)),
            None,
            None,
            Some(message),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let body = serde_json::json!({
        "code": program["code"],
        "name": program["name"],
        "rules": program["rules"],
        "settings": program["settings"],
    });
    match signed
        .api(Method::PUT, &format!("/v1/programs/{id}"), Some(body))
        .await
    {
        Ok(_) => Redirect::to(&format!("/admin/programs/{id}?done=saved")).into_response(),
        Err(failure) if failure.status.is_client_error() && failure.status.as_u16() != 401 => {
            let message = match failure.status {
                StatusCode::FORBIDDEN => signed.t("dash-forbidden-text"),
                _ => failure.message.clone(),
            };
            // The API names `rules.time_zone`, `settings.adjustment_approval_above`: the form's
            // field is the last part.
            let field = failure
                .field
                .as_deref()
                .map(|f| f.rsplit('.').next().unwrap_or(f).to_string());
            show(
                &signed,
                id,
                Some((&typed, field)),
                None,
                None,
                Some(message),
                failure.status,
            )
            .await
        }
        Err(failure) => signed.failed(&failure),
    }
}

#[derive(Deserialize)]
pub struct OfferForm {
    #[serde(default)]
    offer: String,
}

/// A new offer, or a new version of one, as the API's JSON (docs/offers.md), checked by the
/// API (`POST /v1/programs/{id}/offers`); refused, it stays in the box with the reason.
pub async fn add_offer(Path(id): Path<i64>, posted: Posted<OfferForm>) -> Response {
    let signed = posted.signed;
    let draft = posted.form.offer;
    let answer = match serde_json::from_str::<Value>(&draft) {
        Ok(body) => {
            signed
                .api(
                    Method::POST,
                    &format!("/v1/programs/{id}/offers"),
                    Some(body),
                )
                .await
        }
        Err(e) => {
            let message = format!("{}: {e}", signed.t("dash-offer-json-invalid"));
            let refused = Some((draft, message));
            return show(
                &signed,
                id,
                None,
                refused,
                None,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match answer {
        Ok(created) => {
            let offer = created.json["id"].as_i64().unwrap_or_default();
            Redirect::to(&format!("/admin/programs/{id}/offers/{offer}")).into_response()
        }
        Err(failure) if failure.status.is_client_error() && failure.status.as_u16() != 401 => {
            let message = match (failure.status, &failure.field) {
                (StatusCode::FORBIDDEN, _) => signed.t("dash-forbidden-text"),
                (_, Some(field)) => format!("{field}: {}", failure.message),
                _ => failure.message.clone(),
            };
            show(
                &signed,
                id,
                None,
                Some((draft, message)),
                None,
                None,
                failure.status,
            )
            .await
        }
        Err(failure) => signed.failed(&failure),
    }
}

struct VersionRow {
    version: u64,
    name: String,
    from: String,
    to: String,
    /// `in-force`, `scheduled` (it starts later), or empty (replaced or ended).
    state: &'static str,
    state_label: String,
    body: String,
}

struct Explained {
    evaluated: String,
    outcome: String,
    trace: String,
    effects: String,
}

#[derive(Template)]
#[template(path = "dashboard/offer.html")]
struct OfferPage {
    page: Chrome,
    who: Who,
    program: i64,
    program_name: String,
    offer: i64,
    versions: Vec<VersionRow>,
    customer: String,
    event: String,
    network: String,
    group: String,
    explained: Option<Explained>,
    error: Option<String>,
    /// Whether the operator may add a version (the typed form's link).
    may_add_version: bool,
}

impl Page for OfferPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct ExplainQuery {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    network: String,
    #[serde(default)]
    group: String,
}

/// An offer's versions, and with `customer` and `event` given the API's explanation of why
/// it did or did not apply.
pub async fn offer(
    signed: SignedIn,
    Path((program, offer)): Path<(i64, i64)>,
    Query(query): Query<ExplainQuery>,
) -> Response {
    let lang = signed.lang;
    let program_json = match signed.get(&format!("/v1/programs/{program}")).await {
        Ok(p) => p,
        Err(failure) => return signed.failed(&failure),
    };
    let zone = text(&program_json["rules"]["time_zone"]);
    let answer = match signed
        .get(&format!("/v1/offers/{offer}/versions?program={program}"))
        .await
    {
        Ok(a) => a,
        Err(failure) => return signed.failed(&failure),
    };
    let in_force = answer["in_force"].as_u64();
    let when = |v: &Value| v.as_i64().map(|ms| i18n::datetime(ms, &zone, lang));
    let now = chrono::Utc::now().timestamp_millis();
    let state = |v: &Value| {
        if v["version"].as_u64() == in_force {
            "in-force"
        } else if v["effective_from"].as_i64().is_some_and(|from| from > now) {
            "scheduled"
        } else {
            ""
        }
    };
    let versions: Vec<VersionRow> = answer["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| VersionRow {
            version: v["version"].as_u64().unwrap_or_default(),
            name: text(&v["name"]),
            from: when(&v["effective_from"]).unwrap_or_default(),
            to: when(&v["effective_to"]).unwrap_or_else(|| "–".into()),
            state: state(v),
            state_label: match state(v) {
                "" => "–".into(),
                state => signed.t(&format!("dash-offer-state-{state}")),
            },
            body: serde_json::to_string_pretty(v).unwrap_or_default(),
        })
        .collect();
    let (mut explained, mut error, mut status) = (None, None, StatusCode::OK);
    if !query.customer.trim().is_empty() || !query.event.trim().is_empty() {
        // The query built apart: its serializer may not live across an await (not `Send`).
        let uri = {
            let mut params = form_urlencoded::Serializer::new(String::new());
            params
                .append_pair("customer", query.customer.trim())
                .append_pair("event", query.event.trim());
            if !query.network.is_empty() {
                params.append_pair("network", &query.network);
            }
            if !query.group.trim().is_empty() {
                params.append_pair("group", query.group.trim());
            }
            format!("/v1/offers/{offer}/explain?{}", params.finish())
        };
        match signed.get(&uri).await {
            Ok(e) => {
                let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
                explained = Some(Explained {
                    evaluated: signed.t(&format!("dash-explain-{}", text(&e["evaluated"]))),
                    outcome: text(&e["trace"]["outcome"]["outcome"]),
                    trace: pretty(&e["trace"]),
                    effects: pretty(&e["effects"]),
                });
            }
            Err(failure)
                if matches!(
                    failure.status,
                    StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
                ) =>
            {
                status = failure.status;
                error = Some(failure.message);
            }
            Err(failure) => return signed.failed(&failure),
        }
    }
    let title = i18n::text(
        lang,
        "dash-offer-title",
        Some(&i18n::args(&[("id", offer.into())])),
    );
    let view = OfferPage {
        page: signed.chrome(title),
        who: signed.who(),
        program,
        program_name: text(&program_json["name"]),
        offer,
        versions,
        customer: query.customer,
        event: query.event,
        network: query.network,
        group: query.group,
        explained,
        error,
        may_add_version: signed.may("POST", "/v1/programs/{id}/offers"),
    };
    render(status, &view)
}
