//! SQL for supply points, meters and meter installations. Every function
//! runs in the caller's transaction, under the tenant's row-level security.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::supply::model::{PointCodes, ValidMeter, ValidPoint, point_code};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("supply point code taken")]
    CodeTaken,
    #[error("meter serial taken")]
    SerialTaken,
    #[error("the meter is installed elsewhere")]
    MeterInstalled,
    #[error("changed by someone else")]
    StaleVersion,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn map_write_error(err: sqlx::Error) -> WriteError {
    match crate::db::violated_constraint(&err) {
        Some("supply_points_tenant_id_code_key") => WriteError::CodeTaken,
        Some("meters_tenant_id_serial_key") => WriteError::SerialTaken,
        Some("meter_installations_one_open") => WriteError::MeterInstalled,
        _ => WriteError::Db(err),
    }
}

/// The codes a supply point may use: retired ones are refused for new values,
/// but the point being edited (`keeping`) keeps the voltage and route it has.
pub async fn codes(conn: &mut PgConnection, keeping: Option<Uuid>) -> sqlx::Result<PointCodes> {
    let mut codes = PointCodes::default();
    // The tenant named ($2): Citus sends each statement to its shard (it
    // refuses the subquery in a statement over every shard).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let voltages = sqlx::query!(
        r#"SELECT code, (retired_at IS NOT NULL
                         AND code IS DISTINCT FROM (SELECT voltage_code FROM supply_points
                                                    WHERE tenant_id = $2 AND id = $1)) AS "retired!"
           FROM voltage_levels WHERE tenant_id = $2 ORDER BY sort, code"#,
        keeping,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for v in voltages {
        if v.retired { codes.retired_voltages.push(v.code) } else { codes.voltages.push(v.code) }
    }
    let routes = sqlx::query!(
        r#"SELECT code, id, (retired_at IS NOT NULL
                             AND id IS DISTINCT FROM (SELECT route_id FROM supply_points
                                                      WHERE tenant_id = $2 AND id = $1)) AS "retired!"
           FROM reading_routes WHERE tenant_id = $2 ORDER BY code"#,
        keeping,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    for r in routes {
        if r.retired { codes.retired_routes.push(r.code) } else { codes.routes.push((r.code, r.id)) }
    }
    Ok(codes)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Point {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub code: String,
    pub address: String,
    pub voltage_code: String,
    #[schema(value_type = Option<String>)]
    pub capacity_kva: Option<Decimal>,
    pub transformer: String,
    pub route_id: Option<Uuid>,
    pub route_code: Option<String>,
    /// in_service, suspended or removed (retired).
    pub status: String,
    pub retired_on: Option<NaiveDate>,
    pub version: i32,
}

