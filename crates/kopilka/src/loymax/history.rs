//! `GET History`: the customer's purchases, rewards and withdrawals, built from the ledger's
//! confirmed operations of every protocol, newest first.

use super::account::bonus_amount;
use super::auth::Session;
use super::registration::query;
use super::wire::{date_time, number, ok, parse_time, LmError, LmResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::loymax::{history_answer, HistoryAnswer, HistoryType};
use kopilka_domain::phone::mask;
use kopilka_store::loymax::{HistoryQuery, HistoryRow};
use kopilka_store::model::Program;
use serde_json::{json, Value};

/// The largest page.
const MAX_COUNT: i64 = 1000;

pub async fn history(State(state): State<AppState>, session: Session, parts: Parts) -> LmResult {
    let q = query(&parts);
    let param = |name: &str| {
        q.get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let to = match param("filter.todate") {
        Some(v) => Some(
            parse_time(&v, true)
                .ok_or_else(|| LmError::invalid("filter.toDate", "Неверный формат даты"))?,
        ),
        None => None,
    };
    let count = match param("filter.count") {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|c| (0..=MAX_COUNT).contains(c))
                .ok_or_else(|| {
                    LmError::invalid("filter.count", format!("Число от 0 до {MAX_COUNT}"))
                })?,
        ),
        None => None,
    };
    let from_date = match param("filter.fromdate") {
        Some(v) => parse_time(&v, false)
            .ok_or_else(|| LmError::invalid("filter.fromDate", "Неверный формат даты"))?,
        None => 0,
    };
    let kinds = match param("filter.historyitemtype") {
        Some(v) => Some(
            HistoryType::parse(&v)
                .ok_or_else(|| {
                    LmError::invalid(
                        "filter.historyItemType",
                        "Purchase, RewardData или WithdrawData",
                    )
                })?
                .kinds(),
        ),
        None => None,
    };
    let card_id = match param("filter.cardid") {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| LmError::invalid("filter.cardId", "Неверный идентификатор карты"))?,
        ),
        None => None,
    };
    // `filter.from`: a number skips that many rows; a row's id continues after that row.
    let (offset, after) = match param("filter.from") {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => (n, None),
            _ if uuid::Uuid::parse_str(&v).is_ok() => (0, Some(v)),
            _ => {
                return Err(LmError::invalid(
                    "filter.from",
                    "Номер строки или идентификатор строки истории",
                ))
            }
        },
        None => (0, None),
    };
    let answer = history_answer(to.is_some(), count.is_some());
    if answer == HistoryAnswer::Nothing {
        return Ok(ok(json!({"allCount": 0, "rows": []})));
    }
    let customer_id = session.customer.id;
    let mut history_query = HistoryQuery {
        customer_id,
        from: from_date,
        to: to.unwrap_or(i64::MAX),
        kinds,
        before: None,
        offset,
        limit: count.unwrap_or(0),
    };
    let found = state
        .store
        .read_refusing(move |tx| {
            Box::pin(async move {
                let cards = tx.cards(None, Some(customer_id)).await?;
                if let Some(id) = card_id {
                    if !cards.iter().any(|c| c.id == id) {
                        return Err(LmError::coded("CardNotFound", "Карта не найдена").into());
                    }
                }
                if let Some(uuid) = after {
                    let key = tx.loymax_history_key(customer_id, &uuid).await?;
                    history_query.before = Some(key.ok_or_else(|| {
                        LmError::invalid("filter.from", "Строка истории не найдена")
                    })?);
                }
                let all = tx.loymax_history_count(&history_query).await?;
                let rows = if answer == HistoryAnswer::Rows && history_query.limit > 0 {
                    tx.loymax_history(&history_query, all).await?
                } else {
                    Vec::new()
                };
                let identity = cards.first().map(|c| c.number.clone());
                Ok((all, rows, identity))
            })
        })
        .await?;
    let (all, rows, identity) = found;
    let identity = identity
        .or_else(|| session.customer.phone.as_deref().map(mask))
        .unwrap_or_default();
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| row(&session.program, customer_id.0, &identity, r))
        .collect();
    Ok(ok(json!({"allCount": all, "rows": rows})))
}

/// The bonus movement of a row, signed from the customer's side.
fn signed(r: &HistoryRow) -> i64 {
    let credit = match r.kind {
        OperationKind::Earn | OperationKind::Accrue => true,
        OperationKind::Reversal => matches!(
            r.reversed_kind,
            Some(OperationKind::Redeem | OperationKind::Withdraw | OperationKind::Expire)
        ),
        OperationKind::Redeem | OperationKind::Withdraw | OperationKind::Expire => false,
    };
    if credit {
        r.amount
    } else {
        -r.amount
    }
}

