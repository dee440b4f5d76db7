//! Work orders in the database. Reads go through the `work_order_rows` view
//! (security invoker: the caller's row-level security applies).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{service::ClockColumns, sla::RunningClock, work_orders::model::ValidWorkOrder};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WorkOrder {
    pub id: Uuid,
    pub ref_no: String,
    pub kind: String,
    pub workflow: String,
    pub state: String,
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub customer_account_no: Option<String>,
    pub supply_point_id: Option<Uuid>,
    pub supply_point_code: Option<String>,
    pub title: String,
    pub description: String,
    /// 1 urgent, 2 high, 3 normal, 4 low.
    pub priority: i16,
    /// VIP or important customer: sorted first and supervised.
    pub green_channel: bool,
    pub supervised_by_name: Option<String>,
    pub supervised_at: Option<DateTime<Utc>>,
    pub supervision_note: String,
    pub address: String,
    pub latitude: Option<Decimal>,
    pub longitude: Option<Decimal>,
    pub area_type: Option<String>,
    pub affected_route_id: Option<Uuid>,
    pub affected_route_code: Option<String>,
    pub affected_transformer: String,
    pub affected_area: String,
    pub crew: String,
    pub customer_type: Option<String>,
    pub requested_capacity_kva: Option<Decimal>,
    pub documents: Vec<String>,
    pub supply_plan: String,
    pub plan_confirmed_by: String,
    pub plan_confirmed_at: Option<DateTime<Utc>>,
    pub owner_id: Option<Uuid>,
    pub owner_name: Option<String>,
    pub team: String,
    pub created_at: DateTime<Utc>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub clock: Option<String>,
    pub clock_started_at: Option<DateTime<Utc>>,
    pub clock_limit_minutes: Option<i32>,
    pub clock_working_time: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub sla_breached: bool,
    pub escalated_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl WorkOrder {
    pub fn running_clock(&self) -> Option<RunningClock> {
        ClockColumns::running(self.clock_started_at, self.clock_limit_minutes, self.clock_working_time)
    }
}

pub const COLUMNS: &str = "id, ref_no, kind, workflow, state, customer_id, customer_name, customer_account_no, \
    supply_point_id, supply_point_code, title, description, priority, green_channel, supervised_by_name, \
    supervised_at, supervision_note, address, latitude, longitude, area_type, affected_route_id, affected_route_code, \
    affected_transformer, affected_area, crew, customer_type, requested_capacity_kva, documents, supply_plan, \
    plan_confirmed_by, plan_confirmed_at, owner_id, owner_name, team, created_at, arrived_at, restored_at, \
    completed_at, clock, clock_started_at, clock_limit_minutes, clock_working_time, due_at, sla_breached, \
    escalated_at, version";

pub struct NewWorkOrder<'a> {
    pub id: Uuid,
    pub ref_no: &'a str,
    pub order: &'a ValidWorkOrder,
    pub state: &'a str,
    pub affected_route_id: Option<Uuid>,
    pub green_channel: bool,
    pub owner_id: Option<Uuid>,
    pub team: &'a str,
    pub created_at: DateTime<Utc>,
    pub created_month: NaiveDate,
    pub clock: ClockColumns,
    pub created_by: Option<Uuid>,
}

pub async fn insert(conn: &mut PgConnection, n: NewWorkOrder<'_>) -> sqlx::Result<()> {
    let o = n.order;
    sqlx::query!(
        r#"INSERT INTO work_orders (tenant_id, id, ref_no, kind, state, customer_id, supply_point_id, title, description,
                                    priority, green_channel, address, latitude, longitude, area_type, affected_route_id,
                                    affected_transformer, affected_area, customer_type, requested_capacity_kva,
                                    owner_id, team, created_at, created_month, clock, clock_started_at,
                                    clock_limit_minutes, clock_working_time, due_at, created_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                   $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"#,
        n.id,
        n.ref_no,
        o.kind,
        n.state,
        o.customer_id,
        o.supply_point_id,
        o.title,
        o.description,
        o.priority,
        n.green_channel,
        o.address,
        o.latitude,
        o.longitude,
        o.area_type,
        n.affected_route_id,
        o.affected_transformer,
        o.affected_area,
        o.customer_type,
        o.requested_capacity_kva,
        n.owner_id,
        n.team,
        n.created_at,
        n.created_month,
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

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<WorkOrder> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM work_order_rows WHERE id = $1")).bind(id).fetch_one(conn).await
}

pub async fn lock(conn: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("SELECT id FROM work_orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant_id, id)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// The customer page's open orders (`$1` the customer, `$5` the tenant), newest first, as a
/// JSON column of [`WorkOrder`]s.
pub fn customer_page_query() -> String {
    let columns = crate::db::exact_decimals(COLUMNS, &["latitude", "longitude", "requested_capacity_kva"]);
    crate::db::json_rows(&format!(
        "SELECT {columns} FROM work_order_rows WHERE tenant_id = $5 AND customer_id = $1 AND completed_at IS NULL
         ORDER BY created_at DESC LIMIT 100"
    ))
}

/// Open orders a person owns, green channel and most urgent first.
pub async fn owned_open(conn: &mut PgConnection, owner: Uuid) -> sqlx::Result<Vec<WorkOrder>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM work_order_rows WHERE owner_id = $1 AND completed_at IS NULL
         ORDER BY green_channel DESC, priority, due_at NULLS LAST LIMIT 200"
    ))
    .bind(owner)
    .fetch_all(conn)
    .await
}

