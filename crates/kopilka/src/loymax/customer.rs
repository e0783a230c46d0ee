//! The customer's app settings (public API 1.2): logins, status systems, subscriptions to
//! mailings and push devices. Subscriptions and devices live in the customer's profile
//! (`subscriptions`, `pushDevices`).

// The mailing types of 1.2, in its order.
use super::auth::Session;
use super::registration::job;
use super::wire::{self, ok, LmError, LmResult};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use kopilka_domain::phone::mask;
use kopilka_domain::subscriptions::{self, read_only, CHANNELS, TYPES};
use kopilka_store::model::Customer;
use serde_json::{json, Map, Value};

/// `GET User/Logins`: what the customer signs in with (phone masked, cards, e-mail); kopilka
/// has no social logins.
pub async fn logins(State(state): State<AppState>, session: Session) -> LmResult {
    let id = session.customer.id;
    let cards = state
        .store
        .read(move |tx| Box::pin(async move { tx.cards(None, Some(id)).await }))
        .await?;
    let c = &session.customer;
    let mut identifiers = Vec::new();
    if let Some(phone) = &c.phone {
        identifiers.push(json!({"identifierType": "Phone", "value": mask(phone)}));
    }
    if let Some(email) = &c.email {
        identifiers.push(json!({"identifierType": "Email", "value": email}));
    }
    for card in cards {
        identifiers.push(json!({"identifierType": "Card", "value": card.number}));
    }
    Ok(ok(
        json!({"identifiers": identifiers, "socialIdentifiers": []}),
    ))
}

/// `GET User/Status`: the customer's place in the program's status systems; kopilka's programs
/// have none, so the list is empty.
pub async fn status(_session: Session) -> LmResult {
    Ok(ok(json!([])))
}

/// Whether the customer chose a channel of a type (stored by type id and channel).
fn selected(customer: &Customer, type_id: i64, external_id: &str, channel: &str) -> bool {
    subscriptions::selected(&customer.profile, type_id, external_id, channel)
}

/// `GET User/Subscriptions` (`subscriptionExternalIds[]` narrows the types).
pub async fn subscriptions(session: Session, parts: Parts) -> LmResult {
    let wanted: Vec<String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k.starts_with("subscriptionExternalIds"))
        .map(|(_, v)| v.into_owned())
        .collect();
    let list: Vec<Value> = TYPES
        .iter()
        .filter(|(_, external_id, _)| wanted.is_empty() || wanted.iter().any(|w| w == external_id))
        .map(|(type_id, external_id, name)| {
            let mut subscription = json!({
                "typeId": type_id,
                "typeName": name,
                "externalId": external_id,
            });
            for channel in CHANNELS {
                subscription[channel] = json!({
                    "readOnly": read_only(external_id),
                    "selected": selected(&session.customer, *type_id, external_id, channel),
                });
            }
            subscription
        })
        .collect();
    Ok(ok(list))
}

/// `POST User/Subscriptions` `[{typeId, smsNotification: {selected}, …}]`: the channels named
/// change, the others stay.
pub async fn update_subscriptions(
    State(state): State<AppState>,
    session: Session,
    bytes: Bytes,
) -> LmResult {
    let updates: Vec<Value> = wire::body(&bytes)?;
    let mut changes = Vec::new();
    for (i, update) in updates.iter().enumerate() {
        let type_id = update.get("typeId").and_then(Value::as_i64);
        let Some((type_id, external_id, _)) = TYPES.iter().find(|t| Some(t.0) == type_id) else {
            return Err(LmError::invalid(
                &format!("[{i}].typeId"),
                "Неизвестный тип подписки",
            ));
        };
        for channel in CHANNELS {
            let Some(choice) = update.get(channel).filter(|v| !v.is_null()) else {
                continue;
            };
            let Some(on) = choice.get("selected").and_then(Value::as_bool) else {
                return Err(LmError::invalid(
                    &format!("[{i}].{channel}.selected"),
                    "Ожидается true или false",
                ));
            };
            if !read_only(external_id) {
                changes.push((*type_id, channel, on));
            }
        }
    }
    save_subscriptions(&state, &session, changes).await
}

