//! The job table and the fault drills: claims, leases and takeover between
//! workers; the server killed with SIGKILL in the middle of a bill run and
//! started again; SIGTERM letting a request and a job finish.

use std::{collections::HashSet, process::Stdio, time::Duration};

use gridcrm::{
    audit::Actor,
    billing::service,
    db,
    jobs::{
        self, Kind,
        db::{self as jobs_db, Job},
    },
    staff::Role,
    tenants::{self, TenantInput},
    web::error::AppError,
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
};
use uuid::Uuid;

use crate::support::{TestApp, config, fresh_database};

const LEASE: Duration = Duration::from_secs(1);

async fn tenant(pool: &PgPool, slug: &str) -> Uuid {
    let valid = tenants::validate(&TenantInput {
        slug,
        name: "测试供电公司",
        time_zone: "Asia/Shanghai",
        account_prefix: "33",
        is_platform: false,
    })
    .unwrap();
    tenants::create(pool, &valid, &Actor::command_line("test")).await.unwrap()
}

#[tokio::test]
async fn a_job_is_claimed_once_and_taken_over_when_its_worker_stops_heartbeating() {
    let url = fresh_database().await;
    let pool = db::app_pool(&url, None, 8).await.unwrap();

    // A periodic slot is enqueued once, however many processes try.
    assert!(jobs_db::enqueue_periodic(&pool, Kind::LateFees, "2026-12-02T01", 5).await.unwrap());
    assert!(!jobs_db::enqueue_periodic(&pool, Kind::LateFees, "2026-12-02T01", 5).await.unwrap());

    let a = jobs_db::claim(&pool, "worker-a", LEASE).await.unwrap().expect("a due job is claimed");
    assert_eq!((a.kind.as_str(), a.attempts), ("late_fees", 1));
    assert!(jobs_db::claim(&pool, "worker-b", LEASE).await.unwrap().is_none(), "a leased job is not claimed again");
    assert!(jobs_db::heartbeat(&pool, &a, LEASE).await.unwrap());
    assert!(jobs_db::claim(&pool, "worker-b", LEASE).await.unwrap().is_none(), "the heartbeat renewed the lease");

    // Worker A dies: no more heartbeats. Once the lease ends, B takes the job over.
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    let b = jobs_db::claim(&pool, "worker-b", LEASE).await.unwrap().expect("an expired lease is taken over");
    assert_eq!((b.id, b.attempts), (a.id, 2));
    assert!(!jobs_db::heartbeat(&pool, &a, LEASE).await.unwrap(), "A learns it lost the job");
    assert!(!jobs_db::complete(&pool, &a).await.unwrap(), "A cannot finish B's job");
    assert!(jobs_db::complete(&pool, &b).await.unwrap());
    assert!(jobs_db::claim(&pool, "worker-c", LEASE).await.unwrap().is_none(), "a done job is never claimed");

    // Failure: retried after a backoff, and failed for good after the last attempt.
    jobs_db::enqueue_periodic(&pool, Kind::CostControl, "s1", 2).await.unwrap();
    let job = jobs_db::claim(&pool, "worker-a", LEASE).await.unwrap().unwrap();
    let later = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    assert!(jobs_db::fail(&pool, &job, "connection refused", Some(later)).await.unwrap());
    assert!(jobs_db::claim(&pool, "worker-a", LEASE).await.unwrap().is_none(), "not before its retry time");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let job = jobs_db::claim(&pool, "worker-a", LEASE).await.unwrap().expect("retried");
    assert_eq!(job.attempts, 2);
    // A stopping worker releases it: at once claimable, the interrupted try not counted.
    assert!(jobs_db::release(&pool, &job).await.unwrap());
    let job = jobs_db::claim(&pool, "worker-b", LEASE).await.unwrap().expect("released for takeover");
    assert_eq!(job.attempts, 2);
    assert!(jobs_db::fail(&pool, &job, "still refused", None).await.unwrap());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let (state, error): (String, String) = sqlx::query_as("SELECT state, last_error FROM jobs WHERE id = $1")
        .bind(job.id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((state.as_str(), error.as_str()), ("failed", "still refused"));

    // Two workers claiming side by side never take the same job.
    for n in 0..30 {
        jobs_db::enqueue_periodic(&pool, Kind::Escalation, &format!("slot-{n}"), 5).await.unwrap();
    }
    let claimer = |owner: &'static str| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while let Some(job) = jobs_db::claim(&pool, owner, Duration::from_secs(60)).await.unwrap() {
                ids.push(job.id);
            }
            ids
        })
    };
    let (x, y) = (claimer("x"), claimer("y"));
    let (x, y) = (x.await.unwrap(), y.await.unwrap());
    let all: HashSet<Uuid> = x.iter().chain(&y).copied().collect();
    assert_eq!((x.len() + y.len(), all.len()), (30, 30), "each job once");
}

