//! Planned outages: the SQL and the three things staff do with one (create,
//! change, cancel). Each is one transaction with its notices (the outbox
//! principle): the outage row, the notices it causes and the audit row
//! commit together or not at all. The page and the API call these same
//! functions.
//!
//! Who is affected is decided set-based, once per announcement, into the
//! transaction's temp table `outage_affected`; the notices are made from it
//! by one `INSERT INTO notice_targets ... SELECT` per pass and
//! `notices::db::enqueue` (every affected customer on their own channels,
//! then a phone task for priority customers who have an account manager).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Kind, db,
    outages::{self, Announcement, ValidOutage},
};
use crate::{
    audit::{self, Actor, Change},
    web::{
        error::{AppError, FieldErrors},
        i18n::{I18n, Locale},
    },
};

/// A planned outage as stored, routes by their codes.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Outage {
    pub id: Uuid,
    /// The outage's number, e.g. `O00000012`.
    pub ref_no: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Reading route codes.
    pub routes: Vec<String>,
    pub transformers: Vec<String>,
    /// Address prefixes.
    pub areas: Vec<String>,
    /// `scheduled` or `cancelled`.
    pub status: String,
    /// Bumped by every change; each version is announced.
    pub version: i32,
    /// Customers affected by the current version when it was announced.
    pub affected: i32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    #[schema(ignore)]
    pub route_ids: Vec<Uuid>,
    /// Named in the statements that read around the outage, so that a Citus
    /// cluster sends them to the tenant's shard.
    #[serde(skip)]
    #[schema(ignore)]
    pub tenant_id: Uuid,
}

impl Outage {
    pub fn valid(&self) -> ValidOutage {
        ValidOutage {
            reason: self.reason.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            routes: self.routes.clone(),
            transformers: self.transformers.clone(),
            areas: self.areas.clone(),
        }
    }
    pub fn is_cancelled(&self) -> bool {
        self.status == "cancelled"
    }
}

/// A reading route, for the form.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Route {
    pub code: String,
    pub name: String,
}

pub async fn routes(conn: &mut PgConnection) -> sqlx::Result<Vec<Route>> {
    sqlx::query_as!(Route, "SELECT code, name FROM reading_routes ORDER BY code").fetch_all(conn).await
}

/// The routes' ids, or a field error on `routes` naming an unknown code.
async fn route_ids(conn: &mut PgConnection, codes: &[String]) -> Result<Vec<Uuid>, AppError> {
    let rows = sqlx::query!("SELECT id, code FROM reading_routes WHERE code = ANY($1)", codes).fetch_all(conn).await?;
    if rows.len() < codes.len() {
        let mut errors = FieldErrors::default();
        errors.add("routes", "unknown_route");
        return Err(AppError::Invalid(errors));
    }
    Ok(rows.into_iter().map(|r| r.id).collect())
}

