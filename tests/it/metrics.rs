//! Customer metrics: a hand-made customer's figures, idempotence, the
//! incremental refresh, tenant isolation and the command.

use std::process::Command;

use chrono::Utc;
use gridcrm::{
    config::Config,
    db,
    interval::load::{LoadRules, Loader},
    metrics::{self, Mode, RefreshReport},
    web::i18n::{I18n, Locale},
};
use sqlx::{Connection, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::{jobs::seed_billable, support::TestApp};

/// A month's figures as text, in the column order of the table.
type Figures = (String, String, String, String, String, String, i32, i32, i32, i32, i32);
type Extra = (Option<String>, Option<String>, Option<String>, i32);

async fn rows(pool: &PgPool, tenant: Uuid) -> Vec<(Figures, Extra)> {
    let mut tx = db::begin_tenant(pool, tenant, None).await.unwrap();
    let raw = sqlx::query(
        "SELECT to_char(month, 'YYYY-MM'), energy_kwh::text, billed::text, paid_on_time::text, paid_late::text,
                arrears::text, arrears_days, late_fees, reversals, complaints, work_orders,
                load_rate::text, peak_share::text, yoy_growth::text, tenure_months
         FROM customer_metrics ORDER BY customer_id, month",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    raw.into_iter()
        .map(|r| {
            let f: Figures = (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
                r.get(10),
            );
            (f, (r.get(11), r.get(12), r.get(13), r.get(14)))
        })
        .collect()
}

async fn refresh(app: &TestApp, tenant: Uuid, mode: Mode) -> RefreshReport {
    metrics::refresh(&app.pool, tenant, mode, &|_, _| {}).await.expect("refresh")
}

async fn exec(pool: &PgPool, tenant: Uuid, sql: &str, customer: Uuid) {
    let mut tx = db::begin_tenant(pool, tenant, None).await.unwrap();
    sqlx::raw_sql(&sql.replace("$CUSTOMER", &format!("'{customer}'::uuid"))).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// One customer with a year of history (Asia/Shanghai):
/// - 2025-10 bill (100 kWh, ¥50), paid on time on 2025-11-10;
/// - 2026-09 bill (200 kWh, ¥120, due 2026-10-18, a late fee), paid late on 2026-11-05;
/// - 2026-10 bill (300 kWh, ¥150, due 2026-11-18): a payment on 2026-11-10 reversed
///   on 2026-11-12, paid again on time on 2026-11-15;
/// - in 2026-10 a complaint, an inquiry, a work order and a day of interval data.
async fn hand_made_customer(app: &TestApp, tenant: Uuid) -> Uuid {
    seed_billable(&app.pool, tenant, 1).await;
    let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    let customer: Uuid = sqlx::query_scalar("SELECT id FROM customers WHERE account_no = '1190000001'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    exec(
        &app.pool,
        tenant,
        r#"UPDATE customers SET created_at = '2025-01-15 10:00+08';
        INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount, paid, late_fee)
        VALUES (app_tenant_id(), '00000000-0000-0000-0000-00000000000a', 'B-A', $CUSTOMER, '2025-10-01', 'res_tiered', '2025-11-03', '2025-11-18', 100, 50, 50, 0),
               (app_tenant_id(), '00000000-0000-0000-0000-00000000000b', 'B-B', $CUSTOMER, '2026-09-01', 'res_tiered', '2026-10-03', '2026-10-18', 200, 120, 120, 1.20),
               (app_tenant_id(), '00000000-0000-0000-0000-00000000000c', 'B-C', $CUSTOMER, '2026-10-01', 'res_tiered', '2026-11-03', '2026-11-18', 300, 150, 150, 0);
        INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_by, status, reversed_at)
        VALUES (app_tenant_id(), '00000000-0000-0000-0000-0000000000a1', $CUSTOMER, 50, 'wechat', 'P1', '2025-11-10 10:00+08', 't', 'booked', NULL),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000b1', $CUSTOMER, 120, 'bank', 'P2', '2026-11-05 09:00+08', 't', 'booked', NULL),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000c1', $CUSTOMER, 150, 'alipay', 'P3', '2026-11-10 09:00+08', 't', 'reversed', '2026-11-12 16:00+08'),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000c2', $CUSTOMER, 150, 'alipay', 'P4', '2026-11-15 23:30+08', 't', 'booked', NULL);
        INSERT INTO payment_allocations (tenant_id, payment_id, bill_id, part, amount)
        VALUES (app_tenant_id(), '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a', 'bill', 50),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000b', 'bill', 120),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-00000000000c', 'bill', 150),
               (app_tenant_id(), '00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-00000000000c', 'bill', 150);
        INSERT INTO contacts (tenant_id, id, ref_no, kind, channel, subject, customer_id, description, received_at, received_month)
        VALUES (app_tenant_id(), gen_random_uuid(), 'C1', 'complaint', 'hotline', 'billing', $CUSTOMER, '电费太高', '2026-10-20 10:00+08', '2026-10-01'),
               (app_tenant_id(), gen_random_uuid(), 'C2', 'inquiry', 'hotline', 'billing', $CUSTOMER, '问电价', '2026-10-21 10:00+08', '2026-10-01');
        INSERT INTO work_orders (tenant_id, id, ref_no, kind, state, customer_id, title, created_at, created_month)
        VALUES (app_tenant_id(), gen_random_uuid(), 'W1', 'meter_check', 'open', $CUSTOMER, '电能表校验', '2026-10-21 10:00+08', '2026-10-01');"#,
        customer,
    )
    .await;
    let rules = LoadRules::new(&Config { interval_days_back: 36_500, ..Config::defaults() }, Utc::now());
    let mut loader = Loader::begin_with(&app.pool, tenant, false, I18n(Locale::En), rules).await.unwrap();
    for line in [
        "meter,ts,kw",
        "D1190000001,2026-10-05 03:00,30",
        "D1190000001,2026-10-05 09:00,30",
        "D1190000001,2026-10-05 13:00,10",
        "D1190000001,2026-10-05 19:30,30",
    ] {
        loader.line(line).await.unwrap();
    }
    let report = loader.finish().await.unwrap();
    assert_eq!((report.loaded, report.rejected), (4, 0));
    customer
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// The hand-made customer's expected rows.
fn expected() -> Vec<(Figures, Extra)> {
    vec![
        // The bill and its on-time payment; no bill a year before.
        (
            (s("2025-10"), s("100.00"), s("50.00"), s("50.00"), s("0.00"), s("0.00"), 0, 0, 0, 0, 0),
            (None, None, None, 9),
        ),
        // The payment's month: nothing billed, nothing owed.
        ((s("2025-11"), s("0.00"), s("0.00"), s("0.00"), s("0.00"), s("0.00"), 0, 0, 0, 0, 0), (None, None, None, 10)),
        // Paid late, with a late fee; owed nothing yet at the month end (due 2026-10-18).
        (
            (s("2026-09"), s("200.00"), s("120.00"), s("0.00"), s("120.00"), s("0.00"), 0, 1, 0, 0, 0),
            (None, None, None, 20),
        ),
        // The September bill unpaid at the end of October (13 days past due);
        // the reversed payment does not count, the later one was on time.
        (
            (s("2026-10"), s("300.00"), s("150.00"), s("150.00"), s("0.00"), s("120.00"), 13, 0, 0, 1, 1),
            (Some(s("0.8333")), Some(s("0.6000")), Some(s("2.0000")), 21),
        ),
        // Three payments received, one reversed; everything paid by the month end.
        ((s("2026-11"), s("0.00"), s("0.00"), s("0.00"), s("0.00"), s("0.00"), 0, 0, 1, 0, 0), (None, None, None, 22)),
    ]
}