/// A page of a person's open orders, filtered: the overdue first, then green
/// channel, priority and deadline; one row more than a page.
pub async fn owned_open_page(
    conn: &mut PgConnection,
    owner: Uuid,
    f: &crate::service::queue::QueueFilter,
) -> sqlx::Result<Vec<WorkOrder>> {
    let mut q = sqlx::QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM work_order_rows WHERE completed_at IS NULL AND owner_id = "
    ));
    q.push_bind(owner);
    f.push_conditions(&mut q);
    q.push(
        " ORDER BY coalesce(due_at < now(), false) DESC, green_channel DESC, priority, due_at NULLS LAST, id LIMIT ",
    )
    .push_bind(crate::service::queue::PAGE_ROWS as i64 + 1)
    .push(" OFFSET ")
    .push_bind(f.offset());
    q.build_query_as().fetch_all(conn).await
}

/// A person's open orders and how many of them are overdue, each counted up to the cap.
pub async fn owned_open_counts(conn: &mut PgConnection, owner: Uuid, cap: i64) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "open!", count(*) FILTER (WHERE due_at < now()) AS "overdue!"
           FROM (SELECT due_at FROM work_orders WHERE owner_id = $1 AND completed_at IS NULL LIMIT $2) o"#,
        owner,
        cap
    )
    .fetch_one(conn)
    .await?;
    Ok((row.open, row.overdue))
}

/// Orders for the API, newest first, keyset-paged by reference number.
pub async fn search(
    conn: &mut PgConnection,
    customer_id: Option<Uuid>,
    kind: Option<&str>,
    state: Option<&str>,
    before_ref: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<WorkOrder>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM work_order_rows
         WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR kind = $2)
           AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR ref_no < $4)
         ORDER BY ref_no DESC LIMIT $5"
    ))
    .bind(customer_id)
    .bind(kind)
    .bind(state)
    .bind(before_ref)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// What a step writes besides the state.
#[derive(Default)]
pub struct StepColumns<'a> {
    pub crew: Option<&'a str>,
    pub documents: Option<&'a [String]>,
    pub supply_plan: Option<&'a str>,
    pub plan_confirmed_by: Option<&'a str>,
    pub plan_confirmed_at: Option<DateTime<Utc>>,
    pub supply_point_id: Option<Uuid>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub struct StateChange<'a> {
    pub id: Uuid,
    pub version: i32,
    pub state: &'a str,
    /// None keeps the running clock.
    pub clock: Option<ClockColumns>,
    pub breached: bool,
    pub owner: Option<(Uuid, &'a str)>,
    pub step: StepColumns<'a>,
}

