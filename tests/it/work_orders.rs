//! Work orders: a repair from report to restoration with its notices, the
//! green channel on the board and supervision, an expansion stage by stage to
//! power-on (which writes the new capacity), escalation, and tenant isolation.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, location};
use gridcrm::{db, staff::Role};

async fn sql(app: &TestApp, tenant: Uuid, statement: &str, id: Uuid) {
    let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query(statement).bind(id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// The notices of a customer's timeline, oldest first.
async fn notices(app: &TestApp, customer: Uuid) -> Vec<String> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar(
        "SELECT notice FROM customer_timeline WHERE customer_id = $1 AND notice IS NOT NULL ORDER BY at, id",
    )
    .bind(customer)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

fn order_id(response: &reqwest::Response) -> Uuid {
    let path = location(response);
    Uuid::parse_str(path.trim_start_matches("/work-orders/").split('?').next().unwrap()).unwrap()
}

#[tokio::test]
async fn a_repair_runs_from_report_to_restoration_and_tells_the_affected_customers() {
    let app = TestApp::spawn().await;
    let [reporter, neighbour, other_street, _] = app.alpha.customers[..] else { panic!("four customers") };
    // The neighbour is on the faulty route; the other customer is not.
    sql(
        &app,
        app.alpha.id,
        "UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001') WHERE id = $1",
        neighbour,
    )
    .await;
    let clerk = app.login(&app.alpha, "counter").await;

    // A form without what a repair needs names every field.
    let customer = reporter.to_string();
    let bad = clerk.post("/work-orders", &[("kind", "repair"), ("customer_id", &customer), ("title", "")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(page.contains("id=\"title-error\"") && page.contains("id=\"address-error\""), "{page}");

    let created = clerk
        .post(
            "/work-orders",
            &[
                ("kind", "repair"),
                ("customer_id", &customer),
                ("title", "整栋楼停电"),
                ("address", "上城区解放路1号"),
                ("area_type", "urban"),
                ("affected_route", "R0001"),
                ("priority", "1"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let id = order_id(&created);
    let path = format!("/work-orders/{id}");
    let (_, page) = clerk.get_text(&path).await;
    assert!(page.contains("W00000001") && page.contains("clock-ok"), "{page}");
    assert!(page.contains("到达现场"), "the arrival clock runs: {page}");

    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    let opened = chrono::DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(order["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due - opened, chrono::Duration::minutes(45), "urban arrival: 45 minutes round the clock");
    assert_eq!(order["actions"], json!(["dispatch", "cancel"]));

    // Dispatch needs the crew; restoration needs what was done.
    let no_crew = clerk.post(&format!("{path}/actions"), &[("action", "dispatch")]).await;
    assert_eq!(no_crew.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_crew.text().await.unwrap().contains("id=\"crew-error\""));
    for step in [vec![("action", "dispatch"), ("crew", "抢修一班")], vec![("action", "arrive")]] {
        let r = clerk.post(&format!("{path}/actions"), &step).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{step:?}");
    }
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert_eq!((order["state"].as_str(), order["crew"].as_str()), (Some("on_site"), Some("抢修一班")));
    assert!(order["arrived_at"].is_string() && order["due_at"].is_null(), "arrival stops the clock: {order}");
    let silent = clerk.post(&format!("{path}/actions"), &[("action", "restore")]).await;
    assert_eq!(silent.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let restored = clerk.post(&format!("{path}/actions"), &[("action", "restore"), ("comment", "更换熔断器")]).await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert!(order["restored_at"].is_string() && order["completed_at"].is_string());

    // The reporter and the neighbour on the route hear each step; the other street hears nothing.
    let expected = ["fault_reported", "repair_progress", "repair_progress", "power_restored"];
    assert_eq!(notices(&app, reporter).await, expected);
    assert_eq!(notices(&app, neighbour).await, expected);
    assert!(notices(&app, other_street).await.is_empty());
    let (_, customer_page) = clerk.get_text(&format!("/customers/{reporter}")).await;
    assert!(customer_page.contains("恢复供电") && customer_page.contains("W00000001"), "{customer_page}");

    // Finished: off the open lists, and the step history is complete.
    let board = app.login(&app.alpha, "supervisor").await;
    let (_, rows) = board.get_text("/service/board").await;
    assert!(!rows.contains("W00000001"), "a restored order is off the board");
    let (_, page) = clerk.get_text(&path).await;
    assert!(page.contains("抢修一班") && page.contains("更换熔断器"));
}

#[tokio::test]
async fn green_channel_orders_come_first_and_are_supervised() {
    let app = TestApp::spawn().await;
    let [plain, vip, important, _] = app.alpha.customers[..] else { panic!("four customers") };
    sql(
        &app,
        app.alpha.id,
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code) VALUES (app_tenant_id(), $1, 'vip')",
        vip,
    )
    .await;
    sql(&app, app.alpha.id, "UPDATE customers SET importance = 'special' WHERE id = $1", important).await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = Client::new();
    let mut ids = Vec::new();
    for (customer, priority, title) in
        [(plain, 1, "普通客户紧急"), (vip, 4, "VIP客户低优先"), (important, 3, "重要客户")]
    {
        let body = json!({ "kind": "meter_check", "customer_id": customer, "priority": priority, "title": title, "owner": "counter" });
        let r = client.post(app.url("/api/v1/work-orders")).bearer_auth(&key).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let order: Value = r.json().await.unwrap();
        assert_eq!(order["owner_name"], "counter");
        ids.push((order["id"].as_str().unwrap().to_owned(), order["green_channel"].as_bool().unwrap()));
    }
    assert_eq!(ids.iter().map(|i| i.1).collect::<Vec<_>>(), [false, true, true]);

    // On the board the green channel comes before priority: VIP (priority 4) before plain (priority 1).
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (status, board) = supervisor.get_text("/service/board?kind=meter_check").await;
    assert_eq!(status, StatusCode::OK);
    let at = |t: &str| board.find(t).unwrap_or_else(|| panic!("{t} on the board"));
    assert!(at("重要客户") < at("普通客户紧急") && at("VIP客户低优先") < at("普通客户紧急"), "{board}");
    assert!(!board.contains("board-contacts"), "a work-order kind filters contacts out");

    // Supervision (督办) is visible on the order and in its history; counter staff cannot supervise.
    let vip_order = &ids[1].0;
    let clerk = app.login(&app.alpha, "counter").await;
    let refused = clerk.post(&format!("/work-orders/{vip_order}/supervise"), &[("note", "x")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let empty = supervisor.post(&format!("/work-orders/{vip_order}/supervise"), &[("note", " ")]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = supervisor.post(&format!("/work-orders/{vip_order}/supervise"), &[("note", "今天下班前完成校验")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.get_text(&format!("/work-orders/{vip_order}")).await;
    assert!(page.contains("督办意见") && page.contains("今天下班前完成校验"), "{page}");
    let (_, board) = supervisor.get_text("/service/board?tab=orders").await;
    assert!(board.contains("督办意见"), "the board marks supervised orders");

    // The API lists them, filtered.
    let list = app.api_get(&key, "/api/v1/work-orders?kind=meter_check&limit=2").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["next_before"].is_string());
    let bad = client.get(app.url("/api/v1/work-orders?kind=weather&state=x")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_expansion_goes_stage_by_stage_and_power_on_writes_the_capacity() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let client = Client::new();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let point: Uuid = sqlx::query_scalar("SELECT id FROM supply_points WHERE customer_id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    let body = json!({ "kind": "expansion", "customer_id": customer, "title": "增容至 16 kVA",
                       "customer_type": "residential", "requested_capacity_kva": "16" });
    let r = client.post(app.url("/api/v1/work-orders")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["state"], "accepted");
    assert_eq!(order["clock"], "accepted");
    let step = |body: Value| {
        let (client, key, url) =
            (client.clone(), key.clone(), app.url(&format!("/api/v1/work-orders/{id}/transitions")));
        async move { client.post(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };

    // No skipping stages, in the rules and in the database.
    let skip = step(json!({ "action": "power_on", "supply_point_id": point })).await;
    assert_eq!(skip.status(), StatusCode::CONFLICT);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let err = sqlx::query("UPDATE work_orders SET state = 'powered_on' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    if app.on_citus {
        // Raised on a worker: Citus passes on the message, not the
        // constraint (and the trigger there names the shard's table).
        assert!(err.to_string().contains("cannot go from accepted to powered_on"), "{err}");
    } else {
        assert_eq!(db::violated_constraint(&err), Some("work_orders_state_edge"));
    }
    drop(tx);

    // The review needs the household's documents.
    let incomplete = step(json!({ "action": "review", "documents": ["application_form"] })).await;
    assert_eq!(incomplete.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(incomplete.text().await.unwrap().contains("documents"));
    let steps = [
        json!({ "action": "review", "documents": ["application_form", "identity", "property_proof"] }),
        json!({ "action": "draft_plan", "supply_plan": "220V 单相接入，表箱改造" }),
        json!({ "action": "agree_plan", "confirmed_by": "王建国" }),
        json!({ "action": "complete_construction" }),
        json!({ "action": "pass_inspection" }),
        json!({ "action": "install_meter" }),
        json!({ "action": "power_on", "supply_point_id": point }),
    ];
    for body in steps {
        let r = step(body.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "{body}: {}", r.text().await.unwrap());
    }
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert_eq!(order["state"], "powered_on");
    assert_eq!(order["documents"], json!(["application_form", "identity", "property_proof"]));
    assert_eq!(order["plan_confirmed_by"], "王建国");
    assert!(order["completed_at"].is_string() && order["due_at"].is_null());
    let power_on = order["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(power_on["action"], "power_on");

    // The new capacity is on the supply point, and every stage's time is in the statistics.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let capacity: String = sqlx::query_scalar("SELECT capacity_kva::text FROM supply_points WHERE id = $1")
        .bind(point)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(capacity, "16.00");
    let stages: Vec<(String, i32)> = sqlx::query_as(
        "SELECT stage, finished FROM expansion_stage_stats WHERE customer_type = 'residential' ORDER BY stage",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(stages.len(), 7, "{stages:?}");
    assert!(stages.iter().all(|(_, n)| *n == 1));
    let completed: i32 = sqlx::query_scalar("SELECT completed FROM work_order_monthly_stats WHERE kind = 'expansion'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(completed, 1);
    drop(tx);
    let told = notices(&app, customer).await;
    assert_eq!(told.len(), 8, "opening and each of the 7 stages: {told:?}");
    assert!(told.iter().all(|n| n == "expansion_stage_changed"));
}

#[tokio::test]
async fn an_overdue_repair_is_escalated_once() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body = json!({ "kind": "repair", "title": "线路断线", "address": "东郊 10kV 线", "area_type": "remote" });
    let r = Client::new().post(app.url("/api/v1/work-orders")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    assert!(order["owner_id"].is_null(), "an API key without `owner` leaves the order unassigned");
    let id = Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    sql(&app, app.alpha.id, "UPDATE work_orders SET due_at = now() - interval '5 minutes' WHERE id = $1", id).await;
    let report = gridcrm::service::escalation::run(&app.pool, chrono::Utc::now()).await.unwrap();
    assert_eq!((report.contacts, report.work_orders), (0, 1));
    let again = gridcrm::service::escalation::run(&app.pool, chrono::Utc::now()).await.unwrap();
    assert_eq!(again.work_orders, 0);
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert_eq!(order["sla_breached"], true);
    assert_eq!(order["history"].as_array().unwrap().last().unwrap()["action"], "escalate");
    // The first person who acts on an unassigned order takes it.
    let clerk = app.login(&app.alpha, "counter2").await;
    let r = clerk.post(&format!("/work-orders/{id}/actions"), &[("action", "dispatch"), ("crew", "东郊班")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert_eq!(order["owner_name"], "counter2");
}

#[tokio::test]
async fn another_tenant_sees_and_touches_none_of_the_orders() {
    let app = TestApp::spawn().await;
    let alpha = app.api_key(&app.alpha, Role::Supervisor).await;
    let beta = app.api_key(&app.beta, Role::Supervisor).await;
    let client = Client::new();
    let body = json!({ "kind": "meter_check", "customer_id": app.alpha.customers[0], "title": "表计校验" });
    let r = client.post(app.url("/api/v1/work-orders")).bearer_auth(&alpha).json(&body).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let r = client.get(app.url(&format!("/api/v1/work-orders/{id}"))).bearer_auth(&beta).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = app.api_get(&beta, "/api/v1/work-orders").await;
    assert_eq!(list["items"], json!([]));
    let r = client
        .post(app.url(&format!("/api/v1/work-orders/{id}/transitions")))
        .bearer_auth(&beta)
        .json(&json!({ "action": "start" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Naming alpha's customer from beta is an unknown customer, not a leak.
    let r = client.post(app.url("/api/v1/work-orders")).bearer_auth(&beta).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert!(problem.to_string().contains("customer_id"), "{problem}");
    let beta_supervisor = app.login(&app.beta, "supervisor").await;
    let (_, board) = beta_supervisor.get_text("/service/board").await;
    assert!(!board.contains("W00000001"));
    let (status, _) = beta_supervisor.get_text(&format!("/work-orders/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
