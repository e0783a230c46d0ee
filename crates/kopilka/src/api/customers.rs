use crate::http::export::{self, Cell, ExportFormat, ExportOptions, Page, Table};
use crate::http::operator::Principal;
use crate::http::{ApiError, ApiResult};
use crate::http::{DecimalInput, Id, JsonBody, PageOf, Paging, QueryParams};
use crate::secrets;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kopilka_domain::customer;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::ledger::{OperationKind, Owner};
use kopilka_domain::money::format_decimal;
use kopilka_domain::offers::Network;
use kopilka_domain::phone::Phone;
use kopilka_domain::program::ProgramRules;
use kopilka_domain::{Amount, DomainError};
use kopilka_store::customers::{self as care, CustomerFilter, CustomerWithBalances};
use kopilka_store::entities::NewCustomer;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::model::{Card, CardKind, Customer, CustomerState, Program};
use kopilka_store::{StoreResult, Tx};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub program_id: i64,
    /// As the program's customers write it ("067 111 11 11" in a program of region UA), or
    /// with the country code; stored as E.164.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birthday: Option<String>,
    /// A JSON object of the program's own fields (at most 50 keys, 8 KiB).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
    /// The spend PIN ("пароль на трату бонусов"); stored hashed.
    #[serde(default)]
    pub pin: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub member_no: Option<String>,
    /// An opening balance, accrued as an operation of its own.
    #[serde(default)]
    pub opening_balance: Option<DecimalInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub program_id: i64,
    /// Masked: `***` and the last four digits.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub member_no: String,
    /// `registering`, `active`, `blocked`, `merged` or `anonymised`.
    pub state: String,
    pub blocked_reason: Option<String>,
    /// The customer this one was merged into.
    pub merged_into: Option<i64>,
    /// When the customer was merged or anonymised (unix milliseconds).
    pub closed_at: Option<i64>,
    pub has_pin: bool,
    pub has_password: bool,
    pub created_at: i64,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        CustomerView {
            phone: c.phone.as_deref().map(kopilka_domain::phone::mask),
            has_pin: c.pin_hash.is_some(),
            has_password: c.password_hash.is_some(),
            id: c.id.0,
            program_id: c.program_id.0,
            email: c.email,
            name: c.name,
            birthday: c.birthday,
            attributes: c.profile,
            member_no: c.member_no,
            state: c.state.as_str().to_string(),
            blocked_reason: c.blocked_reason,
            merged_into: c.merged_into.map(|id| id.0),
            closed_at: c.closed_at,
            created_at: c.created_at,
        }
    }
}

/// A customer in a search's answer, with their balances.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerListItem {
    #[serde(flatten)]
    pub customer: CustomerView,
    /// One per currency the customer holds; the program's, at zero, when none.
    pub balances: Vec<BalanceView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    pub program_id: Option<i64>,
    /// The whole number, as the program's customers write it (with `program_id`) or with its
    /// country code.
    pub phone: Option<String>,
    /// The whole address, in any case.
    pub email: Option<String>,
    /// A card's whole number.
    pub card: Option<String>,
    pub member_no: Option<String>,
    /// A part of the name, in any case (2 to 100 characters).
    pub name: Option<String>,
    /// `registering`, `active`, `blocked`, `merged` or `anonymised`.
    pub state: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

