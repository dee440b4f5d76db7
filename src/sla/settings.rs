//! The tenant's SLA settings in the database: the working calendar, dated
//! exceptions (holidays and make-up working days) and the time limits.

use std::collections::BTreeSet;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use sqlx::PgConnection;

use crate::sla::{Limit, ServiceRules, WorkingCalendar, parse_periods};

#[derive(Clone, Debug, serde::Serialize)]
pub struct CalendarSettings {
    pub periods: String,
    /// ISO weekday numbers, 1 = Monday … 7 = Sunday.
    pub weekend: Vec<i16>,
    pub near_due_percent: i16,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CalendarDay {
    pub day: NaiveDate,
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LimitRow {
    pub item: String,
    pub clock: String,
    pub variant: String,
    pub minutes: i32,
    pub working_time: bool,
}

pub fn weekday(iso: i16) -> Option<Weekday> {
    match iso {
        1 => Some(Weekday::Mon),
        2 => Some(Weekday::Tue),
        3 => Some(Weekday::Wed),
        4 => Some(Weekday::Thu),
        5 => Some(Weekday::Fri),
        6 => Some(Weekday::Sat),
        7 => Some(Weekday::Sun),
        _ => None,
    }
}

pub async fn calendar_settings(conn: &mut PgConnection) -> sqlx::Result<CalendarSettings> {
    let row = sqlx::query_as!(
        CalendarSettings,
        "SELECT periods, weekend, near_due_percent FROM service_calendars WHERE tenant_id = app_tenant_id()"
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.unwrap_or(CalendarSettings {
        periods: "08:30-12:00,13:30-17:30".into(),
        weekend: vec![6, 7],
        near_due_percent: 20,
    }))
}

pub async fn calendar_days(conn: &mut PgConnection) -> sqlx::Result<Vec<CalendarDay>> {
    sqlx::query_as!(CalendarDay, "SELECT day, kind, name FROM calendar_days ORDER BY day").fetch_all(conn).await
}

/// Everything a clock needs, for the tenant of the transaction.
pub async fn load_rules(conn: &mut PgConnection, tz: Tz) -> sqlx::Result<ServiceRules> {
    let settings = calendar_settings(conn).await?;
    let days = calendar_days(conn).await?;
    let mut calendar = WorkingCalendar::office(tz);
    if let Some(periods) = parse_periods(&settings.periods) {
        calendar.periods = periods;
    }
    calendar.weekend = settings.weekend.iter().filter_map(|d| weekday(*d)).collect();
    calendar.holidays = days.iter().filter(|d| d.kind == "holiday").map(|d| d.day).collect::<BTreeSet<_>>();
    calendar.make_up_days = days.iter().filter(|d| d.kind == "working").map(|d| d.day).collect::<BTreeSet<_>>();
    Ok(ServiceRules { calendar, near_share: f64::from(settings.near_due_percent) / 100.0 })
}

/// The limit for `item`'s `clock`, specific to `variant` where the tenant set
/// one, else the general one. None: this clock is not timed.
pub async fn find_limit(
    conn: &mut PgConnection,
    item: &str,
    clock: &str,
    variant: &str,
) -> sqlx::Result<Option<Limit>> {
    let row = sqlx::query!(
        r#"SELECT minutes, working_time FROM sla_limits
           WHERE item = $1 AND clock = $2 AND variant IN ($3, '')
           ORDER BY variant = '' LIMIT 1"#,
        item,
        clock,
        variant
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Limit { minutes: r.minutes, working_time: r.working_time }))
}

pub async fn limits(conn: &mut PgConnection) -> sqlx::Result<Vec<LimitRow>> {
    sqlx::query_as!(
        LimitRow,
        "SELECT item, clock, variant, minutes, working_time FROM sla_limits ORDER BY item, clock, variant"
    )
    .fetch_all(conn)
    .await
}

pub async fn save_calendar(conn: &mut PgConnection, s: &CalendarSettings) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO service_calendars (tenant_id, periods, weekend, near_due_percent)
           VALUES (app_tenant_id(), $1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET periods = $1, weekend = $2, near_due_percent = $3"#,
        s.periods,
        &s.weekend,
        s.near_due_percent
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn save_limit(conn: &mut PgConnection, row: &LimitRow) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO sla_limits (tenant_id, item, clock, variant, minutes, working_time)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, item, clock, variant) DO UPDATE SET minutes = $4, working_time = $5"#,
        row.item,
        row.clock,
        row.variant,
        row.minutes,
        row.working_time
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn put_day(conn: &mut PgConnection, day: &CalendarDay) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO calendar_days (tenant_id, day, kind, name) VALUES (app_tenant_id(), $1, $2, $3)
           ON CONFLICT (tenant_id, day) DO UPDATE SET kind = $2, name = $3"#,
        day.day,
        day.kind,
        day.name
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_day(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<bool> {
    Ok(sqlx::query!("DELETE FROM calendar_days WHERE day = $1", day).execute(conn).await?.rows_affected() > 0)
}
