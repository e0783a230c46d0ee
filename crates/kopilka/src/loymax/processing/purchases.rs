//! Purchase processing: one write job per call. It replays a repeated `operationId`, loads
//! the purchase (locked), asks the domain whether the call may come now and what it does,
//! runs the ledger actions (hold, confirm, earn, void, reversals) and stores the purchase and
//! the answer together. The wire shapes are the seed's.

use super::texts::Texts;
use crate::http::DecimalInput;
use kopilka_domain::cheque::{presented_coupons, ChequeLine, Quantity, TillLine};
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId};
use kopilka_domain::ledger::{fingerprint, OperationKind};
use kopilka_domain::loymax_purchase::{
    check_order, Booking, Code, Method, ProcessingSettings, Purchase, PurchaseState,
};
use kopilka_domain::money::{format_decimal_trimmed, parse_decimal, Amount};
use kopilka_domain::offers::{
    accruals_by_offer, offers_know_coupon, refund_usage, usage_keys, ChequeFacts, ChequeOffers,
    Customer, EffectKind, Evaluation, Event, Offer, Outcome as TraceOutcome, Trigger, Usage,
};
use kopilka_domain::DomainError;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::loymax_purchase::{ContextKey, PurchaseContext, PurchaseRow};
use kopilka_store::model::{Account, CustomerState};
use kopilka_store::offers::{lock_usage, record_event, return_usage, write_evaluation};
use kopilka_store::{JobError, SharedStore, StoreError, StoreResult, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
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
    pub name: Option<String>,
    pub quantity: Option<DecimalInput>,
    pub discount: Option<DecimalInput>,
    pub price: Option<DecimalInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChequeIn {
    /// The cheque's number at the till (history's `chequeNumber`).
    pub number: Option<String>,
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
    /// A system error (the store failed, the program's settings are unusable): answered as
    /// `state: Fail` with an error id that is also in the log.
    Failed(String),
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
    cheque_number: Option<String>,
    lines: Vec<ChequeLine>,
    coupons: Vec<String>,
    amount: Option<i64>,
    pin: Option<String>,
    loymax_paid: i64,
}

/// The most lines a cheque may have, and the longest text of a line or coupon.
const MAX_LINES: usize = 1_000;
const MAX_TEXT: usize = 256;

impl Input {
    /// What the call means, for telling a retry from a different call under the same
    /// `operationId`: the purchase, the method and every field as parsed (not the bytes:
    /// whitespace, key order, number spelling and `operationDate` do not count, nor the PIN,
    /// which proves who pays and is no part of what is paid).
    fn meaning(&self, purchase_id: &str, call: &Call) -> String {
        #[derive(Serialize)]
        struct Meaning<'a> {
            purchase_id: &'a str,
            call: &'a str,
            target: Option<&'a str>,
            cheque_number: Option<&'a str>,
            lines: &'a [ChequeLine],
            coupons: Vec<String>,
            amount: Option<i64>,
            loymax_paid: i64,
        }
        let mut coupons: Vec<String> = self.coupons.iter().map(|c| c.to_uppercase()).collect();
        coupons.sort();
        coupons.dedup();
        let meaning = Meaning {
            purchase_id,
            call: call.name(),
            target: match call {
                Call::CancelOperation(target) => Some(target),
                _ => None,
            },
            cheque_number: self.cheque_number.as_deref(),
            lines: &self.lines,
            coupons,
            amount: self.amount,
            loymax_paid: self.loymax_paid,
        };
        fingerprint(&[&serde_json::to_string(&meaning).expect("a meaning serializes")])
    }
}

fn money(d: &DecimalInput, field: &str, decimals: u8, t: Texts) -> Result<i64, Invalid> {
    let a = parse_decimal(&d.0, decimals).map_err(|_| invalid(field, t.bad_amount(decimals)))?;
    if a.0 < 0 {
        return Err(invalid(
            field,
            t.pick("не может быть отрицательной", "must not be negative"),
        ));
    }
    Ok(a.0)
}

