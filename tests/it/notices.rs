//! Notices planned from events, dates coming due and broadcasts, by the
//! tenant's rules: once per event, for the audience the rule names, with
//! every field its template needs.

use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{payments::two_bills, support::TestApp};
use gridcrm::{
    db,
    notices::{Kind, plan, template},
    staff::Role,
    timeline,
};

pub async fn add_rule(
    conn: &mut PgConnection,
    kind: &str,
    audience: (&str, Option<Uuid>, &str),
    offset: i32,
    since_hours_ago: i64,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO notice_rules (tenant_id, id, kind, audience, route_id, audience_text, offset_minutes, since, updated_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, now() - make_interval(hours => $7), 'test')",
    )
    .bind(id)
    .bind(kind)
    .bind(audience.0)
    .bind(audience.1)
    .bind(audience.2)
    .bind(offset)
    .bind(since_hours_ago as i32)
    .execute(conn)
    .await
    .unwrap();
    id
}

/// Removes the tenant's default rules, so that a test's own rules alone decide.
pub async fn clear_rules(conn: &mut PgConnection) {
    sqlx::query("DELETE FROM notice_rules").execute(conn).await.unwrap();
}

#[derive(Debug, sqlx::FromRow)]
pub struct NoticeRow {
    pub customer_id: Uuid,
    pub kind: String,
    pub channel: String,
    pub event_ref: String,
    pub lang: String,
    pub data: Value,
    pub next_attempt_at: chrono::DateTime<Utc>,
}

pub async fn notices(conn: &mut PgConnection, kind: &str) -> Vec<NoticeRow> {
    sqlx::query_as(
        "SELECT customer_id, kind, channel, event_ref, lang, data, next_attempt_at FROM notices
         WHERE kind = $1 ORDER BY created_at, id",
    )
    .bind(kind)
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Every notice renders with its kind's built-in wording: the planner filled
/// each field the template names.
fn renders(n: &NoticeRow) {
    let kind = Kind::parse(&n.kind).unwrap();
    let (subject, body) = template::builtin(kind, &n.lang);
    let r = template::render(subject, body, &n.data).unwrap_or_else(|e| panic!("{}: {e} in {}", n.kind, n.data));
    assert!(!r.body.contains('{'), "{}", r.body);
}

async fn fault(conn: &mut PgConnection, customer: Uuid, at: chrono::DateTime<Utc>) {
    let entry =
        timeline::Entry { kind: "work_order", notice: Some("fault_reported"), title: "GD-1", status: "", link: "" };
    timeline::record(conn, customer, at, entry).await.unwrap();
}

#[tokio::test]
async fn events_become_notices_once_and_a_rule_reaching_back_picks_up_older_ones() {
    let app = TestApp::spawn().await;
    let [a, b] = [app.alpha.customers[0], app.alpha.customers[1]];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    clear_rules(&mut tx).await;
    fault(&mut tx, a, Utc::now() - Duration::days(2)).await;
    fault(&mut tx, b, Utc::now()).await;
    // Without a rule nothing is planned and the events wait in the outbox.
    assert_eq!(plan::plan_events(&mut tx).await.unwrap(), plan::Planned::default());
    let rule = add_rule(&mut tx, "fault_reported", ("concerned", None, ""), 5, 1).await;
    let planned = plan::plan_events(&mut tx).await.unwrap();
    assert_eq!((planned.events, planned.notices), (1, 1), "only the event after the rule's start");
    assert_eq!(plan::plan_events(&mut tx).await.unwrap().notices, 0, "planned once");
    let made = notices(&mut tx, "fault_reported").await;
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].customer_id, made[0].channel.as_str(), made[0].lang.as_str()), (b, "sms", "zh-CN"));
    assert!(made[0].event_ref.starts_with("timeline:"));
    assert!(made[0].next_attempt_at > Utc::now() + Duration::minutes(4), "the rule's five minutes after the event");
    renders(&made[0]);

    // Moving the rule's start back three days picks up the older event, once.
    sqlx::query("UPDATE notice_rules SET since = now() - interval '3 days' WHERE id = $1")
        .bind(rule)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(plan::plan_events(&mut tx).await.unwrap().notices, 1);
    let mut told: Vec<Uuid> = notices(&mut tx, "fault_reported").await.iter().map(|n| n.customer_id).collect();
    told.sort();
    assert_eq!(told, {
        let mut both = vec![a, b];
        both.sort();
        both
    });
    assert_eq!(plan::plan_events(&mut tx).await.unwrap(), plan::Planned::default());
    tx.commit().await.unwrap();

    // The customer's timeline shows the notice and where it is.
    let counter = app.login(&app.alpha, "counter").await;
    let (_, page) = counter.get_text(&format!("/customers/{b}")).await;
    assert!(page.contains("故障通知 · 短信") && page.contains("notice-status-queued"), "{page}");

    // The other company's outbox and notices are its own.
    let mut theirs = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    assert!(notices(&mut theirs, "fault_reported").await.is_empty());
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM notice_outbox").fetch_one(&mut *theirs).await.unwrap();
    assert_eq!(outbox, 0);
}