#[tokio::test]
async fn tenants_see_and_enqueue_only_their_own_jobs() {
    let url = fresh_database().await;
    let pool = db::app_pool(&url, None, 4).await.unwrap();
    let (alpha, beta) = (tenant(&pool, "alpha").await, tenant(&pool, "beta").await);
    let mut tx = db::begin_tenant(&pool, alpha, None).await.unwrap();
    let id = jobs_db::enqueue_for_tenant(&mut tx, Kind::BillRun, Some("run-1"), &json!({}), 5).await.unwrap();
    assert!(id.is_some());
    let again = jobs_db::enqueue_for_tenant(&mut tx, Kind::BillRun, Some("run-1"), &json!({}), 5).await.unwrap();
    assert!(again.is_none(), "one job per key");
    let updated = sqlx::query("UPDATE jobs SET state = 'done'").execute(&mut *tx).await.unwrap();
    assert_eq!(updated.rows_affected(), 0, "a tenant cannot change jobs, only the worker");
    tx.commit().await.unwrap();
    jobs_db::enqueue_periodic(&pool, Kind::LateFees, "slot", 5).await.unwrap();

    let count = |tenant: Option<Uuid>| {
        let pool = pool.clone();
        async move {
            let mut tx = match tenant {
                Some(t) => db::begin_tenant(&pool, t, None).await.unwrap(),
                None => pool.begin().await.unwrap(),
            };
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&mut *tx).await.unwrap();
            n
        }
    };
    assert_eq!(count(Some(alpha)).await, 1, "its own job, not the platform's");
    assert_eq!(count(Some(beta)).await, 0);
    assert_eq!(count(None).await, 0, "no scope, no jobs");
    let mut worker = jobs_db::begin_worker(&pool).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&mut *worker).await.unwrap();
    assert_eq!(n, 2, "the worker sees every tenant's jobs");
    drop(worker);

    let mut tx = db::begin_tenant(&pool, beta, None).await.unwrap();
    let forged = sqlx::query("INSERT INTO jobs (id, kind, tenant_id) VALUES ($1, 'bill_run', $2)")
        .bind(Uuid::now_v7())
        .bind(alpha)
        .execute(&mut *tx)
        .await;
    assert!(forged.is_err(), "no job in another tenant's name");
}

/// `n` active customers of the tenant with a meter each and readings for
/// 2026-09 and 2026-10; the usage follows from the account number, so two
/// databases seeded alike bill alike.
pub(crate) async fn seed_billable(pool: &PgPool, tenant: Uuid, n: i32) {
    let mut tx = db::begin_tenant(pool, tenant, None).await.unwrap();
    sqlx::query(
        r#"WITH c AS (
             INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code)
             SELECT app_tenant_id(), gen_random_uuid(), '119' || lpad(k::text, 7, '0'), '用户' || k,
                    'residential', 'RES', 'v220', 'res_tiered'
             FROM generate_series(1, $1) k
             RETURNING id, account_no
           ), p AS (
             INSERT INTO supply_points (tenant_id, id, customer_id, code, voltage_code)
             SELECT app_tenant_id(), gen_random_uuid(), c.id, c.account_no || '-1', 'v220' FROM c
             RETURNING id, customer_id, code
           ), m AS (
             INSERT INTO meters (tenant_id, id, serial, kind)
             SELECT app_tenant_id(), gen_random_uuid(), 'D' || split_part(p.code, '-', 1), 'smart' FROM p
             RETURNING id, serial
           ), i AS (
             INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on)
             SELECT app_tenant_id(), gen_random_uuid(), m.id, p.id, '2020-05-01'
             FROM m JOIN p ON m.serial = 'D' || split_part(p.code, '-', 1)
             RETURNING meter_id, supply_point_id
           )
           INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, kind, read_on,
                                       total, source, status)
           SELECT app_tenant_id(), gen_random_uuid(), i.meter_id, i.supply_point_id, p.customer_id, r.period, 'regular',
                  r.period + 24, r.k * (100 + substr(p.code, 4, 7)::int % 400), 'import', 'ok'
           FROM i JOIN p ON p.id = i.supply_point_id
           CROSS JOIN (VALUES ('2026-09-01'::date, 1), ('2026-10-01'::date, 2)) AS r (period, k)
           RETURNING NULL AS not_by_copy"#,
    )
    .bind(n)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Per customer: bills of 2026-10, their energy and amount (as the superuser sees them).
