//! Demand response end to end: an event over the API inviting by account
//! and route, the request notice events, answers over the API and on the
//! page (account managers for their own customers only), interval data in
//! load_days for five similar days and the event day, settlement (the
//! hand-computed baseline of the unit tests, once more through the
//! database), the reward credited once and turned into a line of the next
//! bill by a real bill run (and carried by a re-issue), the result notice,
//! the CSV, and isolation between tenants on every route and page.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    billing::{reading, wait_for_run},
    support::{TestApp, location},
};
use gridcrm::{db, staff::Role};

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

async fn post(app: &TestApp, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = Client::new().post(app.url(path)).bearer_auth(key).json(body).send().await.unwrap();
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

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The most recent weekday before today (Shanghai), and the five weekdays before it.
fn days() -> (NaiveDate, Vec<NaiveDate>) {
    let today = (Utc::now() + Duration::hours(8)).date_naive();
    let mut day = today - Duration::days(1);
    while !is_weekday(day) {
        day -= Duration::days(1);
    }
    let mut similar = Vec::new();
    let mut d = day - Duration::days(1);
    while similar.len() < 5 {
        if is_weekday(d) {
            similar.push(d);
        }
        d -= Duration::days(1);
    }
    (day, similar)
}

/// A 30-minute day: `base` kW, the adjustment hours (11:00–13:00) at
/// `adj`, the window (14:00–15:00) at `win`.
fn curve(adj: f64, win: [f64; 2]) -> Vec<Option<f64>> {
    let mut kw = vec![Some(50.0); 48];
    for s in &mut kw[22..26] {
        *s = Some(adj);
    }
    kw[28] = Some(win[0]);
    kw[29] = Some(win[1]);
    kw
}

async fn account_no(app: &TestApp, customer: Uuid) -> String {
    sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_from_invitation_to_a_credit_on_the_next_bill_once() {
    let app = TestApp::spawn().await;
    let a = &app.alpha;
    let (managed, on_route, bystander) = (a.customers[0], a.customers[1], a.customers[2]);
    let mut tx = db::begin_tenant(&app.pool, a.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET account_manager_id = $2 WHERE id = $1")
        .bind(managed)
        .bind(a.user_id("manager"))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001') WHERE id = $1")
        .bind(on_route)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let managed_no = account_no(&app, managed).await;
    let (event_day, similar) = days();

    // The event over the API: by account and by route, sent at once.
    let key = app.api_key(a, Role::Supervisor).await;
    let body = json!({"title": "迎峰度冬削峰", "day": event_day.to_string(), "window_start": "14:00",
                      "window_end": "15:00", "requested_kw": "500", "price_per_kwh": "1.2345",
                      "accounts": [managed_no], "routes": ["R0001"]});
    let bad = json!({"title": " ", "day": event_day.to_string(), "window_start": "14:15", "window_end": "13:00",
                     "requested_kw": "0", "price_per_kwh": "1"});
    let (status, refused) = post(&app, &key, "/api/v1/dr-events", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&refused), ["title:required", "window_start:dr_half_hour", "requested_kw:dr_kw"]);
    let counter_key = app.api_key(a, Role::CounterStaff).await;
    assert_eq!(post(&app, &counter_key, "/api/v1/dr-events", &body).await.0, StatusCode::FORBIDDEN);
    let (status, created) = post(&app, &key, "/api/v1/dr-events", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((created["invited"].as_u64(), created["told"].as_u64()), (Some(2), Some(2)));
    assert_eq!(created["event"]["status"], "invited");
    assert_eq!(created["event"]["window_start"], "14:00");
    let id = created["event"]["id"].as_str().unwrap().to_owned();
    let ref_no = created["event"]["ref_no"].as_str().unwrap().to_owned();
    assert_eq!(app.count_all("dr_events").await, 1, "the refused body left nothing behind");

    // The request is a notice event for each invited customer, in the outbox.
    let outbox: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT customer_id, title FROM notice_outbox WHERE kind = 'demand_response_request'")
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap();
    let mut told: Vec<Uuid> = outbox.iter().map(|o| o.0).collect();
    told.sort();
    let mut expected = vec![managed, on_route];
    expected.sort();
    assert_eq!(told, expected);
    assert!(outbox[0].1.contains(&ref_no) && outbox[0].1.contains("14:00–15:00"), "{}", outbox[0].1);
    // ... which the planner turns into notices carrying the wording.
    let mut tx = db::begin_tenant(&app.pool, a.id, None).await.unwrap();
    gridcrm::notices::plan::plan_events(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let planned: Vec<(Uuid, Value)> =
        sqlx::query_as("SELECT customer_id, data FROM notices WHERE kind = 'demand_response_request'")
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap();
    assert!(planned.iter().any(|n| n.0 == managed) && planned.iter().any(|n| n.0 == on_route), "{planned:?}");
    assert!(planned.iter().all(|n| n.1["message"].as_str().unwrap().contains(&ref_no)));

    // The account manager sees the event and only their own customer.
    let manager = app.login(a, "manager").await;
    let (status, list) = manager.get_text("/dr-events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&ref_no));
    let (status, page) = manager.get_text(&format!("/dr-events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&managed_no));
    assert!(!page.contains(&account_no(&app, on_route).await), "another manager's customer is not shown");
    assert_eq!(manager.get("/dr-events/new").await.status(), StatusCode::FORBIDDEN);

    // Answers over the API: named errors, 404 for a customer not invited.
    let answers = format!("/api/v1/dr-events/{id}/responses");
    let (status, refused) =
        post(&app, &key, &answers, &json!({"account_no": managed_no, "decision": "accepted"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&refused), ["committed_kw:dr_committed_required"]);
    let (status, refused) = post(&app, &key, &answers, &json!({"decision": "declined"})).await;
    assert_eq!((status, fields(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["customer_id:required".to_owned()]));
    let stranger = json!({"customer_id": bystander, "decision": "declined"});
    assert_eq!(post(&app, &key, &answers, &stranger).await.0, StatusCode::NOT_FOUND);
    let manager_key = app.api_key(a, Role::AccountManager).await;
    let (status, answer) = post(
        &app,
        &manager_key,
        &answers,
        &json!({"account_no": managed_no, "decision": "accepted", "committed_kw": "50"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["decision"].as_str(), answer["channel"].as_str()), (Some("accepted"), Some("api")));
    assert_eq!(answer["committed_kw"], "50.00");

    // On the page: a manager may not answer for another's customer; a supervisor may.
    let on_route_id = on_route.to_string();
    let r = manager
        .post(
            &format!("/dr-events/{id}/responses"),
            &[("customer_id", &on_route_id), ("decision", "accepted"), ("committed_kw", "20")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let supervisor = app.login(a, "supervisor").await;
    let r = supervisor
        .post(&format!("/dr-events/{id}/responses"), &[("customer_id", &on_route_id), ("decision", "accepted")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an acceptance needs the kW");
    let r = supervisor
        .post(
            &format!("/dr-events/{id}/responses"),
            &[("customer_id", &on_route_id), ("decision", "accepted"), ("committed_kw", "20")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Interval data: the managed customer's meter, 30-minute days. Most recent
    // first, the similar days drew 100, 120, 80, 110 and 90 kW in the window and
    // the adjustment hours; the event day 115.5 kW before and 60 then 130 in the window.
    let meter: Uuid = sqlx::query_scalar("SELECT id FROM meters WHERE serial = 'ALPHAM0001'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let mut tx = db::begin_tenant(&app.pool, a.id, None).await.unwrap();
    let mut rows: Vec<(NaiveDate, Vec<Option<f64>>)> =
        similar.iter().zip([100.0, 120.0, 80.0, 110.0, 90.0]).map(|(d, v)| (*d, curve(v, [v, v]))).collect();
    rows.push((event_day, curve(115.5, [60.0, 130.0])));
    // A weekend day with a low window would pull the baseline down: it is not a similar day.
    let mut weekend = event_day - Duration::days(1);
    while is_weekday(weekend) {
        weekend -= Duration::days(1);
    }
    rows.push((weekend, curve(10.0, [10.0, 10.0])));
    for (day, kw) in rows {
        sqlx::query(
            "INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw) VALUES (app_tenant_id(), $1, $2, 30, $3)",
        )
        .bind(meter)
        .bind(day)
        .bind(kw)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    // Settling needs the event closed; closing and settling are the supervisor's.
    assert_eq!(supervisor.post(&format!("/dr-events/{id}/settle"), &[]).await.status(), StatusCode::CONFLICT);
    assert_eq!(manager.post(&format!("/dr-events/{id}/close"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(supervisor.post(&format!("/dr-events/{id}/close"), &[]).await.status(), StatusCode::SEE_OTHER);
    let late = json!({"customer_id": managed, "decision": "declined"});
    assert_eq!(post(&app, &key, &answers, &late).await.0, StatusCode::CONFLICT, "closed to answers");
    assert_eq!(supervisor.post(&format!("/dr-events/{id}/settle"), &[]).await.status(), StatusCode::SEE_OTHER);

    type ResultRow = (
        Uuid,
        String,
        Option<rust_decimal::Decimal>,
        Option<rust_decimal::Decimal>,
        rust_decimal::Decimal,
        rust_decimal::Decimal,
        Option<rust_decimal::Decimal>,
        Vec<NaiveDate>,
    );
    let results = || async {
        let rows: Vec<ResultRow> = sqlx::query_as(
            "SELECT customer_id, status, baseline_kwh, actual_kwh, verified_kwh, reward, adjustment, similar_days
             FROM dr_results ORDER BY status DESC",
        )
        .fetch_all(&mut owner(&app).await)
        .await
        .unwrap();
        rows
    };
    let settled = results().await;
    assert_eq!(settled.len(), 2);
    let verified = settled.iter().find(|r| r.0 == managed).unwrap();
    assert_eq!(verified.1, "verified");
    // (120 + 110 + 100 + 90) / 4 = 105 kW × 1.1 = 115.5 kW for an hour; actual 95 kWh;
    // reduction (115.5 − 60) × 0.5 h = 27.75 kWh; × 1.2345 yuan = 34.26.
    assert_eq!(verified.2.unwrap().to_string(), "115.500");
    assert_eq!(verified.3.unwrap().to_string(), "95.000");
    assert_eq!(verified.4.to_string(), "27.750");
    assert_eq!(verified.5.to_string(), "34.26");
    assert_eq!(verified.6.unwrap().to_string(), "1.1000");
    assert_eq!(verified.7, similar, "the five weekdays before, not the weekend day");
    let no_data = settled.iter().find(|r| r.0 == on_route).unwrap();
    assert_eq!((no_data.1.as_str(), no_data.5.to_string().as_str()), ("no_baseline", "0"));

    let credits = || async {
        let rows: Vec<(Uuid, rust_decimal::Decimal, Option<Uuid>)> =
            sqlx::query_as("SELECT customer_id, amount, bill_id FROM bill_credits")
                .fetch_all(&mut owner(&app).await)
                .await
                .unwrap();
        rows
    };
    assert_eq!(credits().await.len(), 1);
    assert_eq!((credits().await[0].0, credits().await[0].1.to_string()), (managed, "34.26".to_owned()));
    let result_events = || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM customer_timeline WHERE notice = 'demand_response_result'")
                .fetch_one(&mut owner(&app).await)
                .await
                .unwrap();
        n
    };
    assert_eq!(result_events().await, 1, "a result notice for the verified participant");

    // Settling again credits nothing twice and tells nobody twice.
    assert_eq!(supervisor.post(&format!("/dr-events/{id}/settle"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(credits().await.len(), 1);
    assert_eq!(result_events().await, 1);
    assert_eq!(results().await, settled);

    // The page and the CSV show the figures.
    let (_, page) = supervisor.get_text(&format!("/dr-events/{id}")).await;
    assert!(page.contains("已结算") && page.contains("¥34.26") && page.contains("无法建立基线"), "{page}");
    let csv = supervisor.get(&format!("/dr-events/{id}/results.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.bytes().await.unwrap();
    assert!(csv.starts_with("\u{feff}".as_bytes()));
    let text = String::from_utf8_lossy(&csv);
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("27.750") && text.contains("34.26"), "{text}");

    // The next bill carries the reward as a line that reduces it: 150 kWh at
    // 0.538 is 80.70; less 34.26 is 46.44.
    for (period, total) in [("2026-10", "1000"), ("2026-11", "1150")] {
        assert_eq!(reading(&app, "ALPHAM0001", period, total).await, StatusCode::SEE_OTHER);
    }
    let (status, run) = post(&app, &key, "/api/v1/bill-runs", &json!({"period": "2026-11"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = wait_for_run(&app, &key, &format!("/api/v1/bill-runs/{}", run["id"].as_str().unwrap())).await;
    assert_eq!(run["bills"], 1, "{run}");
    let bills = app.api_get(&key, &format!("/api/v1/bills?customer={managed}")).await;
    let bill_id = bills[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(bills[0]["amount"], "46.44");
    let lines: Vec<(String, rust_decimal::Decimal, rust_decimal::Decimal)> =
        sqlx::query_as("SELECT kind, quantity, amount FROM bill_lines WHERE bill_id = $1::uuid ORDER BY line_no")
            .bind(&bill_id)
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap();
    let reward: Vec<_> = lines.iter().filter(|l| l.0 == "demand_response").collect();
    assert_eq!(reward.len(), 1, "{lines:?}");
    assert_eq!((reward[0].1.to_string(), reward[0].2.to_string()), ("27.7500".to_owned(), "-34.26".to_owned()));
    assert_eq!(credits().await[0].2.map(|b| b.to_string()), Some(bill_id.clone()));
    let (_, bill_page) = supervisor.get_text(&format!("/bills/{bill_id}")).await;
    assert!(bill_page.contains("需求响应补贴") && bill_page.contains("¥46.44"));

    // A second run of the period bills nobody and credits nothing again.
    let (_, again) = post(&app, &key, "/api/v1/bill-runs", &json!({"period": "2026-11"})).await;
    let again = wait_for_run(&app, &key, &format!("/api/v1/bill-runs/{}", again["id"].as_str().unwrap())).await;
    assert_eq!((again["bills"].as_i64(), again["already"].as_i64()), (Some(0), Some(1)));
    // A cancelled bill gives the credit back; the re-issue carries it.
    let r = supervisor.post(&format!("/bills/{bill_id}/cancel"), &[("reason", "重新核对")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(credits().await[0].2, None);
    let r = supervisor.post(&format!("/bills/{bill_id}/reissue"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new_id = location(&r).trim_start_matches("/bills/").split('?').next().unwrap().to_owned();
    let new_bill = app.api_get(&key, &format!("/api/v1/bills/{new_id}")).await;
    assert_eq!(new_bill["amount"], "46.44");
    assert_eq!(credits().await.len(), 1);
    assert_eq!(credits().await[0].2.map(|b| b.to_string()), Some(new_id));
}

#[tokio::test]
async fn events_are_run_on_the_page_with_named_errors_and_confirmations() {
    let app = TestApp::spawn().await;
    let a = &app.alpha;
    let admin = app.login(a, "admin").await;
    let (status, form) = admin.get_text("/dr-events/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"window_start\"") && form.contains("autofocus"));
    let day = (Utc::now() + Duration::days(10)).date_naive().to_string();
    let r = admin
        .post(
            "/dr-events",
            &[
                ("title", "夏季削峰"),
                ("day", &day),
                ("window_start", "14:00"),
                ("window_end", "13:30"),
                ("requested_kw", "abc"),
                ("price_per_kwh", "2"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("结束时间须晚于开始时间") && page.contains("aria-invalid"), "each field says what is wrong");
    let r = admin
        .post(
            "/dr-events",
            &[
                ("title", "夏季削峰"),
                ("day", &day),
                ("window_start", "14:00"),
                ("window_end", "16:00"),
                ("requested_kw", "800"),
                ("price_per_kwh", "2"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let path = location(&r);
    let path = path.split('?').next().unwrap().to_owned();
    let (_, page) = admin.get_text(&path).await;
    assert!(page.contains("草稿") && page.contains("data-confirm"), "sending asks first");

    // Sending to nobody is refused; unknown accounts are named.
    let r = admin.post(&format!("{path}/send"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请先邀约至少一位客户"));
    let r = admin.post(&format!("{path}/invite"), &[("via", "list"), ("account_lines", "9999999999")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不是本公司的客户"));
    // A segment's stored members are invited.
    let segment = Uuid::now_v7();
    let mut tx = db::begin_tenant(&app.pool, a.id, None).await.unwrap();
    sqlx::query(
        "INSERT INTO segments (tenant_id, id, name, definition, created_by) VALUES (app_tenant_id(), $1, '大工业', '{}', 't')",
    )
    .bind(segment)
    .execute(&mut *tx)
    .await
    .unwrap();
    for c in &a.customers[1..3] {
        sqlx::query(
            "INSERT INTO segment_members (tenant_id, segment_id, customer_id) VALUES (app_tenant_id(), $1, $2)",
        )
        .bind(segment)
        .bind(c)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let r = admin.post(&format!("{path}/invite"), &[("via", "segment"), ("segment", &segment.to_string())]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count_all("dr_invitations WHERE invited_via = 'segment' AND via_name = '大工业'").await, 2);
    assert_eq!(app.count_all("notice_outbox WHERE kind = 'demand_response_request'").await, 0, "a draft tells nobody");
    let r = admin.post(&format!("{path}/send"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count_all("notice_outbox WHERE kind = 'demand_response_request'").await, 2);
    // Invited later: told at once; invited twice: once.
    let first = account_no(&app, a.customers[0]).await;
    let second = account_no(&app, a.customers[1]).await;
    let r = admin
        .post(&format!("{path}/invite"), &[("via", "list"), ("account_lines", &format!("{first}\n{second}"))])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count_all("dr_invitations").await, 3);
    assert_eq!(app.count_all("notice_outbox WHERE kind = 'demand_response_request'").await, 3);
    // The day is not over: settling is refused even when closed.
    assert_eq!(admin.post(&format!("{path}/close"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.post(&format!("{path}/settle"), &[]).await.status(), StatusCode::CONFLICT);
    assert_eq!(admin.post(&format!("{path}/send"), &[]).await.status(), StatusCode::CONFLICT);
    let audited: i64 = app.count_all("audit_log WHERE entity = 'dr_event'").await;
    assert_eq!(audited, 5, "create, invite, send, invite, close (the refused steps left nothing)");
}

#[tokio::test]
async fn another_company_sees_and_touches_none_of_it() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let day = (Utc::now() + Duration::days(3)).date_naive().to_string();
    let alpha_no = account_no(&app, app.alpha.customers[0]).await;
    let body = json!({"title": "甲公司削峰", "day": day, "window_start": "10:00", "window_end": "11:00",
                      "requested_kw": "100", "price_per_kwh": "1", "accounts": [alpha_no.clone()]});
    let (status, created) = post(&app, &key, "/api/v1/dr-events", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["event"]["id"].as_str().unwrap().to_owned();
    let customer = app.alpha.customers[0];

    let other_key = app.api_key(&app.beta, Role::TenantAdmin).await;
    let listed = app.api_get(&other_key, "/api/v1/dr-events").await;
    assert_eq!(listed, json!([]), "lists show only the company's own events");
    let own = app.api_get(&key, "/api/v1/dr-events").await;
    assert_eq!(own.as_array().unwrap().len(), 1);
    let answer = json!({"customer_id": customer, "decision": "accepted", "committed_kw": "5"});
    let (status, _) = post(&app, &other_key, &format!("/api/v1/dr-events/{id}/responses"), &answer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Inviting another company's customer by account number: not found among its own.
    let mut stolen = body.clone();
    stolen["title"] = json!("乙公司");
    let (status, refused) = post(&app, &other_key, "/api/v1/dr-events", &stolen).await;
    assert_eq!(
        (status, fields(&refused)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["accounts:dr_unknown_account".to_owned()])
    );

    let other = app.login(&app.beta, "admin").await;
    let (status, list) = other.get_text("/dr-events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.contains("甲公司削峰"));
    assert_eq!(other.get(&format!("/dr-events/{id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.get(&format!("/dr-events/{id}/results.csv")).await.status(), StatusCode::NOT_FOUND);
    for (action, fields) in [
        ("invite", vec![("via", "list"), ("account_lines", alpha_no.as_str())]),
        ("send", vec![]),
        ("close", vec![]),
        ("settle", vec![]),
    ] {
        let r = other.post(&format!("/dr-events/{id}/{action}"), &fields).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let customer = customer.to_string();
    let r = other
        .post(
            &format!("/dr-events/{id}/responses"),
            &[("customer_id", customer.as_str()), ("decision", "accepted"), ("committed_kw", "5")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nothing of it changed.
    assert_eq!(app.count_all("dr_responses").await, 0);
    assert_eq!(app.count_all("dr_invitations").await, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM dr_events WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(status, "invited");
}
