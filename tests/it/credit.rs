//! Credit ratings: the rating job (idempotent, agreeing with the card), the
//! history and the change since last time, breaches and thefts, the
//! poor-credit list's rule and manual overrides, the payment-method prompt,
//! the API, the CSV, and isolation between tenants.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;
use uuid::Uuid;

use crate::support::{Tenant, TestApp};
use crate::value::{exec, four_histories};
use gridcrm::{
    credit::{self, db as credit_db},
    db,
    staff::Role,
};

async fn rate(app: &TestApp, tenant: &Tenant) -> credit_db::RateReport {
    credit_db::rate(&app.pool, tenant.id, &|_, _| {}).await.unwrap()
}

async fn history(app: &TestApp, customer: Uuid) -> Vec<credit_db::StoredRating> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    credit_db::customer_credit(&mut tx, customer, 24).await.unwrap().history
}

async fn decision(app: &TestApp, tenant: &Tenant, customer: Uuid) -> Option<credit_db::Decision> {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    credit_db::customer_credit(&mut tx, customer, 1).await.unwrap().decision
}

async fn listed(app: &TestApp, customer: Uuid) -> Option<credit_db::ListEntry> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    credit_db::customer_credit(&mut tx, customer, 1).await.unwrap().listed
}

/// Alpha's four histories, with the debtor (c3) in a high-risk industry and
/// its arrears 120 days old.
pub(crate) async fn setup(app: &TestApp) {
    four_histories(app).await;
    let c3 = app.alpha.customers[3];
    exec(app, &app.alpha, "UPDATE customers SET industry_code = 'C31' WHERE id = $1", c3).await;
    exec(app, &app.alpha, "UPDATE customer_metrics SET arrears_days = 120 WHERE customer_id = $1 AND arrears > 0", c3)
        .await;
}

#[tokio::test]
async fn rating_is_idempotent_and_every_score_is_what_the_card_gives() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let c = app.alpha.customers.clone();
    let report = rate(&app, &app.alpha).await;
    assert_eq!(report.rated, 4);
    assert_eq!(report.grades.iter().map(|(_, n)| n).sum::<i64>(), 4);

    // The debtor's inputs, from four month ends in arrears of one average bill, 120 days old.
    let debtor = history(&app, c[3]).await;
    assert_eq!(debtor.len(), 1);
    let inputs = &debtor[0].inputs;
    assert_eq!(
        (inputs.arrears_months, inputs.arrears_ratio, inputs.max_arrears_days, inputs.on_time_share),
        (4, Some(1.0), 120, Some(0.5))
    );
    assert_eq!(inputs.industry_risk, "high");
    // 560 − 5 − 5 − 5 − 25 + 10 + 5 + 5 + 5 − 10 + 5 − 15 = 525: grade C, cost control, on the list.
    assert_eq!((debtor[0].score.to_string().as_str(), debtor[0].grade.as_str()), ("525.00", "C"));
    let d = decision(&app, &app.alpha, c[3]).await.unwrap();
    assert_eq!((d.method.as_str(), d.previous_grade), ("cost_control", None));
    assert_eq!(listed(&app, c[3]).await.unwrap().entry_reason, "grade_c");
    assert_eq!(report.listed, 1);

    // Every stored rating is what the default card gives for the stored inputs.
    let card = credit::default_card();
    for id in &c {
        let stored = history(&app, *id).await.remove(0);
        let rating = credit::rate(&card, &credit::Bands::default(), &stored.inputs);
        assert_eq!(stored.score.to_string(), format!("{:.2}", rating.score), "customer {id}");
        assert_eq!(stored.grade, rating.grade);
        for p in &rating.points {
            assert_eq!(stored.points[&p.factor], p.points, "{}", p.factor);
        }
    }

    // Again in the same month: the month's rating is replaced, nothing moves.
    let again = rate(&app, &app.alpha).await;
    assert_eq!((again.rated, again.changed, again.listed, again.delisted), (4, 0, 0, 0));
    assert_eq!(again.grades, report.grades);
    assert_eq!(app.count_all("credit_ratings").await, 4);
    assert_eq!(app.count_all("poor_credit_list").await, 1);
}

