//! The portal's SQL. Functions taking a `Tx` from `db::begin_tenant` work for
//! the customer before they are signed in (as `gridcrm_app`, in the tenant of
//! the company's portal); those taking one from `db::begin_portal` read as
//! the signed-in customer (`gridcrm_portal`, limited to their accounts).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{CODE_ATTEMPTS, CODE_MINUTES, LOCK_MINUTES, LOGIN_FAILURES_BEFORE_LOCK, Purpose, code_hash, new_code};
use crate::{
    notices::{self, Kind},
    web::password,
};

/// A power supply company whose portal customers use.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Company {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
}

/// The companies with a portal (every tenant but the operator's own).
pub async fn companies(pool: &PgPool) -> sqlx::Result<Vec<Company>> {
    sqlx::query_as("SELECT id, slug, name, time_zone FROM tenants WHERE NOT is_platform ORDER BY name")
        .fetch_all(pool)
        .await
}

pub async fn company(pool: &PgPool, slug: &str) -> sqlx::Result<Option<Company>> {
    sqlx::query_as("SELECT id, slug, name, time_zone FROM tenants WHERE slug = $1 AND NOT is_platform")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// Codes made for the account in the last hour.
pub async fn codes_last_hour(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM portal_codes WHERE customer_id = $1 AND created_at > now() - interval '1 hour'",
    )
    .bind(customer_id)
    .fetch_one(conn)
    .await
}

/// The live account with this number, if any.
pub async fn active_account(conn: &mut PgConnection, account_no: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM customers WHERE account_no = $1 AND status = 'active'")
        .bind(account_no)
        .fetch_optional(conn)
        .await
}

/// Makes a code for the account and queues it as a notice to the account's
/// mobile number, or else its email (the archive's, or the one the customer
/// gave for notices). Returns whether a notice was queued: an account with
/// neither gets none, which the caller does not tell the asker.
pub async fn send_code(
    conn: &mut PgConnection,
    customer_id: Uuid,
    purpose: Purpose,
    requested_by: Option<Uuid>,
    address: &str,
) -> sqlx::Result<bool> {
    let id = Uuid::now_v7();
    let code = new_code();
    sqlx::query(
        "INSERT INTO portal_codes (tenant_id, id, customer_id, purpose, requested_by, code_hash, address, expires_at)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))",
    )
    .bind(id)
    .bind(customer_id)
    .bind(purpose.as_str())
    .bind(requested_by)
    .bind(code_hash(id, &code))
    .bind(address)
    .bind(CODE_MINUTES as i32)
    .execute(&mut *conn)
    .await?;
    let target = notices::db::Target {
        customer_id,
        event_ref: format!("portal_code:{}", id.simple()),
        data: json!({"code": code, "minutes": CODE_MINUTES.to_string()}),
        not_before: Utc::now(),
    };
    notices::db::add_targets(conn, &[target]).await?;
    let channels = ["sms".to_owned(), "email".to_owned()];
    let queued = notices::db::enqueue(conn, Kind::PortalCode, &channels, &json!({})).await?;
    Ok(queued > 0)
}

/// What became of a code typed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the account it opens.
    Right { code_id: Uuid, customer_id: Uuid },
    /// Wrong, used, expired or out of attempts: all look the same.
    Wrong,
}

/// Checks `code` against the latest live code for the account and purpose
/// (and, for a link, the asker). A wrong code costs one of the code's
/// attempts, so the caller must commit even when the answer is `Wrong`.
pub async fn check_code(
    conn: &mut PgConnection,
    account_no: &str,
    purpose: Purpose,
    requested_by: Option<Uuid>,
    code: &str,
) -> sqlx::Result<CodeCheck> {
    let live: Option<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT k.id, k.customer_id, k.code_hash FROM portal_codes k JOIN customers c ON c.id = k.customer_id
         WHERE c.account_no = $1 AND c.status = 'active' AND k.purpose = $2
           AND k.requested_by IS NOT DISTINCT FROM $3
           AND k.used_at IS NULL AND k.expires_at > now() AND k.attempts < $4
         ORDER BY k.created_at DESC LIMIT 1
         FOR UPDATE OF k",
    )
    .bind(account_no)
    .bind(purpose.as_str())
    .bind(requested_by)
    .bind(CODE_ATTEMPTS)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((code_id, customer_id, stored)) = live else { return Ok(CodeCheck::Wrong) };
    if password::constant_time_eq(&stored, &code_hash(code_id, code)) {
        return Ok(CodeCheck::Right { code_id, customer_id });
    }
    sqlx::query("UPDATE portal_codes SET attempts = attempts + 1 WHERE id = $1").bind(code_id).execute(conn).await?;
    Ok(CodeCheck::Wrong)
}

