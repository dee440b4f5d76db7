//! The operations guide (docs/operations.md) kept honest: its configuration
//! table against `config/default.toml` and `src/config.rs`; a backup taken
//! with the cluster's own `pg_dump` restores into a new database with every
//! table's rows intact; and a database made by an earlier release's
//! migrations is migrated by this binary and served; two server processes
//! on one database run each job once.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::{Path, PathBuf},
};

use gridcrm::{AppState, db};
use reqwest::{Client, StatusCode, redirect::Policy};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::support::{Browser, TestApp, config, fresh_database};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The settings of `config/default.toml`: key → default (the value without
/// quotes), or `None` for a setting shown commented out (unset by default).
fn default_toml_settings() -> BTreeMap<String, Option<String>> {
    let mut settings = BTreeMap::new();
    for line in read("config/default.toml").lines() {
        let (commented, rest) = match line.strip_prefix("# ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((key, value)) = rest.split_once(" = ") else { continue };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            continue;
        }
        let value = (!commented).then(|| value.trim().trim_matches('"').to_owned());
        assert!(settings.insert(key.to_owned(), value).is_none(), "{key} twice in config/default.toml");
    }
    settings
}

/// The fields of `struct Config` in src/config.rs.
fn config_fields() -> BTreeSet<String> {
    let source = read("src/config.rs");
    let start = source.find("pub struct Config {").expect("struct Config");
    let body = &source[start..start + source[start..].find("\n}").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub ")?.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .filter(|name| !name.contains(' '))
        .collect()
}

/// A row of the guide's configuration table.
#[derive(Debug)]
struct Row {
    env: String,
    default: String,
}

/// The rows of the table under "## Configuration" in docs/operations.md.
fn documented_settings() -> BTreeMap<String, Row> {
    let guide = read("docs/operations.md");
    let start = guide.find("\n## Configuration\n").expect("a Configuration section");
    let section = &guide[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in section.lines() {
        if line.starts_with("| key | environment | default |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let unquote = |cell: &str| cell.trim_matches('`').to_owned();
        let key = unquote(cells[1]);
        let row = Row { env: unquote(cells[2]), default: unquote(cells[3]) };
        assert!(rows.insert(key.clone(), row).is_none(), "{key} twice in the guide's table");
    }
    rows
}

#[test]
fn the_guide_documents_every_setting_with_its_override_and_default() {
    let defaults = default_toml_settings();
    let fields = config_fields();
    let documented = documented_settings();
    assert!(defaults.len() > 40 && documented.len() > 40, "the parsers found the settings");

    let default_keys: BTreeSet<&String> = defaults.keys().collect();
    let field_keys: BTreeSet<&String> = fields.iter().collect();
    let documented_keys: BTreeSet<&String> = documented.keys().collect();
    let missing: Vec<_> = default_keys.difference(&documented_keys).collect();
    let unknown: Vec<_> = documented_keys.difference(&default_keys).collect();
    assert!(missing.is_empty(), "settings of config/default.toml missing from docs/operations.md: {missing:?}");
    assert!(unknown.is_empty(), "docs/operations.md documents settings config/default.toml lacks: {unknown:?}");
    assert_eq!(field_keys, default_keys, "src/config.rs's Config and config/default.toml name the same settings");

    for (key, row) in &documented {
        // How src/config.rs derives overrides: prefix GRIDCRM, separator "_", the key upper-cased.
        assert_eq!(row.env, format!("GRIDCRM_{}", key.to_uppercase()), "the environment override of {key}");
        let expected = defaults[key].as_deref().unwrap_or("unset");
        assert_eq!(row.default, expected, "the default of {key} in docs/operations.md");
    }
}

/// The README links the guide.
#[test]
fn the_readme_links_the_guide() {
    assert!(read("README.md").contains("(docs/operations.md)"));
    for shipped in ["deploy/gridcrm.service", "deploy/nginx.conf"] {
        assert!(PathBuf::from(ROOT).join(shipped).is_file(), "{shipped} is shipped");
        assert!(read("docs/operations.md").contains(shipped), "the guide names {shipped}");
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (prefix, _) = base.rsplit_once('/').expect("a database in the URL");
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A new, empty database on the test cluster (not a copy of the migrated template).
async fn empty_database(any_url: &str) -> String {
    let name = format!("gridcrm_ops_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&with_database(any_url, "postgres")).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name} ENCODING 'UTF8'").as_str()).await.unwrap();
    with_database(any_url, &name)
}

/// A client program of the cluster's own version (`pg_dump` must be at least
/// the server's): the server's major version's Debian directory, else where
/// the embedded cluster finds `initdb`.
async fn client_program(url: &str, program: &str) -> PathBuf {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let version: String = sqlx::query_scalar("SHOW server_version_num").fetch_one(&mut conn).await.unwrap();
    let major = version.parse::<u32>().unwrap() / 10_000;
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin/{program}"));
    if debian.is_file() {
        return debian;
    }
    let found = db::embedded::find_server_binaries().expect("PostgreSQL binaries").join(program);
    assert!(found.is_file(), "{program} of PostgreSQL {major} not found");
    found
}

/// Every ordinary table (partitions included) with its row count and an md5
/// of its rows in order, read as the superuser (row-level security does not
/// hide rows from it); and counts of the schema objects a dump must carry.
async fn fingerprint(url: &str) -> BTreeMap<String, (i64, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut print = BTreeMap::new();
    for table in tables {
        let row: (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM public.{table} t"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        print.insert(table, row);
    }
    for (object, sql) in [
        ("policies", "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'"),
        ("indexes", "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"),
        (
            "triggers",
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal",
        ),
        (
            "functions",
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        ),
        (
            "grants",
            "SELECT count(*) FROM information_schema.role_table_grants WHERE table_schema = 'public' AND grantee = 'gridcrm_app'",
        ),
        (
            "forced rls",
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relforcerowsecurity",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        print.insert(format!("({object})"), (n, String::new()));
    }
    print
}

/// Serves the application on a migrated database as `spawn_on` does, but
/// without adding test tenants; returns the base URL.
async fn serve(owner_url: &str) -> String {
    let config = config();
    let pool = db::app_pool(owner_url, None, config.max_connections).await.expect("application pool");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gridcrm::app(AppState::new(pool, config)).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn browser(base: &str) -> Browser {
    Browser {
        base: base.to_owned(),
        client: Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap(),
        csrf: String::new(),
    }
}

#[tokio::test]
async fn a_custom_format_dump_restores_into_a_new_database_row_for_row() {
    // The demo seed, small: two companies with customers, contacts, work
    // orders, readings, bills, payments, interval partitions, the audit log.
    let source = fresh_database().await;
    let pool = db::app_pool(&source, None, 8).await.unwrap();
    gridcrm::seed::seed_demo(&pool, 60, None, Some(2), Some(2), false).await.expect("demo seed");
    pool.close().await;

    // Dumped as the guide's backup role: BYPASSRLS (the tables force
    // row-level security even on their owner) and pg_read_all_data.
    let role = format!("gridcrm_backup_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&source).await.unwrap();
    admin.execute(format!("CREATE ROLE {role} LOGIN BYPASSRLS PASSWORD '{role}'").as_str()).await.unwrap();
    admin.execute(format!("GRANT pg_read_all_data TO {role}").as_str()).await.unwrap();
    let mut backup_url = url::Url::parse(&source).unwrap();
    backup_url.set_username(&role).unwrap();
    backup_url.set_password(Some(&role)).unwrap();

    let dir = std::env::temp_dir().join(format!("gridcrm-backup-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("gridcrm.dump");
    let pg_dump = client_program(&source, "pg_dump").await;
    let out = tokio::process::Command::new(&pg_dump)
        .arg("--format=custom")
        .arg(format!("--file={}", dump.display()))
        .arg(format!("--dbname={backup_url}"))
        .output()
        .await
        .unwrap();
    admin.execute(format!("DROP ROLE {role}").as_str()).await.unwrap();
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));

    let target = empty_database(&source).await;
    let pg_restore = client_program(&source, "pg_restore").await;
    let out = tokio::process::Command::new(&pg_restore)
        .args(["--exit-on-error", "--single-transaction"])
        .arg(format!("--dbname={target}"))
        .arg(&dump)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);

    let (before, after) = (fingerprint(&source).await, fingerprint(&target).await);
    for table in ["customers", "contacts", "work_orders", "bills", "payments", "audit_log", "_sqlx_migrations"] {
        assert!(before[table].0 > 0, "the seed wrote {table}");
    }
    assert!(
        before.iter().any(|(t, (n, _))| t.starts_with("interval_data_") && *n > 0),
        "the seed wrote interval partitions"
    );
    let differ: Vec<_> = before.keys().chain(after.keys()).filter(|t| before.get(*t) != after.get(*t)).collect();
    assert!(differ.is_empty(), "tables (or objects) differing after the restore: {differ:?}");

    // The restored database serves: a demo user signs in and opens the customer list.
    let base = serve(&target).await;
    let mut user = browser(&base);
    let response = user.try_login("hangzhou", "admin", gridcrm::seed::DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in on the restored database");
    assert_eq!(user.get("/customers").await.status(), StatusCode::OK);
}

/// The previous release's migrations (tests/fixtures/previous-schema.txt),
/// taken from this binary's migrations after checking each is unchanged.
fn previous_release() -> sqlx::migrate::Migrator {
    let current = &db::MIGRATOR;
    let mut migrations = Vec::new();
    for line in read("tests/fixtures/previous-schema.txt").lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split(' ');
        let (version, checksum) = (parts.next().unwrap(), parts.next().unwrap());
        let version: i64 = version.parse().unwrap();
        let migration = current
            .iter()
            .find(|m| m.version == version)
            .unwrap_or_else(|| panic!("migration {version} of the previous release is gone from migrations/"));
        let hex: String = migration.checksum.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex, checksum,
            "migration {version} changed since the previous release; an applied migration must never change \
             (the upgrade refuses it): add a new migration instead"
        );
        migrations.push(migration.clone());
    }
    sqlx::migrate::Migrator { migrations: migrations.into(), ..sqlx::migrate::Migrator::DEFAULT }
}

#[tokio::test]
async fn a_database_of_the_previous_release_is_migrated_and_served() {
    let template = fresh_database().await;
    let url = empty_database(&template).await;
    let old = previous_release();
    assert!(old.iter().count() > 30 && old.iter().count() < db::MIGRATOR.iter().count());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    old.run(&mut conn).await.expect("the previous release's migrations apply");

    // A company as the previous release created it (its own SQL defaults).
    let tenant = Uuid::now_v7();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("INSERT INTO tenants (id, slug, name, time_zone, is_platform) VALUES ($1, 'old', '旧公司', 'Asia/Shanghai', false)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    for install in
        ["gridcrm_install_service_defaults", "gridcrm_install_billing_defaults", "gridcrm_install_notice_defaults"]
    {
        sqlx::query(&format!("SELECT {install}($1)")).bind(tenant).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let old_rows = fingerprint(&url).await;

    // The current binary's migrator (what `gridcrm migrate` runs) brings it up to date.
    db::run_migrations(&url).await.expect("the current migrations apply to the previous release's database");
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    assert_eq!(applied as usize, db::MIGRATOR.iter().count());
    let new_rows = fingerprint(&url).await;
    for table in ["tenants", "notice_rules", "tariff_versions", "billing_settings"] {
        assert_eq!(old_rows[table].0, new_rows[table].0, "{table} keeps its rows through the upgrade");
    }
    assert!(old_rows["tenants"].0 == 1 && old_rows["notice_rules"].0 > 0, "the old company had its defaults");

    // The application works on it: test companies made by the current code,
    // a sign-in, the customer page and the API.
    let app = TestApp::spawn_on(url, config()).await;
    let counter = app.login(&app.alpha, "counter").await;
    let (status, page) = counter.get_text(&format!("/customers/{}", app.alpha.customers[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("王建国"));
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::CounterStaff).await;
    let response = Client::new()
        .get(app.url(&format!("/api/v1/customers/{}", app.alpha.customers[0])))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_server_processes_on_one_database_do_each_job_once() {
    use gridcrm::jobs::{Kind, db as jobs_db};
    let url = fresh_database().await;
    let pool = db::app_pool(&url, None, 4).await.unwrap();
    // Two real `gridcrm serve` processes (two job workers each, polling every 100 ms).
    let (first, _, _) = crate::jobs::serve_with(&url, 30, &[]).await;
    let (second, _, _) = crate::jobs::serve_with(&url, 30, &[]).await;
    for n in 0..60 {
        jobs_db::enqueue_periodic(&pool, Kind::Escalation, &format!("ops-{n:02}"), 5).await.unwrap();
        if n % 10 == 9 {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
    }
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let started = std::time::Instant::now();
    let rows: Vec<(String, String, i32, String)> = loop {
        let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
            "SELECT dedup_key, state, attempts, coalesce(lease_owner, '') FROM jobs
             WHERE kind = 'escalation' AND dedup_key LIKE 'ops-%' ORDER BY dedup_key",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        if rows.iter().all(|r| r.1 == "done") {
            break rows;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the jobs did not all run: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 60, "one job per slot");
    assert!(rows.iter().all(|r| r.2 == 1), "each job claimed and run once: {rows:?}");
    let owners: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.3.as_str()).or_default() += 1;
        m
    });
    // Which process took which job is up to the race of their claims; shown, not asserted.
    eprintln!("jobs done per process: {owners:?}");
    // The periodic slots both processes enqueue at start were run once each too.
    let periodic: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT kind, dedup_key, attempts FROM jobs WHERE state = 'done' AND dedup_key NOT LIKE 'ops-%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(periodic.iter().all(|r| r.2 == 1), "{periodic:?}");
    drop((first, second));
}
