//! Test support: one PostgreSQL cluster per test run (the embedded one, or the
//! server named by DATABASE_URL), a fresh database per test cloned from a
//! migrated template, and the real application served on a loopback port.
//! The application connects as `gridcrm_app`, so row-level security applies.
//!
//! On a Citus cluster (DATABASE_URL names the coordinator and CITUS_WORKERS
//! its workers, `host:port,host:port`, as `scripts/citus-check` runs them)
//! the template is migrated and distributed, and each test's database is
//! cloned from it on every node: the clones' shards and metadata agree,
//! because the coordinator reaches a worker's database by its own name.

use std::{
    net::SocketAddr,
    sync::{Mutex, OnceLock},
};

use gridcrm::{
    AppState,
    audit::Actor,
    config::Config,
    customers::{model::CustomerDraft, service},
    db,
    staff::{Role, db as staff_db},
    tenants::{self, TenantInput},
};
use reqwest::{Client, StatusCode, redirect::Policy};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

struct Cluster {
    /// Superuser URL without a database name: `…/` + name.
    base_url: String,
    template: String,
    /// The Citus workers' superuser URLs without a database name (none on
    /// one server).
    workers: Vec<String>,
}

/// The workers' base URLs from CITUS_WORKERS: the coordinator's URL with
/// each worker's host and port.
fn citus_workers(base_url: &str) -> Vec<String> {
    let Ok(list) = std::env::var("CITUS_WORKERS") else { return Vec::new() };
    let (scheme_user, rest) = base_url.split_once('@').expect("DATABASE_URL names user@host");
    let (_, path) = rest.split_once('/').expect("DATABASE_URL has a path");
    list.split(',').map(|node| format!("{scheme_user}@{}/{path}", node.trim())).collect()
}

/// Clones `template` as `name` on one node. A database can only be copied
/// while no one is connected to it, and on a Citus node its maintenance
/// daemon and the coordinator's cached connections are: they are ended
/// first, and the copy is tried again if one came back in between.
async fn clone_database(admin: &mut PgConnection, template: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut tries = 0;
    loop {
        admin
            .execute(
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = '{template}' AND pid <> pg_backend_pid()"
                )
                .as_str(),
            )
            .await?;
        match admin.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str()).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") && tries < 20 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other.map(|_| ()),
        }
    }
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static EMBEDDED: Mutex<Option<db::embedded::EmbeddedPostgres>> = Mutex::new(None);

extern "C" fn shut_down_cluster() {
    if let Ok(mut guard) = EMBEDDED.lock()
        && let Some(mut pg) = guard.take()
    {
        pg.stop_blocking();
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("gridcrm-test-{}", std::process::id())));
    }
}

fn db_url(base: &str, name: &str) -> String {
    match base.split_once('?') {
        Some((head, query)) => format!("{head}{name}?{query}"),
        None => format!("{base}{name}"),
    }
}

/// Starts (once) the cluster and the migrated template database.
fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        // Its own thread and runtime: each #[tokio::test] has a runtime that ends with the test.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new().expect("runtime").block_on(async {
                let base_url = match std::env::var("DATABASE_URL") {
                    Ok(url) => {
                        let (prefix, _) = url.rsplit_once('/').expect("DATABASE_URL has a database name");
                        format!("{prefix}/")
                    }
                    Err(_) => {
                        let dir = std::env::temp_dir().join(format!("gridcrm-test-{}", std::process::id()));
                        let pg = db::embedded::EmbeddedPostgres::start_scratch(&dir.join("pg"))
                            .await
                            .expect("embedded PostgreSQL starts");
                        let url = pg.superuser_url("postgres");
                        *EMBEDDED.lock().unwrap() = Some(pg);
                        unsafe { libc::atexit(shut_down_cluster) };
                        let (prefix, _) = url.rsplit_once('/').unwrap();
                        format!("{prefix}/")
                    }
                };
                let template = format!("gridcrm_template_{}", std::process::id());
                let workers = citus_workers(&base_url);
                for node in workers.iter().chain([&base_url]) {
                    let mut admin = PgConnection::connect(&db_url(node, "postgres")).await.expect("admin connection");
                    admin.execute(format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)").as_str()).await.unwrap();
                    admin.execute(format!("CREATE DATABASE {template}").as_str()).await.unwrap();
                    if !workers.is_empty() {
                        let mut conn = PgConnection::connect(&db_url(node, &template)).await.expect("node connection");
                        conn.execute("CREATE EXTENSION citus").await.expect("citus installed on every node");
                    }
                }
                let template_url = db_url(&base_url, &template);
                if !workers.is_empty() {
                    let mut conn = PgConnection::connect(&template_url).await.expect("coordinator connection");
                    let coordinator = base_url.split_once('@').unwrap().1.split('/').next().unwrap();
                    for (node, role) in [(coordinator, "coordinator")].into_iter().chain(
                        workers.iter().map(|w| (w.split_once('@').unwrap().1.split('/').next().unwrap(), "worker")),
                    ) {
                        let (host, port) = node.rsplit_once(':').expect("host:port");
                        let function =
                            if role == "coordinator" { "citus_set_coordinator_host" } else { "citus_add_node" };
                        sqlx::query(&format!("SELECT {function}($1, $2)"))
                            .bind(host)
                            .bind(port.parse::<i32>().expect("port"))
                            .execute(&mut conn)
                            .await
                            .expect("node added");
                    }
                }
                db::run_migrations(&template_url).await.expect("migrations apply");
                if !workers.is_empty() {
                    db::citus::distribute(&template_url).await.expect("the schema distributes");
                }
                Cluster { base_url, template, workers }
            })
        })
        .join()
        .expect("cluster thread")
    })
}

