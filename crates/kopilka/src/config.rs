//! Settings: defaults, then a TOML file, then environment variables, then flags.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A second listener serving `/metrics` and the admin API (`/v1`) only; when set, the
    /// public listener answers 404 there. Off by default.
    pub admin_listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Bearer token of the native admin API (`KOPILKA_ADMIN_TOKEN`). `serve` requires one of
    /// at least [`MIN_ADMIN_TOKEN_LEN`] characters; `demo` generates one when absent.
    pub admin_token: Option<String>,
    /// The address customers' browsers reach kopilka at, for hosted page URLs. Defaults to
    /// `http://` + the listen address.
    pub public_url: Option<String>,
    /// How often background jobs (expiry, stale holds) run, in seconds
    /// (`KOPILKA_JOBS_INTERVAL_SECS`). Nodes sharing a database run each job once: a job's
    /// lease outlives its last renewal by three intervals (docs/deployment.md).
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
            admin_listen: None,
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
    /// the file's: every [`SETTINGS`] row with a key and a variable.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let mut merged = toml::Value::try_from(&*self)?;
        for setting in SETTINGS {
            let (Some(env), Some(key)) = (setting.env, setting.key) else {
                continue;
            };
            let Some(text) = var(env) else { continue };
            let value = setting
                .kind
                .parse(&text)
                .map_err(|e| anyhow::anyhow!("{env} {e}"))?;
            // Checked alone first, so an error names the variable rather than the key.
            let mut alone = toml::Value::Table(toml::Table::new());
            insert_at(&mut alone, key, value.clone());
            alone
                .try_into::<Config>()
                .map_err(|e| anyhow::anyhow!("{env}={text:?}: {}", e.message()))?;
            insert_at(&mut merged, key, value);
        }
        *self = merged.try_into()?;
        self.connections.validate()
    }
}

/// Puts `value` at the dotted `key` of a TOML table, creating the tables on the way.
fn insert_at(root: &mut toml::Value, key: &str, value: toml::Value) {
    let mut table = root;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let toml::Value::Table(map) = table else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        table = map
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
}

/// What an environment variable holds, and how its text becomes the setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    /// Comma-separated entries.
    List,
    /// A TOML table: set in the file only.
    Table,
}

impl Kind {
    fn parse(self, text: &str) -> Result<toml::Value, String> {
        Ok(match self {
            Kind::Text => toml::Value::String(text.to_string()),
            Kind::Integer => toml::Value::Integer(
                text.trim()
                    .parse()
                    .map_err(|_| format!("must be a whole number, not {text:?}"))?,
            ),
            Kind::Boolean => toml::Value::Boolean(match text.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(format!("must be true or false, not {text:?}")),
            }),
            Kind::List => toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(|e| toml::Value::String(e.to_string()))
                    .collect(),
            ),
            Kind::Table => return Err("is a table: set it in the configuration file".into()),
        })
    }
}

/// One setting: where it lives in the configuration file (`None`: the environment only), its
/// environment variable, its command-line flag, its default as the reference page shows it
/// (empty: `Config::default()`'s value) and what it means.
#[derive(Debug)]
pub struct Setting {
    pub key: Option<&'static str>,
    pub env: Option<&'static str>,
    pub flag: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub meaning: &'static str,
}

const fn setting(key: &'static str, env: &'static str, kind: Kind) -> Setting {
    Setting {
        key: Some(key),
        env: Some(env),
        flag: None,
        kind,
        default: "",
        meaning: "",
    }
}

impl Setting {
    const fn flag(mut self, flag: &'static str) -> Self {
        self.flag = Some(flag);
        self
    }
    const fn default(mut self, text: &'static str) -> Self {
        self.default = text;
        self
    }
    const fn means(mut self, text: &'static str) -> Self {
        self.meaning = text;
        self
    }
    const fn file_only(key: &'static str) -> Self {
        Setting {
            key: Some(key),
            env: None,
            flag: None,
            kind: Kind::Table,
            default: "",
            meaning: "",
        }
    }
    const fn env_only(env: &'static str) -> Self {
        Setting {
            key: None,
            env: Some(env),
            flag: None,
            kind: Kind::Text,
            default: "",
            meaning: "",
        }
    }
}

