//! The demo seed's interval data: 90 days of 96 slots for each large
//! meter, the same days the rebuild makes from the stored rows, the injected
//! shift in the data, and nothing for another tenant.

use chrono::{Duration, NaiveDate};
use uuid::Uuid;

use crate::support::{Tenant, TestApp};
use gridcrm::{db, seed::interval};

/// Makes a tenant's first `n` customers large (800 kVA) in the given industries; returns their meters.
async fn make_large(app: &TestApp, tenant: &Tenant, industries: &[&str]) -> Vec<Uuid> {
    let mut tx = db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let mut meters = Vec::new();
    for (customer, industry) in tenant.customers.iter().zip(industries) {
        sqlx::query(
            "UPDATE customers SET class_code = 'large_industry', industry_code = $2, tariff_code = 'large_two_part',
                 voltage_code = 'kv10', capacity_kva = 800 WHERE id = $1",
        )
        .bind(customer)
        .bind(industry)
        .execute(&mut *tx)
        .await
        .unwrap();
        let meter: Uuid = sqlx::query_scalar(
            "SELECT i.meter_id FROM meter_installations i JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
             WHERE p.customer_id = $1 AND i.removed_on IS NULL",
        )
        .bind(customer)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        meters.push(meter);
    }
    tx.commit().await.unwrap();
    meters
}

type DayRow = (Uuid, NaiveDate, i16, Vec<Option<f64>>);

async fn load_days(app: &TestApp, tenant: Uuid) -> Vec<DayRow> {
    let mut tx = db::begin_tenant(&app.pool, tenant, None).await.unwrap();
    sqlx::query_as("SELECT meter_id, day, minutes, kw FROM load_days ORDER BY meter_id, day")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

fn day_mean(row: &DayRow) -> f64 {
    row.3.iter().flatten().sum::<f64>() / row.3.len() as f64
}

#[tokio::test]
async fn the_seed_leaves_ninety_days_of_curves_for_each_large_meter_only() {
    let app = TestApp::spawn().await;
    let large = make_large(&app, &app.alpha, &["C26", "C13"]).await;
    // Beta has a large customer too, but is not seeded.
    make_large(&app, &app.beta, &["C26"]).await;
    let today = NaiveDate::from_ymd_opt(2026, 12, 20).unwrap();
    interval::seed_calendar(&app.pool, app.alpha.id).await.unwrap();
    let seeded = interval::seed_interval(&app.pool, app.alpha.id, today, None, 7, false).await.unwrap();
    let (first, last) = (today - Duration::days(90), today - Duration::days(1));
    assert_eq!((seeded.meters, seeded.first, seeded.last), (2, Some(first), Some(last)));
    assert_eq!(seeded.rows, 2 * 90 * 96);
    assert_eq!(seeded.load_days, 2 * 90);

    let days = load_days(&app, app.alpha.id).await;
    assert_eq!(days.len(), 180, "90 days for each large meter, none for the small ones");
    for meter in &large {
        let mine: Vec<&DayRow> = days.iter().filter(|d| d.0 == *meter).collect();
        assert_eq!(mine.len(), 90);
        assert_eq!((mine[0].1, mine[89].1), (first, last));
        assert!(mine.iter().all(|d| d.2 == 15 && d.3.len() == 96 && d.3.iter().all(|v| v.is_some_and(|v| v > 0.0))));
    }
    // A holiday of the demo calendar (National Day) is lower than the
    // working week after it at the food factory (two shifts).
    let food: Vec<&DayRow> = days.iter().filter(|d| d.0 == large[1]).collect();
    let on = |day: &str| day_mean(food.iter().find(|d| d.1 == day.parse::<NaiveDate>().unwrap()).unwrap());
    assert!(
        on("2026-10-05") < 0.5 * on("2026-10-14"),
        "holiday {} vs Wednesday {}",
        on("2026-10-05"),
        on("2026-10-14")
    );

    // The seeded days are exactly what the rebuild makes from the stored rows.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM interval_data").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(stored, 2 * 90 * 96);
    let rebuilt = gridcrm::interval::days::rebuild(&mut tx, app.alpha.id, &large, first, last).await.unwrap();
    assert_eq!(rebuilt, 180);
    tx.commit().await.unwrap();
    assert_eq!(load_days(&app, app.alpha.id).await, days, "the rebuild changes nothing");

    // One of the two industrial customers got a lasting shift (at most half
    // of the candidates), and the data shows it (the weeks around it, in
    // November, hold no holiday).
    assert_eq!(seeded.shifts.len(), 1);
    let shift = &seeded.shifts[0];
    assert!((20..=40).contains(&(today - shift.shift.from).num_days()));
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let meter: Uuid = sqlx::query_scalar("SELECT id FROM meters WHERE serial = $1")
        .bind(&shift.serial)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let week = |from: NaiveDate| {
        let rows: Vec<f64> = days
            .iter()
            .filter(|d| d.0 == meter && d.1 >= from && d.1 < from + Duration::days(7))
            .map(day_mean)
            .collect();
        rows.iter().sum::<f64>() / rows.len() as f64
    };
    let ratio = week(shift.shift.from + Duration::days(1)) / week(shift.shift.from - Duration::days(7));
    assert!(
        (ratio / shift.shift.factor - 1.0).abs() < 0.12,
        "week after / week before {ratio}, shift {}",
        shift.shift.factor
    );

    // The customers' metrics months are marked for the hourly refresh.
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let marked: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT customer_id) FROM customer_metric_changes WHERE month >= $1 AND customer_id = ANY($2)",
    )
    .bind(NaiveDate::from_ymd_opt(2026, 9, 1).unwrap())
    .bind(&app.alpha.customers)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(marked, 2);

    // Nothing for the other tenant, which was not seeded.
    assert!(load_days(&app, app.beta.id).await.is_empty());
    let mut tx = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let beta_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM interval_data").fetch_one(&mut *tx).await.unwrap();
    // Its calendar is the national one every company starts with, nothing seeded.
    let beta_days: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM calendar_days c WHERE NOT EXISTS
           (SELECT 1 FROM national_calendar_days n WHERE n.day = c.day AND n.kind = c.kind AND n.name = c.name)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((beta_rows, beta_days), (0, 0));
    assert_eq!(app.count_all("load_days").await, 180, "every tenant's rows, seen as the superuser");

    // Asking for no meters writes nothing.
    let none = interval::seed_interval(&app.pool, app.beta.id, today, Some(0), 7, false).await.unwrap();
    assert_eq!((none.meters, none.rows), (0, 0));
    assert!(load_days(&app, app.beta.id).await.is_empty());
}
