//! Load anomalies in the database: the scan over `load_days` (the job and
//! the command), the records, and acknowledging one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use futures_util::TryStreamExt;
use rust_decimal::{Decimal, prelude::FromPrimitive};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::detect::{self, Params};

/// Days of history a scan looks at (nine weeks, ending yesterday).
pub const WINDOW_DAYS: u64 = 63;

/// What a scan of one tenant did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Meters with load days in the window.
    pub meters: u64,
    /// New anomalies recorded.
    pub found: u64,
}

/// One meter's daily energy over the window, missing days `None`.
struct MeterSeries {
    meter_id: Uuid,
    first: NaiveDate,
    days: Vec<Option<f64>>,
}

struct Found {
    meter_id: Uuid,
    change_day: NaiveDate,
    change: detect::Change,
}

fn detect_in(s: &MeterSeries, p: &Params) -> Option<Found> {
    let weekday = s.first.weekday().num_days_from_monday() as usize;
    let change = detect::detect(&s.days, weekday, p)?;
    let change_day = s.first.checked_add_days(Days::new(change.index as u64))?;
    Some(Found { meter_id: s.meter_id, change_day, change })
}

fn decimal(x: f64, places: u32) -> Decimal {
    Decimal::from_f64(x).unwrap_or_default().round_dp(places)
}

/// Scans the current tenant's meters (in the caller's transaction): each
/// meter's daily energy from [`WINDOW_DAYS`] before `today` (or from the last
/// change recorded for it, when later) to yesterday, the days of the
/// tenant's calendar (holidays, make-up working days) left out; a change
/// found is recorded for the customer the meter served on the change day,
/// and raised as the `load_anomaly` notice event on the customer's
/// timeline. The unique key makes a second scan record nothing twice.
pub async fn scan(conn: &mut PgConnection, today: NaiveDate) -> sqlx::Result<Scanned> {
    let from = today.checked_sub_days(Days::new(WINDOW_DAYS)).unwrap_or(today);
    let to = today.pred_opt().unwrap_or(today);
    let last: HashMap<Uuid, NaiveDate> =
        sqlx::query!(r#"SELECT meter_id, max(change_day) AS "last!" FROM load_anomalies GROUP BY meter_id"#)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.meter_id, r.last))
            .collect();
    let skipped: HashSet<NaiveDate> =
        sqlx::query_scalar!("SELECT day FROM calendar_days WHERE day BETWEEN $1 AND $2", from, to)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let params = Params::default();
    let mut found = Vec::new();
    let mut meters = 0u64;
    {
        // Each day's sum and count of readings, added up by the database:
        // a meter's nine weeks are 63 small rows, not 6,048 floats.
        let mut rows = sqlx::query!(
            r#"SELECT d.meter_id, d.day, d.minutes, s.total, s.present AS "present!", cardinality(d.kw) AS "slots!"
               FROM load_days d
               CROSS JOIN LATERAL (SELECT sum(x) AS total, count(x) AS present FROM unnest(d.kw) AS x) s
               WHERE d.day BETWEEN $1 AND $2
               ORDER BY d.meter_id, d.day"#,
            from,
            to
        )
        .fetch(&mut *conn);
        let mut current: Option<MeterSeries> = None;
        while let Some(r) = rows.try_next().await? {
            if current.as_ref().is_none_or(|c| c.meter_id != r.meter_id) {
                if let Some(done) = current.take() {
                    found.extend(detect_in(&done, &params));
                }
                meters += 1;
                let first = last.get(&r.meter_id).map_or(from, |l| (*l).max(from));
                let len = (to - first).num_days().max(0) as usize + 1;
                current = Some(MeterSeries { meter_id: r.meter_id, first, days: vec![None; len] });
            }
            let series = current.as_mut().expect("set above");
            if r.day < series.first || skipped.contains(&r.day) {
                continue;
            }
            let energy = detect::daily_energy_from(
                r.minutes,
                r.total.unwrap_or(0.0),
                usize::try_from(r.present).unwrap_or(0),
                usize::try_from(r.slots).unwrap_or(0),
            );
            if let Some(slot) = series.days.get_mut((r.day - series.first).num_days() as usize) {
                *slot = energy;
            }
        }
        if let Some(done) = current.take() {
            found.extend(detect_in(&done, &params));
        }
    }
    let mut recorded = 0;
    for f in found {
        if record(conn, &f).await? {
            recorded += 1;
        }
    }
    Ok(Scanned { meters, found: recorded })
}

/// Records one change (unless the meter has it already) and raises the
/// notice event; false when there was nothing new or the meter served no
/// active customer on the day.
async fn record(conn: &mut PgConnection, f: &Found) -> sqlx::Result<bool> {
    let c = &f.change;
    let direction = super::direction(c.relative);
    // Who the meter served on the day, then the insert: in two statements,
    // because Citus cannot send an INSERT … SELECT … LIMIT to the shard whole.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let served = sqlx::query!(
        r#"SELECT p.customer_id, m.serial
           FROM meter_installations i
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id AND c.status = 'active'
           WHERE i.tenant_id = $1 AND i.meter_id = $2 AND i.installed_on <= $3
             AND (i.removed_on IS NULL OR i.removed_on > $3)
           ORDER BY i.installed_on DESC LIMIT 1"#,
        tenant_id,
        f.meter_id,
        f.change_day
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(served) = served else { return Ok(false) };
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO load_anomalies (tenant_id, id, meter_id, customer_id, change_day, direction, size_pct,
                                      before_kwh, after_kwh, score)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (tenant_id, meter_id, change_day) DO NOTHING
           RETURNING id"#,
        tenant_id,
        Uuid::now_v7(),
        f.meter_id,
        served.customer_id,
        f.change_day,
        direction,
        decimal(c.relative * 100.0, 1),
        decimal(c.before, 3),
        decimal(c.after.max(0.0), 3),
        c.score
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else { return Ok(false) };
    let link = format!("/load-anomalies/{id}");
    let title = format!("{} {} {}", served.serial, super::percent(c.relative), f.change_day);
    let entry = crate::timeline::Entry {
        kind: "load_anomaly",
        notice: Some(crate::notices::Kind::LoadAnomaly.as_str()),
        title: &title,
        status: direction,
        link: &link,
    };
    crate::timeline::record(conn, served.customer_id, Utc::now(), entry).await?;
    Ok(true)
}

/// Scans one tenant now, in its own transaction, and notes the day.
pub async fn scan_tenant(pool: &PgPool, tenant: Uuid) -> sqlx::Result<Scanned> {
    let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let scanned = scan(&mut tx, today).await?;
    sqlx::query!(
        r#"INSERT INTO load_anomaly_scans (tenant_id, scanned_on, meters, found) VALUES (app_tenant_id(), $1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET scanned_on = excluded.scanned_on, meters = excluded.meters,
                                                 found = excluded.found, at = EXCLUDED.at"#,
        today,
        scanned.meters as i32,
        scanned.found as i32
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(scanned)
}

/// The hourly job: every tenant not yet scanned on its local today (the
/// scans' table is under the tenant policy: each tenant looks at its own).
pub async fn scan_everywhere(pool: &PgPool) -> sqlx::Result<Scanned> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut total = Scanned::default();
    for tenant in tenants {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        let done = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM load_anomaly_scans s JOIN tenants t ON t.id = s.tenant_id
                              WHERE s.scanned_on >= (now() AT TIME ZONE t.time_zone)::date) AS "done!""#
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if done {
            continue;
        }
        let s = scan_tenant(pool, tenant).await?;
        total.meters += s.meters;
        total.found += s.found;
    }
    Ok(total)
}

