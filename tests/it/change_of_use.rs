//! Change-of-use transactions (变更用电) as work orders, as the application
//! role: a new connection from application to power-on to its first bill; a
//! transfer of ownership that keeps the premise's history and starts the new
//! holder clean (debts settled first, or carried); an account closed to a zero
//! balance and a retired supply point; capacity and suspension; the refusals,
//! each named; the slip; and another company seeing none of it.

use chrono::NaiveDate;
use reqwest::{Client, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, draft};
use gridcrm::{audit::Actor, customers, db, months, staff::Role};

fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

fn this_period() -> String {
    months::label(months::start_of(today()))
}

fn last_period() -> String {
    months::label(months::back(months::start_of(today()), 1))
}

async fn open(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    let r = Client::new().post(app.url("/api/v1/work-orders")).bearer_auth(key).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn step(app: &TestApp, key: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let r = Client::new()
        .post(app.url(&format!("/api/v1/work-orders/{id}/transitions")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn steps(app: &TestApp, key: &str, id: &str, bodies: &[Value]) {
    for body in bodies {
        let (status, answer) = step(app, key, id, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body} → {answer}");
    }
}

/// One value of a query run as the application role in alpha.
async fn one<T>(app: &TestApp, sql: &str, id: Uuid) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query_scalar(sql).bind(id).fetch_one(&mut *tx).await.unwrap()
}

async fn exec(app: &TestApp, sql: &str, id: Uuid) {
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn reading(app: &TestApp, meter: &str, period: &str, read_on: &str, total: &str) {
    let clerk = app.login(&app.alpha, "counter").await;
    let r =
        clerk.post("/readings", &[("meter", meter), ("period", period), ("read_on", read_on), ("total", total)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "reading {meter} {period} {total}");
}

async fn bill_run(app: &TestApp, key: &str, period: &str) -> Value {
    let r = Client::new()
        .post(app.url("/api/v1/bill-runs"))
        .bearer_auth(key)
        .json(&json!({ "period": period }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let run: Value = r.json().await.unwrap();
    crate::billing::wait_for_run(app, key, &format!("/api/v1/bill-runs/{}", run["id"].as_str().unwrap())).await
}

/// What the customer owes on live bills.
async fn owed(app: &TestApp, customer: Uuid) -> Decimal {
    one(
        app,
        "SELECT coalesce(sum(amount - paid + late_fee - late_fee_paid), 0) FROM bills WHERE customer_id = $1 AND status = 'issued'",
        customer,
    )
    .await
}

/// An account closing opened for `customer` with its documents reviewed:
/// the order's id, ready for its final reading.
async fn reviewed_closing(app: &TestApp, key: &str, customer: Uuid) -> String {
    let (status, order) =
        open(app, key, json!({ "kind": "account_closing", "customer_id": customer, "title": "销户" })).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let review = json!({ "action": "review", "documents": ["application_form", "identity", "refund_account"] });
    steps(app, key, &id, &[review]).await;
    id
}

/// A step refused with `status`, its answer naming `what`.
async fn refused(app: &TestApp, key: &str, id: &str, body: Value, status: StatusCode, what: &str) {
    let (got, answer) = step(app, key, id, body).await;
    assert_eq!(got, status, "{answer}");
    assert!(answer.to_string().contains(what), "{what} in {answer}");
}

async fn point_of(app: &TestApp, customer: Uuid) -> Uuid {
    one(app, "SELECT id FROM supply_points WHERE customer_id = $1 ORDER BY code LIMIT 1", customer).await
}

#[tokio::test]
async fn a_new_connection_goes_from_application_to_power_on_to_its_first_bill() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    // A customer with no premise yet.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let customer = customers::service::create(&mut tx, &Actor::command_line("test"), &draft("新装客户", "13800000077"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Without the supply point and meter to create, every field is named.
    let (status, errors) = open(
        &app,
        &key,
        json!({ "kind": "new_connection", "customer_id": customer.id, "title": "新装", "customer_type": "residential",
                "requested_capacity_kva": "8" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = errors.to_string();
    assert!(fields.contains("point_voltage_code") && fields.contains("meter_serial"), "{errors}");
    // A serial already in the archive is refused at the counter, not at power-on.
    let (status, errors) = open(
        &app,
        &key,
        json!({ "kind": "new_connection", "customer_id": customer.id, "title": "新装", "customer_type": "residential",
                "requested_capacity_kva": "8", "point_voltage_code": "v220", "meter_serial": "ALPHAM0001" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(errors.to_string().contains("meter_serial_in_use"), "{errors}");

    let (status, order) = open(
        &app,
        &key,
        json!({ "kind": "new_connection", "customer_id": customer.id, "title": "居民新装", "customer_type": "residential",
                "requested_capacity_kva": "8", "point_voltage_code": "v220", "point_address": "上城区新村5幢",
                "meter_serial": "NEWM00001", "meter_multiplier": "1", "initial_reading": "12.5" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!((order["workflow"].as_str(), order["state"].as_str()), (Some("expansion"), Some("accepted")));
    assert!(order["due_at"].is_string(), "the accepted stage has its time limit");
    let id = order["id"].as_str().unwrap().to_owned();
    steps(
        &app,
        &key,
        &id,
        &[
            json!({ "action": "review", "documents": ["application_form", "identity", "property_proof"] }),
            json!({ "action": "draft_plan", "supply_plan": "220V 接入 3#配变" }),
            json!({ "action": "agree_plan", "confirmed_by": "客户本人" }),
            json!({ "action": "complete_construction" }),
            json!({ "action": "pass_inspection" }),
            json!({ "action": "install_meter" }),
            json!({ "action": "power_on" }),
        ],
    )
    .await;
    let order = app.api_get(&key, &format!("/api/v1/work-orders/{id}")).await;
    assert_eq!(order["state"], "powered_on");
    let point = Uuid::parse_str(order["supply_point_id"].as_str().expect("the order names its new point")).unwrap();
    let (owner, status, capacity): (Uuid, String, Decimal) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT customer_id, status, capacity_kva FROM supply_points WHERE id = $1")
            .bind(point)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!((owner, status.as_str(), capacity), (customer.id, "in_service", Decimal::from(8)));
    let installed: String = one(
        &app,
        "SELECT m.serial FROM meter_installations i JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
         WHERE i.supply_point_id = $1 AND i.removed_on IS NULL",
        point,
    )
    .await;
    assert_eq!(installed, "NEWM00001");
    let audited: i64 =
        one(&app, "SELECT count(*) FROM audit_log WHERE entity = 'supply_point' AND entity_id = $1", point).await;
    assert_eq!(audited, 1);

    // The first bill: from the initial reading to the first regular one.
    reading(&app, "NEWM00001", &this_period(), &today().to_string(), "112.5").await;
    let supervisor = app.api_key(&app.alpha, Role::Supervisor).await;
    let run = bill_run(&app, &supervisor, &this_period()).await;
    assert_eq!(run["status"], "done", "{run}");
    let bills = app.api_get(&supervisor, &format!("/api/v1/bills?customer={}", customer.id)).await;
    assert_eq!(bills.as_array().map(Vec::len), Some(1), "{bills}");
    // 100 kWh at 0.538 yuan.
    assert_eq!((bills[0]["energy_kwh"].as_str(), bills[0]["amount"].as_str()), (Some("100.00"), Some("53.80")));
}

#[tokio::test]
async fn a_transfer_keeps_the_premise_history_and_starts_the_new_holder_clean() {
    let app = TestApp::spawn().await;
    let [_, seller, quiet, buyer] = app.alpha.customers[..] else { panic!("four customers") };
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let supervisor = app.api_key(&app.alpha, Role::Supervisor).await;
    // The seller has a bill of last month, unpaid.
    let before_last = months::label(months::back(months::start_of(today()), 2));
    reading(&app, "ALPHAM0002", &before_last, &format!("{before_last}-25"), "500").await;
    reading(&app, "ALPHAM0002", &last_period(), &format!("{}-25", last_period()), "600").await;
    let run = bill_run(&app, &supervisor, &last_period()).await;
    assert_eq!(run["status"], "done", "{run}");
    let debt = owed(&app, seller).await;
    assert!(debt > Decimal::ZERO, "the seller owes {debt}");
    let seller_point = point_of(&app, seller).await;

    // Neither a holder nor a name: refused, named.
    let (status, errors) =
        open(&app, &key, json!({ "kind": "transfer_of_ownership", "customer_id": seller, "title": "过户" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(errors.to_string().contains("new_holder_required"), "{errors}");

    let (status, order) = open(
        &app,
        &key,
        json!({ "kind": "transfer_of_ownership", "customer_id": seller, "title": "房屋买卖过户",
                "new_holder_name": "赵新户", "new_holder_phone": "13900000123" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    // The review needs the transfer's own documents.
    let (status, answer) =
        step(&app, &key, &id, json!({ "action": "review", "documents": ["application_form"] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("documents_incomplete"), "{answer}");
    steps(
        &app,
        &key,
        &id,
        &[json!({ "action": "review",
                  "documents": ["application_form", "identity", "new_holder_identity", "transfer_agreement"] })],
    )
    .await;
    // Completing needs the transfer reading.
    let (status, answer) = step(&app, &key, &id, json!({ "action": "complete" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("final_reading"), "{answer}");
    // The company settles debts first (the default): refused, and nothing moved.
    let (status, answer) = step(&app, &key, &id, json!({ "action": "complete", "final_reading": "650" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer.to_string().contains("先结清欠费"), "{answer}");
    assert_eq!(one::<Uuid>(&app, "SELECT customer_id FROM supply_points WHERE id = $1", seller_point).await, seller);

    // A tenant admin lets transfers carry debts (audited); now it completes.
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post("/settings/change-of-use", &[("transfer_arrears", "sometimes")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin.post("/settings/change-of-use", &[("transfer_arrears", "carry")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let clerk = app.login(&app.alpha, "counter").await;
    assert_eq!(clerk.get("/settings/change-of-use").await.status(), StatusCode::FORBIDDEN);
    steps(&app, &key, &id, &[json!({ "action": "complete", "final_reading": "650" })]).await;

    let holder: Uuid = one(&app, "SELECT customer_id FROM supply_points WHERE id = $1", seller_point).await;
    assert_ne!(holder, seller, "the premise went to the new holder");
    let name: String = one(&app, "SELECT name FROM customers WHERE id = $1", holder).await;
    assert_eq!(name, "赵新户");
    // The premise keeps its meter and readings, plus the transfer reading
    // twice: where the old holder's use ends and the new holder's starts.
    let readings: i64 = one(&app, "SELECT count(*) FROM meter_readings WHERE supply_point_id = $1", seller_point).await;
    assert_eq!(readings, 4);
    // The old holder's final bill runs from the last reading to the transfer
    // reading: 600 → 650, 50 kWh.
    let final_kwh: Decimal = one(
        &app,
        "SELECT energy_kwh FROM bills WHERE customer_id = $1 AND period = date_trunc('month', current_date)::date
           AND status = 'issued'",
        seller,
    )
    .await;
    assert_eq!(final_kwh, Decimal::from(50));
    // The new holder has no bills and owes nothing.
    assert_eq!(owed(&app, holder).await, Decimal::ZERO);
    let holder_bills: i64 = one(&app, "SELECT count(*) FROM bills WHERE customer_id = $1", holder).await;
    assert_eq!(holder_bills, 0);
    // The debts, the old one and the final bill, stay on the old holder's
    // account, which stays open for them.
    let final_amount: Decimal = one(
        &app,
        "SELECT amount FROM bills WHERE customer_id = $1 AND period = date_trunc('month', current_date)::date",
        seller,
    )
    .await;
    assert_eq!(owed(&app, seller).await, debt + final_amount);
    assert_eq!(one::<String>(&app, "SELECT status FROM customers WHERE id = $1", seller).await, "active");
    let audited: i64 = one(
        &app,
        "SELECT count(*) FROM audit_log WHERE entity = 'customer' AND action = 'transfer_of_ownership' AND entity_id = $1",
        seller,
    )
    .await;
    assert_eq!(audited, 1);
    let settings_audited: i64 = one(
        &app,
        "SELECT count(*) FROM audit_log WHERE entity = 'change_of_use_settings' AND $1::uuid IS NOT NULL",
        seller,
    )
    .await;
    assert_eq!(settings_audited, 1);

    // The slip prints what changed; the timeline shows the completed order.
    let (status, slip) = clerk.get_text(&format!("/work-orders/{id}/slip")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(slip.contains("受理回执") && slip.contains("赵新户") && slip.contains("data-print"), "{slip}");
    let on_timeline: i64 = one(
        &app,
        "SELECT count(*) FROM customer_timeline WHERE customer_id = $1 AND kind = 'work_order' AND status = 'completed'",
        seller,
    )
    .await;
    assert_eq!(on_timeline, 1);

    // The new holder's first bill starts at the transfer reading: 650 → 720 is
    // 70 kWh, none of the old holder's use.
    reading(&app, "ALPHAM0002", &this_period(), &today().to_string(), "720").await;
    let run = bill_run(&app, &supervisor, &this_period()).await;
    assert_eq!(run["status"], "done", "{run}");
    let first = app.api_get(&supervisor, &format!("/api/v1/bills?customer={holder}")).await;
    assert_eq!(first.as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first[0]["energy_kwh"].as_str(), Some("70.00"), "{first}");

    // Back to settling: a customer who owes nothing transfers to an existing
    // customer, and the old account closes.
    admin.post("/settings/change-of-use", &[("transfer_arrears", "settle")]).await;
    let (status, order) = open(
        &app,
        &key,
        json!({ "kind": "transfer_of_ownership", "customer_id": quiet, "title": "过户给已有客户", "new_holder_id": buyer }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    steps(
        &app,
        &key,
        &id,
        &[
            json!({ "action": "review",
                    "documents": ["application_form", "identity", "new_holder_identity", "transfer_agreement"] }),
            json!({ "action": "complete", "final_reading": "10" }),
        ],
    )
    .await;
    let points: i64 = one(&app, "SELECT count(*) FROM supply_points WHERE customer_id = $1", buyer).await;
    assert_eq!(points, 2);
    assert_eq!(one::<String>(&app, "SELECT status FROM customers WHERE id = $1", quiet).await, "closed");
    // A transfer to oneself is no transfer.
    let (status, _) = open(
        &app,
        &key,
        json!({ "kind": "transfer_of_ownership", "customer_id": buyer, "title": "x", "new_holder_id": buyer }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_account_closes_with_a_final_bill_settled_from_credit_and_deposit_to_zero() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    reading(&app, "ALPHAM0001", &last_period(), &format!("{}-25", last_period()), "1000").await;
    exec(&app, "UPDATE customers SET credit_balance = 20 WHERE id = $1", customer).await;
    exec(
        &app,
        "INSERT INTO credit_securities (tenant_id, id, customer_id, kind, amount, reference, received_on, recorded_by)
         VALUES (app_tenant_id(), gen_random_uuid(), $1, 'deposit', 100, 'RCPT-1', '2024-01-02', 'test')",
        customer,
    )
    .await;
    let point = point_of(&app, customer).await;

    let id = reviewed_closing(&app, &key, customer).await;
    // The final reading is required, and may not run backwards.
    let (status, answer) = step(&app, &key, &id, json!({ "action": "complete" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("final_reading"), "{answer}");
    let (status, answer) = step(&app, &key, &id, json!({ "action": "complete", "final_reading": "900" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("reading_below_previous"), "{answer}");
    assert_eq!(one::<i64>(&app, "SELECT count(*) FROM bills WHERE customer_id = $1", customer).await, 0);

    steps(&app, &key, &id, &[json!({ "action": "complete", "final_reading": "1100" })]).await;
    // 100 kWh at 0.538 = 53.80: 20.00 from the credit, 33.80 from the deposit, 66.20 back.
    let bill: (String, Decimal, Decimal) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT bill_no, amount, paid FROM bills WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!((bill.1, bill.2), (Decimal::new(5380, 2), Decimal::new(5380, 2)));
    assert_eq!(owed(&app, customer).await, Decimal::ZERO);
    let credit: Decimal = one(&app, "SELECT credit_balance FROM customers WHERE id = $1", customer).await;
    assert_eq!(credit, Decimal::ZERO);
    let refund: (Decimal, Decimal, Decimal, String) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT amount, from_credit, from_deposit, status FROM customer_refunds WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!(refund, (Decimal::new(6620, 2), Decimal::ZERO, Decimal::new(6620, 2), "owed".to_owned()));
    let held: i64 =
        one(&app, "SELECT count(*) FROM credit_securities WHERE customer_id = $1 AND released_on IS NULL", customer)
            .await;
    assert_eq!(held, 0);
    let (status, retired): (String, Option<NaiveDate>) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT status, retired_on FROM supply_points WHERE id = $1")
            .bind(point)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!((status.as_str(), retired), ("removed", Some(today())));
    assert_eq!(one::<String>(&app, "SELECT status FROM customers WHERE id = $1", customer).await, "closed");
    let meters: i64 =
        one(&app, "SELECT count(*) FROM meter_installations WHERE supply_point_id = $1 AND removed_on IS NULL", point)
            .await;
    assert_eq!(meters, 0);
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, slip) = clerk.get_text(&format!("/work-orders/{id}/slip")).await;
    assert!(slip.contains(&bill.0) && slip.contains("66.20") && slip.contains("应退客户金额"), "{slip}");

    // The refund waits on the refunds page until the counter pays it out.
    let (status, page) = clerk.get_text("/refunds").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("66.20") && page.contains("/refunds/"), "{page}");
    let refund_id: Uuid = one(&app, "SELECT id FROM customer_refunds WHERE customer_id = $1", customer).await;
    let pay = format!("/refunds/{refund_id}/pay");
    // A bank transfer without its reference is refused, named, and nothing is paid.
    let r = clerk.post(&pay, &[("channel", "bank_transfer"), ("reference", " ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("转账流水号"), "{body}");
    assert_eq!(one::<String>(&app, "SELECT status FROM customer_refunds WHERE id = $1", refund_id).await, "owed");
    let r = clerk.post(&pay, &[("channel", "bank_transfer"), ("reference", "BOC20261203001")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let paid: (String, Option<String>, String) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT status, channel, reference FROM customer_refunds WHERE id = $1")
            .bind(refund_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!(paid, ("paid".into(), Some("bank_transfer".into()), "BOC20261203001".into()));
    // Paid once: a second payout is refused.
    let r = clerk.post(&pay, &[("channel", "cash")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let audited: i64 = one(
        &app,
        "SELECT count(*) FROM audit_log WHERE entity = 'refund' AND action = 'pay_out' AND entity_id = $1",
        refund_id,
    )
    .await;
    assert_eq!(audited, 1);
    let on_timeline: i64 =
        one(&app, "SELECT count(*) FROM customer_timeline WHERE customer_id = $1 AND kind = 'refund'", customer).await;
    assert_eq!(on_timeline, 1);
    let (_, page) = clerk.get_text("/refunds?status=paid").await;
    assert!(page.contains("BOC20261203001") && page.contains("银行转账"), "{page}");
    let (_, page) = clerk.get_text("/refunds").await;
    assert!(page.contains("没有待退的款项"), "{page}");

    // Not covered by credit and deposit: refused until paid.
    let other = app.alpha.customers[2];
    reading(&app, "ALPHAM0003", &last_period(), &format!("{}-25", last_period()), "100").await;
    let id = reviewed_closing(&app, &key, other).await;
    let (status, answer) = step(&app, &key, &id, json!({ "action": "complete", "final_reading": "300" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer.to_string().contains("不足以抵扣欠费"), "{answer}");
    assert_eq!(one::<i64>(&app, "SELECT count(*) FROM bills WHERE customer_id = $1", other).await, 0, "rolled back");
}

#[tokio::test]
async fn a_customer_with_two_meters_closes_on_a_final_reading_of_each_in_one_final_bill() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let point = point_of(&app, customer).await;
    // A second meter on the same supply point, put in last month at 0.
    let counter_key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let r = Client::new()
        .post(app.url("/api/v1/meters"))
        .bearer_auth(&counter_key)
        .json(
            &json!({ "supply_point_id": point, "serial": "ALPHAM0001B", "installed_on": format!("{}-10", last_period()),
                       "initial_reading": "0" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    reading(&app, "ALPHAM0001", &last_period(), &format!("{}-25", last_period()), "1000").await;
    reading(&app, "ALPHAM0001B", &last_period(), &format!("{}-25", last_period()), "50").await;
    exec(&app, "UPDATE customers SET credit_balance = 200 WHERE id = $1", customer).await;

    let id = reviewed_closing(&app, &key, customer).await;
    // The page asks for a reading of each meter, with its last reading beside it.
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, page) = clerk.get_text(&format!("/work-orders/{id}")).await;
    assert_eq!(page.matches(r#"name="final_readings""#).count(), 2, "{page}");
    assert!(page.contains(r#"value="ALPHAM0001B""#), "{page}");
    // One reading for two meters is refused, named; so is a meter of another customer.
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let one_reading = json!({ "action": "complete", "final_reading": "1100" });
    refused(&app, &key, &id, one_reading, unprocessable, "reading_for_every_meter").await;
    let foreign = json!({ "action": "complete", "meter_serials": ["ALPHAM0001", "ALPHAM0002"], "final_readings": ["1100", "80"] });
    refused(&app, &key, &id, foreign, unprocessable, "not_installed_here").await;
    let unpaired =
        json!({ "action": "complete", "meter_serials": ["ALPHAM0001", "ALPHAM0001B"], "final_readings": ["1100"] });
    refused(&app, &key, &id, unpaired, unprocessable, "readings_per_meter").await;
    assert_eq!(one::<i64>(&app, "SELECT count(*) FROM bills WHERE customer_id = $1", customer).await, 0);

    // Through the page, as the clerk fills it in.
    let r = clerk
        .post(
            &format!("/work-orders/{id}/actions"),
            &[
                ("action", "complete"),
                ("meter_serials", "ALPHAM0001"),
                ("final_readings", "1100"),
                ("meter_serials", "ALPHAM0001B"),
                ("final_readings", "80"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    // 100 kWh and 30 kWh on one bill: 130 × 0.538 = 69.94, paid from the credit.
    let (amount, kwh): (Decimal, Decimal) = {
        let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_as("SELECT amount, energy_kwh FROM bills WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!((amount, kwh), (Decimal::new(6994, 2), Decimal::from(130)));
    assert_eq!(owed(&app, customer).await, Decimal::ZERO);
    let installed: i64 =
        one(&app, "SELECT count(*) FROM meter_installations WHERE supply_point_id = $1 AND removed_on IS NULL", point)
            .await;
    assert_eq!(installed, 0, "both meters are taken out");
    let removals: i64 = one(
        &app,
        "SELECT count(*) FROM meter_readings WHERE customer_id = $1 AND kind = 'removal' AND status <> 'superseded'",
        customer,
    )
    .await;
    assert_eq!(removals, 2);
    let (_, slip) = clerk.get_text(&format!("/work-orders/{id}/slip")).await;
    assert!(slip.contains("ALPHAM0001, ALPHAM0001B") && slip.contains("1100, 80"), "{slip}");
}

#[tokio::test]
async fn capacity_suspension_name_and_tariff_change_the_archive_and_refuse_what_does_not_fit() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[3];
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let point = point_of(&app, customer).await;
    exec(&app, "UPDATE supply_points SET capacity_kva = 10 WHERE id = $1", point).await;
    let run = |kind: &'static str, extra: Value| {
        let (app, key) = (&app, &key);
        async move {
            let mut body = json!({ "kind": kind, "customer_id": customer, "supply_point_id": point, "title": kind });
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let (status, order) = open(app, key, body).await;
            assert_eq!(status, StatusCode::CREATED, "{order}");
            let id = order["id"].as_str().unwrap().to_owned();
            let documents = match kind {
                "capacity_increase" => json!(["application_form", "identity", "property_proof", "load_list"]),
                "change_of_name" => json!(["application_form", "identity", "name_change_proof"]),
                _ => json!(["application_form", "identity"]),
            };
            steps(app, key, &id, &[json!({ "action": "review", "documents": documents })]).await;
            step(app, key, &id, json!({ "action": "complete" })).await
        }
    };
    // An increase must increase.
    let (status, answer) = run("capacity_increase", json!({ "requested_capacity_kva": "8" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer.to_string().contains("须大于计量点现有容量"), "{answer}");
    let (status, _) = run("capacity_increase", json!({ "requested_capacity_kva": "16" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        one::<Decimal>(&app, "SELECT capacity_kva FROM supply_points WHERE id = $1", point).await,
        Decimal::from(16)
    );
    let (status, _) = run("capacity_reduction", json!({ "requested_capacity_kva": "12.5" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        one::<Decimal>(&app, "SELECT capacity_kva FROM supply_points WHERE id = $1", point).await,
        Decimal::new(1250, 2)
    );
    // Restoring a point in service is refused; suspension then restoration work.
    let (status, answer) = run("restoration", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer.to_string().contains("只有已暂停"), "{answer}");
    let (status, _) = run("suspension", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one::<String>(&app, "SELECT status FROM supply_points WHERE id = $1", point).await, "suspended");
    let (status, _) = run("restoration", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one::<String>(&app, "SELECT status FROM supply_points WHERE id = $1", point).await, "in_service");
    // A capacity order without its point or capacity is named at the counter.
    let (status, errors) =
        open(&app, &key, json!({ "kind": "capacity_reduction", "customer_id": customer, "title": "减容" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(errors.to_string().contains("supply_point_id") && errors.to_string().contains("requested_capacity_kva"));

    // Change of name: same customer, new name, the old one in the audit log.
    let (status, _) = run("change_of_name", json!({ "new_name": "欧阳娜娜（更名）" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one::<String>(&app, "SELECT name FROM customers WHERE id = $1", customer).await, "欧阳娜娜（更名）");
    let old_name: String = one(
        &app,
        "SELECT before->>'name' FROM audit_log WHERE entity = 'customer' AND entity_id = $1 AND action = 'update' ORDER BY at DESC LIMIT 1",
        customer,
    )
    .await;
    assert_eq!(old_name, "欧阳娜娜");
    // Change of tariff: an unknown category is named; a known one is set.
    let (status, errors) = open(
        &app,
        &key,
        json!({ "kind": "change_of_tariff", "customer_id": customer, "title": "改类", "tariff_code": "nope" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(errors.to_string().contains("tariff_code"));
    let other_tariff: String = one(
        &app,
        "SELECT code FROM tariff_categories WHERE code <> 'res_tiered' AND $1::uuid IS NOT NULL ORDER BY code LIMIT 1",
        customer,
    )
    .await;
    let (status, _) = run("change_of_tariff", json!({ "tariff_code": other_tariff })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one::<String>(&app, "SELECT tariff_code FROM customers WHERE id = $1", customer).await, other_tariff);
}

#[tokio::test]
async fn another_company_sees_no_change_of_use_slip_or_setting() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[3];
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let (_, order) = open(
        &app,
        &key,
        json!({ "kind": "change_of_name", "customer_id": customer, "title": "更名", "new_name": "新名字" }),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    steps(
        &app,
        &key,
        &id,
        &[
            json!({ "action": "review", "documents": ["application_form", "identity", "name_change_proof"] }),
            json!({ "action": "complete" }),
        ],
    )
    .await;
    let ours = app.login(&app.alpha, "counter").await;
    assert_eq!(ours.get(&format!("/work-orders/{id}/slip")).await.status(), StatusCode::OK);
    let theirs = app.login(&app.beta, "counter").await;
    assert_eq!(theirs.get(&format!("/work-orders/{id}/slip")).await.status(), StatusCode::NOT_FOUND);
    // Beta's own rule is its own.
    let beta_admin = app.login(&app.beta, "admin").await;
    beta_admin.post("/settings/change-of-use", &[("transfer_arrears", "carry")]).await;
    let (_, alpha_settings) = app.login(&app.alpha, "admin").await.get_text("/settings/change-of-use").await;
    assert!(alpha_settings.contains("value=\"settle\" checked"), "{alpha_settings}");
}
