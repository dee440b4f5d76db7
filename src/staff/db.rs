//! Staff SQL: users, sessions and API keys. Every function runs inside a
//! tenant-scoped transaction, so it only ever sees that tenant's rows.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    staff::{Role, lockout::LockState},
    web::password,
};

pub struct LoginCandidate {
    pub id: Uuid,
    pub password_hash: String,
    pub active: bool,
    pub display_name: String,
    pub lock: LockState,
    pub last_login_address: Option<String>,
    /// The database's clock, which the lock's times are on.
    pub now: DateTime<Utc>,
}

/// The user signing in, row-locked until the transaction ends, so that
/// concurrent wrong passwords are all counted.
/// (The tenant named, not left to row-level security alone: on a Citus
/// cluster a row lock needs a query that goes to one shard.)
pub async fn find_for_login(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    username: &str,
) -> sqlx::Result<Option<LoginCandidate>> {
    let row = sqlx::query!(
        r#"SELECT id, password_hash, active, display_name, failed_logins, successive_locks, locked_until,
                  last_login_address, now() AS "now!"
           FROM users WHERE tenant_id = $1 AND username = $2 FOR UPDATE"#,
        tenant_id,
        username
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| LoginCandidate {
        id: r.id,
        password_hash: r.password_hash,
        active: r.active,
        display_name: r.display_name,
        lock: LockState {
            failed_logins: r.failed_logins,
            successive_locks: r.successive_locks,
            locked_until: r.locked_until,
        },
        last_login_address: r.last_login_address,
        now: r.now,
    }))
}

/// Stores the failure count and lock that a wrong password led to
/// ([`crate::staff::lockout::LockPolicy::after_failure`]).
pub async fn record_failed_login(conn: &mut PgConnection, user_id: Uuid, lock: &LockState) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE users SET failed_logins = $2, successive_locks = $3, locked_until = $4 WHERE id = $1",
        user_id,
        lock.failed_logins,
        lock.successive_locks,
        lock.locked_until
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts a session after a good password: clears the failures and locks,
/// remembers the address as the user's last good one, and returns the cookie
/// token. The token is new at every login.
pub async fn start_session(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    address: &str,
    absolute_hours: i64,
) -> sqlx::Result<String> {
    sqlx::query!(
        "UPDATE users SET failed_logins = 0, successive_locks = 0, locked_until = NULL, last_login_address = $2
         WHERE id = $1",
        user_id,
        address
    )
    .execute(&mut *conn)
    .await?;
    // Housekeeping: this user's expired sessions go.
    sqlx::query!("DELETE FROM sessions WHERE user_id = $1 AND expires_at < now()", user_id).execute(&mut *conn).await?;
    let secret = password::random_token();
    sqlx::query!(
        r#"INSERT INTO sessions (tenant_id, id, token_hash, user_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6))"#,
        tenant_id,
        Uuid::now_v7(),
        password::sha256(&secret),
        user_id,
        password::random_token(),
        absolute_hours as i32
    )
    .execute(conn)
    .await?;
    Ok(crate::web::auth::make_token(tenant_id, &secret))
}

pub async fn end_session(conn: &mut PgConnection, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE id = $1", session_id).execute(conn).await?;
    Ok(())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct StaffUser {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub team: String,
    pub role: String,
    pub locale: Option<String>,
    pub active: bool,
    pub locked: bool,
    pub created_at: DateTime<Utc>,
}

impl StaffUser {
    pub fn role_key(&self) -> String {
        format!("role.{}", self.role)
    }
}

pub async fn list_users(conn: &mut PgConnection) -> sqlx::Result<Vec<StaffUser>> {
    sqlx::query_as!(
        StaffUser,
        r#"SELECT id, username, display_name, team, role, locale, active, created_at,
                  coalesce(locked_until > now(), false) AS "locked!"
           FROM users ORDER BY active DESC, role, username"#
    )
    .fetch_all(conn)
    .await
}

pub async fn get_user(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<StaffUser> {
    sqlx::query_as!(
        StaffUser,
        r#"SELECT id, username, display_name, team, role, locale, active, created_at,
                  coalesce(locked_until > now(), false) AS "locked!"
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_one(conn)
    .await
}

/// Users who may be assigned customers, for the account-manager picker.
pub async fn list_account_managers(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        "SELECT id, display_name FROM users WHERE role = 'account_manager' AND active ORDER BY display_name"
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.display_name)).collect())
}

