//! The kopilka integration tests, one binary: a module per area, the harness and the protocol
//! clients in `common`.

#[macro_use]
mod common;

mod bench;
mod core_api;
mod ecommpay;
mod incust;
mod incust_shops;
mod kupikupi;
mod kupikupi_shops;
mod loymax;
mod loymax_batch;
mod loymax_history_bench;
mod loymax_processing;
mod native_api;
mod outbox;
mod outbox_processes;
mod processes;
