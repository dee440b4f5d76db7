//! Change-of-use orders in the database: the request beside its work order,
//! what the completion changed, the tenant's transfer rule, and the money of a
//! closing account (its bills settled, its deposit released, its refund).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::work_orders::change::ValidChange;

/// A change-of-use order's request and, once completed, its outcome.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ChangeRecord {
    pub new_holder_id: Option<Uuid>,
    pub new_holder_name: Option<String>,
    pub new_holder_phone: Option<String>,
    pub new_name: Option<String>,
    pub tariff_code: Option<String>,
    pub point_address: Option<String>,
    pub point_voltage_code: Option<String>,
    pub meter_serial: Option<String>,
    #[schema(value_type = Option<String>)]
    pub meter_multiplier: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub initial_reading: Option<Decimal>,
    pub applied_at: Option<DateTime<Utc>>,
    /// What the completion changed: before and after values, money settled.
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
}

pub async fn insert(conn: &mut PgConnection, work_order_id: Uuid, c: &ValidChange) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO change_of_use_orders (tenant_id, work_order_id, new_holder_id, new_holder_name, new_holder_phone,
                new_name, tariff_code, point_address, point_voltage_code, meter_serial, meter_multiplier, initial_reading)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        work_order_id,
        c.new_holder_id,
        c.new_holder_name,
        c.new_holder_phone,
        c.new_name,
        c.tariff_code,
        c.point_address,
        c.point_voltage_code,
        c.meter_serial,
        c.meter_multiplier,
        c.initial_reading
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, work_order_id: Uuid) -> sqlx::Result<Option<ChangeRecord>> {
    sqlx::query_as!(
        ChangeRecord,
        "SELECT new_holder_id, new_holder_name, new_holder_phone, new_name, tariff_code, point_address,
                point_voltage_code, meter_serial, meter_multiplier, initial_reading, applied_at, outcome
         FROM change_of_use_orders WHERE work_order_id = $1",
        work_order_id
    )
    .fetch_optional(conn)
    .await
}

pub async fn record_outcome(
    conn: &mut PgConnection,
    work_order_id: Uuid,
    at: DateTime<Utc>,
    outcome: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE change_of_use_orders SET applied_at = $2, outcome = $3 WHERE work_order_id = $1",
        work_order_id,
        at,
        outcome
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// settle or carry (see `change::TRANSFER_ARREARS`); settle until a tenant admin chooses.
pub async fn transfer_arrears(conn: &mut PgConnection) -> sqlx::Result<String> {
    Ok(sqlx::query_scalar!("SELECT transfer_arrears FROM change_of_use_settings WHERE tenant_id = app_tenant_id()")
        .fetch_optional(conn)
        .await?
        .unwrap_or_else(|| "settle".to_owned()))
}

pub async fn set_transfer_arrears(conn: &mut PgConnection, rule: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO change_of_use_settings (tenant_id, transfer_arrears) VALUES (app_tenant_id(), $1)
         ON CONFLICT (tenant_id) DO UPDATE SET transfer_arrears = excluded.transfer_arrears, updated_at = EXCLUDED.updated_at",
        rule
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a tariff category code exists.
pub async fn tariff_exists(conn: &mut PgConnection, code: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar!("SELECT 1 AS \"one!\" FROM tariff_categories WHERE code = $1", code)
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// A meter reading a change of use takes: the installation reading of a new
/// connection, the removal (final) reading of a closing account.
pub struct ChangeReading<'a> {
    pub meter_id: Uuid,
    pub point_id: Uuid,
    pub customer_id: Uuid,
    pub period: NaiveDate,
    /// installation or removal.
    pub kind: &'a str,
    pub read_on: NaiveDate,
    pub total: Decimal,
    pub user_id: Option<Uuid>,
}

/// Records the reading; a live one of the same meter, period and kind is superseded.
pub async fn insert_reading(conn: &mut PgConnection, r: ChangeReading<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE meter_readings SET status = 'superseded'
         WHERE meter_id = $1 AND period = $2 AND kind = $3 AND status <> 'superseded'",
        r.meter_id,
        r.period,
        r.kind
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, kind, read_on, total,
                                     source, status, created_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, 'form', 'ok', $9)",
        Uuid::now_v7(),
        r.meter_id,
        r.point_id,
        r.customer_id,
        r.period,
        r.kind,
        r.read_on,
        r.total,
        r.user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer's credit balance and the deposits held for them, locked.
pub async fn credit_and_deposit(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<(Decimal, Decimal)> {
    crate::db::lock_row(conn, "customers", customer_id).await?;
    let credit = sqlx::query_scalar!("SELECT credit_balance FROM customers WHERE id = $1", customer_id)
        .fetch_one(&mut *conn)
        .await?;
    let deposit = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(amount), 0) AS "held!" FROM credit_securities
           WHERE customer_id = $1 AND kind = 'deposit' AND released_on IS NULL"#,
        customer_id
    )
    .fetch_one(conn)
    .await?;
    Ok((credit, deposit))
}

/// Marks the bills paid in full (the settlement of a closing account).
pub async fn settle_bills(conn: &mut PgConnection, bill_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!("UPDATE bills SET paid = amount, late_fee_paid = late_fee WHERE id = ANY($1)", bill_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Empties the credit balance and releases every deposit and guarantee held.
pub async fn release_money_held(conn: &mut PgConnection, customer_id: Uuid, on: NaiveDate) -> sqlx::Result<()> {
    sqlx::query!("UPDATE customers SET credit_balance = 0 WHERE id = $1", customer_id).execute(&mut *conn).await?;
    sqlx::query!(
        "UPDATE credit_securities SET released_on = greatest($2, received_on) WHERE customer_id = $1 AND released_on IS NULL",
        customer_id,
        on
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub struct NewRefund<'a> {
    pub customer_id: Uuid,
    pub work_order_id: Uuid,
    pub from_credit: Decimal,
    pub from_deposit: Decimal,
    pub recorded_by: &'a str,
}

pub async fn insert_refund(conn: &mut PgConnection, r: NewRefund<'_>) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO customer_refunds (tenant_id, id, customer_id, work_order_id, amount, from_credit, from_deposit, recorded_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7)",
        id,
        r.customer_id,
        r.work_order_id,
        r.from_credit + r.from_deposit,
        r.from_credit,
        r.from_deposit,
        r.recorded_by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// The bill of a customer and period that is live, if any: (id, bill number, amount).
pub async fn live_bill(
    conn: &mut PgConnection,
    customer_id: Uuid,
    period: NaiveDate,
) -> sqlx::Result<Option<(Uuid, String, Decimal)>> {
    let row = sqlx::query!(
        "SELECT id, bill_no, amount FROM bills WHERE customer_id = $1 AND period = $2 AND status = 'issued'",
        customer_id,
        period
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.bill_no, r.amount)))
}

/// Whether the meter was installed or removed in the period: its start or end
/// reading of that month is taken, so a transfer waits for the next month.
pub async fn has_change_reading(conn: &mut PgConnection, meter_id: Uuid, period: NaiveDate) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM meter_readings WHERE meter_id = $1 AND period = $2
                          AND kind = 'installation' AND status <> 'superseded') AS "taken!""#,
        meter_id,
        period
    )
    .fetch_one(conn)
    .await
}

