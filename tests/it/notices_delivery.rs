//! Notice delivery end to end: the dispatcher against a real SMTP
//! conversation and a signed HTTP gateway (tests/it/notice_sinks.rs), a
//! dispatcher killed mid-batch, retries and fallback, quiet hours, signed
//! receipts, and the monitor page with its tenant isolation.

use std::{future::Future, sync::atomic::Ordering, time::Duration};

use chrono::{DateTime, Timelike, Utc};
use gridcrm::{
    config::{Config, Secret},
    db,
    notices::{
        self, Kind,
        db::Target,
        dispatch::{Dispatcher, Settings},
    },
};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    notice_sinks::{GatewayStub, SmtpSink, sign},
    support::{self, Tenant, TestApp},
};

pub const SECRET: &str = "a shared gateway secret for tests";

pub fn config(smtp_port: Option<u16>, gateway: Option<&GatewayStub>, secret: &str) -> Config {
    Config {
        smtp_host: smtp_port.map(|_| "127.0.0.1".into()),
        smtp_port: smtp_port.unwrap_or(25),
        smtp_tls: "none".into(),
        smtp_from: Some("Grid Power <notices@example.com>".into()),
        gateway_url: gateway.map(|g| g.url.clone()),
        gateway_secret: Some(Secret::new(secret)),
        notice_poll_millis: 50,
        notice_retry_seconds: 0,
        notice_lease_seconds: 30,
        ..support::config()
    }
}

pub async fn app_with_receipts() -> TestApp {
    TestApp::spawn_with(Config { gateway_secret: Some(Secret::new(SECRET)), ..support::config() }).await
}

/// Quiet hours off for a tenant (the tests run at any hour).
pub async fn no_quiet_hours(app: &TestApp, tenant: &Tenant) {
    quiet_hours(app, tenant, "00:00", "00:00").await;
}

async fn quiet_hours(app: &TestApp, tenant: &Tenant, from: &str, to: &str) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO notice_settings (tenant_id, quiet_from, quiet_to) VALUES (app_tenant_id(), $1::time, $2::time)
         ON CONFLICT (tenant_id) DO UPDATE SET quiet_from = excluded.quiet_from, quiet_to = excluded.quiet_to",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn set_email(app: &TestApp, tenant: &Tenant, customer: Uuid, email: &str) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO notice_preferences (tenant_id, customer_id, email, lang, updated_by)
         VALUES (app_tenant_id(), $1, $2, 'en', 'test')",
    )
    .bind(customer)
    .bind(email)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Enqueues `kind` for (customer, event_ref) pairs on `channels`, as the app role.
async fn enqueue(app: &TestApp, tenant: &Tenant, kind: Kind, channels: &[&str], targets: &[(Uuid, String)]) -> u64 {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let targets: Vec<Target> = targets
        .iter()
        .map(|(customer_id, event_ref)| Target {
            customer_id: *customer_id,
            event_ref: event_ref.clone(),
            data: json!({}),
            not_before: Utc::now() - chrono::Duration::minutes(1),
        })
        .collect();
    notices::db::add_targets(&mut tx, &targets).await.unwrap();
    let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
    let mut common = notices::template::sample_data(kind);
    common["message"] = json!("Check your wiring before the storm.");
    let n = notices::db::enqueue(&mut tx, kind, &channels, &common).await.unwrap();
    tx.commit().await.unwrap();
    n
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    channel: String,
    status: String,
    attempts: i32,
    last_error: String,
    next_attempt_at: DateTime<Utc>,
    idempotency_key: String,
    gateway_id: Option<String>,
    address: String,
}

