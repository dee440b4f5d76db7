//! Cost control: an exhausted balance orders a disconnection, the meter
//! system polls and acknowledges it, a payment orders the reconnection, and
//! the low-balance warning is recorded once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{payments::two_bills, support::TestApp};
use gridcrm::{db, staff::Role};

async fn timeline_statuses(app: &TestApp, customer: uuid::Uuid) -> Vec<(String, Option<String>)> {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_as(
        "SELECT status, notice FROM customer_timeline WHERE customer_id = $1 AND kind = 'cost_control' ORDER BY at, id",
    )
    .bind(customer)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_exhausted_balance_disconnects_and_a_payment_reconnects() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let meter_system = app.api_key(&app.alpha, Role::MeterSystem).await;
    two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let manager = app.login(&app.alpha, "manager").await;
    let r = manager.post(&format!("/customers/{customer}/cost-control"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = manager.get_text(&format!("/customers/{customer}")).await;
    assert!(page.contains("已下达停电指令") && page.contains("已欠费"), "owing ¥134.50 with no credit: {page}");

    // The meter system takes the order once and reports back.
    let client = reqwest::Client::new();
    let poll = || client.post(app.url("/api/v1/meter-commands/poll")).bearer_auth(&meter_system).send();
    // Staff keys may not take the orders, and the meter system's key may do nothing else.
    let r = client.post(app.url("/api/v1/meter-commands/poll")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        client.get(app.url(&format!("/api/v1/customers/{customer}"))).bearer_auth(&meter_system).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let orders: Value = poll().await.unwrap().json().await.unwrap();
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    assert_eq!((orders[0]["command"].as_str(), orders[0]["meter"].as_str()), (Some("disconnect"), Some("ALPHAM0001")));
    let again: Value = poll().await.unwrap().json().await.unwrap();
    assert!(again.as_array().unwrap().is_empty(), "handed out once");
    let id = orders[0]["id"].as_str().unwrap();
    let ack = |done: bool| {
        client
            .post(app.url(&format!("/api/v1/meter-commands/{id}/ack")))
            .bearer_auth(&meter_system)
            .json(&json!({"done": done, "result": "relay opened"}))
            .send()
    };
    assert_eq!(ack(true).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(ack(true).await.unwrap().status(), StatusCode::CONFLICT);
    // Another company's meter system sees nothing of it.
    let theirs = app.api_key(&app.beta, Role::MeterSystem).await;
    let none: Value = client
        .post(app.url("/api/v1/meter-commands/poll"))
        .bearer_auth(&theirs)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.as_array().unwrap().is_empty());

    // A payment that clears the debt and leaves credit orders the reconnection at once.
    let account_no = app.api_get(&key, &format!("/api/v1/bills?customer={customer}")).await[0]["account_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let counter = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = client
        .post(app.url("/api/v1/payments"))
        .bearer_auth(&counter)
        .json(&json!({"account_no": account_no, "amount": "200.00", "channel": "alipay", "channel_ref": "ALI-88", "allow_credit": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let orders: Value = poll().await.unwrap().json().await.unwrap();
    assert_eq!(orders[0]["command"], "reconnect", "{orders}");
    assert_eq!(
        timeline_statuses(&app, customer).await.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["disconnection_ordered", "reconnection_ordered"]
    );

    // With a 40-day warning threshold the ¥65.50 left (about 30 days) is low: warned once.
    {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query("UPDATE billing_settings SET low_balance_days = 40").execute(&mut *tx).await.unwrap();
        sqlx::query("UPDATE cost_control_agreements SET estimated_on = NULL").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    let (reviewed, orders) = gridcrm::cost_control::db::run_daily(&app.pool).await.unwrap();
    assert_eq!((reviewed, orders), (1, 0));
    assert_eq!(gridcrm::cost_control::db::run_daily(&app.pool).await.unwrap().0, 0, "once a day");
    let last = timeline_statuses(&app, customer).await.pop().unwrap();
    assert_eq!(last, ("low_balance".to_owned(), Some("low_balance".to_owned())));
}
