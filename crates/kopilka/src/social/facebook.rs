//! Facebook's and Instagram's webhooks (Graph API "Webhooks", "Webhooks for Pages", Instagram
//! "comments"): `GET /social/{program}/facebook` answers the verification (`hub.mode`,
//! `hub.verify_token`, `hub.challenge`); every POST is signed — `X-Hub-Signature-256:
//! sha256=` HMAC-SHA256 of the raw body under the app secret — and refused without effect when
//! the signature is missing (401) or wrong (403). A POST batches entries of pages (`feed`:
//! comments, reactions, shares and their removal) and Instagram accounts (`comments`).

use super::{apply, now_ms, plain, program_settings, utc_offset_minutes, Handled};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hmac::Mac;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::ledger::fingerprint;
use kopilka_domain::offers::{Network, SocialKind};
use kopilka_store::social::NetworkEvent;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    /// The page's or Instagram account's id.
    id: String,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, PartialEq, Eq)]
struct Activity {
    kind: SocialKind,
    user: String,
    object: String,
    by_object: bool,
    at: Option<i64>,
}

fn text(value: &Value, name: &str) -> Option<String> {
    match value.get(name)? {
        Value::String(s) if !s.is_empty() && s.len() <= 100 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Who acted: `from.id`, or the older `sender_id` / `user_id`.
fn actor(value: &Value) -> Option<String> {
    value
        .get("from")
        .and_then(|from| text(from, "id"))
        .or_else(|| text(value, "sender_id"))
        .or_else(|| text(value, "user_id"))
}

/// A page `feed` change as the offers see it; `None` for what they do not count (posts by the
/// page, edits, reactions to comments, other items).
fn feed_activity(value: &Value) -> Option<Activity> {
    let item = value.get("item")?.as_str()?;
    let verb = value.get("verb")?.as_str()?;
    let at = value
        .get("created_time")
        .and_then(Value::as_i64)
        .map(|s| s.saturating_mul(1000));
    let (kind, object, by_object) = match (item, verb) {
        ("comment", "add") => (SocialKind::Comment, text(value, "comment_id")?, false),
        ("comment", "remove") => (SocialKind::CommentRemoved, text(value, "comment_id")?, true),
        ("reaction" | "like", "add" | "remove") => {
            if value.get("comment_id").is_some() {
                return None;
            }
            let kind = if verb == "add" {
                SocialKind::Like
            } else {
                SocialKind::LikeRemoved
            };
            (kind, text(value, "post_id")?, false)
        }
        ("share", "add" | "remove") => {
            let kind = if verb == "add" {
                SocialKind::Repost
            } else {
                SocialKind::RepostRemoved
            };
            let shared = text(value, "share_id").or_else(|| text(value, "post_id"))?;
            (kind, shared, false)
        }
        _ => return None,
    };
    Some(Activity {
        kind,
        user: actor(value)?,
        object: format!("{item}:{object}").replace("like:", "reaction:"),
        by_object,
        at,
    })
}

/// An Instagram `comments` change: a new comment on the account's media.
fn instagram_activity(value: &Value) -> Option<Activity> {
    Some(Activity {
        kind: SocialKind::Comment,
        user: actor(value)?,
        object: format!("comment:{}", text(value, "id")?),
        by_object: false,
        at: None,
    })
}

#[derive(Deserialize)]
pub struct Verification {
    #[serde(rename = "hub.mode", default)]
    mode: String,
    #[serde(rename = "hub.verify_token", default)]
    verify_token: String,
    #[serde(rename = "hub.challenge", default)]
    challenge: String,
}

pub async fn verify(
    State(state): State<AppState>,
    Path(program): Path<i64>,
    Query(query): Query<Verification>,
) -> Response {
    let sealed = match program_settings(&state, program).await {
        Ok(Some((_, settings))) => settings.sealed_facebook_verify_token,
        Ok(None) => None,
        Err(error) => {
            tracing::error!("Facebook verification: {error}");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let Some(token) = sealed.and_then(|s| state.sealer.unseal(&s).ok()) else {
        return plain(StatusCode::NOT_FOUND, "no Facebook app for this program");
    };
    if query.mode != "subscribe"
        || !secrets::constant_time_eq(&query.verify_token, &token)
        || query.challenge.is_empty()
        || query.challenge.len() > 200
    {
        return plain(StatusCode::FORBIDDEN, "verification refused");
    }
    plain(StatusCode::OK, &query.challenge)
}

fn signature_matches(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(presented) = header.strip_prefix("sha256=") else {
        return false;
    };
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    secrets::constant_time_eq(&presented.to_ascii_lowercase(), &expected)
}

pub async fn notification(
    State(state): State<AppState>,
    Path(program): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (rules, settings) = match program_settings(&state, program).await {
        Ok(Some(found)) => found,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "no Facebook app for this program"),
        Err(error) => {
            tracing::error!("Facebook webhook: {error}");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let Some(secret) = settings
        .sealed_facebook_app_secret
        .as_deref()
        .and_then(|s| state.sealer.unseal(s).ok())
    else {
        return plain(StatusCode::NOT_FOUND, "no Facebook app for this program");
    };
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return plain(StatusCode::UNAUTHORIZED, "X-Hub-Signature-256 missing");
    };
    if !signature_matches(&secret, &body, signature) {
        return plain(StatusCode::FORBIDDEN, "wrong signature");
    }
    let Ok(notification) = serde_json::from_slice::<Notification>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "not a webhook notification");
    };
    let (network, accounts) = match notification.object.as_str() {
        "page" => (Network::Facebook, &settings.facebook_page_ids),
        "instagram" => (Network::Instagram, &settings.instagram_account_ids),
        _ => return plain(StatusCode::OK, "ok"),
    };
    let mut answer = plain(StatusCode::OK, "ok");
    let (known, unknown): (Vec<&Entry>, Vec<&Entry>) = notification
        .entry
        .iter()
        .partition(|e| accounts.contains(&e.id));
    if !unknown.is_empty() {
        // A page or account the program does not list (another program's, or one removed
        // from the settings): ignored, and counted so a misconfiguration shows.
        let network = if network == Network::Facebook {
            "facebook"
        } else {
            "instagram"
        };
        metrics::counter!("kopilka_social_unknown_entries_total", "network" => network)
            .increment(unknown.len() as u64);
        tracing::debug!(
            program,
            network,
            entries = unknown.len(),
            "webhook entries of accounts the program does not list ignored"
        );
    }
    for entry in known {
        for change in &entry.changes {
            let activity = match (network, change.field.as_str()) {
                (Network::Facebook, "feed") => feed_activity(&change.value),
                (Network::Instagram, "comments") => instagram_activity(&change.value),
                _ => None,
            };
            let Some(activity) = activity else { continue };
            // Facebook's retries repeat the change as it was: its content is its id.
            let content = fingerprint(&[&entry.id, &change.field, &change.value.to_string()]);
            let name = if network == Network::Facebook {
                "facebook"
            } else {
                "instagram"
            };
            let at = activity.at.unwrap_or_else(now_ms).min(now_ms());
            let event = NetworkEvent {
                program_id: ProgramId(program),
                utc_offset_minutes: utc_offset_minutes(&rules, at),
                rules: rules.clone(),
                event_id: format!("{name}:{content}"),
                at,
                network,
                kind: activity.kind,
                group: Some(entry.id.clone()),
                network_user_id: activity.user,
                object: activity.object,
                undo_by_object: activity.by_object,
                fingerprint: content,
            };
            if let Handled::Retry = apply(&state.store, event).await {
                // The rest is still tried; Facebook sends the whole batch again, and what was
                // applied is recognised by its id.
                answer = plain(StatusCode::SERVICE_UNAVAILABLE, "try again");
            }
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn feed_changes_map_to_social_kinds() {
        let comment = json!({"item": "comment", "verb": "add", "comment_id": "1_2", "post_id": "1_1", "from": {"id": "77", "name": "A"}, "created_time": 1_700_000_000});
        let found = feed_activity(&comment).unwrap();
        assert_eq!(found.kind, SocialKind::Comment);
        assert_eq!(found.user, "77");
        assert_eq!(found.object, "comment:1_2");
        assert_eq!(found.at, Some(1_700_000_000_000));
        let removed = json!({"item": "reaction", "verb": "remove", "post_id": "1_1", "from": {"id": "77"}, "reaction_type": "like"});
        assert_eq!(
            feed_activity(&removed).unwrap().kind,
            SocialKind::LikeRemoved
        );
        let edited =
            json!({"item": "comment", "verb": "edited", "comment_id": "1_2", "from": {"id": "77"}});
        assert_eq!(feed_activity(&edited), None);
        let on_comment = json!({"item": "reaction", "verb": "add", "post_id": "1_1", "comment_id": "1_2", "from": {"id": "77"}});
        assert_eq!(feed_activity(&on_comment), None);
        let legacy = json!({"item": "like", "verb": "add", "post_id": "1_1", "user_id": 77});
        assert_eq!(feed_activity(&legacy).unwrap().object, "reaction:1_1");
    }

    #[test]
    fn the_signature_is_of_the_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_matches("app-secret", body, &header));
        assert!(!signature_matches("other", body, &header));
        assert!(!signature_matches("app-secret", body, "sha1=00"));
    }
}