/// A recorded anomaly with what its pages show.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Anomaly {
    pub id: Uuid,
    pub meter_id: Uuid,
    pub meter_serial: String,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    pub manager_name: Option<String>,
    pub change_day: NaiveDate,
    pub direction: String,
    pub size_pct: Decimal,
    pub before_kwh: Decimal,
    pub after_kwh: Decimal,
    pub score: f64,
    pub detected_at: DateTime<Utc>,
    pub status: String,
    pub acknowledged_by_label: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub note: String,
}

const SELECT: &str = "SELECT a.id, a.meter_id, m.serial AS meter_serial, a.customer_id, c.account_no, \
     c.name AS customer_name, u.display_name AS manager_name, a.change_day, a.direction, a.size_pct, \
     a.before_kwh, a.after_kwh, a.score, a.detected_at, a.status, a.acknowledged_by_label, a.acknowledged_at, a.note \
     FROM load_anomalies a \
     JOIN meters m ON m.tenant_id = a.tenant_id AND m.id = a.meter_id \
     JOIN customers c ON c.tenant_id = a.tenant_id AND c.id = a.customer_id \
     LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id";

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Anomaly>> {
    sqlx::query_as(&format!("{SELECT} WHERE a.id = $1")).bind(id).fetch_optional(conn).await
}

/// The tenant's anomalies, newest first, after the cursor (`detected_at`,
/// `id` of the last one shown): those of one manager's customers when
/// `manager` is given, only open ones when `open_only`.
pub async fn list(
    conn: &mut PgConnection,
    manager: Option<Uuid>,
    open_only: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Anomaly>> {
    let (after_at, after_id) = after.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::uuid IS NULL OR c.account_manager_id = $1) AND (NOT $2 OR a.status = 'open')
           AND ($3::timestamptz IS NULL OR (a.detected_at, a.id) < ($3, $4))
         ORDER BY a.detected_at DESC, a.id DESC LIMIT $5"
    ))
    .bind(manager)
    .bind(open_only)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A day's energy for the chart, `None` when the day is missing.
pub async fn daily_energy(
    conn: &mut PgConnection,
    meter: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(NaiveDate, Option<f64>)>> {
    let rows = sqlx::query!(
        r#"SELECT d.day, d.minutes, s.total, s.present AS "present!", cardinality(d.kw) AS "slots!"
           FROM load_days d
           CROSS JOIN LATERAL (SELECT sum(x) AS total, count(x) AS present FROM unnest(d.kw) AS x) s
           WHERE d.meter_id = $1 AND d.day BETWEEN $2 AND $3"#,
        meter,
        from,
        to
    )
    .fetch_all(conn)
    .await?;
    let by_day: HashMap<NaiveDate, Option<f64>> = rows
        .into_iter()
        .map(|r| {
            let e = detect::daily_energy_from(
                r.minutes,
                r.total.unwrap_or(0.0),
                usize::try_from(r.present).unwrap_or(0),
                usize::try_from(r.slots).unwrap_or(0),
            );
            (r.day, e)
        })
        .collect();
    Ok(from.iter_days().take_while(|d| *d <= to).map(|d| (d, by_day.get(&d).copied().flatten())).collect())
}

/// Acknowledges an open anomaly; false when it is not open (any more).
pub async fn acknowledge(
    conn: &mut PgConnection,
    id: Uuid,
    user: Option<Uuid>,
    label: &str,
    note: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE load_anomalies SET status = 'acknowledged', acknowledged_by = $2, acknowledged_by_label = $3,
                  acknowledged_at = now(), note = $4
           WHERE id = $1 AND status = 'open'"#,
        id,
        user,
        label,
        note
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
