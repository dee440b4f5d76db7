//! Supply contracts: recorded at the counter with every bad field named, shown
//! on the customer page with their term, told to the customer before they
//! expire (the contract in force only), and kept to their own company.

use chrono::{Duration, Utc};
use reqwest::StatusCode;

use crate::{notices::notices, support::TestApp};
use gridcrm::{db, notices::plan};

/// A day `n` days from today where the test companies are (Asia/Shanghai).
fn days(n: i64) -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive() + Duration::days(n)).to_string()
}

#[tokio::test]
async fn a_clerk_records_a_contract_and_a_renewal_with_bad_fields_named() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let path = format!("/customers/{customer}/contracts");
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, empty) = clerk.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty.contains("该客户尚未登记合同"), "the empty state says so");

    // Every bad field is named and nothing is written.
    let bad = clerk.post(&path, &[("contract_no", " "), ("starts_on", "2026/1/1"), ("expires_on", "")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    for message in ["此项必填", "年-月-日"] {
        assert!(html.contains(message), "{message} in the refusal");
    }
    let backwards =
        clerk.post(&path, &[("contract_no", "GY-1"), ("starts_on", &days(10)), ("expires_on", &days(5))]).await;
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(backwards.text().await.unwrap().contains("合同到期日必须晚于生效日"));
    assert_eq!(app.count_all("supply_contracts").await, 0);

    // A contract ending in 20 days shows as ending soon on the customer page.
    let ok = clerk
        .post(&path, &[("contract_no", " GY-2026-001 "), ("starts_on", &days(-1000)), ("expires_on", &days(20))])
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("GY-2026-001") && page.contains("即将到期 · 剩 20 天"), "the customer page shows the term");

    // The same number again is refused; a renewal supersedes the first.
    let twice = clerk
        .post(&path, &[("contract_no", "GY-2026-001"), ("starts_on", &days(21)), ("expires_on", &days(1100))])
        .await;
    assert_eq!(twice.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.text().await.unwrap().contains("本公司已有该编号的合同"));
    let renewal = clerk
        .post(&path, &[("contract_no", "GY-2029-001"), ("starts_on", &days(21)), ("expires_on", &days(1100))])
        .await;
    assert_eq!(renewal.status(), StatusCode::SEE_OTHER);
    let (_, list) = clerk.get_text(&path).await;
    assert!(list.find("GY-2029-001").unwrap() < list.find("GY-2026-001").unwrap(), "the renewal first");
    assert!(list.contains("未生效") && list.contains("已被续签取代"));
    assert_eq!(app.count_all("audit_log WHERE entity = 'supply_contract'").await, 2);

    // Another company's clerk neither sees nor records.
    let theirs = app.login(&app.beta, "counter").await;
    assert_eq!(theirs.get(&path).await.status(), StatusCode::NOT_FOUND);
    let r = theirs.post(&path, &[("contract_no", "X-1"), ("starts_on", &days(0)), ("expires_on", &days(300))]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count_all("supply_contracts").await, 2);
}

#[tokio::test]
async fn a_contract_coming_to_its_end_is_told_once_unless_it_was_renewed() {
    let app = TestApp::spawn().await;
    let [ending, renewed, later] = [app.alpha.customers[0], app.alpha.customers[1], app.alpha.customers[2]];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let contract = async |tx: &mut sqlx::PgConnection, customer, no: &str, starts: i64, ends: i64| {
        sqlx::query(
            "INSERT INTO supply_contracts (tenant_id, id, customer_id, contract_no, starts_on, expires_on, recorded_by)
             VALUES (app_tenant_id(), gen_random_uuid(), $1, $2, $3::date, $4::date, 'test')",
        )
        .bind(customer)
        .bind(no)
        .bind(days(starts).parse::<chrono::NaiveDate>().unwrap())
        .bind(days(ends).parse::<chrono::NaiveDate>().unwrap())
        .execute(tx)
        .await
        .unwrap();
    };
    contract(&mut tx, ending, "GY-A", -1000, 20).await;
    contract(&mut tx, renewed, "GY-B", -1000, 10).await;
    contract(&mut tx, renewed, "GY-B2", 11, 1100).await;
    contract(&mut tx, later, "GY-C", -100, 200).await;
    // The company's default rule (30 days ahead) has been in place for two months.
    let rules =
        sqlx::query("UPDATE notice_rules SET since = now() - interval '60 days' WHERE kind = 'contract_expiry'")
            .execute(&mut *tx)
            .await
            .unwrap();
    assert_eq!(rules.rows_affected(), 1, "every company starts with a contract-expiry rule");
    tx.commit().await.unwrap();

    plan::scan_everywhere(&app.pool).await.unwrap();
    plan::scan_everywhere(&app.pool).await.unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let told = notices(&mut tx, "contract_expiry").await;
    assert!(
        !told.is_empty() && told.iter().all(|n| n.customer_id == ending),
        "only the contract not renewed: {told:?}"
    );
    assert_eq!(told.iter().map(|n| &n.event_ref).collect::<std::collections::HashSet<_>>().len(), 1, "told once");
    let n = &told[0];
    assert_eq!(
        (n.data["contract_no"].as_str(), n.data["expiry_date"].as_str()),
        (Some("GY-A"), Some(days(20).as_str()))
    );
    let (subject, body) = gridcrm::notices::template::builtin(gridcrm::notices::Kind::ContractExpiry, &n.lang);
    let text = gridcrm::notices::template::render(subject, body, &n.data).unwrap().body;
    assert!(text.contains("GY-A") && text.contains(&days(20)), "{text}");
}

#[tokio::test]
async fn the_api_records_and_lists_contracts_and_names_bad_fields() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let path = format!("/api/v1/customers/{customer}/contracts");
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let post = |key: &str, body: serde_json::Value| client.post(app.url(&path)).bearer_auth(key).json(&body).send();

    let bad = post(&key, serde_json::json!({"contract_no": "GY-9", "starts_on": days(0), "expires_on": days(0)}))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = bad.json().await.unwrap();
    assert!(
        problem.to_string().contains("expires_on") && problem.to_string().contains("contract_ends_before_start"),
        "{problem}"
    );

    let made = post(&key, serde_json::json!({"contract_no": "GY-9", "starts_on": days(-5), "expires_on": days(360)}))
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let contract: serde_json::Value = made.json().await.unwrap();
    assert_eq!(
        (contract["contract_no"].as_str(), contract["expires_on"].as_str()),
        (Some("GY-9"), Some(days(360).as_str()))
    );
    let listed: serde_json::Value = app.api_get(&key, &path).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], contract["id"]);

    // Another company's key: 404 on both, nothing written.
    let theirs = app.api_key(&app.beta, gridcrm::staff::Role::TenantAdmin).await;
    let r = post(&theirs, serde_json::json!({"contract_no": "GY-10", "starts_on": days(0), "expires_on": days(30)}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client.get(app.url(&path)).bearer_auth(&theirs).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count_all("supply_contracts").await, 1);
}
