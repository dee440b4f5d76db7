//! The audit log: who changed what, when, with the values before and after.
//! Append-only for the application role (it has no UPDATE or DELETE grant).

pub mod pages;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::web::auth::CurrentUser;

/// Who made a change.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub label: String,
    pub request_id: Option<String>,
}

impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Self {
        Self { user_id: user.user_id, label: user.label.clone(), request_id: user.request_id.clone() }
    }
}

impl Actor {
    /// Changes made from the command line.
    pub fn command_line(what: &str) -> Self {
        Self { user_id: None, label: format!("command line: {what}"), request_id: None }
    }
}

pub struct Change<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<Uuid>,
    pub summary: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes one audit row in the caller's transaction, so the change and its
/// record commit or vanish together.
pub async fn record(conn: &mut PgConnection, actor: &Actor, change: Change<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO audit_log (tenant_id, id, actor_user_id, actor_label, request_id, action, entity, entity_id, summary, before, after)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        Uuid::now_v7(),
        actor.user_id,
        actor.label,
        actor.request_id,
        change.action,
        change.entity,
        change.entity_id,
        change.summary,
        change.before,
        change.after
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One changed field: its name and the values before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// The fields that differ between two JSON objects, in key order, as shown
/// to a person: a missing field and a null both show as empty, so a creation
/// lists only the fields that were filled in.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let a = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| FieldChange { field: k.clone(), before: show(b.get(k)), after: show(a.get(k)) })
        .collect()
}

fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|v| show(Some(v))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_label: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    pub summary: String,
    pub changes: Vec<FieldChange>,
}

pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset: entries strictly older than this (at, id).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// An audit row as read, before its changes are listed.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor_label: String,
    action: String,
    entity: String,
    entity_id: Option<Uuid>,
    summary: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            changes: diff(r.before.as_ref(), r.after.as_ref()),
            id: r.id,
            at: r.at,
            actor_label: r.actor_label,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            summary: r.summary,
        }
    }
}

const COLUMNS: &str = "id, at, actor_label, action, entity, entity_id, summary, before, after";

/// Newest first, by keyset; never counts the table.
pub async fn list(conn: &mut PgConnection, f: &AuditFilter) -> sqlx::Result<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log
         WHERE ($1::uuid IS NULL OR actor_user_id = $1)
           AND ($2::text IS NULL OR entity = $2)
           AND ($3::uuid IS NULL OR entity_id = $3)
           AND ($4::timestamptz IS NULL OR at >= $4)
           AND ($5::timestamptz IS NULL OR at < $5)
           AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7::uuid))
         ORDER BY at DESC, id DESC
         LIMIT $8"
    ))
    .bind(f.actor)
    .bind(f.entity.as_deref())
    .bind(f.entity_id)
    .bind(f.from)
    .bind(f.to)
    .bind(f.before.map(|b| b.0))
    .bind(f.before.map(|b| b.1))
    .bind(f.limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// The customer page's recent changes (`$1` the customer, `$5` the tenant): the newest five,
/// as a JSON column read by [`from_page`].
pub fn customer_page_query() -> String {
    crate::db::json_rows(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE tenant_id = $5 AND entity = 'customer' AND entity_id = $1
         ORDER BY at DESC, id DESC LIMIT 5"
    ))
}

/// The entries of [`customer_page_query`].
pub fn from_page(column: serde_json::Value) -> sqlx::Result<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = crate::db::json_column("history", column)?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_only_changed_fields() {
        let before = json!({"name": "张三", "phone": "13800000000", "tags": ["elderly"]});
        let after = json!({"name": "张三", "phone": "13900000000", "tags": ["elderly", "online_payer"]});
        let changes = diff(Some(&before), Some(&after));
        assert_eq!(
            changes,
            vec![
                FieldChange { field: "phone".into(), before: "13800000000".into(), after: "13900000000".into() },
                FieldChange { field: "tags".into(), before: "elderly".into(), after: "elderly, online_payer".into() },
            ]
        );
    }

    #[test]
    fn a_creation_shows_every_field_as_new() {
        let after = json!({"name": "李四", "capacity_kva": null});
        let changes = diff(None, Some(&after));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1], FieldChange { field: "name".into(), before: String::new(), after: "李四".into() });
    }
}
