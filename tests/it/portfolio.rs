//! The account manager's portfolio, visits and bulk assignment of managers:
//! planned visits show on the portfolio, the calendar and the customer
//! timeline; outcomes make follow-up tasks; attention items are the
//! manager's customers' only; bulk assignment previews, applies and audits;
//! the visits API; and no tenant sees another's.

use chrono::{Days, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{Tenant, TestApp, hidden_value, location};
use gridcrm::{db, staff::Role};

fn today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

fn in_days(n: u64) -> String {
    today().checked_add_days(Days::new(n)).unwrap().to_string()
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

/// Gives `customers` of `tenant` the manager `manager` (or none).
async fn set_manager(app: &TestApp, customers: &[Uuid], manager: Option<Uuid>) {
    sqlx::query("UPDATE customers SET account_manager_id = $2 WHERE id = ANY($1)")
        .bind(customers)
        .bind(manager)
        .execute(&mut owner(app).await)
        .await
        .unwrap();
}

async fn managers_of(app: &TestApp, customers: &[Uuid]) -> Vec<Option<Uuid>> {
    sqlx::query_scalar("SELECT account_manager_id FROM customers WHERE id = ANY($1) ORDER BY array_position($1, id)")
        .bind(customers)
        .fetch_all(&mut owner(app).await)
        .await
        .unwrap()
}

async fn timeline_kinds(app: &TestApp, customer: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT kind FROM customer_timeline WHERE customer_id = $1 AND kind LIKE 'visit%' ORDER BY at, id",
    )
    .bind(customer)
    .fetch_all(&mut owner(app).await)
    .await
    .unwrap()
}

async fn visit_ids(app: &TestApp, customer: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM visits WHERE customer_id = $1 ORDER BY created_at, id")
        .bind(customer)
        .fetch_all(&mut owner(app).await)
        .await
        .unwrap()
}

/// A second account manager in `tenant`.
async fn another_manager(app: &TestApp, tenant: &Tenant, username: &str) -> Uuid {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let new = gridcrm::staff::db::NewUser {
        tenant_id: tenant.id,
        username,
        display_name: username,
        team: "",
        role: Role::AccountManager,
        password: crate::support::PASSWORD,
        locale: None,
    };
    let id = gridcrm::staff::db::create_user(&mut tx, new).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn a_planned_visit_shows_everywhere_and_its_outcome_makes_follow_up_tasks() {
    let app = TestApp::spawn().await;
    let me = app.alpha.user_id("manager");
    let customer = app.alpha.customers[0];
    set_manager(&app, &[customer], Some(me)).await;
    let manager = app.login(&app.alpha, "manager").await;

    let planned_on = in_days(3);
    let r = manager
        .post(
            "/accounts/visits",
            &[("customer_id", &customer.to_string()), ("planned_on", &planned_on), ("purpose", "检查配电房")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with(&format!("/customers/{customer}")));
    let visit = visit_ids(&app, customer).await[0];

    let (_, portfolio) = manager.get_text("/accounts/portfolio").await;
    assert!(
        portfolio.contains("检查配电房") && portfolio.contains(&format!("/accounts/visits/{visit}")),
        "{portfolio}"
    );
    assert!(portfolio.contains("待走访</a>: <strong>1</strong>"), "counted as a visit due: {portfolio}");
    let (_, home) = manager.get_text("/home").await;
    assert!(home.contains("待走访</a>: <strong>1</strong>"), "the home shows the counts: {home}");
    let (status, calendar) = manager.get_text(&format!("/accounts/visits?month={}", &planned_on[..7])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(calendar.contains(&format!("/accounts/visits/{visit}")) && calendar.contains("已计划"), "{calendar}");
    let (_, page) = manager.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("计划走访") && page.contains("检查配电房"), "timeline and visits section: {page}");
    assert_eq!(timeline_kinds(&app, customer).await, ["visit_planned"]);

    // The outcome, with one follow-up for me and a blank row.
    let (_, visit_page) = manager.get_text(&format!("/accounts/visits/{visit}")).await;
    let version = hidden_value(&visit_page, "version").unwrap();
    let follow_due = in_days(5);
    let me_text = me.to_string();
    let done_on = today().to_string();
    let outcome: [(&str, &str); 9] = [
        ("version", version.as_str()),
        ("done_on", &done_on),
        ("outcome", "客户计划明年扩容"),
        ("follow_task", "寄送扩容方案"),
        ("follow_due", &follow_due),
        ("follow_assignee", &me_text),
        ("follow_task", ""),
        ("follow_due", ""),
        ("follow_assignee", &me_text),
    ];
    let r = manager.post(&format!("/accounts/visits/{visit}/outcome"), &outcome).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = manager.post(&format!("/accounts/visits/{visit}/outcome"), &outcome).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "a second outcome on the old version is refused");
    let (_, portfolio) = manager.get_text("/accounts/portfolio").await;
    assert!(
        portfolio.contains("寄送扩容方案") && portfolio.contains("我的跟进事项</a>: <strong>1</strong>"),
        "{portfolio}"
    );
    assert!(portfolio.contains("待走访</a>: <strong>0</strong>"), "done visits are not due: {portfolio}");
    assert_eq!(timeline_kinds(&app, customer).await, ["visit_planned", "visit_done"]);

    // Ticking the task off takes it off the portfolio.
    let follow_up: Uuid = sqlx::query_scalar("SELECT id FROM visit_follow_ups WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let r = manager.post(&format!("/accounts/follow-ups/{follow_up}/done"), &[("back", "portfolio")]).await;
    assert_eq!(location(&r), "/accounts/portfolio");
    let (_, portfolio) = manager.get_text("/accounts/portfolio").await;
    assert!(portfolio.contains("我的跟进事项</a>: <strong>0</strong>"), "{portfolio}");

    // Cancelling asks first, then is recorded.
    manager
        .post(
            "/accounts/visits",
            &[("customer_id", &customer.to_string()), ("planned_on", &in_days(10)), ("purpose", "回访")],
        )
        .await;
    let second = visit_ids(&app, customer).await[1];
    let (status, confirm) = manager.get_text(&format!("/accounts/visits/{second}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
    let r = manager
        .post(&format!("/accounts/visits/{second}/cancel"), &[("version", &hidden_value(&confirm, "version").unwrap())])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        timeline_kinds(&app, customer).await,
        ["visit_planned", "visit_done", "visit_planned", "visit_cancelled"]
    );
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity IN ('visit', 'visit_follow_up') ORDER BY at, id")
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!(audited, ["create", "record_outcome", "done", "create", "cancel"]);
}

#[tokio::test]
async fn bad_visit_input_is_refused_naming_each_field() {
    let app = TestApp::spawn().await;
    let manager = app.login(&app.alpha, "manager").await;
    let customer = app.alpha.customers[0].to_string();
    let r = manager
        .post("/accounts/visits", &[("customer_id", &customer), ("planned_on", "下周二"), ("purpose", " ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"planned_on-error\"") && page.contains("id=\"purpose-error\""), "{page}");
    assert!(!page.contains("id=\"customer_id-error\""), "{page}");
    let theirs = app.beta.customers[0].to_string();
    let r = manager
        .post("/accounts/visits", &[("customer_id", &theirs), ("planned_on", &in_days(1)), ("purpose", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"customer_id-error\""), "{page}");
    assert_eq!(app.count_all("visits").await, 0, "nothing half-written");
}

/// Seeds, for `customer`, an unpaid bill overdue since 10 days, a complaint
/// past its deadline and a tier change yesterday, each marked with `tag`.
async fn seed_attention(app: &TestApp, customer: Uuid, tag: &str) {
    let mut conn = owner(app).await;
    let tenant = app.alpha.id;
    sqlx::query(
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         VALUES ($1, $2, $3, $4, date_trunc('month', now() - interval '1 month')::date, 'res_tiered',
                 current_date - 25, current_date - 10, 100, 88.50)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(format!("BILL-{tag}"))
    .bind(customer)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contacts (tenant_id, id, ref_no, kind, channel, subject, customer_id, description, state,
                               received_at, received_month, due_at)
         VALUES ($1, $2, $3, 'complaint', 'hotline', 'outage', $4, '停电没有通知', 'acknowledged',
                 now() - interval '3 days', date_trunc('month', now())::date, now() - interval '1 hour')",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(format!("TS-{tag}"))
    .bind(customer)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO customer_values (tenant_id, customer_id, tier, computed_tier, score, previous_tier, tier_changed_at,
                                      name, account_no, industry_code)
         SELECT $1, $2, 'vip', 'vip', 90, 'high', now() - interval '1 day', c.name, c.account_no, c.industry_code
         FROM customers c WHERE c.tenant_id = $1 AND c.id = $2",
    )
    .bind(tenant)
    .bind(customer)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_portfolio_puts_the_managed_customers_attention_items_first() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    set_manager(&app, &[mine], Some(app.alpha.user_id("manager"))).await;
    seed_attention(&app, mine, "MINE").await;
    seed_attention(&app, other, "OTHER").await;
    let manager = app.login(&app.alpha, "manager").await;
    let (status, page) = manager.get_text("/accounts/portfolio").await;
    assert_eq!(status, StatusCode::OK);
    for item in ["BILL-MINE", "TS-MINE", "高价值 → VIP"] {
        assert!(page.contains(item), "{item}: {page}");
    }
    assert!(!page.contains("BILL-OTHER") && !page.contains("TS-OTHER"), "another manager's customer: {page}");
    for kind in ["新增欠费", "等级变化", "逾期投诉"] {
        assert!(page.contains(&format!("{kind}</a>: <strong>1</strong>")), "{kind}: {page}");
    }
    // Arrears first, then the tier change, then the complaint.
    let at = |s: &str| page.find(s).unwrap();
    assert!(at("BILL-MINE") < at("高价值 → VIP") && at("高价值 → VIP") < at("TS-MINE"));
    assert!(page.contains("<td>VIP</td>"), "the customer list shows the tier: {page}");

    // A supervisor picks the manager; an admin of another company sees none of it.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (_, page) = supervisor.get_text(&format!("/accounts/portfolio?manager={}", app.alpha.user_id("manager"))).await;
    assert!(page.contains("BILL-MINE"));
    let theirs = app.login(&app.beta, "admin").await;
    let (status, page) =
        theirs.get_text(&format!("/accounts/portfolio?manager={}", app.alpha.user_id("manager"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("BILL-MINE") && !page.contains("TS-MINE"), "{page}");
    // Counter staff have no portfolio.
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/accounts/portfolio").await.status(), StatusCode::FORBIDDEN);
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn managers_are_assigned_in_bulk_from_a_selection_or_a_segment() {
    let app = TestApp::spawn().await;
    let c = &app.alpha.customers;
    let manager = app.alpha.user_id("manager");
    let second = another_manager(&app, &app.alpha, "manager2").await;
    set_manager(&app, &[c[0]], Some(second)).await;
    let admin = app.login(&app.alpha, "admin").await;

    // From a selection: one from another manager, one without.
    let (status, page) = admin.get_text(&format!("/accounts/assign?manager={second}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&c[0].to_string()), "the second manager's customer is listed: {page}");
    let selection =
        [("customer_id", c[0].to_string()), ("customer_id", c[1].to_string()), ("target_manager", manager.to_string())];
    let fields: Vec<(&str, &str)> = selection.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = admin.post("/accounts/assign/preview", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview = r.text().await.unwrap();
    assert!(
        preview.contains("<strong class=\"total\">2</strong>")
            && preview.contains("<strong class=\"changing\">2</strong>")
    );
    assert_eq!(managers_of(&app, &[c[0], c[1]]).await, [Some(second), None], "a preview changes nothing");
    let r = admin.post("/accounts/assign/apply", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("<strong class=\"changed\">2</strong>"));
    assert_eq!(managers_of(&app, &[c[0], c[1]]).await, [Some(manager), Some(manager)]);
    assert_eq!((audit_count(&app, "assign_managers").await, audit_count(&app, "assign_manager").await), (1, 2));
    let versions: Vec<i32> = sqlx::query_scalar("SELECT version FROM customers WHERE id = ANY($1)")
        .bind([c[0], c[1]])
        .fetch_all(&mut owner(&app).await)
        .await
        .unwrap();
    assert!(versions.iter().all(|v| *v == 2), "each changed customer's version is bumped: {versions:?}");

    // From a segment: its members go to the second manager.
    let segment = Uuid::now_v7();
    let mut conn = owner(&app).await;
    sqlx::query(
        "INSERT INTO segments (tenant_id, id, name, definition, created_by) VALUES ($1, $2, '大工业', '{}', 'test')",
    )
    .bind(app.alpha.id)
    .bind(segment)
    .execute(&mut conn)
    .await
    .unwrap();
    for customer in [c[1], c[2], c[3]] {
        sqlx::query("INSERT INTO segment_members (tenant_id, segment_id, customer_id) VALUES ($1, $2, $3)")
            .bind(app.alpha.id)
            .bind(segment)
            .bind(customer)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let fields = [("segment_id", segment.to_string()), ("target_manager", second.to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let preview = admin.post("/accounts/assign/preview", &fields).await.text().await.unwrap();
    assert!(preview.contains("<strong class=\"total\">3</strong>") && preview.contains("大工业"), "{preview}");
    admin.post("/accounts/assign/apply", &fields).await;
    assert_eq!(
        managers_of(&app, &[c[0], c[1], c[2], c[3]]).await,
        [Some(manager), Some(second), Some(second), Some(second)]
    );
    assert_eq!((audit_count(&app, "assign_managers").await, audit_count(&app, "assign_manager").await), (2, 5));

    // A target that is not an active account manager is refused, naming the field.
    let counter = app.alpha.user_id("counter").to_string();
    let r =
        admin.post("/accounts/assign/apply", &[("customer_id", &c[0].to_string()), ("target_manager", &counter)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"target_manager-error\""));
    assert_eq!(managers_of(&app, &[c[0]]).await, [Some(manager)]);
    // Another company's customers are not selectable; supervisors may not assign.
    let theirs = app.beta.customers[0].to_string();
    let preview = admin
        .post("/accounts/assign/preview", &[("customer_id", &theirs), ("target_manager", &manager.to_string())])
        .await
        .text()
        .await
        .unwrap();
    assert!(preview.contains("<strong class=\"total\">0</strong>"), "{preview}");
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor.post("/accounts/assign/preview", &[("segment_id", &segment.to_string())]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_visits_api_plans_and_lists_only_the_callers_own() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let manager = app.alpha.user_id("manager").to_string();
    let client = reqwest::Client::new();
    let post = |body: Value| client.post(app.url("/api/v1/visits")).bearer_auth(&key).json(&body).send();
    let customer = app.alpha.customers[0].to_string();
    for (day, purpose) in [(2, "年度走访"), (4, "电价政策宣传")] {
        let r = post(
            json!({"customer_id": customer, "planned_on": in_days(day), "purpose": purpose, "manager_id": manager}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let visit: Value = r.json().await.unwrap();
        assert_eq!((visit["status"].as_str(), visit["purpose"].as_str()), (Some("planned"), Some(purpose)));
    }
    // Bad input names the fields; a key is no person, so it names the manager.
    let r = post(json!({"customer_id": app.beta.customers[0], "planned_on": "tomorrow"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["customer_id", "planned_on", "purpose", "manager_id"] {
        assert!(fields.contains(&field), "{field}: {problem}");
    }

    let page = app.api_get(&key, "/api/v1/visits?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["purpose"], "年度走访");
    let after = page["next_after"].as_str().unwrap();
    let next = app.api_get(&key, &format!("/api/v1/visits?limit=1&after={after}")).await;
    assert_eq!(next["items"][0]["purpose"], "电价政策宣传");
    assert!(next["next_after"].is_null());
    let filtered = app.api_get(&key, &format!("/api/v1/visits?from={}&status=planned", in_days(3))).await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);

    // Isolation: the other company lists none of them and cannot open one.
    let theirs = app.api_key(&app.beta, Role::TenantAdmin).await;
    let none = app.api_get(&theirs, "/api/v1/visits").await;
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
    let by_customer = app.api_get(&theirs, &format!("/api/v1/visits?customer_id={customer}")).await;
    assert!(by_customer["items"].as_array().unwrap().is_empty());
    let visit = visit_ids(&app, app.alpha.customers[0]).await[0];
    let outsider = app.login(&app.beta, "admin").await;
    assert_eq!(outsider.get(&format!("/accounts/visits/{visit}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(outsider.get(&format!("/accounts/visits/{visit}/cancel")).await.status(), StatusCode::NOT_FOUND);
    let r = outsider.post(&format!("/accounts/visits/{visit}/cancel"), &[("version", "1")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = outsider
        .post(
            &format!("/accounts/visits/{visit}/outcome"),
            &[("version", "1"), ("done_on", &today().to_string()), ("outcome", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        outsider.post(&format!("/accounts/follow-ups/{}/done", Uuid::now_v7()), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, calendar) = outsider.get_text(&format!("/accounts/visits?manager={manager}")).await;
    assert!(!calendar.contains(&visit.to_string()), "{calendar}");
    assert_eq!(visit_ids(&app, app.alpha.customers[0]).await.len(), 2, "nothing of theirs changed");
    let status: String = sqlx::query_scalar("SELECT status FROM visits WHERE id = $1")
        .bind(visit)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(status, "planned");
}
