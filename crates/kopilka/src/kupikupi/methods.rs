//! `balance`, `init`, `checkout`, `confirmation`, `receipt`.

use super::wire::{decimal_number, field, success, ErrorCode, Fields, KkError};
use super::{enter_code, expire, new_code, program_of};
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kopilka_domain::kupikupi::{sandbox_phone, Step, TransferStatus};
use kopilka_domain::ledger::{fingerprint, OperationKind, Owner};
use kopilka_domain::money::{format_decimal, rescale};
use kopilka_domain::{Amount, Rounding};
use kopilka_store::kupikupi::{NewTransfer, Platform};
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest};
use kopilka_store::JobError;

pub async fn dispatch(
    State(state): State<AppState>,
    Path(method): Path<String>,
    body: Bytes,
) -> Response {
    let method = method.to_ascii_lowercase();
    let result = match Fields::parse(&body) {
        Err(e) => Err(e),
        Ok(fields) => match authenticate(&state, &fields).await {
            Err(e) => Err(e),
            Ok(caller) => match method.as_str() {
                "balance" => balance(&state, &caller, &fields).await,
                "init" => init(&state, &caller, &fields).await,
                "checkout" => checkout(&state, &caller, &fields).await,
                "confirmation" => confirmation(&state, &caller, &fields).await,
                "receipt" => receipt(&state, &caller, &fields).await,
                _ => Err(KkError::new(
                    ErrorCode::BadField,
                    "unknown method: balance, init, checkout, confirmation or receipt",
                )),
            },
        },
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The platform a request comes from and whether it was signed with the DevSecretKey.
struct Caller {
    platform: Platform,
    sandbox: bool,
}

async fn authenticate(state: &AppState, fields: &Fields) -> Result<Caller, KkError> {
    let uid = fields.platform_uid()?;
    let presented = fields.token()?;
    let lookup = uid.clone();
    let platform = state
        .store
        .read(move |tx| Box::pin(async move { tx.kupikupi_platform(&lookup).await }))
        .await?
        .ok_or_else(|| {
            KkError::new(
                ErrorCode::UnknownPlatform,
                format!("unknown platform {uid}"),
            )
        })?;
    let unseal = |sealed: &str| {
        state.sealer.unseal(sealed).map_err(|e| {
            KkError::from(kopilka_store::StoreError::Corrupt(format!(
                "platform key: {e}"
            )))
        })
    };
    let signed = fields.token_fields();
    let production = kopilka_domain::kupikupi::token(&signed, &unseal(&platform.sealed_secret)?);
    let sandbox = kopilka_domain::kupikupi::token(&signed, &unseal(&platform.sealed_dev_secret)?);
    // Both comparisons always run, so timing tells nothing about which key nearly matched.
    let is_production = secrets::constant_time_eq(&presented, &production);
    let is_sandbox = secrets::constant_time_eq(&presented, &sandbox);
    match (is_production, is_sandbox) {
        (true, _) => Ok(Caller {
            platform,
            sandbox: false,
        }),
        (false, true) => Ok(Caller {
            platform,
            sandbox: true,
        }),
        _ => Err(KkError::new(ErrorCode::BadToken, "invalid token")),
    }
}

fn unknown_sandbox_phone() -> KkError {
    KkError::new(
        ErrorCode::UnknownPhone,
        "test mode: only 79000000001, 79000000002 and 79000000003 are known",
    )
}

async fn balance(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Response, KkError> {
    let phone = fields.phone()?;
    if caller.sandbox {
        let test = sandbox_phone(phone.digits()).ok_or_else(unknown_sandbox_phone)?;
        return Ok(success(vec![(
            "balance",
            decimal_number(&format_decimal(Amount(test.balance), 2)),
        )]));
    }
    let platform = caller.platform.clone();
    let digits = phone.digits().to_string();
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let program = program_of(tx, &platform).await?;
                let Some(customer) = tx.customer_by_phone(program.id, &digits).await? else {
                    return Ok(None);
                };
                let rules = program.rules.clone();
                let (balance, held) = ledger::balance(
                    tx,
                    program.id,
                    &rules.currency,
                    Owner::Customer(customer.id),
                )
                .await?;
                Ok(Some((balance - held, rules.decimals)))
            })
        })
        .await?;
    let (spendable, decimals) =
        found.ok_or_else(|| KkError::new(ErrorCode::UnknownPhone, "unknown phone"))?;
    let rubles = rescale(Amount(spendable), decimals, 2, Rounding::Down);
    Ok(success(vec![(
        "balance",
        decimal_number(&format_decimal(rubles, 2)),
    )]))
}

