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
    /// Master key (64 hex digits) sealing the merchant secrets kopilka signs with. Read from
    /// `KOPILKA_SEAL_KEY`; when absent, kept in `seal_key_file`, created on first start.
    pub seal_key: Option<String>,
    pub seal_key_file: String,
    /// Delivery of SMS, e-mail and callbacks (`[outbox]`; see docs/outbox.md).
    pub outbox: crate::outbox::OutboxConfig,
    /// Serve the demo pages (`/demo/…`, e.g. the inCust demo shop); `kopilka demo` turns this on.
    pub demo_pages: bool,
    pub kupikupi: KupiKupiSettings,
    pub loymax: LoymaxSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            database: "sqlite://kopilka.db".into(),
            admin_token: None,
            public_url: None,
            jobs_interval_secs: 30,
            seal_key: None,
            seal_key_file: "kopilka.key".into(),
            outbox: crate::outbox::OutboxConfig::default(),
            demo_pages: false,
            kupikupi: KupiKupiSettings::default(),
            loymax: LoymaxSettings::default(),
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

impl Config {
    /// The seal key: configured, or read from (or first written to) the key file.
    pub fn resolve_seal_key(&self) -> anyhow::Result<String> {
        if let Some(key) = &self.seal_key {
            return Ok(key.clone());
        }
        let path = Path::new(&self.seal_key_file);
        if let Ok(key) = std::fs::read_to_string(path) {
            return Ok(key.trim().to_string());
        }
        let key = crate::secrets::Sealer::generate_key();
        write_private(path, &key)?;
        Ok(key)
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating the seal key file {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// `[kupikupi]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KupiKupiSettings {
    /// How long a transfer form waits for the code before the transfer is CANCELED.
    pub form_lifetime_secs: u64,
}

impl Default for KupiKupiSettings {
    fn default() -> Self {
        KupiKupiSettings {
            form_lifetime_secs: (kopilka_domain::kupikupi::DEFAULT_FORM_LIFETIME_MS / 1000) as u64,
        }
    }
}

/// `[loymax]` in the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoymaxSettings {
    /// Origins (`https://shop.example`) whose browser front ends may call the Loymax public API
    /// (CORS); `"*"` allows any. None by default; `kopilka demo` allows any.
    pub cors_allowed_origins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::schedule::Schedule;
    use crate::outbox::{SmsSenderKind, SmtpTls};

    #[test]
    fn the_documented_configuration_parses_and_validates() {
        let doc = include_str!("../../../docs/outbox.md");
        let block = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        let config: Config = toml::from_str(block).unwrap();
        config.outbox.validate().unwrap();
        assert_eq!(config.outbox.sms.sender, SmsSenderKind::Http);
        assert_eq!(config.outbox.email.tls, SmtpTls::Starttls);
        assert_eq!(
            config.outbox.schedule("default"),
            Schedule::default_schedule()
        );
        assert_eq!(config.outbox.schedule("ecommpay"), Schedule::ecommpay());
        assert_eq!(
            config.outbox.schedule("unknown"),
            Schedule::default_schedule()
        );
    }

    #[test]
    fn the_form_lifetime_is_configurable() {
        let config: Config = toml::from_str("[kupikupi]\nform_lifetime_secs = 60").unwrap();
        assert_eq!(config.kupikupi.form_lifetime_secs, 60);
        assert_eq!(Config::default().kupikupi.form_lifetime_secs, 900);
        assert!(toml::from_str::<Config>("[kupikupi]\nlifetime = 1").is_err());
    }
}