#[tokio::test]
async fn a_refresh_computes_every_figure_and_a_second_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let alpha = app.alpha.id;
    hand_made_customer(&app, alpha).await;

    let first = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!((first.recomputed, first.removed), (5, 0), "the five months with activity");
    assert_eq!(rows(&app.pool, alpha).await, expected());

    let again = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!((again.recomputed, again.removed), (0, 0), "nothing changed, nothing recomputed");
    assert_eq!(rows(&app.pool, alpha).await, expected());

    let full = refresh(&app, alpha, Mode::Full).await;
    assert_eq!((full.recomputed, full.removed), (5, 0), "a full rebuild finds the same rows");
    assert_eq!(rows(&app.pool, alpha).await, expected());
    let full_again = refresh(&app, alpha, Mode::Full).await;
    assert_eq!(full_again.recomputed, 5);
    assert_eq!(rows(&app.pool, alpha).await, expected(), "idempotent");

    // Every customer's months marked (as a bill run marks its period): each
    // month is recomputed whole, not batch by batch, to the same rows.
    let mut owner = PgConnection::connect(&app.owner_url).await.unwrap();
    let marked = sqlx::query(
        "INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
         SELECT c.tenant_id, c.id, m.month FROM customers c CROSS JOIN (SELECT DISTINCT month FROM customer_metrics WHERE tenant_id = $1) m
         WHERE c.tenant_id = $1",
    )
    .bind(alpha)
    .execute(&mut owner)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(marked, 25, "five customers, five months");
    let whole = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!((whole.recomputed, whole.removed), (5, 0));
    assert_eq!(rows(&app.pool, alpha).await, expected());

    // A rebuild into an empty table inserts the same rows.
    sqlx::query("DELETE FROM customer_metrics WHERE tenant_id = $1").bind(alpha).execute(&mut owner).await.unwrap();
    let rebuilt = refresh(&app, alpha, Mode::Full).await;
    assert_eq!((rebuilt.recomputed, rebuilt.removed), (5, 0));
    assert_eq!(rows(&app.pool, alpha).await, expected());
}

