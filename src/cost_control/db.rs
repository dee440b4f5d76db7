//! Cost-control agreements and meter commands in the database.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    cost_control::{Step, next_step, standing_code},
    db, months,
};

#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agreement {
    pub customer_id: Uuid,
    pub started_on: NaiveDate,
    pub active: bool,
    pub balance: Decimal,
    pub daily_cost: Decimal,
    pub days_left: Option<Decimal>,
    /// fine, low or exhausted.
    pub standing: String,
    pub estimated_on: Option<NaiveDate>,
    pub connected: bool,
}

pub async fn get(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Option<Agreement>> {
    sqlx::query_as(
        "SELECT customer_id, started_on, active, balance, daily_cost, days_left, standing, estimated_on, connected
         FROM cost_control_agreements WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(conn)
    .await
}

pub async fn start(conn: &mut PgConnection, customer_id: Uuid, today: NaiveDate) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO cost_control_agreements (tenant_id, customer_id, started_on) VALUES (app_tenant_id(), $1, $2)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET active = true, started_on = $2"#,
        customer_id,
        today
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn end(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query!("UPDATE cost_control_agreements SET active = false WHERE customer_id = $1 AND active", customer_id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// The balance (credit, less unpaid bills, less usage since the last billed
/// period at the recent daily cost) and that daily cost.
pub async fn estimate(
    conn: &mut PgConnection,
    customer_id: Uuid,
    started_on: NaiveDate,
    today: NaiveDate,
) -> sqlx::Result<(Decimal, Decimal)> {
    let row = sqlx::query!(
        r#"WITH recent AS (
             SELECT period, amount FROM bills WHERE customer_id = $1 AND status = 'issued' ORDER BY period DESC LIMIT 3
           )
           SELECT (SELECT credit_balance FROM customers WHERE id = $1) AS "credit!",
                  (SELECT coalesce(sum(amount - paid + late_fee - late_fee_paid), 0) FROM bills
                   WHERE customer_id = $1 AND status = 'issued') AS "owed!",
                  (SELECT coalesce(sum(amount), 0) FROM recent) AS "billed!",
                  (SELECT coalesce(sum((period + interval '1 month')::date - period), 0) FROM recent)::bigint AS "days!",
                  (SELECT max(period) FROM recent) AS last_period"#,
        customer_id
    )
    .fetch_one(conn)
    .await?;
    let daily_cost = if row.days > 0 { (row.billed / Decimal::from(row.days)).round_dp(2) } else { Decimal::ZERO };
    let since = row.last_period.map(months::next).unwrap_or(started_on).max(started_on);
    let unbilled_days = (today - since).num_days().max(0);
    let balance = row.credit - row.owed - daily_cost * Decimal::from(unbilled_days);
    Ok((balance, daily_cost))
}

/// Re-estimates one agreement and takes the step it calls for. Returns the step.
pub async fn review(
    conn: &mut PgConnection,
    customer_id: Uuid,
    today: NaiveDate,
    warn_days: Decimal,
) -> sqlx::Result<Step> {
    // The tenant named, as db::lock_row explains.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let Some(a) = sqlx::query!(
        "SELECT started_on, standing, connected FROM cost_control_agreements
         WHERE tenant_id = $2 AND customer_id = $1 AND active FOR UPDATE",
        customer_id,
        tenant_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Step::Nothing);
    };
    let (balance, daily_cost) = estimate(conn, customer_id, a.started_on, today).await?;
    let (standing, step) = next_step(&a.standing, a.connected, balance, daily_cost, warn_days);
    let days_left = match standing {
        crate::billing::PrepaidStanding::Fine { days_left } | crate::billing::PrepaidStanding::Low { days_left } => {
            Some(days_left.min(Decimal::from(999_999)))
        }
        crate::billing::PrepaidStanding::Exhausted => Some(Decimal::ZERO),
    };
    let connected = match step {
        Step::Disconnect => false,
        Step::Reconnect => true,
        _ => a.connected,
    };
    sqlx::query!(
        r#"UPDATE cost_control_agreements SET balance = $2, daily_cost = $3, days_left = $4, standing = $5,
                  estimated_on = $6, connected = $7 WHERE customer_id = $1"#,
        customer_id,
        balance,
        daily_cost,
        days_left,
        standing_code(standing),
        today,
        connected
    )
    .execute(&mut *conn)
    .await?;
    let title = format!("¥{balance}");
    match step {
        Step::Nothing => {}
        Step::Warn => timeline(conn, customer_id, Some("low_balance"), &title, "low_balance").await?,
        Step::Disconnect | Step::Reconnect => {
            let (command, reason) = if step == Step::Disconnect {
                ("disconnect", "prepaid balance exhausted")
            } else {
                ("reconnect", "payment restored a positive balance")
            };
            // The tenant named and the rows not sent by COPY, for Citus (docs/operations.md).
            let tenant_id = crate::db::transaction_tenant(conn).await?;
            sqlx::query!(
                r#"INSERT INTO meter_commands (tenant_id, id, customer_id, meter_id, command, reason)
                   SELECT $5, $1, $2,
                          (SELECT i.meter_id FROM supply_points p
                           JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
                           WHERE p.tenant_id = $5 AND p.customer_id = $2 ORDER BY p.code LIMIT 1),
                          $3, $4
                   RETURNING NULL AS not_by_copy"#,
                Uuid::now_v7(),
                customer_id,
                command,
                reason,
                tenant_id
            )
            .fetch_one(&mut *conn)
            .await?;
            let notice = if step == Step::Disconnect { "disconnection_ordered" } else { "reconnection_ordered" };
            timeline(conn, customer_id, Some(notice), &title, notice).await?;
        }
    }
    Ok(step)
}

async fn timeline(
    conn: &mut PgConnection,
    customer_id: Uuid,
    notice: Option<&str>,
    title: &str,
    status: &str,
) -> sqlx::Result<()> {
    let entry = crate::timeline::Entry { kind: "cost_control", notice, title, status, link: "" };
    crate::timeline::record(conn, customer_id, Utc::now(), entry).await
}

/// Today in the tenant's time zone.
pub async fn tenant_today(conn: &mut PgConnection, now: DateTime<Utc>) -> sqlx::Result<NaiveDate> {
    let zone = sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = app_tenant_id()").fetch_one(conn).await?;
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    Ok(now.with_timezone(&tz).date_naive())
}

pub async fn warn_days(conn: &mut PgConnection) -> sqlx::Result<Decimal> {
    let days = sqlx::query_scalar!("SELECT low_balance_days FROM billing_settings").fetch_optional(conn).await?;
    Ok(Decimal::from(days.unwrap_or(7)))
}

/// The daily estimate for every active agreement of every tenant not yet
/// estimated today. Returns (agreements reviewed, orders made).
pub async fn run_daily(pool: &PgPool) -> anyhow::Result<(u64, u64)> {
    let tenants = sqlx::query!("SELECT id, time_zone FROM tenants WHERE NOT is_platform").fetch_all(pool).await?;
    let (mut reviewed, mut orders) = (0, 0);
    for tenant in tenants {
        let tz: chrono_tz::Tz = tenant.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let today = Utc::now().with_timezone(&tz).date_naive();
        let mut tx = db::begin_tenant(pool, tenant.id, None).await?;
        let warn = warn_days(&mut tx).await?;
        let due = sqlx::query_scalar!(
            "SELECT customer_id FROM cost_control_agreements WHERE active AND (estimated_on IS NULL OR estimated_on < $1)",
            today
        )
        .fetch_all(&mut *tx)
        .await?;
        for customer_id in due {
            let step = review(&mut tx, customer_id, today, warn).await?;
            reviewed += 1;
            orders += u64::from(matches!(step, Step::Disconnect | Step::Reconnect));
        }
        tx.commit().await?;
    }
    Ok((reviewed, orders))
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Command {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub meter: Option<String>,
    /// disconnect or reconnect.
    pub command: String,
    pub reason: String,
    /// pending, sent, done or failed.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub result: String,
}

const COMMAND_COLUMNS: &str = "k.id, k.customer_id, c.account_no, m.serial AS meter, k.command, k.reason, k.status, \
     k.created_at, k.sent_at, k.acknowledged_at, k.result";

/// Hands the oldest pending commands to the meter system (they become sent).
/// Two pollers never get the same command.
pub async fn poll(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Command>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as(&format!(
        "WITH picked AS (
           UPDATE meter_commands SET status = 'sent', sent_at = now()
           WHERE tenant_id = $2
             AND id IN (SELECT id FROM meter_commands WHERE tenant_id = $2 AND status = 'pending' ORDER BY created_at
                        LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING *
         )
         SELECT {COMMAND_COLUMNS} FROM picked k
         JOIN customers c ON c.tenant_id = $2 AND c.id = k.customer_id
         LEFT JOIN meters m ON m.tenant_id = $2 AND m.id = k.meter_id
         ORDER BY k.created_at"
    ))
    .bind(limit)
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

/// Records the meter system's result for a sent command; false when it was not sent (or already acknowledged).
pub async fn acknowledge(conn: &mut PgConnection, id: Uuid, done: bool, result: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "UPDATE meter_commands SET status = $2, acknowledged_at = now(), result = $3 WHERE id = $1 AND status = 'sent'",
        id,
        if done { "done" } else { "failed" },
        result
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// The customer page's meter commands (`$1` the customer, `$5` the tenant): the newest five,
/// as a JSON column of [`Command`]s.
pub fn customer_page_query() -> String {
    crate::db::json_rows(&format!(
        "SELECT {COMMAND_COLUMNS} FROM meter_commands k
         JOIN customers c ON c.tenant_id = k.tenant_id AND c.id = k.customer_id
         LEFT JOIN meters m ON m.tenant_id = k.tenant_id AND m.id = k.meter_id
         WHERE k.tenant_id = $5 AND k.customer_id = $1 ORDER BY k.created_at DESC LIMIT 5"
    ))
}