/// A tenant's notices, read as the superuser.
async fn rows(app: &TestApp, tenant: &Tenant) -> Vec<Row> {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query_as(
        "SELECT id, channel, status, attempts, last_error, next_attempt_at, idempotency_key, gateway_id, address
         FROM notices WHERE tenant_id = $1 ORDER BY created_at, idempotency_key",
    )
    .bind(tenant.id)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = std::time::Instant::now() + limit;
    while !done().await {
        assert!(std::time::Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_have_status(app: &TestApp, tenant: &Tenant, status: &str) -> bool {
    rows(app, tenant).await.iter().all(|r| r.status == status)
}

#[tokio::test]
async fn an_email_notice_arrives_with_its_recipient_subject_and_body() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    no_quiet_hours(&app, t).await;
    set_email(&app, t, t.customers[0], "wang@example.com").await;
    assert_eq!(enqueue(&app, t, Kind::SafeUseAdvice, &["email"], &[(t.customers[0], "advice:1".into())]).await, 1);
    let smtp = SmtpSink::start(Duration::ZERO).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(Some(smtp.port), None, SECRET))).unwrap();
    wait_for("the mail", Duration::from_secs(20), || async { all_have_status(&app, t, "sent").await }).await;
    dispatcher.finish().await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.recipients, ["wang@example.com"]);
    assert_eq!(mail.subject, "Using electricity safely");
    assert!(mail.body.starts_with("Dear 王建国: Check your wiring before the storm."), "{}", mail.body);
    let row = &rows(&app, t).await[0];
    assert_eq!(mail.message_id, notices::channels::email::message_id(&row.idempotency_key));
    assert_eq!((row.address.as_str(), row.attempts), ("wang@example.com", 1));
}

/// A dead process left two emails `sending` with their lease over: one it
/// had begun handing to the mail server (marked), one it had not. The first
/// may have been taken, so it is failed as interrupted and not sent again,
/// nor sent as a letter; the second is sent.
#[tokio::test]
async fn an_email_interrupted_while_handed_over_is_not_sent_again() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    no_quiet_hours(&app, t).await;
    set_email(&app, t, t.customers[0], "wang@example.com").await;
    let targets = [(t.customers[0], "advice:handed".to_string()), (t.customers[0], "advice:claimed".to_string())];
    assert_eq!(enqueue(&app, t, Kind::SafeUseAdvice, &["email", "letter"], &targets).await, 2);
    let mut tx = db::begin_tenant(&app.pool, t.id, None).await.unwrap();
    sqlx::query(
        "UPDATE notices SET status = 'sending', claimed_by = 'dead', lease_until = now() - interval '1 second',
                attempts = 1, send_started_at = now() - interval '40 seconds' + CASE WHEN event_ref = 'advice:handed' THEN interval '0' END",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let smtp = SmtpSink::start(Duration::ZERO).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(Some(smtp.port), None, SECRET))).unwrap();
    wait_for("both settled", Duration::from_secs(20), || async {
        rows(&app, t).await.iter().all(|r| r.status == "sent" || r.status == "failed")
    })
    .await;
    dispatcher.finish().await;
    let after = rows(&app, t).await;
    assert_eq!(after.len(), 2, "no letter was made: {after:?}");
    let mut tx = db::begin_tenant(&app.pool, t.id, None).await.unwrap();
    let by_event: Vec<(String, String, String)> =
        sqlx::query_as("SELECT event_ref, status, last_error FROM notices ORDER BY event_ref")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(
        by_event,
        [
            ("advice:claimed".into(), "sent".into(), String::new()),
            ("advice:handed".into(), "failed".into(), notices::delivery::INTERRUPTED.into())
        ]
    );
    assert_eq!(smtp.mails().len(), 1, "only the email not yet handed over was sent");

    // Staff send it again from the monitor: then it goes.
    let admin = app.login(t, "admin").await;
    let handed = after.iter().find(|r| r.status == "failed").unwrap().id;
    let (_, monitor) = admin.get_text("/notices/monitor").await;
    assert!(monitor.contains("not sent again"), "the monitor says why");
    assert_eq!(admin.post(&format!("/notices/monitor/{handed}/retry"), &[]).await.status(), StatusCode::SEE_OTHER);
    let again =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(Some(smtp.port), None, SECRET))).unwrap();
    wait_for("sent on request", Duration::from_secs(20), || async { all_have_status(&app, t, "sent").await }).await;
    again.finish().await;
    assert_eq!(smtp.mails().len(), 2);
}

