//! Bill runs from readings: who is billed, who is skipped and why, running a
//! period twice, the bill page, cancel and re-issue, the API and the command.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, location};
use gridcrm::{db, staff::Role};

pub async fn reading(app: &TestApp, meter: &str, period: &str, total: &str) -> StatusCode {
    let clerk = app.login(&app.alpha, "counter").await;
    let day = format!("{period}-25");
    clerk
        .post(
            "/readings",
            &[("meter", meter), ("period", period), ("read_on", &day), ("total", total), ("confirmed", "1")],
        )
        .await
        .status()
}

pub async fn wait_for_run(app: &TestApp, key: &str, path: &str) -> Value {
    for _ in 0..100 {
        let run = app.api_get(key, path).await;
        if run["status"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the run did not finish");
}

#[tokio::test]
async fn a_bill_run_bills_the_good_readings_skips_the_rest_and_never_twice() {
    let app = TestApp::spawn().await;
    for (meter, period, total) in [
        ("ALPHAM0001", "2026-10", "1000"),
        ("ALPHAM0001", "2026-11", "1150"),
        ("ALPHAM0002", "2026-10", "500"),
        ("ALPHAM0003", "2026-10", "100"),
        ("ALPHAM0003", "2026-11", "90"),
    ] {
        assert_eq!(reading(&app, meter, period, total).await, StatusCode::SEE_OTHER);
    }
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor.post("/billing/runs", &[("period", "2026-13"), ("route", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a bad period is named");
    let r = supervisor.post("/billing/runs", &[("period", "2026-11"), ("route", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let run_path = location(&r);
    let run_id = run_path.trim_start_matches("/billing/runs/").to_owned();
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let run = wait_for_run(&app, &key, &format!("/api/v1/bill-runs/{run_id}")).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!((run["bills"].as_i64(), run["skipped"].as_i64(), run["already"].as_i64()), (Some(1), Some(3), Some(0)));
    // Monitoring sees the job, the request pool and the jobs' pool.
    // (The worker counts the job once it has returned, a moment after the run
    // is marked done: wait for the count.)
    let finished = |metrics: &str| {
        metrics.lines().any(|l| {
            l.starts_with("gridcrm_jobs_finished_total")
                && l.contains("kind=\"bill_run\"")
                && l.contains("outcome=\"done\"")
        })
    };
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
        if finished(&metrics) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let has = |name: &str, labels: &[&str]| {
        metrics.lines().any(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
    };
    assert!(finished(&metrics), "{metrics}");
    assert!(has("gridcrm_job_duration_seconds", &["kind=\"bill_run\""]));
    assert!(has("gridcrm_db_pool_connections", &["state=\"in_use\""]) && has("gridcrm_db_pool_max", &[]));
    assert!(has("gridcrm_db_bulk_pool_connections", &["state=\"idle\""]) && has("gridcrm_db_bulk_pool_max", &[]));
    // 150 kWh inside tier 1 (2,760 kWh a year is 230 a month) at 0.538 yuan.
    assert_eq!(run["total_amount"], "80.70");

    let (_, page) = supervisor.get_text(&run_path).await;
    assert!(page.contains("示数待复核") && page.contains("本期无示数"), "each skip says why");
    let csv = supervisor.get(&format!("{run_path}/skips.csv")).await.bytes().await.unwrap();
    assert!(csv.starts_with("\u{feff}".as_bytes()));
    assert_eq!(String::from_utf8_lossy(&csv).lines().count(), 4);

    // Again: nobody is billed twice.
    let client = reqwest::Client::new();
    let r = client
        .post(app.url("/api/v1/bill-runs"))
        .bearer_auth(&key)
        .json(&json!({"period": "2026-11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let second: Value = r.json().await.unwrap();
    let second = wait_for_run(&app, &key, &format!("/api/v1/bill-runs/{}", second["id"].as_str().unwrap())).await;
    assert_eq!((second["bills"].as_i64(), second["already"].as_i64()), (Some(0), Some(1)));

    // The bill: its lines, the readings behind them, printable.
    let customer = app.alpha.customers[0];
    let bills = app.api_get(&key, &format!("/api/v1/bills?customer={customer}")).await;
    let bill_id = bills[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(bills.as_array().unwrap().len(), 1);
    let (status, page) = supervisor.get_text(&format!("/bills/{bill_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("¥80.70")
            && page.contains("电度电费")
            && page.contains("ALPHAM0001")
            && page.contains("data-print")
    );

    // A billed period's readings are fixed until the bill is cancelled.
    assert_eq!(reading(&app, "ALPHAM0001", "2026-11", "1200").await, StatusCode::UNPROCESSABLE_ENTITY);
    let r = supervisor.post(&format!("/bills/{bill_id}/cancel"), &[("reason", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a reason is required");
    let r = supervisor.post(&format!("/bills/{bill_id}/cancel"), &[("reason", "抄表错误，重新抄表")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(reading(&app, "ALPHAM0001", "2026-11", "1200").await, StatusCode::SEE_OTHER);
    let r = supervisor.post(&format!("/bills/{bill_id}/reissue"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new_path = location(&r);
    let (_, page) = supervisor.get_text(&new_path).await;
    assert!(page.contains("¥107.60"), "200 kWh at 0.538");
    let new_bill = app
        .api_get(&key, &format!("/api/v1/bills/{}", new_path.trim_start_matches("/bills/").split('?').next().unwrap()))
        .await;
    assert_eq!(new_bill["replaces"], bill_id.as_str());
    assert!(new_bill["bill_no"].as_str().unwrap().ends_with("-2"));
    let old = app.api_get(&key, &format!("/api/v1/bills/{bill_id}")).await;
    assert_eq!(
        (old["status"].as_str(), old["amount"].as_str()),
        (Some("cancelled"), Some("80.70")),
        "the old bill is kept as it was"
    );

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_log WHERE entity = 'bill' ORDER BY at")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(audited.into_iter().map(|a| a.0).collect::<Vec<_>>(), ["cancel", "reissue"]);
    drop(tx);

    // Another company sees none of it.
    let other = app.login(&app.beta, "supervisor").await;
    assert_eq!(other.get(&format!("/bills/{bill_id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.get(&run_path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_bill_run_command_prints_its_summary() {
    let app = TestApp::spawn().await;
    assert_eq!(reading(&app, "ALPHAM0002", "2026-09", "10").await, StatusCode::SEE_OTHER);
    assert_eq!(reading(&app, "ALPHAM0002", "2026-10", "60").await, StatusCode::SEE_OTHER);
    let out = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["bill-run", "--tenant", "alpha", "--period", "2026-10"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("period 2026-10: 1 bills, 50.00 kWh, 26.90 yuan; skipped 3"), "{stdout}");
    let bad = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["bill-run", "--tenant", "alpha", "--period", "October"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--period"));
}
