//! `GET History`: the customer's purchases, rewards and withdrawals, built from the ledger's
//! confirmed operations of every protocol, newest first. A purchase processed through part 2
//! is one row: its bonus with its payment beside it (`loymax_history_parts`), the cheque in the
//! operations' details. Two shapes: the seed's (`/api/v1.1/`, `/api/v1/`, no version) and
//! v1.2's, which the public SDK parses (`/publicapi/v1.2/` and any later version).

use super::account::bonus_amount;
use super::auth::Session;
use super::wire::{date_time, number, ok, parse_time, query, LmError, LmResult, Version};
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use kopilka_domain::cheque::Quantity;
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::loymax::{history_answer, HistoryAnswer, HistoryType};
use kopilka_domain::money::parse_decimal;
use kopilka_domain::phone::mask;
use kopilka_store::loymax::{CardHistory, HistoryPart, HistoryQuery, HistoryRow};
use kopilka_store::model::Program;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The largest page.
const MAX_COUNT: i64 = 1000;
/// A v1.2 page when the client names no count.
const DEFAULT_COUNT: i64 = 10;

/// The `filter.…` query parameters of both history methods, keys lowercased.
struct Filter(HashMap<String, String>);

impl Filter {
    /// A parameter's trimmed value; an empty one is absent.
    fn param(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn date(&self, name: &str, field: &str, end_of_day: bool) -> LmResult<Option<i64>> {
        match self.param(name) {
            Some(v) => parse_time(&plus_restored(&v), end_of_day)
                .map(Some)
                .ok_or_else(|| LmError::invalid(field, "Неверный формат даты")),
            None => Ok(None),
        }
    }

    fn history_type(&self) -> LmResult<Option<HistoryType>> {
        match self.param("filter.historyitemtype") {
            Some(v) => HistoryType::parse_filter(&v).ok_or_else(|| {
                LmError::invalid(
                    "filter.historyItemType",
                    "All, Purchase, RewardData или WithdrawData",
                )
            }),
            None => Ok(None),
        }
    }
}

pub async fn history(
    State(state): State<AppState>,
    shape: Version,
    session: Session,
    parts: Parts,
) -> LmResult {
    let filter = Filter(query(&parts));
    let param = |name: &str| filter.param(name);
    let date = |name: &str, field: &str, end_of_day: bool| filter.date(name, field, end_of_day);
    let to = date("filter.todate", "filter.toDate", true)?;
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
    let from_date = date("filter.fromdate", "filter.fromDate", false)?.unwrap_or(0);
    let kinds = filter.history_type()?.map(HistoryType::kinds);
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
    // The seed: nothing without `toDate`, only the count without `count`. v1.2 (the SDK
    // sends neither date unless asked): up to now, a page of ten.
    let (answer, to, count) = match shape {
        Version::Seed => (history_answer(to.is_some(), count.is_some()), to, count),
        Version::V12 => (
            HistoryAnswer::Rows,
            to,
            Some(count.unwrap_or(DEFAULT_COUNT)),
        ),
    };
    if answer == HistoryAnswer::Nothing {
        return Ok(ok(json!({"allCount": 0, "rows": []})));
    }
    let customer_id = session.customer.id;
    let mut history_query = HistoryQuery {
        customer_id,
        from: from_date,
        to: to.unwrap_or(i64::MAX),
        kinds,
        card: None,
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
                    history_query.card = Some(CardHistory {
                        card_id: id,
                        main: cards.first().is_some_and(|c| c.id == id),
                    });
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
                let identity = match card_id {
                    Some(id) => cards.iter().find(|c| c.id == id),
                    None => cards.first(),
                }
                .map(|c| c.number.clone());
                Ok((all, rows, identity))
            })
        })
        .await?;
    let (all, rows, identity) = found;
    let identity = identity
        .or_else(|| session.customer.phone.as_deref().map(mask))
        .unwrap_or_default();
    let view = View {
        program: &session.program,
        shape,
        customer_id: customer_id.0,
        identity: &identity,
    };
    let rows: Vec<Value> = rows.iter().map(|r| view.row(r)).collect();
    Ok(ok(json!({"allCount": all, "rows": rows})))
}

