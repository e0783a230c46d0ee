//! The signed-in customer: profile, cards, balances (with what expires when) and passwords.

use super::auth::{self, Session};
use super::registration::{check_code, code_error, job, send_code, validate_password};
use super::wire::{self, date_time, number, ok, LmError, LmResult};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use kopilka_domain::ledger::Owner;
use kopilka_domain::loymax::CodeCheck;
use kopilka_domain::phone::mask;
use kopilka_store::model::{CardKind, CardState, CustomerState, Program};
use kopilka_store::{ledger, JobError};
use serde_json::{json, Value};

/// An amount of the program's bonus currency in the seed's shape.
pub(super) fn bonus_amount(program: &Program, minor: i64) -> Value {
    let info = super::currency_info(program);
    json!({
        "amount": number(minor, program.rules.decimals),
        "currency": info["name"].clone(),
        "currencyInfo": info,
    })
}

/// `GET User`: the profile.
pub async fn profile(session: Session) -> LmResult {
    let c = &session.customer;
    let field = |name: &str| c.profile.get(name).cloned().unwrap_or(Value::Null);
    Ok(ok(json!({
        "id": c.id,
        "phoneNumber": c.phone.as_deref().map(mask),
        "email": c.email,
        "lastName": field("LastName"),
        "firstName": field("FirstName"),
        "patronymicName": field("PatronymicName"),
        "birthDate": field("BirthDate"),
        "registrationCompleted": c.state != CustomerState::Registering,
        "state": match c.state.as_str() {
            "registering" => "Registering",
            "blocked" => "Blocked",
            _ => "Active",
        },
    })))
}

/// `GET Cards`.
pub async fn cards(State(state): State<AppState>, session: Session) -> LmResult {
    let id = session.customer.id;
    let cards = state
        .store
        .read(move |tx| Box::pin(async move { tx.cards(None, Some(id)).await }))
        .await?;
    let cards: Vec<Value> = cards
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "number": c.number,
                "barCode": c.number,
                "state": if c.state == CardState::Blocked { "Blocked" } else { "Activated" },
                "isVirtual": c.kind == CardKind::Virtual,
                "createdAt": date_time(c.created_at),
            })
        })
        .collect();
    Ok(ok(cards))
}

/// The customer's account in the program's currency: (balance, held, open lots).
async fn position(
    state: &AppState,
    session: &Session,
) -> LmResult<(i64, i64, Vec<(i64, Option<i64>)>)> {
    let (customer_id, program_id, currency) = (
        session.customer.id,
        session.program.id,
        session.program.rules.currency.clone(),
    );
    Ok(state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let accounts = ledger::accounts_of(tx, Owner::Customer(customer_id)).await?;
                let Some(account) = accounts
                    .into_iter()
                    .find(|a| a.program_id == program_id && a.currency == currency)
                else {
                    return Ok((0, 0, Vec::new()));
                };
                let lots = tx.loymax_open_lots(account.id).await?;
                Ok((account.balance, account.held, lots))
            })
        })
        .await?)
}

/// `GET User/Balance`: what the customer can spend, per currency.
pub async fn balance(State(state): State<AppState>, session: Session) -> LmResult {
    let (balance, held, _) = position(&state, &session).await?;
    Ok(ok(json!([bonus_amount(&session.program, balance - held)])))
}

