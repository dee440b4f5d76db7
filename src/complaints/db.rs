//! Contacts and return visits in the database.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{complaints::model::ValidContact, service::ClockColumns, sla::RunningClock};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Contact {
    pub id: Uuid,
    pub ref_no: String,
    pub kind: String,
    pub channel: String,
    pub subject: String,
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub customer_account_no: Option<String>,
    pub caller_name: String,
    pub caller_phone: Option<String>,
    pub description: String,
    pub state: String,
    pub owner_id: Option<Uuid>,
    pub owner_name: Option<String>,
    pub team: String,
    pub received_at: DateTime<Utc>,
    pub resolution: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The latest return visit's result, 5 very satisfied … 1 very dissatisfied.
    pub satisfaction: Option<i16>,
    /// The running SLA clock (acknowledge or resolve), if any.
    pub clock: Option<String>,
    pub clock_started_at: Option<DateTime<Utc>>,
    pub clock_limit_minutes: Option<i32>,
    pub clock_working_time: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub sla_breached: bool,
    pub escalated_at: Option<DateTime<Utc>>,
    pub escalated_to_name: Option<String>,
    pub version: i32,
}

impl Contact {
    pub fn running_clock(&self) -> Option<RunningClock> {
        ClockColumns::running(self.clock_started_at, self.clock_limit_minutes, self.clock_working_time)
    }
}

const COLUMNS: &str = "id, ref_no, kind, channel, subject, customer_id, customer_name, customer_account_no, \
    caller_name, caller_phone, description, state, owner_id, owner_name, team, received_at, resolution, \
    resolved_at, closed_at, satisfaction, clock, clock_started_at, clock_limit_minutes, clock_working_time, \
    due_at, sla_breached, escalated_at, escalated_to_name, version";

pub struct NewContact<'a> {
    pub id: Uuid,
    pub ref_no: &'a str,
    pub contact: &'a ValidContact,
    pub owner_id: Option<Uuid>,
    pub team: &'a str,
    pub received_month: NaiveDate,
    pub clock: ClockColumns,
    pub created_by: Option<Uuid>,
}

pub async fn insert(conn: &mut PgConnection, n: NewContact<'_>) -> sqlx::Result<()> {
    let c = n.contact;
    sqlx::query!(
        r#"INSERT INTO contacts (tenant_id, id, ref_no, kind, channel, subject, customer_id, caller_name, caller_phone,
                                 description, owner_id, team, received_at, received_month, clock, clock_started_at,
                                 clock_limit_minutes, clock_working_time, due_at, created_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"#,
        n.id,
        n.ref_no,
        c.kind,
        c.channel,
        c.subject,
        c.customer_id,
        c.caller_name,
        c.caller_phone,
        c.description,
        n.owner_id,
        n.team,
        c.received_at,
        n.received_month,
        n.clock.clock,
        n.clock.started,
        n.clock.limit_minutes,
        n.clock.working_time,
        n.clock.due_at,
        n.created_by
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Contact> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM contact_rows WHERE id = $1")).bind(id).fetch_one(conn).await
}

/// Locks the contact for a change (two clerks clicking at once change it one
/// after the other, the second against the first's result).
pub async fn lock(conn: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("SELECT id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant_id, id)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// The customer page's open contacts (`$1` the customer, `$5` the tenant), newest first, as a
/// JSON column of [`Contact`]s.
pub fn customer_page_query() -> String {
    crate::db::json_rows(&format!(
        "SELECT {COLUMNS} FROM contact_rows WHERE tenant_id = $5 AND customer_id = $1 AND state NOT IN ('resolved', 'closed')
         ORDER BY received_at DESC LIMIT 100"
    ))
}

/// Open contacts a person owns, most urgent first.
pub async fn owned_open(conn: &mut PgConnection, owner: Uuid) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contact_rows WHERE owner_id = $1 AND state NOT IN ('resolved', 'closed')
         ORDER BY due_at NULLS LAST LIMIT 200"
    ))
    .bind(owner)
    .fetch_all(conn)
    .await
}

/// A page of a person's open contacts, filtered, earliest deadline (so the
/// overdue) first; one row more than a page, to tell whether another follows.
pub async fn owned_open_page(
    conn: &mut PgConnection,
    owner: Uuid,
    f: &crate::service::queue::QueueFilter,
) -> sqlx::Result<Vec<Contact>> {
    let mut q = sqlx::QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM contact_rows WHERE state NOT IN ('resolved', 'closed') AND owner_id = "
    ));
    q.push_bind(owner);
    f.push_conditions(&mut q);
    q.push(" ORDER BY due_at NULLS LAST, id LIMIT ")
        .push_bind(crate::service::queue::PAGE_ROWS as i64 + 1)
        .push(" OFFSET ")
        .push_bind(f.offset());
    q.build_query_as().fetch_all(conn).await
}

/// A person's open contacts and how many of them are overdue, each counted up to the cap.
pub async fn owned_open_counts(conn: &mut PgConnection, owner: Uuid, cap: i64) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "open!", count(*) FILTER (WHERE due_at < now()) AS "overdue!"
           FROM (SELECT due_at FROM contacts WHERE owner_id = $1 AND state NOT IN ('resolved', 'closed') LIMIT $2) c"#,
        owner,
        cap
    )
    .fetch_one(conn)
    .await?;
    Ok((row.open, row.overdue))
}

