//! Background work from a durable job table (migration 0015): bill runs,
//! late fees, cost control, escalation and points expiry run as jobs that any server process
//! may claim (`FOR UPDATE SKIP LOCKED`) and holds under a lease it renews with
//! a heartbeat. A job whose process died is taken over once its lease runs
//! out; every kind is safe to run again, so the takeover resumes the work.
//!
//! This file holds the rules (plain functions, unit tested); `db` the SQL,
//! `worker` the worker loop, the periodic schedule and the shutdown.

pub mod db;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

pub use worker::Workers;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bills a recorded bill run (payload: `run_id`).
    BillRun,
    /// Accrues late fees on overdue bills of every tenant.
    LateFees,
    /// The prepaid balance estimate of every tenant.
    CostControl,
    /// Escalates overdue contacts and work orders of every tenant.
    Escalation,
    /// Deletes finished jobs older than a week.
    PruneJobs,
    /// Recomputes the changed customer metrics of every tenant.
    Metrics,
    /// Rates every customer of one tenant (asked for on the poor-credit list page).
    CreditRating,
    /// Records the loyalty points whose term has run out, in every tenant.
    PointsExpiry,
    /// Turns every tenant's outbox events into notices by its rules.
    NoticePlanning,
    /// Finds the dates coming due (bills, meter verification, the
    /// personalised bill) in every tenant.
    NoticeScan,
    /// Rebuilds the load curves' days that interval loads marked, in every tenant.
    LoadDays,
    /// Day-ahead and energy forecasts of every tenant whose tomorrow is not
    /// forecast yet or whose load data or weather changed since.
    ForecastRefresh,
    /// Looks for abrupt changes in large customers' load, once a day per
    /// tenant (the hourly run skips tenants already scanned on their today).
    LoadAnomalyScan,
    /// Writes the search keys that bulk imports deferred, in every tenant.
    SearchKeys,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::BillRun,
        Kind::LateFees,
        Kind::CostControl,
        Kind::Escalation,
        Kind::PruneJobs,
        Kind::Metrics,
        Kind::CreditRating,
        Kind::PointsExpiry,
        Kind::NoticePlanning,
        Kind::NoticeScan,
        Kind::LoadDays,
        Kind::ForecastRefresh,
        Kind::LoadAnomalyScan,
        Kind::SearchKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BillRun => "bill_run",
            Kind::LateFees => "late_fees",
            Kind::CostControl => "cost_control",
            Kind::Escalation => "escalation",
            Kind::PruneJobs => "prune_jobs",
            Kind::Metrics => "metrics",
            Kind::CreditRating => "credit_rating",
            Kind::PointsExpiry => "points_expiry",
            Kind::NoticePlanning => "notice_planning",
            Kind::NoticeScan => "notice_scan",
            Kind::LoadDays => "load_days",
            Kind::ForecastRefresh => "forecast_refresh",
            Kind::LoadAnomalyScan => "load_anomaly_scan",
            Kind::SearchKeys => "search_keys",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How often a periodic kind is due; `None` for kinds enqueued on demand.
    pub fn every(self) -> Option<Every> {
        match self {
            Kind::BillRun | Kind::CreditRating => None,
            Kind::LateFees
            | Kind::CostControl
            | Kind::PruneJobs
            | Kind::Metrics
            | Kind::PointsExpiry
            | Kind::NoticeScan
            | Kind::ForecastRefresh
            | Kind::LoadAnomalyScan => Some(Every::Hour),
            Kind::Escalation | Kind::NoticePlanning | Kind::LoadDays | Kind::SearchKeys => Some(Every::Minute),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Minute,
    Hour,
}

/// The slot a periodic job belongs to at `now` (UTC): each process enqueues
/// the current slot, and the table's unique key keeps one job per slot.
pub fn slot(every: Every, now: DateTime<Utc>) -> String {
    match every {
        Every::Hour => now.format("%Y-%m-%dT%H").to_string(),
        Every::Minute => now.format("%Y-%m-%dT%H:%M").to_string(),
    }
}

/// The next moment a new slot of `every` begins after `now`.
pub fn next_slot_start(every: Every, now: DateTime<Utc>) -> DateTime<Utc> {
    let minute = now.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(now);
    match every {
        Every::Minute => minute + chrono::Duration::minutes(1),
        Every::Hour => minute.with_minute(0).unwrap_or(minute) + chrono::Duration::hours(1),
    }
}

/// How the job machinery is tuned (from `Config`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Jobs one process runs at once.
    pub workers: usize,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker looks for a job.
    pub poll: Duration,
    /// The wait before the first retry of a failed job; it doubles each time.
    pub retry: Duration,
    pub max_attempts: i32,
    /// How long a stopping process lets running jobs finish before it
    /// releases them for another process to take over.
    pub shutdown_grace: Duration,
    /// Customers per bill-run transaction.
    pub bill_run_batch: usize,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            workers: config.job_workers,
            lease: Duration::from_secs(config.job_lease_seconds.max(1)),
            poll: Duration::from_millis(config.job_poll_millis.max(10)),
            retry: Duration::from_secs(config.job_retry_seconds),
            max_attempts: config.job_max_attempts.max(1),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_seconds),
            bill_run_batch: config.bill_run_batch.max(1),
        }
    }

    /// How often a running job renews its lease: three times a lease, so one
    /// late or failed heartbeat does not lose it.
    pub fn heartbeat(&self) -> Duration {
        heartbeat_interval(self.lease)
    }
}