pub(crate) async fn bills_by_account(url: &str) -> Vec<(String, i64, String, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        r#"SELECT c.account_no, count(b.id), coalesce(sum(b.energy_kwh), 0)::text, coalesce(sum(b.amount), 0)::text
           FROM customers c LEFT JOIN bills b ON b.tenant_id = c.tenant_id AND b.customer_id = c.id
                AND b.period = '2026-10-01' AND b.status = 'issued'
           GROUP BY c.account_no ORDER BY c.account_no"#,
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// The run's counts: (status, bills, total kWh, total amount, skipped, already).
pub(crate) async fn run_counts(url: &str, run: Uuid) -> (String, i32, String, String, i32, i32) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT status, bills, total_kwh::text, total_amount::text, skipped, already FROM bill_runs WHERE id = $1",
    )
    .bind(run)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

pub(crate) async fn wait_for(url: &str, what: &str, sql: &str, bind: Uuid, limit: Duration) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let yes: bool = sqlx::query_scalar(sql).bind(bind).fetch_one(&mut conn).await.unwrap();
        if yes {
            return;
        }
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const CUSTOMERS: i32 = 3000;

/// The real server on the test's database, with a short lease and small
/// bill-run batches; returns it and its address.
pub(crate) type Stdout = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn serve(url: &str, lease_seconds: u32) -> (Child, String, Stdout) {
    serve_with(url, lease_seconds, &[]).await
}

pub(crate) async fn serve_with(url: &str, lease_seconds: u32, env: &[(&str, &str)]) -> (Child, String, Stdout) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("GRIDCRM_DATABASE_URL", url)
        .env("GRIDCRM_BIND", "127.0.0.1:0")
        .env("GRIDCRM_LOG", "warn")
        .env("GRIDCRM_JOB_LEASE_SECONDS", lease_seconds.to_string())
        .env("GRIDCRM_JOB_POLL_MILLIS", "100")
        .env("GRIDCRM_BILL_RUN_BATCH", "50")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the gridcrm binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .unwrap_or_default();
    let base = first.split_whitespace().find(|w| w.starts_with("http://")).expect("the address is printed").to_owned();
    (child, base, lines)
}

