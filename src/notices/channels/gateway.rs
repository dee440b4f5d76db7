//! SMS and WeChat notices through a generic JSON gateway over HTTP.
//!
//! # The contract a gateway implements
//!
//! For every notice, gridcrm sends
//!
//! ```text
//! POST <gateway_url>
//! Content-Type: application/json
//! Idempotency-Key: <the notice's idempotency key>
//! X-Gridcrm-Timestamp: <unix time, seconds>
//! X-Gridcrm-Signature: <lower-case hex of HMAC-SHA256(gateway_secret, timestamp + "." + body)>
//!
//! {"notice_id": "<uuid>", "tenant": "<uuid>", "channel": "sms" | "wechat",
//!  "to": "<phone number or openid>", "subject": "...", "body": "...",
//!  "idempotency_key": "...", "lang": "zh-CN" | "en"}
//! ```
//!
//! - The signature is computed over the exact bytes of the body, after the
//!   timestamp (decimal digits) and a full stop. The gateway recomputes it
//!   with the shared secret, compares in constant time, and refuses a
//!   request whose timestamp is more than five minutes from its clock
//!   ([`MAX_SKEW_SECONDS`]), which bounds replays.
//! - The same `Idempotency-Key` may arrive more than once: gridcrm sends a
//!   notice again, with the same key, when the process that sent it died
//!   before recording the answer. The gateway answers a repeat as it
//!   answered the first request and does NOT deliver the message again.
//! - Answers: 2xx = taken (a JSON body may carry `{"id": "..."}`, kept as
//!   the notice's gateway id); 408, 429 and 5xx = try again later (with
//!   backoff); any other 4xx = refused for good (the customer's next
//!   channel is tried). A network error or timeout counts as "try again".
//!
//! Delivery receipts come back the other way, signed the same way over
//! their own body: `POST /api/v1/notices/{id}/receipts` (`receipts.rs`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Outcome, Outgoing};
use crate::config::{Config, Secret};

type HmacSha256 = Hmac<Sha256>;

/// How far a signed request's timestamp may be from the receiver's clock.
pub const MAX_SKEW_SECONDS: i64 = 300;

pub const TIMESTAMP_HEADER: &str = "x-gridcrm-timestamp";
pub const SIGNATURE_HEADER: &str = "x-gridcrm-signature";

/// The signature of `body` sent at `timestamp`: lower-case hex of
/// HMAC-SHA256(secret, timestamp + "." + body).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, &timestamp.to_string(), body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a signed request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the timestamp or signature header is missing or malformed")]
    Malformed,
    #[error("the timestamp is more than five minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a signed request as a receiver does: the timestamp within
/// [`MAX_SKEW_SECONDS`] of `now` (unix seconds), then the signature, compared
/// in constant time.
pub fn verify(secret: &[u8], timestamp: &str, signature: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    let presented = hex::decode(signature.trim()).map_err(|_| SignatureError::Malformed)?;
    if (now - at).abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp, body).verify_slice(&presented).map_err(|_| SignatureError::Mismatch)
}

/// What a gateway's HTTP status means for the notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Sent,
    Transient,
    Permanent,
}

pub fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Sent,
        408 | 429 => Class::Transient,
        400..=499 => Class::Permanent,
        // 5xx, and anything a gateway should not answer (1xx, 3xx: we do not follow redirects).
        _ => Class::Transient,
    }
}

#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub url: String,
    pub secret: Secret,
}

impl GatewaySettings {
    /// The settings, when `gateway_url` and `gateway_secret` are both set.
    pub fn from_config(config: &Config) -> Option<Self> {
        let url = config.gateway_url.clone().filter(|u| !u.trim().is_empty())?;
        let secret = config.gateway_secret.clone().filter(|s| !s.expose().is_empty())?;
        Some(Self { url, secret })
    }
}

pub struct Gateway {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Secret,
}