pub async fn get_point(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Point>> {
    sqlx::query_as!(
        Point,
        r#"SELECT p.id, p.customer_id, p.code, p.address, p.voltage_code, p.capacity_kva, p.transformer,
                  p.route_id, r.code AS "route_code?", p.status, p.retired_on, p.version
           FROM supply_points p
           LEFT JOIN reading_routes r ON r.tenant_id = p.tenant_id AND r.id = p.route_id
           WHERE p.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Locks a supply point for a change that reads it first (an exchange, a
/// change of use).
pub async fn lock_point(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    crate::db::lock_row(conn, "supply_points", id).await
}

/// Adds a supply point to a customer. A blank code becomes the account number
/// and the next running number, a blank address the customer's, a blank route
/// the customer's.
pub async fn insert_point(conn: &mut PgConnection, customer_id: Uuid, p: &ValidPoint) -> Result<Point, WriteError> {
    // The tenant named: Citus locks a row only in a statement sent to one shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let customer = sqlx::query!(
        r#"SELECT c.account_no, c.address, c.route_id,
                  (SELECT count(*) FROM supply_points s WHERE s.tenant_id = $2 AND s.customer_id = c.id) AS "points!"
           FROM customers c WHERE c.tenant_id = $2 AND c.id = $1 FOR UPDATE"#,
        customer_id,
        tenant_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let code = match &p.code {
        Some(code) => code.clone(),
        None => {
            // The next free running number: codes of retired points stay taken.
            let mut n = customer.points + 1;
            loop {
                let candidate = point_code(&customer.account_no, n);
                let taken = sqlx::query_scalar!("SELECT 1 AS \"one!\" FROM supply_points WHERE code = $1", candidate)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some();
                if !taken {
                    break candidate;
                }
                n += 1;
            }
        }
    };
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO supply_points (tenant_id, id, customer_id, code, address, voltage_code, capacity_kva, transformer, route_id)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        customer_id,
        code,
        p.address.as_deref().unwrap_or(&customer.address),
        p.voltage_code,
        p.capacity_kva,
        p.transformer,
        p.route_id.or(customer.route_id)
    )
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    Ok(get_point(conn, id).await?.expect("the point just inserted"))
}

/// Edits a supply point if it is still at `version`.
pub async fn update_point(conn: &mut PgConnection, id: Uuid, version: i32, p: &ValidPoint) -> Result<(), WriteError> {
    let done = sqlx::query!(
        "UPDATE supply_points SET code = COALESCE($3, code), address = COALESCE($4, address), voltage_code = $5,
                capacity_kva = $6, transformer = $7, route_id = $8, version = version + 1
         WHERE id = $1 AND version = $2",
        id,
        version,
        p.code,
        p.address,
        p.voltage_code,
        p.capacity_kva,
        p.transformer,
        p.route_id
    )
    .execute(conn)
    .await
    .map_err(map_write_error)?;
    if done.rows_affected() == 0 { Err(WriteError::StaleVersion) } else { Ok(()) }
}

/// Sets a point's status: `removed` retires it from `on`; any other status
/// clears the retirement.
pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: &str, on: NaiveDate) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE supply_points SET status = $2, retired_on = CASE WHEN $2 = 'removed' THEN $3::date END, version = version + 1
         WHERE id = $1",
        id,
        status,
        on
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_capacity(conn: &mut PgConnection, id: Uuid, capacity: Option<Decimal>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE supply_points SET capacity_kva = $2, version = version + 1 WHERE id = $1", id, capacity)
        .execute(conn)
        .await?;
    Ok(())
}

/// Hands supply points to another customer (a transfer of ownership): the
/// premise, its meters and their readings stay where they are.
pub async fn move_points(conn: &mut PgConnection, from: Uuid, to: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE supply_points SET customer_id = $2, version = version + 1 WHERE customer_id = $1 AND status <> 'removed'",
        from,
        to
    )
    .execute(conn)
    .await?
    .rows_affected())
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Meter {
    pub id: Uuid,
    pub serial: String,
    pub kind: String,
    pub time_of_use: bool,
    #[schema(value_type = String)]
    pub multiplier: Decimal,
    pub register_digits: i16,
    pub verified_on: Option<NaiveDate>,
    pub next_verification: Option<NaiveDate>,
    /// Where the meter is installed now, if anywhere.
    pub supply_point_id: Option<Uuid>,
    pub installed_on: Option<NaiveDate>,
}

pub async fn get_meter(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Meter>> {
    sqlx::query_as!(
        Meter,
        r#"SELECT m.id, m.serial, m.kind, m.time_of_use, m.multiplier, m.register_digits, m.verified_on,
                  m.next_verification, i.supply_point_id AS "supply_point_id?", i.installed_on AS "installed_on?"
           FROM meters m
           LEFT JOIN meter_installations i ON i.tenant_id = m.tenant_id AND i.meter_id = m.id AND i.removed_on IS NULL
           WHERE m.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn meter_by_serial(conn: &mut PgConnection, serial: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM meters WHERE serial = $1", serial).fetch_optional(conn).await
}

pub async fn insert_meter(conn: &mut PgConnection, m: &ValidMeter) -> Result<Uuid, WriteError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO meters (tenant_id, id, serial, kind, time_of_use, multiplier, register_digits, verified_on, next_verification)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        m.serial,
        m.kind,
        m.time_of_use,
        m.multiplier,
        m.register_digits,
        m.verified_on,
        m.next_verification
    )
    .execute(conn)
    .await
    .map_err(map_write_error)?;
    Ok(id)
}

/// Puts a meter on a supply point from `on`. A meter installed elsewhere is
/// refused ([`WriteError::MeterInstalled`]).
pub async fn install(
    conn: &mut PgConnection,
    meter_id: Uuid,
    point_id: Uuid,
    on: NaiveDate,
) -> Result<Uuid, WriteError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on)
         VALUES (app_tenant_id(), $1, $2, $3, $4)",
        id,
        meter_id,
        point_id,
        on
    )
    .execute(conn)
    .await
    .map_err(map_write_error)?;
    Ok(id)
}