impl CustomerQuery {
    /// The search the listing and its exports share: every filter given must match.
    async fn filter(&self, state: &AppState) -> ApiResult<CustomerFilter> {
        let program = match self.program_id {
            Some(id) => Some(
                state
                    .store
                    .read(move |tx| Box::pin(async move { tx.program(ProgramId(id)).await }))
                    .await?
                    .ok_or_else(|| ApiError::invalid("program_id", "no such program"))?,
            ),
            None => None,
        };
        let phone = match &self.phone {
            Some(p) => Some(parse_phone(program.as_ref(), p)?.digits().to_string()),
            None => None,
        };
        if let Some(name) = &self.name {
            if !(2..=100).contains(&name.trim().chars().count()) {
                return Err(ApiError::invalid("name", "2 to 100 characters"));
            }
        }
        for (field, value) in [
            ("card", &self.card),
            ("member_no", &self.member_no),
            ("email", &self.email),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 254)
            {
                return Err(ApiError::invalid(field, "1 to 254 characters"));
            }
        }
        Ok(CustomerFilter {
            program_id: self.program_id.map(ProgramId),
            phone,
            email: self.email.as_ref().map(|e| e.trim().to_string()),
            card_number: self.card.clone(),
            member_no: self.member_no.clone(),
            name: self.name.as_ref().map(|n| n.trim().to_string()),
            state: match &self.state {
                Some(s) => Some(CustomerState::parse(s).ok_or_else(|| {
                    ApiError::invalid(
                        "state",
                        "registering, active, blocked, merged or anonymised",
                    )
                })?),
                None => None,
            },
        })
    }
}

/// Searches customers: every filter given must match; newest first, with balances.
#[utoipa::path(get, path = "/v1/customers", params(CustomerQuery), responses((status = 200, body = PageOf<CustomerListItem>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CustomerQuery>,
) -> ApiResult<Json<PageOf<CustomerListItem>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let filter = query.filter(&state).await?;
    let before = query.cursor.map(CustomerId);
    let (found, programs) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                Ok((
                    care::search(tx, &filter, before, limit).await?,
                    tx.programs().await?,
                ))
            })
        })
        .await?;
    let items = found
        .into_iter()
        .map(|found| {
            let rules = programs
                .iter()
                .find(|p| p.id == found.customer.program_id)
                .map(|p| p.rules.clone())
                .unwrap_or_default();
            list_item(found, &rules)
        })
        .collect();
    Ok(Json(PageOf::new(items, limit, |c| c.customer.id)))
}

fn list_item(found: CustomerWithBalances, rules: &ProgramRules) -> CustomerListItem {
    let mut balances: Vec<BalanceView> = found
        .balances
        .iter()
        .map(|(currency, balance, held)| balance_view(currency, *balance, *held, rules.decimals))
        .collect();
    if balances.is_empty() {
        balances.push(balance_view(&rules.currency, 0, 0, rules.decimals));
    }
    CustomerListItem {
        customer: found.customer.into(),
        balances,
    }
}

/// A phone as the program's customers write it, or with its country code when no program
/// is known.
fn parse_phone(program: Option<&Program>, text: &str) -> Result<Phone, DomainError> {
    match program {
        Some(p) => p.rules.parse_phone(text),
        None => Phone::parse(text),
    }
}

/// The personal data of a create or an update, checked.
struct Personal {
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    name: Option<Option<String>>,
    birthday: Option<Option<String>>,
    attributes: Option<serde_json::Value>,
}

impl Personal {
    fn check(
        rules: &ProgramRules,
        phone: Option<Option<&str>>,
        email: Option<Option<&str>>,
        name: Option<Option<&str>>,
        birthday: Option<Option<&str>>,
        attributes: Option<&serde_json::Value>,
    ) -> Result<Personal, DomainError> {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        Ok(Personal {
            phone: match phone {
                Some(Some(p)) => Some(Some(rules.parse_phone(p)?.digits().to_string())),
                Some(None) => Some(None),
                None => None,
            },
            email: match email {
                Some(Some(e)) => Some(Some(customer::parse_email(e)?)),
                other => other.map(|_| None),
            },
            name: match name {
                Some(Some(n)) => Some(Some(customer::parse_name(n)?)),
                other => other.map(|_| None),
            },
            birthday: match birthday {
                Some(Some(b)) => Some(Some(customer::parse_birthday(b, &today)?)),
                other => other.map(|_| None),
            },
            attributes: match attributes {
                Some(a) => {
                    customer::check_attributes(a)?;
                    Some(a.clone())
                }
                None => None,
            },
        })
    }

