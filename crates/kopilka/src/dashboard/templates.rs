//! A program's customer message templates (`GET /v1/programs/{id}/templates`): kopilka's text
//! or the program's own in Russian and English, each previewed with example values through the
//! same rendering the protocols use before a message goes to the outbox; and a template's page
//! (`/admin/templates/{name}`) where the program's own text is typed, previewed with its SMS
//! length before it is saved (`PUT /v1/programs/{id}/templates/{name}/{language}`), or reset
//! to kopilka's (`DELETE`).

use super::operations::unreadable;
use super::{programs, ApiFailure, Posted, SignedIn, Who};
use crate::http::html::{self, Chrome, Page};
use crate::http::i18n;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::message::{self, Language, SmsLength};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct TemplateItem {
    name: String,
    placeholders: Vec<String>,
    texts: Vec<TextItem>,
}

#[derive(Debug, Deserialize)]
struct TextItem {
    language: String,
    built_in: String,
    custom: Option<String>,
    preview: String,
}

/// A template's text in one language, as the page shows it.
pub struct TextRow {
    pub language: String,
    pub text: String,
    pub custom: bool,
    pub preview: String,
}

pub struct TemplateRow {
    pub name: String,
    pub placeholders: String,
    pub texts: Vec<TextRow>,
}

/// A program to choose.
pub struct ProgramChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "dashboard/templates.html")]
struct TemplatesPage {
    page: Chrome,
    who: Who,
    programs: Vec<ProgramChoice>,
    templates: Vec<TemplateRow>,
    program: Option<i64>,
    /// Whether the operator may change the program's texts (the templates' links).
    may_change: bool,
}

impl Page for TemplatesPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Chosen {
    #[serde(default)]
    program: String,
    #[serde(default)]
    done: String,
}

/// The admin API's route of a program's own text of a template.
const OVERRIDE_ROUTE: &str = "/v1/programs/{id}/templates/{name}/{language}";

/// `GET /admin/templates?program=`
pub async fn list(signed: SignedIn, Query(chosen): Query<Chosen>) -> Response {
    let read = async {
        let programs = programs(&signed).await?;
        let program = chosen
            .program
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| programs.iter().any(|p| p.id == *id))
            .or(programs.first().map(|p| p.id));
        let templates: Vec<TemplateItem> = match program {
            Some(id) => {
                serde_json::from_value(signed.get(&format!("/v1/programs/{id}/templates")).await?)
                    .map_err(unreadable)?
            }
            None => Vec::new(),
        };
        Ok::<_, ApiFailure>((programs, program, templates))
    };
    let (programs, program, templates) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let page = TemplatesPage {
        page: signed.chrome(signed.t("dash-templates-title")),
        who: signed.who(),
        program,
        may_change: signed.may("PUT", OVERRIDE_ROUTE),
        programs: programs
            .into_iter()
            .map(|p| ProgramChoice {
                selected: Some(p.id) == program,
                id: p.id,
                name: p.name,
            })
            .collect(),
        templates: templates
            .into_iter()
            .map(|t| TemplateRow {
                name: t.name,
                placeholders: t
                    .placeholders
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                texts: t
                    .texts
                    .into_iter()
                    .map(|x| TextRow {
                        language: x.language,
                        custom: x.custom.is_some(),
                        text: x.custom.unwrap_or(x.built_in),
                        preview: x.preview,
                    })
                    .collect(),
            })
            .collect(),
    };
    html::render(StatusCode::OK, &page)
}

/// A template's text in one language on its page: as typed (or the program's, else kopilka's),
/// its preview, its length as an SMS and the refusal of it.
pub struct TextForm {
    pub language: &'static str,
    pub label: String,
    pub text: String,
    pub built_in: String,
    pub custom: bool,
    pub preview: String,
    pub length: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/template.html")]
struct TemplatePage {
    page: Chrome,
    who: Who,
    program: i64,
    program_name: String,
    name: String,
    placeholders: String,
    texts: Vec<TextForm>,
    may_change: bool,
    notice: Option<String>,
}

impl Page for TemplatePage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// `GET /admin/templates/{name}?program=`
pub async fn edit(
    signed: SignedIn,
    Path(name): Path<String>,
    Query(chosen): Query<Chosen>,
) -> Response {
    let notice = match chosen.done.as_str() {
        "saved" => Some(signed.t("dash-tpl-saved")),
        "reset" => Some(signed.t("dash-tpl-reset-done")),
        _ => None,
    };
    let program = chosen.program.trim().parse::<i64>().unwrap_or_default();
    show(&signed, program, &name, None, notice, StatusCode::OK).await
}

/// The texts of a template's form as posted, and their refusals, by language.
struct Typed<'a> {
    texts: &'a BTreeMap<String, String>,
    errors: &'a BTreeMap<&'a str, String>,
}

