//! Offers and social-network events (docs/offers.md): versions of a program's offers, and the
//! event API for networks without push and for collectors, applied once per event id.

use crate::http::{ApiError, ApiResult};
use crate::http::{Id, JsonBody, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::ledger::fingerprint;
use kopilka_domain::offers::{
    evaluate, usage_keys, Effect, Event, Network, Offer, SocialEvent, SocialKind, TraceEntry,
    Trigger,
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
    if offer.id.0 <= 0 {
        // Below zero are the program's purchase rules read as offers.
        return Err(ApiError::invalid("id", "must be positive"));
    }
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
    chrono::DateTime::from_timestamp_millis(input.occurred_at)
        .ok_or_else(|| ApiError::invalid("occurred_at", "unix milliseconds, in range"))?;
    let rules = program_rules(&state, id).await?;
    let customer_id = input.customer_id;
    let customer = state
        .store
        .read(move |tx| Box::pin(async move { tx.customer(CustomerId(customer_id)).await }))
        .await?
        .filter(|c| c.program_id == ProgramId(id))
        .ok_or_else(|| ApiError::invalid("customer_id", "no such customer in the program"))?;
    if rules.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::internal("the program's time zone does not parse"));
    }
    let fingerprint = fingerprint(&[
        &input.customer_id.to_string(),
        &serde_json::to_string(&(input.network, input.kind)).unwrap_or_default(),
        input.group.as_deref().unwrap_or(""),
        &input.occurred_at.to_string(),
        input.undoes.as_deref().unwrap_or(""),
    ]);
    let request = EventRequest {
        program_id: ProgramId(id),
        customer: crate::offers::customer_at(&rules, customer.id, input.occurred_at),
        rules,
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    /// The program the offer belongs to (offer ids are the program's own).
    pub program: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionsView {
    pub offer: i64,
    /// The version in force now, if one is.
    pub in_force: Option<u32>,
    /// Every version, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<Offer>,
}

#[utoipa::path(get, path = "/v1/offers/{id}/versions", params(("id" = i64, Path, description = "The offer's id"), VersionsQuery),
    responses((status = 200, body = VersionsView), (status = 404, body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(query): QueryParams<VersionsQuery>,
) -> ApiResult<Json<VersionsView>> {
    program_rules(&state, query.program).await?;
    let program_id = ProgramId(query.program);
    let (offers, now) = state
        .store
        .read(move |tx| Box::pin(async move { Ok((tx.offers(program_id).await?, tx.now())) }))
        .await?;
    let versions: Vec<Offer> = offers.into_iter().filter(|o| o.id.0 == id).collect();
    if versions.is_empty() {
        return Err(ApiError::not_found("offer"));
    }
    Ok(Json(VersionsView {
        offer: id,
        in_force: in_force(&versions, now),
        versions,
    }))
}

/// The version in force at `at`, as the engine picks it.
fn in_force(versions: &[Offer], at: i64) -> Option<u32> {
    versions
        .iter()
        .filter(|o| o.effective_from <= at)
        .max_by_key(|o| (o.effective_from, o.version))
        .filter(|o| o.effective_to.is_none_or(|to| to > at))
        .map(|o| o.version)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CounterView {
    pub name: String,
    pub value: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CountersView {
    pub customer_id: i64,
    /// The customer's counters offers keep, by name.
    pub counters: Vec<CounterView>,
}

#[utoipa::path(get, path = "/v1/customers/{id}/counters", params(("id" = i64, Path, description = "The customer's id")),
    responses((status = 200, body = CountersView), (status = 404, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn counters(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<CountersView>> {
    let counters = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(customer) = tx.customer(CustomerId(id)).await? else {
                    return Ok(None);
                };
                Ok(Some(
                    tx.offer_counters(customer.program_id, customer.id).await?,
                ))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(CountersView {
        customer_id: id,
        counters: counters
            .into_iter()
            .map(|(name, value)| CounterView { name, value })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The customer (the offer is of the customer's program).
    pub customer: i64,
    /// An event recorded for the customer (its `event_id`): the trace recorded then. Or a
    /// trigger to evaluate now, without effect: `registration`, `card_activated`, or a social
    /// kind (`like`, `group_joined`, …) with `network`.
    pub event: String,
    /// For a social kind: `vk`, `odnoklassniki`, `facebook`, `instagram` or `moi_mir`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub network: Option<Network>,
    /// For a social kind: the group.
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExplainView {
    pub offer: i64,
    pub customer_id: i64,
    pub event: String,
    /// `recorded`: the trace of the event as it was applied; `now`: evaluated now, nothing
    /// written.
    pub evaluated: &'static str,
    /// Why the offer did or did not apply (`outcome`), with the version considered.
    #[schema(value_type = Object)]
    pub trace: Option<TraceEntry>,
    /// The version considered, with its conditions and limits (what the trace's indexes name).
    #[schema(value_type = Object)]
    pub version: Option<Offer>,
    /// What the offer gave on the event.
    #[schema(value_type = Vec<Object>)]
    pub effects: Vec<Effect>,
}

#[utoipa::path(get, path = "/v1/offers/{id}/explain", params(("id" = i64, Path, description = "The offer's id"), ExplainQuery),
    responses((status = 200, body = ExplainView),
        (status = 404, description = "no such customer, offer or event", body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)),
    security(("admin" = [])))]
pub async fn explain(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(query): QueryParams<ExplainQuery>,
) -> ApiResult<Json<ExplainView>> {
    if query.event.is_empty() || query.event.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::invalid(
            "event",
            format!("must be 1 to {MAX_ID_CHARS} characters"),
        ));
    }
    let customer_id = CustomerId(query.customer);
    let event_id = query.event.clone();
    let (customer, offers, recorded, now) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let Some(customer) = tx.customer(customer_id).await? else {
                    return Ok(None);
                };
                let offers = tx.offers(customer.program_id).await?;
                let recorded = tx.offer_event(customer.program_id, &event_id).await?;
                Ok(Some((customer, offers, recorded, tx.now())))
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    if !offers.iter().any(|o| o.id.0 == id) {
        return Err(ApiError::not_found("offer"));
    }
    let version_of = |version: Option<u32>| {
        offers
            .iter()
            .find(|o| o.id.0 == id && Some(o.version) == version)
            .cloned()
    };
    let view = |evaluated, trace: Option<TraceEntry>, effects: Vec<Effect>| ExplainView {
        offer: id,
        customer_id: customer.id.0,
        event: query.event.clone(),
        evaluated,
        version: version_of(trace.as_ref().and_then(|t| t.version)),
        effects: effects
            .into_iter()
            .filter(|e| e.key.offer.0 == id)
            .collect(),
        trace,
    };
    if let Some((_, result)) = recorded.filter(|(owner, _)| *owner == customer.id) {
        let trace = result.trace.into_iter().find(|t| t.offer.0 == id);
        return Ok(Json(view("recorded", trace, result.effects)));
    }
    let event = match query.event.as_str() {
        "registration" => Event::Registration,
        "card_activated" => Event::CardActivated,
        kind => {
            let kind: SocialKind = serde_json::from_value(serde_json::json!(kind))
                .map_err(|_| ApiError::not_found("event"))?;
            let network = query.network.ok_or_else(|| {
                ApiError::invalid("network", "required to evaluate a social event")
            })?;
            Event::Social(SocialEvent {
                network,
                kind,
                group: query.group.clone(),
            })
        }
    };
    let rules = program_rules(&state, customer.program_id.0).await?;
    let trigger = Trigger {
        event_id: format!("explain:{}", query.event),
        at: now,
        event,
        undoes: Vec::new(),
    };
    let offer_customer = crate::offers::customer_at(&rules, customer.id, now);
    let keys = usage_keys(&offers, &trigger, &offer_customer, now)?;
    let (program_id, for_usage) = (customer.program_id, offer_customer.id);
    let usage = state
        .store
        .read(move |tx| Box::pin(async move { tx.offer_usage(program_id, for_usage, keys).await }))
        .await?;
    let evaluation = evaluate(&offers, &trigger, &offer_customer, &usage, now)?;
    let trace = evaluation.trace.into_iter().find(|t| t.offer.0 == id);
    Ok(Json(view("now", trace, evaluation.effects)))
}
