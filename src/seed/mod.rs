//! Demo data: tenants, staff for every role, routes and realistic customers.
//! Customers are loaded in batches with COPY into temporary tables (which
//! have no row-level security) and then inserted under the tenant's policy.

pub mod billing;
pub mod generate;
pub mod history;
pub mod interval;
pub mod load_shapes;
pub mod service;

use std::time::Instant;

use chrono::Datelike;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{SeedableRng, rngs::StdRng};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    audit::Actor,
    db,
    staff::{Role, db as staff_db},
    tenants::{self, TenantInput},
};

pub const DEMO_PASSWORD: &str = "gridcrm-demo";

pub struct DemoTenant {
    pub slug: &'static str,
    pub name: &'static str,
    pub account_prefix: &'static str,
    pub routes: usize,
    region: fn() -> generate::Region,
}

pub const DEMO_TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        slug: "hangzhou",
        name: "杭州市供电公司",
        account_prefix: "01",
        routes: 40,
        region: generate::city_region,
    },
    DemoTenant {
        slug: "tonglu",
        name: "桐庐县供电公司",
        account_prefix: "02",
        routes: 20,
        region: generate::county_region,
    },
];

/// The demo staff of each tenant: (username, display name, role).
pub const DEMO_STAFF: [(&str, &str, Role); 6] = [
    ("counter", "柜台 王丽", Role::CounterStaff),
    ("manager", "客户经理 陈强", Role::AccountManager),
    ("manager2", "客户经理 刘洋", Role::AccountManager),
    ("supervisor", "班长 赵敏", Role::Supervisor),
    ("admin", "管理员 周杰", Role::TenantAdmin),
    ("counter2", "柜台 孙悦", Role::CounterStaff),
];

/// Whether any tenant exists (then the demo is not seeded again).
pub async fn has_data(pool: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM tenants) AS "e!""#).fetch_one(pool).await
}

/// Seeds the platform tenant and the demo tenants: the first gets `customers`
/// customers, the others at most 3,000.
/// The first tenant also gets `service` (contacts and work orders); the
/// others get their share by customer count. Each tenant of up to 50,000
/// customers gets 90 days of interval data for its large customers' meters
/// (seed/interval.rs); `interval_meters` caps every tenant's meters (and
/// gives a larger tenant its largest that many).
pub async fn seed_demo(
    pool: &PgPool,
    customers: u64,
    service: Option<service::ServicePlan>,
    history: Option<u32>,
    interval_meters: Option<usize>,
    show_progress: bool,
) -> anyhow::Result<()> {
    let mut service = service;
    let actor = Actor::command_line("seed --demo");
    let platform = tenants::validate(&TenantInput {
        slug: "platform",
        name: "gridcrm 平台运营",
        time_zone: "Asia/Shanghai",
        account_prefix: "99",
        is_platform: true,
    })
    .map_err(|e| anyhow::anyhow!("platform tenant: {e:?}"))?;
    let platform_id = tenants::create(pool, &platform, &actor).await?;
    create_staff(pool, platform_id, &[("root", "平台管理员", Role::PlatformAdmin)]).await?;

    for (index, demo) in DEMO_TENANTS.iter().enumerate() {
        let valid = tenants::validate(&TenantInput {
            slug: demo.slug,
            name: demo.name,
            time_zone: "Asia/Shanghai",
            account_prefix: demo.account_prefix,
            is_platform: false,
        })
        .map_err(|e| anyhow::anyhow!("tenant {}: {e:?}", demo.slug))?;
        let tenant_id = tenants::create(pool, &valid, &actor).await?;
        let staff = create_staff(pool, tenant_id, &DEMO_STAFF).await?;
        let managers: Vec<Uuid> = staff.iter().filter(|(_, r)| *r == Role::AccountManager).map(|(id, _)| *id).collect();
        let count = if index == 0 { customers } else { customers.min(3_000) };
        load_customers(pool, tenant_id, demo, &managers, count, show_progress, index as u64 + 1).await?;
        let plan = service.take().unwrap_or_else(|| service::ServicePlan::for_customers(count));
        let started = Instant::now();
        service::seed_service(pool, tenant_id, &plan, show_progress).await?;
        tracing::info!(
            tenant = demo.slug,
            seconds = started.elapsed().as_secs_f64(),
            "seeded contacts and work orders"
        );
        let started = Instant::now();
        seed_money(pool, tenant_id, count, history, show_progress).await?;
        tracing::info!(tenant = demo.slug, seconds = started.elapsed().as_secs_f64(), "seeded readings and bills");
        interval::seed_calendar(pool, tenant_id).await?;
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        // All the large meters of a demo-sized tenant, none of a larger one's
        // (a million customers have some 40,000), unless a number is asked for.
        let meters = interval_meters.or((count > 50_000).then_some(0));
        let seeded = interval::seed_interval(pool, tenant_id, today, meters, index as u64 + 1, show_progress).await?;
        if let Some(wanted) = interval_meters.filter(|n| *n > seeded.meters && index == 0) {
            tracing::warn!(
                tenant = demo.slug,
                wanted,
                large = seeded.meters,
                "fewer large meters than interval meters asked for: seed more customers (about 23 per large meter)"
            );
        }
        // The demo's rules reach back three days, so that the last days' events
        // (and the bills just issued) become notices once the server runs.
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        sqlx::query("UPDATE notice_rules SET since = now() - interval '3 days'").execute(&mut *tx).await?;
        tx.commit().await?;
    }
    // Late fees on the demo's overdue bills, as the hourly job would have accrued them.
    let started = Instant::now();
    crate::billing::late_fees::run(pool).await?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "accrued late fees");
    Ok(())
}

