//! Loyalty points: earning with a payment (once, by the tenant's rates for
//! amount, punctuality and channel) and the reversal taking back exactly that;
//! redemptions racing for one customer's points or one item's stock; the
//! expiry run's appended rows; the counter's and the admin's pages; and
//! isolation between tenants on every new route.

use chrono::{Datelike, Months, NaiveDate};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{Tenant, TestApp, location};
use gridcrm::{db, points::db as points_db, staff::Role};

async fn account_no(app: &TestApp, tenant: &Tenant, customer: Uuid) -> String {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

/// Books a payment over the API; (status, body).
async fn book(
    app: &TestApp,
    key: &str,
    account: &str,
    amount: &str,
    channel: &str,
    reference: &str,
) -> (StatusCode, Value) {
    let body = json!({"account_no": account, "amount": amount, "channel": channel, "channel_ref": reference,
        "allow_credit": true});
    let r = Client::new().post(app.url("/api/v1/payments")).bearer_auth(key).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn points(app: &TestApp, key: &str, customer: Uuid) -> Value {
    app.api_get(key, &format!("/api/v1/customers/{customer}/points")).await
}

async fn balance(app: &TestApp, key: &str, customer: Uuid) -> i64 {
    points(app, key, customer).await["balance"].as_i64().unwrap()
}

async fn redeem(app: &TestApp, key: &str, customer: Uuid, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(&format!("/api/v1/customers/{customer}/points/redemptions")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The fields a 422 names, as `field:code`.
async fn field_errors(app: &TestApp, key: &str, customer: Uuid, body: Value) -> Vec<String> {
    let r = redeem(app, key, customer, body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    let errors = problem["errors"].as_array().unwrap();
    errors.iter().map(|e| format!("{}:{}", e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect()
}

/// An issued bill of the customer's, due on `due_on`.
async fn bill(app: &TestApp, tenant: &Tenant, customer: Uuid, due_on: NaiveDate, amount: &str) {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let month_before = due_on.checked_sub_months(Months::new(1)).unwrap();
    let period = NaiveDate::from_ymd_opt(month_before.year(), month_before.month(), 1).unwrap();
    sqlx::query(
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         VALUES (app_tenant_id(), $1, $2, $3, $4, 'res_tiered', $5::date - 15, $5, 100, $6::numeric)",
    )
    .bind(Uuid::now_v7())
    .bind(format!("B{}", Uuid::now_v7().simple()))
    .bind(customer)
    .bind(period)
    .bind(due_on)
    .bind(amount)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The tenant's today (Asia/Shanghai for the test tenants).
fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

/// The ledger rows of a kind for a customer, as the owner sees them: (points, expired_on).
async fn rows(app: &TestApp, customer: Uuid, kind: &str) -> Vec<(i64, Option<NaiveDate>)> {
    sqlx::query_as("SELECT points, expired_on FROM points_ledger WHERE customer_id = $1 AND kind = $2 ORDER BY at, id")
        .bind(customer)
        .bind(kind)
        .fetch_all(&mut owner(app).await)
        .await
        .unwrap()
}

async fn add_item(app: &TestApp, tenant: &Tenant, code: &str, cost: &str, stock: &str) {
    let admin = app.login(tenant, "admin").await;
    let r = admin
        .post(
            "/points/catalogue",
            &[("code", code), ("name_zh", "节能灯"), ("name_en", "LED bulb"), ("cost", cost), ("stock", stock)],
        )
        .await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/points/catalogue?saved=item"));
}

#[tokio::test]
async fn a_payment_earns_by_the_tenants_rates_once_and_its_reversal_takes_back_exactly_that() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers.clone();
    let admin = app.login(&app.alpha, "admin").await;
    let rates = [
        ("on_time_points", "20"),
        ("per_100_yuan", "3"),
        ("online_bonus", "7"),
        ("amount_cap", "0"),
        ("expiry_months", "24"),
    ];
    let r = admin.post("/points/settings", &rates).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // c0 owes a bill due in ten days, c1 one overdue since five days, c2 nothing.
    bill(&app, &app.alpha, c[0], today() + chrono::Duration::days(10), "100.00").await;
    bill(&app, &app.alpha, c[1], today() - chrono::Duration::days(5), "100.00").await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let accounts = [account_no(&app, &app.alpha, c[0]).await, account_no(&app, &app.alpha, c[1]).await];

    // On time by WeChat: 20 + ⌊100 × 3 / 100⌋ + 7.
    let (status, booked) = book(&app, &key, &accounts[0], "100.00", "wechat", "WX-P1").await;
    assert_eq!(status, StatusCode::CREATED);
    let p1 = booked["payment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &key, c[0]).await, 30);
    // The channel's retry books nothing new and earns nothing more.
    let (status, _) = book(&app, &key, &accounts[0], "100.00", "wechat", "WX-P1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&app, c[0], "earn").await, vec![(30, None)]);
    assert_eq!(balance(&app, &key, c[0]).await, 30);

    // Late (the bill it settles was due five days ago), in cash: ⌊250.50 × 3 / 100⌋ = 7 alone.
    book(&app, &key, &accounts[1], "250.50", "counter_cash", "CASH-1").await;
    assert_eq!(balance(&app, &key, c[1]).await, 7);
    // Nothing to settle is not "on time": by Alipay, ⌊80 × 3 / 100⌋ + 7.
    let account2 = account_no(&app, &app.alpha, c[2]).await;
    book(&app, &key, &account2, "80.00", "alipay", "ALI-1").await;
    assert_eq!(balance(&app, &key, c[2]).await, 9);
    // A bank payment settling a bill due today is on time: 20 + 3 + 7.
    bill(&app, &app.alpha, c[3], today(), "100.00").await;
    let account3 = account_no(&app, &app.alpha, c[3]).await;
    book(&app, &key, &account3, "100.00", "bank", "BANK-1").await;
    assert_eq!(balance(&app, &key, c[3]).await, 30);

    let body = points(&app, &key, c[0]).await;
    assert_eq!(body["history"][0]["kind"], "earn");
    assert_eq!(body["history"][0]["payment_id"], p1.as_str());
    assert_eq!(body["history"][0]["note"], "WX-P1");
    assert_eq!(body["expiry_months"], 24);

    // Reversing the payment takes back exactly the 30 it earned, once.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor.post(&format!("/payments/{p1}/reverse"), &[("reason", "银行退票")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = supervisor.post(&format!("/payments/{p1}/reverse"), &[("reason", "again")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(rows(&app, c[0], "reverse").await, vec![(-30, None)]);
    let body = points(&app, &key, c[0]).await;
    assert_eq!((body["balance"].as_i64(), body["history"][0]["kind"].as_str()), (Some(0), Some("reverse")));
    // Its reversal was audited with the points taken back.
    let taken: Value =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'reverse' AND entity = 'payment'")
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!(taken["points_taken_back"], 30);
    // The other payments' points are untouched.
    assert_eq!(balance(&app, &key, c[1]).await, 7);
}

/// The rates these tests count with: 10 on time, 10 per 100 yuan without a
/// cap, 5 online, a 24-month term.
async fn counted_rates(app: &TestApp) {
    let rates = [
        ("on_time_points", "10"),
        ("per_100_yuan", "10"),
        ("online_bonus", "5"),
        ("amount_cap", "0"),
        ("expiry_months", "24"),
    ];
    let admin = app.login(&app.alpha, "admin").await;
    assert_eq!(admin.post("/points/settings", &rates).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn concurrent_redemptions_cannot_overdraw_the_points_or_the_stock() {
    let app = TestApp::spawn().await;
    counted_rates(&app).await;
    let c = app.alpha.customers.clone();
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    // Every customer: ¥1,000 by WeChat with nothing owed, 100 + 5 = 105 points.
    for (n, customer) in c.iter().enumerate() {
        let account = account_no(&app, &app.alpha, *customer).await;
        let (status, _) = book(&app, &key, &account, "1000.00", "wechat", &format!("WX-{n}")).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(balance(&app, &key, *customer).await, 105);
    }
    add_item(&app, &app.alpha, "BIG", "60", "100").await;
    add_item(&app, &app.alpha, "SMALL", "10", "3").await;

    // Eight at once for one customer, each for more than half the balance: one goes through.
    let requests: Vec<_> = (0..8).map(|_| redeem(&app, &key, c[0], json!({"item": "BIG", "quantity": 1}))).collect();
    let mut statuses = Vec::new();
    for r in futures_util::future::join_all(requests).await {
        statuses.push(r.status());
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, refused), (1, 7), "{statuses:?}");
    assert_eq!(balance(&app, &key, c[0]).await, 45);

    // Eight at once for the last three of an item, two per customer: three go through, the stock ends at 0.
    let requests: Vec<_> =
        (0..8).map(|n| redeem(&app, &key, c[n % 4], json!({"item": "SMALL", "quantity": 1}))).collect();
    let mut created = 0;
    for r in futures_util::future::join_all(requests).await {
        match r.status() {
            StatusCode::CREATED => {
                let body: Value = r.json().await.unwrap();
                assert_eq!(
                    (body["redemption"]["item"].as_str(), body["redemption"]["points"].as_i64()),
                    (Some("SMALL"), Some(10))
                );
                created += 1;
            }
            StatusCode::CONFLICT => {
                let problem: Value = r.json().await.unwrap();
                assert_eq!(problem["status"], 409);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 3);
    let mut conn = owner(&app).await;
    let stock: Vec<(String, i32)> =
        sqlx::query_as("SELECT code, stock FROM points_catalogue ORDER BY code").fetch_all(&mut conn).await.unwrap();
    assert_eq!(stock, vec![("BIG".to_owned(), 99), ("SMALL".to_owned(), 0)]);
    let overdrawn: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT customer_id FROM points_ledger GROUP BY customer_id HAVING sum(points) < 0) o",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(overdrawn, 0);
    // Every redemption is in the ledger, the audit log and on the timeline; the refused ones nowhere.
    for (table, condition) in [
        ("points_redemptions", "true"),
        ("points_ledger", "kind = 'redeem'"),
        ("audit_log", "action = 'redeem_points'"),
        ("customer_timeline", "status = 'points_redeemed'"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE {condition}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 4, "{table}");
    }
    // Together the customers hold what they earned less one large and three small items.
    let mut total = 0;
    for customer in &c {
        total += balance(&app, &key, *customer).await;
    }
    assert_eq!(total, 4 * 105 - 60 - 3 * 10);
}

#[tokio::test]
async fn redemptions_are_checked_by_field_and_allowed_to_the_counter() {
    let app = TestApp::spawn().await;
    counted_rates(&app).await;
    let c0 = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let account = account_no(&app, &app.alpha, c0).await;
    book(&app, &key, &account, "500.00", "counter_card", "CARD-1").await;
    add_item(&app, &app.alpha, "E50", "30", "5").await;

    assert_eq!(
        field_errors(&app, &key, c0, json!({"quantity": 0})).await,
        ["item:required", "quantity:points_quantity_range"]
    );
    assert_eq!(field_errors(&app, &key, c0, json!({"item": "电费券"})).await, ["item:points_item_code"]);
    assert_eq!(field_errors(&app, &key, c0, json!({"item": "NOPE"})).await, ["item:unknown_points_item"]);
    assert_eq!(field_errors(&app, &key, c0, json!({"item": "E50", "quantity": "2"})).await, ["quantity:wrong_type"]);
    // 50 points, 30 each: two is too many.
    let r = redeem(&app, &key, c0, json!({"item": "E50", "quantity": 2})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let problem: Value = r.json().await.unwrap();
    assert_eq!((problem["status"].as_i64(), problem["detail"].as_str()), (Some(409), Some("客户积分不足。")));
    let r = redeem(&app, &key, Uuid::now_v7(), json!({"item": "E50"})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let manager = app.api_key(&app.alpha, Role::AccountManager).await;
    assert_eq!(redeem(&app, &manager, c0, json!({"item": "E50"})).await.status(), StatusCode::FORBIDDEN);
    // An item no longer offered cannot be redeemed.
    let admin = app.login(&app.alpha, "admin").await;
    let item: Uuid = sqlx::query_scalar("SELECT id FROM points_catalogue WHERE code = 'E50'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let r = admin.post(&format!("/points/catalogue/{item}"), &[("stock", "5"), ("shown_stock", "5")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(field_errors(&app, &key, c0, json!({"item": "E50"})).await, ["item:unknown_points_item"]);
    let r = admin
        .post(&format!("/points/catalogue/{item}"), &[("stock", "5"), ("shown_stock", "5"), ("active", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // At the counter: the customer page shows the balance and the form; redeeming goes back to it.
    let counter = app.login(&app.alpha, "counter").await;
    let (status, page) = counter.get_text(&format!("/customers/{c0}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"points\"") && page.contains(">50</strong>"), "the balance on the page");
    assert!(page.contains(&format!("action=\"/customers/{c0}/points/redemptions\"")));
    let r = counter.post(&format!("/customers/{c0}/points/redemptions"), &[("item", "E50"), ("quantity", "1")]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("/customers/{c0}?saved=true#points")));
    let (_, page) = counter.get_text(&format!("/customers/{c0}")).await;
    assert!(page.contains(">20</strong>") && page.contains("节能灯 ×1"), "the new balance and the history");
    let r = counter.post(&format!("/customers/{c0}/points/redemptions"), &[("item", "E50"), ("quantity", "x")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(balance(&app, &key, c0).await, 20);
    // An account manager sees the points but not the form, and may not redeem.
    let manager = app.login(&app.alpha, "manager").await;
    let (_, page) = manager.get_text(&format!("/customers/{c0}")).await;
    assert!(page.contains("id=\"points\"") && !page.contains("/points/redemptions"));
    let r = manager.post(&format!("/customers/{c0}/points/redemptions"), &[("item", "E50")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(counter.get("/points/catalogue").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_catalogue_page_refuses_bad_items_stale_stock_and_bad_rates() {
    let app = TestApp::spawn().await;
    add_item(&app, &app.alpha, "LED", "300", "10").await;
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin
        .post(
            "/points/catalogue",
            &[("code", "LED"), ("name_zh", "灯"), ("name_en", "Lamp"), ("cost", "1"), ("stock", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("目录中已有此编码的商品。"));
    let r = admin.post("/points/catalogue", &[("code", "X"), ("name_zh", ""), ("cost", "0"), ("stock", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let item: Uuid = sqlx::query_scalar("SELECT id FROM points_catalogue WHERE code = 'LED'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    // Shown 9 when there are 10: someone took one meanwhile.
    let r = admin
        .post(&format!("/points/catalogue/{item}"), &[("stock", "50"), ("shown_stock", "9"), ("active", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = admin
        .post(&format!("/points/catalogue/{item}"), &[("stock", "50"), ("shown_stock", "10"), ("active", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin
        .post(
            "/points/settings",
            &[
                ("on_time_points", "5"),
                ("per_100_yuan", "x"),
                ("online_bonus", "1"),
                ("amount_cap", "0"),
                ("expiry_months", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, page) = admin.get_text("/points/catalogue").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("value=\"50\"")
            && page.contains("name=\"expiry_months\" type=\"number\" min=\"1\" max=\"120\" value=\"24\"")
    );
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT action, entity FROM audit_log WHERE entity LIKE 'points%' ORDER BY at, id")
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!(
        audited,
        vec![("create".to_owned(), "points_item".to_owned()), ("update".to_owned(), "points_item".to_owned())]
    );
}

/// Sets when a customer's earnings were made (the owner may; the application may not).
async fn backdate(app: &TestApp, reference: &str, on: NaiveDate) {
    let done = sqlx::query(
        "UPDATE points_ledger l SET at = ($2::date + time '10:00') AT TIME ZONE 'Asia/Shanghai'
         FROM payments p WHERE p.tenant_id = l.tenant_id AND p.id = l.payment_id AND l.kind = 'earn' AND p.channel_ref = $1",
    )
    .bind(reference)
    .bind(on)
    .execute(&mut owner(app).await)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1, "{reference}");
}

#[tokio::test]
async fn expiry_appends_what_ran_out_oldest_first_once_a_day() {
    let app = TestApp::spawn().await;
    let c = app.alpha.customers.clone();
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let admin = app.login(&app.alpha, "admin").await;
    let rates = [
        ("on_time_points", "0"),
        ("per_100_yuan", "10"),
        ("online_bonus", "0"),
        ("amount_cap", "0"),
        ("expiry_months", "12"),
    ];
    assert_eq!(admin.post("/points/settings", &rates).await.status(), StatusCode::SEE_OTHER);
    let mut accounts = Vec::new();
    for customer in &c {
        accounts.push(account_no(&app, &app.alpha, *customer).await);
    }
    let today = today();
    let ago = |months: u32| today.checked_sub_months(Months::new(months)).unwrap();

    // c0: 100 fourteen months ago, 50 eleven months ago, 120 redeemed since.
    book(&app, &key, &accounts[0], "1000.00", "counter_cash", "A").await;
    book(&app, &key, &accounts[0], "500.00", "counter_cash", "B").await;
    add_item(&app, &app.alpha, "R120", "120", "10").await;
    assert_eq!(redeem(&app, &key, c[0], json!({"item": "R120"})).await.status(), StatusCode::CREATED);
    backdate(&app, "A", ago(14)).await;
    backdate(&app, "B", ago(11)).await;
    // c1: 100 thirteen months ago, 40 two months ago, nothing redeemed.
    book(&app, &key, &accounts[1], "1000.00", "counter_cash", "C").await;
    book(&app, &key, &accounts[1], "400.00", "counter_cash", "D").await;
    backdate(&app, "C", ago(13)).await;
    backdate(&app, "D", ago(2)).await;
    // c2: 100 thirteen months ago, 50 a month ago from a payment reversed since.
    book(&app, &key, &accounts[2], "1000.00", "counter_cash", "E").await;
    let (_, reversed) = book(&app, &key, &accounts[2], "500.00", "counter_cash", "F").await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let f = reversed["payment"]["id"].as_str().unwrap();
    assert_eq!(
        supervisor.post(&format!("/payments/{f}/reverse"), &[("reason", "冲正")]).await.status(),
        StatusCode::SEE_OTHER
    );
    backdate(&app, "E", ago(13)).await;
    backdate(&app, "F", ago(1)).await;

    // Before any run the API already counts run-out points as gone and says what expires next.
    let body = points(&app, &key, c[0]).await;
    assert_eq!(body["balance"], 30);
    assert_eq!(body["next_expiry"], json!({"on": ago(11).checked_add_months(Months::new(12)).unwrap(), "points": 30}));
    let body = points(&app, &key, c[1]).await;
    assert_eq!((body["balance"].as_i64(), body["next_expiry"]["points"].as_i64()), (Some(40), Some(40)));

    // c0's oldest 100 were redeemed: nothing of them expires; the rest of March's lot does, on its day.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    assert_eq!(points_db::expire(&mut tx, Some(c[0]), today).await.unwrap(), 0);
    let march_lot_runs_out = ago(11).checked_add_months(Months::new(12)).unwrap();
    assert_eq!(
        points_db::expire(&mut tx, Some(c[0]), march_lot_runs_out - chrono::Duration::days(1)).await.unwrap(),
        0
    );
    assert_eq!(points_db::expire(&mut tx, Some(c[0]), march_lot_runs_out).await.unwrap(), 1);
    assert_eq!(points_db::expire(&mut tx, Some(c[0]), march_lot_runs_out).await.unwrap(), 0, "recorded once");
    assert_eq!(
        points_db::expire(&mut tx, Some(c[0]), march_lot_runs_out + chrono::Duration::days(40)).await.unwrap(),
        0
    );
    tx.rollback().await.unwrap();

    // The hourly job, on today: c1's old 100 and c2's old 100 (the reversal took its own 50, not the old ones).
    assert_eq!(points_db::expire_everywhere(&app.pool).await.unwrap(), 2);
    assert_eq!(rows(&app, c[0], "expire").await, vec![]);
    assert_eq!(rows(&app, c[1], "expire").await, vec![(-100, Some(today))]);
    assert_eq!(rows(&app, c[2], "expire").await, vec![(-100, Some(today))]);
    assert_eq!(points_db::expire_everywhere(&app.pool).await.unwrap(), 0, "nothing more today");
    let body = points(&app, &key, c[1]).await;
    assert_eq!((body["balance"].as_i64(), body["history"][0]["kind"].as_str()), (Some(40), Some("expire")));
    assert_eq!(balance(&app, &key, c[2]).await, 0);
    let timeline: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_timeline WHERE status = 'points_expired'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(timeline, 2);
    // The ledger is append-only for the application.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let refused =
        sqlx::query("UPDATE points_ledger SET points = 1 WHERE customer_id = $1").bind(c[1]).execute(&mut *tx).await;
    assert!(refused.unwrap_err().to_string().contains("permission denied"));
}

#[tokio::test]
async fn another_tenants_points_are_not_found_and_lists_show_only_their_own() {
    let app = TestApp::spawn().await;
    counted_rates(&app).await;
    let ours = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let account = account_no(&app, &app.alpha, ours).await;
    book(&app, &key, &account, "300.00", "wechat", "WX-ALPHA").await;
    add_item(&app, &app.alpha, "ALPHA-ONLY", "10", "5").await;
    let theirs = app.beta.customers[0];
    let beta_key = app.api_key(&app.beta, Role::TenantAdmin).await;
    let beta_account = account_no(&app, &app.beta, theirs).await;
    book(&app, &beta_key, &beta_account, "100.00", "counter_cash", "CASH-BETA").await;
    add_item(&app, &app.beta, "BETA-ONLY", "5", "5").await;

    // API: beta's key gets 404 for alpha's customer on both routes.
    let client = Client::new();
    let r =
        client.get(app.url(&format!("/api/v1/customers/{ours}/points"))).bearer_auth(&beta_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(redeem(&app, &beta_key, ours, json!({"item": "BETA-ONLY"})).await.status(), StatusCode::NOT_FOUND);
    // Beta's own: only its own ledger, and alpha's item code is unknown to it.
    let body = points(&app, &beta_key, theirs).await;
    assert_eq!(body["history"].as_array().unwrap().len(), 1);
    assert_eq!(body["history"][0]["note"], "CASH-BETA");
    let r = redeem(&app, &beta_key, theirs, json!({"item": "ALPHA-ONLY"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Paging with another tenant's entry as the cursor finds nothing.
    let alpha_entry = points(&app, &key, ours).await["history"][0]["id"].as_str().unwrap().to_owned();
    let page = app.api_get(&beta_key, &format!("/api/v1/customers/{theirs}/points?before={alpha_entry}")).await;
    assert_eq!(page["history"], json!([]));

    // Pages: beta's staff get 404 for alpha's customer and alpha's item, and see only their own catalogue.
    let beta_counter = app.login(&app.beta, "counter").await;
    let r = beta_counter.post(&format!("/customers/{ours}/points/redemptions"), &[("item", "BETA-ONLY")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta_counter.get(&format!("/customers/{ours}")).await.status(), StatusCode::NOT_FOUND);
    let beta_admin = app.login(&app.beta, "admin").await;
    let alpha_item: Uuid = sqlx::query_scalar("SELECT id FROM points_catalogue WHERE code = 'ALPHA-ONLY'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let r = beta_admin.post(&format!("/points/catalogue/{alpha_item}"), &[("stock", "0"), ("shown_stock", "5")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, page) = beta_admin.get_text("/points/catalogue").await;
    assert!(page.contains("BETA-ONLY") && !page.contains("ALPHA-ONLY"));
    // Nothing of alpha's changed.
    assert_eq!(balance(&app, &key, ours).await, 30 + 5);
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM points_catalogue WHERE code = 'ALPHA-ONLY'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(stock, 5);
}
