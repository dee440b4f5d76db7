//! Planned outages: who is told (routes, transformers, areas; active
//! customers only; priority customers earlier and their managers with a
//! phone task), a change announcing itself again, a cancellation telling
//! only those already told, named validation errors on the page and the API,
//! and isolation between tenants.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{TestApp, draft, location};
use gridcrm::{audit::Actor, customers::service, db, staff::Role};

struct Setup {
    /// On R0001: a first-grade customer with a manager, an outage-sensitive
    /// one without, and an ordinary one.
    important: Uuid,
    sensitive: Uuid,
    ordinary: Uuid,
    /// On R0001 but closed.
    closed: Uuid,
    /// On R0002.
    elsewhere: Uuid,
}

async fn setup(app: &TestApp) -> Setup {
    let a = &app.alpha;
    let mut tx = db::begin_tenant(&app.pool, a.id, None).await.unwrap();
    let ordinary =
        service::create(&mut tx, &Actor::command_line("test"), &draft("赵六", "13800000005")).await.unwrap().id;
    sqlx::query("INSERT INTO reading_routes (tenant_id, id, code, name) VALUES (app_tenant_id(), $1, 'R0002', '二号')")
        .bind(Uuid::now_v7())
        .execute(&mut *tx)
        .await
        .unwrap();
    let [important, sensitive, closed, elsewhere] = [a.customers[0], a.customers[1], a.customers[2], a.customers[3]];
    sqlx::query(
        "UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001')
         WHERE id = ANY($1)",
    )
    .bind(vec![important, sensitive, closed, ordinary])
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0002') WHERE id = $1")
        .bind(elsewhere)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE customers SET importance = 'first', account_manager_id = $2 WHERE id = $1")
        .bind(important)
        .bind(a.user_id("manager"))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code) VALUES (app_tenant_id(), $1, 'outage_sensitive')",
    )
    .bind(sensitive)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET status = 'closed' WHERE id = $1").bind(closed).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    // Tenant B's customers are on its own R0001.
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    sqlx::query("UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Setup { important, sensitive, ordinary, closed, elsewhere }
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct NoticeRow {
    customer_id: Uuid,
    channel: String,
    event_ref: String,
    status: String,
    next_attempt_at: DateTime<Utc>,
    data: Value,
    tenant_id: Uuid,
}

async fn notices(app: &TestApp) -> Vec<NoticeRow> {
    sqlx::query_as(
        "SELECT customer_id, channel, event_ref, status, next_attempt_at, data, tenant_id FROM notices
         WHERE kind = 'planned_outage' ORDER BY created_at, channel",
    )
    .fetch_all(&mut owner(app).await)
    .await
    .unwrap()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

async fn post(app: &TestApp, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = Client::new().post(app.url(path)).bearer_auth(key).json(body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn patch(app: &TestApp, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = Client::new().patch(app.url(path)).bearer_auth(key).json(body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| format!("{}:{}", e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_route_outage_tells_exactly_the_active_customers_on_it_priority_ones_earlier() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let start = (Utc::now() + Duration::days(20)).with_timezone(&Utc);
    let start = start - Duration::nanoseconds(i64::from(start.timestamp_subsec_nanos()));
    let body = json!({"reason": "线路检修", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(8)),
                      "routes": ["R0001"]});
    let (status, saved) = post(&app, &key, "/api/v1/outages", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["announced"]["affected"], 3);
    assert_eq!(saved["announced"]["priority"], 2);
    assert_eq!(saved["announced"]["notices"], 4);
    assert_eq!(saved["outage"]["routes"], json!(["R0001"]));
    assert!(saved["outage"]["ref_no"].as_str().unwrap().starts_with('O'));
    let id = saved["outage"]["id"].as_str().unwrap().to_owned();

    let all = notices(&app).await;
    assert!(all.iter().all(|n| n.tenant_id == app.alpha.id), "no notices for tenant B");
    let told: Vec<Uuid> = all.iter().filter(|n| n.channel != "phone").map(|n| n.customer_id).collect();
    assert_eq!(told.len(), 3);
    for c in [s.important, s.sensitive, s.ordinary] {
        assert!(told.contains(&c));
    }
    assert!(!told.contains(&s.closed) && !told.contains(&s.elsewhere));
    let at = |c: Uuid| all.iter().find(|n| n.customer_id == c && n.channel != "phone").unwrap().next_attempt_at;
    assert_eq!(at(s.ordinary), start - Duration::days(7));
    assert_eq!(at(s.important), start - Duration::days(10));
    assert_eq!(at(s.sensitive), start - Duration::days(10));
    let phone: Vec<&NoticeRow> = all.iter().filter(|n| n.channel == "phone").collect();
    assert_eq!(phone.len(), 1, "a phone task only for the priority customer with a manager");
    assert_eq!(phone[0].customer_id, s.important);
    assert_eq!(phone[0].next_attempt_at, start - Duration::days(10));
    let n = &all[0];
    assert_eq!(n.event_ref, format!("outage:{id}:1"));
    assert_eq!(n.data["outage_reason"], "线路检修");
    assert_eq!(n.data["outage_change"], "");
    assert_eq!(
        n.data["outage_start"],
        start.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    );

    // The tenant's own lead times count.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE notice_settings SET outage_lead_days = 3, outage_priority_days = 5")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let body = json!({"reason": "更换开关", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(2)),
                      "routes": ["R0002"]});
    let (status, _) = post(&app, &key, "/api/v1/outages", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let all = notices(&app).await;
    let n = all.iter().find(|n| n.customer_id == s.elsewhere).unwrap();
    assert_eq!(n.next_attempt_at, start - Duration::days(3));

    // The API shows the outage with its notices by status and channel.
    let got = app.api_get(&key, &format!("/api/v1/outages/{id}")).await;
    assert_eq!(got["outage"]["affected"], 3);
    let queued: i64 = got["notices"].as_array().unwrap().iter().map(|c| c["count"].as_i64().unwrap()).sum();
    assert_eq!(queued, 4);
}

#[tokio::test]
async fn transformer_and_area_outages_reach_supply_points_in_service_and_address_prefixes() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE supply_points SET transformer = 'T-9' WHERE customer_id = ANY($1)")
        .bind(vec![s.elsewhere, s.closed, s.sensitive])
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE supply_points SET status = 'removed' WHERE customer_id = $1")
        .bind(s.sensitive)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE customers SET address = '西湖区文三路5号' WHERE id = $1")
        .bind(s.ordinary)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let start = Utc::now() + Duration::days(3);
    let (status, saved) = post(
        &app,
        &key,
        "/api/v1/outages",
        &json!({"reason": "变压器检修",
        "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(4)), "transformers": ["T-9"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["announced"]["affected"], 1, "only the active customer with the point in service");
    let all = notices(&app).await;
    assert_eq!(all.iter().map(|n| n.customer_id).collect::<Vec<_>>(), [s.elsewhere]);
    // Start 3 days ahead: the 7-day lead has passed, so at once.
    assert!(all[0].next_attempt_at <= Utc::now());

    let (status, saved) = post(
        &app,
        &key,
        "/api/v1/outages",
        &json!({"reason": "电缆迁改",
        "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(4)), "areas": ["西湖区", "不存在区"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["announced"]["affected"], 1);
    let all = notices(&app).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].customer_id, s.ordinary);
}

#[tokio::test]
async fn a_change_announces_again_and_a_cancellation_tells_only_those_told() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let start = Utc::now() + Duration::days(20);
    let body = json!({"reason": "线路检修", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(8)),
                      "routes": ["R0001"]});
    let (_, saved) = post(&app, &key, "/api/v1/outages", &body).await;
    let id = saved["outage"]["id"].as_str().unwrap().to_owned();
    // The important customer's SMS has gone out already.
    let mut conn = owner(&app).await;
    sqlx::query("UPDATE notices SET status = 'sent', sent_at = now() WHERE customer_id = $1 AND channel = 'sms'")
        .bind(s.important)
        .execute(&mut conn)
        .await
        .unwrap();

    // The same body again changes nothing.
    let (status, same) = patch(&app, &key, &format!("/api/v1/outages/{id}"), &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["announced"], Value::Null);
    assert_eq!(same["outage"]["version"], 1);

    // A later end.
    let changed = json!({"reason": "线路检修", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(10)),
                         "routes": ["R0001"]});
    let (status, saved) = patch(&app, &key, &format!("/api/v1/outages/{id}"), &changed).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["outage"]["version"], 2);
    assert_eq!(saved["announced"]["cancelled"], 3, "the three still queued of version 1");
    let all = notices(&app).await;
    let v1: Vec<&NoticeRow> = all.iter().filter(|n| n.event_ref == format!("outage:{id}:1")).collect();
    let v2: Vec<&NoticeRow> = all.iter().filter(|n| n.event_ref == format!("outage:{id}:2")).collect();
    assert_eq!(v1.iter().filter(|n| n.status == "cancelled").count(), 3);
    assert_eq!(v1.iter().filter(|n| n.status == "sent").count(), 1);
    assert_eq!(v2.len(), 4);
    assert!(v2.iter().all(|n| n.status == "queued" && n.data["outage_change"] == "（变更）"));

    // Version 2's SMS to the important customer goes out; then the outage is cancelled.
    sqlx::query(
        "UPDATE notices SET status = 'delivered' WHERE customer_id = $1 AND channel = 'sms' AND event_ref = $2",
    )
    .bind(s.important)
    .bind(format!("outage:{id}:2"))
    .execute(&mut conn)
    .await
    .unwrap();
    let (status, saved) = post(&app, &key, &format!("/api/v1/outages/{id}/cancel"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["outage"]["status"], "cancelled");
    assert_eq!(saved["announced"]["notices"], 1, "only the customer already told");
    let all = notices(&app).await;
    let told: Vec<&NoticeRow> = all.iter().filter(|n| n.event_ref == format!("outage:{id}:cancelled")).collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].customer_id, s.important);
    assert_eq!(told[0].data["outage_change"], "（已取消）");
    assert_eq!(
        all.iter().filter(|n| n.status == "queued" && n.event_ref != format!("outage:{id}:cancelled")).count(),
        0,
        "nothing of the outage is still queued"
    );
    // A cancelled outage cannot be changed or cancelled again.
    let (status, _) = patch(&app, &key, &format!("/api/v1/outages/{id}"), &changed).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = post(&app, &key, &format!("/api/v1/outages/{id}/cancel"), &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Each step is audited.
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'outage' AND entity_id = $1::uuid")
            .bind(&id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(audited, 3);
}

#[tokio::test]
async fn bad_input_names_the_field_on_the_api_and_the_page() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let start = Utc::now() + Duration::days(5);
    let cases = [
        (
            json!({"reason": "x", "starts_at": rfc(start), "ends_at": rfc(start - Duration::hours(1)), "routes": ["R0001"]}),
            "ends_at:outage_end_before_start",
        ),
        (
            json!({"reason": "x", "starts_at": rfc(Utc::now() - Duration::hours(1)), "ends_at": rfc(start), "routes": ["R0001"]}),
            "starts_at:outage_start_past",
        ),
        (
            json!({"reason": "x", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(1))}),
            "routes:outage_nothing_selected",
        ),
        (
            json!({"reason": "x", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(1)), "routes": ["R9999"]}),
            "routes:unknown_route",
        ),
        (
            json!({"reason": " ", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(1)), "areas": ["上城区"]}),
            "reason:required",
        ),
    ];
    for (body, expected) in cases {
        let (status, problem) = post(&app, &key, "/api/v1/outages", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&problem), [expected], "{body}");
    }
    let (status, problem) =
        post(&app, &key, "/api/v1/outages", &json!({"reason": "x", "starts_at": "soon", "routes": ["R0001"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fields(&problem)[0].starts_with("starts_at:"), "{problem}");
    assert_eq!(app.count_all("outages").await, 0, "nothing half-written");

    let admin = app.login(&app.alpha, "admin").await;
    let r = admin
        .post(
            "/outages",
            &[
                ("reason", "检修"),
                ("starts_at", "2020-01-01T08:00"),
                ("ends_at", "2020-01-01T07:00"),
                ("transformer_lines", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    for field in ["starts_at", "ends_at", "routes"] {
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field} named");
    }
    let r = admin
        .post(
            "/outages",
            &[
                ("reason", "检修"),
                ("starts_at", "2099-01-01T08:00"),
                ("ends_at", "2099-01-01T12:00"),
                ("routes", "R0001"),
                ("routes", "R0404"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"routes-error\""));
    assert_eq!(app.count_all("outages").await, 0);

    // A good form: planned, with its page, list and edit form.
    let r = admin
        .post(
            "/outages",
            &[
                ("reason", "检修"),
                ("starts_at", "2099-01-01T08:00"),
                ("ends_at", "2099-01-01T12:00"),
                ("routes", "R0001"),
                ("transformer_lines", "T-1\r\nT-2\r\n"),
                ("area_lines", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let (status, page) = admin.get_text(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("T-1, T-2") && page.contains("2099年01月01日 08:00"), "{page}");
    let (_, list) = admin.get_text("/outages").await;
    assert!(list.contains("检修"));
    let id = to.trim_start_matches("/outages/").split('?').next().unwrap().to_owned();
    let (status, edit) = admin.get_text(&format!("/outages/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(edit.contains("value=\"2099-01-01T08:00\"") && edit.contains("value=\"R0001\" checked"));
    let r = admin.post(&format!("/outages/{id}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Counter staff do not plan outages.
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/outages").await.status(), StatusCode::FORBIDDEN);
    let (empty_status, _) = app.login(&app.beta, "supervisor").await.get_text("/outages").await;
    assert_eq!(empty_status, StatusCode::OK);
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_change_an_outage() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let start = Utc::now() + Duration::days(5);
    let body = json!({"reason": "检修", "starts_at": rfc(start), "ends_at": rfc(start + Duration::hours(1)),
                      "routes": ["R0001"]});
    let (_, saved) = post(&app, &key, "/api/v1/outages", &body).await;
    let id = saved["outage"]["id"].as_str().unwrap().to_owned();

    let beta_key = app.api_key(&app.beta, Role::TenantAdmin).await;
    let r = Client::new().get(app.url(&format!("/api/v1/outages/{id}"))).bearer_auth(&beta_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = patch(&app, &beta_key, &format!("/api/v1/outages/{id}"), &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, &beta_key, &format!("/api/v1/outages/{id}/cancel"), &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let beta = app.login(&app.beta, "admin").await;
    for path in [format!("/outages/{id}"), format!("/outages/{id}/edit")] {
        assert_eq!(beta.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(beta.post(&format!("/outages/{id}/cancel"), &[]).await.status(), StatusCode::NOT_FOUND);
    let (_, list) = beta.get_text("/outages").await;
    assert!(!list.contains(saved["outage"]["ref_no"].as_str().unwrap()));
    // Beta's customers on its own R0001 were never told.
    let beta_notices: i64 = sqlx::query_scalar("SELECT count(*) FROM notices WHERE tenant_id = $1")
        .bind(app.beta.id)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(beta_notices, 0);
    let status: String = sqlx::query_scalar("SELECT status FROM outages WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(status, "scheduled");
}
