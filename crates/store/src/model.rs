//! Rows as stored, decoded: ids, kinds and states in their types, JSON columns parsed. Times
//! are unix milliseconds, amounts minor units.

use crate::outbox::{AttemptOutcome, MessageKind};
use crate::row::row;
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use kopilka_domain::ledger::{OperationKind, OperationStatus, OperationView, Owner};
use kopilka_domain::program::ProgramRules;
use serde::Serialize;

/// A text column holding one of a fixed set of names: the enum, its names, and their parsing.
macro_rules! stored_names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_names;

#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub id: ProgramId,
    pub code: String,
    pub name: String,
    #[serde(skip)]
    pub rules: ProgramRules,
    #[serde(skip)]
    pub settings: serde_json::Value,
    pub created_at: i64,
    /// The stored texts `rules` and `settings` were parsed from.
    #[serde(skip)]
    stored: StoredProgram,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredProgram {
    rules: String,
    settings: String,
}

row!(
    Program,
    "programs.id, programs.code, programs.name, programs.rules, programs.settings, programs.created_at",
    |c| {
        let id = ProgramId(c.next()?);
        let code = c.next()?;
        let name = c.next()?;
        let stored = StoredProgram {
            rules: c.next()?,
            settings: c.next()?,
        };
        Program {
            id,
            code,
            name,
            rules: program_rules(id, &stored.rules)?,
            settings: json_text(&stored.settings, || format!("program {id} settings"))?,
            created_at: c.next()?,
            stored,
        }
    }
);

impl Program {
    /// Whether this copy was read from these stored texts (a cached copy is still current).
    pub fn is_stored_as(&self, rules: &str, settings: &str) -> bool {
        self.stored.rules == rules && self.stored.settings == settings
    }
}

/// A program's rules as stored. Money rules never fall back to defaults: text that does not
/// parse is corrupt.
fn program_rules(id: ProgramId, text: &str) -> crate::StoreResult<ProgramRules> {
    json_text(text, || format!("program {id} rules"))
}

/// Stored JSON text, decoded; `what` names it when it does not decode.
fn json_text<T: serde::de::DeserializeOwned>(
    text: &str,
    what: impl FnOnce() -> String,
) -> crate::StoreResult<T> {
    serde_json::from_str(text).map_err(|e| crate::StoreError::Corrupt(format!("{}: {e}", what())))
}

#[derive(Debug, Clone, Serialize)]
pub struct Merchant {
    pub id: MerchantId,
    pub program_id: ProgramId,
    pub name: String,
    pub sms_name: String,
    #[serde(skip)]
    pub return_hosts: Vec<String>,
    pub webhook_url: Option<String>,
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    pub created_at: i64,
}
row!(
    Merchant,
    "merchants.id, merchants.program_id, merchants.name, merchants.sms_name, merchants.return_hosts, merchants.webhook_url, merchants.webhook_secret, merchants.created_at",
    |c| Merchant {
        id: MerchantId(c.next()?),
        program_id: ProgramId(c.next()?),
        name: c.next()?,
        sms_name: c.next()?,
        return_hosts: c.json("merchant return hosts")?,
        webhook_url: c.next()?,
        webhook_secret: c.next()?,
        created_at: c.next()?,
    }
);

/// A merchant's login for one protocol. The secret is either hashed (passwords, API keys the
/// merchant sends) or sealed (keys kopilka must use itself to sign).
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub id: i64,
    pub merchant_id: MerchantId,
    pub protocol: String,
    pub login: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    #[serde(skip)]
    pub sealed_secret: Option<String>,
    #[serde(skip)]
    pub meta: serde_json::Value,
    pub created_at: i64,
    /// When an operator disabled it: its protocol no longer knows it.
    pub disabled_at: Option<i64>,
}
row!(
    Credential,
    "credentials.id, credentials.merchant_id, credentials.protocol, credentials.login, credentials.secret_hash, credentials.sealed_secret, credentials.meta, credentials.created_at, credentials.disabled_at",
    |c| Credential {
        id: c.next()?,
        merchant_id: MerchantId(c.next()?),
        protocol: c.next()?,
        login: c.next()?,
        secret_hash: c.next()?,
        sealed_secret: c.next()?,
        meta: c.json("credential meta")?,
        created_at: c.next()?,
        disabled_at: c.next()?,
    }
);

