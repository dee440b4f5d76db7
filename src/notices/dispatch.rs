//! The dispatcher: sends due notices through their channels, retries with
//! backoff, records each outcome, and hands a failed notice to the
//! customer's next channel.
//!
//! `serve` starts it beside the job workers ([`Dispatcher::start`]) with
//! `notice_dispatchers` tasks. Each task, round after round, goes through
//! the tenants; in each it claims up to `notice_batch` due notices in one
//! short transaction (`FOR UPDATE SKIP LOCKED`: queued, or `sending` with
//! an expired lease; email, SMS and WeChat only — letters and phone calls
//! are staff's), then, outside any transaction:
//!
//! 1. a notice that is not urgent and falls in quiet hours (the tenant's,
//!    and the customer's own when set) is put back, unsent, until they end;
//! 2. the rest are rendered (the tenant's template or the built-in one) and
//!    sent, a few at a time, each channel under its rate limit;
//! 3. every few sends, the outcomes are recorded in a new short
//!    transaction: sent; or queued again after a backoff (a passing
//!    failure); or failed and handed to the next channel (a permanent
//!    failure, a missing address, a template field without a value, or the
//!    attempts used up).
//!
//! # Exactly once, and where it stops
//!
//! On our side a notice is sent by one dispatcher at a time: the claim
//! commits `sending` with a lease and an owner, other dispatchers skip it
//! until the lease ends, and every record checks that we still own it. A
//! task does not start a send when less than a third of the lease is left
//! (the notice is given back instead), so a live dispatcher's notice is
//! never taken over while it sends.
//!
//! A process can still die after the other end took a message and before
//! the record commits. Its notices stay `sending` until the lease ends and
//! are then claimed again and sent again **with the same idempotency key**.
//! What that means per channel:
//!
//! - The gateway (SMS, WeChat) receives the key as `Idempotency-Key`; its
//!   contract is to answer a repeat without delivering it again, so the
//!   customer gets one message.
//! - SMTP has no idempotency, so email is never sent again after such a
//!   crash. Just before a chunk's emails are handed over, they are marked
//!   (`send_started_at`, in its own short transaction). An email found
//!   `sending` with its lease over and the mark set may have been taken: it
//!   is failed as interrupted, without falling back to another channel, and
//!   shows on the monitor, where staff send it again if the customer did not
//!   get it. An email claimed but not yet marked when the process died is
//!   sent by the next claim as usual. (Each mail also carries a Message-ID
//!   made from the key.) At most one chunk (16 emails) per crash needs
//!   that look.
//!
//! Metrics: `gridcrm_notices_sent_total`, `gridcrm_notices_failed_total`
//! and `gridcrm_notices_retried_total` by channel, and the gauge
//! `gridcrm_notices_queued` by channel (queued and sending, every tenant),
//! refreshed every 30 seconds.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use chrono_tz::Tz;
use futures_util::{StreamExt, stream};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::PgPool;
use tokio::{sync::watch, task::JoinHandle};
use uuid::Uuid;

use super::{
    Kind, QuietHours,
    channels::{ChannelSettings, Channels, Outcome, Outgoing, SENT_BY_DISPATCHER, WITHOUT_IDEMPOTENCY},
    delivery::{self, Claimed, Templates},
    quiet_hours, template,
};

/// Sends one task has on their way at once (and records together).
pub const IN_FLIGHT: usize = 16;

/// How often the queue gauge is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(30);

