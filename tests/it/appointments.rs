//! Hall appointments: the admin's halls, booking in the portal within the
//! slot's capacity (also when two customers race for the last place), the
//! per-account limit, cancelling, the hall's day for its staff, and the
//! reminder the day before.

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    portal::{account_no, registered},
    support::{TestApp, location},
};
use gridcrm::db;

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

/// The values of a select's options in a page, in order.
fn options(html: &str, select: &str) -> Vec<String> {
    let start = html.find(&format!("<select id=\"{select}\"")).expect("the select is on the page");
    let end = start + html[start..].find("</select>").unwrap();
    html[start..end].split("<option value=\"").skip(1).map(|s| s[..s.find('"').unwrap()].to_owned()).collect()
}

#[tokio::test]
async fn customers_book_hall_slots_within_their_capacity_and_staff_see_who_came() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    // A hall is checked field by field; nothing is saved until it is right.
    let bad = [
        ("code", "WL"),
        ("name", ""),
        ("opens", "17:00"),
        ("closes", "08:30"),
        ("slot_minutes", "5"),
        ("capacity", "0"),
    ];
    let r = admin.post("/halls", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    for field in ["name", "closes", "slot_minutes", "capacity"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
    }
    assert_eq!(app.count_all("business_halls").await, 0);
    let hall = [
        ("code", "WL"),
        ("name", "文林营业厅"),
        ("address", "文林路 1 号"),
        ("opens", "08:30"),
        ("closes", "11:30"),
        ("slot_minutes", "30"),
        ("capacity", "1"),
        ("active", "on"),
    ];
    let r = admin.post("/halls", &hall).await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/halls?saved=true"));
    let hall_id: Uuid =
        sqlx::query_scalar("SELECT id FROM business_halls").fetch_one(&mut owner(&app).await).await.unwrap();

    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let (mine_no, other_no) = (account_no(&app, mine).await, account_no(&app, other).await);
    let a = registered(&app, mine, "13912345678").await;
    let b = registered(&app, other, "13800000002").await;
    let (status, page) = a.get_text("/portal/appointments").await;
    assert_eq!(status, StatusCode::OK);
    let days = options(&page, "day");
    assert!(!days.is_empty() && days.len() <= 14, "{days:?}");
    // The last day offered: every slot of it is still open.
    let day = days.last().unwrap().clone();
    let (_, page) = a.get_text(&format!("/portal/appointments?hall={hall_id}&day={day}")).await;
    assert!(page.contains("value=\"08:30\"") && page.contains("value=\"11:00\"") && !page.contains("value=\"11:30\""));
    let book = |who: &crate::support::Browser, account: &str, starts: &str| {
        let fields = [
            ("hall".to_owned(), hall_id.to_string()),
            ("day".to_owned(), day.clone()),
            ("starts".to_owned(), starts.to_owned()),
            ("account_no".to_owned(), account.to_owned()),
            ("purpose".to_owned(), "payment".to_owned()),
        ];
        let who = who.clone_session();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            who.post("/portal/appointments", &fields).await
        }
    };
    // A time that is not a slot, or another customer's account, is named.
    let r = book(&a, &mine_no, "08:45").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"starts-error\""));
    let r = book(&a, &other_no, "08:30").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"account_no-error\""));

    // Two customers race for the one place of 08:30: one gets it.
    let (ra, rb) = tokio::join!(book(&a, &mine_no, "08:30"), book(&b, &other_no, "08:30"));
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY]);
    let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM hall_appointments WHERE starts = '08:30'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(taken, 1);
    // The loser sees it full; three open appointments an account at most.
    let (_, page) = a.get_text(&format!("/portal/appointments?hall={hall_id}&day={day}")).await;
    assert!(page.contains("value=\"08:30\" disabled"), "{page}");
    let winner_is_a = ra.status() == StatusCode::SEE_OTHER;
    let (w, w_no) = if winner_is_a { (&a, &mine_no) } else { (&b, &other_no) };
    for starts in ["09:00", "09:30"] {
        assert_eq!(book(w, w_no, starts).await.status(), StatusCode::SEE_OTHER, "{starts}");
    }
    let r = book(w, w_no, "10:00").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"account_no-error\""));

    // Cancelling: another customer's is not found; one's own frees the place.
    let (id, ref_no): (Uuid, String) =
        sqlx::query_as("SELECT id, ref_no::text FROM hall_appointments WHERE starts = '09:00'")
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    let loser = if winner_is_a { &b } else { &a };
    assert_eq!(loser.post(&format!("/portal/appointments/{id}/cancel"), &[]).await.status(), StatusCode::NOT_FOUND);
    let r = w.post(&format!("/portal/appointments/{id}/cancel"), &[]).await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/portal/appointments?cancelled=true"));
    let (_, page) = w.get_text("/portal/appointments?cancelled=true").await;
    assert!(page.contains(&ref_no) && page.contains("已取消"), "{page}");
    assert_eq!(book(w, w_no, "10:00").await.status(), StatusCode::SEE_OTHER, "a place again under the limit");

    // The hall's staff see the day and mark who came.
    let counter = app.login(&app.alpha, "counter").await;
    let (status, list) = counter.get_text(&format!("/halls/{hall_id}/appointments?day={day}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("08:30") && list.contains("10:00") && list.contains(w_no.as_str()), "{list}");
    let first: Uuid = sqlx::query_scalar("SELECT id FROM hall_appointments WHERE starts = '08:30'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let r = counter.post(&format!("/appointments/{first}/status"), &[("status", "attended")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        counter.post(&format!("/appointments/{first}/status"), &[("status", "no_show")]).await.status(),
        StatusCode::CONFLICT
    );
    let beta = app.login(&app.beta, "counter").await;
    assert_eq!(beta.get(&format!("/halls/{hall_id}/appointments")).await.status(), StatusCode::NOT_FOUND);
    let r = beta.post(&format!("/appointments/{id}/status"), &[("status", "attended")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another company's appointment");
    let (_, halls) = counter.get_text("/halls").await;
    assert!(
        halls.contains("文林营业厅") && !halls.contains("id=\"hall-form\""),
        "counter staff see halls, not the form"
    );
}

#[tokio::test]
async fn a_reminder_goes_out_once_the_day_before() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let mut conn = owner(&app).await;
    let hall = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO business_halls (tenant_id, id, code, name, address, opens, closes, slot_minutes, capacity)
         VALUES ($1, $2, 'WL', '文林营业厅', '文林路 1 号', '08:30', '17:00', 30, 2)",
    )
    .bind(app.alpha.id)
    .bind(hall)
    .execute(&mut conn)
    .await
    .unwrap();
    let tomorrow =
        chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive() + chrono::Duration::days(1);
    for (starts, status) in [("09:00", "booked"), ("10:00", "cancelled")] {
        sqlx::query(
            "INSERT INTO hall_appointments (tenant_id, id, ref_no, hall_id, customer_id, day, starts, purpose, status, cancelled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::time, 'payment', $8, CASE WHEN $8 = 'cancelled' THEN now() END)",
        )
        .bind(app.alpha.id)
        .bind(Uuid::now_v7())
        .bind(format!("A-{starts}"))
        .bind(hall)
        .bind(customer)
        .bind(tomorrow)
        .bind(starts)
        .bind(status)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    assert_eq!(gridcrm::appointments::db::remind_everywhere(&app.pool).await.unwrap(), 1);
    assert_eq!(gridcrm::appointments::db::remind_everywhere(&app.pool).await.unwrap(), 0, "once");
    let (time, hall_name): (String, String) = sqlx::query_as(
        "SELECT data->>'time', data->>'hall' FROM notices WHERE kind = 'appointment_reminder' AND customer_id = $1",
    )
    .bind(customer)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((time.as_str(), hall_name.as_str()), ("09:00", "文林营业厅"));
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM hall_appointments").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(seen, 0, "another company sees none");
}
