//! Fault drills: PostgreSQL crashing and restarting under load, a request's
//! connection cut mid-transaction, and the embedded cluster's users killed
//! with -9. Each drill runs on a cluster of its own ([`OwnCluster`]), never on
//! the one the other tests share.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use gridcrm::{
    db::embedded::{EmbeddedPostgres, StopMode},
    staff::Role,
};
use reqwest::{Client, RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{OwnCluster, TestApp, config};

/// The longest a request may take while the database is away: the pool's
/// acquire timeout (5 s) and slack, far below the 30 s request timeout.
const ANSWER_BOUND: Duration = Duration::from_secs(10);

/// One request and what came of it.
struct Attempt {
    started: Instant,
    took: Duration,
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Attempt {
    fn describe(&self) -> String {
        format!("{} after {:?}: {}", self.status, self.took, self.body)
    }
}

async fn attempt(request: RequestBuilder) -> Attempt {
    let started = Instant::now();
    let response = request.send().await.expect("the server answers within the client's timeout");
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.text().await.unwrap_or_default();
    Attempt { started, took: started.elapsed(), status, content_type, body }
}

/// A failure while the database is away is a problem document with a 5xx
/// status: never a 401, which would sign the caller out.
fn assert_clean_failure(a: &Attempt) {
    assert!(a.status.is_server_error(), "{}", a.describe());
    assert!(a.content_type.starts_with("application/problem+json"), "{} ({})", a.describe(), a.content_type);
}

fn client() -> Client {
    // Far above ANSWER_BOUND: a request that hangs fails the drill by its timing, not the client.
    Client::builder().timeout(Duration::from_secs(40)).build().unwrap()
}

fn payment(account_no: &str, amount: Decimal, reference: &str) -> Value {
    json!({"account_no": account_no, "amount": amount.to_string(), "channel": "bank", "channel_ref": reference,
           "allow_credit": true})
}

/// What a payment channel sent and how each attempt went.
#[derive(Default)]
struct ChannelLog {
    attempts: Vec<Attempt>,
    /// (reference, amount) of every payment the channel saw booked.
    booked: Vec<(String, Decimal)>,
}

/// A payment channel (a bank, say) notifying payments one after another until
/// `stop`, each with a reference of its own and retried until it is booked.
async fn pay_until(
    app_base: String,
    key: String,
    account_no: String,
    channel: u32,
    stop: Arc<AtomicBool>,
) -> ChannelLog {
    let client = client();
    let mut log = ChannelLog::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let reference = format!("DRILL-{channel}-{n}");
        let amount = Decimal::new(i64::from(channel * 10_000 + n), 2);
        let body = payment(&account_no, amount, &reference);
        let first_try = Instant::now();
        loop {
            let a = attempt(client.post(format!("{app_base}/api/v1/payments")).bearer_auth(&key).json(&body)).await;
            let booked = a.status == StatusCode::CREATED || a.status == StatusCode::OK;
            if booked {
                let answer: Value = serde_json::from_str(&a.body).unwrap();
                assert_eq!(answer["payment"]["channel_ref"], reference.as_str(), "{}", a.describe());
                assert_eq!(answer["payment"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap(), amount);
            }
            log.attempts.push(a);
            if booked {
                break;
            }
            assert!(first_try.elapsed() < Duration::from_secs(60), "{reference} was never booked");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        log.booked.push((reference, amount));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    log
}

/// A reader (the call centre, say) listing customers until `stop`.
async fn read_until(app_base: String, key: String, stop: Arc<AtomicBool>) -> Vec<Attempt> {
    let client = client();
    let mut attempts = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        attempts.push(attempt(client.get(format!("{app_base}/api/v1/customers")).bearer_auth(&key)).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    attempts
}

async fn account_numbers(app: &TestApp) -> Vec<String> {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query_scalar("SELECT account_no FROM customers WHERE tenant_id = $1 ORDER BY account_no")
        .bind(app.alpha.id)
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn postgres_crashing_under_load_loses_no_payment_and_doubles_none() {
    let cluster = OwnCluster::start("drill-crash").await;
    let app = cluster.spawn_app(config()).await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let accounts = account_numbers(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let channels: Vec<_> = (1..=4u32)
        .map(|channel| {
            let account = accounts[channel as usize % accounts.len()].clone();
            tokio::spawn(pay_until(app.base.clone(), key.clone(), account, channel, stop.clone()))
        })
        .collect();
    let reader = tokio::spawn(read_until(app.base.clone(), key.clone(), stop.clone()));

    tokio::time::sleep(Duration::from_secs(1)).await;
    // A crash (no clean shutdown; recovery from the WAL on start), down for longer than
    // the pool waits for a connection, so requests fail during the gap.
    let down_at = Instant::now();
    let health_in_gap = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        attempt(client().get(app.url("/healthz"))).await
    };
    let ((), health_in_gap) = tokio::join!(cluster.restart(StopMode::Immediate, Duration::from_secs(6)), health_in_gap);
    let up_at = Instant::now();
    assert_eq!(health_in_gap.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health_in_gap.describe());
    assert!(health_in_gap.body.contains("unreachable") && health_in_gap.took < ANSWER_BOUND);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let reads = reader.await.unwrap();
    let mut booked = Vec::new();
    let mut payments = Vec::new();
    for channel in channels {
        let log = channel.await.unwrap();
        booked.extend(log.booked);
        payments.extend(log.attempts);
    }
    let by_status = |attempts: &[Attempt]| {
        let mut counts = std::collections::BTreeMap::new();
        for a in attempts {
            *counts.entry(a.status.as_u16()).or_insert(0) += 1;
        }
        counts
    };
    eprintln!("payment attempts by status {:?}, reads {:?}", by_status(&payments), by_status(&reads));
    let attempts: Vec<Attempt> = payments.into_iter().chain(reads).collect();
    let ok = |a: &Attempt| a.status.is_success();
    for a in &attempts {
        assert!(a.took < ANSWER_BOUND, "no request hangs: {}", a.describe());
        if !ok(a) {
            assert_clean_failure(a);
        }
    }
    assert!(attempts.iter().any(|a| ok(a) && a.started < down_at), "requests succeeded before the crash");
    assert!(attempts.iter().any(|a| !ok(a)), "the crash was felt: some requests failed during the gap");
    let after: Vec<_> = attempts.iter().filter(|a| a.started > up_at).collect();
    assert!(!after.is_empty());
    for a in after {
        assert!(
            ok(a),
            "once PostgreSQL is back every request succeeds, with no restart of the server: {}",
            a.describe()
        );
    }
    let health = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Every payment a channel saw booked is in the database once; nothing else is,
    // and each one's credit was added with it.
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let stored: Vec<(String, Decimal)> =
        sqlx::query_as("SELECT channel_ref, amount FROM payments WHERE channel = 'bank' ORDER BY channel_ref")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let sent_total: Decimal = booked.iter().map(|b| b.1).sum();
    assert_eq!(stored.len(), booked.len(), "as many payments stored as booked");
    let stored_set: HashSet<_> = stored.iter().cloned().collect();
    assert_eq!(stored_set, booked.iter().cloned().collect::<HashSet<_>>(), "the same references and amounts");
    assert_eq!(stored.iter().map(|s| s.1).sum::<Decimal>(), sent_total);
    let credit: Decimal =
        sqlx::query_scalar("SELECT sum(credit_balance) FROM customers").fetch_one(&mut conn).await.unwrap();
    assert_eq!(credit, sent_total, "no payment was stored without its credit (the customers have no bills)");
}

/// Waits until a session waits for a lock in a statement starting with `statement`.
async fn wait_until_blocked(owner_url: &str, statement: &str) {
    let mut conn = PgConnection::connect(owner_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 || '%'",
        )
        .bind(statement)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no session came to wait in {statement}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_payment_cut_off_mid_transaction_leaves_nothing_and_books_on_retry() {
    let cluster = OwnCluster::start("drill-cut").await;
    let app = cluster.spawn_app(config()).await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let customer = app.alpha.customers[0];
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let account_no: String = sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // Another session holds the customer's row, so the booking stops half-way:
    // the payment inserted, its credit not yet added to the customer.
    let mut holder = PgConnection::connect(&app.owner_url).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM customers WHERE id = $1 FOR NO KEY UPDATE")
        .bind(customer)
        .execute(&mut holder)
        .await
        .unwrap();
    let body = payment(&account_no, Decimal::new(8800, 2), "CUT-1");
    let request = client().post(app.url("/api/v1/payments")).bearer_auth(&key).json(&body);
    let in_flight = tokio::spawn(attempt(request));
    wait_until_blocked(&app.owner_url, "UPDATE customers SET credit_balance").await;

    // A clean restart ends every session, the booking's with it.
    cluster.restart(StopMode::Fast, Duration::from_millis(500)).await;
    let cut = in_flight.await.unwrap();
    assert!(cut.status.is_server_error(), "{}", cut.describe());
    assert_clean_failure(&cut);
    assert!(cut.took < ANSWER_BOUND, "{}", cut.describe());
    drop(holder);

    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let state = async |conn: &mut PgConnection| -> (i64, Decimal) {
        let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE channel_ref = 'CUT-1'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let credit: Decimal = sqlx::query_scalar("SELECT credit_balance FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        (payments, credit)
    };
    assert_eq!(state(&mut conn).await, (0, Decimal::ZERO), "nothing of the cut-off booking stays");

    // The channel retries: booked now, once.
    let retry = attempt(client().post(app.url("/api/v1/payments")).bearer_auth(&key).json(&body)).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.describe());
    assert_eq!(state(&mut conn).await, (1, Decimal::new(8800, 2)));
}

/// A temporary folder for an embedded cluster; a cluster left running in it
/// (by a failed assertion) is stopped when it is dropped.
struct ClusterHome(PathBuf);

impl ClusterHome {
    fn new(name: &str) -> ClusterHome {
        let home = std::env::temp_dir().join(format!("gridcrm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        ClusterHome(home)
    }

    fn data(&self) -> PathBuf {
        self.0.join("pg")
    }
}

impl Drop for ClusterHome {
    fn drop(&mut self) {
        let postmaster = self.data().join("postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(&postmaster).ok().and_then(|s| s.lines().next()?.parse().ok()) {
            // SIGINT is PostgreSQL's fast shutdown.
            unsafe { libc::kill(pid, libc::SIGINT) };
            for _ in 0..100 {
                if !postmaster.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The port of the PostgreSQL running on `data`, if one is.
fn running_port(data: &Path) -> Option<u16> {
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let port = pid_file.lines().nth(3)?.trim().parse().ok()?;
    listening(port).then_some(port)
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `gridcrm serve` on the embedded cluster in `home`, once it serves.
struct Serve {
    child: tokio::process::Child,
    url: String,
}

async fn serve(home: &Path) -> Serve {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("GRIDCRM_DATA_DIR", home)
        .env("GRIDCRM_LOG", "warn")
        .env_remove("GRIDCRM_DATABASE_URL")
        .env_remove("GRIDCRM_APP_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the gridcrm binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("gridcrm is serving on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("gridcrm serve ended before it served");
    })
    .await
    .expect("gridcrm serve starts");
    // Keep reading, so the server never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Serve { child, url }
}

async fn healthy(url: &str) -> bool {
    client().get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
}

#[tokio::test]
async fn the_embedded_cluster_stops_with_its_last_user_even_after_kill_9() {
    let home = ClusterHome::new("drill-orphan");
    let data = home.data();

    // kill -9 leaves the cluster running, with nobody to stop it...
    let mut killed = serve(&home.0).await;
    assert!(healthy(&killed.url).await);
    let port = running_port(&data).expect("serve started the cluster");
    killed.child.kill().await.unwrap();
    assert!(running_port(&data).is_some(), "PostgreSQL outlives a kill -9");
    // ...so the next process adopts it, and stops it when it leaves.
    let adopter = EmbeddedPostgres::start(&data).await.expect("adopts");
    assert_eq!(adopter.port(), port, "the running cluster is used, not started again");
    drop(adopter);
    assert!(!listening(port), "the adopter stopped the orphan when it left");

    // Two processes share a cluster: the first to leave leaves it to the other...
    let mut first = EmbeddedPostgres::start(&data).await.expect("starts");
    let port = first.port();
    let mut server = serve(&home.0).await;
    first.stop().await.unwrap();
    assert!(listening(port), "the cluster stays up for the server still using it");
    assert!(healthy(&server.url).await);
    // ...and the last one stops it: a server stopped with SIGTERM shuts down cleanly.
    let pid = server.child.id().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let exit = tokio::time::timeout(Duration::from_secs(60), server.child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit}");
    assert!(!listening(port), "the last user stopped the cluster");
    assert!(running_port(&data).is_none());
}

/// PostgreSQL crashes in the middle of a bill run that a server's job worker
/// is running. Nobody restarts the server: its worker loses the run, the job
/// waits out its lease or retry, another claim picks it up once the database
/// is back, and the run finishes with exactly the bills of an uninterrupted
/// run (same customers, kWh and amounts; none twice).
#[tokio::test]
async fn postgres_crashing_mid_bill_run_finishes_the_run_as_if_uninterrupted() {
    use crate::jobs::{DONE, MID_RUN, bills_by_account, run_counts, seed_billable, wait_for};
    use gridcrm::{audit::Actor, billing::service, jobs};
    const CUSTOMERS: i32 = 2000;
    let actor = Actor::command_line("drill");

    let reference = TestApp::spawn().await;
    seed_billable(&reference.pool, reference.alpha.id, CUSTOMERS).await;
    let settings = jobs::Settings::from_config(&config());
    let run = service::start(&reference.pool, reference.alpha.id, &actor, "2026-10", "", &settings).await.unwrap();
    wait_for(&reference.owner_url, "the reference run is done", DONE, run, Duration::from_secs(120)).await;
    let expected = bills_by_account(&reference.owner_url).await;

    let cluster = OwnCluster::start("billrun-crash").await;
    let drill_config =
        gridcrm::config::Config { job_lease_seconds: 3, job_retry_seconds: 1, bill_run_batch: 100, ..config() };
    let app = cluster.spawn_app(drill_config.clone()).await;
    seed_billable(&app.pool, app.alpha.id, CUSTOMERS).await;
    let settings = jobs::Settings::from_config(&drill_config);
    let run = service::start(&app.pool, app.alpha.id, &actor, "2026-10", "", &settings).await.unwrap();
    wait_for(&app.owner_url, "the run has billed a batch", MID_RUN, run, Duration::from_secs(60)).await;
    cluster.restart(StopMode::Immediate, Duration::from_secs(2)).await;
    let (status, bills, ..) = run_counts(&app.owner_url, run).await;
    assert!(status == "running" && bills < CUSTOMERS, "the crash came mid-run: {status}, {bills} bills");

    wait_for(&app.owner_url, "the run is done after the crash", DONE, run, Duration::from_secs(120)).await;
    assert_eq!(bills_by_account(&app.owner_url).await, expected, "the same bills as an uninterrupted run");
    let (status, bills, ..) = run_counts(&app.owner_url, run).await;
    assert_eq!((status.as_str(), bills), ("done", CUSTOMERS));
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE dedup_key = $1::text")
        .bind(run)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(attempts >= 2, "the job was taken up again after the crash ({attempts} attempts)");
}
