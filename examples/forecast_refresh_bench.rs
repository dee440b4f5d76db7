//! The forecast refresh benchmark (scripts/bench-forecast; see BENCHMARKS.md,
//! "Forecast refresh").
//!
//!     cargo run --release --example forecast_refresh_bench -- [METERS]
//!
//! On the configured database (or the embedded cluster under data_dir): a
//! tenant `bench-forecast` with METERS meters (default 1,000), four fifths as
//! many customers (the first fifth with two meters), ten reading routes and
//! the tenant's industries; `load_days` filled directly by SQL with 90 days
//! of 15-minute load for every meter (a daily shape by industry, lower
//! weekends, a level per meter, noise), up to 30 November 2026. Filled once
//! per meter count (delete the data folder to start again).
//!
//! Then, in one run: the reference, reading every row the refresh reads
//! (the 70 days before the day, decoded as the refresh decodes them), and
//! the refresh itself (every meter, customer and aggregate forecast for 1
//! December 2026, the energy, stored). Prints both and the ratio.

use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use gridcrm::{
    audit::Actor,
    config::Config,
    db::{self, Database},
    forecast,
    tenants::{self, TenantInput},
};
use sqlx::PgPool;
use uuid::Uuid;

const DAYS: i64 = 90;

fn target() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let meters: i64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let config = Config::load()?;
    let database = Database::open(&config, true).await?;
    let pool = &database.bulk;
    let tenant = bench_tenant(pool).await?;
    fill(pool, tenant, meters).await?;
    db::analyze(&database.owner_url).await?;

    let first = target() - chrono::Duration::days(forecast::db::HISTORY_DAYS);
    let started = Instant::now();
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    let rows: Vec<(Uuid, NaiveDate, i16, Vec<Option<f64>>)> = sqlx::query_as(
        "SELECT meter_id, day, minutes, kw FROM load_days WHERE day BETWEEN $1 AND $2 ORDER BY meter_id, day",
    )
    .bind(first)
    .bind(target() - chrono::Duration::days(1))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let read = started.elapsed().as_secs_f64();
    let slots: usize = rows.iter().map(|r| r.3.len()).sum();
    println!("reference: read {} load_days rows ({slots} readings) in {read:.1} s", rows.len());
    drop(rows);

    let started = Instant::now();
    let report = forecast::db::refresh(pool, tenant, Some(target()), true, &|_, _| {}).await?;
    let refresh = started.elapsed().as_secs_f64();
    println!(
        "refresh: {} meters, {} customers, {} aggregates ({} beat the baseline), {} stored in {refresh:.1} s \
         ({:.1} ms a meter, {:.1} × the reference read)",
        report.meters,
        report.customers,
        report.aggregates,
        report.beat_baseline,
        report.stored,
        1000.0 * refresh / report.meters.max(1) as f64,
        refresh / read
    );
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    let methods: Vec<(String, i64, f64, f64)> = sqlx::query_as(
        "SELECT method, count(*), avg(mape), avg(baseline_mape) FROM forecasts
         WHERE target_day = $1 AND subject_kind = 'meter' AND created_at = (SELECT max(created_at) FROM forecasts)
         GROUP BY method ORDER BY 2 DESC",
    )
    .bind(target())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    for (method, n, mape, baseline) in methods {
        println!("  {method:30} {n:6} meters, mean MAPE {mape:5.2} % against the baseline's {baseline:5.2} %");
    }
    database.close().await;
    Ok(())
}

async fn bench_tenant(pool: &PgPool) -> anyhow::Result<Uuid> {
    if let Some(id) = sqlx::query_scalar::<_, Uuid>("SELECT id FROM tenants WHERE slug = 'bench-forecast'")
        .fetch_optional(pool)
        .await?
    {
        return Ok(id);
    }
    let valid = tenants::validate(&TenantInput {
        slug: "bench-forecast",
        name: "预测基准测试供电公司",
        time_zone: "Asia/Shanghai",
        account_prefix: "79",
        is_platform: false,
    })
    .map_err(|_| anyhow::anyhow!("the bench tenant is invalid"))?;
    tenants::create(pool, &valid, &Actor::command_line("bench")).await.context("creating the tenant")
}

