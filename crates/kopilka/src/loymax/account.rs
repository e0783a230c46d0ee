//! The signed-in customer: profile, balances (with what expires when) and passwords, in the
//! seed's shapes and in 1.2's.

use super::auth::{self, Session};
use super::registration::{check_code, code_error, job, send_code, validate_password};
use super::wire::{self, date_time, number, ok, LmError, LmResult, Version};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use kopilka_domain::ledger::Owner;
use kopilka_domain::loymax::CodeCheck;
use kopilka_domain::phone::mask;
use kopilka_store::model::{CustomerState, Program};
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

/// `GET User`: the profile. 1.2 adds `personUid`, `birthDay`, its `state` names and, as the
/// `payload` query asks, `balanceShortInfo` and `attributes` (questionnaire answers by logical
/// name, `payload=Attributes.<name>`).
pub async fn profile(
    State(state): State<AppState>,
    version: Version,
    session: Session,
    parts: Parts,
) -> LmResult {
    let c = &session.customer;
    let field = |name: &str| c.profile.get(name).cloned().unwrap_or(Value::Null);
    if version == Version::Seed {
        return Ok(ok(json!({
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
        })));
    }
    let payload: Vec<String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "payload" || k.starts_with("payload["))
        .map(|(_, v)| v.into_owned())
        .collect();
    let balance_short_info = if payload.iter().any(|p| p == "BalanceShortInfo") {
        let (balance, held, _) = position(&state, &session).await?;
        let (accumulated, paid) = turnover(&state, &session).await?;
        let program = &session.program;
        let amount = |minor| {
            let info = super::currency_info_1_2(program);
            json!({
                "amount": number(minor, program.rules.decimals),
                "currency": info["code"].clone(),
                "currencyInfo": info,
            })
        };
        json!({
            "balance": amount(balance - held),
            "notActivated": amount(0),
            "accumulated": amount(accumulated),
            "paid": amount(paid),
        })
    } else {
        Value::Null
    };
    let attributes: serde_json::Map<String, Value> = payload
        .iter()
        .filter_map(|p| p.strip_prefix("Attributes."))
        .map(|name| (name.to_string(), attribute(c.profile.get(name))))
        .collect();
    Ok(ok(json!({
        "id": c.id,
        "personUid": super::cards::person_uid(c),
        "lastName": field("LastName"),
        "firstName": field("FirstName"),
        "patronymicName": field("PatronymicName"),
        "birthDay": field("BirthDate"),
        "state": match c.state {
            CustomerState::Registering => "Registered",
            CustomerState::Blocked => "Deregistered",
            _ => "Normal",
        },
        "phoneNumber": c.phone.as_deref().map(mask),
        "email": c.email,
        "balanceShortInfo": balance_short_info,
        "attributes": if payload.iter().any(|p| p.starts_with("Attributes.")) {
            Value::Object(attributes)
        } else {
            Value::Null
        },
    })))
}

/// A questionnaire answer as 1.2's typed attribute: a date, or a string.
fn attribute(value: Option<&Value>) -> Value {
    let Some(text) = value.and_then(Value::as_str) else {
        return Value::Null;
    };
    if let Some(ms) = wire::parse_time(text, false).filter(|_| text.len() == 10) {
        return json!({
            "$type": "Loymax.Common.Contract.Model.UserInfo.DateValueModel, Loymax.Common.Contract",
            "dateValue": date_time(ms),
        });
    }
    json!({
        "$type": "Loymax.Common.Contract.Model.UserInfo.StringValueModel, Loymax.Common.Contract",
        "stringValue": text,
    })
}

/// What the customer's account has received and given in all.
async fn turnover(state: &AppState, session: &Session) -> LmResult<(i64, i64)> {
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
                match accounts
                    .into_iter()
                    .find(|a| a.program_id == program_id && a.currency == currency)
                {
                    Some(a) => tx.loymax_account_turnover(a.id).await,
                    None => Ok((0, 0)),
                }
            })
        })
        .await?)
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

/// `GET User/Balance`: what the customer can spend, per currency; 1.2 adds what was ever
/// accumulated and paid.
pub async fn balance(
    State(state): State<AppState>,
    version: Version,
    session: Session,
) -> LmResult {
    let (balance, held, _) = position(&state, &session).await?;
    let program = &session.program;
    if version == Version::Seed {
        return Ok(ok(json!([bonus_amount(program, balance - held)])));
    }
    let (accumulated, paid) = turnover(&state, &session).await?;
    let decimals = program.rules.decimals;
    Ok(ok(json!([{
        "currency": super::currency_info_1_2(program),
        "balance": number(balance - held, decimals),
        "notActivated": 0,
        "accumulated": number(accumulated, decimals),
        "paid": number(paid, decimals),
    }])))
}

