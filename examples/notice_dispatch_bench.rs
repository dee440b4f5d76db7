//! The notice dispatch benchmark (scripts/bench-notices-dispatch; see
//! BENCHMARKS.md, "Notice dispatch").
//!
//!     cargo run --release --example notice_dispatch_bench -- [NOTICES_PER_CHANNEL]
//!
//! On the configured database (or the embedded cluster under data_dir), in
//! one run: starts the test suite's SMTP sink and gateway stub on loopback;
//! measures each one's ceiling with a trivial client (N messages from one
//! loop with as many on their way at once as a dispatcher task has,
//! `dispatch::IN_FLIGHT`: lettre over as many pooled SMTP connections, signed
//! reqwest posts) — one at a time, per-message latency (TCP's delayed
//! acknowledgement against lettre's small writes, 40 ms) would be measured
//! instead of the sink; then
//! enqueues N email and N SMS notices for a tenant `bench-notices` and times
//! the dispatcher (the production code, `notice_dispatchers` tasks) through
//! each channel. Prints notices/s and the ratio to the sink's ceiling.

#[path = "../tests/it/notice_sinks.rs"]
#[allow(dead_code)]
mod notice_sinks;

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use gridcrm::{
    audit::Actor,
    config::{Config, Secret},
    db::{self, Database},
    notices::{
        self, Kind,
        dispatch::{Dispatcher, IN_FLIGHT, Settings},
    },
    tenants::{self, TenantInput},
};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, transport::smtp::PoolConfig};
use notice_sinks::{GatewayStub, SmtpSink, sign};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const SECRET: &str = "bench gateway secret";
const CUSTOMERS: i64 = 2000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let config = Config::load()?;
    let database = Database::open(&config, true).await?;
    let smtp = SmtpSink::start(Duration::ZERO).await;
    let gateway = GatewayStub::start(SECRET, Duration::ZERO).await;

    println!("== sink ceilings: {n} messages each from one loop, {IN_FLIGHT} on their way at once");
    let smtp_ceiling = smtp_ceiling(smtp.port, n).await?;
    println!("smtp sink:    {smtp_ceiling:>8.0} messages/s (lettre, {IN_FLIGHT} pooled connections)");
    let gateway_ceiling = gateway_ceiling(&gateway.url, n).await?;
    println!("gateway stub: {gateway_ceiling:>8.0} requests/s (reqwest, signed)");

    let tenant = bench_tenant(&database.app).await?;
    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let settings = Settings::from_config(&Config {
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: smtp.port,
        smtp_tls: "none".into(),
        smtp_from: Some("Bench <notices@example.com>".into()),
        gateway_url: Some(gateway.url.clone()),
        gateway_secret: Some(Secret::new(SECRET)),
        notice_poll_millis: 20,
        ..config.clone()
    });
    println!("== the dispatcher: {} task(s), batch {}, {n} notices per channel", settings.tasks.max(1), settings.batch);
    let mut figures = Vec::new();
    for (channel, kind, ceiling) in
        [("email", Kind::SafeUseAdvice, smtp_ceiling), ("sms", Kind::EnergySavingAdvice, gateway_ceiling)]
    {
        let enqueued = enqueue(&database.app, tenant, kind, channel, n, &run).await?;
        let started = Instant::now();
        let dispatcher =
            Dispatcher::start(database.app.clone(), Settings { tasks: settings.tasks.max(1), ..settings.clone() })?;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (left, failed) = pending(&database.app, tenant, &run, channel).await?;
            anyhow::ensure!(failed == 0, "{failed} {channel} notices failed");
            if left == 0 {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "the {channel} run took over 30 minutes");
        }
        let seconds = started.elapsed().as_secs_f64();
        dispatcher.finish().await;
        let rate = enqueued as f64 / seconds;
        println!(
            "{channel:<6} {enqueued} notices in {seconds:.1} s: {rate:.0} notices/s; sink ceiling {ceiling:.0}/s; \
             ratio {:.2} (target >= 0.50: {})",
            rate / ceiling,
            if rate / ceiling >= 0.5 { "met" } else { "NOT met" }
        );
        figures.push((channel, rate, ceiling));
    }
    println!(
        "sinks received: {} mails, {} gateway messages ({} repeated keys)",
        smtp.mails().len(),
        gateway.delivered().len(),
        gateway.log.duplicates.load(std::sync::atomic::Ordering::SeqCst)
    );
    database.close().await;
    Ok(())
}

