//! The hosted transfer form at `transferURL`: shop, amount in roubles, the masked phone and a
//! field for the 6-digit code.

use super::{absolute, enter_code, notify, rules_of, Ending, Signer};
use crate::http::html::{escape, page};
use crate::state::AppState;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kopilka_domain::kupikupi::{sandbox_phone, Step, TransferStatus, MAX_CODE_ATTEMPTS};
use kopilka_domain::money::format_decimal;
use kopilka_domain::phone::mask;
use kopilka_domain::Amount;
use kopilka_store::kupikupi::{Platform, Transfer};
use kopilka_store::{StoreError, StoreResult, Tx};
use serde::Deserialize;

pub fn url(public_url: &str, form_key: &str) -> String {
    format!("{public_url}/kupikupi/transfer/{form_key}")
}

/// What the page shows.
struct View {
    transfer: Transfer,
    platform: Platform,
    shop: String,
}

async fn view(tx: &mut Tx, transfer: Transfer) -> StoreResult<View> {
    let platform = tx
        .kupikupi_platform_by_id(transfer.platform_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("transfer {} platform", transfer.id)))?;
    let shop = tx
        .merchant(platform.merchant_id)
        .await?
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(View {
        transfer,
        platform,
        shop,
    })
}

pub async fn show(State(state): State<AppState>, Path(key): Path<String>) -> Response {
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
        Ok(Some(view)) => render(&state, &view, None),
        Ok(None) => not_found(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn submit(
    State(state): State<AppState>,
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
        Ok(None) => return not_found(),
        Err(e) => return failure(e),
    };
    let success = absolute(&view.platform.success_url, &state.public_url);
    let fail = absolute(&view.platform.fail_url, &state.public_url);
    match step {
        None if !view.transfer.is_sandbox() => render(&state, &view, Some("Введите 6 цифр кода")),
        Some(Step::Hold) => Redirect::to(&success).into_response(),
        Some(Step::WrongCode { left }) if left > 0 => render(
            &state,
            &view,
            Some(&format!("Неверный код. Осталось попыток: {left}")),
        ),
        _ => match view.transfer.status {
            TransferStatus::Held | TransferStatus::Confirmed => {
                Redirect::to(&success).into_response()
            }
            s if s.awaits_code() => render(&state, &view, None),
            _ => Redirect::to(&fail).into_response(),
        },
    }
}

fn render(state: &AppState, view: &View, error: Option<&str>) -> Response {
    let t = &view.transfer;
    let success = escape(&absolute(&view.platform.success_url, &state.public_url));
    let fail = escape(&absolute(&view.platform.fail_url, &state.public_url));
    let mut body = format!(
        "<h1>Оплата баллами Купи-Купи</h1><p>Магазин: <strong id=\"shop\">{}</strong></p><p class=\"amount\" id=\"amount\">{} ₽</p><p>Телефон: <span id=\"phone\">{}</span></p>",
        escape(&view.shop),
        format_decimal(Amount(t.amount), 2),
        escape(&mask(&t.phone)),
    );
    if t.is_sandbox() {
        body.push_str("<p class=\"note\">Тестовый перевод: баллы не списываются.</p>");
    }
    match t.status {
        s if s.awaits_code() => {
            if let Some(error) = error {
                body.push_str(&format!("<p class=\"error\" id=\"error\">{}</p>", escape(error)));
            }
            body.push_str(&format!(
                "<form method=\"post\"><p><label>Код из личного кабинета или SMS<br><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required autofocus></label></p><p class=\"note\">Осталось попыток: {}</p><button id=\"pay\" type=\"submit\">Перевести баллы</button></form><p><a id=\"back\" href=\"{fail}\">Вернуться в магазин</a></p>",
                MAX_CODE_ATTEMPTS - t.attempts
            ));
        }
        TransferStatus::Held | TransferStatus::Confirmed => body.push_str(&format!(
            "<p id=\"status\">Баллы переведены.</p><p><a id=\"back\" href=\"{success}\">Вернуться в магазин</a></p>"
        )),
        TransferStatus::Canceled => body.push_str(&format!(
            "<p id=\"status\" class=\"error\">Время на перевод истекло.</p><p><a id=\"back\" href=\"{fail}\">Вернуться в магазин</a></p>"
        )),
        _ => body.push_str(&format!(
            "<p id=\"status\" class=\"error\">Перевод отклонён.</p><p><a id=\"back\" href=\"{fail}\">Вернуться в магазин</a></p>"
        )),
    }
    page("Оплата баллами Купи-Купи", &body)
}

fn not_found() -> Response {
    let mut response = page(
        "Перевод не найден",
        "<h1>Перевод не найден</h1><p>Ссылка неверна или устарела.</p>",
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

fn failure(error: StoreError) -> Response {
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, "kupikupi form: {error}");
    let mut response = page(
        "Ошибка",
        &format!("<h1>Ошибка</h1><p>Попробуйте ещё раз. Код ошибки {id}.</p>"),
    );
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
