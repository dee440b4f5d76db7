//! Interval data: streamed CSV over the API and the import command, monthly
//! partitions, duplicates replaced and counted, bad lines named, isolation.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;
use gridcrm::{db, staff::Role};

async fn post(app: &TestApp, key: &str, body: impl Into<reqwest::Body>, partial: bool) -> (StatusCode, Value) {
    let url = app.url(&format!("/api/v1/interval-data{}", if partial { "?partial=true" } else { "" }));
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")))
}

async fn rows(app: &TestApp, tenant: uuid::Uuid) -> Vec<(String, String)> {
    let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query_as("SELECT to_char(ts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), kw::text FROM interval_data ORDER BY ts")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn interval_data_loads_replaces_and_names_bad_lines() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let file = "meter,ts,kw\r\nALPHAM0001,2026-10-31 23:45,10.5\r\nALPHAM0001,2026-11-01 00:00,11\r\nALPHAM0001,2026-11-01T00:15:00+08:00,12\r\nALPHAM0001,2026-11-01 00:00,11.25\r\n";
    let (status, report) = post(&app, &key, file, false).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["read"].as_u64(), report["loaded"].as_u64(), report["replaced"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(rows(&app, app.alpha.id).await[1], ("2026-11-01 00:00".into(), "11.250".into()), "the later line wins");
    // The two months went to their own partitions (October and November, UTC).
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.owner_url).await.unwrap();
    let parts: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'interval_data'::regclass ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(parts.into_iter().map(|p| p.0).collect::<Vec<_>>(), ["interval_data_202610"]);

    // Sent again: stored values are replaced, not doubled.
    let (_, report) = post(&app, &key, "meter,ts,kw\nALPHAM0001,2026-11-01 00:15,13\n", false).await;
    assert_eq!((report["loaded"].as_u64(), report["replaced"].as_u64()), (Some(0), Some(1)));

    // A bad line rejects the file, naming the line and the reason.
    let bad =
        "meter,ts,kw\nALPHAM0002,2026-11-01 00:15,5\nNOSUCH01,2026-11-01 00:15,5\nALPHAM0002,2026-11-01 00:20,5\n";
    let (status, report) = post(&app, &key, bad, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let lines: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "meter"), (4, "ts")]);
    assert_eq!(rows(&app, app.alpha.id).await.len(), 3, "nothing loaded");
    let (status, report) = post(&app, &key, bad, true).await;
    assert_eq!((status, report["loaded"].as_u64(), report["rejected"].as_u64()), (StatusCode::OK, Some(1), Some(2)));

    // Another company cannot load into these meters, nor see the data.
    let theirs = app.api_key(&app.beta, Role::CounterStaff).await;
    let (status, _) = post(&app, &theirs, "meter,ts,kw\nALPHAM0001,2026-11-01 01:00,1\n", false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(rows(&app, app.beta.id).await.is_empty());
}

#[tokio::test]
async fn the_interval_import_command_reports_rows_per_second() {
    let app = TestApp::spawn().await;
    let path = std::env::temp_dir().join(format!("interval-{}.csv", uuid::Uuid::now_v7()));
    let mut text = String::from("meter,ts,kw\n");
    for q in 0..96 {
        text.push_str(&format!("ALPHAM0003,2026-11-02 {:02}:{:02},{}.5\n", q / 4, (q % 4) * 15, q));
    }
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["import", "interval", "--tenant", "alpha", path.to_str().unwrap()])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("read 96, loaded 96, replaced 0, rejected 0") && stdout.contains("rows/s"), "{stdout}");
    assert_eq!(rows(&app, app.alpha.id).await.len(), 96);
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn partitions_are_reached_only_through_the_tenant_policy() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let (status, _) = post(&app, &key, "meter,ts,kw\nALPHAM0001,2026-11-15 10:00,3\n", false).await;
    assert_eq!(status, StatusCode::OK);
    // As the application role, another tenant's transaction cannot read the
    // partition directly (no grant), and sees nothing through the parent.
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let direct = sqlx::query("SELECT * FROM interval_data_202611").fetch_all(&mut *tx).await;
    assert!(direct.is_err(), "no direct access to a partition");
    drop(tx);
    assert!(rows(&app, app.beta.id).await.is_empty());
    assert_eq!(rows(&app, app.alpha.id).await.len(), 1);
}

/// A load larger than one batch (50,000 lines): a later batch repeating an
/// earlier batch's meter and time replaces it (the savepoint falls back to the
/// upsert), and a bad line in a later batch undoes the batches already moved.
#[tokio::test]
async fn a_load_over_several_batches_replaces_across_them_and_rolls_back_whole() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let line = |q: i64, kw: &str| {
        format!("ALPHAM0004,{},{kw}\n", (start + chrono::Duration::minutes(15 * q)).format("%Y-%m-%d %H:%M"))
    };
    let mut file = String::from("meter,ts,kw\n");
    for q in 0..50_000 {
        file.push_str(&line(q, "1"));
    }
    // The second batch: ten repeats of the first batch's first lines, then ten new.
    for q in 0..10 {
        file.push_str(&line(q, "2.5"));
    }
    for q in 50_000..50_010 {
        file.push_str(&line(q, "3"));
    }
    let (status, report) = post(&app, &key, file.clone(), false).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["read"].as_u64(), report["loaded"].as_u64(), report["replaced"].as_u64()),
        (Some(50_020), Some(50_010), Some(10))
    );
    let stored = rows(&app, app.alpha.id).await;
    assert_eq!(stored.len(), 50_010);
    assert_eq!(stored[0].1, "2.500", "the later line wins across batches");
    assert_eq!(stored[10].1, "1.000");

    // The same file with a bad last line: the first batch was already moved
    // into the table, and is undone with the rest.
    file.push_str("ALPHAM0004,2026-13-01 00:00,1\n");
    let (status, report) = post(&app, &key, file.replace(",1\n", ",4\n"), false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["errors"][0]["line"].as_u64(), Some(50_022));
    let after = rows(&app, app.alpha.id).await;
    assert_eq!(after.len(), 50_010);
    assert_eq!(after[10].1, "1.000", "nothing of the rejected file was kept");
}
