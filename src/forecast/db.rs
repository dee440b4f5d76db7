//! The forecast refresh (reading `load_days`, forecasting every meter,
//! customer and aggregate, storing the forecasts) and the reads the API and
//! the pages use.
//!
//! A refresh of one tenant forecasts its local tomorrow (or a given day)
//! from the [`HISTORY_DAYS`] days before it:
//! - every meter with data in the last week before the day;
//! - every customer: the sum of its installed meters (a customer with one
//!   meter shares its meter's forecast: the same series);
//! - every reading route, industry and the tenant: the sums of their
//!   customers' loads (a meter in no customer counts in the tenant only).
//!   A slot sums the members that have a reading there, so a member's
//!   missing reading lowers the sum rather than blanking the slot. Members
//!   at 15 minutes and at 30 sum at 30 minutes.
//!
//! `load_days` is read in batches of about [`BATCH_METERS`] meters (one row
//! per meter-day), and each batch is forecast on every core while the next
//! batch is read.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    dayahead::{self, Calendar, DayAhead, Days},
    energy::{self, Energy, Expansion},
};

/// Days of history a refresh reads: Holt–Winters' eight training weeks
/// before the first of the two held-out weeks.
pub const HISTORY_DAYS: i64 = 70;
/// A series with no reading in the week before the day is not forecast.
pub const STALE_DAYS: i64 = 7;
pub const BATCH_METERS: usize = 1000;
/// Days stored forecasts are kept after their day.
pub const KEEP_DAYS: i32 = 400;

/// The subject kinds of `forecasts`.
pub const SUBJECT_KINDS: [&str; 5] = ["meter", "customer", "route", "industry", "tenant"];

#[derive(Clone, Debug, Default, Serialize)]
pub struct RefreshReport {
    pub target_day: Option<NaiveDate>,
    /// Nothing changed since the last refresh of the day: nothing was done.
    pub unchanged: bool,
    pub meters: usize,
    pub customers: usize,
    pub aggregates: usize,
    /// Forecasts whose method beat the baseline in the backtest.
    pub beat_baseline: usize,
    pub stored: usize,
}

/// One meter's rows as read.
struct MeterDays {
    meter_id: Uuid,
    /// (day, minutes, kW by slot).
    rows: Vec<(NaiveDate, i16, Vec<Option<f64>>)>,
}

/// Who a meter belongs to.
#[derive(Clone, Debug)]
struct Member {
    meter_id: Uuid,
    customer_id: Option<Uuid>,
    route_id: Option<Uuid>,
    industry: Option<String>,
}

/// A forecast to store.
struct Row {
    kind: &'static str,
    key: String,
    minutes: i16,
    forecast: DayAhead,
    data_through: NaiveDate,
}

/// A series at 15-minute resolution (a 30-minute reading fills both of
/// its quarters), and whether any part of it came at 30 minutes.
#[derive(Clone)]
struct Quarters {
    values: Vec<f64>,
    any_half_hour: bool,
}

impl Quarters {
    fn new(days: usize) -> Self {
        Quarters { values: vec![f64::NAN; days * 96], any_half_hour: false }
    }

    fn add(&mut self, other: &Quarters) {
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            if !b.is_nan() {
                *a = if a.is_nan() { *b } else { *a + b };
            }
        }
        self.any_half_hour |= other.any_half_hour;
    }

    /// At the series' interval: 15 minutes, or 30 when any part was.
    fn to_days(&self, first_day: NaiveDate) -> (i16, Days) {
        let values = if self.any_half_hour {
            self.values
                .chunks(2)
                .map(|pair| match (pair[0].is_nan(), pair[1].is_nan()) {
                    (false, false) => (pair[0] + pair[1]) / 2.0,
                    (true, true) => f64::NAN,
                    _ => pair.iter().copied().find(|v| !v.is_nan()).unwrap_or(f64::NAN),
                })
                .collect()
        } else {
            self.values.clone()
        };
        let minutes = if self.any_half_hour { 30 } else { 15 };
        (minutes, Days { first_day, steps_per_day: 1440 / minutes as usize, values, temperature: None })
    }
}

impl MeterDays {
    fn quarters(&self, first_day: NaiveDate, days: usize) -> Quarters {
        let mut q = Quarters::new(days);
        for (day, minutes, kw) in &self.rows {
            let d = (*day - first_day).num_days();
            if !(0..days as i64).contains(&d) {
                continue;
            }
            let per = (*minutes / 15) as usize;
            q.any_half_hour |= per == 2;
            for (i, v) in kw.iter().enumerate() {
                for k in 0..per {
                    q.values[d as usize * 96 + i * per + k] = v.unwrap_or(f64::NAN);
                }
            }
        }
        q
    }

