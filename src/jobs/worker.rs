//! The worker side: `serve` starts N workers that claim jobs, run them under
//! a heartbeat, and record the outcome; a scheduler that enqueues the
//! periodic jobs' current slots; and the shutdown (stop claiming, let running
//! jobs finish for a grace period, release the rest for takeover).

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use sqlx::PgPool;
use tokio::{sync::watch, task::JoinHandle};

use super::{
    Kind, OnClaim, Settings,
    db::{self, Job},
    on_claim, retry_after,
};

/// Finished jobs are kept this long (for the record), then pruned.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Progress of a job as it runs: (done, total). Only the bill-run command shows it.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What a job runs with.
#[derive(Clone)]
pub struct Runner {
    pub pool: PgPool,
    pub settings: Settings,
    pub progress: Option<Progress>,
}

/// How a claimed job ended for this process.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// It failed and is queued to be tried again later.
    Retrying(String),
    /// It failed for good (its attempts are used up).
    Failed(String),
    /// Another process took it over (our lease ran out): we stopped.
    LeaseLost,
    /// We were stopping and gave it back for another process to take.
    Released,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Run,
    /// Stop claiming; let running jobs finish.
    Drain,
    /// The grace period is over: give running jobs back.
    Release,
}

/// Runs a claimed job to its end, renewing its lease meanwhile, and records
/// the outcome (a foreground command's job; the workers' go through `run_claimed`).
pub async fn process(runner: &Runner, job: Job) -> Outcome {
    run_claimed(runner, job, None).await
}

/// As `process`; `stop` (the process's shutdown) may make it release the job.
/// Counts the outcome and the time taken by kind (`/metrics`).
async fn run_claimed(runner: &Runner, job: Job, stop: Option<watch::Receiver<Phase>>) -> Outcome {
    let (kind, started) = (job.kind.clone(), Instant::now());
    let outcome = run_held(runner, job, stop).await;
    let label = match &outcome {
        Outcome::Done => "done",
        Outcome::Retrying(_) => "retrying",
        Outcome::Failed(_) => "failed",
        Outcome::LeaseLost => "lease_lost",
        Outcome::Released => "released",
    };
    metrics::counter!("gridcrm_jobs_finished_total", "kind" => kind.clone(), "outcome" => label).increment(1);
    metrics::histogram!("gridcrm_job_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
    outcome
}

async fn run_held(runner: &Runner, job: Job, stop: Option<watch::Receiver<Phase>>) -> Outcome {
    let pool = &runner.pool;
    let last_attempt = match on_claim(job.attempts, job.max_attempts) {
        OnClaim::Run { last_attempt } => last_attempt,
        OnClaim::GiveUp => {
            let reason = format!("stopped {} times without finishing; given up", job.attempts - 1);
            tracing::error!(job = %job.id, kind = job.kind, "{reason}");
            if let Err(err) = give_up(runner, &job, &reason).await {
                tracing::warn!(job = %job.id, error = format!("{err:#}"), "could not record the job's failure");
            }
            record(db::fail(pool, &job, &reason, None).await, &job);
            return Outcome::Failed(reason);
        }
    };
    match hold(pool, &job, runner.settings.lease, perform(runner, &job, last_attempt), stop).await {
        Held::Finished(Ok(())) => {
            record(db::complete(pool, &job).await, &job);
            Outcome::Done
        }
        Held::Finished(Err(err)) => {
            let error = format!("{err:#}");
            let retry = retry_after(job.attempts, job.max_attempts, runner.settings.retry, Utc::now());
            tracing::warn!(job = %job.id, kind = job.kind, attempt = job.attempts, retry = ?retry, error, "job failed");
            record(db::fail(pool, &job, &error, retry).await, &job);
            if retry.is_some() { Outcome::Retrying(error) } else { Outcome::Failed(error) }
        }
        Held::LeaseLost => {
            tracing::warn!(job = %job.id, kind = job.kind, "lease lost: another process took the job over");
            Outcome::LeaseLost
        }
        Held::Released => {
            record(db::release(pool, &job).await, &job);
            Outcome::Released
        }
    }
}

fn record(result: sqlx::Result<bool>, job: &Job) {
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job = %job.id, "the job was taken over before its outcome was recorded"),
        // The lease runs out and another process runs the job again (every kind may).
        Err(err) => tracing::warn!(job = %job.id, error = %err, "could not record the job's outcome"),
    }
}

enum Held<T> {
    Finished(T),
    LeaseLost,
    Released,
}