#[tokio::test]
async fn a_new_month_keeps_the_previous_grade_and_the_page_names_what_changed() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let c0 = app.alpha.customers[0];
    rate(&app, &app.alpha).await;
    // Pretend that rating was last month's, then record a theft and rate this month.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE credit_ratings SET month = (month - interval '1 month')::date")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = decision(&app, &app.alpha, c0).await.unwrap();

    let counter = app.login(&app.alpha, "counter").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let r = counter
        .post(
            &format!("/customers/{c0}/credit/events"),
            &[("kind", "theft"), ("occurred_on", &today), ("evidence", "表箱封印被破坏，现场照片 3 张")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Without evidence, the form is refused by field.
    let r = counter
        .post(
            &format!("/customers/{c0}/credit/events"),
            &[("kind", "theft"), ("occurred_on", &today), ("evidence", " ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let report = rate(&app, &app.alpha).await;
    assert_eq!(report.changed, 1, "only c0 changed grade");
    let after = decision(&app, &app.alpha, c0).await.unwrap();
    assert_eq!(after.previous_grade.as_deref(), Some(before.grade.as_str()));
    assert_eq!(after.previous_score, Some(before.score));
    assert_eq!(listed(&app, c0).await.unwrap().entry_reason, "theft");
    assert_eq!(history(&app, c0).await.len(), 2);

    let (status, page) = counter.get_text(&format!("/customers/{c0}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("表箱封印被破坏"), "the evidence is listed");
    assert!(page.contains("窃电：+5 → −80") || page.contains("窃电: +5 → −80"), "the change is named");
    // The audit log has the theft with its evidence.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity_id = $1 AND after::text LIKE '%theft%'")
            .bind(c0)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn manual_list_changes_need_a_reason_and_hold_against_the_rule() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let c = app.alpha.customers.clone();
    rate(&app, &app.alpha).await;
    assert!(listed(&app, c[3]).await.is_some());

    // Counter staff may not; a supervisor must give a reason.
    let counter = app.login(&app.alpha, "counter").await;
    let r = counter.post(&format!("/customers/{}/credit/unlist", c[3]), &[("reason", "已结清")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor.post(&format!("/customers/{}/credit/unlist", c[3]), &[("reason", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(listed(&app, c[3]).await.is_some(), "nothing changed");
    let r = supervisor.post(&format!("/customers/{}/credit/unlist", c[3]), &[("reason", "已结清全部欠费")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(listed(&app, c[3]).await.is_none());
    let r = supervisor.post(&format!("/customers/{}/credit/unlist", c[3]), &[("reason", "again")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A manual entry for c1, whom the rule would not list.
    let r = supervisor.post(&format!("/customers/{}/credit/list", c[1]), &[("reason", "法院判决失信被执行人")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The rule neither re-lists c3 (removed by hand) nor delists c1 (listed by hand).
    let report = rate(&app, &app.alpha).await;
    assert_eq!((report.listed, report.delisted), (0, 0));
    assert!(listed(&app, c[3]).await.is_none());
    let manual = listed(&app, c[1]).await.unwrap();
    assert!(manual.manual_entry);
    assert_eq!(manual.entry_reason, "法院判决失信被执行人");

    // The list page and its CSV: now c1 only; with past entries, c3's stay too.
    let (_, page) = supervisor.get_text("/credit/poor-list").await;
    assert!(page.contains("法院判决失信被执行人"));
    let csv = supervisor.get("/credit/poor-list.csv?status=all").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 with BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("已结清全部欠费"));
    let r = supervisor.get("/credit/poor-list?by=robot").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_counter_sees_the_prompt_and_the_api_explains_the_grade() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let c3 = app.alpha.customers[3];
    let c2 = app.alpha.customers[2];
    exec(&app, &app.alpha, "UPDATE customers SET industry_code = 'C31' WHERE id = $1", c2).await;
    exec(&app, &app.alpha, "UPDATE customer_metrics SET late_fees = 1 WHERE customer_id = $1", c2).await;
    rate(&app, &app.alpha).await;
    let counter = app.login(&app.alpha, "counter").await;
    let (_, page) = counter.get_text(&format!("/customers/{c3}")).await;
    assert!(page.contains("id=\"credit-prompt\""), "grade C on post-pay: the prompt shows");
    assert!(page.contains("信用等级 C"));

    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body: Value = app.api_get(&key, &format!("/api/v1/customers/{c3}/credit")).await;
    assert_eq!(body["decision"]["grade"], "C");
    assert_eq!(body["decision"]["method"], "cost_control");
    assert_eq!(body["current_method"], "post_pay");
    assert_eq!(body["method_prompt"], "stricter");
    assert_eq!(body["factors"].as_array().map(Vec::len), Some(credit::FACTORS.len()));
    assert_eq!(body["factors"][3]["factor"], "max_arrears_days");
    assert_eq!(body["factors"][3]["points"], -25.0);
    assert_eq!(body["poor_credit"]["entry_reason"], "grade_c");
    let list: Value = app.api_get(&key, "/api/v1/poor-credit").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // c2 pays late but pays (a late fee every month), in a high-risk
    // industry: grade B, post-pay against a deposit of two average bills
    // (2 × 800). Recorded, the prompt goes.
    let d2 = decision(&app, &app.alpha, c2).await.unwrap();
    assert_eq!((d2.grade.as_str(), d2.method.as_str()), ("B", "post_pay_secured"));
    assert_eq!(d2.security_required.to_string(), "1600.00");
    let body: Value = app.api_get(&key, &format!("/api/v1/customers/{c2}/credit")).await;
    assert_eq!(body["method_prompt"], "stricter");
    let today = chrono::Utc::now().date_naive().to_string();
    let deposit = [("kind", "deposit"), ("amount", "1600"), ("reference", "SJ-0001"), ("received_on", today.as_str())];
    let r = counter
        .post(
            &format!("/customers/{c2}/credit/securities"),
            &[("kind", "deposit"), ("amount", "-5"), ("reference", "SJ-0001"), ("received_on", today.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = counter.post(&format!("/customers/{c2}/credit/securities"), &deposit).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let body: Value = app.api_get(&key, &format!("/api/v1/customers/{c2}/credit")).await;
    assert_eq!(body["current_method"], "post_pay_secured");
    assert_eq!(body["method_prompt"], Value::Null);
}

#[tokio::test]
async fn another_tenants_credit_is_not_found_and_lists_show_only_their_own() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    // Before the first rating a customer has credit with nothing in it yet.
    let own = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body: Value = app.api_get(&own, &format!("/api/v1/customers/{}/credit", app.alpha.customers[3])).await;
    assert_eq!((&body["decision"], &body["method_prompt"]), (&Value::Null, &Value::Null));
    assert_eq!(body["history"].as_array().map(Vec::len), Some(0));
    assert_eq!(body["current_method"], "post_pay");
    rate(&app, &app.alpha).await;
    let beta = rate(&app, &app.beta).await;
    assert_eq!(beta.listed, 0, "beta's customers have no history");
    let theirs = app.alpha.customers[3];
    let key = app.api_key(&app.beta, Role::TenantAdmin).await;
    let client = reqwest::Client::new();
    let r = client.get(app.url(&format!("/api/v1/customers/{theirs}/credit"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list: Value = app.api_get(&key, "/api/v1/poor-credit?status=all").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let admin = app.login(&app.beta, "admin").await;
    let today = chrono::Utc::now().date_naive().to_string();
    for (path, fields) in [
        ("credit/unlist", vec![("reason", "试探")]),
        ("credit/list", vec![("reason", "试探")]),
        ("credit/events", vec![("kind", "theft"), ("occurred_on", today.as_str()), ("evidence", "试探")]),
        (
            "credit/securities",
            vec![("kind", "deposit"), ("amount", "1"), ("reference", "x"), ("received_on", today.as_str())],
        ),
    ] {
        let r = admin.post(&format!("/customers/{theirs}/{path}"), &fields).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (_, page) = admin.get_text("/credit/poor-list?status=all").await;
    assert!(!page.contains(&theirs.to_string()));
    let csv = admin.get("/credit/poor-list.csv?status=all").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1, "the header only: {csv}");
    assert!(listed(&app, theirs).await.is_some(), "alpha's entry untouched");
}

#[tokio::test]
async fn a_calibrated_card_changes_nothing_until_a_tenant_admin_adopts_it() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    // Four customers are too few to calibrate: the page says why.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor.post("/credit/calibration", &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("calibration needs both good and bad customers"));

    // A candidate stored as a calibration would store it: 100 points more for everyone.
    let mut card = credit::default_card();
    card.base += 100.0;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let report = serde_json::json!({"note": "made by the test"});
    let id = credit_db::save_calibration(&mut tx, &report, &card, "test").await.unwrap();
    tx.commit().await.unwrap();
    let before = rate(&app, &app.alpha).await;
    assert_eq!(before.grades, rate(&app, &app.alpha).await.grades, "stored, not adopted: nothing moves");

    let r = supervisor.post(&format!("/credit/calibration/{id}/adopt"), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a supervisor calibrates; only a tenant admin adopts");
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post(&format!("/credit/calibration/{id}/adopt"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin.post(&format!("/credit/calibration/{id}/adopt"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "adopted once");
    let beta_admin = app.login(&app.beta, "admin").await;
    let r = beta_admin.post(&format!("/credit/calibration/{id}/adopt"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "another company's calibration is not found");

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let settings = credit_db::settings(&mut tx).await.unwrap();
    assert!(!settings.default_card && settings.card == card);
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'credit_rating'").fetch_one(&mut *tx).await.unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'credit_rating' AND entity_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((queued, audited), (1, 1));
    let after = rate(&app, &app.alpha).await;
    assert!(
        after.grades[0].1 > before.grades[0].1,
        "100 points more: more AAA ({:?} → {:?})",
        before.grades,
        after.grades
    );
    let (_, page) = admin.get_text("/credit/calibration").await;
    assert!(page.contains("校准后的评分卡"), "the page says a calibrated card is in use");
}

#[tokio::test]
async fn a_bill_run_reads_the_payment_method_decision_into_each_bill() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    rate(&app, &app.alpha).await;
    let c0 = app.alpha.customers[0];
    let decided = decision(&app, &app.alpha, c0).await.unwrap();
    for (period, total) in [("2026-10", "1000"), ("2026-11", "1150")] {
        assert_eq!(crate::billing::reading(&app, "ALPHAM0001", period, total).await, StatusCode::SEE_OTHER);
    }
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/bill-runs"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"period": "2026-11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let run: Value = r.json().await.unwrap();
    let run =
        crate::billing::wait_for_run(&app, &key, &format!("/api/v1/bill-runs/{}", run["id"].as_str().unwrap())).await;
    assert_eq!(run["bills"], 1, "{run}");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (bill_id, credit): (Uuid, Value) =
        sqlx::query_as("SELECT id, detail->'credit' FROM bills WHERE customer_id = $1")
            .bind(c0)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(credit["grade"], decided.grade.as_str());
    assert_eq!(credit["method"], decided.method.as_str());
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (_, page) = supervisor.get_text(&format!("/bills/{bill_id}")).await;
    assert!(
        page.contains("信用等级与缴费方式") && page.contains(&format!("{} · 后付费", decided.grade)),
        "the bill shows the decision"
    );
}

#[tokio::test]
async fn a_tenant_admin_sets_the_bands_the_deposit_and_the_industry_risk() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/credit/calibration").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"name="risk_C31""#), "every industry has a class to choose");

    // Every industry's class must come with the form; bands must rise.
    let mut fields: Vec<(String, String)> = [
        ("aaa_min", "640"),
        ("aa_min", "610"),
        ("a_min", "580"),
        ("b_min", "600"),
        ("deposit_months", "3"),
        ("list_override_months", "6"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM industries").fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    for code in &codes {
        let class = if code == "C31" { "low" } else { credit::industry_risk(code, &[]) };
        fields.push((format!("risk_{code}"), class.to_owned()));
    }
    let post = async |fields: &[(String, String)], who: &crate::support::Browser| {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        who.post("/credit/settings", &refs).await
    };
    let r = post(&fields, &admin).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("分数线须递增"));
    fields[3].1 = "550".into();
    let supervisor = app.login(&app.alpha, "supervisor").await;
    assert_eq!(post(&fields, &supervisor).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post(&fields, &admin).await.status(), StatusCode::SEE_OTHER);

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let s = credit_db::settings(&mut tx).await.unwrap();
    assert_eq!((s.bands.aaa_min, s.bands.b_min, s.deposit_months, s.list_override_months), (640.0, 550.0, 3.0, 6));
    // Only the classes that differ from the built-in ones are kept: C31 is high by default.
    assert_eq!(credit_db::own_industry_risk(&mut tx).await.unwrap(), vec![("C31".to_owned(), "low".to_owned())]);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'credit_settings'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audited, 1);
    rate(&app, &app.alpha).await;
    assert_eq!(history(&app, app.alpha.customers[3]).await[0].inputs.industry_risk, "low");
    let (_, page) = admin.get_text("/credit/calibration?saved=true").await;
    assert!(page.contains("已保存"));
}

#[tokio::test]
async fn the_vip_list_filters_by_credit_grade_and_shows_it() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    gridcrm::value::db::recompute(&app.pool, app.alpha.id).await.unwrap();
    rate(&app, &app.alpha).await;
    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let c3 = app.alpha.customers[3];
    let list: Value = app.api_get(&key, "/api/v1/vip?tier=all&grade=C").await;
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["customer_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [c3.to_string()]);
    assert_eq!(list["items"][0]["credit_grade"], "C");
    let manager = app.login(&app.alpha, "manager").await;
    let r = manager.get("/accounts/vip?tier=all&grade=D").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an unknown grade is named");
    let csv = manager.get("/accounts/vip.csv?tier=all&grade=C").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().next().unwrap().contains("信用等级"));
}

/// The ratios are rounded in Rust, as `round(x::numeric, places)::float8`
/// would round them: the same float8 for ratios, amounts, values a hair
/// either side of a half, and exact binary fractions whose 15 digits tie.
#[tokio::test]
async fn rounding_in_rust_gives_the_servers_float8_bit_for_bit() {
    let app = TestApp::spawn().await;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut values = Vec::new();
    for _ in 0..20_000 {
        let (a, b) = (next() % 1_000_000_000, 1 + next() % 1_000_000_000);
        values.push(a as f64 / 100.0 / (b as f64 / 100.0)); // a ratio of amounts
        values.push((a % 10_000_000) as f64 / 100.0 / (1 + b % 37) as f64); // an average bill
        let half = ((next() % 10_000_000) as f64 + 0.5) / 1e6; // (k + ½)·10⁻⁶ and its neighbours
        values.extend([half, half.next_up(), half.next_down(), -half]);
        let cents = ((next() % 100_000_000) as f64 + 0.5) / 100.0;
        values.extend([cents, cents.next_up(), cents.next_down()]);
        values.push((next() % (1 << 20)) as f64 / (1 << 20) as f64); // exact in binary
    }
    values.extend([0.0, -0.0, 1e-9, -1e-9, 5e-7, 2.5e-7, 1e15, 123_456_789.125, 0.1000518798828125]);
    let mut conn = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    for places in [6, 2] {
        let server: Vec<f64> = sqlx::query_scalar(
            "SELECT array_agg(round(x::numeric, $2)::float8 ORDER BY i) FROM unnest($1::float8[]) WITH ORDINALITY t (x, i)",
        )
        .bind(&values)
        .bind(places)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let differ: Vec<_> = values
            .iter()
            .zip(&server)
            .filter(|(x, s)| db::numeric::round_as_postgres(**x, places as u32).to_bits() != s.to_bits())
            .take(5)
            .collect();
        assert!(differ.is_empty(), "at {places} places, Rust and the server differ: {differ:?}");
    }
}
