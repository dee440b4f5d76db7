//! Payments: counter allocation (oldest first, or chosen bills), receipts,
//! channel notifications booked once under concurrent retries, reversal,
//! the arrears list, and isolation.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    billing::{reading, wait_for_run},
    support::{TestApp, location},
};
use gridcrm::{db, staff::Role};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Two bills for the first customer: October (100 kWh, ¥53.80) and November (150 kWh, ¥80.70).
pub async fn two_bills(app: &TestApp, key: &str) -> (Uuid, Uuid) {
    for (period, total) in [("2026-09", "1000"), ("2026-10", "1100"), ("2026-11", "1250")] {
        assert_eq!(reading(app, "ALPHAM0001", period, total).await, StatusCode::SEE_OTHER);
    }
    let client = reqwest::Client::new();
    for period in ["2026-10", "2026-11"] {
        let r = client
            .post(app.url("/api/v1/bill-runs"))
            .bearer_auth(key)
            .json(&json!({"period": period}))
            .send()
            .await
            .unwrap();
        let run: Value = r.json().await.unwrap();
        wait_for_run(app, key, &format!("/api/v1/bill-runs/{}", run["id"].as_str().unwrap())).await;
    }
    let bills = app.api_get(key, &format!("/api/v1/bills?customer={}", app.alpha.customers[0])).await;
    let id = |n: usize| Uuid::parse_str(bills[n]["id"].as_str().unwrap()).unwrap();
    assert_eq!(bills[1]["amount"], "53.80");
    (id(1), id(0))
}

async fn bill_paid(app: &TestApp, id: Uuid) -> (Decimal, Decimal) {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_as("SELECT paid, late_fee_paid FROM bills WHERE id = $1").bind(id).fetch_one(&mut *tx).await.unwrap()
}

