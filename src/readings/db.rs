//! Readings in the database: finding the meter installed on the day, its
//! history for the checks, saving (a re-reading supersedes the live one),
//! and the review queue.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::readings::model::{Checked, History, ValidReading};

/// The meter a reading is for, where it was installed on the day it was read.
#[derive(Clone, Debug)]
pub struct MeterAt {
    pub meter_id: Uuid,
    pub serial: String,
    pub multiplier: Decimal,
    pub register_digits: i16,
    pub time_of_use: bool,
    pub supply_point_id: Uuid,
    pub customer_id: Uuid,
}

pub enum Found {
    Installed(MeterAt),
    NotInstalled,
    Unknown,
}

pub async fn meter_at(conn: &mut PgConnection, serial: &str, day: NaiveDate) -> sqlx::Result<Found> {
    let row = sqlx::query!(
        r#"SELECT m.id, m.serial, m.multiplier, m.register_digits, m.time_of_use,
                  i.supply_point_id AS "supply_point_id?", p.customer_id AS "customer_id?"
           FROM meters m
           LEFT JOIN meter_installations i ON i.tenant_id = m.tenant_id AND i.meter_id = m.id
                AND i.installed_on <= $2 AND (i.removed_on IS NULL OR i.removed_on >= $2)
           LEFT JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           WHERE m.serial = $1
           ORDER BY i.installed_on DESC NULLS LAST LIMIT 1"#,
        serial,
        day
    )
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Found::Unknown,
        Some(r) => match (r.supply_point_id, r.customer_id) {
            (Some(supply_point_id), Some(customer_id)) => Found::Installed(MeterAt {
                meter_id: r.id,
                serial: r.serial,
                multiplier: r.multiplier,
                register_digits: r.register_digits,
                time_of_use: r.time_of_use,
                supply_point_id,
                customer_id,
            }),
            _ => Found::NotInstalled,
        },
    })
}

/// The last billable reading before this one and the recent average usage.
pub async fn history(
    conn: &mut PgConnection,
    meter: &MeterAt,
    period: NaiveDate,
    kind: &str,
    jump_factor: Decimal,
) -> sqlx::Result<History> {
    let previous = if kind == "installation" {
        None
    } else {
        sqlx::query!(
            r#"SELECT total, read_on FROM meter_readings
               WHERE meter_id = $1 AND status IN ('ok', 'accepted') AND period < $2
               ORDER BY read_on DESC, period DESC LIMIT 1"#,
            meter.meter_id,
            period
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    let recent_average_kwh = sqlx::query_scalar!(
        r#"SELECT avg(usage_kwh) FROM (
             SELECT usage_kwh FROM meter_readings
             WHERE meter_id = $1 AND status IN ('ok', 'accepted') AND period < $2 AND usage_kwh IS NOT NULL
             ORDER BY period DESC LIMIT 6) recent"#,
        meter.meter_id,
        period
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(History {
        previous_total: previous.as_ref().map(|p| p.total),
        previous_read_on: previous.map(|p| p.read_on),
        multiplier: meter.multiplier,
        register_digits: meter.register_digits as u32,
        recent_average_kwh,
        jump_factor,
    })
}

pub async fn jump_factor(conn: &mut PgConnection) -> sqlx::Result<Decimal> {
    Ok(sqlx::query_scalar!("SELECT jump_factor FROM billing_settings")
        .fetch_optional(conn)
        .await?
        .unwrap_or(Decimal::from(3)))
}

/// Whether the customer already has a live bill for the period (then its readings are fixed).
pub async fn period_billed(conn: &mut PgConnection, customer_id: Uuid, period: NaiveDate) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM bills WHERE customer_id = $1 AND period = $2 AND status = 'issued') AS "e!""#,
        customer_id,
        period
    )
    .fetch_one(conn)
    .await
}

