//! The rules and the delivery settings, stored.

use chrono::{DateTime, NaiveTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::rules::{NewRule, Settings};

/// A rule as the rules page lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RuleRow {
    pub id: Uuid,
    pub kind: String,
    pub audience: String,
    /// The segment's name, the route's code, or the transformer or area.
    pub audience_label: String,
    pub offset_minutes: i32,
    pub channels: Vec<String>,
    pub enabled: bool,
    pub since: DateTime<Utc>,
    pub updated_by: String,
    /// Notices it made (by event reference; broadcasts included).
    pub notices: i64,
}

pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<RuleRow>> {
    // The tenant named on every table, for Citus (docs/operations.md).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as(
        r#"SELECT r.id, r.kind, r.audience,
                  coalesce(s.name, rr.code, r.audience_text) AS audience_label,
                  r.offset_minutes, r.channels, r.enabled, r.since, r.updated_by,
                  (SELECT count(*) FROM notices n WHERE n.tenant_id = $1 AND n.kind = r.kind) AS notices
           FROM notice_rules r
           LEFT JOIN segments s ON s.tenant_id = $1 AND s.id = r.segment_id
           LEFT JOIN reading_routes rr ON rr.tenant_id = $1 AND rr.id = r.route_id
           WHERE r.tenant_id = $1
           ORDER BY r.kind, r.created_at"#,
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RuleRow>> {
    Ok(list(conn).await?.into_iter().find(|r| r.id == id))
}

/// Adds a rule. `None` when its segment or route is not the tenant's.
pub async fn add(conn: &mut PgConnection, rule: &NewRule, by: &str) -> sqlx::Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        r#"INSERT INTO notice_rules (tenant_id, id, kind, audience, segment_id, route_id, audience_text,
                                    offset_minutes, channels, since, updated_by)
           SELECT app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
           WHERE ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM segments WHERE id = $4))
             AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM reading_routes WHERE id = $5))
           -- (not by COPY on Citus: docs/operations.md)
           RETURNING NULL AS not_by_copy"#,
    )
    .bind(id)
    .bind(rule.kind)
    .bind(rule.audience)
    .bind(rule.segment_id)
    .bind(rule.route_id)
    .bind(&rule.audience_text)
    .bind(rule.offset_minutes)
    .bind(&rule.channels)
    .bind(rule.since)
    .bind(by)
    .execute(conn)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(id))
}

/// Turns a rule on or off; turning it on again starts it from now, so that
/// the events of the time it was off are not all sent at once (a start set
/// for later stays). `now()` stays outside the `CASE`, for Citus
/// (docs/operations.md).
pub async fn set_enabled(conn: &mut PgConnection, id: Uuid, enabled: bool, by: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE notice_rules SET enabled = $2, updated_by = $3,
                since = greatest(since, now() + CASE WHEN $2 AND NOT enabled THEN interval '0' END)
         WHERE id = $1",
    )
    .bind(id)
    .bind(enabled)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM notice_rules WHERE id = $1").bind(id).execute(conn).await?.rows_affected() == 1)
}

pub async fn settings(conn: &mut PgConnection) -> sqlx::Result<Settings> {
    let row: Option<(NaiveTime, NaiveTime, i32, i32, String)> = sqlx::query_as(
        "SELECT quiet_from, quiet_to, outage_lead_days, outage_priority_days, default_lang FROM notice_settings",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|(quiet_from, quiet_to, outage_lead_days, outage_priority_days, default_lang)| Settings {
            quiet_from,
            quiet_to,
            outage_lead_days,
            outage_priority_days,
            default_lang,
        })
        .unwrap_or_default())
}

pub async fn save_settings(conn: &mut PgConnection, s: &Settings, by: &str) -> sqlx::Result<()> {
    sqlx::query(
        r#"INSERT INTO notice_settings (tenant_id, quiet_from, quiet_to, outage_lead_days, outage_priority_days,
                                       default_lang, updated_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id) DO UPDATE SET quiet_from = $1, quiet_to = $2, outage_lead_days = $3,
               outage_priority_days = $4, default_lang = $5, updated_by = $6, updated_at = EXCLUDED.updated_at"#,
    )
    .bind(s.quiet_from)
    .bind(s.quiet_to)
    .bind(s.outage_lead_days)
    .bind(s.outage_priority_days)
    .bind(&s.default_lang)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// The reading routes, for the rule form's choice.
pub async fn routes(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String, String)>> {
    sqlx::query_as("SELECT id, code, name FROM reading_routes ORDER BY code").fetch_all(conn).await
}
