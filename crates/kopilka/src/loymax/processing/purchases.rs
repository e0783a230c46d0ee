//! Purchase processing: one write job per call. It replays a repeated `operationId`, loads
//! the purchase (locked), asks the domain whether the call may come now and what it does,
//! runs the ledger actions (hold, confirm, earn, void, reversals) and stores the purchase and
//! the answer together. The wire shapes are the seed's.

use crate::http::DecimalInput;
use kopilka_domain::cheque::ChequeLine;
use kopilka_domain::ids::{CustomerId, MerchantId};
use kopilka_domain::ledger::{fingerprint, OperationKind};
use kopilka_domain::loymax_purchase::{
    check_order, Code, Method, ProcessingSettings, Purchase, PurchaseState,
};
use kopilka_domain::money::{format_decimal_trimmed, parse_decimal, Amount};
use kopilka_domain::DomainError;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::loymax_purchase::{ContextKey, PurchaseContext, PurchaseRow};
use kopilka_store::model::{Account, CustomerState};
use kopilka_store::{JobError, SharedStore, StoreError, StoreResult, Tx};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::Arc;

pub const PROTOCOL: &str = "loymax";

/// Who calls: the token's customer, at the merchant its application belongs to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub program: Arc<super::callers::ProgramEntry>,
    pub merchant_id: i64,
    pub customer_id: i64,
    /// The token the call came with, checked again inside the job.
    pub token_id: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineIn {
    pub position: i64,
    pub amount: DecimalInput,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    /// kopilka's own: the goods group discounts may target.
    pub group: Option<String>,
    pub quantity: Option<Box<RawValue>>,
    pub discount: Option<DecimalInput>,
    pub price: Option<DecimalInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChequeIn {
    #[serde(default)]
    pub lines: Vec<LineIn>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CouponIn {
    pub number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PayIn {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub amount: DecimalInput,
}

/// Every processing request body: the fields a method does not use are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestIn {
    pub operation_id: Option<String>,
    pub cheque: Option<ChequeIn>,
    pub coupons: Option<Vec<CouponIn>>,
    pub amount: Option<DecimalInput>,
    pub pin_code: Option<String>,
    pub pays: Option<Vec<PayIn>>,
}

/// A method call as the job runs it.
#[derive(Debug, Clone)]
pub enum Call {
    Calculate,
    Available,
    Payment,
    Bonus,
    Confirm,
    Cancel,
    Refund,
    /// `Operations/{operationId}/Cancel`: one earlier operation of the purchase.
    CancelOperation(String),
}

impl Call {
    fn method(&self) -> Method {
        match self {
            Call::Calculate => Method::Calculate,
            Call::Available => Method::Available,
            Call::Payment => Method::Payment,
            Call::Bonus => Method::Bonus,
            Call::Confirm => Method::Confirm,
            Call::Cancel | Call::CancelOperation(_) => Method::Cancel,
            Call::Refund => Method::Refund,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Call::CancelOperation(_) => "cancel_operation",
            other => other.method().as_str(),
        }
    }
}

/// What a call came to.
#[derive(Debug, Clone)]
pub enum Processed {
    /// The operation's result (`data[0]`) as JSON text, new or replayed.
    Done(String),
    /// A refusal.
    Answer(Answer),
    /// The token ended or its customer was blocked since the caller was remembered.
    Unauthorized,
    /// The program's rules or settings changed since they were parsed: run the call again.
    StaleProgram,
}

/// A refused operation (`data[0]`) and its code.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: Code,
    pub item: Value,
}

/// A refusal of the request itself (bad fields): a validation error in the envelope.
#[derive(Debug)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The parsed, validated input of a call.
#[derive(Debug, Clone)]
struct Input {
    operation_id: String,
    lines: Vec<ChequeLine>,
    /// The lines as sent, for echoing `goodsId`, `barcode` and `quantity`.
    echo: Vec<(i64, Option<String>, Option<String>, Value)>,
    coupons: Vec<String>,
    amount: Option<i64>,
    pin: Option<String>,
    loymax_paid: i64,
}

fn money(d: &DecimalInput, field: &str, decimals: u8) -> Result<i64, Invalid> {
    let a = parse_decimal(&d.0, decimals).map_err(|e| invalid(field, e.to_string()))?;
    if a.0 < 0 {
        return Err(invalid(field, "must not be negative"));
    }
    Ok(a.0)
}

fn parse_input(call: &Call, body: &RequestIn, decimals: u8) -> Result<Input, Invalid> {
    let operation_id = body
        .operation_id
        .clone()
        .filter(|o| !o.is_empty() && o.len() <= 128)
        .ok_or_else(|| invalid("operationId", "required, up to 128 characters"))?;
    let needs_cheque = matches!(
        call,
        Call::Calculate | Call::Available | Call::Payment | Call::Bonus
    );
    let mut lines = Vec::new();
    let mut echo = Vec::new();
    if let Some(cheque) = &body.cheque {
        for (i, l) in cheque.lines.iter().enumerate() {
            let f = |name: &str| format!("cheque.lines[{i}].{name}");
            let amount = money(&l.amount, &f("amount"), decimals)?;
            let discount = match &l.discount {
                Some(d) => money(d, &f("discount"), decimals)?,
                None => 0,
            };
            let price = match &l.price {
                Some(p) => money(p, &f("price"), decimals)?,
                None => 0,
            };
            // Tills leave the price out (or 0) once discounts are applied.
            let price = if price == 0 { amount + discount } else { price };
            if amount > price {
                return Err(invalid(&f("amount"), "exceeds the price"));
            }
            lines.push(ChequeLine {
                position: l.position,
                goods_id: l.goods_id.clone(),
                barcode: l.barcode.clone(),
                group: l.group.clone(),
                price,
                till_discount: price - amount,
                amount,
            });
            let quantity = l
                .quantity
                .as_deref()
                .and_then(|q| serde_json::from_str(q.get()).ok())
                .unwrap_or(json!(1));
            echo.push((l.position, l.goods_id.clone(), l.barcode.clone(), quantity));
        }
    }
    if needs_cheque && lines.is_empty() {
        return Err(invalid("cheque.lines", "required"));
    }
    let mut positions: Vec<i64> = lines.iter().map(|l| l.position).collect();
    positions.sort_unstable();
    positions.dedup();
    if positions.len() != lines.len() {
        return Err(invalid("cheque.lines", "positions must be unique"));
    }
    let amount = match (&body.amount, call) {
        (Some(a), _) => Some(money(a, "amount", decimals)?),
        (None, Call::Payment) => return Err(invalid("amount", "required")),
        (None, _) => None,
    };
    let mut loymax_paid = 0;
    for (i, pay) in body.pays.iter().flatten().enumerate() {
        if pay
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("loymax"))
        {
            loymax_paid += money(&pay.amount, &format!("pays[{i}].amount"), decimals)?;
        }
    }
    Ok(Input {
        operation_id,
        lines,
        echo,
        coupons: body
            .coupons
            .iter()
            .flatten()
            .filter_map(|c| c.number.clone())
            .filter(|n| !n.is_empty())
            .collect(),
        amount,
        pin: body.pin_code.clone(),
        loymax_paid,
    })
}

