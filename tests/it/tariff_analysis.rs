//! Tariff analysis: the recommendation on hand-computed customers (demand
//! cheaper than capacity, and the other way), to the fen, from bills,
//! readings and load curves; the analysis page (average prices, the
//! decomposition adding up, the what-if), its CSV and field errors; and
//! isolation between tenants.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Tenant, TestApp};
use gridcrm::{db, staff::Role};

/// Twelve months of bills for a two-part customer of 1,000 kVA: each month
/// 10,000 kWh peak, 20,000 flat and 10,000 valley at the default
/// large_two_part prices (9,159 + 12,212 + 3,053 = 24,424 yuan) and 30,000
/// yuan of capacity charge; the last month's power factor 0.95, the others 0.90.
async fn two_part_year(app: &TestApp, tenant: &Tenant, customer: Uuid, tag: &str) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(
        "UPDATE customers SET class_code = 'large_industry', industry_code = 'C26', tariff_code = 'large_two_part',
                capacity_kva = 1000 WHERE id = $1",
    )
    .bind(customer)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "WITH m AS (
             SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - make_interval(months => g))::date AS period, g
             FROM generate_series(1, 12) g
         ),
         b AS (
             INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount, power_factor)
             SELECT app_tenant_id(), gen_random_uuid(), $2 || g, $1, period, 'large_two_part', period + 31, period + 45,
                    40000, 54424, CASE WHEN g = 1 THEN 0.95 ELSE 0.90 END
             FROM m RETURNING id
         )
         INSERT INTO bill_lines (tenant_id, bill_id, line_no, kind, tariff_code, quantity, unit_price, amount)
         SELECT app_tenant_id(), b.id, x.n, x.kind, 'large_two_part', x.q, x.p, x.q * x.p
         FROM b CROSS JOIN (VALUES (1, 'energy_peak', 10000, 0.9159), (2, 'energy_flat', 20000, 0.6106),
                                   (3, 'energy_valley', 10000, 0.3053), (4, 'basic_capacity', 1000, 30))
              AS x (n, kind, q, p)
         RETURNING NULL AS not_by_copy",
    )
    .bind(customer)
    .bind(format!("TA{tag}"))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The month's maximum demand as the meter reader read it.
async fn read_demand(app: &TestApp, tenant: &Tenant, customer: Uuid, kw: Decimal) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, read_on, total, max_demand_kw, source, status)
         SELECT app_tenant_id(), gen_random_uuid(), i.meter_id, p.id, p.customer_id, m.period, m.period + 27, 1000 * g, $2, 'api', 'ok'
         FROM supply_points p JOIN meter_installations i ON i.supply_point_id = p.id AND i.removed_on IS NULL
         CROSS JOIN (SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - make_interval(months => g))::date AS period, g
                     FROM generate_series(1, 12) g) m
         WHERE p.customer_id = $1",
    )
    .bind(customer)
    .bind(kw)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The month's maximum demand only in the load curves: one day a month whose
/// highest quarter hour is `kw`.
async fn curve_demand(app: &TestApp, tenant: &Tenant, customer: Uuid, kw: f64) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
         SELECT app_tenant_id(), i.meter_id, m.period + 9, 15, array_fill(100::float8, ARRAY[95]) || $2::float8
         FROM supply_points p JOIN meter_installations i ON i.supply_point_id = p.id AND i.removed_on IS NULL
         CROSS JOIN (SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - make_interval(months => g))::date AS period
                     FROM generate_series(1, 12) g) m
         WHERE p.customer_id = $1",
    )
    .bind(customer)
    .bind(kw)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn dec_of(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.to_string().parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn option<'a>(body: &'a Value, kind: &str) -> &'a Value {
    body["options"].as_array().unwrap().iter().find(|o| o["basic_option"] == kind).unwrap()
}

#[tokio::test]
async fn demand_charging_is_recommended_when_the_maximum_demand_stays_low() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers[0];
    two_part_year(&app, &app.alpha, c, "A").await;
    read_demand(&app, &app.alpha, c, dec!(600)).await;
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let body = app.api_get(&key, &format!("/api/v1/customers/{c}/tariff-recommendation")).await;
    assert_eq!(body["months"].as_array().unwrap().len(), 12, "{body}");
    // Capacity: 12 × 54,424 less 0.75 % of 54,424 (408.18) for the month at 0.95.
    let capacity = option(&body, "per_kva");
    assert_eq!(dec_of(&capacity["total"]), dec!(652679.82));
    assert_eq!(capacity["current"], true);
    // Demand: 600 kW × 45 = 27,000 a month: 12 × 51,424 less 385.68.
    let demand = option(&body, "per_kw_demand");
    assert_eq!(dec_of(&demand["total"]), dec!(616702.32));
    assert_eq!(dec_of(&demand["basic_price"]), dec!(45));
    assert_eq!(body["best"]["basic_option"], "per_kw_demand");
    assert_eq!(dec_of(&body["saving"]), dec!(35977.50));
    assert_eq!(dec_of(&body["billed"]), dec!(653088));

    // The page says the same.
    let manager = app.login(&app.alpha, "manager").await;
    let (status, html) = manager.get_text(&format!("/customers/{c}/tariff-recommendation")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("¥35,977.50"), "{html}");
    assert!(html.contains("¥616,702.32"));
    // The customer page links to it.
    let (_, html) = manager.get_text(&format!("/customers/{c}")).await;
    assert!(html.contains(&format!("href=\"/customers/{c}/tariff-recommendation\"")));
}