/// `POST User/Subscriptions/Confirm`: every mailing on every channel.
pub async fn confirm_subscriptions(State(state): State<AppState>, session: Session) -> LmResult {
    save_subscriptions(&state, &session, all(true)).await
}

/// `POST User/Subscriptions/Reject`: every mailing off (system messages stay).
pub async fn reject_subscriptions(State(state): State<AppState>, session: Session) -> LmResult {
    save_subscriptions(&state, &session, all(false)).await
}

fn all(on: bool) -> Vec<(i64, &'static str, bool)> {
    TYPES
        .iter()
        .filter(|t| !read_only(t.1))
        .flat_map(|t| CHANNELS.iter().map(move |c| (t.0, *c, on)))
        .collect()
}

async fn save_subscriptions(
    state: &AppState,
    session: &Session,
    changes: Vec<(i64, &'static str, bool)>,
) -> LmResult {
    update_profile(state, session, move |profile| {
        subscriptions::set(profile, changes);
        Ok(())
    })
    .await
}

/// `profile[key]` as an object, made one if it is not.
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made an object above")
}

/// Changes the customer's profile in one write job.
async fn update_profile<F>(state: &AppState, session: &Session, change: F) -> LmResult
where
    F: FnOnce(&mut Map<String, Value>) -> LmResult<()> + Send + 'static,
{
    let id = session.customer.id;
    job(state, move |tx| {
        Box::pin(async move {
            let Some(mut customer) = tx.customer(id).await? else {
                return Err(LmError::Unauthorized.into());
            };
            let mut profile = customer.profile.as_object().cloned().unwrap_or_default();
            change(&mut profile)?;
            customer.profile = Value::Object(profile);
            tx.update_customer(&customer).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// Devices kept per customer; registering one more drops the one registered longest ago.
const MAX_DEVICES: usize = 10;
const PLATFORMS: [&str; 3] = ["Android", "Ios", "Harmony"];
const PUSH_SERVICES: [&str; 3] = ["Fcm", "Apns", "HMS"];

/// `POST Pushes` `{token, platformType, pushServiceType}` with `X-DeviceId`: the device's push
/// token, kept by device (a new token for a device replaces its old one).
pub async fn register_device(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    bytes: Bytes,
) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::trim);
    let token = text("token").filter(|t| !t.is_empty() && t.len() <= 4096);
    let token = token.ok_or_else(|| LmError::invalid("token", "Укажите push-токен устройства"))?;
    let platform = text("platformType").filter(|p| PLATFORMS.contains(p));
    let platform = platform
        .ok_or_else(|| LmError::invalid("platformType", "Ожидается Android, Ios или Harmony"))?;
    let service = match input.get("pushServiceType") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .filter(|s| PUSH_SERVICES.contains(s))
                .ok_or_else(|| {
                    LmError::invalid("pushServiceType", "Ожидается Fcm, Apns или HMS")
                })?,
        ),
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect::<String>())
    };
    // Without a device id the token itself names the device.
    let device = header("x-deviceid").unwrap_or_else(|| token.chars().take(256).collect());
    let record = json!({
        "token": token,
        "platformType": platform,
        "pushServiceType": service,
        "platformVersion": header("x-platformversion"),
        "userAgent": header("user-agent"),
        "registeredAt": chrono::Utc::now().timestamp_millis(),
    });
    update_profile(&state, &session, move |profile| {
        let devices = object(profile, "pushDevices");
        devices.insert(device, record);
        while devices.len() > MAX_DEVICES {
            let oldest = devices
                .iter()
                .min_by_key(|(_, d)| d["registeredAt"].as_i64().unwrap_or(0))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => devices.remove(&key),
                None => break,
            };
        }
        Ok(())
    })
    .await
}
