//! Demo interval data: 90 days of 15-minute demand, ending yesterday in the
//! tenant's zone, for every meter in service at a large customer's supply
//! points, shaped by the customer's industry and the tenant's calendar
//! (seed/load_shapes.rs), with a few unrecorded level shifts for change
//! detection to find. Written with COPY into a staging table and on into
//! `interval_data`, a batch of meters per transaction (two side by side),
//! with each batch's `load_days` written at once (as the rebuild would make
//! them) so that curves and forecasts show on first start; the metrics'
//! months are marked for the hourly refresh, as an import marks them.
//!
//! A large customer here is an active customer with a contracted capacity
//! of at least [`LARGE_KVA`] kVA: every large-industry (two-part tariff)
//! customer, the public institutions, and the larger shops, hotels and
//! offices on a transformer of their own.

use std::{collections::BTreeSet, fmt::Write as _, sync::Arc, time::Instant};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use super::load_shapes::{self, DayKind, LevelShift, MeterLoad, Profile, SLOTS};
use crate::db;

/// Days of interval data the demo holds.
pub const DAYS: i64 = 90;
/// The smallest contracted capacity (kVA) of a large customer.
pub const LARGE_KVA: i32 = 315;
/// Meters per transaction.
const BATCH_METERS: usize = 40;

/// A meter that gets interval data.
#[derive(Clone, Debug)]
pub struct LargeMeter {
    pub meter_id: Uuid,
    pub serial: String,
    pub account_no: String,
    pub customer: String,
    pub industrial: bool,
    pub load: MeterLoad,
}

/// A level shift the seed injected, for the operator to look for.
#[derive(Clone, Debug)]
pub struct InjectedShift {
    pub account_no: String,
    pub customer: String,
    pub serial: String,
    pub shift: LevelShift,
}

#[derive(Clone, Debug, Default)]
pub struct IntervalSeeded {
    pub meters: usize,
    pub rows: u64,
    pub load_days: i64,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    pub shifts: Vec<InjectedShift>,
}

/// The official public holidays and make-up working days (调休) of the
/// years the demo runs in, as the State Council announced them: the demo
/// tenants' calendar, which the load shapes and the forecasts follow.
/// (from, to, kind, name)
const DEMO_CALENDAR: &[(&str, &str, &str, &str)] = &[
    ("2025-01-01", "2025-01-01", "holiday", "元旦"),
    ("2025-01-26", "2025-01-26", "working", "春节调休上班"),
    ("2025-01-28", "2025-02-04", "holiday", "春节"),
    ("2025-02-08", "2025-02-08", "working", "春节调休上班"),
    ("2025-04-04", "2025-04-06", "holiday", "清明节"),
    ("2025-04-27", "2025-04-27", "working", "劳动节调休上班"),
    ("2025-05-01", "2025-05-05", "holiday", "劳动节"),
    ("2025-05-31", "2025-06-02", "holiday", "端午节"),
    ("2025-09-28", "2025-09-28", "working", "国庆节调休上班"),
    ("2025-10-01", "2025-10-08", "holiday", "国庆节、中秋节"),
    ("2025-10-11", "2025-10-11", "working", "国庆节调休上班"),
    ("2026-01-01", "2026-01-03", "holiday", "元旦"),
    ("2026-01-04", "2026-01-04", "working", "元旦调休上班"),
    ("2026-02-14", "2026-02-14", "working", "春节调休上班"),
    ("2026-02-15", "2026-02-23", "holiday", "春节"),
    ("2026-02-28", "2026-02-28", "working", "春节调休上班"),
    ("2026-04-04", "2026-04-06", "holiday", "清明节"),
    ("2026-05-01", "2026-05-05", "holiday", "劳动节"),
    ("2026-05-09", "2026-05-09", "working", "劳动节调休上班"),
    ("2026-06-19", "2026-06-21", "holiday", "端午节"),
    ("2026-09-20", "2026-09-20", "working", "国庆节调休上班"),
    ("2026-09-25", "2026-09-27", "holiday", "中秋节"),
    ("2026-10-01", "2026-10-07", "holiday", "国庆节"),
    ("2026-10-10", "2026-10-10", "working", "国庆节调休上班"),
];

