//! `balance`, `init`, `checkout`, `confirmation`, `receipt`.

use super::wire::{
    decimal_number, field, success, ErrorCode, Fields, KkError, FORM_EXPIRED, NOT_ENOUGH_POINTS,
    ORDER_REUSED, TOO_MANY_CODES, TOO_MANY_CODE_SMS,
};
use super::{acknowledge, enter_code, expire, new_code, program_of, send_code, Signer};
use crate::http::ClientAddr;
use crate::secrets;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use kopilka_domain::kupikupi::{
    pay_date_in_future, receipt_cashback, sandbox_phone, ReceiptType, SaleReceipt, Step,
    TransferStatus,
};
use kopilka_domain::ledger::{fingerprint, OperationKind, Owner};
use kopilka_domain::money::{format_decimal, rescale};
use kopilka_domain::{Amount, Rounding};
use kopilka_store::kupikupi::{NewReceipt, NewTransfer, Platform, Receipt};
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest};
use kopilka_store::JobError;

pub async fn dispatch(
    State(state): State<AppState>,
    Path(method): Path<String>,
    client: ClientAddr,
    http_method: Method,
    body: Bytes,
) -> Response {
    let method = method.to_ascii_lowercase();
    answer(&state, &method, client, &http_method, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: &AppState,
    method: &str,
    client: ClientAddr,
    http_method: &Method,
    body: &[u8],
) -> Result<Response, KkError> {
    if http_method != Method::POST {
        return Err(KkError::new(
            ErrorCode::BadField,
            "Методы API вызываются POST-запросом с JSON-объектом",
        ));
    }
    let fields = Fields::parse(body)?;
    fields.whole_numbers()?;
    let caller = authenticate(state, &fields).await?;
    match method {
        "balance" => balance(state, &caller, &fields).await,
        "init" => init(state, &caller, &fields, client.to_string()).await,
        "checkout" => checkout(state, &caller, &fields).await,
        "confirmation" => confirmation(state, &caller, &fields).await,
        "receipt" => receipt(state, &caller, &fields).await,
        _ => Err(KkError::new(
            ErrorCode::BadField,
            "Неизвестный метод: balance, init, checkout, confirmation или receipt",
        )),
    }
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
        .filter(|p| p.disabled_at.is_none())
        .ok_or_else(|| {
            KkError::new(
                ErrorCode::UnknownPlatform,
                format!("Неизвестная платформа {uid}"),
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
        _ => Err(KkError::new(
            ErrorCode::BadToken,
            "Неверная подпись запроса (token)",
        )),
    }
}

fn unknown_phone() -> KkError {
    KkError::new(
        ErrorCode::UnknownPhone,
        "Пользователь с таким телефоном не найден",
    )
}

fn unknown_sandbox_phone() -> KkError {
    KkError::new(
        ErrorCode::UnknownPhone,
        "Тестовый режим: известны только телефоны 79000000001, 79000000002 и 79000000003",
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
    let (spendable, decimals) = found.ok_or_else(unknown_phone)?;
    let rubles = rescale(Amount(spendable), decimals, 2, Rounding::Down);
    Ok(success(vec![(
        "balance",
        decimal_number(&format_decimal(rubles, 2)),
    )]))
}

async fn init(
    state: &AppState,
    caller: &Caller,
    fields: &Fields,
    address: String,
) -> Result<Response, KkError> {
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
    let signer = Signer::of(state);
    let transfer = state
        .store
        .write_retrying_refusing(move || {
            let (platform, digits, order_id) = (platform.clone(), digits.clone(), order_id.clone());
            let address = address.clone();
            let (sealed_code, form_key) = (sealed_code.clone(), form_key.clone());
            let signer = signer.clone();
            move |tx: &mut kopilka_store::Tx| {
                Box::pin(async move {
                    if let Some(existing) = tx
                        .kupikupi_transfer_by_order(platform.id, sandbox, &order_id)
                        .await?
                    {
                        // A form past its lifetime is CANCELED first: the order starts afresh.
                        let (status, _) = expire(tx, &signer, &existing).await?;
                        if !matches!(status, TransferStatus::Rejected | TransferStatus::Canceled) {
                            if existing.phone != digits || existing.amount != amount {
                                return Err(
                                    KkError::new(ErrorCode::OrderReused, ORDER_REUSED).into()
                                );
                            }
                            if matches!(status, TransferStatus::Confirmed | TransferStatus::Held) {
                                return Err(KkError::new(
                                    ErrorCode::AlreadyPaid,
                                    "Заказ уже оплачен",
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
                            return Err(JobError::RefusedKeeping(unknown_phone()));
                        };
                        // A blocked member's form would only fail at its code.
                        if let Err(e) = customer.standing().may_move_points() {
                            return Err(JobError::Refused(KkError::from(
                                kopilka_store::StoreError::from(e),
                            )));
                        }
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
                                NOT_ENOUGH_POINTS,
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
                    // The code goes out now, so a shop confirming with `confirmation` from
                    // its own page has it to ask for; over a quota nothing is created.
                    if send_code(tx, &signer.sealer, &transfer, &address)
                        .await?
                        .is_err()
                    {
                        return Err(
                            KkError::new(ErrorCode::TooManyAttempts, TOO_MANY_CODE_SMS).into()
                        );
                    }
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
    let signer = Signer::of(state);
    let transfer = state
        .store
        .write_refusing(move |tx| {
            Box::pin(async move {
                let Some(transfer) = tx
                    .kupikupi_transfer_by_order(platform_id, sandbox, &order_id)
                    .await?
                else {
                    return Err(KkError::new(ErrorCode::UnknownOrder, "Заказ не найден").into());
                };
                if transfer.amount != amount {
                    return Err(KkError::new(
                        ErrorCode::OrderReused,
                        "Заказ зарегистрирован с другой суммой",
                    )
                    .into());
                }
                // A form past its lifetime is CANCELED now, even before the job's next pass.
                if expire(tx, &signer, &transfer).await?.1 {
                    return Ok(tx
                        .kupikupi_transfer(transfer.id)
                        .await?
                        .expect("read above"));
                }
                // The answer says CONFIRMED, as the notification did: the shop knows now.
                Ok(acknowledge(tx, transfer).await?)
            })
        })
        .await?;
    Ok(success(vec![
        ("transferStatus", field(transfer.status.wire())),
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
            "Тестовый режим: тестовый перевод решается при открытии формы",
        ));
    }
    let (platform_id, digits) = (caller.platform.id, phone.digits().to_string());
    let signer = Signer::of(state);
    let outcome = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let waiting = tx
                    .kupikupi_waiting_transfers_of_phone(platform_id, &digits, tx.now())
                    .await?;
                let Some(newest) = waiting.first() else {
                    return Ok(None);
                };
                // The code of any waiting transfer confirms that one; a code that fits none
                // counts against the newest, the one the customer is most likely paying.
                let mut target = newest.id;
                for transfer in &waiting {
                    let expected = signer.sealer.unseal(&transfer.sealed_code).map_err(|e| {
                        kopilka_store::StoreError::Corrupt(format!(
                            "transfer {} code: {e}",
                            transfer.id
                        ))
                    })?;
                    if secrets::constant_time_eq(&expected, &code) {
                        target = transfer.id;
                    }
                }
                let Some(mut outcome) = enter_code(tx, &signer, target, &code).await? else {
                    return Ok(None);
                };
                if outcome.step == Step::Hold {
                    // The answer says CONFIRMED: the shop knows now.
                    outcome.transfer = acknowledge(tx, outcome.transfer).await?;
                }
                Ok(Some(outcome))
            })
        })
        .await?
        .ok_or_else(|| {
            KkError::new(
                ErrorCode::UnknownOrder,
                "Нет перевода этого телефона, ожидающего код",
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
            ("transferStatus", field(transfer.status.wire())),
            ("paymentId", field(transfer.id)),
            ("orderId", field(transfer.order_id.clone())),
        ])),
        Step::WrongCode { left } if left > 0 => Err(KkError::new(
            ErrorCode::WrongCode,
            format!("Неверный код, осталось попыток: {left}"),
        )),
        Step::WrongCode { .. } => Err(KkError::new(ErrorCode::TooManyAttempts, TOO_MANY_CODES)),
        Step::Expired => Err(KkError::new(ErrorCode::Expired, FORM_EXPIRED)),
        Step::Moved(TransferStatus::Rejected) => {
            Err(KkError::new(ErrorCode::NotEnoughPoints, NOT_ENOUGH_POINTS))
        }
        _ => Err(KkError::new(
            ErrorCode::TransferClosed,
            "Перевод не ожидает кода",
        )),
    }
}

/// A receipt as the request gives it.
#[derive(Clone)]
struct ReceiptRequest {
    receipt_type: ReceiptType,
    amount: i64,
    discount: i64,
    fiscal_key: String,
    /// As written, `d.m.Y H:i:s`.
    pay_date: String,
}

impl ReceiptRequest {
    fn parse(fields: &Fields) -> Result<ReceiptRequest, KkError> {
        let receipt_type =
            ReceiptType::parse(fields.integer("receipt_type")?).ok_or_else(|| {
                KkError::field(
                    "receipt_type",
                    "должен быть 1 (приход) или 2 (возврат прихода)",
                )
            })?;
        let amount = fields.kopecks("amount")?;
        let discount = fields.kopecks_or_zero("discount")?;
        if discount > amount {
            return Err(KkError::field("discount", "не может быть больше amount"));
        }
        let fiscal_fn = fields.text("fn", 32)?;
        let fiscal_fd = fields.text("fd", 32)?;
        let fiscal_fp = fields.text("fp", 32)?;
        let pay_date = fields.text("pay_date", 19)?;
        Ok(ReceiptRequest {
            receipt_type,
            amount,
            discount,
            fiscal_key: format!("{fiscal_fn}:{fiscal_fd}:{fiscal_fp}"),
            pay_date,
        })
    }

    /// `pay_date` in unix ms, read in the program's time zone; a date in the future is refused.
    fn paid_at(&self, time_zone: &str, now: i64) -> Result<i64, KkError> {
        let format = || {
            KkError::field(
                "pay_date",
                "должна быть в формате d.m.Y H:i:s (23.11.2026 14:05:00)",
            )
        };
        let local = chrono::NaiveDateTime::parse_from_str(&self.pay_date, "%d.%m.%Y %H:%M:%S")
            .map_err(|_| format())?;
        let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
        let paid_at = local
            .and_local_timezone(tz)
            .earliest()
            .ok_or_else(format)?
            .timestamp_millis();
        if pay_date_in_future(paid_at, now) {
            return Err(KkError::field("pay_date", "не может быть в будущем"));
        }
        Ok(paid_at)
    }

    /// The same receipt sent again, or another one under its fiscal numbers.
    fn matches(&self, stored: &Receipt, customer: i64, paid_at: i64) -> bool {
        stored.customer_id.0 == customer
            && stored.receipt_type == self.receipt_type.code()
            && stored.amount == self.amount
            && stored.discount == self.discount
            && stored.pay_date == paid_at
    }
}

/// What a receipt did: the operation that moved points (0: none) and the cashback it earned.
struct Registered {
    operation_id: i64,
    cashback: Amount,
    decimals: u8,
}

/// Registers a fiscal receipt, once per receipt (`fn`, `fd`, `fp`): a sale earns the program's
/// cashback on the money paid (`amount` less `discount`); a refund earns nothing and takes back
/// what its sale earned, in proportion to the money refunded.
async fn receipt(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Response, KkError> {
    let phone = fields.phone()?;
    let request = ReceiptRequest::parse(fields)?;
    if caller.sandbox {
        request.paid_at("Europe/Moscow", kopilka_store::now_ms())?;
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
    let done = state
        .store
        .write_retrying_refusing(move || {
            let (platform, digits, request) = (platform.clone(), digits.clone(), request.clone());
            move |tx: &mut kopilka_store::Tx| {
                Box::pin(async move {
                    let program = program_of(tx, &platform).await?;
                    let rules = program.rules.clone();
                    let paid_at = request.paid_at(&rules.time_zone, tx.now())?;
                    let Some(customer) = tx.customer_by_phone(program.id, &digits).await? else {
                        return Err(unknown_phone().into());
                    };
                    let registered = |operation_id: Option<kopilka_domain::ids::OperationId>, cashback: i64| Registered {
                        operation_id: operation_id.map_or(0, |id| id.0),
                        cashback: Amount(cashback),
                        decimals: rules.decimals,
                    };
                    if let Some(stored) = tx.kupikupi_receipt(platform.id, &request.fiscal_key).await? {
                        if !request.matches(&stored, customer.id.0, paid_at) {
                            return Err(KkError::new(ErrorCode::OrderReused, "Чек уже зарегистрирован с другими данными").into());
                        }
                        let earned = if stored.receipt_type == ReceiptType::Sale.code() { stored.cashback } else { 0 };
                        return Ok(registered(stored.operation_id, earned));
                    }
                    let new = NewReceipt {
                        platform_id: platform.id,
                        customer_id: customer.id,
                        fiscal_key: request.fiscal_key.clone(),
                        receipt_type: request.receipt_type.code(),
                        amount: request.amount,
                        discount: request.discount,
                        pay_date: paid_at,
                        cashback: 0,
                        operation_id: None,
                        refund_of: None,
                    };
                    let request_for = |action: Action, idempotency: Option<Idempotency>| LedgerRequest {
                        program_id: program.id,
                        currency: rules.currency.clone(),
                        merchant_id: Some(platform.merchant_id),
                        protocol: "kupikupi".into(),
                        idempotency,
                        description: Some(format!("Kupi-Kupi receipt {}", request.fiscal_key)),
                        details: serde_json::json!({"receipt": request.fiscal_key, "receipt_type": request.receipt_type.code(), "pay_date": request.pay_date, "amount": request.amount, "discount": request.discount}),
                        action,
                    };
                    match request.receipt_type {
                        ReceiptType::Sale => {
                            let cashback = receipt_cashback(&rules, request.amount, request.discount);
                            if cashback.0 == 0 {
                                tx.create_kupikupi_receipt(&new).await?;
                                return Ok(registered(None, 0));
                            }
                            let outcome = ledger::execute(
                                tx,
                                request_for(
                                    Action::Credit {
                                        kind: OperationKind::Earn,
                                        customer_id: customer.id,
                                        amount: cashback,
                                        expires_at: rules.expiry_for(tx.now()),
                                    },
                                    // The key receipts had before they were kept: one sent
                                    // again answers its first operation.
                                    Some(Idempotency {
                                        scope: format!("kupikupi:{}", platform.uid),
                                        key: format!("receipt:{}", request.fiscal_key),
                                        fingerprint: fingerprint(&[&digits, &request.amount.to_string(), &request.pay_date]),
                                    }),
                                ),
                            )
                            .await?;
                            let earned = outcome.operation.amount;
                            tx.create_kupikupi_receipt(&NewReceipt {
                                cashback: earned,
                                operation_id: Some(outcome.operation.id),
                                ..new
                            })
                            .await?;
                            Ok(registered(Some(outcome.operation.id), earned))
                        }
                        ReceiptType::Refund => {
                            let sales = tx.kupikupi_sales_of_customer(platform.id, customer.id, paid_at).await?;
                            let sale = sales.into_iter().find(|s| {
                                SaleReceipt::from(s).fits(request.amount)
                            });
                            let Some(sale) = sale else {
                                // No sale to match: the refund is kept, and takes nothing.
                                tx.create_kupikupi_receipt(&new).await?;
                                return Ok(registered(None, 0));
                            };
                            let rules_of_sale = SaleReceipt::from(&sale);
                            let (balance, held) = ledger::balance(tx, program.id, &rules.currency, Owner::Customer(customer.id)).await?;
                            let take = rules_of_sale.take_back(request.amount, balance - held);
                            let mut operation_id = None;
                            if let (true, Some(earn)) = (take > 0, sale.operation_id) {
                                let outcome = ledger::execute(
                                    tx,
                                    request_for(Action::Reverse { operation_id: earn, amount: Some(Amount(take)) }, None),
                                )
                                .await?;
                                operation_id = Some(outcome.operation.id);
                            }
                            let taken = if operation_id.is_some() { take } else { 0 };
                            tx.kupikupi_refund_sale(sale.id, request.amount, taken).await?;
                            tx.create_kupikupi_receipt(&NewReceipt {
                                cashback: taken,
                                operation_id,
                                refund_of: Some(sale.id),
                                ..new
                            })
                            .await?;
                            Ok(registered(operation_id, 0))
                        }
                    }
                })
            }
        })
        .await?;
    let rubles = rescale(done.cashback, done.decimals, 2, Rounding::Down);
    Ok(success(vec![
        ("paymentId", field(done.operation_id)),
        ("cashback", decimal_number(&format_decimal(rubles, 2))),
    ]))
}