stored_names!(
    /// Where a customer stands: registering (Loymax registration under way), active, blocked,
    /// merged into another customer, anonymised (the last two are final).
    CustomerState {
        Registering = "registering",
        Active = "active",
        Blocked = "blocked",
        Merged = "merged",
        Anonymised = "anonymised",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub program_id: ProgramId,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(skip)]
    pub pin_hash: Option<String>,
    pub member_no: String,
    pub state: CustomerState,
    #[serde(skip)]
    pub profile: serde_json::Value,
    pub created_at: i64,
    pub name: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    pub blocked_reason: Option<String>,
    pub merged_into: Option<CustomerId>,
    /// When the customer was merged or anonymised.
    pub closed_at: Option<i64>,
}

impl Customer {
    /// What the ledger asks before points move.
    pub fn standing(&self) -> kopilka_domain::customer::Standing {
        use kopilka_domain::customer::Standing;
        match (self.state, self.merged_into) {
            (CustomerState::Blocked, _) => Standing::Blocked,
            (CustomerState::Merged, Some(into)) => Standing::Merged { into },
            (CustomerState::Merged, None) | (CustomerState::Anonymised, _) => Standing::Anonymised,
            (CustomerState::Active | CustomerState::Registering, _) => Standing::Open,
        }
    }
}
row!(
    Customer,
    "customers.id, customers.program_id, customers.phone, customers.email, customers.password_hash, customers.pin_hash, customers.member_no, customers.state, customers.profile, customers.created_at, customers.name, customers.birthday, customers.blocked_reason, customers.merged_into, customers.closed_at",
    |c| Customer {
        id: CustomerId(c.next()?),
        program_id: ProgramId(c.next()?),
        phone: c.next()?,
        email: c.next()?,
        password_hash: c.next()?,
        pin_hash: c.next()?,
        member_no: c.next()?,
        state: c.parse("customer state", |s: &String| CustomerState::parse(s))?,
        profile: c.json("customer profile")?,
        created_at: c.next()?,
        name: c.next()?,
        birthday: c.next()?,
        blocked_reason: c.next()?,
        merged_into: c.next::<Option<i64>>()?.map(CustomerId),
        closed_at: c.next()?,
    }
);

stored_names!(
    CardKind {
        Physical = "physical",
        Virtual = "virtual",
    }
);

stored_names!(
    /// A card is free until it is given to a customer.
    CardState {
        Free = "free",
        Active = "active",
        Blocked = "blocked",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: i64,
    pub program_id: ProgramId,
    pub number: String,
    pub kind: CardKind,
    pub state: CardState,
    pub customer_id: Option<CustomerId>,
    pub created_at: i64,
}
row!(
    Card,
    "cards.id, cards.program_id, cards.number, cards.kind, cards.state, cards.customer_id, cards.created_at",
    |c| Card {
        id: c.next()?,
        program_id: ProgramId(c.next()?),
        number: c.next()?,
        kind: c.parse("card kind", |s: &String| CardKind::parse(s))?,
        state: c.parse("card state", |s: &String| CardState::parse(s))?,
        customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        created_at: c.next()?,
    }
);

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub program_id: ProgramId,
    pub currency: String,
    pub owner: Owner,
    pub balance: i64,
    pub held: i64,
}
row!(
    Account,
    "accounts.id, accounts.program_id, accounts.currency, accounts.owner_kind, accounts.owner_id, accounts.balance, accounts.held",
    |c| {
        let id: i64 = c.next()?;
        let program_id = ProgramId(c.next()?);
        let currency = c.next()?;
        let kind: String = c.next()?;
        let owner = Owner::from_parts(&kind, c.next()?)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("account {id} owner {kind}")))?;
        Account {
            id,
            program_id,
            currency,
            owner,
            balance: c.next()?,
            held: c.next()?,
        }
    }
);

