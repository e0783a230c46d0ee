//! The inCust operations both the XML API and the hosted pages perform: shop login, earn,
//! redeem and cancel. Each runs inside the caller's write job, so the ledger rows, the
//! transaction's answer and the SMS commit together.

use super::texts;
use super::wire::Fault;
use crate::secrets;
use crate::state::AppState;
use kopilka_domain::ids::OperationId;
use kopilka_domain::incust::{Lang, Sale, Status};
use kopilka_domain::ledger::{fingerprint, OperationKind};
use kopilka_domain::money::{format_decimal, rescale};
use kopilka_domain::phone::Phone;
use kopilka_domain::program::ProgramRules;
use kopilka_domain::{Amount, Rounding};
use kopilka_store::entities::NewCustomer;
use kopilka_store::incust::IncustTransaction;
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest, Outcome};
use kopilka_store::model::{Customer, CustomerState, Merchant, Program};
use kopilka_store::outbox::NewMessage;
use kopilka_store::{StoreError, StoreResult, Tx};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use tokio::sync::OnceCell;

/// The protocol name on credentials and operations.
pub const PROTOCOL: &str = "incust";
/// The longest order number (`comment`) kept as an idempotency key.
pub const MAX_COMMENT: usize = 100;

/// A shop that proved its login and password, with its program.
#[derive(Debug, Clone)]
pub struct Shop {
    pub merchant: Merchant,
    pub program: Program,
    pub rules: ProgramRules,
    pub lang: Lang,
}

impl Shop {
    /// Points as the protocol shows them: at least two decimals.
    pub fn points(&self, minor: i64) -> String {
        two_decimals(minor, self.rules.decimals)
    }

    /// Money as the protocol shows it: at least two decimals.
    pub fn money(&self, minor: i64) -> String {
        two_decimals(minor, self.rules.money_decimals)
    }

    /// `YYYY-MM-DD HH:MM:SS` in the program's time zone.
    pub fn date(&self, ms: i64) -> String {
        let tz: chrono_tz::Tz = self.rules.time_zone.parse().unwrap_or(chrono_tz::UTC);
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }

    fn idempotency(&self, what: &str, comment: &str, content: &[&str]) -> Idempotency {
        let mut parts = vec![what];
        parts.extend_from_slice(content);
        Idempotency {
            scope: format!("{PROTOCOL}:{}", self.merchant.id),
            key: format!("{what}:{comment}"),
            fingerprint: fingerprint(&parts),
        }
    }

    fn request(
        &self,
        idempotency: Option<Idempotency>,
        comment: &str,
        action: Action,
    ) -> LedgerRequest {
        LedgerRequest {
            program_id: self.program.id,
            currency: self.rules.currency.clone(),
            merchant_id: Some(self.merchant.id),
            protocol: PROTOCOL.into(),
            idempotency,
            description: (!comment.is_empty()).then(|| format!("inCust order {comment}")),
            details: serde_json::json!({ "comment": comment }),
            action,
        }
    }

    fn sms(&self, customer: &Customer, operation_id: i64, body: String) -> Option<NewMessage> {
        customer.phone.as_ref().map(|phone| NewMessage {
            operation_id: Some(OperationId(operation_id)),
            merchant_id: Some(self.merchant.id),
            customer_id: Some(customer.id),
            ..NewMessage::sms(phone, body)
        })
    }
}

fn two_decimals(minor: i64, decimals: u8) -> String {
    if decimals >= 2 {
        format_decimal(Amount(minor), decimals)
    } else {
        format_decimal(rescale(Amount(minor), decimals, 2, Rounding::Down), 2)
    }
}

/// The hash unknown logins are checked against, so a wrong login takes as long as a wrong
/// password.
async fn decoy_hash() -> &'static str {
    static DECOY: OnceCell<String> = OnceCell::const_new();
    DECOY
        .get_or_init(|| secrets::hash_secret_async(secrets::random_token(16)))
        .await
}

/// Passwords already verified against a hash: the hash → SHA-256 of the hash and the password.
/// Shops send their password with every order; remembering a right one spares argon2 on each
/// call, while a wrong one always pays for argon2. A changed password has a new hash.
static VERIFIED: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);
const VERIFIED_MAX: usize = 10_000;

async fn verify_password(password: String, hash: String) -> bool {
    let remembered = secrets::token_digest(&format!("{hash}\n{password}"));
    let known = VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&hash)
        .cloned();
    if known.is_some_and(|k| secrets::constant_time_eq(&k, &remembered)) {
        return true;
    }
    if !secrets::verify_secret_async(password, hash.clone()).await {
        return false;
    }
    let mut verified = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if verified.len() >= VERIFIED_MAX {
        verified.clear();
    }
    verified.insert(hash, remembered);
    true
}

