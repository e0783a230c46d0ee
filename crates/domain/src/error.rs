use crate::ids::{CustomerId, OperationId};
use thiserror::Error;

/// Every business refusal the domain can give. Protocol modules map these to their own codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("not enough points: spendable {spendable}, requested {requested}")]
    InsufficientFunds { spendable: i64, requested: i64 },
    #[error("the idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("operation {0} not found")]
    OperationNotFound(OperationId),
    #[error("operation {0} belongs to another merchant")]
    ForeignOperation(OperationId),
    #[error("operation {id} cannot be reversed: {reason}")]
    NotReversible {
        id: OperationId,
        reason: &'static str,
    },
    #[error("operation {id} is already fully reversed")]
    AlreadyReversed { id: OperationId },
    #[error("reversal of {requested} exceeds the {remaining} left of operation {id}")]
    ReversalTooLarge {
        id: OperationId,
        remaining: i64,
        requested: i64,
    },
    #[error("operation {id} is not a pending hold (status {status})")]
    HoldNotPending {
        id: OperationId,
        status: &'static str,
    },
    #[error("the merchant's account cannot return {requested} (balance {balance})")]
    MerchantFundsShort { balance: i64, requested: i64 },
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{entity} already exists")]
    AlreadyExists { entity: &'static str },
    /// The customer is blocked: nothing may be earned, spent or transferred (reads stay).
    #[error("the customer is blocked")]
    CustomerBlocked,
    /// The customer was merged into another; its cards and phone lead to that one.
    #[error("the customer was merged into customer {into}")]
    CustomerMerged { into: CustomerId },
    /// The customer was anonymised on request; the account is closed.
    #[error("the customer was anonymised; the account is closed")]
    CustomerAnonymised,
}