/// A bill event and a load-change event planned together, with the joins
/// forced to hash joins (as a large outbox plans them): each link is cast to
/// an id only for its own kind. (The load change's cast once read a bill's
/// link and stopped all planning with "invalid input syntax for type uuid".)
#[tokio::test]
async fn events_of_different_kinds_are_planned_together_whatever_the_join() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    clear_rules(&mut tx).await;
    for (notice, link) in [
        ("bill_issued", format!("/bills/{}", Uuid::now_v7())),
        ("load_anomaly", format!("/load-anomalies/{}", Uuid::now_v7())),
    ] {
        let entry = timeline::Entry { kind: "bill", notice: Some(notice), title: "T", status: "", link: &link };
        timeline::record(&mut tx, customer, Utc::now(), entry).await.unwrap();
        add_rule(&mut tx, notice, ("concerned", None, ""), 0, 1).await;
    }
    sqlx::query("SET LOCAL enable_nestloop = off").execute(&mut *tx).await.unwrap();
    sqlx::query("SET LOCAL enable_mergejoin = off").execute(&mut *tx).await.unwrap();
    let planned = plan::plan_events(&mut tx).await.unwrap();
    assert_eq!((planned.events, planned.notices), (2, 2));
}

#[tokio::test]
async fn a_rule_for_a_route_notifies_only_customers_on_it_and_broadcasts_reach_an_area() {
    let app = TestApp::spawn().await;
    let [a, b] = [app.alpha.customers[0], app.alpha.customers[1]];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    clear_rules(&mut tx).await;
    let route: Uuid = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO reading_routes (tenant_id, id, code, name) VALUES (app_tenant_id(), $1, 'R-NOTE', 'route')",
    )
    .bind(route)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET route_id = $1 WHERE id = $2")
        .bind(route)
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    add_rule(&mut tx, "fault_reported", ("route", Some(route), ""), 0, 1).await;
    fault(&mut tx, a, Utc::now()).await;
    fault(&mut tx, b, Utc::now()).await;
    assert_eq!(plan::plan_events(&mut tx).await.unwrap().notices, 1);
    assert_eq!(notices(&mut tx, "fault_reported").await[0].customer_id, b);

    // Advice to an area: every active customer whose address starts with it.
    sqlx::query("UPDATE customers SET address = '西湖区文三路8号' WHERE id = $1")
        .bind(a)
        .execute(&mut *tx)
        .await
        .unwrap();
    let advice = add_rule(&mut tx, "safe_use_advice", ("area", None, "西湖区"), 0, 0).await;
    assert_eq!(plan::broadcast_reach(&mut tx, advice).await.unwrap(), 1);
    let sent = plan::broadcast(&mut tx, advice, "雷雨天气请注意用电安全。").await.unwrap();
    assert_eq!(sent, Some(1));
    let made = notices(&mut tx, "safe_use_advice").await;
    assert_eq!(made[0].customer_id, a);
    assert_eq!(made[0].data["message"], "雷雨天气请注意用电安全。");
    renders(&made[0]);
    // An event rule is no broadcast rule.
    let not_broadcast: Uuid = sqlx::query_scalar("SELECT id FROM notice_rules WHERE kind = 'fault_reported'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(plan::broadcast(&mut tx, not_broadcast, "x").await.unwrap(), None);
}

