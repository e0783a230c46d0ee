//! Social networks (issue 16, docs/social.md): the networks' own push — VK's Callback API
//! (`vk`), Facebook's and Instagram's webhooks (`facebook`) — turned into the offers' social
//! events for the customers who linked their profiles; linking, signing in and registering
//! through a network's OAuth from the cabinet (`cabinet`, `oauth`); and a program's settings
//! under the admin API (`admin`). The networks' wire stays here; what an event gives is the
//! offers' business (`kopilka_store::offers`).

mod admin;
mod cabinet;
mod collector;
pub mod demo;
mod facebook;
mod oauth;
mod vk;

use crate::http::edge::{self, Refused};
use crate::state::AppState;
pub use admin::routes as admin_routes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
pub use collector::collect_once;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::program::ProgramRules;
use kopilka_store::social::{apply_network_event, NetworkEvent, NetworkOutcome, SocialSettings};
use kopilka_store::{SharedStore, StoreError};

/// The webhooks and the cabinet's social pages.
pub fn router() -> Router<AppState> {
    let webhooks = Router::new()
        .route("/social/{program}/vk", post(vk::callback))
        .route(
            "/social/{program}/facebook",
            get(facebook::verify).post(facebook::notification),
        )
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(plain_refusal, edge::JSON_BODY_LIMIT),
            edge::guard,
        ));
    webhooks.merge(cabinet::router())
}

/// The edge's refusals as the networks read answers: plain text.
fn plain_refusal(refused: &Refused) -> Response {
    plain(refused.status, refused.message)
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

/// A program's rules and social settings, for a webhook.
async fn program_settings(
    state: &AppState,
    program: i64,
) -> Result<Option<(ProgramRules, SocialSettings)>, StoreError> {
    state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(program) = tx.program(ProgramId(program)).await? else {
                    return Ok(None);
                };
                Ok(tx
                    .social_settings(program.id)
                    .await?
                    .map(|settings| (program.rules, settings)))
            })
        })
        .await
}

/// The program's UTC offset at `at` (its periods and time windows are its local calendar).
fn utc_offset_minutes(rules: &ProgramRules, at: i64) -> i32 {
    use chrono::{Offset, TimeZone};
    let zone: chrono_tz::Tz = rules.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let instant = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
    zone.offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc()
        / 60
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What a network's event became, for the network's answer.
enum Handled {
    /// Applied, replayed, ignored or refused for good: the network must not send it again.
    Done,
    /// The database could not be reached or failed: the network should send it again.
    Retry,
}

/// Applies one event the way every network needs it: once per event id, an unlinked account
/// or a refusal (too few points to take back, a repeat with other content) logged and
/// answered as done, so the network does not retry what can never apply.
async fn apply(store: &SharedStore, event: NetworkEvent) -> Handled {
    let network = event.network;
    let kind = event.kind;
    let outcome = store
        .write_retrying(|| {
            let event = event.clone();
            move |tx| Box::pin(async move { apply_network_event(tx, event).await })
        })
        .await;
    match outcome {
        Ok(NetworkOutcome::Unlinked) => {
            tracing::debug!(
                ?network,
                ?kind,
                "social event of an unlinked account ignored"
            );
            Handled::Done
        }
        Ok(NetworkOutcome::Applied { .. }) => Handled::Done,
        Err(StoreError::Domain(refusal)) => {
            tracing::warn!(?network, ?kind, "social event refused: {refusal}");
            Handled::Done
        }
        Err(error) => {
            tracing::error!(?network, ?kind, "social event failed: {error}");
            Handled::Retry
        }
    }
}