/// Runs one call. `Err` is a validation error of the request; business outcomes are answers.
pub async fn process(
    store: &SharedStore,
    caller: Caller,
    purchase_id: String,
    call: Call,
    raw_body: &[u8],
    body: &RequestIn,
) -> Result<Processed, Invalid> {
    let rules = &caller.program.rules;
    if rules.decimals != rules.money_decimals {
        return Ok(Processed::Answer(error(
            Code::SystemError,
            "",
            "points and money must have the same decimals",
        )));
    }
    let settings = match &caller.program.settings {
        Ok(s) => s.clone(),
        Err(e) => {
            return Ok(Processed::Answer(error(
                Code::SystemError,
                "",
                &format!("program settings: {e}"),
            )))
        }
    };
    if purchase_id.is_empty() || purchase_id.len() > 128 {
        return Err(invalid("purchaseId", "required, up to 128 characters"));
    }
    let input = parse_input(&call, body, rules.decimals)?;
    let fingerprint = fingerprint(&[
        &purchase_id,
        call.name(),
        &String::from_utf8_lossy(raw_body),
    ]);
    // The PIN is checked before the job: hashing is slow and must not hold the writer.
    let mut pin_ok = true;
    if matches!(call, Call::Payment) && settings.pin_required {
        pin_ok = check_pin(store, &caller, input.pin.clone()).await;
    }
    let job = Arc::new(Job {
        caller,
        purchase_id,
        call,
        input,
        fingerprint,
        settings,
        pin_ok,
    });
    let result = store
        .write_retrying_refusing(|| {
            let job = job.clone();
            move |tx: &mut Tx| Box::pin(async move { job.run(tx).await })
        })
        .await;
    let operation_id = &job.input.operation_id;
    Ok(match result {
        Ok(processed) => processed,
        Err(
            JobError::Refused(Refused(code, message))
            | JobError::RefusedKeeping(Refused(code, message)),
        ) => Processed::Answer(error(code, operation_id, &message)),
        Err(JobError::Store(e)) => {
            tracing::error!("loymax processing failed: {e}");
            Processed::Answer(error(Code::SystemError, operation_id, "system error"))
        }
    })
}