#[tokio::test]
async fn issued_bills_are_told_then_reminded_before_and_after_their_due_date_once() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        clear_rules(&mut tx).await;
        add_rule(&mut tx, "bill_issued", ("concerned", None, ""), 0, 1).await;
        tx.commit().await.unwrap();
    }
    let (older, newer) = two_bills(&app, &key).await;
    let planned = plan::plan_everywhere(&app.pool).await.unwrap();
    assert!(planned.notices >= 2, "{planned:?}");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let told = notices(&mut tx, "bill_issued").await;
    let bill_nos: Vec<String> = sqlx::query_scalar("SELECT bill_no FROM bills WHERE id = ANY($1) ORDER BY period")
        .bind(vec![older, newer])
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    for no in &bill_nos {
        let n = told.iter().find(|n| n.data["bill_no"] == no.as_str()).expect("each bill told");
        assert!(n.data["amount"].as_str().is_some() && n.data["due_date"].as_str().is_some());
        renders(n);
    }

    // Due in two days: the three-day reminder is due now; an overdue bill gets the day-after notice.
    sqlx::query("UPDATE bills SET due_on = current_date + 2 WHERE id = $1")
        .bind(newer)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE bills SET issued_on = current_date - 20, due_on = current_date - 3 WHERE id = $1")
        .bind(older)
        .execute(&mut *tx)
        .await
        .unwrap();
    add_rule(&mut tx, "payment_due", ("concerned", None, ""), -3 * 24 * 60, 24 * 40).await;
    add_rule(&mut tx, "overdue", ("concerned", None, ""), 24 * 60, 24 * 40).await;
    assert_eq!(plan::scan_due(&mut tx).await.unwrap(), 2);
    assert_eq!(plan::scan_due(&mut tx).await.unwrap(), 0, "once per bill and rule");
    let due = notices(&mut tx, "payment_due").await;
    let overdue = notices(&mut tx, "overdue").await;
    assert_eq!((due.len(), overdue.len()), (1, 1));
    assert_eq!(due[0].event_ref, format!("bill:{newer}:due:-4320"));
    assert_eq!(overdue[0].event_ref, format!("bill:{older}:overdue:1440"));
    renders(&due[0]);
    renders(&overdue[0]);
}

#[tokio::test]
async fn an_opted_out_customer_gets_nothing_and_channels_fall_back_in_their_order() {
    let app = TestApp::spawn().await;
    let [a, b] = [app.alpha.customers[0], app.alpha.customers[1]];
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    clear_rules(&mut tx).await;
    sqlx::query("INSERT INTO notice_opt_outs (tenant_id, customer_id, kind, by_label) VALUES (app_tenant_id(), $1, 'fault_reported', 't')")
        .bind(a)
        .execute(&mut *tx)
        .await
        .unwrap();
    // Email first, but b has no email address: sms, then letter to fall back on.
    sqlx::query("UPDATE customers SET preferred_channels = '{email,sms,letter}' WHERE id = $1")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    add_rule(&mut tx, "fault_reported", ("concerned", None, ""), 0, 1).await;
    fault(&mut tx, a, Utc::now()).await;
    fault(&mut tx, b, Utc::now()).await;
    assert_eq!(plan::plan_events(&mut tx).await.unwrap().notices, 1);
    let id: Uuid =
        sqlx::query_scalar("SELECT id FROM notices WHERE customer_id = $1").bind(b).fetch_one(&mut *tx).await.unwrap();
    let (channel, fallback): (String, Vec<String>) =
        sqlx::query_as("SELECT channel, fallback FROM notices WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((channel.as_str(), fallback), ("sms", vec!["letter".to_owned()]));
    let next = gridcrm::notices::db::fail_and_fall_back(&mut tx, id, "gateway said no").await.unwrap();
    assert_eq!(next.as_deref(), Some("letter"));
    assert_eq!(gridcrm::notices::db::fail_and_fall_back(&mut tx, id, "again").await.unwrap(), None, "failed once");
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT channel, status, idempotency_key FROM notices WHERE customer_id = $1 ORDER BY channel DESC",
    )
    .bind(b)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("sms", "failed"));
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("letter", "queued"));
    // The keys the SQL wrote are the ones notices::idempotency_key describes.
    let event_ref = format!("timeline:{}", rows[0].2.split(':').nth(3).unwrap());
    assert_eq!(rows[0].2, gridcrm::notices::idempotency_key(Kind::FaultReported, b, &event_ref, "sms"));
    assert_eq!(rows[1].2, gridcrm::notices::idempotency_key(Kind::FaultReported, b, &event_ref, "letter"));
}

