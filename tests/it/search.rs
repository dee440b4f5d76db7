//! Counter search by each of its four keys.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, location};
use gridcrm::staff::Role;

async fn api_search(app: &TestApp, key: &str, q: &str) -> Vec<String> {
    let body: Value = app.api_get(key, &format!("/api/v1/customers?q={}", urlencode(q))).await;
    body["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

fn urlencode(s: &str) -> String {
    serde_html_form::to_string([("", s)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn finds_by_account_number_name_phone_and_meter_serial() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    // Account numbers of tenant alpha are "11" + eight digits, in creation order.
    assert_eq!(api_search(&app, &key, "1100000002").await, vec!["李建华"]);
    assert_eq!(api_search(&app, &key, "110000000").await.len(), 4, "an account-number prefix");
    // Partial Chinese names: an infix of two characters, a surname, a full name, a compound surname.
    assert!(api_search(&app, &key, "建").await.is_empty(), "one character matches only at the start of a name");
    assert_eq!(api_search(&app, &key, "王").await, vec!["王建国"]);
    assert_eq!(api_search(&app, &key, "建国").await, vec!["王建国"]);
    let mut jianhua_and_jianguo = api_search(&app, &key, "李建华").await;
    jianhua_and_jianguo.extend(api_search(&app, &key, "建华").await);
    assert_eq!(jianhua_and_jianguo, vec!["李建华", "李建华"]);
    assert_eq!(api_search(&app, &key, "欧阳").await, vec!["欧阳娜娜"]);
    assert_eq!(api_search(&app, &key, "阳娜").await, vec!["欧阳娜娜"]);
    assert!(api_search(&app, &key, "建军").await.is_empty());
    // Phones: the customer's own and a contact's.
    assert_eq!(api_search(&app, &key, "13800000003").await, vec!["张伟"]);
    assert_eq!(api_search(&app, &key, "139 0000 0009").await, vec!["王建国"], "a contact's phone finds the customer");
    // Meter serials, whole or by prefix, any case.
    assert_eq!(api_search(&app, &key, "ALPHAM0004").await, vec!["欧阳娜娜"]);
    assert_eq!(api_search(&app, &key, "alpham000").await.len(), 4);
    // Wildcards are literal.
    assert!(api_search(&app, &key, "%%").await.is_empty());
}

#[tokio::test]
async fn keyset_pages_walk_through_every_result_once() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page: Value = app.api_get(&key, &format!("/api/v1/customers?limit=3&after={after}")).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["account_no"].as_str().unwrap().to_owned()));
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["1100000001", "1100000002", "1100000003", "1100000004"]);
}

#[tokio::test]
async fn the_search_page_lists_results_and_jumps_to_an_exact_hit() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, page) = clerk.get_text(&format!("/customers?q={}", urlencode("建"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("没有匹配的客户"), "an empty result says so");
    let (_, page) = clerk.get_text(&format!("/customers?q={}", urlencode("建国"))).await;
    assert!(page.contains("王建国") && page.contains("1100000001"));
    assert!(page.contains("<table class=\"list results\">"));
    // htmx asks for the results only.
    let partial = clerk
        .client
        .get(app.url("/customers?q=1100"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(partial.contains("1100000004") && !partial.contains("<html"));
    // A meter serial or account number with one hit opens the customer.
    let response = clerk.get("/customers?q=ALPHAM0002").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/customers/{}", app.alpha.customers[1]));
}

#[tokio::test]
async fn a_renamed_customer_is_found_by_the_new_name_only() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let id = app.alpha.customers[2];
    let renamed = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "张卫东"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(api_search(&app, &key, "卫东").await, vec!["张卫东"]);
    assert!(api_search(&app, &key, "张伟").await.is_empty(), "the old name is gone from the index");
    // Deleting cascades to the name index (no orphans; the key includes the tenant).
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let grams: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_name_grams WHERE customer_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(grams, 2, "张卫 and 卫东");
}
