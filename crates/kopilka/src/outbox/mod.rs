//! The outbox worker: delivers the messages write jobs queued (customer SMS and e-mail,
//! merchant callbacks), at least once, in order per subject at a destination, with retries on a
//! schedule.
//!
//! A delivery is three steps, none holding a transaction across network IO: a write job
//! leases due messages (`claim_due`), the message is sent outside any transaction, and a
//! second write job records the attempt and marks the message delivered, due again or dead —
//! running the message's purpose hook ([`hooks::Hooks::on_settled`]) in that same transaction.

pub mod hooks;
pub mod schedule;
pub mod senders;
mod view;
pub mod webhooks;
mod worker;

use schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use view::MessageView;
pub use worker::{run, Worker};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// How long the worker sleeps when nothing is due, in milliseconds.
    pub poll_interval_ms: u64,
    /// How many messages one claim leases.
    pub batch: i64,
    /// How many messages a process sends at once.
    pub concurrency: usize,
    /// The limit of one HTTP request (connect, send, answer), in milliseconds.
    pub request_timeout_ms: u64,
    /// How long a claimed message stays leased to its worker, in milliseconds. A worker that
    /// dies leaves its leases to expire, then another takes the messages. Longer than any send.
    pub lease_ms: u64,
    /// The length of one second of the retry schedules, in milliseconds: 1 000 in production;
    /// tests set 1 so a schedule of minutes runs in milliseconds.
    pub schedule_unit_ms: u64,
    /// Refuse callbacks and gateway requests to loopback, private, link-local and other
    /// non-public addresses (whether written as an IP or resolved from a name), so a callback
    /// URL a client supplied cannot reach the internal network. Off by default: demo shops and
    /// tests listen on localhost.
    pub refuse_private_addresses: bool,
    /// Retry schedules by name, replacing the built-in `default` and `ecommpay` or adding more.
    pub schedules: BTreeMap<String, Schedule>,
    pub sms: SmsConfig,
    pub email: EmailConfig,
    /// Offers' push notifications: an HTTP gateway like the SMS one, `{phone}` being the
    /// device's token.
    pub push: SmsConfig,
    /// Offers' Viber messages: an HTTP gateway like the SMS one.
    pub viber: SmsConfig,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            poll_interval_ms: 1000,
            batch: 64,
            concurrency: 16,
            request_timeout_ms: 10_000,
            lease_ms: 120_000,
            schedule_unit_ms: 1000,
            refuse_private_addresses: false,
            schedules: BTreeMap::new(),
            sms: SmsConfig::default(),
            email: EmailConfig::default(),
            push: SmsConfig::default(),
            viber: SmsConfig::default(),
        }
    }
}

impl OutboxConfig {
    /// The schedule a message names; an unknown name falls back to `default`.
    pub fn schedule(&self, name: &str) -> Schedule {
        if let Some(s) = self.schedules.get(name) {
            return s.clone();
        }
        match name {
            "ecommpay" => Schedule::ecommpay(),
            _ => self
                .schedules
                .get("default")
                .cloned()
                .unwrap_or_else(Schedule::default_schedule),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, schedule) in &self.schedules {
            schedule.validate(name).map_err(anyhow::Error::msg)?;
        }
        anyhow::ensure!(self.batch >= 1, "outbox.batch must be at least 1");
        anyhow::ensure!(
            self.concurrency >= 1,
            "outbox.concurrency must be at least 1"
        );
        anyhow::ensure!(
            self.request_timeout_ms >= 1,
            "outbox.request_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.lease_ms > 2 * self.request_timeout_ms,
            "outbox.lease_ms must be more than twice outbox.request_timeout_ms"
        );
        anyhow::ensure!(
            self.schedule_unit_ms >= 1,
            "outbox.schedule_unit_ms must be positive"
        );
        if self.sms.sender() == SmsSenderKind::Http {
            anyhow::ensure!(
                self.sms.url.starts_with("http://") || self.sms.url.starts_with("https://"),
                "outbox.sms.url must be an http(s) URL for the http sender"
            );
            reqwest::Method::from_bytes(self.sms.method.as_bytes())
                .map_err(|_| anyhow::anyhow!("outbox.sms.method is not an HTTP method"))?;
        }
        if self.email.sender() == EmailSenderKind::Smtp {
            anyhow::ensure!(
                !self.email.host.is_empty(),
                "outbox.email.host is required for the smtp sender"
            );
            self.email
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("outbox.email.from: {e}"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsSenderKind {
    /// Write the text to the log; it stays readable through `GET /v1/messages`.
    Log,
    /// An HTTP SMS gateway.
    Http,
}

/// How `{phone}` and `{text}` are escaped in the gateway request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEscape {
    /// Inside a JSON string.
    Json,
    /// As `application/x-www-form-urlencoded` values.
    Form,
    /// As they are.
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// None: not chosen, which `serve` refuses and `demo` and tests take as `log`.
    pub sender: Option<SmsSenderKind>,
    pub method: String,
    /// The gateway's URL; `{phone}` and `{text}` are replaced, URL-encoded.
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// The request body; `{phone}` (E.164 digits) and `{text}` are replaced. Empty: no body.
    pub body: String,
    pub body_escape: BodyEscape,
}

impl SmsConfig {
    pub fn sender(&self) -> SmsSenderKind {
        self.sender.unwrap_or(SmsSenderKind::Log)
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            sender: None,
            method: "POST".into(),
            url: String::new(),
            headers: BTreeMap::new(),
            body: String::new(),
            body_escape: BodyEscape::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailSenderKind {
    Log,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS (refused if the relay does not offer it); port 587 by default.
    Starttls,
    /// No TLS, for a relay on the same host or network; port 25 by default.
    Plain,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// None: not chosen, which `serve` refuses and `demo` and tests take as `log`.
    pub sender: Option<EmailSenderKind>,
    pub host: String,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From address ("kopilka <noreply@example.com>").
    pub from: String,
}

impl EmailConfig {
    pub fn sender(&self) -> EmailSenderKind {
        self.sender.unwrap_or(EmailSenderKind::Log)
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            sender: None,
            host: String::new(),
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "kopilka <noreply@localhost>".into(),
        }
    }
}
