//! The channels the dispatcher sends through by itself: email over SMTP
//! ([`email`]) and SMS and WeChat through the HTTP gateway ([`gateway`]).
//! Letters and phone calls are staff's work on other pages; the dispatcher
//! never claims them.
//!
//! A send ends in one of three ways ([`Outcome`]): the other end took the
//! message; it refused it for good (a bad address, a rejected request: try
//! the customer's next channel); or it could not take it now (the network,
//! a busy server: try again later, with the same idempotency key).

pub mod email;
pub mod gateway;

use serde::Serialize;
use uuid::Uuid;

/// The channels the dispatcher sends itself.
pub const SENT_BY_DISPATCHER: [&str; 3] = ["email", "sms", "wechat"];

/// The channels whose other end cannot be given an idempotency key (SMTP):
/// a send interrupted by a crash is not repeated, because it may have been
/// taken (see `dispatch`'s "Exactly once").
pub const WITHOUT_IDEMPOTENCY: [&str; 1] = ["email"];

/// One rendered notice, ready for its channel.
#[derive(Clone, Debug, Serialize)]
pub struct Outgoing {
    pub notice_id: Uuid,
    pub tenant: Uuid,
    pub channel: String,
    /// The address: an email address, a phone number, a WeChat openid.
    pub to: String,
    pub subject: String,
    pub body: String,
    pub idempotency_key: String,
    pub lang: String,
    /// The HTML part of an email (the personalised bill), if any.
    #[serde(skip)]
    pub html: Option<String>,
}

/// What became of a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Taken; the gateway's id for the message, when it gave one.
    Sent { gateway_id: Option<String> },
    /// Refused for good: the customer's next channel is tried.
    Permanent(String),
    /// Not taken now: tried again later.
    Transient(String),
}

/// The configured channels of this process.
pub struct Channels {
    email: Option<email::Mailer>,
    gateway: Option<gateway::Gateway>,
}

/// What the channels are built from (the `smtp_*` and `gateway_*` settings).
#[derive(Clone, Debug, Default)]
pub struct ChannelSettings {
    pub smtp: Option<email::SmtpSettings>,
    pub gateway: Option<gateway::GatewaySettings>,
}

impl ChannelSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self { smtp: email::SmtpSettings::from_config(config), gateway: gateway::GatewaySettings::from_config(config) }
    }
}

impl Channels {
    /// Builds the configured channels; a channel left unconfigured fails
    /// its notices with "<channel> is not configured". A configured one
    /// that cannot be built (a bad `smtp_from`, an unknown `smtp_tls`) is
    /// an error at start-up, not at the first notice.
    pub fn build(settings: &ChannelSettings) -> anyhow::Result<Self> {
        let email = settings.smtp.as_ref().map(email::Mailer::build).transpose()?;
        let gateway = settings.gateway.as_ref().map(gateway::Gateway::build).transpose()?;
        Ok(Self { email, gateway })
    }

    pub async fn send(&self, message: &Outgoing) -> Outcome {
        match message.channel.as_str() {
            "email" => match &self.email {
                Some(mailer) => mailer.send(message).await,
                None => Outcome::Permanent("email is not configured".into()),
            },
            "sms" | "wechat" => match &self.gateway {
                Some(gateway) => gateway.send(message).await,
                None => Outcome::Permanent(format!("{} is not configured", message.channel)),
            },
            other => Outcome::Permanent(format!("{other} is not sent by the dispatcher")),
        }
    }
}