#[tokio::test]
async fn capacity_charging_stays_when_the_load_curve_peaks_high() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers[2];
    two_part_year(&app, &app.alpha, c, "B").await;
    // No demand read: the load curves' 700 kW is the month's maximum.
    curve_demand(&app, &app.alpha, c, 700.0).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let body = app.api_get(&key, &format!("/api/v1/customers/{c}/tariff-recommendation")).await;
    assert_eq!(dec_of(&body["months"][0]["max_demand_kw"]), dec!(700));
    // Demand: 700 × 45 = 31,500 > 30,000: 12 × 55,924 less 0.75 % of 55,924 (419.43).
    assert_eq!(dec_of(&option(&body, "per_kw_demand")["total"]), dec!(670668.57));
    assert_eq!(body["best"]["basic_option"], "per_kva");
    assert_eq!(body["best"]["current"], true);
    assert_eq!(dec_of(&body["best"]["total"]), dec!(652679.82));
    assert_eq!(dec_of(&body["saving"]), Decimal::ZERO);
}

#[tokio::test]
async fn without_a_demand_the_demand_option_says_what_is_missing() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers[0];
    two_part_year(&app, &app.alpha, c, "C").await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let body = app.api_get(&key, &format!("/api/v1/customers/{c}/tariff-recommendation")).await;
    assert_eq!(option(&body, "per_kw_demand")["missing"], "no_demand");
    assert_eq!(option(&body, "per_kw_demand")["total"], Value::Null);
    assert_eq!(body["best"]["basic_option"], "per_kva");
    // Counter staff do not see the account managers' analyses.
    let counter = app.api_key(&app.alpha, Role::CounterStaff).await;
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/customers/{c}/tariff-recommendation")))
        .bearer_auth(&counter)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_companys_customer_is_not_found_on_the_route_and_page() {
    let app = TestApp::spawn().await;
    let theirs = app.beta.customers[0];
    two_part_year(&app, &app.beta, theirs, "D").await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/customers/{theirs}/tariff-recommendation")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let admin = app.login(&app.alpha, "admin").await;
    let (status, body) = admin.get_text(&format!("/customers/{theirs}/tariff-recommendation")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("王建国"));
    // The analysis page counts only alpha's bills: beta's large industry is not there.
    let (status, html) = admin.get_text("/accounts/tariff-analysis?kind=percent&change=10").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("¥653,088.00"), "beta's bills leaked into alpha's what-if");
}