#[tokio::test]
async fn an_sms_goes_through_the_signed_gateway_and_a_wrong_secret_fails_it() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    no_quiet_hours(&app, t).await;
    let gateway = GatewayStub::start(SECRET, Duration::ZERO).await;
    enqueue(&app, t, Kind::PowerRestored, &["sms"], &[(t.customers[1], "fault:1".into())]).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(None, Some(&gateway), SECRET))).unwrap();
    wait_for("the sms", Duration::from_secs(20), || async { all_have_status(&app, t, "sent").await }).await;
    dispatcher.finish().await;
    let delivered = gateway.delivered();
    let row = &rows(&app, t).await[0];
    let message = &delivered[&row.idempotency_key];
    assert_eq!(message["to"], "13800000002");
    assert_eq!(message["channel"], "sms");
    assert_eq!(message["notice_id"], row.id.to_string());
    assert_eq!(message["tenant"], t.id.to_string());
    assert!(message["body"].as_str().unwrap().contains("李建华"), "{message}");
    assert_eq!(row.gateway_id.as_deref(), Some(format!("gw-{}", row.idempotency_key).as_str()));

    // The same gateway, but our secret is not its secret: 401, a permanent failure.
    enqueue(&app, t, Kind::PowerRestored, &["sms"], &[(t.customers[2], "fault:2".into())]).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(None, Some(&gateway), "tampered secret")))
            .unwrap();
    wait_for("the failure", Duration::from_secs(20), || async {
        rows(&app, t).await.iter().any(|r| r.status == "failed")
    })
    .await;
    dispatcher.finish().await;
    let failed = rows(&app, t).await.into_iter().find(|r| r.status == "failed").unwrap();
    assert!(failed.last_error.contains("gateway answered 401"), "{}", failed.last_error);
    assert_eq!(gateway.log.rejected.load(Ordering::SeqCst), 1);
    assert_eq!(gateway.delivered().len(), 1);
}

#[tokio::test]
async fn a_dispatcher_killed_mid_batch_is_taken_over_and_nothing_is_delivered_twice() {
    const N: usize = 60;
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    no_quiet_hours(&app, t).await;
    for (i, c) in t.customers.iter().enumerate() {
        set_email(&app, t, *c, &format!("customer{i}@example.com")).await;
    }
    let targets: Vec<(Uuid, String)> = (0..N).map(|i| (t.customers[i % 4], format!("drill:{i}"))).collect();
    assert_eq!(enqueue(&app, t, Kind::SafeUseAdvice, &["sms"], &targets).await, N as u64);
    assert_eq!(enqueue(&app, t, Kind::EnergySavingAdvice, &["email"], &targets).await, N as u64);
    // Slow ends, so that the kill finds sends on their way.
    let gateway = GatewayStub::start(SECRET, Duration::from_millis(30)).await;
    let smtp = SmtpSink::start(Duration::from_millis(30)).await;
    let short_lease =
        Config { notice_lease_seconds: 2, notice_batch: 40, ..config(Some(smtp.port), Some(&gateway), SECRET) };
    let first = Dispatcher::start(app.pool.clone(), Settings::from_config(&short_lease)).unwrap();
    // Killed while the gateway holds messages it has taken but not yet answered.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = &gateway.log;
        let holding = log.requests.load(Ordering::SeqCst) > log.answered.load(Ordering::SeqCst);
        if gateway.delivered().len() >= 10 && !smtp.mails().is_empty() && holding {
            break;
        }
        assert!(std::time::Instant::now() < until, "timed out waiting for a moment to kill the dispatcher");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.abort();
    let before = rows(&app, t).await;
    let stranded = before.iter().filter(|r| r.status == "sending").count();
    let sent_before = before.iter().filter(|r| r.status == "sent").count();
    assert!(stranded > 0, "the kill left notices in sending ({sent_before} sent)");

    let second = Dispatcher::start(app.pool.clone(), Settings::from_config(&short_lease)).unwrap();
    // Every SMS is sent; every email is sent, or failed as interrupted when the kill came while it was handed over.
    let settled = |r: &Row| r.status == "sent" || (r.channel == "email" && r.status == "failed");
    wait_for("every notice settled", Duration::from_secs(60), || async { rows(&app, t).await.iter().all(settled) })
        .await;
    second.finish().await;

    let after = rows(&app, t).await;
    assert_eq!(after.len(), 2 * N);
    let delivered = gateway.delivered();
    assert_eq!(delivered.len(), N, "every sms delivered once");
    let requests = gateway.log.requests.load(Ordering::SeqCst);
    let duplicates = gateway.log.duplicates.load(Ordering::SeqCst);
    assert_eq!(requests, N + duplicates);
    assert!(duplicates > 0, "messages taken before the kill were sent again, with their key");
    // No email was sent twice: each sent notice's mail arrived once, an interrupted one at most once.
    let mails = smtp.mails();
    let ids: std::collections::HashSet<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), mails.len(), "no Message-ID twice");
    let mut interrupted = 0;
    for r in after.iter().filter(|r| r.channel == "email") {
        let arrived = ids.contains(notices::channels::email::message_id(&r.idempotency_key).as_str());
        if r.status == "sent" {
            assert!(arrived, "a sent email arrived");
        } else {
            assert_eq!(r.last_error, notices::delivery::INTERRUPTED);
            interrupted += 1;
        }
    }
    assert!(after.iter().all(|r| r.channel != "letter"), "an interrupted email does not fall back to a letter");
    println!(
        "crash drill: {stranded} notices stranded in sending; gateway: {requests} requests, {duplicates} repeated keys \
         (not delivered again); smtp: {} messages for {N} notices, {interrupted} interrupted (not sent again)",
        mails.len()
    );
}

