//! Payments in the database: booking once per channel reference, spreading
//! over the customer's bills, reversing, and the lists the pages show.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{audit::Actor, payments::model::ValidPayment};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PaymentRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    pub amount: Decimal,
    pub channel: String,
    pub channel_ref: String,
    pub received_at: DateTime<Utc>,
    pub booked_at: DateTime<Utc>,
    pub booked_by: String,
    /// Left over after settling debts: credit on the account.
    pub credit: Decimal,
    /// booked or reversed.
    pub status: String,
    pub reverse_reason: Option<String>,
    /// Cash at the counter: what the customer handed over, and the change given.
    pub cash_received: Option<Decimal>,
    pub change_given: Option<Decimal>,
    /// The account right after this payment: still owed on live bills, and credit.
    pub owed_after: Option<Decimal>,
    pub credit_after: Option<Decimal>,
}

const COLUMNS: &str = "p.id, p.customer_id, c.account_no, c.name AS customer_name, p.amount, p.channel, p.channel_ref, \
     p.received_at, p.booked_at, p.booked_by, p.credit, p.status, p.reverse_reason, p.cash_received, p.change_given, \
     p.owed_after, p.credit_after";

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments p JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn by_reference(conn: &mut PgConnection, channel: &str, reference: &str) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments p JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
         WHERE p.channel = $1 AND p.channel_ref = $2"
    ))
    .bind(channel)
    .bind(reference)
    .fetch_optional(conn)
    .await
}

/// The customer page's payments (`$1` the customer, `$5` the tenant): the newest ten, as a
/// JSON column of [`PaymentRow`]s.
pub fn customer_page_query() -> String {
    let columns = crate::db::exact_decimals(
        COLUMNS,
        &["amount", "credit", "cash_received", "change_given", "owed_after", "credit_after"],
    );
    crate::db::json_rows(&format!(
        "SELECT {columns} FROM payments p JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
         WHERE p.tenant_id = $5 AND p.customer_id = $1 ORDER BY p.received_at DESC LIMIT 10"
    ))
}

/// Inserts the payment unless its channel reference was booked before (then
/// None). A concurrent duplicate waits on the unique key and gets None.
/// `cash`: what was handed over and the change, for cash at the counter.
pub async fn insert(
    conn: &mut PgConnection,
    customer_id: Uuid,
    p: &ValidPayment,
    by: &Actor,
    cash: Option<(Decimal, Decimal)>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_by,
                                 cashier_id, cash_received, change_given)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (tenant_id, channel, channel_ref) DO NOTHING RETURNING id"#,
        Uuid::now_v7(),
        customer_id,
        p.amount,
        p.channel,
        p.channel_ref,
        p.received_at,
        by.label,
        by.user_id,
        cash.map(|c| c.0),
        cash.map(|c| c.1)
    )
    .fetch_optional(conn)
    .await
}

/// A bill with something still owed on it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct OpenBill {
    pub id: Uuid,
    pub bill_no: String,
    pub period: NaiveDate,
    pub due_on: NaiveDate,
    pub amount: Decimal,
    pub paid: Decimal,
    pub late_fee: Decimal,
    pub late_fee_paid: Decimal,
}

impl OpenBill {
    pub fn outstanding(&self) -> Decimal {
        self.amount - self.paid + self.late_fee - self.late_fee_paid
    }
}