pub fn heartbeat_interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// A running job's lease has run out: its process is taken to be dead, and
/// the job may be claimed by another.
pub fn lease_expired(lease_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    lease_until.is_none_or(|until| until <= now)
}

/// What a claim may take (the claim query's condition): a queued job that is
/// due, or a running job whose lease has run out. A done or failed job never.
pub fn claimable(
    state: &str,
    run_after: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    match state {
        "queued" => run_after <= now,
        "running" => lease_expired(lease_until, now),
        _ => false,
    }
}

/// What a worker does with a job it has just claimed, by the claim's count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnClaim {
    Run {
        last_attempt: bool,
    },
    /// Claimed more often than allowed: earlier processes died running it
    /// (or it kept failing). Record it as failed instead of running it again.
    GiveUp,
}

pub fn on_claim(attempts: i32, max_attempts: i32) -> OnClaim {
    if attempts > max_attempts { OnClaim::GiveUp } else { OnClaim::Run { last_attempt: attempts >= max_attempts } }
}

/// The wait before retrying after the `attempts`-th try failed: `base`,
/// doubling each time, at most an hour.
pub fn backoff(attempts: i32, base: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    base.saturating_mul(2u32.saturating_pow(doublings)).min(Duration::from_secs(3600))
}

/// After a failed try: when to retry, or `None` when the job has failed for good.
pub fn retry_after(attempts: i32, max_attempts: i32, base: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (attempts < max_attempts).then(|| now + chrono::Duration::from_std(backoff(attempts, base)).unwrap_or_default())
}

/// The "billing for this period is in progress" guard: a run's job counts as
/// live while it is running under an unexpired lease, or queued and due less
/// than one lease ago (a worker is about to take it, or retry it). A run
/// whose process died stops blocking new runs when its lease runs out.
pub fn job_is_live(
    state: &str,
    lease_until: Option<DateTime<Utc>>,
    run_after: DateTime<Utc>,
    lease: Duration,
    now: DateTime<Utc>,
) -> bool {
    match state {
        "running" => !lease_expired(lease_until, now),
        "queued" => run_after + chrono::Duration::from_std(lease).unwrap_or_default() > now,
        _ => false,
    }
}