fn text(value: &Option<String>, field: &str, t: Texts) -> Result<Option<String>, Invalid> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT => Err(invalid(field, t.too_long(MAX_TEXT))),
        Some(v) if v.contains('\0') => Err(invalid(field, t.nul())),
        other => Ok(other.clone().filter(|v| !v.is_empty())),
    }
}

fn parse_input(call: &Call, body: &RequestIn, decimals: u8, t: Texts) -> Result<Input, Invalid> {
    let operation_id = body
        .operation_id
        .clone()
        .filter(|o| !o.is_empty() && o.len() <= 128 && !o.contains('\0'))
        .ok_or_else(|| {
            invalid(
                "operationId",
                t.pick(
                    "обязательное поле, до 128 символов",
                    "required, up to 128 characters",
                ),
            )
        })?;
    let needs_cheque = matches!(
        call,
        Call::Calculate | Call::Available | Call::Payment | Call::Bonus
    );
    let mut lines = Vec::new();
    let mut cheque_number = None;
    if let Some(cheque) = &body.cheque {
        cheque_number = text(&cheque.number, "cheque.number", t)?;
        if cheque.lines.len() > MAX_LINES {
            return Err(invalid("cheque.lines", t.too_many_lines(MAX_LINES)));
        }
        for (i, l) in cheque.lines.iter().enumerate() {
            let f = |name: &str| format!("cheque.lines[{i}].{name}");
            let quantity = match &l.quantity {
                Some(q) => match parse_decimal(&q.0, Quantity::DECIMALS) {
                    Ok(q) if q.0 > 0 => Quantity(q.0),
                    _ => {
                        return Err(invalid(
                            &f("quantity"),
                            t.pick(
                                "положительное число, до 3 знаков после запятой",
                                "a positive number, up to 3 decimals",
                            ),
                        ))
                    }
                },
                None => Quantity::one(),
            };
            let till = TillLine {
                position: l.position,
                goods_id: text(&l.goods_id, &f("goodsId"), t)?,
                barcode: text(&l.barcode, &f("barcode"), t)?,
                group: text(&l.group, &f("group"), t)?,
                name: text(&l.name, &f("name"), t)?,
                unit_price: l
                    .price
                    .as_ref()
                    .map(|p| money(p, &f("price"), decimals, t))
                    .transpose()?,
                quantity,
                discount: l
                    .discount
                    .as_ref()
                    .map(|d| money(d, &f("discount"), decimals, t))
                    .transpose()?,
                amount: money(&l.amount, &f("amount"), decimals, t)?,
            };
            let line = till.to_line().map_err(|_| {
                invalid(
                    &f("amount"),
                    t.pick(
                        "сумма позиции не равна цене × количество − скидка",
                        "amount is not price × quantity − discount",
                    ),
                )
            })?;
            lines.push(line);
        }
    }
    if needs_cheque && lines.is_empty() {
        return Err(invalid(
            "cheque.lines",
            t.pick("обязательное поле", "required"),
        ));
    }
    let mut positions: Vec<i64> = lines.iter().map(|l| l.position).collect();
    positions.sort_unstable();
    positions.dedup();
    if positions.len() != lines.len() {
        return Err(invalid(
            "cheque.lines",
            t.pick(
                "номера позиций должны быть разными",
                "positions must be unique",
            ),
        ));
    }
    let amount = match (&body.amount, call) {
        (Some(a), _) => Some(money(a, "amount", decimals, t)?),
        (None, Call::Payment) => {
            return Err(invalid("amount", t.pick("обязательное поле", "required")))
        }
        (None, _) => None,
    };
    let mut loymax_paid: i64 = 0;
    for (i, pay) in body.pays.iter().flatten().enumerate() {
        if pay
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("loymax"))
        {
            let field = format!("pays[{i}].amount");
            loymax_paid = loymax_paid
                .checked_add(money(&pay.amount, &field, decimals, t)?)
                .ok_or_else(|| invalid(&field, t.bad_amount(decimals)))?;
        }
    }
    let mut coupons = Vec::new();
    for (i, c) in body.coupons.iter().flatten().enumerate() {
        if let Some(number) = text(&c.number, &format!("coupons[{i}].number"), t)? {
            coupons.push(number);
        }
    }
    if coupons.len() > MAX_LINES {
        return Err(invalid("coupons", t.too_many_lines(MAX_LINES)));
    }
    Ok(Input {
        operation_id,
        cheque_number,
        lines,
        coupons,
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
    body: &RequestIn,
) -> Result<Processed, Invalid> {
    let rules = &caller.program.rules;
    let t = Texts::of(rules);
    if rules.decimals != rules.money_decimals {
        return Ok(Processed::Failed(format!(
            "program {}: points and money must have the same decimals",
            caller.program.program.id
        )));
    }
    let settings = match &caller.program.settings {
        Ok(s) => s.clone(),
        Err(e) => {
            return Ok(Processed::Failed(format!(
                "program {}: settings.loymax_processing: {e}",
                caller.program.program.id
            )))
        }
    };
    if purchase_id.is_empty() || purchase_id.len() > 128 || purchase_id.contains('\0') {
        return Err(invalid(
            "purchaseId",
            t.pick(
                "обязательное поле, до 128 символов",
                "required, up to 128 characters",
            ),
        ));
    }
    let input = parse_input(&call, body, rules.decimals, t)?;
    let fingerprint = input.meaning(&purchase_id, &call);
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
        t,
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
            JobError::Refused(Refused::Business(code, message))
            | JobError::RefusedKeeping(Refused::Business(code, message)),
        ) => Processed::Answer(error(code, operation_id, &message)),
        Err(
            JobError::Refused(Refused::System(e)) | JobError::RefusedKeeping(Refused::System(e)),
        ) => Processed::Failed(format!("loymax processing: {e}")),
        Err(JobError::Store(e)) => Processed::Failed(format!("loymax processing: {e}")),
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
    let attempt = crate::loymax::auth::Attempt {
        secret: kopilka_domain::throttle::Secret::Pin,
        customer_id,
        address: &shop,
        address_is_client: false,
        shop: Some(kopilka_domain::ids::MerchantId(caller.merchant_id)),
    };
    let checked = crate::loymax::auth::check_secret(store, attempt, hash, pin).await;
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
    t: Texts,
}

