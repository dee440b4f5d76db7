//! The clerk's lists: my contacts and my work orders (customer column,
//! overdue first and highlighted, filters, pages), the supervisor board's
//! tabs and pages, and the clerk's home (queue and today's receipts).

use reqwest::StatusCode;
use uuid::Uuid;

use crate::{
    service::{age_contact, register_complaint},
    support::{TestApp, location},
};

/// Opens a repair order as `username`; returns its id.
pub async fn open_repair(app: &TestApp, username: &str, customer: Uuid, title: &str) -> Uuid {
    let clerk = app.login(&app.alpha, username).await;
    let created = clerk
        .post(
            "/work-orders",
            &[
                ("kind", "repair"),
                ("customer_id", &customer.to_string()),
                ("title", title),
                ("address", "上城区解放路1号"),
                ("area_type", "urban"),
                ("affected_route", "R0001"),
                ("priority", "3"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    Uuid::parse_str(location(&created).trim_start_matches("/work-orders/").split('?').next().unwrap()).unwrap()
}

/// Moves an order's clock `hours` into the past (in UTC, as `age_contact`).
async fn age_order(app: &TestApp, id: Uuid, hours: i32) {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query(
        "UPDATE work_orders SET clock_started_at = (clock_started_at AT TIME ZONE 'UTC' - make_interval(hours => $2)) AT TIME ZONE 'UTC',
             due_at = (due_at AT TIME ZONE 'UTC' - make_interval(hours => $2)) AT TIME ZONE 'UTC' WHERE id = $1",
    )
    .bind(id)
    .bind(hours)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The part of a page from its first table body on.
fn rows(page: &str) -> &str {
    &page[page.find("<tbody>").expect("a table")..]
}

#[tokio::test]
async fn my_contacts_show_the_customer_put_the_overdue_first_filter_and_page() {
    let app = TestApp::spawn().await;
    let calm = register_complaint(&app, "counter", None).await;
    let late = register_complaint(&app, "counter", Some(app.alpha.customers[1])).await;
    age_contact(&app, late, 24 * 14).await;
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, page) = clerk.get_text("/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let list = rows(&page);
    assert!(list.find(&late.to_string()).unwrap() < list.find(&calm.to_string()).unwrap(), "the overdue first");
    assert!(list.contains("<tr class=\"overdue\">") && list.contains("<tr class=\"ok\">"), "rows are highlighted");
    assert!(
        list.contains(&format!("<a href=\"/customers/{}\">李建华</a>", app.alpha.customers[1])),
        "a customer column"
    );
    assert!(page.contains("<strong>2</strong> 项未办结") && page.contains("<strong>1</strong> 项超时"));
    // Filters: overdue only, a state, a kind.
    let (_, overdue) = clerk.get_text("/contacts?overdue=1").await;
    assert!(overdue.contains(&late.to_string()) && !overdue.contains(&calm.to_string()));
    let (_, none) = clerk.get_text("/contacts?kind=praise").await;
    assert!(none.contains("没有符合筛选条件") && !none.contains(&late.to_string()));
    let (_, received) = clerk.get_text("/contacts?state=received").await;
    assert!(received.contains(&late.to_string()) && received.contains(&calm.to_string()));
    // Pages of 25: the 26th of 26 is on page 2, the filter kept.
    for _ in 0..24 {
        register_complaint(&app, "counter", None).await;
    }
    let (_, first) = clerk.get_text("/contacts?kind=complaint").await;
    assert_eq!(rows(&first).matches("<a href=\"/contacts/").count(), 25);
    let next = &first[first.find("rel=\"next\"").expect("a next page")..];
    let next = &next[..next.find('>').unwrap()];
    assert!(next.contains("kind=complaint") && next.contains("page=2") && !first.contains("rel=\"prev\""), "{next}");
    let (_, second) = clerk.get_text("/contacts?kind=complaint&page=2").await;
    assert_eq!(rows(&second).matches("<a href=\"/contacts/").count(), 1);
    assert!(second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""));
    // Another clerk's queue is their own.
    let (_, theirs) = app.login(&app.alpha, "counter2").await.get_text("/contacts").await;
    assert!(!theirs.contains(&late.to_string()) && theirs.contains("没有未办结"));
}

#[tokio::test]
async fn my_work_orders_put_the_overdue_first_and_filter() {
    let app = TestApp::spawn().await;
    let calm = open_repair(&app, "counter", app.alpha.customers[0], "表箱松动").await;
    let late = open_repair(&app, "counter", app.alpha.customers[2], "整栋楼停电").await;
    age_order(&app, late, 24 * 14).await;
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, page) = clerk.get_text("/work-orders").await;
    assert_eq!(status, StatusCode::OK);
    let list = rows(&page);
    assert!(list.find(&late.to_string()).unwrap() < list.find(&calm.to_string()).unwrap(), "the overdue first");
    assert!(list.contains("<tr class=\"overdue\">"));
    assert!(list.contains(&format!("<a href=\"/customers/{}\">张伟</a>", app.alpha.customers[2])));
    let (_, overdue) = clerk.get_text("/work-orders?overdue=1").await;
    assert!(overdue.contains(&late.to_string()) && !overdue.contains(&calm.to_string()));
    let (_, tasks) = clerk.get_text("/work-orders?kind=meter_check").await;
    assert!(tasks.contains("没有符合筛选条件"));
    let (_, reported) = clerk.get_text("/work-orders?state=reported").await;
    assert!(reported.contains(&late.to_string()) && reported.contains("<option value=\"reported\" selected>"));
}

#[tokio::test]
async fn the_board_has_a_tab_for_contacts_and_one_for_orders_each_paged() {
    let app = TestApp::spawn().await;
    let complaint = register_complaint(&app, "counter", Some(app.alpha.customers[0])).await;
    age_contact(&app, complaint, 24 * 14).await;
    let mut orders = Vec::new();
    for i in 0..27 {
        orders.push(open_repair(&app, "counter", app.alpha.customers[i % 4], &format!("故障{i}")).await);
    }
    let supervisor = app.login(&app.alpha, "supervisor").await;
    // Contacts first: the complaint is not under 27 orders.
    let (_, page) = supervisor.get_text("/service/board").await;
    assert!(page.contains(&complaint.to_string()) && !page.contains(&orders[0].to_string()));
    assert!(page.contains("aria-current=\"page\">投诉及诉求"));
    assert!(page.contains("<span class=\"chip danger\">1 项超时</span>"), "the tab says what is overdue");
    // The orders tab, 25 to a page.
    let (_, tab) = supervisor.get_text("/service/board?tab=orders").await;
    assert!(!tab.contains(&complaint.to_string()));
    assert_eq!(rows(&tab).matches("<a href=\"/work-orders/").count(), 25);
    assert!(tab.contains("rel=\"next\""));
    let (_, second) = supervisor.get_text("/service/board?tab=orders&page=2").await;
    assert_eq!(rows(&second).matches("<a href=\"/work-orders/").count(), 2);
    // A work-order kind opens the orders tab by itself; the filter form keeps the tab.
    let (_, repairs) = supervisor.get_text("/service/board?kind=repair").await;
    assert!(repairs.contains("aria-current=\"page\">工单") && repairs.contains("name=\"tab\" value=\"orders\""));
}

#[tokio::test]
async fn the_clerks_home_shows_their_queue_and_todays_receipts() {
    let app = TestApp::spawn().await;
    let late = register_complaint(&app, "counter", Some(app.alpha.customers[3])).await;
    age_contact(&app, late, 24 * 14).await;
    let order = open_repair(&app, "counter", app.alpha.customers[0], "表箱松动").await;
    // Two payments the clerk took today (one reversed), one yesterday, one by another clerk.
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    for (amount, by, ago_hours, status) in [
        ("120.50", "counter", 0, "booked"),
        ("30", "counter", 0, "reversed"),
        ("99", "counter", 30, "booked"),
        ("7", "counter2", 0, "booked"),
    ] {
        sqlx::query(
            "INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_at, booked_by,
                 status, reversed_at)
             VALUES (app_tenant_id(), $1, $2, $3::numeric, 'counter_cash', $1::text, now(), now() - make_interval(hours => $4),
                 $5, $6, CASE WHEN $6 = 'reversed' THEN now() END)",
        )
        .bind(Uuid::now_v7())
        .bind(app.alpha.customers[1])
        .bind(amount)
        .bind(ago_hours)
        .bind(by)
        .bind(status)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, home) = clerk.get_text("/home").await;
    let queue = &home[home.find("id=\"my-queue\"").unwrap()..];
    assert!(queue.contains(&late.to_string()) && queue.contains(&order.to_string()));
    assert!(queue.contains("<tr class=\"overdue\">"));
    assert!(queue.contains(&format!("<a href=\"/customers/{}\">欧阳娜娜</a>", app.alpha.customers[3])));
    let receipts = &home[home.find("id=\"my-receipts\"").unwrap()..];
    assert!(receipts.contains("<strong>1</strong> 笔"), "one booked today; the reversed one does not count");
    assert!(receipts.contains("120.50") && receipts.contains("已冲正") && !receipts.contains("99.00"));
    // The account manager takes no payments and sees the arrears list in the menu.
    let (_, manager) = app.login(&app.alpha, "manager").await.get_text("/home").await;
    assert!(!manager.contains("id=\"my-receipts\"") && manager.contains("href=\"/billing/arrears\""));
    let (status, _) = app.login(&app.alpha, "manager").await.get_text("/billing/arrears").await;
    assert_eq!(status, StatusCode::OK);
}
