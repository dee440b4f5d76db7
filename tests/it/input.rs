//! Input rules that hold for every channel: no control characters in text
//! (NUL reached PostgreSQL and came back as a 500), money as plain decimals,
//! times in a sane window, names with something to see, and every refusal
//! by axum's extractors or for a long URI as a problem document or a page.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;
use gridcrm::staff::Role;

/// Asserts a problem document that names exactly `field` with `code`.
async fn assert_problem(response: Response, status: StatusCode, field: &str, code: &str) {
    assert_eq!(response.status(), status, "{field}");
    assert_eq!(response.headers()["content-type"], "application/problem+json", "{field}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert_eq!(problem["errors"][0]["code"], code, "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().len() > 5);
}

#[tokio::test]
async fn a_nul_byte_is_refused_naming_its_field_in_every_channel() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let client = Client::new();
    let (customers, orders, runs) =
        (app.count_all("customers").await, app.count_all("work_orders").await, app.count_all("bill_runs").await);

    // Query strings, API and pages.
    let get = |path: &str| client.get(app.url(path)).bearer_auth(&key).send();
    assert_problem(
        get("/api/v1/customers?q=%00").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "q",
        "control_character",
    )
    .await;
    assert_problem(
        get("/api/v1/contacts?before=2026%00").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "before",
        "control_character",
    )
    .await;
    assert_problem(
        get("/api/v1/work-orders/%00").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "id",
        "control_character",
    )
    .await;
    let clerk = app.login(&app.alpha, "counter").await;
    let search = clerk.get("/customers?q=%E7%8E%8B%00").await;
    assert_eq!(search.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(search.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(search.text().await.unwrap().contains("控制字符"), "a friendly page says what is wrong");

    // JSON bodies: the field is named by its path.
    let post = |path: &str, body: Value| client.post(app.url(path)).bearer_auth(&key).json(&body).send();
    assert_problem(
        post("/api/v1/bill-runs", json!({"period": "2026-11", "route": "R01\u{0}"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "route",
        "control_character",
    )
    .await;
    let order = json!({"kind": "meter_check", "customer_id": app.alpha.customers[0], "title": "表计校验", "owner": "counter\u{0}"});
    assert_problem(
        post("/api/v1/work-orders", order).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "owner",
        "control_character",
    )
    .await;
    assert_problem(
        post("/api/v1/customers", json!({"name": "王\u{0}五", "class_code": "residential"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "name",
        "control_character",
    )
    .await;

    // Form bodies.
    let form = clerk
        .post(
            "/customers",
            &[
                ("name", "赵\u{0}敏"),
                ("class_code", "residential"),
                ("industry_code", "RES"),
                ("voltage_code", "v220"),
                ("tariff_code", "res_tiered"),
            ],
        )
        .await;
    assert_eq!(form.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = form.text().await.unwrap();
    assert!(page.contains("name") && page.contains("控制字符"), "{page}");

    assert_eq!(app.count_all("customers").await, customers, "no customer written");
    assert_eq!(app.count_all("work_orders").await, orders, "no work order written");
    assert_eq!(app.count_all("bill_runs").await, runs, "no bill run started");
}

#[tokio::test]
async fn line_breaks_are_kept_in_multi_line_text_and_refused_in_single_line_text() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = Client::new();
    let contact = |description: &str, caller_name: &str| {
        json!({"kind": "inquiry", "channel": "hotline", "subject": "outage", "description": description,
               "caller_name": caller_name})
    };
    let send = |body: Value| client.post(app.url("/api/v1/contacts")).bearer_auth(&key).json(&body).send();
    let created = send(contact("第一行\r\n\t第二行", "李四")).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["description"], "第一行\r\n\t第二行");
    assert_problem(
        send(contact("响铃\u{7}", "李四")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "description",
        "control_character",
    )
    .await;
    assert_problem(
        send(contact("ok", "李\n四")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "caller_name",
        "control_character",
    )
    .await;
    assert_problem(
        send(contact("C1 \u{9b}31m", "李四")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "description",
        "control_character",
    )
    .await;
}

#[tokio::test]
async fn money_times_and_names_have_one_accepted_form() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = Client::new();
    let customer: Value = app.api_get(&key, &format!("/api/v1/customers/{}", app.alpha.customers[0])).await;
    let account_no = customer["account_no"].as_str().unwrap().to_owned();
    let payments = app.count_all("payments").await;
    let pay = |amount: &str, reference: &str, received_at: Option<&str>| {
        json!({"account_no": account_no, "amount": amount, "channel": "wechat", "channel_ref": reference,
               "received_at": received_at, "allow_credit": true})
    };
    let send = |path: &str, body: Value| client.post(app.url(path)).bearer_auth(&key).json(&body).send();
    for (n, amount) in ["1e3", "1,0,0", "¥5", "+5", "5.001", "0"].into_iter().enumerate() {
        let response = send("/api/v1/payments", pay(amount, &format!("WX-BAD-{n}"), None)).await.unwrap();
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "amount", "amount_format").await;
    }
    for (n, at) in ["0001-01-01T00:00:00Z", "1900-06-01T08:00:00+08:00"].into_iter().enumerate() {
        let response = send("/api/v1/payments", pay("10.00", &format!("WX-OLD-{n}"), Some(at))).await.unwrap();
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "received_at", "time_too_early").await;
    }
    assert_eq!(app.count_all("payments").await, payments, "nothing booked");
    let good = send("/api/v1/payments", pay("10.50", "WX-GOOD", Some("2026-01-05T09:00:00+08:00"))).await.unwrap();
    assert_eq!(good.status(), StatusCode::CREATED);

    // A contact from year 1 would get a due date in year 1.
    let contact = json!({"kind": "inquiry", "channel": "hotline", "subject": "outage", "description": "停电",
                         "received_at": "0001-01-01T00:00:00Z"});
    assert_problem(
        send("/api/v1/contacts", contact).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "received_at",
        "time_too_early",
    )
    .await;

    // A name of zero-width characters only is no name.
    let invisible = json!({"name": "\u{200B}\u{200D}\u{FEFF}", "class_code": "residential", "industry_code": "RES",
                           "voltage_code": "v220", "tariff_code": "res_tiered"});
    assert_problem(
        send("/api/v1/customers", invisible).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "name",
        "not_visible",
    )
    .await;
    let clerk = app.login(&app.alpha, "counter").await;
    let page = clerk
        .post(
            &format!("/customers/{}/contacts", app.alpha.customers[1]),
            &[("name", "\u{2060}\u{200B}"), ("phone", "13800138000")],
        )
        .await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains("id=\"contact_name-error\""));
}

#[tokio::test]
async fn bad_path_and_query_values_are_problems_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let client = Client::new();
    let get = |path: &str| client.get(app.url(path)).bearer_auth(&key).send();
    assert_problem(
        get("/api/v1/customers/not-a-uuid").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "id",
        "malformed",
    )
    .await;
    assert_problem(
        get("/api/v1/customers?limit=abc").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "limit",
        "malformed",
    )
    .await;
    let partial = client
        .post(app.url("/api/v1/readings?partial=maybe"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("meter,period,kind,read_on,total\n")
        .send()
        .await
        .unwrap();
    assert_problem(partial, StatusCode::UNPROCESSABLE_ENTITY, "partial", "malformed").await;
    let missing = json!({"route": "R01"});
    let run = client.post(app.url("/api/v1/bill-runs")).bearer_auth(&key).json(&missing).send().await.unwrap();
    assert_problem(run, StatusCode::UNPROCESSABLE_ENTITY, "period", "required").await;

    // A browser gets a page, in the user's language.
    let clerk = app.login(&app.alpha, "counter").await;
    let page = clerk.get("/customers/not-a-uuid").await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("无法识别这个值"), "{html}");
    // A form field of the wrong shape is named too (it was a bare 400).
    let pay = clerk
        .post(
            &format!("/customers/{}/pay", app.alpha.customers[0]),
            &[("amount", "10"), ("channel", "counter_cash"), ("bills", "not-a-bill")],
        )
        .await;
    assert_eq!(pay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(pay.text().await.unwrap().contains("bills"));
}

#[tokio::test]
async fn an_over_long_uri_is_a_414_problem() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = Client::new();
    let long = format!("/api/v1/customers?q={}", "a".repeat(gridcrm::web::input::MAX_URI_BYTES));
    let response = client.get(app.url(&long)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("8 KiB"), "{problem}");
    // Just under the limit is read as usual.
    let fits = format!("/api/v1/customers?limit=5&pad={}", "a".repeat(gridcrm::web::input::MAX_URI_BYTES - 40));
    assert_eq!(client.get(app.url(&fits)).bearer_auth(&key).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_nul_byte_in_an_upload_is_refused_naming_its_line_and_column() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = Client::new();
    let upload = |path: &str, content_type: &str, body: String| {
        client.post(app.url(path)).bearer_auth(&key).header("content-type", content_type).body(body).send()
    };
    let readings_before = app.count_all("meter_readings").await;

    let csv = "meter,read_on,total\nM\u{0}1,2026-11-25,100\n".to_owned();
    let r = upload("/api/v1/readings", "text/csv", csv).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    assert_eq!(report["errors"][0]["field"], "meter", "{report}");

    let json = json!([{"meter": "M1", "read_on": "2026-11-25", "total": "100"},
                      {"meter": "M\u{0}2", "read_on": "2026-11-25", "total": "100"}])
    .to_string();
    let r = upload("/api/v1/readings", "application/json", json).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    assert_eq!(report["errors"][0]["field"], "[1].meter", "{report}");

    let now = chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z");
    let interval = format!("meter,ts,kw\nM\u{0}1,{now},1.5\n");
    let r = upload("/api/v1/interval-data", "text/csv", interval).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    assert_eq!(report["errors"][0]["field"], "meter", "{report}");

    assert_eq!(app.count_all("meter_readings").await, readings_before, "nothing loaded");
}