async fn create_staff(
    pool: &PgPool,
    tenant_id: Uuid,
    staff: &[(&str, &str, Role)],
) -> anyhow::Result<Vec<(Uuid, Role)>> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let mut created = Vec::new();
    for (username, display_name, role) in staff {
        let new = staff_db::NewUser {
            tenant_id,
            username,
            display_name,
            team: demo_team(*role),
            role: *role,
            password: DEMO_PASSWORD,
            locale: None,
        };
        let id = staff_db::create_user(&mut tx, new).await?.with_context(|| format!("user {username} exists"))?;
        created.push((id, *role));
    }
    tx.commit().await?;
    Ok(created)
}

/// Readings, and for demo-sized tenants bills and payments. A large tenant
/// (the benchmark's) gets last month's and this month's readings only, so
/// that a bill run of this month can be timed. Before the billed months,
/// `history` months of bills and payments as taken over from the legacy
/// system (default: a year for demo-sized tenants, none for large ones).
async fn seed_money(
    pool: &PgPool,
    tenant_id: Uuid,
    customers: u64,
    history: Option<u32>,
    show_progress: bool,
) -> anyhow::Result<()> {
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let this_month = crate::months::start_of(today);
    // Readings are taken on the 25th: this month's only once that day has come.
    let last = if today.day() >= 25 { this_month } else { crate::months::back(this_month, 1) };
    let billed = if customers <= 50_000 { 3 } else { 1 };
    let periods: Vec<_> = (0..=billed).rev().map(|n| crate::months::back(last, n)).collect();
    billing::seed_readings(pool, tenant_id, &periods, show_progress).await?;
    // Thirty months: the credit calibration fits on the customers as they
    // stood 18 months ago with a year of history behind them.
    let history = history.unwrap_or(if customers <= 50_000 { 30 } else { 0 });
    let started = Instant::now();
    self::history::seed_history(pool, tenant_id, periods[1], history, today, show_progress).await?;
    if history > 0 {
        tracing::info!(months = history, seconds = started.elapsed().as_secs_f64(), "seeded billing history");
    }
    if customers <= 50_000 {
        billing::seed_bills(pool, tenant_id, &periods, today).await?;
        // Loyalty points for the payments, as if each had earned when booked, and a small catalogue.
        let earned = crate::points::db::seed_demo(pool, tenant_id).await?;
        tracing::info!(payments = earned, "seeded loyalty points");
    }
    seed_credit_events(pool, tenant_id, today).await?;
    seed_contracts(pool, tenant_id, today).await?;
    Ok(())
}