async fn init(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Response, KkError> {
    let phone = fields.phone()?;
    let order_id = fields.text("orderId", 36)?;
    let amount = fields.kopecks("amount")?;
    if caller.sandbox && sandbox_phone(phone.digits()).is_none() {
        return Err(unknown_sandbox_phone());
    }
    let lifetime = state.config.kupikupi.form_lifetime_secs as i64 * 1000;
    let sealed_code = state.sealer.seal(&new_code());
    let form_key = secrets::random_token(16);
    let (platform, sandbox) = (caller.platform.clone(), caller.sandbox);
    let digits = phone.digits().to_string();
    let transfer = state
        .store
        .write_retrying_refusing(move || {
            let (platform, digits, order_id) = (platform.clone(), digits.clone(), order_id.clone());
            let (sealed_code, form_key) = (sealed_code.clone(), form_key.clone());
            move |tx: &mut kopilka_store::Tx| {
                Box::pin(async move {
                    if let Some(existing) = tx
                        .kupikupi_transfer_by_order(platform.id, sandbox, &order_id)
                        .await?
                    {
                        // A form past its lifetime is CANCELED first: the order starts afresh.
                        let (status, _) = expire(tx, &existing).await?;
                        if !matches!(status, TransferStatus::Rejected | TransferStatus::Canceled) {
                            if existing.phone != digits || existing.amount != amount {
                                return Err(KkError::new(
                                    ErrorCode::OrderReused,
                                    "the order was registered with other data",
                                )
                                .into());
                            }
                            if status == TransferStatus::Confirmed {
                                return Err(KkError::new(
                                    ErrorCode::AlreadyPaid,
                                    "the order is already paid",
                                )
                                .into());
                            }
                            return Ok(existing);
                        }
                    }
                    let program = program_of(tx, &platform).await?;
                    let rules = program.rules.clone();
                    // One point is one rouble; a fraction of a point the program cannot hold
                    // rounds up so the shop is never paid less than it asked.
                    let points = rescale(Amount(amount), 2, rules.decimals, Rounding::Up).0;
                    // The order's expired form, if any, was cancelled above: that stays.
                    let customer_id = if sandbox {
                        None
                    } else {
                        let Some(customer) = tx.customer_by_phone(program.id, &digits).await?
                        else {
                            return Err(JobError::RefusedKeeping(KkError::new(
                                ErrorCode::UnknownPhone,
                                "unknown phone",
                            )));
                        };
                        let (balance, held) = ledger::balance(
                            tx,
                            program.id,
                            &rules.currency,
                            Owner::Customer(customer.id),
                        )
                        .await?;
                        if balance - held < points {
                            return Err(JobError::RefusedKeeping(KkError::new(
                                ErrorCode::NotEnoughPoints,
                                "Не достаточно средств",
                            )));
                        }
                        Some(customer.id)
                    };
                    let now = tx.now();
                    let transfer = tx
                        .create_kupikupi_transfer(&NewTransfer {
                            platform_id: platform.id,
                            sandbox,
                            order_id,
                            phone: digits,
                            customer_id,
                            amount,
                            points,
                            status: TransferStatus::New,
                            sealed_code,
                            form_key,
                            expires_at: now + lifetime,
                        })
                        .await?;
                    Ok(transfer)
                })
            }
        })
        .await?;
    Ok(success(vec![
        ("paymentId", field(transfer.id)),
        ("orderId", field(transfer.order_id.clone())),
        ("amount", field(transfer.amount)),
        (
            "transferURL",
            field(super::form::url(&state.public_url, &transfer.form_key)),
        ),
    ]))
}

async fn checkout(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Response, KkError> {
    let order_id = fields.text("orderId", 36)?;
    let amount = fields.kopecks("amount")?;
    let (platform_id, sandbox) = (caller.platform.id, caller.sandbox);
    let transfer = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(transfer) = tx
                    .kupikupi_transfer_by_order(platform_id, sandbox, &order_id)
                    .await?
                else {
                    return Ok(None);
                };
                // A form past its lifetime is CANCELED now, even before the job's next pass.
                if expire(tx, &transfer).await?.1 {
                    return tx.kupikupi_transfer(transfer.id).await;
                }
                Ok(Some(transfer))
            })
        })
        .await?
        .ok_or_else(|| KkError::new(ErrorCode::UnknownOrder, "unknown order"))?;
    if transfer.amount != amount {
        return Err(KkError::new(
            ErrorCode::OrderReused,
            "the order was registered with another amount",
        ));
    }
    let status = transfer.status;
    Ok(success(vec![
        ("transferStatus", field(status.wire())),
        ("paymentId", field(transfer.id)),
        ("orderId", field(transfer.order_id.clone())),
    ]))
}

async fn confirmation(
    state: &AppState,
    caller: &Caller,
    fields: &Fields,
) -> Result<Response, KkError> {
    let phone = fields.phone()?;
    let code = fields.code()?;
    if caller.sandbox {
        return Err(KkError::new(
            ErrorCode::TransferClosed,
            "test mode: test transfers are decided when their form opens",
        ));
    }
    let (platform_id, digits) = (caller.platform.id, phone.digits().to_string());
    let sealer = state.sealer.clone();
    let public_url = state.public_url.clone();
    let outcome = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(open) = tx
                    .kupikupi_open_transfer_of_phone(platform_id, false, &digits)
                    .await?
                else {
                    return Ok(None);
                };
                enter_code(tx, &sealer, &public_url, open.id, &code).await
            })
        })
        .await?
        .ok_or_else(|| {
            KkError::new(
                ErrorCode::UnknownOrder,
                "no transfer of this phone waits for a code",
            )
        })?;
    step_response(outcome.step, &outcome.transfer)
}

