//! VK's Callback API (dev.vk.com, "Callback API" and "События в сообществах"): the program's
//! community calls `POST /social/{program}/vk` with `{type, object, group_id, event_id, secret,
//! v}`. `confirmation` answers the program's string; every other request carries the secret
//! key, checked in constant time, and is answered `ok` once handled — ignored types and
//! accounts nobody linked too, so VK does not retry them.

use super::{apply, now_ms, plain, program_settings, utc_offset_minutes, Handled};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::ledger::fingerprint;
use kopilka_domain::offers::{Network, SocialKind};
use kopilka_store::social::NetworkEvent;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Callback {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: Value,
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    secret: Option<String>,
    /// Unique per event (API 5.103 and later); older versions send none.
    #[serde(default)]
    event_id: Option<String>,
}

/// What a VK event is for the offers: who, what kind, on which object.
#[derive(Debug, PartialEq, Eq)]
struct Activity {
    kind: SocialKind,
    user: i64,
    object: String,
    /// A deleted comment is found by the comment alone: the one deleting may be an admin.
    by_object: bool,
    /// When VK says it happened (comments carry a date), unix ms.
    at: Option<i64>,
}

fn int(value: &Value, name: &str) -> Option<i64> {
    value.get(name).and_then(Value::as_i64)
}

/// The activity an event of community `group` reports, or `None` for what the offers do not
/// count: other types, likes of photos or comments, reposts of other walls, requests to join.
fn activity(kind: &str, object: &Value, group: i64) -> Option<Activity> {
    let wall = -group;
    let found = |kind, user: i64, object: String, by_object, at| {
        (user > 0).then_some(Activity {
            kind,
            user,
            object,
            by_object,
            at,
        })
    };
    match kind {
        "group_join" => {
            let join_type = object.get("join_type").and_then(Value::as_str);
            if matches!(join_type, Some("request" | "unsure")) {
                return None;
            }
            found(
                SocialKind::GroupJoined,
                int(object, "user_id")?,
                format!("club{group}"),
                false,
                None,
            )
        }
        "group_leave" => found(
            SocialKind::GroupLeft,
            int(object, "user_id")?,
            format!("club{group}"),
            false,
            None,
        ),
        "like_add" | "like_remove" => {
            let on_post = object.get("object_type").and_then(Value::as_str) == Some("post");
            if !on_post || int(object, "object_owner_id")? != wall {
                return None;
            }
            let kind = if kind == "like_add" {
                SocialKind::Like
            } else {
                SocialKind::LikeRemoved
            };
            let post = int(object, "object_id")?;
            found(
                kind,
                int(object, "liker_id")?,
                format!("wall{wall}_{post}"),
                false,
                None,
            )
        }
        "wall_repost" => {
            let original = object.get("copy_history")?.as_array()?.first()?;
            if int(original, "owner_id")? != wall {
                return None;
            }
            let user = int(object, "from_id")
                .filter(|id| *id > 0)
                .or_else(|| int(object, "owner_id"))?;
            found(
                SocialKind::Repost,
                user,
                format!("wall{wall}_{}", int(original, "id")?),
                false,
                None,
            )
        }
        "wall_reply_new" | "wall_reply_restore" => {
            let owner = int(object, "post_owner_id").or_else(|| int(object, "owner_id"))?;
            if owner != wall {
                return None;
            }
            found(
                SocialKind::Comment,
                int(object, "from_id")?,
                format!("wall{wall}_c{}", int(object, "id")?),
                false,
                int(object, "date").map(|s| s.saturating_mul(1000)),
            )
        }
        "wall_reply_delete" => {
            if int(object, "owner_id")? != wall {
                return None;
            }
            let deleter = int(object, "deleter_id")
                .or_else(|| int(object, "user_id"))
                .unwrap_or(0);
            Some(Activity {
                kind: SocialKind::CommentRemoved,
                user: deleter,
                object: format!("wall{wall}_c{}", int(object, "id")?),
                by_object: true,
                at: None,
            })
        }
        _ => None,
    }
}