/// A fresh database for one test, cloned from the template.
pub async fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!("gridcrm_test_{}", Uuid::now_v7().simple());
    // One copy at a time: each ends the connections to the template.
    static CLONING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = CLONING.lock().await;
    for node in cluster.workers.iter().chain([&cluster.base_url]) {
        let mut admin = PgConnection::connect(&db_url(node, "postgres")).await.unwrap();
        clone_database(&mut admin, &cluster.template, &name).await.expect("database from template");
    }
    if !cluster.workers.is_empty() {
        // Database settings are not copied: the one that passes SET LOCAL on
        // to the workers (`gridcrm citus distribute`).
        let mut admin = PgConnection::connect(&db_url(&cluster.base_url, "postgres")).await.unwrap();
        admin
            .execute(format!("ALTER DATABASE {name} SET citus.propagate_set_commands = local").as_str())
            .await
            .unwrap();
    }
    db_url(&cluster.base_url, &name)
}

/// Drops a test's database when the test ends, passed or failed, so that a
/// run keeps on disk only the databases of recent tests (a whole run's would
/// be gigabytes). One thread drops them in turn, in the background: a drop
/// waits for a checkpoint, which a test should not wait for. `WITH (FORCE)`
/// ends the connections the test's server still holds.
struct DroppedAtEnd(String);

impl Drop for DroppedAtEnd {
    fn drop(&mut self) {
        static DROPPER: OnceLock<Mutex<std::sync::mpsc::Sender<String>>> = OnceLock::new();
        let Some(cluster) = CLUSTER.get() else { return };
        let dropper = DROPPER.get_or_init(|| {
            let (send, receive) = std::sync::mpsc::channel::<String>();
            // The coordinator first: its connections to the workers' copies go with it.
            let admin_urls: Vec<String> =
                [&cluster.base_url].into_iter().chain(&cluster.workers).map(|node| db_url(node, "postgres")).collect();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                for name in receive {
                    runtime.block_on(async {
                        for admin_url in &admin_urls {
                            if let Ok(mut admin) = PgConnection::connect(admin_url).await {
                                let _ = admin
                                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                                    .await;
                            }
                        }
                    });
                }
            });
            Mutex::new(send)
        });
        let name = self.0.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default();
        let _ = dropper.lock().map(|send| send.send(name.to_owned()));
    }
}

pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    /// (username, role, user id)
    pub users: Vec<(String, Role, Uuid)>,
    pub customers: Vec<Uuid>,
}

impl Tenant {
    pub fn user_id(&self, username: &str) -> Uuid {
        self.users.iter().find(|u| u.0 == username).unwrap().2
    }
}

pub struct TestApp {
    pub base: String,
    /// The job workers that run bill runs (none when `config.job_workers` is
    /// 0), held for the test's length: dropped, they stop.
    _workers: gridcrm::jobs::Workers,
    /// The application role's pool (RLS applies).
    pub pool: PgPool,
    /// Superuser URL of this test's database, for checks that must see everything.
    pub owner_url: String,
    pub alpha: Tenant,
    pub beta: Tenant,
    /// Whether the database is a Citus cluster's (`CITUS_WORKERS`).
    pub on_citus: bool,
    /// Last, so that the pool and workers go first.
    _database: Option<DroppedAtEnd>,
}

