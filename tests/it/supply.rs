//! Supply points and meters: adding a point and installing a meter by page
//! and API, editing against a version, and a meter exchange billed across
//! the exchange with both meters' multipliers.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    billing::{reading, wait_for_run},
    support::{TestApp, location},
};
use gridcrm::{db, staff::Role};

/// A decimal the API sends as a string, whatever its scale.
fn dec(value: &Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("a decimal string: {value}")).parse().unwrap()
}

async fn post_json(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(app.url(path)).bearer_auth(key).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The (field, code) pairs of a 422 problem document.
fn named(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn audit_actions(app: &TestApp, point: Uuid) -> Vec<String> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT action FROM audit_log WHERE entity = 'supply_point' AND entity_id = $1 ORDER BY at, id")
        .bind(point)
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

async fn meter_id(app: &TestApp, serial: &str) -> Uuid {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT id FROM meters WHERE serial = $1").bind(serial).fetch_one(&mut *tx).await.unwrap()
}

#[tokio::test]
async fn a_clerk_adds_a_point_and_installs_a_meter_by_page_and_by_api() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;

    // The customer page links to its points and to the form for a new one.
    let (_, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains(&format!("/customers/{customer}/supply-points/new")) && page.contains("/supply-points/"));
    let (status, form) = clerk.get_text(&format!("/customers/{customer}/supply-points/new")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"voltage_code\"") && form.contains("autofocus"));

    // Wrong fields are named beside them; nothing is added.
    let r = clerk
        .post(
            &format!("/customers/{customer}/supply-points"),
            &[("voltage_code", ""), ("capacity_kva", "-1"), ("code", "a b")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    for field in ["voltage_code-error", "capacity_kva-error", "code-error"] {
        assert!(page.contains(field), "{field} is shown");
    }
    assert_eq!(app.count_all("supply_points").await, 8, "the fixture's points only");

    let r = clerk
        .post(
            &format!("/customers/{customer}/supply-points"),
            &[
                ("voltage_code", "v220"),
                ("capacity_kva", "8"),
                ("transformer", "城东2号变"),
                ("code", ""),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let saved_path = location(&r);
    let point_path = saved_path.split('?').next().unwrap().to_owned();
    let point: Uuid = point_path.trim_start_matches("/supply-points/").parse().unwrap();
    let (_, page) = clerk.get_text(&saved_path).await;
    assert!(page.contains("-2") && page.contains("城东2号变") && page.contains("已保存"), "{page}");

    // A meter on it, from the page.
    let r = clerk
        .post(
            &format!("{point_path}/meters"),
            &[
                ("serial", "ALPHAP0001"),
                ("kind", "smart"),
                ("multiplier", "1"),
                ("register_digits", "6"),
                ("installed_on", "2026-11-01"),
                ("initial_reading", "12.5"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let (_, page) = clerk.get_text(&point_path).await;
    assert!(page.contains("ALPHAP0001") && page.contains("12.5"), "the meter and its initial reading show");
    // The same serial again, or a meter installed elsewhere: refused, named.
    let r = clerk
        .post(
            &format!("{point_path}/meters"),
            &[
                ("serial", "ALPHAM0002"),
                ("register_digits", "6"),
                ("installed_on", "2026-11-01"),
                ("initial_reading", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("serial-error"));

    // By API: a second point, listed with the customer's others, and a meter × 40 on it.
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let (status, created) = post_json(
        &app,
        &key,
        "/api/v1/supply-points",
        json!({"customer_id": customer, "voltage_code": "v220", "capacity_kva": "630"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(dec(&created["capacity_kva"]), Decimal::from(630));
    let api_point = created["id"].as_str().unwrap().to_owned();
    let (status, problem) =
        post_json(&app, &key, "/api/v1/supply-points", json!({"customer_id": customer, "voltage_code": "999kV"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(named(&problem), [("voltage_code".to_owned(), "unknown_code".to_owned())]);

    let list = app.api_get(&key, &format!("/api/v1/supply-points?customer={customer}&limit=2")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let after = list["next_after"].as_str().expect("a third point on the next page");
    let rest = app.api_get(&key, &format!("/api/v1/supply-points?customer={customer}&after={after}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_after"].is_null());
    let suspended = app.api_get(&key, "/api/v1/supply-points?status=suspended").await;
    assert!(suspended["items"].as_array().unwrap().is_empty());

    let (status, meter) = post_json(
        &app,
        &key,
        "/api/v1/meters",
        json!({"supply_point_id": api_point, "serial": "ALPHAP0002", "multiplier": "40",
               "installed_on": "2026-11-02", "initial_reading": "0"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{meter}");
    assert_eq!(dec(&meter["multiplier"]), Decimal::from(40));
    assert_eq!(meter["supply_point_id"].as_str(), Some(api_point.as_str()));
    let fetched = app.api_get(&key, &format!("/api/v1/meters/{}", meter["id"].as_str().unwrap())).await;
    assert_eq!(fetched["serial"], "ALPHAP0002");
    let detail = app.api_get(&key, &format!("/api/v1/supply-points/{api_point}")).await;
    assert_eq!(detail["meters"][0]["serial"], "ALPHAP0002");
    assert_eq!(dec(&detail["meters"][0]["initial_reading"]), Decimal::ZERO);
    let (status, problem) = post_json(
        &app,
        &key,
        "/api/v1/meters",
        json!({"supply_point_id": api_point, "serial": "x", "installed_on": "2099-01-01", "initial_reading": "-3"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = named(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["serial", "installed_on", "initial_reading"]);

    // Each change is audited on its point: the history its page shows.
    assert_eq!(audit_actions(&app, point).await, ["create", "install"]);
    let (_, page) = clerk.get_text(&point_path).await;
    assert!(page.contains("装表") && page.contains("counter"), "the history names the change and who made it");
}

#[tokio::test]
async fn an_edit_based_on_a_stale_version_is_refused() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let customer = app.alpha.customers[1];
    let list = app.api_get(&key, &format!("/api/v1/supply-points?customer={customer}")).await;
    let point = list["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["items"][0]["version"], 1);
    let client = reqwest::Client::new();
    let patch = |body: Value| {
        client.patch(app.url(&format!("/api/v1/supply-points/{point}"))).bearer_auth(&key).json(&body).send()
    };
    let r = patch(json!({"version": 1, "capacity_kva": "12.5", "transformer": "T-9"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["version"].as_i64(), Some(2));
    assert_eq!(dec(&edited["capacity_kva"]), "12.5".parse().unwrap());
    assert_eq!(edited["voltage_code"], "v220", "fields left out keep their values");

    // Someone still holding version 1 is told, and nothing changes.
    let r = patch(json!({"version": 1, "transformer": "T-1"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let clerk = app.login(&app.alpha, "counter").await;
    let r = clerk
        .post(&format!("/supply-points/{point}"), &[("version", "1"), ("voltage_code", "v220"), ("transformer", "T-1")])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("该计量点已被他人修改") && page.contains("T-9"), "the form shows the current values");
    let now = app.api_get(&key, &format!("/api/v1/supply-points/{point}")).await;
    assert_eq!((now["transformer"].as_str(), now["version"].as_i64()), (Some("T-9"), Some(2)));

    // On the current version the page edit goes through.
    let r = clerk
        .post(&format!("/supply-points/{point}"), &[("version", "2"), ("voltage_code", "v220"), ("transformer", "T-1")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let point: Uuid = point.parse().unwrap();
    assert_eq!(audit_actions(&app, point).await, ["update", "update"]);
}

#[tokio::test]
async fn a_meter_exchange_is_billed_across_the_exchange_with_both_multipliers() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    assert_eq!(reading(&app, "ALPHAM0001", "2026-10", "1000").await, StatusCode::SEE_OTHER);
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let old = meter_id(&app, "ALPHAM0001").await;
    let exchange_path = format!("/api/v1/meters/{old}/exchange");
    let exchange = |body: Value| post_json(&app, &key, &exchange_path, body);
    let good = json!({"exchanged_on": "2026-11-15", "final_reading": "1120", "new_serial": "ALPHAX0001",
                      "new_multiplier": "40", "new_initial_reading": "0"});
    let with = |changes: Value| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().extend(changes.as_object().unwrap().clone());
        body
    };

    // Refusals name the field, and leave nothing half-done.
    let readings_before = app.count_all("meter_readings").await;
    for (changes, field, code) in [
        (json!({"final_reading": "999"}), "final_reading", "below_last_reading"),
        (json!({"new_serial": "ALPHAM0002"}), "new_serial", "meter_installed"),
        (json!({"new_serial": "ALPHAM0001"}), "new_serial", "same_meter"),
        (json!({"exchanged_on": "2020-05-01"}), "exchanged_on", "exchange_not_after_install"),
        (json!({"exchanged_on": "2026-10-20"}), "exchanged_on", "exchange_before_last_reading"),
        (json!({"new_initial_reading": ""}), "new_initial_reading", "required"),
    ] {
        let (status, problem) = exchange(with(changes)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {problem}");
        assert_eq!(named(&problem), [(field.to_owned(), code.to_owned())]);
        assert!(problem["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.count_all("meter_readings").await, readings_before);
    assert_eq!(app.count_all("meters").await, 8, "no new meter was left behind");

    let (status, done) = exchange(good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(
        (done["removed"]["supply_point_id"].as_str(), done["installed"]["serial"].as_str()),
        (None, Some("ALPHAX0001"))
    );
    assert_eq!(done["final_reading_status"], "ok");
    // The old meter is no longer installed: a second exchange of it is refused.
    let (status, _) = exchange(good.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The new meter read at the end of the month: 2.5 on its register × 40.
    assert_eq!(reading(&app, "ALPHAX0001", "2026-11", "2.5").await, StatusCode::SEE_OTHER);
    let supervisor_key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (status, run) = post_json(&app, &supervisor_key, "/api/v1/bill-runs", json!({"period": "2026-11"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = wait_for_run(&app, &supervisor_key, &format!("/api/v1/bill-runs/{}", run["id"].as_str().unwrap())).await;
    assert_eq!(run["status"], "done", "{run}");
    let bills = app.api_get(&supervisor_key, &format!("/api/v1/bills?customer={customer}")).await;
    assert_eq!(bills.as_array().unwrap().len(), 1, "{bills}");
    // 120 kWh on the old meter (1120 − 1000, × 1) + 100 on the new (2.5 − 0, × 40) = 220 kWh,
    // inside tier 1 at 0.538 yuan: 118.36.
    assert_eq!(dec(&bills[0]["energy_kwh"]), Decimal::from(220), "{bills}");
    assert_eq!(dec(&bills[0]["amount"]), "118.36".parse().unwrap());

    // The bill shows both meters' parts: serial, readings, multiplier, kWh.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (_, page) = supervisor.get_text(&format!("/bills/{}", bills[0]["id"].as_str().unwrap())).await;
    for part in ["ALPHAM0001", "1000", "1120", "120.00", "ALPHAX0001", "2.5", "40", "100.00"] {
        assert!(page.contains(part), "the bill shows {part}");
    }

    // The point's page: the new meter in service, the old one with its dates and final reading.
    let clerk = app.login(&app.alpha, "counter").await;
    let point = done["supply_point_id"].as_str().unwrap();
    let (_, page) = clerk.get_text(&format!("/supply-points/{point}")).await;
    assert!(page.contains("ALPHAX0001") && (page.contains("1,120") || page.contains("1120")), "{page}");
    assert_eq!(audit_actions(&app, point.parse().unwrap()).await, ["exchange"]);
    // The customer page's timeline says the meter was exchanged, linked to the point.
    let (_, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("ALPHAM0001 → ALPHAX0001") && page.contains("换表"), "{page}");
    assert!(page.contains(&format!("href=\"/supply-points/{point}\"")), "{page}");
}

#[tokio::test]
async fn a_meter_exchange_from_the_page_names_what_is_wrong() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let old = meter_id(&app, "ALPHAM0003").await;
    let (status, form) = clerk.get_text(&format!("/meters/{old}/exchange")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("data-confirm") && form.contains("name=\"new_serial\""));
    let r = clerk
        .post(
            &format!("/meters/{old}/exchange"),
            &[
                ("exchanged_on", "2026-11-20"),
                ("final_reading", "abc"),
                ("new_serial", ""),
                ("new_register_digits", "6"),
                ("new_initial_reading", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("final_reading-error") && page.contains("new_serial-error"));
    let r = clerk
        .post(
            &format!("/meters/{old}/exchange"),
            &[
                ("exchanged_on", "2026-11-20"),
                ("final_reading", "10"),
                ("new_serial", "ALPHAX0003"),
                ("new_multiplier", "1"),
                ("new_register_digits", "6"),
                ("new_initial_reading", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/supply-points/"));
    let (_, page) = clerk.get_text(&location(&r)).await;
    assert!(page.contains("ALPHAX0003") && page.contains("换表"));
}

#[tokio::test]
async fn a_point_keeps_a_retired_voltage_when_edited_but_a_new_point_cannot_take_it() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let customer = app.alpha.customers[1];
    let list = app.api_get(&key, &format!("/api/v1/supply-points?customer={customer}")).await;
    let point = list["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["items"][0]["voltage_code"], "v220");
    let admin = app.login(&app.alpha, "admin").await;
    assert_eq!(admin.post("/admin/reference/voltages/v220/retire", &[]).await.status(), StatusCode::SEE_OTHER);

    // The point that has it is edited, and its form still offers it.
    let r = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/supply-points/{point}")))
        .bearer_auth(&key)
        .json(&json!({"version": 1, "transformer": "T-7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, form) = admin.get_text(&format!("/supply-points/{point}/edit")).await;
    assert!(form.contains(r#"value="v220""#), "the point's own retired voltage is offered");

    // A new point may not take it, and its form does not offer it.
    let (_, form) = admin.get_text(&format!("/customers/{customer}/supply-points/new")).await;
    assert!(form.contains(r#"value="v380""#) && !form.contains(r#"value="v220""#));
    let (status, problem) = post_json(
        &app,
        &key,
        "/api/v1/supply-points",
        json!({"customer_id": customer, "address": "1 Main St", "voltage_code": "v220"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(named(&problem).contains(&("voltage_code".into(), "retired_code".into())), "{problem}");
}

/// A time-of-use meter is put in and taken out with its peak, flat and valley
/// registers, from the form and the API; without them it is refused, named
/// on the band.
#[tokio::test]
async fn a_time_of_use_meter_is_installed_and_exchanged_with_its_bands() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let (status, point) = post_json(
        &app,
        &key,
        "/api/v1/supply-points",
        json!({"customer_id": customer, "voltage_code": "v220", "capacity_kva": "100"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{point}");
    let point = point["id"].as_str().unwrap().to_owned();
    let install = json!({"supply_point_id": point, "serial": "ALPHAT0001", "time_of_use": true,
                         "installed_on": "2026-11-02", "initial_reading": "100"});
    let (status, problem) = post_json(&app, &key, "/api/v1/meters", install.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(named(&problem), [("initial_peak".to_owned(), "bands_required".to_owned())]);
    // Bands that do not add up to the total are named too, and nothing is installed.
    let mut bands = install.clone();
    bands["initial_peak"] = json!("30");
    bands["initial_flat"] = json!("40");
    bands["initial_valley"] = json!("20");
    let (status, _) = post_json(&app, &key, "/api/v1/meters", bands.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let installed: i64 = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM meters WHERE serial = 'ALPHAT0001'").fetch_one(&mut *tx).await.unwrap()
    };
    assert_eq!(installed, 0);
    bands["initial_valley"] = json!("30");
    let (status, meter) = post_json(&app, &key, "/api/v1/meters", bands).await;
    assert_eq!(status, StatusCode::CREATED, "{meter}");
    let meter = meter["id"].as_str().unwrap().to_owned();

    // The exchange form asks for the old meter's bands; sent without them, it names the field.
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, form) = clerk.get_text(&format!("/meters/{meter}/exchange")).await;
    assert!(form.contains(r#"name="final_peak""#) && form.contains(r#"name="new_initial_valley""#), "{form}");
    let exchange = [
        ("exchanged_on", "2026-11-20"),
        ("final_reading", "180"),
        ("new_serial", "ALPHAT0002"),
        ("new_initial_reading", "0"),
    ];
    let r = clerk.post(&format!("/meters/{meter}/exchange"), &exchange).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"id="final_peak-error""#), "{page}");
    let with_bands = [&exchange[..], &[("final_peak", "60"), ("final_flat", "70"), ("final_valley", "50")]].concat();
    let r = clerk.post(&format!("/meters/{meter}/exchange"), &with_bands).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (peak, flat, valley): (Decimal, Decimal, Decimal) = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as(
            "SELECT r.peak, r.flat, r.valley FROM meter_readings r JOIN meters m ON m.tenant_id = r.tenant_id AND m.id = r.meter_id
             WHERE m.serial = 'ALPHAT0001' AND r.kind = 'removal'",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap()
    };
    assert_eq!((peak, flat, valley), (Decimal::from(60), Decimal::from(70), Decimal::from(50)));
}
