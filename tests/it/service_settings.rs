//! The tenant admin's service settings: calendar, holidays, limits; audited,
//! validated field by field, and used by the next clock that starts.

use reqwest::StatusCode;

use crate::support::TestApp;
use gridcrm::db;

#[tokio::test]
async fn an_admin_edits_the_calendar_and_limits_and_new_clocks_use_them() {
    let app = TestApp::spawn().await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    assert_eq!(supervisor.get("/admin/service-settings").await.status(), StatusCode::FORBIDDEN);

    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/admin/service-settings").await;
    assert_eq!(status, StatusCode::OK);
    // Limits are entered in hours or working days: 2,250 minutes are 5 working days of 7.5 hours.
    assert!(page.contains("name=\"amount.complaint.resolve.\" inputmode=\"decimal\" value=\"5\""), "{page}");
    assert!(page.contains("name=\"amount.repair.arrival.urban\" inputmode=\"decimal\" value=\"0.75\""));
    assert!(page.contains("<option value=\"working_days\" selected>"));

    // Bad input names the field and saves nothing.
    let r = admin
        .post("/admin/service-settings/calendar", &[("periods", "17:30-13:30"), ("near_due_percent", "120")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"periods-error\"") && page.contains("id=\"near_due_percent-error\""), "{page}");
    assert!(page.contains("value=\"17:30-13:30\""), "what was typed stays in the form");
    let r = admin
        .post(
            "/admin/service-settings/limits",
            &[("amount.complaint.resolve.", "0"), ("unit.complaint.resolve.", "working_days")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"amount.complaint.resolve.-error\""));

    // Good input is saved and audited.
    let r = admin
        .post(
            "/admin/service-settings/calendar",
            &[("periods", "09:00-12:00, 13:00-17:00"), ("weekend", "7"), ("near_due_percent", "25")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin
        .post("/admin/service-settings/days", &[("day", "2026-10-01"), ("kind", "holiday"), ("name", "国庆节")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin
        .post(
            "/admin/service-settings/limits",
            // 30 working hours: 1,800 minutes of working time.
            &[("amount.complaint.resolve.", "30"), ("unit.complaint.resolve.", "working_hours")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = admin.get_text("/admin/service-settings?saved=1").await;
    assert!(page.contains("国庆节") && page.contains("value=\"09:00-12:00,13:00-17:00\""));

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (weekend, near): (Vec<i16>, i16) =
        sqlx::query_as("SELECT weekend, near_due_percent FROM service_calendars").fetch_one(&mut *tx).await.unwrap();
    assert_eq!((weekend, near), (vec![7], 25));
    let audited: Vec<(String,)> = sqlx::query_as(
        "SELECT entity FROM audit_log WHERE entity IN ('service_calendar', 'calendar_day', 'sla_limits') ORDER BY at",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        audited.into_iter().map(|a| a.0).collect::<Vec<_>>(),
        ["service_calendar", "calendar_day", "sla_limits"]
    );
    drop(tx);

    // A complaint acknowledged now runs its resolve clock on the new limit.
    let clerk = app.login(&app.alpha, "counter").await;
    let r = clerk
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hotline"),
                ("subject", "billing"),
                ("caller_name", "周先生"),
                ("caller_phone", "13800000003"),
                ("description", "电费异常"),
            ],
        )
        .await;
    let path = crate::support::location(&r);
    let path = path.split('?').next().unwrap();
    let r = clerk.post(&format!("{path}/actions"), &[("action", "acknowledge"), ("comment", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (clock, minutes): (String, i32) =
        sqlx::query_as("SELECT clock, clock_limit_minutes FROM contacts WHERE description = '电费异常'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((clock.as_str(), minutes), ("resolve", 1800));

    // Removing a day asks first (a confirm form) and is audited too.
    let r = admin.post("/admin/service-settings/days/2026-10-01/remove", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let days: i64 = sqlx::query_scalar("SELECT count(*) FROM calendar_days WHERE day = '2026-10-01'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(days, 0);

    // The other company's settings are untouched.
    let mut other = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let minutes: i32 =
        sqlx::query_scalar("SELECT minutes FROM sla_limits WHERE item = 'complaint' AND clock = 'resolve'")
            .fetch_one(&mut *other)
            .await
            .unwrap();
    assert_eq!(minutes, 2250);
}
