//! Segments in the database: saving definitions (with an optimistic
//! version), previewing them, recomputing membership set-based with the
//! joined/left diff of each run, and reading members and runs.
//!
//! Reusing a segment as a filter elsewhere (VIP list, bulk assignment):
//! join its members by the primary key, e.g.
//! `EXISTS (SELECT 1 FROM segment_members sm WHERE sm.tenant_id = c.tenant_id
//!  AND sm.segment_id = $n AND sm.customer_id = c.id)`, after checking the
//! segment exists with [`exists`] (another tenant's id is simply not found).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, postgres::PgArguments};
use uuid::Uuid;

use crate::segments::filter::{self, Compiled, DefinitionError};

/// How many customers a preview shows.
pub const SAMPLE: i64 = 20;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The condition tree (see the segments page for its grammar).
    #[schema(value_type = Object)]
    pub definition: Value,
    /// `daily` (recomputed by the scheduled job) or `manual`.
    pub schedule: String,
    pub version: i32,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    /// Members after the last run (0 before the first).
    pub members: i32,
    pub last_run_at: Option<DateTime<Utc>>,
    /// Joined and left in the last run.
    pub joined: i32,
    pub left_count: i32,
}

const SEGMENT_COLUMNS: &str =
    "s.id, s.name, s.description, s.definition, s.schedule, s.version, s.created_by, s.updated_at,
    coalesce(r.members, 0) AS members, r.run_at AS last_run_at, coalesce(r.joined, 0) AS joined,
    coalesce(r.left_count, 0) AS left_count
    FROM segments s
    LEFT JOIN LATERAL (SELECT run_at, members, joined, left_count FROM segment_runs x
                       WHERE x.tenant_id = s.tenant_id AND x.segment_id = s.id ORDER BY run_at DESC LIMIT 1) r ON true";

pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<Segment>> {
    sqlx::query_as(&format!("SELECT {SEGMENT_COLUMNS} ORDER BY s.name")).fetch_all(conn).await
}

/// The segment, or `RowNotFound` (404) — also for another tenant's id.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Segment> {
    sqlx::query_as(&format!("SELECT {SEGMENT_COLUMNS} WHERE s.id = $1")).bind(id).fetch_one(conn).await
}

pub async fn exists(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM segments WHERE id = $1)").bind(id).fetch_one(conn).await
}

/// What a person edits.
#[derive(Clone, Debug)]
pub struct SegmentInput {
    pub name: String,
    pub description: String,
    pub definition: Value,
    pub schedule: String,
}

pub enum Saved {
    Ok(Uuid),
    /// Another segment has this name.
    NameTaken,
    /// Changed by someone else since the form was loaded.
    Stale,
}

pub async fn create(conn: &mut PgConnection, input: &SegmentInput, by: &str) -> sqlx::Result<Saved> {
    let id = Uuid::now_v7();
    let result = sqlx::query(
        "INSERT INTO segments (tenant_id, id, name, description, definition, schedule, created_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.description)
    .bind(&input.definition)
    .bind(&input.schedule)
    .bind(by)
    .execute(conn)
    .await;
    name_taken(result.map(|_| Saved::Ok(id)))
}

pub async fn update(conn: &mut PgConnection, id: Uuid, version: i32, input: &SegmentInput) -> sqlx::Result<Saved> {
    let result = sqlx::query(
        "UPDATE segments SET name = $3, description = $4, definition = $5, schedule = $6, version = version + 1
         WHERE id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(&input.name)
    .bind(&input.description)
    .bind(&input.definition)
    .bind(&input.schedule)
    .execute(conn)
    .await;
    name_taken(result.map(|r| if r.rows_affected() == 1 { Saved::Ok(id) } else { Saved::Stale }))
}

fn name_taken(result: sqlx::Result<Saved>) -> sqlx::Result<Saved> {
    match result {
        Err(e) if crate::db::violated_constraint(&e) == Some("segments_tenant_id_name_key") => Ok(Saved::NameTaken),
        other => other,
    }
}

/// Deletes the segment with its members and runs; false when there was none.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    // Changes reference runs and members reference the segment; both cascade.
    Ok(sqlx::query("DELETE FROM segments WHERE id = $1").bind(id).execute(conn).await?.rows_affected() == 1)
}

/// A customer as segment lists show them.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemberRow {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub class_code: String,
    pub industry_code: String,
    /// The account manager's display name.
    pub manager: Option<String>,
    /// Since when the customer is a member (absent in a preview).
    pub since: Option<DateTime<Utc>>,
}

