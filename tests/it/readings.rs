//! Register readings: the form, the checks that hold a reading for review,
//! the review queue, the API (JSON and CSV, all-or-nothing or partial) and
//! the import command.

use std::{io::Write, process::Command};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, location};
use gridcrm::{db, staff::Role};

async fn enter(
    app: &TestApp,
    user: &str,
    meter: &str,
    period: &str,
    read_on: &str,
    total: &str,
) -> (StatusCode, String) {
    let clerk = app.login(&app.alpha, user).await;
    let r = clerk
        .post(
            "/readings",
            &[
                ("meter", meter),
                ("period", period),
                ("read_on", read_on),
                ("total", total),
                ("kind", "regular"),
                ("confirmed", "1"),
            ],
        )
        .await;
    let status = r.status();
    if status == StatusCode::SEE_OTHER {
        let (_, page) = clerk.get_text(&location(&r)).await;
        (status, page)
    } else {
        (status, r.text().await.unwrap())
    }
}

async fn statuses(app: &TestApp, meter: &str) -> Vec<(String, String, Vec<String>)> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_as(
        "SELECT to_char(r.period, 'YYYY-MM'), r.status, r.flags FROM meter_readings r JOIN meters m ON m.tenant_id = r.tenant_id AND m.id = r.meter_id
         WHERE m.serial = $1 ORDER BY r.period, r.created_at",
    )
    .bind(meter)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