/// Writes a change of state; false when the version moved on meanwhile.
pub async fn change_state(conn: &mut PgConnection, s: StateChange<'_>) -> sqlx::Result<bool> {
    let keep_clock = s.clock.is_none();
    let clock = s.clock.unwrap_or_default();
    let step = &s.step;
    let done = sqlx::query!(
        r#"UPDATE work_orders SET
             state = $3,
             clock = CASE WHEN $4 THEN clock ELSE $5 END,
             clock_started_at = CASE WHEN $4 THEN clock_started_at ELSE $6 END,
             clock_limit_minutes = CASE WHEN $4 THEN clock_limit_minutes ELSE $7 END,
             clock_working_time = CASE WHEN $4 THEN clock_working_time ELSE $8 END,
             due_at = CASE WHEN $4 THEN due_at ELSE $9 END,
             escalated_at = CASE WHEN $4 THEN escalated_at ELSE NULL END,
             sla_breached = sla_breached OR $10,
             owner_id = coalesce($11, owner_id),
             team = coalesce($12, team),
             crew = coalesce($13, crew),
             documents = coalesce($14, documents),
             supply_plan = coalesce($15, supply_plan),
             plan_confirmed_by = coalesce($16, plan_confirmed_by),
             plan_confirmed_at = coalesce($17, plan_confirmed_at),
             supply_point_id = coalesce($18, supply_point_id),
             arrived_at = coalesce($19, arrived_at),
             restored_at = coalesce($20, restored_at),
             completed_at = coalesce($21, completed_at),
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
        s.owner.map(|o| o.0),
        s.owner.map(|o| o.1),
        step.crew,
        step.documents,
        step.supply_plan,
        step.plan_confirmed_by,
        step.plan_confirmed_at,
        step.supply_point_id,
        step.arrived_at,
        step.restored_at,
        step.completed_at
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_owner(conn: &mut PgConnection, id: Uuid, version: i32, owner: Uuid, team: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE work_orders SET owner_id = $3, team = $4, version = version + 1 WHERE id = $1 AND version = $2",
        id,
        version,
        owner,
        team
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a supervisor's instruction (督办) on the order.
pub async fn supervise(conn: &mut PgConnection, id: Uuid, by: Option<Uuid>, note: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE work_orders SET supervised_by = $2, supervised_at = now(), supervision_note = $3, version = version + 1
         WHERE id = $1",
        id,
        by,
        note
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer's importance grade and tags, for the green channel.
pub async fn customer_standing(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> sqlx::Result<Option<(Option<String>, Vec<String>)>> {
    let row = sqlx::query!(
        r#"SELECT c.importance, coalesce(array_agg(t.tag_code) FILTER (WHERE t.tag_code IS NOT NULL), '{}') AS "tags!"
           FROM customers c LEFT JOIN customer_tags t ON t.tenant_id = c.tenant_id AND t.customer_id = c.id
           WHERE c.id = $1 GROUP BY c.id, c.importance"#,
        customer_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.importance, r.tags)))
}

/// The supply point, if it exists and belongs to the customer.
pub async fn supply_point_of(
    conn: &mut PgConnection,
    id: Uuid,
    customer_id: Uuid,
) -> sqlx::Result<Option<(Uuid, Option<Decimal>)>> {
    let row =
        sqlx::query!("SELECT id, capacity_kva FROM supply_points WHERE id = $1 AND customer_id = $2", id, customer_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| (r.id, r.capacity_kva)))
}

/// A customer's supply points in service, as (id, code, capacity in kVA) for choosing one.
pub async fn supply_points_of(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Vec<(Uuid, String, String)>> {
    let rows = sqlx::query!(
        r#"SELECT id, code, coalesce(capacity_kva::text, '') AS "capacity!" FROM supply_points
           WHERE customer_id = $1 AND status <> 'removed' ORDER BY code"#,
        customer_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.code, r.capacity)).collect())
}

pub async fn set_capacity(conn: &mut PgConnection, supply_point_id: Uuid, capacity: Decimal) -> sqlx::Result<()> {
    sqlx::query!("UPDATE supply_points SET capacity_kva = $2 WHERE id = $1", supply_point_id, capacity)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn route_by_code(conn: &mut PgConnection, code: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM reading_routes WHERE code = $1", code).fetch_optional(conn).await
}

/// Adds the working time an expansion spent in a stage to the monthly roll-up.
pub async fn add_stage_time(
    conn: &mut PgConnection,
    month: NaiveDate,
    customer_type: &str,
    stage: &str,
    working_minutes: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO expansion_stage_stats AS s (tenant_id, month, customer_type, stage, finished, working_minutes)
           VALUES (app_tenant_id(), $1, $2, $3, 1, $4)
           ON CONFLICT (tenant_id, month, customer_type, stage) DO UPDATE
           SET finished = s.finished + 1, working_minutes = s.working_minutes + excluded.working_minutes"#,
        month,
        customer_type,
        stage,
        working_minutes
    )
    .execute(conn)
    .await?;
    Ok(())
}