impl Gateway {
    pub fn build(settings: &GatewaySettings) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(&settings.url)
            .map_err(|e| anyhow::anyhow!("gateway_url {:?} is not a URL: {e}", settings.url))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self { client, url, secret: settings.secret.clone() })
    }

    pub async fn send(&self, notice: &Outgoing) -> Outcome {
        let body = match serde_json::to_vec(notice) {
            Ok(b) => b,
            Err(e) => return Outcome::Permanent(format!("the request cannot be built: {e}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(self.secret.expose().as_bytes(), timestamp, &body);
        let sent = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &notice.idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(err) => return Outcome::Transient(format!("gateway: {}", without_url(err))),
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        match classify(status) {
            Class::Sent => Outcome::Sent { gateway_id: gateway_id(&text) },
            Class::Transient => Outcome::Transient(format!("gateway answered {status}: {}", excerpt(&text))),
            Class::Permanent => Outcome::Permanent(format!("gateway answered {status}: {}", excerpt(&text))),
        }
    }
}

/// The error without the URL (which may carry a token in its query).
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}

/// The gateway's id for the message, from a JSON reply `{"id": ...}`.
pub fn gateway_id(reply: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(reply).ok()?;
    match value.get("id")? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.chars().take(200).collect()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The start of a reply, for the notice's last error.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() { "(no body)".into() } else { text.chars().take(200).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"shared gateway secret";
    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_signature_verifies_and_a_tampered_body_or_secret_does_not() {
        let body = br#"{"notice_id":"x","body":"hello"}"#;
        let signature = sign(SECRET, NOW, body);
        assert_eq!(signature.len(), 64);
        assert_eq!(verify(SECRET, &NOW.to_string(), &signature, body, NOW + 10), Ok(()));
        let tampered = br#"{"notice_id":"x","body":"hellO"}"#;
        assert_eq!(verify(SECRET, &NOW.to_string(), &signature, tampered, NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"another secret", &NOW.to_string(), &signature, body, NOW), Err(SignatureError::Mismatch));
        // The timestamp is signed too: moving it breaks the signature.
        assert_eq!(verify(SECRET, &(NOW + 1).to_string(), &signature, body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_stale_or_malformed_request_is_refused() {
        let body = b"{}";
        let old = NOW - MAX_SKEW_SECONDS - 1;
        let signature = sign(SECRET, old, body);
        assert_eq!(verify(SECRET, &old.to_string(), &signature, body, NOW), Err(SignatureError::Stale));
        let future = NOW + MAX_SKEW_SECONDS + 1;
        let signature = sign(SECRET, future, body);
        assert_eq!(verify(SECRET, &future.to_string(), &signature, body, NOW), Err(SignatureError::Stale));
        let edge = NOW - MAX_SKEW_SECONDS;
        assert_eq!(verify(SECRET, &edge.to_string(), &sign(SECRET, edge, body), body, NOW), Ok(()));
        assert_eq!(verify(SECRET, "", "00", body, NOW), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, "+1780000000", "00", body, NOW), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, &NOW.to_string(), "not hex", body, NOW), Err(SignatureError::Malformed));
    }

    #[test]
    fn a_known_vector() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", 1_700_000_000, b"{}"),
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn answers_are_sent_transient_or_permanent() {
        for s in [200, 201, 202, 204] {
            assert_eq!(classify(s), Class::Sent, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Class::Transient, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 410, 413, 422] {
            assert_eq!(classify(s), Class::Permanent, "{s}");
        }
        assert_eq!(classify(302), Class::Transient);
    }

    #[test]
    fn the_gateway_id_is_read_from_the_reply() {
        assert_eq!(gateway_id(r#"{"id":"m-42"}"#), Some("m-42".into()));
        assert_eq!(gateway_id(r#"{"id":42}"#), Some("42".into()));
        assert_eq!(gateway_id(r#"{"status":"ok"}"#), None);
        assert_eq!(gateway_id("ok"), None);
    }
}
