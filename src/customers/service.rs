//! Creating and changing customers: validate, write, audit — one path for the
//! pages and the API alike.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    customers::{
        db::{self, Customer, WriteError},
        model::{self, CustomerDraft},
    },
    web::error::{AppError, FieldErrors},
};

#[derive(Debug)]
pub enum SaveError {
    Invalid(FieldErrors),
    Stale,
    /// A patch asked for another account number: it is fixed once issued.
    AccountNoFixed,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for SaveError {
    fn from(err: sqlx::Error) -> Self {
        SaveError::Db(err)
    }
}

impl From<WriteError> for SaveError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::AccountNoTaken => {
                let mut errors = FieldErrors::default();
                errors.add("account_no", "account_no_taken");
                SaveError::Invalid(errors)
            }
            WriteError::StaleVersion => SaveError::Stale,
            WriteError::Db(e) => SaveError::Db(e),
        }
    }
}

impl From<SaveError> for AppError {
    fn from(err: SaveError) -> Self {
        match err {
            SaveError::Invalid(errors) => AppError::Invalid(errors),
            SaveError::Stale => AppError::Conflict("stale_version"),
            SaveError::AccountNoFixed => AppError::Conflict("account_no_fixed"),
            SaveError::Db(e) => e.into(),
        }
    }
}

pub async fn create(conn: &mut PgConnection, actor: &Actor, draft: &CustomerDraft) -> Result<Customer, SaveError> {
    let allowed = db::load_allowed(conn).await?;
    let valid = model::validate(draft, &allowed).map_err(SaveError::Invalid)?;
    let (id, account_no) = db::insert(conn, &valid).await?;
    let customer = db::get(conn, id).await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "create",
            entity: "customer",
            entity_id: Some(id),
            summary: format!("{account_no} {}", customer.name),
            before: None,
            after: Some(customer.snapshot()),
        },
    )
    .await?;
    Ok(customer)
}

/// Applies `patch` to the customer. When the patch names a version, the
/// customer must still be at it (someone else's edit is never overwritten).
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    patch: CustomerDraft,
) -> Result<Customer, SaveError> {
    let current = db::get(conn, id).await?;
    if patch.version.is_some_and(|v| v != current.version) {
        return Err(SaveError::Stale);
    }
    let mut allowed = db::load_allowed(conn).await?;
    // A retired code the customer already has stays allowed on it.
    let current_draft = current.to_draft();
    allowed.keep_current(&current_draft);
    // The account number is fixed once issued: a patch may leave it blank or
    // repeat it, not change it (a conflict with the customer as it is).
    let asked = patch.account_no.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if asked.is_some_and(|a| a != current.account_no) {
        return Err(SaveError::AccountNoFixed);
    }
    let merged = current_draft.apply(CustomerDraft { account_no: None, ..patch });
    let valid = model::validate(&merged, &allowed).map_err(SaveError::Invalid)?;
    db::update(conn, id, current.version, &valid).await?;
    let updated = db::get(conn, id).await?;
    let (before, after) = (current.snapshot(), updated.snapshot());
    if before != after {
        audit::record(
            conn,
            actor,
            Change {
                action: "update",
                entity: "customer",
                entity_id: Some(id),
                summary: format!("{} {}", updated.account_no, updated.name),
                before: Some(before),
                after: Some(after),
            },
        )
        .await?;
    }
    Ok(updated)
}

/// Writes the search keys a bulk import deferred, for one tenant: batches of
/// 10,000 customers, each its own transaction, so that what is written stays
/// written if the process stops (a server's job takes up the rest).
/// `progress` is told the customers done and how many were waiting.
pub async fn write_deferred_search_keys(
    pool: &sqlx::PgPool,
    tenant: Uuid,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> sqlx::Result<u64> {
    const BATCH: i64 = 10_000;
    let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
    let waiting = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM search_key_backlog"#).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let waiting = u64::try_from(waiting).unwrap_or(0);
    let mut written = 0;
    loop {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        let batch = db::search_key_backlog(&mut tx, tenant, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        db::write_search_keys(&mut tx, &batch).await?;
        tx.commit().await?;
        written += batch.len() as u64;
        progress(written, waiting.max(written));
    }
    Ok(written)
}

/// [`write_deferred_search_keys`] for every tenant (the job, every minute).
pub async fn write_deferred_search_keys_everywhere(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut written = 0;
    for tenant in tenants {
        written += write_deferred_search_keys(pool, tenant, &|_, _| {}).await?;
    }
    Ok(written)
}

/// Writes the pinyin initials of names that have none yet: the customers
/// that were in the archive before search by initials (migration 0045), or
/// that a script inserted with SQL alone. Batches of 5,000, each its own
/// transaction per tenant; returns how many names were filled.
pub async fn fill_name_initials(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    const BATCH: i64 = 5_000;
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut filled = 0;
    for tenant in tenants {
        loop {
            let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
            let missing = db::names_without_initials(&mut tx, BATCH).await?;
            let initials: Vec<String> = missing.iter().map(|(_, name)| super::search::initials(name)).collect();
            let ids: Vec<Uuid> = missing.iter().map(|(id, _)| *id).collect();
            db::set_name_initials(&mut tx, &ids, &initials).await?;
            tx.commit().await?;
            filled += ids.len() as u64;
            if (ids.len() as i64) < BATCH {
                break;
            }
        }
    }
    Ok(filled)
}