/// Checks the spend PIN against the customer's hash, throttled as passwords are
/// (`kopilka_domain::throttle`), the shop standing for the address: its server makes every
/// customer's calls.
async fn check_pin(store: &SharedStore, caller: &Caller, pin: Option<String>) -> bool {
    let customer_id = CustomerId(caller.customer_id);
    let hash = store
        .read(move |tx| Box::pin(async move { tx.customer(customer_id).await }))
        .await
        .map(|c| c.and_then(|c| c.pin_hash));
    let (Ok(hash), Some(pin)) = (hash, pin) else {
        return false;
    };
    let shop = format!("merchant:{}", caller.merchant_id);
    let checked = crate::loymax::auth::check_secret(
        store,
        kopilka_domain::throttle::Secret::Pin,
        customer_id,
        hash,
        pin,
        &shop,
    )
    .await;
    match checked {
        Ok(check) => check == crate::loymax::auth::SecretCheck::Right,
        Err(e) => {
            tracing::warn!("checking a PIN failed: {e}");
            false
        }
    }
}

#[derive(Debug, Clone)]
struct Job {
    caller: Caller,
    purchase_id: String,
    call: Call,
    input: Input,
    fingerprint: String,
    settings: ProcessingSettings,
    pin_ok: bool,
}

/// A business refusal inside the job: rolls the job back (nothing it wrote stays).
struct Refused(Code, String);

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(DomainError::InsufficientFunds { .. }) => {
                Refused(Code::NotEnoughMoney, "Недостаточно бонусов".into())
            }
            StoreError::Domain(d) => Refused(Code::BusinessError, d.to_string()),
            other => Refused(Code::SystemError, other.to_string()),
        }
    }
}

impl Job {
    async fn run(&self, tx: &mut Tx) -> Result<Processed, JobError<Refused>> {
        let merchant = self.caller.merchant_id;
        let program = &self.caller.program;
        let key = ContextKey {
            program_id: program.program.id,
            currency: &program.rules.currency,
            customer_id: CustomerId(self.caller.customer_id),
            token_id: self.caller.token_id,
            merchant_id: MerchantId(merchant),
            purchase_id: &self.purchase_id,
            operation_id: &self.input.operation_id,
        };
        let Some(context) = tx.loymax_purchase_context(&key).await? else {
            return Ok(Processed::Unauthorized);
        };
        if !context.token_live || context.customer_state == CustomerState::Blocked {
            return Ok(Processed::Unauthorized);
        }
        if !program.is_current(&context.program_rules, &context.program_settings) {
            return Ok(Processed::StaleProgram);
        }
        let operation_id = self.input.operation_id.clone();
        if let Some(done) = &context.operation {
            if done.fingerprint == self.fingerprint {
                let item = if shows_transaction(&done.method) {
                    with_transaction(&done.answer, done.id)?
                } else {
                    done.answer.clone()
                };
                return Ok(Processed::Done(item));
            }
            return Ok(Processed::Answer(error(
                Code::NotUniqueOperationId,
                &operation_id,
                "operationId уже использован для другой операции",
            )));
        }
        // A refusal may come after the job wrote (a reversal the customer cannot cover): its
        // writes roll back.
        match self.decide(tx, context).await {
            Ok(item) => Ok(Processed::Done(item)),
            Err(Outcome::Refused(refused)) => Err(JobError::Refused(refused)),
            Err(Outcome::Store(e)) => Err(e.into()),
        }
    }