pub async fn callback(
    State(state): State<AppState>,
    Path(program): Path<i64>,
    body: Bytes,
) -> Response {
    let Ok(callback) = serde_json::from_slice::<Callback>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "not a Callback API request");
    };
    let (rules, settings) = match program_settings(&state, program).await {
        Ok(Some(found)) => found,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "no VK community for this program"),
        Err(error) => {
            tracing::error!("VK callback: {error}");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let (Some(group), Some(confirmation), Some(sealed)) = (
        settings.vk_group_id,
        settings.vk_confirmation,
        settings.sealed_vk_secret,
    ) else {
        return plain(StatusCode::NOT_FOUND, "no VK community for this program");
    };
    if callback.group_id != Some(group) {
        return plain(StatusCode::FORBIDDEN, "another community");
    }
    if callback.kind == "confirmation" {
        return plain(StatusCode::OK, &confirmation);
    }
    let secret = match state.sealer.unseal(&sealed) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!("VK callback: the program's secret does not unseal: {error}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "try again");
        }
    };
    let presented = callback.secret.as_deref().unwrap_or("");
    if !secrets::constant_time_eq(presented, &secret) {
        return plain(StatusCode::FORBIDDEN, "wrong secret");
    }
    let Some(activity) = activity(&callback.kind, &callback.object, group) else {
        return plain(StatusCode::OK, "ok");
    };
    // VK sends a retry with the same event_id; without one, the same content is the same event.
    let content = fingerprint(&[&callback.kind, &callback.object.to_string()]);
    let event_id = match &callback.event_id {
        Some(id) if !id.is_empty() && id.len() <= 100 => format!("vk:{id}"),
        _ => format!("vk:{content}"),
    };
    let at = activity.at.unwrap_or_else(now_ms).min(now_ms());
    let event = NetworkEvent {
        program_id: ProgramId(program),
        utc_offset_minutes: utc_offset_minutes(&rules, at),
        rules,
        event_id,
        at,
        network: Network::Vk,
        kind: activity.kind,
        group: Some(group.to_string()),
        network_user_id: activity.user.to_string(),
        object: activity.object,
        undo_by_object: activity.by_object,
        fingerprint: content,
    };
    match apply(&state.store, event).await {
        Handled::Done => plain(StatusCode::OK, "ok"),
        Handled::Retry => plain(StatusCode::SERVICE_UNAVAILABLE, "try again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_communitys_posts_and_members_count() {
        let like =
            json!({"liker_id": 7, "object_type": "post", "object_owner_id": -5, "object_id": 10});
        assert_eq!(
            activity("like_add", &like, 5),
            Some(Activity {
                kind: SocialKind::Like,
                user: 7,
                object: "wall-5_10".into(),
                by_object: false,
                at: None
            })
        );
        assert_eq!(activity("like_add", &like, 6), None);
        let photo =
            json!({"liker_id": 7, "object_type": "photo", "object_owner_id": -5, "object_id": 10});
        assert_eq!(activity("like_add", &photo, 5), None);
        let request = json!({"user_id": 7, "join_type": "request"});
        assert_eq!(activity("group_join", &request, 5), None);
        let repost = json!({"id": 3, "owner_id": 7, "from_id": 7, "copy_history": [{"id": 10, "owner_id": -5}]});
        assert_eq!(
            activity("wall_repost", &repost, 5).unwrap().object,
            "wall-5_10"
        );
        assert_eq!(activity("message_new", &json!({}), 5), None);
        // A community acting on its own wall is nobody's activity.
        let own = json!({"id": 1, "from_id": -5, "post_id": 10, "owner_id": -5, "date": 1});
        assert_eq!(activity("wall_reply_new", &own, 5), None);
    }
}
