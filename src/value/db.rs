//! Value tiers in the database: the tenant's settings, the set-based
//! recompute (scores from `gridcrm_value_scores`, the upsert, the `vip` tag),
//! the preview of a change of settings, manual VIP designations, and the VIP list.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    db,
    value::{Inputs, Settings, TIERS, VIP_TAG},
};

/// The tenant's weights and thresholds as one JSON column (null when none
/// were saved: the defaults), for a page's statement; read by [`settings_from`].
pub fn settings_query(tenant: &str) -> String {
    format!(
        "(SELECT row_to_json(s) FROM (
    SELECT weight_consumption, weight_revenue, weight_payment, weight_importance, weight_growth,
           vip_min, high_min, medium_min, negative_arrears_days
    FROM value_settings WHERE tenant_id = {tenant}) s)"
    )
}

pub async fn settings(conn: &mut PgConnection) -> sqlx::Result<Settings> {
    // Bound, not app_tenant_id(): sent to every shard, Citus 12.1.6 loses
    // row_to_json's field names.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column =
        sqlx::query_scalar(&format!("SELECT {}", settings_query("$1"))).bind(tenant_id).fetch_one(conn).await?;
    settings_from(column)
}

/// The settings of [`settings_query`]'s column.
pub fn settings_from(column: Option<serde_json::Value>) -> sqlx::Result<Settings> {
    Ok(column.map(|c| db::json_column("value_settings", c)).transpose()?.unwrap_or_default())
}