    /// At the interval of the meter's latest day.
    fn days(&self, first_day: NaiveDate, days: usize) -> (i16, Days) {
        let latest = self.rows.last().map_or(15, |r| r.1);
        let mut q = self.quarters(first_day, days);
        q.any_half_hour = latest == 30;
        q.to_days(first_day)
    }
}

/// The last day of `days` with a reading, as an index.
fn last_reading(days: &Days) -> Option<usize> {
    (0..days.len())
        .rev()
        .find(|&d| days.values[d * days.steps_per_day..(d + 1) * days.steps_per_day].iter().any(|v| !v.is_nan()))
}

/// Forecasts one series unless it is stale.
fn forecast_series(
    kind: &'static str,
    key: String,
    minutes: i16,
    mut days: Days,
    calendar: &Calendar,
    temperature: &Option<Vec<f64>>,
) -> Option<Row> {
    let last = last_reading(&days)?;
    if days.len() - last > STALE_DAYS as usize {
        return None;
    }
    days.temperature = temperature.as_ref().map(|t| {
        if days.steps_per_day == 96 { t.clone() } else { t.iter().step_by(96 / days.steps_per_day).copied().collect() }
    });
    let forecast = dayahead::forecast_next_day(&days, calendar)?;
    let data_through = days.first_day + Duration::days(last as i64);
    Some(Row { kind, key, minutes, forecast, data_through })
}

/// What one batch of customers gives: the forecasts, and each customer's
/// series at 15 minutes for the aggregates and the energy.
struct BatchOut {
    rows: Vec<Row>,
    customers: Vec<(Option<Uuid>, Quarters)>,
}

/// Forecasts a batch's meters and customers on every core.
fn forecast_batch(
    groups: Vec<(Option<Uuid>, Vec<MeterDays>)>,
    first_day: NaiveDate,
    calendar: &Calendar,
    temperature: &Option<Vec<f64>>,
) -> BatchOut {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let days = HISTORY_DAYS as usize;
    let results: Vec<Vec<(usize, Vec<Row>, Quarters)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((customer, meters)) = groups.get(i) else { break };
                        let mut rows = Vec::new();
                        let mut sum = Quarters::new(days);
                        for meter in meters {
                            let (minutes, series) = meter.days(first_day, days);
                            let row = forecast_series(
                                "meter",
                                meter.meter_id.to_string(),
                                minutes,
                                series,
                                calendar,
                                temperature,
                            );
                            sum.add(&meter.quarters(first_day, days));
                            rows.extend(row);
                        }
                        if let Some(customer) = customer {
                            let row = if meters.len() == 1 {
                                rows.first().map(|r| Row {
                                    kind: "customer",
                                    key: customer.to_string(),
                                    minutes: r.minutes,
                                    forecast: r.forecast.clone(),
                                    data_through: r.data_through,
                                })
                            } else {
                                let (minutes, series) = sum.to_days(first_day);
                                forecast_series(
                                    "customer",
                                    customer.to_string(),
                                    minutes,
                                    series,
                                    calendar,
                                    temperature,
                                )
                            };
                            rows.extend(row);
                        }
                        out.push((i, rows, sum));
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a forecast thread panicked")).collect()
    });
    let mut ordered: Vec<(usize, Vec<Row>, Quarters)> = results.into_iter().flatten().collect();
    ordered.sort_by_key(|r| r.0);
    let mut out = BatchOut { rows: Vec::new(), customers: Vec::new() };
    for (i, rows, sum) in ordered {
        out.rows.extend(rows);
        out.customers.push((groups[i].0, sum));
    }
    out
}