/// Finds the shop by its inCust login (the phone it was registered with, in any common
/// spelling) and checks its password.
pub async fn authenticate(state: &AppState, login: &str, password: &str) -> Result<Shop, Fault> {
    let raw = login.trim().to_string();
    let digits = Phone::parse(&raw).map(|p| p.digits().to_string()).ok();
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let mut credential = tx.credential(PROTOCOL, &raw).await?;
                if credential.is_none() {
                    if let Some(d) = digits.filter(|d| *d != raw) {
                        credential = tx.credential(PROTOCOL, &d).await?;
                    }
                }
                let Some(credential) = credential else {
                    return Ok(None);
                };
                let Some(merchant) = tx.merchant(credential.merchant_id).await? else {
                    return Ok(None);
                };
                let program = tx.program(merchant.program_id).await?;
                Ok(program.map(|p| (credential, merchant, p)))
            })
        })
        .await
        .map_err(store_fault)?;
    let password = password.to_string();
    let Some((credential, merchant, program)) = found else {
        secrets::verify_secret_async(password, decoy_hash().await.to_string()).await;
        return Err(Fault::new(Status::BadCredentials));
    };
    let hash = credential.secret_hash.unwrap_or_default();
    if !verify_password(password, hash).await {
        return Err(Fault::new(Status::BadCredentials));
    }
    let rules = program.rules.clone();
    Ok(Shop {
        lang: Lang::of(&rules),
        merchant,
        program,
        rules,
    })
}

/// Maps a store failure to the protocol's status, logging what a client must not see.
pub fn store_fault(error: StoreError) -> Fault {
    match error {
        StoreError::Domain(e) => Fault::new(Status::of_domain(&e)),
        other => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(error_id = %id, "inCust request failed: {other}");
            Fault::with(Status::Internal, id.to_string())
        }
    }
}

/// The card's owner, refused when unknown or blocked.
async fn card(tx: &mut Tx, shop: &Shop, phone: &str) -> StoreResult<Result<Customer, Status>> {
    Ok(match tx.customer_by_phone(shop.program.id, phone).await? {
        Some(c) if c.state == CustomerState::Blocked => Err(Status::CardBlocked),
        Some(c) => Ok(c),
        None => Err(Status::UnknownCard),
    })
}

/// A transaction's first answer, for a repeated request. An order whose transaction was
/// cancelled is not answered with it as if it stood: the shop needs a new order number.
async fn replay(tx: &mut Tx, outcome: &Outcome) -> StoreResult<Result<Done, Status>> {
    if outcome.operation.reversed > 0 {
        return Ok(Err(Status::AlreadyCancelled));
    }
    let id = outcome.operation.id;
    let transaction = tx
        .incust_transaction(id.0)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("operation {id} has no inCust answer")))?;
    Ok(Ok(Done {
        transaction,
        replayed: true,
    }))
}

/// What an operation did, as the shop and the customer are told.
pub struct Done {
    pub transaction: IncustTransaction,
    /// True when the request repeated an earlier one and changed nothing.
    pub replayed: bool,
}

/// Earns bonuses on `paid` money for the order `comment`; enrols an unknown phone when the
/// program says so. Repeating it (same order, card, amount) returns the first answer.
pub async fn earn(
    tx: &mut Tx,
    shop: &Shop,
    phone: &str,
    paid: Amount,
    comment: &str,
) -> StoreResult<Result<Done, Status>> {
    let sale = match Sale::earn(&shop.rules, paid) {
        Ok(s) => s,
        Err(status) => return Ok(Err(status)),
    };
    let (customer, enrolled) = match card(tx, shop, phone).await? {
        Ok(c) => (c, false),
        Err(Status::UnknownCard) if shop.rules.enrol_on_earn => {
            let new = NewCustomer::active(shop.program.id, Some(phone.to_string()));
            (tx.create_customer(&new).await?, true)
        }
        Err(status) => return Ok(Err(status)),
    };
    let idempotency = shop.idempotency("earn", comment, &[phone, &paid.0.to_string()]);
    let action = Action::Credit {
        kind: OperationKind::Earn,
        customer_id: customer.id,
        amount: sale.bonuses_earned,
        expires_at: shop.rules.expiry_for(tx.now()),
    };
    let outcome = ledger::execute(tx, shop.request(Some(idempotency), comment, action)).await?;
    if outcome.replayed {
        return replay(tx, &outcome).await;
    }
    let (earned, balance) = (
        shop.points(sale.bonuses_earned.0),
        shop.points(outcome.spendable()),
    );
    let sms = if enrolled {
        texts::enrolled(shop, &earned, &balance)
    } else {
        texts::earned(shop, &earned, &balance)
    };
    let message = texts::earn_answer(shop, &earned, &balance);
    let entry = Entry {
        kind: "earn",
        cancels: None,
        phone,
        comment,
        sale,
        message,
        sms,
    };
    record(tx, shop, &customer, &outcome, entry).await
}

