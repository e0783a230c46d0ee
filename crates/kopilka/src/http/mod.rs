//! The HTTP toolkit every surface shares: the native JSON error and its mapping from domain and
//! store errors, the edge every protocol router is guarded by (docs/errors.md), extractors that
//! answer in it, the admin routes' principal, roles and audit log, operators' sign-in,
//! merchant credentials,
//! the client's address behind trusted proxies, keyset paging and the hosted pages' HTML
//! helpers.
//!
//! **Architecture invariant:** this module imports no surface (`api`, protocols, `cabinet`,
//! `outbox`); they all import it.

pub mod access_log;
pub mod admin;
pub mod client_addr;
pub mod connections;
pub mod credentials;
pub mod edge;
pub mod error;
pub mod export;
pub mod extract;
pub mod html;
pub mod i18n;
pub mod operator;
pub mod paging;
pub mod secret_check;
pub mod urls;

pub use admin::admin_routes;
pub use client_addr::ClientAddr;
pub use error::{ApiError, ApiResult, ErrorBody};
pub use extract::{parse_json, parse_json_object, DecimalInput, Id, JsonBody, QueryParams};
pub use paging::{instant_range, PageOf, Paging};
pub use urls::check_url;
