//! The hosted transfer form at `transferURL`: shop, order, amount in roubles, the masked phone
//! and a field for the 6-digit code, in the program's language or the reader's
//! (`templates/kupikupi/transfer.html`).

use super::{absolute, enter_code, notify, rules_of, Ending, Signer};
use crate::http::html::{render, Chrome, Message, Page};
use crate::http::i18n::{self, Asked, Lang, CUSTOMER};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use kopilka_domain::kupikupi::{sandbox_phone, Step, TransferStatus, MAX_CODE_ATTEMPTS};
use kopilka_domain::phone::mask;
use kopilka_store::kupikupi::{Platform, Transfer};
use kopilka_store::{StoreError, StoreResult, Tx};
use serde::Deserialize;

pub fn url(public_url: &str, form_key: &str) -> String {
    format!("{public_url}{}", form_path(form_key))
}

/// What the page shows.
struct View {
    transfer: Transfer,
    platform: Platform,
    shop: String,
    /// The program's language.
    language: String,
}

async fn view(tx: &mut Tx, transfer: Transfer) -> StoreResult<View> {
    let platform = tx
        .kupikupi_platform_by_id(transfer.platform_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("transfer {} platform", transfer.id)))?;
    let merchant = tx.merchant(platform.merchant_id).await?;
    let language = match &merchant {
        Some(m) => tx.program(m.program_id).await?.map(|p| p.rules.language),
        None => None,
    };
    Ok(View {
        transfer,
        platform,
        shop: merchant.map(|m| m.name).unwrap_or_default(),
        language: language.unwrap_or_default(),
    })
}

pub async fn show(
    State(state): State<AppState>,
    asked: Asked,
    Path(key): Path<String>,
) -> Response {
    let signer = Signer::of(&state);
    let opened = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(transfer) = tx.kupikupi_transfer_by_form(&key).await? else {
                    return Ok(None);
                };
                let mut rules = rules_of(&transfer)?;
                let now = tx.now();
                if transfer.is_sandbox() && rules.status == TransferStatus::New {
                    // Test transfers are decided by their phone the moment the form opens, and the
                    // shop is told so it can test its handler.
                    let test = sandbox_phone(&transfer.phone).ok_or_else(|| {
                        StoreError::Corrupt(format!("sandbox transfer {} phone", transfer.id))
                    })?;
                    tx.update_kupikupi_transfer(transfer.id, test.outcome, 0, None)
                        .await?;
                    notify(tx, &signer, &transfer, Ending::Sandbox(test)).await?;
                } else {
                    match rules.open_form(now) {
                        Step::Moved(TransferStatus::FormShowed) => {
                            tx.update_kupikupi_transfer(
                                transfer.id,
                                rules.status,
                                rules.attempts,
                                None,
                            )
                            .await?;
                        }
                        Step::Expired => {
                            tx.update_kupikupi_transfer(
                                transfer.id,
                                rules.status,
                                rules.attempts,
                                None,
                            )
                            .await?;
                            notify(tx, &signer, &transfer, Ending::Expired).await?;
                        }
                        _ => {}
                    }
                }
                let transfer = tx
                    .kupikupi_transfer(transfer.id)
                    .await?
                    .expect("read above");
                Ok(Some(view(tx, transfer).await?))
            })
        })
        .await;
    match opened {
        Ok(Some(view)) => page(&state, &asked, &view, None),
        Ok(None) => not_found(&asked),
        Err(e) => failure(&asked, e),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn submit(
    State(state): State<AppState>,
    asked: Asked,
    Path(key): Path<String>,
    Form(form): Form<CodeForm>,
) -> Response {
    let code = form.code.trim().to_string();
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let signer = Signer::of(&state);
    let result = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(transfer) = tx.kupikupi_transfer_by_form(&key).await? else {
                    return Ok(None);
                };
                if !well_formed || transfer.is_sandbox() {
                    return Ok(Some((None, view(tx, transfer).await?)));
                }
                let outcome = enter_code(tx, &signer, transfer.id, &code)
                    .await?
                    .expect("the transfer was read above");
                Ok(Some((
                    Some(outcome.step),
                    view(tx, outcome.transfer).await?,
                )))
            })
        })
        .await;
    let (step, view) = match result {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(&asked),
        Err(e) => return failure(&asked, e),
    };
    let success = absolute(&view.platform.success_url, &state.public_url);
    let fail = absolute(&view.platform.fail_url, &state.public_url);
    match step {
        None if !view.transfer.is_sandbox() => {
            page(&state, &asked, &view, Some(("transfer-code-format", 0)))
        }
        Some(Step::Hold) => Redirect::to(&success).into_response(),
        Some(Step::WrongCode { left }) if left > 0 => {
            page(&state, &asked, &view, Some(("transfer-code-wrong", left)))
        }
        _ => match view.transfer.status {
            TransferStatus::Held | TransferStatus::Confirmed => {
                Redirect::to(&success).into_response()
            }
            s if s.awaits_code() => page(&state, &asked, &view, None),
            _ => Redirect::to(&fail).into_response(),
        },
    }
}