impl Account {
    pub fn spendable(&self) -> i64 {
        self.balance - self.held
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub id: OperationId,
    pub uuid: String,
    pub program_id: ProgramId,
    pub currency: String,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub amount: i64,
    pub reversed: i64,
    pub customer_id: Option<CustomerId>,
    pub merchant_id: Option<MerchantId>,
    pub reverses: Option<OperationId>,
    #[serde(skip)]
    pub consumed_expiry: Option<i64>,
    pub protocol: String,
    #[serde(skip)]
    pub idem_scope: Option<String>,
    pub idem_key: Option<String>,
    #[serde(skip)]
    pub fingerprint: Option<String>,
    pub description: Option<String>,
    #[serde(skip)]
    pub details: serde_json::Value,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}
row!(
    Operation,
    "operations.id, operations.uuid, operations.program_id, operations.currency, operations.kind, operations.status, operations.amount, operations.reversed, operations.customer_id, operations.merchant_id, operations.reverses, operations.consumed_expiry, operations.protocol, operations.idem_scope, operations.idem_key, operations.fingerprint, operations.description, operations.details, operations.created_at, operations.resolved_at",
    |c| {
        let id = OperationId(c.next()?);
        let what = |column| format!("operation {id} {column}");
        Operation {
            id,
            uuid: c.next()?,
            program_id: ProgramId(c.next()?),
            currency: c.next()?,
            kind: c.parse(&what("kind"), |s: &String| OperationKind::parse(s))?,
            status: c.parse(&what("status"), |s: &String| OperationStatus::parse(s))?,
            amount: c.next()?,
            reversed: c.next()?,
            customer_id: c.next::<Option<i64>>()?.map(CustomerId),
            merchant_id: c.next::<Option<i64>>()?.map(MerchantId),
            reverses: c.next::<Option<i64>>()?.map(OperationId),
            consumed_expiry: c.next()?,
            protocol: c.next()?,
            idem_scope: c.next()?,
            idem_key: c.next()?,
            fingerprint: c.next()?,
            description: c.next()?,
            details: c.json(&what("details"))?,
            created_at: c.next()?,
            resolved_at: c.next()?,
        }
    }
);

impl Operation {
    /// The operation as the ledger's rules see it; every ledger operation has a customer.
    pub fn view(&self) -> Result<OperationView, crate::StoreError> {
        Ok(OperationView {
            id: self.id,
            kind: self.kind,
            status: self.status,
            amount: self.amount,
            reversed: self.reversed,
            customer_id: self.customer_id.ok_or_else(|| {
                crate::StoreError::Corrupt(format!("operation {} has no customer", self.id))
            })?,
            merchant_id: self.merchant_id,
            consumed_expiry: self.consumed_expiry,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Posting {
    pub id: i64,
    pub operation_id: OperationId,
    pub account_id: i64,
    pub amount: i64,
    pub created_at: i64,
}
row!(
    Posting,
    "postings.id, postings.operation_id, postings.account_id, postings.amount, postings.created_at",
    |c| Posting {
        id: c.next()?,
        operation_id: OperationId(c.next()?),
        account_id: c.next()?,
        amount: c.next()?,
        created_at: c.next()?,
    }
);

stored_names!(
    /// A message waits to be sent, was delivered, or gave up.
    MessageState {
        Pending = "pending",
        Delivered = "delivered",
        Dead = "dead",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: i64,
    pub kind: MessageKind,
    pub recipient: String,
    #[serde(skip)]
    pub destination: String,
    pub subject: Option<String>,
    pub body: String,
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    pub accept: String,
    pub schedule: String,
    pub purpose: Option<String>,
    pub state: MessageState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    #[serde(skip)]
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub operation_id: Option<OperationId>,
    pub merchant_id: Option<MerchantId>,
    pub customer_id: Option<CustomerId>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}
row!(
    Message,
    "messages.id, messages.kind, messages.recipient, messages.destination, messages.subject, messages.body, messages.headers, messages.accept, messages.schedule, messages.purpose, messages.state, messages.attempts, messages.next_attempt_at, messages.lease_until, messages.last_error, messages.operation_id, messages.merchant_id, messages.customer_id, messages.created_at, messages.delivered_at",
    |c| {
        let id: i64 = c.next()?;
        let what = |column| format!("message {id} {column}");
        Message {
            id,
            kind: c.parse(&what("kind"), |s: &String| MessageKind::parse(s))?,
            recipient: c.next()?,
            destination: c.next()?,
            subject: c.next()?,
            body: c.next()?,
            headers: c.json(&what("headers"))?,
            accept: c.next()?,
            schedule: c.next()?,
            purpose: c.next()?,
            state: c.parse(&what("state"), |s: &String| MessageState::parse(s))?,
            attempts: c.next()?,
            next_attempt_at: c.next()?,
            lease_until: c.next()?,
            last_error: c.next()?,
            operation_id: c.next::<Option<i64>>()?.map(OperationId),
            merchant_id: c.next::<Option<i64>>()?.map(MerchantId),
            customer_id: c.next::<Option<i64>>()?.map(CustomerId),
            created_at: c.next()?,
            delivered_at: c.next()?,
        }
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct MessageAttempt {
    pub id: i64,
    pub message_id: i64,
    pub at: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}
row!(
    MessageAttempt,
    "message_attempts.id, message_attempts.message_id, message_attempts.at, message_attempts.outcome, message_attempts.status_code, message_attempts.error, message_attempts.duration_ms",
    |c| MessageAttempt {
        id: c.next()?,
        message_id: c.next()?,
        at: c.next()?,
        outcome: c.parse("message attempt outcome", |s: &String| AttemptOutcome::parse(s))?,
        status_code: c.next()?,
        error: c.next()?,
        duration_ms: c.next()?,
    }
);

/// A page of rows, newest first, with the cursor of the next page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}