/// Who holds a lease: the host, the process and a random part, so two
/// processes (or a restarted one with the same pid) never share an owner.
pub fn owner_id(role: &str) -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{role}@{host}:{}:{}", std::process::id(), &random[..8])
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, m, s).unwrap()
    }

    #[test]
    fn periodic_slots_are_one_per_hour_or_minute() {
        assert_eq!(slot(Every::Hour, at(1, 59, 59)), "2026-12-02T01");
        assert_eq!(slot(Every::Hour, at(2, 0, 0)), "2026-12-02T02");
        assert_eq!(slot(Every::Minute, at(1, 5, 30)), "2026-12-02T01:05");
        assert_eq!(next_slot_start(Every::Minute, at(1, 5, 30)), at(1, 6, 0));
        assert_eq!(next_slot_start(Every::Hour, at(1, 5, 30)), at(2, 0, 0));
        assert_eq!(next_slot_start(Every::Hour, at(23, 0, 0)), Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap());
    }

    #[test]
    fn kinds_round_trip_and_only_periodic_ones_have_a_schedule() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("nope"), None);
        assert_eq!(Kind::BillRun.every(), None);
        assert_eq!(Kind::Escalation.every(), Some(Every::Minute));
        assert_eq!(Kind::LateFees.every(), Some(Every::Hour));
        assert_eq!(Kind::Metrics.every(), Some(Every::Hour));
        assert_eq!(Kind::PointsExpiry.every(), Some(Every::Hour));
        assert_eq!(Kind::NoticePlanning.every(), Some(Every::Minute));
        assert_eq!(Kind::NoticeScan.every(), Some(Every::Hour));
        assert_eq!(Kind::ForecastRefresh.every(), Some(Every::Hour));
        assert_eq!(Kind::parse("forecast_refresh"), Some(Kind::ForecastRefresh));
    }

    #[test]
    fn a_lease_expires_at_its_end() {
        assert!(!lease_expired(Some(at(1, 0, 1)), at(1, 0, 0)));
        assert!(lease_expired(Some(at(1, 0, 0)), at(1, 0, 0)));
        assert!(lease_expired(None, at(1, 0, 0)));
        assert_eq!(heartbeat_interval(Duration::from_secs(60)), Duration::from_secs(20));
    }

    #[test]
    fn a_claim_takes_due_jobs_and_dead_processes_jobs_only() {
        let now = at(1, 0, 0);
        assert!(claimable("queued", at(0, 59, 0), None, now));
        assert!(!claimable("queued", at(1, 0, 5), None, now), "waiting to retry");
        assert!(!claimable("running", at(0, 0, 0), Some(at(1, 0, 30)), now), "its process renews the lease");
        assert!(claimable("running", at(0, 0, 0), Some(at(0, 59, 59)), now), "its process died");
        assert!(!claimable("done", at(0, 0, 0), None, now));
        assert!(!claimable("failed", at(0, 0, 0), None, now));
    }

    #[test]
    fn a_claim_runs_until_the_attempts_are_used_up() {
        assert_eq!(on_claim(1, 5), OnClaim::Run { last_attempt: false });
        assert_eq!(on_claim(5, 5), OnClaim::Run { last_attempt: true });
        assert_eq!(on_claim(6, 5), OnClaim::GiveUp, "taken over after the fifth process died");
        assert_eq!(on_claim(1, 1), OnClaim::Run { last_attempt: true });
    }

    #[test]
    fn retries_back_off_doubling_and_stop_at_the_limit() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(1, base), Duration::from_secs(5));
        assert_eq!(backoff(2, base), Duration::from_secs(10));
        assert_eq!(backoff(4, base), Duration::from_secs(40));
        assert_eq!(backoff(30, base), Duration::from_secs(3600), "capped");
        assert_eq!(retry_after(2, 5, base, at(1, 0, 0)), Some(at(1, 0, 10)));
        assert_eq!(retry_after(5, 5, base, at(1, 0, 0)), None, "the last attempt failed");
    }

    #[test]
    fn only_a_live_lease_or_a_fresh_queue_entry_blocks_a_new_run() {
        let lease = Duration::from_secs(60);
        let now = at(3, 0, 0);
        assert!(job_is_live("running", Some(at(3, 0, 30)), at(1, 0, 0), lease, now));
        // The process died at 01:00: its lease ran out at 01:01, not two hours later.
        assert!(!job_is_live("running", Some(at(1, 1, 0)), at(1, 0, 0), lease, now));
        assert!(job_is_live("queued", None, at(2, 59, 30), lease, now), "about to be taken");
        assert!(job_is_live("queued", None, at(3, 5, 0), lease, now), "waiting to retry");
        assert!(!job_is_live("queued", None, at(2, 0, 0), lease, now), "no worker took it");
        assert!(!job_is_live("done", None, at(2, 59, 59), lease, now));
        assert!(!job_is_live("failed", None, at(2, 59, 59), lease, now));
    }

    #[test]
    fn owners_differ_between_workers_of_one_process() {
        let (a, b) = (owner_id("serve"), owner_id("serve"));
        assert_ne!(a, b);
        assert!(a.starts_with("serve@") && a.contains(&format!(":{}:", std::process::id())));
    }
}
