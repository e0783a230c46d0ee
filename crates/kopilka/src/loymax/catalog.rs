//! What the program shows every customer (public API 1.2): its merchants, its offers and the
//! customer's coupons. kopilka has no offers engine and issues no coupons to customers yet, so
//! those lists are empty in the shapes the public SDK reads.

use super::auth::Session;
use super::wire::{ok, LmError, LmResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use kopilka_store::model::Merchant;
use serde_json::{json, Value};

/// The longest page a client may ask for.
const MAX_PAGE: usize = 1000;

/// A merchant as 1.2 shows it; kopilka keeps no address or schedule, so those are empty.
fn merchant_view(m: &Merchant) -> Value {
    json!({
        "id": m.id.0,
        "uid": super::entity_uuid(0x20, m.id.0),
        "title": m.name,
        "brandId": super::entity_uuid(0x30, m.id.0),
        "description": null,
        "location": {
            "id": m.id.0,
            "description": m.name,
            "latitude": 0,
            "longitude": 0,
            "city": {"id": 0, "name": "", "prefix": null},
            "street": null,
            "house": null,
            "building": null,
            "office": null,
        },
        "scheduleModel": null,
        "isArchived": false,
        "additionalInfo": null,
    })
}

/// Query values of a list parameter however it is spelled (`ids=1&ids=2`, `ids[]=1`,
/// `ids[0]=1`, `ids=1,2`), and `from`/`count`.
struct ListQuery {
    values: Vec<String>,
    from: usize,
    count: usize,
}

fn list_query(parts: &Parts, name: &str) -> LmResult<ListQuery> {
    let mut values = Vec::new();
    let (mut from, mut count) = (0, 100);
    for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        let key = key.to_ascii_lowercase();
        let number = || {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| LmError::invalid(&key, "Ожидается целое неотрицательное число"))
        };
        if key == name || key.starts_with(&format!("{name}[")) {
            values.extend(
                value
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty()),
            );
        } else if key == "from" || key == "filter.from" {
            from = number()?;
        } else if key == "count" || key == "filter.count" {
            count = number()?;
        }
    }
    if count > MAX_PAGE {
        return Err(LmError::invalid("count", "Не больше 1000"));
    }
    Ok(ListQuery {
        values,
        from,
        count,
    })
}

async fn merchants(state: &AppState, parts: &Parts, name: &str, by_uid: bool) -> LmResult {
    let query = list_query(parts, name)?;
    let program = super::program(state).await?;
    let program_id = program.id;
    let merchants = state
        .store
        .read(move |tx| Box::pin(async move { tx.merchants(Some(program_id)).await }))
        .await?;
    let wanted = |m: &Merchant| {
        query.values.is_empty()
            || query.values.iter().any(|v| {
                if by_uid {
                    v.eq_ignore_ascii_case(&super::entity_uuid(0x20, m.id.0))
                } else {
                    v.parse::<i64>() == Ok(m.id.0)
                }
            })
    };
    let page: Vec<Value> = merchants
        .iter()
        .filter(|m| wanted(m))
        .skip(query.from)
        .take(query.count)
        .map(merchant_view)
        .collect();
    Ok(ok(page))
}

/// `GET Merchants?merchantsIds=…&from=&count=`: the program's merchants (all without ids).
pub async fn merchants_by_ids(State(state): State<AppState>, parts: Parts) -> LmResult {
    merchants(&state, &parts, "merchantsids", false).await
}

/// `GET Merchants/ByUids?merchantsUids=…`.
pub async fn merchants_by_uids(State(state): State<AppState>, parts: Parts) -> LmResult {
    merchants(&state, &parts, "merchantsuids", true).await
}

const OFFER_TYPES: [&str; 4] = ["Original", "PersonalGoods", "PersonalOffer", "All"];

/// `GET Offer?filter.type=…`: the program's offers; none until kopilka has an offers engine.
pub async fn offers(parts: Parts) -> LmResult {
    let query = super::wire::query(&parts);
    if let Some(kind) = query.get("filter.type").filter(|t| !t.is_empty()) {
        if !OFFER_TYPES.contains(&kind.as_str()) {
            return Err(LmError::invalid(
                "filter.type",
                "Ожидается Original, PersonalGoods, PersonalOffer или All",
            ));
        }
    }
    list_query(&parts, "filter.merchantid")?;
    Ok(ok(Vec::<Value>::new()))
}

fn offer_not_found() -> LmError {
    LmError::coded("OfferNotFound", "Предложение не найдено")
}

/// `GET Offer/{offerId}`.
pub async fn offer() -> LmResult {
    Err(offer_not_found())
}

/// `GET Offer/{offerId}/merchants`.
pub async fn offer_merchants() -> LmResult {
    Err(offer_not_found())
}

/// `GET Coupons?from=&count=&couponListFilter.…`: the customer's coupons; kopilka issues none
/// to customers yet (the processing's coupon codes are the program's, not a customer's).
pub async fn coupons(_session: Session, parts: Parts) -> LmResult {
    list_query(&parts, "couponlistfilter.emissionids")?;
    Ok(ok(Vec::<Value>::new()))
}

/// `GET Coupons/number/{number}`.
pub async fn coupon_by_number(_session: Session) -> LmResult {
    Err(LmError::coded("CouponNotFound", "Купон не найден"))
}