/// Saves a checked reading; a live reading of the same meter, period and kind
/// is superseded. Returns the new id and whether one was replaced.
pub async fn insert(
    conn: &mut PgConnection,
    meter: &MeterAt,
    r: &ValidReading,
    checked: &Checked,
    source: &str,
    user_id: Option<Uuid>,
) -> sqlx::Result<(Uuid, bool)> {
    let replaced = sqlx::query!(
        r#"UPDATE meter_readings SET status = 'superseded'
           WHERE meter_id = $1 AND period = $2 AND kind = $3 AND status <> 'superseded'"#,
        meter.meter_id,
        r.period,
        r.kind
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    let id = Uuid::now_v7();
    let flags: Vec<String> = checked.flags.iter().map(|f| f.to_string()).collect();
    let status = if flags.is_empty() { "ok" } else { "flagged" };
    sqlx::query!(
        r#"INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, kind, read_on,
                                       total, peak, flat, valley, reactive, max_demand_kw, rollover, source, status,
                                       flags, usage_kwh, created_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"#,
        id,
        meter.meter_id,
        meter.supply_point_id,
        meter.customer_id,
        r.period,
        r.kind,
        r.read_on,
        r.total,
        r.peak,
        r.flat,
        r.valley,
        r.reactive,
        r.max_demand_kw,
        r.rollover,
        source,
        status,
        &flags,
        checked.usage_kwh,
        user_id
    )
    .execute(conn)
    .await?;
    Ok((id, replaced))
}

/// A reading in the review queue or a customer's list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReadingRow {
    pub id: Uuid,
    pub meter: String,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    /// "2026-11".
    pub period: String,
    pub kind: String,
    pub read_on: NaiveDate,
    pub total: Decimal,
    pub previous_total: Option<Decimal>,
    pub usage_kwh: Option<Decimal>,
    pub rollover: bool,
    pub status: String,
    pub flags: Vec<String>,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// Flagged readings, oldest first (the queue's order), after a keyset cursor.
pub async fn review_queue(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ReadingRow>> {
    rows(conn, None, None, limit).await
}

pub async fn for_customer(conn: &mut PgConnection, customer_id: Uuid, limit: i64) -> sqlx::Result<Vec<ReadingRow>> {
    rows(conn, Some(customer_id), None, limit).await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ReadingRow>> {
    Ok(rows(conn, None, Some(id), 1).await?.into_iter().next())
}

async fn rows(
    conn: &mut PgConnection,
    customer: Option<Uuid>,
    id: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ReadingRow>> {
    let rows = sqlx::query!(
        r#"SELECT r.id, m.serial, r.customer_id, c.account_no, c.name, r.period, r.kind, r.read_on, r.total,
                  r.usage_kwh, r.rollover, r.status, r.flags, r.source, r.created_at,
                  (SELECT p.total FROM meter_readings p
                   WHERE p.tenant_id = r.tenant_id AND p.meter_id = r.meter_id AND p.status IN ('ok', 'accepted')
                     AND p.period < r.period ORDER BY p.read_on DESC LIMIT 1) AS previous_total
           FROM meter_readings r
           JOIN meters m ON m.tenant_id = r.tenant_id AND m.id = r.meter_id
           JOIN customers c ON c.tenant_id = r.tenant_id AND c.id = r.customer_id
           WHERE CASE WHEN $1::uuid IS NOT NULL THEN r.customer_id = $1 AND r.status <> 'superseded'
                      WHEN $2::uuid IS NOT NULL THEN r.id = $2
                      ELSE r.status = 'flagged' END
           ORDER BY CASE WHEN $1::uuid IS NOT NULL THEN r.read_on END DESC, r.created_at, r.id
           LIMIT $3"#,
        customer,
        id,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReadingRow {
            id: r.id,
            meter: r.serial,
            customer_id: r.customer_id,
            account_no: r.account_no,
            customer_name: r.name,
            period: crate::months::label(r.period),
            kind: r.kind,
            read_on: r.read_on,
            total: r.total,
            previous_total: r.previous_total,
            usage_kwh: r.usage_kwh,
            rollover: r.rollover,
            status: r.status,
            flags: r.flags,
            source: r.source,
            created_at: r.created_at,
        })
        .collect())
}

/// A reviewer's decision on a flagged reading: accepted (billable as read) or
/// rejected (superseded; a re-reading is needed). False when it was no longer flagged.
pub async fn review(
    conn: &mut PgConnection,
    id: Uuid,
    accept: bool,
    user_id: Option<Uuid>,
    note: &str,
) -> sqlx::Result<bool> {
    let status = if accept { "accepted" } else { "superseded" };
    Ok(sqlx::query!(
        r#"UPDATE meter_readings SET status = $2, reviewed_by = $3, reviewed_at = now(), review_note = $4
           WHERE id = $1 AND status = 'flagged'"#,
        id,
        status,
        user_id,
        note
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
