//! Portfolios, visits, follow-ups and bulk assignment in the database.

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::Actor,
    portfolio::{ATTENTION_DAYS, AssignCounts, FollowUp, VISIT_DUE_DAYS},
};

/// One thing that needs the manager's attention.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttentionItem {
    /// One of [`crate::portfolio::ATTENTION_KINDS`].
    pub kind: String,
    /// The bill, contact, order, load anomaly, meter, visit or follow-up (the customer for a tier change).
    pub item_id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    /// What it is: a bill number, a reference, a meter serial, a visit's purpose…
    pub title: String,
    /// Beside the title: an amount owed, a state code, the previous tier, a load change (-35%), or empty.
    pub detail: String,
    /// The day it is about: due, changed, planned.
    pub on: NaiveDate,
    pub link: String,
}

/// Everything that needs attention for the customers of `manager` (and the
/// follow-ups assigned to them), most urgent kind first, oldest first within
/// a kind; at most `limit`.
pub async fn attention(
    conn: &mut PgConnection,
    manager: Uuid,
    today: NaiveDate,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<AttentionItem>> {
    let back = today.checked_sub_days(Days::new(ATTENTION_DAYS)).unwrap_or(today);
    let ahead = today.checked_add_days(Days::new(ATTENTION_DAYS)).unwrap_or(today);
    let visits_until = today.checked_add_days(Days::new(VISIT_DUE_DAYS)).unwrap_or(today);
    let since = now - chrono::Duration::days(ATTENTION_DAYS as i64);
    sqlx::query_as(
        r#"WITH mine AS (SELECT id, account_no, name FROM customers WHERE account_manager_id = $1),
           items AS (
             SELECT 0 AS rank, 'new_arrears' AS kind, b.id AS item_id, b.customer_id, b.bill_no AS title,
                    (b.amount - b.paid + b.late_fee - b.late_fee_paid)::text AS detail, b.due_on AS on_day,
                    '/customers/' || b.customer_id || '#bills' AS link
             FROM bills b JOIN mine m ON m.id = b.customer_id
             WHERE b.status = 'issued' AND b.due_on < $2 AND b.due_on >= $3
               AND b.amount - b.paid + b.late_fee - b.late_fee_paid > 0
             UNION ALL
             SELECT 1, 'tier_change', v.customer_id, v.customer_id, v.tier, coalesce(v.previous_tier, ''),
                    (v.tier_changed_at AT TIME ZONE 'UTC')::date, '/customers/' || v.customer_id
             FROM customer_values v JOIN mine m ON m.id = v.customer_id
             WHERE v.tier_changed_at >= $6
             UNION ALL
             SELECT 2, 'overdue_contact', k.id, k.customer_id, k.ref_no, k.state, (k.due_at AT TIME ZONE 'UTC')::date,
                    '/contacts/' || k.id
             FROM contacts k JOIN mine m ON m.id = k.customer_id
             WHERE k.state NOT IN ('resolved', 'closed') AND k.due_at < $7
             UNION ALL
             SELECT 3, 'overdue_order', w.id, w.customer_id, w.ref_no || ' ' || w.title, w.state,
                    (w.due_at AT TIME ZONE 'UTC')::date, '/work-orders/' || w.id
             FROM work_orders w JOIN mine m ON m.id = w.customer_id
             WHERE w.state NOT IN ('closed', 'cancelled', 'done', 'powered_on') AND w.due_at < $7
             UNION ALL
             SELECT 4, 'expansion', w.id, w.customer_id, w.ref_no || ' ' || w.title, w.state,
                    (w.created_at AT TIME ZONE 'UTC')::date, '/work-orders/' || w.id
             FROM work_orders w JOIN mine m ON m.id = w.customer_id
             WHERE w.kind = 'expansion' AND w.state NOT IN ('powered_on', 'cancelled')
             UNION ALL
             SELECT 5, 'load_anomaly', a.id, a.customer_id, e.serial,
                    CASE WHEN a.size_pct > 0 THEN '+' ELSE '' END || round(a.size_pct)::text || '%', a.change_day,
                    '/load-anomalies/' || a.id
             FROM load_anomalies a JOIN mine m ON m.id = a.customer_id
             JOIN meters e ON e.tenant_id = a.tenant_id AND e.id = a.meter_id
             WHERE a.status = 'open'
             UNION ALL
             SELECT 6, 'meter_verification', e.id, s.customer_id, e.serial, '', e.next_verification,
                    '/customers/' || s.customer_id
             FROM supply_points s JOIN mine m ON m.id = s.customer_id
             JOIN meter_installations i ON i.tenant_id = s.tenant_id AND i.supply_point_id = s.id AND i.removed_on IS NULL
             JOIN meters e ON e.tenant_id = i.tenant_id AND e.id = i.meter_id
             WHERE e.next_verification <= $4
             UNION ALL
             SELECT 7, 'visit_due', v.id, v.customer_id, v.purpose, '', v.planned_on, '/accounts/visits/' || v.id
             FROM visits v
             WHERE v.manager_id = $1 AND v.status = 'planned' AND v.planned_on <= $5
             UNION ALL
             SELECT 8, 'follow_up', f.id, f.customer_id, f.task, '', f.due_on, '/accounts/visits/' || f.visit_id
             FROM visit_follow_ups f
             WHERE f.assignee_id = $1 AND f.done_at IS NULL
           )
           SELECT i.kind, i.item_id, i.customer_id, c.account_no, c.name AS customer_name, i.title, i.detail,
                  i.on_day AS "on", i.link
           FROM items i JOIN customers c ON c.id = i.customer_id
           ORDER BY i.rank, i.on_day, c.account_no
           LIMIT $8"#,
    )
    .bind(manager)
    .bind(today)
    .bind(back)
    .bind(ahead)
    .bind(visits_until)
    .bind(since)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A row of the plain customer list of a portfolio.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PortfolioCustomer {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub class_code: String,
    pub tier: Option<String>,
    pub energy_12m: Option<Decimal>,
}

/// The manager's customers in account-number order, after `after`.
pub async fn customers(
    conn: &mut PgConnection,
    manager: Uuid,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<PortfolioCustomer>> {
    sqlx::query_as(
        "SELECT c.id, c.account_no, c.name, c.class_code, v.tier, v.energy_12m
         FROM customers c LEFT JOIN customer_values v ON v.tenant_id = c.tenant_id AND v.customer_id = c.id
         WHERE c.account_manager_id = $1 AND c.account_no > $2
         ORDER BY c.account_no LIMIT $3",
    )
    .bind(manager)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether `id` is an active account manager of the tenant.
pub async fn is_active_manager(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'account_manager' AND active)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// The account number and name of a customer of the tenant.
pub async fn customer_label(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT account_no, name FROM customers WHERE id = $1").bind(id).fetch_optional(conn).await
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Visit {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub customer_name: String,
    pub manager_id: Uuid,
    pub manager_name: String,
    pub planned_on: NaiveDate,
    pub purpose: String,
    /// planned, done or cancelled.
    pub status: String,
    /// What came of it (once done).
    pub outcome: String,
    pub done_on: Option<NaiveDate>,
    /// Send it back with an edit; a stale version is refused.
    pub version: i32,
}

impl Visit {
    /// The day it happened, or is planned for.
    pub fn day(&self) -> NaiveDate {
        self.done_on.unwrap_or(self.planned_on)
    }
}

const VISIT_SELECT: &str = "SELECT v.id, v.customer_id, c.account_no, c.name AS customer_name, v.manager_id, \
     u.display_name AS manager_name, v.planned_on, v.purpose, v.status, v.outcome, v.done_on, v.version \
     FROM visits v \
     JOIN customers c ON c.tenant_id = v.tenant_id AND c.id = v.customer_id \
     JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.manager_id";

pub struct NewVisit<'a> {
    pub customer_id: Uuid,
    pub manager_id: Uuid,
    pub planned_on: NaiveDate,
    pub purpose: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_visit(conn: &mut PgConnection, v: NewVisit<'_>) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO visits (tenant_id, id, customer_id, manager_id, planned_on, purpose, created_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(v.customer_id)
    .bind(v.manager_id)
    .bind(v.planned_on)
    .bind(v.purpose)
    .bind(v.created_by)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn get_visit(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Visit>> {
    sqlx::query_as(&format!("{VISIT_SELECT} WHERE v.id = $1")).bind(id).fetch_optional(conn).await
}

/// Which visits a list or calendar shows.
#[derive(Debug, Default)]
pub struct VisitFilter {
    pub customer_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub statuses: Vec<String>,
    /// Keyset: visits after this (planned_on, id).
    pub after: Option<(NaiveDate, Uuid)>,
    pub limit: i64,
}

/// Visits by planned day, then id.
pub async fn list_visits(conn: &mut PgConnection, f: &VisitFilter) -> sqlx::Result<Vec<Visit>> {
    let (after_day, after_id) = f.after.map_or((None, None), |(d, i)| (Some(d), Some(i)));
    sqlx::query_as(&format!(
        "{VISIT_SELECT}
         WHERE ($1::uuid IS NULL OR v.customer_id = $1) AND ($2::uuid IS NULL OR v.manager_id = $2)
           AND ($3::date IS NULL OR v.planned_on >= $3) AND ($4::date IS NULL OR v.planned_on <= $4)
           AND (cardinality($5::text[]) = 0 OR v.status = ANY($5))
           AND ($6::date IS NULL OR (v.planned_on, v.id) > ($6, $7))
         ORDER BY v.planned_on, v.id LIMIT $8"
    ))
    .bind(f.customer_id)
    .bind(f.manager_id)
    .bind(f.from)
    .bind(f.to)
    .bind(&f.statuses)
    .bind(after_day)
    .bind(after_id)
    .bind(f.limit)
    .fetch_all(conn)
    .await
}

/// Records the outcome of a planned visit at `version`; false when it is not
/// planned any more or was changed meanwhile.
pub async fn record_outcome(
    conn: &mut PgConnection,
    id: Uuid,
    version: i32,
    outcome: &str,
    done_on: NaiveDate,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE visits SET status = 'done', outcome = $3, done_on = $4, version = version + 1
         WHERE id = $1 AND version = $2 AND status = 'planned'",
    )
    .bind(id)
    .bind(version)
    .bind(outcome)
    .bind(done_on)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels a planned visit at `version`; false when stale or not planned.
pub async fn cancel_visit(conn: &mut PgConnection, id: Uuid, version: i32) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE visits SET status = 'cancelled', version = version + 1
         WHERE id = $1 AND version = $2 AND status = 'planned'",
    )
    .bind(id)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether every id is an active member of staff of the tenant.
pub async fn all_active_staff(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<bool> {
    let found: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE id = ANY($1) AND active AND role <> 'platform_admin'")
            .bind(ids)
            .fetch_one(conn)
            .await?;
    let mut distinct = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    Ok(found == distinct.len() as i64)
}

pub async fn add_follow_ups(
    conn: &mut PgConnection,
    visit_id: Uuid,
    customer_id: Uuid,
    rows: &[FollowUp],
) -> sqlx::Result<()> {
    for row in rows {
        sqlx::query(
            "INSERT INTO visit_follow_ups (tenant_id, id, visit_id, customer_id, assignee_id, task, due_on)
             VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(visit_id)
        .bind(customer_id)
        .bind(row.assignee_id)
        .bind(&row.task)
        .bind(row.due_on)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FollowUpRow {
    pub id: Uuid,
    pub visit_id: Uuid,
    pub task: String,
    pub due_on: NaiveDate,
    pub assignee_id: Uuid,
    pub assignee_name: String,
    pub done_at: Option<DateTime<Utc>>,
}

pub async fn follow_ups(conn: &mut PgConnection, visit_id: Uuid) -> sqlx::Result<Vec<FollowUpRow>> {
    sqlx::query_as(
        "SELECT f.id, f.visit_id, f.task, f.due_on, f.assignee_id, u.display_name AS assignee_name, f.done_at
         FROM visit_follow_ups f JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.assignee_id
         WHERE f.visit_id = $1 ORDER BY f.due_on, f.id",
    )
    .bind(visit_id)
    .fetch_all(conn)
    .await
}

/// Marks an open follow-up done; its visit and task, or None when there is
/// no such open follow-up.
pub async fn complete_follow_up(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(Uuid, Uuid, String)>> {
    sqlx::query_as(
        "UPDATE visit_follow_ups SET done_at = now() WHERE id = $1 AND done_at IS NULL
         RETURNING visit_id, customer_id, task",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A customer's last visit done and next one planned (`$1` the customer,
/// `$2` the company's day, `tenant` the tenant's parameter) as one JSON column, for the customer page's
/// statement; read by [`last_and_next_from`].
pub fn last_and_next_query(tenant: &str) -> String {
    crate::db::json_rows(&format!(
        "{VISIT_SELECT} WHERE v.tenant_id = {tenant} AND v.id IN (
           (SELECT id FROM visits WHERE tenant_id = {tenant} AND customer_id = $1 AND status = 'done'
            ORDER BY done_on DESC, id DESC LIMIT 1)
           UNION ALL
           (SELECT id FROM visits WHERE tenant_id = {tenant} AND customer_id = $1 AND status = 'planned' AND planned_on >= $2
            ORDER BY planned_on, id LIMIT 1))"
    ))
}

/// The last and the next visit of [`last_and_next_query`]'s column.
pub fn last_and_next_from(column: serde_json::Value) -> sqlx::Result<(Option<Visit>, Option<Visit>)> {
    let visits: Vec<Visit> = crate::db::json_column("visits", column)?;
    let (done, planned): (Vec<Visit>, Vec<Visit>) = visits.into_iter().partition(|v| v.status == "done");
    Ok((done.into_iter().next(), planned.into_iter().next()))
}

/// Segments of the tenant, by name, for bulk assignment.
pub async fn segments(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as("SELECT id, name FROM segments ORDER BY name").fetch_all(conn).await
}

/// Which customers a bulk assignment is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    Customers(Vec<Uuid>),
    Segment(Uuid),
}

impl Selection {
    fn binds(&self) -> (Vec<Uuid>, Option<Uuid>) {
        match self {
            Selection::Customers(ids) => (ids.clone(), None),
            Selection::Segment(id) => (Vec::new(), Some(*id)),
        }
    }
}

/// The selected customers of the tenant $4 as a condition on `customers c`:
/// $1 the ids, $2 the segment. (The tenant is named for Citus: see
/// docs/operations.md.)
const SELECTED: &str = "c.tenant_id = $4 AND (c.id = ANY($1)
     OR c.id IN (SELECT customer_id FROM segment_members WHERE tenant_id = $4 AND segment_id = $2))";

pub async fn preview_assignment(
    conn: &mut PgConnection,
    selection: &Selection,
    target: Uuid,
) -> sqlx::Result<AssignCounts> {
    let (ids, segment) = selection.binds();
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as(&format!(
        "SELECT count(*) AS total,
                count(*) FILTER (WHERE c.account_manager_id = $3) AS already,
                count(*) FILTER (WHERE c.account_manager_id <> $3) AS other_manager,
                count(*) FILTER (WHERE c.account_manager_id IS NULL) AS unassigned
         FROM customers c WHERE {SELECTED}"
    ))
    .bind(&ids)
    .bind(segment)
    .bind(target)
    .bind(tenant_id)
    .fetch_one(conn)
    .await
}

/// Gives the selected customers the manager `target` in one statement: each
/// changed customer's version is bumped and gets its own audit entry. Returns
/// how many changed.
pub async fn apply_assignment(
    conn: &mut PgConnection,
    selection: &Selection,
    target: Uuid,
    actor: &Actor,
) -> sqlx::Result<i64> {
    let (ids, segment) = selection.binds();
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_scalar(&format!(
        "WITH old AS (
           SELECT c.tenant_id, c.id, c.account_no, c.name, c.account_manager_id FROM customers c
           WHERE {SELECTED} AND c.account_manager_id IS DISTINCT FROM $3
           FOR UPDATE
         ),
         changed AS (
           UPDATE customers c SET account_manager_id = $3, version = c.version + 1
           FROM old WHERE c.tenant_id = $4 AND c.id = old.id
           RETURNING c.tenant_id, c.id
         ),
         audited AS (
           INSERT INTO audit_log (tenant_id, id, actor_user_id, actor_label, request_id, action, entity, entity_id,
                                  summary, before, after)
           SELECT old.tenant_id, gen_random_uuid(), $5, $6, $7, 'assign_manager', 'customer', old.id,
                  old.account_no || ' ' || old.name,
                  jsonb_build_object('account_manager_id', old.account_manager_id),
                  jsonb_build_object('account_manager_id', $3)
           FROM old JOIN changed ON changed.tenant_id = old.tenant_id AND changed.id = old.id
           -- (not by COPY on Citus: docs/operations.md)
           RETURNING NULL AS not_by_copy
         )
         SELECT count(*) FROM changed"
    ))
    .bind(&ids)
    .bind(segment)
    .bind(target)
    .bind(tenant_id)
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(&actor.request_id)
    .fetch_one(conn)
    .await
}
