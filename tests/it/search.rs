//! Counter search by each of its keys: account number, any part of a number
//! (phone, account, meter, ID-card or credit code), name, one character,
//! pinyin initials and address; counts, sorting and pages.

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
    assert_eq!(api_search(&app, &key, "建").await, vec!["王建国", "李建华"], "one character anywhere in a name");
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
    let (status, page) = clerk.get_text(&format!("/customers?q={}", urlencode("建军"))).await;
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
    assert_eq!(grams, 5, "张卫 and 卫东, 张, 卫 and 东");
}

/// Sets a customer's ID number (the counter forms do not ask for it; imports bring it).
async fn set_id_number(app: &TestApp, customer: uuid::Uuid, id_number: &str) {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET id_number = $2 WHERE id = $1")
        .bind(customer)
        .bind(id_number)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn any_part_of_a_number_an_address_a_character_or_initials_finds_the_customer() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    // The last four digits of a phone: a contact's (13900000009) finds its customer.
    assert_eq!(api_search(&app, &key, "0009").await, vec!["王建国"]);
    assert_eq!(api_search(&app, &key, "138-0000-0003").await, vec!["张伟"]);
    // Part of an account number, from the middle.
    assert_eq!(api_search(&app, &key, "000004").await, vec!["欧阳娜娜"]);
    // Part of a meter serial, any case.
    assert_eq!(api_search(&app, &key, "m0003").await, vec!["张伟"]);
    // ID-card and unified social credit codes, whole or in part.
    set_id_number(&app, app.alpha.customers[1], "33010219900101123X").await;
    set_id_number(&app, app.alpha.customers[3], "91330100MA2H0Q1X3B").await;
    assert_eq!(api_search(&app, &key, "33010219900101123x").await, vec!["李建华"]);
    assert_eq!(api_search(&app, &key, "0101123X").await, vec!["李建华"]);
    assert_eq!(api_search(&app, &key, "MA2H0Q1X").await, vec!["欧阳娜娜"]);
    // A character that is not the first of a name.
    assert_eq!(api_search(&app, &key, "娜").await, vec!["欧阳娜娜"]);
    assert_eq!(api_search(&app, &key, "伟").await, vec!["张伟"]);
    // Pinyin initials, written with the name by the application.
    assert_eq!(api_search(&app, &key, "wjg").await, vec!["王建国"]);
    assert_eq!(api_search(&app, &key, "OYN").await, vec!["欧阳娜娜"]);
    assert_eq!(api_search(&app, &key, "ljh").await, vec!["李建华"]);
    // An address fragment: a moved customer is found at the new address only.
    let id = app.alpha.customers[2];
    let moved = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .bearer_auth(&key)
        .json(&serde_json::json!({"address": "浙江省杭州市西湖区文三路88号15栋3单元1702室"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(api_search(&app, &key, "文三路").await, vec!["张伟"]);
    assert_eq!(api_search(&app, &key, "文三路 ８８号").await, vec!["张伟"], "spaces and full-width digits");
    assert_eq!(api_search(&app, &key, "3单元1702").await, vec!["张伟"]);
    // Longer than a key (12 characters): its end finds it, the whole of it decides.
    assert_eq!(api_search(&app, &key, "西湖区文三路88号15栋3单元1702室").await, vec!["张伟"]);
    assert!(api_search(&app, &key, "滨江区文三路88号15栋3单元1702室").await.is_empty(), "the same end elsewhere");
    assert_eq!(api_search(&app, &key, "解放路").await, vec!["王建国", "李建华", "欧阳娜娜"]);
    // A contact's phone leaves the index with the contact.
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("DELETE FROM customer_contacts WHERE phone = '13900000009'").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert!(api_search(&app, &key, "0009").await.is_empty());
    // Another company's search finds its own customers only.
    let beta = app.api_key(&app.beta, Role::CounterStaff).await;
    let theirs: Value = app.api_get(&beta, "/api/v1/customers?q=MA2H0Q1X").await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    let theirs: Value = app.api_get(&beta, "/api/v1/customers?q=wjg").await;
    let ids: Vec<&str> = theirs["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![app.beta.customers[0].to_string()]);
}

/// Adds `n` customers named 测试用户1 … 测试用户n (accounts 19000000001 …) with SQL alone, as a script would.
async fn add_many(app: &TestApp, n: i32) {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query(&gridcrm::db::not_by_copy(
        "INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code, address, status)
         SELECT app_tenant_id(), gen_random_uuid(), '19' || lpad(i::text, 9, '0'), '测试用户' || i, 'residential', 'RES',
                'v220', 'res_tiered', '滨江区' || (200 - i) || '号', CASE WHEN i % 2 = 0 THEN 'closed' ELSE 'active' END
         FROM generate_series(1, $1) AS i",
    ))
    .bind(n)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn results_are_counted_up_to_a_cap_sorted_and_paged() {
    let app = TestApp::spawn().await;
    add_many(&app, 130).await;
    let clerk = app.login(&app.alpha, "counter").await;
    // 130 match: more than the cap, shown in account order, not sortable.
    let (_, page) = clerk.get_text(&format!("/customers?q={}", urlencode("测试"))).await;
    assert!(page.contains("匹配的客户超过 100 户"), "a big result is not counted to the end");
    assert!(page.contains("第 1 页，共 5 页") && page.contains("19000000001") && !page.contains("19000000021"));
    assert!(!page.contains("aria-sort"), "sorting needs a narrower search");
    // 测试用户1, 10–19 and 100–130: 42, counted exactly.
    let q = urlencode("测试用户1");
    let (_, page) = clerk.get_text(&format!("/customers?q={q}")).await;
    assert!(page.contains("找到 42 户客户") && page.contains("第 1 页，共 3 页"), "{page}");
    // The last page holds the last two in account order; previous goes back.
    let (_, last) = clerk.get_text(&format!("/customers?q={q}&page=3")).await;
    assert!(last.contains("19000000129") && last.contains("19000000130") && !last.contains("19000000128"));
    assert!(last.contains("rel=\"prev\"") && !last.contains("rel=\"next\""));
    // Sorted by address (滨江区70号 … 滨江区99号, in pinyin and then code point order) descending: 测试用户101 (99号) first.
    let partial = clerk
        .client
        .get(app.url(&format!("/customers?q={q}&sort=address&dir=desc")))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html") && partial.contains("aria-sort=\"descending\""));
    let first_row = &partial[partial.find("<tbody>").unwrap()..];
    assert!(first_row.find("测试用户101").unwrap() < first_row.find("测试用户102").unwrap());
    assert!(!first_row.contains("19000000001"), "199号 sorts before 99号 as text, so it is on the last page");
    // Sorted by status: the 21 active (odd) ones first, by account within; the closed follow on page 2.
    let (_, by_status) = clerk.get_text(&format!("/customers?q={q}&sort=status")).await;
    let rows = &by_status[by_status.find("<tbody>").unwrap()..];
    assert!(rows.contains("19000000001") && !rows.contains("19000000010") && !rows.contains("status-closed"));
    let (_, second) = clerk.get_text(&format!("/customers?q={q}&sort=status&page=2")).await;
    assert!(second.contains("19000000129") && second.contains("19000000010"));
    // The API pages through the capped result by keyset and says there is more.
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body: Value = app.api_get(&key, &format!("/api/v1/customers?q={}&limit=60", urlencode("测试"))).await;
    assert_eq!((body["items"].as_array().unwrap().len(), body["more_matches"].as_bool()), (60, Some(true)));
    let after = body["next_after"].as_str().unwrap();
    let rest: Value =
        app.api_get(&key, &format!("/api/v1/customers?q={}&limit=60&after={after}", urlencode("测试"))).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 40);
    assert!(rest["next_after"].is_null());
}

#[tokio::test]
async fn names_written_by_sql_alone_get_their_initials_on_start() {
    let app = TestApp::spawn().await;
    add_many(&app, 3).await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    assert!(api_search(&app, &key, "csyh").await.is_empty(), "no initials yet");
    let filled = gridcrm::customers::service::fill_name_initials(&app.pool).await.unwrap();
    assert_eq!(filled, 3);
    assert_eq!(api_search(&app, &key, "csyh").await, vec!["测试用户1", "测试用户2", "测试用户3"]);
    assert_eq!(gridcrm::customers::service::fill_name_initials(&app.pool).await.unwrap(), 0);
}