/// The demo tenant's holidays and make-up days (kept where the tenant has
/// set a day already).
pub async fn seed_calendar(pool: &PgPool, tenant_id: Uuid) -> anyhow::Result<()> {
    let (mut days, mut kinds, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for (from, to, kind, name) in DEMO_CALENDAR {
        let (from, to): (NaiveDate, NaiveDate) = (from.parse()?, to.parse()?);
        for day in from.iter_days().take_while(|d| *d <= to) {
            days.push(day);
            kinds.push(*kind);
            names.push(*name);
        }
    }
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    sqlx::query!(
        r#"INSERT INTO calendar_days (tenant_id, day, kind, name)
           SELECT app_tenant_id(), d, k, n FROM unnest($1::date[], $2::text[], $3::text[]) AS x (d, k, n)
           ON CONFLICT DO NOTHING"#,
        &days,
        &kinds as &[&str],
        &names as &[&str]
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Seeds the interval data of the tenant's large meters (the largest
/// `max_meters` of them, when given) for the 90 days before `today` (the
/// tenant's local date). `seed` makes the tenant's noise, weather and
/// injected shifts.
pub async fn seed_interval(
    pool: &PgPool,
    tenant_id: Uuid,
    today: NaiveDate,
    max_meters: Option<usize>,
    seed: u64,
    show_progress: bool,
) -> anyhow::Result<IntervalSeeded> {
    let started = Instant::now();
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let zone =
        sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = app_tenant_id()").fetch_one(&mut *tx).await?;
    let tz: Tz = zone.parse().map_err(|e| anyhow::anyhow!("time zone {zone}: {e}"))?;
    let calendar = crate::sla::settings::load_rules(&mut tx, tz).await?.calendar;
    let limit = max_meters.map_or(i64::MAX, |n| n as i64);
    // The level follows the demo readings (seed/billing.rs), from the same hash of the meter id.
    let rows = sqlx::query!(
        r#"SELECT i.meter_id, m.serial, c.account_no, c.name, c.industry_code, c.class_code,
                  coalesce(p.capacity_kva, c.capacity_kva)::float8 AS "capacity!",
                  (hashint8(hashtextextended(i.meter_id::text, 0)) & 1023) AS "h!"
           FROM customers c
           JOIN supply_points p ON p.tenant_id = c.tenant_id AND p.customer_id = c.id
           JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           WHERE c.status = 'active' AND c.capacity_kva >= $1
           ORDER BY c.capacity_kva DESC, m.serial
           LIMIT $2"#,
        rust_decimal::Decimal::from(LARGE_KVA),
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut meters: Vec<LargeMeter> = rows
        .into_iter()
        .map(|r| LargeMeter {
            load: MeterLoad {
                profile: Profile::of_industry(&r.industry_code),
                level_kw: load_shapes::level_kw(r.capacity, i64::from(r.h)),
                seed: load_shapes::mix(seed, fnv(&r.serial)),
                shift: None,
            },
            meter_id: r.meter_id,
            serial: r.serial,
            account_no: r.account_no,
            customer: r.name,
            industrial: r.class_code == "large_industry",
        })
        .collect();
    // The shifts go to industrial customers' meters, one meter per customer.
    let mut seen = BTreeSet::new();
    let candidates: Vec<usize> =
        (0..meters.len()).filter(|&i| meters[i].industrial && seen.insert(meters[i].account_no.clone())).collect();
    let mut shifts = Vec::new();
    for (pick, shift) in load_shapes::pick_shifts(candidates.len(), seed, today) {
        let meter = &mut meters[candidates[pick]];
        meter.load.shift = Some(shift);
        shifts.push(InjectedShift {
            account_no: meter.account_no.clone(),
            customer: meter.customer.clone(),
            serial: meter.serial.clone(),
            shift,
        });
    }

    let last = today - Duration::days(1);
    let first = last - Duration::days(DAYS - 1);
    let days = Arc::new(Days::new(&calendar, tz, first, last));
    if meters.is_empty() {
        return Ok(IntervalSeeded::default());
    }
    // The partitions, once, before the batches run side by side.
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    for month in days.utc_months() {
        sqlx::query!("SELECT gridcrm_interval_partition($1)", month).execute(&mut *tx).await?;
    }
    tx.commit().await?;

    let bar = if show_progress { ProgressBar::new(meters.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} meters ({per_sec}, {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("load curves");
    let weather = seed;
    let local_months = days.local_months();
    let batch = async |chunk: Vec<LargeMeter>| -> anyhow::Result<(u64, i64)> {
        let days = days.clone();
        let ids: Vec<Uuid> = chunk.iter().map(|m| m.meter_id).collect();
        let staged = tokio::task::spawn_blocking(move || staged(&chunk, &days, weather)).await?;
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        for ddl in [
            "CREATE TEMP TABLE seed_interval (meter_id uuid, epoch bigint, kw numeric) ON COMMIT DROP",
            "CREATE TEMP TABLE seed_load_days (meter_id uuid, day date, kw float8[]) ON COMMIT DROP",
        ] {
            sqlx::query(ddl).execute(&mut *tx).await?;
        }
        for (table, text) in [("seed_interval (meter_id, epoch, kw)", &staged.rows), ("seed_load_days", &staged.days)] {
            let mut copy = tx.copy_in_raw(&format!("COPY {table} FROM STDIN WITH (FORMAT csv)")).await?;
            copy.send(text.as_bytes()).await?;
            copy.finish().await?;
        }
        sqlx::query(&db::not_by_copy(
            "INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
             SELECT app_tenant_id(), meter_id, to_timestamp(epoch), kw FROM seed_interval",
        ))
        .execute(&mut *tx)
        .await?;
        // The days as `interval::days::rebuild` makes them from these rows
        // (the values are the same whole watts, the slots the same local
        // quarters; tests/it/seed.rs checks it), written directly: the
        // rebuild would take several times as long as the load.
        let written = sqlx::query(
            "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
             SELECT app_tenant_id(), meter_id, day, 15, kw FROM seed_load_days
             ON CONFLICT (tenant_id, meter_id, day) DO UPDATE SET minutes = excluded.minutes, kw = excluded.kw",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        let (marked_meters, marked_months): (Vec<Uuid>, Vec<NaiveDate>) =
            ids.iter().flat_map(|id| local_months.iter().map(move |m| (*id, *m))).unzip();
        crate::metrics::db::mark_interval_months(&mut tx, tenant_id, &marked_meters, &marked_months).await?;
        tx.commit().await?;
        bar.inc(ids.len() as u64);
        Ok((staged.count, written))
    };
    let chunks: Vec<Vec<LargeMeter>> = meters.chunks(BATCH_METERS).map(<[LargeMeter]>::to_vec).collect();
    let side_by_side = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 2);
    let mut running = futures_util::stream::iter(chunks).map(batch).buffer_unordered(side_by_side);
    let mut seeded =
        IntervalSeeded { meters: meters.len(), first: Some(first), last: Some(last), shifts, ..Default::default() };
    while let Some(done) = running.next().await {
        let (rows, written) = done?;
        seeded.rows += rows;
        seeded.load_days += written;
    }
    drop(running);
    bar.finish();
    db::analyze_tables(&mut *pool.acquire().await?, &["interval_data", "load_days"]).await?;
    tracing::info!(
        meters = seeded.meters,
        rows = seeded.rows,
        days = seeded.load_days,
        seconds = started.elapsed().as_secs_f64(),
        "seeded interval data and load curves"
    );
    for s in &seeded.shifts {
        tracing::info!(
            account = s.account_no,
            customer = s.customer,
            meter = s.serial,
            change = format!("{:+.0} %", s.shift.change() * 100.0),
            from = %s.shift.from,
            "injected a lasting load change (recorded nowhere: change detection should find it)"
        );
    }
    Ok(seeded)
}

/// FNV-1a of a text: a seed that stays the same from run to run (meter ids do not).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The days of the window: each day's kind in the tenant's calendar and its
/// slots' instants (epoch seconds; none for a slot a clock change skips).
struct Days {
    days: Vec<(NaiveDate, DayKind, [Option<i64>; SLOTS])>,
}

impl Days {
    fn new(calendar: &crate::sla::WorkingCalendar, tz: Tz, first: NaiveDate, last: NaiveDate) -> Self {
        let days = first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|day| {
                let mut slots = [None; SLOTS];
                for (i, slot) in slots.iter_mut().enumerate() {
                    let local = day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(15 * i as i64);
                    *slot = tz.from_local_datetime(&local).earliest().map(|t| t.timestamp());
                }
                (day, DayKind::of(calendar, day), slots)
            })
            .collect();
        Self { days }
    }

    /// First days of the UTC months the slots fall in.
    fn utc_months(&self) -> BTreeSet<NaiveDate> {
        self.days
            .iter()
            .flat_map(|(_, _, slots)| slots.iter().flatten())
            .filter_map(|t| DateTime::<Utc>::from_timestamp(*t, 0))
            .filter_map(|t| NaiveDate::from_ymd_opt(t.year(), t.month(), 1))
            .collect()
    }

    /// First days of the local months of the window.
    fn local_months(&self) -> Vec<NaiveDate> {
        let months: BTreeSet<NaiveDate> = self.days.iter().map(|(d, _, _)| crate::months::start_of(*d)).collect();
        months.into_iter().collect()
    }
}

/// A batch of meters as COPY text.
struct Staged {
    /// `meter_id,epoch,kw`: the interval data.
    rows: String,
    /// `meter_id,day,"{kw,…}"`: the same as `load_days` rows (NULL for a
    /// slot a clock change skips).
    days: String,
    count: u64,
}

fn staged(meters: &[LargeMeter], days: &Days, weather: u64) -> Staged {
    let mut out = Staged {
        rows: String::with_capacity(meters.len() * days.days.len() * SLOTS * 60),
        days: String::with_capacity(meters.len() * days.days.len() * (SLOTS * 9 + 60)),
        count: 0,
    };
    for m in meters {
        let id = m.meter_id.to_string();
        for (day, kind, slots) in &days.days {
            let kw = load_shapes::day_kw(&m.load, *day, *kind, weather);
            let _ = write!(out.days, "{id},{day},\"{{");
            for (i, (epoch, value)) in slots.iter().zip(kw).enumerate() {
                if i > 0 {
                    out.days.push(',');
                }
                if let Some(epoch) = epoch {
                    let _ = writeln!(out.rows, "{id},{epoch},{value:.3}");
                    let _ = write!(out.days, "{value:.3}");
                    out.count += 1;
                } else {
                    out.days.push_str("NULL");
                }
            }
            out.days.push_str("}\"\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_calendar_is_well_formed() {
        let mut seen = BTreeSet::new();
        for (from, to, kind, name) in DEMO_CALENDAR {
            let (from, to): (NaiveDate, NaiveDate) = (from.parse().unwrap(), to.parse().unwrap());
            assert!(from <= to && (to - from).num_days() < 10, "{from}..{to}");
            assert!(crate::sla::forms::DAY_KINDS.contains(kind) && !name.is_empty() && name.chars().count() <= 60);
            for day in from.iter_days().take_while(|d| *d <= to) {
                assert!(seen.insert(day), "{day} twice");
                // A make-up working day is a weekend day.
                if *kind == "working" {
                    assert!(matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun), "{day}");
                }
            }
        }
        // National Day 2026 is a week of holidays.
        assert!((1..=7).all(|d| seen.contains(&NaiveDate::from_ymd_opt(2026, 10, d).unwrap())));
    }

    #[test]
    fn the_window_has_every_slot_and_its_months() {
        let mut calendar = crate::sla::WorkingCalendar::office(chrono_tz::Asia::Shanghai);
        calendar.holidays.insert(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        let first = NaiveDate::from_ymd_opt(2026, 9, 3).unwrap();
        let last = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let days = Days::new(&calendar, chrono_tz::Asia::Shanghai, first, last);
        assert_eq!(days.days.len(), 90);
        // Local midnight of 3 September is 16:00 UTC on the 2nd.
        assert_eq!(days.days[0].2[0], Some(Utc.with_ymd_and_hms(2026, 9, 2, 16, 0, 0).unwrap().timestamp()));
        assert_eq!(days.days[0].2[1].unwrap() - days.days[0].2[0].unwrap(), 900);
        let d = |m| NaiveDate::from_ymd_opt(2026, m, 1).unwrap();
        assert_eq!(days.utc_months().into_iter().collect::<Vec<_>>(), vec![d(9), d(10), d(11), d(12)]);
        assert_eq!(days.local_months(), vec![d(9), d(10), d(11), d(12)]);
        assert_eq!(days.days.iter().find(|x| x.0 == d(10)).map(|x| x.1), Some(DayKind::Holiday));
        // A zone with a clock change: the skipped hour has no slots.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let berlin = Days::new(&calendar, chrono_tz::Europe::Berlin, spring, spring);
        assert_eq!(berlin.days[0].2.iter().filter(|s| s.is_none()).count(), 4);
    }

    #[test]
    fn staging_writes_one_line_per_slot() {
        let calendar = crate::sla::WorkingCalendar::office(chrono_tz::Asia::Shanghai);
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let days = Days::new(&calendar, chrono_tz::Asia::Shanghai, day, day + Duration::days(1));
        let meter = LargeMeter {
            meter_id: Uuid::nil(),
            serial: "X".into(),
            account_no: "0100000001".into(),
            customer: "c".into(),
            industrial: true,
            load: MeterLoad { profile: Profile::Continuous, level_kw: 100.0, seed: 1, shift: None },
        };
        let staged = staged(&[meter], &days, 1);
        assert_eq!(staged.count, 192);
        assert_eq!(staged.rows.lines().count(), 192);
        let first = staged.rows.lines().next().unwrap();
        let fields: Vec<&str> = first.split(',').collect();
        assert_eq!(fields[0], Uuid::nil().to_string());
        assert_eq!(fields[1], days.days[0].2[0].unwrap().to_string());
        assert!(fields[2].parse::<f64>().unwrap() > 50.0 && fields[2].split('.').nth(1).unwrap().len() == 3);
        // The day rows hold the same values, in slot order.
        let day: Vec<&str> = staged.days.lines().collect();
        assert_eq!(day.len(), 2);
        let prefix = format!("{},2026-11-02,\"{{{},", Uuid::nil(), fields[2]);
        assert!(day[0].starts_with(&prefix) && day[0].ends_with("}\""), "{}", day[0]);
        assert_eq!(day[0].split(',').count(), 2 + SLOTS);
    }
}