/// Contacts for the API: by customer and/or state, newest first, keyset-paged by reference number.
pub async fn search(
    conn: &mut PgConnection,
    customer_id: Option<Uuid>,
    state: Option<&str>,
    before_ref: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contact_rows
         WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR state = $2)
           AND ($3::text IS NULL OR ref_no < $3)
         ORDER BY ref_no DESC LIMIT $4"
    ))
    .bind(customer_id)
    .bind(state)
    .bind(before_ref)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub struct StateChange<'a> {
    pub id: Uuid,
    pub version: i32,
    pub state: &'a str,
    pub clock: Option<ClockColumns>,
    pub breached: bool,
    pub resolution: Option<&'a str>,
    pub resolved_at: Option<Option<DateTime<Utc>>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub owner: Option<(Uuid, &'a str)>,
}

/// Writes a change of state; false when the version moved on meanwhile.
pub async fn change_state(conn: &mut PgConnection, s: StateChange<'_>) -> sqlx::Result<bool> {
    let keep_clock = s.clock.is_none();
    let clock = s.clock.unwrap_or_default();
    let done = sqlx::query!(
        r#"UPDATE contacts SET
             state = $3,
             clock = CASE WHEN $4 THEN clock ELSE $5 END,
             clock_started_at = CASE WHEN $4 THEN clock_started_at ELSE $6 END,
             clock_limit_minutes = CASE WHEN $4 THEN clock_limit_minutes ELSE $7 END,
             clock_working_time = CASE WHEN $4 THEN clock_working_time ELSE $8 END,
             due_at = CASE WHEN $4 THEN due_at ELSE $9 END,
             -- A new clock may be escalated again when it runs out.
             escalated_at = CASE WHEN $4 THEN escalated_at ELSE NULL END,
             sla_breached = sla_breached OR $10,
             resolution = coalesce($11, resolution),
             resolved_at = CASE WHEN $12 THEN $13 ELSE resolved_at END,
             closed_at = CASE WHEN $14 THEN $15 ELSE closed_at END,
             owner_id = coalesce($16, owner_id),
             team = coalesce($17, team),
             version = version + 1
           WHERE id = $1 AND version = $2"#,
        s.id,
        s.version,
        s.state,
        keep_clock,
        clock.clock,
        clock.started,
        clock.limit_minutes,
        clock.working_time,
        clock.due_at,
        s.breached,
        s.resolution,
        s.resolved_at.is_some(),
        s.resolved_at.flatten(),
        s.closed_at.is_some(),
        s.closed_at.flatten(),
        s.owner.map(|o| o.0),
        s.owner.map(|o| o.1)
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_owner(conn: &mut PgConnection, id: Uuid, version: i32, owner: Uuid, team: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE contacts SET owner_id = $3, team = $4, version = version + 1 WHERE id = $1 AND version = $2",
        id,
        version,
        owner,
        team
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ReturnVisit {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub assigned_to: Uuid,
    pub assigned_to_name: String,
    pub done_at: Option<DateTime<Utc>>,
    pub satisfaction: Option<i16>,
    pub remarks: String,
    pub reopened: bool,
}

pub async fn add_visit(conn: &mut PgConnection, contact_id: Uuid, assigned_to: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO return_visits (tenant_id, id, contact_id, assigned_to) VALUES (app_tenant_id(), $1, $2, $3)
           ON CONFLICT (tenant_id, contact_id) WHERE done_at IS NULL DO NOTHING"#,
        Uuid::now_v7(),
        contact_id,
        assigned_to
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn visits(conn: &mut PgConnection, contact_id: Uuid) -> sqlx::Result<Vec<ReturnVisit>> {
    sqlx::query_as(
        "SELECT v.id, v.contact_id, v.created_at, v.assigned_to, u.display_name AS assigned_to_name, v.done_at,
                v.satisfaction, v.remarks, v.reopened
         FROM return_visits v JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.assigned_to
         WHERE v.contact_id = $1 ORDER BY v.created_at",
    )
    .bind(contact_id)
    .fetch_all(conn)
    .await
}

/// Completes the pending visit of a contact; None when there is none.
pub async fn complete_visit(
    conn: &mut PgConnection,
    contact_id: Uuid,
    by: Option<Uuid>,
    satisfaction: i16,
    remarks: &str,
    reopened: bool,
) -> sqlx::Result<Option<Uuid>> {
    let id = sqlx::query_scalar!(
        r#"UPDATE return_visits SET done_at = now(), done_by = $2, satisfaction = $3, remarks = $4, reopened = $5
           WHERE contact_id = $1 AND done_at IS NULL RETURNING id"#,
        contact_id,
        by,
        satisfaction,
        remarks,
        reopened
    )
    .fetch_optional(&mut *conn)
    .await?;
    if id.is_some() {
        sqlx::query!("UPDATE contacts SET satisfaction = $2 WHERE id = $1", contact_id, satisfaction)
            .execute(conn)
            .await?;
    }
    Ok(id)
}

/// Pending return visits assigned to a person, oldest first.
pub async fn visits_due_for(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<Vec<(Uuid, String, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.ref_no, v.created_at FROM return_visits v
           JOIN contacts c ON c.tenant_id = v.tenant_id AND c.id = v.contact_id
           WHERE v.assigned_to = $1 AND v.done_at IS NULL ORDER BY v.created_at LIMIT 50"#,
        user_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.ref_no, r.created_at)).collect())
}
