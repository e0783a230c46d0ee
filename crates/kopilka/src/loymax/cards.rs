//! The customer's cards: the list (the seed's shape and 1.2's), a card as 1.2 answers it after
//! emission or binding, the card's QR code, and the secrets printed on physical cards (CVC,
//! activation password; `/v1/loymax/cards/{id}/secrets`).

use super::auth::Session;
use super::wire::{date_time, number, ok, LmError, LmResult, Version};
use crate::http::{ApiError, JsonBody};
use crate::secrets;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kopilka_domain::ledger::Owner;
use kopilka_domain::phone::mask;
use kopilka_store::ledger;
use kopilka_store::model::{Card, CardKind, CardState, Customer, Program};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// How long a card's QR code is good for, in seconds (what 1.2 answers as `lifeTime`).
const QR_LIFETIME_SECS: i64 = 86_400;

/// A secret printed on a physical card.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Secret {
    /// Asked by `Cards/Set` (`cvcCode`).
    Cvc,
    /// Asked by `BeginRegistration` with the card's number (`password`).
    Activation,
}

/// Checks what the customer entered against the card's secret of that kind, when the card has
/// one (argon2, verified outside any transaction); wrong entries are counted, and a card whose
/// secrets are blocked refuses even the right one until the block ends.
pub(super) async fn check_secret(
    state: &AppState,
    card_id: i64,
    secret: Secret,
    entered: Option<String>,
) -> LmResult<()> {
    let (found, now) = state
        .store
        .read(move |tx| {
            Box::pin(async move { Ok((tx.loymax_card_secrets(card_id).await?, tx.now())) })
        })
        .await?;
    let Some(found) = found else {
        return Ok(());
    };
    let hash = match secret {
        Secret::Cvc => found.cvc_hash,
        Secret::Activation => found.activation_hash,
    };
    let Some(hash) = hash else {
        return Ok(());
    };
    if found.blocked_until.is_some_and(|until| until > now) {
        return Err(LmError::coded(
            "CardSecretBlocked",
            "Слишком много неверных попыток. Попробуйте через час",
        ));
    }
    let right = secrets::verify_secret_async(entered.unwrap_or_default(), hash)
        .await
        .map_err(|secrets::Busy| {
            LmError::coded("TooManyAttempts", "Сервер занят, повторите попытку позже")
        })?;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if right {
                    return tx.loymax_card_secret_passed(card_id).await;
                }
                let until = tx.now() + kopilka_domain::loymax::CARD_SECRET_BLOCK_MS;
                tx.loymax_card_secret_failed(
                    card_id,
                    kopilka_domain::loymax::CARD_SECRET_ATTEMPTS,
                    until,
                )
                .await
            })
        })
        .await?;
    match (right, secret) {
        (true, _) => Ok(()),
        (false, Secret::Cvc) => Err(LmError::coded("InvalidCvc", "Неверный CVC-код карты")),
        (false, Secret::Activation) => Err(LmError::coded(
            "InvalidActivationPassword",
            "Неверный пароль активации карты",
        )),
    }
}

fn category(card: &Card, count: usize) -> Value {
    let (id, title, logical) = match card.kind {
        CardKind::Virtual => (1, "Виртуальная карта", "VirtualCard"),
        CardKind::Physical => (2, "Пластиковая карта", "PhysicalCard"),
    };
    json!({
        "id": id,
        "title": title,
        "logicalName": logical,
        "description": null,
        "cardCount": count,
        "images": [],
    })
}

fn state_name(card: &Card) -> &'static str {
    match card.state {
        CardState::Free => "Issued",
        CardState::Active | CardState::Blocked => "Activated",
    }
}

/// A card as 1.2's `Cards/EmitVirtual` and `Cards/Set` answer it.
pub(super) fn emitted(card: &Card) -> Value {
    json!({
        "id": card.id,
        "state": state_name(card),
        "number": card.number,
        "barCode": card.number,
        "block": card.state == CardState::Blocked,
        "expiryDate": null,
        "cardCategory": category(card, 1),
    })
}

/// The customer's stable UUID (1.2's `personUid`).
pub(super) fn person_uid(customer: &Customer) -> String {
    super::entity_uuid(0x50, customer.id.0)
}