    /// Writes the data onto `customer`, in the transaction that checks the phone is free.
    async fn apply(self, tx: &mut Tx, customer: &mut Customer) -> StoreResult<()> {
        if let Some(Some(phone)) = &self.phone {
            if tx
                .customer_by_phone(customer.program_id, phone)
                .await?
                .is_some_and(|other| other.id != customer.id)
            {
                return Err(DomainError::AlreadyExists {
                    entity: "customer with this phone",
                }
                .into());
            }
        }
        if let Some(phone) = self.phone {
            customer.phone = phone;
        }
        if let Some(email) = self.email {
            customer.email = email;
        }
        if let Some(name) = self.name {
            customer.name = name;
        }
        if let Some(birthday) = self.birthday {
            customer.birthday = birthday;
        }
        if let Some(attributes) = self.attributes {
            customer.profile = attributes;
        }
        Ok(())
    }
}

async fn program_of(state: &AppState, program_id: i64) -> ApiResult<Program> {
    state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(program_id)).await }))
        .await?
        .ok_or_else(|| ApiError::invalid("program_id", "no such program"))
}

#[utoipa::path(post, path = "/v1/customers", request_body = CustomerInput, responses((status = 201, body = CustomerView), (status = 409, body = crate::http::ErrorBody), (status = 422, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(input): JsonBody<CustomerInput>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    if let Some(pin) = &input.pin {
        if pin.len() < 4 || pin.len() > 64 {
            return Err(ApiError::invalid("pin", "must be 4 to 64 characters"));
        }
    }
    let program_id = input.program_id;
    if !principal.scope().covers(program_id) {
        return Err(ApiError::invalid("program_id", "no such program"));
    }
    let program = program_of(&state, program_id).await?;
    let rules = program.rules.clone();
    let personal = Personal::check(
        &rules,
        input.phone.as_deref().map(Some),
        input.email.as_deref().map(Some),
        input.name.as_deref().map(Some),
        input.birthday.as_deref().map(Some),
        input.attributes.as_ref(),
    )?;
    let opening = match &input.opening_balance {
        Some(d) => Some(d.parse_positive("opening_balance", rules.decimals)?),
        None => None,
    };
    let pin_hash = match input.pin.clone() {
        Some(pin) => Some(secrets::hash_secret_async(pin).await),
        None => None,
    };
    let password_hash = match input.password.clone() {
        Some(p) => Some(secrets::hash_secret_async(p).await),
        None => None,
    };
    let new = NewCustomer {
        password_hash,
        pin_hash,
        member_no: input.member_no.clone(),
        ..NewCustomer::active(ProgramId(program_id), None)
    };
    let customer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut customer = tx.create_customer(&new).await?;
                personal.apply(tx, &mut customer).await?;
                tx.update_customer(&customer).await?;
                if let Some(amount) = opening {
                    ledger::execute(
                        tx,
                        LedgerRequest {
                            program_id: ProgramId(program_id),
                            currency: rules.currency.clone(),
                            merchant_id: None,
                            protocol: "native".into(),
                            idempotency: None,
                            description: Some("opening balance".into()),
                            details: serde_json::json!({}),
                            action: Action::Credit {
                                kind: OperationKind::Accrue,
                                customer_id: customer.id,
                                amount,
                                expires_at: rules.expiry_for(tx.now()),
                            },
                        },
                    )
                    .await?;
                }
                Ok(customer)
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(customer.into())))
}

