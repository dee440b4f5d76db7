//! Email notices over SMTP (lettre, tokio transport, TLS by rustls).
//!
//! Each notice is one message with a Message-ID made from its idempotency
//! key ([`message_id`]), so a notice sent twice (its process died between
//! the send and the record, see `dispatch`) carries the same Message-ID
//! both times. SMTP itself has no idempotency: the server accepts the
//! second copy as a new message. Mail clients and many mailbox stores fold
//! messages with one Message-ID into one, but nothing guarantees it; the
//! window is the time between the server's "250 OK" and our record of it.
//!
//! The body is plain text; when `bill_mail::html` has an HTML version (the
//! personalised bill), the message is multipart/alternative with both.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, header::ContentType},
    transport::smtp::{
        PoolConfig,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{Outcome, Outgoing};
use crate::config::{Config, Secret};

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (a relay on this machine or a trusted network).
    None,
    /// Plain, then upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "none" => Some(TlsMode::None),
            "starttls" => Some(TlsMode::StartTls),
            "tls" => Some(TlsMode::Tls),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
}

impl SmtpSettings {
    /// The settings, when `smtp_host` and `smtp_from` are both set.
    pub fn from_config(config: &Config) -> Option<Self> {
        let host = config.smtp_host.clone().filter(|h| !h.trim().is_empty())?;
        let from = config.smtp_from.clone().filter(|f| !f.trim().is_empty())?;
        Some(Self {
            host,
            port: config.smtp_port,
            tls: config.smtp_tls.clone(),
            username: config.smtp_username.clone().filter(|u| !u.is_empty()),
            password: config.smtp_password.clone(),
            from,
        })
    }
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn build(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp_from {:?} is not an address: {e}", settings.from))?;
        let mode = TlsMode::parse(&settings.tls)
            .ok_or_else(|| anyhow::anyhow!("smtp_tls must be none, starttls or tls, not {:?}", settings.tls))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            .port(settings.port)
            .timeout(Some(Duration::from_secs(30)))
            .pool_config(PoolConfig::new().max_size(16));
        if mode != TlsMode::None {
            let parameters = TlsParameters::new(settings.host.clone())?;
            builder = builder.tls(match mode {
                TlsMode::StartTls => Tls::Required(parameters),
                _ => Tls::Wrapper(parameters),
            });
        }
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self { transport: builder.build(), from })
    }

    pub async fn send(&self, notice: &Outgoing) -> Outcome {
        let message = match compose(&self.from, notice) {
            Ok(m) => m,
            Err(err) => return Outcome::Permanent(err),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent { gateway_id: None },
            Err(err) if err.is_permanent() => Outcome::Permanent(format!("smtp: {err}")),
            Err(err) => Outcome::Transient(format!("smtp: {err}")),
        }
    }
}

/// The message of a notice: plain text, or plain and HTML as alternatives.
pub fn compose(from: &Mailbox, notice: &Outgoing) -> Result<Message, String> {
    let to: Mailbox = notice.to.parse().map_err(|_| format!("{:?} is not an email address", notice.to))?;
    let builder = Message::builder()
        .message_id(Some(message_id(&notice.idempotency_key)))
        .from(from.clone())
        .to(to)
        .subject(notice.subject.clone());
    let message = match &notice.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(notice.body.clone(), html.clone())),
        None => builder.header(ContentType::TEXT_PLAIN).body(notice.body.clone()),
    };
    message.map_err(|e| format!("the message cannot be built: {e}"))
}

/// The Message-ID of a notice: its idempotency key, with every character
/// that may not stand in a Message-ID (and `=` and `.`) written as `=XX`
/// per UTF-8 byte, so that different keys never share an id.
pub fn message_id(key: &str) -> String {
    let mut id = String::with_capacity(key.len() + 10);
    id.push('<');
    for byte in key.bytes() {
        let safe = byte.is_ascii_alphanumeric() || b"!#$%&'*+/?^_`{|}~-".contains(&byte);
        if safe {
            id.push(byte as char);
        } else {
            id.push_str(&format!("={byte:02X}"));
        }
    }
    id.push_str("@gridcrm>");
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_is_the_key_made_safe_and_stays_distinct() {
        assert_eq!(
            message_id("bill_issued:0191c0de:timeline:42:email"),
            "<bill_issued=3A0191c0de=3Atimeline=3A42=3Aemail@gridcrm>"
        );
        // `=` and `.` are escaped too, so an escaped key never meets a raw one.
        assert_ne!(message_id("a=3Ab"), message_id("a:b"));
        assert_eq!(message_id("a.b"), "<a=2Eb@gridcrm>");
        assert_eq!(message_id("停电"), "<=E5=81=9C=E7=94=B5@gridcrm>");
    }

    fn notice(html: Option<&str>) -> Outgoing {
        Outgoing {
            notice_id: uuid::Uuid::nil(),
            tenant: uuid::Uuid::nil(),
            channel: "email".into(),
            to: "wang@example.com".into(),
            subject: "电费账单".into(),
            body: "您的电费 120.00 元已出账。".into(),
            idempotency_key: "bill_issued:c:timeline:1:email".into(),
            lang: "zh-CN".into(),
            html: html.map(str::to_owned),
        }
    }

    #[test]
    fn a_notice_is_plain_text_or_plain_and_html() {
        let from: Mailbox = "Power <notices@example.com>".parse().unwrap();
        let plain = String::from_utf8(compose(&from, &notice(None)).unwrap().formatted()).unwrap();
        assert!(plain.contains("Message-ID: <bill_issued=3Ac=3Atimeline=3A1=3Aemail@gridcrm>"), "{plain}");
        assert!(plain.contains("Content-Type: text/plain"), "{plain}");
        let both = String::from_utf8(compose(&from, &notice(Some("<p>bill</p>"))).unwrap().formatted()).unwrap();
        assert!(both.contains("multipart/alternative") && both.contains("text/html"), "{both}");
        let mut bad = notice(None);
        bad.to = "not an address".into();
        assert!(compose(&from, &bad).unwrap_err().contains("is not an email address"));
    }

    #[test]
    fn tls_modes_are_named() {
        assert_eq!(TlsMode::parse("starttls"), Some(TlsMode::StartTls));
        assert_eq!(TlsMode::parse("tls"), Some(TlsMode::Tls));
        assert_eq!(TlsMode::parse("none"), Some(TlsMode::None));
        assert_eq!(TlsMode::parse("ssl"), None);
    }
}
