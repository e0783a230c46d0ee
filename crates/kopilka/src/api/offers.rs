//! Offers and social-network events (docs/offers.md): versions of a program's offers, and the
//! event API for networks without push and for collectors, applied once per event id.

use crate::http::{ApiError, ApiResult};
use crate::http::{Id, JsonBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Offset, TimeZone};
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::ledger::fingerprint;
use kopilka_domain::offers::{
    Customer, Effect, Event, Network, Offer, SocialEvent, SocialKind, TraceEntry, Trigger,
};
use kopilka_domain::program::ProgramRules;
use kopilka_store::offers::{apply_event, Applied, EventRequest};
use serde::{Deserialize, Serialize};

/// What identifies an event or a group: as long as VK's and Facebook's ids get.
const MAX_ID_CHARS: usize = 200;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Unique per program for one real event (the network's event id, or the collector's
    /// idempotency key): a repeat answers what the first applied and changes nothing.
    pub event_id: String,
    /// `vk`, `odnoklassniki`, `facebook`, `instagram` or `moi_mir`.
    #[schema(value_type = String)]
    pub network: Network,
    /// `profile_linked`, `group_joined`, `group_left`, `like`, `like_removed`, `comment`,
    /// `comment_removed`, `repost`, `repost_removed`.
    #[schema(value_type = String)]
    pub kind: SocialKind,
    pub customer_id: i64,
    /// The group (community, page) the activity is in; none for linking a profile.
    #[serde(default)]
    pub group: Option<String>,
    /// When it happened on the network, unix ms: offers, limits' periods and time windows are
    /// those of this instant.
    pub occurred_at: i64,
    /// For a removal or leaving: the `event_id` of the event it undoes (the like, the repost,
    /// the join), whose bonuses are taken back once.
    #[serde(default)]
    pub undoes: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub event_id: String,
    /// Every effect, keyed (event, offer, action, line): accruals, withdrawals, take-backs.
    #[schema(value_type = Vec<Object>)]
    pub effects: Vec<Effect>,
    /// Why each offer did or did not apply.
    #[schema(value_type = Vec<Object>)]
    pub trace: Vec<TraceEntry>,
    /// The ledger operations the effects posted.
    pub operations: Vec<i64>,
    /// True when the event id was applied before and nothing changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

async fn program_rules(state: &AppState, id: i64) -> ApiResult<ProgramRules> {
    let program = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(id)).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    Ok(program.rules)
}

#[utoipa::path(post, path = "/v1/programs/{id}/offers",
    request_body(content = Object, description = "One version of an offer (docs/offers.md): id, version, name, effective_from, triggers, conditions, actions, limits"),
    responses((status = 201, body = Object), (status = 404, body = crate::http::ErrorBody),
        (status = 409, description = "that version exists", body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(offer): JsonBody<Offer>,
) -> ApiResult<(StatusCode, Json<Offer>)> {
    offer.validate()?;
    program_rules(&state, id).await?;
    let stored = offer.clone();
    state
        .store
        .write(move |tx| Box::pin(async move { tx.create_offer(ProgramId(id), &stored).await }))
        .await?;
    Ok((StatusCode::CREATED, Json(offer)))
}

#[utoipa::path(get, path = "/v1/programs/{id}/offers",
    responses((status = 200, description = "Every version of every offer, by id and version", body = [Object]),
        (status = 404, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn list(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Vec<Offer>>> {
    program_rules(&state, id).await?;
    let offers = state
        .store
        .read(move |tx| Box::pin(async move { tx.offers(ProgramId(id)).await }))
        .await?;
    Ok(Json(offers))
}

#[utoipa::path(post, path = "/v1/programs/{id}/events", request_body = EventInput,
    responses((status = 201, body = EventView), (status = 200, description = "a repeat", body = EventView),
        (status = 404, body = crate::http::ErrorBody),
        (status = 409, description = "the event id with other content, or too few points to take back", body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn event(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<EventInput>,
) -> ApiResult<(StatusCode, Json<EventView>)> {
    let text_field = |field: &str, value: &str| {
        if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
            return Err(ApiError::invalid(
                field,
                format!("must be 1 to {MAX_ID_CHARS} characters"),
            ));
        }
        Ok(())
    };
    text_field("event_id", &input.event_id)?;
    if let Some(group) = &input.group {
        text_field("group", group)?;
    }
    if let Some(undoes) = &input.undoes {
        text_field("undoes", undoes)?;
    }
    let occurred = chrono::DateTime::from_timestamp_millis(input.occurred_at)
        .ok_or_else(|| ApiError::invalid("occurred_at", "unix milliseconds, in range"))?;
    let rules = program_rules(&state, id).await?;
    let customer_id = input.customer_id;
    let customer = state
        .store
        .read(move |tx| Box::pin(async move { tx.customer(CustomerId(customer_id)).await }))
        .await?
        .filter(|c| c.program_id == ProgramId(id))
        .ok_or_else(|| ApiError::invalid("customer_id", "no such customer in the program"))?;
    // Periods and time windows are the program's local calendar at the event's instant.
    let zone: chrono_tz::Tz = rules
        .time_zone
        .parse()
        .map_err(|_| ApiError::internal("the program's time zone does not parse"))?;
    let utc_offset_minutes = zone
        .offset_from_utc_datetime(&occurred.naive_utc())
        .fix()
        .local_minus_utc()
        / 60;
    let fingerprint = fingerprint(&[
        &input.customer_id.to_string(),
        &serde_json::to_string(&(input.network, input.kind)).unwrap_or_default(),
        input.group.as_deref().unwrap_or(""),
        &input.occurred_at.to_string(),
        input.undoes.as_deref().unwrap_or(""),
    ]);
    let request = EventRequest {
        program_id: ProgramId(id),
        rules,
        customer: Customer {
            id: customer.id,
            utc_offset_minutes,
            ..Customer::default()
        },
        trigger: Trigger {
            event_id: input.event_id.clone(),
            at: input.occurred_at,
            event: Event::Social(SocialEvent {
                network: input.network,
                kind: input.kind,
                group: input.group,
            }),
            undoes: Vec::new(),
        },
        undoes: input.undoes,
        fingerprint,
    };
    let Applied { result, replayed } = state
        .store
        .write_retrying(|| {
            let request = request.clone();
            move |tx| Box::pin(async move { apply_event(tx, request).await })
        })
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(EventView {
            event_id: input.event_id,
            effects: result.effects,
            trace: result.trace,
            operations: result.operations.iter().map(|id| id.0).collect(),
            replayed,
        }),
    ))
}
