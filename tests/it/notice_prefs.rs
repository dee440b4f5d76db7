//! Notices staff and customers shape: the templates page (a bad placeholder
//! refused by name, saved wording used, a preview with a real customer), a
//! customer's preferences and opt-outs (page and API, critical kinds
//! refused, opt-outs honoured when notices are made), the personalised
//! bill's daily scan and its mail, letters printed by route, phone calls and
//! their outcomes, and isolation between tenants on every route.

use chrono::NaiveDate;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Tenant, TestApp, location};
use gridcrm::{
    db,
    notices::{
        Kind,
        db::{Target, add_targets, enqueue},
        templates_db,
    },
    staff::Role,
};

async fn account_no(app: &TestApp, tenant: &Tenant, customer: Uuid) -> String {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

/// Runs SQL in the tenant's transaction.
async fn exec(app: &TestApp, tenant: &Tenant, sql: &str, id: Uuid, other: Option<Uuid>) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(sql).bind(id).bind(other).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// Queues a notice of `kind` on `channels` (the first used, the rest its
/// fallback) for each customer; returns how many were made.
async fn queue(
    app: &TestApp,
    tenant: &Tenant,
    kind: Kind,
    customers: &[Uuid],
    channels: &[&str],
    common: Value,
) -> u64 {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let targets: Vec<Target> = customers
        .iter()
        .map(|c| Target {
            customer_id: *c,
            event_ref: format!("test:{}", Uuid::now_v7()),
            data: json!({}),
            not_before: chrono::Utc::now() - chrono::Duration::minutes(1),
        })
        .collect();
    add_targets(&mut tx, &targets).await.unwrap();
    let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
    let n = enqueue(&mut tx, kind, &channels, &common).await.unwrap();
    tx.commit().await.unwrap();
    n
}

/// (id, channel, status, attempts) of a customer's notices of `kind`, oldest first.
async fn notices_of(app: &TestApp, tenant: &Tenant, customer: Uuid, kind: &str) -> Vec<(Uuid, String, String, i32)> {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query_as(
        "SELECT id, channel, status, attempts FROM notices WHERE customer_id = $1 AND kind = $2 ORDER BY created_at, channel",
    )
    .bind(customer)
    .bind(kind)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

// ---------------------------------------------------------------- templates

#[tokio::test]
async fn templates_are_checked_saved_previewed_and_reset() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, list) = admin.get_text("/notices/templates").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("/notices/templates/low_balance/sms/en"), "every kind × channel × language is listed");
    assert!(list.contains("/notices/templates/personal_bill/phone/zh-CN"));
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/notices/templates").await.status(), StatusCode::FORBIDDEN);

    // A placeholder the kind does not have is refused, by name and part.
    let path = "/notices/templates/low_balance/sms/en";
    let r = admin.post(path, &[("subject", ""), ("body", "Balance {balnce} yuan"), ("action", "save")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("正文：{balnce} 不是本通知的字段"), "the message names part and placeholder");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    assert_eq!(templates_db::saved(&mut tx, Kind::LowBalance, "sms", "en").await.unwrap().map(|s| s.body), None);
    drop(tx);

    // A good one is saved and used by wording(); the other tenant keeps the built-in.
    let body = "{customer_name}: balance ¥{balance}, {days_left} days left. {tenant_name}";
    let r = admin.post(path, &[("subject", "Top up"), ("body", body), ("action", "save")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{path}?saved=true"));
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let w = templates_db::wording(&mut tx, Kind::LowBalance, "sms", "en").await.unwrap();
    assert_eq!(w, ("Top up".to_owned(), body.to_owned()));
    drop(tx);
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let builtin = gridcrm::notices::template::builtin(Kind::LowBalance, "en");
    let w = templates_db::wording(&mut tx, Kind::LowBalance, "sms", "en").await.unwrap();
    assert_eq!((w.0.as_str(), w.1.as_str()), builtin);
    drop(tx);
    let beta_admin = app.login(&app.beta, "admin").await;
    let (_, beta_page) = beta_admin.get_text(path).await;
    assert!(!beta_page.contains("Top up"), "tenant B sees its own (built-in) wording");
    let (_, beta_list) = beta_admin.get_text("/notices/templates").await;
    assert!(beta_list.contains("本公司已自行编写 0 个模板"));

    // The preview uses a real customer: the first active one, or the account asked for.
    let (status, edit) = admin.get_text("/notices/templates/bill_issued/sms/zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    assert!(edit.contains("尊敬的王建国"), "rendered with the first customer's name");
    assert!(edit.contains("{bill_no}"), "no bill yet: bill_no is named as a sample");
    let second = account_no(&app, &app.alpha, app.alpha.customers[1]).await;
    let r = admin
        .post(
            "/notices/templates/bill_issued/sms/zh-CN/preview",
            &[("subject", ""), ("body", "您好 {customer_name}，户号 {account_no}"), ("account_no", &second)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fragment = r.text().await.unwrap();
    assert!(fragment.contains(&format!("您好 李建华，户号 {second}")), "{fragment}");
    let r = admin.post("/notices/templates/bill_issued/sms/zh-CN/preview", &[("body", "{nope}")]).await;
    assert!(r.text().await.unwrap().contains("{nope}"), "a bad placeholder shows in the preview");
    // Without script the Preview button renders the page with the typed text.
    let r = admin.post(path, &[("body", "Hi {customer_name}"), ("action", "preview")]).await;
    assert!(r.text().await.unwrap().contains("Hi 王建国"));

    // Reset: back to the built-in, audited.
    let r = admin.post(&format!("{path}/reset"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let w = templates_db::wording(&mut tx, Kind::LowBalance, "sms", "en").await.unwrap();
    assert_eq!((w.0.as_str(), w.1.as_str()), builtin);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'notice_template'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(audited, 2, "the save and the reset");
    assert_eq!(admin.get("/notices/templates/nothing/sms/en").await.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- preferences

#[tokio::test]
async fn preferences_round_trip_on_the_page_and_the_api_and_critical_kinds_stay() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let counter = app.login(&app.alpha, "counter").await;
    let path = format!("/customers/{customer}/notices");
    let (status, page) = counter.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("事关您的供电"), "critical kinds say why they stay");
    assert!(!page.contains("name=\"opt_outs\" value=\"planned_outage\""), "critical kinds are not offered");

    let r = counter
        .post(
            &path,
            &[
                ("lang", "en"),
                ("sms_phone", "139 0000 1111"),
                ("opt_outs", "safe_use_advice"),
                ("opt_outs", "energy_saving_advice"),
                ("bill_content", "summary"),
                ("bill_day", "5"),
                ("bill_channel", "sms"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let api = format!("/api/v1/customers/{customer}/notice-preferences");
    let got = app.api_get(&key, &api).await;
    assert_eq!(got["lang"], "en");
    assert_eq!(got["sms_phone"], "13900001111");
    assert_eq!(got["opt_outs"], json!(["energy_saving_advice", "safe_use_advice"]));
    assert_eq!((got["bill_content"].as_str(), got["bill_day"].as_i64()), (Some("summary"), Some(5)));

    // The customer page shows the section.
    let (_, show) = counter.get_text(&format!("/customers/{customer}")).await;
    assert!(show.contains("id=\"notices\"") && show.contains("每月 5 日"));

    // A critical kind on the page: refused, nothing changed.
    let r = counter.post(&path, &[("opt_outs", "planned_outage"), ("bill_content", "off")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不能退订"));
    // Email channel without any email: refused on the channel.
    let r = counter.post(&path, &[("bill_content", "itemised"), ("bill_day", "3"), ("bill_channel", "email")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.api_get(&key, &api).await, got, "a refused form changes nothing");

    // The API replaces the whole preference.
    let put = |body: Value| {
        let url = app.url(&api);
        let key = key.clone();
        async move { Client::new().put(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };
    let r = put(json!({"opt_outs": ["overdue"], "email": "li@example.com", "bill_content": "itemised", "bill_day": 28, "bill_channel": "email"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = r.json().await.unwrap();
    assert_eq!(stored["lang"], Value::Null, "absent fields are cleared");
    assert_eq!(stored["opt_outs"], json!(["overdue"]));
    assert_eq!(app.api_get(&key, &api).await, stored);
    for (body, field, code) in [
        (json!({"opt_outs": ["planned_outage"]}), "opt_outs", "notice_opt_out_critical"),
        (json!({"opt_outs": ["spam"]}), "opt_outs", "unknown_code"),
        (
            json!({"bill_content": "summary", "bill_day": 29, "bill_channel": "letter"}),
            "bill_day",
            "notice_bill_day_range",
        ),
        (
            json!({"bill_content": "summary", "bill_day": 2, "bill_channel": "wechat"}),
            "bill_channel",
            "notice_channel_no_address",
        ),
        (json!({"email": "not-an-email"}), "email", "email_format"),
    ] {
        let r = put(body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = r.json().await.unwrap();
        let named: Vec<(String, String)> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(named, [(field.to_owned(), code.to_owned())], "{body}");
    }
    // Supervisors read but do not edit.
    let supervisor = app.api_key(&app.alpha, Role::Supervisor).await;
    let r = Client::new().put(app.url(&api)).bearer_auth(&supervisor).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Tenant B cannot read or change A's customer's preferences.
    let beta_key = app.api_key(&app.beta, Role::TenantAdmin).await;
    let r = Client::new().get(app.url(&api)).bearer_auth(&beta_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = Client::new().put(app.url(&api)).bearer_auth(&beta_key).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let beta_counter = app.login(&app.beta, "counter").await;
    assert_eq!(beta_counter.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta_counter.post(&path, &[("bill_content", "off")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.api_get(&key, &api).await, stored);
    let audited = app.count_all("audit_log WHERE entity = 'notice_preferences'").await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn an_opted_out_customer_gets_no_notice_of_that_kind() {
    let app = TestApp::spawn().await;
    let [opted, other] = [app.alpha.customers[0], app.alpha.customers[1]];
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = Client::new()
        .put(app.url(&format!("/api/v1/customers/{opted}/notice-preferences")))
        .bearer_auth(&key)
        .json(&json!({"opt_outs": ["safe_use_advice"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let made = queue(&app, &app.alpha, Kind::SafeUseAdvice, &[opted, other], &["sms"], json!({"message": "m"})).await;
    assert_eq!(made, 1);
    assert!(notices_of(&app, &app.alpha, opted, "safe_use_advice").await.is_empty());
    assert_eq!(notices_of(&app, &app.alpha, other, "safe_use_advice").await.len(), 1);
    // Other kinds still reach them, and critical ones always do.
    assert_eq!(queue(&app, &app.alpha, Kind::LowBalance, &[opted], &["sms"], json!({})).await, 1);
    // The customer page lists the notice with its status translated.
    let counter = app.login(&app.alpha, "counter").await;
    let (_, show) = counter.get_text(&format!("/customers/{opted}")).await;
    assert!(show.contains("预付费余额不足") || show.contains("余额"), "the kind is named");
    assert!(show.contains("待发送"), "the status is translated");
}

// ---------------------------------------------------------------- the personalised bill

async fn add_bill(
    app: &TestApp,
    tenant: &Tenant,
    customer: Uuid,
    period: NaiveDate,
    amount: &str,
    lines: bool,
) -> Uuid {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         VALUES (app_tenant_id(), $1, $2, $3, $4, 'res_tiered', $4 + 31, $4 + 50, 230, $5::numeric)",
    )
    .bind(id)
    .bind(format!("B{}", id.simple()))
    .bind(customer)
    .bind(period)
    .bind(amount)
    .execute(&mut *tx)
    .await
    .unwrap();
    if lines {
        sqlx::query(
            "INSERT INTO bill_lines (tenant_id, bill_id, line_no, kind, tariff_code, quantity, unit_price, amount)
             VALUES (app_tenant_id(), $1, 1, 'energy', 'res_tiered', 230, 0.538, 123.74),
                    (app_tenant_id(), $1, 2, 'tier2_surcharge', 'res_tiered', 30, 0.05, 1.50)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn the_personal_bill_goes_once_on_the_customers_day() {
    let app = TestApp::spawn().await;
    let c = &app.alpha.customers;
    let nov = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let oct = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    add_bill(&app, &app.alpha, c[0], oct, "99.00", false).await;
    let latest = add_bill(&app, &app.alpha, c[0], nov, "125.24", true).await;
    add_bill(&app, &app.alpha, c[1], nov, "50.00", true).await;
    add_bill(&app, &app.alpha, c[2], nov, "70.00", false).await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    for (customer, body) in [
        (
            c[0],
            json!({"lang": "en", "bill_content": "itemised", "bill_day": 5, "bill_channel": "email", "email": "w@example.com"}),
        ),
        (c[1], json!({"bill_content": "summary", "bill_day": 5, "bill_channel": "letter"})),
        (c[2], json!({"bill_content": "itemised", "bill_day": 6, "bill_channel": "sms"})),
    ] {
        let r = Client::new()
            .put(app.url(&format!("/api/v1/customers/{customer}/notice-preferences")))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let day = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    assert_eq!(gridcrm::notices::personal_bill::scan(&mut tx, day).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    assert_eq!(gridcrm::notices::personal_bill::scan(&mut tx, day).await.unwrap(), 0, "not twice");
    let (event_ref, channel, lang, data): (String, String, String, Value) = sqlx::query_as(
        "SELECT event_ref, channel, lang, data FROM notices WHERE customer_id = $1 AND kind = 'personal_bill'",
    )
    .bind(c[0])
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!((event_ref, channel.as_str(), lang.as_str()), (format!("bill:{latest}:personal"), "email", "en"));
    assert_eq!((data["period"].as_str(), data["amount"].as_str()), (Some("2026-11"), Some("125.24")));
    assert!(data["lines"].as_str().unwrap().contains("Energy: 230 × 0.538 = ¥123.74"), "{data}");
    assert_eq!(data["items"].as_array().unwrap().len(), 2);
    let html = gridcrm::notices::bill_mail::html(Kind::PersonalBill, &data, &lang).unwrap();
    assert!(html.contains("Tier 2 surcharge") && html.contains("123.74") && html.contains("125.24"));
    let summary: Value =
        sqlx::query_scalar("SELECT data FROM notices WHERE customer_id = $1 AND kind = 'personal_bill'")
            .bind(c[1])
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(summary["lines"], "", "a summary has no lines");
    drop(tx);
    assert!(notices_of(&app, &app.alpha, c[2], "personal_bill").await.is_empty(), "not on another day");
    // Tenant B's scan on the same day finds nothing of A's.
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    assert_eq!(gridcrm::notices::personal_bill::scan(&mut tx, day).await.unwrap(), 0);
}

// ---------------------------------------------------------------- letters and calls

#[tokio::test]
async fn letters_print_by_route_and_are_marked_sent() {
    let app = TestApp::spawn().await;
    let c = &app.alpha.customers;
    exec(
        &app,
        &app.alpha,
        "UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001') WHERE id = $1",
        c[1],
        None,
    )
    .await;
    let m = json!({"message": "请勿私拉乱接电线。"});
    assert_eq!(queue(&app, &app.alpha, Kind::SafeUseAdvice, &[c[0], c[1]], &["letter"], m).await, 2);
    // A notice whose data lacks a field: shown as an error, never a blank letter.
    assert_eq!(queue(&app, &app.alpha, Kind::SafeUseAdvice, &[c[2]], &["letter"], json!({})).await, 1);
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, list) = clerk.get_text("/notices/letters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("R0001") && list.contains("无抄表段"));
    let (status, batch) = clerk.get_text("/notices/letters/none").await;
    assert_eq!(status, StatusCode::OK);
    assert!(batch.contains("尊敬的王建国：请勿私拉乱接电线。"), "the letter is rendered");
    assert!(batch.contains("上城区解放路1号") && batch.contains("甲市供电公司"));
    assert!(batch.contains("{message}"), "the broken letter says what is missing");
    assert!(!batch.contains("李建华"), "customers on a route are in their route's batch");
    let ids: Vec<String> =
        batch.split("name=\"ids\" value=\"").skip(1).map(|s| s[..s.find('"').unwrap()].to_owned()).collect();
    assert_eq!(ids.len(), 1, "only the rendered letter is marked");
    let fields: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();

    // Tenant B sees none of it and cannot mark it.
    let beta = app.login(&app.beta, "counter").await;
    let (_, beta_list) = beta.get_text("/notices/letters").await;
    assert!(!beta_list.contains("/notices/letters/none"));
    let r = beta.post("/notices/letters/none/printed", &fields).await;
    assert_eq!(location(&r), "/notices/letters?printed=0");
    let route: Uuid = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar("SELECT id FROM reading_routes WHERE code = 'R0001'").fetch_one(&mut *tx).await.unwrap()
    };
    assert_eq!(beta.get(&format!("/notices/letters/{route}")).await.status(), StatusCode::NOT_FOUND);

    let r = clerk.post("/notices/letters/none/printed", &fields).await;
    assert_eq!(location(&r), "/notices/letters?printed=1");
    let sent = notices_of(&app, &app.alpha, c[0], "safe_use_advice").await;
    assert_eq!(sent[0].2, "sent");
    assert_eq!(notices_of(&app, &app.alpha, c[2], "safe_use_advice").await[0].2, "queued");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (address, handled): (String, Option<String>) =
        sqlx::query_as("SELECT address, handled_by FROM notices WHERE id = $1")
            .bind(sent[0].0)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((address.as_str(), handled.as_deref()), ("上城区解放路1号", Some("counter")));
    let (_, route_batch) = clerk.get_text(&format!("/notices/letters/{route}")).await;
    assert!(route_batch.contains("李建华"));
}

#[tokio::test]
async fn calls_go_to_their_manager_and_outcomes_move_the_notice() {
    let app = TestApp::spawn().await;
    let c = &app.alpha.customers;
    let manager = app.alpha.user_id("manager");
    exec(&app, &app.alpha, "UPDATE customers SET account_manager_id = $2 WHERE id = $1", c[0], Some(manager)).await;
    exec(&app, &app.alpha, "UPDATE customers SET account_manager_id = $2 WHERE id = $1", c[3], Some(manager)).await;
    let m = json!({"message": "明日高温，请错峰用电。"});
    assert_eq!(
        queue(&app, &app.alpha, Kind::EnergySavingAdvice, &[c[0], c[1], c[2], c[3]], &["phone", "letter"], m).await,
        4
    );

    let mgr = app.login(&app.alpha, "manager").await;
    let (status, mine) = mgr.get_text("/notices/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mine.contains("王建国") && mine.contains("欧阳娜娜") && !mine.contains("李建华"), "only their customers");
    assert!(mine.contains("明日高温，请错峰用电。") && mine.contains("13800000001"));
    let sup = app.login(&app.alpha, "supervisor").await;
    let (_, all) = sup.get_text("/notices/calls").await;
    assert!(all.contains("王建国") && all.contains("李建华") && all.contains("张伟"));

    let id = |customer: Uuid| {
        let app = &app;
        async move { notices_of(app, &app.alpha, customer, "energy_saving_advice").await[0].0 }
    };
    // A manager cannot record calls to others' customers.
    let other = id(c[1]).await;
    assert_eq!(
        mgr.post(&format!("/notices/calls/{other}"), &[("outcome", "reached")]).await.status(),
        StatusCode::NOT_FOUND
    );
    // Bad outcome: refused by field.
    let first = id(c[0]).await;
    let r = mgr.post(&format!("/notices/calls/{first}"), &[("outcome", "maybe")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Reached → sent.
    let r = mgr.post(&format!("/notices/calls/{first}"), &[("outcome", "reached"), ("note", "客户已知晓")]).await;
    assert_eq!(location(&r), "/notices/calls?done=reached");
    assert_eq!(notices_of(&app, &app.alpha, c[0], "energy_saving_advice").await[0].2, "sent");

    // No answer: queued for two hours later; the third time, failed and on to the letter.
    let n = id(c[1]).await;
    for attempt in 1..=3 {
        let r = sup.post(&format!("/notices/calls/{n}"), &[("outcome", "no_answer")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let rows = notices_of(&app, &app.alpha, c[1], "energy_saving_advice").await;
        if attempt < 3 {
            assert_eq!((rows.len(), rows[0].2.as_str(), rows[0].3), (1, "queued", attempt));
            let (_, page) = sup.get_text("/notices/calls").await;
            assert!(!page.contains(&format!("call-{n}")), "not due again yet");
            exec(&app, &app.alpha, "UPDATE notices SET next_attempt_at = now() WHERE id = $1", n, None).await;
        } else {
            let phone = rows.iter().find(|r| r.1 == "phone").unwrap();
            assert_eq!((phone.2.as_str(), phone.3), ("failed", 3));
            assert!(rows.iter().any(|r| r.1 == "letter" && r.2 == "queued"), "falls back to a letter");
        }
    }

    // Wrong number → failed and falls back at once.
    let n = id(c[2]).await;
    sup.post(&format!("/notices/calls/{n}"), &[("outcome", "wrong_number")]).await;
    let rows = notices_of(&app, &app.alpha, c[2], "energy_saving_advice").await;
    assert!(rows.iter().any(|r| r.1 == "phone" && r.2 == "failed"));
    assert!(rows.iter().any(|r| r.1 == "letter" && r.2 == "queued"));
    assert_eq!(app.count_all("audit_log WHERE entity = 'notice' AND action = 'record_outcome'").await, 5);

    // Tenant B sees no calls of A's and cannot record one.
    let beta = app.login(&app.beta, "supervisor").await;
    let (_, beta_page) = beta.get_text("/notices/calls").await;
    assert!(!beta_page.contains("欧阳娜娜"));
    let last = id(c[3]).await;
    assert_eq!(
        beta.post(&format!("/notices/calls/{last}"), &[("outcome", "reached")]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(notices_of(&app, &app.alpha, c[3], "energy_saving_advice").await[0].2, "queued");
}
