//! What every handler shares.

use crate::config::Config;
use kopilka_store::SharedStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub config: Arc<Config>,
    /// SHA-256 of the admin token.
    pub admin_token_digest: Arc<String>,
    /// The base URL of hosted pages, without a trailing slash.
    pub public_url: Arc<String>,
    pub sealer: Arc<crate::secrets::Sealer>,
}