/// The tenant's calendar around the history and the day.
async fn calendar(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> sqlx::Result<Calendar> {
    let weekend = sqlx::query_scalar!("SELECT weekend FROM service_calendars")
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or_else(|| vec![6, 7]);
    let days = sqlx::query!("SELECT day, kind FROM calendar_days WHERE day BETWEEN $1 AND $2", from, to)
        .fetch_all(&mut *conn)
        .await?;
    let pick = |kind: &str| days.iter().filter(|d| d.kind == kind).map(|d| d.day).collect::<HashSet<_>>();
    Ok(Calendar::new(&weekend, pick("holiday"), pick("working")))
}

/// The tenant's temperatures at each quarter hour from `first_day` through
/// `last_day` (local), interpolated between observations at most three
/// hours apart; NaN elsewhere. `None` when the tenant has sent none.
async fn temperatures(
    conn: &mut PgConnection,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> sqlx::Result<Option<Vec<f64>>> {
    let observations = sqlx::query!(
        r#"SELECT w.ts AT TIME ZONE t.time_zone AS "local!", w.temperature
           FROM weather_observations w JOIN tenants t ON t.id = w.tenant_id
           WHERE w.ts >= ($1::date - 1)::timestamp AT TIME ZONE t.time_zone
             AND w.ts < ($2::date + 2)::timestamp AT TIME ZONE t.time_zone
           ORDER BY w.ts"#,
        first_day,
        last_day
    )
    .fetch_all(&mut *conn)
    .await?;
    if observations.is_empty() {
        return Ok(None);
    }
    let points: Vec<(NaiveDateTime, f64)> = observations.into_iter().map(|o| (o.local, o.temperature)).collect();
    Ok(Some(dayahead::temperature_slots(&points, first_day, (last_day - first_day).num_days() as usize + 1, 96)))
}

/// Refreshes one tenant's day-ahead forecasts for `target` (default: the
/// tenant's local tomorrow), and the month's and year's energy. Unless
/// `force`, does nothing when the day was forecast before and neither the
/// history nor the weather has changed since. `progress(done, total)` is
/// called as meters are forecast.
pub async fn refresh(
    pool: &PgPool,
    tenant_id: Uuid,
    target: Option<NaiveDate>,
    force: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<RefreshReport> {
    let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
    let today = sqlx::query_scalar!(
        r#"SELECT (now() AT TIME ZONE time_zone)::date AS "today!" FROM tenants WHERE id = $1"#,
        tenant_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let target = target.unwrap_or(today + Duration::days(1));
    let first_day = target - Duration::days(HISTORY_DAYS);
    let last_day = target - Duration::days(1);
    let mut report = RefreshReport { target_day: Some(target), ..Default::default() };

    let seen = sqlx::query!(
        r#"SELECT count(*) AS "rows!", max(day) AS last_day,
                  (SELECT max(received_at) FROM weather_observations WHERE tenant_id = $3) AS weather_at
           FROM load_days WHERE tenant_id = $3 AND day BETWEEN $1 AND $2"#,
        first_day,
        last_day,
        tenant_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let before =
        sqlx::query!("SELECT load_rows, last_data_day, weather_at FROM forecast_runs WHERE target_day = $1", target)
            .fetch_optional(&mut *tx)
            .await?;
    if !force
        && before.is_some_and(|b| {
            b.load_rows == seen.rows && b.last_data_day == seen.last_day && b.weather_at == seen.weather_at
        })
    {
        report.unchanged = true;
        return Ok(report);
    }

    let calendar = calendar(&mut tx, first_day - Duration::days(7), target).await?;
    let temperature = temperatures(&mut tx, first_day, target).await?;
    let members: Vec<Member> = sqlx::query!(
        r#"SELECT m.meter_id AS "meter_id!", sp.customer_id AS "customer_id?", c.route_id AS "route_id?",
                  c.industry_code AS "industry?"
           FROM (SELECT DISTINCT meter_id FROM load_days WHERE tenant_id = $3 AND day BETWEEN $1 AND $2) m
           LEFT JOIN meter_installations mi ON mi.tenant_id = $3 AND mi.meter_id = m.meter_id AND mi.removed_on IS NULL
           LEFT JOIN supply_points sp ON sp.tenant_id = $3 AND sp.id = mi.supply_point_id
           LEFT JOIN customers c ON c.tenant_id = $3 AND c.id = sp.customer_id
           ORDER BY sp.customer_id, m.meter_id"#,
        target - Duration::days(STALE_DAYS),
        last_day,
        tenant_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| Member { meter_id: r.meter_id, customer_id: r.customer_id, route_id: r.route_id, industry: r.industry })
    .collect();
    // Groups of a customer's meters; meters of no customer alone.
    let mut groups: Vec<(Option<Uuid>, Vec<Uuid>)> = Vec::new();
    for m in &members {
        match groups.last_mut() {
            Some((Some(c), meters)) if Some(*c) == m.customer_id => meters.push(m.meter_id),
            _ => groups.push((m.customer_id, vec![m.meter_id])),
        }
    }
    let total = members.len() as u64;
    progress(0, total);

    // Batches of about BATCH_METERS meters; the next is read while one is forecast.
    let mut batches: Vec<Vec<(Option<Uuid>, Vec<Uuid>)>> = Vec::new();
    let mut size = 0;
    for group in groups {
        if batches.is_empty() || size >= BATCH_METERS {
            batches.push(Vec::new());
            size = 0;
        }
        size += group.1.len();
        batches.last_mut().expect("pushed").push(group);
    }
    let calendar = std::sync::Arc::new(calendar);
    let temperature = std::sync::Arc::new(temperature);
    let mut rows: Vec<Row> = Vec::new();
    let mut customer_series: Vec<(Option<Uuid>, Quarters)> = Vec::new();
    let mut running: Option<tokio::task::JoinHandle<BatchOut>> = None;
    let mut done = 0u64;
    for batch in batches {
        let meters: Vec<Uuid> = batch.iter().flat_map(|g| g.1.iter().copied()).collect();
        let read = read_days(&mut tx, &meters, first_day, last_day).await?;
        if let Some(task) = running.take() {
            let out = task.await?;
            done += out.rows.iter().filter(|r| r.kind == "meter").count() as u64;
            rows.extend(out.rows);
            customer_series.extend(out.customers);
            progress(done.min(total), total);
        }
        let groups: Vec<(Option<Uuid>, Vec<MeterDays>)> = {
            let mut by_meter: HashMap<Uuid, MeterDays> = read.into_iter().map(|m| (m.meter_id, m)).collect();
            batch.into_iter().map(|(c, ms)| (c, ms.into_iter().filter_map(|m| by_meter.remove(&m)).collect())).collect()
        };
        let (calendar, temperature) = (calendar.clone(), temperature.clone());
        running = Some(tokio::task::spawn_blocking(move || forecast_batch(groups, first_day, &calendar, &temperature)));
    }
    if let Some(task) = running.take() {
        let out = task.await?;
        rows.extend(out.rows);
        customer_series.extend(out.customers);
    }
    progress(total, total);
    report.meters = rows.iter().filter(|r| r.kind == "meter").count();
    report.customers = rows.iter().filter(|r| r.kind == "customer").count();

    // The aggregates: sums of the customers' series.
    let by_customer: HashMap<Uuid, &Member> = members.iter().filter_map(|m| m.customer_id.map(|c| (c, m))).collect();
    let mut aggregates: BTreeMap<(&'static str, String), Quarters> = BTreeMap::new();
    for (customer, series) in &customer_series {
        let mut keys = vec![("tenant", String::new())];
        if let Some(member) = customer.and_then(|c| by_customer.get(&c)) {
            keys.extend(member.route_id.map(|r| ("route", r.to_string())));
            keys.extend(member.industry.clone().map(|i| ("industry", i)));
        }
        for key in keys {
            aggregates.entry(key).or_insert_with(|| Quarters::new(HISTORY_DAYS as usize)).add(series);
        }
    }
    let aggregate_rows = {
        let (calendar, temperature) = (calendar.clone(), temperature.clone());
        tokio::task::spawn_blocking(move || {
            aggregates
                .into_iter()
                .filter_map(|((kind, key), q)| {
                    let (minutes, days) = q.to_days(first_day);
                    forecast_series(kind, key, minutes, days, &calendar, &temperature)
                })
                .collect::<Vec<Row>>()
        })
        .await?
    };
    report.aggregates = aggregate_rows.len();
    rows.extend(aggregate_rows);
    report.beat_baseline = rows.iter().filter(|r| r.forecast.beats_baseline).count();

    let energies = energy_forecasts(&mut tx, &calendar, &customer_series, first_day, target).await?;
    tx.commit().await?;

    // Stored in one transaction with the run's record.
    let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
    for chunk in rows.chunks(2000) {
        report.stored += store(&mut tx, tenant_id, target, chunk).await?;
    }
    store_energy(&mut tx, tenant_id, &energies).await?;
    // Kept for a year and a little more: last year's forecast against its actual.
    sqlx::query!("DELETE FROM forecasts WHERE target_day < $1::date - $2::int", target, KEEP_DAYS)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM energy_forecasts WHERE created_at < now() - make_interval(days => $1)", KEEP_DAYS)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO forecast_runs (tenant_id, target_day, load_rows, last_data_day, weather_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, target_day) DO UPDATE SET load_rows = excluded.load_rows,
             last_data_day = excluded.last_data_day, weather_at = excluded.weather_at, ran_at = EXCLUDED.ran_at",
        tenant_id,
        target,
        seen.rows,
        seen.last_day,
        seen.weather_at
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(report)
}

async fn read_days(
    conn: &mut PgConnection,
    meters: &[Uuid],
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> sqlx::Result<Vec<MeterDays>> {
    let rows = sqlx::query!(
        r#"SELECT meter_id, day, minutes, kw AS "kw: Vec<Option<f64>>" FROM load_days
           WHERE meter_id = ANY($1) AND day BETWEEN $2 AND $3 ORDER BY meter_id, day"#,
        meters,
        first_day,
        last_day
    )
    .fetch_all(conn)
    .await?;
    let mut out: Vec<MeterDays> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(m) if m.meter_id == r.meter_id => m.rows.push((r.day, r.minutes, r.kw)),
            _ => out.push(MeterDays { meter_id: r.meter_id, rows: vec![(r.day, r.minutes, r.kw)] }),
        }
    }
    Ok(out)
}

async fn store(conn: &mut PgConnection, tenant_id: Uuid, target: NaiveDate, rows: &[Row]) -> sqlx::Result<usize> {
    let kinds: Vec<String> = rows.iter().map(|r| r.kind.to_string()).collect();
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let minutes: Vec<i16> = rows.iter().map(|r| r.minutes).collect();
    let methods: Vec<String> = rows.iter().map(|r| r.forecast.method.to_string()).collect();
    let mapes: Vec<Option<f64>> = rows.iter().map(|r| r.forecast.mape).collect();
    let baselines: Vec<Option<f64>> = rows.iter().map(|r| r.forecast.baseline_mape).collect();
    let beats: Vec<bool> = rows.iter().map(|r| r.forecast.beats_baseline).collect();
    let holdouts: Vec<i16> = rows.iter().map(|r| r.forecast.holdout_days as i16).collect();
    let temperature: Vec<bool> = rows.iter().map(|r| r.forecast.temperature).collect();
    let through: Vec<NaiveDate> = rows.iter().map(|r| r.data_through).collect();
    // The points of every row in one array; row i's are at offsets[i]..offsets[i] + its length.
    let mut offsets: Vec<i32> = Vec::with_capacity(rows.len());
    let mut flat: Vec<f64> = Vec::new();
    for r in rows {
        offsets.push(flat.len() as i32);
        flat.extend(&r.forecast.points);
    }
    let stored = sqlx::query!(
        r#"INSERT INTO forecasts (tenant_id, subject_kind, subject_key, target_day, created_at, minutes, points, method,
                                  mape, baseline_mape, beats_baseline, holdout_days, temperature, data_through)
           SELECT $1, u.kind, u.key, $2, now(), u.minutes, ($3::float8[])[u.off + 1 : u.off + 1440 / u.minutes],
                  u.method, u.mape, u.baseline, u.beats, u.holdout, u.temperature, u.through
           FROM unnest($4::text[], $5::text[], $6::int2[], $7::int4[], $8::text[], $9::float8[], $10::float8[],
                       $11::bool[], $12::int2[], $13::bool[], $14::date[])
                AS u (kind, key, minutes, off, method, mape, baseline, beats, holdout, temperature, through)
           RETURNING NULL AS not_by_copy"#,
        tenant_id,
        target,
        &flat,
        &kinds,
        &keys,
        &minutes,
        &offsets,
        &methods,
        &mapes as &[Option<f64>],
        &baselines as &[Option<f64>],
        &beats,
        &holdouts,
        &temperature,
        &through
    )
    .fetch_all(conn)
    .await?;
    Ok(stored.len())
}

/// One energy figure to store.
pub struct EnergyRow {
    kind: &'static str,
    key: String,
    period: &'static str,
    start: NaiveDate,
    energy: Energy,
}

/// The month's and the year's energy of every customer with a series, and in total.
async fn energy_forecasts(
    conn: &mut PgConnection,
    calendar: &Calendar,
    customers: &[(Option<Uuid>, Quarters)],
    first_day: NaiveDate,
    target: NaiveDate,
) -> sqlx::Result<Vec<EnergyRow>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    // Expansion orders in progress, and the ones powered on lately.
    let orders = sqlx::query!(
        r#"SELECT o.customer_id AS "customer_id!", o.state, c.industry_code,
                  greatest(o.requested_capacity_kva - coalesce(sp.capacity_kva, 0), 0)::float8 AS "added_kva!",
                  (o.completed_at AT TIME ZONE t.time_zone)::date AS completed_on
           FROM work_orders o JOIN customers c ON c.tenant_id = $3 AND c.id = o.customer_id
           JOIN tenants t ON t.id = o.tenant_id
           LEFT JOIN supply_points sp ON sp.tenant_id = $3 AND sp.id = o.supply_point_id
           WHERE o.tenant_id = $3 AND o.kind = 'expansion' AND o.customer_id IS NOT NULL AND o.requested_capacity_kva IS NOT NULL
             AND (o.state NOT IN ('powered_on', 'cancelled')
                  OR (o.state = 'powered_on' AND o.completed_at >= ($1::date - $2::int)::timestamp AT TIME ZONE t.time_zone))"#,
        target,
        energy::RAMP_DAYS as i32,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let capacities = sqlx::query!(
        r#"SELECT c.id, c.industry_code, coalesce(c.capacity_kva, (SELECT sum(capacity_kva) FROM supply_points sp
                  WHERE sp.tenant_id = $2 AND sp.customer_id = c.id AND sp.status = 'in_service'))::float8 AS capacity
           FROM customers c WHERE c.tenant_id = $2 AND c.id = ANY($1)"#,
        &customers.iter().filter_map(|c| c.0).collect::<Vec<Uuid>>(),
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let series: HashMap<Uuid, Days> =
        customers.iter().filter_map(|(c, q)| Some((*c.as_ref()?, q.to_days(first_day).1))).collect();
    // The industries' load factors, measured.
    let mut factors: HashMap<String, Vec<f64>> = HashMap::new();
    for c in &capacities {
        let (Some(capacity), Some(days)) = (c.capacity.filter(|k| *k > 0.0), series.get(&c.id)) else { continue };
        let known: Vec<f64> = days.values.iter().copied().filter(|v| !v.is_nan()).collect();
        if !known.is_empty() {
            let mean = known.iter().sum::<f64>() / known.len() as f64;
            factors.entry(c.industry_code.clone()).or_default().push(mean / (capacity * energy::POWER_FACTOR));
        }
    }
    let load_factor = |industry: &str| {
        factors
            .get(industry)
            .map_or(energy::DEFAULT_LOAD_FACTOR, |v| (v.iter().sum::<f64>() / v.len() as f64).clamp(0.05, 1.0))
    };
    let mut expansions: HashMap<Uuid, Vec<Expansion>> = HashMap::new();
    let mut powered_on: HashMap<Uuid, NaiveDate> = HashMap::new();
    for o in &orders {
        if o.state == "powered_on" {
            if let Some(on) = o.completed_on {
                let latest = powered_on.entry(o.customer_id).or_insert(on);
                *latest = (*latest).max(on);
            }
        } else if o.added_kva > 0.0 {
            expansions.entry(o.customer_id).or_default().push(Expansion {
                added_kva: o.added_kva,
                power_on: target + Duration::days(energy::EXPECTED_POWER_ON_DAYS),
                load_factor: load_factor(&o.industry_code),
            });
        }
    }
    let month = (energy::month_start(target, 0), energy::month_start(target, 1));
    let year = (energy::month_start(target, 0), energy::month_start(target, 12));
    let mut out = Vec::new();
    let mut totals = [Energy::default(), Energy::default()];
    for (customer, days) in &series {
        let expansions = expansions.get(customer).map_or(&[][..], |e| &e[..]);
        for (i, (period, (start, end))) in [("month", month), ("year", year)].into_iter().enumerate() {
            let energy = energy::energy(days, calendar, powered_on.get(customer).copied(), start, end, expansions);
            totals[i].kwh += energy.kwh;
            totals[i].expansion_kwh += energy.expansion_kwh;
            out.push(EnergyRow { kind: "customer", key: customer.to_string(), period, start, energy });
        }
    }
    // A customer with an expansion order but no meter data yet: the expansion alone.
    for (customer, list) in &expansions {
        if series.contains_key(customer) {
            continue;
        }
        for (i, (period, (start, end))) in [("month", month), ("year", year)].into_iter().enumerate() {
            let mut energy = Energy::default();
            let mut day = start;
            while day < end {
                energy.expansion_kwh += list.iter().map(|e| e.kw_on(day) * 24.0).sum::<f64>();
                day += Duration::days(1);
            }
            energy.kwh = energy.expansion_kwh;
            totals[i].kwh += energy.kwh;
            totals[i].expansion_kwh += energy.expansion_kwh;
            out.push(EnergyRow { kind: "customer", key: customer.to_string(), period, start, energy });
        }
    }
    for (i, (period, (start, _))) in [("month", month), ("year", year)].into_iter().enumerate() {
        out.push(EnergyRow { kind: "tenant", key: String::new(), period, start, energy: totals[i] });
    }
    Ok(out)
}

async fn store_energy(conn: &mut PgConnection, tenant_id: Uuid, rows: &[EnergyRow]) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO energy_forecasts (tenant_id, subject_kind, subject_key, period, period_start, created_at, kwh, expansion_kwh)
         SELECT $1, u.kind, u.key, u.period, u.start, now(), u.kwh, u.expansion
         FROM unnest($2::text[], $3::text[], $4::text[], $5::date[], $6::float8[], $7::float8[])
              AS u (kind, key, period, start, kwh, expansion)
         RETURNING NULL AS not_by_copy",
        tenant_id,
        &rows.iter().map(|r| r.kind.to_string()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.period.to_string()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.start).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.energy.kwh.max(0.0)).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.energy.expansion_kwh.max(0.0)).collect::<Vec<_>>()
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// The job: every tenant whose forecasts are missing or out of date.
pub async fn refresh_everywhere(pool: &PgPool) -> anyhow::Result<RefreshReport> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut total = RefreshReport::default();
    for tenant in tenants {
        let r = refresh(pool, tenant, None, false, &|_, _| {}).await?;
        total.meters += r.meters;
        total.customers += r.customers;
        total.aggregates += r.aggregates;
        total.stored += r.stored;
        total.beat_baseline += r.beat_baseline;
    }
    Ok(total)
}