/// A refusal inside the job: rolls the job back (nothing it wrote stays). A business one is
/// answered with its code; a system one (a ledger action the domain planned but the ledger
/// refused for a reason no code names) is a failure.
enum Refused {
    Business(Code, String),
    System(String),
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
        if !context.token_live
            || matches!(
                context.customer_state,
                CustomerState::Blocked | CustomerState::Merged | CustomerState::Anonymised
            )
        {
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
                self.t.pick(
                    "operationId уже использован для другой операции",
                    "the operationId was used for another operation",
                ),
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
        let t = self.t;
        let merchant = self.caller.merchant_id;
        let mut account = context.account;
        let row = context.purchase;
        if let Some(r) = &row {
            if r.customer_id != CustomerId(self.caller.customer_id) {
                return Err(refused(
                    Code::PurchaseNotFound,
                    t.order(Code::PurchaseNotFound),
                ));
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
            return Err(refused(code, t.order(code)));
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
        // The offers in force when the cheque was first calculated price all of it.
        let at = if row.id == 0 {
            tx.now()
        } else {
            row.created_at
        };
        let mut offers_given: Option<Evaluation> = None;
        let mut messages: Vec<String> = Vec::new();
        let mut amounts = Amounts::default();
        let mut cheque_view = ChequeView::Priced {
            pay: false,
            cashback: false,
        };
        // What the call asks the ledger for, and the cheque its history row shows.
        let mut bookings = Vec::new();
        let mut shown = Shown::Purchase;
        // What was taken back of a confirmed cheque's bonus, and whether all of it was
        // refunded, before this call: a refund returns the usage its offers counted.
        let reversed_before = purchase
            .as_ref()
            .filter(|p| p.state == PurchaseState::Confirmed)
            .map(|p| (p.reversed_totals().1, p.wholly_refunded()));
        match &self.call {
            Call::Calculate => {
                // A coupon an offer issued to the customer counts as its series.
                let issued = if self.input.coupons.is_empty() {
                    BTreeMap::new()
                } else {
                    tx.offer_coupons(
                        self.caller.program.program.id,
                        CustomerId(self.caller.customer_id),
                        &self.input.coupons,
                    )
                    .await?
                };
                let coupons: Vec<String> = self
                    .input
                    .coupons
                    .iter()
                    .map(|c| issued.get(&c.trim().to_uppercase()).unwrap_or(c).clone())
                    .collect();
                let lines = &self.input.lines;
                let scope = self.cheque_scope(tx, at, lines, &coupons, false).await?;
                let (known, unknown) = presented_coupons(&coupons, |code| {
                    rules.knows_coupon(code) || offers_know_coupon(&scope.offers, code)
                });
                messages.extend(unknown.iter().map(|c| t.unknown_coupon(c)));
                let event_id = self.event_id();
                let pricing = scope.pricing(&event_id, tx.now(), decimals);
                let mut p = Purchase::calculate(self.input.lines.clone(), known, &pricing)
                    .map_err(|c| {
                        refused(
                            c,
                            t.pick(
                                "Чек не может быть рассчитан",
                                "The cheque cannot be calculated",
                            ),
                        )
                    })?;
                p.cheque_number = self.input.cheque_number.clone();
                p.issued_coupons = issued.into_keys().collect();
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
                    return Err(refused(
                        Code::WrongPin,
                        t.pick("Неверный PIN-код", "Wrong PIN"),
                    ));
                }
                let amount = self.input.amount.unwrap_or(0);
                bookings = p
                    .pay(amount, spendable)
                    .map_err(|c| refused(c, t.payment(c)))?;
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
                let scope = self
                    .cheque_scope(tx, at, &p.lines, &p.coupons, false)
                    .await?;
                let event_id = self.event_id();
                let pricing = scope.pricing(&event_id, tx.now(), decimals);
                p.account(self.input.loymax_paid, &pricing).map_err(|c| {
                    refused(
                        c,
                        t.pick(
                            "Сумма оплаты бонусами не совпадает с оплатой",
                            "The points paid differ from the payment",
                        ),
                    )
                })?;
                cheque_view = ChequeView::Priced {
                    pay: false,
                    cashback: true,
                };
            }
            Call::Confirm => {
                let p = purchase.as_mut().expect("checked: accounted");
                // The offers' limits are locked and their effects recorded with the purchase:
                // the bonus is what they give now (the Bonus step's, unless a limit filled).
                let scope = self
                    .cheque_scope(tx, at, &p.lines, &p.coupons, true)
                    .await?;
                let event_id = self.event_id();
                let customer_id = CustomerId(self.caller.customer_id);
                let program_id = self.caller.program.program.id;
                if record_event(tx, program_id, &event_id, customer_id, &event_id)
                    .await?
                    .is_some()
                {
                    return Err(Outcome::Store(StoreError::Corrupt(format!(
                        "{event_id}: its offers were recorded before"
                    ))));
                }
                if let Err(e) = tx
                    .use_offer_coupons(program_id, customer_id, &p.issued_coupons, &event_id)
                    .await
                {
                    return Err(match e {
                        StoreError::Duplicate(_) => refused(
                            Code::CouponsException,
                            t.pick("Купон уже использован", "The coupon is already used"),
                        ),
                        other => Outcome::Store(other),
                    });
                }
                let pricing = scope.pricing(&event_id, tx.now(), decimals);
                let evaluation = p
                    .evaluate_paid(&pricing)
                    .map_err(|c| refused(c, t.order(c)))?;
                p.take_earned(&evaluation);
                // A cheque is recorded with the trace of the offers that passed their
                // conditions: of a program's hundreds, most target other goods, and a row
                // naming each of them on every purchase would cost the writer more than the
                // purchase.
                let mut evaluation = evaluation;
                evaluation.trace.retain(|entry| {
                    !matches!(
                        entry.outcome,
                        TraceOutcome::ConditionFalse { .. }
                            | TraceOutcome::OtherTrigger
                            | TraceOutcome::NotYetEffective { .. }
                            | TraceOutcome::Ended { .. }
                    )
                });
                offers_given = Some(evaluation);
                bookings = p.confirm();
                cheque_view = ChequeView::None;
            }
            Call::Cancel => {
                let p = purchase.as_mut().expect("checked: exists");
                shown = Shown::Refund(p.unrefunded());
                bookings = p.cancel(spendable);
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
                let before = p.refunded.clone();
                let (returned_before, reclaimed_before) = p.reversed_totals();
                bookings = p.refund(requests.as_deref(), spendable).map_err(|c| {
                    refused(
                        c,
                        t.pick(
                            "Возврат превышает сумму покупки",
                            "The refund exceeds the purchase",
                        ),
                    )
                })?;
                let (returned, reclaimed) = p.reversed_totals();
                shown = Shown::Refund(
                    p.refunded
                        .iter()
                        .zip(&before)
                        .map(|(now, then)| now - then)
                        .collect(),
                );
                amounts.bonus_amount = Some(number(returned - returned_before, decimals));
                amounts.cashback_amount = Some(number(reclaimed - reclaimed_before, decimals));
                cheque_view = ChequeView::None;
            }
            Call::CancelOperation(target) => {
                let not_found = || {
                    refused(
                        Code::OperationNotFound,
                        t.pick("Операция не найдена", "Operation not found"),
                    )
                };
                let p = purchase.as_mut().ok_or_else(not_found)?;
                let op = tx
                    .loymax_purchase_operation(MerchantId(merchant), target)
                    .await?
                    .filter(|o| o.purchase == row.id)
                    .ok_or_else(not_found)?;
                // An operation that is not a purchase method (an earlier cancel) cannot be
                // cancelled: the domain's order refuses it as any other.
                let method = Method::parse(&op.method).unwrap_or(Method::Cancel);
                shown = Shown::Refund(p.unrefunded());
                bookings = p
                    .cancel_operation(target, method, spendable)
                    .map_err(|c| refused(c, t.cancel_operation(c)))?;
                cheque_view = ChequeView::None;
            }
        }
        let p = purchase.expect("every call that gets here has a purchase");
        if let Some((reclaimed_before, wholly_before)) = reversed_before {
            self.return_offers_usage(tx, &p, reclaimed_before, wholly_before)
                .await?;
        }
        let mut details = self.history_details(&p, &shown);
        if let Some((offer, _, _)) = offers_given
            .as_ref()
            .and_then(|e| accruals_by_offer(e).first().copied())
        {
            // History's `offerExternalId` for the bonus.
            details["offer"] = json!(offer);
        }
        self.book_all(tx, &mut account, &mut row, &bookings, details)
            .await?;
        if let Some(evaluation) = offers_given {
            // The purchase's bonus is one operation: every accrual of an offer is part of it.
            let operations: Vec<Option<OperationId>> = evaluation
                .effects
                .iter()
                .map(|e| match e.kind {
                    EffectKind::Accrue { .. } => row.earn_operation,
                    _ => None,
                })
                .collect();
            write_evaluation(
                tx,
                self.caller.program.program.id,
                CustomerId(self.caller.customer_id),
                &self.event_id(),
                evaluation,
                &operations,
            )
            .await?;
        }
        if !p.state.is_open() {
            row.expires_at = None;
        }
        row.state = p.state;
        row.data = serde_json::to_string(&p).expect("purchase serializes");
        if !p.priced.applied.is_empty() && matches!(self.call, Call::Calculate) {
            messages.insert(0, t.applied(&p.priced.applied.join(", ")));
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

    /// Returns to the offers' limits what a refund or cancel of the confirmed cheque took
    /// back (`refund_usage`): the points in proportion, the application once nothing of the
    /// cheque is left. The purchase's operations are recorded once, so this happens once.
    async fn return_offers_usage(
        &self,
        tx: &mut Tx,
        p: &Purchase,
        reclaimed_before: i64,
        wholly_before: bool,
    ) -> Result<(), Outcome> {
        let (_, reclaimed_after) = p.reversed_totals();
        let wholly_now = p.wholly_refunded() && !wholly_before;
        if reclaimed_after == reclaimed_before && !wholly_now {
            return Ok(());
        }
        let program_id = self.caller.program.program.id;
        let Some((_, result)) = tx.offer_event(program_id, &self.event_id()).await? else {
            return Ok(());
        };
        let changes = refund_usage(
            &result.usage_changes,
            p.earned_total(),
            reclaimed_before,
            reclaimed_after,
            wholly_now,
        );
        return_usage(tx, program_id, &changes).await?;
        Ok(())
    }

    /// The purchase as an offers' event: unique per program, as a purchase id is per merchant.
    fn event_id(&self) -> String {
        format!("loymax:{}:{}", self.caller.merchant_id, self.purchase_id)
    }

    /// The offers pricing this purchase's cheque at its time `at`, the customer as their
    /// conditions see them, and the usage their limits read: locked for the confirmation,
    /// which writes it; as it stands before that.
    async fn cheque_scope(
        &self,
        tx: &mut Tx,
        at: i64,
        lines: &[ChequeLine],
        coupons: &[String],
        lock: bool,
    ) -> Result<ChequeScope, Outcome> {
        let program = &self.caller.program;
        let program_id = program.program.id;
        let offers = program
            .cheque_offers
            .get(tx, program_id, &program.rules_offers)
            .await?
            .candidates(lines, coupons);
        let customer =
            crate::offers::customer_at(&program.rules, CustomerId(self.caller.customer_id), at);
        let decimals = program.rules.decimals;
        // The cheque as sent: only the offers that can apply to it have buckets to read.
        let probe = Trigger {
            event_id: String::new(),
            at,
            event: Event::Cheque(ChequeFacts {
                lines: lines.to_vec(),
                coupons: coupons.to_vec(),
                paid_with_points: Default::default(),
                money_decimals: decimals,
                points_decimals: decimals,
            }),
            undoes: Vec::new(),
        };
        let keys = usage_keys(&offers, &probe, &customer, tx.now()).map_err(StoreError::from)?;
        let usage = if lock {
            lock_usage(tx, program_id, customer.id, keys).await?
        } else {
            tx.offer_usage(program_id, customer.id, keys).await?
        };
        Ok(ChequeScope {
            offers,
            customer,
            usage,
            at,
        })
    }

    fn same_cheque(&self, p: &Purchase) -> Result<(), Outcome> {
        if p.same_cheque(&self.input.lines) {
            Ok(())
        } else {
            Err(refused(
                Code::DifferentCheque,
                self.t.pick(
                    "Чек изменился после расчёта",
                    "The cheque changed after it was calculated",
                ),
            ))
        }
    }

    /// Books what the domain asked for on the purchase's own ledger operations, and makes the
    /// points of one call one history row (a purchase: its bonus with its payment; a refund:
    /// the points given back with those taken back), with `details` (`history_details`).
    async fn book_all(
        &self,
        tx: &mut Tx,
        account: &mut Account,
        row: &mut PurchaseRow,
        bookings: &[Booking],
        details: Value,
    ) -> Result<(), Outcome> {
        let customer_id = CustomerId(self.caller.customer_id);
        let hold = |row: &PurchaseRow| {
            row.hold_operation.ok_or_else(|| {
                Outcome::Store(StoreError::Corrupt(format!("purchase {}: no hold", row.id)))
            })
        };
        let mut shown_operations: Vec<OperationId> = Vec::new();
        for booking in bookings {
            let (action, description) = match *booking {
                Booking::Hold(amount) => (
                    Action::Debit {
                        kind: OperationKind::Redeem,
                        customer_id,
                        amount: Amount(amount),
                        hold: true,
                    },
                    self.t.pick("оплата бонусами", "payment with points"),
                ),
                Booking::ConfirmHold => (
                    Action::Confirm {
                        operation_id: hold(row)?,
                    },
                    self.t.pick("оплата бонусами", "payment with points"),
                ),
                Booking::VoidHold => (
                    Action::Void {
                        operation_id: hold(row)?,
                    },
                    self.t
                        .pick("отмена оплаты бонусами", "payment with points cancelled"),
                ),
                Booking::Earn(amount) => (
                    Action::Credit {
                        kind: OperationKind::Earn,
                        customer_id,
                        amount: Amount(amount),
                        expires_at: self.caller.program.rules.expiry_for(tx.now()),
                    },
                    self.t
                        .pick("начисление за покупку", "points for a purchase"),
                ),
                Booking::ReturnPayment(amount) => (
                    Action::Reverse {
                        operation_id: hold(row)?,
                        amount: Some(Amount(amount)),
                    },
                    self.t
                        .pick("возврат оплаты бонусами", "payment with points returned"),
                ),
                Booking::ReclaimBonus(amount) => (
                    Action::Reverse {
                        operation_id: row.earn_operation.ok_or_else(|| {
                            Outcome::Store(StoreError::Corrupt(format!(
                                "purchase {}: no earn",
                                row.id
                            )))
                        })?,
                        amount: Some(Amount(amount)),
                    },
                    self.t.pick(
                        "списание начисленных за покупку бонусов",
                        "points for a purchase taken back",
                    ),
                ),
            };
            let outcome = ledger::execute_locked(
                tx,
                self.ledger(action, description, details.clone()),
                account,
            )
            .await
            .map_err(|e| self.ledger_refusal(e))?;
            account.balance = outcome.balance;
            account.held = outcome.held;
            match booking {
                Booking::Hold(_) => row.hold_operation = Some(outcome.operation.id),
                Booking::VoidHold => row.hold_operation = None,
                Booking::Earn(_) => row.earn_operation = Some(outcome.operation.id),
                _ => {}
            }
            if !matches!(booking, Booking::Hold(_) | Booking::VoidHold) {
                shown_operations.push(outcome.operation.id);
            }
        }
        // The last operation (the bonus, the points taken back) is the row; the first shows
        // inside it.
        if let [part, row_operation] = shown_operations[..] {
            tx.loymax_history_part(row_operation, part).await?;
        }
        Ok(())
    }

    /// A ledger refusal of what the domain planned within the customer's balance.
    fn ledger_refusal(&self, e: StoreError) -> Outcome {
        match e {
            StoreError::Domain(DomainError::InsufficientFunds { .. }) => {
                refused(Code::NotEnoughMoney, self.t.payment(Code::NotEnoughMoney))
            }
            // Blocked (or closed) after the purchase's context was read.
            StoreError::Domain(
                DomainError::CustomerBlocked
                | DomainError::CustomerMerged { .. }
                | DomainError::CustomerAnonymised,
            ) => refused(Code::CardBlocked, self.t.payment(Code::CardBlocked)),
            StoreError::Domain(d) => Outcome::Refused(Refused::System(d.to_string())),
            other => Outcome::Store(other),
        }
    }

    /// What history shows of the call's operations: the purchase, its cheque and its number
    /// (`externalPurchaseId`, `chequeNumber`, `chequeItems`, the cheque's sum); a refund
    /// shows the lines and sums refunded.
    fn history_details(&self, p: &Purchase, shown: &Shown) -> Value {
        let items: Vec<Value> = p
            .lines
            .iter()
            .zip(&p.priced.lines)
            .enumerate()
            .filter_map(|(i, (line, priced))| {
                let amount = match shown {
                    Shown::Purchase => priced.amount,
                    Shown::Refund(refunded) => refunded[i],
                };
                (matches!(shown, Shown::Purchase) || amount > 0).then(|| {
                    json!({
                        "position": line.position,
                        "name": line.name,
                        "goods_id": line.goods_id,
                        "quantity": line.quantity.0,
                        "amount": amount,
                    })
                })
            })
            .collect();
        let amount: i64 = match shown {
            Shown::Purchase => p.priced.total_amount,
            Shown::Refund(refunded) => refunded.iter().sum(),
        };
        json!({
            "purchase_id": self.purchase_id,
            "operation_id": self.input.operation_id,
            "cheque": {
                "number": p.cheque_number,
                "amount": amount,
                "items": items,
            },
        })
    }

    fn ledger(&self, action: Action, description: &str, details: Value) -> LedgerRequest {
        let program = &self.caller.program;
        LedgerRequest {
            program_id: program.program.id,
            currency: program.rules.currency.clone(),
            merchant_id: Some(MerchantId(self.caller.merchant_id)),
            protocol: PROTOCOL.into(),
            idempotency: None,
            description: Some(description.into()),
            details,
            action,
        }
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
                // The line as this call sent it (goods id and barcode echoed), else as calculated.
                let sent = self.input.lines.iter().find(|s| s.position == l.position);
                let line = sent.unwrap_or(&p.lines[i]);
                LineOut {
                    amount: number(l.amount, decimals),
                    barcode: sent.and_then(|s| s.barcode.as_deref()),
                    cashback: cashback.then(|| number(p.earned[i], decimals)),
                    discount: number(l.discount, decimals),
                    goods_id: sent.and_then(|s| s.goods_id.as_deref()),
                    message: (),
                    pay_amount: pay.then(|| number(p.paid[i], decimals)),
                    position: l.position,
                    quantity: number(line.quantity.0, Quantity::DECIMALS),
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

/// What a purchase's cheque is priced with (`Job::cheque_scope`).
struct ChequeScope {
    /// The offers that may apply to the cheque (`ChequeOfferIndex::candidates`).
    offers: Vec<Offer>,
    customer: Customer,
    usage: Usage,
    at: i64,
}

impl ChequeScope {
    fn pricing<'a>(&'a self, event_id: &'a str, now: i64, decimals: u8) -> ChequeOffers<'a> {
        ChequeOffers {
            offers: &self.offers,
            customer: &self.customer,
            usage: &self.usage,
            event_id,
            at: self.at,
            now,
            money_decimals: decimals,
            points_decimals: decimals,
        }
    }
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
        Outcome::Store(e)
    }
}

fn refused(code: Code, message: &str) -> Outcome {
    Outcome::Refused(Refused::Business(code, message.into()))
}

/// Which cheque a call's history row shows: the purchase's, or the money a refund (or a
/// cancel of a confirmed purchase) returns, per line.
enum Shown {
    Purchase,
    Refund(Vec<i64>),
}

/// Whether a method's answer shows its `transactionId` (the operation row's id).
fn shows_transaction(method: &str) -> bool {
    matches!(method, "payment" | "bonus" | "refund")
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
    for booking in purchase.cancel(account.spendable()) {
        // An open purchase's cancel only releases its hold.
        let (Booking::VoidHold, Some(hold)) = (booking, row.hold_operation) else {
            return Err(StoreError::Corrupt(format!(
                "purchase {id}: expiry asked for {booking:?}"
            )));
        };
        ledger::execute_locked(
            tx,
            LedgerRequest {
                program_id: row.program_id,
                currency: currency.clone(),
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
        row.hold_operation = None;
    }
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