/// Retries are never further apart than this.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct Settings {
    /// Tasks in this process (0: none).
    pub tasks: usize,
    /// Notices claimed at a time, per tenant.
    pub batch: i64,
    pub poll: Duration,
    pub lease: Duration,
    pub max_attempts: i32,
    /// The first retry's wait; it doubles with each attempt.
    pub retry: Duration,
    /// Sends per second per channel (0: unlimited).
    pub rates: Vec<(&'static str, u32)>,
    pub channels: ChannelSettings,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            tasks: config.notice_dispatchers,
            batch: config.notice_batch.clamp(1, 10_000),
            poll: Duration::from_millis(config.notice_poll_millis.max(10)),
            lease: Duration::from_secs(config.notice_lease_seconds.max(1)),
            max_attempts: config.notice_max_attempts.max(1),
            retry: Duration::from_secs(config.notice_retry_seconds),
            rates: vec![
                ("email", config.notice_rate_email),
                ("sms", config.notice_rate_sms),
                ("wechat", config.notice_rate_wechat),
            ],
            channels: ChannelSettings::from_config(config),
        }
    }
}

/// The wait before the next try of a notice that has been tried `attempts`
/// times: `base`, doubling each time, at most an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// What to do with a failed send, given the attempts made so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    FailAndFallBack,
}

pub fn after_failure(transient: bool, attempts: i32, max_attempts: i32, base: Duration) -> AfterFailure {
    if transient && attempts < max_attempts {
        AfterFailure::RetryIn(backoff(base, attempts))
    } else {
        AfterFailure::FailAndFallBack
    }
}

struct Shared {
    pool: PgPool,
    settings: Settings,
    channels: Channels,
    limiters: HashMap<&'static str, DefaultDirectRateLimiter>,
    owner: String,
}

/// The dispatcher tasks of one process.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    lease: Duration,
}

impl Dispatcher {
    /// Starts `settings.tasks` dispatcher tasks and the queue gauge (none of
    /// either with 0 tasks). A channel configured wrongly (a `smtp_from`
    /// that is no address, an unknown `smtp_tls`, a `gateway_url` that is no
    /// URL) is an error here.
    pub fn start(pool: PgPool, settings: Settings) -> anyhow::Result<Dispatcher> {
        let (stop, _) = watch::channel(false);
        let lease = settings.lease;
        if settings.tasks == 0 {
            return Ok(Dispatcher { stop, tasks: Vec::new(), lease });
        }
        let channels = Channels::build(&settings.channels)?;
        let limiters = settings
            .rates
            .iter()
            .filter_map(|(channel, rate)| {
                Some((*channel, RateLimiter::direct(Quota::per_second(NonZeroU32::new(*rate)?))))
            })
            .collect();
        let owner = crate::jobs::owner_id("notices");
        tracing::info!(owner, tasks = settings.tasks, "notice dispatcher started");
        let shared = Arc::new(Shared { pool, settings, channels, limiters, owner });
        let mut tasks: Vec<JoinHandle<()>> =
            (0..shared.settings.tasks).map(|_| tokio::spawn(run(shared.clone(), stop.subscribe()))).collect();
        tasks.push(tokio::spawn(gauge(shared, stop.subscribe())));
        Ok(Dispatcher { stop, tasks, lease })
    }