/// The definition compiled with the tenant as `$1` and its own parameters
/// from `$2`, and the arguments bound.
fn compile(definition: &Value, today: NaiveDate, tenant_id: Uuid) -> Result<(Compiled, PgArguments), DefinitionError> {
    use sqlx::Arguments;
    let compiled = filter::compile_definition(definition, today, 2, "$1")?;
    let mut args = PgArguments::default();
    args.add(tenant_id).expect("a uuid encodes");
    compiled.bind_into(&mut args).expect("segment parameters encode");
    Ok((compiled, args))
}

/// How many customers a definition selects now, and the first [`SAMPLE`] of
/// them by account number; nothing is saved.
pub async fn preview(
    conn: &mut PgConnection,
    definition: &Value,
    today: NaiveDate,
) -> Result<Result<(i64, Vec<MemberRow>), DefinitionError>, sqlx::Error> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let (compiled, args) = match compile(definition, today, tenant_id) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let count: i64 = sqlx::query_scalar_with(
        &format!("SELECT count(*) FROM {} WHERE c.tenant_id = $1 AND {}", compiled.from, compiled.sql),
        args,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (_, args) = compile(definition, today, tenant_id).expect("compiled above");
    let sample: Vec<MemberRow> = sqlx::query_as_with(
        &format!(
            "SELECT c.id AS customer_id, c.account_no, c.name, c.class_code, c.industry_code, u.display_name AS manager,
                    NULL::timestamptz AS since
             FROM {} LEFT JOIN users u ON u.tenant_id = $1 AND u.id = c.account_manager_id
             WHERE c.tenant_id = $1 AND {} ORDER BY c.account_no LIMIT {SAMPLE}",
            compiled.from, compiled.sql
        ),
        args,
    )
    .fetch_all(conn)
    .await?;
    Ok(Ok((count, sample)))
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub run_at: DateTime<Utc>,
    pub members: i32,
    pub joined: i32,
    pub left_count: i32,
}

/// Recomputes one segment's membership in the caller's transaction: the
/// customers the definition selects now become the members (new ones with
/// `since` now, the others keep theirs), and a run records the counts and
/// who joined and who left. Set-based: three statements whatever the size.
pub async fn recompute(conn: &mut PgConnection, id: Uuid, today: NaiveDate) -> anyhow::Result<Run> {
    // The row lock makes two recomputes of one segment wait for each other.
    crate::db::lock_row(conn, "segments", id).await?;
    let definition: Value =
        sqlx::query_scalar("SELECT definition FROM segments WHERE id = $1").bind(id).fetch_one(&mut *conn).await?;
    let run_id = Uuid::now_v7();
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    // $1 segment, $2 run, $3 tenant, then the definition's own.
    let compiled = filter::compile_definition(&definition, today, 4, "$3")?;
    sqlx::query(
        "INSERT INTO segment_runs (tenant_id, id, segment_id, members, joined, left_count)
         VALUES (app_tenant_id(), $1, $2, 0, 0, 0)",
    )
    .bind(run_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let mut args = PgArguments::default();
    {
        use sqlx::Arguments;
        args.add(id).map_err(anyhow::Error::msg)?;
        args.add(run_id).map_err(anyhow::Error::msg)?;
        args.add(tenant_id).map_err(anyhow::Error::msg)?;
    }
    compiled.bind_into(&mut args).map_err(anyhow::Error::msg)?;
    let (members, joined, left): (i64, i64, i64) = sqlx::query_as_with(
        &format!(
            "WITH target AS MATERIALIZED (SELECT c.id FROM {} WHERE c.tenant_id = $3 AND {}),
             gone AS (
               DELETE FROM segment_members sm WHERE sm.tenant_id = $3 AND sm.segment_id = $1
                 AND NOT EXISTS (SELECT 1 FROM target t WHERE t.id = sm.customer_id)
               RETURNING sm.customer_id),
             added AS (
               INSERT INTO segment_members (tenant_id, segment_id, customer_id, since)
               SELECT $3, $1, t.id, now() FROM target t
               WHERE NOT EXISTS (SELECT 1 FROM segment_members sm
                                 WHERE sm.tenant_id = $3 AND sm.segment_id = $1 AND sm.customer_id = t.id)
               RETURNING customer_id),
             -- Data-modifying CTEs run whether or not the query reads them.
             changes AS (
               INSERT INTO segment_changes (tenant_id, run_id, customer_id, change)
               SELECT $3, $2, customer_id, 'joined' FROM added
               UNION ALL SELECT $3, $2, customer_id, 'left' FROM gone
               RETURNING 1)
             SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM added), (SELECT count(*) FROM gone)
",
            compiled.from, compiled.sql
        ),
        args,
    )
    .fetch_one(&mut *conn)
    .await?;
    let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    let run: Run = sqlx::query_as(
        "UPDATE segment_runs SET members = $2, joined = $3, left_count = $4 WHERE id = $1
         RETURNING id, run_at, members, joined, left_count",
    )
    .bind(run_id)
    .bind(to_i32(members))
    .bind(to_i32(joined))
    .bind(to_i32(left))
    .fetch_one(conn)
    .await?;
    Ok(run)
}

