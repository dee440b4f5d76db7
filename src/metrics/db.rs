//! The SQL of the metrics: marking changed customer-months, and the refreshes
//! that recompute them set-based.
//!
//! An incremental refresh holds one connection and works in short
//! transactions on it, one per month and batch of customers, so the hourly
//! job never holds a long transaction. Each batch takes its changes with
//! DELETE … RETURNING in the transaction that recomputes them: a change
//! marked meanwhile stays for the next refresh, and a failed batch gives its
//! changes back. A full refresh is one transaction and one statement over
//! every month (`ALL_MONTHS`): a month at a time, each month's statement
//! re-read the payments of every month to split them on time and late.
//!
//! Rows get the refresh's start time as `computed_at`; a row of the refresh's
//! scope left with an older one had no activity any more and is deleted.

use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{Mode, RefreshReport};

/// Customers recomputed per transaction in an incremental refresh.
const BATCH_CUSTOMERS: i64 = 50_000;

/// From this many changed customers in a month on (or more than half the
/// tenant's customers), an incremental refresh recomputes the whole month in
/// one statement.
const WHOLE_MONTH_CUSTOMERS: u64 = 100_000;

/// Records that interval data changed for these (meter, local month) pairs:
/// the customers the meters served in those months get those months
/// recomputed. Called by the interval load in its own transaction.
pub async fn mark_interval_months(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    meters: &[Uuid],
    months: &[NaiveDate],
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
           SELECT DISTINCT $1::uuid, p.customer_id, x.month
           FROM unnest($2::uuid[], $3::date[]) AS x (meter_id, month)
           JOIN meter_installations i ON i.tenant_id = $1 AND i.meter_id = x.meter_id
                AND i.installed_on < x.month + 31 AND (i.removed_on IS NULL OR i.removed_on >= x.month)
           JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           ON CONFLICT DO NOTHING"#,
        tenant_id,
        meters,
        months
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One month of one customer, as other areas read it.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthMetrics {
    pub month: NaiveDate,
    pub energy_kwh: Decimal,
    pub billed: Decimal,
    pub paid_on_time: Decimal,
    pub paid_late: Decimal,
    pub arrears: Decimal,
    pub arrears_days: i32,
    pub late_fees: i32,
    pub reversals: i32,
    pub complaints: i32,
    pub work_orders: i32,
    pub load_rate: Option<Decimal>,
    pub peak_share: Option<Decimal>,
    pub yoy_growth: Option<Decimal>,
    pub tenure_months: i32,
}

/// A customer's last `months` rows, newest first.
pub async fn for_customer(conn: &mut PgConnection, customer_id: Uuid, months: i64) -> sqlx::Result<Vec<MonthMetrics>> {
    sqlx::query_as!(
        MonthMetrics,
        r#"SELECT month, energy_kwh, billed, paid_on_time, paid_late, arrears, arrears_days, late_fees, reversals,
                  complaints, work_orders, load_rate, peak_share, yoy_growth, tenure_months
           FROM customer_metrics WHERE tenant_id = app_tenant_id() AND customer_id = $1
           ORDER BY month DESC LIMIT $2"#,
        customer_id,
        months
    )
    .fetch_all(conn)
    .await
}

/// Recomputes the tenant's metrics: the changed customer-months, or (full)
/// every month. `progress` gets (done, total) in months (full) or changed
/// customer-months (incremental).
pub async fn refresh(
    pool: &PgPool,
    tenant_id: Uuid,
    mode: Mode,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<RefreshReport> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let result = refresh_on(&mut conn, tenant_id, mode, progress).await;
    match &result {
        Ok(_) => {
            sqlx::query("DROP TABLE IF EXISTS metric_late").execute(&mut *conn).await?;
        }
        // The session holds the tenant's figures in a temporary table: the
        // connection is closed rather than handed back to the pool.
        Err(_) => drop(conn.detach()),
    }
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Every tenant incrementally (the hourly job).
pub async fn refresh_all(pool: &PgPool) -> anyhow::Result<RefreshReport> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut total = RefreshReport::default();
    for tenant in tenants {
        total += refresh(pool, tenant, Mode::Incremental, &|_, _| {}).await?;
    }
    Ok(total)
}

/// A month's statement aggregates a whole tenant's customers by hash: with the
/// default work_mem its sorts and hashes spill to disk. Its plan is compiled
/// by the JIT at the cost estimates of a million rows, which takes longer
/// than running it (seconds per month).
const BATCH_SETTINGS: [&str; 2] = ["SET LOCAL work_mem = '128MB'", "SET LOCAL jit = off"];

/// A full refresh aggregates every month of the tenant in one statement: its
/// hashes hold tens of millions of customer-months.
const FULL_SETTINGS: [&str; 1] = ["SET LOCAL work_mem = '1GB'"];

/// Every month of a full refresh in one pass over each source: each source
/// gives rows of (customer, month, its figures), grouped once. A bill's energy
/// is also given to the month a year later as the base of that month's
/// growth; those rows, and the arrears, make no row on their own (`active`).
/// Parameters: $1 tenant, $2 time zone, $3 first month, $4 running month,
/// $5 today, $6 the stamp, $7/$8 the instants the months span.
const ALL_MONTHS: &str = r#"
WITH demand AS (
    SELECT s.customer_id, d.ts, sum(d.kw) AS kw
    FROM interval_data d
    JOIN meter_installations i ON i.tenant_id = d.tenant_id AND i.meter_id = d.meter_id
         AND i.installed_on <= (d.ts AT TIME ZONE $2)::date
         AND (i.removed_on IS NULL OR i.removed_on > (d.ts AT TIME ZONE $2)::date)
    JOIN supply_points s ON s.tenant_id = i.tenant_id AND s.id = i.supply_point_id
    WHERE d.tenant_id = $1 AND d.ts >= $7 AND d.ts < $8
    GROUP BY s.customer_id, d.ts
), late_last AS (
    SELECT bill_id, date_trunc('month', max(received_on))::date AS last_month FROM metric_late GROUP BY bill_id
), overdue_month AS (
    -- Each bill unpaid after its due date, at each month end (today, for the
    -- running month) until it was paid in full: unpaid now, or paid late.
    SELECT b.id, b.customer_id, b.due_on, b.amount - b.paid AS still_unpaid, m.month::date AS month, day.d
    FROM bills b
    LEFT JOIN late_last ll ON ll.bill_id = b.id
    CROSS JOIN LATERAL generate_series(
        date_trunc('month', b.due_on),
        CASE WHEN b.paid < b.amount THEN $4::date ELSE least($4::date, ll.last_month) END,
        interval '1 month') AS m (month)
    CROSS JOIN LATERAL (SELECT CASE WHEN m.month::date = $4::date THEN $5::date
                                    ELSE (m.month + interval '1 month' - interval '1 day')::date END AS d) AS day
    WHERE b.tenant_id = $1 AND b.status = 'issued' AND b.due_on < day.d
      AND (b.paid < b.amount OR ll.bill_id IS NOT NULL)
), overdue AS (
    -- Unpaid at the month end: what is unpaid now plus what was paid after it.
    -- (Joined, not a subquery per row: that scanned every late payment for
    -- each bill-month.)
    SELECT o.customer_id, o.month, o.due_on, o.still_unpaid + coalesce(sum(l.amount), 0) AS unpaid
    FROM overdue_month o
    LEFT JOIN metric_late l ON l.bill_id = o.id AND l.received_on > o.d
    GROUP BY o.id, o.customer_id, o.month, o.due_on, o.still_unpaid
), facts (customer_id, month, active, bills, energy, billed, late_fees, on_time, late, reversals, complaints,
          work_orders, load_rate, peak_share, base_bills, base_energy, arrears, oldest_due) AS (
    SELECT customer_id, period, 1, 1, energy_kwh, amount, (late_fee > 0)::int, 0, 0, 0, 0, 0,
           NULL::numeric, NULL::numeric, 0, 0, 0, NULL::date
    FROM bills WHERE tenant_id = $1 AND status = 'issued' AND period BETWEEN $3 AND $4
    UNION ALL
    SELECT customer_id, (period + interval '1 year')::date, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 1, energy_kwh, 0, NULL
    FROM bills WHERE tenant_id = $1 AND status = 'issued' AND period BETWEEN ($3 - interval '1 year')::date AND ($4 - interval '1 year')::date
    UNION ALL
    SELECT b.customer_id, b.period, 1, 0, 0, 0, 0,
           CASE WHEN (p.received_at AT TIME ZONE $2)::date <= b.due_on THEN a.amount ELSE 0 END,
           CASE WHEN (p.received_at AT TIME ZONE $2)::date > b.due_on THEN a.amount ELSE 0 END,
           0, 0, 0, NULL, NULL, 0, 0, 0, NULL
    FROM bills b
    JOIN payment_allocations a ON a.tenant_id = b.tenant_id AND a.bill_id = b.id AND a.part = 'bill'
    JOIN payments p ON p.tenant_id = a.tenant_id AND p.id = a.payment_id AND p.status = 'booked'
    WHERE b.tenant_id = $1 AND b.status = 'issued' AND b.period BETWEEN $3 AND $4
    UNION ALL
    SELECT customer_id, date_trunc('month', received_at AT TIME ZONE $2)::date, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           NULL, NULL, 0, 0, 0, NULL
    FROM payments WHERE tenant_id = $1 AND received_at >= $7 AND received_at < $8
    UNION ALL
    SELECT customer_id, date_trunc('month', reversed_at AT TIME ZONE $2)::date, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0,
           NULL, NULL, 0, 0, 0, NULL
    FROM payments WHERE tenant_id = $1 AND status = 'reversed' AND reversed_at >= $7 AND reversed_at < $8
    UNION ALL
    SELECT customer_id, received_month, 1, 0, 0, 0, 0, 0, 0, 0, (kind = 'complaint')::int, 0, NULL, NULL, 0, 0, 0, NULL
    FROM contacts WHERE tenant_id = $1 AND customer_id IS NOT NULL AND received_month BETWEEN $3 AND $4
    UNION ALL
    SELECT customer_id, created_month, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, NULL, NULL, 0, 0, 0, NULL
    FROM work_orders WHERE tenant_id = $1 AND customer_id IS NOT NULL AND created_month BETWEEN $3 AND $4
    UNION ALL
    SELECT customer_id, date_trunc('month', ts AT TIME ZONE $2)::date, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           round(avg(kw) / nullif(max(kw), 0), 4),
           round(sum(kw) FILTER (WHERE extract(hour FROM ts AT TIME ZONE $2) IN (8, 9, 10, 18, 19, 20))
                 / nullif(sum(kw), 0), 4),
           0, 0, 0, NULL
    FROM demand GROUP BY 1, 2
    UNION ALL
    SELECT customer_id, month, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, unpaid, due_on
    FROM overdue WHERE unpaid > 0
), months AS (
    SELECT customer_id, month, sum(bills) AS bills, sum(energy) AS energy, sum(billed) AS billed,
           sum(late_fees) AS late_fees, sum(on_time) AS on_time, sum(late) AS late, sum(reversals) AS reversals,
           sum(complaints) AS complaints, sum(work_orders) AS work_orders, max(load_rate) AS load_rate,
           max(peak_share) AS peak_share, sum(base_bills) AS base_bills, sum(base_energy) AS base_energy,
           sum(arrears) AS arrears, min(oldest_due) AS oldest_due
    FROM facts
    GROUP BY customer_id, month
    HAVING max(active) = 1
)
INSERT INTO customer_metrics AS m (tenant_id, customer_id, month, energy_kwh, billed, paid_on_time, paid_late,
                                   arrears, arrears_days, late_fees, reversals, complaints, work_orders,
                                   load_rate, peak_share, yoy_growth, tenure_months, computed_at)
SELECT $1, f.customer_id, f.month, f.energy, f.billed, f.on_time, f.late, f.arrears,
       coalesce(CASE WHEN f.month = $4 THEN $5::date ELSE (f.month + interval '1 month' - interval '1 day')::date END
                - f.oldest_due, 0),
       f.late_fees, f.reversals, f.complaints, f.work_orders, f.load_rate, f.peak_share,
       CASE WHEN f.bills > 0 AND f.base_bills > 0 AND f.base_energy > 0
            THEN least(greatest(round((f.energy - f.base_energy) / f.base_energy, 4), -9999), 9999) END,
       greatest(0, (extract(year FROM f.month) * 12 + extract(month FROM f.month))
                   - (extract(year FROM c.created_at AT TIME ZONE $2) * 12 + extract(month FROM c.created_at AT TIME ZONE $2)))::int,
       $6
FROM months f
JOIN customers c ON c.tenant_id = $1 AND c.id = f.customer_id
{on_conflict}
"#;

/// The conflict clause of a refresh over existing rows.
const UPSERT: &str = r#"ON CONFLICT (tenant_id, customer_id, month) DO UPDATE SET
    energy_kwh = excluded.energy_kwh, billed = excluded.billed, paid_on_time = excluded.paid_on_time,
    paid_late = excluded.paid_late, arrears = excluded.arrears, arrears_days = excluded.arrears_days,
    late_fees = excluded.late_fees, reversals = excluded.reversals, complaints = excluded.complaints,
    work_orders = excluded.work_orders, load_rate = excluded.load_rate, peak_share = excluded.peak_share,
    yoy_growth = excluded.yoy_growth, tenure_months = excluded.tenure_months, computed_at = excluded.computed_at"#;

/// A transaction of the tenant on the refresh's connection, holding the
/// tenant's refresh lock: two refreshes of a tenant take turns batch by batch.
async fn begin<'c>(conn: &'c mut PgConnection, tenant_id: Uuid) -> sqlx::Result<Transaction<'c, Postgres>> {
    let mut tx = conn.begin().await?;
    crate::db::set_tenant(&mut tx, tenant_id, None).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('customer_metrics:' || $1::text, 0))")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    for setting in BATCH_SETTINGS {
        sqlx::query(setting).execute(&mut *tx).await?;
    }
    Ok(tx)
}