async fn fetch(conn: &mut PgConnection, id: Uuid, lock: bool) -> sqlx::Result<Option<Outage>> {
    if lock {
        crate::db::lock_row(conn, "outages", id).await?;
    }
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        Outage,
        r#"SELECT o.id, o.ref_no, o.reason, o.starts_at, o.ends_at, o.route_ids,
                  ARRAY(SELECT r.code FROM reading_routes r WHERE r.tenant_id = $2 AND r.id = ANY(o.route_ids)
                        ORDER BY r.code) AS "routes!",
                  o.transformers, o.areas, o.status, o.version, o.affected, o.created_at, o.created_by, o.updated_at,
                  o.tenant_id
           FROM outages o WHERE o.tenant_id = $2 AND o.id = $1"#,
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Outage, AppError> {
    fetch(conn, id, false).await?.ok_or(AppError::NotFound)
}

/// One line of the list: the outage and its notices by status.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ListRow {
    pub id: Uuid,
    pub ref_no: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub version: i32,
    pub affected: i32,
    /// Whether it has yet to end (and is not cancelled).
    pub upcoming: bool,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// The outages, those yet to end first (soonest first), then the rest
/// (latest first); at most `limit`.
pub async fn list(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ListRow>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        ListRow,
        r#"SELECT o.id, o.ref_no, o.reason, o.starts_at, o.ends_at, o.status, o.version, o.affected,
                  (o.status = 'scheduled' AND o.ends_at > now()) AS "upcoming!",
                  coalesce(n.queued, 0) AS "queued!", coalesce(n.sent, 0) AS "sent!",
                  coalesce(n.failed, 0) AS "failed!", coalesce(n.cancelled, 0) AS "cancelled!"
           FROM (SELECT * FROM outages WHERE tenant_id = $2
                 ORDER BY (status = 'scheduled' AND ends_at > now()) DESC,
                          CASE WHEN status = 'scheduled' AND ends_at > now() THEN starts_at END ASC,
                          starts_at DESC
                 LIMIT $1) o
           LEFT JOIN LATERAL (
             SELECT count(*) FILTER (WHERE x.status IN ('queued', 'sending')) AS queued,
                    count(*) FILTER (WHERE x.status IN ('sent', 'delivered')) AS sent,
                    count(*) FILTER (WHERE x.status = 'failed') AS failed,
                    count(*) FILTER (WHERE x.status = 'cancelled') AS cancelled
             FROM notices x
             WHERE x.tenant_id = $2 AND x.event_ref = ANY(ARRAY(SELECT 'outage:' || o.id || ':' || v FROM generate_series(1, o.version) v)
                                     || ('outage:' || o.id || ':cancelled'))
           ) n ON true
           ORDER BY 9 DESC, CASE WHEN o.status = 'scheduled' AND o.ends_at > now() THEN o.starts_at END ASC,
                    o.starts_at DESC"#,
        limit,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// Notices of an outage (every version and the cancellation) by status and channel.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoticeCount {
    pub status: String,
    pub channel: String,
    pub count: i64,
}

pub async fn notice_counts(conn: &mut PgConnection, outage: &Outage) -> sqlx::Result<Vec<NoticeCount>> {
    let refs = outages::all_refs(outage.id, outage.version);
    sqlx::query_as!(
        NoticeCount,
        r#"SELECT status, channel, count(*) AS "count!" FROM notices WHERE event_ref = ANY($1)
           GROUP BY status, channel ORDER BY status, channel"#,
        &refs
    )
    .fetch_all(conn)
    .await
}

/// An affected customer, for the detail page.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AffectedCustomer {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub address: String,
    pub importance: Option<String>,
    pub priority: bool,
    pub manager: Option<String>,
}