#[tokio::test]
async fn passing_failures_are_retried_and_a_refusal_falls_back_to_the_next_channel() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    no_quiet_hours(&app, t).await;
    let gateway = GatewayStub::start(SECRET, Duration::ZERO).await;
    gateway.answer_next(&[503, 503]);
    enqueue(&app, t, Kind::PowerRestored, &["sms"], &[(t.customers[0], "fault:retry".into())]).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(None, Some(&gateway), SECRET))).unwrap();
    wait_for("the retried sms", Duration::from_secs(20), || async { all_have_status(&app, t, "sent").await }).await;
    let row = &rows(&app, t).await[0];
    assert_eq!(row.attempts, 3, "two 503s, then 200");
    assert_eq!(row.last_error, "", "the error is cleared once sent");

    // A 400 is for good: failed, and the customer's next channel (a letter) is queued.
    gateway.answer_next(&[400]);
    enqueue(&app, t, Kind::PowerRestored, &["sms", "letter"], &[(t.customers[1], "fault:refused".into())]).await;
    wait_for("the refusal", Duration::from_secs(20), || async {
        rows(&app, t).await.iter().any(|r| r.status == "failed")
    })
    .await;
    dispatcher.finish().await;
    let all = rows(&app, t).await;
    let failed = all.iter().find(|r| r.status == "failed").unwrap();
    assert_eq!((failed.channel.as_str(), failed.attempts), ("sms", 1));
    assert!(failed.last_error.contains("gateway answered 400"), "{}", failed.last_error);
    let letter = all.iter().find(|r| r.channel == "letter").expect("a letter took over");
    assert_eq!(letter.status, "queued", "letters are staff's: the dispatcher leaves them");
}

