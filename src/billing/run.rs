//! The bill run: one period, one route or all, in batches of customers.
//!
//! Each batch is one short transaction: set-based queries load the batch's
//! customers, meters and readings; the pure calculation prices them; one
//! statement writes the bills, their lines and their timeline entries from
//! arrays (unnest). Nothing is locked that the counter needs, and a batch
//! that fails leaves the ones before it committed: running the period again
//! bills the rest and counts the billed ones as `already` (one live bill per
//! customer and period, `bills_one_per_period`).

use std::collections::HashMap;

use futures_util::StreamExt;

use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    billing::{
        calc::{self, Bands, BillError, BillInput, Registers, Segment, apply_rollover, tier_allowances},
        db as billing_db,
        tariff::Tariff,
    },
    db::{self, Tx},
    months,
};

/// Customers per transaction.
pub const BATCH: i64 = 5000;
/// Batches billed at once.
const WORKERS: usize = 2;

/// Why a customer was not billed.
pub const SKIP_REASONS: [&str; 10] = [
    "flagged",
    "no_reading",
    "no_previous_reading",
    "no_meter",
    "no_tariff",
    "negative",
    "missing_bands",
    "missing_reactive",
    "missing_capacity",
    "missing_demand",
];

/// The bill number: the period and the account number; a re-issue adds its count.
pub fn bill_no(period: NaiveDate, account_no: &str, earlier_bills: i64) -> String {
    let base = format!("{:04}{:02}{account_no}", period.year(), period.month());
    if earlier_bills > 0 { format!("{base}-{}", earlier_bills + 1) } else { base }
}

fn skip_code(err: &BillError) -> &'static str {
    match err {
        BillError::NoTariff(_) => "no_tariff",
        BillError::EmptyPeriod => "no_reading",
        BillError::NegativeConsumption(_) => "negative",
        BillError::MissingBands(_) => "missing_bands",
        BillError::MissingReactive => "missing_reactive",
        BillError::MissingCapacity => "missing_capacity",
        BillError::MissingDemand => "missing_demand",
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub id: Uuid,
    /// The period, "2026-11".
    pub period: String,
    pub route: Option<String>,
    /// The account number of the customer a re-issue billed.
    pub customer: Option<String>,
    /// running, done or failed.
    pub status: String,
    pub started_at: chrono::DateTime<Utc>,
    pub finished_at: Option<chrono::DateTime<Utc>>,
    pub started_by: String,
    pub bills: i32,
    pub total_kwh: Decimal,
    pub total_amount: Decimal,
    pub skipped: i32,
    pub already: i32,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Skip {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub reason: String,
    pub detail: String,
}

pub async fn summary(conn: &mut sqlx::PgConnection, id: Uuid) -> sqlx::Result<Option<RunSummary>> {
    Ok(recent(conn, Some(id), 1).await?.into_iter().next())
}

/// The newest runs (or one run).
pub async fn recent(conn: &mut sqlx::PgConnection, id: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<RunSummary>> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.period, rt.code AS "route?", c.account_no AS "customer?", r.status, r.started_at, r.finished_at, r.started_by, r.bills,
                  r.total_kwh, r.total_amount, r.skipped, r.already, r.error
           FROM bill_runs r LEFT JOIN reading_routes rt ON rt.tenant_id = r.tenant_id AND rt.id = r.route_id
           LEFT JOIN customers c ON c.tenant_id = r.tenant_id AND c.id = r.customer_id
           WHERE ($1::uuid IS NULL OR r.id = $1)
           ORDER BY r.started_at DESC LIMIT $2"#,
        id,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RunSummary {
            id: r.id,
            period: months::label(r.period),
            route: r.route,
            customer: r.customer,
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            started_by: r.started_by,
            bills: r.bills,
            total_kwh: r.total_kwh,
            total_amount: r.total_amount,
            skipped: r.skipped,
            already: r.already,
            error: r.error,
        })
        .collect())
}

