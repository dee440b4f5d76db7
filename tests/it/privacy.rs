//! Personal information (PIPL): a tenant admin exports everything held about
//! one person (and nothing of anyone else), and anonymises a closed account
//! once its retention period has passed: refused before, then the person
//! cannot be found any more while the bills and payments stay, all audited.

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{payments::two_bills, support::TestApp};
use gridcrm::staff::Role;

/// Books a ¥50.00 payment for the first alpha customer and registers a
/// complaint with the caller's name and phone; returns the account number.
async fn history(app: &TestApp, key: &str) -> String {
    let customer = app.alpha.customers[0];
    two_bills(app, key).await;
    let client = Client::new();
    let account_no =
        app.api_get(key, &format!("/api/v1/customers/{customer}")).await["account_no"].as_str().unwrap().to_owned();
    let counter = app.api_key(&app.alpha, Role::CounterStaff).await;
    let payment = json!({"account_no": account_no, "amount": "50.00", "channel": "wechat", "channel_ref": "WX-PIPL-1"});
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&counter).json(&payment).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let complaint = json!({"kind": "complaint", "channel": "hotline", "subject": "billing", "customer_id": customer,
        "description": "王建国说家住解放路1号，电费太高", "caller_name": "王建国", "caller_phone": "13800000001"});
    let r = client.post(app.url("/api/v1/contacts")).bearer_auth(&counter).json(&complaint).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    account_no
}

/// Bills (count, total), payments (count, total) and the account number.
async fn money(conn: &mut PgConnection, customer: Uuid) -> (i64, String, i64, String, String) {
    let q = "SELECT (SELECT count(*) FROM bills WHERE customer_id = $1)::bigint,
                    (SELECT sum(amount)::text FROM bills WHERE customer_id = $1),
                    (SELECT count(*) FROM payments WHERE customer_id = $1)::bigint,
                    (SELECT sum(amount)::text FROM payments WHERE customer_id = $1),
                    (SELECT account_no FROM customers WHERE id = $1)";
    sqlx::query_as(q).bind(customer).fetch_one(conn).await.unwrap()
}

