//! Starting bill runs (refusing a second one for the same period while one
//! runs), running them in the background for the web and API, cancelling
//! and re-issuing bills, audited.

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
    db, months,
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

/// Records a run unless one for the same period is still running.
pub async fn start(pool: &PgPool, tenant_id: Uuid, actor: &Actor, period: &str, route: &str) -> Result<Uuid, AppError> {
    let mut tx = db::begin_tenant(pool, tenant_id, actor.user_id).await?;
    let scope = scope(&mut tx, period, route).await?;
    // One run per period at a time: two would race for the same customers.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended('bill_run:' || app_tenant_id()::text, 0))")
        .execute(&mut *tx)
        .await?;
    let running = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM bill_runs WHERE status = 'running' AND period = $1
                          AND started_at > now() - interval '2 hours') AS "e!""#,
        scope.period
    )
    .fetch_one(&mut *tx)
    .await?;
    if running {
        return Err(AppError::Conflict("run_in_progress"));
    }
    let id = run::create(&mut tx, scope, &actor.label).await?;
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
    Ok(id)
}

/// Runs a recorded run on its own task; its page shows the progress.
pub fn spawn(pool: PgPool, tenant_id: Uuid, run_id: Uuid) {
    tokio::spawn(async move {
        if let Err(err) = run::execute(&pool, tenant_id, run_id, None, &|_, _| {}).await {
            tracing::error!(%run_id, error = %format!("{err:#}"), "bill run failed");
        }
    });
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