/// Marks a code used, together with every other live code of the account for
/// the same purpose: one registration per round of codes.
pub async fn use_code(conn: &mut PgConnection, code_id: Uuid, customer_id: Uuid, purpose: Purpose) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE portal_codes SET used_at = now()
         WHERE used_at IS NULL AND (id = $1 OR (customer_id = $2 AND purpose = $3))",
    )
    .bind(code_id)
    .bind(customer_id)
    .bind(purpose.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates a login; `None` when the login is taken.
pub async fn create_user(conn: &mut PgConnection, login: &str, password_hash: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO portal_users (tenant_id, id, login, password_hash) VALUES (app_tenant_id(), $1, $2, $3)
         ON CONFLICT (tenant_id, login) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(login)
    .bind(password_hash)
    .fetch_optional(conn)
    .await
}

/// Links an account to a login (again is no change).
pub async fn link(conn: &mut PgConnection, portal_user_id: Uuid, customer_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO portal_links (tenant_id, portal_user_id, customer_id) VALUES (app_tenant_id(), $1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(portal_user_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A login being signed in to.
#[derive(Debug, sqlx::FromRow)]
pub struct LoginCandidate {
    pub id: Uuid,
    pub password_hash: String,
    pub locked: bool,
}

pub async fn find_for_login(conn: &mut PgConnection, login: &str) -> sqlx::Result<Option<LoginCandidate>> {
    sqlx::query_as(
        "SELECT id, password_hash, coalesce(locked_until > now(), false) AS locked FROM portal_users WHERE login = $1",
    )
    .bind(login)
    .fetch_optional(conn)
    .await
}

/// Counts a wrong password; the fifth in a row locks the login for a while.
pub async fn record_failed_login(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE portal_users SET
           failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
           locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
         WHERE id = $1",
    )
    .bind(id)
    .bind(LOGIN_FAILURES_BEFORE_LOCK)
    .bind(LOCK_MINUTES)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts a session and returns its token (the tenant, then the secret).
pub async fn start_session(conn: &mut PgConnection, tenant_id: Uuid, portal_user_id: Uuid) -> sqlx::Result<String> {
    sqlx::query("UPDATE portal_users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(portal_user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE portal_user_id = $1 AND expires_at < now()")
        .bind(portal_user_id)
        .execute(&mut *conn)
        .await?;
    let secret = password::random_token();
    sqlx::query(
        "INSERT INTO portal_sessions (tenant_id, id, portal_user_id, token_hash, csrf_token, expires_at)
         VALUES (app_tenant_id(), $1, $2, $3, $4, now() + make_interval(hours => $5))",
    )
    .bind(Uuid::now_v7())
    .bind(portal_user_id)
    .bind(password::sha256(&secret))
    .bind(password::random_token())
    .bind(super::SESSION_HOURS)
    .execute(conn)
    .await?;
    Ok(crate::web::auth::make_token(tenant_id, &secret))
}

pub async fn end_session(conn: &mut PgConnection, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM portal_sessions WHERE id = $1").bind(session_id).execute(conn).await?;
    Ok(())
}

/// The signed-in customer behind a session secret's hash, if the session is
/// live (not expired, used within the idle limit); touches it once a minute.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub session_id: Uuid,
    pub portal_user_id: Uuid,
    pub login: String,
    pub csrf_token: String,
    pub slug: String,
    pub tenant_name: String,
    pub time_zone: String,
}

pub async fn session(pool: &PgPool, tenant_id: Uuid, token_hash: &[u8]) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as("SELECT * FROM gridcrm_portal_session_caller($1, $2, $3)")
        .bind(tenant_id)
        .bind(token_hash)
        .bind(super::SESSION_IDLE_MINUTES)
        .fetch_optional(pool)
        .await
}

/// One linked account as the customer sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Account {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub address: String,
    pub status: String,
    /// Bills and late fees not yet paid.
    pub owed: Decimal,
    /// Money paid beyond the bills, kept for the next ones.
    pub credit_balance: Decimal,
    pub last_period: Option<NaiveDate>,
    pub last_amount: Option<Decimal>,
    /// The customer's own quiet hours (the company's apply too).
    pub quiet_from: Option<NaiveTime>,
    pub quiet_to: Option<NaiveTime>,
}

/// The signed-in customer's accounts (`gridcrm_portal_accounts`, migration
/// 0063: driven from their links, so the policies on `customers` and
/// `bills` are checked on those rows only).
const ACCOUNTS: &str = "SELECT * FROM gridcrm_portal_accounts()";

/// The accounts linked to the signed-in customer (a `begin_portal`
/// transaction: the database shows no others).
pub async fn accounts(conn: &mut PgConnection) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as(&format!(r#"{ACCOUNTS} ORDER BY account_no COLLATE "C""#)).fetch_all(conn).await
}

/// The session behind a secret's hash, as [`session`], and the accounts
/// linked to its customer, as [`accounts`], in one statement on a pooled
/// connection (migration 0065): the portal home's one read. The function
/// switches to the portal role for its own statement after finding the
/// session, so the database shows it no other account.
pub async fn session_with_accounts(
    pool: &PgPool,
    tenant_id: Uuid,
    token_hash: &[u8],
) -> sqlx::Result<Option<(SessionRow, Vec<Account>)>> {
    use sqlx::{FromRow, Row};
    let rows = sqlx::query("SELECT * FROM gridcrm_portal_session_with_accounts($1, $2, $3)")
        .bind(tenant_id)
        .bind(token_hash)
        .bind(super::SESSION_IDLE_MINUTES)
        .fetch_all(pool)
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let session = SessionRow::from_row(first)?;
    // A customer with no linked account is one row without an account.
    let mut accounts = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("customer_id")?.is_some() {
            accounts.push(Account::from_row(row)?);
        }
    }
    Ok(Some((session, accounts)))
}

pub async fn account(conn: &mut PgConnection, account_no: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!("{ACCOUNTS} WHERE account_no = $1")).bind(account_no).fetch_optional(conn).await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Bill {
    pub id: Uuid,
    pub bill_no: String,
    pub period: NaiveDate,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub energy_kwh: Decimal,
    pub amount: Decimal,
    pub paid: Decimal,
    pub late_fee: Decimal,
    pub late_fee_paid: Decimal,
    pub status: String,
}

impl Bill {
    pub fn outstanding(&self) -> Decimal {
        if self.status == "issued" {
            self.amount - self.paid + self.late_fee - self.late_fee_paid
        } else {
            Decimal::ZERO
        }
    }
}

/// The account's latest bills, newest first.
pub async fn bills(conn: &mut PgConnection, customer_id: Uuid, limit: i64) -> sqlx::Result<Vec<Bill>> {
    sqlx::query_as(
        "SELECT id, bill_no, period, issued_on, due_on, energy_kwh, amount, paid, late_fee, late_fee_paid, status
         FROM bills WHERE customer_id = $1 ORDER BY period DESC, created_at DESC LIMIT $2",
    )
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether the bill is one of a linked account's (a `begin_portal`
/// transaction sees no other).
pub async fn bill_visible(conn: &mut PgConnection, bill_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bills WHERE id = $1)").bind(bill_id).fetch_one(conn).await
}

/// Unlinks an account from a login; false when it was not linked.
pub async fn unlink(conn: &mut PgConnection, portal_user_id: Uuid, customer_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM portal_links WHERE portal_user_id = $1 AND customer_id = $2")
        .bind(portal_user_id)
        .bind(customer_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Payment {
    pub received_at: DateTime<Utc>,
    pub amount: Decimal,
    pub channel: String,
    pub status: String,
}

/// The account's latest payments, newest first.
pub async fn payments(conn: &mut PgConnection, customer_id: Uuid, limit: i64) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(
        "SELECT received_at, amount, channel, status FROM payments WHERE customer_id = $1
         ORDER BY received_at DESC LIMIT $2",
    )
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An online payment as the portal tracks it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PaymentOrder {
    pub id: Uuid,
    pub account_no: String,
    pub amount: Decimal,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Opens a payment order (as the server, for the signed-in customer).
pub async fn create_order(
    conn: &mut PgConnection,
    customer_id: Uuid,
    portal_user_id: Uuid,
    amount: Decimal,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO portal_payment_orders (tenant_id, id, customer_id, portal_user_id, amount)
         VALUES (app_tenant_id(), $1, $2, $3, $4)",
    )
    .bind(id)
    .bind(customer_id)
    .bind(portal_user_id)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(id)
}

const ORDER_COLUMNS: &str = "o.id, c.account_no::text AS account_no, o.amount, o.status, o.created_at, o.paid_at
    FROM portal_payment_orders o JOIN customers c ON c.id = o.customer_id";

/// One of the signed-in customer's orders (a `begin_portal` transaction).
pub async fn order(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PaymentOrder>> {
    sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} WHERE o.id = $1")).bind(id).fetch_optional(conn).await
}

/// An order, held for its callback (as the server).
pub async fn order_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PaymentOrder>> {
    sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} WHERE o.id = $1 FOR UPDATE OF o"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Marks an order paid by its first transaction (a later one changes nothing).
pub async fn mark_paid(conn: &mut PgConnection, id: Uuid, payment_id: Uuid, txn: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE portal_payment_orders SET status = 'paid', paid_at = now(), payment_id = $2, gateway_txn = $3
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(payment_id)
    .bind(txn)
    .execute(conn)
    .await?;
    Ok(())
}

/// A complaint, inquiry, suggestion or praise of one of the customer's
/// accounts, as the portal shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ContactLine {
    pub id: Uuid,
    pub ref_no: String,
    pub account_no: String,
    pub kind: String,
    pub subject: String,
    pub state: String,
    pub description: String,
    pub resolution: String,
    pub received_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// A return visit waits for the customer's answer.
    pub visit_pending: bool,
    /// The answer of the latest return visit done, 5 very satisfied … 1.
    pub satisfaction: Option<i16>,
}

/// The latest contacts of the signed-in customer's accounts, newest first
/// (a `begin_portal` transaction).
pub async fn contacts(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ContactLine>> {
    sqlx::query_as(
        "SELECT k.id, k.ref_no::text AS ref_no, c.account_no::text AS account_no, k.kind, k.subject, k.state,
                k.description, k.resolution, k.received_at, k.resolved_at,
                EXISTS (SELECT 1 FROM return_visits v WHERE v.contact_id = k.id AND v.done_at IS NULL) AS visit_pending,
                (SELECT v.satisfaction FROM return_visits v WHERE v.contact_id = k.id AND v.done_at IS NOT NULL
                 ORDER BY v.done_at DESC LIMIT 1) AS satisfaction
         FROM contacts k JOIN customers c ON c.id = k.customer_id
         ORDER BY k.received_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether a return visit of one of the signed-in customer's contacts waits
/// for an answer (a `begin_portal` transaction sees no other contact).
pub async fn visit_pending(conn: &mut PgConnection, contact_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM return_visits WHERE contact_id = $1 AND done_at IS NULL)")
        .bind(contact_id)
        .fetch_one(conn)
        .await
}

/// A fault reported on one of the customer's accounts, as they follow it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FaultLine {
    pub ref_no: String,
    pub account_no: String,
    pub address: String,
    pub description: String,
    pub state: String,
    pub crew: String,
    pub created_at: DateTime<Utc>,
    /// When the crew is due on site (while the arrival clock runs).
    pub arrival_due: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
}

/// The latest repairs of the signed-in customer's accounts, newest first
/// (a `begin_portal` transaction).
pub async fn faults(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<FaultLine>> {
    sqlx::query_as(
        "SELECT w.ref_no::text AS ref_no, c.account_no::text AS account_no, w.address, w.description, w.state, w.crew,
                w.created_at, CASE WHEN w.clock = 'arrival' THEN w.due_at END AS arrival_due,
                w.arrived_at, w.restored_at
         FROM work_orders w JOIN customers c ON c.id = w.customer_id
         WHERE w.kind = 'repair'
         ORDER BY w.created_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An application (a new connection, a capacity change, a transfer of
/// ownership) of one of the customer's accounts, as they follow it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApplicationLine {
    pub id: Uuid,
    pub ref_no: String,
    pub account_no: String,
    pub kind: String,
    pub state: String,
    pub description: String,
    pub requested_capacity_kva: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const APPLICATION_COLUMNS: &str = "w.id, w.ref_no::text AS ref_no, c.account_no::text AS account_no, w.kind, w.state,
    w.description, w.requested_capacity_kva, w.created_at, w.completed_at
    FROM work_orders w JOIN customers c ON c.id = w.customer_id";

/// The applications of the signed-in customer's accounts, newest first,
/// whether made here or at the counter (a `begin_portal` transaction).
pub async fn applications(conn: &mut PgConnection, kinds: &[&str], limit: i64) -> sqlx::Result<Vec<ApplicationLine>> {
    sqlx::query_as(&format!("SELECT {APPLICATION_COLUMNS} WHERE w.kind = ANY($1) ORDER BY w.created_at DESC LIMIT $2"))
        .bind(kinds)
        .bind(limit)
        .fetch_all(conn)
        .await
}

pub async fn application(
    conn: &mut PgConnection,
    kinds: &[&str],
    ref_no: &str,
) -> sqlx::Result<Option<ApplicationLine>> {
    sqlx::query_as(&format!("SELECT {APPLICATION_COLUMNS} WHERE w.kind = ANY($1) AND w.ref_no = $2"))
        .bind(kinds)
        .bind(ref_no)
        .fetch_optional(conn)
        .await
}