    async fn decide(&self, tx: &mut Tx, context: PurchaseContext) -> Result<String, Outcome> {
        let merchant = self.caller.merchant_id;
        let mut account = context.account;
        let row = context.purchase;
        if let Some(r) = &row {
            if r.customer_id != CustomerId(self.caller.customer_id) {
                return Err(refused(Code::PurchaseNotFound, "Покупка не найдена"));
            }
        }
        let mut purchase: Option<Purchase> = match &row {
            Some(r) => Some(
                serde_json::from_str(&r.data)
                    .map_err(|e| Outcome::Store(StoreError::Corrupt(e.to_string())))?,
            ),
            None => None,
        };
        let state = purchase.as_ref().map(|p| p.state);
        if let Call::CancelOperation(_) = &self.call {
            // Checked against the operation's own method below.
        } else if let Err(code) = check_order(state, self.call.method()) {
            return Err(refused(code, order_message(code)));
        }
        let rules = &self.settings.rules;
        let decimals = self.caller.program.rules.decimals;
        let spendable = account.spendable();
        let mut row = row.unwrap_or_else(|| PurchaseRow {
            id: 0,
            program_id: self.caller.program.program.id,
            merchant_id: MerchantId(merchant),
            customer_id: CustomerId(self.caller.customer_id),
            purchase_id: self.purchase_id.clone(),
            // Set from the purchase before the row is saved.
            state: PurchaseState::Calculated,
            data: String::new(),
            hold_operation: None,
            earn_operation: None,
            expires_at: None,
            created_at: 0,
            updated_at: 0,
        });
        let mut messages: Vec<String> = Vec::new();
        let mut amounts = Amounts::default();
        let mut cheque_view = ChequeView::Priced {
            pay: false,
            cashback: false,
        };
        match &self.call {
            Call::Calculate => {
                let (known, unknown): (Vec<String>, Vec<String>) =
                    self.input.coupons.iter().cloned().partition(|c| {
                        rules.coupons.iter().any(|r| r.code.eq_ignore_ascii_case(c))
                    });
                for c in unknown {
                    messages.push(format!("Купон {c} не найден"));
                }
                let p = Purchase::calculate(self.input.lines.clone(), known, rules)
                    .map_err(|c| refused(c, "Чек не может быть рассчитан"))?;
                let available = p.priced.available(spendable);
                amounts.available_amount = Some(number(available, decimals));
                amounts.available_bonus_amount = Some(number(available, decimals));
                purchase = Some(p);
                row.expires_at = Some(tx.now() + self.settings.unconfirmed_ttl_ms());
            }
            Call::Available => {
                let p = purchase.as_ref().expect("checked: calculated");
                self.same_cheque(p)?;
                let available = p.priced.available(spendable);
                amounts.available_amount = Some(number(available, decimals));
                amounts.available_bonus_amount = Some(number(available, decimals));
            }
            Call::Payment => {
                let p = purchase.as_mut().expect("checked: calculated");
                self.same_cheque(p)?;
                if !self.pin_ok {
                    return Err(refused(Code::WrongPin, "Неверный PIN-код"));
                }
                let amount = self.input.amount.unwrap_or(0);
                p.pay(amount, spendable)
                    .map_err(|c| refused(c, payment_message(c)))?;
                let outcome = self
                    .book(
                        tx,
                        &mut account,
                        Action::Debit {
                            kind: OperationKind::Redeem,
                            customer_id: CustomerId(self.caller.customer_id),
                            amount: Amount(amount),
                            hold: true,
                        },
                        "оплата бонусами",
                    )
                    .await?;
                row.hold_operation = Some(outcome.operation.id);
                amounts.amount = Some(number(amount, decimals));
                amounts.bonus_amount = Some(number(amount, decimals));
                cheque_view = ChequeView::Priced {
                    pay: true,
                    cashback: false,
                };
            }
            Call::Bonus => {
                let p = purchase.as_mut().expect("checked: calculated or paid");
                self.same_cheque(p)?;
                p.account(self.input.loymax_paid, rules)
                    .map_err(|c| refused(c, "Сумма оплаты бонусами не совпадает с оплатой"))?;
                cheque_view = ChequeView::Priced {
                    pay: false,
                    cashback: true,
                };
            }
            Call::Confirm => {
                let p = purchase.as_mut().expect("checked: accounted");
                if let Some(hold) = row.hold_operation {
                    self.book(
                        tx,
                        &mut account,
                        Action::Confirm { operation_id: hold },
                        "оплата бонусами",
                    )
                    .await?;
                }
                let earned = p.earned_total();
                if earned > 0 {
                    let expires_at = self.caller.program.rules.expiry_for(tx.now());
                    let outcome = self
                        .book(
                            tx,
                            &mut account,
                            Action::Credit {
                                kind: OperationKind::Earn,
                                customer_id: CustomerId(self.caller.customer_id),
                                amount: Amount(earned),
                                expires_at,
                            },
                            "начисление за покупку",
                        )
                        .await?;
                    row.earn_operation = Some(outcome.operation.id);
                }
                p.state = PurchaseState::Confirmed;
                cheque_view = ChequeView::None;
            }
            Call::Cancel => {
                let p = purchase.as_mut().expect("checked: exists");
                self.cancel_purchase(tx, &mut account, &row, p).await?;
                cheque_view = ChequeView::None;
            }
            Call::Refund => {
                let p = purchase.as_mut().expect("checked: confirmed");
                let requests: Option<Vec<(i64, i64)>> = if self.input.lines.is_empty() {
                    None
                } else {
                    Some(
                        self.input
                            .lines
                            .iter()
                            .map(|l| (l.position, l.amount))
                            .collect(),
                    )
                };
                let (returned, reclaimed) = p
                    .refund(requests.as_deref())
                    .map_err(|c| refused(c, "Возврат превышает сумму покупки"))?;
                let reclaimed = self
                    .reverse(tx, &mut account, &row, returned, reclaimed)
                    .await?;
                amounts.bonus_amount = Some(number(returned, decimals));
                amounts.cashback_amount = Some(number(reclaimed, decimals));
                cheque_view = ChequeView::None;
            }
            Call::CancelOperation(target) => {
                let p = purchase
                    .as_mut()
                    .ok_or_else(|| refused(Code::OperationNotFound, "Операция не найдена"))?;
                let op = tx
                    .loymax_purchase_operation(MerchantId(merchant), target)
                    .await?
                    .filter(|o| o.purchase == row.id)
                    .ok_or_else(|| refused(Code::OperationNotFound, "Операция не найдена"))?;
                if p.cancelled_operations.contains(target) || p.state == PurchaseState::Cancelled {
                    return Err(refused(Code::OperationIsCanceled, "Операция уже отменена"));
                }
                match (op.method.as_str(), p.state) {
                    ("payment", PurchaseState::Paid | PurchaseState::Accounted) => {
                        if let Some(hold) = row.hold_operation.take() {
                            self.book(
                                tx,
                                &mut account,
                                Action::Void { operation_id: hold },
                                "отмена оплаты",
                            )
                            .await?;
                        }
                        p.drop_payment();
                    }
                    ("bonus", PurchaseState::Accounted) => p.drop_bonus(),
                    ("calculate" | "confirm", _) => {
                        self.cancel_purchase(tx, &mut account, &row, p).await?
                    }
                    (_, PurchaseState::Confirmed) => {
                        return Err(refused(
                            Code::ConfirmedPurchaseOperation,
                            "Покупка подтверждена: отмените её целиком",
                        ))
                    }
                    _ => {
                        return Err(refused(
                            Code::IncorrectOperationOrder,
                            "Операцию нельзя отменить",
                        ))
                    }
                }
                p.cancelled_operations.push(target.clone());
                cheque_view = ChequeView::None;
            }
        }
        let p = purchase.expect("every call that gets here has a purchase");
        if !p.state.is_open() {
            row.expires_at = None;
        }
        row.state = p.state;
        row.data = serde_json::to_string(&p).expect("purchase serializes");
        if !p.priced.applied.is_empty() && matches!(self.call, Call::Calculate) {
            messages.insert(0, format!("Применено: {}", p.priced.applied.join(", ")));
        }
        let item = Item {
            amounts,
            cashier_message: (!messages.is_empty()).then(|| messages.join("; ")),
            cheque: self.cheque(&p, cheque_view, decimals),
            cheque_message: (!p.priced.applied.is_empty()).then(|| p.priced.applied.join(", ")),
            code: Code::Ok.as_str(),
            device_logical_id: (),
            error_message: (),
            operation_id: &self.input.operation_id,
            // Filled in below from the operation's row, which stores the answer without it.
            transaction_id: None,
        };
        let mut item = serde_json::to_string(&item).expect("an answer serializes");
        let purchase_pk = tx.loymax_save_purchase(&row).await?;
        let transaction_id = tx
            .loymax_record_operation(
                purchase_pk,
                MerchantId(merchant),
                &self.input.operation_id,
                self.call.name(),
                &self.fingerprint,
                &item,
            )
            .await?;
        if shows_transaction(self.call.name()) {
            item = with_transaction(&item, transaction_id)?;
        }
        Ok(item)
    }