#[utoipa::path(get, path = "/v1/customers/{id}", responses((status = 200, body = CustomerView), (status = 404, body = crate::http::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<CustomerView>> {
    let customer = state
        .store
        .read(move |tx| Box::pin(async move { tx.customer(CustomerId(id)).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(customer.into()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LotQuery {
    /// The `next_cursor` of the page before (a lot's id).
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

/// Points a customer still holds from one credit, and when they expire.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LotView {
    pub id: i64,
    pub program_id: i64,
    pub currency: String,
    /// The operation that credited the lot (an accrual, a merge, a reversal of a spend…).
    pub operation_id: i64,
    /// What the operation credited, and what is left of it (decimal strings).
    pub amount: String,
    pub remaining: String,
    pub amount_minor: i64,
    pub remaining_minor: i64,
    /// When it was credited (unix milliseconds).
    pub earned_at: i64,
    /// When what is left expires (unix milliseconds); null never.
    pub expires_at: Option<i64>,
    /// Past its expiry: the expiry job burns it on its next run (it still counts in the
    /// balance until then, and is spent first).
    pub expired: bool,
}

/// The customer's lots with points left, soonest expiry first (never-expiring last): the order
/// they are spent in. Their `remaining` add up to the balance. Keyset pages.
#[utoipa::path(get, path = "/v1/customers/{id}/lots", params(LotQuery), responses((status = 200, body = PageOf<LotView>), (status = 404, body = crate::http::ErrorBody)))]
pub async fn lots(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(query): QueryParams<LotQuery>,
) -> ApiResult<Json<PageOf<LotView>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let (program, lots, now) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let customer = existing(tx, id).await?;
                let program = tx.program(customer.program_id).await?;
                let lots = care::open_lots(tx, customer.id, query.cursor, limit).await?;
                Ok((program, lots, tx.now()))
            })
        })
        .await?;
    let decimals = program.map(|p| p.rules.decimals).unwrap_or_default();
    let items = lots
        .into_iter()
        .map(|lot| LotView {
            id: lot.id,
            program_id: lot.program_id.0,
            operation_id: lot.origin.0,
            amount: format_decimal(Amount(lot.amount), decimals),
            remaining: format_decimal(Amount(lot.remaining), decimals),
            amount_minor: lot.amount,
            remaining_minor: lot.remaining,
            earned_at: lot.created_at,
            expires_at: lot.expires_at,
            expired: lot.expires_at.is_some_and(|at| at <= now),
            currency: lot.currency,
        })
        .collect();
    Ok(Json(PageOf::new(items, limit, |lot| lot.id)))
}

/// A social network profile linked to the customer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    /// `vk`, `odnoklassniki`, `facebook`, `instagram` or `moi_mir`.
    #[schema(value_type = String)]
    pub network: Network,
    /// The customer's id in that network.
    pub network_user_id: String,
    /// Unix milliseconds.
    pub linked_at: i64,
}

/// The social network profiles linked to the customer (one per network at most).
#[utoipa::path(get, path = "/v1/customers/{id}/identities", responses((status = 200, body = [IdentityView]), (status = 404, body = crate::http::ErrorBody)))]
pub async fn identities(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<IdentityView>>> {
    let linked = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let customer = existing(tx, id).await?;
                tx.social_identities_of(customer.id).await
            })
        })
        .await?;
    Ok(Json(
        linked
            .into_iter()
            .map(|l| IdentityView {
                network: l.network,
                network_user_id: l.network_user_id,
                linked_at: l.linked_at,
            })
            .collect(),
    ))
}

/// `Some(None)` for a field sent as `null`, `None` for a field left out.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The fields to change; one left out stays, `null` removes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    /// As the program's customers write it, or with the country code.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub birthday: Option<Option<String>>,
    /// Replaces every attribute.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

/// Changes a customer's personal data, checked as on create (the phone stays unique in the
/// program). A merged or anonymised customer is closed: 409.
#[utoipa::path(patch, path = "/v1/customers/{id}", request_body = CustomerUpdate, responses((status = 200, body = CustomerView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<CustomerUpdate>,
) -> ApiResult<Json<CustomerView>> {
    let program = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                match tx.customer(CustomerId(id)).await? {
                    Some(c) => tx.program(c.program_id).await,
                    None => Ok(None),
                }
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    let personal = Personal::check(
        &program.rules,
        input.phone.as_ref().map(Option::as_deref),
        input.email.as_ref().map(Option::as_deref),
        input.name.as_ref().map(Option::as_deref),
        input.birthday.as_ref().map(Option::as_deref),
        input.attributes.as_ref(),
    )?;
    let customer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut customer = existing(tx, id).await?;
                customer.standing().may_resolve()?;
                personal.apply(tx, &mut customer).await?;
                tx.update_customer(&customer).await?;
                Ok(customer)
            })
        })
        .await?;
    Ok(Json(customer.into()))
}

