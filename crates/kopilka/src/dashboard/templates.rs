//! A program's customer message templates (`GET /v1/programs/{id}/templates`): kopilka's text
//! or the program's own in Russian and English, each previewed with example values through the
//! same rendering the protocols use before a message goes to the outbox.

use super::operations::unreadable;
use super::{programs, ApiFailure, SignedIn, Who};
use crate::http::html::{self, Chrome, Page};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

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
}

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