pub async fn save_settings(conn: &mut PgConnection, s: &Settings, by: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO value_settings (tenant_id, weight_consumption, weight_revenue, weight_payment, weight_importance,
                  weight_growth, vip_min, high_min, medium_min, negative_arrears_days, updated_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (tenant_id) DO UPDATE SET weight_consumption = $1, weight_revenue = $2, weight_payment = $3,
                  weight_importance = $4, weight_growth = $5, vip_min = $6, high_min = $7, medium_min = $8,
                  negative_arrears_days = $9, updated_by = $10, updated_at = EXCLUDED.updated_at"#,
        s.weight_consumption,
        s.weight_revenue,
        s.weight_payment,
        s.weight_importance,
        s.weight_growth,
        s.vip_min,
        s.high_min,
        s.medium_min,
        s.negative_arrears_days,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecomputeReport {
    /// Customers per tier (after manual VIPs), in the order of [`TIERS`].
    pub tiers: Vec<(String, i64)>,
    /// Customers whose tier changed.
    pub changed: i64,
    /// Customers valued for the first time.
    pub added: i64,
    /// Rows written (new or with new figures); unchanged rows are left alone.
    pub written: i64,
}

impl RecomputeReport {
    pub fn count(&self, tier: &str) -> i64 {
        self.tiers.iter().find(|(t, _)| t == tier).map_or(0, |(_, n)| *n)
    }
}

/// Recomputes every customer's value in the current tenant: one statement
/// scores and upserts them all, a second pair keeps the `vip` tag on exactly
/// the customers of tier vip. A customer who carried the `vip` tag before
/// their first valuation keeps it as a manual designation.
pub async fn recompute_in(conn: &mut PgConnection) -> sqlx::Result<RecomputeReport> {
    let s = settings(conn).await?;
    // Named on every table (not left to row-level security): on a Citus
    // cluster the statement then goes to the tenant's shard, as one task.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let month = crate::tenants::current_month(conn).await?;
    // Scored first into a table of the transaction: a plain query may run in
    // parallel (reading a year or two of metrics of every customer), a
    // statement that writes may not.
    sqlx::query("SET LOCAL work_mem = '256MB'").execute(&mut *conn).await?;
    score_into(conn, "value_scored", month, &s).await?;
    sqlx::query("ANALYZE value_scored").execute(&mut *conn).await?;
    // (Checked at run time: the table of the transaction does not exist when
    // the crate compiles.) The tenant is named on every table; `EXCLUDED`'s
    // times rather than `now()` in `DO UPDATE`, which Citus refuses.
    let rows: Vec<TierCount> = sqlx::query_as(
        r#"WITH scored AS (
             SELECT s.customer_id, s.computed_tier, s.score, s.factors, s.energy_12m, s.revenue_12m, s.arrears,
                    v.customer_id IS NULL AS is_new, v.tier AS old_tier,
                    (v.computed_tier, v.score, v.factors, v.energy_12m, v.revenue_12m, v.arrears)
                      IS NOT DISTINCT FROM (s.computed_tier, s.score, s.factors, s.energy_12m, s.revenue_12m, s.arrears)
                      AS figures_same,
                    coalesce(v.manual_vip, false) AS manual_vip,
                    -- (Looked up for new customers only. As a second outer join
                    -- beside the grouping below, it crashed Citus 12.1.6's coordinator.)
                    (v.customer_id IS NULL
                     AND EXISTS (SELECT 1 FROM customer_tags t
                                 WHERE t.tenant_id = $2 AND t.customer_id = s.customer_id AND t.tag_code = $1))
                      AS carried_tag
             FROM value_scored s
             LEFT JOIN customer_values v ON v.tenant_id = $2 AND v.customer_id = s.customer_id
           ), decided AS (
             SELECT scored.*, CASE WHEN manual_vip OR carried_tag THEN 'vip' ELSE computed_tier END AS tier
             FROM scored
           ), written AS (
             INSERT INTO customer_values AS cv (tenant_id, customer_id, tier, computed_tier, score, factors, energy_12m,
                    revenue_12m, arrears, tier_changed_at, manual_vip, manual_reason, manual_by, manual_at, computed_at,
                    name, account_no, industry_code)
             SELECT $2::uuid, d.customer_id, d.tier, d.computed_tier, d.score, d.factors, d.energy_12m,
                    d.revenue_12m, d.arrears, now(), d.carried_tag,
                    CASE WHEN d.carried_tag THEN 'vip tag before value tiers' END,
                    CASE WHEN d.carried_tag THEN 'system' END, now() + CASE WHEN d.carried_tag THEN interval '0' END, now(),
                    c.name, c.account_no, c.industry_code
             FROM decided d
             JOIN customers c ON c.tenant_id = $2 AND c.id = d.customer_id
             WHERE d.is_new OR NOT d.figures_same OR d.tier IS DISTINCT FROM d.old_tier
             ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
                    tier = EXCLUDED.tier, computed_tier = EXCLUDED.computed_tier, score = EXCLUDED.score,
                    factors = EXCLUDED.factors, energy_12m = EXCLUDED.energy_12m, revenue_12m = EXCLUDED.revenue_12m,
                    arrears = EXCLUDED.arrears, computed_at = EXCLUDED.computed_at,
                    previous_tier = CASE WHEN cv.tier <> EXCLUDED.tier THEN cv.tier ELSE cv.previous_tier END,
                    tier_changed_at = CASE WHEN cv.tier <> EXCLUDED.tier THEN EXCLUDED.tier_changed_at
                                           ELSE cv.tier_changed_at END
             RETURNING 1
           )
           SELECT tier, count(*) AS customers,
                  count(*) FILTER (WHERE NOT is_new AND old_tier <> tier) AS changed,
                  count(*) FILTER (WHERE is_new) AS added,
                  (SELECT count(*) FROM written) AS written
           FROM decided GROUP BY tier"#,
    )
    .bind(VIP_TAG)
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DROP TABLE value_scored").execute(&mut *conn).await?;
    sync_vip_tag(conn).await?;
    let mut report = RecomputeReport {
        tiers: TIERS.iter().map(|t| (t.to_string(), 0)).collect(),
        written: rows.first().map_or(0, |r| r.written),
        ..Default::default()
    };
    for r in rows {
        if let Some(slot) = report.tiers.iter_mut().find(|(t, _)| *t == r.tier) {
            slot.1 = r.customers;
        }
        report.changed += r.changed;
        report.added += r.added;
    }
    Ok(report)
}

#[derive(sqlx::FromRow)]
struct TierCount {
    tier: String,
    customers: i64,
    changed: i64,
    added: i64,
    written: i64,
}

/// One notion of VIP: the `vip` tag (which the green channel follows) is on
/// the customers of tier vip and on no one else.
pub async fn sync_vip_tag(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO tags (tenant_id, code, name_zh, name_en, sort) VALUES (app_tenant_id(), $1, 'VIP客户', 'VIP', 0)
         ON CONFLICT DO NOTHING",
        VIP_TAG
    )
    .execute(&mut *conn)
    .await?;
    // The tenant named, and copied from the values' rows: on a Citus cluster
    // both statements then run on the tenant's shard (docs/operations.md).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query!(
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code)
         SELECT tenant_id, customer_id, $1 FROM customer_values WHERE tenant_id = $2 AND tier = 'vip'
         ON CONFLICT DO NOTHING",
        VIP_TAG,
        tenant_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM customer_tags t WHERE t.tenant_id = $2 AND t.tag_code = $1
           AND NOT EXISTS (SELECT 1 FROM customer_values v
                           WHERE v.tenant_id = $2 AND v.customer_id = t.customer_id AND v.tier = 'vip')",
        VIP_TAG,
        tenant_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Recomputes one tenant's tiers in a transaction of its own (the job chain
/// calls this after the metrics refresh; `gridcrm value refresh` too).
pub async fn recompute(pool: &PgPool, tenant_id: Uuid) -> anyhow::Result<RecomputeReport> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let report = recompute_in(&mut tx).await?;
    tx.commit().await?;
    Ok(report)
}

