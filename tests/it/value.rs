//! Value tiers and the VIP list: recompute from customer metrics, the SQL
//! and the Rust rule agreeing, the vip tag following the tier, manual VIPs,
//! the weights preview, the list's filters, sort, paging and CSV, and
//! isolation between tenants.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Tenant, TestApp};
use gridcrm::{
    db,
    staff::Role,
    value::{self, db as value_db},
};

/// One customer's twelve months (and the twelve before, when `prev_energy` is given).
pub(crate) struct History {
    pub(crate) energy: i64,
    pub(crate) prev_energy: Option<i64>,
    pub(crate) billed: i64,
    pub(crate) on_time: i64,
    pub(crate) late: i64,
    /// (arrears, arrears days) at each of the last `months` month ends.
    pub(crate) arrears: Option<(i64, i32, u32)>,
    pub(crate) max_days: i32,
}

pub(crate) async fn insert_history(app: &TestApp, tenant: &Tenant, customer: Uuid, h: History) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let current = gridcrm::tenants::current_month(&mut tx).await.unwrap();
    for back in 1..=24u32 {
        let month = gridcrm::months::back(current, back);
        let recent = back <= 12;
        let energy = if recent { Some(h.energy) } else { h.prev_energy };
        let Some(energy) = energy else { continue };
        let (arrears, days) = match h.arrears {
            Some((amount, days, months)) if back <= months => (amount, days),
            _ if recent && back == 2 => (0, h.max_days),
            _ => (0, 0),
        };
        sqlx::query(
            "INSERT INTO customer_metrics (tenant_id, customer_id, month, energy_kwh, billed, paid_on_time, paid_late, arrears, arrears_days)
             VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(customer)
        .bind(month)
        .bind(Decimal::from(energy))
        .bind(Decimal::from(if recent { h.billed } else { 0 }))
        .bind(Decimal::from(if recent { h.on_time } else { 0 }))
        .bind(Decimal::from(if recent { h.late } else { 0 }))
        .bind(Decimal::from(arrears))
        .bind(days)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

pub(crate) async fn exec(app: &TestApp, tenant: &Tenant, sql: &str, id: Uuid) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// Four customers of alpha: c0 large, punctual, growing and of special
/// importance (vip); c1 middling (medium); c2 small and late (low); c3 in
/// arrears at four month ends (negative).
pub(crate) async fn four_histories(app: &TestApp) {
    let c = &app.alpha.customers;
    exec(app, &app.alpha, "UPDATE customers SET importance = 'special', industry_code = 'C26' WHERE id = $1", c[0])
        .await;
    let big = History {
        energy: 10000,
        prev_energy: Some(8000),
        billed: 8000,
        on_time: 8000,
        late: 0,
        arrears: None,
        max_days: 0,
    };
    insert_history(app, &app.alpha, c[0], big).await;
    let middling =
        History { energy: 5000, prev_energy: None, billed: 4000, on_time: 4000, late: 0, arrears: None, max_days: 0 };
    insert_history(app, &app.alpha, c[1], middling).await;
    let late = History {
        energy: 1000,
        prev_energy: Some(1000),
        billed: 800,
        on_time: 0,
        late: 800,
        arrears: None,
        max_days: 20,
    };
    insert_history(app, &app.alpha, c[2], late).await;
    let debtor = History {
        energy: 2000,
        prev_energy: None,
        billed: 1600,
        on_time: 800,
        late: 800,
        arrears: Some((1600, 45, 4)),
        max_days: 0,
    };
    insert_history(app, &app.alpha, c[3], debtor).await;
}

pub(crate) async fn recompute(app: &TestApp, tenant: &Tenant) -> value_db::RecomputeReport {
    value_db::recompute(&app.pool, tenant.id).await.unwrap()
}

async fn stored(app: &TestApp, tenant: &Tenant, customer: Uuid) -> Option<value_db::CustomerValue> {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    value_db::get(&mut tx, customer).await.unwrap()
}

async fn tier(app: &TestApp, customer: Uuid) -> String {
    stored(app, &app.alpha, customer).await.unwrap().tier
}

async fn has_vip_tag(app: &TestApp, tenant: &Tenant, customer: Uuid) -> bool {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customer_tags WHERE customer_id = $1 AND tag_code = 'vip')")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn recompute_gives_the_expected_tiers_and_sql_agrees_with_the_rule() {
    let app = TestApp::spawn().await;
    four_histories(&app).await;
    let c = app.alpha.customers.clone();
    let report = recompute(&app, &app.alpha).await;
    assert_eq!(report.added, 4);
    assert_eq!(
        (report.count("vip"), report.count("medium"), report.count("low"), report.count("negative")),
        (1, 1, 1, 1)
    );
    let tiers = [tier(&app, c[0]).await, tier(&app, c[1]).await, tier(&app, c[2]).await, tier(&app, c[3]).await];
    assert_eq!(tiers, ["vip", "medium", "low", "negative"]);

    // c1: energy and revenue rank 2 of 0..3 → 66.67 each, paid on time 100,
    // no grade 0, no earlier year 50: (30 + 25) × 66.67 + 2000 + 500 = 6166.85 → 61.67.
    let c1 = stored(&app, &app.alpha, c[1]).await.unwrap();
    assert_eq!(c1.score, Decimal::new(6167, 2));
    assert_eq!(c1.inputs.energy_12m, Decimal::from(60000));
    let c3 = stored(&app, &app.alpha, c[3]).await.unwrap();
    assert_eq!((c3.inputs.arrears_months, c3.inputs.latest_arrears_days), (4, 45));

    // Every stored score and tier is what the Rust rule gives for the stored inputs.
    let settings = value::Settings::default();
    for id in &c {
        let v = stored(&app, &app.alpha, *id).await.unwrap();
        let valuation = value::score(&v.inputs, &settings);
        assert_eq!(
            (v.score, v.computed_tier.as_str()),
            (valuation.score, valuation.tier),
            "customer {id}: {:?}",
            v.inputs
        );
    }

    // Again with nothing changed: no row is rewritten, nobody moves.
    let again = recompute(&app, &app.alpha).await;
    assert_eq!((again.written, again.changed, again.added), (0, 0, 0));
    assert_eq!(again.tiers, report.tiers);
}

#[tokio::test]
async fn sql_and_rule_agree_on_many_varied_customers() {
    let app = TestApp::spawn().await;
    let actor = gridcrm::audit::Actor::command_line("test");
    let mut ids = app.alpha.customers.clone();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    for i in 0..36 {
        let draft = crate::support::draft(&format!("客户{i:02}"), &format!("1390000{i:04}"));
        let c = gridcrm::customers::service::create(&mut tx, &actor, &draft).await.unwrap();
        ids.push(c.id);
    }
    let grades = ["special", "first", "second", "temporary"];
    for (i, id) in ids.iter().enumerate() {
        if i % 5 < 4 {
            sqlx::query("UPDATE customers SET importance = $2 WHERE id = $1")
                .bind(id)
                .bind(grades[i % 5])
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        let h = History {
            energy: 137 * (i % 11) + 7 * i,
            prev_energy: (i % 3 != 0).then_some(100 + 13 * i),
            billed: 91 * (i % 7) + 3 * i,
            on_time: 17 * (i % 9),
            late: 11 * (i % 4),
            arrears: (i % 6 == 0).then_some((50 + i, (i * 7 % 120) as i32, (i % 5) as u32)),
            max_days: (i * 13 % 200) as i32,
        };
        insert_history(&app, &app.alpha, *id, h).await;
    }
    // A few late fees too.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customer_metrics SET late_fees = 1 WHERE energy_kwh::bigint % 2 = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Custom weights and thresholds, so the agreement is not only for the defaults.
    let settings = value::Settings {
        weight_consumption: 17,
        weight_revenue: 23,
        weight_payment: 29,
        weight_importance: 13,
        weight_growth: 18,
        vip_min: 71,
        high_min: 53,
        medium_min: 29,
        negative_arrears_days: 60,
    };
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    value_db::save_settings(&mut tx, &settings, "test").await.unwrap();
    tx.commit().await.unwrap();
    let report = recompute(&app, &app.alpha).await;
    assert_eq!(report.tiers.iter().map(|t| t.1).sum::<i64>(), 40);
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        let v = stored(&app, &app.alpha, *id).await.unwrap();
        let valuation = value::score(&v.inputs, &settings);
        assert_eq!(
            (v.score, v.computed_tier.as_str()),
            (valuation.score, valuation.tier),
            "customer {id}: {:?}",
            v.inputs
        );
        seen.insert(v.computed_tier);
    }
    assert!(seen.len() >= 4, "the data spreads over the tiers: {seen:?}");
}

#[tokio::test]
async fn the_vip_tag_follows_the_tier_and_a_manual_vip_survives_recompute() {
    let app = TestApp::spawn().await;
    four_histories(&app).await;
    let c = app.alpha.customers.clone();
    // A vip tag from before the tiers existed becomes a manual designation.
    exec(
        &app,
        &app.alpha,
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code) VALUES (app_tenant_id(), $1, 'vip')",
        c[1],
    )
    .await;
    recompute(&app, &app.alpha).await;
    let c1 = stored(&app, &app.alpha, c[1]).await.unwrap();
    assert!(c1.manual_vip && c1.tier == "vip" && c1.computed_tier == "medium", "{c1:?}");
    assert!(has_vip_tag(&app, &app.alpha, c[0]).await && has_vip_tag(&app, &app.alpha, c[1]).await);
    assert!(!has_vip_tag(&app, &app.alpha, c[2]).await);

    // A tag set by hand on a valued customer does not make a second notion of VIP.
    exec(
        &app,
        &app.alpha,
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code) VALUES (app_tenant_id(), $1, 'vip')",
        c[2],
    )
    .await;
    recompute(&app, &app.alpha).await;
    assert!(!has_vip_tag(&app, &app.alpha, c[2]).await, "removed: c2 is low");

    // Manual designation: refused without a reason, audited, on the timeline, survives recompute.
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post(&format!("/customers/{}/value/vip", c[2]), &[("reason", "  ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(tier(&app, c[2]).await, "low");
    let manager = app.login(&app.alpha, "manager").await;
    let r = manager.post(&format!("/customers/{}/value/vip", c[2]), &[("reason", "市重点项目")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "account managers do not designate VIPs");
    let r = admin.post(&format!("/customers/{}/value/vip", c[2]), &[("reason", "市重点项目")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let v = stored(&app, &app.alpha, c[2]).await.unwrap();
    assert_eq!(
        (v.tier.as_str(), v.previous_tier.as_deref(), v.manual_reason.as_deref()),
        ("vip", Some("low"), Some("市重点项目"))
    );
    assert!(has_vip_tag(&app, &app.alpha, c[2]).await, "the green channel follows at once");
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = $1 AND summary LIKE '%市重点项目%'",
    )
    .bind(c[2])
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let on_timeline: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_timeline WHERE customer_id = $1 AND kind = 'value'")
            .bind(c[2])
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    drop(tx);
    assert_eq!((audited, on_timeline), (1, 1));
    recompute(&app, &app.alpha).await;
    assert_eq!(tier(&app, c[2]).await, "vip");
    assert!(has_vip_tag(&app, &app.alpha, c[2]).await);

    // Editing the customer's tags leaves the vip tag to the tiers: a save
    // without it keeps it, a save with it on a low customer adds nothing.
    let actor = gridcrm::audit::Actor { user_id: None, label: "test".into(), request_id: None };
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let untagged = gridcrm::customers::model::CustomerDraft { tags: Some(vec![]), ..Default::default() };
    gridcrm::customers::service::update(&mut tx, &actor, c[2], untagged).await.unwrap();
    let tagged = gridcrm::customers::model::CustomerDraft { tags: Some(vec!["vip".into()]), ..Default::default() };
    gridcrm::customers::service::update(&mut tx, &actor, c[3], tagged).await.unwrap();
    tx.commit().await.unwrap();
    assert!(has_vip_tag(&app, &app.alpha, c[2]).await, "kept: c2 is a manual VIP");
    assert!(!has_vip_tag(&app, &app.alpha, c[3]).await, "not added: c3 is not a VIP");

    // The customer page shows the tier, the factors and the designation.
    let (status, page) = admin.get_text(&format!("/customers/{}", c[2])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"value\"") && page.contains("市重点项目") && page.contains("缴费表现"), "{page}");
    let (_, counter_page) = app.login(&app.alpha, "counter").await.get_text(&format!("/customers/{}", c[2])).await;
    assert!(!counter_page.contains("id=\"value\""), "counter staff do not see the valuation");

    // Removing it gives the computed tier back, and the tag goes.
    let r = admin.post(&format!("/customers/{}/value/vip/remove", c[2]), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(tier(&app, c[2]).await, "low");
    assert!(!has_vip_tag(&app, &app.alpha, c[2]).await);
}

#[tokio::test]
async fn the_weights_preview_counts_the_customers_that_change_on_saving() {
    let app = TestApp::spawn().await;
    four_histories(&app).await;
    recompute(&app, &app.alpha).await;
    let c = app.alpha.customers.clone();
    let admin = app.login(&app.alpha, "admin").await;
    let (status, _) = app.login(&app.alpha, "manager").await.get_text("/accounts/value-settings").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = admin.get_text("/accounts/value-settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"weight_consumption\""));

    let mut fields = vec![
        ("weight_consumption", "30"),
        ("weight_revenue", "25"),
        ("weight_payment", "20"),
        ("weight_importance", "15"),
        ("weight_growth", "11"),
        ("vip_min", "95"),
        ("high_min", "60"),
        ("medium_min", "30"),
        ("negative_arrears_days", "90"),
    ];
    let r = admin.post("/accounts/value-settings/preview", &fields).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("五项权重之和必须为 100"));
    fields[4].1 = "10";
    let r = admin.post("/accounts/value-settings/preview", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("将变更等级"), "{page}");
    let proposed = value::validate(&value::SettingsForm {
        weight_consumption: "30".into(),
        weight_revenue: "25".into(),
        weight_payment: "20".into(),
        weight_importance: "15".into(),
        weight_growth: "10".into(),
        vip_min: "95".into(),
        high_min: "60".into(),
        medium_min: "30".into(),
        negative_arrears_days: "90".into(),
    })
    .unwrap();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let moves = value_db::preview(&mut tx, &proposed).await.unwrap();
    drop(tx);
    assert_eq!(moves, vec![(Some("medium".to_owned()), "high".to_owned(), 1)], "c1 at 61.67 rises");
    assert_eq!(tier(&app, c[1]).await, "medium", "a preview saves nothing");

    let r = admin.post("/accounts/value-settings", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let changed: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_values WHERE previous_tier IS NOT NULL")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed, moves.iter().map(|m| m.2).sum::<i64>());
    assert_eq!(value_db::settings(&mut tx).await.unwrap(), proposed);
    let audit: (Value, Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE entity = 'value_settings' AND action = 'update'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    drop(tx);
    assert_eq!((audit.0["vip_min"].as_i64(), audit.1["vip_min"].as_i64()), (Some(85), Some(95)));
    assert_eq!(tier(&app, c[1]).await, "high");
    // Thresholds out of order are refused with the field named.
    let bad: Vec<(&str, &str)> =
        fields.iter().map(|(k, v)| if *k == "medium_min" { (*k, "70") } else { (*k, *v) }).collect();
    let r = admin.post("/accounts/value-settings", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("medium_min-error"));
}

async fn api_rows(app: &TestApp, key: &str, query: &str) -> (Vec<String>, Option<String>) {
    let body = app.api_get(key, &format!("/api/v1/vip?{query}")).await;
    let names = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    (names, body["next"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_vip_list_filters_sorts_pages_and_exports() {
    let app = TestApp::spawn().await;
    four_histories(&app).await;
    recompute(&app, &app.alpha).await;
    let c = app.alpha.customers.clone();
    let names = ["王建国", "李建华", "张伟", "欧阳娜娜"];
    let key = app.api_key(&app.alpha, Role::AccountManager).await;

    // Default: tier vip only.
    assert_eq!(api_rows(&app, &key, "").await.0, [names[0]]);
    assert_eq!(api_rows(&app, &key, "tier=negative").await.0, [names[3]]);
    // What needs attention, per row: c0's open complaint and order, its last and next visit.
    exec(
        &app,
        &app.alpha,
        "WITH m AS (SELECT id FROM users WHERE username = 'manager')
         INSERT INTO visits (tenant_id, id, customer_id, manager_id, planned_on, purpose, status, done_on, created_by)
         SELECT app_tenant_id(), gen_random_uuid(), $1, m.id, v.planned_on, '走访', v.status, v.done_on, 'test'
         FROM m, (VALUES (current_date - 30, 'done', current_date - 30),
                         (current_date + 7, 'planned', NULL::date)) AS v (planned_on, status, done_on)",
        c[0],
    )
    .await;
    exec(
        &app,
        &app.alpha,
        "INSERT INTO contacts (tenant_id, id, ref_no, kind, channel, subject, customer_id, description, received_at, received_month)
         VALUES (app_tenant_id(), gen_random_uuid(), 'VIP-C1', 'complaint', 'hotline', 'billing', $1, '电压低', now(),
                 date_trunc('month', now())::date)",
        c[0],
    )
    .await;
    exec(
        &app,
        &app.alpha,
        "INSERT INTO work_orders (tenant_id, id, ref_no, kind, state, customer_id, title, created_at, created_month)
         VALUES (app_tenant_id(), gen_random_uuid(), 'VIP-W1', 'meter_check', 'open', $1, '电能表校验', now(),
                 date_trunc('month', now())::date)",
        c[0],
    )
    .await;
    let body = app.api_get(&key, "/api/v1/vip").await;
    let row = &body["items"][0];
    let (last, next): (String, String) = sqlx::query_as("SELECT (current_date - 30)::text, (current_date + 7)::text")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((row["open_complaints"].as_i64(), row["open_orders"].as_i64()), (Some(1), Some(1)), "{row}");
    assert_eq!((row["last_visit"].as_str(), row["next_visit"].as_str()), (Some(&*last), Some(&*next)), "{row}");
    // Industry.
    assert_eq!(api_rows(&app, &key, "tier=all&industry=C26").await.0, [names[0]]);
    assert!(api_rows(&app, &key, "industry=RES").await.0.is_empty());
    // Segment.
    let segment = Uuid::now_v7();
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("INSERT INTO segments (tenant_id, id, name, definition, created_by) VALUES (app_tenant_id(), $1, '大工业', '{}', 'test')")
        .bind(segment)
        .execute(&mut *tx)
        .await
        .unwrap();
    for id in [c[1], c[3]] {
        sqlx::query(
            "INSERT INTO segment_members (tenant_id, segment_id, customer_id) VALUES (app_tenant_id(), $1, $2)",
        )
        .bind(segment)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let (in_segment, _) = api_rows(&app, &key, &format!("tier=all&segment={segment}&sort=name&dir=asc")).await;
    let mut expected = vec![names[1].to_owned(), names[3].to_owned()];
    expected.sort();
    assert_eq!(in_segment, expected);
    // Movement: c1 rises when the medium threshold drops to its score.
    assert_eq!(api_rows(&app, &key, "tier=all&movement=new").await.0.len(), 4);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let s = value::Settings { high_min: 60, medium_min: 30, ..Default::default() };
    value_db::save_settings(&mut tx, &s, "test").await.unwrap();
    tx.commit().await.unwrap();
    recompute(&app, &app.alpha).await;
    assert_eq!(api_rows(&app, &key, "tier=all&movement=up").await.0, [names[1]]);
    assert!(api_rows(&app, &key, "tier=all&movement=down").await.0.is_empty());
    assert_eq!(api_rows(&app, &key, "tier=all&movement=new").await.0.len(), 3);

    // Sort by energy ascending, two at a time: c2 (12,000), c3 (24,000), then c1, c0.
    let (first, next) = api_rows(&app, &key, "tier=all&sort=energy_12m&dir=asc&limit=2").await;
    assert_eq!(first, [names[2], names[3]]);
    let next = next.expect("a second page");
    let (second, last) =
        api_rows(&app, &key, &format!("tier=all&sort=energy_12m&dir=asc&limit=2&after={}", urlencode(&next))).await;
    assert_eq!((second, last), (vec![names[1].to_owned(), names[0].to_owned()], None));
    // Every column sorts both ways and pages through all four, each once.
    for (column, _) in value_db::SortKey::ALL {
        for dir in ["asc", "desc"] {
            let mut all = Vec::new();
            let mut after = String::new();
            loop {
                let (page, next) = api_rows(
                    &app,
                    &key,
                    &format!("tier=all&sort={column}&dir={dir}&limit=3&after={}", urlencode(&after)),
                )
                .await;
                all.extend(page);
                match next {
                    Some(n) => after = n,
                    None => break,
                }
            }
            all.sort();
            let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            want.sort();
            assert_eq!(all, want, "sort {column} {dir}");
        }
    }
    let r = reqwest::Client::new().get(app.url("/api/v1/vip?sort=nonsense")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A cursor whose key does not fit the sort column is refused, not passed to the database.
    let forged = format!("/api/v1/vip?sort=score&after={}.abc", c[0]);
    let r = reqwest::Client::new().get(app.url(&forged)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The page: sorted links, the columns, counter staff refused.
    let manager = app.login(&app.alpha, "manager").await;
    let (status, page) = manager.get_text("/accounts/vip?tier=all&sort=name").await;
    assert_eq!(status, StatusCode::OK);
    assert!(names.iter().all(|n| page.contains(n)) && page.contains("未结投诉"), "{page}");
    let (status, _) = app.login(&app.alpha, "counter").await.get_text("/accounts/vip").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // CSV: BOM, the user's language, a formula-looking name neutralised.
    exec(&app, &app.alpha, "UPDATE customers SET name = '=HYPERLINK(\"x\")' WHERE id = $1", c[3]).await;
    // The list sorts by the new name at once (the values follow the customer's name).
    assert_eq!(api_rows(&app, &key, "tier=all&sort=name&dir=asc&limit=1").await.0, ["=HYPERLINK(\"x\")"]);
    let r = manager.get("/accounts/vip.csv?tier=all").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("户号") && text.contains("负价值"), "{text}");
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert_eq!(text.lines().count(), 5, "header and four customers");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn another_tenants_values_are_not_found_and_lists_show_only_their_own() {
    let app = TestApp::spawn().await;
    four_histories(&app).await;
    recompute(&app, &app.alpha).await;
    let theirs = app.beta.customers[0];
    exec(&app, &app.beta, "UPDATE customers SET importance = 'special' WHERE id = $1", theirs).await;
    insert_history(
        &app,
        &app.beta,
        theirs,
        History {
            energy: 99999,
            prev_energy: Some(1),
            billed: 99999,
            on_time: 99999,
            late: 0,
            arrears: None,
            max_days: 0,
        },
    )
    .await;
    let beta_report = recompute(&app, &app.beta).await;
    assert_eq!(beta_report.count("vip"), 1);
    assert!(stored(&app, &app.beta, theirs).await.is_some());

    let key = app.api_key(&app.alpha, Role::AccountManager).await;
    let client = reqwest::Client::new();
    let r = client.get(app.url(&format!("/api/v1/customers/{theirs}/value"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let ours = app.alpha.customers[0];
    let body: Value = client
        .get(app.url(&format!("/api/v1/customers/{ours}/value")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((&body["tier"], &body["valued"]), (&Value::from("vip"), &Value::from(true)));
    assert_eq!(body["factors"].as_array().map(Vec::len), Some(5));

    let (all, _) = api_rows(&app, &key, "tier=all&limit=200").await;
    assert_eq!(all.len(), 4, "alpha's own customers only: {all:?}");
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post(&format!("/customers/{theirs}/value/vip"), &[("reason", "试探")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin.post(&format!("/customers/{theirs}/value/vip/remove"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = admin.get_text(&format!("/customers/{theirs}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = admin.get_text("/accounts/vip?tier=all").await;
    assert!(!page.contains(&theirs.to_string()));
    let r = admin.get("/accounts/vip.csv?tier=all").await;
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    // Beta's vip tag is beta's; alpha's recompute never touched it.
    assert!(has_vip_tag(&app, &app.beta, theirs).await);
}
