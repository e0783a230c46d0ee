//! The customer's subscriptions on the profile page: the mailings of each type
//! (`kopilka_domain::subscriptions`, Loymax's, kept in `profile.subscriptions`) the customer turns on and off by channel.
//! The form carries a token derived from the session, so another site cannot post it.

use super::Customer;
use crate::http::i18n::{self, Lang};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use kopilka_domain::subscriptions::{self as mailings, CHANNELS, TYPES};
use serde_json::Value;

/// A mailing type with its channels, as the profile's form shows it.
pub(super) struct Mailing {
    pub label: String,
    pub channels: Vec<Channel>,
}

pub(super) struct Channel {
    /// The checkbox's value: `typeId.channel`.
    pub value: String,
    pub label: String,
    pub on: bool,
}

/// The types the customer may turn off (not the system messages), each with every channel.
pub(super) fn mailings(customer: &kopilka_store::model::Customer, lang: Lang) -> Vec<Mailing> {
    let say = |id, name, value: &str| {
        let values = [(name, FluentValue::from(value))];
        i18n::text(lang, id, Some(&i18n::args(&values)))
    };
    TYPES
        .iter()
        .filter(|(_, external_id, _)| !mailings::read_only(external_id))
        .map(|(type_id, external_id, _)| Mailing {
            label: say("cabinet-mailing", "type", external_id),
            channels: CHANNELS
                .iter()
                .map(|channel| Channel {
                    value: format!("{type_id}.{channel}"),
                    label: say("cabinet-subscription", "channel", channel),
                    on: mailings::selected(&customer.profile, *type_id, external_id, channel),
                })
                .collect(),
        })
        .collect()
}

/// The form's purpose in its token (`super::form_token`).
pub(super) const FORM: &str = "subscriptions";

/// `POST /cabinet/subscriptions` (`token`, `on=typeId.channel` for each box ticked): every
/// channel of every type the customer may change is set as the form says.
pub(super) async fn save(
    State(state): State<AppState>,
    customer: Result<Customer, Response>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let token = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let expected = super::form_token(&headers, FORM);
    if expected.is_empty() || !secrets::constant_time_eq(token, &expected) {
        let lang = customer.lang;
        let message = crate::http::html::Message::new(
            lang,
            "common-request-refused",
            i18n::text(lang, "cabinet-form-stale", None),
        )
        .link(
            i18n::text(lang, "cabinet-nav-profile", None),
            "/cabinet/profile",
        );
        return message.answer(StatusCode::FORBIDDEN);
    }
    let ticked: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "on")
        .map(|(_, v)| v.as_str())
        .collect();
    let changes: Vec<(i64, &'static str, bool)> = TYPES
        .iter()
        .filter(|(_, external_id, _)| !mailings::read_only(external_id))
        .flat_map(|(type_id, _, _)| {
            let ticked = &ticked;
            CHANNELS.iter().map(move |channel| {
                let on = ticked.contains(&format!("{type_id}.{channel}").as_str());
                (*type_id, *channel, on)
            })
        })
        .collect();
    let id = customer.customer.id;
    let saved = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(mut customer) = tx.customer(id).await? else {
                    return Ok(());
                };
                let mut profile = customer.profile.as_object().cloned().unwrap_or_default();
                mailings::set(&mut profile, changes);
                customer.profile = Value::Object(profile);
                tx.update_customer(&customer).await?;
                Ok(())
            })
        })
        .await;
    match saved {
        Ok(()) => Redirect::to("/cabinet/profile?saved=1").into_response(),
        Err(e) => super::failure(customer.lang, e),
    }
}
