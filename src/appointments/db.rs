//! The SQL of business halls and appointments, the booking (checked under
//! the hall's row lock, so a slot never takes more than its capacity) and
//! the day-before reminders.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::NewHall;
use crate::notices::{self, Kind};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Hall {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    pub slot_minutes: i32,
    pub capacity: i32,
    pub active: bool,
}

impl Hall {
    pub fn hours(&self) -> String {
        format!("{}–{}", self.opens.format("%H:%M"), self.closes.format("%H:%M"))
    }
}

const HALL_COLUMNS: &str = "id, code::text AS code, name, address, opens, closes, slot_minutes, capacity, active";

/// The tenant's halls (`active_only`: those taking appointments), by name.
pub async fn halls(conn: &mut PgConnection, active_only: bool) -> sqlx::Result<Vec<Hall>> {
    sqlx::query_as(&format!("SELECT {HALL_COLUMNS} FROM business_halls WHERE active OR NOT $1 ORDER BY name, code"))
        .bind(active_only)
        .fetch_all(conn)
        .await
}

pub async fn hall(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Hall>> {
    sqlx::query_as(&format!("SELECT {HALL_COLUMNS} FROM business_halls WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Adds a hall, or changes the one with the same code; returns the hall as
/// it was before (None: new).
pub async fn save_hall(conn: &mut PgConnection, h: &NewHall) -> sqlx::Result<Option<Hall>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let before: Option<Hall> = sqlx::query_as(&format!(
        "SELECT {HALL_COLUMNS} FROM business_halls WHERE tenant_id = $2 AND code = $1 FOR UPDATE"
    ))
    .bind(&h.code)
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO business_halls (tenant_id, id, code, name, address, opens, closes, slot_minutes, capacity, active)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, code) DO UPDATE SET name = $3, address = $4, opens = $5, closes = $6,
             slot_minutes = $7, capacity = $8, active = $9",
    )
    .bind(Uuid::now_v7())
    .bind(&h.code)
    .bind(&h.name)
    .bind(&h.address)
    .bind(h.opens)
    .bind(h.closes)
    .bind(h.slot_minutes)
    .bind(h.capacity)
    .bind(h.active)
    .execute(conn)
    .await?;
    Ok(before)
}

/// The bookings of each slot of a hall's day (cancelled ones not counted).
pub async fn taken(conn: &mut PgConnection, hall_id: Uuid, day: NaiveDate) -> sqlx::Result<Vec<(NaiveTime, i64)>> {
    sqlx::query_as(
        "SELECT starts, count(*) FROM hall_appointments
         WHERE hall_id = $1 AND day = $2 AND status <> 'cancelled' GROUP BY starts ORDER BY starts",
    )
    .bind(hall_id)
    .bind(day)
    .fetch_all(conn)
    .await
}

/// Why a booking was refused, as an error code.
pub type Refusal = &'static str;

pub struct Booking<'a> {
    pub hall_id: Uuid,
    pub customer_id: Uuid,
    pub portal_user_id: Option<Uuid>,
    pub day: NaiveDate,
    pub starts: NaiveTime,
    pub purpose: &'a str,
}

/// Books a slot: the hall is held while its bookings are counted, so two
/// customers racing for the last place cannot both get it. `allowed`
/// decides whether the day and time may be booked at all (the caller's
/// calendar and clock). Returns the new appointment's reference number.
pub async fn book(
    conn: &mut PgConnection,
    b: &Booking<'_>,
    allowed: impl FnOnce(&Hall) -> Result<(), Refusal>,
) -> sqlx::Result<Result<String, Refusal>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let hall: Option<Hall> = sqlx::query_as(&format!(
        "SELECT {HALL_COLUMNS} FROM business_halls WHERE tenant_id = $2 AND id = $1 AND active FOR UPDATE"
    ))
    .bind(b.hall_id)
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(hall) = hall else { return Ok(Err("unknown_hall")) };
    if let Err(refusal) = allowed(&hall) {
        return Ok(Err(refusal));
    }
    let (in_slot, open): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM hall_appointments
                  WHERE hall_id = $1 AND day = $2 AND starts = $3 AND status <> 'cancelled'),
                (SELECT count(*) FROM hall_appointments
                  WHERE customer_id = $4 AND status = 'booked'
                    AND day >= (now() AT TIME ZONE (SELECT time_zone FROM tenants WHERE id = app_tenant_id()))::date)",
    )
    .bind(b.hall_id)
    .bind(b.day)
    .bind(b.starts)
    .bind(b.customer_id)
    .fetch_one(&mut *conn)
    .await?;
    if in_slot >= i64::from(hall.capacity) {
        return Ok(Err("slot_full"));
    }
    if open >= super::OPEN_PER_ACCOUNT {
        return Ok(Err("too_many_appointments"));
    }
    let ref_no = crate::service::next_ref(conn, "A").await?;
    sqlx::query(
        "INSERT INTO hall_appointments (tenant_id, id, ref_no, hall_id, customer_id, portal_user_id, day, starts, purpose)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(&ref_no)
    .bind(b.hall_id)
    .bind(b.customer_id)
    .bind(b.portal_user_id)
    .bind(b.day)
    .bind(b.starts)
    .bind(b.purpose)
    .execute(conn)
    .await?;
    Ok(Ok(ref_no))
}

