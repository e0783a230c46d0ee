use crate::http::export::{self, Cell, ExportFormat, ExportOptions, Page, Table};
use crate::http::{ApiError, ApiResult};
use crate::http::{DecimalInput, Id, JsonBody, PageOf, Paging, QueryParams};
use crate::secrets;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::ledger::{OperationKind, Owner};
use kopilka_domain::money::format_decimal;
use kopilka_domain::phone::Phone;
use kopilka_domain::{Amount, DomainError};
use kopilka_store::entities::NewCustomer;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::model::{Card, CardKind, Customer, CustomerState};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub program_id: i64,
    /// Any common format with the country code; stored as E.164.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
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
    pub member_no: String,
    pub state: String,
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
            member_no: c.member_no,
            state: c.state.as_str().to_string(),
            created_at: c.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    pub program_id: Option<i64>,
    /// Any common format.
    pub phone: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

impl CustomerQuery {
    /// The phone filter as stored; the listing and its exports share it.
    fn phone_digits(&self) -> ApiResult<Option<String>> {
        match &self.phone {
            Some(p) => Ok(Some(Phone::parse(p)?.digits().to_string())),
            None => Ok(None),
        }
    }
}

#[utoipa::path(get, path = "/v1/customers", params(CustomerQuery), responses((status = 200, body = PageOf<CustomerView>)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CustomerQuery>,
) -> ApiResult<Json<PageOf<CustomerView>>> {
    let limit = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .limit()?;
    let phone = query.phone_digits()?;
    let program_id = query.program_id;
    let cursor = query.cursor;
    let customers = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                tx.customers(
                    program_id.map(ProgramId),
                    phone.as_deref(),
                    cursor.map(CustomerId),
                    limit,
                )
                .await
            })
        })
        .await?;
    let views: Vec<CustomerView> = customers.into_iter().map(Into::into).collect();
    Ok(Json(PageOf::new(views, limit, |c| c.id)))
}

#[utoipa::path(post, path = "/v1/customers", request_body = CustomerInput, responses((status = 201, body = CustomerView), (status = 422, body = crate::http::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<CustomerInput>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    let phone = match &input.phone {
        Some(p) => Some(Phone::parse(p)?.digits().to_string()),
        None => None,
    };
    if let Some(email) = &input.email {
        if !email.contains('@') || email.len() > 254 {
            return Err(ApiError::invalid("email", "not an e-mail address"));
        }
    }
    if let Some(pin) = &input.pin {
        if pin.len() < 4 || pin.len() > 64 {
            return Err(ApiError::invalid("pin", "must be 4 to 64 characters"));
        }
    }
    let program_id = input.program_id;
    let program = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(ProgramId(program_id)).await }))
        .await?
        .ok_or_else(|| ApiError::invalid("program_id", "no such program"))?;
    let rules = program.rules.clone();
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
        program_id: ProgramId(program_id),
        phone,
        email: input.email.clone(),
        password_hash,
        pin_hash,
        member_no: input.member_no.clone(),
        state: CustomerState::Active,
        profile: serde_json::json!({}),
    };
    let customer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if let Some(phone) = &new.phone {
                    if tx
                        .customer_by_phone(ProgramId(program_id), phone)
                        .await?
                        .is_some()
                    {
                        return Err(DomainError::AlreadyExists {
                            entity: "customer with this phone",
                        }
                        .into());
                    }
                }
                let customer = tx.create_customer(&new).await?;
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
    let phone = query.phone_digits()?;
    let program_id = query.program_id.map(ProgramId);
    let start = export::start(query.cursor, query.limit)?;
    let programs = state
        .store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    let units = export::ProgramUnits::new(&programs);
    let pages: export::Pages = Box::new(move |cursor| {
        let (state, units, phone) = (state.clone(), units.clone(), phone.clone());
        Box::pin(async move {
            let customers = state
                .store
                .read(move |tx| {
                    Box::pin(async move {
                        tx.customers_with_balances(
                            program_id,
                            phone.as_deref(),
                            cursor.map(CustomerId),
                            export::PAGE_ROWS,
                        )
                        .await
                    })
                })
                .await?;
            Ok(Page::of(
                customers,
                |c| c.customer.id.0,
                |c| {
                    let units = units.of(c.customer.program_id);
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
                        units.amount(c.balance),
                        units.amount(c.held),
                        units.amount(c.balance - c.held),
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
