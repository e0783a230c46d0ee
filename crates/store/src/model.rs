//! Rows as stored. Times are unix milliseconds, amounts minor units, JSON columns text.

use kopilka_domain::ledger::{OperationKind, OperationStatus, OperationView};
use kopilka_domain::program::ProgramRules;
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Program {
    pub id: i64,
    pub code: String,
    pub name: String,
    #[serde(skip)]
    pub rules: String,
    #[serde(skip)]
    pub settings: String,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Program {
    id,
    code,
    name,
    rules,
    settings,
    created_at
});

impl Program {
    pub fn rules(&self) -> ProgramRules {
        serde_json::from_str(&self.rules).unwrap_or_default()
    }

    pub fn settings(&self) -> serde_json::Value {
        serde_json::from_str(&self.settings).unwrap_or_else(|_| serde_json::json!({}))
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Merchant {
    pub id: i64,
    pub program_id: i64,
    pub name: String,
    pub sms_name: String,
    #[serde(skip)]
    pub return_hosts: String,
    pub webhook_url: Option<String>,
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Merchant {
    id,
    program_id,
    name,
    sms_name,
    return_hosts,
    webhook_url,
    webhook_secret,
    created_at
});

impl Merchant {
    pub fn return_hosts(&self) -> Vec<String> {
        serde_json::from_str(&self.return_hosts).unwrap_or_default()
    }
}

/// A merchant's login for one protocol. The secret is either hashed (passwords, API keys the
/// merchant sends) or sealed (keys kopilka must use itself to sign).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Credential {
    pub id: i64,
    pub merchant_id: i64,
    pub protocol: String,
    pub login: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    #[serde(skip)]
    pub sealed_secret: Option<String>,
    #[serde(skip)]
    pub meta: String,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Credential {
    id,
    merchant_id,
    protocol,
    login,
    secret_hash,
    sealed_secret,
    meta,
    created_at
});

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Customer {
    pub id: i64,
    pub program_id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(skip)]
    pub pin_hash: Option<String>,
    pub member_no: String,
    pub state: String,
    #[serde(skip)]
    pub profile: String,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Customer {
    id,
    program_id,
    phone,
    email,
    password_hash,
    pin_hash,
    member_no,
    state,
    profile,
    created_at
});

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Card {
    pub id: i64,
    pub program_id: i64,
    pub number: String,
    pub kind: String,
    pub state: String,
    pub customer_id: Option<i64>,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Card {
    id,
    program_id,
    number,
    kind,
    state,
    customer_id,
    created_at
});

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Account {
    pub id: i64,
    pub program_id: i64,
    pub currency: String,
    pub owner_kind: String,
    pub owner_id: i64,
    pub balance: i64,
    pub held: i64,
}
crate::sqlite::statement::sqlite_row!(Account {
    id,
    program_id,
    currency,
    owner_kind,
    owner_id,
    balance,
    held
});

impl Account {
    pub fn spendable(&self) -> i64 {
        self.balance - self.held
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Operation {
    pub id: i64,
    pub uuid: String,
    pub program_id: i64,
    pub currency: String,
    pub kind: String,
    pub status: String,
    pub amount: i64,
    pub reversed: i64,
    pub customer_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub reverses: Option<i64>,
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
    pub details: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}
crate::sqlite::statement::sqlite_row!(Operation {
    id,
    uuid,
    program_id,
    currency,
    kind,
    status,
    amount,
    reversed,
    customer_id,
    merchant_id,
    reverses,
    consumed_expiry,
    protocol,
    idem_scope,
    idem_key,
    fingerprint,
    description,
    details,
    created_at,
    resolved_at
});

impl Operation {
    pub fn kind(&self) -> Option<OperationKind> {
        OperationKind::parse(&self.kind)
    }

    pub fn status(&self) -> Option<OperationStatus> {
        OperationStatus::parse(&self.status)
    }

    pub fn details(&self) -> serde_json::Value {
        serde_json::from_str(&self.details).unwrap_or_else(|_| serde_json::json!({}))
    }

    pub fn view(&self) -> Result<OperationView, crate::StoreError> {
        let corrupt = || crate::StoreError::Corrupt(format!("operation {}", self.id));
        Ok(OperationView {
            id: self.id,
            kind: self.kind().ok_or_else(corrupt)?,
            status: self.status().ok_or_else(corrupt)?,
            amount: self.amount,
            reversed: self.reversed,
            customer_id: self.customer_id.ok_or_else(corrupt)?,
            merchant_id: self.merchant_id,
            consumed_expiry: self.consumed_expiry,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Posting {
    pub id: i64,
    pub operation_id: i64,
    pub account_id: i64,
    pub amount: i64,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Posting {
    id,
    operation_id,
    account_id,
    amount,
    created_at
});

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Lot {
    pub id: i64,
    pub account_id: i64,
    pub amount: i64,
    pub remaining: i64,
    pub expires_at: Option<i64>,
    pub origin: i64,
    pub created_at: i64,
}
crate::sqlite::statement::sqlite_row!(Lot {
    id,
    account_id,
    amount,
    remaining,
    expires_at,
    origin,
    created_at
});

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    #[serde(skip)]
    pub destination: String,
    pub subject: Option<String>,
    pub body: String,
    #[serde(skip)]
    pub headers: String,
    pub accept: String,
    pub schedule: String,
    pub purpose: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    #[serde(skip)]
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub operation_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}
crate::sqlite::statement::sqlite_row!(Message {
    id,
    kind,
    recipient,
    destination,
    subject,
    body,
    headers,
    accept,
    schedule,
    purpose,
    state,
    attempts,
    next_attempt_at,
    lease_until,
    last_error,
    operation_id,
    merchant_id,
    customer_id,
    created_at,
    delivered_at
});

impl Message {
    pub fn headers(&self) -> Vec<(String, String)> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct MessageAttempt {
    pub id: i64,
    pub message_id: i64,
    pub at: i64,
    pub outcome: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}
crate::sqlite::statement::sqlite_row!(MessageAttempt {
    id,
    message_id,
    at,
    outcome,
    status_code,
    error,
    duration_ms
});

/// A page of rows, newest first, with the cursor of the next page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}