/// `GET Cards`: the seed's list, or 1.2's cards with owner, turnover and actions.
pub async fn cards(State(state): State<AppState>, version: Version, session: Session) -> LmResult {
    let (id, program_id, currency) = (
        session.customer.id,
        session.program.id,
        session.program.rules.currency.clone(),
    );
    let (cards, turnover) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let cards = tx.cards(None, Some(id)).await?;
                let accounts = ledger::accounts_of(tx, Owner::Customer(id)).await?;
                let account = accounts
                    .into_iter()
                    .find(|a| a.program_id == program_id && a.currency == currency);
                let turnover = match account {
                    Some(a) => tx.loymax_account_turnover(a.id).await?,
                    None => (0, 0),
                };
                Ok((cards, turnover))
            })
        })
        .await?;
    if version == Version::Seed {
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
        return Ok(ok(cards));
    }
    let program = &session.program;
    let customer = &session.customer;
    let (accumulated, paid) = turnover;
    let profile = |name: &str| customer.profile.get(name).cloned().unwrap_or(Value::Null);
    let owner = json!({
        "id": customer.id,
        "personUid": person_uid(customer),
        "firstName": profile("FirstName"),
        "lastName": profile("LastName"),
        "patronymicName": profile("PatronymicName"),
        "phoneNumber": customer.phone.as_deref().map(mask),
        "email": customer.email,
    });
    let cards: Vec<Value> = cards
        .iter()
        .map(|c| {
            let count = cards.iter().filter(|o| o.kind == c.kind).count();
            let mut card = emitted(c);
            card["cardCategory"] = category(c, count);
            card["qrContent"] = json!(c.number);
            card["accumulated"] = amount(program, accumulated);
            card["paid"] = amount(program, paid);
            card["accumulatedInfo"] = json!([]);
            card["paidInfo"] = json!([]);
            card["cardActionAccessInfo"] = json!({"canBlock": false, "canReplace": false});
            card["cardOwnerInfo"] = owner.clone();
            card
        })
        .collect();
    Ok(ok(cards))
}

/// An amount of the program's bonuses as 1.2's cards show it (`currency` is the abbreviation).
fn amount(program: &Program, minor: i64) -> Value {
    let info = super::currency_info_1_2(program);
    json!({
        "amount": number(minor, program.rules.decimals),
        "currency": info["nameCases"]["abbreviation"].clone(),
        "currencyInfo": info,
    })
}

/// `GET Cards/{cardId}/QrCode`: what a till scans to find the customer (the card's number,
/// which processing reads like any card number) and the QR image of it (`image`, SVG).
pub async fn qr_code(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> LmResult {
    let not_found = || LmError::coded("CardNotFound", "Не найдена карта.");
    let card_id = params
        .get("card_id")
        .and_then(|id| id.trim().parse::<i64>().ok());
    let card_id = card_id.ok_or_else(not_found)?;
    let card = state
        .store
        .read(move |tx| Box::pin(async move { tx.card(card_id).await }))
        .await?
        .filter(|c| c.customer_id == Some(session.customer.id))
        .ok_or_else(not_found)?;
    let image = qrcode::QrCode::new(card.number.as_bytes())
        .map_err(|e| LmError::Fail(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    use base64::Engine;
    let image = base64::engine::general_purpose::STANDARD.encode(image);
    let now = chrono::Utc::now();
    Ok(ok(json!({
        "codeGeneratedDate": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "code": card.number,
        "lifeTime": QR_LIFETIME_SECS,
        "image": format!("data:image/svg+xml;base64,{image}"),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSecretsInput {
    pub cvc: Option<String>,
    pub activation_password: Option<String>,
}

/// What is printed on a physical card; `Cards/Set` then asks for the CVC and
/// `BeginRegistration` with the card's number for the activation password. A secret left out
/// stays as it was.
#[utoipa::path(put, path = "/v1/loymax/cards/{card_id}/secrets", params(("card_id" = i64, Path, description = "The card's id")), request_body = CardSecretsInput, responses((status = 204, description = "Set")))]
pub async fn set_secrets(
    State(state): State<AppState>,
    Path(card_id): Path<i64>,
    JsonBody(input): JsonBody<CardSecretsInput>,
) -> Result<StatusCode, ApiError> {
    let cvc = input.cvc.map(|c| c.trim().to_string());
    if cvc.as_ref().is_some_and(|c| {
        !kopilka_domain::loymax::CVC_DIGITS.contains(&c.len())
            || !c.bytes().all(|b| b.is_ascii_digit())
    }) {
        return Err(ApiError::invalid("cvc", "3 to 8 digits"));
    }
    let activation = input.activation_password;
    if activation.as_ref().is_some_and(|p| {
        !kopilka_domain::loymax::ACTIVATION_PASSWORD_CHARS.contains(&p.chars().count())
    }) {
        return Err(ApiError::invalid(
            "activation_password",
            "4 to 64 characters",
        ));
    }
    if cvc.is_none() && activation.is_none() {
        return Err(ApiError::invalid("cvc", "cvc or activation_password"));
    }
    let cvc = match cvc {
        Some(c) => Some(secrets::hash_secret_async(c).await),
        None => None,
    };
    let activation = match activation {
        Some(p) => Some(secrets::hash_secret_async(p).await),
        None => None,
    };
    let found = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(card) = tx.card(card_id).await? else {
                    return Ok(false);
                };
                if card.kind != CardKind::Physical {
                    return Ok(false);
                }
                tx.loymax_set_card_secrets(card.id, cvc.as_deref(), activation.as_deref())
                    .await?;
                Ok(true)
            })
        })
        .await?;
    if !found {
        return Err(ApiError::not_found("physical card"));
    }
    Ok(StatusCode::NO_CONTENT)
}