/// `GET User/DetailedBalance`: balance, held and available, and the amounts that expire with
/// their dates (soonest first; what never expires is `notExpiring`).
pub async fn detailed_balance(
    State(state): State<AppState>,
    version: Version,
    session: Session,
) -> LmResult {
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
    if version == Version::V12 {
        return Ok(ok(detailed_balance_1_2(
            &session.program,
            balance - held,
            &expirations,
        )));
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

/// 1.2's detailed balance: `{items: [{currency, amount, notActivatedAmount, accountIsBlocked,
/// lifeTimesByTime, lifeTimesByPeriod}]}`; the periods sum what expires within a month (from a
/// week on), within a year (from a month on) and later.
fn detailed_balance_1_2(program: &Program, available: i64, expirations: &[(i64, i64)]) -> Value {
    const DAY_MS: i64 = 86_400_000;
    let decimals = program.rules.decimals;
    let now = chrono::Utc::now().timestamp_millis();
    let by_time: Vec<Value> = expirations
        .iter()
        .map(|(at, amount)| json!({"amount": number(*amount, decimals), "date": date_time(*at)}))
        .collect();
    let periods = [
        ("FromWeekToMonth", 7 * DAY_MS, 30 * DAY_MS),
        ("FromMonthToYear", 30 * DAY_MS, 365 * DAY_MS),
        ("FromYear", 365 * DAY_MS, i64::MAX),
    ];
    let by_period: Vec<Value> = periods
        .iter()
        .map(|(name, from, to)| {
            let expiring: i64 = expirations
                .iter()
                .filter(|(at, _)| (from..to).contains(&&(at - now)))
                .map(|(_, amount)| amount)
                .sum();
            json!({
                "activationAmount": 0,
                "expirationAmount": number(expiring, decimals),
                "period": name,
            })
        })
        .collect();
    json!({"items": [{
        "currency": super::currency_info_1_2(program),
        "amount": number(available, decimals),
        "notActivatedAmount": 0,
        "accountIsBlocked": false,
        "lifeTimesByTime": by_time,
        "lifeTimesByPeriod": by_period,
    }]})
}

/// `GET User/DetailedBalance/{currencyId}/Operations` (1.2): the account's activations (every
/// lot, active when credited) and expirations (what remains of lots that expire), by date;
/// `filter.changeTypes` (`BonusActivation`, `BonusExpiration`), `filter.fromDate`,
/// `filter.toDate`, `filter.from`, `filter.count` (default 100, at most 1000),
/// `orderByDateAscending`.
pub async fn balance_operations(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
) -> LmResult {
    let query = super::wire::query(&parts);
    let time = |key: &str, end: bool| -> LmResult<Option<i64>> {
        match query.get(key).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => wire::parse_time(v, end)
                .map(Some)
                .ok_or_else(|| LmError::invalid(key, "Неверная дата")),
        }
    };
    let (from_date, to_date) = (
        time("filter.fromdate", false)?,
        time("filter.todate", true)?,
    );
    let number_of = |key: &str, default: usize| -> LmResult<usize> {
        match query.get(key).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| LmError::invalid(key, "Ожидается целое неотрицательное число")),
        }
    };
    let (skip, count) = (
        number_of("filter.from", 0)?,
        number_of("filter.count", 100)?,
    );
    if count > 1000 {
        return Err(LmError::invalid("filter.count", "Не больше 1000"));
    }
    let kinds = query.get("filter.changetypes").map(String::as_str);
    let (activations, expirations) = match kinds {
        None | Some("") => (true, true),
        Some("BonusActivation") => (true, false),
        Some("BonusExpiration") => (false, true),
        Some(_) => {
            return Err(LmError::invalid(
                "filter.changeTypes",
                "BonusActivation или BonusExpiration",
            ))
        }
    };
    let ascending = query
        .get("orderbydateascending")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (customer_id, program_id, currency) = (
        session.customer.id,
        session.program.id,
        session.program.rules.currency.clone(),
    );
    let lots = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let accounts = ledger::accounts_of(tx, Owner::Customer(customer_id)).await?;
                match accounts
                    .into_iter()
                    .find(|a| a.program_id == program_id && a.currency == currency)
                {
                    Some(a) => tx.loymax_lots(a.id).await,
                    None => Ok(Vec::new()),
                }
            })
        })
        .await?;
    let mut changes: Vec<(i64, i64)> = Vec::new();
    for (amount, remaining, created_at, expires_at) in lots {
        if activations {
            changes.push((created_at, amount));
        }
        if let Some(at) = expires_at.filter(|_| expirations && remaining > 0) {
            changes.push((at, -remaining));
        }
    }
    changes.retain(|(at, _)| {
        from_date.is_none_or(|from| *at >= from) && to_date.is_none_or(|to| *at <= to)
    });
    changes.sort_by_key(|(at, _)| *at);
    if !ascending {
        changes.reverse();
    }
    let decimals = session.program.rules.decimals;
    let page: Vec<Value> = changes
        .into_iter()
        .skip(skip)
        .take(count)
        .map(|(at, amount)| json!({"amount": number(amount, decimals), "date": date_time(at)}))
        .collect();
    Ok(ok(page))
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
    version: Version,
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
    let key = session.key();
    let settings = super::settings(&session.program);
    job(&state, move |tx| {
        Box::pin(async move {
            let Some(mut customer) = tx.customer(id).await? else {
                return Err(LmError::Unauthorized.into());
            };
            customer.password_hash = Some(new_hash);
            tx.update_customer(&customer).await?;
            Ok(match version {
                Version::Seed => ok(Value::Null),
                // 1.2 answers a new token pair; the old token ends after the grace period.
                Version::V12 => ok(auth::rotate_pair(tx, key, &settings).await?),
            })
        })
    })
    .await
}