/// The answer to a code: success while the transfer goes on, the matching error otherwise.
fn step_response(
    step: Step,
    transfer: &kopilka_store::kupikupi::Transfer,
) -> Result<Response, KkError> {
    match step {
        Step::Hold => Ok(success(vec![
            ("transferStatus", field(TransferStatus::Held.wire())),
            ("paymentId", field(transfer.id)),
            ("orderId", field(transfer.order_id.clone())),
        ])),
        Step::WrongCode { left } if left > 0 => Err(KkError::new(
            ErrorCode::WrongCode,
            format!("wrong code, {left} attempts left"),
        )),
        Step::WrongCode { .. } => Err(KkError::new(
            ErrorCode::TooManyAttempts,
            "too many wrong codes: the transfer is rejected",
        )),
        Step::Expired => Err(KkError::new(
            ErrorCode::Expired,
            "the transfer form expired",
        )),
        Step::Moved(TransferStatus::Rejected) => Err(KkError::new(
            ErrorCode::NotEnoughPoints,
            "Не достаточно средств",
        )),
        _ => Err(KkError::new(
            ErrorCode::TransferClosed,
            "the transfer takes no code",
        )),
    }
}

/// Registers a fiscal receipt and accrues the program's cashback on it, once per receipt.
async fn receipt(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Response, KkError> {
    let phone = fields.phone()?;
    let amount = fields.kopecks("amount")?;
    let fiscal_fn = fields.text("fn", 32)?;
    let fiscal_fd = fields.text("fd", 32)?;
    let fiscal_fp = fields.text("fp", 32)?;
    let pay_date = fields.text("pay_date", 19)?;
    if chrono::NaiveDateTime::parse_from_str(&pay_date, "%d.%m.%Y %H:%M:%S").is_err() {
        return Err(KkError::field(
            "pay_date",
            "must be d.m.Y H:i:s (23.11.2026 14:05:00)",
        ));
    }
    if caller.sandbox {
        if sandbox_phone(phone.digits()).is_none() {
            return Err(unknown_sandbox_phone());
        }
        return Ok(success(vec![
            ("paymentId", field(0)),
            ("cashback", decimal_number("0.00")),
        ]));
    }
    let platform = caller.platform.clone();
    let digits = phone.digits().to_string();
    let outcome = state
        .store
        .write_retrying_refusing(move || {
            let (platform, digits) = (platform.clone(), digits.clone());
            let (fiscal_fn, fiscal_fd, fiscal_fp, pay_date) =
                (fiscal_fn.clone(), fiscal_fd.clone(), fiscal_fp.clone(), pay_date.clone());
            move |tx: &mut kopilka_store::Tx| {
                Box::pin(async move {
                    let program = program_of(tx, &platform).await?;
                    let rules = program.rules.clone();
                    let Some(customer) = tx.customer_by_phone(program.id, &digits).await? else {
                        return Err(KkError::new(ErrorCode::UnknownPhone, "unknown phone").into());
                    };
                    let money = rescale(Amount(amount), 2, rules.money_decimals, Rounding::Down);
                    let cashback = rules.earn_for(money);
                    if cashback.0 == 0 {
                        return Ok((None, cashback, rules.decimals));
                    }
                    let outcome = ledger::execute(
                        tx,
                        LedgerRequest {
                            program_id: program.id,
                            currency: rules.currency.clone(),
                            merchant_id: Some(platform.merchant_id),
                            protocol: "kupikupi".into(),
                            idempotency: Some(Idempotency {
                                scope: format!("kupikupi:{}", platform.uid),
                                key: format!("receipt:{fiscal_fn}:{fiscal_fd}:{fiscal_fp}"),
                                fingerprint: fingerprint(&[&digits, &amount.to_string(), &pay_date]),
                            }),
                            description: Some(format!("Kupi-Kupi receipt {fiscal_fd}")),
                            details: serde_json::json!({"fn": fiscal_fn, "fd": fiscal_fd, "fp": fiscal_fp, "pay_date": pay_date, "amount": amount}),
                            action: Action::Credit {
                                kind: OperationKind::Earn,
                                customer_id: customer.id,
                                amount: cashback,
                                expires_at: rules.expiry_for(tx.now()),
                            },
                        },
                    )
                    .await?;
                    Ok((Some(outcome.operation.id), Amount(outcome.operation.amount), rules.decimals))
                })
            }
        })
        .await?;
    let (operation, cashback, decimals) = outcome;
    let rubles = rescale(cashback, decimals, 2, Rounding::Down);
    Ok(success(vec![
        ("paymentId", field(operation.map_or(0, |id| id.0))),
        ("cashback", decimal_number(&format_decimal(rubles, 2))),
    ]))
}