/// Scores every customer of the tenant under `s` into `table` (a constant),
/// a table of the transaction.
async fn score_into(conn: &mut PgConnection, table: &'static str, month: NaiveDate, s: &Settings) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "CREATE TEMP TABLE {table} ON COMMIT DROP AS
         SELECT * FROM gridcrm_value_scores($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(month)
    .bind(i32::from(s.weight_consumption))
    .bind(i32::from(s.weight_revenue))
    .bind(i32::from(s.weight_payment))
    .bind(i32::from(s.weight_importance))
    .bind(i32::from(s.weight_growth))
    .bind(i32::from(s.vip_min))
    .bind(i32::from(s.high_min))
    .bind(i32::from(s.medium_min))
    .bind(s.negative_arrears_days)
    .execute(conn)
    .await?;
    Ok(())
}

/// From tier (None: not valued yet), to tier, customers.
pub type TierMove = (Option<String>, String, i64);

/// How many customers would move from one tier to another under `proposed`
/// (manual VIPs stay vip): (from, to, customers), from None for customers
/// not valued yet. Only moves are listed.
pub async fn preview(conn: &mut PgConnection, proposed: &Settings) -> sqlx::Result<Vec<TierMove>> {
    let month = crate::tenants::current_month(conn).await?;
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    // Scored into a table of the transaction first, as recompute_in does: on
    // a Citus cluster the function cannot run inside a statement sent to a
    // shard. (Checked at run time: the table does not exist when the crate
    // compiles.)
    score_into(conn, "value_preview", month, proposed).await?;
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT v.tier, CASE WHEN coalesce(v.manual_vip, false) THEN 'vip' ELSE s.computed_tier END, count(*)
         FROM value_preview s
         LEFT JOIN customer_values v ON v.tenant_id = $1 AND v.customer_id = s.customer_id
         GROUP BY 1, 2
         HAVING v.tier IS DISTINCT FROM CASE WHEN coalesce(v.manual_vip, false) THEN 'vip' ELSE s.computed_tier END",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DROP TABLE value_preview").execute(&mut *conn).await?;
    Ok(rows)
}

/// A customer's stored value with the inputs that produced it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CustomerValue {
    pub customer_id: Uuid,
    pub tier: String,
    pub computed_tier: String,
    pub score: Decimal,
    pub previous_tier: Option<String>,
    pub tier_changed_at: Option<DateTime<Utc>>,
    pub manual_vip: bool,
    pub manual_reason: Option<String>,
    pub manual_by: Option<String>,
    pub manual_at: Option<DateTime<Utc>>,
    pub computed_at: DateTime<Utc>,
    pub inputs: Inputs,
}

