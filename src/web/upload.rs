//! Upload bodies (CSV files, JSON arrays) read under limits, so that one
//! client cannot take the service down: a caller has at most a few uploads in
//! flight; a body has a size limit, may not pause too long between chunks nor
//! take too long in all; and it is read whole (into memory when small, else
//! into a spool file) before its load takes a database connection, so a slow
//! client never holds one. Loads then take turns: only a few run at once in
//! the process, so uploads never hold more than a fraction of the pool.
//! Reading back, lines longer than a limit are refused by number without
//! being held in memory.

use std::{borrow::Cow, collections::HashMap, sync::Mutex, time::Duration};

use axum::{
    body::{Body, HttpBody},
    http::StatusCode,
};
use futures_util::StreamExt;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter},
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};
use uuid::Uuid;

use crate::{
    config::Config,
    web::{auth::CurrentUser, error::AppError, i18n::I18n},
};

/// The limits of one body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: u64,
    /// The longest pause between two chunks.
    pub idle: Duration,
    /// The longest time for the whole body.
    pub total: Duration,
}

impl BodyLimits {
    pub fn new(config: &Config, max_bytes: u64) -> Self {
        Self {
            max_bytes,
            idle: Duration::from_secs(config.upload_idle_seconds),
            total: Duration::from_secs(config.upload_total_seconds),
        }
    }
}

fn over_limit(status: StatusCode, i: &I18n, key: &str, values: &[(&str, &str)]) -> AppError {
    AppError::OverLimit(status, i.t_with(key, values))
}

/// Uploads in flight per caller, and the turns to load.
pub struct Uploads {
    per_caller: usize,
    in_flight: Mutex<HashMap<Uuid, usize>>,
    loads: Semaphore,
    max_loads: usize,
}

/// One upload of a caller, counted until it is dropped.
pub struct UploadSlot<'a> {
    uploads: &'a Uploads,
    caller: Uuid,
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.uploads.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.caller);
            }
        }
    }
}

impl Uploads {
    /// `max_loads` at once, and never more than a quarter of the pool's
    /// connections (a load uses two), so loads hold at most half of it.
    pub fn new(per_caller: usize, max_loads: usize, max_connections: u32) -> Self {
        let max_loads = max_loads.clamp(1, (max_connections as usize / 4).max(1));
        Self { per_caller, in_flight: Mutex::default(), loads: Semaphore::new(max_loads), max_loads }
    }

    pub fn from_config(config: &Config) -> Self {
        Self::new(config.uploads_per_caller, config.upload_max_loads, config.max_connections)
    }

    /// Loads that may run at once.
    pub fn max_loads(&self) -> usize {
        self.max_loads
    }

    /// Counts an upload of the caller (an API key, else a user) in; 429 when
    /// the caller already has as many in flight as allowed.
    pub fn begin(&self, user: &CurrentUser) -> Result<UploadSlot<'_>, AppError> {
        let caller = user.api_key_id.or(user.user_id).or(user.session_id).unwrap_or(user.tenant_id);
        self.begin_for(caller).ok_or_else(|| {
            let limit = self.per_caller.to_string();
            over_limit(StatusCode::TOO_MANY_REQUESTS, &I18n(user.locale), "upload.busy", &[("limit", &limit)])
        })
    }

    fn begin_for(&self, caller: Uuid) -> Option<UploadSlot<'_>> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(caller).or_default();
        if *n >= self.per_caller {
            return None;
        }
        *n += 1;
        Some(UploadSlot { uploads: self, caller })
    }

    /// Waits for a turn to load; the turn ends when the permit is dropped.
    pub async fn load_turn(&self) -> SemaphorePermit<'_> {
        self.loads.acquire().await.expect("the load semaphore is never closed")
    }
}

/// Reads a small body into memory, under the limits.
pub async fn read_to_memory(body: Body, limits: &BodyLimits, i: &I18n) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    copy_body(body, limits, i, &mut bytes).await?;
    Ok(bytes)
}