/// `GET History/AggregateWithdrawRewardPurchase` (v1.2, the SDK's): over the dates and type,
/// the money of purchases (refunds taken off), the points withdrawn and rewarded, and how many
/// purchases.
pub async fn aggregate(State(state): State<AppState>, session: Session, parts: Parts) -> LmResult {
    let filter = Filter(query(&parts));
    let date = |name: &str, field: &str, end_of_day: bool| filter.date(name, field, end_of_day);
    let from = date("filter.fromdate", "filter.fromDate", false)?.unwrap_or(0);
    let to = date("filter.todate", "filter.toDate", true)?.unwrap_or(i64::MAX);
    let only = filter.history_type()?;
    let customer_id = session.customer.id;
    let totals = state
        .store
        .read(move |tx| {
            Box::pin(async move { tx.loymax_history_totals(customer_id, from, to).await })
        })
        .await?;
    let (mut money, mut purchases, mut rewarded, mut withdrawn) = (0i64, 0i64, 0i64, 0i64);
    for t in totals {
        let kind = HistoryType::of(t.kind, t.reversed_kind);
        if only.is_some_and(|o| o != kind) {
            continue;
        }
        let movement = Movement {
            kind: t.kind,
            reversed_kind: t.reversed_kind,
            amount: t.points,
        };
        if movement.signed() > 0 {
            rewarded += movement.signed();
        } else {
            withdrawn += movement.signed();
        }
        if kind == HistoryType::Purchase {
            if t.kind == OperationKind::Reversal {
                money -= t.money;
            } else {
                money += t.money;
                purchases += t.rows;
            }
        }
    }
    let view = View {
        program: &session.program,
        shape: Version::V12,
        customer_id: customer_id.0,
        identity: "",
    };
    let purchase_amount: Vec<Value> = (money != 0 || purchases > 0)
        .then(|| json!({"amount": view.money(money)}))
        .into_iter()
        .collect();
    let withdraws: Vec<Value> = (withdrawn != 0)
        .then(|| json!({"withdrawType": "Bonus", "amount": view.points(withdrawn)}))
        .into_iter()
        .collect();
    let rewards: Vec<Value> = (rewarded != 0)
        .then(|| json!({"rewardType": "Bonus", "amount": view.points(rewarded)}))
        .into_iter()
        .collect();
    Ok(ok(json!({
        "purchaseAmount": purchase_amount,
        "withdraws": withdraws,
        "rewards": rewards,
        "purchaseCount": purchases,
    })))
}

/// A query string's `+` (an offset such as `+03:00`) arrives as a space when the client did
/// not encode it.
fn plus_restored(text: &str) -> String {
    match text.rsplit_once(' ') {
        Some((head, tail)) if tail.len() == 5 && tail.as_bytes()[2] == b':' => {
            format!("{head}+{tail}")
        }
        _ => text.to_string(),
    }
}

/// One points movement of a row, signed from the customer's side.
#[derive(Debug, Clone, Copy)]
struct Movement {
    kind: OperationKind,
    reversed_kind: Option<OperationKind>,
    amount: i64,
}

impl Movement {
    fn signed(self) -> i64 {
        let credit = match self.kind {
            // A merge is listed as the receiving customer's.
            OperationKind::Earn | OperationKind::Accrue | OperationKind::Merge => true,
            OperationKind::Reversal => matches!(
                self.reversed_kind,
                Some(OperationKind::Redeem | OperationKind::Withdraw | OperationKind::Expire)
            ),
            OperationKind::Redeem | OperationKind::Withdraw | OperationKind::Expire => false,
        };
        if credit {
            self.amount
        } else {
            -self.amount
        }
    }

    /// Whether it is a reward (earned, or taking earned points back) rather than a withdrawal
    /// (paid, or giving paid points back).
    fn is_reward(self) -> bool {
        matches!(
            self.reversed_kind.unwrap_or(self.kind),
            OperationKind::Earn | OperationKind::Accrue
        )
    }
}

struct View<'a> {
    program: &'a Program,
    shape: Version,
    customer_id: i64,
    identity: &'a str,
}