/// Runs `work` while renewing the job's lease. A heartbeat that finds the job
/// taken over stops the work (dropping it rolls back its open transaction);
/// one that fails (the database is away) is retried on the next beat.
async fn hold<F: Future>(
    pool: &PgPool,
    job: &Job,
    lease: Duration,
    work: F,
    mut stop: Option<watch::Receiver<Phase>>,
) -> Held<F::Output> {
    tokio::pin!(work);
    let mut beat = tokio::time::interval(super::heartbeat_interval(lease));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return Held::Finished(out),
            _ = beat.tick() => match db::heartbeat(pool, job, lease).await {
                Ok(true) => {}
                Ok(false) => return Held::LeaseLost,
                Err(err) => tracing::warn!(job = %job.id, error = %err, "heartbeat failed"),
            },
            _ = release_requested(&mut stop) => return Held::Released,
        }
    }
}

async fn release_requested(stop: &mut Option<watch::Receiver<Phase>>) {
    if let Some(rx) = stop
        && rx.wait_for(|p| *p == Phase::Release).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await
}

/// The work of each kind. Every one may run again after a takeover.
async fn perform(runner: &Runner, job: &Job, last_attempt: bool) -> anyhow::Result<()> {
    let pool = &runner.pool;
    match Kind::parse(&job.kind) {
        Some(Kind::BillRun) => {
            let quiet: Progress = Arc::new(|_, _| {});
            let progress = runner.progress.clone().unwrap_or(quiet);
            let batch = runner.settings.bill_run_batch;
            crate::billing::service::run_job(pool, job.tenant_id, &job.payload, batch, last_attempt, &*progress).await
        }
        Some(Kind::LateFees) => {
            let r = crate::billing::late_fees::run(pool).await?;
            if r.bills > 0 {
                tracing::info!(bills = r.bills, amount = %r.amount, "late fees accrued");
            }
            Ok(())
        }
        Some(Kind::CostControl) => {
            let (reviewed, orders) = crate::cost_control::db::run_daily(pool).await?;
            if reviewed > 0 {
                tracing::info!(reviewed, orders, "cost-control estimate");
            }
            Ok(())
        }
        Some(Kind::Escalation) => {
            let r = crate::service::escalation::run(pool, Utc::now()).await?;
            if r.contacts + r.work_orders > 0 {
                tracing::info!(contacts = r.contacts, work_orders = r.work_orders, "escalated overdue items");
            }
            Ok(())
        }
        Some(Kind::PruneJobs) => {
            db::prune(pool, KEEP_FINISHED).await?;
            Ok(())
        }
        Some(Kind::Metrics) => evaluate_customers(pool).await,
        Some(Kind::PointsExpiry) => {
            let customers = crate::points::db::expire_everywhere(pool).await?;
            if customers > 0 {
                tracing::info!(customers, "loyalty points expired");
            }
            Ok(())
        }
        Some(Kind::NoticePlanning) => {
            let planned = crate::notices::plan::plan_everywhere(pool).await?;
            if planned.events > 0 {
                tracing::info!(events = planned.events, notices = planned.notices, "notice events planned");
            }
            Ok(())
        }
        Some(Kind::NoticeScan) => {
            let notices = crate::notices::plan::scan_everywhere(pool).await?;
            if notices > 0 {
                tracing::info!(notices, "notices for dates coming due");
            }
            let reminders = crate::appointments::db::remind_everywhere(pool).await?;
            if reminders > 0 {
                tracing::info!(reminders, "hall appointment reminders queued");
            }
            Ok(())
        }
        Some(Kind::LoadDays) => {
            let days = crate::interval::days::rebuild_everywhere(pool).await?;
            if days > 0 {
                tracing::info!(days, "load curve days rebuilt");
            }
            Ok(())
        }
        Some(Kind::ForecastRefresh) => {
            let r = crate::forecast::db::refresh_everywhere(pool).await?;
            if r.stored > 0 {
                tracing::info!(
                    meters = r.meters,
                    customers = r.customers,
                    aggregates = r.aggregates,
                    beat_baseline = r.beat_baseline,
                    "forecasts refreshed"
                );
            }
            Ok(())
        }
        Some(Kind::LoadAnomalyScan) => {
            let s = crate::anomalies::db::scan_everywhere(pool).await?;
            if s.meters > 0 {
                tracing::info!(meters = s.meters, found = s.found, "load anomaly scan");
            }
            Ok(())
        }
        Some(Kind::SearchKeys) => {
            let customers = crate::customers::service::write_deferred_search_keys_everywhere(pool).await?;
            if customers > 0 {
                tracing::info!(customers, "deferred search keys written");
            }
            Ok(())
        }
        Some(Kind::CreditRating) => {
            let tenant = job.tenant_id.ok_or_else(|| anyhow::anyhow!("a credit rating job names its tenant"))?;
            let r = crate::credit::db::rate(pool, tenant, &|_, _| {}).await?;
            tracing::info!(%tenant, rated = r.rated, changed = r.changed, "customers rated on demand");
            Ok(())
        }
        None => anyhow::bail!("unknown job kind {:?}", job.kind),
    }
}