/// A customer's stored value with its inputs (`$1` the customer, `tenant` the tenant's expression) as one JSON
/// column, null when it has none yet; money and quantities as text. Read by
/// [`value_from`]; the customer page reads it in its own statement.
pub fn value_query(tenant: &str) -> String {
    format!(
        "(SELECT row_to_json(r) FROM (
    SELECT customer_id, tier, computed_tier, score::text AS score, previous_tier, tier_changed_at, manual_vip,
           manual_reason, manual_by, manual_at, computed_at,
           json_build_object(
             'energy_12m', coalesce((factors->>'energy_12m')::numeric, 0)::text,
             'energy_pct', coalesce((factors->>'energy_pct')::numeric, 0)::text,
             'revenue_12m', coalesce((factors->>'revenue_12m')::numeric, 0)::text,
             'revenue_pct', coalesce((factors->>'revenue_pct')::numeric, 0)::text,
             'paid_on_time', coalesce((factors->>'paid_on_time')::numeric, 0)::text,
             'paid_late', coalesce((factors->>'paid_late')::numeric, 0)::text,
             'max_arrears_days', coalesce((factors->>'max_arrears_days')::integer, 0),
             'late_fees', coalesce((factors->>'late_fees')::integer, 0),
             'arrears', coalesce((factors->>'arrears')::numeric, 0)::text,
             'latest_arrears_days', coalesce((factors->>'latest_arrears_days')::integer, 0),
             'arrears_months', coalesce((factors->>'arrears_months')::integer, 0),
             'importance', factors->>'importance',
             'energy_prev_12m', (factors->>'energy_prev_12m')::numeric::text,
             'growth', (factors->>'growth')::numeric::text) AS inputs
    FROM customer_values WHERE tenant_id = {tenant} AND customer_id = $1) r)"
    )
}

pub async fn get(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Option<CustomerValue>> {
    // Named, not `app_tenant_id()`: Citus 12.1.6 loses row_to_json's field
    // names on a statement it sends to every shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column = sqlx::query_scalar(&format!("SELECT {}", value_query("$2")))
        .bind(customer_id)
        .bind(tenant_id)
        .fetch_one(conn)
        .await?;
    value_from(column)
}

/// The value of [`value_query`]'s column.
pub fn value_from(column: Option<serde_json::Value>) -> sqlx::Result<Option<CustomerValue>> {
    column.map(|c| db::json_column("value", c)).transpose()
}

/// Designates a valued customer VIP by hand. False when the customer has no
/// value yet (recompute first) — the caller says so.
pub async fn set_manual_vip(conn: &mut PgConnection, customer_id: Uuid, reason: &str, by: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE customer_values SET manual_vip = true, manual_reason = $2, manual_by = $3, manual_at = now(),
                  previous_tier = CASE WHEN tier <> 'vip' THEN tier ELSE previous_tier END,
                  tier_changed_at = greatest(tier_changed_at, now() + CASE WHEN tier <> 'vip' THEN interval '0' END),
                  tier = 'vip'
           WHERE customer_id = $1"#,
        customer_id,
        reason,
        by
    )
    .execute(&mut *conn)
    .await?;
    sync_one_vip_tag(conn, customer_id).await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a manual designation: the tier is the computed one again. False when there was none.
pub async fn clear_manual_vip(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE customer_values SET manual_vip = false, manual_reason = NULL, manual_by = NULL, manual_at = NULL,
                  previous_tier = CASE WHEN tier <> computed_tier THEN tier ELSE previous_tier END,
                  tier_changed_at = greatest(tier_changed_at,
                                             now() + CASE WHEN tier <> computed_tier THEN interval '0' END),
                  tier = computed_tier
           WHERE customer_id = $1 AND manual_vip"#,
        customer_id
    )
    .execute(&mut *conn)
    .await?;
    sync_one_vip_tag(conn, customer_id).await?;
    Ok(done.rows_affected() == 1)
}