/// Customers, meters and 90 days of load_days, unless already there for this many meters.
async fn fill(pool: &PgPool, tenant: Uuid, meters: i64) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM meters").fetch_one(&mut *tx).await?;
    if have == meters {
        return Ok(());
    }
    if have > 0 {
        anyhow::bail!("the bench tenant has {have} meters: delete the data folder to fill {meters}");
    }
    println!("filling {meters} meters × {DAYS} days of 15-minute load…");
    let started = Instant::now();
    let customers = (meters * 4 / 5).max(1);
    sqlx::query(
        "INSERT INTO reading_routes (tenant_id, id, code, name)
         SELECT app_tenant_id(), gen_random_uuid(), 'B' || g, '基准抄表段' || g FROM generate_series(1, 10) g",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "WITH i AS (SELECT array_agg(code ORDER BY code) AS codes FROM industries),
              r AS (SELECT array_agg(id ORDER BY code) AS ids FROM reading_routes)
         INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code,
                                route_id, capacity_kva)
         SELECT app_tenant_id(), gen_random_uuid(), '79' || lpad(g::text, 10, '0'), '基准大客户' || g, 'large_industry',
                i.codes[1 + g % cardinality(i.codes)], 'kv10', 'large_two_part', r.ids[1 + g % 10], 2000
         FROM generate_series(1, $1) g, i, r",
    )
    .bind(customers)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "WITH c AS (SELECT id, row_number() OVER (ORDER BY account_no) AS n FROM customers),
              g AS (SELECT g, gen_random_uuid() AS point, gen_random_uuid() AS meter FROM generate_series(1, $1) g),
              points AS (INSERT INTO supply_points (tenant_id, id, customer_id, code, voltage_code)
                         SELECT app_tenant_id(), g.point, c.id, 'BP' || g.g, 'kv10' FROM g JOIN c ON c.n = 1 + (g.g - 1) % $2
                         RETURNING id),
              m AS (INSERT INTO meters (tenant_id, id, serial, kind) SELECT app_tenant_id(), meter, 'BF' || lpad(g::text, 8, '0'), 'smart' FROM g)
         INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on)
         SELECT app_tenant_id(), gen_random_uuid(), g.meter, g.point, '2020-01-01' FROM g",
    )
    .bind(meters)
    .bind(customers)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let ids: Vec<Uuid> = {
        let mut tx = db::begin_tenant(pool, tenant, None).await?;
        let ids = sqlx::query_scalar("SELECT id FROM meters ORDER BY serial").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        ids
    };
    for (i, chunk) in ids.chunks(500).enumerate() {
        let mut tx = db::begin_tenant(pool, tenant, None).await?;
        // A level per meter, a day shape (a working day's hump, a night
        // floor), weekends at 60 %, slow drift and noise.
        sqlx::query(
            "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
             SELECT app_tenant_id(), m.id, d::date, 15,
                    (SELECT array_agg(greatest(0, m.level * (0.5 + 0.5 * sin(pi() * s / 96.0) ^ 2)
                                              * CASE WHEN extract(isodow FROM d) >= 6 THEN 0.6 ELSE 1 END
                                              * (1 + 0.002 * (d::date - $2::date)) * (0.95 + 0.1 * random()))::float8
                                      ORDER BY s)
                     FROM generate_series(0, 95) s)
             FROM (SELECT id, 100 + abs(hashtext(id::text)) % 900 AS level FROM unnest($1::uuid[]) id) m
             CROSS JOIN generate_series($2::date, $3::date, interval '1 day') d",
        )
        .bind(chunk)
        .bind(target() - chrono::Duration::days(DAYS))
        .bind(target() - chrono::Duration::days(1))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        eprint!("\r{} of {} meters", i * 500 + chunk.len(), ids.len());
    }
    eprintln!();
    println!("filled in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