/// The hourly evaluation of every tenant: the customer metrics that changed,
/// then, when any did, the value tiers and the scheduled segments that read
/// them; and once a month, on the first run in it, the credit ratings.
async fn evaluate_customers(pool: &PgPool) -> anyhow::Result<()> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    for tenant in tenants {
        let quiet = |_, _| {};
        let metrics = crate::metrics::db::refresh(pool, tenant, crate::metrics::Mode::Incremental, &quiet).await?;
        let mut conn = crate::db::begin_tenant(pool, tenant, None).await?;
        let rated = crate::credit::db::rated_this_month(&mut conn).await?;
        conn.commit().await?;
        if !rated {
            let credit = crate::credit::db::rate(pool, tenant, &quiet).await?;
            tracing::info!(%tenant, rated = credit.rated, changed = credit.changed, listed = credit.listed,
                delisted = credit.delisted, "customers rated");
        }
        if metrics.recomputed + metrics.removed == 0 {
            continue;
        }
        let tiers = crate::value::db::recompute(pool, tenant).await?;
        let segments = crate::segments::db::recompute_all(pool, tenant, true).await?;
        tracing::info!(
            %tenant,
            recomputed = metrics.recomputed,
            removed = metrics.removed,
            tiers_changed = tiers.changed,
            segments,
            "customers evaluated"
        );
    }
    Ok(())
}

/// Records in the business data that a job was given up (its process kept dying).
async fn give_up(runner: &Runner, job: &Job, reason: &str) -> anyhow::Result<()> {
    match Kind::parse(&job.kind) {
        Some(Kind::BillRun) => {
            crate::billing::service::give_up_job(&runner.pool, job.tenant_id, &job.payload, reason).await
        }
        _ => Ok(()),
    }
}

/// The workers of one process.
pub struct Workers {
    phase: Arc<watch::Sender<Phase>>,
    stopping_since: Arc<Mutex<Option<Instant>>>,
    tasks: Vec<JoinHandle<()>>,
    tally: Arc<Tally>,
    grace: Duration,
}

#[derive(Default)]
struct Tally {
    finished: AtomicUsize,
    released: AtomicUsize,
}

/// What a stopping process did with the jobs it was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopReport {
    pub finished: usize,
    pub released: usize,
}

impl std::fmt::Display for StopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} running jobs finished, {} released for another process to take over",
            self.finished, self.released
        )
    }
}

impl Workers {
    /// Starts `settings.workers` workers under one owner id (none: this
    /// process runs no jobs, others do), and (when `periodic`) the scheduler
    /// of the periodic jobs. Dropping `Workers` without `finish` stops them
    /// claiming.
    pub fn start(pool: PgPool, settings: Settings, periodic: bool) -> Workers {
        let owner = super::owner_id("serve");
        let (phase, _) = watch::channel(Phase::Run);
        let phase = Arc::new(phase);
        let tally = Arc::new(Tally::default());
        let runner = Runner { pool: pool.clone(), settings: settings.clone(), progress: None };
        let mut tasks: Vec<JoinHandle<()>> = (0..settings.workers)
            .map(|_| tokio::spawn(work_loop(runner.clone(), owner.clone(), phase.subscribe(), tally.clone())))
            .collect();
        if periodic {
            tasks.push(tokio::spawn(queue_gauges(pool.clone(), phase.subscribe())));
            tasks.push(tokio::spawn(schedule(pool, settings.max_attempts, phase.subscribe())));
        }
        tracing::info!(owner, workers = settings.workers, "job workers started");
        Workers { phase, stopping_since: Arc::default(), tasks, tally, grace: settings.shutdown_grace }
    }

