//! Where messages go: SMS to the log or an HTTP gateway, e-mail to the log or an SMTP relay,
//! callbacks always over HTTP to their URL. Every request has a timeout; redirects are not
//! followed (a callback URL that redirects is a misconfiguration, not a delivery).

use super::{
    BodyEscape, EmailConfig, EmailSenderKind, OutboxConfig, SmsConfig, SmsSenderKind, SmtpTls,
};
use kopilka_domain::message::substitute;
use kopilka_domain::phone::mask;
use kopilka_store::model::Message;
use kopilka_store::outbox::{AttemptOutcome, MessageKind};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How much of an answer is read: enough for `OK` and for an error's first words.
const ANSWER_LIMIT: usize = 4096;
/// How much of a refusal is kept as the message's last error.
const ERROR_LIMIT: usize = 300;

/// What one delivery attempt found.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub outcome: AttemptOutcome,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

impl Delivery {
    fn accepted(status_code: Option<i64>) -> Delivery {
        Delivery {
            outcome: AttemptOutcome::Accepted,
            status_code,
            error: None,
        }
    }

    fn failed(error: impl Into<String>) -> Delivery {
        Delivery {
            outcome: AttemptOutcome::Failed,
            status_code: None,
            error: Some(error.into()),
        }
    }
}

pub struct Senders {
    http: reqwest::Client,
    refuse_private: bool,
    sms: SmsConfig,
    email: EmailSender,
    push: SmsConfig,
    viber: SmsConfig,
}

enum EmailSender {
    Log,
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

impl Senders {
    pub fn new(config: &OutboxConfig) -> anyhow::Result<Senders> {
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let mut http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kopilka/", env!("CARGO_PKG_VERSION")));
        if config.refuse_private_addresses {
            http = http.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Senders {
            http: http.build()?,
            refuse_private: config.refuse_private_addresses,
            sms: config.sms.clone(),
            email: email_sender(&config.email, timeout)?,
            push: config.push.clone(),
            viber: config.viber.clone(),
        })
    }

    /// Sends `message`; `extra_headers` go with a callback (the webhook signature).
    pub async fn send(&self, message: &Message, extra_headers: &[(String, String)]) -> Delivery {
        match message.kind.as_str() {
            "callback" => self.callback(message, extra_headers).await,
            "sms" => self.gateway(&self.sms, "sms", message).await,
            "push" => self.gateway(&self.push, "push", message).await,
            "viber" => self.gateway(&self.viber, "viber", message).await,
            "email" => match &self.email {
                EmailSender::Log => log(message),
                EmailSender::Smtp { transport, from } => smtp(transport, from, message).await,
            },
            other => Delivery::failed(format!("unknown message kind {other:?}")),
        }
    }

    async fn callback(&self, message: &Message, extra_headers: &[(String, String)]) -> Delivery {
        let mut headers = message.headers.clone();
        headers.extend_from_slice(extra_headers);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        if let Err(refused) = self.check_host(&message.recipient) {
            return refused;
        }
        let mut request = self
            .http
            .post(&message.recipient)
            .body(message.body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        answer(request, &message.accept).await
    }

    /// An HTTP gateway's delivery (`[outbox.sms]`, `[outbox.push]`, `[outbox.viber]`), or the
    /// log when it is the sender chosen (or none is).
    async fn gateway(&self, gateway: &SmsConfig, name: &str, message: &Message) -> Delivery {
        if gateway.sender() == SmsSenderKind::Log {
            return log(message);
        }
        let url = substitute(
            &gateway.url,
            &[
                ("phone", &url_encode(&message.recipient)),
                ("text", &url_encode(&message.body)),
            ],
        );
        let (phone, text) = match gateway.body_escape {
            BodyEscape::Json => (json_escape(&message.recipient), json_escape(&message.body)),
            BodyEscape::Form => (url_encode(&message.recipient), url_encode(&message.body)),
            BodyEscape::None => (message.recipient.clone(), message.body.clone()),
        };
        if let Err(refused) = self.check_host(&url) {
            return refused;
        }
        let method = match reqwest::Method::from_bytes(gateway.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Delivery::failed(format!("outbox.{name}.method is not an HTTP method"))
            }
        };
        let mut request = self.http.request(method, url);
        for (name, value) in &gateway.headers {
            request = request.header(name, value);
        }
        if !gateway.body.is_empty() {
            let body = substitute(&gateway.body, &[("phone", &phone), ("text", &text)]);
            request = request.body(body);
        }
        answer(request, "2xx").await
    }
}

impl Senders {
    /// Refuses a URL whose host is a non-public IP literal (names are checked when resolved).
    fn check_host(&self, url: &str) -> Result<(), Delivery> {
        if !self.refuse_private {
            return Ok(());
        }
        let parsed =
            reqwest::Url::parse(url).map_err(|e| Delivery::failed(format!("bad URL: {e}")))?;
        let host = parsed.host_str().unwrap_or_default();
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return Ok(());
        };
        if is_public(ip) {
            Ok(())
        } else {
            Err(Delivery::failed(format!(
                "refused: {ip} is not a public address"
            )))
        }
    }
}