/// `POST User/Password/Reset` `{login}`: a code by SMS to the customer's phone. The answer is
/// the same whether the login exists or not.
pub async fn reset_password(State(state): State<AppState>, parts: Parts, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    start(&state, &parts, text(&input, "login"), "login").await?;
    Ok(ok(Value::Null))
}

/// `POST ResetPassword/Start` `{notifierIdentity}` (1.2): as `User/Password/Reset`, answering
/// the code's length.
pub async fn start_reset(State(state): State<AppState>, parts: Parts, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let login = text(&input, "notifierIdentity");
    start(&state, &parts, login, "notifierIdentity").await?;
    Ok(ok(
        json!({"codeLength": kopilka_domain::loymax::CODE_LENGTH}),
    ))
}

async fn start(state: &AppState, parts: &Parts, login: String, field: &str) -> LmResult<()> {
    if login.trim().is_empty() {
        return Err(LmError::invalid(field, "Укажите номер телефона или карты"));
    }
    let ip = super::client_ip(state, parts);
    let program = super::program(state).await?;
    let settings = super::settings(&program);
    job(state, move |tx| {
        Box::pin(async move {
            let customer = auth::find_by_login(tx, &program, &login).await?;
            if let Some((customer, phone)) = customer
                .filter(|c| c.state == CustomerState::Active)
                .and_then(|c| c.phone.clone().map(|p| (c, p)))
            {
                send_code(tx, &settings, Some(customer.id), "reset", &phone, &ip).await?;
            }
            Ok(())
        })
    })
    .await
}

/// `POST User/Password/Reset/Confirm` `{login, confirmCode, newPassword}`: sets the password
/// and ends every token of the customer.
pub async fn confirm_reset(State(state): State<AppState>, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let login = text(&input, "login");
    confirm(&state, &input, login, false).await
}

/// `POST ResetPassword/Confirm` `{notifierIdentity, confirmCode, newPassword}` (1.2): as
/// `User/Password/Reset/Confirm`, answering a token pair of the public client so the customer
/// is signed in.
pub async fn confirm_reset_by_code(State(state): State<AppState>, bytes: Bytes) -> LmResult {
    let input: Value = wire::body(&bytes)?;
    let login = text(&input, "notifierIdentity");
    confirm(&state, &input, login, true).await
}

async fn confirm(state: &AppState, input: &Value, login: String, sign_in: bool) -> LmResult {
    let (code, new) = (text(input, "confirmCode"), text(input, "newPassword"));
    validate_password(&new, "newPassword")?;
    let hash = secrets::hash_secret_async(new).await;
    let program = super::program(state).await?;
    let settings = super::settings(&program);
    job(state, move |tx| {
        Box::pin(async move {
            let customer = auth::find_by_login(tx, &program, &login).await?;
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
            if sign_in {
                return Ok(ok(auth::pair(tx, customer.id, None, &settings).await?));
            }
            Ok(ok(Value::Null))
        })
    })
    .await
}