/// Active staff of the tenant, for handover and assignment pickers.
pub async fn list_active(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        "SELECT id, display_name, team FROM users WHERE active AND role <> 'platform_admin' ORDER BY team, display_name"
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, if r.team.is_empty() { r.display_name } else { format!("{} ({})", r.display_name, r.team) }))
        .collect())
}

pub struct NewUser<'a> {
    pub tenant_id: Uuid,
    pub username: &'a str,
    pub display_name: &'a str,
    /// A business hall or repair base; '' for none.
    pub team: &'a str,
    pub role: Role,
    pub password: &'a str,
    pub locale: Option<&'a str>,
}

/// Inserts a user; a taken username comes back as `Ok(None)`. Callers other
/// than seeding go through [`crate::staff::create_user`], which audits.
pub async fn create_user(conn: &mut PgConnection, user: NewUser<'_>) -> sqlx::Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let hash = password::hash(user.password);
    let inserted = sqlx::query!(
        r#"INSERT INTO users (tenant_id, id, username, display_name, role, password_hash, locale, team)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, username) DO NOTHING"#,
        user.tenant_id,
        id,
        user.username,
        user.display_name,
        user.role.as_str(),
        hash,
        user.locale,
        user.team
    )
    .execute(conn)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(id))
}

pub struct UserChanges<'a> {
    pub display_name: &'a str,
    pub team: &'a str,
    pub role: Role,
    pub active: bool,
    pub locale: Option<&'a str>,
    pub new_password: Option<&'a str>,
    pub unlock: bool,
}

pub async fn update_user(conn: &mut PgConnection, id: Uuid, changes: UserChanges<'_>) -> sqlx::Result<()> {
    let hash = changes.new_password.map(password::hash);
    sqlx::query!(
        r#"UPDATE users SET display_name = $2, role = $3, active = $4, locale = $5,
               password_hash = coalesce($6, password_hash),
               failed_logins = CASE WHEN $7 THEN 0 ELSE failed_logins END,
               successive_locks = CASE WHEN $7 THEN 0 ELSE successive_locks END,
               locked_until = CASE WHEN $7 THEN NULL ELSE locked_until END,
               team = $8
           WHERE id = $1"#,
        id,
        changes.display_name,
        changes.role.as_str(),
        changes.active,
        changes.locale,
        hash,
        changes.unlock,
        changes.team
    )
    .execute(&mut *conn)
    .await?;
    if !changes.active || changes.new_password.is_some() {
        // A deactivated user, or one whose password was reset, is signed out everywhere.
        sqlx::query!("DELETE FROM sessions WHERE user_id = $1", id).execute(conn).await?;
    }
    Ok(())
}

pub async fn set_locale(conn: &mut PgConnection, id: Uuid, locale: &str) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET locale = $2 WHERE id = $1", id, locale).execute(conn).await?;
    Ok(())
}

/// Creates an API key and returns it in full; only its hash is kept.
pub async fn create_api_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
    role: Role,
) -> sqlx::Result<(Uuid, String)> {
    let secret = password::random_token();
    let key = format!("{}{}", crate::web::auth::API_KEY_PREFIX, crate::web::auth::make_token(tenant_id, &secret));
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, role) VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        id,
        name,
        format!("{}…{}", crate::web::auth::API_KEY_PREFIX, &secret[..6]),
        password::sha256(&secret),
        role.as_str()
    )
    .execute(conn)
    .await?;
    Ok((id, key))
}

#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    pub fn role_key(&self) -> String {
        format!("role.{}", self.role)
    }
}

pub async fn list_api_keys(conn: &mut PgConnection) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as!(
        ApiKeyRow,
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at FROM api_keys
         ORDER BY revoked_at IS NOT NULL, created_at DESC"
    )
    .fetch_all(conn)
    .await
}

/// Revokes a key; returns its name, or `RowNotFound` if it is not this tenant's or already revoked.
pub async fn revoke_api_key(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING name",
        id
    )
    .fetch_one(conn)
    .await
}
