//! The command line: tenant, user and API-key administration, migrations and
//! demo seeding, run as a user would run them.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use reqwest::StatusCode;

use crate::support::{config, fresh_database};

fn gridcrm(database_url: &str, args: &[&str], stdin: &str) -> Output {
    gridcrm_logging(database_url, args, stdin, "warn")
}

fn gridcrm_logging(database_url: &str, args: &[&str], stdin: &str, log: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(args)
        .env("GRIDCRM_DATABASE_URL", database_url)
        .env("GRIDCRM_LOG", log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gridcrm binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn tenant_user_and_api_key_commands_work_end_to_end() {
    let url = fresh_database().await;
    let migrate = gridcrm(&url, &["migrate"], "");
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    assert!(text(&migrate.stdout).contains("customer archive") && !text(&migrate.stdout).contains("pending"));

    let bad = gridcrm(&url, &["tenant", "create", "--slug", "Not OK", "--name", "丁"], "");
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--slug"), "the error names the option: {}", text(&bad.stderr));

    let tenant = gridcrm(&url, &["tenant", "create", "--slug", "delta", "--name", "丁市供电公司"], "");
    assert!(tenant.status.success(), "{}", text(&tenant.stderr));
    let again = gridcrm(&url, &["tenant", "create", "--slug", "delta", "--name", "丁市供电公司"], "");
    assert!(!again.status.success() && text(&again.stderr).contains("--slug"));

    let short = gridcrm(
        &url,
        &["user", "create", "--tenant", "delta", "--username", "op", "--role", "tenant_admin"],
        "short\n",
    );
    assert!(!short.status.success() && text(&short.stderr).contains("--password"));
    let platform_role = gridcrm(
        &url,
        &["user", "create", "--tenant", "delta", "--username", "op", "--role", "platform_admin"],
        "long enough password\n",
    );
    assert!(!platform_role.status.success() && text(&platform_role.stderr).contains("--role"));
    let user = gridcrm(
        &url,
        &["user", "create", "--tenant", "delta", "--username", "op", "--role", "tenant_admin"],
        "long enough password\n",
    );
    assert!(user.status.success(), "{}", text(&user.stderr));

    let key =
        gridcrm(&url, &["apikey", "create", "--tenant", "delta", "--role", "counter_staff", "--name", "95598"], "");
    assert!(key.status.success(), "{}", text(&key.stderr));
    let key = text(&key.stdout).trim().to_owned();
    assert!(key.starts_with("gck_"), "the key is printed: {key}");

    // The key and the user work against a server on that database.
    let pool = gridcrm::db::app_pool(&url, None, 4).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = gridcrm::app(gridcrm::AppState::new(pool, config()))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let list = reqwest::Client::new().get(format!("{base}/api/v1/customers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let mut browser = crate::support::Browser {
        base: base.clone(),
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        csrf: String::new(),
    };
    assert_eq!(browser.try_login("delta", "op", "long enough password").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn demo_seeding_fills_two_tenants_once() {
    let url = fresh_database().await;
    let seeded = gridcrm_logging(&url, &["seed", "--demo", "--customers", "300"], "", "gridcrm=info,sqlx=warn");
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    // Written to a pipe, the log is plain text, and a bulk step's long
    // statements are no warning.
    let log = text(&seeded.stderr);
    assert!(log.contains("seeded contacts and work orders"), "the steps are logged: {log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a piped log: {log:?}");
    assert!(!log.contains("WARN"), "nothing for an operator to act on: {log}");
    assert!(text(&seeded.stdout).contains("gridcrm-demo"), "the logins are printed");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let per_tenant: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.slug, count(c.id) FROM tenants t LEFT JOIN customers c ON c.tenant_id = t.id GROUP BY t.slug ORDER BY t.slug",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(per_tenant, vec![("hangzhou".into(), 300), ("platform".into(), 0), ("tonglu".into(), 300)]);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut conn).await.unwrap();
    assert_eq!(users, 13);
    let with_meters: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT p.customer_id) FROM supply_points p JOIN meter_installations i ON i.supply_point_id = p.id AND i.tenant_id = p.tenant_id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(with_meters, 600, "every customer has a metered supply point");
    let next: Vec<i64> = sqlx::query_scalar("SELECT next_value FROM account_number_sequences ORDER BY next_value")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(next, vec![1, 301, 301]);
    let twice = gridcrm(&url, &["seed", "--demo"], "");
    assert!(!twice.status.success() && text(&twice.stderr).contains("already holds data"));
}