/// The customers the outage reaches now, by account number, after `after`.
pub async fn affected_page(
    conn: &mut PgConnection,
    outage: &Outage,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<AffectedCustomer>> {
    sqlx::query_as!(
        AffectedCustomer,
        r#"SELECT c.id, c.account_no AS "account_no!", c.name, c.address, c.importance,
                  (coalesce(c.importance IN ('special', 'first'), false)
                   OR EXISTS (SELECT 1 FROM customer_tags t WHERE t.tenant_id = $6 AND t.customer_id = c.id
                              AND t.tag_code = 'outage_sensitive')) AS "priority!",
                  u.display_name AS "manager?"
           FROM customers c
           LEFT JOIN users u ON u.tenant_id = $6 AND u.id = c.account_manager_id
           WHERE c.tenant_id = $6 AND c.status = 'active'
             AND (c.route_id = ANY($1)
                  OR EXISTS (SELECT 1 FROM supply_points s WHERE s.tenant_id = $6 AND s.customer_id = c.id
                             AND s.status = 'in_service' AND s.transformer = ANY($2))
                  OR EXISTS (SELECT 1 FROM unnest($3::text[]) a (prefix) WHERE left(c.address, length(a.prefix)) = a.prefix))
             AND ($4::text IS NULL OR c.account_no > $4)
           ORDER BY c.account_no LIMIT $5"#,
        &outage.route_ids,
        &outage.transformers,
        &outage.areas,
        after,
        limit,
        outage.tenant_id
    )
    .fetch_all(conn)
    .await
}

// ---------------------------------------------------------------- who is affected, and telling them

/// Fills the transaction's `outage_affected` with the customers the outage
/// reaches: active, and on a listed route, or with a supply point in service
/// on a listed transformer, or with an address starting with a listed
/// prefix; each once, with whether they are a priority customer (special or
/// first grade, or tagged `outage_sensitive`) and have an account manager.
/// Returns (affected, priority).
async fn fill_affected(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    route_ids: &[Uuid],
    transformers: &[String],
    areas: &[String],
) -> sqlx::Result<(i64, i64)> {
    new_affected(conn).await?;
    // Three ways in, each skipped outright when its list is empty.
    sqlx::query(
        r#"INSERT INTO outage_affected (customer_id, priority, managed)
           SELECT c.id,
                  coalesce(c.importance IN ('special', 'first'), false)
                  OR c.id IN (SELECT t.customer_id FROM customer_tags t
                              WHERE t.tenant_id = $4 AND t.tag_code = 'outage_sensitive'),
                  c.account_manager_id IS NOT NULL
           FROM customers c
           WHERE c.tenant_id = $4 AND c.status = 'active'
             AND c.id IN (SELECT id FROM customers
                          WHERE tenant_id = $4 AND cardinality($1::uuid[]) > 0 AND route_id = ANY($1)
                          UNION
                          SELECT customer_id FROM supply_points
                          WHERE tenant_id = $4 AND cardinality($2::text[]) > 0 AND status = 'in_service'
                            AND transformer = ANY($2)
                          UNION
                          SELECT x.id FROM customers x
                          WHERE x.tenant_id = $4 AND cardinality($3::text[]) > 0
                            AND EXISTS (SELECT 1 FROM unnest($3::text[]) a (prefix)
                                        WHERE left(x.address, length(a.prefix)) = a.prefix))"#,
    )
    .bind(route_ids)
    .bind(transformers)
    .bind(areas)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE outage_affected").execute(&mut *conn).await?;
    let (all, priority): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE priority) FROM outage_affected")
            .fetch_one(&mut *conn)
            .await?;
    Ok((all, priority))
}

/// A new, empty `outage_affected` for this transaction.
async fn new_affected(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("DROP TABLE IF EXISTS outage_affected").execute(&mut *conn).await?;
    sqlx::query(
        "CREATE TEMP TABLE outage_affected (
             customer_id uuid PRIMARY KEY,
             priority    boolean NOT NULL,
             managed     boolean NOT NULL
         ) ON COMMIT DROP",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The tenant's lead days (ordinary, priority) and customers' default language.
async fn settings(conn: &mut PgConnection) -> sqlx::Result<(i32, i32, String)> {
    let row = sqlx::query!("SELECT outage_lead_days, outage_priority_days, default_lang FROM notice_settings")
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.outage_lead_days, r.outage_priority_days, r.default_lang)).unwrap_or((
        outages::DEFAULT_LEAD_DAYS,
        outages::DEFAULT_PRIORITY_DAYS,
        "zh-CN".to_owned(),
    )))
}

/// Which targets of `outage_affected` a pass takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every affected customer.
    All,
    /// Priority customers with an account manager (the phone task).
    PhoneTasks,
}

/// The fields every notice of this announcement shares. `outage_change` is
/// set per target (the customer's language decides its wording).
fn common(outage: &Outage, tz: Tz) -> serde_json::Value {
    json!({
        "outage_ref": outage.ref_no,
        "outage_start": outages::notice_time(outage.starts_at, tz),
        "outage_end": outages::notice_time(outage.ends_at, tz),
        "outage_reason": outage.reason,
        "outage_change": "",
        "date": outage.starts_at.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        "title": outage.ref_no,
    })
}

