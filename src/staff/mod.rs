//! Staff users, roles and permissions, passwords and API keys.

pub mod api_keys;
pub mod db;
pub mod lockout;
pub mod login;
pub mod model;
pub mod pages;

pub use crate::web::access::{Permission, Role};

use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{self, Actor, Change};

/// What the audit log records of a user (never the password).
pub fn user_snapshot(
    username: &str,
    display_name: &str,
    team: &str,
    role: Role,
    active: bool,
    locale: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({"username": username, "display_name": display_name, "team": team, "role": role.as_str(), "active": active, "locale": locale})
}

/// Creates a user and records it in the audit log; a taken username comes
/// back as `Ok(None)` with nothing written.
pub async fn create_user(conn: &mut PgConnection, actor: &Actor, new: db::NewUser<'_>) -> sqlx::Result<Option<Uuid>> {
    let after = user_snapshot(new.username, new.display_name, new.team, new.role, true, new.locale);
    let username = new.username.to_owned();
    let Some(id) = db::create_user(conn, new).await? else {
        return Ok(None);
    };
    let change = Change {
        action: "create",
        entity: "user",
        entity_id: Some(id),
        summary: username,
        before: None,
        after: Some(after),
    };
    audit::record(conn, actor, change).await?;
    Ok(Some(id))
}

/// Creates an API key, audited; returns the key, which is shown only once.
pub async fn create_api_key(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    name: &str,
    role: Role,
) -> sqlx::Result<String> {
    let (id, key) = db::create_api_key(conn, tenant_id, name, role).await?;
    let after = serde_json::json!({"name": name, "role": role.as_str()});
    let change = Change {
        action: "create",
        entity: "api_key",
        entity_id: Some(id),
        summary: name.to_owned(),
        before: None,
        after: Some(after),
    };
    audit::record(conn, actor, change).await?;
    Ok(key)
}