/// The template's page, with the texts as typed when given.
async fn show(
    signed: &SignedIn,
    program: i64,
    name: &str,
    typed: Option<Typed<'_>>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let read = async {
        let program_json = signed.get(&format!("/v1/programs/{program}")).await?;
        let templates: Vec<TemplateItem> = serde_json::from_value(
            signed
                .get(&format!("/v1/programs/{program}/templates"))
                .await?,
        )
        .map_err(unreadable)?;
        Ok::<_, ApiFailure>((program_json, templates))
    };
    let (program_json, templates) = match read.await {
        Ok(read) => read,
        Err(failure) => return signed.failed(&failure),
    };
    let Some(template) = templates.into_iter().find(|t| t.name == name) else {
        return signed.failed(&ApiFailure {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            field: None,
            message: signed.t("dash-tpl-unknown"),
        });
    };
    let known = message::template(name);
    let texts = template
        .texts
        .into_iter()
        .map(|x| {
            let language = if x.language == "en" { "en" } else { "ru" };
            let (text, error) = match typed {
                Some(Typed { texts, errors }) => (
                    texts.get(language).cloned().unwrap_or_default(),
                    errors.get(language).cloned(),
                ),
                None => (x.custom.clone().unwrap_or(x.built_in.clone()), None),
            };
            // A placeholder the template lacks is named before the API is asked.
            let error = error.or_else(|| {
                let checked =
                    known.map(|k| message::check_text(k, Language::parse(language), &text));
                match checked {
                    Some(Err(e)) => Some(e.to_string()),
                    _ => None,
                }
            });
            let length = SmsLength::of(&message::preview_text(&text));
            let args = i18n::args(&[
                ("units", (length.units as i64).into()),
                ("segments", (length.segments as i64).into()),
                (
                    "encoding",
                    if length.unicode { "UCS-2" } else { "GSM-7" }.into(),
                ),
            ]);
            TextForm {
                language,
                label: signed.t(&format!("dash-tpl-language-{language}")),
                preview: message::preview_text(&text),
                length: i18n::text(signed.lang, "dash-tpl-length", Some(&args)),
                text,
                built_in: x.built_in,
                custom: x.custom.is_some(),
                error,
            }
        })
        .collect();
    let view = TemplatePage {
        page: signed.chrome(name.to_string()),
        who: signed.who(),
        program,
        program_name: super::programs::text(&program_json["name"]),
        name: name.to_string(),
        placeholders: template
            .placeholders
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(" "),
        texts,
        may_change: signed.may("PUT", OVERRIDE_ROUTE),
        notice,
    };
    html::render(status, &view)
}

/// `POST /admin/templates/{name}`: `op` is `preview` (the texts as typed, nothing saved),
/// `reset-ru` / `reset-en` (kopilka's text again), or saves each text that changed (any other,
/// the form's first button).
pub async fn change(
    Path(name): Path<String>,
    posted: Posted<BTreeMap<String, String>>,
) -> Response {
    let signed = posted.signed;
    let form = posted.form;
    let program = form
        .get("program")
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or_default();
    let texts: BTreeMap<String, String> = ["ru", "en"]
        .iter()
        .map(|l| {
            let text = form.get(&format!("text-{l}")).cloned().unwrap_or_default();
            (l.to_string(), text.replace("\r\n", "\n"))
        })
        .collect();
    let op = form.get("op").map(String::as_str).unwrap_or("save");
    let route = |language: &str| format!("/v1/programs/{program}/templates/{name}/{language}");
    let done = |what: &str| {
        Redirect::to(&format!(
            "/admin/templates/{name}?program={program}&done={what}"
        ))
        .into_response()
    };
    if op == "preview" {
        let errors = BTreeMap::new();
        return show(
            &signed,
            program,
            &name,
            Some(Typed {
                texts: &texts,
                errors: &errors,
            }),
            None,
            StatusCode::OK,
        )
        .await;
    }
    if let Some(language) = op.strip_prefix("reset-") {
        return match signed.api(Method::DELETE, &route(language), None).await {
            Ok(_) => done("reset"),
            Err(failure) => signed.failed(&failure),
        };
    }
    // Each language whose text is not what the program sends now.
    let current = match signed
        .get(&format!("/v1/programs/{program}/templates"))
        .await
    {
        Ok(c) => c,
        Err(failure) => return signed.failed(&failure),
    };
    let sent = |language: &str| {
        current
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name.as_str())
            .and_then(|t| {
                t["texts"]
                    .as_array()?
                    .iter()
                    .find(|x| x["language"] == language)
                    .map(|x| {
                        x["custom"]
                            .as_str()
                            .or(x["built_in"].as_str())
                            .unwrap_or_default()
                            .to_string()
                    })
            })
    };
    let mut errors: BTreeMap<&str, String> = BTreeMap::new();
    for language in ["ru", "en"] {
        let text = texts[language].trim();
        if sent(language).as_deref() == Some(text) {
            continue;
        }
        let body = serde_json::json!({ "text": text });
        match signed.api(Method::PUT, &route(language), Some(body)).await {
            Ok(_) => {}
            Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
                errors.insert(language, failure.message);
            }
            Err(failure) => return signed.failed(&failure),
        }
    }
    if errors.is_empty() {
        return done("saved");
    }
    show(
        &signed,
        program,
        &name,
        Some(Typed {
            texts: &texts,
            errors: &errors,
        }),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}