#[tokio::test]
async fn only_the_months_a_new_bill_or_payment_touches_are_recomputed() {
    let app = TestApp::spawn().await;
    let alpha = app.alpha.id;
    let customer = hand_made_customer(&app, alpha).await;
    refresh(&app, alpha, Mode::Full).await;
    let before = rows(&app.pool, alpha).await;

    // A November bill: that month only.
    exec(
        &app.pool,
        alpha,
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount, paid)
         VALUES (app_tenant_id(), gen_random_uuid(), 'B-D', $CUSTOMER, '2026-11-01', 'res_tiered', '2026-11-28', '2026-12-28', 400, 210, 0)",
        customer,
    )
    .await;
    let report = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!((report.recomputed, report.removed), (1, 0));
    let after = rows(&app.pool, alpha).await;
    assert_eq!(after[..4], before[..4], "the other months as they were");
    assert_eq!(after[4].0, (s("2026-11"), s("400.00"), s("210.00"), s("0.00"), s("0.00"), s("0.00"), 0, 0, 1, 0, 0));
    assert_eq!(after[4].1, (None, None, None, 22), "no November bill a year before");

    // A payment dated back to 2025-11: its month and every later month with a
    // row (the arrears at those month ends may change).
    exec(
        &app.pool,
        alpha,
        "INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_by)
         VALUES (app_tenant_id(), gen_random_uuid(), $CUSTOMER, 5, 'bank', 'P9', '2025-11-20 10:00+08', 't')",
        customer,
    )
    .await;
    let report = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!((report.recomputed, report.removed), (4, 0), "2025-11, 2026-09, 2026-10 and 2026-11");
    assert_eq!(rows(&app.pool, alpha).await, after, "an unallocated payment changes no figure");

    // Cancelling the November bill leaves that month without activity: its row goes.
    exec(
        &app.pool,
        alpha,
        "UPDATE bills SET status = 'cancelled', cancelled_at = now() WHERE bill_no = 'B-D'",
        customer,
    )
    .await;
    let report = refresh(&app, alpha, Mode::Incremental).await;
    assert_eq!(report.removed, 0, "November still has its payments");
    let rows_now = rows(&app.pool, alpha).await;
    assert_eq!(rows_now[4].0.1, "0.00", "the cancelled bill's energy is gone");
}

#[tokio::test]
async fn one_tenants_refresh_never_touches_anothers_rows() {
    let app = TestApp::spawn().await;
    let (alpha, beta) = (app.alpha.id, app.beta.id);
    hand_made_customer(&app, alpha).await;
    seed_billable(&app.pool, beta, 2).await;
    exec(
        &app.pool,
        beta,
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         SELECT app_tenant_id(), gen_random_uuid(), 'BB' || account_no, id, '2026-10-01', 'res_tiered', '2026-11-03', '2026-11-18', 10, 5
         FROM customers WHERE account_no LIKE '119%'",
        Uuid::nil(),
    )
    .await;
    refresh(&app, beta, Mode::Full).await;
    let owner = sqlx::PgPool::connect(&app.owner_url).await.unwrap();
    let beta_rows = || async {
        sqlx::query_as::<_, (Uuid, chrono::NaiveDate, String, chrono::DateTime<Utc>)>(
            "SELECT customer_id, month, energy_kwh::text, computed_at FROM customer_metrics WHERE tenant_id = $1 ORDER BY 1, 2",
        )
        .bind(beta)
        .fetch_all(&owner)
        .await
        .unwrap()
    };
    let before = beta_rows().await;
    assert_eq!(before.len(), 2, "beta's two customers in October");

    let report = refresh(&app, alpha, Mode::Full).await;
    assert_eq!(report.recomputed, 5);
    assert_eq!(beta_rows().await, before, "beta's rows untouched, not even recomputed");
    let beta_changes: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_metric_changes WHERE tenant_id = $1")
        .bind(beta)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(beta_changes, 0);

    // As the application role, each tenant sees its own rows only.
    assert_eq!(rows(&app.pool, beta).await.len(), 2);
    assert_eq!(rows(&app.pool, alpha).await.len(), 5);
    let mut tx = db::begin_tenant(&app.pool, beta, None).await.unwrap();
    let alphas: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_metrics WHERE tenant_id = $1")
        .bind(alpha)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(alphas, 0, "beta sees none of alpha's metrics");
    let forged = sqlx::query(
        "INSERT INTO customer_metric_changes (tenant_id, customer_id, month) VALUES ($1, $2, '2026-10-01')",
    )
    .bind(alpha)
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await;
    assert!(forged.is_err(), "no change in another tenant's name");
}

#[tokio::test]
async fn the_refresh_command_reports_per_tenant() {
    let app = TestApp::spawn().await;
    hand_made_customer(&app, app.alpha.id).await;
    let out = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["metrics", "refresh", "--tenant", "alpha"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("alpha: 5 customer-months recomputed, 0 removed"), "{stdout}");
    assert_eq!(rows(&app.pool, app.alpha.id).await, expected());

    let full = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["metrics", "refresh", "--full"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&full.stdout);
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    assert!(stdout.contains("alpha: 5 customer-months recomputed") && stdout.contains("beta: 0"), "{stdout}");

    let unknown = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["metrics", "refresh", "--tenant", "nope"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope"));
}