    /// Resolves on SIGTERM or Ctrl-C, after telling the workers to stop
    /// claiming. Give it to axum's `with_graceful_shutdown`.
    pub fn stop_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let (phase, since) = (self.phase.clone(), self.stopping_since.clone());
        async move {
            shutdown_signal().await;
            begin_stop(&phase, &since);
        }
    }

    /// Stops claiming now (as the signal does).
    pub fn stop(&self) {
        begin_stop(&self.phase, &self.stopping_since);
    }

    /// Waits for the running jobs to finish, up to the grace period counted
    /// from the stop; then releases those still running, and reports.
    pub async fn finish(mut self) -> StopReport {
        self.stop();
        let since =
            self.stopping_since.lock().map(|s| s.unwrap_or_else(Instant::now)).unwrap_or_else(|_| Instant::now());
        let deadline = tokio::time::Instant::from_std(since + self.grace);
        let mut still_running = Vec::new();
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                still_running.push(task);
            }
        }
        if !still_running.is_empty() {
            tracing::warn!("jobs still running after the grace period: releasing them");
            self.phase.send_replace(Phase::Release);
            futures_util::future::join_all(still_running).await;
        }
        StopReport {
            finished: self.tally.finished.load(Ordering::Relaxed),
            released: self.tally.released.load(Ordering::Relaxed),
        }
    }
}

fn begin_stop(phase: &watch::Sender<Phase>, since: &Mutex<Option<Instant>>) {
    if let Ok(mut since) = since.lock() {
        since.get_or_insert_with(Instant::now);
    }
    phase.send_if_modified(|p| {
        let changed = *p == Phase::Run;
        if changed {
            *p = Phase::Drain;
        }
        changed
    });
}

async fn work_loop(runner: Runner, owner: String, mut phase: watch::Receiver<Phase>, tally: Arc<Tally>) {
    let (lease, poll) = (runner.settings.lease, runner.settings.poll);
    while *phase.borrow() == Phase::Run {
        match db::claim(&runner.pool, &owner, lease).await {
            Ok(Some(job)) => {
                let outcome = run_claimed(&runner, job, Some(phase.clone())).await;
                if *phase.borrow() != Phase::Run {
                    let counter = if matches!(outcome, Outcome::Released) { &tally.released } else { &tally.finished };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "claiming a job failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            changed = phase.changed() => if changed.is_err() { return },
        }
    }
}

/// Enqueues each periodic kind's current slot, waking when the next slot
/// begins. Every process does this; the table keeps one job per slot.
async fn schedule(pool: PgPool, max_attempts: i32, mut phase: watch::Receiver<Phase>) {
    let periodic: Vec<(Kind, super::Every)> = Kind::ALL.iter().filter_map(|k| Some((*k, k.every()?))).collect();
    while *phase.borrow() == Phase::Run {
        let now = Utc::now();
        let mut failed = false;
        for (kind, every) in &periodic {
            if let Err(err) = db::enqueue_periodic(&pool, *kind, &super::slot(*every, now), max_attempts).await {
                tracing::warn!(kind = kind.as_str(), error = %err, "could not enqueue a periodic job");
                failed = true;
            }
        }
        let next = periodic.iter().map(|(_, every)| super::next_slot_start(*every, now)).min().unwrap_or(now);
        let wait = if failed { Duration::from_secs(5) } else { (next - Utc::now()).to_std().unwrap_or_default() };
        tokio::select! {
            _ = tokio::time::sleep(wait + Duration::from_millis(50)) => {}
            changed = phase.changed() => if changed.is_err() { return },
        }
    }
}

/// How often the queue's gauges are refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(15);

/// Refreshes the job queue's gauges by kind every [`GAUGE_EVERY`]: jobs due
/// and how long the oldest has waited (job lag), running, running on an
/// expired lease (no process takes them over), and failed in the last hour.
/// They describe the whole queue, so every scheduling process reports the
/// same figures.
async fn queue_gauges(pool: PgPool, mut phase: watch::Receiver<Phase>) {
    while *phase.borrow() == Phase::Run {
        match db::queue_state(&pool).await {
            Ok(rows) => {
                for kind in Kind::ALL {
                    let row = rows.iter().find(|r| r.kind == kind.as_str());
                    let kind = kind.as_str();
                    let get = |f: fn(&db::QueueState) -> f64| row.map_or(0.0, f);
                    metrics::gauge!("gridcrm_jobs_due", "kind" => kind).set(get(|r| r.due as f64));
                    metrics::gauge!("gridcrm_jobs_oldest_due_seconds", "kind" => kind)
                        .set(get(|r| r.oldest_due_seconds));
                    metrics::gauge!("gridcrm_jobs_running", "kind" => kind).set(get(|r| r.running as f64));
                    metrics::gauge!("gridcrm_jobs_expired_leases", "kind" => kind)
                        .set(get(|r| r.expired_leases as f64));
                    metrics::gauge!("gridcrm_jobs_failed_last_hour", "kind" => kind)
                        .set(get(|r| r.failed_last_hour as f64));
                }
            }
            Err(err) => tracing::warn!(error = %err, "reading the job queue's state failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(GAUGE_EVERY) => {}
            changed = phase.changed() => if changed.is_err() { return },
        }
    }
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
