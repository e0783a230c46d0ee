//! The periodic collector (docs/social.md): for networks without push, or as a fallback when
//! the push is missed, a leased periodic job reads each collected program's VK community
//! through the VK API (`groups.getMembers`) and turns the differences from the last round into
//! the same events the Callback API gives (`group_joined`, `group_left`), with ids that name
//! the round, so a round repeated after a failure applies nothing twice.

use super::admin::VK_API;
use super::{apply, utc_offset_minutes, Handled};
use crate::secrets::Sealer;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::offers::{Network, SocialKind};
use kopilka_store::social::NetworkEvent;
use kopilka_store::{SharedStore, StoreError};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// The VK API version the collector speaks.
const VK_VERSION: &str = "5.199";
/// Members per `groups.getMembers` page: VK's most.
const PAGE: usize = 1000;
/// A community larger than this is not collected (a round would take too long).
const MAX_MEMBERS: usize = 200_000;
const TIMEOUT: Duration = Duration::from_secs(10);

/// One round over every collected program; how many events it applied. A program whose round
/// fails is logged and tried again next round; the others go on.
pub async fn collect_once(
    store: &SharedStore,
    sealer: &Sealer,
    now: i64,
) -> Result<usize, StoreError> {
    let programs = store
        .read(|tx| Box::pin(async move { tx.collected_programs().await }))
        .await?;
    let mut applied = 0;
    for program in programs {
        match collect_program(store, sealer, program, now).await {
            Ok(count) => applied += count,
            Err(error) => tracing::warn!(program = program.0, "social collector: {error}"),
        }
    }
    Ok(applied)
}

async fn collect_program(
    store: &SharedStore,
    sealer: &Sealer,
    program_id: ProgramId,
    now: i64,
) -> Result<usize, String> {
    let found = store
        .read(move |tx| {
            Box::pin(async move {
                let Some(program) = tx.program(program_id).await? else {
                    return Ok(None);
                };
                Ok(tx
                    .social_settings(program_id)
                    .await?
                    .map(|settings| (program.rules, settings)))
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some((rules, settings)) = found else {
        return Ok(0);
    };
    let (Some(group), Some(sealed)) = (settings.vk_group_id, settings.sealed_vk_access_token)
    else {
        return Ok(0);
    };
    let token = sealer
        .unseal(&sealed)
        .map_err(|_| "the VK access token does not unseal".to_string())?;
    let api = settings.vk_api_url.as_deref().unwrap_or(VK_API);
    let members = members(api, &token, group).await?;
    let subject = format!("members:{group}");
    let subject_read = subject.clone();
    let last = store
        .read(move |tx| {
            Box::pin(async move {
                tx.collector_round(program_id, Network::Vk, &subject_read)
                    .await
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    let members: Vec<String> = members.into_iter().collect();
    let Some((seen, round)) = last else {
        // The first round only learns who is there: joining before kopilka looked is no event.
        save(store, program_id, subject, members, 0).await?;
        return Ok(0);
    };
    let seen: BTreeSet<&String> = seen.iter().collect();
    let now_members: BTreeSet<&String> = members.iter().collect();
    let changes: Vec<(SocialKind, &str)> = now_members
        .difference(&seen)
        .map(|user| (SocialKind::GroupJoined, user.as_str()))
        .chain(
            seen.difference(&now_members)
                .map(|user| (SocialKind::GroupLeft, user.as_str())),
        )
        .collect();
    if changes.is_empty() {
        return Ok(0);
    }
    let round = round + 1;
    for (kind, user) in &changes {
        let what = if *kind == SocialKind::GroupJoined {
            "joined"
        } else {
            "left"
        };
        let event_id = format!("vk-members:{group}:{round}:{what}:{user}");
        let event = NetworkEvent {
            program_id,
            rules: rules.clone(),
            utc_offset_minutes: utc_offset_minutes(&rules, now),
            fingerprint: event_id.clone(),
            event_id,
            at: now,
            network: Network::Vk,
            kind: *kind,
            group: Some(group.to_string()),
            network_user_id: user.to_string(),
            object: format!("club{group}"),
            undo_by_object: false,
        };
        if let Handled::Retry = apply(store, event).await {
            // The round is kept unsaved: the next one finds the same differences under the
            // same ids, and what was applied is recognised.
            return Err("the database failed; the round is repeated".into());
        }
    }
    let count = changes.len();
    save(store, program_id, subject, members, round).await?;
    Ok(count)
}

async fn save(
    store: &SharedStore,
    program_id: ProgramId,
    subject: String,
    members: Vec<String>,
    round: i64,
) -> Result<(), String> {
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.save_collector_round(program_id, Network::Vk, &subject, &members, round)
                    .await
            })
        })
        .await
        .map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct Answer {
    response: Option<Members>,
    error: Option<VkError>,
}

#[derive(Deserialize)]
struct Members {
    count: usize,
    items: Vec<i64>,
}

#[derive(Deserialize)]
struct VkError {
    error_code: i64,
    error_msg: String,
}

/// The community's members, page by page (`groups.getMembers`).
async fn members(api: &str, token: &str, group: i64) -> Result<BTreeSet<String>, String> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut members = BTreeSet::new();
    let mut offset = 0;
    loop {
        let answer: Answer = http
            .post(format!("{api}/groups.getMembers"))
            .form(&[
                ("group_id", group.to_string()),
                ("offset", offset.to_string()),
                ("count", PAGE.to_string()),
                ("access_token", token.to_string()),
                ("v", VK_VERSION.to_string()),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("VK API: {}", e.without_url()))?
            .json()
            .await
            .map_err(|e| format!("VK API answer: {e}"))?;
        let page = match (answer.response, answer.error) {
            (Some(page), _) => page,
            (None, Some(error)) => {
                return Err(format!(
                    "VK API error {}: {}",
                    error.error_code, error.error_msg
                ))
            }
            (None, None) => return Err("VK API answered neither response nor error".into()),
        };
        if page.count > MAX_MEMBERS {
            return Err(format!("{} members: more than collected", page.count));
        }
        let read = page.items.len();
        members.extend(page.items.into_iter().map(|id| id.to_string()));
        offset += read;
        if read == 0 || offset >= page.count {
            return Ok(members);
        }
    }
}