/// Every setting kopilka reads. `docs/configuration.md` is generated from this table, and the
/// tests check that every field of [`Config`] and every `KOPILKA_*` variable in the sources
/// has a row.
pub const SETTINGS: &[Setting] = &[
    setting("listen", "KOPILKA_LISTEN", Kind::Text)
        .flag("--listen")
        .means("Address of the public listener; port 0 picks a free port."),
    setting("admin_listen", "KOPILKA_ADMIN_LISTEN", Kind::Text)
        .default("none: off")
        .means("A second listener serving only `/metrics` and the admin API (`/v1`, `/v1/openapi.json`); when set, the public listener answers 404 on them (docs/observability.md)."),
    setting("database", "KOPILKA_DATABASE_URL", Kind::Text)
        .flag("--database")
        .means("`sqlite://PATH` or `postgres://…` (`?options=-csearch_path%3DSCHEMA` for a schema of its own)."),
    setting("admin_token", "KOPILKA_ADMIN_TOKEN", Kind::Text)
        .default("`serve`: required; `demo`: generated and printed")
        .means("Bearer token of the native admin API, at least 32 characters."),
    setting("public_url", "KOPILKA_PUBLIC_URL", Kind::Text)
        .default("`http://` + the listen address")
        .means("The address customers' browsers reach kopilka at: the Kupi-Kupi form, ECommPay pages and links, e-mail links. Set it behind a reverse proxy, or links point at 127.0.0.1."),
    setting("jobs_interval_secs", "KOPILKA_JOBS_INTERVAL_SECS", Kind::Integer)
        .means("How often the background jobs (expiry, stale holds, purchase and form expiry) run, in seconds."),
    setting("seal_key", "KOPILKA_SEAL_KEY", Kind::Text)
        .default("none")
        .means("Master key (64 hex digits) sealing the secrets kopilka uses itself (docs/deployment.md)."),
    setting("seal_key_file", "KOPILKA_SEAL_KEY_FILE", Kind::Text)
        .default("SQLite: next to the database (`kopilka.db` → `kopilka.key`); PostgreSQL: none")
        .means("A file holding the seal key."),
    setting("demo_pages", "KOPILKA_DEMO_PAGES", Kind::Boolean)
        .default("false (`kopilka demo`: true)")
        .means("Serve the demo shops under `/demo/`."),
    setting("trusted_proxies", "KOPILKA_TRUSTED_PROXIES", Kind::List)
        .default("none: the peer is the client")
        .means("Reverse proxies (addresses, CIDR networks) whose `X-Forwarded-For` / `Forwarded` is believed; comma-separated in the variable."),
    setting("connections.header_read_timeout_secs", "KOPILKA_HEADER_READ_TIMEOUT_SECS", Kind::Integer)
        .means("Seconds a connection may take to send a request's head; also how long an idle keep-alive connection stays open (docs/abuse.md)."),
    setting("connections.body_read_timeout_secs", "KOPILKA_BODY_READ_TIMEOUT_SECS", Kind::Integer)
        .means("Seconds a request's body may take to arrive; slower bodies are refused (408 in the protocol's format)."),
    setting("connections.max_connections", "KOPILKA_MAX_CONNECTIONS", Kind::Integer)
        .means("Open connections per listener; past it a newcomer closes the oldest idle connection, or is closed when every connection is busy."),
    setting("connections.body_budget_bytes", "KOPILKA_BODY_BUDGET_BYTES", Kind::Integer)
        .means("Bytes of request bodies held in memory at once across all requests (1 MiB – 4 GiB); past it a body is refused as busy (503 in the protocol's format)."),
    setting("kupikupi.form_lifetime_secs", "KOPILKA_KUPIKUPI_FORM_LIFETIME_SECS", Kind::Integer)
        .means("How long a Kupi-Kupi transfer form waits for the code before the transfer is CANCELED."),
    setting("loymax.cors_allowed_origins", "KOPILKA_LOYMAX_CORS_ALLOWED_ORIGINS", Kind::List)
        .default("none (`kopilka demo`: `*`)")
        .means("Browser origins allowed to call the Loymax public API (CORS); `*` allows any."),
    setting("outbox.poll_interval_ms", "KOPILKA_OUTBOX_POLL_INTERVAL_MS", Kind::Integer)
        .means("How long the delivery worker sleeps when nothing is due (docs/outbox.md)."),
    setting("outbox.batch", "KOPILKA_OUTBOX_BATCH", Kind::Integer)
        .means("How many messages one claim leases."),
    setting("outbox.concurrency", "KOPILKA_OUTBOX_CONCURRENCY", Kind::Integer)
        .means("How many messages a process sends at once."),
    setting("outbox.request_timeout_ms", "KOPILKA_OUTBOX_REQUEST_TIMEOUT_MS", Kind::Integer)
        .means("The limit of one delivery request (connect, send, answer)."),
    setting("outbox.lease_ms", "KOPILKA_OUTBOX_LEASE_MS", Kind::Integer)
        .means("How long a claimed message stays leased to its worker; more than twice the request timeout."),
    setting("outbox.schedule_unit_ms", "KOPILKA_OUTBOX_SCHEDULE_UNIT_MS", Kind::Integer)
        .means("The length of one second of the retry schedules (tests shorten it)."),
    setting("outbox.refuse_private_addresses", "KOPILKA_OUTBOX_REFUSE_PRIVATE_ADDRESSES", Kind::Boolean)
        .means("Refuse callbacks and gateway requests to loopback, private and link-local addresses."),
    Setting::file_only("outbox.schedules")
        .default("`default` and `ecommpay`")
        .means("Retry schedules by name (`[outbox.schedules.NAME]`: delays, growth_percent, max_delay, give_up_after, jitter_percent)."),
    setting("outbox.sms.sender", "KOPILKA_SMS_SENDER", Kind::Text)
        .default("`serve`: required; `demo`: `log`")
        .means("`http` (a gateway) or `log` (development: written to the log, codes masked)."),
    setting("outbox.sms.method", "KOPILKA_SMS_METHOD", Kind::Text)
        .means("The gateway request's HTTP method."),
    setting("outbox.sms.url", "KOPILKA_SMS_URL", Kind::Text)
        .default("none")
        .means("The gateway's URL; `{phone}` and `{text}` are replaced, URL-encoded."),
    Setting::file_only("outbox.sms.headers")
        .default("none")
        .means("Headers of the gateway request (`[outbox.sms.headers]`)."),
    setting("outbox.sms.headers.Authorization", "KOPILKA_SMS_AUTHORIZATION", Kind::Text)
        .default("none")
        .means("The gateway request's `Authorization` header."),
    setting("outbox.sms.body", "KOPILKA_SMS_BODY", Kind::Text)
        .default("none: no body")
        .means("The gateway request's body; `{phone}` and `{text}` are replaced."),
    setting("outbox.sms.body_escape", "KOPILKA_SMS_BODY_ESCAPE", Kind::Text)
        .means("How `{phone}` and `{text}` are escaped in the body: `json`, `form` or `none`."),
    setting("outbox.push.sender", "KOPILKA_PUSH_SENDER", Kind::Text)
        .default("`log`")
        .means("Offers' push notifications (`{phone}` is the device's token): `http` (a gateway, set like `outbox.sms`) or `log`."),
    setting("outbox.push.method", "KOPILKA_PUSH_METHOD", Kind::Text)
        .means("The push gateway request's HTTP method."),
    setting("outbox.push.url", "KOPILKA_PUSH_URL", Kind::Text)
        .default("none")
        .means("The push gateway's URL; `{phone}` and `{text}` are replaced, URL-encoded."),
    Setting::file_only("outbox.push.headers")
        .default("none")
        .means("Headers of the push gateway request (`[outbox.push.headers]`)."),
    setting("outbox.push.headers.Authorization", "KOPILKA_PUSH_AUTHORIZATION", Kind::Text)
        .default("none")
        .means("The push gateway request's `Authorization` header."),
    setting("outbox.push.body", "KOPILKA_PUSH_BODY", Kind::Text)
        .default("none: no body")
        .means("The push gateway request's body; `{phone}` and `{text}` are replaced."),
    setting("outbox.push.body_escape", "KOPILKA_PUSH_BODY_ESCAPE", Kind::Text)
        .means("How `{phone}` and `{text}` are escaped in the push gateway's body."),
    setting("outbox.viber.sender", "KOPILKA_VIBER_SENDER", Kind::Text)
        .default("`log`")
        .means("Offers' Viber messages: `http` (a gateway, set like `outbox.sms`) or `log`."),
    setting("outbox.viber.method", "KOPILKA_VIBER_METHOD", Kind::Text)
        .means("The viber gateway request's HTTP method."),
    setting("outbox.viber.url", "KOPILKA_VIBER_URL", Kind::Text)
        .default("none")
        .means("The viber gateway's URL; `{phone}` and `{text}` are replaced, URL-encoded."),
    Setting::file_only("outbox.viber.headers")
        .default("none")
        .means("Headers of the viber gateway request (`[outbox.viber.headers]`)."),
    setting("outbox.viber.headers.Authorization", "KOPILKA_VIBER_AUTHORIZATION", Kind::Text)
        .default("none")
        .means("The viber gateway request's `Authorization` header."),
    setting("outbox.viber.body", "KOPILKA_VIBER_BODY", Kind::Text)
        .default("none: no body")
        .means("The viber gateway request's body; `{phone}` and `{text}` are replaced."),
    setting("outbox.viber.body_escape", "KOPILKA_VIBER_BODY_ESCAPE", Kind::Text)
        .means("How `{phone}` and `{text}` are escaped in the viber gateway's body."),
    setting("outbox.email.sender", "KOPILKA_EMAIL_SENDER", Kind::Text)
        .default("`serve`: required; `demo`: `log`")
        .means("`smtp` or `log` (development)."),
    setting("outbox.email.host", "KOPILKA_SMTP_HOST", Kind::Text)
        .default("none")
        .means("The SMTP relay."),
    setting("outbox.email.port", "KOPILKA_SMTP_PORT", Kind::Integer)
        .default("587 with `starttls`, 25 with `plain`")
        .means("The relay's port."),
    setting("outbox.email.tls", "KOPILKA_SMTP_TLS", Kind::Text)
        .means("`starttls` (refused if the relay does not offer it) or `plain`."),
    setting("outbox.email.username", "KOPILKA_SMTP_USERNAME", Kind::Text)
        .default("none")
        .means("SMTP user."),
    setting("outbox.email.password", "KOPILKA_SMTP_PASSWORD", Kind::Text)
        .default("none")
        .means("SMTP password."),
    setting("outbox.email.from", "KOPILKA_SMTP_FROM", Kind::Text)
        .means("The From address."),
    Setting::env_only("KOPILKA_CONFIG")
        .flag("--config")
        .default("none")
        .means("The configuration file (TOML, the keys of this table)."),
    Setting::env_only("KOPILKA_LOG")
        .default("`info`")
        .means("Log filter (`info`, `kopilka=debug,warn`); one that does not parse is an error."),
    Setting::env_only("KOPILKA_LOG_FORMAT")
        .default("`text`")
        .means("`text` or `json` (one object per line; docs/observability.md)."),
    Setting::env_only("KOPILKA_PG_POOL")
        .default("24")
        .means("Connections in the PostgreSQL pool of each process."),
    Setting::env_only("KOPILKA_TEST_POSTGRES_URL")
        .default("`postgres://postgres@127.0.0.1:5432/test`")
        .means("Development: the PostgreSQL of the test suite and `kopilka bench`."),
    Setting::env_only("KOPILKA_WRITE_REFERENCE")
        .default("unset")
        .means("Development: the reference page's test rewrites this page instead of failing."),
];

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