// ---- Reads --------------------------------------------------------------

/// A stored day-ahead forecast, with the time of each point.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoredForecast {
    /// meter, customer, route, industry or tenant.
    pub subject_kind: String,
    /// The meter's, customer's or route's id, the industry's code, or "" for the tenant.
    pub subject_key: String,
    pub target_day: NaiveDate,
    /// The interval of the points, in minutes (15 or 30).
    pub minutes: i16,
    /// The start of each interval.
    pub times: Vec<DateTime<Utc>>,
    /// Forecast kW of each interval.
    pub points: Vec<f64>,
    /// seasonal_naive_week, similar_days, double_seasonal_holt_winters or similar_days_temperature.
    pub method: String,
    /// The chosen method's backtest MAPE (%) over the held-out days; null without a backtest.
    pub mape: Option<f64>,
    /// The weekly seasonal-naive baseline's MAPE (%) over the same days.
    pub baseline_mape: Option<f64>,
    /// False when the method did not beat the baseline (or nothing could be measured).
    pub beats_baseline: bool,
    pub holdout_days: i16,
    /// The tenant's temperature series was used.
    pub temperature: bool,
    /// The last day of history the forecast saw.
    pub data_through: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// A customer's latest forecast, the actual load where it has arrived, and
/// the energy forecasts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerForecast {
    #[serde(flatten)]
    pub forecast: StoredForecast,
    /// Actual kW of each interval (the sum of the customer's meters), null
    /// where not (yet) measured; empty before any reading of the day.
    pub actual: Vec<Option<f64>>,
    /// This month's and the next twelve months' energy.
    pub energy: Vec<EnergyForecast>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EnergyForecast {
    /// month or year (twelve months from `period_start`).
    pub period: String,
    pub period_start: NaiveDate,
    pub kwh: f64,
    /// The part from expansion orders in progress.
    pub expansion_kwh: f64,
    pub created_at: DateTime<Utc>,
}

