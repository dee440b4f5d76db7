//! Load anomalies: the scan finds a change injected into load_days once,
//! raises the `load_anomaly` event, shows it on the manager's portfolio and
//! its own page, is acknowledged with an audited note, and stays within its
//! company.

use chrono::{Datelike, Days, NaiveDate, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{notices::notices, support::TestApp};
use gridcrm::{anomalies, db, notices::plan};

/// Today where the test companies are (Asia/Shanghai).
fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

async fn meter_of(conn: &mut PgConnection, customer: Uuid) -> Uuid {
    sqlx::query_scalar(
        "SELECT i.meter_id FROM meter_installations i JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
         WHERE p.customer_id = $1 AND i.removed_on IS NULL",
    )
    .bind(customer)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Nine weeks of 15-minute days up to yesterday: a works' weekly shape and
/// noise, the level multiplied by `1 + shift` from `change` on. One day has
/// a few readings missing, one has no row.
async fn load(conn: &mut PgConnection, meter: Uuid, seed: u64, change: Option<(NaiveDate, f64)>) {
    const WEEK: [f64; 7] = [1.0, 1.02, 1.0, 0.98, 0.95, 0.62, 0.48];
    let mut rng = StdRng::seed_from_u64(seed);
    let first = today() - Days::new(63);
    for day in first.iter_days().take_while(|d| *d < today()) {
        let noise: f64 = rng.gen_range(-0.08..0.08);
        if day == first + Days::new(10) {
            continue;
        }
        let shift = change.filter(|(at, _)| day >= *at).map_or(1.0, |(_, s)| 1.0 + s);
        let level = 800.0 * WEEK[day.weekday().num_days_from_monday() as usize] * (1.0 + noise) * shift;
        let mut kw: Vec<Option<f64>> = (0..96).map(|q| Some(level * (0.7 + 0.6 * ((q / 4) as f64 / 23.0)))).collect();
        if day == first + Days::new(20) {
            kw[3] = None;
            kw[4] = None;
        }
        sqlx::query(
            "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw) VALUES (app_tenant_id(), $1, $2, 15, $3)",
        )
        .bind(meter)
        .bind(day)
        .bind(&kw)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
}

struct Setup {
    changed: Uuid,
    change_day: NaiveDate,
}

/// Customer 0 of alpha (the manager's) drops by 35 % twenty days ago;
/// customer 1 keeps its level.
async fn setup(app: &TestApp) -> Setup {
    let [changed, steady] = [app.alpha.customers[0], app.alpha.customers[1]];
    let change_day = today() - Days::new(20);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET account_manager_id = $2 WHERE id = ANY($1)")
        .bind(vec![changed, steady])
        .bind(app.alpha.user_id("manager"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let m = meter_of(&mut tx, changed).await;
    load(&mut tx, m, 1, Some((change_day, -0.35))).await;
    let m = meter_of(&mut tx, steady).await;
    load(&mut tx, m, 2, None).await;
    tx.commit().await.unwrap();
    Setup { changed, change_day }
}

async fn anomaly_rows(app: &TestApp) -> Vec<(Uuid, Uuid, NaiveDate, String, String)> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_as("SELECT id, customer_id, change_day, direction, status FROM load_anomalies ORDER BY change_day")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_scan_finds_an_injected_drop_once_and_raises_the_notice_event() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;

    let first = anomalies::db::scan_tenant(&app.pool, app.alpha.id).await.unwrap();
    assert_eq!((first.meters, first.found), (2, 1), "two meters looked at, one change");
    let rows = anomaly_rows(&app).await;
    assert_eq!(rows.len(), 1);
    let (id, customer, day, direction, status) = &rows[0];
    assert_eq!(*customer, s.changed);
    assert!((*day - s.change_day).num_days().abs() <= 1, "found {day} for {}", s.change_day);
    assert_eq!((direction.as_str(), status.as_str()), ("drop", "open"));
    assert_eq!(app.count_all("notice_outbox WHERE kind = 'load_anomaly'").await, 1, "the event is in the outbox");
    assert_eq!(
        app.count_all(&format!("customer_timeline WHERE kind = 'load_anomaly' AND link = '/load-anomalies/{id}'"))
            .await,
        1
    );

    // Scanning again records nothing twice; the hourly job skips a company
    // scanned today and scans the other.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["load", "scan", "--tenant", "alpha"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(said.contains("alpha: 2 meters scanned, 0 new load changes"), "{said}");
    let everywhere = anomalies::db::scan_everywhere(&app.pool).await.unwrap();
    assert_eq!(everywhere, anomalies::db::Scanned::default(), "alpha was scanned today; beta has no load");
    assert_eq!(app.count_all("load_anomalies").await, 1);
    assert_eq!(app.count_all("notice_outbox WHERE kind = 'load_anomaly'").await, 1);
    assert_eq!(app.count_all("load_anomaly_scans").await, 2);

    // The default rule is off (a drop may be theft); enabled, the customer is
    // told with the figures, once.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let rule = sqlx::query(
        "UPDATE notice_rules SET enabled = true, since = now() - interval '1 day' WHERE kind = 'load_anomaly' AND NOT enabled",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rule.rows_affected(), 1, "every company starts with a disabled load-anomaly rule");
    tx.commit().await.unwrap();
    plan::plan_everywhere(&app.pool).await.unwrap();
    plan::plan_everywhere(&app.pool).await.unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let told = notices(&mut tx, "load_anomaly").await;
    assert!(!told.is_empty() && told.iter().all(|n| n.customer_id == s.changed), "{told:?}");
    let n = &told[0];
    assert_eq!(n.data["change_date"].as_str(), Some(day.to_string().as_str()));
    let pct = n.data["change_pct"].as_str().unwrap();
    let whole: i32 = pct.trim_end_matches('%').parse().unwrap();
    assert!((-42..=-28).contains(&whole), "{pct}");
    let (subject, body) = gridcrm::notices::template::builtin(gridcrm::notices::Kind::LoadAnomaly, &n.lang);
    let text = gridcrm::notices::template::render(subject, body, &n.data).unwrap().body;
    assert!(text.contains(pct) && text.contains("ALPHAM0001"), "{text}");
}

#[tokio::test]
async fn the_manager_sees_the_change_and_acknowledges_it_within_their_company() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    anomalies::db::scan_tenant(&app.pool, app.alpha.id).await.unwrap();
    let id = anomaly_rows(&app).await[0].0;
    let page = format!("/load-anomalies/{id}");

    // On the manager's portfolio, on the list and on its own page with the chart.
    let manager = app.login(&app.alpha, "manager").await;
    let (status, portfolio) = manager.get_text("/accounts/portfolio").await;
    assert_eq!(status, StatusCode::OK);
    assert!(portfolio.contains(&page) && portfolio.contains("负荷突变"), "the portfolio links the change");
    let (_, list) = manager.get_text("/load-anomalies").await;
    assert!(list.contains(&page));
    let (status, html) = manager.get_text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg") && html.contains("ALPHAM0001") && html.contains("下降"), "chart and figures");
    assert!(html.contains(&format!("突变日期 {}", anomaly_rows(&app).await[0].2.format("%m-%d"))), "the change marked");
    let (status, _) = manager.get_text(&format!("/customers/{}/load", s.changed)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("/customers/{}/load?meter=", s.changed)), "a link to the load curves");

    // Another company's staff: 404 on the page and the action, nothing in their list.
    let theirs = app.login(&app.beta, "admin").await;
    assert_eq!(theirs.get(&page).await.status(), StatusCode::NOT_FOUND);
    let r = theirs.post(&format!("{page}/acknowledge"), &[("note", "x")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, their_list) = theirs.get_text("/load-anomalies?status=all").await;
    assert!(!their_list.contains(&id.to_string()));
    // Counter staff do not work accounts.
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get(&page).await.status(), StatusCode::FORBIDDEN);

    // A note too long is named; a good one acknowledges, audited, once.
    let long = "长".repeat(2001);
    let bad = manager.post(&format!("{page}/acknowledge"), &[("note", &long)]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(anomaly_rows(&app).await[0].4, "open");
    let ok = manager.post(&format!("{page}/acknowledge"), &[("note", "新增生产线停运检修，已核实")]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(anomaly_rows(&app).await[0].4, "acknowledged");
    assert_eq!(app.count_all("audit_log WHERE entity = 'load_anomaly' AND action = 'acknowledge'").await, 1);
    let (_, html) = manager.get_text(&page).await;
    assert!(html.contains("新增生产线停运检修") && !html.contains("/acknowledge\""), "the note, and no form");
    let twice = manager.post(&format!("{page}/acknowledge"), &[("note", "")]).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(app.count_all("audit_log WHERE entity = 'load_anomaly'").await, 1);

    // Acknowledged, it leaves the portfolio and the open list; the admin sees it under all.
    let (_, portfolio) = manager.get_text("/accounts/portfolio").await;
    assert!(!portfolio.contains(&page));
    let admin = app.login(&app.alpha, "admin").await;
    let (_, open) = admin.get_text("/load-anomalies").await;
    assert!(!open.contains(&page));
    let (_, all) = admin.get_text("/load-anomalies?status=all").await;
    assert!(all.contains(&page));
}