/// Pays `sale.bonuses_redeemed` of the order `comment` from the card. Repeating it returns the
/// first answer.
pub async fn redeem(
    tx: &mut Tx,
    shop: &Shop,
    phone: &str,
    sale: Sale,
    comment: &str,
) -> StoreResult<Result<Done, Status>> {
    let customer = match card(tx, shop, phone).await? {
        Ok(c) => c,
        Err(status) => return Ok(Err(status)),
    };
    let idempotency = shop.idempotency(
        "redeem",
        comment,
        &[
            phone,
            &sale.amount.0.to_string(),
            &sale.bonuses_redeemed.0.to_string(),
        ],
    );
    let action = Action::Debit {
        kind: OperationKind::Redeem,
        customer_id: customer.id,
        amount: sale.bonuses_redeemed,
        hold: false,
    };
    let outcome = ledger::execute(tx, shop.request(Some(idempotency), comment, action)).await?;
    if outcome.replayed {
        return replay(tx, &outcome).await;
    }
    let balance = shop.points(outcome.spendable());
    let sms = texts::redeemed(shop, &shop.points(sale.bonuses_redeemed.0), &balance);
    let entry = Entry {
        kind: "redeem",
        cancels: None,
        phone,
        comment,
        sale,
        message: String::new(),
        sms,
    };
    record(tx, shop, &customer, &outcome, entry).await
}

/// Cancels the shop's transaction `id` made with the card `phone`: a reversal of its own, whose
/// answer reports the original's amounts negated. A second cancel is refused.
pub async fn cancel(
    tx: &mut Tx,
    shop: &Shop,
    phone: &str,
    id: i64,
) -> StoreResult<Result<Done, Status>> {
    let Some(op) = ledger::operation(tx, OperationId(id))
        .await?
        .filter(|op| op.program_id == shop.program.id)
    else {
        return Ok(Err(Status::UnknownTransaction));
    };
    if op.merchant_id != Some(shop.merchant.id) {
        return Ok(Err(Status::ForeignTransaction));
    }
    let Some(original) = tx.incust_transaction(id).await? else {
        return Ok(Err(Status::UnknownTransaction));
    };
    if original.kind == "cancel" {
        return Ok(Err(Status::NotCancellable));
    }
    if original.cardphone != phone {
        return Ok(Err(Status::OtherCard));
    }
    let customer = match tx.customer(original.customer_id).await? {
        Some(c) => c,
        None => return Ok(Err(Status::UnknownCard)),
    };
    let action = Action::Reverse {
        operation_id: OperationId(id),
        amount: None,
    };
    let outcome = ledger::execute(tx, shop.request(None, &original.comment, action)).await?;
    let sale = Sale {
        amount: Amount(original.amount),
        bonuses_redeemed: Amount(original.bonuses_redeemed),
        amount_to_pay: Amount(original.amount_to_pay),
        bonuses_earned: Amount(original.bonuses_earned),
    }
    .cancellation();
    let balance = shop.points(outcome.spendable());
    let returned = (original.bonuses_redeemed > 0).then(|| shop.points(original.bonuses_redeemed));
    let taken = (original.bonuses_earned > 0).then(|| shop.points(original.bonuses_earned));
    let sms = texts::cancelled(shop, id, returned.as_deref(), taken.as_deref(), &balance);
    let entry = Entry {
        kind: "cancel",
        cancels: Some(id),
        phone,
        comment: &original.comment,
        sale,
        message: String::new(),
        sms,
    };
    record(tx, shop, &customer, &outcome, entry).await
}

/// What a new transaction reports and texts.
struct Entry<'a> {
    kind: &'a str,
    cancels: Option<i64>,
    phone: &'a str,
    comment: &'a str,
    sale: Sale,
    message: String,
    sms: String,
}

async fn record(
    tx: &mut Tx,
    shop: &Shop,
    customer: &Customer,
    outcome: &Outcome,
    entry: Entry<'_>,
) -> StoreResult<Result<Done, Status>> {
    let transaction = IncustTransaction {
        operation_id: outcome.operation.id,
        merchant_id: shop.merchant.id,
        customer_id: customer.id,
        kind: entry.kind.to_string(),
        cancels: entry.cancels.map(OperationId),
        cardphone: entry.phone.to_string(),
        comment: entry.comment.to_string(),
        amount: entry.sale.amount.0,
        bonuses_redeemed: entry.sale.bonuses_redeemed.0,
        amount_to_pay: entry.sale.amount_to_pay.0,
        bonuses_earned: entry.sale.bonuses_earned.0,
        card_bonuses: outcome.spendable(),
        message: entry.message,
        created_at: outcome.operation.created_at,
    };
    tx.incust_record(&transaction).await?;
    if let Some(message) = shop.sms(customer, outcome.operation.id.0, entry.sms) {
        tx.enqueue(&message).await?;
    }
    Ok(Ok(Done {
        transaction,
        replayed: false,
    }))
}