async fn names(conn: &mut PgConnection, ids: &[Uuid]) -> Vec<String> {
    let q = "SELECT name FROM customers WHERE id = ANY($1) ORDER BY account_no";
    sqlx::query_scalar(q).bind(ids).fetch_all(conn).await.unwrap()
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

#[tokio::test]
async fn an_admin_exports_everything_about_one_person_and_nothing_of_anyone_else() {
    let app = TestApp::spawn().await;
    let admin_key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let account_no = history(&app, &admin_key).await;
    let customer = app.alpha.customers[0];
    let client = Client::new();
    let path = format!("/api/v1/customers/{customer}/personal-data");

    let r = client.get(app.url(&path)).bearer_auth(&admin_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    assert_eq!(disposition, format!("attachment; filename=\"personal-data-{account_no}.json\""));
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "gridcrm.personal-data.v1");
    let data = &doc["data"];
    assert_eq!(data["customer"]["name"], "王建国");
    assert_eq!(data["customer"]["phone"], "13800000001");
    assert_eq!(data["supply_points"].as_array().unwrap().len(), 1);
    assert_eq!(data["meters"][0]["serial"], "ALPHAM0001");
    assert_eq!(data["bills"].as_array().unwrap().len(), 2);
    assert_eq!(text.matches("\"amount\": 50.00").count(), 1, "money keeps its decimals");
    assert_eq!(data["contacts"][0]["caller_phone"], "13800000001");
    assert!(data["meter_readings"].as_array().unwrap().len() >= 3);
    assert!(data["audit"].as_array().unwrap().iter().any(|a| a["entity"] == "customer" && a["action"] == "create"));
    // Nothing of another customer of the company, nor of the other company.
    for other in app.alpha.customers[1..].iter().chain(&app.beta.customers) {
        assert!(!text.contains(&other.to_string()), "{other} leaked into the export");
    }
    for foreign in ["李建华", "张伟", "13800000002", "ALPHAM0002", "BETAM", &app.beta.id.to_string()] {
        assert!(!text.contains(foreign), "{foreign} leaked into the export");
    }

    // Only tenant admins export; the export is audited (who, whom, when).
    let counter_key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = client.get(app.url(&path)).bearer_auth(&counter_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text(&format!("/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/customers/{customer}/privacy")), "the customer page links to it");
    let (status, page) = admin.get_text(&format!("/customers/{customer}/privacy")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("导出此人的全部信息") && page.contains("只有已销户的账户才能匿名化"));
    let r = admin.post(&format!("/customers/{customer}/personal-data"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    let page_doc: Value = r.json().await.unwrap();
    assert_eq!(page_doc["data"]["customer"]["account_no"], account_no.as_str());
    let clerk = app.login(&app.alpha, "counter").await;
    assert_eq!(clerk.get(&format!("/customers/{customer}/privacy")).await.status(), StatusCode::FORBIDDEN);
    let (status, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("/privacy\""), "no link for the counter");

    let mut conn = owner(&app).await;
    let exports: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor_label, summary FROM audit_log WHERE action = 'export_personal_data' AND entity_id = $1 ORDER BY at",
    )
    .bind(customer)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(exports.len(), 2, "the API and the page export, each audited");
    assert_eq!(exports[1], ("admin".to_owned(), account_no));
}

async fn anonymise_api(app: &TestApp, key: &str, customer: Uuid) -> (StatusCode, Value) {
    let r = Client::new()
        .post(app.url(&format!("/api/v1/customers/{customer}/anonymise")))
        .bearer_auth(key)
        .header(header::ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_closed_account_past_retention_is_anonymised_keeping_bills_and_payments() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let account_no = history(&app, &key).await;
    let customer = app.alpha.customers[0];
    let client = Client::new();
    let mut conn = owner(&app).await;
    sqlx::query("UPDATE customers SET id_number = '110101199001011234' WHERE id = $1")
        .bind(customer)
        .execute(&mut conn)
        .await
        .unwrap();
    let before = money(&mut conn, customer).await;
    assert_eq!((before.0, before.2, before.3.as_str()), (2, 1, "50.00"));

    // An open account is refused, by name.
    let (status, problem) = anonymise_api(&app, &key, customer).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().unwrap().contains("Only a closed account"), "{problem}");

    // Closed today: the retention period (3 years by default) has not passed.
    let r = client
        .patch(app.url(&format!("/api/v1/customers/{customer}")))
        .bearer_auth(&key)
        .json(&json!({"status": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, problem) = anonymise_api(&app, &key, customer).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().unwrap().contains("retention period"), "{problem}");
    let admin = app.login(&app.alpha, "admin").await;
    let path = format!("/customers/{customer}/anonymise");
    let r = admin.post(&path, &[("confirm_account_no", &account_no)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("保存期限尚未届满"));

    // Closed four years ago: due. The confirmation must be the account number.
    sqlx::query("UPDATE customers SET closed_at = now() - interval '4 years' WHERE id = $1")
        .bind(customer)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO credit_events (tenant_id, id, customer_id, kind, occurred_on, evidence, recorded_by)
         VALUES ($1, gen_random_uuid(), $2, 'theft', '2022-05-01', '王建国 13800000001 私接电线，现场照片', 'test')",
    )
    .bind(app.alpha.id)
    .bind(customer)
    .execute(&mut conn)
    .await
    .unwrap();
    let (_, settings) = admin.get_text("/privacy").await;
    assert!(settings.contains(&account_no), "listed as due");
    let r = admin.post(&path, &[("confirm_account_no", "12345")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请按所示原样输入户号以确认"));
    assert_eq!(money(&mut conn, customer).await, before, "nothing changed");
    let r = admin.post(&path, &[("confirm_account_no", &format!(" {account_no} "))]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, problem) = anonymise_api(&app, &key, customer).await;
    assert_eq!(status, StatusCode::CONFLICT, "once only");
    assert!(problem["detail"].as_str().unwrap().contains("anonymised already"));

    // The money stays: counts, amounts, the account number.
    assert_eq!(money(&mut conn, customer).await, before);
    // The theft stays on record; its evidence no longer names anyone.
    let (kind, evidence): (String, String) =
        sqlx::query_as("SELECT kind, evidence FROM credit_events WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), evidence), ("theft", gridcrm::privacy::model::mark(customer)));
    // The person is gone: not found by name, phone or ID number, not in the export.
    for q in ["王建国", "建国", "13800000001", "110101199001011234"] {
        let found = app.api_get(&key, &format!("/api/v1/customers?q={}", urlencode(q))).await;
        let ids: Vec<&str> = found["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(!ids.contains(&customer.to_string().as_str()), "found by {q}");
    }
    let found = app.api_get(&key, &format!("/api/v1/customers?q={account_no}")).await;
    assert_eq!(found["items"][0]["name"].as_str().unwrap(), gridcrm::privacy::model::mark(customer));
    let export = client
        .get(app.url(&format!("/api/v1/customers/{customer}/personal-data")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for personal in ["王建国", "13800000001", "110101199001011234", "解放路"] {
        if let Some(at) = export.find(personal) {
            panic!("{personal} is still held: …{}…", &export[export.floor_char_boundary(at.saturating_sub(300))..at]);
        }
    }
    // Earlier audit entries no longer hold the name; the anonymisation is
    // audited without any personal data.
    let tenant = app.alpha.id;
    let leaks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1
            AND (coalesce(before::text, '') || coalesce(after::text, '') || summary) ~ '王建国|13800000001|110101199001011234'",
    )
    .bind(tenant)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    if leaks > 0 {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT entity, summary, after::text FROM audit_log WHERE tenant_id = $1
                AND (coalesce(before::text, '') || coalesce(after::text, '') || summary) ~ '王建国|13800000001|110101199001011234'",
        )
        .bind(tenant)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        panic!("audit entries still hold the person's data: {rows:?}");
    }
    let (actor, summary): (String, String) =
        sqlx::query_as("SELECT actor_label, summary FROM audit_log WHERE action = 'anonymise' AND entity_id = $1")
            .bind(customer)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), summary.as_str()), ("admin", account_no.as_str()));
    let others: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND summary LIKE '%李建华'")
            .bind(tenant)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(others, 1, "another customer's entries are untouched");
    // The name index follows; the other company's 王建国 is untouched.
    let grams: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_name_grams WHERE customer_id = $1 AND gram = '建国'")
            .bind(customer)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(grams, 0);
    let theirs: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
        .bind(app.beta.customers[0])
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(theirs, "王建国");
    let (_, page) = admin.get_text(&format!("/customers/{customer}/privacy?done=true")).await;
    assert!(page.contains("该账户已匿名化"));
}

#[tokio::test]
async fn the_retention_period_is_a_company_setting() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/privacy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("value=\"3\""), "3 years by default");
    let r = admin.post("/privacy", &[("retention_years", "0"), ("interval_years", "3"), ("audit_years", "51")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("请输入 1 到 30 的整数年") && page.contains("请输入 1 到 50 的整数年"), "both named");
    assert!(page.contains("value=\"51\""), "what was typed stays");
    let r = admin.post("/privacy", &[("retention_years", "5"), ("interval_years", "2"), ("audit_years", "12")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = admin.get_text("/privacy").await;
    assert!(page.contains("value=\"5\"") && page.contains("value=\"2\"") && page.contains("value=\"12\""));
    let beta = app.login(&app.beta, "admin").await;
    let (_, page) = beta.get_text("/privacy").await;
    assert!(page.contains("value=\"3\""), "the other company keeps its own");
    assert_eq!(app.count_all("audit_log WHERE entity = 'privacy_settings'").await, 1);
    let clerk = app.login(&app.alpha, "counter").await;
    assert_eq!(clerk.get("/privacy").await.status(), StatusCode::FORBIDDEN);
}

/// Runs a gridcrm command against the test's database, as its owner.
fn gridcrm(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gridcrm"))
        .args(args)
        .env("GRIDCRM_DATABASE_URL", &app.owner_url)
        .env("GRIDCRM_LOG", "warn")
        .output()
        .unwrap()
}

fn urlencode(s: &str) -> String {
    gridcrm::web::error::urlencode(s)
}

#[tokio::test]
async fn the_command_anonymises_every_account_due_and_a_dry_run_changes_nothing() {
    let app = TestApp::spawn().await;
    let (due, recent) = (app.alpha.customers[0], app.alpha.customers[1]);
    let mut conn = owner(&app).await;
    sqlx::query("UPDATE customers SET status = 'closed' WHERE id = ANY($1)")
        .bind(vec![due, recent, app.beta.customers[0]])
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE customers SET closed_at = now() - interval '4 years' WHERE id = ANY($1)")
        .bind(vec![due, app.beta.customers[0]])
        .execute(&mut conn)
        .await
        .unwrap();
    let run = |args: &[&str]| gridcrm(&app, args);
    let ids = vec![due, recent, app.beta.customers[0]];
    let dry = run(&["customers", "anonymise", "--tenant", "alpha", "--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains("1100000001") && !out.contains("1100000002"), "{out}");
    assert!(out.contains("alpha: 1 closed accounts due (retention 3 years)"), "{out}");
    assert_eq!(names(&mut conn, &ids).await, ["王建国", "李建华", "王建国"], "nothing changed");

    let real = run(&["customers", "anonymise", "--tenant", "alpha"]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains("alpha: 1 closed accounts anonymised"), "{out}");
    let mark = gridcrm::privacy::model::mark(due);
    assert_eq!(
        names(&mut conn, &ids).await,
        [mark.as_str(), "李建华", "王建国"],
        "the recent and the other company's stay"
    );
    let actor: String = sqlx::query_scalar("SELECT actor_label FROM audit_log WHERE action = 'anonymise'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(actor, "command line: customers anonymise");
    let again = run(&["customers", "anonymise", "--tenant", "alpha"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("alpha: 0 closed accounts anonymised"));
}

/// One month of 15-minute readings for one meter of `tenant`, in `month`
/// (creating its partition as the application would).
async fn interval_month(conn: &mut PgConnection, tenant: Uuid, month: chrono::NaiveDate) {
    sqlx::query("SELECT gridcrm_interval_partition($1)").bind(month).execute(&mut *conn).await.unwrap();
    sqlx::query(
        "INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
         SELECT $1, $2, g, 10 FROM generate_series($3::date::timestamp AT TIME ZONE 'UTC',
             ($3::date + interval '1 month')::timestamp AT TIME ZONE 'UTC' - interval '15 minutes', interval '15 minutes') g",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(month)
    .execute(&mut *conn)
    .await
    .unwrap();
}

async fn month_readings(app: &TestApp, tenant: Uuid, month: chrono::NaiveDate) -> i64 {
    let mut conn = owner(app).await;
    sqlx::query_scalar("SELECT count(*) FROM interval_data WHERE tenant_id = $1 AND ts >= $2::date AND ts < ($2::date + interval '1 month')")
        .bind(tenant)
        .bind(month)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn table_exists(app: &TestApp, name: String) -> bool {
    let mut conn = owner(app).await;
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(name).fetch_one(&mut conn).await.unwrap()
}

#[tokio::test]
async fn retention_removes_what_each_company_no_longer_keeps_and_drops_months_nobody_keeps() {
    use chrono::{Datelike, Months, NaiveDate};
    let app = TestApp::spawn().await;
    // Alpha keeps one year of load curves and two of audit log; beta the defaults (3 and 10).
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post("/privacy", &[("retention_years", "3"), ("interval_years", "1"), ("audit_years", "2")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let today = chrono::Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let ago = |months: u32| this_month.checked_sub_months(Months::new(months)).unwrap();
    let mut conn = owner(&app).await;
    for tenant in [app.alpha.id, app.beta.id] {
        for months in [40, 20, 1] {
            interval_month(&mut conn, tenant, ago(months)).await;
        }
    }
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, id, at, actor_label, action, entity, summary)
         VALUES ($1, $3, now() - interval '5 years', 'test', 'update', 'customer', 'old'),
                ($2, $4, now() - interval '5 years', 'test', 'update', 'customer', 'old')",
    )
    .bind(app.alpha.id)
    .bind(app.beta.id)
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .execute(&mut conn)
    .await
    .unwrap();
    let readings = |tenant: Uuid, months: u32| month_readings(&app, tenant, ago(months));
    let before = readings(app.alpha.id, 20).await;
    assert!(before > 2000);
    let partition = |months: u32| format!("interval_data_{}", ago(months).format("%Y%m"));
    let exists = |months: u32| table_exists(&app, partition(months));
    let run = |args: &[&str]| gridcrm(&app, args);

    let dry = run(&["retention", "run", "--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains(&format!("alpha: would remove {before} interval readings")), "{out}");
    let line = |who: &str| out.lines().find(|l| l.starts_with(who)).unwrap_or_default().to_owned();
    assert!(line("alpha:").contains("and 1 audit entries before"), "{out}");
    assert!(
        line("beta:").contains("would remove 0 interval readings") && line("beta:").contains("and 0 audit entries"),
        "{out}"
    );
    assert!(out.contains(&format!("would drop {}", partition(40))) && !out.contains(&partition(20)), "{out}");
    assert_eq!(readings(app.alpha.id, 20).await, before, "a dry run changes nothing");
    assert!(exists(40).await);

    let real = run(&["retention", "run"]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains(&format!("dropped {}", partition(40))), "{out}");
    // The month 40 back is gone for everyone (beyond both companies' years);
    // the month 20 back is gone for alpha only; last month stays for both.
    assert!(!exists(40).await && exists(20).await);
    assert_eq!(readings(app.alpha.id, 20).await, 0);
    assert_eq!(readings(app.beta.id, 20).await, before);
    assert_eq!(readings(app.alpha.id, 1).await, readings(app.beta.id, 1).await);
    assert!(readings(app.alpha.id, 1).await > 2000);
    // Alpha's five-year-old audit entry went (two years kept); beta's stays (ten).
    let old = |tenant: Uuid| {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND summary = 'old'")
            .bind(tenant)
    };
    assert_eq!(old(app.alpha.id).fetch_one(&mut conn).await.unwrap(), 0);
    assert_eq!(old(app.beta.id).fetch_one(&mut conn).await.unwrap(), 1);
    // What was removed is itself on the record, in the company's own log.
    let (actor, after): (String, serde_json::Value) =
        sqlx::query_as("SELECT actor_label, after FROM audit_log WHERE tenant_id = $1 AND entity = 'retention'")
            .bind(app.alpha.id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(actor, "command line: retention run");
    assert_eq!(after["interval_readings_removed"], before);
    assert_eq!(after["audit_entries_removed"], 1);
    // Run again: nothing left to do.
    let again = run(&["retention", "run"]);
    let out = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(out.contains("alpha: removed 0 interval readings") && !out.contains("dropped"), "{out}");
}