/// What every batch of a refresh needs to know.
struct Context {
    tenant_id: Uuid,
    tz: Tz,
    today: NaiveDate,
    /// The refresh's start: its rows' `computed_at`.
    stamp: DateTime<Utc>,
}

async fn refresh_on(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    mode: Mode,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<RefreshReport> {
    let mut tx = begin(conn, tenant_id).await?;
    let row = sqlx::query!(r#"SELECT time_zone, clock_timestamp() AS "stamp!" FROM tenants WHERE id = $1"#, tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    let tz: Tz = row.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let cx = Context { tenant_id, tz, today: row.stamp.with_timezone(&tz).date_naive(), stamp: row.stamp };
    match mode {
        Mode::Full => full(conn, &cx, progress).await,
        Mode::Incremental => incremental(conn, &cx, progress).await,
    }
}

async fn full(
    conn: &mut PgConnection,
    cx: &Context,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<RefreshReport> {
    const STEPS: u64 = 3;
    progress(0, STEPS);
    let running = crate::months::start_of(cx.today);
    // One transaction: readers keep the previous figures until it commits.
    let mut tx = begin(conn, cx.tenant_id).await?;
    for setting in FULL_SETTINGS {
        sqlx::query(setting).execute(&mut *tx).await?;
    }
    // Everything marked so far is covered by what follows.
    sqlx::query!("DELETE FROM customer_metric_changes WHERE tenant_id = $1", cx.tenant_id).execute(&mut *tx).await?;
    let first = sqlx::query_scalar!(
        r#"SELECT least((SELECT min(period) FROM bills WHERE tenant_id = $1),
                        (SELECT date_trunc('month', min(received_at) AT TIME ZONE $2)::date FROM payments WHERE tenant_id = $1),
                        (SELECT min(received_month) FROM contacts WHERE tenant_id = $1 AND customer_id IS NOT NULL),
                        (SELECT min(created_month) FROM work_orders WHERE tenant_id = $1 AND customer_id IS NOT NULL))"#,
        cx.tenant_id,
        cx.tz.name()
    )
    .fetch_one(&mut *tx)
    .await?
    .unwrap_or(running);
    let first = crate::months::start_of(first).min(running);
    let had_rows: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customer_metrics WHERE tenant_id = $1)")
        .bind(cx.tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    collect_late_payments(&mut tx, cx, None, None).await?;
    progress(1, STEPS);
    let (from, to) = (local_midnight(cx, first)?, local_midnight(cx, crate::months::next(running))?);
    // Into a table with rows, an upsert; into an empty one (a first refresh,
    // a rebuild), a plain insert, which is much cheaper per row (returning
    // only NULLs: db::NOT_BY_COPY).
    let sql = ALL_MONTHS.replace("{on_conflict}", if had_rows { UPSERT } else { crate::db::NOT_BY_COPY });
    let recomputed = sqlx::query(&sql)
        .bind(cx.tenant_id)
        .bind(cx.tz.name())
        .bind(first)
        .bind(running)
        .bind(cx.today)
        .bind(cx.stamp)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let removed = if had_rows {
        sqlx::query("DELETE FROM customer_metrics WHERE tenant_id = $1 AND computed_at < $2")
            .bind(cx.tenant_id)
            .bind(cx.stamp)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    } else {
        0
    };
    tx.commit().await?;
    progress(2, STEPS);
    crate::db::analyze_tables(conn, &["customer_metrics"]).await?;
    progress(3, STEPS);
    Ok(RefreshReport { recomputed, removed, seconds: 0.0 })
}

/// The start of a local day as an instant.
fn local_midnight(cx: &Context, d: NaiveDate) -> anyhow::Result<DateTime<Utc>> {
    let local = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    Ok(local
        .and_local_timezone(cx.tz)
        .earliest()
        .ok_or_else(|| anyhow::anyhow!("no midnight on {d} in {}", cx.tz))?
        .with_timezone(&Utc))
}

async fn incremental(
    conn: &mut PgConnection,
    cx: &Context,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<RefreshReport> {
    let running = crate::months::start_of(cx.today);
    let mut tx = begin(conn, cx.tenant_id).await?;
    // Arrears age every day: the running month of customers with an overdue
    // unpaid bill (the bills_unpaid index) is always recomputed.
    sqlx::query!(
        r#"INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
           SELECT DISTINCT $1::uuid, customer_id, $2::date FROM bills
           WHERE tenant_id = $1 AND status = 'issued' AND (paid < amount OR late_fee_paid < late_fee)
             AND paid < amount AND due_on < $3
           ON CONFLICT DO NOTHING"#,
        cx.tenant_id,
        running,
        cx.today
    )
    .execute(&mut *tx)
    .await?;
    let pending = sqlx::query!(
        r#"SELECT month, count(*) AS "n!" FROM customer_metric_changes WHERE tenant_id = $1 GROUP BY month ORDER BY month"#,
        cx.tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let total: u64 = pending.iter().map(|p| p.n as u64).sum();
    let mut done = 0u64;
    let mut report = RefreshReport::default();
    progress(0, total);
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE tenant_id = $1")
        .bind(cx.tenant_id)
        .fetch_one(&mut *conn)
        .await?;
    let whole_month = WHOLE_MONTH_CUSTOMERS.min(customers as u64 / 2 + 1);
    for (month, changed) in pending.iter().map(|p| (p.month, p.n as u64)) {
        if changed >= whole_month
            && let Some(day) = super::arrears_day(month, cx.today)
        {
            // A bill run, a big import: the month of everyone at once is one
            // set of index scans instead of many batches of the same scans.
            let mut tx = begin(conn, cx.tenant_id).await?;
            let taken = sqlx::query("DELETE FROM customer_metric_changes WHERE tenant_id = $1 AND month = $2")
                .bind(cx.tenant_id)
                .bind(month)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            collect_late_payments(&mut tx, cx, None, Some(day)).await?;
            report += compute_month(&mut tx, cx, month, None).await?;
            tx.commit().await?;
            done += taken;
            progress(done.min(total), total);
            continue;
        }
        loop {
            let mut tx = begin(conn, cx.tenant_id).await?;
            let customers = sqlx::query_scalar!(
                r#"DELETE FROM customer_metric_changes c
                   WHERE c.tenant_id = $1 AND c.month = $2
                     AND c.customer_id IN (SELECT customer_id FROM customer_metric_changes
                                           WHERE tenant_id = $1 AND month = $2 LIMIT $3)
                   RETURNING c.customer_id"#,
                cx.tenant_id,
                month,
                BATCH_CUSTOMERS
            )
            .fetch_all(&mut *tx)
            .await?;
            if customers.is_empty() {
                tx.commit().await?;
                break;
            }
            if month > running {
                // A bill period ahead of the calendar: nothing to compute yet;
                // a row left from before goes.
                report.removed += sqlx::query!(
                    "DELETE FROM customer_metrics WHERE tenant_id = $1 AND month = $2 AND customer_id = ANY($3)",
                    cx.tenant_id,
                    month,
                    &customers
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
            } else {
                // The late payments of the changed customers; rebuilt for each
                // batch (another batch may have other customers).
                collect_late_payments(&mut tx, cx, Some(&customers), None).await?;
                report += compute_month(&mut tx, cx, month, Some(&customers)).await?;
            }
            tx.commit().await?;
            done += customers.len() as u64;
            progress(done.min(total), total);
        }
    }
    Ok(report)
}

/// Fills the session's `metric_late` with the payments received after their
/// bill's due date (booked, to the bill itself): at a month end between the
/// due date and the payment, the bill was still unpaid by that much. The
/// arrears of a month end are then the bills unpaid now plus these. With
/// `after`, only the payments received after that day: all one month's
/// arrears need.
async fn collect_late_payments(
    tx: &mut PgConnection,
    cx: &Context,
    customers: Option<&[Uuid]>,
    after: Option<NaiveDate>,
) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS metric_late (bill_id uuid NOT NULL, received_on date NOT NULL,
                                                      amount numeric NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("TRUNCATE metric_late").execute(&mut *tx).await?;
    let sql = format!(
        "INSERT INTO metric_late (bill_id, received_on, amount)
         SELECT b.id, (p.received_at AT TIME ZONE $2)::date, a.amount
         FROM bills b
         JOIN payment_allocations a ON a.tenant_id = b.tenant_id AND a.bill_id = b.id AND a.part = 'bill'
         JOIN payments p ON p.tenant_id = a.tenant_id AND p.id = a.payment_id AND p.status = 'booked'
         WHERE b.tenant_id = $1 AND b.status = 'issued' AND (p.received_at AT TIME ZONE $2)::date > b.due_on {} {}",
        if customers.is_some() { "AND b.customer_id = ANY($3)" } else { "" },
        if after.is_some() { "AND p.received_at >= $4" } else { "" }
    );
    let since = match after {
        Some(day) => local_midnight(cx, day.succ_opt().unwrap_or(day))?,
        None => cx.stamp,
    };
    sqlx::query(&sql)
        .bind(cx.tenant_id)
        .bind(cx.tz.name())
        .bind(customers.unwrap_or(&[]))
        .bind(since)
        .execute(&mut *tx)
        .await?;
    sqlx::query("ANALYZE metric_late").execute(&mut *tx).await?;
    Ok(())
}

/// The month's statement. `{scope:x}` becomes the customer filter on alias
/// x when a batch of customers is recomputed, nothing for a full month.
/// Parameters: $1 tenant, $2 month, $3 time zone, $4 the arrears day,
/// $5 customers, $6 the stamp, $7/$8 the month's start and end instants.
const COMPUTE_MONTH: &str = r#"
WITH bill AS (
    SELECT b.customer_id, sum(b.energy_kwh) AS energy, sum(b.amount) AS billed,
           count(*) FILTER (WHERE b.late_fee > 0) AS late_fees
    FROM bills b
    WHERE b.tenant_id = $1 AND b.period = $2 AND b.status = 'issued' {scope:b}
    GROUP BY b.customer_id
), paid AS (
    SELECT b.customer_id,
           sum(a.amount) FILTER (WHERE (p.received_at AT TIME ZONE $3)::date <= b.due_on) AS on_time,
           sum(a.amount) FILTER (WHERE (p.received_at AT TIME ZONE $3)::date > b.due_on) AS late
    FROM bills b
    JOIN payment_allocations a ON a.tenant_id = b.tenant_id AND a.bill_id = b.id AND a.part = 'bill'
    JOIN payments p ON p.tenant_id = a.tenant_id AND p.id = a.payment_id AND p.status = 'booked'
    WHERE b.tenant_id = $1 AND b.period = $2 AND b.status = 'issued' {scope:b}
    GROUP BY b.customer_id
), received AS (
    SELECT p.customer_id FROM payments p
    WHERE p.tenant_id = $1 AND p.received_at >= $7 AND p.received_at < $8 {scope:p}
), reversed AS (
    SELECT p.customer_id, count(*) AS n FROM payments p
    WHERE p.tenant_id = $1 AND p.status = 'reversed' AND p.reversed_at >= $7 AND p.reversed_at < $8 {scope:p}
    GROUP BY p.customer_id
), complained AS (
    SELECT c.customer_id, count(*) FILTER (WHERE c.kind = 'complaint') AS n FROM contacts c
    WHERE c.tenant_id = $1 AND c.received_month = $2 AND c.customer_id IS NOT NULL {scope:c}
    GROUP BY c.customer_id
), ordered AS (
    SELECT w.customer_id, count(*) AS n FROM work_orders w
    WHERE w.tenant_id = $1 AND w.created_month = $2 AND w.customer_id IS NOT NULL {scope:w}
    GROUP BY w.customer_id
), demand AS (
    SELECT s.customer_id, d.ts, sum(d.kw) AS kw
    FROM interval_data d
    JOIN meter_installations i ON i.tenant_id = d.tenant_id AND i.meter_id = d.meter_id
         AND i.installed_on <= (d.ts AT TIME ZONE $3)::date
         AND (i.removed_on IS NULL OR i.removed_on > (d.ts AT TIME ZONE $3)::date)
    JOIN supply_points s ON s.tenant_id = i.tenant_id AND s.id = i.supply_point_id
    WHERE d.tenant_id = $1 AND d.ts >= $7 AND d.ts < $8 {scope:s}
    GROUP BY s.customer_id, d.ts
), load AS (
    SELECT customer_id,
           round(avg(kw) / nullif(max(kw), 0), 4) AS load_rate,
           round(sum(kw) FILTER (WHERE extract(hour FROM ts AT TIME ZONE $3) IN (8, 9, 10, 18, 19, 20))
                 / nullif(sum(kw), 0), 4) AS peak_share
    FROM demand GROUP BY customer_id
), late_after AS (
    SELECT bill_id, sum(amount) AS amount FROM metric_late WHERE received_on > $4 GROUP BY bill_id
), owed AS (
    SELECT b.customer_id, b.due_on, b.amount - b.paid + coalesce(l.amount, 0) AS unpaid
    FROM bills b LEFT JOIN late_after l ON l.bill_id = b.id
    WHERE b.tenant_id = $1 AND b.status = 'issued' AND (b.paid < b.amount OR b.late_fee_paid < b.late_fee)
      AND b.paid < b.amount AND b.due_on < $4 {scope:b}
    UNION ALL
    SELECT b.customer_id, b.due_on, b.amount - b.paid + l.amount
    FROM late_after l JOIN bills b ON b.tenant_id = $1 AND b.id = l.bill_id
    WHERE b.status = 'issued' AND b.paid >= b.amount AND b.due_on < $4
), arrears AS (
    SELECT customer_id, sum(unpaid) AS amount, $4 - min(due_on) AS days
    FROM owed WHERE unpaid > 0 GROUP BY customer_id
), keys AS (
    SELECT customer_id FROM bill UNION SELECT customer_id FROM paid UNION SELECT customer_id FROM received
    UNION SELECT customer_id FROM reversed UNION SELECT customer_id FROM complained
    UNION SELECT customer_id FROM ordered UNION SELECT customer_id FROM load
), year_before AS (
    SELECT b.customer_id, sum(b.energy_kwh) AS energy FROM bills b
    WHERE b.tenant_id = $1 AND b.period = ($2::date - interval '1 year')::date AND b.status = 'issued' {scope:b}
    GROUP BY b.customer_id
)
INSERT INTO customer_metrics AS m (tenant_id, customer_id, month, energy_kwh, billed, paid_on_time, paid_late,
                                   arrears, arrears_days, late_fees, reversals, complaints, work_orders,
                                   load_rate, peak_share, yoy_growth, tenure_months, computed_at)
SELECT $1, k.customer_id, $2, coalesce(bill.energy, 0), coalesce(bill.billed, 0),
       coalesce(paid.on_time, 0), coalesce(paid.late, 0), coalesce(arrears.amount, 0), coalesce(arrears.days, 0),
       coalesce(bill.late_fees, 0), coalesce(reversed.n, 0), coalesce(complained.n, 0), coalesce(ordered.n, 0),
       load.load_rate, load.peak_share,
       CASE WHEN bill.energy IS NOT NULL AND year_before.energy > 0
            THEN least(greatest(round((bill.energy - year_before.energy) / year_before.energy, 4), -9999), 9999) END,
       greatest(0, (extract(year FROM $2::date) * 12 + extract(month FROM $2::date))
                   - (extract(year FROM c.created_at AT TIME ZONE $3) * 12 + extract(month FROM c.created_at AT TIME ZONE $3)))::int,
       $6
FROM keys k
JOIN customers c ON c.tenant_id = $1 AND c.id = k.customer_id
LEFT JOIN bill ON bill.customer_id = k.customer_id
LEFT JOIN paid ON paid.customer_id = k.customer_id
LEFT JOIN reversed ON reversed.customer_id = k.customer_id
LEFT JOIN complained ON complained.customer_id = k.customer_id
LEFT JOIN ordered ON ordered.customer_id = k.customer_id
LEFT JOIN load ON load.customer_id = k.customer_id
LEFT JOIN arrears ON arrears.customer_id = k.customer_id
LEFT JOIN year_before ON year_before.customer_id = k.customer_id
{on_conflict}
"#;

/// The statement for a full month (`scoped` false) or a batch of customers.
fn compute_sql(scoped: bool) -> String {
    let mut sql = COMPUTE_MONTH.replace("{on_conflict}", UPSERT);
    for alias in ["b", "p", "c", "w", "s"] {
        let filter = if scoped { format!("AND {alias}.customer_id = ANY($5)") } else { String::new() };
        sql = sql.replace(&format!("{{scope:{alias}}}"), &filter);
    }
    sql
}

/// Recomputes one month (of a batch of customers, or everyone) and deletes
/// the rows of that scope left without activity.
async fn compute_month(
    tx: &mut PgConnection,
    cx: &Context,
    month: NaiveDate,
    customers: Option<&[Uuid]>,
) -> anyhow::Result<RefreshReport> {
    let Some(day) = super::arrears_day(month, cx.today) else { return Ok(RefreshReport::default()) };
    let (from, to) = (local_midnight(cx, month)?, local_midnight(cx, crate::months::next(month))?);
    let ids: &[Uuid] = customers.unwrap_or(&[]);
    let upserted = sqlx::query(&compute_sql(customers.is_some()))
        .bind(cx.tenant_id)
        .bind(month)
        .bind(cx.tz.name())
        .bind(day)
        .bind(ids)
        .bind(cx.stamp)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let removed = match customers {
        None => sqlx::query!(
            "DELETE FROM customer_metrics WHERE tenant_id = $1 AND month = $2 AND computed_at < $3",
            cx.tenant_id,
            month,
            cx.stamp
        )
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        Some(ids) => sqlx::query!(
            r#"DELETE FROM customer_metrics
               WHERE tenant_id = $1 AND month = $2 AND computed_at < $3 AND customer_id = ANY($4)"#,
            cx.tenant_id,
            month,
            cx.stamp,
            ids
        )
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    Ok(RefreshReport { recomputed: upserted, removed, seconds: 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_filters_every_source_by_its_customers_and_a_full_month_none() {
        let scoped = compute_sql(true);
        assert!(!scoped.contains("{scope"), "every placeholder filled");
        assert_eq!(scoped.matches("= ANY($5)").count(), COMPUTE_MONTH.matches("{scope:").count());
        let full = compute_sql(false);
        assert!(!full.contains("{scope") && !full.contains("ANY($5)"));
    }
}