/// `GET User/DetailedBalance`: balance, held and available, and the amounts that expire with
/// their dates (soonest first; what never expires is `notExpiring`).
pub async fn detailed_balance(State(state): State<AppState>, session: Session) -> LmResult {
    let (balance, held, lots) = position(&state, &session).await?;
    let decimals = session.program.rules.decimals;
    let info = super::currency_info(&session.program);
    let mut expirations: Vec<(i64, i64)> = Vec::new();
    let mut not_expiring = 0;
    for (remaining, expires_at) in lots {
        match expires_at {
            Some(at) => match expirations.last_mut() {
                Some(last) if last.0 == at => last.1 += remaining,
                _ => expirations.push((at, remaining)),
            },
            None => not_expiring += remaining,
        }
    }
    let expirations: Vec<Value> = expirations
        .into_iter()
        .map(|(at, amount)| json!({"amount": number(amount, decimals), "dateTime": date_time(at)}))
        .collect();
    Ok(ok(json!([{
        "currency": info["name"].clone(),
        "currencyInfo": info,
        "balance": number(balance, decimals),
        "held": number(held, decimals),
        "available": number(balance - held, decimals),
        "notExpiring": number(not_expiring, decimals),
        "expirations": expirations,
    }])))
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `POST User/Password/Change` `{oldPassword, newPassword}`.
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    bytes: Bytes,
) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let (old, new) = (text(&input, "oldPassword"), text(&input, "newPassword"));
    validate_password(&new, "newPassword")?;
    let client = super::client_ip(&state, &parts);
    match auth::check_password(&state, &session.customer, old, &client).await? {
        auth::SecretCheck::Right => {}
        auth::SecretCheck::Wrong => {
            return Err(LmError::coded("InvalidPassword", "Неверный текущий пароль"))
        }
        auth::SecretCheck::TooSoon => {
            return Err(LmError::coded(
                "TooManyAttempts",
                "Слишком много неверных паролей. Попробуйте позже",
            ))
        }
    }
    let new_hash = secrets::hash_secret_async(new).await;
    let id = session.customer.id;
    job(&state, move |tx| {
        Box::pin(async move {
            let Some(mut customer) = tx.customer(id).await? else {
                return Err(LmError::Unauthorized.into());
            };
            customer.password_hash = Some(new_hash);
            tx.update_customer(&customer).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// `POST User/Password/Reset` `{login}`: a code by SMS to the customer's phone. The answer is
/// the same whether the login exists or not.
pub async fn reset_password(State(state): State<AppState>, parts: Parts, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let login = text(&input, "login");
    if login.trim().is_empty() {
        return Err(LmError::invalid(
            "login",
            "Укажите номер телефона или карты",
        ));
    }
    let ip = super::client_ip(&state, &parts);
    let program = super::program(&state).await?;
    let settings = super::settings(&program);
    job(&state, move |tx| {
        Box::pin(async move {
            let customer = auth::find_by_login(tx, program.id, &login).await?;
            if let Some((customer, phone)) = customer
                .filter(|c| c.state == CustomerState::Active)
                .and_then(|c| c.phone.clone().map(|p| (c, p)))
            {
                send_code(tx, &settings, Some(customer.id), "reset", &phone, &ip).await?;
            }
            Ok(ok(Value::Null))
        })
    })
    .await
}

/// `POST User/Password/Reset/Confirm` `{login, confirmCode, newPassword}`: sets the password
/// and ends every token of the customer.
pub async fn confirm_reset(State(state): State<AppState>, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let (login, code, new) = (
        text(&input, "login"),
        text(&input, "confirmCode"),
        text(&input, "newPassword"),
    );
    validate_password(&new, "newPassword")?;
    let hash = secrets::hash_secret_async(new).await;
    let program = super::program(&state).await?;
    job(&state, move |tx| {
        Box::pin(async move {
            let customer = auth::find_by_login(tx, program.id, &login).await?;
            let Some((mut customer, phone)) =
                customer.and_then(|c| c.phone.clone().map(|p| (c, p)))
            else {
                return Err(code_error(CodeCheck::Missing).into());
            };
            let result = check_code(tx, "reset", &phone, &code).await?;
            if result != CodeCheck::Accepted {
                // The wrong attempt counts.
                return Err(JobError::RefusedKeeping(code_error(result)));
            }
            customer.password_hash = Some(hash);
            tx.update_customer(&customer).await?;
            let now = tx.now();
            tx.loymax_end_all_tokens(customer.id, now).await?;
            Ok(ok(Value::Null))
        })
    })
    .await
}
