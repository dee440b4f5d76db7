//! Interval data: CSV over the API and the import command, monthly
//! partitions, duplicates replaced and counted, bad lines named, isolation,
//! and the limits that keep one client from taking the service down.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{self, TestApp};
use gridcrm::{config::Config, db, staff::Role};

/// Days back a test's window reaches: the fixed dates of these tests stay
/// inside it for a century (the window itself is tested with the default).
const WIDE_DAYS_BACK: u32 = 36_500;

fn wide_window() -> Config {
    Config { interval_days_back: WIDE_DAYS_BACK, ..support::config() }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(wide_window()).await
}

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

/// Alpha's first meter's `load_days` row for a day (after the job's rebuild): its interval, its
/// number of slots and the slots that hold a reading.
async fn load_day(app: &TestApp, day: &str) -> (i16, usize, Vec<(usize, f64)>) {
    gridcrm::interval::days::rebuild_marked(&app.pool, app.alpha.id).await.unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (minutes, kw): (i16, Vec<Option<f64>>) = sqlx::query_as(
        "SELECT l.minutes, l.kw FROM load_days l JOIN meters m ON m.tenant_id = l.tenant_id AND m.id = l.meter_id
         WHERE m.serial = 'ALPHAM0001' AND l.day = $1::date",
    )
    .bind(day)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let read = kw.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    (minutes, kw.len(), read)
}

#[tokio::test]
async fn interval_data_loads_replaces_and_names_bad_lines() {
    let app = spawn().await;
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

    // The read path holds each local day as one array: slot 0 is midnight.
    assert_eq!(load_day(&app, "2026-10-31").await, (15, 96, vec![(95, 10.5)]));
    assert_eq!(load_day(&app, "2026-11-01").await, (15, 96, vec![(0, 11.25), (1, 12.0)]));

    // Sent again: stored values are replaced, not doubled.
    let (_, report) = post(&app, &key, "meter,ts,kw\nALPHAM0001,2026-11-01 00:15,13\n", false).await;
    assert_eq!((report["loaded"].as_u64(), report["replaced"].as_u64()), (Some(0), Some(1)));
    assert_eq!(load_day(&app, "2026-11-01").await, (15, 96, vec![(0, 11.25), (1, 13.0)]), "rebuilt");

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
    let app = spawn().await;
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
        .env("GRIDCRM_INTERVAL_DAYS_BACK", WIDE_DAYS_BACK.to_string())
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
    let app = spawn().await;
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
    let app = spawn().await;
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

/// The interval partitions that exist, by name.
async fn partitions(app: &TestApp) -> Vec<String> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.owner_url).await.unwrap();
    let parts: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'interval_data'::regclass ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    parts.into_iter().map(|p| p.0).collect()
}

/// An upload that sends its head and a few bytes of a promised 100,000, then stalls.
async fn stalled_upload(app: &TestApp, key: &str) -> TcpStream {
    let host = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/v1/interval-data HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
         Accept-Language: en\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\nmeter,ts,kw\nALPHAM00"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The response on a raw connection: its head and its body (read by its length).
async fn raw_response(stream: &mut TcpStream) -> (String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await.unwrap().unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok());
            if n == 0 || length.is_some_and(|length| body.len() >= length) {
                return (head.to_owned(), body.to_owned());
            }
        }
        assert!(n > 0, "the connection closed without a response: {text}");
    }
}