    fn same_cheque(&self, p: &Purchase) -> Result<(), Outcome> {
        if p.same_cheque(&self.input.lines) {
            Ok(())
        } else {
            Err(refused(
                Code::DifferentCheque,
                "Чек изменился после расчёта",
            ))
        }
    }

    fn ledger(&self, action: Action, description: &str) -> LedgerRequest {
        let program = &self.caller.program;
        LedgerRequest {
            program_id: program.program.id,
            currency: program.rules.currency.clone(),
            merchant_id: Some(MerchantId(self.caller.merchant_id)),
            protocol: PROTOCOL.into(),
            idempotency: None,
            description: Some(description.into()),
            details: json!({"purchase_id": self.purchase_id, "operation_id": self.input.operation_id}),
            action,
        }
    }

    /// Runs a ledger action on the customer's account the job locked first, keeping
    /// `account` as the action leaves it.
    async fn book(
        &self,
        tx: &mut Tx,
        account: &mut Account,
        action: Action,
        description: &str,
    ) -> StoreResult<ledger::Outcome> {
        let outcome = ledger::execute_locked(tx, self.ledger(action, description), account).await?;
        account.balance = outcome.balance;
        account.held = outcome.held;
        Ok(outcome)
    }

    /// Cancels a purchase: an open one releases its hold; a confirmed one gives back what
    /// remains of its payment and takes back what remains of its bonus.
    async fn cancel_purchase(
        &self,
        tx: &mut Tx,
        account: &mut Account,
        row: &PurchaseRow,
        p: &mut Purchase,
    ) -> Result<(), Outcome> {
        if p.state == PurchaseState::Confirmed {
            let (returned, reclaimed) = p.unreturned();
            self.reverse(tx, account, row, returned, reclaimed).await?;
            let paid = p.paid.clone();
            let earned = p.earned.clone();
            p.returned = paid;
            p.reclaimed = earned;
        } else if let Some(hold) = row.hold_operation {
            self.book(
                tx,
                account,
                Action::Void { operation_id: hold },
                "отмена покупки",
            )
            .await?;
        }
        p.state = PurchaseState::Cancelled;
        Ok(())
    }

