//! The escalation job: every open contact or work order past its deadline and
//! not yet escalated goes to a supervisor (one of the item's team when there
//! is one), is marked as having missed its deadline, and the escalation is
//! recorded in its history. `serve` runs it every minute as a periodic job
//! (src/jobs); `gridcrm escalate` runs it once. Two runs at once escalate nothing twice: rows are claimed
//! with FOR UPDATE SKIP LOCKED and re-checked.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

/// Items escalated in one transaction, so a backlog never holds long locks.
const BATCH: i64 = 5000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub tenants: usize,
    pub contacts: u64,
    pub work_orders: u64,
}

struct Target {
    table: &'static str,
    item_type: &'static str,
    open: &'static str,
}

const TARGETS: [Target; 2] = [
    Target { table: "contacts", item_type: "contact", open: "state NOT IN ('resolved', 'closed')" },
    Target { table: "work_orders", item_type: "work_order", open: "completed_at IS NULL" },
];

pub async fn run(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<Report> {
    let tenants: Vec<Uuid> =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut report = Report { tenants: tenants.len(), ..Report::default() };
    for tenant in tenants {
        for target in &TARGETS {
            loop {
                let mut tx = db::begin_tenant(pool, tenant, None).await?;
                let done = escalate_batch(&mut tx, tenant, target, now).await?;
                tx.commit().await?;
                match target.item_type {
                    "contact" => report.contacts += done,
                    _ => report.work_orders += done,
                }
                if done < BATCH as u64 {
                    break;
                }
            }
        }
    }
    Ok(report)
}

async fn escalate_batch(tx: &mut db::Tx, tenant: Uuid, target: &Target, now: DateTime<Utc>) -> sqlx::Result<u64> {
    // Table and condition names are constants above, never input. Every
    // table names the tenant ($3), so that on Citus the statement, its row
    // locks included, goes to the tenant's shard.
    let sql = format!(
        r#"WITH due AS (
               SELECT id, team FROM {table}
               WHERE tenant_id = $3 AND escalated_at IS NULL AND {open} AND due_at < $1
               ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
           ), picked AS (
               SELECT due.id, (SELECT u.id FROM users u WHERE u.tenant_id = $3 AND u.role = 'supervisor' AND u.active
                               ORDER BY (u.team = due.team AND u.team <> '') DESC, u.id LIMIT 1) AS supervisor
               FROM due
           ), escalated AS (
               UPDATE {table} t SET escalated_at = $1, escalated_to = picked.supervisor, sla_breached = true
               FROM picked WHERE t.tenant_id = $3 AND t.id = picked.id
               RETURNING t.id, t.due_at, picked.supervisor
           )
           INSERT INTO service_events (tenant_id, id, item_type, item_id, at, actor_label, action, detail)
           SELECT $3, gen_random_uuid(), '{item_type}', id, $1, 'escalation job', 'escalate',
                  jsonb_build_object('due_at', due_at, 'to', supervisor)
           FROM escalated
           {not_by_copy}"#,
        table = target.table,
        open = target.open,
        item_type = target.item_type,
        not_by_copy = db::NOT_BY_COPY,
    );
    let done = sqlx::query(&sql).bind(now).bind(BATCH).bind(tenant).execute(&mut **tx).await?;
    Ok(done.rows_affected())
}
