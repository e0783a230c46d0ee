//! Settings: defaults, then a TOML file, then environment variables, then flags.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Bearer token of the native admin API. Generated at start when absent.
    pub admin_token: Option<String>,
    /// The address customers' browsers reach kopilka at, for hosted page URLs. Defaults to
    /// `http://` + the listen address.
    pub public_url: Option<String>,
    /// How often background jobs (expiry, stale holds) run, in seconds.
    pub jobs_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            database: "sqlite://kopilka.db".into(),
            admin_token: None,
            public_url: None,
            jobs_interval_secs: 30,
        }
    }
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}