    /// Reverses `returned` of the payment and up to `reclaimed` of the bonus (no more than
    /// the customer can still spend). Returns the bonus actually taken back.
    async fn reverse(
        &self,
        tx: &mut Tx,
        account: &mut Account,
        row: &PurchaseRow,
        returned: i64,
        reclaimed: i64,
    ) -> Result<i64, Outcome> {
        if returned > 0 {
            if let Some(hold) = row.hold_operation {
                self.book(
                    tx,
                    account,
                    Action::Reverse {
                        operation_id: hold,
                        amount: Some(Amount(returned)),
                    },
                    "возврат оплаты бонусами",
                )
                .await?;
            }
        }
        let mut taken = 0;
        if reclaimed > 0 {
            if let Some(earn) = row.earn_operation {
                taken = reclaimed.min(account.spendable());
                if taken > 0 {
                    self.book(
                        tx,
                        account,
                        Action::Reverse {
                            operation_id: earn,
                            amount: Some(Amount(taken)),
                        },
                        "списание начисленных за покупку бонусов",
                    )
                    .await?;
                }
            }
        }
        Ok(taken)
    }

    fn cheque<'a>(&'a self, p: &Purchase, view: ChequeView, decimals: u8) -> Option<ChequeOut<'a>> {
        let (pay, cashback) = match view {
            ChequeView::None => return None,
            ChequeView::Priced { pay, cashback } => (pay, cashback),
        };
        let lines = p
            .priced
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let echo = self.input.echo.iter().find(|e| e.0 == l.position);
                LineOut {
                    amount: number(l.amount, decimals),
                    barcode: echo.and_then(|e| e.2.as_deref()),
                    cashback: cashback.then(|| number(p.earned[i], decimals)),
                    discount: number(l.discount, decimals),
                    goods_id: echo.and_then(|e| e.1.as_deref()),
                    message: (),
                    pay_amount: pay.then(|| number(p.paid[i], decimals)),
                    position: l.position,
                    quantity: echo.map_or_else(|| json!(1), |e| e.3.clone()),
                }
            })
            .collect();
        Some(ChequeOut {
            lines,
            total_amount: number(p.priced.total_amount, decimals),
            total_cashback: number(if cashback { p.earned_total() } else { 0 }, decimals),
            total_discount: number(p.priced.total_discount, decimals),
        })
    }
}

