//! Starting bill runs (refusing a second one for the same period while one
//! runs), running them as jobs (src/jobs) for the web, the API and the
//! command, cancelling and re-issuing bills, audited.

use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    billing::{
        bills,
        run::{self, RunSummary, Scope},
    },
    db, jobs, months,
    web::error::{AppError, FieldErrors},
};

/// Checks a period ("2026-11") and a route code ('' for all) into a scope.
pub async fn scope(tx: &mut db::Tx, period: &str, route: &str) -> Result<Scope, AppError> {
    let mut errors = FieldErrors::default();
    let period = months::parse(period);
    if period.is_none() {
        errors.add("period", "invalid_month");
    }
    let route_id = match route.trim() {
        "" => None,
        code => {
            let id = run::route_id(tx, code).await?;
            if id.is_none() {
                errors.add("route", "unknown_route");
            }
            id
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(Scope { period: period.unwrap_or_default(), route_id, customer_id: None })
}

/// Records a run and enqueues its job, unless a run of the same period is
/// in progress; a worker of any server process bills it.
pub async fn start(
    pool: &PgPool,
    tenant_id: Uuid,
    actor: &Actor,
    period: &str,
    route: &str,
    jobs: &jobs::Settings,
) -> Result<Uuid, AppError> {
    let (id, _) = record(pool, tenant_id, actor, period, route, jobs, None).await?;
    Ok(id)
}

/// As `start`, but the job is held from the start by `owner` (the bill-run
/// command, which bills in the foreground under the same lease: if it is
/// killed, a server takes the run over when the lease ends).
pub async fn start_held(
    pool: &PgPool,
    tenant_id: Uuid,
    actor: &Actor,
    period: &str,
    route: &str,
    jobs: &jobs::Settings,
    owner: &str,
) -> Result<(Uuid, jobs::db::Job), AppError> {
    let (id, job) = record(pool, tenant_id, actor, period, route, jobs, Some(owner)).await?;
    let job = job.ok_or_else(|| anyhow::anyhow!("the run's job was not recorded"))?;
    Ok((id, job))
}

async fn record(
    pool: &PgPool,
    tenant_id: Uuid,
    actor: &Actor,
    period: &str,
    route: &str,
    settings: &jobs::Settings,
    owner: Option<&str>,
) -> Result<(Uuid, Option<jobs::db::Job>), AppError> {
    let mut tx = db::begin_tenant(pool, tenant_id, actor.user_id).await?;
    let scope = scope(&mut tx, period, route).await?;
    // One run per period at a time: two would race for the same customers.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended('bill_run:' || app_tenant_id()::text, 0))")
        .execute(&mut *tx)
        .await?;
    // In progress means a live job: a run whose process died stops blocking
    // when its lease ends (and its job is taken over and finishes it).
    let jobs_of_running = sqlx::query!(
        r#"SELECT j.state, j.lease_until, j.run_after, now() AS "now!"
           FROM bill_runs r JOIN jobs j ON j.tenant_id = r.tenant_id AND j.kind = 'bill_run' AND j.dedup_key = r.id::text
           WHERE r.status = 'running' AND r.period = $1"#,
        scope.period
    )
    .fetch_all(&mut *tx)
    .await?;
    if jobs_of_running.iter().any(|j| jobs::job_is_live(&j.state, j.lease_until, j.run_after, settings.lease, j.now)) {
        return Err(AppError::Conflict("run_in_progress"));
    }
    let id = run::create(&mut tx, scope, &actor.label).await?;
    let key = id.to_string();
    let payload = json!({ "run_id": id });
    let job = match owner {
        None => {
            jobs::db::enqueue_for_tenant(&mut tx, jobs::Kind::BillRun, Some(&key), &payload, settings.max_attempts)
                .await?;
            None
        }
        Some(owner) => Some(
            jobs::db::enqueue_held(
                &mut tx,
                jobs::Kind::BillRun,
                Some(&key),
                &payload,
                settings.max_attempts,
                owner,
                settings.lease,
            )
            .await?,
        ),
    };
    audit::record(
        &mut tx,
        actor,
        Change {
            action: "create",
            entity: "bill_run",
            entity_id: Some(id),
            summary: format!("{} {}", months::label(scope.period), route.trim()),
            before: None,
            after: Some(json!({ "period": months::label(scope.period), "route": route.trim() })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, job))
}

fn run_id(payload: &serde_json::Value) -> anyhow::Result<Uuid> {
    payload
        .get("run_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("a bill-run job names its run: {payload}"))
}

/// The bill-run job: bills the run (again, after an interruption: only who
/// is not billed yet) and records its end. A failure leaves the run running
/// for the job's retry, unless this was the last attempt.
pub async fn run_job(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
    payload: &serde_json::Value,
    batch: usize,
    last_attempt: bool,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<()> {
    let tenant_id = tenant_id.ok_or_else(|| anyhow::anyhow!("a bill-run job belongs to a tenant"))?;
    let run_id = run_id(payload)?;
    match run::execute_batches(pool, tenant_id, run_id, None, batch, progress).await {
        Ok(()) => {
            // Payments, late fees and the arrears list read the new bills next.
            db::analyze_tables(&mut *pool.acquire().await?, &["bills", "bill_lines"]).await?;
            run::finish(pool, tenant_id, run_id, None).await?;
            Ok(())
        }
        Err(err) => {
            // Best effort: the database may be what failed.
            let error = format!("{err:#}");
            let _ = if last_attempt {
                run::finish(pool, tenant_id, run_id, Some(&error)).await.map(|_| ())
            } else {
                run::note_error(pool, tenant_id, run_id, &error).await
            };
            Err(err)
        }
    }
}

/// Marks a bill-run job's run failed when the job is given up.
pub async fn give_up_job(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
    payload: &serde_json::Value,
    reason: &str,
) -> anyhow::Result<()> {
    let tenant_id = tenant_id.ok_or_else(|| anyhow::anyhow!("a bill-run job belongs to a tenant"))?;
    run::finish(pool, tenant_id, run_id(payload)?, Some(reason)).await?;
    Ok(())
}

/// Cancels an unpaid bill; the reason is required and audited.
pub async fn cancel(tx: &mut sqlx::PgConnection, actor: &Actor, bill_id: Uuid, reason: &str) -> Result<(), AppError> {
    let reason = reason.trim();
    let mut errors = FieldErrors::default();
    if !crate::web::input::has_visible_char(reason) {
        errors.add("reason", "cancel_reason_required");
    } else if reason.chars().count() > 500 {
        errors.add("reason", "too_long");
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let bill = bills::get(tx, bill_id).await?.ok_or(AppError::NotFound)?;
    if !bills::cancel(tx, bill_id, &actor.label, reason).await? {
        return Err(AppError::Conflict(if bill.status == "issued" { "bill_paid" } else { "bill_not_issued" }));
    }
    audit::record(
        tx,
        actor,
        Change {
            action: "cancel",
            entity: "bill",
            entity_id: Some(bill_id),
            summary: bill.bill_no.clone(),
            before: Some(json!({ "status": "issued", "amount": bill.amount })),
            after: Some(json!({ "status": "cancelled", "reason": reason })),
        },
    )
    .await?;
    Ok(())
}

/// Bills a cancelled bill's customer and period again from the readings as
/// they are now; the new bill names the one it replaces. Returns the run,
/// whose skips say why when no bill could be made.
pub async fn reissue(
    pool: &PgPool,
    tenant_id: Uuid,
    actor: &Actor,
    bill_id: Uuid,
) -> Result<(RunSummary, Option<Uuid>), AppError> {
    let mut tx = db::begin_tenant(pool, tenant_id, actor.user_id).await?;
    let bill = bills::get(&mut tx, bill_id).await?.ok_or(AppError::NotFound)?;
    if bill.status != "cancelled" {
        return Err(AppError::Conflict("reissue_needs_cancelled"));
    }
    let scope = Scope { period: bill.period, route_id: None, customer_id: Some(bill.customer_id) };
    let run_id = run::create(&mut tx, scope, &actor.label).await?;
    tx.commit().await?;
    let summary = run::execute(pool, tenant_id, run_id, Some(bill_id), &|_, _| {}).await?;
    let mut tx = db::begin_tenant(pool, tenant_id, actor.user_id).await?;
    let new_bill = sqlx::query_scalar!("SELECT id FROM bills WHERE run_id = $1 AND replaces = $2", run_id, bill_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(new_id) = new_bill {
        audit::record(
            &mut tx,
            actor,
            Change {
                action: "reissue",
                entity: "bill",
                entity_id: Some(new_id),
                summary: bill.bill_no.clone(),
                before: Some(json!({ "replaces": bill.bill_no, "amount": bill.amount })),
                after: Some(json!({ "run": run_id })),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((summary, new_bill))
}

/// The period a new run defaults to: the current month.
pub fn default_period(today: NaiveDate) -> String {
    months::label(months::start_of(today))
}
