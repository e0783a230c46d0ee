//! `POST /api`: the XML gateway (`transaction` = earn on a paid sale, `transactioncancel`).
//! Every answer, refusals included, is the seed's XML envelope with HTTP 200.

use super::ops::{self, Done, Shop};
use super::wire::{self, Fault, Fields, Reply};
use crate::http::ClientAddr;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use kopilka_domain::incust::{Lang, Status};
use kopilka_domain::money::parse_decimal;
use kopilka_domain::phone::mask;
use kopilka_domain::program::ProgramRules;
use std::panic::AssertUnwindSafe;

/// The largest request body taken (the edge's, which reads it first); the documents are a few
/// hundred bytes.
const MAX_BODY: usize = crate::http::edge::FORM_BODY_LIMIT;

pub async fn handle(
    State(state): State<AppState>,
    client: ClientAddr,
    request: Request,
) -> Response {
    let reply = match AssertUnwindSafe(answer(&state, client, request))
        .catch_unwind()
        .await
    {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!("inCust API handler panicked");
            Reply::new("", Status::Internal, Status::Internal.text(Lang::Ru).into())
        }
    };
    if let Some(status) = reply.refused() {
        crate::observability::record_refusal("incust", status.code());
    }
    // The `cmd` names the method; a closed set, whatever the client sent.
    let route = match reply.cmd().to_ascii_lowercase().as_str() {
        "transaction" => "incust:transaction",
        "transactioncancel" => "incust:transactioncancel",
        _ => "incust:other",
    };
    let mut response = (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        reply.render(),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::observability::RouteLabel(route.into()));
    response
}