/// A three-year supply contract for every business customer, ending between
/// two months ago and four years from now, so that some are ending soon.
async fn seed_contracts(pool: &PgPool, tenant_id: Uuid, today: chrono::NaiveDate) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    sqlx::query(&db::not_by_copy(
        r#"INSERT INTO supply_contracts (tenant_id, id, customer_id, contract_no, starts_on, expires_on, recorded_by)
           SELECT app_tenant_id(), gen_random_uuid(), id, 'GY-' || account_no, (ends - interval '3 years')::date, ends, 'seed --demo'
           FROM (SELECT id, account_no, $1::date - 60 + (hashtextextended(id::text, 17) & 1048575)::integer % 1520 AS ends
                 FROM customers WHERE status = 'active' AND class_code <> 'residential') c"#,
    ))
    .bind(today)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A few breaches of contract and thefts in the last two years, more often
/// among the customers whose payment habit is bad (seed/history.rs).
async fn seed_credit_events(pool: &PgPool, tenant_id: Uuid, today: chrono::NaiveDate) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    sqlx::query(&db::not_by_copy(
        r#"INSERT INTO credit_events (tenant_id, id, customer_id, kind, occurred_on, evidence, recorded_by)
           SELECT app_tenant_id(), gen_random_uuid(), id,
                  CASE WHEN (h / 100) % 10 < 3 THEN 'theft' ELSE 'breach' END,
                  $1::date - (h / 1000 % 700)::integer,
                  CASE WHEN (h / 100) % 10 < 3 THEN '现场检查：表箱封印被破坏，计量回路短接，已拍照取证'
                       ELSE '超合同容量用电，用电检查通知书已签收' END,
                  'seed --demo'
           FROM (SELECT id, hashtextextended(id::text, 11) & 1048575 AS h FROM customers WHERE status = 'active') c
           WHERE (h % 100 <= 3 AND (h / 100) % 10 < 5) OR (h / 100) % 100 = 7"#,
    ))
    .bind(today)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The demo staff's teams, so the board and the statistics have teams to show.
fn demo_team(role: Role) -> &'static str {
    match role {
        Role::CounterStaff => "城东营业厅",
        Role::AccountManager => "大客户中心",
        Role::Supervisor => "服务监督班",
        _ => "",
    }
}

// Small enough that a batch stays well under sqlx's one-second slow-statement warning.
const BATCH: u64 = 5_000;

#[allow(clippy::too_many_arguments)]
async fn load_customers(
    pool: &PgPool,
    tenant_id: Uuid,
    demo: &DemoTenant,
    managers: &[Uuid],
    count: u64,
    show_progress: bool,
    seed: u64,
) -> anyhow::Result<()> {
    let region = (demo.region)();
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let routes = create_routes(&mut tx, &region, demo.routes).await?;
    create_staging_tables(&mut tx).await?;
    let bar = if show_progress { ProgressBar::new(count) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} customers ({per_sec}, {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(demo.slug);
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seq = 1;
    while seq <= count {
        let end = (seq + BATCH - 1).min(count);
        let batch: Vec<generate::DemoCustomer> = (seq..=end)
            .map(|n| generate::customer(&mut rng, &region, demo.account_prefix, n, routes.len(), managers.len()))
            .collect();
        copy_batch(&mut tx, &batch, &routes, managers).await?;
        bar.inc(batch.len() as u64);
        seq = end + 1;
    }
    sqlx::query!("UPDATE account_number_sequences SET next_value = $1", count as i64 + 1).execute(&mut *tx).await?;
    tx.commit().await?;
    // The readings and the service data join these tables next.
    db::analyze_tables(
        &mut *pool.acquire().await?,
        &["customers", "customer_tags", "customer_contacts", "supply_points", "meters", "meter_installations"],
    )
    .await?;
    bar.finish();
    tracing::info!(tenant = demo.slug, customers = count, seconds = started.elapsed().as_secs_f64(), "seeded");
    Ok(())
}

async fn create_routes(conn: &mut PgConnection, region: &generate::Region, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = Uuid::now_v7();
        let district = region.districts[i % region.districts.len()];
        sqlx::query!(
            "INSERT INTO reading_routes (tenant_id, id, code, name, reader_day) VALUES (app_tenant_id(), $1, $2, $3, $4)",
            id,
            format!("R{:04}", i + 1),
            format!("{district}{}号抄表段", i / region.districts.len() + 1),
            (i % 28 + 1) as i16
        )
        .execute(&mut *conn)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

async fn create_staging_tables(conn: &mut PgConnection) -> sqlx::Result<()> {
    for ddl in [
        "CREATE TEMP TABLE seed_customers (id uuid, account_no text, name text, class_code text, industry_code text,
            voltage_code text, tariff_code text, route_id uuid, address text, phone text, capacity_kva numeric,
            importance text, account_manager_id uuid, preferred_channels text[], created_at timestamptz, name_initials text)
            ON COMMIT DROP",
        "CREATE TEMP TABLE seed_tags (customer_id uuid, tag_code text) ON COMMIT DROP",
        "CREATE TEMP TABLE seed_contacts (id uuid, customer_id uuid, name text, role text, phone text, email text,
            is_primary boolean) ON COMMIT DROP",
        "CREATE TEMP TABLE seed_points (id uuid, customer_id uuid, code text, address text, voltage_code text,
            capacity_kva numeric, transformer text) ON COMMIT DROP",
        "CREATE TEMP TABLE seed_meters (id uuid, serial text, kind text, time_of_use boolean, multiplier numeric,
            next_verification date) ON COMMIT DROP",
        "CREATE TEMP TABLE seed_installs (id uuid, meter_id uuid, supply_point_id uuid, installed_on date,
            removed_on date) ON COMMIT DROP",
    ] {
        sqlx::query(ddl).execute(&mut *conn).await?;
    }
    Ok(())
}