/// An appointment as lists show it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Appointment {
    pub id: Uuid,
    pub ref_no: String,
    pub hall_id: Uuid,
    pub hall_name: String,
    pub hall_address: String,
    pub account_no: String,
    pub customer_name: String,
    pub day: NaiveDate,
    pub starts: NaiveTime,
    pub purpose: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const APPOINTMENTS: &str =
    "SELECT a.id, a.ref_no::text AS ref_no, a.hall_id, h.name AS hall_name, h.address AS hall_address,
    c.account_no::text AS account_no, c.name AS customer_name, a.day, a.starts, a.purpose, a.status, a.created_at
    FROM hall_appointments a
    JOIN business_halls h ON h.tenant_id = a.tenant_id AND h.id = a.hall_id
    JOIN customers c ON c.tenant_id = a.tenant_id AND c.id = a.customer_id";

/// The appointments a portal customer sees (a `begin_portal` transaction:
/// those of the linked accounts), latest day first.
pub async fn mine(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Appointment>> {
    sqlx::query_as(&format!("{APPOINTMENTS} ORDER BY a.day DESC, a.starts DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// One appointment, if the caller may see it.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Appointment>> {
    sqlx::query_as(&format!("{APPOINTMENTS} WHERE a.id = $1")).bind(id).fetch_optional(conn).await
}

/// A hall's day, in slot order, for its staff.
pub async fn day_list(conn: &mut PgConnection, hall_id: Uuid, day: NaiveDate) -> sqlx::Result<Vec<Appointment>> {
    sqlx::query_as(&format!("{APPOINTMENTS} WHERE a.hall_id = $1 AND a.day = $2 ORDER BY a.starts, a.created_at"))
        .bind(hall_id)
        .bind(day)
        .fetch_all(conn)
        .await
}

/// Moves a booked appointment to `status` (cancelled, attended or
/// no_show); false when it is not booked (any more).
pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE hall_appointments SET status = $2,
                cancelled_at = now() + CASE WHEN $2 = 'cancelled' THEN interval '0' END
          WHERE id = $1 AND status = 'booked'",
    )
    .bind(id)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Queues a reminder for every appointment of the company's tomorrow not
/// yet reminded (an `appointment_reminder` notice: SMS, else e-mail), in
/// every tenant; returns how many.
pub async fn remind_everywhere(pool: &PgPool) -> sqlx::Result<u64> {
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE NOT is_platform").fetch_all(pool).await?;
    let mut reminded = 0;
    for tenant in tenants {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        let tomorrow = crate::tenants::today(&mut tx).await? + chrono::Duration::days(1);
        reminded += remind(&mut tx, tomorrow).await?;
        tx.commit().await?;
    }
    Ok(reminded)
}

/// Queues the reminders of `day`'s appointments in the caller's tenant.
pub async fn remind(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<u64> {
    let due: Vec<(Uuid, Uuid, String, String, NaiveTime)> = sqlx::query_as(
        "UPDATE hall_appointments a SET reminded_at = now()
           FROM business_halls h
          WHERE h.tenant_id = a.tenant_id AND h.id = a.hall_id
            AND a.day = $1 AND a.status = 'booked' AND a.reminded_at IS NULL
         RETURNING a.id, a.customer_id, h.name, h.address, a.starts",
    )
    .bind(day)
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let targets: Vec<notices::db::Target> = due
        .iter()
        .map(|(id, customer_id, hall, address, starts)| notices::db::Target {
            customer_id: *customer_id,
            event_ref: format!("appointment:{}", id.simple()),
            data: json!({"hall": hall, "hall_address": address, "day": day.to_string(),
                         "time": starts.format("%H:%M").to_string()}),
            not_before: Utc::now(),
        })
        .collect();
    notices::db::add_targets(conn, &targets).await?;
    let channels = ["sms".to_owned(), "email".to_owned()];
    notices::db::enqueue(conn, Kind::AppointmentReminder, &channels, &json!({})).await?;
    Ok(due.len() as u64)
}