/// The latest forecast of a subject: the latest day forecast, as last made.
pub async fn latest(conn: &mut PgConnection, kind: &str, key: &str) -> sqlx::Result<Option<StoredForecast>> {
    let rows = latest_of_kind(conn, kind, Some(key)).await?;
    Ok(rows.into_iter().next())
}

/// The latest forecast of every subject of a kind (or of one key).
pub async fn latest_of_kind(
    conn: &mut PgConnection,
    kind: &str,
    key: Option<&str>,
) -> sqlx::Result<Vec<StoredForecast>> {
    sqlx::query_as!(
        StoredForecast,
        r#"SELECT DISTINCT ON (f.subject_key) f.subject_kind, f.subject_key, f.target_day, f.minutes,
                  (SELECT array_agg(((f.target_day + make_interval(mins => i * f.minutes))::timestamp
                                     AT TIME ZONE t.time_zone) ORDER BY i)
                   FROM generate_series(0, 1440 / f.minutes - 1) i) AS "times!",
                  f.points, f.method, f.mape, f.baseline_mape, f.beats_baseline, f.holdout_days, f.temperature,
                  f.data_through, f.created_at
           FROM forecasts f JOIN tenants t ON t.id = f.tenant_id
           WHERE f.subject_kind = $1 AND ($2::text IS NULL OR f.subject_key = $2)
           ORDER BY f.subject_key, f.target_day DESC, f.created_at DESC"#,
        kind,
        key
    )
    .fetch_all(conn)
    .await
}

