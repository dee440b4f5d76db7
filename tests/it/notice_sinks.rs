//! Stand-ins for the other ends of notice delivery: a minimal SMTP server
//! and an HTTP gateway that keeps the documented contract (it checks the
//! signature and does not deliver a repeated Idempotency-Key twice). Both
//! listen on 127.0.0.1 and record what they receive.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// One message the SMTP sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub recipients: Vec<String>,
    pub message_id: String,
    pub subject: String,
    pub body: String,
}

#[derive(Default)]
pub struct SmtpLog {
    pub mails: Mutex<Vec<Mail>>,
}

pub struct SmtpSink {
    pub port: u16,
    pub log: Arc<SmtpLog>,
}

impl SmtpSink {
    /// Starts the sink; it takes `delay` before answering each DATA.
    pub async fn start(delay: Duration) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(SmtpLog::default());
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, shared.clone(), delay));
            }
        });
        SmtpSink { port, log }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.log.mails.lock().unwrap().clone()
    }
}

async fn session(socket: tokio::net::TcpStream, log: Arc<SmtpLog>, delay: Duration) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => write.write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n").await?,
            "HELO" => write.write_all(b"250 sink\r\n").await?,
            "MAIL" => {
                recipients.clear();
                write.write_all(b"250 OK\r\n").await?
            }
            "RCPT" => {
                let to = command.split_once(':').map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned());
                recipients.push(to.unwrap_or_default());
                write.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut raw = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    raw.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                // Taken first, answered after the delay: a client that dies
                // meanwhile leaves a message we have and it does not know of.
                log.mails.lock().unwrap().push(parse_mail(std::mem::take(&mut recipients), &raw));
                tokio::time::sleep(delay).await;
                write.write_all(b"250 OK queued\r\n").await?
            }
            "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 not implemented\r\n").await?,
        }
    }
}

/// Headers (unfolded) and the decoded text body of a plain-text mail.
fn parse_mail(recipients: Vec<String>, raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let encoding = header("content-transfer-encoding").to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(body.split_whitespace().collect::<String>()).unwrap(),
        )
        .unwrap(),
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    };
    Mail {
        recipients,
        message_id: header("message-id"),
        subject: encoded_words(&header("subject")),
        body: body.trim_end().to_owned(),
    }
}

fn quoted_printable(text: &str) -> String {
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 3 <= bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        out.push_str(rest[..start].trim_end_matches(' '));
        let word = &rest[start + 2..];
        let Some(end) = word.find("?=") else { break };
        let mut parts = word[..end].splitn(3, '?');
        let (_charset, mode, text) = (parts.next().unwrap(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let decoded = if mode.eq_ignore_ascii_case("b") {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).unwrap()).unwrap()
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&decoded);
        rest = word[end + 2..].trim_start_matches(' ');
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------- the gateway

#[derive(Default)]
pub struct GatewayLog {
    /// Delivered messages by Idempotency-Key.
    pub delivered: Mutex<HashMap<String, serde_json::Value>>,
    /// Requests with a good signature.
    pub requests: AtomicUsize,
    /// Repeats of a key already delivered (answered, not delivered again).
    pub duplicates: AtomicUsize,
    /// Requests answered (2xx) so far: `requests - answered` are on their way back.
    pub answered: AtomicUsize,
    /// Requests refused for their signature.
    pub rejected: AtomicUsize,
    /// Statuses to answer next, in order, before delivering anything.
    pub script: Mutex<VecDeque<u16>>,
}

pub struct GatewayStub {
    pub url: String,
    pub log: Arc<GatewayLog>,
}

#[derive(Clone)]
struct StubState {
    secret: String,
    log: Arc<GatewayLog>,
    delay: Duration,
}

impl GatewayStub {
    pub async fn start(secret: &str, delay: Duration) -> GatewayStub {
        let log = Arc::new(GatewayLog::default());
        let state = StubState { secret: secret.to_owned(), log: log.clone(), delay };
        let app = Router::new().route("/messages", post(receive)).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GatewayStub { url: format!("http://{addr}/messages"), log }
    }

    pub fn delivered(&self) -> HashMap<String, serde_json::Value> {
        self.log.delivered.lock().unwrap().clone()
    }

    pub fn answer_next(&self, statuses: &[u16]) {
        self.log.script.lock().unwrap().extend(statuses);
    }
}

/// The signature check a gateway does, written here independently of gridcrm's.
pub fn signature_ok(secret: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let Ok(at) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - at).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::decode(signature).is_ok_and(|s| mac.verify_slice(&s).is_ok())
}

/// Signs a body as the gateway signs its receipts.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn receive(State(state): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let log = &state.log;
    if !signature_ok(&state.secret, &header("x-gridcrm-timestamp"), &header("x-gridcrm-signature"), &body) {
        log.rejected.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    log.requests.fetch_add(1, Ordering::SeqCst);
    let scripted = log.script.lock().unwrap().pop_front();
    if let Some(status) = scripted {
        return (StatusCode::from_u16(status).unwrap(), format!("scripted {status}")).into_response();
    }
    let key = header("idempotency-key");
    let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(message["idempotency_key"], key.as_str(), "the header and the body name the same key");
    {
        let mut delivered = log.delivered.lock().unwrap();
        if delivered.contains_key(&key) {
            log.duplicates.fetch_add(1, Ordering::SeqCst);
        } else {
            delivered.insert(key.clone(), message);
        }
    }
    // Delivered first, answered after the delay (as the SMTP sink does).
    tokio::time::sleep(state.delay).await;
    log.answered.fetch_add(1, Ordering::SeqCst);
    Json(serde_json::json!({ "id": format!("gw-{key}") })).into_response()
}