/// The marker in each language: (zh-CN, en).
fn markers(announcement: Announcement) -> (String, String) {
    match announcement.marker_key() {
        None => (String::new(), String::new()),
        Some(key) => (I18n(Locale::ZhCn).t(key), I18n(Locale::En).t(key)),
    }
}

/// Puts the targets of one pass over `outage_affected` in `notice_targets`
/// (one statement) and enqueues them. Returns the notices created.
async fn announce_pass(
    conn: &mut PgConnection,
    outage: &Outage,
    tz: Tz,
    announcement: Announcement,
    pass: Pass,
) -> sqlx::Result<u64> {
    let (lead, priority_days, default_lang) = settings(conn).await?;
    let (zh, en) = markers(announcement);
    db::prepare_targets(conn).await?;
    // The wording of `outage_change` follows the language enqueue() will
    // pick: the customer's, else the tenant's default.
    sqlx::query(
        r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
           SELECT a.customer_id, $1,
                  jsonb_build_object('outage_change', CASE coalesce(p.lang, $2) WHEN 'en' THEN $3 ELSE $4 END),
                  greatest(now(), $5 - make_interval(days => CASE WHEN a.priority THEN $6 ELSE $7 END))
           FROM outage_affected a
           LEFT JOIN notice_preferences p ON p.tenant_id = $9 AND p.customer_id = a.customer_id
           WHERE NOT $8 OR (a.priority AND a.managed)"#,
    )
    .bind(outages::event_ref(outage.id, outage.version))
    .bind(&default_lang)
    .bind(&en)
    .bind(&zh)
    .bind(outage.starts_at)
    .bind(outages::lead_days(true, lead, priority_days))
    .bind(lead)
    .bind(pass == Pass::PhoneTasks)
    .bind(outage.tenant_id)
    .execute(&mut *conn)
    .await?;
    let channels: Vec<String> = match pass {
        Pass::All => Vec::new(),
        Pass::PhoneTasks => vec!["phone".to_owned()],
    };
    db::enqueue(conn, Kind::PlannedOutage, &channels, &common(outage, tz)).await
}

/// Tells customers who were told of an earlier version (a notice sent or
/// delivered) and are not in `outage_affected` that it is off for them, at
/// once, under `event_ref`. Returns the notices created.
async fn tell_the_told(
    conn: &mut PgConnection,
    outage: &Outage,
    tz: Tz,
    earlier: &[String],
    event_ref: &str,
) -> sqlx::Result<u64> {
    let (_, _, default_lang) = settings(conn).await?;
    let (zh, en) = markers(Announcement::Cancelled);
    db::prepare_targets(conn).await?;
    sqlx::query(
        r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
           SELECT t.customer_id, $1,
                  jsonb_build_object('outage_change', CASE coalesce(p.lang, $2) WHEN 'en' THEN $3 ELSE $4 END), now()
           FROM (SELECT DISTINCT customer_id FROM notices
                 WHERE tenant_id = $6 AND event_ref = ANY($5) AND status IN ('sent', 'delivered')) t
           LEFT JOIN notice_preferences p ON p.tenant_id = $6 AND p.customer_id = t.customer_id
           LEFT JOIN outage_affected a ON a.customer_id = t.customer_id
           WHERE a.customer_id IS NULL"#,
    )
    .bind(event_ref)
    .bind(&default_lang)
    .bind(&en)
    .bind(&zh)
    .bind(earlier)
    .bind(outage.tenant_id)
    .execute(&mut *conn)
    .await?;
    db::enqueue(conn, Kind::PlannedOutage, &[], &common(outage, tz)).await
}