async fn existing(tx: &mut Tx, id: i64) -> StoreResult<Customer> {
    Ok(tx
        .customer(CustomerId(id))
        .await?
        .ok_or(DomainError::NotFound { entity: "customer" })?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockInput {
    /// Why (kept with the customer, shown to operators; up to 500 characters).
    pub reason: String,
}

/// Blocks a customer: no protocol lets them earn, redeem or transfer until unblocked;
/// reads stay. Blocking a blocked customer replaces the reason.
#[utoipa::path(post, path = "/v1/customers/{id}/block", request_body = BlockInput, responses((status = 200, body = CustomerView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<BlockInput>,
) -> ApiResult<Json<CustomerView>> {
    let reason = input.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > customer::MAX_BLOCK_REASON {
        return Err(ApiError::invalid("reason", "1 to 500 characters"));
    }
    set_blocked(&state, id, Some(reason)).await
}

/// Lifts a block; unblocking an active customer changes nothing.
#[utoipa::path(post, path = "/v1/customers/{id}/unblock", responses((status = 200, body = CustomerView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn unblock(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<CustomerView>> {
    set_blocked(&state, id, None).await
}

async fn set_blocked(
    state: &AppState,
    id: i64,
    reason: Option<String>,
) -> ApiResult<Json<CustomerView>> {
    let customer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut customer = existing(tx, id).await?;
                customer.standing().may_resolve()?;
                // Blocking is a state of its own; a registering customer unblocked is active.
                customer.state = match reason {
                    Some(_) => CustomerState::Blocked,
                    None if customer.state == CustomerState::Blocked => CustomerState::Active,
                    None => customer.state,
                };
                customer.blocked_reason = reason;
                tx.update_customer(&customer).await?;
                Ok(customer)
            })
        })
        .await?;
    Ok(Json(customer.into()))
}