async fn sync_one_vip_tag(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<()> {
    // As in sync_vip_tag: named and copied, for Citus.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query!(
        "INSERT INTO customer_tags (tenant_id, customer_id, tag_code)
         SELECT tenant_id, customer_id, $2 FROM customer_values WHERE tenant_id = $3 AND customer_id = $1 AND tier = 'vip'
         ON CONFLICT DO NOTHING",
        customer_id,
        VIP_TAG,
        tenant_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM customer_tags WHERE tenant_id = $3 AND customer_id = $1 AND tag_code = $2
           AND NOT EXISTS (SELECT 1 FROM customer_values WHERE tenant_id = $3 AND customer_id = $1 AND tier = 'vip')",
        customer_id,
        VIP_TAG,
        tenant_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns the VIP list sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Account,
    Industry,
    Energy,
    Revenue,
    Arrears,
    Tier,
    Score,
}

const TIER_RANK: &str =
    "(CASE v.tier WHEN 'vip' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)";
const PREVIOUS_RANK: &str =
    "(CASE v.previous_tier WHEN 'vip' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)";

impl SortKey {
    pub const ALL: [(&'static str, SortKey); 8] = [
        ("name", SortKey::Name),
        ("account", SortKey::Account),
        ("industry", SortKey::Industry),
        ("energy_12m", SortKey::Energy),
        ("revenue_12m", SortKey::Revenue),
        ("arrears", SortKey::Arrears),
        ("tier", SortKey::Tier),
        ("score", SortKey::Score),
    ];

    pub fn parse(code: &str) -> Option<SortKey> {
        Self::ALL.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)
    }

    pub fn code(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("energy_12m", |(c, _)| c)
    }

    /// Whether a cursor's key can be compared with this column.
    pub fn fits(self, key: &str) -> bool {
        match self.sql().1 {
            "numeric" => key.parse::<Decimal>().is_ok(),
            "integer" => key.parse::<i32>().is_ok(),
            _ => true,
        }
    }

    /// The SQL of the column (fixed text, never from the request) and the type its cursor value is cast to.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            // (The values keep the customer's own, migration 0067, so that these sort from an index too.)
            SortKey::Name => ("v.name", "text"),
            SortKey::Account => ("v.account_no", "text"),
            SortKey::Industry => ("v.industry_code", "text"),
            SortKey::Energy => ("v.energy_12m", "numeric"),
            SortKey::Revenue => ("v.revenue_12m", "numeric"),
            SortKey::Arrears => ("v.arrears", "numeric"),
            SortKey::Tier => (TIER_RANK, "integer"),
            SortKey::Score => ("v.score", "numeric"),
        }
    }
}

/// A checked VIP-list query.
#[derive(Clone, Debug, Default)]
pub struct VipQuery {
    /// None: every tier.
    pub tier: Option<String>,
    pub industry: Option<String>,
    pub route: Option<String>,
    pub manager: Option<Uuid>,
    pub segment: Option<Uuid>,
    /// up, down or new.
    pub movement: Option<String>,
    /// A credit grade.
    pub grade: Option<String>,
    pub sort: Option<SortKey>,
    pub descending: bool,
    /// The last row of the previous page: its sort key (as text) and id.
    pub after: Option<(String, Uuid)>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VipRow {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub industry_code: String,
    #[serde(skip)]
    pub industry_zh: Option<String>,
    #[serde(skip)]
    pub industry_en: Option<String>,
    pub manager: Option<String>,
    pub energy_12m: Decimal,
    pub revenue_12m: Decimal,
    pub arrears: Decimal,
    pub tier: String,
    pub previous_tier: Option<String>,
    pub tier_changed_at: Option<DateTime<Utc>>,
    pub score: Decimal,
    pub manual_vip: bool,
    /// The latest credit grade (None: not rated yet).
    pub credit_grade: Option<String>,
    /// The row's sort key as text, for the cursor.
    #[serde(skip)]
    pub sort_key: String,
    /// Open complaints (not resolved or closed).
    #[sqlx(default)]
    pub open_complaints: i64,
    /// Open work orders (not completed).
    #[sqlx(default)]
    pub open_orders: i64,
    #[sqlx(default)]
    pub last_visit: Option<NaiveDate>,
    #[sqlx(default)]
    pub next_visit: Option<NaiveDate>,
}

impl VipRow {
    pub fn movement(&self) -> Option<&'static str> {
        crate::value::movement(self.previous_tier.as_deref(), &self.tier)
    }
    pub fn industry_name(&self, lang: &str) -> &str {
        let name = if lang == "en" { &self.industry_en } else { &self.industry_zh };
        name.as_deref().unwrap_or(&self.industry_code)
    }
    /// The cursor of the page after this row: `<customer id>.<sort key>`.
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.customer_id, self.sort_key)
    }
}

