//! The cash drawer: an overpayment confirmed before it becomes credit (form
//! and API), cash received and change, the counter QR-code channel, amounts
//! as clerks type them, the over-limit message, the end-of-day
//! reconciliation (close, sign off, a closed day refused, corrected by a
//! reversal on a later day), bill states, and the prints.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    payments::two_bills,
    support::{TestApp, location},
};
use gridcrm::{db, staff::Role};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn credit_balance(app: &TestApp, customer: Uuid) -> Decimal {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT credit_balance FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

async fn payments_of(app: &TestApp, customer: Uuid) -> i64 {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM payments WHERE customer_id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

async fn account_no(app: &TestApp, customer: Uuid) -> String {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

#[tokio::test]
async fn an_overpayment_is_confirmed_before_the_rest_goes_to_prepaid_credit() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let pay = format!("/customers/{customer}/pay");
    // ¥200 against ¥134.50 owed: nothing is booked until the clerk confirms the split.
    let r = clerk.post(&pay, &[("amount", "200"), ("channel", "counter_card")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"overpayment\""), "{page}");
    assert!(page.contains("¥134.50 销账，¥65.50 计入预存"), "{page}");
    assert!(page.contains("name=\"confirm_credit\""), "{page}");
    assert_eq!(payments_of(&app, customer).await, 0);
    assert_eq!(credit_balance(&app, customer).await, dec("0"));
    let r = clerk.post(&pay, &[("amount", "200"), ("channel", "counter_card"), ("confirm_credit", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(credit_balance(&app, customer).await, dec("65.50"));
    let (_, receipt) = clerk.get_text(&location(&r)).await;
    assert!(receipt.contains("贰佰元整"), "the amount in capitals: {receipt}");
    assert!(receipt.contains("id=\"credit-after\">¥65.50"), "the balance after the payment: {receipt}");
    assert!(receipt.contains("id=\"owed-after\">¥0.00"), "{receipt}");

    // The API: without allow_credit an amount beyond the debts is refused, named.
    let account_no = account_no(&app, customer).await;
    let client = reqwest::Client::new();
    let counter_key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body = json!({"account_no": account_no, "amount": "10.00", "channel": "alipay", "channel_ref": "ALI-OVER-1"});
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&counter_key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "amount", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "overpayment_unconfirmed", "{problem}");
    let mut body = body;
    body["allow_credit"] = json!(true);
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&counter_key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let booked: Value = r.json().await.unwrap();
    assert_eq!(booked["payment"]["credit"], "10.00");
    assert_eq!(credit_balance(&app, customer).await, dec("75.50"));
    // Booked payments are in the audit log and on the customer's timeline.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'payment' AND action = 'create'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(audited, 2);
    let timeline: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_timeline WHERE customer_id = $1 AND kind = 'payment'")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(timeline, 2);
}

#[tokio::test]
async fn cash_gives_change_a_scanned_code_needs_its_reference_and_amounts_read_as_typed() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (october, _) = two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let pay = format!("/customers/{customer}/pay");
    // Less cash than the amount is refused, named.
    let r = clerk.post(&pay, &[("amount", "53.80"), ("channel", "counter_cash"), ("cash_received", "50")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"cash_received-error\"") && page.contains("实收现金少于收费金额"), "{page}");
    // Full-width digits, ￥ and thousands commas: ¥53.80 with ¥100 handed over, ¥46.20 change.
    let r =
        clerk.post(&pay, &[("amount", "￥５３．８０"), ("channel", "counter_cash"), ("cash_received", "１００")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, receipt) = clerk.get_text(&location(&r)).await;
    assert!(receipt.contains("id=\"cash-received\">¥100.00"), "{receipt}");
    assert!(receipt.contains("id=\"change-given\">¥46.20"), "{receipt}");
    assert!(receipt.contains("伍拾叁元捌角"), "{receipt}");
    assert!(receipt.contains("id=\"owed-after\">¥80.70"), "{receipt}");
    let bill: Value = app.api_get(&key, &format!("/api/v1/bills/{october}")).await;
    assert_eq!(bill["state"], "paid");

    // A scanned WeChat code needs the channel's transaction reference.
    let r = clerk.post(&pay, &[("amount", "10"), ("channel", "counter_wechat")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"channel_ref-error\""));
    let r =
        clerk.post(&pay, &[("amount", "1,0.00"), ("channel", "counter_wechat"), ("channel_ref", "4200009999")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a bad grouping is refused");
    let r = clerk.post(&pay, &[("amount", "10"), ("channel", "counter_wechat"), ("channel_ref", "4200009999")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, receipt) = clerk.get_text(&location(&r)).await;
    assert!(receipt.contains("4200009999") && receipt.contains("柜台扫码（微信）"), "{receipt}");
    assert!(!receipt.contains("id=\"change-given\""), "no change for a scanned code");

    // An amount over the limit says so, with the limit.
    let r = clerk.post(&pay, &[("amount", "1,000,000,000"), ("channel", "counter_card")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("999,999,999.99"), "{page}");
    let body = json!({"account_no": account_no(&app, customer).await, "amount": "1000000000", "channel": "bank",
        "channel_ref": "B-LIMIT"});
    let r =
        reqwest::Client::new().post(app.url("/api/v1/payments")).bearer_auth(&key).json(&body).send().await.unwrap();
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["code"], "amount_over_limit", "{problem}");
}

#[tokio::test]
async fn a_cashier_closes_the_day_a_supervisor_signs_it_off_and_a_closed_day_stays_as_it_was() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let pay = format!("/customers/{customer}/pay");
    let cash = clerk.post(&pay, &[("amount", "53.80"), ("channel", "counter_cash"), ("cash_received", "60")]).await;
    assert_eq!(cash.status(), StatusCode::SEE_OTHER);
    let card = clerk.post(&pay, &[("amount", "30"), ("channel", "counter_card")]).await;
    assert_eq!(card.status(), StatusCode::SEE_OTHER);
    let card_receipt = location(&card);
    let day = today();
    let counter_id = app.alpha.user_id("counter");
    let report = format!("/cash-days/{day}/cashiers/{counter_id}");

    // The day per channel: cash ¥53.80, card ¥30.00.
    let (status, page) = clerk.get_text("/cash-days").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("¥83.80") && page.contains("id=\"close-day\""), "{page}");
    let (_, sheet) = clerk.get_text(&report).await;
    assert!(sheet.contains("柜台现金") && sheet.contains("¥53.80") && sheet.contains("¥30.00"), "{sheet}");
    assert!(sheet.contains("data-print") && sheet.contains("甲市供电公司") && sheet.contains("95598"), "{sheet}");
    // A clerk sees only their own day.
    let other = app.login(&app.alpha, "counter2").await;
    assert_eq!(other.get(&report).await.status(), StatusCode::NOT_FOUND);

    // Signing off an open day is refused; so is closing a day to come.
    let r = supervisor.post(&format!("{report}/sign-off"), &[("note", "")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let tomorrow = day.succ_opt().unwrap();
    assert_eq!(
        clerk.post(&format!("/cash-days/{tomorrow}/close"), &[]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The cashier closes the day: no more payments dated in it.
    let r = clerk.post(&format!("/cash-days/{day}/close"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = clerk.post(&format!("/cash-days/{day}/close"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "closed once");
    let r = clerk.post(&pay, &[("amount", "5"), ("channel", "counter_card")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("已日结"));
    assert_eq!(payments_of(&app, customer).await, 2);

    // The supervisor signs it off (not their own day, and not a clerk).
    assert_eq!(clerk.post(&format!("{report}/sign-off"), &[]).await.status(), StatusCode::FORBIDDEN);
    let r = supervisor.post(&format!("{report}/sign-off"), &[("note", "现金相符")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, sheet) = supervisor.get_text(&report).await;
    assert!(sheet.contains("已审核") && sheet.contains("现金相符"), "{sheet}");
    assert_eq!(supervisor.post(&format!("{report}/sign-off"), &[]).await.status(), StatusCode::CONFLICT);
    let own = format!("/cash-days/{day}/cashiers/{}/sign-off", app.alpha.user_id("supervisor"));
    assert_eq!(supervisor.post(&own, &[]).await.status(), StatusCode::CONFLICT, "not one's own day");

    // A mistake found later: the supervisor reverses the card payment on their
    // own (open) day; the clerk's closed day keeps its figures.
    let payment_id = card_receipt.trim_start_matches("/payments/").trim_end_matches("/receipt").to_owned();
    let r = supervisor.post(&format!("/payments/{payment_id}/reverse"), &[("reason", "重复收费")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let days: Value = app.api_get(&key, &format!("/api/v1/cash-days?day={day}")).await;
    let clerk_day = days.as_array().unwrap().iter().find(|d| d["cashier_id"] == counter_id.to_string()).unwrap();
    assert_eq!((clerk_day["status"].as_str(), clerk_day["total"]["net"].as_str()), (Some("signed"), Some("83.80")));
    assert_eq!(clerk_day["cash_received"], "60.00");
    assert_eq!(clerk_day["change_given"], "6.20");
    let sup_day = days.as_array().unwrap().iter().find(|d| d["cashier_id"] != counter_id.to_string()).unwrap();
    assert_eq!((sup_day["total"]["reversals"].as_i64(), sup_day["total"]["net"].as_str()), (Some(1), Some("-30.00")));
    // Once the supervisor has closed their day too, a reversal dated in it is refused.
    let r = supervisor.post(&format!("/cash-days/{day}/close"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cash_id = location(&cash).trim_start_matches("/payments/").trim_end_matches("/receipt").to_owned();
    let r = supervisor.post(&format!("/payments/{cash_id}/reverse"), &[("reason", "假币")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Every step is audited.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity = 'cash_day' OR (entity = 'payment' AND action = 'reverse') ORDER BY at, id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(actions, ["close", "sign_off", "reverse", "close"]);

    // The API: a counter key is not a cashier; another company sees nothing.
    let counter_key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cash-days/{day}/close")))
        .bearer_auth(&counter_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let theirs = app.api_key(&app.beta, Role::Supervisor).await;
    let days: Value = app.api_get(&theirs, &format!("/api/v1/cash-days?day={day}")).await;
    assert_eq!(days, json!([]));
    let r = app.login(&app.beta, "supervisor").await.get(&report).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bills_show_unpaid_partly_paid_paid_and_overdue() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (october, november) = two_bills(&app, &key).await;
    let state = |id: Uuid| {
        let (app, key) = (&app, &key);
        async move { app.api_get(key, &format!("/api/v1/bills/{id}")).await["state"].as_str().unwrap().to_owned() }
    };
    assert_eq!((state(october).await, state(november).await), ("unpaid".into(), "unpaid".into()));
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let r = clerk.post(&format!("/customers/{customer}/pay"), &[("amount", "60"), ("channel", "counter_card")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!((state(october).await, state(november).await), ("paid".into(), "partly_paid".into()));
    let (_, page) = clerk.get_text(&format!("/bills/{november}")).await;
    assert!(page.contains("id=\"bill-state\">部分缴清"), "{page}");
    assert!(page.contains("id=\"payment-instructions\"") && page.contains("95598"), "{page}");
    assert!(page.contains("捌拾元柒角"), "the bill's amount in capitals: {page}");
    {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query(
            "UPDATE bills SET issued_on = (now() AT TIME ZONE 'Asia/Shanghai')::date - 20,
                              due_on = (now() AT TIME ZONE 'Asia/Shanghai')::date - 1 WHERE id = $1",
        )
        .bind(november)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(state(november).await, "overdue");
    let list: Value = app.api_get(&key, &format!("/api/v1/bills?customer={customer}")).await;
    assert_eq!(list[0]["state"], "overdue");
    assert_eq!(list[1]["state"], "paid");
    let (_, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("state-overdue") && page.contains("已缴清"), "the customer's bill list");
}

#[tokio::test]
async fn prints_carry_the_letterhead_and_a_complaint_gets_its_acceptance_slip() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin
        .post(
            "/admin/print-settings",
            &[
                ("address", "甲市人民路 1 号"),
                ("hotline", ""),
                ("payment_instructions", "营业厅、银行代扣、微信、支付宝"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "the hotline is required");
    let r = admin
        .post(
            "/admin/print-settings",
            &[
                ("address", "甲市人民路 1 号"),
                ("hotline", "95598"),
                ("payment_instructions", "营业厅、银行代扣、微信、支付宝"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.login(&app.alpha, "counter").await.get("/admin/print-settings").await.status(),
        StatusCode::FORBIDDEN
    );

    let clerk = app.login(&app.alpha, "counter").await;
    let customer = app.alpha.customers[0].to_string();
    let r = clerk
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hall"),
                ("subject", "billing"),
                ("customer_id", &customer),
                ("caller_name", "王建国"),
                ("description", "十一月电费偏高，请核查。"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let contact = location(&r).trim_start_matches("/contacts/").split('?').next().unwrap().to_owned();
    let (status, slip) = clerk.get_text(&format!("/contacts/{contact}/slip")).await;
    assert_eq!(status, StatusCode::OK);
    for part in ["受理回执", "甲市供电公司", "甲市人民路 1 号", "95598", "十一月电费偏高", "data-print"]
    {
        assert!(slip.contains(part), "{part}: {slip}");
    }
    let r = app.login(&app.beta, "counter").await.get(&format!("/contacts/{contact}/slip")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'print_settings'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}
