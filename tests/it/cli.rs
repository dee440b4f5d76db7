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
    // 90 days of 15-minute load curves for every meter in service at a
    // customer of 315 kVA or more, in both demo tenants.
    let large: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.slug, count(*) FROM meter_installations i
         JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
         JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
         JOIN tenants t ON t.id = c.tenant_id
         WHERE i.removed_on IS NULL AND c.capacity_kva >= 315 GROUP BY t.slug ORDER BY t.slug",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let curves: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.slug, count(DISTINCT l.meter_id) FROM load_days l JOIN tenants t ON t.id = l.tenant_id
         WHERE cardinality(l.kw) = 96 GROUP BY t.slug HAVING count(*) = 90 * count(DISTINCT l.meter_id) ORDER BY t.slug",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(large.len() == 2 && large.iter().all(|(_, n)| *n > 3), "{large:?}");
    assert_eq!(curves, large);
    assert!(log.contains("injected a lasting load change"), "the operator is told where to look: {log}");
    let twice = gridcrm(&url, &["seed", "--demo"], "");
    assert!(!twice.status.success() && text(&twice.stderr).contains("already holds data"));
}

/// The demo's history rates and calibrates: the candidate card ranks the
/// customers who went bad below those who did not, on customers held out by
/// time; and the same fit runs on a CSV without a database.
#[tokio::test]
async fn credit_rating_and_calibration_on_the_demo_history() {
    let url = fresh_database().await;
    let seeded = gridcrm(&url, &["seed", "--demo", "--customers", "2000", "--interval-meters", "0"], "");
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let rated = gridcrm(&url, &["credit", "rate", "--tenant", "hangzhou"], "");
    assert!(rated.status.success(), "{}", text(&rated.stderr));
    let out = text(&rated.stdout);
    assert!(out.starts_with("hangzhou: 2000 rated (AAA "), "{out}");

    let calibrated = gridcrm(&url, &["credit", "calibrate", "--tenant", "hangzhou", "--json"], "");
    assert!(calibrated.status.success(), "{}", text(&calibrated.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&calibrated.stdout)).unwrap();
    let auc = |card: &str| report[card]["auc"].as_f64().unwrap();
    assert!(auc("candidate") > 0.6 && auc("current") > 0.6, "{report}");
    assert!(report["n_train"].as_u64().unwrap() > 1000 && report["n_test"].as_u64().unwrap() > 1000, "{report}");
    for card in ["current", "candidate"] {
        let (gini, ks) = (report[card]["gini"].as_f64().unwrap(), report[card]["ks"].as_f64().unwrap());
        assert!((gini - (2.0 * auc(card) - 1.0)).abs() < 1e-9 && (0.0..=1.0).contains(&ks), "{report}");
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_calibrations WHERE adopted_at IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 1, "stored for an admin to adopt; nothing adopted");

    // Without a database: a table whose bad rate rises with `late`.
    let dir = std::env::temp_dir().join(format!("gridcrm-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut train = String::from("late,region,bad\n");
    for i in 0..400 {
        let late = i % 10;
        let bad = u8::from((7 * i % 11) as f64 / 11.0 < 0.05 + 0.08 * late as f64);
        train.push_str(&format!("{late},{},{bad}\n", ["north", "south"][i % 2]));
    }
    std::fs::write(dir.join("train.csv"), &train).unwrap();
    std::fs::write(dir.join("test.csv"), "region,late\nnorth,0\nsouth,9\neast,\n").unwrap();
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let fitted = gridcrm(
        &url,
        &["credit", "calibrate", "--csv", &path("train.csv"), "--label", "bad", "--test", &path("test.csv"), "--json"],
        "",
    );
    assert!(fitted.status.success(), "{}", text(&fitted.stderr));
    let out: serde_json::Value = serde_json::from_str(&text(&fitted.stdout)).unwrap();
    let p: Vec<f64> = out["test_probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    assert_eq!(p.len(), 3);
    assert!(p[1] > p[0], "nine late payments look worse than none: {p:?}");
    std::fs::write(dir.join("bad.csv"), "late,bad\n1,0\n2,yes\n").unwrap();
    let refused = gridcrm(&url, &["credit", "calibrate", "--csv", &path("bad.csv"), "--label", "bad", "--json"], "");
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains(r#"line 3, column "bad""#), "{}", text(&refused.stderr));
    std::fs::remove_dir_all(&dir).ok();
}
