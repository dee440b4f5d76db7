//! Stored forecasts: the refresh over load_days, the round trip to the
//! customer page's read, the tenant calendar, the API and its isolation.

use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use gridcrm::{db, forecast, staff::Role};

fn target() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 16).unwrap() // a Monday
}

/// Weekdays about 100 kW plus a midday hump, weekends 60, for the tenant's
/// first two meters, from `from` to `to`.
async fn fill(app: &TestApp, tenant: uuid::Uuid, from: &str, to: &str) {
    let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query(
        "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
         SELECT app_tenant_id(), m.id, d::date, 15,
                (SELECT array_agg((CASE WHEN extract(isodow FROM d) >= 6 THEN 60 ELSE 100 END
                                   + 40 * sin(pi() * s / 96.0) + (s * 7 + extract(doy FROM d)::int * 13) % 5)::float8
                                  ORDER BY s)
                 FROM generate_series(0, 95) s)
         FROM meters m CROSS JOIN generate_series($1::date, $2::date, interval '1 day') d
         WHERE m.serial LIKE '%M0001' OR m.serial LIKE '%M0002'
         ON CONFLICT (tenant_id, meter_id, day) DO UPDATE SET kw = excluded.kw",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[tokio::test]
async fn the_refresh_stores_forecasts_that_read_back_with_the_actual_and_follow_the_calendar() {
    let app = TestApp::spawn().await;
    fill(&app, app.alpha.id, "2026-10-12", "2026-11-15").await;
    let quiet = |_, _| {};
    let report = forecast::db::refresh(&app.pool, app.alpha.id, Some(target()), false, &quiet).await.unwrap();
    assert_eq!((report.meters, report.customers), (2, 2));
    // The tenant, route R0001 and industry RES.
    assert_eq!(report.aggregates, 3, "{report:?}");
    assert_eq!(report.stored, 7);

    // Nothing new: the hourly job does nothing.
    let again = forecast::db::refresh(&app.pool, app.alpha.id, Some(target()), false, &quiet).await.unwrap();
    assert!(again.unchanged && again.stored == 0);

    let customer = app.alpha.customers[0];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let stored = forecast::db::latest_for_customer(&mut tx, customer).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    let f = &stored.forecast;
    assert_eq!((f.target_day, f.minutes, f.points.len(), f.times.len()), (target(), 15, 96, 96));
    assert_eq!(f.times[0].to_rfc3339(), "2026-11-15T16:00:00+00:00", "local midnight in Shanghai");
    assert!(f.mape.is_some() && f.baseline_mape.is_some() && f.holdout_days == 14);
    assert_eq!(f.beats_baseline, f.mape < f.baseline_mape && f.method != "seasonal_naive_week");
    assert!((mean(&f.points) - 127.0).abs() < 10.0, "a working Monday: {}", mean(&f.points));
    assert!(stored.actual.is_empty(), "the day has not come");
    assert_eq!(stored.energy.len(), 2);
    let month = stored.energy.iter().find(|e| e.period == "month").unwrap();
    assert_eq!(month.period_start, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    // November: 15 measured days and 15 forecast, some 2,300 to 3,100 kWh a day.
    assert!((60_000.0..95_000.0).contains(&month.kwh), "{month:?}");

    // The actual arrives: shown beside the forecast, and the refresh sees new data.
    fill(&app, app.alpha.id, "2026-11-16", "2026-11-16").await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let stored = forecast::db::latest_for_customer(&mut tx, customer).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored.actual.len(), 96);
    assert!(stored.actual.iter().all(Option::is_some));

    // The day made a holiday: forecast like a Sunday, in a new row beside the first.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("INSERT INTO calendar_days (tenant_id, day, kind) VALUES (app_tenant_id(), '2026-11-16', 'holiday')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let holiday = forecast::db::refresh(&app.pool, app.alpha.id, Some(target()), true, &quiet).await.unwrap();
    assert_eq!(holiday.stored, 7);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let latest = forecast::db::latest(&mut tx, "customer", &customer.to_string()).await.unwrap().unwrap();
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM forecasts WHERE subject_kind = 'customer' AND subject_key = $1")
            .bind(customer.to_string())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows, 2, "history is kept by creation time");
    assert!(latest.created_at > f.created_at);
    assert!((mean(&latest.points) - 87.0).abs() < 10.0, "like a Sunday: {}", mean(&latest.points));

    // The other company sees none of it.
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    assert!(forecast::db::latest_for_customer(&mut tx, customer).await.unwrap().is_none());
    assert!(forecast::db::latest_of_kind(&mut tx, "tenant", None).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_forecast_api_answers_for_the_callers_company_only() {
    let app = TestApp::spawn().await;
    fill(&app, app.alpha.id, "2026-10-12", "2026-11-15").await;
    forecast::db::refresh(&app.pool, app.alpha.id, Some(target()), false, &|_, _| {}).await.unwrap();
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let beta_key = app.api_key(&app.beta, Role::AccountManager).await;
    let client = reqwest::Client::new();
    let customer = app.alpha.customers[0];

    let body: Value = app.api_get(&key, &format!("/api/v1/customers/{customer}/forecast?horizon=4")).await;
    let f = &body["forecast"];
    assert_eq!(body["customer_id"], json!(customer));
    assert_eq!(f["points"].as_array().unwrap().len(), 4);
    assert_eq!(f["times"][1], "2026-11-15T16:15:00Z");
    assert_eq!(f["target_day"], "2026-11-16");
    assert!(f["method"].is_string() && f["mape"].is_number() && f["baseline_mape"].is_number());
    assert!(f["beats_baseline"].is_boolean() && f["created_at"].is_string());
    assert_eq!(f["actual"], json!([]));
    // A customer not forecast yet: said so.
    let other = app.alpha.customers[3];
    let body: Value = app.api_get(&key, &format!("/api/v1/customers/{other}/forecast")).await;
    assert_eq!(body["forecast"], Value::Null);
    let bad = client
        .get(app.url(&format!("/api/v1/customers/{customer}/forecast?horizon=0")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("horizon"));
    // Another company's customer does not exist for this caller.
    let foreign = client
        .get(app.url(&format!("/api/v1/customers/{customer}/forecast")))
        .bearer_auth(&beta_key)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    for by in ["tenant", "route", "industry"] {
        let body: Value = app.api_get(&key, &format!("/api/v1/forecasts/aggregate?by={by}")).await;
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{by}: {body}");
        assert_eq!(items[0]["forecast"]["points"].as_array().unwrap().len(), 96);
        let beta: Value = app.api_get(&beta_key, &format!("/api/v1/forecasts/aggregate?by={by}")).await;
        assert_eq!(beta["items"], json!([]), "{by}: only the caller's own");
        assert_eq!(beta["energy"], json!([]));
    }
    let routes: Value = app.api_get(&key, "/api/v1/forecasts/aggregate?by=route").await;
    assert_eq!((&routes["items"][0]["code"], &routes["items"][0]["name"]), (&json!("R0001"), &json!("一号抄表段")));
    let tenant: Value = app.api_get(&key, "/api/v1/forecasts/aggregate?by=tenant").await;
    assert_eq!(tenant["energy"].as_array().unwrap().len(), 2);
    let bad = client.get(app.url("/api/v1/forecasts/aggregate?by=meter")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn weather_is_validated_per_item_upserted_and_kept_per_company() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let beta_key = app.api_key(&app.beta, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let post_json = |key: String, body: Value| {
        let client = client.clone();
        let url = app.url("/api/v1/weather");
        async move { client.post(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };
    let good = json!({"observations": [
        {"ts": "2026-11-27T10:00:00+08:00", "temperature": 21.5},
        {"ts": "2026-11-27 11:00", "temperature": 23}
    ]});
    let r = post_json(key.clone(), good.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["inserted"].as_u64(), report["replaced"].as_u64()), (Some(2), Some(0)));
    let r: Value = post_json(key.clone(), good).await.json().await.unwrap();
    assert_eq!((r["inserted"].as_u64(), r["replaced"].as_u64()), (Some(0), Some(2)), "sent again: replaced");

    let bad = json!({"observations": [
        {"ts": "2026-11-27T12:00:00+08:00", "temperature": 20},
        {"ts": "noon", "temperature": 20},
        {"ts": "2026-11-27T13:00:00+08:00", "temperature": 120}
    ]});
    let r = post_json(key.clone(), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.contains("observations[1].ts") && text.contains("observations[2].temperature"), "{text}");
    let list = post_json(key.clone(), json!([{"ts": "2026-11-27T12:00:00+08:00", "temperature": 20}])).await;
    assert_eq!(list.status(), StatusCode::UNPROCESSABLE_ENTITY, "a body is an object");

    let csv = client
        .post(app.url("/api/v1/weather"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("ts,temperature\n2026-11-27T14:00:00+08:00,24.5\n2026-11-27 15:00,oops\n")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(csv.text().await.unwrap().contains("line[3].temperature"));

    // The other company's series is its own.
    let r =
        post_json(beta_key, json!({"observations": [{"ts": "2026-11-27T10:00:00+08:00", "temperature": -5}]})).await;
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["inserted"].as_u64(), Some(1), "the same time is new for another company");
    for (tenant, expected) in [(app.alpha.id, vec![21.5, 23.0]), (app.beta.id, vec![-5.0])] {
        let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
        let temps: Vec<f64> = sqlx::query_scalar("SELECT temperature FROM weather_observations ORDER BY ts")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(temps, expected);
    }
}

#[tokio::test]
async fn the_hourly_job_forecasts_tomorrow_once_and_the_command_forces_a_day() {
    let app = TestApp::spawn().await;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let (from, to) = (today - chrono::Duration::days(35), today - chrono::Duration::days(1));
    fill(&app, app.alpha.id, &from.to_string(), &to.to_string()).await;

    // The job: alpha's tomorrow (beta has no load data), then nothing until something changes.
    let first = forecast::db::refresh_everywhere(&app.pool).await.unwrap();
    assert_eq!((first.meters, first.customers), (2, 2), "{first:?}");
    assert!(first.stored >= 4, "{first:?}");
    let tomorrow = today + chrono::Duration::days(1);
    assert_eq!(app.count_all(&format!("forecasts WHERE target_day = '{tomorrow}'")).await as usize, first.stored);
    let again = forecast::db::refresh_everywhere(&app.pool).await.unwrap();
    assert_eq!(again.stored, 0, "{again:?}");

    // The command forecasts the day asked for, even when nothing changed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["forecast", "refresh", "--tenant", "alpha", "--day", &today.to_string()])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("alpha: {today} forecast for 2 meters, 2 customers")), "{said}");
    assert!(app.count_all(&format!("forecasts WHERE target_day = '{today}'")).await > 0);
}