/// For the customer's load page: the customer's latest day-ahead forecast
/// with its accuracy, the actual load of that day where it has arrived, and
/// the energy forecasts. `None` before the first refresh that forecast the
/// customer (or for another company's customer).
pub async fn latest_for_customer(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Option<CustomerForecast>> {
    let Some(forecast) = latest(conn, "customer", &customer_id.to_string()).await? else {
        return Ok(None);
    };
    let actual = customer_actual(conn, customer_id, forecast.target_day, forecast.minutes).await?;
    let energy = sqlx::query_as!(
        EnergyForecast,
        r#"SELECT DISTINCT ON (period) period, period_start, kwh, expansion_kwh, created_at FROM energy_forecasts
           WHERE subject_kind = 'customer' AND subject_key = $1 ORDER BY period, created_at DESC"#,
        customer_id.to_string()
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(CustomerForecast { forecast, actual, energy }))
}

/// The tenant's total energy forecasts (latest of each period).
pub async fn tenant_energy(conn: &mut PgConnection) -> sqlx::Result<Vec<EnergyForecast>> {
    sqlx::query_as!(
        EnergyForecast,
        r#"SELECT DISTINCT ON (period) period, period_start, kwh, expansion_kwh, created_at FROM energy_forecasts
           WHERE subject_kind = 'tenant' ORDER BY period, created_at DESC"#
    )
    .fetch_all(conn)
    .await
}

/// The measured load of a customer's installed meters on `day`, at `minutes`;
/// empty when none has a reading that day.
pub async fn customer_actual(
    conn: &mut PgConnection,
    customer_id: Uuid,
    day: NaiveDate,
    minutes: i16,
) -> sqlx::Result<Vec<Option<f64>>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"SELECT l.minutes, l.kw AS "kw: Vec<Option<f64>>" FROM load_days l
           JOIN meter_installations mi ON mi.tenant_id = $3 AND mi.meter_id = l.meter_id AND mi.removed_on IS NULL
           JOIN supply_points sp ON sp.tenant_id = $3 AND sp.id = mi.supply_point_id
           WHERE l.tenant_id = $3 AND sp.customer_id = $1 AND l.day = $2"#,
        customer_id,
        day,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    let days: Vec<MeterDays> =
        rows.into_iter().map(|r| MeterDays { meter_id: Uuid::nil(), rows: vec![(day, r.minutes, r.kw)] }).collect();
    Ok(sum_actual(&days, day, minutes))
}