/// Cancels the still-queued notices of these events.
async fn cancel_queued(conn: &mut PgConnection, refs: &[String]) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE notices SET status = 'cancelled', last_error = 'outage changed or cancelled', lease_until = NULL
         WHERE event_ref = ANY($1) AND status = 'queued'",
        refs
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// What an announcement did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Announced {
    /// Customers the current version reaches.
    pub affected: i64,
    /// Of them, important or outage-sensitive.
    pub priority: i64,
    /// Notices created (customers' own channels, phone tasks and
    /// "no longer affected" or cancellation notices).
    pub notices: u64,
    /// Queued notices of earlier versions cancelled.
    pub cancelled: u64,
}

/// Announces the outage's current version to everyone it reaches.
async fn announce(
    conn: &mut PgConnection,
    outage: &mut Outage,
    tz: Tz,
    announcement: Announcement,
) -> sqlx::Result<Announced> {
    // These statements touch every affected customer once; compiling them (JIT) cost
    // more than it saved in trials at 50,000 customers (1.9 s of 11 s). This transaction only.
    sqlx::query("SELECT set_config('jit', 'off', true)").execute(&mut *conn).await?;
    let (affected, priority) =
        fill_affected(conn, outage.tenant_id, &outage.route_ids, &outage.transformers, &outage.areas).await?;
    let mut notices = announce_pass(conn, outage, tz, announcement, Pass::All).await?;
    notices += announce_pass(conn, outage, tz, announcement, Pass::PhoneTasks).await?;
    let stored = i32::try_from(affected).unwrap_or(i32::MAX);
    sqlx::query!("UPDATE outages SET affected = $2 WHERE id = $1", outage.id, stored).execute(&mut *conn).await?;
    outage.affected = stored;
    Ok(Announced { affected, priority, notices, cancelled: 0 })
}

/// Creates a planned outage and announces it, audited.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    tz: Tz,
    v: &ValidOutage,
) -> Result<(Outage, Announced), AppError> {
    let route_ids = route_ids(conn, &v.routes).await?;
    let id = Uuid::now_v7();
    let ref_no = crate::service::next_ref(conn, "O").await?;
    sqlx::query!(
        "INSERT INTO outages (tenant_id, id, ref_no, reason, starts_at, ends_at, route_ids, transformers, areas, created_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id,
        ref_no,
        v.reason,
        v.starts_at,
        v.ends_at,
        &route_ids,
        &v.transformers,
        &v.areas,
        actor.label
    )
    .execute(&mut *conn)
    .await?;
    let mut outage = fetch(conn, id, false).await?.ok_or(AppError::NotFound)?;
    let announced = announce(conn, &mut outage, tz, Announcement::First).await?;
    let change = Change {
        action: "create",
        entity: "outage",
        entity_id: Some(id),
        summary: format!("{} {}", outage.ref_no, outage.reason),
        before: None,
        after: Some(json!({ "outage": v, "affected": announced.affected, "notices": announced.notices })),
    };
    audit::record(conn, actor, change).await?;
    Ok((outage, announced))
}