impl View<'_> {
    /// Texts in English where the program's language is English, else Russian.
    fn english(&self) -> bool {
        self.program.rules.language == "en"
    }

    /// An amount in a currency: the seed's `currencyInfo`, with v1.2's `code` and `uid`.
    fn amount(&self, mut amount: Value, code: &str) -> Value {
        if self.shape == Version::V12 {
            let info = &mut amount["currencyInfo"];
            info["code"] = json!(code);
            info["uid"] = info["externalId"].clone();
        }
        amount
    }

    fn points(&self, minor: i64) -> Value {
        self.amount(bonus_amount(self.program, minor), "Currency1")
    }

    fn money(&self, minor: i64) -> Value {
        self.amount(
            json!({
                "amount": number(minor, self.program.rules.money_decimals),
                "currency": "руб.",
                "currencyInfo": {
                    "id": 2,
                    "name": "Рубли",
                    "externalId": super::entity_uuid(0xC0, 643),
                    "description": "Российский рубль",
                    "isDeleted": false,
                    "nameCases": {"nominative": "рубль", "genitive": "рубля", "plural": "рублей", "abbreviation": "руб."},
                },
            }),
            "Currency2",
        )
    }

    fn row(&self, r: &HistoryRow) -> Value {
        let detail = |key: &str| r.details.get(key).cloned().filter(|v| !v.is_null());
        // The offer that caused the operation (its details name it), or one a batch named.
        let offer_external_id = offer_external_id(&r.details);
        let kind = HistoryType::of(r.kind, r.reversed_kind);
        let refund = r.kind == OperationKind::Reversal;
        let original = r.reversed_kind.unwrap_or(r.kind);
        let own = Movement {
            kind: r.kind,
            reversed_kind: r.reversed_kind,
            amount: r.amount,
        };
        let (location, partner, brand_id, brand) = match (r.merchant_id, &r.merchant_name) {
            (Some(id), Some(name)) => {
                let brand_uuid = super::entity_uuid(0x30, id.0);
                (
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
                    json!(brand_uuid),
                    json!({"externalId": brand_uuid, "uid": brand_uuid, "name": name, "images": []}),
                )
            }
            _ => (Value::Null, Value::Null, Value::Null, Value::Null),
        };
        let pick = |ru, en| if self.english() { en } else { ru };
        let default_description = match (kind, original, refund) {
            (HistoryType::Purchase, _, true) => pick("Возврат покупки", "Purchase refund"),
            (HistoryType::Purchase, _, false) => pick("Покупка", "Purchase"),
            (_, OperationKind::Expire, false) => pick("Сгорание бонусов", "Points expired"),
            (HistoryType::RewardData, _, true) => {
                pick("Отмена списания бонусов", "Withdrawal cancelled")
            }
            (HistoryType::RewardData, _, false) => pick("Начисление бонусов", "Points earned"),
            (HistoryType::WithdrawData, _, true) => {
                pick("Отмена начисления бонусов", "Reward cancelled")
            }
            (HistoryType::WithdrawData, _, false) => pick("Списание бонусов", "Points withdrawn"),
        };
        let description = r
            .description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| default_description.to_string());
        let data = match kind {
            HistoryType::Purchase => self.purchase(r, own, refund),
            HistoryType::RewardData => json!({
                "offerExternalId": offer_external_id,
                "rewardType": detail("rewardType").unwrap_or(json!("Bonus")),
                "description": r.description,
                "amount": self.points(own.signed()),
            }),
            HistoryType::WithdrawData => json!({
                "withdrawType": detail("withdrawType").unwrap_or(json!(if original == OperationKind::Expire { "Bonus" } else { "Withdraw" })),
                "description": r.description,
                "amount": self.points(own.signed()),
            }),
        };
        let (type_name, date) = match self.shape {
            Version::Seed => (kind.name(), date_time(r.created_at)),
            Version::V12 => (
                match kind {
                    HistoryType::Purchase => "PurchaseData",
                    other => other.name(),
                },
                date_time_offset(r.created_at),
            ),
        };
        json!({
            "id": r.uuid,
            "dateTime": date,
            "type": type_name,
            "userId": self.customer_id,
            "identity": detail("identity").unwrap_or(json!(self.identity)),
            "description": description,
            "location": location,
            "partnerId": partner,
            "brandId": brand_id,
            "brand": brand,
            "data": data,
        })
    }

    /// A purchase (or its refund): the cheque and its sum, the points paid (`withdraws`) and
    /// earned (`rewards`) — the row's own operation and the one shown inside it. A refund
    /// gives paid points back (a positive withdrawal) and takes earned ones back (a negative
    /// reward).
    fn purchase(&self, r: &HistoryRow, own: Movement, refund: bool) -> Value {
        let mut movements = vec![own];
        if let Some(HistoryPart {
            kind,
            amount,
            reversed_kind,
            ..
        }) = r.part
        {
            movements.push(Movement {
                kind,
                reversed_kind,
                amount,
            });
        }
        let (mut rewards, mut withdraws) = (Vec::new(), Vec::new());
        for m in movements {
            if m.is_reward() {
                rewards.push(json!({
                    "offerExternalId": offer_external_id(&r.details),
                    "rewardType": r.details.get("rewardType").cloned().unwrap_or(json!("Bonus")),
                    "description": if self.english() { "Points earned" } else { "Начисление бонусов" },
                    "amount": self.points(m.signed()),
                }));
            } else {
                withdraws.push(json!({
                    "withdrawType": "Bonus",
                    "description": if self.english() { "Paid with points" } else { "Оплата бонусами" },
                    "amount": self.points(m.signed()),
                }));
            }
        }
        let cheque = r.details.get("cheque");
        // Processing writes the cheque's sum in minor units; a batch row its `transactionAmount`.
        let cheque_amount = cheque
            .and_then(|c| c.get("amount"))
            .or_else(|| r.details.get("chequeAmount"))
            .and_then(Value::as_i64)
            .or_else(|| {
                r.details
                    .get("transaction_amount")
                    .and_then(Value::as_str)
                    .and_then(|t| parse_decimal(t, self.program.rules.money_decimals).ok())
                    .map(|a| a.0)
            })
            .unwrap_or(0);
        // Other protocols may write `chequeItems` ready to show.
        let items: Value = match cheque
            .and_then(|c| c.get("items"))
            .and_then(Value::as_array)
        {
            Some(items) => items.iter().map(|i| self.cheque_item(i)).collect(),
            None => r.details.get("chequeItems").cloned().unwrap_or(json!([])),
        };
        let number = cheque
            .and_then(|c| c.get("number"))
            .or_else(|| r.details.get("chequeNumber"))
            .cloned()
            .unwrap_or(Value::Null);
        let purchase_id = r
            .details
            .get("purchase_id")
            .or_else(|| r.details.get("purchaseId"))
            .cloned()
            .filter(|v| !v.is_null())
            .or_else(|| r.idem_key.clone().map(Value::String));
        json!({
            "externalPurchaseId": purchase_id,
            "chequeItems": items,
            "withdraws": withdraws,
            "rewards": rewards,
            "isRefund": refund,
            "chequeNumber": number,
            "amount": self.money(if refund { -cheque_amount } else { cheque_amount }),
        })
    }

    /// A cheque line as the details keep it (`position`, `name`, `goods_id`, `quantity` in
    /// thousandths, `amount` in minor units).
    fn cheque_item(&self, item: &Value) -> Value {
        let position = item.get("position").and_then(Value::as_i64).unwrap_or(0);
        let goods_id = item.get("goods_id").and_then(Value::as_str);
        let description = item
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| goods_id.map(str::to_string))
            .unwrap_or_else(|| {
                if self.english() {
                    format!("Item {position}")
                } else {
                    format!("Позиция {position}")
                }
            });
        let count = number(
            item.get("quantity")
                .and_then(Value::as_i64)
                .unwrap_or(1_000),
            Quantity::DECIMALS,
        );
        let amount = number(
            item.get("amount").and_then(Value::as_i64).unwrap_or(0),
            self.program.rules.money_decimals,
        );
        match self.shape {
            Version::Seed => json!({"description": description, "count": count, "amount": amount}),
            Version::V12 => json!({
                "positionId": position,
                "description": description,
                "count": count,
                "unit": null,
                "amount": amount,
                "itemId": goods_id,
                "commonCode": null,
            }),
        }
    }
}

/// v1.2's `dateTime`: `yyyy-MM-ddTHH:mm:ss+00:00`.
fn date_time_offset(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// `offerExternalId` of an operation: the offer its details name (an offer's own operation, a
/// purchase's bonus), else the id a batch row carried.
fn offer_external_id(details: &Value) -> Value {
    match details.get("offer").and_then(Value::as_i64) {
        Some(offer) => json!(super::offer_uuid(offer)),
        None => details
            .get("offerExternalId")
            .cloned()
            .unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unencoded_plus_of_an_offset_is_restored() {
        assert_eq!(
            plus_restored("2024-06-18T14:21:29 03:00"),
            "2024-06-18T14:21:29+03:00"
        );
        assert_eq!(plus_restored("2024-06-18"), "2024-06-18");
    }
}
