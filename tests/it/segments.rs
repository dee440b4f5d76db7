//! Segments: definitions are checked with the offending path named, preview
//! counts match a recompute, recomputes keep who joined and who left, and
//! nothing of another tenant's segments or customers shows.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{Browser, TestApp, location};
use gridcrm::{db, staff::Role};

/// Saves a segment through the page and returns its id.
async fn create_segment(browser: &Browser, name: &str, definition: &str) -> Uuid {
    let r = browser.post("/segments", &[("name", name), ("schedule", "manual"), ("definition", definition)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let to = location(&r);
    Uuid::parse_str(to.trim_start_matches("/segments/").trim_end_matches("?saved=true")).unwrap()
}

/// Runs archive and metric changes as the owner (the metrics job is another area's).
async fn owner_sql(app: &TestApp, sql: &str, customer: Uuid) {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query(sql).bind(customer).execute(&mut conn).await.unwrap();
}

/// The members, by account number, as the application role sees them.
async fn member_ids(app: &TestApp, segment: Uuid) -> Vec<Uuid> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar(
        "SELECT customer_id FROM segment_members sm JOIN customers c ON c.tenant_id = sm.tenant_id AND c.id = sm.customer_id
         WHERE segment_id = $1 ORDER BY c.account_no",
    )
    .bind(segment)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

async fn last_changes(app: &TestApp, segment: Uuid) -> (Vec<i32>, Vec<(Uuid, String)>) {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (run, members, joined, left): (Uuid, i32, i32, i32) = sqlx::query_as(
        "SELECT id, members, joined, left_count FROM segment_runs WHERE segment_id = $1 ORDER BY run_at DESC LIMIT 1",
    )
    .bind(segment)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let changes = sqlx::query_as("SELECT customer_id, change FROM segment_changes WHERE run_id = $1 ORDER BY change")
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    (vec![members, joined, left], changes)
}

const THIS_MONTH: &str = "date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date";

#[tokio::test]
async fn definitions_are_checked_and_a_preview_counts_what_a_recompute_keeps() {
    let app = TestApp::spawn().await;
    let manager = app.login(&app.alpha, "manager").await;
    let c = &app.alpha.customers;

    // An unknown field is refused with its path, and nothing is saved.
    let bad = r#"{"all": [{"field": "class", "op": "eq", "value": "residential"}, {"field": "class; DROP TABLE customers", "op": "eq", "value": "x"}]}"#;
    let r = manager.post("/segments", &[("name", "坏的"), ("definition", bad)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("all[1].field") && page.contains("未知字段"), "{page}");
    let r = manager.post("/segments", &[("name", "坏的"), ("definition", "{\"all\": [")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不是有效的 JSON"));
    let r = manager
        .post(
            "/segments",
            &[
                ("name", "坏的"),
                (
                    "definition",
                    r#"{"any": [{"metric": "energy_kwh", "agg": "sum", "months": 99, "op": "ge", "value": 1}]}"#,
                ),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("any[0].months"));
    assert_eq!(app.count_all("segments").await, 0);
    // Counter staff may not define segments.
    let counter = app.login(&app.alpha, "counter").await;
    let r = counter
        .post(
            "/segments",
            &[("name", "x"), ("definition", r#"{"all": [{"field": "status", "op": "eq", "value": "active"}]}"#)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Two big customers; a value that looks like SQL is only a value.
    owner_sql(&app, "UPDATE customers SET capacity_kva = 630 WHERE id = $1", c[0]).await;
    owner_sql(&app, "UPDATE customers SET capacity_kva = 1250 WHERE id = $1", c[2]).await;
    let big = r#"{"all": [{"field": "capacity", "op": "ge", "value": "500"}, {"field": "class", "op": "ne", "value": "x' OR 1=1 --"}]}"#;
    let r = manager.post("/segments/preview", &[("name", "大容量"), ("definition", big)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("<strong class=\"preview-count\">2</strong>"), "{page}");
    assert_eq!(app.count_all("segments").await, 0, "a preview saves nothing");

    let id = create_segment(&manager, "大容量", big).await;
    let (_, page) = manager.get_text(&format!("/segments/{id}")).await;
    assert!(page.contains("尚未计算"), "{page}");
    let r = manager.post(&format!("/segments/{id}/recompute"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(member_ids(&app, id).await, [c[0], c[2]]);
    assert_eq!(app.count_all("audit_log WHERE entity = 'segment'").await, 2, "created and recomputed");

    // The same name twice is refused; an edit from an old version is refused.
    let r = manager.post("/segments", &[("name", "大容量"), ("definition", big)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = manager
        .post(&format!("/segments/{id}/edit"), &[("name", "大容量2"), ("version", "1"), ("definition", big)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = manager
        .post(&format!("/segments/{id}/edit"), &[("name", "大容量3"), ("version", "1"), ("definition", big)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The members' CSV: a BOM, the header in the user's language, both members.
    let r = manager.get(&format!("/segments/{id}/members.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.contains("户号"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Deleting asks first, then removes the segment with its members and runs.
    let (status, page) = manager.get_text(&format!("/segments/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("大容量2"));
    let r = manager.post(&format!("/segments/{id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!((app.count_all("segments").await, app.count_all("segment_members").await), (0, 0));
}

#[tokio::test]
async fn a_recompute_keeps_who_joined_and_who_left() {
    let app = TestApp::spawn().await;
    let manager = app.login(&app.alpha, "manager").await;
    let c = &app.alpha.customers;
    // c0: big capacity; c1: 1,200 kWh in the last two months; c2: energy only
    // two years ago (outside the window) and a tag; c3: nothing.
    owner_sql(&app, "UPDATE customers SET capacity_kva = 800 WHERE id = $1", c[0]).await;
    for (months_ago, kwh) in [(0, 600), (1, 600)] {
        let sql = format!(
            "INSERT INTO customer_metrics (tenant_id, customer_id, month, energy_kwh)
             SELECT tenant_id, id, ({THIS_MONTH} - interval '{months_ago} months')::date, {kwh} FROM customers WHERE id = $1"
        );
        owner_sql(&app, &sql, c[1]).await;
    }
    let old = format!(
        "INSERT INTO customer_metrics (tenant_id, customer_id, month, energy_kwh)
         SELECT tenant_id, id, ({THIS_MONTH} - interval '24 months')::date, 99999 FROM customers WHERE id = $1"
    );
    owner_sql(&app, &old, c[2]).await;
    let definition = r#"{"any": [
        {"field": "capacity", "op": "ge", "value": 500},
        {"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge", "value": "1000"},
        {"all": [{"field": "tags", "op": "has", "value": "key_account"}, {"field": "importance", "op": "in", "value": ["special", "first"]}]}
    ]}"#;
    let id = create_segment(&manager, "重点", definition).await;
    manager.post(&format!("/segments/{id}/recompute"), &[]).await;
    assert_eq!(member_ids(&app, id).await, [c[0], c[1]]);
    let (counts, changes) = last_changes(&app, id).await;
    assert_eq!(counts, [2, 2, 0]);
    assert_eq!(changes.len(), 2);

    // c0 shrinks, c2 gets the tag and a first-grade importance: one leaves, one joins.
    owner_sql(&app, "UPDATE customers SET capacity_kva = 100 WHERE id = $1", c[0]).await;
    owner_sql(&app, "UPDATE customers SET importance = 'first' WHERE id = $1", c[2]).await;
    owner_sql(
        &app,
        "WITH t AS (INSERT INTO tags (tenant_id, code, name_zh, name_en)
                    SELECT tenant_id, 'key_account', '重点客户', 'Key account' FROM customers WHERE id = $1 RETURNING tenant_id)
         INSERT INTO customer_tags (tenant_id, customer_id, tag_code) SELECT tenant_id, $1, 'key_account' FROM t",
        c[2],
    )
    .await;
    // The scheduled refresh skips manual segments; the whole refresh runs it.
    assert_eq!(gridcrm::segments::db::recompute_all(&app.pool, app.alpha.id, true).await.unwrap(), 0);
    assert_eq!(gridcrm::segments::db::recompute_all(&app.pool, app.alpha.id, false).await.unwrap(), 1);
    assert_eq!(member_ids(&app, id).await, [c[1], c[2]]);
    let (counts, changes) = last_changes(&app, id).await;
    assert_eq!(counts, [2, 1, 1]);
    assert_eq!(changes, [(c[2], "joined".to_owned()), (c[0], "left".to_owned())]);
    // c1 kept its date of joining.
    assert_eq!(app.count_all("segment_runs").await, 2);

    // The page shows the last run's diff; the list shows the counts.
    let (_, page) = manager.get_text(&format!("/segments/{id}")).await;
    let joined_at = page.find("新加入").unwrap();
    let left_at = page.find("已退出").unwrap();
    let c2_no: String = sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(c[2])
        .fetch_one(&mut PgConnection::connect(&app.owner_url).await.unwrap())
        .await
        .unwrap();
    let c2_at = page.find(&c2_no).unwrap();
    assert!(joined_at < c2_at && c2_at < left_at, "{page}");
    let (_, list) = manager.get_text("/segments").await;
    assert!(list.contains("重点") && list.contains("+1") && list.contains("−1"), "{list}");

    // The customer list filters by the segment: its members only, with a search too.
    let (status, page) = manager.get_text(&format!("/customers?segment={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&c[1].to_string()) && page.contains(&c[2].to_string()), "{page}");
    assert!(!page.contains(&c[0].to_string()) && !page.contains(&c[3].to_string()), "{page}");
    let (_, page) = manager.get_text(&format!("/customers?segment={id}&q=%E7%8E%8B")).await;
    assert!(!page.contains(&c[0].to_string()), "王建国 is no longer a member: {page}");

    // The API pages the members.
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let first = app.api_get(&key, &format!("/api/v1/segments/{id}/members?limit=1")).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1, "{first}");
    let after = first["next_after"].as_str().unwrap();
    let second = app.api_get(&key, &format!("/api/v1/segments/{id}/members?limit=1&after={after}")).await;
    assert_eq!(second["items"][0]["customer_id"], Value::from(c[2].to_string()));
    assert!(second["next_after"].is_null());
    let list = app.api_get(&key, "/api/v1/segments").await;
    assert_eq!((list[0]["members"].as_i64(), list[0]["joined"].as_i64()), (Some(2), Some(1)), "{list}");
}

#[tokio::test]
async fn another_tenants_segments_and_customers_never_show() {
    let app = TestApp::spawn().await;
    let alpha = app.login(&app.alpha, "manager").await;
    let beta = app.login(&app.beta, "admin").await;
    let everyone = r#"{"all": [{"field": "status", "op": "eq", "value": "active"}]}"#;
    let ours = create_segment(&alpha, "全部", everyone).await;
    let theirs = create_segment(&beta, "全部", everyone).await;
    alpha.post(&format!("/segments/{ours}/recompute"), &[]).await;
    beta.post(&format!("/segments/{theirs}/recompute"), &[]).await;
    let mut expected = app.alpha.customers.clone();
    expected.sort();
    let mut members = member_ids(&app, ours).await;
    members.sort();
    assert_eq!(members, expected, "only alpha's customers");

    for path in [
        format!("/segments/{theirs}"),
        format!("/segments/{theirs}/edit"),
        format!("/segments/{theirs}/delete"),
        format!("/segments/{theirs}/members.csv"),
    ] {
        assert_eq!(alpha.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [format!("/segments/{theirs}/recompute"), format!("/segments/{theirs}/delete")] {
        assert_eq!(alpha.post(&path, &[]).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = alpha.post(&format!("/segments/{theirs}/edit"), &[("name", "x"), ("definition", everyone)]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count_all("segments").await, 2, "beta's segment survived");
    assert_eq!(alpha.get(&format!("/customers?segment={theirs}")).await.status(), StatusCode::NOT_FOUND);

    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/segments/{theirs}/members")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = app.api_get(&key, "/api/v1/segments").await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ours.to_string()]);
    let (_, page) = alpha.get_text("/segments").await;
    assert!(!page.contains(&theirs.to_string()));
}

#[tokio::test]
async fn metric_conditions_select_the_same_customers_in_one_pass_and_per_customer() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers.clone();
    // Varied months per customer: c0 rising, c1 falling, c2 one old month
    // only, c3 with a NULL load rate in its newest month; the others none.
    let rows: [(usize, i32, i32, Option<&str>); 8] = [
        (0, 0, 900, Some("0.8")),
        (0, 1, 100, Some("0.2")),
        (0, 5, 50, None),
        (1, 0, 50, Some("0.3")),
        (1, 2, 700, Some("0.9")),
        (2, 20, 5000, Some("0.5")),
        (3, 0, 300, None),
        (3, 1, 300, Some("0.6")),
    ];
    for (who, months_ago, days, load) in rows {
        let sql = format!(
            "INSERT INTO customer_metrics (tenant_id, customer_id, month, arrears_days, energy_kwh, load_rate)
             SELECT tenant_id, id, ({THIS_MONTH} - interval '{months_ago} months')::date, {days}, {days}, {}
             FROM customers WHERE id = $1",
            load.unwrap_or("NULL")
        );
        owner_sql(&app, &sql, c[who]).await;
    }
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let everyone = serde_json::json!({"field": "status", "op": "in", "value": ["active", "closed"]});
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let mut seen = Vec::new();
    for (metric, agg, months, op, value) in [
        ("energy_kwh", "sum", 3, "ge", serde_json::json!(800)),
        ("energy_kwh", "sum", 3, "lt", serde_json::json!(400)),
        ("arrears_days", "avg", 6, "gt", serde_json::json!(300)),
        ("arrears_days", "max", 2, "ge", serde_json::json!(300)),
        ("arrears_days", "min", 24, "le", serde_json::json!(100)),
        ("arrears_days", "latest", 3, "ge", serde_json::json!(300)),
        ("load_rate", "latest", 3, "lt", serde_json::json!("0.5")),
        ("load_rate", "latest", 24, "ge", serde_json::json!("0.5")),
    ] {
        let condition = serde_json::json!({"metric": metric, "agg": agg, "months": months, "op": op, "value": value});
        let alone = serde_json::json!({"all": [condition]});
        let narrowed = serde_json::json!({"all": [everyone, condition]});
        let one_pass = gridcrm::segments::db::preview(&mut tx, &alone, today).await.unwrap().unwrap();
        let per_customer = gridcrm::segments::db::preview(&mut tx, &narrowed, today).await.unwrap().unwrap();
        let ids = |p: &(i64, Vec<gridcrm::segments::db::MemberRow>)| {
            let mut v: Vec<Uuid> = p.1.iter().map(|m| m.customer_id).collect();
            v.sort();
            (p.0, v)
        };
        assert_eq!(ids(&one_pass), ids(&per_customer), "{condition}");
        seen.push(one_pass.0);
    }
    // The conditions do tell the customers apart: e.g. c2's one month lies
    // outside every window but 24 months, and c3's newest load rate is NULL,
    // so "latest < 0.5" is c1 alone.
    assert_eq!(seen, [1, 1, 2, 2, 2, 2, 1, 2]);
}