/// `data[0]` of an answer. Fields in alphabetical order, as the stored answers have always had
/// them (`serde_json::Map` sorts its keys): `transactionId` comes last, where
/// [`with_transaction`] finds it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    #[serde(flatten)]
    amounts: Amounts,
    cashier_message: Option<String>,
    cheque: Option<ChequeOut<'a>>,
    cheque_message: Option<String>,
    code: &'static str,
    device_logical_id: (),
    error_message: (),
    operation_id: &'a str,
    transaction_id: Option<i64>,
}

/// The amounts a method shows, each only when it shows it.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Amounts {
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_amount: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_bonus_amount: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bonus_amount: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cashback_amount: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChequeOut<'a> {
    lines: Vec<LineOut<'a>>,
    total_amount: Value,
    total_cashback: Value,
    total_discount: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineOut<'a> {
    amount: Value,
    barcode: Option<&'a str>,
    cashback: Option<Value>,
    discount: Value,
    goods_id: Option<&'a str>,
    message: (),
    pay_amount: Option<Value>,
    position: i64,
    quantity: Value,
}

/// A stored answer with its `transactionId`: stored answers end with `"transactionId":null}`
/// (see [`Item`]); one that does not is parsed and the key set.
fn with_transaction(answer: &str, id: i64) -> StoreResult<String> {
    const UNSET: &str = "\"transactionId\":null}";
    if let Some(head) = answer.strip_suffix(UNSET) {
        return Ok(format!("{head}\"transactionId\":{id}}}"));
    }
    let mut item: Value =
        serde_json::from_str(answer).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item["transactionId"] = json!(id);
    Ok(item.to_string())
}

#[derive(Debug, Clone, Copy)]
enum ChequeView {
    None,
    Priced { pay: bool, cashback: bool },
}

enum Outcome {
    Refused(Refused),
    Store(StoreError),
}

impl From<StoreError> for Outcome {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(DomainError::InsufficientFunds { .. }) => {
                Outcome::Refused(Refused::from(e))
            }
            StoreError::Domain(_) => Outcome::Refused(Refused::from(e)),
            other => Outcome::Store(other),
        }
    }
}

fn refused(code: Code, message: &str) -> Outcome {
    Outcome::Refused(Refused(code, message.into()))
}

/// Whether a method's answer shows its `transactionId` (the operation row's id).
fn shows_transaction(method: &str) -> bool {
    matches!(method, "payment" | "bonus" | "refund")
}

fn order_message(code: Code) -> &'static str {
    match code {
        Code::PurchaseNotFound => "Покупка не найдена",
        Code::OperationIsCanceled => "Покупка отменена",
        Code::OperationIsConfirmed => "Покупка уже подтверждена",
        Code::ConfirmedPurchaseOperation => "Покупка подтверждена",
        Code::PurchaseExtraPayment => "Покупка уже оплачена",
        _ => "Неверный порядок операций",
    }
}

fn payment_message(code: Code) -> &'static str {
    match code {
        Code::LargePaymentAmount => "Сумма оплаты больше доступной",
        Code::NotEnoughMoney => "Недостаточно бонусов",
        _ => "Сумма оплаты не указана",
    }
}

