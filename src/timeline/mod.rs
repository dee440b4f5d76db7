//! The customer timeline: every contact, order, bill, payment and notice,
//! newest first. Items carry a `notice` (a `notices::Kind` code) when they
//! are events a customer is told about: a trigger copies them into the
//! notices' outbox in the same transaction (migration 0027).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct Entry<'a> {
    pub kind: &'a str,
    pub notice: Option<&'a str>,
    pub title: &'a str,
    /// A code shown translated beside the title.
    pub status: &'a str,
    pub link: &'a str,
}

pub async fn record(conn: &mut PgConnection, customer_id: Uuid, at: DateTime<Utc>, e: Entry<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, notice, title, status, link)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8)"#,
        Uuid::now_v7(),
        customer_id,
        at,
        e.kind,
        e.notice,
        e.title,
        e.status,
        e.link
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the entry for every active customer on a reading route (the
/// customers a fault on that route affects), except `except`. Returns how many.
pub async fn record_for_route(
    conn: &mut PgConnection,
    route_id: Uuid,
    except: Option<Uuid>,
    at: DateTime<Utc>,
    e: Entry<'_>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, notice, title, status, link)
           SELECT app_tenant_id(), gen_random_uuid(), c.id, $2, $3, $4, $5, $6, $7
           FROM customers c
           WHERE c.route_id = $1 AND c.status = 'active' AND c.id IS DISTINCT FROM $8"#,
        route_id,
        at,
        e.kind,
        e.notice,
        e.title,
        e.status,
        e.link,
        except
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TimelineItem {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub notice: Option<String>,
    pub title: String,
    pub status: String,
    pub link: String,
}

/// The customer page's timeline (`$1` the customer, `$5` the tenant): its newest twenty
/// items, the timeline's rows and every notice sent or queued to the
/// customer (kind `notice`; `notice` its kind, `title` its channel, `status`
/// its status, at the time of its latest step), as a JSON column of
/// [`TimelineItem`]s.
pub fn customer_page_query() -> String {
    crate::db::json_rows(
        "SELECT at, kind, notice, title, status, link FROM (
             (SELECT at, kind, notice, title, status, link, id FROM customer_timeline
              WHERE tenant_id = $5 AND customer_id = $1 ORDER BY at DESC, id DESC LIMIT 20)
             UNION ALL
             (SELECT coalesce(delivered_at, failed_at, sent_at, created_at), 'notice', kind, channel, status, '', id
              FROM notices WHERE tenant_id = $5 AND customer_id = $1 ORDER BY created_at DESC LIMIT 20)
           ) items
           ORDER BY at DESC, id DESC LIMIT 20",
    )
}