    /// Stops claiming; tasks finish the notices they hold.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops and waits for the tasks to record what they hold, at most a
    /// lease long (after that, their notices are taken over when the lease
    /// ends).
    pub async fn finish(mut self) {
        self.stop();
        let deadline = tokio::time::Instant::now() + self.lease;
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// Ends the tasks at once, wherever they are, as a dying process would
    /// (for drills and tests): notices they held stay `sending` until
    /// their lease ends.
    pub fn abort(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let busy = match round(&shared, &stop).await {
            Ok(busy) => busy,
            Err(err) => {
                tracing::warn!(error = %err, "notice dispatch round failed");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.settings.poll) => {}
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

/// One pass over the tenants. True when some tenant had a full batch (more
/// may be waiting).
async fn round(shared: &Shared, stop: &watch::Receiver<bool>) -> anyhow::Result<bool> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(&shared.pool).await?;
    let mut busy = false;
    for tenant in tenants {
        if *stop.borrow() {
            break;
        }
        let claimed = dispatch_tenant(shared, tenant).await?;
        busy |= claimed as i64 >= shared.settings.batch;
    }
    Ok(busy)
}

/// A notice ready to send, or what stops it.
enum Prepared {
    Send(Box<Outgoing>),
    /// Quiet hours: back to the queue until then.
    Hold(chrono::DateTime<Utc>),
    /// A permanent failure before sending (no address, a template field
    /// without a value).
    Fail(String),
}

/// Claims, sends and records one batch of a tenant. Returns how many were claimed.
async fn dispatch_tenant(shared: &Shared, tenant: Uuid) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin_tenant(&shared.pool, tenant, None).await?;
    for channel in delivery::fail_interrupted(&mut tx).await? {
        metrics::counter!("gridcrm_notices_failed_total", "channel" => channel).increment(1);
    }
    let lease = shared.settings.lease;
    let claimed = delivery::claim(&mut tx, tenant, &shared.owner, shared.settings.batch, lease.as_secs_f64()).await?;
    if claimed.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let (zone, tenant_quiet) = delivery::tenant_quiet_hours(&mut tx).await?;
    let templates = delivery::templates(&mut tx).await?;
    tx.commit().await?;
    // Sends start only while a third of the lease is left.
    let send_until = Instant::now() + lease - lease / 3;
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let count = claimed.len();
    let mut held = (Vec::new(), Vec::new());
    let mut work = Vec::new();
    for notice in claimed {
        match prepare(&notice, tenant, tz, tenant_quiet, &templates, now) {
            Prepared::Hold(until) => {
                held.0.push(notice.id);
                held.1.push(until);
            }
            prepared => work.push((notice, prepared)),
        }
    }
    if !held.0.is_empty() {
        let mut tx = crate::db::begin_tenant(&shared.pool, tenant, None).await?;
        delivery::put_back(&mut tx, &shared.owner, &held.0, &held.1).await?;
        tx.commit().await?;
    }
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let chunk: Vec<_> = work.by_ref().take(IN_FLIGHT).collect();
        mark_send_started(shared, tenant, &chunk).await?;
        let outcomes: Vec<(Claimed, Result<Outcome, ()>)> = stream::iter(chunk)
            .map(|(notice, prepared)| async move {
                let outcome = match prepared {
                    Prepared::Send(message) => {
                        if Instant::now() >= send_until {
                            Err(())
                        } else {
                            if let Some(limiter) = shared.limiters.get(notice.channel.as_str()) {
                                limiter.until_ready().await;
                            }
                            Ok(shared.channels.send(&message).await)
                        }
                    }
                    Prepared::Fail(error) => Ok(Outcome::Permanent(error)),
                    Prepared::Hold(_) => unreachable!("held notices were put back"),
                };
                (notice, outcome)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        record(shared, tenant, outcomes).await?;
    }
    Ok(count)
}

/// Marks, in its own short transaction, the notices of a chunk about to be
/// handed to a channel without an idempotency key (email).
async fn mark_send_started(shared: &Shared, tenant: Uuid, chunk: &[(Claimed, Prepared)]) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = chunk
        .iter()
        .filter(|(n, p)| matches!(p, Prepared::Send(_)) && WITHOUT_IDEMPOTENCY.contains(&n.channel.as_str()))
        .map(|(n, _)| n.id)
        .collect();
    if !ids.is_empty() {
        let mut tx = crate::db::begin_tenant(&shared.pool, tenant, None).await?;
        delivery::mark_send_started(&mut tx, &shared.owner, &ids).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Decides, without sending, what a claimed notice needs: quiet hours, an
/// address, a rendered text.
fn prepare(
    notice: &Claimed,
    tenant: Uuid,
    tz: Tz,
    tenant_quiet: QuietHours,
    templates: &Templates,
    now: chrono::DateTime<Utc>,
) -> Prepared {
    if !notice.urgent {
        let mut windows = vec![tenant_quiet];
        windows.extend(notice.customer_quiet);
        let at = quiet_hours(now, tz, &windows);
        if at > now {
            return Prepared::Hold(at);
        }
    }
    let Some(address) = notice.address.clone() else {
        return Prepared::Fail(format!("no address for {}", notice.channel));
    };
    let Some(kind) = Kind::parse(&notice.kind) else {
        return Prepared::Fail(format!("unknown kind {}", notice.kind));
    };
    let own = templates.get(&(notice.kind.clone(), notice.channel.clone(), notice.lang.clone()));
    let (subject, body) = match own {
        Some((s, b)) => (s.as_str(), b.as_str()),
        None => template::builtin(kind, &notice.lang),
    };
    let rendered = match template::render(subject, body, &notice.data) {
        Ok(r) => r,
        Err(err) => return Prepared::Fail(format!("template: {err}")),
    };
    let html = if notice.channel == "email" { super::bill_mail::html(kind, &notice.data, &notice.lang) } else { None };
    Prepared::Send(Box::new(Outgoing {
        notice_id: notice.id,
        tenant,
        channel: notice.channel.clone(),
        to: address,
        subject: rendered.subject,
        body: rendered.body,
        idempotency_key: notice.idempotency_key.clone(),
        lang: notice.lang.clone(),
        html,
    }))
}

/// Records a chunk's outcomes in one transaction. `Err(())`: not sent, the
/// lease was running out; the notice goes back to the queue as it was.
async fn record(shared: &Shared, tenant: Uuid, outcomes: Vec<(Claimed, Result<Outcome, ()>)>) -> anyhow::Result<()> {
    let owner = shared.owner.as_str();
    let mut tx = crate::db::begin_tenant(&shared.pool, tenant, None).await?;
    // A record of gateway sends lost to a database crash only means they are
    // made again, with their keys, which the gateway answers without
    // delivering twice: such a record need not wait for the disk. Email's
    // does (see "Exactly once").
    if outcomes.iter().all(|(n, _)| !WITHOUT_IDEMPOTENCY.contains(&n.channel.as_str())) {
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    }
    let (mut sent_ids, mut sent_to, mut sent_gateway) = (Vec::new(), Vec::new(), Vec::new());
    let mut given_back = Vec::new();
    for (notice, outcome) in outcomes {
        let address = notice.address.clone().unwrap_or_default();
        let channel = notice.channel.clone();
        let (transient, error) = match outcome {
            Err(()) => {
                given_back.push(notice.id);
                continue;
            }
            Ok(Outcome::Sent { gateway_id }) => {
                sent_ids.push(notice.id);
                sent_to.push(address);
                sent_gateway.push(gateway_id);
                metrics::counter!("gridcrm_notices_sent_total", "channel" => channel).increment(1);
                continue;
            }
            Ok(Outcome::Transient(error)) => (true, error),
            Ok(Outcome::Permanent(error)) => (false, error),
        };
        match after_failure(transient, notice.attempts, shared.settings.max_attempts, shared.settings.retry) {
            AfterFailure::RetryIn(wait) => {
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                delivery::record_retry(&mut tx, owner, notice.id, at, &error).await?;
                metrics::counter!("gridcrm_notices_retried_total", "channel" => channel).increment(1);
            }
            AfterFailure::FailAndFallBack => {
                let error =
                    if transient { format!("{error} (gave up after {} attempts)", notice.attempts) } else { error };
                let next = delivery::record_failure(&mut tx, owner, notice.id, &address, &error).await?;
                tracing::info!(notice = %notice.id, channel = %channel, error = %error, next = ?next.flatten(), "notice failed");
                metrics::counter!("gridcrm_notices_failed_total", "channel" => channel).increment(1);
            }
        }
    }
    if !sent_ids.is_empty() {
        delivery::record_sent(&mut tx, owner, &sent_ids, &sent_to, &sent_gateway).await?;
    }
    if !given_back.is_empty() {
        let now = vec![Utc::now(); given_back.len()];
        delivery::put_back(&mut tx, owner, &given_back, &now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Refreshes `gridcrm_notices_queued{channel}` every [`GAUGE_EVERY`].
async fn gauge(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match queued(&shared.pool).await {
            Ok(counts) => {
                for channel in super::CHANNELS {
                    let n = counts.get(channel).copied().unwrap_or(0);
                    metrics::gauge!("gridcrm_notices_queued", "channel" => channel).set(n as f64);
                }
            }
            Err(err) => tracing::warn!(error = %err, "counting queued notices failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(GAUGE_EVERY) => {}
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

async fn queued(pool: &PgPool) -> anyhow::Result<HashMap<String, i64>> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut total: HashMap<String, i64> = HashMap::new();
    for tenant in tenants {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        for (channel, n) in delivery::queued_by_channel(&mut tx).await? {
            *total.entry(channel).or_default() += n;
        }
        tx.commit().await?;
    }
    Ok(total)
}

/// The channels the dispatcher claims (for documentation and tests).
pub fn claims(channel: &str) -> bool {
    SENT_BY_DISPATCHER.contains(&channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let base = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=9).map(|a| backoff(base, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, i32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 4), Duration::ZERO);
    }

    #[test]
    fn a_passing_failure_is_retried_until_the_attempts_are_used_up() {
        let base = Duration::from_secs(10);
        assert_eq!(after_failure(true, 1, 3, base), AfterFailure::RetryIn(Duration::from_secs(10)));
        assert_eq!(after_failure(true, 2, 3, base), AfterFailure::RetryIn(Duration::from_secs(20)));
        assert_eq!(after_failure(true, 3, 3, base), AfterFailure::FailAndFallBack);
        assert_eq!(after_failure(false, 1, 3, base), AfterFailure::FailAndFallBack);
    }

    #[test]
    fn letters_and_phone_calls_are_never_claimed() {
        assert!(claims("email") && claims("sms") && claims("wechat"));
        assert!(!claims("letter") && !claims("phone"));
    }

    fn claimed(kind: &str, urgent: bool, address: Option<&str>, data: serde_json::Value) -> Claimed {
        Claimed {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            kind: kind.into(),
            channel: "sms".into(),
            idempotency_key: "k".into(),
            lang: "en".into(),
            data,
            urgent,
            attempts: 1,
            address: address.map(str::to_owned),
            customer_quiet: None,
        }
    }

    #[test]
    fn preparing_holds_quiet_hours_and_names_what_is_missing() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let night = QuietHours {
            from: chrono::NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            to: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        };
        let late: chrono::DateTime<Utc> = "2026-03-01T15:00:00Z".parse().unwrap(); // 23:00 local
        let noon: chrono::DateTime<Utc> = "2026-03-02T04:00:00Z".parse().unwrap();
        let data = template::sample_data(Kind::PowerRestored);
        let t = Templates::new();
        let quiet = claimed("power_restored", false, Some("+8613800000001"), data.clone());
        assert!(matches!(prepare(&quiet, Uuid::nil(), tz, night, &t, late),
            Prepared::Hold(at) if at == "2026-03-02T00:00:00Z".parse::<chrono::DateTime<Utc>>().unwrap()));
        let urgent = claimed("power_restored", true, Some("+8613800000001"), data.clone());
        assert!(matches!(prepare(&urgent, Uuid::nil(), tz, night, &t, late), Prepared::Send(_)));
        let nowhere = claimed("power_restored", false, None, data);
        assert!(
            matches!(prepare(&nowhere, Uuid::nil(), tz, night, &t, noon), Prepared::Fail(e) if e == "no address for sms")
        );
        let empty = claimed("power_restored", false, Some("+8613800000001"), serde_json::json!({}));
        assert!(
            matches!(prepare(&empty, Uuid::nil(), tz, night, &t, noon), Prepared::Fail(e) if e.contains("no value for {"))
        );
    }
}