#[tokio::test]
async fn a_notice_in_quiet_hours_waits_and_an_urgent_one_does_not() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    // A window around the present hour in Shanghai.
    let local = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let from = format!("{:02}:00", (local.hour() + 23) % 24);
    let to = format!("{:02}:00", (local.hour() + 2) % 24);
    quiet_hours(&app, t, &from, &to).await;
    let gateway = GatewayStub::start(SECRET, Duration::ZERO).await;
    enqueue(&app, t, Kind::SafeUseAdvice, &["sms"], &[(t.customers[0], "advice:quiet".into())]).await;
    enqueue(&app, t, Kind::PowerRestored, &["sms"], &[(t.customers[1], "fault:urgent".into())]).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(None, Some(&gateway), SECRET))).unwrap();
    wait_for("the urgent notice", Duration::from_secs(20), || async {
        rows(&app, t).await.iter().any(|r| r.status == "sent")
    })
    .await;
    // The quiet one was claimed, looked at and put back.
    wait_for("the quiet notice put back", Duration::from_secs(20), || async {
        rows(&app, t).await.iter().any(|r| r.status == "queued" && r.next_attempt_at > Utc::now())
    })
    .await;
    dispatcher.finish().await;
    let all = rows(&app, t).await;
    let quiet = all.iter().find(|r| r.status == "queued").unwrap();
    assert_eq!(quiet.attempts, 0, "holding is not an attempt");
    let local_next = quiet.next_attempt_at.with_timezone(&chrono_tz::Asia::Shanghai);
    assert_eq!(format!("{:02}:00", local_next.hour()), to);
    assert_eq!(local_next.minute(), 0);
    assert_eq!(gateway.delivered().len(), 1);
}

fn receipt_request(app: &TestApp, id: Uuid, body: &str, secret: &str, at: i64) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1/notices/{id}/receipts")))
        .header("content-type", "application/json")
        .header("x-gridcrm-timestamp", at.to_string())
        .header("x-gridcrm-signature", sign(secret, at, body.as_bytes()))
        .body(body.to_owned())
}