/// customer_metrics rows: (customer, months back, kWh, billed).
async fn metrics(app: &TestApp, rows: &[(Uuid, u32, i64, i64)]) {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let current = gridcrm::tenants::current_month(&mut tx).await.unwrap();
    for (customer, back, kwh, billed) in rows {
        sqlx::query(
            "INSERT INTO customer_metrics (tenant_id, customer_id, month, energy_kwh, billed) VALUES (app_tenant_id(), $1, $2, $3, $4)",
        )
        .bind(customer)
        .bind(gridcrm::months::back(current, *back))
        .bind(Decimal::from(*kwh))
        .bind(Decimal::from(*billed))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_analysis_page_decomposes_the_average_price_and_prices_a_change() {
    let app = TestApp::spawn().await;
    let c = &app.alpha.customers;
    // c0 residential, c1 commercial. Earlier year: 100 kWh each at 0.5 and 1.0;
    // later year: residential 300 kWh at 0.55, commercial 100 at 1.0.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET class_code = 'commercial' WHERE id = $1")
        .bind(c[1])
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    metrics(&app, &[(c[0], 18, 100, 50), (c[1], 18, 100, 100), (c[0], 6, 300, 165), (c[1], 6, 100, 100)]).await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, html) = admin.get_text("/accounts/tariff-analysis").await;
    assert_eq!(status, StatusCode::OK);
    // Averages 0.75 → 0.6625: total −0.0875 = mix −0.1188 + rate +0.0313 (rounded, adding up).
    let result = &html[html.find("decomposition-result").unwrap()..];
    assert!(result.contains("0.7500") || result.contains(">0.75<"), "{result}");
    assert!(result.contains("-0.0875"));
    assert!(result.contains("-0.1188"));
    assert!(result.contains("+0.0313"));
    assert!(html.contains("<svg class=\"chart\""));
    assert!(html.contains("0.55"), "the residential average of its month");

    // The CSV has each class and month.
    let csv = admin.get("/accounts/tariff-analysis.csv").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    let row = text.lines().find(|l| l.contains(",residential,") && l.contains(",300")).expect(&text);
    let cells: Vec<&str> = row.split(',').collect();
    let n = |i: usize| cells[i].parse::<Decimal>().unwrap();
    assert_eq!((n(3), n(4), n(5)), (dec!(300), dec!(165), dec!(0.55)), "{row}");

    // Field errors name their fields.
    let (status, html) =
        admin.get_text("/accounts/tariff-analysis?before_from=2026-13&kind=percent&change=500&class=nope").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["before_from", "change", "class"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
    }

    // What-if: +10 % on the energy lines of the last 12 months' bills.
    two_part_year(&app, &app.alpha, c[2], "E").await;
    let (status, html) = admin.get_text("/accounts/tariff-analysis?class=large_industry&kind=percent&change=10").await;
    assert_eq!(status, StatusCode::OK);
    // 12 × 24,424 × 10 % = 29,308.80 on 653,088 billed.
    let overall = &html[html.find("what-if-overall").unwrap()..];
    assert!(overall.contains("¥29,308.80"), "{overall}");
    assert!(overall.contains("¥682,396.80"));
    let samples = &html[html.find("what-if-samples").unwrap()..];
    assert!(samples.contains("¥29,308.80"));
    // An absolute +0.01 yuan/kWh: 12 × 40,000 × 0.01 = 4,800.
    let (_, html) = admin.get_text("/accounts/tariff-analysis?kind=absolute&change=0.01").await;
    let overall = &html[html.find("what-if-overall").unwrap()..];
    assert!(overall.contains("¥4,800.00"), "{overall}");

    // Counter staff may not open it.
    let counter = app.login(&app.alpha, "counter").await;
    let (status, _) = counter.get_text("/accounts/tariff-analysis").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_customer_billed_flat_is_priced_on_time_of_use_from_the_registers() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers[0];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET class_code = 'commercial', industry_code = 'F52', tariff_code = 'commercial_single' WHERE id = $1")
        .bind(c)
        .execute(&mut *tx)
        .await
        .unwrap();
    // Another shop is on time of use: so it is an option for the class.
    sqlx::query("UPDATE customers SET class_code = 'commercial', industry_code = 'F52', tariff_code = 'commercial_tou' WHERE id = $1")
        .bind(app.alpha.customers[1])
        .execute(&mut *tx)
        .await
        .unwrap();
    // Thirteen regular readings (the month before the first too): each month
    // 100 kWh peak, 200 flat and 300 valley; twelve bills of 600 kWh at 0.6644.
    sqlx::query(
        "WITH m AS (
             SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - make_interval(months => g))::date AS period, 13 - g AS k
             FROM generate_series(1, 13) g
         )
         INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, read_on, total, peak, flat, valley, source, status)
         SELECT app_tenant_id(), gen_random_uuid(), i.meter_id, p.id, p.customer_id, m.period, m.period + 27,
                600 * k, 100 * k, 200 * k, 300 * k, 'api', 'ok'
         FROM supply_points p
         JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
         CROSS JOIN m WHERE p.customer_id = $1
         RETURNING NULL AS not_by_copy",
    )
    .bind(c)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "WITH b AS (
             INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
             SELECT app_tenant_id(), gen_random_uuid(), 'TF' || g, $1,
                    (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - make_interval(months => g))::date,
                    'commercial_single', current_date, current_date + 15, 600, 398.64
             FROM generate_series(1, 12) g RETURNING id
         )
         INSERT INTO bill_lines (tenant_id, bill_id, line_no, kind, tariff_code, quantity, unit_price, amount)
         SELECT app_tenant_id(), id, 1, 'energy', 'commercial_single', 600, 0.6644, 398.64 FROM b
         RETURNING NULL AS not_by_copy",
    )
    .bind(c)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let body = app.api_get(&key, &format!("/api/v1/customers/{c}/tariff-recommendation")).await;
    assert_eq!(dec_of(&body["months"][0]["bands"]["valley"]), dec!(300), "{body}");
    // Time of use: 100 × 0.9966 + 200 × 0.6644 + 300 × 0.3322 = 332.20 a month;
    // flat 600 × 0.6644 = 398.64.
    let options = body["options"].as_array().unwrap();
    let total = |code: &str| dec_of(&options.iter().find(|o| o["tariff_code"] == code).unwrap()["total"]);
    assert_eq!(total("commercial_tou"), dec!(3986.40));
    assert_eq!(total("commercial_single"), dec!(4783.68));
    assert_eq!(body["best"]["tariff_code"], "commercial_tou");
    assert_eq!(dec_of(&body["saving"]), dec!(797.28));
    // Agriculture's flat tariff is single-part too, but no shop is on it;
    // the other kinds are never options.
    assert_eq!(options.len(), 2, "{body}");
}