/// Reads a body into a spool file, under the limits, and hands it back to
/// be read from the start. The file has no name: it is gone when dropped.
pub async fn spool(body: Body, limits: &BodyLimits, i: &I18n) -> Result<BufReader<tokio::fs::File>, AppError> {
    let mut file = spool_file().await.map_err(|e| AppError::Internal(anyhow::Error::new(e).context("spool file")))?;
    let mut writer = BufWriter::with_capacity(1 << 20, &mut file);
    copy_body(body, limits, i, &mut writer).await?;
    writer.flush().await.map_err(|e| AppError::Internal(e.into()))?;
    file.rewind().await.map_err(|e| AppError::Internal(e.into()))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// A file in the temporary directory, readable by this process only and
/// unlinked at once, so nothing is left behind whatever happens.
async fn spool_file() -> std::io::Result<tokio::fs::File> {
    let path = std::env::temp_dir().join(format!("gridcrm-upload-{}", Uuid::now_v7()));
    let file = tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path).await?;
    tokio::fs::remove_file(&path).await?;
    Ok(file)
}

/// Copies a body to `out` as it arrives: 413 past `max_bytes` (at once when
/// the declared length says so), 408 after a pause longer than `idle` or when
/// the whole takes longer than `total`.
async fn copy_body<W: AsyncWrite + Unpin>(
    body: Body,
    limits: &BodyLimits,
    i: &I18n,
    out: &mut W,
) -> Result<(), AppError> {
    let max = limits.max_bytes.to_string();
    let too_large = || over_limit(StatusCode::PAYLOAD_TOO_LARGE, i, "upload.too_large", &[("limit", &max)]);
    if body.size_hint().lower() > limits.max_bytes {
        return Err(too_large());
    }
    let deadline = Instant::now() + limits.total;
    let mut stream = body.into_data_stream();
    let mut len = 0u64;
    loop {
        let wait_until = deadline.min(Instant::now() + limits.idle);
        let chunk = match tokio::time::timeout_at(wait_until, stream.next()).await {
            Ok(Some(chunk)) => chunk.map_err(|e| AppError::BadRequest(e.to_string()))?,
            Ok(None) => return Ok(()),
            Err(_) if wait_until == deadline => {
                let seconds = limits.total.as_secs().to_string();
                return Err(over_limit(StatusCode::REQUEST_TIMEOUT, i, "upload.too_slow", &[("seconds", &seconds)]));
            }
            Err(_) => {
                let seconds = limits.idle.as_secs().to_string();
                return Err(over_limit(StatusCode::REQUEST_TIMEOUT, i, "upload.idle", &[("seconds", &seconds)]));
            }
        };
        len += chunk.len() as u64;
        if len > limits.max_bytes {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(|e| AppError::Internal(e.into()))?;
    }
}

/// One line read back by [`CappedLines`].
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// The line without its end (`\n` or `\r\n`); invalid UTF-8 replaced.
    Text(Cow<'a, str>),
    /// Longer than the limit: skipped, never held whole.
    TooLong,
}

/// Lines of a buffered reader, each at most `max` bytes (not counting the
/// line end).
pub struct CappedLines<R> {
    reader: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> CappedLines<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self { reader, max, line: Vec::with_capacity(max + 2) }
    }

    pub async fn next(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                break;
            }
            any = true;
            let (take, end) = match buf.iter().position(|b| *b == b'\n') {
                Some(n) => (n, true),
                None => (buf.len(), false),
            };
            // Room for a `\r` before the `\n`, taken off below.
            if !too_long && self.line.len() + take > self.max + 1 {
                too_long = true;
                self.line.clear();
            }
            if !too_long {
                self.line.extend_from_slice(&buf[..take]);
            }
            self.reader.consume(take + usize::from(end));
            if end {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if too_long || self.line.len() > self.max {
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Text(String::from_utf8_lossy(&self.line))))
    }
}