/// Anonymises a customer on request (erasure): pending holds are voided and the balance is
/// burned by a `withdraw` ("customer anonymised: balance burned"), then the name, phone,
/// e-mail, birthday, attributes, secrets, message recipients and texts, codes and sessions
/// are removed. Operations stay, under the customer's id. Irreversible; repeating it
/// changes nothing.
#[utoipa::path(post, path = "/v1/customers/{id}/anonymise", responses((status = 200, body = CustomerView)))]
pub async fn anonymise(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<CustomerView>> {
    let customer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                care::anonymise(tx, CustomerId(id)).await?;
                existing(tx, id).await
            })
        })
        .await?;
    tracing::info!(customer_id = id, "customer anonymised");
    Ok(Json(customer.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The customer merged away (closed).
    pub source_id: i64,
    /// The customer who keeps everything.
    pub target_id: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MergeView {
    pub target: CustomerView,
    /// The `merge` operations written (one per currency with points); empty on a repeat.
    pub operation_ids: Vec<i64>,
    /// True when the source was already merged into the target.
    pub replayed: bool,
}

/// Merges two customers of one program: the source's points move to the target through
/// `merge` operations (lots keep their expiry), its cards follow, its phone and e-mail lead
/// to the target, and it is closed. Repeating a merge answers it as done.
#[utoipa::path(post, path = "/v1/customers/merge", request_body = MergeInput, responses((status = 200, body = MergeView), (status = 409, body = crate::http::ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<MergeInput>,
) -> ApiResult<Json<MergeView>> {
    let merged = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                care::merge(tx, CustomerId(input.source_id), CustomerId(input.target_id)).await
            })
        })
        .await?;
    Ok(Json(MergeView {
        target: merged.target.into(),
        operation_ids: merged.operations.iter().map(|o| o.id.0).collect(),
        replayed: merged.replayed,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinInput {
    pub pin: String,
}

#[utoipa::path(put, path = "/v1/customers/{id}/pin", request_body = PinInput, responses((status = 204)))]
pub async fn set_pin(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<PinInput>,
) -> ApiResult<StatusCode> {
    if input.pin.len() < 4 || input.pin.len() > 64 {
        return Err(ApiError::invalid("pin", "must be 4 to 64 characters"));
    }
    let hash = secrets::hash_secret_async(input.pin).await;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut customer = tx
                    .customer(CustomerId(id))
                    .await?
                    .ok_or(DomainError::NotFound { entity: "customer" })?;
                customer.pin_hash = Some(hash);
                tx.update_customer(&customer).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub currency: String,
    /// Decimal string in the currency's units.
    pub balance: String,
    /// Reserved by pending holds.
    pub held: String,
    pub spendable: String,
    /// The same three in minor units.
    pub balance_minor: i64,
    pub held_minor: i64,
    pub spendable_minor: i64,
}

#[utoipa::path(get, path = "/v1/customers/{id}/balances", responses((status = 200, body = [BalanceView])))]
pub async fn balances(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<Vec<BalanceView>>> {
    let (customer, program, accounts) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let customer = tx.customer(CustomerId(id)).await?;
                let program = match &customer {
                    Some(c) => tx.program(c.program_id).await?,
                    None => None,
                };
                let accounts = ledger::accounts_of(tx, Owner::Customer(CustomerId(id))).await?;
                Ok((customer, program, accounts))
            })
        })
        .await?;
    customer.ok_or_else(|| ApiError::not_found("customer"))?;
    let rules = program.map(|p| p.rules.clone()).unwrap_or_default();
    let mut views: Vec<BalanceView> = accounts
        .into_iter()
        .map(|a| balance_view(&a.currency, a.balance, a.held, rules.decimals))
        .collect();
    if views.is_empty() {
        views.push(balance_view(&rules.currency, 0, 0, rules.decimals));
    }
    Ok(Json(views))
}

pub fn balance_view(currency: &str, balance: i64, held: i64, decimals: u8) -> BalanceView {
    BalanceView {
        currency: currency.to_string(),
        balance: format_decimal(Amount(balance), decimals),
        held: format_decimal(Amount(held), decimals),
        spendable: format_decimal(Amount(balance - held), decimals),
        balance_minor: balance,
        held_minor: held,
        spendable_minor: balance - held,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    pub program_id: i64,
    pub number: String,
    /// `physical` or `virtual`.
    pub kind: String,
    #[serde(default)]
    pub customer_id: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardQuery {
    pub program_id: Option<i64>,
    pub customer_id: Option<i64>,
}

#[utoipa::path(get, path = "/v1/cards", params(CardQuery), responses((status = 200, body = [Object])))]
pub async fn list_cards(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CardQuery>,
) -> ApiResult<Json<Vec<Card>>> {
    let cards = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                tx.cards(
                    query.program_id.map(ProgramId),
                    query.customer_id.map(CustomerId),
                )
                .await
            })
        })
        .await?;
    Ok(Json(cards))
}

#[utoipa::path(post, path = "/v1/cards", request_body = CardInput, responses((status = 201, body = Object)))]
pub async fn create_card(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<CardInput>,
) -> ApiResult<(StatusCode, Json<Card>)> {
    let Some(kind) = CardKind::parse(&input.kind) else {
        return Err(ApiError::invalid("kind", "physical or virtual"));
    };
    if input.number.is_empty()
        || input.number.len() > 32
        || !input.number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::invalid("number", "1 to 32 digits"));
    }
    let card = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if tx.program(ProgramId(input.program_id)).await?.is_none() {
                    return Err(DomainError::Invalid {
                        field: "program_id",
                        reason: "no such program".into(),
                    }
                    .into());
                }
                if let Some(c) = input.customer_id {
                    if tx
                        .customer(CustomerId(c))
                        .await?
                        .is_none_or(|c| c.program_id != ProgramId(input.program_id))
                    {
                        return Err(DomainError::Invalid {
                            field: "customer_id",
                            reason: "no such customer in the program".into(),
                        }
                        .into());
                    }
                }
                if tx
                    .card_by_number(ProgramId(input.program_id), &input.number)
                    .await?
                    .is_some()
                {
                    return Err(DomainError::AlreadyExists { entity: "card" }.into());
                }
                tx.create_card(
                    ProgramId(input.program_id),
                    &input.number,
                    kind,
                    input.customer_id.map(CustomerId),
                )
                .await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(card)))
}

