//! A customer's notice preferences and opt-outs, and their recent notices.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::preferences::{Archive, Preferences};

/// The stored preference (the defaults when none was saved).
pub async fn get(conn: &mut PgConnection, customer: Uuid) -> sqlx::Result<Preferences> {
    Ok(with_recent(conn, customer, 0).await?.0)
}

/// The stored preference (the defaults when none was saved) and the
/// customer's `limit` newest notices, in one statement.
pub async fn with_recent(
    conn: &mut PgConnection,
    customer: Uuid,
    limit: i64,
) -> sqlx::Result<(Preferences, Vec<RecentNotice>)> {
    // The tenant bound, not app_tenant_id(): Citus 12.1.6's coordinator
    // crashed on this statement sent to every shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column: serde_json::Value = sqlx::query_scalar(&format!("SELECT {}", with_recent_query("$2", "$3")))
        .bind(customer)
        .bind(limit)
        .bind(tenant_id)
        .fetch_one(conn)
        .await?;
    with_recent_from(column)
}

/// [`with_recent`] as one JSON column (`$1` the customer, `limit` a
/// parameter or a number, `tenant` the tenant's expression), for a page's statement; read by [`with_recent_from`].
pub fn with_recent_query(limit: &str, tenant: &str) -> String {
    format!(
        "(SELECT row_to_json(r) FROM (
           SELECT p.customer_id IS NOT NULL AS saved, p.lang, p.email, p.sms_phone, p.wechat_openid, p.bill_content,
                  p.bill_day, p.bill_channel,
                  array(SELECT kind FROM notice_opt_outs WHERE tenant_id = {tenant} AND customer_id = $1 ORDER BY kind) AS opt_outs,
                  (SELECT coalesce(json_agg(n ORDER BY n.created_at DESC, n.id DESC), '[]')
                     FROM (SELECT id, kind, channel, status, created_at, sent_at, delivered_at, last_error
                           FROM notices WHERE tenant_id = {tenant} AND customer_id = $1
                           ORDER BY created_at DESC, id DESC LIMIT {limit}) n)
                    AS recent
           FROM (SELECT) one LEFT JOIN notice_preferences p ON p.tenant_id = {tenant} AND p.customer_id = $1) r)"
    )
}

/// The preferences and recent notices of [`with_recent_query`]'s column.
pub fn with_recent_from(column: serde_json::Value) -> sqlx::Result<(Preferences, Vec<RecentNotice>)> {
    #[derive(serde::Deserialize)]
    struct Row {
        saved: bool,
        lang: Option<String>,
        email: Option<String>,
        sms_phone: Option<String>,
        wechat_openid: Option<String>,
        bill_content: Option<String>,
        bill_day: Option<i16>,
        bill_channel: Option<String>,
        opt_outs: Vec<String>,
        recent: serde_json::Value,
    }
    let r: Row = crate::db::json_column("notice_preferences", column)?;
    let preferences = if r.saved {
        Preferences {
            lang: r.lang,
            email: r.email,
            sms_phone: r.sms_phone,
            wechat_openid: r.wechat_openid,
            opt_outs: r.opt_outs,
            bill_content: r.bill_content.unwrap_or_default(),
            bill_day: r.bill_day.map(i64::from),
            bill_channel: r.bill_channel,
        }
    } else {
        Preferences { opt_outs: r.opt_outs, bill_content: "off".into(), ..Default::default() }
    };
    Ok((preferences, crate::db::json_column("recent", r.recent)?))
}

/// How the archive reaches the customer without the preference's addresses.
pub async fn archive(conn: &mut PgConnection, customer: Uuid) -> sqlx::Result<Archive> {
    let r = sqlx::query!(
        r#"SELECT coalesce(btrim(c.phone), '') <> '' AS "has_phone!",
                  btrim(c.address) <> '' AS "has_address!",
                  EXISTS (SELECT 1 FROM customer_contacts k WHERE k.tenant_id = c.tenant_id AND k.customer_id = c.id
                          AND coalesce(btrim(k.email), '') <> '') AS "has_contact_email!"
           FROM customers c WHERE c.id = $1"#,
        customer
    )
    .fetch_one(conn)
    .await?;
    Ok(Archive { has_phone: r.has_phone, has_contact_email: r.has_contact_email, has_address: r.has_address })
}

/// Replaces the customer's preference and opt-outs with `p` (checked).
/// Opt-outs kept keep the time they were made.
pub async fn save(conn: &mut PgConnection, customer: Uuid, p: &Preferences, by: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO notice_preferences (tenant_id, customer_id, lang, email, sms_phone, wechat_openid,
                                         bill_content, bill_day, bill_channel, updated_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
             lang = EXCLUDED.lang, email = EXCLUDED.email, sms_phone = EXCLUDED.sms_phone,
             wechat_openid = EXCLUDED.wechat_openid, bill_content = EXCLUDED.bill_content,
             bill_day = EXCLUDED.bill_day, bill_channel = EXCLUDED.bill_channel,
             updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
        customer,
        p.lang,
        p.email,
        p.sms_phone,
        p.wechat_openid,
        p.bill_content,
        p.bill_day.map(|d| d as i16),
        p.bill_channel,
        by
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM notice_opt_outs WHERE customer_id = $1 AND NOT (kind = ANY($2::text[]))",
        customer,
        &p.opt_outs
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO notice_opt_outs (tenant_id, customer_id, kind, by_label)
         SELECT app_tenant_id(), $1, k, $3 FROM unnest($2::text[]) AS k
         ON CONFLICT (tenant_id, customer_id, kind) DO NOTHING",
        customer,
        &p.opt_outs,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One notice as the customer page lists it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RecentNotice {
    pub id: Uuid,
    pub kind: String,
    pub channel: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: String,
}
