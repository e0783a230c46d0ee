//! kopilka's domain: money, the points ledger's rules and the state machines of the protocols.
//!
//! **Architecture invariant:** this crate does no IO and has no async. It decides; the store
//! persists what it decided and the protocol modules translate wire formats to and from it.

pub mod analytics;
pub mod cheque;
pub mod code_quota;
pub mod customer;
pub mod ecommpay;
pub mod error;
pub mod ids;
pub mod incust;
pub mod kupikupi;
pub mod ledger;
pub mod loymax;
pub mod loymax_purchase;
pub mod message;
pub mod money;
pub mod offers;
pub mod operator;
pub mod phone;
pub mod program;
pub mod subscriptions;
pub mod text;
pub mod throttle;

pub use error::DomainError;
pub use money::{Amount, Rounding};
