//! Issued bills in the database: one bill with its lines, a customer's
//! bills, and cancelling one (audited by the caller).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BillRow {
    pub id: Uuid,
    pub bill_no: String,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    pub period: NaiveDate,
    pub tariff_code: String,
    /// The tariff's name in Chinese and English.
    pub tariff_name_zh: Option<String>,
    pub tariff_name_en: Option<String>,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub energy_kwh: Decimal,
    pub amount: Decimal,
    pub paid: Decimal,
    pub late_fee: Decimal,
    pub late_fee_paid: Decimal,
    pub power_factor: Option<Decimal>,
    /// issued or cancelled.
    pub status: String,
    /// What the bill stands at: unpaid, partly_paid, paid, overdue (due and
    /// not paid in full, late fees included) or cancelled.
    #[sqlx(skip)]
    #[serde(default)]
    pub state: String,
    /// The company's day the bill was read on, for its state.
    #[serde(skip)]
    pub today: NaiveDate,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub replaces: Option<Uuid>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// What a bill stands at, as lists, the bill page and the API show it.
pub const STATES: [&str; 5] = ["unpaid", "partly_paid", "paid", "overdue", "cancelled"];

/// A bill's state from its amounts and due date on `today`.
pub fn state(status: &str, owed: Decimal, paid: Decimal, due_on: NaiveDate, today: NaiveDate) -> &'static str {
    match () {
        _ if status != "issued" => "cancelled",
        _ if owed <= Decimal::ZERO => "paid",
        _ if due_on < today => "overdue",
        _ if paid > Decimal::ZERO => "partly_paid",
        _ => "unpaid",
    }
}

impl BillRow {
    fn with_state(mut self) -> Self {
        let owed = self.amount - self.paid + self.late_fee - self.late_fee_paid;
        self.state = state(&self.status, owed, self.paid + self.late_fee_paid, self.due_on, self.today).to_owned();
        self
    }

    /// What is still owed: the amount and the late fees, less what was paid.
    pub fn outstanding(&self) -> Decimal {
        if self.status != "issued" {
            return Decimal::ZERO;
        }
        self.amount - self.paid + self.late_fee - self.late_fee_paid
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineRow {
    pub line_no: i16,
    pub kind: String,
    pub tariff_code: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

const COLUMNS: &str = "b.id, b.bill_no, b.customer_id, c.account_no, c.name AS customer_name, b.period, b.tariff_code, \
     (SELECT t.name_zh FROM tariff_categories t WHERE t.tenant_id = b.tenant_id AND t.code = b.tariff_code) AS tariff_name_zh, \
     (SELECT t.name_en FROM tariff_categories t WHERE t.tenant_id = b.tenant_id AND t.code = b.tariff_code) AS tariff_name_en, \
     b.issued_on, b.due_on, b.energy_kwh, b.amount, b.paid, b.late_fee, b.late_fee_paid, b.power_factor, b.status, \
     b.cancelled_at, b.cancel_reason, b.replaces, b.detail";

/// The company's day, for a bill's state (the customer page passes its own).
const TODAY: &str = "(now() AT TIME ZONE (SELECT t.time_zone FROM tenants t WHERE t.id = b.tenant_id))::date AS today";

/// The amounts of [`COLUMNS`] that a JSON column carries as text.
const DECIMALS: [&str; 6] = ["energy_kwh", "amount", "paid", "late_fee", "late_fee_paid", "power_factor"];

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<BillRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {TODAY} FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id WHERE b.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map(|b: Option<BillRow>| b.map(BillRow::with_state))
}

pub async fn lines(conn: &mut PgConnection, bill_id: Uuid) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as!(
        LineRow,
        "SELECT line_no, kind, tariff_code, quantity, unit_price, amount FROM bill_lines WHERE bill_id = $1 ORDER BY line_no",
        bill_id
    )
    .fetch_all(conn)
    .await
}

/// The customer page's bills (`$1` the customer, `$5` the tenant): the newest twelve, as a
/// JSON column read by [`from_page`].
pub fn customer_page_query() -> String {
    // The tariff names' subqueries name the tenant too: only then is the
    // whole page one statement on one shard of a Citus cluster.
    let columns = COLUMNS.replace("t.tenant_id = b.tenant_id", "t.tenant_id = $5");
    crate::db::json_rows(&format!(
        "SELECT {} FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
         WHERE b.tenant_id = $5 AND b.customer_id = $1 ORDER BY b.period DESC, b.created_at DESC LIMIT 12",
        crate::db::exact_decimals(&columns, &DECIMALS)
    ))
}

/// The bills of [`customer_page_query`], with their state on `today`.
pub fn from_page(column: serde_json::Value, today: NaiveDate) -> sqlx::Result<Vec<BillRow>> {
    let bills: Vec<BillRow> = crate::db::json_column("bills", column)?;
    Ok(bills.into_iter().map(|b| BillRow { today, ..b }.with_state()).collect())
}

/// A customer's bills, newest period first.
pub async fn for_customer(conn: &mut PgConnection, customer_id: Uuid, limit: i64) -> sqlx::Result<Vec<BillRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {TODAY} FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
         WHERE b.customer_id = $1 ORDER BY b.period DESC, b.created_at DESC LIMIT $2"
    ))
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map(|bills: Vec<BillRow>| bills.into_iter().map(BillRow::with_state).collect())
}

/// Cancels an issued bill with nothing paid on it; false when it was not
/// (already cancelled, or paid: a paid bill is corrected by a refund, not erased).
pub async fn cancel(conn: &mut PgConnection, id: Uuid, by: &str, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE bills SET status = 'cancelled', cancelled_at = now(), cancelled_by = $2, cancel_reason = $3,
                  version = version + 1
           WHERE id = $1 AND status = 'issued' AND paid = 0 AND late_fee_paid = 0"#,
        id,
        by,
        reason
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        // Its credits wait for the re-issue (or the next bill).
        crate::billing::credits::release(&mut *conn, id).await?;
        sqlx::query!(
            r#"INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, title, status, link)
               SELECT tenant_id, gen_random_uuid(), customer_id, now(), 'bill', bill_no, 'cancelled', '/bills/' || id
               FROM bills WHERE id = $1"#,
            id
        )
        .execute(conn)
        .await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_bill_is_unpaid_partly_paid_paid_or_overdue() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let due = day(15);
        assert_eq!(state("issued", dec!(80.70), dec!(0), due, day(3)), "unpaid");
        assert_eq!(state("issued", dec!(30.70), dec!(50), due, day(3)), "partly_paid");
        assert_eq!(state("issued", dec!(0), dec!(80.70), due, day(20)), "paid");
        assert_eq!(state("issued", dec!(30.70), dec!(50), due, day(16)), "overdue");
        assert_eq!(state("issued", dec!(80.70), dec!(0), due, day(15)), "unpaid");
        assert_eq!(state("cancelled", dec!(80.70), dec!(0), due, day(20)), "cancelled");
    }
}
