//! Load analytics: a customer's load page, the meter load API, the
//! peak-shifting list and report, on interval data loaded through the API;
//! bad periods named; another company's meters and customers not found.

use chrono::{Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::support::TestApp;
use gridcrm::{db, staff::Role};

/// Two days before yesterday and the day before yesterday, in the tenants' zone.
fn two_recent_days() -> (NaiveDate, NaiveDate) {
    let yesterday = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive() - Duration::days(1);
    (yesterday - Duration::days(2), yesterday - Duration::days(1))
}

/// 100 kW all day, 300 kW from 08:00 to 11:00, for ALPHAM0001 on both days,
/// loaded over the API and rebuilt into load days as the minute job does.
pub(crate) async fn load_two_days(app: &TestApp) {
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let (first, second) = two_recent_days();
    let mut file = String::from("meter,ts,kw\n");
    for day in [first, second] {
        for q in 0..96u32 {
            let kw = if (32..44).contains(&q) { 300 } else { 100 };
            file.push_str(&format!("ALPHAM0001,{} {:02}:{:02},{kw}\n", day, q / 4, q % 4 * 15));
        }
    }
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/interval-data"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(gridcrm::interval::days::rebuild_marked(&app.pool, app.alpha.id).await.unwrap(), 2);
}

/// `days` days of the same curve as [`load_two_days`] for ALPHAM0001, ending
/// the day before yesterday, and the day-ahead forecasts refreshed on them.
pub(crate) async fn load_weeks_and_forecast(app: &TestApp, days: i64) {
    let (_, last) = two_recent_days();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
         SELECT app_tenant_id(), m.id, d::date, 15,
                (SELECT array_agg(CASE WHEN s >= 32 AND s < 44 THEN 300 ELSE 100 END::float8 ORDER BY s)
                 FROM generate_series(0, 95) s)
         FROM meters m CROSS JOIN generate_series($1::date, $2::date, interval '1 day') d
         WHERE m.serial = 'ALPHAM0001'
         ON CONFLICT (tenant_id, meter_id, day) DO UPDATE SET kw = excluded.kw",
    )
    .bind(last - Duration::days(days - 1))
    .bind(last)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let report = gridcrm::forecast::db::refresh(&app.pool, app.alpha.id, None, true, &|_, _| {}).await.unwrap();
    assert!(report.customers >= 1, "{report:?}");
}

async fn meter_id(app: &TestApp, serial: &str) -> Uuid {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT id FROM meters WHERE serial = $1").bind(serial).fetch_one(&mut *tx).await.unwrap()
}

#[tokio::test]
async fn the_load_page_and_api_show_the_curves_statistics_and_bands() {
    let app = TestApp::spawn().await;
    load_two_days(&app).await;
    let (first, second) = two_recent_days();
    let customer = app.alpha.customers[0];
    let manager = app.login(&app.alpha, "manager").await;
    let (status, page) = manager.get_text(&format!("/customers/{customer}/load?from={first}&to={second}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"day-chart\"") && page.contains("<polyline"), "the curves are drawn");
    // Max 300 kW first at 08:00 of the first day; 6,000 kWh; average 125 kW, so a load rate of 125 / 300.
    assert!(page.contains(&format!("{first} 08:00")), "{page}");
    assert!(page.contains("41.7 %"), "load rate: {page}");
    assert!(page.contains("6,000") || page.contains("6000"), "energy: {page}");

    // The API gives the same figures, at quarter hours, with the band split.
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let meter = meter_id(&app, "ALPHAM0001").await;
    let body = app.api_get(&key, &format!("/api/v1/meters/{meter}/load?from={first}&to={second}")).await;
    assert_eq!(body["days"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(body["days"][0]["kw"][32], 300.0);
    assert_eq!(
        (body["summary"]["max_kw"].as_f64(), body["summary"]["energy_kwh"].as_f64()),
        (Some(300.0), Some(6000.0))
    );
    assert_eq!(body["customer_id"], Value::from(customer.to_string()));
    // Peak 08–11 (900) + 18–23 (500) a day; valley 23–07 (800); flat the rest (800).
    assert_eq!(
        (body["bands"]["peak_kwh"].as_f64(), body["bands"]["valley_kwh"].as_f64(), body["bands"]["flat_kwh"].as_f64()),
        (Some(2800.0), Some(1600.0), Some(1600.0))
    );
    // With no period given: the 30 days up to the last with data.
    let body = app.api_get(&key, &format!("/api/v1/meters/{meter}/load")).await;
    assert_eq!(body["to"], Value::from(second.to_string()));

    // Bad periods are named.
    let (status, page) = manager.get_text(&format!("/customers/{customer}/load?from=2026-13-01")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("from-error"), "{page}");
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/meters/{meter}/load?from={second}&to={first}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("load_from_after_to"), "{body}");

    // A customer without data gets an empty state, not an error.
    let (status, page) = manager.get_text(&format!("/customers/{}/load", app.alpha.customers[2])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("class=\"empty\""), "{page}");
}

#[tokio::test]
async fn peak_shifting_ranks_customers_and_prints_a_report() {
    let app = TestApp::spawn().await;
    load_two_days(&app).await;
    let customer = app.alpha.customers[0];
    let manager = app.login(&app.alpha, "manager").await;
    let (status, page) = manager.get_text("/accounts/peak-shifting?share=25").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("/customers/{customer}/peak-shifting?share=25")), "{page}");
    // Base 100 kW (the valley); above it 200 kW × 3 h × 2 days = 1,200 kWh movable; 25 % = 300 kWh.
    assert!(page.contains("1,200") || page.contains("1200"), "{page}");
    // The company's peak is this customer's 08:00: 25 % of 200 kW.
    assert!(page.contains("50.0 kW") || page.contains(">50<"), "{page}");
    let (status, report) = manager.get_text(&format!("/customers/{customer}/peak-shifting?share=25")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(report.contains("id=\"peak-chart\"") && report.contains("data-print"), "{report}");
    let (status, page) = manager.get_text("/accounts/peak-shifting?share=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("share-error"));
    let csv = manager.get("/accounts/peak-shifting.csv?share=25").await.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.lines().count() == 2, "{csv}");
}