/// A refund as the refunds list shows it.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    pub work_order_id: Option<Uuid>,
    pub work_order_ref: Option<String>,
    pub amount: Decimal,
    pub from_credit: Decimal,
    pub from_deposit: Decimal,
    pub status: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid_by: Option<String>,
    pub channel: Option<String>,
    pub reference: String,
}

/// Refunds in `status` (owed: oldest first, so none waits forgotten; paid:
/// newest first), at most `limit`; or the one refund `id`.
pub async fn refunds(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Refund>> {
    sqlx::query_as!(
        Refund,
        r#"SELECT r.id, r.customer_id, c.account_no, c.name AS customer_name, r.work_order_id,
                  w.ref_no AS "work_order_ref?", r.amount, r.from_credit, r.from_deposit, r.status, r.recorded_by,
                  r.recorded_at, r.paid_at, r.paid_by, r.channel, r.reference
           FROM customer_refunds r
           JOIN customers c ON c.tenant_id = r.tenant_id AND c.id = r.customer_id
           LEFT JOIN work_orders w ON w.tenant_id = r.tenant_id AND w.id = r.work_order_id
           WHERE ($1::uuid IS NULL OR r.id = $1) AND ($2::text IS NULL OR r.status = $2)
           ORDER BY CASE WHEN $2 = 'owed' THEN r.recorded_at END ASC,
                    coalesce(r.paid_at, r.recorded_at) DESC, r.id
           LIMIT $3"#,
        id,
        status,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The refund, locked for its payout.
pub async fn lock_refund(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Refund>> {
    crate::db::lock_row(conn, "customer_refunds", id).await?;
    Ok(refunds(conn, Some(id), None, 1).await?.pop())
}

pub async fn mark_refund_paid(
    conn: &mut PgConnection,
    id: Uuid,
    channel: &str,
    reference: &str,
    paid_by: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE customer_refunds SET status = 'paid', paid_at = now(), paid_by = $2, channel = $3, reference = $4
         WHERE id = $1 AND status = 'owed'",
        id,
        paid_by,
        channel,
        reference
    )
    .execute(conn)
    .await?;
    Ok(())
}
