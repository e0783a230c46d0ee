//! Settings: defaults, then a TOML file, then environment variables, then flags.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Bearer token of the native admin API (`KOPILKA_ADMIN_TOKEN`). `serve` requires one of
    /// at least [`MIN_ADMIN_TOKEN_LEN`] characters; `demo` generates one when absent.
    pub admin_token: Option<String>,
    /// The address customers' browsers reach kopilka at, for hosted page URLs. Defaults to
    /// `http://` + the listen address.
    pub public_url: Option<String>,
    /// How often background jobs (expiry, stale holds) run, in seconds.
    pub jobs_interval_secs: u64,
    /// Master key (64 hex digits) sealing the secrets kopilka must use itself (`KOPILKA_SEAL_KEY`).
    /// When absent, read from `seal_key_file` (see `seal_key.rs`).
    pub seal_key: Option<String>,
    /// A file holding the seal key (`KOPILKA_SEAL_KEY_FILE`). Default on SQLite: the database's
    /// path with the extension `.key`, created for a database that has no sealed secret yet;
    /// none on PostgreSQL, where every node must be given the same key.
    pub seal_key_file: Option<String>,
    /// Delivery of SMS, e-mail and callbacks (`[outbox]`; see docs/outbox.md).
    pub outbox: crate::outbox::OutboxConfig,
    /// Serve the demo pages (`/demo/…`, e.g. the inCust demo shop); `kopilka demo` turns this on.
    pub demo_pages: bool,
    pub kupikupi: KupiKupiSettings,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` / `Forwarded` is
    /// believed when they are the peer: per-address quotas and throttles count the client behind
    /// them. `KOPILKA_TRUSTED_PROXIES` (comma-separated). Empty: the peer is the client.
    pub trusted_proxies: TrustedProxies,
    pub loymax: LoymaxSettings,
    pub connections: ConnectionSettings,
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
            seal_key_file: None,
            outbox: crate::outbox::OutboxConfig::default(),
            demo_pages: false,
            kupikupi: KupiKupiSettings::default(),
            trusted_proxies: TrustedProxies::default(),
            loymax: LoymaxSettings::default(),
            connections: ConnectionSettings::default(),
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
    /// Settings given by environment variables (`var` reads one; empty counts as unset), over
    /// the file's.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(token) = var("KOPILKA_ADMIN_TOKEN") {
            self.admin_token = Some(token);
        }
        if let Some(key) = var("KOPILKA_SEAL_KEY") {
            self.seal_key = Some(key);
        }
        if let Some(path) = var("KOPILKA_SEAL_KEY_FILE") {
            self.seal_key_file = Some(path);
        }
        if let Some(list) = var("KOPILKA_TRUSTED_PROXIES") {
            self.trusted_proxies = TrustedProxies::parse_list(list.split(','))
                .map_err(|e| anyhow::anyhow!("KOPILKA_TRUSTED_PROXIES: {e}"))?;
        }
        let number = |name: &str| -> anyhow::Result<Option<u64>> {
            var(name)
                .map(|v| v.trim().parse::<u64>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let c = &mut self.connections;
        if let Some(secs) = number("KOPILKA_HEADER_READ_TIMEOUT_SECS")? {
            c.header_read_timeout_secs = secs;
        }
        if let Some(secs) = number("KOPILKA_BODY_READ_TIMEOUT_SECS")? {
            c.body_read_timeout_secs = secs;
        }
        if let Some(count) = number("KOPILKA_MAX_CONNECTIONS")? {
            c.max_connections = count as usize;
        }
        if let Some(bytes) = number("KOPILKA_BODY_BUDGET_BYTES")? {
            c.body_budget_bytes = bytes as usize;
        }
        self.connections.validate()
    }
}

/// The shortest admin token `serve` accepts.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

impl Config {
    /// What `serve` requires that `demo` and tests do without: an admin token long enough to
    /// resist guessing, and SMS and e-mail senders chosen on purpose (the `log` sender only when
    /// named, as it sends nothing).
    pub fn check_for_serve(&self) -> anyhow::Result<()> {
        match &self.admin_token {
            None => anyhow::bail!(
                "no admin token: set KOPILKA_ADMIN_TOKEN (or admin_token in the config file) to a \
                 random string of at least {MIN_ADMIN_TOKEN_LEN} characters, e.g. the output of \
                 `openssl rand -hex 32`"
            ),
            Some(token) if token.chars().count() < MIN_ADMIN_TOKEN_LEN => anyhow::bail!(
                "the admin token is {} characters long; it must have at least \
                 {MIN_ADMIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
                token.chars().count()
            ),
            Some(_) => {}
        }
        anyhow::ensure!(
            self.outbox.sms.sender.is_some(),
            "no SMS sender chosen: set [outbox.sms] sender = \"http\" with its url \
             (docs/outbox.md), or, for development only, sender = \"log\" or \
             KOPILKA_SMS_SENDER=log (texts, codes masked, go to the log and are not sent)"
        );
        anyhow::ensure!(
            self.outbox.email.sender.is_some(),
            "no e-mail sender chosen: set [outbox.email] sender = \"smtp\" with its host \
             (docs/outbox.md), or, for development only, sender = \"log\" or \
             KOPILKA_EMAIL_SENDER=log (e-mails go to the log and are not sent)"
        );
        Ok(())
    }
}

/// The reverse proxies kopilka believes about the client's address (`trusted_proxies`: a list of
/// addresses and CIDR networks, `["127.0.0.1", "10.0.0.0/8", "::1"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`10.0.0.1`, `::1`) and networks (`10.0.0.0/8`); blank entries are skipped.
    pub fn parse_list<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{entry:?} is neither an IP address nor a CIDR network")
                })?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `addr` is one of the trusted proxies (an IPv4-mapped IPv6 address as its IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A list, or one string of comma-separated entries as the environment variable takes them.
impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entries {
            List(Vec<String>),
            Text(String),
        }
        let parsed = match Entries::deserialize(deserializer)? {
            Entries::List(list) => TrustedProxies::parse_list(list.iter().map(String::as_str)),
            Entries::Text(text) => TrustedProxies::parse_list(text.split(',')),
        };
        parsed.map_err(serde::de::Error::custom)
    }
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