#[tokio::test]
async fn the_counter_settles_the_oldest_debts_first_or_the_chosen_bills() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (october, november) = two_bills(&app, &key).await;
    {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query("UPDATE bills SET late_fee = 1.00 WHERE id = $1").bind(october).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, form) = clerk.get_text(&format!("/customers/{customer}/pay")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"135.50\""), "the amount owed is offered: {form}");

    let r = clerk.post(&format!("/customers/{customer}/pay"), &[("amount", "0"), ("channel", "counter_cash")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // ¥60: October's late fee, then October, then ¥5.20 of November.
    let r = clerk.post(&format!("/customers/{customer}/pay"), &[("amount", "60"), ("channel", "counter_cash")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let receipt_path = location(&r);
    let (_, receipt) = clerk.get_text(&receipt_path).await;
    assert!(receipt.contains("¥60.00") && receipt.contains("违约金") && receipt.contains("data-print"), "{receipt}");
    assert_eq!(bill_paid(&app, october).await, (dec("53.80"), dec("1.00")));
    assert_eq!(bill_paid(&app, november).await, (dec("5.20"), dec("0")));

    // The customer chooses November: ¥100 settles its ¥75.50 and ¥24.50 goes to credit, once confirmed.
    let nov = november.to_string();
    let r = clerk
        .post(&format!("/customers/{customer}/pay"), &[("amount", "100"), ("channel", "counter_card"), ("bills", &nov)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("¥75.50 销账，¥24.50 计入预存"));
    let r = clerk
        .post(
            &format!("/customers/{customer}/pay"),
            &[("amount", "100"), ("channel", "counter_card"), ("bills", &nov), ("confirm_credit", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(bill_paid(&app, november).await, (dec("80.70"), dec("0")));
    let (_, page) = clerk.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("¥24.50"), "the credit shows on the customer page");

    // Reversing the first payment puts its amounts back on the bills.
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let payment_id = receipt_path.trim_start_matches("/payments/").trim_end_matches("/receipt").to_owned();
    let r = supervisor.post(&format!("/payments/{payment_id}/reverse"), &[("reason", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        clerk.post(&format!("/payments/{payment_id}/reverse"), &[("reason", "x")]).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = supervisor.post(&format!("/payments/{payment_id}/reverse"), &[("reason", "假币，已退回")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(bill_paid(&app, october).await, (dec("0"), dec("0")));
    assert_eq!(bill_paid(&app, november).await, (dec("75.50"), dec("0")));
    let r = supervisor.post(&format!("/payments/{payment_id}/reverse"), &[("reason", "again")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "a payment is reversed once");

    // October is now overdue by 40 days: the arrears list ages it.
    {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query("UPDATE bills SET issued_on = (now() AT TIME ZONE 'Asia/Shanghai')::date - 55, due_on = (now() AT TIME ZONE 'Asia/Shanghai')::date - 40 WHERE id = $1")
            .bind(october)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let (_, arrears) = supervisor.get_text("/billing/arrears").await;
    assert!(arrears.contains("王建国") && arrears.contains("¥54.80"), "{arrears}");
    let csv = String::from_utf8(supervisor.get("/billing/arrears.csv").await.bytes().await.unwrap().to_vec()).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let row = csv.lines().find(|l| l.contains("王建国")).unwrap();
    assert!(row.ends_with(",0,54.80,0,0"), "{row}");
    let (_, theirs) = app.login(&app.beta, "supervisor").await.get_text("/billing/arrears").await;
    assert!(!theirs.contains("王建国"));

    // The late-fee job: 40 days at 0.1% of the unpaid ¥53.80 is ¥0.05 a day; a second run adds nothing.
    let first = gridcrm::billing::late_fees::run(&app.pool).await.unwrap();
    assert_eq!(first.bills, 1);
    let second = gridcrm::billing::late_fees::run(&app.pool).await.unwrap();
    assert_eq!(second.bills, 0);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let fee: Decimal =
        sqlx::query_scalar("SELECT late_fee FROM bills WHERE id = $1").bind(october).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(fee, dec("3.00"), "the ¥1.00 from before plus 40 × ¥0.05");
}

#[tokio::test]
async fn a_channel_reference_books_once_even_when_retries_race() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (october, _) = two_bills(&app, &key).await;
    let account_no =
        app.api_get(&key, &format!("/api/v1/bills/{october}")).await["account_no"].as_str().unwrap().to_owned();
    let counter_key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body =
        json!({"account_no": account_no, "amount": "50.00", "channel": "wechat", "channel_ref": "WX20261127001"});
    let client = reqwest::Client::new();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let request = client.post(app.url("/api/v1/payments")).bearer_auth(&counter_key).json(&body);
            tokio::spawn(request.send())
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for r in tries {
        let r = r.await.unwrap().unwrap();
        let status = r.status();
        let booked: Value = r.json().await.unwrap();
        assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status} {booked}");
        assert_eq!(booked["created"].as_bool(), Some(status == StatusCode::CREATED));
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(booked["payment"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!((created, ids.len()), (1, 1), "one booking, every retry told so");
    assert_eq!(bill_paid(&app, october).await.0, dec("50.00"));

    // The same reference for another amount is not a retry.
    let other =
        json!({"account_no": account_no, "amount": "51.00", "channel": "wechat", "channel_ref": "WX20261127001"});
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&counter_key).json(&other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Bad fields are named.
    let bad = json!({"account_no": account_no, "amount": "-1", "channel": "cheque", "channel_ref": ""});
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&counter_key).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = r.text().await.unwrap();
    assert!(problem.contains("amount") && problem.contains("channel_ref"), "{problem}");

    // Another company can neither book against this account nor read the payment.
    let theirs = app.api_key(&app.beta, Role::CounterStaff).await;
    let r = client.post(app.url("/api/v1/payments")).bearer_auth(&theirs).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = ids.into_iter().next().unwrap();
    let r = client.get(app.url(&format!("/api/v1/payments/{id}"))).bearer_auth(&theirs).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