impl Serialize for TrustedProxies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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

    const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");

    /// The value at a dotted key of `Config::default()` as JSON (`None` fields included, which
    /// TOML would leave out).
    fn default_at(key: &str) -> Option<serde_json::Value> {
        let mut value = serde_json::to_value(Config::default()).unwrap();
        for part in key.split('.') {
            value = value.get(part)?.clone();
        }
        Some(value)
    }

    fn default_text(setting: &Setting) -> String {
        if !setting.default.is_empty() {
            return setting.default.to_string();
        }
        let value = setting.key.and_then(default_at);
        match value {
            Some(serde_json::Value::String(s)) => format!("`{s}`"),
            Some(serde_json::Value::Number(n)) => format!("`{n}`"),
            Some(serde_json::Value::Bool(b)) => format!("`{b}`"),
            _ => "none".into(),
        }
    }

    fn reference_page() -> String {
        let mut page = String::from(
            "# Configuration reference\n\n\
             Generated from `SETTINGS` in `crates/kopilka/src/config.rs` by \
             `KOPILKA_WRITE_REFERENCE=1 cargo test -p kopilka --lib config::tests::the_reference_page`; \
             the same test fails when this page and the code differ. Edit the table, not this page.\n\n\
             Order: defaults, then the configuration file (TOML, `--config` or `KOPILKA_CONFIG`; \
             dotted keys are tables: `outbox.sms.url` is `url` in `[outbox.sms]`), then the \
             environment (an empty variable counts as unset), then the flags. A variable whose \
             value does not parse stops the start with a message naming it.\n\n\
             | file key | environment | flag | default | meaning |\n|---|---|---|---|---|\n",
        );
        let code = |text: Option<&str>| text.map_or("—".to_string(), |t| format!("`{t}`"));
        for setting in SETTINGS {
            page.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                setting
                    .key
                    .map_or("— (environment only)".into(), |k| format!("`{k}`")),
                code(setting.env),
                code(setting.flag),
                default_text(setting),
                setting.meaning,
            ));
        }
        page
    }

    #[test]
    fn the_reference_page() {
        let page = reference_page();
        if std::env::var_os("KOPILKA_WRITE_REFERENCE").is_some() {
            std::fs::write(REFERENCE, &page).unwrap();
            return;
        }
        let written = std::fs::read_to_string(REFERENCE).unwrap_or_default();
        assert!(
            written == page,
            "docs/configuration.md differs from config::SETTINGS; rewrite it with \
             KOPILKA_WRITE_REFERENCE=1 cargo test -p kopilka --lib config::tests::the_reference_page"
        );
    }

    /// Every leaf of `Config::default()`: a key whose value is not an object, or an empty one.
    fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (name, inner) in map {
                    let key = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    leaves(&key, inner, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_setting_and_every_variable_has_a_row() {
        let mut keys = Vec::new();
        leaves(
            "",
            &serde_json::to_value(Config::default()).unwrap(),
            &mut keys,
        );
        let missing: Vec<_> = keys
            .iter()
            .filter(|k| !SETTINGS.iter().any(|s| s.key == Some(k.as_str())))
            .collect();
        assert!(
            missing.is_empty(),
            "settings without a SETTINGS row: {missing:?}"
        );
        for setting in SETTINGS {
            if let Some(key) = setting.key {
                let parent = key.rsplit_once('.').map_or(key, |(p, _)| p);
                assert!(
                    default_at(key).is_some() || default_at(parent).is_some(),
                    "{key} is no setting of Config"
                );
            }
            assert!(
                !setting.meaning.is_empty(),
                "{:?} says nothing",
                setting.key
            );
        }

        let mut read = std::collections::BTreeSet::new();
        for dir in ["src", "../store/src"] {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            let mut stack = vec![root];
            while let Some(path) = stack.pop() {
                if path.is_dir() {
                    stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (at, _) in text.match_indices("KOPILKA_") {
                        let name: String = text[at..]
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_'
                            })
                            .collect();
                        if name.len() > "KOPILKA_".len() {
                            read.insert(name);
                        }
                    }
                }
            }
        }
        let unlisted: Vec<_> = read
            .iter()
            .filter(|name| !SETTINGS.iter().any(|s| s.env == Some(name.as_str())))
            .collect();
        assert!(
            unlisted.is_empty(),
            "variables without a SETTINGS row: {unlisted:?}"
        );
    }

    #[test]
    fn every_variable_sets_its_key() {
        let values = |setting: &Setting| match setting.kind {
            // The body budget must hold the largest body a route takes.
            Kind::Integer if setting.env == Some("KOPILKA_BODY_BUDGET_BYTES") => "2097152",
            Kind::Integer => "7",
            Kind::Boolean => "true",
            Kind::List => "127.0.0.1, ::1",
            _ => match setting.env.unwrap() {
                "KOPILKA_LISTEN" | "KOPILKA_ADMIN_LISTEN" => "127.0.0.1:9",
                "KOPILKA_SMS_SENDER"
                | "KOPILKA_EMAIL_SENDER"
                | "KOPILKA_PUSH_SENDER"
                | "KOPILKA_VIBER_SENDER" => "log",
                "KOPILKA_SMS_BODY_ESCAPE"
                | "KOPILKA_PUSH_BODY_ESCAPE"
                | "KOPILKA_VIBER_BODY_ESCAPE" => "form",
                "KOPILKA_SMTP_TLS" => "plain",
                _ => "value",
            },
        };
        for setting in SETTINGS
            .iter()
            .filter(|s| s.key.is_some() && s.env.is_some())
        {
            let (key, env) = (setting.key.unwrap(), setting.env.unwrap());
            let text = values(setting);
            let mut config = Config::default();
            config
                .apply_env(|name| (name == env).then(|| text.to_string()))
                .unwrap_or_else(|e| panic!("{env}: {e}"));
            let mut value = serde_json::to_value(&config).unwrap();
            for part in key.split('.') {
                value = value[part].clone();
            }
            let expected = match setting.kind {
                Kind::Integer => serde_json::json!(text.parse::<u64>().unwrap()),
                Kind::Boolean => serde_json::json!(true),
                Kind::List if env == "KOPILKA_TRUSTED_PROXIES" => {
                    serde_json::json!(["127.0.0.1/32", "::1/128"])
                }
                Kind::List => serde_json::json!(["127.0.0.1", "::1"]),
                _ => serde_json::json!(text),
            };
            assert_eq!(value, expected, "{env} sets {key}");
        }
        let bad = Config::default()
            .apply_env(|name| (name == "KOPILKA_JOBS_INTERVAL_SECS").then(|| "soon".into()))
            .unwrap_err();
        assert!(
            bad.to_string().contains("KOPILKA_JOBS_INTERVAL_SECS"),
            "{bad}"
        );
    }

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
        let bad = config
            .apply_env(|name| (name == "KOPILKA_TRUSTED_PROXIES").then(|| "10.0.0.0/33".into()));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("KOPILKA_TRUSTED_PROXIES"));
    }

    #[test]
    fn the_jobs_interval_comes_from_the_environment() {
        let mut config = Config::default();
        config
            .apply_env(|name| (name == "KOPILKA_JOBS_INTERVAL_SECS").then(|| "5".into()))
            .unwrap();
        assert_eq!(config.jobs_interval_secs, 5);
        let bad =
            config.apply_env(|name| (name == "KOPILKA_JOBS_INTERVAL_SECS").then(|| "1.5".into()));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("KOPILKA_JOBS_INTERVAL_SECS"));
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

    #[test]
    fn the_environment_overrides_senders_and_secrets() {
        let env = [
            ("KOPILKA_EMAIL_SENDER", "smtp"),
            ("KOPILKA_SMTP_HOST", "relay.local"),
            ("KOPILKA_SMTP_PORT", "2525"),
            ("KOPILKA_SMTP_TLS", "plain"),
            ("KOPILKA_SMTP_PASSWORD", "pw"),
            ("KOPILKA_SMS_AUTHORIZATION", "Bearer t"),
        ];
        let mut whole = Config::default();
        whole
            .apply_env(|name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap();
        let config = whole.outbox.clone();
        assert_eq!(config.email.sender(), crate::outbox::EmailSenderKind::Smtp);
        assert_eq!(
            (config.email.host.as_str(), config.email.port),
            ("relay.local", Some(2525))
        );
        assert_eq!(config.email.tls, SmtpTls::Plain);
        assert_eq!(config.email.password.as_deref(), Some("pw"));
        assert_eq!(config.sms.headers["Authorization"], "Bearer t");
        config.validate().unwrap();
        let bad = crate::outbox::OutboxConfig {
            lease_ms: 1000,
            ..crate::outbox::OutboxConfig::default()
        };
        assert!(bad.validate().is_err());
        let refused = whole
            .apply_env(|name| (name == "KOPILKA_SMTP_TLS").then(|| "ssl".into()))
            .unwrap_err();
        assert!(
            refused.to_string().contains("KOPILKA_SMTP_TLS"),
            "{refused}"
        );
    }
}
