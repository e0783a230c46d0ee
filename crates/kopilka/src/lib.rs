//! The `kopilka` server: the native API, the protocol modules, hosted pages and background
//! workers over the store and the domain.

pub mod api;
pub mod bench;
pub mod cabinet;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod ecommpay;
pub mod http;
pub mod incust;
pub mod jobs;
pub mod kupikupi;
#[cfg(test)]
mod layering;
pub mod loymax;
pub mod observability;
pub mod offers;
pub mod outbox;
pub mod seal_key;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod social;
pub mod state;