/// Reads a cursor made by [`VipRow::cursor`].
pub fn parse_cursor(raw: &str) -> Option<(String, Uuid)> {
    let (id, key) = (raw.get(..36)?, raw.get(37..)?);
    (raw.as_bytes().get(36) == Some(&b'.')).then_some(())?;
    Some((key.to_owned(), Uuid::parse_str(id).ok()?))
}

/// A VIP row's credit grade: its customer's latest rating, the first row of
/// the rating history's primary key read backwards. `row` names the relation
/// that holds the row's `customer_id`; the tenant is `$1`.
fn credit_grade(row: &str) -> String {
    format!(
        "(SELECT cr.grade FROM credit_ratings cr
          WHERE cr.tenant_id = $1 AND cr.customer_id = {row}.customer_id
          ORDER BY cr.month DESC LIMIT 1)"
    )
}

/// One page of the VIP list (at most `limit` rows; ask for one more to know
/// whether another page follows), then the per-row extras for those customers only.
///
/// The page is chosen first from the values and their customers alone: a
/// sort by any column walks an index of the tier in either direction (the
/// values keep the customer's name, account number and industry, and the tie
/// on the customer id goes the same way, migration 0067) and stops after the
/// page; the industry and manager names and the credit grade are then read
/// for the page's rows only. (Joined before the sort, a tier of 5,000 VIPs
/// cost 5,000 look-ups of each for 50 rows shown: 50 ms at a million customers.)
/// The page and the API run it without parallel workers (`db::NO_PARALLEL_WORKERS`): with
/// them, a filter on the industry was planned as two workers joining and
/// sorting the whole tier (30 ms) instead of the walk (5 ms).
pub async fn vip_page(conn: &mut PgConnection, q: &VipQuery, limit: i64) -> sqlx::Result<Vec<VipRow>> {
    // The tenant is the first bind ($1), named on every table: on a Citus
    // cluster the statement goes to the tenant's shard whole.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let sort = q.sort.unwrap_or(SortKey::Energy);
    let (key, cast) = sort.sql();
    let dir = if q.descending { "DESC" } else { "ASC" };
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT p.*, ind.name_zh AS industry_zh, ind.name_en AS industry_en, u.display_name AS manager,
                {grade} AS credit_grade
         FROM (SELECT v.tenant_id, v.customer_id, c.account_no, c.name, c.industry_code, c.account_manager_id,
                      v.energy_12m, v.revenue_12m, v.arrears, v.tier, v.previous_tier, v.tier_changed_at, v.score,
                      v.manual_vip, ({key})::text AS sort_key, {key} AS sort_value
               FROM customer_values v
               JOIN customers c ON c.tenant_id = v.tenant_id AND c.id = v.customer_id
               WHERE v.tenant_id = ",
        grade = credit_grade("p"),
    ));
    b.push_bind(tenant_id);
    // Only the filters asked for enter the statement, so each combination gets a plan of its own.
    if let Some(tier) = &q.tier {
        b.push(" AND v.tier = ").push_bind(tier.clone());
    }
    if let Some(industry) = &q.industry {
        b.push(" AND c.industry_code = ").push_bind(industry.clone());
    }
    if let Some(grade) = &q.grade {
        b.push(format!(" AND {} = ", credit_grade("v"))).push_bind(grade.clone());
    }
    if let Some(route) = &q.route {
        b.push(" AND c.route_id = (SELECT id FROM reading_routes WHERE tenant_id = $1 AND code = ")
            .push_bind(route.clone())
            .push(")");
    }
    if let Some(manager) = q.manager {
        b.push(" AND c.account_manager_id = ").push_bind(manager);
    }
    if let Some(segment) = q.segment {
        b.push(" AND EXISTS (SELECT 1 FROM segment_members sm WHERE sm.tenant_id = $1 AND sm.segment_id = ")
            .push_bind(segment)
            .push(" AND sm.customer_id = v.customer_id)");
    }
    match q.movement.as_deref() {
        Some("new") => {
            b.push(" AND v.previous_tier IS NULL");
        }
        Some("up") => {
            b.push(format!(" AND v.previous_tier IS NOT NULL AND {TIER_RANK} > {PREVIOUS_RANK}"));
        }
        Some("down") => {
            b.push(format!(" AND v.previous_tier IS NOT NULL AND {TIER_RANK} < {PREVIOUS_RANK}"));
        }
        _ => {}
    }
    if let Some((after_key, after_id)) = &q.after {
        let op = if q.descending { "<" } else { ">" };
        b.push(format!(" AND ({key}, v.customer_id) {op} ("))
            .push_bind(after_key.clone())
            .push(format!("::{cast}, "))
            .push_bind(*after_id)
            .push(")");
    }
    b.push(format!(" ORDER BY {key} {dir}, v.customer_id {dir} LIMIT ")).push_bind(limit).push(format!(
        ") p
             LEFT JOIN industries ind ON ind.tenant_id = $1 AND ind.code = p.industry_code
             LEFT JOIN users u ON u.tenant_id = $1 AND u.id = p.account_manager_id
             ORDER BY p.sort_value {dir}, p.customer_id {dir}"
    ));
    let mut rows: Vec<VipRow> = b.build_query_as().fetch_all(&mut *conn).await?;
    add_extras(conn, tenant_id, &mut rows).await?;
    Ok(rows)
}

