//! Bad input gets a 4xx naming the field, and nothing is written.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use gridcrm::staff::Role;

const GOOD: [(&str, &str); 5] = [
    ("name", "赵敏"),
    ("class_code", "residential"),
    ("industry_code", "RES"),
    ("voltage_code", "v220"),
    ("tariff_code", "res_tiered"),
];

fn with(overrides: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut fields: Vec<(&str, &str)> =
        GOOD.iter().filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k)).copied().collect();
    fields.extend_from_slice(overrides);
    fields
}

/// Each bad field of the customer form comes back marked, in the user's
/// language, and no customer or audit row is written.
#[tokio::test]
async fn the_customer_form_marks_every_bad_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let (customers, audit) = (app.count_all("customers").await, app.count_all("audit_log").await);
    let cases: [(&str, &str, &str); 12] = [
        ("name", "", "此项必填"),
        ("class_code", "martian", "不是允许的取值"),
        ("industry_code", "ZZZ", "不是允许的取值"),
        ("voltage_code", "kv10", "居民客户的供电电压"),
        ("tariff_code", "free", "不是允许的取值"),
        ("route_code", "R9999", "不是允许的取值"),
        ("phone", "12345", "11位手机号"),
        ("capacity_kva", "-5", "容量"),
        ("importance", "royal", "不是允许的取值"),
        ("account_manager_id", "not-a-uuid", "客户经理"),
        ("quiet_from", "25:99", "时:分"),
        ("account_no", "12-34", "户号为6至16位数字"),
    ];
    for (field, value, message) in cases {
        let response = clerk.post("/customers", &with(&[(field, value)])).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field} is marked");
        assert!(page.contains(message), "{field}: the message says {message:?}");
        if !value.is_empty()
            && field != "account_manager_id"
            && field != "route_code"
            && !field.ends_with("_code")
            && field != "importance"
        {
            assert!(page.contains(value), "{field}: the typed value is kept");
        }
    }
    let bad_tag = clerk.post("/customers", &with(&[("tags", "royal")])).await;
    assert_eq!(bad_tag.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count_all("customers").await, customers, "no customer written");
    assert_eq!(app.count_all("audit_log").await, audit, "no audit row written");
}