/// CSV rows for each staging table.
struct Staged {
    customers: csv::Writer<Vec<u8>>,
    tags: csv::Writer<Vec<u8>>,
    contacts: csv::Writer<Vec<u8>>,
    points: csv::Writer<Vec<u8>>,
    meters: csv::Writer<Vec<u8>>,
    installs: csv::Writer<Vec<u8>>,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The archive of a demo customer dates from its first meter's installation
/// (the legacy system's records were taken over), which gives tenure and
/// billing history their start.
fn connected_on(c: &generate::DemoCustomer) -> Option<chrono::NaiveDate> {
    c.supply_points
        .iter()
        .flat_map(|p| &p.meters)
        .map(|m| m.previous.as_ref().map_or(m.installed_on, |(_, on)| *on).min(m.installed_on))
        .min()
}

fn stage(batch: &[generate::DemoCustomer], routes: &[Uuid], managers: &[Uuid]) -> anyhow::Result<Staged> {
    let mut s = Staged {
        customers: writer(),
        tags: writer(),
        contacts: writer(),
        points: writer(),
        meters: writer(),
        installs: writer(),
    };
    for c in batch {
        let id = Uuid::now_v7();
        let manager = c.manager_index.and_then(|i| managers.get(i)).map(Uuid::to_string).unwrap_or_default();
        let route = routes.get(c.route_index % routes.len().max(1)).map(Uuid::to_string).unwrap_or_default();
        s.customers.write_record([
            id.to_string(),
            c.account_no.clone(),
            c.name.clone(),
            c.class_code.into(),
            c.industry_code.into(),
            c.voltage_code.into(),
            c.tariff_code.into(),
            route,
            c.address.clone(),
            opt(&c.phone),
            opt(&c.capacity_kva),
            c.importance.map(str::to_owned).unwrap_or_default(),
            manager,
            format!("{{{}}}", c.preferred_channels.join(",")),
            connected_on(c).map(|d| format!("{d} 09:00+08")).unwrap_or_default(),
            crate::customers::search::initials(&c.name),
        ])?;
        for tag in &c.tags {
            s.tags.write_record([id.to_string(), (*tag).to_owned()])?;
        }
        for contact in &c.contacts {
            s.contacts.write_record([
                Uuid::now_v7().to_string(),
                id.to_string(),
                contact.name.clone(),
                contact.role.into(),
                opt(&contact.phone),
                opt(&contact.email),
                contact.is_primary.to_string(),
            ])?;
        }
        for point in &c.supply_points {
            let point_id = Uuid::now_v7();
            s.points.write_record([
                point_id.to_string(),
                id.to_string(),
                point.code.clone(),
                point.address.clone(),
                point.voltage_code.into(),
                opt(&point.capacity_kva),
                point.transformer.clone(),
            ])?;
            for meter in &point.meters {
                let meter_id = Uuid::now_v7();
                s.meters.write_record([
                    meter_id.to_string(),
                    meter.serial.clone(),
                    meter.kind.into(),
                    meter.time_of_use.to_string(),
                    meter.multiplier.to_string(),
                    opt(&meter.next_verification),
                ])?;
                s.installs.write_record([
                    Uuid::now_v7().to_string(),
                    meter_id.to_string(),
                    point_id.to_string(),
                    meter.installed_on.to_string(),
                    String::new(),
                ])?;
                if let Some((old_serial, old_installed)) = &meter.previous {
                    // The meter this one replaced, removed on the day the new one went in.
                    let old_id = Uuid::now_v7();
                    s.meters.write_record([
                        old_id.to_string(),
                        old_serial.clone(),
                        "mechanical".into(),
                        "false".into(),
                        meter.multiplier.to_string(),
                        String::new(),
                    ])?;
                    s.installs.write_record([
                        Uuid::now_v7().to_string(),
                        old_id.to_string(),
                        point_id.to_string(),
                        old_installed.to_string(),
                        meter.installed_on.to_string(),
                    ])?;
                }
            }
        }
    }
    Ok(s)
}

async fn copy_into(conn: &mut PgConnection, table: &str, rows: csv::Writer<Vec<u8>>) -> anyhow::Result<()> {
    let bytes = rows.into_inner().context("finishing CSV")?;
    if bytes.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN WITH (FORMAT csv)")).await?;
    copy.send(bytes).await?;
    copy.finish().await?;
    Ok(())
}

async fn copy_batch(
    conn: &mut PgConnection,
    batch: &[generate::DemoCustomer],
    routes: &[Uuid],
    managers: &[Uuid],
) -> anyhow::Result<()> {
    let s = stage(batch, routes, managers)?;
    copy_into(conn, "seed_customers", s.customers).await?;
    copy_into(conn, "seed_tags", s.tags).await?;
    copy_into(conn, "seed_contacts", s.contacts).await?;
    copy_into(conn, "seed_points", s.points).await?;
    copy_into(conn, "seed_meters", s.meters).await?;
    copy_into(conn, "seed_installs", s.installs).await?;
    for statement in [
        "INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code,
             route_id, address, phone, capacity_kva, importance, account_manager_id, preferred_channels, created_at, name_initials)
         SELECT app_tenant_id(), id, account_no, name, class_code, industry_code, voltage_code, tariff_code, route_id,
             address, phone, capacity_kva, importance, account_manager_id, preferred_channels, coalesce(created_at, now()),
             name_initials
         FROM seed_customers",
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code) SELECT app_tenant_id(), customer_id, tag_code FROM seed_tags",
        "INSERT INTO customer_contacts (tenant_id, id, customer_id, name, role, phone, email, is_primary)
         SELECT app_tenant_id(), id, customer_id, name, role, phone, email, is_primary FROM seed_contacts",
        "INSERT INTO supply_points (tenant_id, id, customer_id, code, address, voltage_code, capacity_kva, transformer)
         SELECT app_tenant_id(), id, customer_id, code, address, voltage_code, capacity_kva, transformer FROM seed_points",
        "INSERT INTO meters (tenant_id, id, serial, kind, time_of_use, multiplier, next_verification)
         SELECT app_tenant_id(), id, serial, kind, time_of_use, multiplier, next_verification FROM seed_meters",
        "INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on, removed_on)
         SELECT app_tenant_id(), id, meter_id, supply_point_id, installed_on, removed_on FROM seed_installs",
        "TRUNCATE seed_customers, seed_tags, seed_contacts, seed_points, seed_meters, seed_installs",
    ] {
        let sql = if statement.starts_with("INSERT") { db::not_by_copy(statement) } else { statement.to_owned() };
        sqlx::query(&sql).execute(&mut *conn).await?;
    }
    Ok(())
}