/// Slow uploads hold no database connection while they wait for their
/// client: with a pool of four, six stalled uploads (two for each of three
/// keys) leave the API answering at once; a third upload of one key is
/// refused, a body over the size limit too, and each stalled upload ends
/// with its 408 naming the idle limit.
#[tokio::test]
async fn stalled_uploads_hold_no_connection_and_time_out() {
    let config = Config { max_connections: 4, upload_idle_seconds: 5, interval_max_bytes: 1 << 20, ..wide_window() };
    let app = TestApp::spawn_with(config).await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(app.api_key(&app.alpha, Role::CounterStaff).await);
    }
    let started = Instant::now();
    let mut stalled = Vec::new();
    for key in &keys {
        for _ in 0..2 {
            stalled.push(stalled_upload(&app, key).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let asked = Instant::now();
    let r =
        reqwest::Client::new().get(app.url("/api/v1/customers?limit=1")).bearer_auth(&keys[0]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Waiting for a pooled connection would take up to its 5 s timeout.
    assert!(asked.elapsed() < Duration::from_secs(3), "the API answered in {:?}", asked.elapsed());

    // A third upload of the same key waits for nothing: 429, naming the limit.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/interval-data"))
        .bearer_auth(&keys[0])
        .header("content-type", "text/csv")
        .header("accept-language", "en")
        .body("meter,ts,kw\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("At most 2 uploads"), "{problem}");

    // Another key's upload over the size limit: 413, naming the limit.
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let (status, problem) = post(&app, &key, vec![b'x'; (1 << 20) + 1], false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("1048576"), "{problem}");

    for stream in &mut stalled {
        let (head, body) = raw_response(stream).await;
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("5 s"), "{problem}");
    }
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(rows(&app, app.alpha.id).await.is_empty(), "nothing of the stalled uploads was stored");
}

/// A line with no end in sight is refused by its number once it passes the
/// limit (1,024 bytes), not held whole; with `partial`, the lines after it load.
#[tokio::test]
async fn a_line_over_the_length_limit_is_refused_by_number() {
    let app = spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let file = format!("meter,ts,kw\n{}\nALPHAM0001,2026-11-01 00:15,1\n", "ALPHAM0001".repeat(100_000));
    let (status, report) = post(&app, &key, file.clone(), false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["errors"][0]["line"].as_u64(), Some(2), "{report}");
    assert!(report["errors"][0]["reason"].as_str().unwrap().contains("1024"), "{report}");
    assert!(rows(&app, app.alpha.id).await.is_empty());
    let (status, report) = post(&app, &key, file, true).await;
    assert_eq!((status, report["loaded"].as_u64(), report["rejected"].as_u64()), (StatusCode::OK, Some(1), Some(1)));
}

/// Times outside the window (default: three years back to a day ahead) and
/// kW out of range are refused, naming the line, the field and the window;
/// no partition is made for a refused row.
#[tokio::test]
async fn times_outside_the_window_and_kw_out_of_range_are_refused_without_a_partition() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let mut file = String::from("meter,ts,kw\n");
    for year in 3000..3010 {
        for month in 1..=12 {
            file.push_str(&format!("ALPHAM0001,{year}-{month:02}-01 00:00,1\n"));
        }
    }
    let now = chrono::Utc::now();
    file.push_str(&format!("ALPHAM0001,{},999999999.999\n", now.format("%Y-%m-%d 00:00")));
    let (status, report) = post(&app, &key, file, true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["rejected"].as_u64(), Some(121));
    let first = &report["errors"][0];
    assert_eq!((first["line"].as_u64(), first["field"].as_str()), (Some(2), Some("ts")));
    let earliest = (now - chrono::Duration::days(1096)).format("%Y-").to_string();
    assert!(first["reason"].as_str().unwrap().contains(&earliest), "the window is named: {first}");
    let last = &report["errors"][120];
    assert_eq!((last["line"].as_u64(), last["field"].as_str()), (Some(122), Some("kw")), "{report}");
    assert!(partitions(&app).await.is_empty(), "no partition for a refused row");
}

#[tokio::test]
async fn a_line_of_no_break_spaces_is_rejected_not_skipped() {
    let app = spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    // Found by the API contract test: "\u{a0}" alone was taken as an empty file.
    let (status, report) = post(&app, &key, "\u{a0}", true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!((report["read"].as_i64(), report["rejected"].as_i64()), (Some(1), Some(1)), "{report}");
    // Blank lines (ASCII) are still skipped.
    let (status, report) = post(&app, &key, "meter,ts,kw\n\n  \n", false).await;
    assert_eq!((status, report["read"].as_i64()), (StatusCode::OK, Some(0)), "{report}");
}