fn sum_actual(meters: &[MeterDays], day: NaiveDate, minutes: i16) -> Vec<Option<f64>> {
    if meters.is_empty() {
        return Vec::new();
    }
    let mut sum = Quarters::new(1);
    for m in meters {
        sum.add(&m.quarters(day, 1));
    }
    sum.any_half_hour = minutes == 30;
    let (_, days) = sum.to_days(day);
    days.values.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect()
}

/// A temperature to store.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub ts: DateTime<Utc>,
    pub temperature: f64,
}

/// Upserts the tenant's temperatures; returns (inserted, replaced).
pub async fn upsert_weather(conn: &mut PgConnection, observations: &[Observation]) -> sqlx::Result<(u64, u64)> {
    let ts: Vec<DateTime<Utc>> = observations.iter().map(|o| o.ts).collect();
    let temps: Vec<f64> = observations.iter().map(|o| o.temperature).collect();
    let replaced: i64 =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM weather_observations WHERE ts = ANY($1)"#, &ts)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query!(
        "INSERT INTO weather_observations (tenant_id, ts, temperature)
         SELECT app_tenant_id(), u.ts, u.t FROM unnest($1::timestamptz[], $2::float8[]) AS u (ts, t)
         ON CONFLICT (tenant_id, ts) DO UPDATE SET temperature = excluded.temperature, received_at = EXCLUDED.received_at",
        &ts,
        &temps
    )
    .execute(conn)
    .await?;
    Ok((observations.len() as u64 - replaced as u64, replaced as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
    }

    #[test]
    fn half_hour_meters_sum_with_quarter_hour_ones_at_half_hours() {
        let quarter =
            MeterDays { meter_id: Uuid::nil(), rows: vec![(day(), 15, (0..96).map(|i| Some(i as f64)).collect())] };
        let half = MeterDays { meter_id: Uuid::nil(), rows: vec![(day(), 30, vec![Some(100.0); 48])] };
        let sum = sum_actual(&[quarter, half], day(), 30);
        assert_eq!(sum.len(), 48);
        // Quarters 0 and 1 average 0.5; the half-hour meter adds 100.
        assert_eq!(sum[0], Some(100.5));
        assert_eq!(sum[47], Some(194.5));
    }

    #[test]
    fn a_missing_member_reading_leaves_the_others() {
        let mut kw = vec![Some(10.0); 96];
        kw[3] = None;
        let a = MeterDays { meter_id: Uuid::nil(), rows: vec![(day(), 15, kw)] };
        let b = MeterDays { meter_id: Uuid::nil(), rows: vec![(day(), 15, vec![Some(5.0); 96])] };
        let sum = sum_actual(&[a, b], day(), 15);
        assert_eq!((sum[2], sum[3]), (Some(15.0), Some(5.0)));
        let none = MeterDays { meter_id: Uuid::nil(), rows: vec![(day(), 15, vec![None; 96])] };
        assert_eq!(sum_actual(&[none], day(), 15)[0], None);
        assert!(sum_actual(&[], day(), 15).is_empty());
    }
}