/// The customer's unpaid bills, oldest first; `lock` holds them for an
/// allocation (the tenant named, so that Citus sends the lock to one shard).
pub async fn open_bills(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    customer_id: Uuid,
    lock: bool,
) -> sqlx::Result<Vec<OpenBill>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(&format!(
        "SELECT id, bill_no, period, due_on, amount, paid, late_fee, late_fee_paid FROM bills
         WHERE tenant_id = $1 AND customer_id = $2 AND status = 'issued' AND (paid < amount OR late_fee_paid < late_fee)
         ORDER BY period, id{lock}"
    ))
    .bind(tenant_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// Books the allocation: bills' paid amounts, the allocation rows, the credit.
pub async fn apply(
    conn: &mut PgConnection,
    payment_id: Uuid,
    customer_id: Uuid,
    parts: &[(Uuid, bool, Decimal)],
    credit: Decimal,
) -> sqlx::Result<()> {
    let bills: Vec<Uuid> = parts.iter().map(|p| p.0).collect();
    let fee: Vec<bool> = parts.iter().map(|p| p.1).collect();
    let amounts: Vec<Decimal> = parts.iter().map(|p| p.2).collect();
    sqlx::query!(
        r#"WITH a AS (SELECT * FROM unnest($2::uuid[], $3::bool[], $4::numeric[]) AS t (bill_id, fee, amount)),
           alloc AS (
             INSERT INTO payment_allocations (tenant_id, payment_id, bill_id, part, amount)
             SELECT app_tenant_id(), $1, bill_id, CASE WHEN fee THEN 'late_fee' ELSE 'bill' END, amount FROM a
             RETURNING NULL AS not_by_copy
           )
           UPDATE bills b SET paid = b.paid + s.bill_part, late_fee_paid = b.late_fee_paid + s.fee_part
           FROM (SELECT bill_id, coalesce(sum(amount) FILTER (WHERE NOT fee), 0) AS bill_part,
                        coalesce(sum(amount) FILTER (WHERE fee), 0) AS fee_part
                 FROM a GROUP BY bill_id) s
           WHERE b.id = s.bill_id"#,
        payment_id,
        &bills,
        &fee,
        &amounts
    )
    .execute(&mut *conn)
    .await?;
    if credit > Decimal::ZERO {
        sqlx::query!("UPDATE payments SET credit = $2 WHERE id = $1", payment_id, credit).execute(&mut *conn).await?;
        sqlx::query!("UPDATE customers SET credit_balance = credit_balance + $2 WHERE id = $1", customer_id, credit)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Keeps the account's standing right after the payment, for its receipt
/// (every table by its tenant: on Citus, one shard's statement).
pub async fn record_balance_after(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    payment_id: Uuid,
    customer_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE payments SET
             owed_after = (SELECT coalesce(sum(b.amount - b.paid + b.late_fee - b.late_fee_paid), 0)
                           FROM bills b WHERE b.tenant_id = $3 AND b.customer_id = $2 AND b.status = 'issued'),
             credit_after = (SELECT credit_balance FROM customers WHERE tenant_id = $3 AND id = $2)
           WHERE tenant_id = $3 AND id = $1"#,
        payment_id,
        customer_id,
        tenant_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The allocation of a payment, for its receipt.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AllocationRow {
    pub bill_id: Uuid,
    pub bill_no: String,
    pub period: NaiveDate,
    /// bill or late_fee.
    pub part: String,
    pub amount: Decimal,
}

pub async fn allocations(conn: &mut PgConnection, payment_id: Uuid) -> sqlx::Result<Vec<AllocationRow>> {
    sqlx::query_as(
        "SELECT a.bill_id, b.bill_no, b.period, a.part, a.amount FROM payment_allocations a
         JOIN bills b ON b.tenant_id = a.tenant_id AND b.id = a.bill_id WHERE a.payment_id = $1 ORDER BY b.period, a.part",
    )
    .bind(payment_id)
    .fetch_all(conn)
    .await
}

/// Undoes a booked payment: its allocations go back onto the bills and its
/// credit off the account. False when it was not booked (already reversed).
pub async fn reverse(conn: &mut PgConnection, id: Uuid, by: &Actor, reason: &str) -> sqlx::Result<bool> {
    let Some(row) = sqlx::query!(
        r#"UPDATE payments SET status = 'reversed', reversed_at = now(), reversed_by = $2, reverse_reason = $3,
                  reversed_by_id = $4
           WHERE id = $1 AND status = 'booked' RETURNING customer_id, credit"#,
        id,
        by.label,
        reason,
        by.user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    sqlx::query!(
        r#"UPDATE bills b SET paid = b.paid - s.bill_part, late_fee_paid = b.late_fee_paid - s.fee_part
           FROM (SELECT bill_id, coalesce(sum(amount) FILTER (WHERE part = 'bill'), 0) AS bill_part,
                        coalesce(sum(amount) FILTER (WHERE part = 'late_fee'), 0) AS fee_part
                 FROM payment_allocations WHERE payment_id = $1 GROUP BY bill_id) s
           WHERE b.id = s.bill_id"#,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE customers SET credit_balance = credit_balance - $2 WHERE id = $1",
        row.customer_id,
        row.credit
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

pub async fn timeline(
    conn: &mut PgConnection,
    customer_id: Uuid,
    payment_id: Uuid,
    title: &str,
    status: &str,
) -> sqlx::Result<()> {
    let link = format!("/payments/{payment_id}/receipt");
    let entry = crate::timeline::Entry { kind: "payment", notice: None, title, status, link: &link };
    crate::timeline::record(conn, customer_id, Utc::now(), entry).await
}

/// What a customer's account stands at: owed on live bills (of which
/// overdue), and credit from overpayments.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Standing {
    pub owed: Decimal,
    pub overdue: Decimal,
    pub credit: Decimal,
}

/// A customer's [`Standing`] as a JSON column (`$1` the customer, `$2` the
/// company's day, `tenant` the tenant's expression), for a page's statement
/// and for [`standing`].
pub fn standing_query(tenant: &str) -> String {
    format!(
        "(SELECT row_to_json(s) FROM (
    SELECT coalesce(sum(b.amount - b.paid + b.late_fee - b.late_fee_paid), 0)::text AS owed,
           coalesce(sum(b.amount - b.paid + b.late_fee - b.late_fee_paid) FILTER (WHERE b.due_on < $2), 0)::text AS overdue,
           (SELECT credit_balance FROM customers WHERE tenant_id = {tenant} AND id = $1)::text AS credit
    FROM bills b WHERE b.tenant_id = {tenant} AND b.customer_id = $1 AND b.status = 'issued') s)"
    )
}

pub async fn standing(conn: &mut PgConnection, customer_id: Uuid, today: NaiveDate) -> sqlx::Result<Standing> {
    // The tenant bound: a Citus cluster sends the statement to one shard only
    // when every table in it names the tenant by a value.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column: serde_json::Value = sqlx::query_scalar(&format!("SELECT {}", standing_query("$3")))
        .bind(customer_id)
        .bind(today)
        .bind(tenant_id)
        .fetch_one(conn)
        .await?;
    crate::db::json_column("standing", column)
}
