//! Reference lists and reading routes edited by tenant admins, and the list
//! of meters due for verification.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::support::{Browser, TestApp, location};
use gridcrm::staff::Role;

async fn audit_actions(app: &TestApp, entity: &str) -> Vec<(String, String)> {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_as("SELECT action, summary FROM audit_log WHERE entity = $1 ORDER BY at, id")
        .bind(entity)
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

async fn industry(app: &TestApp, tenant: uuid::Uuid, code: &str) -> Option<(String, String, bool)> {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query_as("SELECT name_zh, name_en, retired_at IS NOT NULL FROM industries WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *tx)
        .await
        .unwrap()
}

fn new_customer(industry: &str) -> Value {
    json!({"name": "杭州某某五金店", "class_code": "commercial", "industry_code": industry, "voltage_code": "v380",
           "tariff_code": "commercial_single", "address": "拱墅区湖墅南路1号"})
}

#[tokio::test]
async fn a_tenant_admin_adds_renames_retires_and_deletes_codes() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/admin/reference/industries").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("C26") && page.contains("化学原料和化学制品制造业"));

    // Add: a bad code and blank names are named; then a good one.
    let bad = admin.post("/admin/reference/industries", &[("code", "C 99"), ("name_zh", " "), ("name_en", "x")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad.text().await.unwrap();
    assert!(text.contains("请用 1 到 20 个字母") && text.contains("code-error"), "the code's error is shown");
    let added = admin
        .post("/admin/reference/industries", &[("code", "C99"), ("name_zh", "其他制造业"), ("name_en", "Other")])
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&added), "/admin/reference/industries?saved=added");
    assert_eq!(industry(&app, app.alpha.id, "C99").await, Some(("其他制造业".into(), "Other".into(), false)));
    let again =
        admin.post("/admin/reference/industries", &[("code", "C99"), ("name_zh", "重复"), ("name_en", "Again")]).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.unwrap().contains("该列表已有此代码"));

    // Rename.
    let renamed = admin
        .post("/admin/reference/industries/C99", &[("name_zh", "其他制造业（新）"), ("name_en", "Other manufacturing")])
        .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        industry(&app, app.alpha.id, "C99").await,
        Some(("其他制造业（新）".into(), "Other manufacturing".into(), false))
    );

    // Retire and bring back.
    assert_eq!(admin.post("/admin/reference/industries/C99/retire", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(industry(&app, app.alpha.id, "C99").await.unwrap().2);
    let (_, page) = admin.get_text("/admin/reference/industries").await;
    assert!(page.contains("/admin/reference/industries/C99/unretire"), "a retired code offers to bring it back");
    assert_eq!(admin.post("/admin/reference/industries/C99/unretire", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(!industry(&app, app.alpha.id, "C99").await.unwrap().2);

    // An unused code is deleted; one in use (every seeded customer is RES) is refused and stays.
    assert_eq!(admin.post("/admin/reference/industries/C99/delete", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(industry(&app, app.alpha.id, "C99").await, None);
    let in_use = admin.post("/admin/reference/industries/RES/delete", &[]).await;
    assert_eq!(in_use.status(), StatusCode::CONFLICT);
    assert!(in_use.text().await.unwrap().contains("不能删除，只能停用"));
    assert!(industry(&app, app.alpha.id, "RES").await.is_some());
    // A voltage used only by supply points is in use too.
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query("UPDATE customers SET voltage_code = 'v380', class_code = 'commercial' WHERE tenant_id = $1")
        .bind(app.alpha.id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(admin.post("/admin/reference/voltages/v220/delete", &[]).await.status(), StatusCode::CONFLICT);

    let actions = audit_actions(&app, "reference_code").await;
    let actions: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["create", "update", "retire", "unretire", "delete"]);
    // Unknown lists and codes are 404; other roles may not edit.
    assert_eq!(admin.get("/admin/reference/planets").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post("/admin/reference/tags/nope/retire", &[]).await.status(), StatusCode::NOT_FOUND);
    let clerk = app.login(&app.alpha, "counter").await;
    assert_eq!(clerk.get("/admin/reference/industries").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(clerk.post("/admin/reference/industries/RES/retire", &[]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_retired_code_is_refused_for_a_new_customer_but_kept_on_an_existing_one() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let created = client.post(app.url("/api/v1/customers")).bearer_auth(&key).json(&new_customer("F52")).send().await;
    let created = created.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let customer: Value = created.json().await.unwrap();
    let id = customer["id"].as_str().unwrap().to_owned();

    let admin = app.login(&app.alpha, "admin").await;
    assert_eq!(admin.post("/admin/reference/industries/F52/retire", &[]).await.status(), StatusCode::SEE_OTHER);

    // A new customer may not take it: named as retired, in the caller's language.
    let refused = client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&key)
        .header("accept-language", "en")
        .json(&new_customer("F52"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.unwrap();
    let error = problem["errors"].as_array().unwrap().iter().find(|e| e["field"] == "industry_code").unwrap();
    assert_eq!(error["code"], "retired_code");
    assert!(error["message"].as_str().unwrap().contains("This code is retired"), "{error}");
    // An unknown code is still called unknown.
    let unknown =
        client.post(app.url("/api/v1/customers")).bearer_auth(&key).json(&new_customer("Z99")).send().await.unwrap();
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["errors"][0]["code"], "unknown_code");

    // The customer that has it keeps it when edited.
    let patched = client
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&json!({"name": "杭州某某五金商店"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!((patched["name"].as_str(), patched["industry_code"].as_str()), (Some("杭州某某五金商店"), Some("F52")));
    // But may not move to another retired code.
    admin.post("/admin/reference/industries/H62/retire", &[]).await;
    let moved = client
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&json!({"industry_code": "H62"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The forms: a new customer is not offered F52; the customer's own form is.
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, new_form) = clerk.get_text("/customers/new").await;
    assert!(new_form.contains("value=\"C26\""));
    assert!(!new_form.contains("value=\"F52\""), "a retired code is not offered for a new customer");
    let (_, edit_form) = clerk.get_text(&format!("/customers/{id}/edit")).await;
    assert!(edit_form.contains("value=\"F52\" selected"), "the customer's own retired code stays offered");
    assert!(!edit_form.contains("value=\"H62\""));
    // Through the page form the new customer is refused with the Chinese message.
    let response = clerk
        .post(
            "/customers",
            &[
                ("name", "某某餐馆"),
                ("class_code", "commercial"),
                ("industry_code", "F52"),
                ("voltage_code", "v380"),
                ("tariff_code", "commercial_single"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("该代码已停用"));

    // The API lists the code as retired.
    let list: Value = app.api_get(&key, "/api/v1/reference/industries").await;
    let f52 = list.as_array().unwrap().iter().find(|i| i["code"] == "F52").unwrap();
    assert_eq!(f52, &json!({"code": "F52", "name_zh": "零售业", "name_en": "Retail", "retired": true}));
    assert!(list.as_array().unwrap().iter().any(|i| i["code"] == "RES" && i["retired"] == false));
    let nope = client.get(app.url("/api/v1/reference/planets")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(nope.status(), StatusCode::NOT_FOUND);
}

async fn add_route(admin: &Browser, code: &str, day: &str, readers: &[uuid::Uuid]) -> reqwest::Response {
    let readers: Vec<String> = readers.iter().map(|r| r.to_string()).collect();
    let mut fields = vec![("code", code), ("name", "东城九段"), ("reader_day", day)];
    fields.extend(readers.iter().map(|r| ("readers", r.as_str())));
    admin.post("/admin/routes", &fields).await
}

async fn route_id(app: &TestApp, tenant: uuid::Uuid, code: &str) -> uuid::Uuid {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query_scalar("SELECT id FROM reading_routes WHERE code = $1").bind(code).fetch_one(&mut *tx).await.unwrap()
}

#[tokio::test]
async fn routes_have_readers_and_a_reading_day_and_retire() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (counter, counter2) = (app.alpha.user_id("counter"), app.alpha.user_id("counter2"));
    let (status, page) = admin.get_text("/admin/routes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("R0001") && page.contains("一号抄表段"));

    // A day out of range and another tenant's user are named.
    let bad = add_route(&admin, "R0009", "29", &[app.beta.user_id("counter")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad.text().await.unwrap();
    assert!(text.contains("抄表日为 1 到 28 日") && text.contains("抄表员须是本单位在职员工"));
    let added = add_route(&admin, "R0009", "15", &[counter, counter2]).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(add_route(&admin, "R0009", "", &[]).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "code taken");
    let id = route_id(&app, app.alpha.id, "R0009").await;
    let (_, page) = admin.get_text("/admin/routes").await;
    assert!(page.contains("东城九段") && page.contains(">counter<") && page.contains(">counter2<"));
    assert_eq!(app.count_all("reading_route_readers").await, 2);

    // Edit: another day, one reader fewer.
    let (status, form) = admin.get_text(&format!("/admin/routes/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(&format!("value=\"{counter2}\" checked")));
    let counter_id = counter.to_string();
    let saved = admin
        .post(
            &format!("/admin/routes/{id}"),
            &[("name", "东城九段（调整）"), ("reader_day", "20"), ("readers", &counter_id)],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let (name, day): (String, Option<i16>) =
        sqlx::query_as("SELECT name, reader_day FROM reading_routes WHERE id = $1")
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((name.as_str(), day), ("东城九段（调整）", Some(20)));
    let readers: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT user_id FROM reading_route_readers WHERE route_id = $1")
        .bind(id)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(readers, [counter]);

    // Retired: no longer offered or accepted for a new customer.
    assert_eq!(admin.post(&format!("/admin/routes/{id}/retire"), &[]).await.status(), StatusCode::SEE_OTHER);
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, new_form) = clerk.get_text("/customers/new").await;
    assert!(new_form.contains("value=\"R0001\"") && !new_form.contains("value=\"R0009\""));
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let mut draft = new_customer("F52");
    draft["route_code"] = json!("R0009");
    let refused = reqwest::Client::new().post(app.url("/api/v1/customers")).bearer_auth(&key).json(&draft).send().await;
    let problem: Value = refused.unwrap().json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "route_code");
    assert_eq!(problem["errors"][0]["code"], "retired_code");
    assert_eq!(admin.post(&format!("/admin/routes/{id}/unretire"), &[]).await.status(), StatusCode::SEE_OTHER);

    let actions = audit_actions(&app, "reading_route").await;
    let actions: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["create", "update", "retire", "unretire"]);
    assert_eq!(clerk.get("/admin/routes").await.status(), StatusCode::FORBIDDEN);
}

/// Sets the due dates of alpha's seeded meters (days from the tenant's
/// today; None for no date) and puts the second one's point on route R0002.
async fn due_dates(app: &TestApp, days: [Option<i32>; 4]) {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    for (i, d) in days.iter().enumerate() {
        sqlx::query(
            "UPDATE meters SET next_verification = (now() AT TIME ZONE 'Asia/Shanghai')::date + $2, verified_on = '2020-05-01'
             WHERE serial = $1",
        )
        .bind(format!("ALPHAM{:04}", i + 1))
        .bind(*d)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO reading_routes (tenant_id, id, code, name) VALUES (app_tenant_id(), gen_random_uuid(), 'R0002', '二号段')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE supply_points SET route_id = (SELECT id FROM reading_routes WHERE tenant_id = $1 AND code = 'R0002')
         WHERE tenant_id = $1
           AND id = (SELECT supply_point_id FROM meter_installations i JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
                     WHERE i.tenant_id = $1 AND m.serial = 'ALPHAM0002')",
    )
    .bind(app.alpha.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn meters_due_for_verification_by_window_and_route_with_csv() {
    let app = TestApp::spawn().await;
    due_dates(&app, [Some(-5), Some(10), Some(60), None]).await;
    let clerk = app.login(&app.alpha, "counter").await;

    // The next 30 days and the overdue, earliest first.
    let (status, page) = clerk.get_text("/meters/verification").await;
    assert_eq!(status, StatusCode::OK);
    let (m1, m2) = (page.find("ALPHAM0001").expect("overdue"), page.find("ALPHAM0002").expect("due in 10 days"));
    assert!(m1 < m2, "earliest first");
    assert!(!page.contains("ALPHAM0003") && !page.contains("ALPHAM0004") && !page.contains("BETAM"));
    assert!(page.contains("已超期"), "the overdue meter is marked");
    // A wider window; a route; a wrong window named.
    let (_, wide) = clerk.get_text("/meters/verification?days=90").await;
    assert!(wide.contains("ALPHAM0003") && !wide.contains("ALPHAM0004"));
    let (_, route) = clerk.get_text("/meters/verification?days=90&route=R0002").await;
    assert!(route.contains("ALPHAM0002") && !route.contains("ALPHAM0001") && !route.contains("ALPHAM0003"));
    let (_, bad) = clerk.get_text("/meters/verification?days=999").await;
    assert!(bad.contains("天数为 0 到 366") && !bad.contains("ALPHAM0001"));

    // Paged by (due date, serial): a cursor past the first row leaves the rest.
    let (_, after) = clerk.get_text("/meters/verification?days=90&after=2000-01-01_ALPHAM0001").await;
    assert!(after.contains("ALPHAM0001"), "every row is after 2000-01-01");

    // The CSV: BOM, the user's language, one line per meter.
    let csv = clerk.get("/meters/verification.csv?days=90").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("meter_verification_"));
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert!(lines[0].contains("表号") && lines[0].contains("到期日"), "{}", lines[0]);
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("ALPHAM0001,智能表,"), "{}", lines[1]);
    assert!(lines[1].contains(",-5,"), "days left, negative when overdue: {}", lines[1]);
    assert!(lines[2].contains("R0002"));
    let route_csv = clerk.get("/meters/verification.csv?days=90&route=R0002").await.text().await.unwrap();
    assert_eq!(route_csv.trim_end().split("\r\n").count(), 2);

    // Supervisors and admins see it; account managers do not.
    assert_eq!(app.login(&app.alpha, "supervisor").await.get("/meters/verification").await.status(), StatusCode::OK);
    assert_eq!(
        app.login(&app.alpha, "manager").await.get("/meters/verification").await.status(),
        StatusCode::FORBIDDEN
    );
    // The menu links it for the clerk.
    let (_, home) = clerk.get_text("/home").await;
    assert!(home.contains("href=\"/meters/verification\""));
}