fn error_answer(code: Code, operation_id: &str, message: &str) -> Answer {
    Answer {
        code,
        item: json!({
            "transactionId": Value::Null,
            "deviceLogicalId": Value::Null,
            "operationId": operation_id,
            "code": code.as_str(),
            "errorMessage": message,
            "cashierMessage": Value::Null,
            "chequeMessage": Value::Null,
            "cheque": Value::Null,
        }),
    }
}

fn error(code: Code, operation_id: &str, message: &str) -> Answer {
    error_answer(code, operation_id, message)
}

/// Minor units as a JSON number written from the exact decimal text (76.5, 500).
pub fn number(amount: i64, decimals: u8) -> Value {
    serde_json::from_str(&format_decimal_trimmed(Amount(amount), decimals))
        .expect("a decimal is valid JSON")
}

/// Cancels one purchase left unconfirmed past its time, releasing its hold. Returns whether
/// it did (another call may have moved it on first).
pub async fn expire(tx: &mut Tx, id: i64, now: i64) -> StoreResult<bool> {
    let Some(found) = tx.loymax_purchase_by_id(id).await? else {
        return Ok(false);
    };
    // The customer's account is locked before the purchase is read for good, as every
    // processing call does (`loymax_purchase_context`).
    let currency = match found.hold_operation {
        Some(hold) => ledger::operation(tx, hold).await?.map(|o| o.currency),
        None => tx
            .program(found.program_id)
            .await?
            .map(|p| p.rules.currency.clone()),
    }
    .unwrap_or_default();
    let account = ledger::lock_account(
        tx,
        found.program_id,
        &currency,
        kopilka_domain::ledger::Owner::Customer(found.customer_id),
    )
    .await?;
    let Some(mut row) = tx.loymax_purchase_by_id(id).await? else {
        return Ok(false);
    };
    if row.expires_at.is_none_or(|at| at > now) {
        return Ok(false);
    }
    let mut purchase: Purchase =
        serde_json::from_str(&row.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if !purchase.state.is_open() {
        row.expires_at = None;
        tx.loymax_save_purchase(&row).await?;
        return Ok(false);
    }
    if let Some(hold) = row.hold_operation {
        ledger::execute_locked(
            tx,
            LedgerRequest {
                program_id: row.program_id,
                currency,
                merchant_id: Some(row.merchant_id),
                protocol: PROTOCOL.into(),
                idempotency: None,
                description: Some("покупка не подтверждена вовремя".into()),
                details: json!({"purchase_id": row.purchase_id}),
                action: Action::Void { operation_id: hold },
            },
            &account,
        )
        .await?;
    }
    purchase.state = PurchaseState::Cancelled;
    row.state = purchase.state;
    row.data = serde_json::to_string(&purchase).expect("purchase serializes");
    row.expires_at = None;
    tx.loymax_save_purchase(&row).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The item is written as `serde_json::Map` wrote it (keys sorted, `transactionId` last),
    /// so stored answers old and new read the same and take their id without a parse.
    #[test]
    fn an_item_reads_as_a_sorted_map_and_takes_its_transaction_id() {
        let item = Item {
            amounts: Amounts {
                amount: Some(number(1000, 2)),
                bonus_amount: Some(number(1000, 2)),
                ..Amounts::default()
            },
            cashier_message: None,
            cheque: Some(ChequeOut {
                lines: vec![LineOut {
                    amount: number(7650, 2),
                    barcode: None,
                    cashback: None,
                    discount: number(850, 2),
                    goods_id: Some("g1"),
                    message: (),
                    pay_amount: Some(number(1000, 2)),
                    position: 1,
                    quantity: json!(1),
                }],
                total_amount: number(7650, 2),
                total_cashback: number(0, 2),
                total_discount: number(850, 2),
            }),
            cheque_message: Some("10%".into()),
            code: Code::Ok.as_str(),
            device_logical_id: (),
            error_message: (),
            operation_id: "op-1",
            transaction_id: None,
        };
        let text = serde_json::to_string(&item).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.to_string(), text);
        let mut expected = value.clone();
        expected["transactionId"] = json!(42);
        assert_eq!(with_transaction(&text, 42).unwrap(), expected.to_string());
        let reordered = r#"{"transactionId":null,"code":"Ok"}"#;
        assert_eq!(
            with_transaction(reordered, 7).unwrap(),
            r#"{"code":"Ok","transactionId":7}"#
        );
    }
}