async fn smtp_ceiling(port: u16, n: usize) -> anyhow::Result<f64> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .pool_config(PoolConfig::new().max_size(IN_FLIGHT as u32))
        .build();
    let transport = &transport;
    let started = Instant::now();
    at_once(n, |i| async move {
        let message = Message::builder()
            .from("Bench <notices@example.com>".parse()?)
            .to(format!("customer{i}@example.com").parse()?)
            .subject("Using electricity safely")
            .body(format!("Dear customer {i}: check your wiring before the storm. — Bench Power"))?;
        transport.send(message).await?;
        Ok(())
    })
    .await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn gateway_ceiling(url: &str, n: usize) -> anyhow::Result<f64> {
    let client = &reqwest::Client::new();
    let started = Instant::now();
    at_once(n, |i| async move {
        let key = format!("ceiling:{}:{i}", Uuid::new_v4().simple());
        let body = serde_json::to_vec(&json!({
            "notice_id": Uuid::nil(), "tenant": Uuid::nil(), "channel": "sms", "to": "13800000000",
            "subject": "", "body": format!("Dear customer {i}: check your wiring before the storm."),
            "idempotency_key": key, "lang": "en",
        }))?;
        let at = chrono::Utc::now().timestamp();
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .header("x-gridcrm-timestamp", at.to_string())
            .header("x-gridcrm-signature", sign(SECRET, at, &body))
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "the stub answered {}", response.status());
        response.bytes().await?;
        Ok(())
    })
    .await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Runs `send(0..n)` with [`IN_FLIGHT`] on their way at once; the first error stops it.
async fn at_once<F, Fut>(n: usize, send: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut sends = stream::iter(0..n).map(send).buffer_unordered(IN_FLIGHT);
    while let Some(sent) = sends.next().await {
        sent?;
    }
    Ok(())
}

/// The tenant `bench-notices` with CUSTOMERS customers (phones and email
/// addresses), no quiet hours; made once.
async fn bench_tenant(pool: &PgPool) -> anyhow::Result<Uuid> {
    let existing = sqlx::query_scalar::<_, Uuid>("SELECT id FROM tenants WHERE slug = 'bench-notices'")
        .fetch_optional(pool)
        .await?;
    let tenant = match existing {
        Some(id) => id,
        None => {
            let valid = tenants::validate(&TenantInput {
                slug: "bench-notices",
                name: "通知基准测试供电公司",
                time_zone: "Asia/Shanghai",
                account_prefix: "78",
                is_platform: false,
            })
            .map_err(|_| anyhow::anyhow!("the bench tenant is invalid"))?;
            tenants::create(pool, &valid, &Actor::command_line("bench")).await.context("creating the tenant")?
        }
    };
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    sqlx::query(
        "INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code, phone)
         SELECT app_tenant_id(), gen_random_uuid(), '78' || lpad(g::text, 10, '0'), '基准客户' || g, 'residential',
                'RES', 'v220', 'res_tiered', '139' || lpad(g::text, 8, '0')
         FROM generate_series(1, $1) g
         ON CONFLICT DO NOTHING",
    )
    .bind(CUSTOMERS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO notice_preferences (tenant_id, customer_id, email, lang, updated_by)
         SELECT app_tenant_id(), id, 'c' || account_no || '@example.com', 'en', 'bench' FROM customers
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO notice_settings (tenant_id, quiet_from, quiet_to) VALUES (app_tenant_id(), '00:00', '00:00')
         ON CONFLICT (tenant_id) DO UPDATE SET quiet_from = '00:00', quiet_to = '00:00'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

async fn enqueue(pool: &PgPool, tenant: Uuid, kind: Kind, channel: &str, n: usize, run: &str) -> anyhow::Result<u64> {
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    notices::db::prepare_targets(&mut tx).await?;
    sqlx::query(
        "INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
         SELECT c.id, 'bench:' || $2 || ':' || g, '{}', now() - interval '1 minute'
         FROM generate_series(1, $1) g
         JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM customers) c ON c.k = g % $3",
    )
    .bind(n as i64)
    .bind(run)
    .bind(CUSTOMERS)
    .execute(&mut *tx)
    .await?;
    let mut common = notices::template::sample_data(kind);
    common["message"] = json!("Check your wiring before the storm.");
    let made = notices::db::enqueue(&mut tx, kind, &[channel.to_owned()], &common).await?;
    tx.commit().await?;
    Ok(made)
}

/// Notices of this run and channel not yet sent, and those failed.
async fn pending(pool: &PgPool, tenant: Uuid, run: &str, channel: &str) -> anyhow::Result<(i64, i64)> {
    let mut tx = db::begin_tenant(pool, tenant, None).await?;
    let (left, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status IN ('queued', 'sending')), count(*) FILTER (WHERE status = 'failed')
         FROM notices WHERE event_ref LIKE 'bench:' || $1 || ':%' AND channel = $2",
    )
    .bind(run)
    .bind(channel)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((left, failed))
}