#[tokio::test]
async fn a_signed_receipt_marks_delivery_and_tenants_stay_apart() {
    let app = app_with_receipts().await;
    let (a, b) = (&app.alpha, &app.beta);
    no_quiet_hours(&app, a).await;
    no_quiet_hours(&app, b).await;
    let gateway = GatewayStub::start(SECRET, Duration::ZERO).await;
    enqueue(&app, a, Kind::PowerRestored, &["sms"], &[(a.customers[0], "fault:a".into())]).await;
    enqueue(&app, b, Kind::PowerRestored, &["sms", "letter"], &[(b.customers[0], "fault:b".into())]).await;
    let dispatcher =
        Dispatcher::start(app.pool.clone(), Settings::from_config(&config(None, Some(&gateway), SECRET))).unwrap();
    wait_for("both sent", Duration::from_secs(20), || async {
        all_have_status(&app, a, "sent").await && all_have_status(&app, b, "sent").await
    })
    .await;
    dispatcher.finish().await;
    let a_id = rows(&app, a).await[0].id;
    let b_id = rows(&app, b).await[0].id;
    let now = Utc::now().timestamp();

    let ok = receipt_request(&app, a_id, r#"{"status":"delivered"}"#, SECRET, now).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let answer: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(answer, json!({ "notice_id": a_id, "status": "delivered" }));
    assert_eq!(rows(&app, a).await[0].status, "delivered");
    // Again: nothing changes.
    let again = receipt_request(&app, a_id, r#"{"status":"delivered"}"#, SECRET, now).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);

    // Wrong secret, a stale timestamp, a body changed after signing: 401, and nothing recorded.
    let wrong = receipt_request(&app, b_id, r#"{"status":"delivered"}"#, "not the secret", now).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let stale = receipt_request(&app, b_id, r#"{"status":"delivered"}"#, SECRET, now - 301).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let tampered = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/notices/{b_id}/receipts")))
        .header("content-type", "application/json")
        .header("x-gridcrm-timestamp", now.to_string())
        .header("x-gridcrm-signature", sign(SECRET, now, br#"{"status":"delivered"}"#))
        .body(r#"{"status":"failed"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    let unsigned = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/notices/{b_id}/receipts")))
        .json(&json!({ "status": "delivered" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rows(&app, b).await[0].status, "sent");
    let unknown = receipt_request(&app, Uuid::now_v7(), r#"{"status":"delivered"}"#, SECRET, now).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = receipt_request(&app, b_id, r#"{"status":"read"}"#, SECRET, now).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A failed receipt fails tenant B's notice and falls back to a letter.
    let failed = receipt_request(&app, b_id, r#"{"status":"failed","error":"number unreachable"}"#, SECRET, now)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::OK);
    let b_rows = rows(&app, b).await;
    let b_notice = b_rows.iter().find(|r| r.id == b_id).unwrap();
    assert_eq!((b_notice.status.as_str(), b_notice.last_error.as_str()), ("failed", "number unreachable"));
    assert!(b_rows.iter().any(|r| r.channel == "letter" && r.status == "queued"));

    // Tenant A's admin neither sees nor retries tenant B's failed notice.
    let admin_a = app.login(a, "admin").await;
    let (status, html) = admin_a.get_text("/notices/monitor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&b_id.to_string()), "tenant B's notice is not on tenant A's monitor");
    let retry = admin_a.post(&format!("/notices/monitor/{b_id}/retry"), &[]).await;
    assert_eq!(retry.status(), StatusCode::NOT_FOUND);
    assert_eq!(rows(&app, b).await.iter().find(|r| r.id == b_id).unwrap().status, "failed");

    // Tenant B's admin sees it and sends it again (audited).
    let admin_b = app.login(b, "admin").await;
    let (_, html) = admin_b.get_text("/notices/monitor").await;
    assert!(html.contains(&format!("notice-{b_id}")), "B's failure is listed");
    assert!(html.contains("number unreachable"));
    let retry = admin_b.post(&format!("/notices/monitor/{b_id}/retry"), &[]).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    let again = rows(&app, b).await.into_iter().find(|r| r.id == b_id).unwrap();
    assert_eq!((again.status.as_str(), again.attempts), ("queued", 0));
    assert_eq!(again.last_error, "number unreachable", "kept until it is sent");
    assert_eq!(app.count_all("audit_log WHERE entity = 'notice' AND action = 'retry'").await, 1);
}

#[tokio::test]
async fn the_monitor_shows_queues_and_failures_to_admins_and_supervisors_only() {
    let app = TestApp::spawn().await;
    let t = &app.alpha;
    let admin = app.login(t, "admin").await;
    let (status, html) = admin.get_text("/notices/monitor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No notice is waiting.") || html.contains("没有待发送的通知"), "empty state");

    let targets: Vec<(Uuid, String)> = (0..3).map(|i| (t.customers[i], format!("advice:{i}"))).collect();
    assert_eq!(enqueue(&app, t, Kind::SafeUseAdvice, &["sms"], &targets).await, 3);
    // One of them failed for good.
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query(
        "UPDATE notices SET status = 'failed', failed_at = now(), attempts = 5, last_error = 'gateway answered 500'
         WHERE id = (SELECT id FROM notices WHERE tenant_id = $1 ORDER BY idempotency_key LIMIT 1)",
    )
    .bind(t.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let (status, html) = admin.get_text("/notices/monitor").await;
    assert_eq!(status, StatusCode::OK);
    let queued_row = html.split(r#"data-channel="sms" data-status="queued""#).nth(1).expect("an sms queue row");
    assert!(queued_row.split("</tr>").next().unwrap().contains(r#"<td class="num">2</td>"#), "{queued_row}");
    assert!(html.contains("gateway answered 500"));
    assert!(html.contains(r#"name="channel" value="sms""#), "retry all of the channel");

    // Retry every failed sms.
    let done = admin.post("/notices/monitor/retry", &[("channel", "sms")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(all_have_status(&app, t, "queued").await);
    let refused = admin.post("/notices/monitor/retry", &[("channel", "pigeon")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let supervisor = app.login(t, "supervisor").await;
    assert_eq!(supervisor.get("/notices/monitor").await.status(), StatusCode::OK);
    let counter = app.login(t, "counter").await;
    assert_eq!(counter.get("/notices/monitor").await.status(), StatusCode::FORBIDDEN);
}