/// A resolver that drops non-public addresses; a name with none left fails to resolve.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("refused: {host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

fn email_sender(config: &EmailConfig, timeout: Duration) -> anyhow::Result<EmailSender> {
    if config.sender() == EmailSenderKind::Log {
        return Ok(EmailSender::Log);
    }
    let builder = match config.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            .port(config.port.unwrap_or(587)),
        SmtpTls::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port.unwrap_or(25)),
    };
    let builder = match (&config.username, &config.password) {
        (Some(user), Some(password)) => {
            builder.credentials(Credentials::new(user.clone(), password.clone()))
        }
        _ => builder,
    };
    Ok(EmailSender::Smtp {
        transport: Box::new(builder.timeout(Some(timeout)).build()),
        from: config.from.parse()?,
    })
}

/// The `log` sender (development only): the message is "delivered" to the log and stays
/// readable through the admin API (and the customer cabinet), which is how the demo and tests
/// read codes. The log shows neither the code nor the recipient: logs are kept and shipped.
fn log(message: &Message) -> Delivery {
    let recipient = match message.kind {
        MessageKind::Sms | MessageKind::Viber => mask(&message.recipient),
        // A device's token: its kind is enough.
        MessageKind::Push => "a device".to_string(),
        _ => mask_email(&message.recipient),
    };
    let text = mask_codes(&message.body);
    tracing::info!(message_id = message.id, kind = %message.kind, %recipient, "outbox (log sender): {text}");
    Delivery::accepted(None)
}

/// `a***@example.com`: the first character and the domain.
fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The text with every run of four or more digits (a one-time code, a phone, a card number)
/// replaced by asterisks.
fn mask_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4 {
            out.extend(std::iter::repeat_n('*', digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

async fn smtp(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    message: &Message,
) -> Delivery {
    let to: Mailbox = match message.recipient.parse() {
        Ok(to) => to,
        Err(e) => return Delivery::failed(format!("bad recipient address: {e}")),
    };
    let email = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone().unwrap_or_default())
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.clone());
    let email = match email {
        Ok(e) => e,
        Err(e) => return Delivery::failed(format!("cannot build the e-mail: {e}")),
    };
    match transport.send(email).await {
        Ok(response) => Delivery::accepted(response.code().to_string().parse().ok()),
        Err(e) => Delivery::failed(format!("smtp: {e}")),
    }
}

/// Sends a request and judges the answer: `2xx` accepts any 2xx status, `200` only that one;
/// `ok` also wants a body of exactly `OK` (surrounding whitespace ignored).
async fn answer(request: reqwest::RequestBuilder, accept: &str) -> Delivery {
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Delivery::failed(describe(e)),
    };
    let status = response.status();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(ANSWER_LIMIT - body.len())]);
                if body.len() >= ANSWER_LIMIT {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Delivery::failed(describe(e)),
        }
    }
    let code = Some(i64::from(status.as_u16()));
    let text = String::from_utf8_lossy(&body);
    let accepted = match accept {
        "ok" => status.is_success() && text.trim() == "OK",
        "200" => status == reqwest::StatusCode::OK,
        _ => status.is_success(),
    };
    if accepted {
        return Delivery::accepted(code);
    }
    let snippet: String = text.trim().chars().take(ERROR_LIMIT).collect();
    let error = if status.is_success() && accept == "ok" {
        format!(
            "HTTP {}: expected the body OK, got {snippet:?}",
            status.as_u16()
        )
    } else {
        format!("HTTP {}: {snippet}", status.as_u16())
    };
    Delivery {
        outcome: AttemptOutcome::Rejected,
        status_code: code,
        error: Some(error),
    }
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `text` as the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::{is_public, mask_codes, mask_email};

    #[test]
    fn the_log_sender_masks_codes_and_addresses() {
        assert_eq!(
            mask_codes("Код 4821 для оплаты 120 баллов; карта 1234567890"),
            "Код **** для оплаты 120 баллов; карта **********"
        );
        assert_eq!(mask_codes("7777"), "****");
        assert_eq!(mask_email("ivan.petrov@example.com"), "i***@example.com");
        assert_eq!(mask_email("not-an-address"), "***");
    }

    #[test]
    fn only_public_addresses_pass() {
        let private = [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ];
        for ip in private {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2a00:1450:4001::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