/// The smallest body budget: the largest body one route takes whole (`http::edge`'s limits).
pub const MIN_BODY_BUDGET_BYTES: usize = 1 << 20;

/// `[connections]` in the configuration file: what one client may hold of the server
/// (docs/abuse.md, "Connections and bodies").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// How long a connection may take to send a request's head, counted from the moment the
    /// server waits for it: a new connection, or one kept alive after an answer
    /// (`KOPILKA_HEADER_READ_TIMEOUT_SECS`). So it is also how long an idle connection stays.
    pub header_read_timeout_secs: u64,
    /// The longest wait for the next piece of a request body (`KOPILKA_BODY_READ_TIMEOUT_SECS`).
    pub body_read_timeout_secs: u64,
    /// Connections served at once (`KOPILKA_MAX_CONNECTIONS`); past it, an idle one is closed
    /// for each newcomer.
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once, over all requests
    /// (`KOPILKA_BODY_BUDGET_BYTES`).
    pub body_budget_bytes: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 512,
            body_budget_bytes: 64 << 20,
        }
    }
}

impl ConnectionSettings {
    /// Zero would refuse everything (or, for a timeout, nothing would ever arrive in time); a
    /// budget under one largest body refuses it always; one over 4 GiB cannot be counted.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.header_read_timeout_secs > 0 && self.body_read_timeout_secs > 0,
            "[connections] timeouts must be at least 1 second"
        );
        anyhow::ensure!(
            self.max_connections > 0,
            "[connections] max_connections must be at least 1"
        );
        anyhow::ensure!(
            (MIN_BODY_BUDGET_BYTES..=u32::MAX as usize).contains(&self.body_budget_bytes),
            "[connections] body_budget_bytes must be between {MIN_BODY_BUDGET_BYTES} (the \
             largest body a route takes) and {} (4 GiB)",
            u32::MAX
        );
        Ok(())
    }
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
        assert_eq!(config.outbox.sms.sender(), SmsSenderKind::Http);
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
    fn trusted_proxies_are_addresses_or_networks_from_the_file_or_the_environment() {
        let config: Config =
            toml::from_str("trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\", \"::1\"]").unwrap();
        let proxies = &config.trusted_proxies;
        assert!(proxies.contains("10.200.3.4".parse().unwrap()));
        assert!(proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(toml::from_str::<Config>("trusted_proxies = [\"proxy.local\"]").is_err());
        let config: Config = toml::from_str("trusted_proxies = \"10.0.0.1, ::1\"").unwrap();
        assert!(config.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(Config::default().trusted_proxies.is_empty());

        let mut config = Config::default();
        config
            .apply_env(|name| {
                (name == "KOPILKA_TRUSTED_PROXIES").then(|| " 127.0.0.1, 172.16.0.0/12".into())
            })
            .unwrap();
        assert!(config
            .trusted_proxies
            .contains("172.20.0.1".parse().unwrap()));
        assert!(config
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap()));
        let mut config = Config::default();
        let bad = config.apply_env(|_| Some("10.0.0.0/33".into()));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("KOPILKA_TRUSTED_PROXIES"));
    }

    #[test]
    fn connection_settings_come_from_the_file_or_the_environment() {
        let defaults = ConnectionSettings::default();
        assert_eq!(defaults.header_read_timeout_secs, 10);
        assert_eq!(defaults.max_connections, 512);
        let mut config: Config =
            toml::from_str("[connections]\nmax_connections = 64\nbody_read_timeout_secs = 5")
                .unwrap();
        assert_eq!(config.connections.max_connections, 64);
        config
            .apply_env(|name| match name {
                "KOPILKA_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
                "KOPILKA_BODY_BUDGET_BYTES" => Some("8388608".into()),
                _ => None,
            })
            .unwrap();
        let c = &config.connections;
        assert_eq!(
            (c.header_read_timeout_secs, c.body_read_timeout_secs),
            (3, 5)
        );
        assert_eq!((c.max_connections, c.body_budget_bytes), (64, 8 << 20));
        let refused = |name: &'static str, value: &'static str| {
            let mut config = Config::default();
            let error = config
                .apply_env(|n| (n == name).then(|| value.to_string()))
                .unwrap_err();
            error.to_string()
        };
        assert!(refused("KOPILKA_MAX_CONNECTIONS", "many").contains("KOPILKA_MAX_CONNECTIONS"));
        assert!(refused("KOPILKA_MAX_CONNECTIONS", "0").contains("max_connections"));
        assert!(refused("KOPILKA_BODY_BUDGET_BYTES", "1000").contains("body_budget_bytes"));
        assert!(toml::from_str::<Config>("[connections]\nidle = 1").is_err());
    }

    #[test]
    fn the_form_lifetime_is_configurable() {
        let config: Config = toml::from_str("[kupikupi]\nform_lifetime_secs = 60").unwrap();
        assert_eq!(config.kupikupi.form_lifetime_secs, 60);
        assert_eq!(Config::default().kupikupi.form_lifetime_secs, 900);
        assert!(toml::from_str::<Config>("[kupikupi]\nlifetime = 1").is_err());
    }
}