#[derive(Template)]
#[template(path = "kupikupi/transfer.html")]
struct TransferView {
    page: Chrome,
    shop: String,
    order: String,
    amount: String,
    phone: String,
    sandbox: bool,
    awaits_code: bool,
    /// `transfer-done`, `transfer-expired` or `transfer-declined` once it ended.
    ended: Option<(&'static str, bool)>,
    attempts_left: String,
    error: Option<String>,
    back: String,
}

impl Page for TransferView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The form, or how the transfer ended; `error` a message id with the attempts left.
fn page(state: &AppState, asked: &Asked, view: &View, error: Option<(&str, i64)>) -> Response {
    let t = &view.transfer;
    let lang = asked.pick(Some(&view.language), CUSTOMER);
    let left = |id: &str, left: i64| {
        let values = [("left", FluentValue::from(left))];
        i18n::text(lang, id, Some(&i18n::args(&values)))
    };
    let ended = match t.status {
        s if s.awaits_code() => None,
        TransferStatus::Held | TransferStatus::Confirmed => Some(("transfer-done", true)),
        TransferStatus::Canceled => Some(("transfer-expired", false)),
        _ => Some(("transfer-declined", false)),
    };
    let back = match ended {
        Some((_, true)) => &view.platform.success_url,
        _ => &view.platform.fail_url,
    };
    let path = form_path(&t.form_key);
    let transfer = TransferView {
        page: Chrome::titled(lang, "transfer-title")
            .brand(view.shop.clone())
            .switch(asked, &path, CUSTOMER)
            // A right code's answer redirects to the shop, which `form-action` would stop.
            .forms_anywhere(),
        shop: view.shop.clone(),
        order: t.order_id.clone(),
        amount: format!("{} ₽", i18n::number(t.amount, 2, lang)),
        phone: mask(&t.phone),
        sandbox: t.is_sandbox(),
        awaits_code: ended.is_none(),
        ended,
        attempts_left: left("transfer-attempts-left", MAX_CODE_ATTEMPTS - t.attempts),
        error: error.map(|(id, n)| left(id, n)),
        back: absolute(back, &state.public_url),
    };
    render(StatusCode::OK, &transfer)
}

/// The form's path on this server.
fn form_path(form_key: &str) -> String {
    format!("/kupikupi/transfer/{form_key}")
}

fn not_found(asked: &Asked) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let text = i18n::text(lang, "transfer-not-found-text", None);
    Message::new(lang, "transfer-not-found", text).answer(StatusCode::NOT_FOUND)
}

fn failure(asked: &Asked, error: StoreError) -> Response {
    let lang: Lang = asked.pick(None, CUSTOMER);
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, "kupikupi form: {error}");
    let values = [("id", FluentValue::from(id.to_string()))];
    let text = i18n::text(lang, "common-error-text", Some(&i18n::args(&values)));
    let mut message = Message::new(lang, "common-error", text);
    message.text_id = "error";
    message.answer(StatusCode::INTERNAL_SERVER_ERROR)
}
