//! SQL for editing the reference lists and the reading routes. Every function
//! runs in the caller's transaction, under the tenant's row-level security.
//! The list tables are named by `RefList::table` (one of five fixed names).

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::customers::reference::{RefItem, RefList, ValidCode, ValidRoute};

/// The list's entry `code`, locked for a change.
pub async fn lock_item(conn: &mut PgConnection, list: RefList, code: &str) -> sqlx::Result<Option<RefItem>> {
    // The tenant named, as db::lock_row explains.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let sql = format!(
        "SELECT code, name_zh, name_en, retired_at IS NOT NULL AS retired FROM {}
         WHERE tenant_id = $2 AND code = $1 FOR UPDATE",
        list.table()
    );
    sqlx::query_as(&sql).bind(code).bind(tenant_id).fetch_optional(conn).await
}

/// Adds a code at the end of the list; false when the list has it already
/// (retired or not).
pub async fn insert(conn: &mut PgConnection, list: RefList, code: &ValidCode) -> sqlx::Result<bool> {
    // INSERT ... SELECT, not a subquery in VALUES: Citus refuses those. The
    // tenant named, and what was inserted returned: otherwise Citus reads
    // max(sort) from every shard and counts the row it selected as inserted.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let sql = format!(
        "INSERT INTO {0} (tenant_id, code, name_zh, name_en, sort)
         SELECT $4, $1, $2, $3, COALESCE(max(sort), 0) + 1 FROM {0} WHERE tenant_id = $4
         ON CONFLICT DO NOTHING
         RETURNING code",
        list.table()
    );
    let added: Option<String> = sqlx::query_scalar(&sql)
        .bind(&code.code)
        .bind(&code.name_zh)
        .bind(&code.name_en)
        .bind(tenant_id)
        .fetch_optional(conn)
        .await?;
    Ok(added.is_some())
}

pub async fn rename(conn: &mut PgConnection, list: RefList, code: &str, names: &ValidCode) -> sqlx::Result<()> {
    let sql = format!("UPDATE {} SET name_zh = $2, name_en = $3 WHERE code = $1", list.table());
    sqlx::query(&sql).bind(code).bind(&names.name_zh).bind(&names.name_en).execute(conn).await?;
    Ok(())
}

pub async fn set_retired(conn: &mut PgConnection, list: RefList, code: &str, retired: bool) -> sqlx::Result<()> {
    // now() outside the CASE (NULL when brought back): Citus refuses now()
    // inside a CASE or COALESCE of a write.
    let sql =
        format!("UPDATE {} SET retired_at = now() + CASE WHEN $2 THEN interval '0' END WHERE code = $1", list.table());
    sqlx::query(&sql).bind(code).bind(retired).execute(conn).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// A customer, supply point, bill or other record refers to the code.
    #[error("the code is in use")]
    InUse,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Deletes a code nothing refers to. The foreign keys decide "in use", so a
/// table that starts referring to a list later is covered without a change
/// here; the failed statement ends the caller's transaction.
pub async fn delete(conn: &mut PgConnection, list: RefList, code: &str) -> Result<(), DeleteError> {
    let sql = format!("DELETE FROM {} WHERE code = $1", list.table());
    match sqlx::query(&sql).bind(code).execute(conn).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23503") => Err(DeleteError::InUse),
        Err(e) => Err(e.into()),
    }
}

/// A reading route with its schedule and readers.
#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// The reading day of the month (1–28), if the route has a fixed one.
    pub reader_day: Option<i16>,
    pub retired: bool,
    pub reader_ids: Vec<Uuid>,
    pub reader_names: Vec<String>,
}

impl Route {
    /// What the audit log records of a route.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code, "name": self.name, "reader_day": self.reader_day,
            "retired": self.retired, "readers": self.reader_names,
        })
    }
}

/// The routes (retired ones too), by code, or only the one `id`.
pub async fn routes(conn: &mut PgConnection, id: Option<Uuid>) -> sqlx::Result<Vec<Route>> {
    sqlx::query_as!(
        Route,
        r#"SELECT r.id, r.code, r.name, r.reader_day, r.retired_at IS NOT NULL AS "retired!",
                  COALESCE(array_agg(u.id ORDER BY u.display_name, u.id) FILTER (WHERE u.id IS NOT NULL), '{}') AS "reader_ids!",
                  COALESCE(array_agg(u.display_name ORDER BY u.display_name, u.id) FILTER (WHERE u.id IS NOT NULL), '{}') AS "reader_names!"
           FROM reading_routes r
           LEFT JOIN reading_route_readers rr ON rr.tenant_id = r.tenant_id AND rr.route_id = r.id
           LEFT JOIN users u ON u.tenant_id = rr.tenant_id AND u.id = rr.user_id
           WHERE $1::uuid IS NULL OR r.id = $1
           GROUP BY r.id, r.code, r.name, r.reader_day, r.retired_at
           ORDER BY r.code"#,
        id
    )
    .fetch_all(conn)
    .await
}

pub async fn route(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Route>> {
    Ok(routes(conn, Some(id)).await?.pop())
}

/// Locks a route for a change; false when there is none.
pub async fn lock_route(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    crate::db::lock_row(conn, "reading_routes", id).await
}

/// Adds a route; None when the code is taken.
pub async fn insert_route(conn: &mut PgConnection, route: &ValidRoute) -> sqlx::Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let done = sqlx::query!(
        "INSERT INTO reading_routes (tenant_id, id, code, name, reader_day) VALUES (app_tenant_id(), $1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        id,
        route.code,
        route.name,
        route.reader_day
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    set_readers(conn, id, &route.readers).await?;
    Ok(Some(id))
}

/// Changes a route's name, day and readers (its code is fixed: bills and
/// filters name it).
pub async fn update_route(conn: &mut PgConnection, id: Uuid, route: &ValidRoute) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE reading_routes SET name = $2, reader_day = $3 WHERE id = $1",
        id,
        route.name,
        route.reader_day
    )
    .execute(&mut *conn)
    .await?;
    set_readers(conn, id, &route.readers).await
}

async fn set_readers(conn: &mut PgConnection, id: Uuid, readers: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM reading_route_readers WHERE route_id = $1 AND NOT user_id = ANY($2)", id, readers)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO reading_route_readers (tenant_id, route_id, user_id)
         SELECT app_tenant_id(), $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
        id,
        readers
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_route_retired(conn: &mut PgConnection, id: Uuid, retired: bool) -> sqlx::Result<()> {
    // now() outside the CASE, as in set_retired.
    sqlx::query!(
        "UPDATE reading_routes SET retired_at = now() + CASE WHEN $2 THEN interval '0' END WHERE id = $1",
        id,
        retired
    )
    .execute(conn)
    .await?;
    Ok(())
}