fn money_currency() -> Value {
    json!({
        "id": 0,
        "name": "Рубль",
        "externalId": super::entity_uuid(0xC0, 643),
        "description": "Российский рубль",
        "isDeleted": false,
        "nameCases": {"nominative": "рубль", "genitive": "рубля", "plural": "рублей", "abbreviation": "руб."},
    })
}

fn row(program: &Program, customer_id: i64, identity: &str, r: &HistoryRow) -> Value {
    let detail = |key: &str| r.details.get(key).cloned().filter(|v| !v.is_null());
    let kind = HistoryType::of(r.kind, r.reversed_kind);
    let amount = signed(r);
    let bonus = bonus_amount(program, amount);
    let refund = r.kind == OperationKind::Reversal;
    let original = r.reversed_kind.unwrap_or(r.kind).as_str();
    let (location, partner, brand_id, brand) = match (r.merchant_id, &r.merchant_name) {
        (Some(id), Some(name)) => (
            json!({
                "id": id,
                "locationId": super::entity_uuid(0x10, id.0),
                "description": name,
                "latitude": 0,
                "longitude": 0,
                "region": null,
                "city": null,
                "street": null,
                "house": null,
                "building": null,
                "office": null,
            }),
            json!(super::entity_uuid(0x20, id.0)),
            json!(super::entity_uuid(0x30, id.0)),
            json!({"externalId": super::entity_uuid(0x30, id.0), "name": name, "images": []}),
        ),
        _ => (Value::Null, Value::Null, Value::Null, Value::Null),
    };
    let default_description = match (kind, original, refund) {
        (HistoryType::Purchase, _, true) => "Возврат покупки",
        (HistoryType::Purchase, _, false) => "Покупка",
        (_, "expire", false) => "Сгорание бонусов",
        (HistoryType::RewardData, _, true) => "Отмена списания бонусов",
        (HistoryType::RewardData, _, false) => "Начисление бонусов",
        (HistoryType::WithdrawData, _, true) => "Отмена начисления бонусов",
        (HistoryType::WithdrawData, _, false) => "Списание бонусов",
    };
    let description = r
        .description
        .clone()
        .unwrap_or_else(|| default_description.to_string());
    let data = match kind {
        HistoryType::Purchase => {
            let (rewards, withdraws) = if original == "earn" {
                let reward = json!({
                    "offerExternalId": detail("offerExternalId"),
                    "rewardType": detail("rewardType").unwrap_or(json!("Bonus")),
                    "description": "Начисление бонусов",
                    "amount": bonus,
                });
                (vec![reward], Vec::new())
            } else {
                let withdraw = json!({
                    "withdrawType": "Bonus",
                    "description": "Оплата бонусами",
                    "amount": bonus,
                });
                (Vec::new(), vec![withdraw])
            };
            let cheque_amount = r
                .details
                .get("chequeAmount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            json!({
                "externalPurchaseId": detail("purchaseId").or_else(|| r.idem_key.clone().map(Value::String)),
                "chequeItems": detail("chequeItems").unwrap_or(json!([])),
                "withdraws": withdraws,
                "rewards": rewards,
                "isRefund": refund,
                "chequeNumber": detail("chequeNumber"),
                "amount": {
                    "amount": number(if refund { -cheque_amount } else { cheque_amount }, program.rules.money_decimals),
                    "currency": "руб.",
                    "currencyInfo": money_currency(),
                },
            })
        }
        HistoryType::RewardData => json!({
            "offerExternalId": detail("offerExternalId"),
            "rewardType": detail("rewardType").unwrap_or(json!("Bonus")),
            "description": r.description,
            "amount": bonus,
        }),
        HistoryType::WithdrawData => json!({
            "withdrawType": detail("withdrawType").unwrap_or(json!(if original == "expire" { "Bonus" } else { "Withdraw" })),
            "description": r.description,
            "amount": bonus,
        }),
    };
    json!({
        "id": r.uuid,
        "dateTime": date_time(r.created_at),
        "type": kind.name(),
        "userId": customer_id,
        "identity": detail("identity").unwrap_or(json!(identity)),
        "description": description,
        "location": location,
        "partnerId": partner,
        "brandId": brand_id,
        "brand": brand,
        "data": data,
    })
}
