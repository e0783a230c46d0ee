//! The dashboard's home: a program's analytics for a period beside the period before.

use super::{SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "dashboard/home.html")]
struct HomePage {
    page: Chrome,
    who: Who,
}

impl Page for HomePage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

pub async fn page(signed: SignedIn) -> Response {
    let view = HomePage {
        page: signed.chrome(signed.t("dash-nav-home")),
        who: signed.who(),
    };
    render(StatusCode::OK, &view)
}