/// Open complaints and orders, the last visit done and the next one planned,
/// for the rows shown.
async fn add_extras(conn: &mut PgConnection, tenant_id: Uuid, rows: &mut [VipRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
    // (Each customer id qualified: a bare `id` inside a subquery is the
    // subquery's own table's id.)
    #[derive(sqlx::FromRow)]
    struct Extras {
        id: Uuid,
        complaints: i64,
        orders: i64,
        last_visit: Option<NaiveDate>,
        next_visit: Option<NaiveDate>,
    }
    let extras: Vec<Extras> = sqlx::query_as(
        "SELECT r.id,
                (SELECT count(*) FROM contacts k WHERE k.tenant_id = $2 AND k.customer_id = r.id
                   AND k.kind = 'complaint' AND k.state NOT IN ('resolved', 'closed')) AS complaints,
                (SELECT count(*) FROM work_orders w WHERE w.tenant_id = $2 AND w.customer_id = r.id
                   AND w.completed_at IS NULL) AS orders,
                (SELECT max(done_on) FROM visits s WHERE s.tenant_id = $2 AND s.customer_id = r.id
                   AND s.status = 'done') AS last_visit,
                (SELECT min(planned_on) FROM visits s WHERE s.tenant_id = $2 AND s.customer_id = r.id
                   AND s.status = 'planned' AND s.planned_on >= current_date) AS next_visit
         FROM unnest($1::uuid[]) AS r (id)",
    )
    .bind(&ids)
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    for e in extras {
        if let Some(row) = rows.iter_mut().find(|r| r.customer_id == e.id) {
            row.open_complaints = e.complaints;
            row.open_orders = e.orders;
            row.last_visit = e.last_visit;
            row.next_visit = e.next_visit;
        }
    }
    Ok(())
}

/// The segments for the VIP list's filter.
pub async fn segments(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!("SELECT id, name FROM segments ORDER BY name").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}
