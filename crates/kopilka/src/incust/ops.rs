//! The inCust operations both the XML API and the hosted pages perform: shop login, earn,
//! redeem and cancel. Each runs inside the caller's write job, so the ledger rows, the
//! transaction's answer and the SMS commit together.

use super::texts;
use super::wire::Fault;
use crate::http::credentials::{self, Proof, Refusal};
use crate::http::ClientAddr;
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
use kopilka_store::{JobError, StoreError, StoreResult, Tx};

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

/// Finds the shop by its inCust login (the phone it was registered with, in any common
/// spelling) and checks its password.
pub async fn authenticate(
    state: &AppState,
    login: &str,
    password: &str,
    client: ClientAddr,
) -> Result<Shop, Fault> {
    let raw = login.trim().to_string();
    let mut logins = vec![raw.clone()];
    logins.extend(
        Phone::parse(&raw)
            .map(|p| p.digits().to_string())
            .ok()
            .filter(|d| *d != raw),
    );
    let proof = Proof::Password(password.to_string());
    let address = client.to_string();
    let found = credentials::authenticate(&state.store, PROTOCOL, logins, proof, &address)
        .await
        .map_err(store_fault)?;
    let credentials::Holder {
        merchant, program, ..
    } = found.map_err(|refusal| match refusal {
        Refusal::Wrong => Fault::new(Status::BadCredentials),
        Refusal::TooSoon | Refusal::Busy => Fault::new(Status::TryLater),
    })?;
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

impl From<JobError<Status>> for Fault {
    fn from(error: JobError<Status>) -> Self {
        error.refusal().map_or_else(store_fault, Fault::new)
    }
}

/// The card's owner if the card is known, refused when blocked.
async fn card(tx: &mut Tx, shop: &Shop, phone: &str) -> Result<Option<Customer>, JobError<Status>> {
    match tx.customer_by_phone(shop.program.id, phone).await? {
        Some(c) if c.state == CustomerState::Blocked => Err(JobError::Refused(Status::CardBlocked)),
        found => Ok(found),
    }
}

/// A transaction's first answer, for a repeated request. An order whose transaction was
/// cancelled is not answered with it as if it stood: the shop needs a new order number (a
/// card enrolled on the way stays, as it does when the replay answers).
async fn replay(tx: &mut Tx, outcome: &Outcome) -> Result<Done, JobError<Status>> {
    if outcome.operation.reversed > 0 {
        return Err(JobError::RefusedKeeping(Status::AlreadyCancelled));
    }
    let id = outcome.operation.id;
    let transaction = tx
        .incust_transaction(id.0)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("operation {id} has no inCust answer")))?;
    Ok(Done {
        transaction,
        replayed: true,
    })
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
) -> Result<Done, JobError<Status>> {
    let sale = Sale::earn(&shop.rules, paid).map_err(JobError::Refused)?;
    let (customer, enrolled) = match card(tx, shop, phone).await? {
        Some(c) => (c, false),
        None if shop.rules.enrol_on_earn => {
            let new = NewCustomer::active(shop.program.id, Some(phone.to_string()));
            (tx.create_customer(&new).await?, true)
        }
        None => return Err(JobError::Refused(Status::UnknownCard)),
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
        texts::enrolled(shop, sale.bonuses_earned.0, outcome.spendable())
    } else {
        texts::earned(shop, sale.bonuses_earned.0, outcome.spendable())
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
    Ok(record(tx, shop, &customer, &outcome, entry).await?)
}

/// Pays `sale.bonuses_redeemed` of the order `comment` from the card. Repeating it returns the
/// first answer.
pub async fn redeem(
    tx: &mut Tx,
    shop: &Shop,
    phone: &str,
    sale: Sale,
    comment: &str,
) -> Result<Done, JobError<Status>> {
    let customer = card(tx, shop, phone)
        .await?
        .ok_or(JobError::Refused(Status::UnknownCard))?;
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
    let sms = texts::redeemed(shop, sale.bonuses_redeemed.0, outcome.spendable());
    let entry = Entry {
        kind: "redeem",
        cancels: None,
        phone,
        comment,
        sale,
        message: String::new(),
        sms,
    };
    Ok(record(tx, shop, &customer, &outcome, entry).await?)
}

/// Cancels the shop's transaction `id` made with the card `phone`: a reversal of its own, whose
/// answer reports the original's amounts negated. A second cancel is refused.
pub async fn cancel(
    tx: &mut Tx,
    shop: &Shop,
    phone: &str,
    id: i64,
) -> Result<Done, JobError<Status>> {
    let refuse = |status| Err(JobError::Refused(status));
    // Another shop's transaction answers as an unknown one: no shop learns another's numbers.
    if ledger::operation(tx, OperationId(id))
        .await?
        .filter(|op| op.program_id == shop.program.id)
        .filter(|op| op.merchant_id == Some(shop.merchant.id))
        .is_none()
    {
        return refuse(Status::UnknownTransaction);
    }
    let Some(original) = tx.incust_transaction(id).await? else {
        return refuse(Status::UnknownTransaction);
    };
    if original.kind == "cancel" {
        return refuse(Status::NotCancellable);
    }
    if original.cardphone != phone {
        return refuse(Status::OtherCard);
    }
    let Some(customer) = tx.customer(original.customer_id).await? else {
        return refuse(Status::UnknownCard);
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
    let returned = (original.bonuses_redeemed > 0).then_some(original.bonuses_redeemed);
    let taken = (original.bonuses_earned > 0).then_some(original.bonuses_earned);
    let sms = texts::cancelled(shop, id, returned, taken, outcome.spendable());
    let entry = Entry {
        kind: "cancel",
        cancels: Some(id),
        phone,
        comment: &original.comment,
        sale,
        message: String::new(),
        sms,
    };
    Ok(record(tx, shop, &customer, &outcome, entry).await?)
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
) -> StoreResult<Done> {
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
    Ok(Done {
        transaction,
        replayed: false,
    })
}