/// The defaults, with the pool of a test (8 connections).
pub fn config() -> Config {
    Config { max_connections: 8, ..Config::defaults() }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(config()).await
    }

    pub async fn spawn_with(config: Config) -> TestApp {
        let url = fresh_database().await;
        let mut app = Self::spawn_on(url.clone(), config).await;
        app._database = Some(DroppedAtEnd(url));
        app
    }

    /// The application on a migrated database of the caller's choosing.
    pub async fn spawn_on(owner_url: String, config: Config) -> TestApp {
        // Internal errors are logged; a failing test shows them.
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("gridcrm=warn").try_init();
        let pool = db::app_pool(&owner_url, None, config.max_connections).await.expect("application pool");
        let alpha = seed_tenant(&pool, "alpha", "甲市供电公司", "11").await;
        let beta = seed_tenant(&pool, "beta", "乙县供电公司", "22").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut jobs = gridcrm::jobs::Settings::from_config(&config);
        jobs.poll = std::time::Duration::from_millis(100);
        let workers = gridcrm::jobs::Workers::start(pool.clone(), jobs, false);
        // The workers run on the test's one pool: it is also the one the
        // metrics report as the jobs' pool.
        let on_citus = db::citus::is_distributed(&pool).await.unwrap();
        let state = AppState::new(pool.clone(), config).with_bulk_pool(pool.clone()).on_citus(on_citus);
        let app = gridcrm::app(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestApp {
            base: format!("http://{addr}"),
            _workers: workers,
            pool,
            owner_url,
            alpha,
            beta,
            on_citus,
            _database: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client (cookies, no redirect following) that is not signed in.
    pub fn anonymous(&self) -> Browser {
        Browser::at(&self.base)
    }

    /// A client signed in as `username` of `tenant`.
    pub async fn login(&self, tenant: &Tenant, username: &str) -> Browser {
        let mut browser = self.anonymous();
        let response = browser.try_login(&tenant.slug, username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {username} failed");
        browser.refresh_csrf("/home").await;
        browser
    }

    /// Counts rows as the superuser (sees every tenant).
    pub async fn count_all(&self, table: &str) -> i64 {
        let mut conn = PgConnection::connect(&self.owner_url).await.unwrap();
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut conn).await.unwrap()
    }

    /// GETs an API path with a key and returns the JSON body.
    pub async fn api_get(&self, key: &str, path: &str) -> serde_json::Value {
        Client::new().get(self.url(path)).bearer_auth(key).send().await.unwrap().json().await.unwrap()
    }

    pub async fn api_key(&self, tenant: &Tenant, role: Role) -> String {
        let mut tx = db::begin_tenant(&self.pool, tenant.id, None).await.unwrap();
        let (_, key) = staff_db::create_api_key(&mut tx, tenant.id, "test", role).await.unwrap();
        tx.commit().await.unwrap();
        key
    }
}

pub struct Browser {
    pub base: String,
    pub client: Client,
    /// The CSRF token of the current session, read from a page.
    pub csrf: String,
}

impl Browser {
    /// A browser-like client (cookies, no redirect following) of the application at `base`.
    pub fn at(base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            client: Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap(),
            csrf: String::new(),
        }
    }

    /// Another handle on the same session (cookies and token), for requests
    /// sent at the same time.
    pub fn clone_session(&self) -> Browser {
        Browser { base: self.base.clone(), client: self.client.clone(), csrf: self.csrf.clone() }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_html_form::to_string(fields).unwrap();
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn try_login(&mut self, tenant: &str, username: &str, password: &str) -> reqwest::Response {
        let (_, page) = self.get_text("/login").await;
        let csrf = hidden_value(&page, "csrf").expect("login form has a CSRF token");
        self.post_raw("/login", &[("csrf", &csrf), ("tenant", tenant), ("username", username), ("password", password)])
            .await
    }

    pub async fn refresh_csrf(&mut self, path: &str) {
        let (_, page) = self.get_text(path).await;
        self.csrf = hidden_value(&page, "csrf").unwrap_or_default();
    }
}

/// The value of the first hidden input called `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

pub fn draft(name: &str, phone: &str) -> CustomerDraft {
    CustomerDraft {
        name: Some(name.into()),
        class_code: Some("residential".into()),
        industry_code: Some("RES".into()),
        voltage_code: Some("v220".into()),
        tariff_code: Some("res_tiered".into()),
        address: Some("上城区解放路1号".into()),
        phone: Some(phone.into()),
        ..Default::default()
    }
}

/// A tenant with one user per role and a few customers, each with a supply
/// point and a meter (the second one with a replaced meter in its history).
async fn seed_tenant(pool: &PgPool, slug: &str, name: &str, prefix: &str) -> Tenant {
    let valid = tenants::validate(&TenantInput {
        slug,
        name,
        time_zone: "Asia/Shanghai",
        account_prefix: prefix,
        is_platform: false,
    })
    .unwrap();
    let id = tenants::create(pool, &valid, &Actor::command_line("test")).await.unwrap();
    let mut tx = db::begin_tenant(pool, id, None).await.unwrap();
    let mut users = Vec::new();
    for (username, role) in [
        ("counter", Role::CounterStaff),
        ("counter2", Role::CounterStaff),
        ("manager", Role::AccountManager),
        ("supervisor", Role::Supervisor),
        ("admin", Role::TenantAdmin),
    ] {
        let new = staff_db::NewUser {
            tenant_id: id,
            username,
            display_name: username,
            team: "",
            role,
            password: PASSWORD,
            locale: None,
        };
        let user_id = staff_db::create_user(&mut tx, new).await.unwrap().unwrap();
        users.push((username.to_owned(), role, user_id));
    }
    sqlx::query(
        "INSERT INTO reading_routes (tenant_id, id, code, name) VALUES (app_tenant_id(), $1, 'R0001', '一号抄表段')",
    )
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await
    .unwrap();
    let actor = Actor::command_line("test");
    let people =
        [("王建国", "13800000001"), ("李建华", "13800000002"), ("张伟", "13800000003"), ("欧阳娜娜", "13800000004")];
    let mut customers = Vec::new();
    for (i, (person, phone)) in people.iter().enumerate() {
        let c = service::create(&mut tx, &actor, &draft(person, phone)).await.unwrap();
        let point = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO supply_points (tenant_id, id, customer_id, code, voltage_code) VALUES (app_tenant_id(), $1, $2, $3, 'v220')",
        )
        .bind(point)
        .bind(c.id)
        .bind(format!("{}-1", c.account_no))
        .execute(&mut *tx)
        .await
        .unwrap();
        let meter = Uuid::now_v7();
        sqlx::query("INSERT INTO meters (tenant_id, id, serial, kind) VALUES (app_tenant_id(), $1, $2, 'smart')")
            .bind(meter)
            .bind(format!("{}M{:04}", slug.to_uppercase(), i + 1))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on)
             VALUES (app_tenant_id(), $1, $2, $3, '2020-05-01')",
        )
        .bind(Uuid::now_v7())
        .bind(meter)
        .bind(point)
        .execute(&mut *tx)
        .await
        .unwrap();
        customers.push(c.id);
    }
    sqlx::query(
        "INSERT INTO customer_contacts (tenant_id, id, customer_id, name, role, phone) VALUES (app_tenant_id(), $1, $2, '王小明', '家属', '13900000009')",
    )
    .bind(Uuid::now_v7())
    .bind(customers[0])
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Tenant { id, slug: slug.to_owned(), users, customers }
}

