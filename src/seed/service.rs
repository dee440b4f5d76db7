//! Demo service data: a year of contacts (most closed, the newest still
//! open, some with return visits) and work orders (open and completed),
//! generated in the database with `generate_series`, batch by batch, under
//! the tenant's row-level security. The roll-up triggers fill the
//! statistics as the rows go in, as they would in production.
//!
//! Deadlines of working-time clocks are approximated (a working day of 450
//! minutes spread over 1.4 calendar days); the rows are demo data, and the
//! escalation job and board treat them like any other.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

/// Rows per statement: large enough to be quick, small enough to show progress.
const BATCH: i64 = 20_000;

pub struct ServicePlan {
    pub contacts: i64,
    /// The newest contacts left open (the rest are resolved or closed).
    pub open_contacts: i64,
    pub open_orders: i64,
    pub completed_orders: i64,
}

impl ServicePlan {
    /// The demo's share: a contact for every fifth customer, an open order for every twentieth.
    pub fn for_customers(customers: u64) -> Self {
        let customers = customers as i64;
        Self {
            contacts: customers / 5,
            open_contacts: (customers / 250).max(10),
            open_orders: (customers / 20).max(10),
            completed_orders: customers / 10,
        }
    }
}

fn bar(show: bool, len: i64, what: &'static str) -> ProgressBar {
    let bar = if show { ProgressBar::new(len as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what);
    bar
}

/// Adds the plan's contacts and work orders to a tenant that has staff and customers.
pub async fn seed_service(
    pool: &PgPool,
    tenant_id: Uuid,
    plan: &ServicePlan,
    show_progress: bool,
) -> anyhow::Result<()> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let tz = sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id)
        .fetch_one(&mut *tx)
        .await
        .context("reading the tenant's time zone")?;
    tx.commit().await?;

    let contacts = bar(show_progress, plan.contacts, "contacts");
    let mut from = 1;
    while from <= plan.contacts {
        let to = (from + BATCH - 1).min(plan.contacts);
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        insert_contacts(&mut tx, from, to, plan, &tz).await?;
        tx.commit().await?;
        contacts.inc((to - from + 1) as u64);
        from = to + 1;
    }
    contacts.finish();

    let total_orders = plan.open_orders + plan.completed_orders;
    let orders = bar(show_progress, total_orders, "work orders");
    let mut from = 1;
    while from <= total_orders {
        let to = (from + BATCH - 1).min(total_orders);
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        insert_orders(&mut tx, from, to, total_orders, plan.open_orders, &tz).await?;
        tx.commit().await?;
        orders.inc((to - from + 1) as u64);
        from = to + 1;
    }
    orders.finish();

    // The stage times read the orders just written.
    db::analyze_tables(
        &mut *pool.acquire().await?,
        &["contacts", "work_orders", "service_events", "return_visits", "customer_timeline"],
    )
    .await?;
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    add_expansion_stage_times(&mut tx, &tz).await?;
    sqlx::query!(
        r#"INSERT INTO reference_counters (tenant_id, series, next_value)
           VALUES (app_tenant_id(), 'C', $1), (app_tenant_id(), 'W', $2)
           ON CONFLICT (tenant_id, series) DO UPDATE SET next_value = greatest(reference_counters.next_value, excluded.next_value)"#,
        plan.contacts + 1,
        total_orders + 1
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_contacts(tx: &mut db::Tx, from: i64, to: i64, plan: &ServicePlan, tz: &str) -> anyhow::Result<()> {
    // The closed contacts spread over a year; the open ones (the last `open_contacts`) over the last ten days.
    sqlx::query(&db::not_by_copy(
        r#"WITH staff AS (
             SELECT array_agg(id ORDER BY username) AS ids, array_agg(team ORDER BY username) AS teams
             FROM users WHERE active AND role IN ('counter_staff', 'account_manager', 'supervisor')
           ), picks AS (
             SELECT array_agg(id) AS ids FROM (SELECT id FROM customers ORDER BY id LIMIT 20000) c
           ), s AS (
             SELECT g, h, h2, open, received_at,
                    CASE WHEN open THEN (ARRAY['received', 'acknowledged', 'in_progress'])[1 + h2 % 3]
                         WHEN h % 10 < 3 THEN 'resolved' ELSE 'closed' END AS state,
                    (ARRAY['complaint', 'inquiry', 'inquiry', 'inquiry', 'suggestion', 'praise', 'report', 'complaint'])[1 + h % 8] AS kind
             FROM (SELECT g, hashint8(g) & 2147483647 AS h, hashint8(g * 31 + 7) & 2147483647 AS h2,
                          g > $2::bigint - $3::bigint AS open,
                          now() - interval '5 minutes' - CASE WHEN g > $2::bigint - $3::bigint
                              THEN ($2::bigint - g) * (interval '10 days' / greatest($3::bigint, 1))
                              ELSE ($2::bigint - $3::bigint - g) * (interval '365 days' / greatest($2::bigint - $3::bigint, 1)) END AS received_at
                   FROM generate_series($4::bigint, $5::bigint) AS g) x
           )
           INSERT INTO contacts (tenant_id, id, ref_no, kind, channel, subject, customer_id, caller_name, caller_phone,
                                 description, state, owner_id, team, received_at, received_month, resolution, resolved_at,
                                 closed_at, satisfaction, clock, clock_started_at, clock_limit_minutes, clock_working_time,
                                 due_at, sla_breached, created_by)
           SELECT app_tenant_id(), gen_random_uuid(), 'C' || lpad(s.g::text, 8, '0'), s.kind,
                  (ARRAY['hall', 'hotline', 'hotline', 'hotline', 'web', 'wechat', 'wechat', 'letter'])[1 + s.h2 % 8],
                  (ARRAY['service_attitude', 'outage', 'outage', 'billing', 'billing', 'metering', 'power_quality',
                         'business_expansion', 'other'])[1 + (s.h / 8) % 9],
                  CASE WHEN s.h % 5 = 0 THEN NULL ELSE p.ids[1 + (s.h / 5) % array_length(p.ids, 1)] END,
                  '来电客户' || (s.h % 1000), '138' || lpad((s.h % 100000000)::text, 8, '0'),
                  (ARRAY['近两个月电费明显偏高，要求核实。', '小区频繁停电，询问原因和恢复时间。', '咨询峰谷电价办理条件。',
                         '营业厅排队时间过长。', '电压偏低，空调无法启动。'])[1 + s.h2 % 5],
                  s.state, st.ids[1 + s.h2 % array_length(st.ids, 1)], st.teams[1 + s.h2 % array_length(st.ids, 1)],
                  s.received_at, date_trunc('month', s.received_at AT TIME ZONE $1)::date,
                  CASE WHEN s.open THEN '' ELSE '已现场核实并答复客户。' END,
                  CASE WHEN s.open THEN NULL ELSE s.received_at + (60 + s.h % 4000) * interval '1 minute' END,
                  CASE WHEN s.state = 'closed' THEN s.received_at + (60 + s.h % 4000) * interval '1 minute' + interval '2 days' END,
                  CASE WHEN NOT s.open AND s.h2 % 3 = 0 THEN (ARRAY[5, 5, 5, 4, 4, 4, 3, 2, 1])[1 + s.h % 9] END,
                  CASE WHEN s.open THEN CASE WHEN s.state = 'received' THEN 'acknowledge' ELSE 'resolve' END END,
                  CASE WHEN s.open THEN s.received_at END,
                  CASE WHEN s.open THEN CASE WHEN s.state = 'received' THEN 450 ELSE 2250 END END,
                  true,
                  CASE WHEN s.open THEN s.received_at + CASE WHEN s.state = 'received' THEN interval '1.4 days'
                                                             ELSE interval '7 days' END END,
                  s.h % 20 = 0,
                  st.ids[1 + s.h2 % array_length(st.ids, 1)]
           FROM s CROSS JOIN staff st CROSS JOIN picks p"#,
    ))
    .bind(tz)
    .bind(plan.contacts)
    .bind(plan.open_contacts)
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_orders(tx: &mut db::Tx, from: i64, to: i64, total: i64, open: i64, tz: &str) -> anyhow::Result<()> {
    // The completed orders spread over a year; the open ones (the last `open`) over the last ten days.
    sqlx::query(&db::not_by_copy(
        r#"WITH staff AS (
             SELECT array_agg(id ORDER BY username) AS ids, array_agg(team ORDER BY username) AS teams
             FROM users WHERE active AND role IN ('counter_staff', 'account_manager', 'supervisor')
           ), picks AS (
             SELECT array_agg(id) AS ids FROM (SELECT id FROM customers ORDER BY id LIMIT 20000) c
           ), s AS (
             SELECT g, h, h2, open, created_at,
                    (ARRAY['repair', 'repair', 'repair', 'meter_check', 'meter_check', 'periodic_visit',
                           'paid_maintenance', 'outage_negotiation', 'expansion', 'expansion'])[1 + h % 10] AS kind
             FROM (SELECT g, hashint8(g) & 2147483647 AS h, hashint8(g * 31 + 7) & 2147483647 AS h2,
                          g > $2::bigint - $3::bigint AS open,
                          now() - interval '5 minutes' - CASE WHEN g > $2::bigint - $3::bigint
                              THEN ($2::bigint - g) * (interval '10 days' / greatest($3::bigint, 1))
                              ELSE ($2::bigint - $3::bigint - g) * (interval '365 days' / greatest($2::bigint - $3::bigint, 1)) END AS created_at
                   FROM generate_series($4::bigint, $5::bigint) AS g) x
           )
           INSERT INTO work_orders (tenant_id, id, ref_no, kind, state, customer_id, title, description, priority,
                                    green_channel, address, area_type, customer_type, requested_capacity_kva, owner_id,
                                    team, created_at, created_month, arrived_at, restored_at, completed_at, clock,
                                    clock_started_at, clock_limit_minutes, clock_working_time, due_at, sla_breached,
                                    created_by)
           SELECT app_tenant_id(), gen_random_uuid(), 'W' || lpad(s.g::text, 8, '0'), s.kind,
                  CASE s.kind WHEN 'repair' THEN CASE WHEN s.open THEN 'reported' ELSE 'restored' END
                              WHEN 'expansion' THEN CASE WHEN s.open THEN 'accepted' ELSE 'powered_on' END
                              ELSE CASE WHEN s.open THEN 'open' ELSE 'done' END END,
                  CASE WHEN s.h % 7 = 0 THEN NULL ELSE p.ids[1 + (s.h / 7) % array_length(p.ids, 1)] END,
                  CASE s.kind WHEN 'repair' THEN '故障报修：家中无电' WHEN 'expansion' THEN '新装用电申请'
                              WHEN 'meter_check' THEN '电能表校验' WHEN 'periodic_visit' THEN '大客户定期走访'
                              WHEN 'paid_maintenance' THEN '有偿维修：表后线路' ELSE '停电协商' END,
                  '', 1 + s.h2 % 4, s.h % 20 = 0,
                  '城东片区' || (s.h % 300) || '号',
                  CASE WHEN s.kind = 'repair' THEN (ARRAY['urban', 'urban', 'rural', 'remote'])[1 + s.h2 % 4] END,
                  CASE WHEN s.kind = 'expansion' THEN (ARRAY['residential', 'low_voltage', 'hv_single', 'hv_double'])[1 + s.h2 % 4] END,
                  CASE WHEN s.kind = 'expansion' THEN (ARRAY[8, 50, 630, 2000])[1 + s.h2 % 4] END,
                  st.ids[1 + s.h2 % array_length(st.ids, 1)], st.teams[1 + s.h2 % array_length(st.ids, 1)],
                  s.created_at, date_trunc('month', s.created_at AT TIME ZONE $1)::date,
                  CASE WHEN s.kind = 'repair' AND NOT s.open THEN s.created_at + (20 + s.h % 60) * interval '1 minute' END,
                  CASE WHEN s.kind = 'repair' AND NOT s.open THEN s.created_at + (60 + s.h % 240) * interval '1 minute' END,
                  CASE WHEN NOT s.open THEN s.created_at + (120 + s.h % 6000) * interval '1 minute' END,
                  CASE WHEN s.open THEN CASE s.kind WHEN 'repair' THEN 'arrival' WHEN 'expansion' THEN 'accepted' ELSE 'resolve' END END,
                  CASE WHEN s.open THEN s.created_at END,
                  CASE WHEN s.open THEN CASE s.kind WHEN 'repair' THEN 45 WHEN 'expansion' THEN 900 ELSE 2250 END END,
                  s.kind <> 'repair',
                  CASE WHEN s.open THEN s.created_at + CASE s.kind WHEN 'repair' THEN interval '45 minutes'
                                                              WHEN 'expansion' THEN interval '2.8 days' ELSE interval '7 days' END END,
                  s.h % 12 = 0,
                  st.ids[1 + s.h2 % array_length(st.ids, 1)]
           FROM s CROSS JOIN staff st CROSS JOIN picks p"#,
    ))
    .bind(tz)
    .bind(total)
    .bind(open)
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Working time per stage for the completed expansions, by month and customer
/// type (the page's "average days per stage"): each stage took between a
/// third and the whole of a typical limit.
async fn add_expansion_stage_times(tx: &mut db::Tx, tz: &str) -> anyhow::Result<()> {
    sqlx::query!(
        r#"INSERT INTO expansion_stage_stats AS t (tenant_id, month, customer_type, stage, finished, working_minutes)
           SELECT app_tenant_id(), date_trunc('month', o.completed_at AT TIME ZONE $1)::date, o.customer_type, st.stage,
                  count(*), sum(st.limit_minutes * (0.3 + (hashint8(o.created_at::date - date '2000-01-01' + st.n) & 1023) / 1500.0))::bigint
           FROM work_orders o
           CROSS JOIN (VALUES (1, 'accepted', 900), (2, 'reviewed', 3150), (3, 'plan_drafted', 4500),
                              (4, 'plan_agreed', 9000), (5, 'constructed', 2250), (6, 'inspected', 2250),
                              (7, 'metered', 2250)) AS st (n, stage, limit_minutes)
           WHERE o.kind = 'expansion' AND o.completed_at IS NOT NULL
           GROUP BY 2, 3, 4
           ON CONFLICT (tenant_id, month, customer_type, stage) DO UPDATE
           SET finished = t.finished + excluded.finished, working_minutes = t.working_minutes + excluded.working_minutes"#,
        tz
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