#[utoipa::path(get, path = "/v1/cards/{id}", responses((status = 200, body = Object)))]
pub async fn get_card(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Card>> {
    let card = state
        .store
        .read(move |tx| Box::pin(async move { tx.card(id).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("card"))?;
    Ok(Json(card))
}

const EXPORT: Table = Table {
    name: "customers",
    columns: &[
        "id",
        "created_at",
        "program_id",
        "member_no",
        "phone",
        "email",
        "state",
        "balance",
        "held",
        "spendable",
        "currency",
    ],
};

/// The customers the listing's filter selects, with their balances, newest first.
async fn export(
    state: AppState,
    query: CustomerQuery,
    options: ExportOptions,
    format: ExportFormat,
) -> ApiResult<axum::response::Response> {
    let filter = query.filter(&state).await?;
    let start = export::start(query.cursor, query.limit)?;
    let programs = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    let units = export::ProgramUnits::new(&programs);
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, units, filter) = (state.clone(), units.clone(), filter.clone());
        Box::pin(async move {
            let customers = state
                .store
                .read(move |tx| {
                    Box::pin(async move {
                        care::search(tx, &filter, cursor.map(CustomerId), export::PAGE_ROWS).await
                    })
                })
                .await?;
            Ok(Page::of(
                customers,
                |c| c.customer.id.0,
                |c| {
                    let units = units.of(c.customer.program_id);
                    // The program's own points; a customer holds no other currency today.
                    let (balance, held) = c
                        .balances
                        .iter()
                        .find(|(currency, _, _)| *currency == units.currency)
                        .map_or((0, 0), |(_, balance, held)| (*balance, *held));
                    let customer = c.customer;
                    vec![
                        Cell::Integer(customer.id.0),
                        units.time(customer.created_at),
                        Cell::Integer(customer.program_id.0),
                        Cell::Text(customer.member_no),
                        Cell::optional(customer.phone.as_deref(), |p| {
                            Cell::Text(kopilka_domain::phone::mask(p))
                        }),
                        Cell::optional(customer.email, Cell::Text),
                        Cell::text(customer.state.as_str()),
                        units.amount(balance),
                        units.amount(held),
                        units.amount(balance - held),
                        Cell::Text(units.currency),
                    ]
                },
            ))
        })
    });
    export::export(format, &options, EXPORT, start, pages).await
}

/// CSV of the customers `GET /v1/customers` lists with the same filter, with their balances
/// (docs/exports.md).
#[utoipa::path(get, path = "/v1/customers/export.csv", params(CustomerQuery, ExportOptions),
    responses((status = 200, description = "CSV, one customer a row", content_type = "text/csv", body = String)))]
pub async fn export_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CustomerQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<axum::response::Response> {
    export(state, query, options, ExportFormat::Csv).await
}

/// XLSX of the customers `GET /v1/customers` lists with the same filter, with their balances
/// (docs/exports.md).
#[utoipa::path(get, path = "/v1/customers/export.xlsx", params(CustomerQuery, ExportOptions),
    responses((status = 200, description = "An XLSX workbook, one customer a row", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = String)))]
pub async fn export_xlsx(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CustomerQuery>,
    QueryParams(options): QueryParams<ExportOptions>,
) -> ApiResult<axum::response::Response> {
    export(state, query, options, ExportFormat::Xlsx).await
}