async fn start_run(base: &str, key: &str, period: &str) -> Uuid {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/bill-runs"))
        .bearer_auth(key)
        .json(&json!({ "period": period }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let run: Value = r.json().await.unwrap();
    run["id"].as_str().unwrap().parse().unwrap()
}

fn no_workers() -> gridcrm::config::Config {
    let mut config = config();
    config.job_workers = 0;
    config
}

pub(crate) const MID_RUN: &str = "SELECT bills > 0 AND status = 'running' FROM bill_runs WHERE id = $1";
pub(crate) const DONE: &str = "SELECT status = 'done' FROM bill_runs WHERE id = $1";

#[tokio::test]
async fn a_server_killed_mid_bill_run_is_taken_over_after_restart_and_bills_as_if_uninterrupted() {
    // The reference: the same customers billed without interruption.
    let reference = TestApp::spawn().await;
    seed_billable(&reference.pool, reference.alpha.id, CUSTOMERS).await;
    let settings = jobs::Settings::from_config(&config());
    let actor = Actor::command_line("test");
    let reference_run =
        service::start(&reference.pool, reference.alpha.id, &actor, "2026-10", "", &settings).await.unwrap();
    wait_for(&reference.owner_url, "the reference run is done", DONE, reference_run, Duration::from_secs(120)).await;

    // This test process runs no jobs: only the spawned servers do.
    let app = TestApp::spawn_with(no_workers()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (mut server, base, _) = serve(&app.owner_url, 3).await;
    let run = start_run(&base, &key, "2026-10").await;
    wait_for(&app.owner_url, "the run has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;
    server.kill().await.unwrap(); // SIGKILL
    let (status, bills, ..) = run_counts(&app.owner_url, run).await;
    assert_eq!(status, "running");
    assert!(bills > 0 && bills < CUSTOMERS, "killed mid-run: {bills} bills");

    // While the dead server's lease lasts, the period is in progress...
    let lease = jobs::Settings { lease: Duration::from_secs(3), ..settings.clone() };
    let refused = service::start(&app.pool, app.alpha.id, &actor, "2026-10", "R0001", &lease).await;
    assert!(matches!(refused, Err(AppError::Conflict("run_in_progress"))), "{refused:?}");
    // ...and once it has run out, a new run (even of one route) is not refused.
    let expired = "SELECT lease_until < now() FROM jobs WHERE dedup_key = $1::text";
    wait_for(&app.owner_url, "the lease ran out", expired, run, Duration::from_secs(10)).await;
    let route_run = service::start(&app.pool, app.alpha.id, &actor, "2026-10", "R0001", &lease).await;
    assert!(route_run.is_ok(), "{route_run:?}");

    // Restarted, the server takes the run over and finishes it.
    let (mut server, _, _) = serve(&app.owner_url, 3).await;
    wait_for(&app.owner_url, "the run is done after the restart", DONE, run, Duration::from_secs(120)).await;
    // The worker records its job done just after the run's own end.
    let job_done = "SELECT state = 'done' FROM jobs WHERE dedup_key = $1::text";
    wait_for(&app.owner_url, "the run's job is done", job_done, run, Duration::from_secs(10)).await;
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM jobs WHERE dedup_key = $1::text")
            .bind(run)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 2), "taken over once");

    let expected = bills_by_account(&reference.owner_url).await;
    assert_eq!(expected.iter().filter(|b| b.1 == 1).count(), CUSTOMERS as usize, "the reference billed everyone");
    assert_eq!(bills_by_account(&app.owner_url).await, expected, "bills per customer as without the kill");
    let (status, bills, kwh, amount, skipped, already) = run_counts(&app.owner_url, run).await;
    assert_eq!(
        (status, bills, kwh, amount, skipped, already),
        run_counts(&reference.owner_url, reference_run).await,
        "the run's counts as without the kill"
    );
    server.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_and_the_running_bill_run_finish() {
    let app = TestApp::spawn_with(no_workers()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (mut server, base, mut stdout) = serve(&app.owner_url, 60).await;
    let run = start_run(&base, &key, "2026-10").await;
    wait_for(&app.owner_url, "the run has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;

    // A request in flight: its headers and half its body are sent.
    let body = r#"{"period": "2026-09"}"#;
    let (head, tail) = body.split_at(10);
    let mut request = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let headers = format!(
        "POST /api/v1/bill-runs HTTP/1.1\r\nHost: gridcrm\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    );
    request.write_all(headers.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = server.id().unwrap() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    request.write_all(tail.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), request.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 202"), "the request in flight is answered: {response}");

    let status = tokio::time::timeout(Duration::from_secs(60), server.wait()).await.expect("the server exits").unwrap();
    assert!(status.success(), "exit status {status:?}");
    let mut last = String::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        last = line;
    }
    assert!(last.starts_with("gridcrm stopped:") && last.contains("running jobs finished"), "{last}");
    let (status, bills, ..) = run_counts(&app.owner_url, run).await;
    assert_eq!((status.as_str(), bills), ("done", CUSTOMERS), "the running bill run finished before the exit");
}

#[tokio::test]
async fn a_job_whose_database_connections_drop_mid_run_is_retried_and_resumes() {
    let app = TestApp::spawn_with(no_workers()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    let actor = Actor::command_line("test");
    let mut settings = jobs::Settings::from_config(&config());
    settings.bill_run_batch = 50;
    settings.retry = Duration::from_millis(200);
    let run = service::start(&app.pool, app.alpha.id, &actor, "2026-10", "", &settings).await.unwrap();
    let runner = jobs::worker::Runner { pool: app.pool.clone(), settings: settings.clone(), progress: None };
    let job: Job = jobs_db::claim(&app.pool, "drill", settings.lease).await.unwrap().expect("the run's job");
    let owner_url = app.owner_url.clone();
    // Mid-run, every connection of the application role is cut (as a PostgreSQL restart would).
    let cut = tokio::spawn(async move {
        wait_for(&owner_url, "the run has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;
        let mut conn = PgConnection::connect(&owner_url).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let outcome = jobs::worker::process(&runner, job).await;
    cut.await.unwrap();
    assert!(matches!(outcome, jobs::worker::Outcome::Retrying(_)), "a lost connection is retried: {outcome:?}");
    let (status, bills, ..) = run_counts(&app.owner_url, run).await;
    assert_eq!(status, "running", "the run waits for its retry");
    assert!(bills < CUSTOMERS);
    let summary =
        app.api_get(&app.api_key(&app.alpha, Role::Supervisor).await, &format!("/api/v1/bill-runs/{run}")).await;
    assert!(summary["error"].is_string(), "the run says why it waits: {summary}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = jobs_db::claim(&app.pool, "drill", settings.lease).await.unwrap().expect("queued again");
    assert_eq!(again.attempts, 2);
    assert!(matches!(jobs::worker::process(&runner, again).await, jobs::worker::Outcome::Done));
    let (status, bills, _, _, skipped, already) = run_counts(&app.owner_url, run).await;
    assert_eq!((status.as_str(), bills, already), ("done", CUSTOMERS, 0));
    let summary =
        app.api_get(&app.api_key(&app.alpha, Role::Supervisor).await, &format!("/api/v1/bill-runs/{run}")).await;
    assert!(summary["error"].is_null(), "finished, the note is gone: {summary}");
    assert_eq!(skipped, 4, "the tenant's other customers have no readings");
}

#[tokio::test]
async fn sigterm_past_the_grace_period_releases_the_run_and_the_next_server_finishes_it() {
    let app = TestApp::spawn_with(no_workers()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let grace = [("GRIDCRM_SHUTDOWN_GRACE_SECONDS", "0")];
    let (server, base, mut stdout) = serve_with(&app.owner_url, 60, &grace).await;
    let run = start_run(&base, &key, "2026-10").await;
    wait_for(&app.owner_url, "the run has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;
    assert_eq!(unsafe { libc::kill(server.id().unwrap() as i32, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(30), wait(server)).await.expect("the server exits");
    assert!(status.success(), "exit status {status:?}");
    let mut last = String::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        last = line;
    }
    // The bill run, and perhaps a periodic job the other worker was running.
    assert!(last.starts_with("gridcrm stopped:") && !last.contains(" 0 released"), "{last}");
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM jobs WHERE dedup_key = $1::text")
            .bind(run)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 0), "given back at once, the try not counted");
    assert_eq!(run_counts(&app.owner_url, run).await.0, "running");

    // Another server (a long lease: no waiting for one to run out) finishes it.
    let (mut other, _, _) = serve(&app.owner_url, 60).await;
    wait_for(&app.owner_url, "the other server finished the run", DONE, run, Duration::from_secs(120)).await;
    let (_, bills, _, _, skipped, already) = run_counts(&app.owner_url, run).await;
    assert_eq!((bills, skipped, already), (CUSTOMERS, 4, 0));
    other.kill().await.unwrap();
}

#[tokio::test]
async fn the_bill_run_command_holds_the_lease_and_a_server_takes_over_when_it_is_killed() {
    let app = TestApp::spawn_with(no_workers()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    // A server runs alongside the command: it must not bill the command's run meanwhile.
    let (mut server, _, _) = serve(&app.owner_url, 3).await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["bill-run", "--tenant", "alpha", "--period", "2026-10"])
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .env("GRIDCRM_JOB_LEASE_SECONDS", "3")
        .env("GRIDCRM_BILL_RUN_BATCH", "50")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let started = std::time::Instant::now();
    let run: Uuid = loop {
        let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM bill_runs WHERE started_by LIKE '%bill-run'")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        if let Some(run) = found {
            break run;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the command did not start a run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    wait_for(&app.owner_url, "the command has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE dedup_key = $1::text")
        .bind(run)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(owner.starts_with("bill-run@"), "the command holds the run's lease: {owner}");
    command.kill().await.unwrap(); // SIGKILL

    wait_for(&app.owner_url, "the server took the run over and finished it", DONE, run, Duration::from_secs(120)).await;
    let (owner, attempts): (String, i32) =
        sqlx::query_as("SELECT lease_owner, attempts FROM jobs WHERE dedup_key = $1::text")
            .bind(run)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(owner.starts_with("serve@") && attempts == 2, "taken over by the server: {owner}, {attempts}");
    let (_, bills, _, _, skipped, already) = run_counts(&app.owner_url, run).await;
    assert_eq!((bills, skipped, already), (CUSTOMERS, 4, 0));
    server.kill().await.unwrap();
}

async fn wait(mut child: Child) -> std::process::ExitStatus {
    child.wait().await.unwrap()
}

#[tokio::test]
async fn two_processes_run_each_periodic_slot_once() {
    let url = fresh_database().await;
    let pool = db::app_pool(&url, None, 8).await.unwrap();
    let mut settings = jobs::Settings::from_config(&config());
    settings.poll = Duration::from_millis(50);
    let first = jobs::Workers::start(pool.clone(), settings.clone(), true);
    let second = jobs::Workers::start(pool.clone(), settings, true);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let started = std::time::Instant::now();
    let rows: Vec<(String, String, String, i32)> = loop {
        let rows: Vec<(String, String, String, i32)> =
            sqlx::query_as("SELECT kind, dedup_key, state, attempts FROM jobs ORDER BY kind, dedup_key")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        if rows.len() >= 4 && rows.iter().all(|r| r.2 == "done") {
            break rows;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the periodic jobs did not run: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    // Escalation may have reached a second minute meanwhile; each slot once.
    assert!(kinds.contains(&"late_fees") && kinds.contains(&"cost_control") && kinds.contains(&"prune_jobs"));
    let slots: HashSet<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(slots.len(), rows.len(), "one job per kind and slot: {rows:?}");
    assert!(rows.iter().all(|r| r.3 == 1), "each run once: {rows:?}");
    assert_eq!(first.finish().await.released + second.finish().await.released, 0);
}

#[tokio::test]
async fn the_queue_state_gives_lag_running_expired_and_failed_jobs_by_kind() {
    let url = fresh_database().await;
    let pool = db::app_pool(&url, None, 2).await.unwrap();
    let mut owner = PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, kind, state, run_after, lease_owner, lease_until, finished_at, dedup_key) VALUES
           (gen_random_uuid(), 'bill_run', 'queued', now() - interval '10 minutes', NULL, NULL, NULL, 'a'),
           (gen_random_uuid(), 'bill_run', 'queued', now() + interval '1 hour', NULL, NULL, NULL, 'b'),
           (gen_random_uuid(), 'late_fees', 'running', now(), 'gone', now() - interval '1 minute', NULL, 'c'),
           (gen_random_uuid(), 'cost_control', 'failed', now(), NULL, NULL, now() - interval '5 minutes', 'd'),
           (gen_random_uuid(), 'cost_control', 'failed', now(), NULL, NULL, now() - interval '2 hours', 'e'),
           (gen_random_uuid(), 'escalation', 'done', now(), NULL, NULL, now(), 'f')",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    let rows = jobs_db::queue_state(&pool).await.unwrap();
    let of = |kind: &str| rows.iter().find(|r| r.kind == kind);
    let bills = of("bill_run").unwrap();
    assert_eq!(bills.due, 1, "the one due, not the one for later");
    assert!((595.0..700.0).contains(&bills.oldest_due_seconds), "{}", bills.oldest_due_seconds);
    let fees = of("late_fees").unwrap();
    assert_eq!((fees.running, fees.expired_leases, fees.due), (1, 1, 0));
    assert_eq!(of("cost_control").unwrap().failed_last_hour, 1, "the older failure is out of the hour");
    assert!(of("escalation").is_none(), "done jobs are not counted");
}