#[tokio::test]
async fn implausible_readings_wait_for_review_and_are_decided_there() {
    let app = TestApp::spawn().await;
    for (period, day, total) in
        [("2026-08", "2026-08-25", "1000"), ("2026-09", "2026-09-25", "1100"), ("2026-10", "2026-10-25", "1200")]
    {
        let (status, page) = enter(&app, "counter", "ALPHAM0001", period, day, total).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(page.contains("已保存，将按此示数计费"), "{page}");
    }
    // Lower than the last reading, no rollover declared: held for a re-reading.
    let (_, page) = enter(&app, "counter", "ALPHAM0001", "2026-11", "2026-11-25", "900").await;
    assert!(page.contains("复核") && page.contains("低于上次示数"), "{page}");
    // ALPHAM0002 usually uses 100 kWh a month; 1,000 is an implausible jump.
    for (period, day, total) in
        [("2026-08", "2026-08-25", "1000"), ("2026-09", "2026-09-25", "1100"), ("2026-10", "2026-10-25", "1200")]
    {
        enter(&app, "counter", "ALPHAM0002", period, day, total).await;
    }
    let (_, page) = enter(&app, "counter", "ALPHAM0002", "2026-11", "2026-11-25", "2200").await;
    assert!(page.contains("电量突增"), "{page}");
    // Bad fields are named, and nothing is written.
    let (status, page) = enter(&app, "counter", "ALPHAM0003", "2026-13", "2026-11-25", "12.345").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"period-error\"") && page.contains("id=\"total-error\""), "{page}");
    let (status, page) = enter(&app, "counter", "NOSUCH01", "2026-11", "2026-11-25", "12").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("本单位没有该资产号的电能表"), "{page}");
    assert!(statuses(&app, "ALPHAM0003").await.is_empty());

    let supervisor = app.login(&app.alpha, "supervisor").await;
    let clerk = app.login(&app.alpha, "counter").await;
    assert_eq!(clerk.get("/readings/review").await.status(), StatusCode::FORBIDDEN);
    let (status, queue) = supervisor.get_text("/readings/review").await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue.contains("ALPHAM0001") && queue.contains("低于上次示数"));
    assert!(queue.contains("ALPHAM0002") && queue.contains("电量突增"));

    let flagged = statuses(&app, "ALPHAM0001").await;
    assert_eq!(flagged.last().unwrap(), &("2026-11".into(), "flagged".into(), vec!["lower_than_last".into()]));
    let id: uuid::Uuid = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar(
            "SELECT r.id FROM meter_readings r JOIN meters m ON m.tenant_id = r.tenant_id AND m.id = r.meter_id WHERE r.status = 'flagged' AND m.serial = 'ALPHAM0001'",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap()
    };
    // Rejecting needs a reason.
    let r = supervisor.post(&format!("/readings/{id}/review"), &[("decision", "reject"), ("note", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = supervisor
        .post(&format!("/readings/{id}/review"), &[("decision", "reject"), ("note", "表码看错，请重抄")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(statuses(&app, "ALPHAM0001").await.last().unwrap().1, "superseded");
    let jump: uuid::Uuid = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar("SELECT id FROM meter_readings WHERE status = 'flagged'").fetch_one(&mut *tx).await.unwrap()
    };
    let r = supervisor
        .post(&format!("/readings/{jump}/review"), &[("decision", "accept"), ("note", "新增空调，已电话核实")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(statuses(&app, "ALPHAM0002").await.last().unwrap().1, "accepted");
    let (_, queue) = supervisor.get_text("/readings/review?done=1").await;
    assert!(queue.contains("没有待复核的示数"));
    // Deciding twice is a conflict, not a second change.
    let r = supervisor.post(&format!("/readings/{id}/review"), &[("decision", "accept"), ("note", "")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The re-reading with a declared rollover is billable; a jump is flagged.
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let body = json!([
        {"meter": "ALPHAM0001", "period": "2026-11", "read_on": "2026-11-26", "total": "1350"},
        {"meter": "ALPHAM0003", "period": "2026-11", "read_on": "2026-11-26", "total": "100", "rollover": false}
    ]);
    let r = client.post(app.url("/api/v1/readings")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        (report["read"].as_u64(), report["loaded"].as_u64(), report["flagged"].as_u64()),
        (Some(2), Some(2), Some(0))
    );

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'meter_reading' AND action = 'reject'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn the_api_loads_all_or_nothing_unless_asked_and_names_each_bad_line() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let csv = "meter,period,read_on,total,rollover\nALPHAM0001,2026-10,2026-10-25,999990,\nNOSUCH01,2026-10,2026-10-25,10,\nALPHAM0002,2026-10,2026-10-25,abc,\n";
    let post = |partial: bool| {
        client
            .post(app.url(&format!("/api/v1/readings{}", if partial { "?partial=true" } else { "" })))
            .bearer_auth(&key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    let r = post(false).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        (report["read"].as_u64(), report["loaded"].as_u64(), report["rejected"].as_u64()),
        (Some(3), Some(0), Some(2))
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!((errors[0]["line"].as_u64(), errors[0]["field"].as_str()), (Some(3), Some("meter")));
    assert_eq!((errors[1]["line"].as_u64(), errors[1]["field"].as_str()), (Some(4), Some("total")));
    assert!(statuses(&app, "ALPHAM0001").await.is_empty(), "nothing half-written");

    let r = post(true).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["loaded"].as_u64(), report["rejected"].as_u64()), (Some(1), Some(2)));

    // Next month the register rolled over: declared, it counts past 999999.
    let csv2 = "meter,period,read_on,total,rollover\nALPHAM0001,2026-11,2026-11-25,40,是\n";
    let r = client
        .post(app.url("/api/v1/readings"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(csv2)
        .send()
        .await
        .unwrap();
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["loaded"].as_u64(), Some(1), "{report}");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let usage: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT usage_kwh FROM meter_readings WHERE period = '2026-11-01' AND status = 'ok'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(usage, rust_decimal::Decimal::from(50));

    // Another company's meter is unknown here.
    let theirs = app.api_key(&app.beta, Role::CounterStaff).await;
    let r = client
        .post(app.url("/api/v1/readings"))
        .bearer_auth(&theirs)
        .json(&json!([{"meter": "ALPHAM0003", "read_on": "2026-11-25", "total": "5"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["errors"][0]["field"], "meter");
}

#[tokio::test]
async fn the_import_command_reports_every_line_and_loads_nothing_on_a_bad_one() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("gridcrm-import-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("readings.csv");
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all("\u{feff}meter,read_on,total\r\nALPHAM0001,2026-10-25,100\r\nALPHAM0002,2026-10-32,100\r\n".as_bytes())
        .unwrap();
    let run = |partial: bool| {
        let mut args = vec!["import", "readings", "--tenant", "alpha", file.to_str().unwrap()];
        if partial {
            args.push("--partial");
        }
        Command::new(env!("CARGO_BIN_EXE_gridcrm"))
            .args(&args)
            .env("GRIDCRM_DATABASE_URL", &app.owner_url)
            .env("GRIDCRM_LOG", "warn")
            .env("LANG", "en_US.UTF-8")
            .output()
            .unwrap()
    };
    let out = run(false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stdout.contains("read 2, loaded 0"), "{stdout}");
    assert!(stderr.contains("line 3: read_on:"), "{stderr}");
    assert!(statuses(&app, "ALPHAM0001").await.is_empty());

    let out = run(true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("read 2, loaded 1"));
    assert_eq!(statuses(&app, "ALPHAM0001").await.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// A body over the limit (2 MiB) is a 413 problem that names the limit, and a
/// CSV line over 1,024 bytes rejects the file, naming the line.
#[tokio::test]
async fn readings_uploads_over_the_limits_are_refused_naming_the_limit() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let post = |content_type: &'static str, body: Vec<u8>| {
        client
            .post(app.url("/api/v1/readings"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .header("accept-language", "en")
            .body(body)
            .send()
    };
    let big = format!("[{}]", vec![r#"{"meter":"ALPHAM0001","read_on":"2026-11-25","total":"5"}"#; 40_000].join(","));
    assert!(big.len() > 2 << 20);
    let r = post("application/json", big.into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("2097152 bytes"), "{problem}");

    let csv = format!(
        "meter,period,read_on,total\nALPHAM0001,2026-10,2026-10-25,5\nALPHAM0002,2026-10,2026-10-25,5{}\n",
        " ".repeat(2000)
    );
    let r = post("text/csv", csv.into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"].as_u64(), Some(3), "{report}");
    assert!(report["errors"][0]["reason"].as_str().unwrap().contains("1024 bytes"), "{report}");
    assert!(statuses(&app, "ALPHAM0001").await.is_empty(), "nothing loaded");
}

/// The form shows the meter's previous reading, its date, the multiplier and
/// the usage a value gives; an implausible value is not saved until the clerk
/// confirms it (then it waits for review) or corrects it.
#[tokio::test]
async fn the_form_previews_the_usage_and_warns_before_saving_an_implausible_value() {
    let app = TestApp::spawn().await;
    for (period, day, total) in [("2026-08", "2026-08-25", "1000"), ("2026-09", "2026-09-25", "1100")] {
        assert_eq!(enter(&app, "counter", "ALPHAM0001", period, day, total).await.0, StatusCode::SEE_OTHER);
    }
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, preview) =
        clerk.get_text("/readings/preview?meter=ALPHAM0001&read_on=2026-10-25&period=2026-10&total=1180").await;
    assert_eq!(status, StatusCode::OK);
    assert!(preview.contains("id=\"previous-reading\">1,100"), "{preview}");
    assert!(preview.contains("2026年09月25日") && preview.contains("id=\"multiplier\">1"), "{preview}");
    assert!(preview.contains("id=\"usage-preview\"><strong>80 kWh"), "{preview}");
    assert!(!preview.contains("reading-warnings"), "{preview}");
    let (_, lower) = clerk.get_text("/readings/preview?meter=ALPHAM0001&read_on=2026-10-25&total=900").await;
    assert!(lower.contains("reading-warnings") && lower.contains("低于上次示数"), "{lower}");
    let (_, unknown) = clerk.get_text("/readings/preview?meter=NOSUCH&total=900").await;
    assert!(!unknown.contains("previous-reading"), "{unknown}");

    // Lower than the last: warned, nothing saved.
    let fields = [("meter", "ALPHAM0001"), ("period", "2026-10"), ("read_on", "2026-10-25"), ("total", "900")];
    let r = clerk.post("/readings", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"reading-warnings\"") && page.contains("id=\"confirm-reading\""), "{page}");
    assert_eq!(statuses(&app, "ALPHAM0001").await.len(), 2, "nothing saved yet");
    // Confirmed as read: it waits in the review queue.
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirmed", "1"));
    assert_eq!(clerk.post("/readings", &confirmed).await.status(), StatusCode::SEE_OTHER);
    let saved = statuses(&app, "ALPHAM0001").await;
    assert_eq!(saved[2], ("2026-10".to_owned(), "flagged".to_owned(), vec!["lower_than_last".to_owned()]));
    // A plausible value is saved at once.
    let r = clerk
        .post(
            "/readings",
            &[("meter", "ALPHAM0001"), ("period", "2026-11"), ("read_on", "2026-11-25"), ("total", "1210")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