#[tokio::test]
async fn a_tenant_admin_writes_rules_and_an_account_manager_sends_advice_on_the_rules_page() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/notices/rules").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // A company starts with a rule for every event and date coming due.
    assert!(
        page.contains("缴费提醒") && page.contains("30 天 （日期之前）") && page.contains("客户自选渠道"),
        "{page}"
    );
    for tenant in [&app.alpha, &app.beta] {
        let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
        clear_rules(&mut tx).await;
        tx.commit().await.unwrap();
    }
    let (_, page) = admin.get_text("/notices/rules").await;
    assert!(page.contains("尚无规则"), "the empty state says why nothing is sent");

    // Bad input names its fields and keeps nothing.
    let r = admin
        .post(
            "/notices/rules",
            &[
                ("kind", "fault_reported"),
                ("audience", "route"),
                ("offset_amount", "2"),
                ("offset_unit", "hours"),
                ("offset_side", "before"),
            ],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("只有到期日期可以提前通知") && page.contains("route_id-error"), "{page}");
    assert_eq!(app.count_all("notice_rules").await, 0);

    let r = admin
        .post(
            "/notices/rules",
            &[
                ("kind", "payment_due"),
                ("audience", "concerned"),
                ("offset_amount", "3"),
                ("offset_unit", "days"),
                ("offset_side", "before"),
                ("channel_1", "sms"),
                ("channel_2", "letter"),
            ],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let r = admin
        .post("/notices/rules", &[("kind", "energy_saving_advice"), ("audience", "area"), ("audience_text", "上城区")])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, page) = admin.get_text("/notices/rules").await;
    assert!(page.contains("缴费提醒") && page.contains("3 天 （日期之前）") && page.contains("短信 → 信函"), "{page}");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let advice: Uuid = sqlx::query_scalar("SELECT id FROM notice_rules WHERE kind = 'energy_saving_advice'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    drop(tx);

    // The delivery settings keep important customers earlier.
    let r = admin
        .post(
            "/notices/settings",
            &[
                ("quiet_from", "22:00"),
                ("quiet_to", "07:30"),
                ("outage_lead_days", "7"),
                ("outage_priority_days", "3"),
                ("default_lang", "zh-CN"),
            ],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post(
            "/notices/settings",
            &[
                ("quiet_from", "22:00"),
                ("quiet_to", "07:30"),
                ("outage_lead_days", "7"),
                ("outage_priority_days", "10"),
                ("default_lang", "en"),
            ],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);

    // Counter staff may not touch rules; an account manager sends advice to the area.
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/notices/rules").await.status(), reqwest::StatusCode::FORBIDDEN);
    let manager = app.login(&app.alpha, "manager").await;
    let (status, page) = manager.get_text(&format!("/notices/rules/{advice}/broadcast")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let reach = app.alpha.customers.len();
    assert!(page.contains(&format!("<strong>{reach}</strong>")), "every test customer lives in 上城区: {page}");
    let r = manager.post(&format!("/notices/rules/{advice}/broadcast"), &[("message", " ")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let r = manager
        .post(&format!("/notices/rules/{advice}/broadcast"), &[("message", "Switch off standby loads at night.")])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let made = notices(&mut tx, "energy_saving_advice").await;
    assert_eq!(made.len(), reach);
    assert!(made.iter().all(|n| n.lang == "en"), "the tenant's default language now");
    drop(tx);
    let r = manager.post(&format!("/notices/rules/{advice}/delete"), &[]).await;
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);

    // Another company sees none of it and can change none of it.
    let theirs = app.login(&app.beta, "admin").await;
    let (_, page) = theirs.get_text("/notices/rules").await;
    assert!(page.contains("尚无规则") && !page.contains(&format!("rule-{advice}")));
    assert_eq!(
        theirs.post(&format!("/notices/rules/{advice}/enabled"), &[("enabled", "off")]).await.status(),
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        theirs.post(&format!("/notices/rules/{advice}/delete"), &[]).await.status(),
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        theirs.get(&format!("/notices/rules/{advice}/broadcast")).await.status(),
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(app.count_all("notice_rules").await, 2);

    // The admin turns the advice rule off, then removes it; the audit log has each step.
    let r = admin.post(&format!("/notices/rules/{advice}/enabled"), &[("enabled", "off")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let r = admin.post(&format!("/notices/rules/{advice}/delete"), &[]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.count_all("notice_rules").await, 1);
    let audited =
        app.count_all("audit_log WHERE entity IN ('notice_rule', 'notice_settings', 'notice_broadcast')").await;
    assert_eq!(audited, 6);
}

#[tokio::test]
async fn a_low_balance_warns_once_per_episode_and_a_payment_that_reconnects_is_told() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let count = async |kind: &str| {
        plan::plan_everywhere(&app.pool).await.unwrap();
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        let made = notices(&mut tx, kind).await;
        assert!(made.iter().all(|n| n.customer_id == customer));
        made.iter().for_each(renders);
        made.len()
    };
    // The company's default rules tell of bills and of the supply's steps.
    assert_eq!(count("bill_issued").await, 2);

    // Cost control on a debt with no credit: disconnection, told once.
    let manager = app.login(&app.alpha, "manager").await;
    let r = manager.post(&format!("/customers/{customer}/cost-control"), &[]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(count("disconnection_ordered").await, 1);

    // A payment that clears the debt reconnects, and the customer is told.
    let account_no: String = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    let counter = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/payments"))
        .bearer_auth(&counter)
        .json(&serde_json::json!({"account_no": account_no, "amount": "200.00", "channel": "alipay", "channel_ref": "ALI-7", "allow_credit": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    assert_eq!(count("reconnection_ordered").await, 1);
    assert_eq!(count("disconnection_ordered").await, 1, "not told twice");

    // With a 40-day threshold the balance left is low: warned once in the episode, however often estimated.
    for _ in 0..2 {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query("UPDATE billing_settings SET low_balance_days = 40").execute(&mut *tx).await.unwrap();
        sqlx::query("UPDATE cost_control_agreements SET estimated_on = NULL").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        gridcrm::cost_control::db::run_daily(&app.pool).await.unwrap();
        assert_eq!(count("low_balance").await, 1);
    }
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let warning = &notices(&mut tx, "low_balance").await[0];
    assert!(warning.data["balance"].as_str().is_some_and(|b| b.parse::<f64>().unwrap() > 0.0), "{}", warning.data);
}

/// The figure on the hub's card that links to `href`.
fn hub_figure(page: &str, href: &str) -> u64 {
    let card = &page[page.find(&format!(r#"href="{href}""#)).unwrap_or_else(|| panic!("no card for {href}"))..];
    let figure = &card[card.find(r#"class="figure">"#).unwrap() + r#"class="figure">"#.len()..];
    figure[..figure.find('<').unwrap()].parse().unwrap()
}

#[tokio::test]
async fn the_hub_counts_only_its_own_companys_letters() {
    let app = TestApp::spawn().await;
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let targets: Vec<_> = app
        .beta
        .customers
        .iter()
        .map(|c| gridcrm::notices::db::Target {
            customer_id: *c,
            event_ref: format!("hub:{c}"),
            data: serde_json::json!({}),
            not_before: Utc::now() - Duration::minutes(1),
        })
        .collect();
    gridcrm::notices::db::add_targets(&mut tx, &targets).await.unwrap();
    let mut common = template::sample_data(Kind::SafeUseAdvice);
    common["message"] = serde_json::json!("雷雨天气请远离电力设施。");
    let letters =
        gridcrm::notices::db::enqueue(&mut tx, Kind::SafeUseAdvice, &["letter".into()], &common).await.unwrap();
    tx.commit().await.unwrap();
    assert!(letters > 0);

    let (status, theirs) = app.login(&app.beta, "admin").await.get_text("/notices").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(hub_figure(&theirs, "/notices/letters"), letters);
    let (_, ours) = app.login(&app.alpha, "admin").await.get_text("/notices").await;
    assert_eq!(hub_figure(&ours, "/notices/letters"), 0, "another company's letters are not counted");
}
