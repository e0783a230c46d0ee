//! The dashboard's home: a program's analytics (`GET /v1/programs/{id}/analytics`) for a chosen
//! period beside the period before it. Each figure is a card with a bar chart drawn on the
//! server (inline SVG, no script) and the same numbers as a table, and links to the listing
//! behind it.

use super::customers::{programs, Choice};
use super::{SignedIn, Who};
use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::{self, Lang};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

/// A figure of the period and of the one before.
struct Figure {
    id: &'static str,
    title: String,
    now: String,
    was: String,
    /// The change as a percentage of the previous period's value, when it had one.
    change: Option<String>,
    up: bool,
    /// Bar lengths (0–100) of the chart.
    now_bar: i64,
    was_bar: i64,
    /// Where the figure's rows are.
    drill: String,
}

/// A figure with no previous value (as of now: liability, expiring points).
struct Standing {
    title: String,
    value: String,
    drill: String,
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
struct HomePage {
    page: Chrome,
    who: Who,
    programs: Vec<Choice>,
    from: String,
    to: String,
    period: String,
    previous: String,
    figures: Vec<Figure>,
    standing: Vec<Standing>,
    error: Option<String>,
    no_program: bool,
}

impl Page for HomePage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    program: Option<i64>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A date input's value: `YYYY-MM-DD` only (anything else is left to the API's default).
fn date(text: &str) -> Option<&str> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|_| text)
}

/// `ms` as a date in `zone`; `end` names the last day of a period ending at `ms` (excluded).
fn day(ms: i64, zone: &str, end: bool) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let ms = if end { ms - 1 } else { ms };
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&zone).format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn percent_change(now: i64, was: i64, lang: Lang) -> Option<String> {
    if was == 0 {
        return None;
    }
    // Tenths of a percent, rounded half away from zero: for reading, not for money.
    let tenths = ((now - was) as i128 * 1000 * 2 / was as i128 + (now - was).signum() as i128) / 2;
    let text = i18n::number(tenths as i64, 1, lang);
    Some(if tenths > 0 {
        format!("+{text} %")
    } else {
        format!("{text} %")
    })
}

fn bars(now: i64, was: i64) -> (i64, i64) {
    let top = now.abs().max(was.abs()).max(1);
    let bar = |v: i64| ((v.abs() as i128 * 100) / top as i128) as i64;
    (bar(now), bar(was))
}

pub async fn page(signed: SignedIn, Query(query): Query<HomeQuery>) -> Response {
    let lang = signed.lang;
    let programs = match programs(&signed).await {
        Ok(programs) => programs,
        Err(failure) => return signed.failed(&failure),
    };
    let chosen = query
        .program
        .and_then(|id| programs.iter().find(|p| p.id == id))
        .or(programs.first());
    let mut view = HomePage {
        page: signed.chrome(signed.t("dash-nav-home")),
        who: signed.who(),
        programs: programs
            .iter()
            .map(|p| Choice {
                value: p.id.to_string(),
                label: p.name.clone(),
                selected: Some(p.id) == chosen.map(|c| c.id),
            })
            .collect(),
        from: String::new(),
        to: String::new(),
        period: String::new(),
        previous: String::new(),
        figures: Vec::new(),
        standing: Vec::new(),
        error: None,
        no_program: chosen.is_none(),
    };
    let Some(program) = chosen else {
        return render(StatusCode::OK, &view);
    };
    let mut uri = format!("/v1/programs/{}/analytics?", program.id);
    for (name, value) in [("from", date(&query.from)), ("to", date(&query.to))] {
        if let Some(value) = value {
            uri.push_str(&format!("{name}={value}&"));
        }
    }
    let analytics = match signed.get(uri.trim_end_matches(['?', '&'])).await {
        Ok(analytics) => analytics,
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            view.error = Some(failure.message);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
        Err(failure) => return signed.failed(&failure),
    };
    let zone = program.rules.time_zone.as_str();
    let places = analytics["decimals"].as_u64().unwrap_or(0) as u8;
    let (now, was) = (&analytics["period"], &analytics["previous_period"]);
    let span = |p: &Value| {
        let from = day(p["from"].as_i64().unwrap_or(0), zone, false);
        let to = day(p["to"].as_i64().unwrap_or(0), zone, true);
        (from, to)
    };
    let (from, to) = span(now);
    let (was_from, was_to) = span(was);
    view.period = format!("{from} — {to}");
    view.previous = format!("{was_from} — {was_to}");
    let operations = |kind: &str| {
        format!(
            "/admin/operations?program={}&kind={kind}&from={from}&to={to}",
            program.id
        )
    };
    let customers = format!("/admin/customers?program={}", program.id);
    let points = |v: i64| i18n::points(v, places, lang);
    let count = |v: i64| i18n::number(v, 0, lang);
    let ratio = |p: &Value, name: &str| p[name]["bps"].as_i64();
    let mut figures = Vec::new();
    let mut figure = |id: &'static str,
                      now_value: i64,
                      was_value: i64,
                      show: &dyn Fn(i64) -> String,
                      drill: String| {
        let (now_bar, was_bar) = bars(now_value, was_value);
        figures.push(Figure {
            id,
            title: signed.t(&format!("dash-figure-{id}")),
            now: show(now_value),
            was: show(was_value),
            change: percent_change(now_value, was_value, lang),
            up: now_value >= was_value,
            now_bar,
            was_bar,
            drill,
        });
    };
    for (id, field, kind) in [
        ("issued", "issued_minor", "earn"),
        ("redeemed", "redeemed_minor", "redeem"),
        ("withdrawn", "withdrawn_minor", "withdraw"),
        ("expired", "expired_minor", "expire"),
        ("reversed", "reversed_minor", "reversal"),
    ] {
        let value = |p: &Value| p[field].as_i64().unwrap_or(0);
        figure(id, value(now), value(was), &points, operations(kind));
    }
    for (id, field) in [("active", "active_members"), ("new", "new_members")] {
        let value = |p: &Value| p[field].as_i64().unwrap_or(0);
        figure(id, value(now), value(was), &count, customers.clone());
    }
    let percent = |bps: i64| format!("{} %", i18n::number(bps, 2, lang));
    for (id, field, kind) in [
        ("redemption", "redemption_rate", "redeem"),
        ("breakage", "breakage", "expire"),
    ] {
        if let (Some(n), Some(w)) = (ratio(now, field), ratio(was, field)) {
            figure(id, n, w, &percent, operations(kind));
        }
    }
    view.figures = figures;
    let liability = &analytics["liability"];
    let expiring = &analytics["expiring"];
    view.standing = [
        ("dash-liability", liability["points_minor"].as_i64()),
        (
            "dash-expiring-30",
            expiring["within_30_days_minor"].as_i64(),
        ),
        (
            "dash-expiring-60",
            expiring["within_60_days_minor"].as_i64(),
        ),
        (
            "dash-expiring-90",
            expiring["within_90_days_minor"].as_i64(),
        ),
    ]
    .into_iter()
    .map(|(id, value)| Standing {
        title: signed.t(id),
        value: points(value.unwrap_or(0)),
        drill: customers.clone(),
    })
    .collect();
    view.from = from;
    view.to = to;
    render(StatusCode::OK, &view)
}