#[tokio::test]
async fn messages_follow_the_users_language() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let switched = clerk.post("/language", &[("lang", "en"), ("back", "/customers/new")]).await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let page = clerk.post("/customers", &with(&[("name", "")])).await.text().await.unwrap();
    assert!(page.contains("This field is required."), "English after switching");
    assert!(page.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn the_api_names_each_bad_field_in_a_problem_document() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let before = app.count_all("customers").await;
    let response = client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&key)
        .json(&json!({"name": "", "class_code": "residential", "industry_code": "RES", "voltage_code": "v220",
                      "tariff_code": "nope", "phone": "999", "preferred_channels": ["pigeon"], "quiet_to": "07:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["name", "tariff_code", "phone", "preferred_channels", "quiet_from"] {
        assert!(fields.contains(&field), "{field} named in {fields:?}");
    }
    assert!(problem["errors"][0]["message"].as_str().unwrap().len() > 5);
    // A value of the wrong JSON type names its field too.
    let wrong_type = client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&key)
        .json(&json!({"name": "王五", "capacity_kva": 315}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = wrong_type.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "capacity_kva");
    // Malformed JSON is a 400, and a bad page size a 422 naming `limit`.
    let malformed = client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let limit = client.get(app.url("/api/v1/customers?limit=0")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(limit.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(limit.json::<Value>().await.unwrap()["errors"][0]["field"], "limit");
    // An invalid PATCH changes nothing.
    let id = app.alpha.customers[0];
    let patch = client
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&json!({"name": "新名", "phone": "abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let current: Value = app.api_get(&key, &format!("/api/v1/customers/{id}")).await;
    assert_eq!(current["name"], "王建国");
    assert_eq!(app.count_all("customers").await, before);
}

#[tokio::test]
async fn an_account_number_can_be_given_once() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let first = clerk.post("/customers", &with(&[("account_no", "1199990001")])).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = clerk.post("/customers", &with(&[("account_no", "1199990001")])).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.unwrap().contains("该户号已存在"));
    // The other tenant may use the same number.
    let other = app.login(&app.beta, "counter").await;
    assert_eq!(other.post("/customers", &with(&[("account_no", "1199990001")])).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_user_form_names_bad_fields_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let users = app.count_all("users").await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("username", "王丽"),
                ("display_name", "王丽"),
                ("role", "counter_staff"),
                ("password", "long enough pw"),
            ],
            "username",
        ),
        (
            &[("username", "wangli"), ("display_name", ""), ("role", "counter_staff"), ("password", "long enough pw")],
            "display_name",
        ),
        (
            &[
                ("username", "wangli"),
                ("display_name", "王丽"),
                ("role", "platform_admin"),
                ("password", "long enough pw"),
            ],
            "role",
        ),
        (
            &[("username", "wangli"), ("display_name", "王丽"), ("role", "counter_staff"), ("password", "short")],
            "password",
        ),
    ];
    for (fields, field) in cases {
        let response = admin.post("/admin/users", fields).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(response.text().await.unwrap().contains(&format!("id=\"{field}-error\"")), "{field} marked");
    }
    let taken = admin
        .post(
            "/admin/users",
            &[
                ("username", "counter"),
                ("display_name", "x"),
                ("role", "counter_staff"),
                ("password", "long enough pw"),
            ],
        )
        .await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count_all("users").await, users);
    // An admin cannot demote themselves.
    let me = app.alpha.user_id("admin");
    let demote = admin
        .post(&format!("/admin/users/{me}"), &[("display_name", "admin"), ("role", "counter_staff"), ("active", "on")])
        .await;
    assert_eq!(demote.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_contact_form_and_tenant_form_name_bad_fields() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let id = app.alpha.customers[1];
    let contacts = app.count_all("customer_contacts").await;
    let bad =
        clerk.post(&format!("/customers/{id}/contacts"), &[("name", ""), ("phone", "12"), ("email", "nope")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    for field in ["contact_name", "contact_phone", "contact_email"] {
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field} marked");
    }
    assert_eq!(app.count_all("customer_contacts").await, contacts);

    let root = platform_admin(&app).await;
    let tenants = app.count_all("tenants").await;
    let response = root
        .post(
            "/platform/tenants",
            &[("slug", "Bad Slug"), ("name", ""), ("time_zone", "Mars/Base"), ("account_prefix", "x")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    for field in ["slug", "name", "time_zone", "account_prefix"] {
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field} marked");
    }
    let taken = root.post("/platform/tenants", &[("slug", "alpha"), ("name", "重复")]).await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count_all("tenants").await, tenants);
}

/// A platform tenant with a platform admin, signed in.
pub async fn platform_admin(app: &TestApp) -> crate::support::Browser {
    use gridcrm::{audit::Actor, staff::db as staff_db, tenants};
    let valid = tenants::validate(&tenants::TenantInput {
        slug: "platform",
        name: "平台",
        time_zone: "",
        account_prefix: "",
        is_platform: true,
    })
    .unwrap();
    let id = tenants::create(&app.pool, &valid, &Actor::command_line("test")).await.unwrap();
    let mut tx = gridcrm::db::begin_tenant(&app.pool, id, None).await.unwrap();
    let new = staff_db::NewUser {
        tenant_id: id,
        username: "root",
        display_name: "root",
        team: "",
        role: Role::PlatformAdmin,
        password: crate::support::PASSWORD,
        locale: None,
    };
    staff_db::create_user(&mut tx, new).await.unwrap();
    tx.commit().await.unwrap();
    let mut browser = app.anonymous();
    assert_eq!(browser.try_login("platform", "root", crate::support::PASSWORD).await.status(), StatusCode::SEE_OTHER);
    browser.refresh_csrf("/platform/tenants").await;
    browser
}