/// A PostgreSQL cluster of one test's own, for fault drills that stop or
/// restart the server (the shared cluster serves every other test of the
/// run, so it is never restarted). Stopped and deleted when dropped.
pub struct OwnCluster {
    pub pg: db::embedded::EmbeddedPostgres,
    home: std::path::PathBuf,
}

impl OwnCluster {
    /// Starts a fresh cluster in a temporary folder named after `name`.
    pub async fn start(name: &str) -> OwnCluster {
        let home = std::env::temp_dir().join(format!("gridcrm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let pg =
            db::embedded::EmbeddedPostgres::start(&home.join("pg")).await.expect("the test's own PostgreSQL starts");
        OwnCluster { pg, home }
    }

    /// Migrates a database on this cluster and serves the application on it.
    pub async fn spawn_app(&self, config: Config) -> TestApp {
        db::ensure_database(&self.pg.superuser_url("postgres"), "gridcrm").await.expect("database");
        let owner_url = self.pg.superuser_url("gridcrm");
        db::run_migrations(&owner_url).await.expect("migrations apply");
        TestApp::spawn_on(owner_url, config).await
    }

    /// Stops PostgreSQL (`mode`) and starts it again on the same port after
    /// `down_for`; returns when it accepts connections again.
    pub async fn restart(&self, mode: db::embedded::StopMode, down_for: std::time::Duration) {
        self.pg.restart(mode, down_for).await.expect("PostgreSQL restarts");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.pg.stop_blocking();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// The stand-in payment gateway's merchant id and secret in tests.
pub const GATEWAY_MERCHANT: &str = "M-TEST";
pub const GATEWAY_SECRET: &str = "test gateway secret";

/// Serves the stand-in payment gateway on a port of its own and returns the
/// configuration that points the portal at it.
pub async fn with_fake_gateway(config: Config) -> Config {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = gridcrm::portal::fake_gateway::router(GATEWAY_MERCHANT, GATEWAY_SECRET);
    tokio::spawn(async move { axum::serve(listener, gateway).await.unwrap() });
    Config {
        pay_gateway_url: Some(format!("http://{addr}{}", gridcrm::portal::fake_gateway::PATH)),
        pay_gateway_merchant: Some(GATEWAY_MERCHANT.into()),
        pay_gateway_secret: Some(gridcrm::config::Secret::new(GATEWAY_SECRET)),
        ..config
    }
}
