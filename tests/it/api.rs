//! The JSON API round trip and its OpenAPI document.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use gridcrm::staff::Role;

#[tokio::test]
async fn create_read_patch_and_list_a_customer() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let client = reqwest::Client::new();
    let manager = app.alpha.user_id("manager");
    let created = client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&key)
        .json(&json!({
            "name": "杭州化工有限公司", "class_code": "large_industry", "industry_code": "C26", "voltage_code": "kv10",
            "tariff_code": "large_two_part", "route_code": "R0001", "address": "萧山区经济技术开发区建设一路88号",
            "phone": "0571-82345678", "capacity_kva": "2500", "importance": "second",
            "account_manager_id": manager.to_string(), "preferred_channels": ["phone", "email"],
            "quiet_from": "22:00", "quiet_to": "07:00", "tags": ["outage_sensitive"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let customer: Value = created.json().await.unwrap();
    assert_eq!(customer["account_no"], "1100000005", "the next number of the tenant");
    assert_eq!(customer["capacity_kva"], "2500.00", "at the column's scale");
    assert_eq!(customer["phone"], "057182345678");
    assert_eq!(customer["preferred_channels"], json!(["email", "phone"]));
    assert_eq!(customer["account_manager_name"], "manager");
    assert_eq!(customer["version"], 1);
    let id = customer["id"].as_str().unwrap();

    let fetched: Value = app.api_get(&key, &format!("/api/v1/customers/{id}")).await;
    assert_eq!(fetched, customer);
    // Not valued until the hourly evaluation runs: said so, not a 404 or a guessed tier.
    let value: Value = app.api_get(&key, &format!("/api/v1/customers/{id}/value")).await;
    assert_eq!((&value["customer_id"], &value["valued"], &value["tier"]), (&json!(id), &json!(false), &Value::Null));

    let patched = client
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&json!({"capacity_kva": "3150.00", "tags": [], "importance": "", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["capacity_kva"], "3150.00");
    assert_eq!(patched["tags"], json!([]));
    assert_eq!(patched["importance"], Value::Null);
    assert_eq!(patched["name"], "杭州化工有限公司", "fields not named are kept");
    assert_eq!(patched["version"], 2);

    // A second PATCH based on version 1 is refused: it would overwrite the first.
    let stale = client
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&json!({"name": "旧版本", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);

    // The account number is fixed once issued: leaving it blank or repeating it is fine, changing it is a conflict.
    let patch =
        |body: Value| client.patch(app.url(&format!("/api/v1/customers/{id}"))).bearer_auth(&key).json(&body).send();
    for kept in ["1100000005", ""] {
        assert_eq!(patch(json!({ "account_no": kept })).await.unwrap().status(), StatusCode::OK, "{kept:?}");
    }
    let changed = patch(json!({"account_no": "1100000099"})).await.unwrap();
    assert_eq!(changed.status(), StatusCode::CONFLICT);
    let problem: Value = changed.json().await.unwrap();
    assert_eq!(problem["detail"], "户号一经开立，不能修改。", "{problem}");

    let found: Value = app.api_get(&key, "/api/v1/customers?q=化工").await;
    assert_eq!(found["items"][0]["id"], id);

    // The audit log holds both changes with before and after, attributed to the key.
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let rows: Vec<(String, String, Option<Value>, Option<Value>)> = sqlx::query_as(
        "SELECT action, actor_label, before, after FROM audit_log WHERE entity_id = $1::uuid ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "create");
    assert_eq!(rows[1].0, "update");
    assert!(rows[1].1.starts_with("API key"));
    assert_eq!(rows[1].2.as_ref().unwrap()["capacity_kva"], "2500.00");
    assert_eq!(rows[1].3.as_ref().unwrap()["capacity_kva"], "3150.00");
}

#[tokio::test]
async fn the_openapi_document_parses_and_lists_every_route() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        vec![
            "GET /api/v1/bill-runs/{id}",
            "GET /api/v1/bills",
            "GET /api/v1/bills/{id}",
            "GET /api/v1/cash-days",
            "GET /api/v1/contacts",
            "GET /api/v1/contacts/{id}",
            "GET /api/v1/customers",
            "GET /api/v1/customers/export",
            "GET /api/v1/customers/{id}",
            "GET /api/v1/customers/{id}/contracts",
            "GET /api/v1/customers/{id}/credit",
            "GET /api/v1/customers/{id}/forecast",
            "GET /api/v1/customers/{id}/notice-preferences",
            "GET /api/v1/customers/{id}/personal-data",
            "GET /api/v1/customers/{id}/points",
            "GET /api/v1/customers/{id}/tariff-recommendation",
            "GET /api/v1/customers/{id}/value",
            "GET /api/v1/dr-events",
            "GET /api/v1/forecasts/aggregate",
            "GET /api/v1/meters/{id}",
            "GET /api/v1/meters/{id}/load",
            "GET /api/v1/outages/{id}",
            "GET /api/v1/payments/{id}",
            "GET /api/v1/poor-credit",
            "GET /api/v1/reference/{list}",
            "GET /api/v1/segments",
            "GET /api/v1/segments/{id}/members",
            "GET /api/v1/supply-points",
            "GET /api/v1/supply-points/{id}",
            "GET /api/v1/vip",
            "GET /api/v1/visits",
            "GET /api/v1/work-orders",
            "GET /api/v1/work-orders/{id}",
            "PATCH /api/v1/customers/{id}",
            "PATCH /api/v1/outages/{id}",
            "PATCH /api/v1/supply-points/{id}",
            "POST /api/v1/bill-runs",
            "POST /api/v1/cash-days/{day}/cashiers/{cashier}/sign-off",
            "POST /api/v1/cash-days/{day}/close",
            "POST /api/v1/contacts",
            "POST /api/v1/contacts/{id}/transitions",
            "POST /api/v1/customers",
            "POST /api/v1/customers/import",
            "POST /api/v1/customers/{id}/anonymise",
            "POST /api/v1/customers/{id}/contracts",
            "POST /api/v1/customers/{id}/points/redemptions",
            "POST /api/v1/dr-events",
            "POST /api/v1/dr-events/{id}/responses",
            "POST /api/v1/interval-data",
            "POST /api/v1/meter-commands/poll",
            "POST /api/v1/meter-commands/{id}/ack",
            "POST /api/v1/meters",
            "POST /api/v1/meters/{id}/exchange",
            "POST /api/v1/notices/{id}/receipts",
            "POST /api/v1/outages",
            "POST /api/v1/outages/{id}/cancel",
            "POST /api/v1/payments",
            "POST /api/v1/readings",
            "POST /api/v1/supply-points",
            "POST /api/v1/visits",
            "POST /api/v1/weather",
            "POST /api/v1/work-orders",
            "POST /api/v1/work-orders/{id}/transitions",
            "PUT /api/v1/customers/{id}/notice-preferences",
        ]
    );
    assert!(doc["components"]["schemas"]["CustomerDraft"].is_object());
    assert!(doc["components"]["schemas"]["WorkOrderDraft"].is_object());
    assert!(doc["components"]["schemas"]["NoticePreferences"]["properties"]["opt_outs"].is_object());
    // Two types of one name would share one schema: the credit and the value
    // tiers' inputs are named apart.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["CreditInputs"]["properties"]["on_time_share"].is_object());
    assert!(schemas["Inputs"]["properties"]["energy_12m"].is_object());
    assert_eq!(schemas["StoredRating"]["properties"]["inputs"]["$ref"], "#/components/schemas/CreditInputs");
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    // Every documented operation is really served (not 404/405 without auth: 401).
    let client = reqwest::Client::new();
    for op in &operations {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path.replace("{id}", &app.alpha.customers[0].to_string());
        let response = client.request(method.parse().unwrap(), app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{op}");
    }
}