/// A request refused at the edge, in the envelope.
pub(super) fn edge_refusal(status: Status) -> Response {
    crate::observability::record_refusal("incust", status.code());
    let xml = Reply::new("", status, status.text(Lang::Ru).into()).render();
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

fn refusal(cmd: &str, fault: Fault, lang: Lang) -> Reply {
    Reply::new(cmd, fault.status, fault.text(lang))
}

async fn answer(state: &AppState, client: ClientAddr, request: Request) -> Reply {
    let fields = match read(request).await {
        Ok(fields) => fields,
        Err(fault) => return refusal("", fault, Lang::Ru),
    };
    let cmd = fields.get("cmd").unwrap_or("").to_string();
    let command = cmd.to_ascii_lowercase();
    if !matches!(command.as_str(), "transaction" | "transactioncancel") {
        let status = if cmd.is_empty() {
            Fault::with(Status::MissingField, "cmd")
        } else {
            Status::UnknownCmd.into()
        };
        return refusal(&cmd, status, Lang::Ru);
    }
    let shop = match login(state, &fields, client).await {
        Ok(shop) => shop,
        Err(fault) => return refusal(&cmd, fault, Lang::Ru),
    };
    let result = match command.as_str() {
        "transaction" => transaction(state, &shop, &fields).await,
        _ => cancel(state, &shop, &fields).await,
    };
    match result {
        Ok(done) => {
            tracing::info!(
                merchant = shop.merchant.id.0,
                transaction = done.transaction.operation_id.0,
                kind = %done.transaction.kind,
                replayed = done.replayed,
                "inCust {command}"
            );
            success(&cmd, &shop, &done)
        }
        Err(fault) => refusal(&cmd, fault, shop.lang),
    }
}

/// Reads the body as an XML document. Clients send `text/xml`, `application/xml`, no type at
/// all, or (PHP's curl with a string body) `application/x-www-form-urlencoded` with the raw
/// document or a single form field holding it.
async fn read(request: Request) -> Result<Fields, Fault> {
    if request.method() != Method::POST {
        return Err(Fault::said(
            Status::Malformed,
            "отправьте документ POST-запросом",
            "send the document with POST",
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
    let mut params = content_type.as_deref().unwrap_or("").split(';');
    let mime = content_type
        .as_deref()
        .map(|_| params.next().unwrap_or("").trim().to_string());
    let charset = params
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .map(|c| c.trim_matches('"').to_string())
        .next();
    let form = mime.as_deref() == Some("application/x-www-form-urlencoded");
    let accepted = match mime.as_deref() {
        None | Some("") => true,
        Some(m) => {
            form || m == "text/xml"
                || m == "application/xml"
                || m == "text/plain"
                || m.ends_with("+xml")
        }
    };
    if !accepted {
        return Err(Fault::with(
            Status::ContentType,
            content_type.unwrap_or_default(),
        ));
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            Fault::said(
                Status::TooLarge,
                format!("не больше {MAX_BODY} байт"),
                format!("at most {MAX_BODY} bytes"),
            )
        })?;
    let raw = bytes.trim_ascii_start();
    let document = if form && !raw.starts_with(b"<") {
        // The document in a form field, percent-encoded in whatever encoding it declares.
        wire::raw_form_pairs(raw)
            .into_iter()
            .map(|(_, value)| value)
            .find(|value| value.trim_ascii_start().starts_with(b"<"))
            .unwrap_or_default()
    } else {
        bytes.to_vec()
    };
    let text = wire::decode_document(&document, charset.as_deref())?;
    wire::parse(&text)
}

async fn login(state: &AppState, fields: &Fields, client: ClientAddr) -> Result<Shop, Fault> {
    let phone = fields.require("phone")?;
    let password = fields.require("password")?;
    ops::authenticate(state, phone, password, client).await
}

/// The card's phone as E.164 digits, read as the program's customers write it.
pub fn card_phone(fields: &Fields, rules: &ProgramRules) -> Result<String, Fault> {
    let raw = fields.require("cardphone")?;
    rules
        .parse_phone(raw)
        .map(|p| p.digits().to_string())
        .map_err(|_| Fault::with(Status::InvalidField, "cardphone"))
}

/// The order number, the key that makes a repeated request harmless.
pub fn comment(fields: &Fields) -> Result<String, Fault> {
    let comment = fields.require("comment")?;
    if comment.chars().count() > ops::MAX_COMMENT {
        return Err(Fault::said(
            Status::InvalidField,
            format!("comment: не больше {} символов", ops::MAX_COMMENT),
            format!("comment: at most {} characters", ops::MAX_COMMENT),
        ));
    }
    Ok(comment.to_string())
}

/// A positive money amount with at most the currency's decimals.
pub fn money(fields: &Fields, name: &str, decimals: u8) -> Result<kopilka_domain::Amount, Fault> {
    let text = fields.require(name)?;
    match parse_decimal(text, decimals) {
        Ok(a) if a.0 > 0 => Ok(a),
        Ok(_) => Err(Fault::said(
            Status::BadAmount,
            format!("{name}: должна быть больше нуля"),
            format!("{name} must be greater than zero"),
        )),
        Err(_) => Err(Fault::said(
            Status::BadAmount,
            format!("{name}: число с точкой, не больше {decimals} знаков после неё"),
            format!("{name}: a number with a dot and at most {decimals} decimals"),
        )),
    }
}

async fn transaction(state: &AppState, shop: &Shop, fields: &Fields) -> Result<Done, Fault> {
    let phone = card_phone(fields, &shop.rules)?;
    let paid = money(fields, "amount", shop.rules.money_decimals)?;
    let comment = comment(fields)?;
    let shop = shop.clone();
    let done = state
        .store
        .write_retrying_refusing(|| {
            let (shop, phone, comment) = (shop.clone(), phone.clone(), comment.clone());
            move |tx| Box::pin(async move { ops::earn(tx, &shop, &phone, paid, &comment).await })
        })
        .await?;
    Ok(done)
}

async fn cancel(state: &AppState, shop: &Shop, fields: &Fields) -> Result<Done, Fault> {
    let phone = card_phone(fields, &shop.rules)?;
    let id = fields
        .require("transactionid")?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Fault::with(Status::InvalidField, "transactionid"))?;
    let shop = shop.clone();
    let done = state
        .store
        .write_refusing(move |tx| Box::pin(async move { ops::cancel(tx, &shop, &phone, id).await }))
        .await?;
    Ok(done)
}

/// The seed's answer: the transaction as first reported; the cancel answer masks the phone as
/// the seed's example does.
fn success(cmd: &str, shop: &Shop, done: &Done) -> Reply {
    let t = &done.transaction;
    let cardphone = if t.kind == "cancel" {
        mask(&t.cardphone)
    } else {
        t.cardphone.clone()
    };
    Reply::new(cmd, Status::Ok, Status::Ok.text(shop.lang).into())
        .field("transactionid", t.operation_id.to_string())
        .field("transactiondate", shop.date(t.created_at))
        .field("cardphone", cardphone)
        .field("cardbonuses", shop.points(t.card_bonuses))
        .field("amount", shop.money(t.amount))
        .field("bonusesredeemed", shop.points(t.bonuses_redeemed))
        .field("amounttopay", shop.money(t.amount_to_pay))
        .field("bonusesearned", shop.points(t.bonuses_earned))
        .field("message", t.message.clone())
}