/// The numbers (from 1) of the lines of `bytes` longer than `max` bytes, not
/// counting the line end.
pub fn long_lines(bytes: &[u8], max: usize) -> impl Iterator<Item = u64> + '_ {
    bytes.split(|b| *b == b'\n').enumerate().filter_map(move |(n, line)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (line.len() > max).then_some(n as u64 + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line<'static>> {
        let mut lines = CappedLines::new(BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            out.push(match line {
                Line::Text(text) => Line::Text(Cow::Owned(text.into_owned())),
                Line::TooLong => Line::TooLong,
            });
        }
        out
    }

    fn text(s: &str) -> Line<'static> {
        Line::Text(Cow::Owned(s.to_owned()))
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_and_the_next_ones_read() {
        // A buffer of 4 bytes: lines span several reads.
        let got = lines(b"abc\r\nabcdefghij\nabcdef\r\n\nxy", 6).await;
        assert_eq!(got, [text("abc"), Line::TooLong, text("abcdef"), text(""), text("xy")]);
        assert_eq!(lines(b"abcdefg", 6).await, [Line::TooLong]);
        assert_eq!(lines(b"abcdef\r", 6).await, [text("abcdef")]);
        assert!(lines(b"", 6).await.is_empty());
    }

    #[test]
    fn long_lines_are_numbered_from_one() {
        assert_eq!(long_lines(b"ab\nabcdefg\r\nabcdef\r\nabcdefgh", 6).collect::<Vec<_>>(), [2, 4]);
    }

    #[test]
    fn a_caller_has_a_few_uploads_at_once_and_gets_them_back() {
        let uploads = Uploads::new(2, 4, 32);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = uploads.begin_for(a).unwrap();
        let _second = uploads.begin_for(a).unwrap();
        assert!(uploads.begin_for(a).is_none(), "a third upload of the same caller");
        assert!(uploads.begin_for(b).is_some(), "another caller is not held up");
        drop(first);
        assert!(uploads.begin_for(a).is_some(), "a finished upload frees its place");
    }

    #[test]
    fn loads_never_take_more_than_half_the_pool() {
        assert_eq!(Uploads::new(2, 4, 32).max_loads(), 4);
        assert_eq!(Uploads::new(2, 4, 8).max_loads(), 2);
        assert_eq!(Uploads::new(2, 4, 2).max_loads(), 1);
    }

    /// A body that sends a chunk every `every`, `chunks` times, then waits forever.
    fn trickle(every: Duration, chunks: usize) -> Body {
        Body::from_stream(futures_util::stream::unfold(0, move |sent| async move {
            tokio::time::sleep(every).await;
            if sent == chunks {
                std::future::pending::<()>().await;
            }
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")), sent + 1))
        }))
    }

    #[tokio::test]
    async fn bodies_that_pause_or_take_too_long_are_refused_naming_the_limit() {
        let limits = BodyLimits { max_bytes: 1000, idle: Duration::from_secs(1), total: Duration::from_secs(2) };
        let i = I18n(crate::web::i18n::Locale::En);
        let started = Instant::now();
        let err = read_to_memory(trickle(Duration::from_millis(100), 3), &limits, &i).await.unwrap_err();
        assert!(matches!(err, AppError::OverLimit(StatusCode::REQUEST_TIMEOUT, ref m) if m.contains("1 s")), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(1900), "refused after the pause, not the total");
        let err = read_to_memory(trickle(Duration::from_millis(100), 1000), &limits, &i).await.unwrap_err();
        assert!(matches!(err, AppError::OverLimit(StatusCode::REQUEST_TIMEOUT, ref m) if m.contains("2 s")), "{err:?}");
    }

    #[tokio::test]
    async fn bodies_over_the_size_limit_are_refused() {
        let limits = BodyLimits { max_bytes: 4, idle: Duration::from_secs(5), total: Duration::from_secs(5) };
        let i = I18n::default();
        assert_eq!(read_to_memory(Body::from("abcd"), &limits, &i).await.unwrap(), b"abcd");
        let err = read_to_memory(Body::from("abcde"), &limits, &i).await.unwrap_err();
        assert!(matches!(err, AppError::OverLimit(StatusCode::PAYLOAD_TOO_LARGE, ref m) if m.contains('4')), "{err:?}");
    }
}