#[tokio::test]
async fn another_companys_meters_and_customers_are_not_found() {
    let app = TestApp::spawn().await;
    load_two_days(&app).await;
    let customer = app.alpha.customers[0];
    let meter = meter_id(&app, "ALPHAM0001").await;
    let theirs = app.login(&app.beta, "admin").await;
    for path in [format!("/customers/{customer}/load"), format!("/customers/{customer}/peak-shifting")] {
        let (status, _) = theirs.get_text(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, list) = theirs.get_text("/accounts/peak-shifting").await;
    assert!(!list.contains(&customer.to_string()), "beta's list shows only beta's customers");
    let key = app.api_key(&app.beta, Role::AccountManager).await;
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/meters/{meter}/load")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // And their own customers' pages do not read alpha's days by the meter parameter.
    let (status, _) = theirs.get_text(&format!("/customers/{}/load?meter={meter}", app.beta.customers[0])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "not one of this customer's meters");
}

#[tokio::test]
async fn the_load_page_shows_the_forecast_and_says_when_it_does_not_beat_the_baseline() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let manager = app.login(&app.alpha, "manager").await;
    let path = format!("/customers/{customer}/load");
    let (_, page) = manager.get_text(&path).await;
    assert!(page.contains(r#"<p class="empty" id="forecast">"#), "no forecast yet: {page}");

    // Every day the same curve: the same day last week is exact, so no method beats it.
    load_weeks_and_forecast(&app, 35).await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let stored = gridcrm::forecast::db::latest_for_customer(&mut tx, customer).await.unwrap().expect("a forecast");
    tx.commit().await.unwrap();
    assert!(!stored.forecast.beats_baseline, "{:?}", stored.forecast);
    let (status, page) = manager.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    let chart =
        page.split(r#"id="forecast-chart""#).nth(1).expect("the forecast chart").split("</figure>").next().unwrap();
    assert_eq!(chart.matches("<polyline").count(), 1, "tomorrow has no actual yet: {chart}");
    assert!(page.contains(r#"id="forecast-no-better""#), "the page says the forecast is no better than last week");
    let day = stored.forecast.target_day;
    assert!(page.contains(&day.format("%Y年%m月%d日").to_string()), "the day forecast is named: {day}");
    assert_eq!(page.contains(r#"id="energy-forecast""#), !stored.energy.is_empty());

    // Another company's manager sees no forecast of it (the customer is not found).
    let other = app.login(&app.beta, "manager").await;
    let (status, _) = other.get_text(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_company_route_and_industry_load_sums_the_groups_meters_and_names_a_bad_choice() {
    let app = TestApp::spawn().await;
    load_two_days(&app).await;
    let (first, second) = two_recent_days();
    let customer = app.alpha.customers[0];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (industry, other_industry): (String, String) = sqlx::query_as(
        "SELECT c.industry_code,
                (SELECT i.code FROM industries i WHERE i.tenant_id = $2 AND i.code <> c.industry_code ORDER BY i.code LIMIT 1)
         FROM customers c WHERE c.tenant_id = $2 AND c.id = $1",
    )
    .bind(customer)
    .bind(app.alpha.id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let manager = app.login(&app.alpha, "manager").await;
    let period = format!("from={first}&to={second}");

    // Only ALPHAM0001 has data: the company's sum is its curve (max 300, load rate 125 / 300).
    for path in [format!("/load?{period}"), format!("/load?by=industry&industry={industry}&{period}")] {
        let (status, page) = manager.get_text(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(page.contains("41.7 %") && page.contains(&format!("{first} 08:00")), "{path}: {page}");
        assert!(page.contains(r#"id="week-chart""#));
    }
    // An industry without interval data: the empty state, not zeros.
    let (_, page) = manager.get_text(&format!("/load?by=industry&industry={other_industry}&{period}")).await;
    assert!(page.contains(r#"<p class="empty">"#) && !page.contains(r#"id="load-summary""#), "{page}");
    // A route that is not the company's is named.
    let (status, page) = manager.get_text(&format!("/load?by=route&route=NOPE&{period}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"name="route" aria-invalid="true""#), "{page}");

    // Another company sees none of it; counter staff do not work accounts.
    let theirs = app.login(&app.beta, "manager").await;
    let (status, page) = theirs.get_text(&format!("/load?{period}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(r#"id="load-summary""#), "{page}");
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/load").await.status(), StatusCode::FORBIDDEN);
}