/// Takes a meter off its supply point on `on`; false when it was not installed.
pub async fn remove(conn: &mut PgConnection, meter_id: Uuid, on: NaiveDate) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "UPDATE meter_installations SET removed_on = $2 WHERE meter_id = $1 AND removed_on IS NULL AND installed_on <= $2",
        meter_id,
        on
    )
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// The meters installed on a point now.
pub async fn installed_on_point(conn: &mut PgConnection, point_id: Uuid) -> sqlx::Result<Vec<Meter>> {
    sqlx::query_as!(
        Meter,
        r#"SELECT m.id, m.serial, m.kind, m.time_of_use, m.multiplier, m.register_digits, m.verified_on,
                  m.next_verification, i.supply_point_id AS "supply_point_id?", i.installed_on AS "installed_on?"
           FROM meter_installations i
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           WHERE i.supply_point_id = $1 AND i.removed_on IS NULL
           ORDER BY m.serial"#,
        point_id
    )
    .fetch_all(conn)
    .await
}

/// Supply points in code order after a keyset cursor, by customer and status.
pub async fn list_points(
    conn: &mut PgConnection,
    customer_id: Option<Uuid>,
    status: Option<&str>,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<Point>> {
    sqlx::query_as!(
        Point,
        r#"SELECT p.id, p.customer_id, p.code, p.address, p.voltage_code, p.capacity_kva, p.transformer,
                  p.route_id, r.code AS "route_code?", p.status, p.retired_on, p.version
           FROM supply_points p
           LEFT JOIN reading_routes r ON r.tenant_id = p.tenant_id AND r.id = p.route_id
           WHERE ($1::uuid IS NULL OR p.customer_id = $1) AND ($2::text IS NULL OR p.status = $2) AND p.code > $3
           ORDER BY p.code
           LIMIT $4"#,
        customer_id,
        status,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// One installation of a meter on a point, now or before.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Installation {
    pub meter_id: Uuid,
    pub serial: String,
    pub kind: String,
    pub time_of_use: bool,
    #[schema(value_type = String)]
    pub multiplier: Decimal,
    pub installed_on: NaiveDate,
    pub removed_on: Option<NaiveDate>,
    /// The reading the meter was put in with, if one was recorded.
    #[schema(value_type = Option<String>)]
    pub initial_reading: Option<Decimal>,
    /// The reading it was taken out with, if one was recorded.
    #[schema(value_type = Option<String>)]
    pub final_reading: Option<Decimal>,
    pub next_verification: Option<NaiveDate>,
}

/// Every meter that served a point, the ones installed now first, then the
/// most recently removed.
pub async fn installations(conn: &mut PgConnection, point_id: Uuid) -> sqlx::Result<Vec<Installation>> {
    sqlx::query_as!(
        Installation,
        r#"SELECT m.id AS meter_id, m.serial, m.kind, m.time_of_use, m.multiplier, i.installed_on, i.removed_on,
                  (SELECT r.total FROM meter_readings r WHERE r.tenant_id = i.tenant_id AND r.meter_id = m.id
                     AND r.supply_point_id = i.supply_point_id AND r.kind = 'installation' AND r.read_on = i.installed_on
                     AND r.status <> 'superseded' LIMIT 1) AS initial_reading,
                  (SELECT r.total FROM meter_readings r WHERE r.tenant_id = i.tenant_id AND r.meter_id = m.id
                     AND r.supply_point_id = i.supply_point_id AND r.kind = 'removal' AND r.read_on = i.removed_on
                     AND r.status <> 'superseded' LIMIT 1) AS final_reading,
                  m.next_verification
           FROM meter_installations i
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           WHERE i.supply_point_id = $1
           ORDER BY i.removed_on IS NULL DESC, i.removed_on DESC, i.installed_on DESC, m.serial"#,
        point_id
    )
    .fetch_all(conn)
    .await
}

/// The last billable reading of a meter: the day and the total register.
pub async fn last_reading(conn: &mut PgConnection, meter_id: Uuid) -> sqlx::Result<Option<(NaiveDate, Decimal)>> {
    Ok(sqlx::query!(
        "SELECT read_on, total FROM meter_readings WHERE meter_id = $1 AND status IN ('ok', 'accepted')
         ORDER BY read_on DESC, period DESC LIMIT 1",
        meter_id
    )
    .fetch_optional(conn)
    .await?
    .map(|r| (r.read_on, r.total)))
}

/// The day a meter was last taken off a point, if ever.
pub async fn last_removed_on(conn: &mut PgConnection, meter_id: Uuid) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar!(r#"SELECT max(removed_on) AS "day" FROM meter_installations WHERE meter_id = $1"#, meter_id)
        .fetch_one(conn)
        .await
}

/// The account number and name of a point's customer, for headings.
pub async fn customer_label(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<(String, String)> {
    let row = sqlx::query!("SELECT account_no, name FROM customers WHERE id = $1", customer_id).fetch_one(conn).await?;
    Ok((row.account_no, row.name))
}
