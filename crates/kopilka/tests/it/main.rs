//! The kopilka integration tests, one binary: a module per area, the harness and the protocol
//! clients in `common`.

#[macro_use]
mod common;

mod abuse_limits;
mod analytics;
mod backup;
mod bench;
mod cabinet_registration;
mod connections;
mod core_api;
mod customers;
mod dashboard;
mod dashboard_merchants;
mod dashboard_ops;
mod dashboard_programs;
mod ecommpay;
mod ecommpay_shops;
mod exports;
mod fuzz;
mod incust;
mod incust_shops;
mod job_leases;
mod kupikupi;
mod kupikupi_shops;
mod loymax;
mod loymax_batch;
mod loymax_batch_fields;
mod loymax_cheques;
mod loymax_history_bench;
mod loymax_offers;
mod loymax_processing;
mod loymax_registration_processes;
mod loymax_registration_safety;
mod loymax_sdk;
mod migrate;
mod native_api;
mod observability;
mod offers;
mod openapi;
mod operators;
mod outbox;
mod outbox_processes;
mod outbox_subjects;
mod packaging;
mod pages;
mod processes;
mod protocol_errors;
mod serve_startup;
mod social;
