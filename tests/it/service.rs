//! Contacts and work orders: ownership, handover, state machines in rules and
//! database, return visits, the API, escalation, and tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{TestApp, location};
use gridcrm::{db, staff::Role, workflow};

/// Registers a complaint through the counter's form; returns its id.
pub async fn register_complaint(app: &TestApp, username: &str, customer: Option<Uuid>) -> Uuid {
    let clerk = app.login(&app.alpha, username).await;
    let customer = customer.map(|c| c.to_string()).unwrap_or_default();
    let response = clerk
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hall"),
                ("subject", "billing"),
                ("customer_id", &customer),
                ("caller_name", "王建国"),
                ("caller_phone", "13800000001"),
                ("description", "电费比去年同期高一倍"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let path = location(&response);
    Uuid::parse_str(path.trim_start_matches("/contacts/").split('?').next().unwrap()).unwrap()
}

#[tokio::test]
async fn the_database_holds_the_same_edges_as_the_rules() {
    let app = TestApp::spawn().await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let stored: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT workflow, from_state, action, to_state FROM workflow_edges ORDER BY 1, 2, 3")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let mut rules: Vec<(String, String, String, String)> = workflow::ALL
        .iter()
        .flat_map(|w| w.edges.iter().map(|e| (w.name.into(), e.from.into(), e.action.into(), e.to.into())))
        .collect();
    rules.sort();
    assert_eq!(stored, rules);
}

#[tokio::test]
async fn the_database_refuses_a_state_change_off_the_edges() {
    let app = TestApp::spawn().await;
    let id = register_complaint(&app, "counter", Some(app.alpha.customers[0])).await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let err =
        sqlx::query("UPDATE contacts SET state = 'closed' WHERE id = $1").bind(id).execute(&mut *tx).await.unwrap_err();
    assert_eq!(db::violated_constraint(&err), Some("contacts_state_edge"));
    drop(tx);
    // The edge itself is allowed.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE contacts SET state = 'acknowledged' WHERE id = $1").bind(id).execute(&mut *tx).await.unwrap();
}

#[tokio::test]
async fn the_receiver_owns_a_contact_until_a_formal_handover() {
    let app = TestApp::spawn().await;
    let id = register_complaint(&app, "counter", Some(app.alpha.customers[0])).await;
    let owner = app.login(&app.alpha, "counter").await;
    let colleague = app.login(&app.alpha, "counter2").await;
    let path = format!("/contacts/{id}");
    let (_, page) = owner.get_text(&path).await;
    assert!(page.contains("counter"), "the receiver is the owner");
    assert!(page.contains("clock-ok"), "a fresh complaint's clock is on time: {page}");

    // Someone else may not act on it.
    let refused = colleague.post(&format!("{path}/actions"), &[("action", "acknowledge")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("首问负责制"), "the refusal says why");

    // A handover needs a reason, and keeps the history.
    let counter2 = app.alpha.user_id("counter2").to_string();
    let no_reason = owner.post(&format!("{path}/handover"), &[("to_user", &counter2), ("comment", "")]).await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let handed = owner.post(&format!("{path}/handover"), &[("to_user", &counter2), ("comment", "计量班负责")]).await;
    assert_eq!(handed.status(), StatusCode::SEE_OTHER);
    let ok = colleague.post(&format!("{path}/actions"), &[("action", "acknowledge"), ("comment", "已联系客户")]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let former = owner.post(&format!("{path}/actions"), &[("action", "start")]).await;
    assert_eq!(former.status(), StatusCode::FORBIDDEN, "the former owner no longer acts on it");

    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let detail = app.api_get(&key, &format!("/api/v1/contacts/{id}")).await;
    assert_eq!(detail["owner_name"], "counter2");
    assert_eq!(detail["state"], "acknowledged");
    let actions: Vec<&str> =
        detail["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "handover", "acknowledge"]);
    assert_eq!(detail["history"][1]["comment"], "计量班负责");
    assert_eq!(detail["history"][2]["actor_label"], "counter2");
}

#[tokio::test]
async fn an_illegal_step_is_refused_with_the_page_still_usable() {
    let app = TestApp::spawn().await;
    let id = register_complaint(&app, "counter", None).await;
    let clerk = app.login(&app.alpha, "counter").await;
    let response = clerk.post(&format!("/contacts/{id}/actions"), &[("action", "close")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("当前状态下不能进行这一步"));
    assert!(page.contains("确认受理"), "the legal next step is offered");
}

#[tokio::test]
async fn a_dissatisfied_return_visit_reopens_the_complaint() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[1];
    let id = register_complaint(&app, "counter", Some(customer)).await;
    let clerk = app.login(&app.alpha, "counter").await;
    let path = format!("/contacts/{id}");
    for (action, comment) in [("acknowledge", ""), ("start", ""), ("resolve", "")] {
        let r = clerk.post(&format!("{path}/actions"), &[("action", action), ("comment", comment)]).await;
        if action == "resolve" {
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a resolution must be written");
        }
    }
    let r = clerk.post(&format!("{path}/actions"), &[("action", "resolve"), ("comment", "表计已校验，退补电费")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.get_text(&path).await;
    assert!(page.contains("记录回访"), "a resolved complaint gets a return visit");

    // "Reopen" with a satisfied result is refused.
    let r = clerk.post(&format!("{path}/visit"), &[("satisfaction", "4"), ("reopen", "1")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        clerk.post(&format!("{path}/visit"), &[("satisfaction", "2"), ("remarks", "仍然偏高"), ("reopen", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let c = app.api_get(&key, &format!("/api/v1/contacts/{id}")).await;
    assert_eq!(c["state"], "in_progress");
    assert_eq!(c["satisfaction"], 2);
    assert!(c["resolved_at"].is_null());
    assert_eq!(c["clock"], "resolve", "a reopened complaint's clock runs again");

    // The roll-up the statistics read saw every step.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (received, resolved, visited, satisfied): (i64, i64, i64, i64) =
        sqlx::query_as("SELECT sum(received), sum(resolved), sum(visited), sum(satisfied) FROM contact_monthly_stats")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((received, resolved, visited, satisfied), (1, 0, 1, 0));

    // The customer's timeline has the contact and its steps, newest first.
    let timeline: Vec<(String,)> =
        sqlx::query_as("SELECT status FROM customer_timeline WHERE customer_id = $1 ORDER BY at DESC, id DESC")
            .bind(customer)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(timeline.len(), 3, "{timeline:?}");
    assert_eq!(timeline.into_iter().map(|t| t.0).collect::<Vec<_>>(), ["in_progress", "resolved", "complaint"]);
}

#[tokio::test]
async fn the_call_centre_registers_and_filters_over_the_api() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    let customer = app.alpha.customers[2];
    let body = json!({
        "kind": "inquiry", "channel": "hotline", "subject": "outage", "customer_id": customer,
        "description": "何时恢复供电？", "caller_phone": "13800000003", "owner": "counter"
    });
    let created = client.post(app.url("/api/v1/contacts")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let contact: Value = created.json().await.unwrap();
    assert_eq!(contact["owner_name"], "counter");
    assert_eq!(contact["state"], "received");
    assert!(contact["ref_no"].as_str().unwrap().starts_with('C'));
    assert!(contact["due_at"].is_string(), "the acknowledge clock runs");

    // Without an owner, nobody owns it until someone acknowledges it.
    let anonymous =
        json!({"kind": "complaint", "channel": "hotline", "subject": "service_attitude", "description": "态度差"});
    let unowned: Value = client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&key)
        .json(&anonymous)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(unowned["owner_id"].is_null());

    let bad = json!({"kind": "rant", "channel": "hotline", "subject": "outage", "description": "", "owner": "nobody"});
    let refused = client.post(app.url("/api/v1/contacts")).bearer_auth(&key).json(&bad).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["kind", "description", "owner"]);

    let listed = app.api_get(&key, &format!("/api/v1/contacts?customer={customer}&state=received")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none = app.api_get(&key, &format!("/api/v1/contacts?customer={customer}&state=closed")).await;
    assert!(none["items"].as_array().unwrap().is_empty());

    // The other company sees none of it.
    let beta = app.api_key(&app.beta, Role::Supervisor).await;
    let theirs = app.api_get(&beta, "/api/v1/contacts").await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    let id = contact["id"].as_str().unwrap();
    let direct = client.get(app.url(&format!("/api/v1/contacts/{id}"))).bearer_auth(&beta).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::NOT_FOUND);
    let sneaky = json!({"kind": "inquiry", "channel": "hotline", "subject": "outage", "description": "x", "customer_id": customer});
    let r = client.post(app.url("/api/v1/contacts")).bearer_auth(&beta).json(&sneaky).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "another company's customer is unknown here");
}

/// Moves a contact's clock into the past, as if it had been received `hours` ago.
/// (Subtracted in UTC: Citus refuses `timestamptz - interval`, a stable
/// function, on a column in an UPDATE.)
pub async fn age_contact(app: &TestApp, id: Uuid, hours: i64) {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query(
        "UPDATE contacts SET received_at = (received_at AT TIME ZONE 'UTC' - make_interval(hours => $2::int)) AT TIME ZONE 'UTC',
             clock_started_at = (clock_started_at AT TIME ZONE 'UTC' - make_interval(hours => $2::int)) AT TIME ZONE 'UTC',
             due_at = (due_at AT TIME ZONE 'UTC' - make_interval(hours => $2::int)) AT TIME ZONE 'UTC' WHERE id = $1",
    )
    .bind(id)
    .bind(hours as i32)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_escalation_job_hands_overdue_items_to_the_supervisor_once() {
    let app = TestApp::spawn().await;
    let overdue = register_complaint(&app, "counter", Some(app.alpha.customers[0])).await;
    let fresh = register_complaint(&app, "counter", None).await;
    // Two weeks back: past the acknowledge deadline of one working day, whatever today is.
    age_contact(&app, overdue, 24 * 14).await;

    let report = gridcrm::service::escalation::run(&app.pool, chrono::Utc::now()).await.unwrap();
    assert_eq!((report.contacts, report.work_orders), (1, 0));
    let again = gridcrm::service::escalation::run(&app.pool, chrono::Utc::now()).await.unwrap();
    assert_eq!(again.contacts, 0, "an escalated item is not escalated twice");

    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let c = app.api_get(&key, &format!("/api/v1/contacts/{overdue}")).await;
    assert_eq!(c["escalated_to_name"], "supervisor");
    assert_eq!(c["sla_breached"], true);
    let last = c["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["actor_label"].as_str()), (Some("escalate"), Some("escalation job")));
    let f = app.api_get(&key, &format!("/api/v1/contacts/{fresh}")).await;
    assert!(f["escalated_at"].is_null() && f["sla_breached"] == false);

    // The supervisor sees it red on the page, and the other company's job run touched nothing of theirs.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (_, page) = supervisor.get_text(&format!("/contacts/{overdue}")).await;
    assert!(page.contains("clock-overdue"));
    assert_eq!(app.count_all("service_events WHERE action = 'escalate'").await, 1);
}

#[tokio::test]
async fn the_board_puts_the_most_urgent_first_filters_and_refreshes_in_parts() {
    let app = TestApp::spawn().await;
    let calm = register_complaint(&app, "counter", None).await;
    let late = register_complaint(&app, "counter2", Some(app.alpha.customers[0])).await;
    age_contact(&app, late, 24 * 14).await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (status, page) = supervisor.get_text("/service/board").await;
    assert_eq!(status, StatusCode::OK);
    let (late_at, calm_at) = (page.find(&late.to_string()).unwrap(), page.find(&calm.to_string()).unwrap());
    assert!(late_at < calm_at, "the overdue contact comes first");
    assert!(page.contains("clock-overdue") && page.contains("clock-ok"));
    assert!(page.contains("hx-trigger=\"every 30s\""), "the rows refresh themselves");

    // A filter by owner, as the htmx refresh asks for it: only the rows come back.
    let owner = app.alpha.user_id("counter2");
    let partial = supervisor
        .client
        .get(app.url(&format!("/service/board?owner={owner}")))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html") && partial.contains(&late.to_string()) && !partial.contains(&calm.to_string()));
    let none = supervisor.get_text("/service/board?kind=praise").await.1;
    assert!(!none.contains(&late.to_string()) && none.contains("没有符合条件"));

    let (status, _) = app.login(&app.alpha, "counter").await.get_text("/service/board").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the board is for supervisors");
    let theirs = app.login(&app.beta, "supervisor").await.get_text("/service/board").await.1;
    assert!(!theirs.contains(&late.to_string()), "another company's board is its own");
}