/// Recomputes every segment of a tenant (only the daily ones when
/// `only_scheduled`), each in its own transaction; returns how many ran.
/// A segment whose definition no longer compiles is logged and skipped.
pub async fn recompute_all(pool: &PgPool, tenant_id: Uuid, only_scheduled: bool) -> anyhow::Result<usize> {
    recompute_all_with(pool, tenant_id, only_scheduled, |_, _| {}).await
}

/// [`recompute_all`], reporting each segment done (`done`, `total`) for a progress bar.
pub async fn recompute_all_with(
    pool: &PgPool,
    tenant_id: Uuid,
    only_scheduled: bool,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
    let (ids, time_zone): (Vec<Uuid>, String) = (
        sqlx::query_scalar("SELECT id FROM segments WHERE NOT $1 OR schedule = 'daily' ORDER BY name")
            .bind(only_scheduled)
            .fetch_all(&mut *tx)
            .await?,
        sqlx::query_scalar("SELECT time_zone FROM tenants WHERE id = $1").bind(tenant_id).fetch_one(&mut *tx).await?,
    );
    tx.commit().await?;
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let mut done = 0;
    for (i, id) in ids.iter().enumerate() {
        let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
        match recompute(&mut tx, *id, today).await {
            Ok(_) => {
                tx.commit().await?;
                done += 1;
            }
            Err(e) if e.is::<DefinitionError>() => {
                tracing::warn!(segment = %id, error = %e, "segment definition does not compile; skipped");
            }
            Err(e) => return Err(e),
        }
        progress(i + 1, ids.len());
    }
    Ok(done)
}

/// The segment's runs, newest first.
pub async fn runs(conn: &mut PgConnection, id: Uuid, limit: i64) -> sqlx::Result<Vec<Run>> {
    sqlx::query_as(
        "SELECT id, run_at, members, joined, left_count FROM segment_runs WHERE segment_id = $1
         ORDER BY run_at DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Who joined or left in a run.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ChangeRow {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub change: String,
}

pub async fn changes(conn: &mut PgConnection, run_id: Uuid, limit: i64) -> sqlx::Result<Vec<ChangeRow>> {
    sqlx::query_as(
        "SELECT ch.customer_id, c.account_no, c.name, ch.change
         FROM segment_changes ch JOIN customers c ON c.tenant_id = ch.tenant_id AND c.id = ch.customer_id
         WHERE ch.run_id = $1 ORDER BY ch.change, c.account_no LIMIT $2",
    )
    .bind(run_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Members in account-number order after `after` (keyset), at most `limit`.
pub async fn members(conn: &mut PgConnection, id: Uuid, after: &str, limit: i64) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as(
        "SELECT c.id AS customer_id, c.account_no, c.name, c.class_code, c.industry_code,
                u.display_name AS manager, sm.since
         FROM segment_members sm
         JOIN customers c ON c.tenant_id = sm.tenant_id AND c.id = sm.customer_id
         LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id
         WHERE sm.segment_id = $1 AND c.account_no > $2
         ORDER BY c.account_no LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Members as the customer search lists them, in account-number order after
/// `after`, at most `limit` (the customer list's segment filter).
pub async fn member_summaries(
    conn: &mut PgConnection,
    id: Uuid,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<crate::customers::db::CustomerSummary>> {
    /// id, account_no, name, class_code, address, phone, status
    type Row = (Uuid, String, String, String, String, Option<String>, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.id, c.account_no, c.name, c.class_code, c.address, c.phone, c.status
         FROM segment_members sm JOIN customers c ON c.tenant_id = sm.tenant_id AND c.id = sm.customer_id
         WHERE sm.segment_id = $1 AND c.account_no > $2 ORDER BY c.account_no LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, account_no, name, class_code, address, phone, status)| crate::customers::db::CustomerSummary {
            id,
            account_no,
            name,
            class_code,
            address,
            phone,
            status,
        })
        .collect())
}

/// Keeps only the customers that are members of the segment (by primary key).
pub async fn retain_members(
    conn: &mut PgConnection,
    id: Uuid,
    customers: &mut Vec<crate::customers::db::CustomerSummary>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let members: std::collections::HashSet<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM segment_members WHERE segment_id = $1 AND customer_id = ANY($2)")
            .bind(id)
            .bind(&ids)
            .fetch_all(conn)
            .await?
            .into_iter()
            .collect();
    customers.retain(|c| members.contains(&c.id));
    Ok(())
}