pub async fn skips(conn: &mut sqlx::PgConnection, run_id: Uuid, limit: i64) -> sqlx::Result<Vec<Skip>> {
    sqlx::query_as!(
        Skip,
        r#"SELECT s.customer_id, c.account_no, c.name, s.reason, s.detail
           FROM bill_run_skips s JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
           WHERE s.run_id = $1 ORDER BY c.account_no LIMIT $2"#,
        run_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// What a run bills: a period, for one route, one customer (a re-issue) or everyone.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub period: NaiveDate,
    pub route_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
}

/// Records a new run and returns its id.
pub async fn create(tx: &mut Tx, scope: Scope, started_by: &str) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO bill_runs (tenant_id, id, period, route_id, customer_id, started_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5)",
        id,
        scope.period,
        scope.route_id,
        scope.customer_id,
        started_by
    )
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn route_id(tx: &mut Tx, code: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM reading_routes WHERE code = $1", code.trim()).fetch_optional(&mut **tx).await
}

/// Bills one customer for `period` inside the caller's transaction (the
/// final bill of an account that closes): a run of that customer, recorded as
/// done. Ok(None) when a bill was written, Ok(Some(reason)) when the customer
/// was skipped or billed already (a `SKIP_REASONS` code, or `already`).
pub async fn bill_customer(
    tx: &mut Tx,
    customer_id: Uuid,
    period: NaiveDate,
    issued_on: NaiveDate,
    started_by: &str,
) -> anyhow::Result<Option<String>> {
    let run_id = create(tx, Scope { period, route_id: None, customer_id: Some(customer_id) }, started_by).await?;
    let settings = billing_db::settings(tx).await?;
    let ctx = Context {
        tenant_id: db::transaction_tenant(&mut *tx).await?,
        run_id,
        period,
        until: months::next(period),
        replaces: None,
        issued_on,
        due_on: issued_on + chrono::Duration::days(settings.due_days),
        tariffs: billing_db::tariffs_by_code(tx).await?,
    };
    let counts = batch(tx, &ctx, &[customer_id]).await?;
    sqlx::query!(
        "UPDATE bill_runs SET status = 'done', finished_at = now(), bills = $2, total_kwh = $3, total_amount = $4,
                skipped = $5, already = $6 WHERE id = $1",
        run_id,
        counts.bills,
        counts.kwh,
        counts.amount,
        counts.skipped,
        counts.already
    )
    .execute(&mut **tx)
    .await?;
    if counts.bills > 0 {
        return Ok(None);
    }
    let reason = sqlx::query_scalar!("SELECT reason FROM bill_run_skips WHERE run_id = $1 LIMIT 1", run_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(Some(reason.unwrap_or_else(|| "already".to_owned())))
}

struct Context {
    /// Named in the statements that lock rows (on a Citus cluster a lock
    /// needs a query that goes to one shard).
    tenant_id: Uuid,
    run_id: Uuid,
    period: NaiveDate,
    until: NaiveDate,
    /// The cancelled bill a re-issue replaces.
    replaces: Option<Uuid>,
    issued_on: NaiveDate,
    due_on: NaiveDate,
    tariffs: HashMap<String, Vec<Tariff>>,
}

#[derive(Default, Clone, Copy, Debug)]
struct Counts {
    customers: u64,
    bills: i32,
    kwh: Decimal,
    amount: Decimal,
    skipped: i32,
    already: i32,
}

/// Runs (or finishes) a recorded run, batch by batch, and records how it
/// ended. `progress` hears (customers done, customers in the run) after each
/// batch. (Bill runs of the period go through the job table, see
/// `service::run_job`; this is the direct path of a re-issue and the seed.)
pub async fn execute(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
    replaces: Option<Uuid>,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<RunSummary> {
    let result = execute_batches(pool, tenant_id, run_id, replaces, BATCH as usize, progress).await;
    let error = result.as_ref().err().map(|err| format!("{err:#}"));
    let summary = finish(pool, tenant_id, run_id, error.as_deref()).await?;
    result.map(|()| summary)
}

/// Records that a run ended: done, or failed with `error`. A run that has
/// ended already keeps its outcome.
pub async fn finish(pool: &PgPool, tenant_id: Uuid, run_id: Uuid, error: Option<&str>) -> anyhow::Result<RunSummary> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    sqlx::query!(
        r#"UPDATE bill_runs SET status = CASE WHEN $2::text IS NULL THEN 'done' ELSE 'failed' END,
                  finished_at = now(), error = $2
           WHERE id = $1 AND status = 'running'"#,
        run_id,
        error
    )
    .execute(&mut *tx)
    .await?;
    let summary = summary(&mut tx, run_id).await?.ok_or_else(|| anyhow::anyhow!("run {run_id} vanished"))?;
    tx.commit().await?;
    Ok(summary)
}

/// Notes why a try of a running run failed (the run page shows it while
/// the job waits for its retry; finishing the run clears it).
pub async fn note_error(pool: &PgPool, tenant_id: Uuid, run_id: Uuid, error: &str) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    sqlx::query!("UPDATE bill_runs SET error = $2 WHERE id = $1 AND status = 'running'", run_id, error)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Bills a recorded run's customers in batches of `batch`, each batch one
/// transaction with the run's counts. It may run again after an interruption
/// (a process killed mid-run, a lost database connection): customers this
/// run billed or skipped already are passed over without being counted
/// twice, so the counts come out as those of an uninterrupted run.
pub async fn execute_batches(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Uuid,
    replaces: Option<Uuid>,
    batch_size: usize,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let run = sqlx::query!(
        r#"SELECT r.period, r.route_id, r.customer_id, r.status, t.time_zone
           FROM bill_runs r JOIN tenants t ON t.id = r.tenant_id WHERE r.id = $1"#,
        run_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| anyhow::anyhow!("bill run {run_id} does not exist"))?;
    if run.status != "running" {
        // Ended before its process could record the job's end.
        return Ok(());
    }
    let settings = billing_db::settings(&mut tx).await?;
    let tariffs = billing_db::tariffs_by_code(&mut tx).await?;
    // Every customer of the run, in id order, split into batches that
    // WORKERS transactions bill side by side (PostgreSQL gets a core each).
    let ids = sqlx::query_scalar!(
        r#"SELECT id FROM customers WHERE status = 'active' AND ($1::uuid IS NULL OR route_id = $1)
             AND ($2::uuid IS NULL OR id = $2) ORDER BY id"#,
        run.route_id,
        run.customer_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let total = ids.len() as u64;
    let tz: chrono_tz::Tz = run.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let issued_on = Utc::now().with_timezone(&tz).date_naive();
    let ctx = Context {
        tenant_id,
        run_id,
        period: run.period,
        until: months::next(run.period),
        replaces,
        issued_on,
        due_on: issued_on + chrono::Duration::days(settings.due_days),
        tariffs,
    };
    let ctx = std::sync::Arc::new(ctx);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    progress(0, total);
    // Owned chunks and shared state: the stream's futures borrow nothing per item.
    let chunks: Vec<Vec<Uuid>> = ids.chunks(batch_size.max(1)).map(<[Uuid]>::to_vec).collect();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(chunks)
        .map(|chunk| {
            let (ctx, done, pool) = (ctx.clone(), done.clone(), pool.clone());
            async move {
                let mut tx = db::begin_tenant(&pool, tenant_id, None).await?;
                let counts = batch(&mut tx, &ctx, &chunk).await?;
                sqlx::query!(
                    r#"UPDATE bill_runs SET bills = bills + $2, total_kwh = total_kwh + $3, total_amount = total_amount + $4,
                              skipped = skipped + $5, already = already + $6 WHERE tenant_id = $7 AND id = $1"#,
                    run_id,
                    counts.bills,
                    counts.kwh,
                    counts.amount,
                    counts.skipped,
                    counts.already,
                    tenant_id
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let so_far = done.fetch_add(counts.customers, std::sync::atomic::Ordering::Relaxed) + counts.customers;
                progress(so_far.min(total), total);
                Ok(())
            }
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(())
}

struct Customer {
    id: Uuid,
    account_no: String,
    tariff_code: String,
    capacity: Option<Decimal>,
    earlier: i64,
    credit: Option<serde_json::Value>,
}

#[derive(Default)]
struct Pending {
    segments: Vec<Segment>,
    detail: Vec<serde_json::Value>,
    capacity: Decimal,
    has_capacity: bool,
    skip: Option<(&'static str, String)>,
}

fn registers(
    total: Option<Decimal>,
    peak: Option<Decimal>,
    flat: Option<Decimal>,
    valley: Option<Decimal>,
    reactive: Option<Decimal>,
) -> Option<Registers> {
    Some(Registers {
        total: total?,
        bands: match (peak, flat, valley) {
            (Some(peak), Some(flat), Some(valley)) => Some(Bands { peak, flat, valley }),
            _ => None,
        },
        reactive,
    })
}

async fn batch(tx: &mut Tx, ctx: &Context, ids: &[Uuid]) -> anyhow::Result<Counts> {
    // The reads name the tenant on every table ($4): on a Citus cluster each
    // goes to the tenant's shard alone, not to all of them.
    let rows = sqlx::query!(
        r#"SELECT c.id, c.account_no, c.tariff_code, c.capacity_kva, b.n AS "n!", b.live AS "live!",
                  b.ours AS "ours!", cc.grade AS "grade?", cc.method AS "method?",
                  cc.security_required AS "security_required?"
           FROM customers c
           LEFT JOIN LATERAL (SELECT cr.grade, cr.method, cr.security_required FROM credit_ratings cr
                              WHERE cr.tenant_id = $4 AND cr.customer_id = c.id
                              ORDER BY cr.month DESC LIMIT 1) cc ON true
           CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(bool_or(b.status = 'issued'), false) AS live,
                                      coalesce(bool_or(b.run_id = $3), false)
                                      OR EXISTS (SELECT 1 FROM bill_run_skips s WHERE s.tenant_id = $4
                                                 AND s.run_id = $3 AND s.customer_id = c.id) AS ours
                               FROM bills b WHERE b.tenant_id = $4 AND b.customer_id = c.id AND b.period = $2) b
           WHERE c.tenant_id = $4 AND c.id = ANY($1) AND c.status = 'active'"#,
        ids,
        ctx.period,
        ctx.run_id,
        ctx.tenant_id
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut counts = Counts { customers: ids.len() as u64, ..Counts::default() };
    let mut customers = Vec::with_capacity(rows.len());
    for r in rows {
        if r.ours {
            // Billed or skipped by this run before it was interrupted: counted then.
        } else if r.live {
            counts.already += 1;
        } else {
            // The credit rating's payment-method decision, as the bill records it.
            let credit = r.grade.map(|grade| {
                serde_json::json!({ "grade": grade, "method": r.method, "security_required": r.security_required })
            });
            customers.push(Customer {
                id: r.id,
                account_no: r.account_no,
                tariff_code: r.tariff_code,
                capacity: r.capacity_kva,
                earlier: r.n,
                credit,
            });
        }
    }
    if customers.is_empty() {
        return Ok(counts);
    }
    let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let readings = sqlx::query!(
        r#"SELECT p.customer_id, p.capacity_kva AS point_capacity, m.serial, m.multiplier, m.register_digits,
                  i.installed_on, i.removed_on,
                  e.kind AS "e_kind?", e.status AS "e_status?", e.read_on AS "e_read_on?", e.total AS "e_total?",
                  e.peak AS "e_peak?", e.flat AS "e_flat?", e.valley AS "e_valley?", e.reactive AS "e_reactive?",
                  e.max_demand_kw AS "e_demand?", e.rollover AS "e_rollover?",
                  n.status AS "n_status?", n.read_on AS "n_read_on?", n.total AS "n_total?",
                  n.peak AS "n_peak?", n.flat AS "n_flat?", n.valley AS "n_valley?", n.reactive AS "n_reactive?",
                  s.read_on AS "s_read_on?", s.total AS "s_total?",
                  s.peak AS "s_peak?", s.flat AS "s_flat?", s.valley AS "s_valley?", s.reactive AS "s_reactive?"
           FROM supply_points p
           JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id
                AND i.installed_on < $3 AND (i.removed_on IS NULL OR i.removed_on >= $2)
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           LEFT JOIN LATERAL (
               SELECT r.kind, r.status, r.read_on, r.total, r.peak, r.flat, r.valley, r.reactive, r.max_demand_kw, r.rollover
               FROM meter_readings r
               WHERE r.tenant_id = $4 AND r.meter_id = i.meter_id AND r.period = $2
                 AND r.kind IN ('regular', 'removal') AND r.status <> 'superseded'
                 AND r.customer_id = p.customer_id
               ORDER BY r.kind = 'removal' DESC LIMIT 1) e ON true
           LEFT JOIN LATERAL (
               SELECT r.status, r.read_on, r.total, r.peak, r.flat, r.valley, r.reactive
               FROM meter_readings r
               WHERE r.tenant_id = $4 AND r.meter_id = i.meter_id AND r.period = $2
                 AND r.kind = 'installation' AND r.status <> 'superseded'
                 AND r.customer_id = p.customer_id
               LIMIT 1) n ON true
           LEFT JOIN LATERAL (
               SELECT r.read_on, r.total, r.peak, r.flat, r.valley, r.reactive
               FROM meter_readings r
               WHERE r.tenant_id = $4 AND r.meter_id = i.meter_id AND r.period < $2
                 AND r.status IN ('ok', 'accepted')
               ORDER BY r.read_on DESC, r.period DESC LIMIT 1) s ON i.installed_on < $2
           WHERE p.tenant_id = $4 AND p.customer_id = ANY($1) AND p.status = 'in_service'
           ORDER BY p.customer_id, i.installed_on, m.serial"#,
        &ids,
        ctx.period,
        ctx.until,
        ctx.tenant_id
    )
    .fetch_all(&mut **tx)
    .await?;
    // Credits waiting for these customers' next bill (a demand-response reward).
    let mut credits = crate::billing::credits::pending(tx, ctx.tenant_id, &ids).await?;
    let mut pending: HashMap<Uuid, Pending> = HashMap::with_capacity(customers.len());
    for r in readings {
        let p = pending.entry(r.customer_id).or_default();
        if let Some(c) = r.point_capacity {
            p.capacity += c;
            p.has_capacity = true;
        }
        if p.skip.is_some() {
            continue;
        }
        if r.e_status.as_deref() == Some("flagged") || r.n_status.as_deref() == Some("flagged") {
            p.skip = Some(("flagged", r.serial.clone()));
            continue;
        }
        let Some(end) = registers(r.e_total, r.e_peak, r.e_flat, r.e_valley, r.e_reactive) else {
            p.skip = Some(("no_reading", r.serial.clone()));
            continue;
        };
        // A meter installed in the period starts at its installation reading;
        // one that came with a premise transferred in the period starts at the
        // transfer reading (an installation reading of the new holder's), so
        // the new holder never pays for the old holder's use.
        let (start, start_on, start_kind) = if r.installed_on >= ctx.period {
            (registers(r.n_total, r.n_peak, r.n_flat, r.n_valley, r.n_reactive), r.n_read_on, "installation")
        } else if r.n_total.is_some() {
            (registers(r.n_total, r.n_peak, r.n_flat, r.n_valley, r.n_reactive), r.n_read_on, "transfer")
        } else {
            (registers(r.s_total, r.s_peak, r.s_flat, r.s_valley, r.s_reactive), r.s_read_on, "previous")
        };
        let Some(start) = start else {
            p.skip = Some(("no_previous_reading", r.serial.clone()));
            continue;
        };
        let rollover = r.e_rollover.unwrap_or(false);
        let end = if rollover { apply_rollover(&start, &end, r.register_digits as u32) } else { end };
        p.detail.push(serde_json::json!({
            "meter": r.serial,
            "multiplier": r.multiplier,
            "start": start.total, "start_on": start_on, "start_kind": start_kind,
            "end": end.total, "end_on": r.e_read_on, "end_kind": r.e_kind,
            "rollover": rollover,
            "kwh": calc::money((end.total - start.total) * r.multiplier),
        }));
        p.segments.push(Segment { meter: r.serial, multiplier: r.multiplier, start, end, max_demand_kw: r.e_demand });
    }

    let mut skip_ids = Vec::new();
    let mut skip_reasons = Vec::new();
    let mut skip_details = Vec::new();
    let mut bill_ids = Vec::new();
    let mut bill_nos = Vec::new();
    let mut bill_customers = Vec::new();
    let mut bill_tariffs = Vec::new();
    let mut bill_kwh = Vec::new();
    let mut bill_amounts = Vec::new();
    let mut bill_pf: Vec<Option<Decimal>> = Vec::new();
    let mut bill_details = Vec::new();
    let mut line_bill = Vec::new();
    let mut line_no = Vec::new();
    let mut line_kind = Vec::new();
    let mut line_tariff = Vec::new();
    let mut line_qty = Vec::new();
    let mut line_price = Vec::new();
    let mut line_amount = Vec::new();
    let mut credit_ids = Vec::new();
    let mut credit_bills = Vec::new();
    for c in &customers {
        let p = pending.remove(&c.id).unwrap_or_default();
        let skip =
            |reason: &'static str, detail: String, ids: &mut Vec<Uuid>, rs: &mut Vec<String>, ds: &mut Vec<String>| {
                ids.push(c.id);
                rs.push(reason.to_owned());
                ds.push(detail);
            };
        if let Some((reason, detail)) = p.skip {
            skip(reason, detail, &mut skip_ids, &mut skip_reasons, &mut skip_details);
            continue;
        }
        if p.segments.is_empty() {
            skip("no_meter", String::new(), &mut skip_ids, &mut skip_reasons, &mut skip_details);
            continue;
        }
        let Some(tariffs) = ctx.tariffs.get(&c.tariff_code) else {
            skip("no_tariff", c.tariff_code.clone(), &mut skip_ids, &mut skip_reasons, &mut skip_details);
            continue;
        };
        let capacity = c.capacity.or(p.has_capacity.then_some(p.capacity));
        let input =
            BillInput { from: ctx.period, until: ctx.until, segments: &p.segments, tariffs, capacity_kva: capacity };
        let bill = match calc::calculate(&input) {
            Ok(bill) => bill,
            Err(err) => {
                skip(skip_code(&err), err.to_string(), &mut skip_ids, &mut skip_reasons, &mut skip_details);
                continue;
            }
        };
        let id = Uuid::now_v7();
        for (n, l) in bill.lines.iter().enumerate() {
            line_bill.push(id);
            line_no.push(n as i16 + 1);
            line_kind.push(l.kind.code().to_owned());
            line_tariff.push(l.tariff_code.clone());
            line_qty.push(l.quantity);
            line_price.push(l.unit_price);
            line_amount.push(l.amount);
        }
        // Each credit the bill takes is a line that reduces it.
        let waiting = credits.remove(&c.id).unwrap_or_default();
        let mut total = bill.total;
        for (n, credit) in crate::billing::credits::apply(bill.total, &waiting).into_iter().enumerate() {
            line_bill.push(id);
            line_no.push((bill.lines.len() + n) as i16 + 1);
            line_kind.push(credit.kind.clone());
            line_tariff.push(c.tariff_code.clone());
            line_qty.push(credit.quantity);
            line_price.push(-credit.unit_price);
            line_amount.push(-credit.amount);
            total -= credit.amount;
            credit_ids.push(credit.id);
            credit_bills.push(id);
        }
        let detail = serde_json::json!({
            "segments": p.detail,
            "tiers": tier_allowances(tariffs, ctx.period, ctx.until),
            "capacity_kva": capacity,
            "credit": c.credit,
        });
        bill_ids.push(id);
        bill_nos.push(bill_no(ctx.period, &c.account_no, c.earlier));
        bill_customers.push(c.id);
        bill_tariffs.push(c.tariff_code.clone());
        bill_kwh.push(bill.energy_kwh);
        bill_amounts.push(total);
        bill_pf.push(bill.power_factor);
        bill_details.push(detail.to_string());
    }
    counts.skipped += skip_ids.len() as i32;
    if !skip_ids.is_empty() {
        sqlx::query!(
            r#"INSERT INTO bill_run_skips (tenant_id, run_id, customer_id, reason, detail)
               SELECT app_tenant_id(), $1, s.customer_id, s.reason, s.detail
               FROM unnest($2::uuid[], $3::text[], $4::text[]) AS s (customer_id, reason, detail)
               ON CONFLICT DO NOTHING"#,
            ctx.run_id,
            &skip_ids,
            &skip_reasons,
            &skip_details
        )
        .execute(&mut **tx)
        .await?;
    }
    if !bill_ids.is_empty() {
        let pf: Vec<String> = bill_pf.iter().map(|p| p.map(|v| v.to_string()).unwrap_or_default()).collect();
        let written = sqlx::query!(
            r#"WITH b AS (
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::numeric[], $6::numeric[],
                                      $7::text[], $8::text[])
                        AS t (id, bill_no, customer_id, tariff_code, energy_kwh, amount, pf, detail)
               ), ins AS (
                 INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, run_id, tariff_code, issued_on, due_on,
                                    energy_kwh, amount, power_factor, detail, replaces)
                 SELECT app_tenant_id(), b.id, b.bill_no, b.customer_id, $9, $10, b.tariff_code, $11, $12,
                        b.energy_kwh, b.amount, NULLIF(b.pf, '')::numeric, b.detail::jsonb, $20
                 FROM b
                 ON CONFLICT (tenant_id, customer_id, period) WHERE status = 'issued' DO NOTHING
                 RETURNING id, customer_id, bill_no, energy_kwh, amount
               ), lines AS (
                 INSERT INTO bill_lines (tenant_id, bill_id, line_no, kind, tariff_code, quantity, unit_price, amount)
                 SELECT app_tenant_id(), l.bill_id, l.line_no, l.kind, l.tariff_code, l.quantity, l.unit_price, l.amount
                 FROM unnest($13::uuid[], $14::int2[], $15::text[], $16::text[], $17::numeric[], $18::numeric[], $19::numeric[])
                        AS l (bill_id, line_no, kind, tariff_code, quantity, unit_price, amount)
                 WHERE l.bill_id IN (SELECT id FROM ins)
                 RETURNING NULL AS not_by_copy
               ), credited AS (
                 UPDATE bill_credits c SET bill_id = u.bill_id, applied_at = now()
                 FROM unnest($21::uuid[], $22::uuid[]) AS u (credit_id, bill_id)
                 WHERE c.id = u.credit_id AND c.bill_id IS NULL AND u.bill_id IN (SELECT id FROM ins)
               ), timeline AS (
                 INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, notice, title, status, link)
                 SELECT app_tenant_id(), gen_random_uuid(), ins.customer_id, now(), 'bill', 'bill_issued', ins.bill_no, 'issued',
                        '/bills/' || ins.id
                 FROM ins
                 RETURNING NULL AS not_by_copy
               )
               SELECT count(*) AS "bills!", coalesce(sum(energy_kwh), 0) AS "kwh!", coalesce(sum(amount), 0) AS "amount!"
               FROM ins"#,
            &bill_ids,
            &bill_nos,
            &bill_customers,
            &bill_tariffs,
            &bill_kwh,
            &bill_amounts,
            &pf,
            &bill_details,
            ctx.period,
            ctx.run_id,
            ctx.issued_on,
            ctx.due_on,
            &line_bill,
            &line_no,
            &line_kind,
            &line_tariff,
            &line_qty,
            &line_price,
            &line_amount,
            ctx.replaces,
            &credit_ids,
            &credit_bills
        )
        .fetch_one(&mut **tx)
        .await?;
        counts.bills += written.bills as i32;
        counts.kwh += written.kwh;
        counts.amount += written.amount;
        // Billed meanwhile by another run: counted as already billed.
        counts.already += bill_ids.len() as i32 - written.bills as i32;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_numbers_are_the_period_and_account_and_count_reissues() {
        let p = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(bill_no(p, "0100000001", 0), "2026110100000001");
        assert_eq!(bill_no(p, "0100000001", 1), "2026110100000001-2");
    }
}