/// Changes an outage: a new version, announced to everyone it reaches now;
/// the queued notices of older versions are cancelled, and customers told
/// of an older version whom it no longer reaches are told it is off for
/// them. Nothing changed: nothing happens (`None`). 409 when cancelled.
pub async fn change(
    conn: &mut PgConnection,
    actor: &Actor,
    tz: Tz,
    id: Uuid,
    v: &ValidOutage,
) -> Result<(Outage, Option<Announced>), AppError> {
    let before = fetch(conn, id, true).await?.ok_or(AppError::NotFound)?;
    if before.is_cancelled() {
        return Err(AppError::Conflict("outage_cancelled"));
    }
    if !outages::changed(&before.valid(), v) {
        return Ok((before, None));
    }
    let route_ids = route_ids(conn, &v.routes).await?;
    sqlx::query!(
        "UPDATE outages SET reason = $2, starts_at = $3, ends_at = $4, route_ids = $5, transformers = $6, areas = $7,
                version = version + 1, updated_at = now()
         WHERE id = $1",
        id,
        v.reason,
        v.starts_at,
        v.ends_at,
        &route_ids,
        &v.transformers,
        &v.areas
    )
    .execute(&mut *conn)
    .await?;
    let mut outage = fetch(conn, id, false).await?.ok_or(AppError::NotFound)?;
    let earlier: Vec<String> = (1..outage.version).map(|n| outages::event_ref(id, n)).collect();
    let cancelled = cancel_queued(conn, &earlier).await?;
    let mut announced = announce(conn, &mut outage, tz, Announcement::Changed).await?;
    announced.cancelled = cancelled;
    let now_ref = outages::event_ref(id, outage.version);
    announced.notices += tell_the_told(conn, &outage, tz, &earlier, &now_ref).await?;
    let change = Change {
        action: "update",
        entity: "outage",
        entity_id: Some(id),
        summary: format!("{} v{}", outage.ref_no, outage.version),
        before: Some(json!(before.valid())),
        after: Some(json!({ "outage": v, "version": outage.version, "affected": announced.affected,
                            "notices": announced.notices, "cancelled_notices": cancelled })),
    };
    audit::record(conn, actor, change).await?;
    Ok((outage, Some(announced)))
}

/// Cancels an outage: its queued notices are cancelled, and the customers
/// already told (a notice sent or delivered) are told it is off. Those
/// never told hear nothing. 409 when it is cancelled already.
pub async fn cancel(conn: &mut PgConnection, actor: &Actor, tz: Tz, id: Uuid) -> Result<(Outage, Announced), AppError> {
    let before = fetch(conn, id, true).await?.ok_or(AppError::NotFound)?;
    if before.is_cancelled() {
        return Err(AppError::Conflict("outage_cancelled"));
    }
    sqlx::query!("UPDATE outages SET status = 'cancelled', updated_at = now() WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    let outage = fetch(conn, id, false).await?.ok_or(AppError::NotFound)?;
    let versions: Vec<String> = (1..=outage.version).map(|n| outages::event_ref(id, n)).collect();
    let cancelled = cancel_queued(conn, &versions).await?;
    // Nobody is affected any more: everyone told hears of the cancellation.
    new_affected(conn).await?;
    let notices = tell_the_told(conn, &outage, tz, &versions, &outages::cancel_ref(id)).await?;
    let change = Change {
        action: "cancel",
        entity: "outage",
        entity_id: Some(id),
        summary: outage.ref_no.clone(),
        before: Some(json!({ "status": before.status, "version": before.version })),
        after: Some(json!({ "status": "cancelled", "notices": notices, "cancelled_notices": cancelled })),
    };
    audit::record(conn, actor, change).await?;
    let affected = i64::from(outage.affected);
    Ok((outage, Announced { affected, priority: 0, notices, cancelled }))
}

/// How many of the customers the outage reaches now are priority customers.
pub async fn priority_count(conn: &mut PgConnection, outage: &Outage) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM customers c
           WHERE c.tenant_id = $4 AND c.status = 'active'
             AND (c.importance IN ('special', 'first')
                  OR c.id IN (SELECT t.customer_id FROM customer_tags t
                              WHERE t.tenant_id = $4 AND t.tag_code = 'outage_sensitive'))
             AND (c.route_id = ANY($1)
                  OR EXISTS (SELECT 1 FROM supply_points s WHERE s.tenant_id = $4 AND s.customer_id = c.id
                             AND s.status = 'in_service' AND s.transformer = ANY($2))
                  OR EXISTS (SELECT 1 FROM unnest($3::text[]) a (prefix) WHERE left(c.address, length(a.prefix)) = a.prefix))"#,
        &outage.route_ids,
        &outage.transformers,
        &outage.areas,
        outage.tenant_id
    )
    .fetch_one(conn)
    .await
}
