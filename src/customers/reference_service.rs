//! Editing the reference lists and reading routes: each action checks, writes
//! and records its audit entry in the caller's transaction, so the change and
//! its record commit or vanish together.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    customers::{
        reference::{CodeForm, RefList, RouteForm, check_code, check_route},
        reference_db::{self as db, DeleteError},
    },
    staff::db as staff_db,
    web::error::{AppError, FieldErrors},
};

const CODE_ENTITY: &str = "reference_code";

fn summary(list: RefList, code: &str) -> String {
    format!("{} {code}", list.slug())
}

pub async fn add_code(conn: &mut PgConnection, actor: &Actor, list: RefList, form: &CodeForm) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    let code = check_code(form, true)?;
    if !db::insert(conn, list, &code).await? {
        let mut errors = FieldErrors::default();
        errors.add("code", "reference_code_taken");
        return Err(errors.into());
    }
    let change = Change {
        action: "create",
        entity: CODE_ENTITY,
        entity_id: None,
        summary: summary(list, &code.code),
        before: None,
        after: Some(
            json!({ "list": list.slug(), "code": code.code, "name_zh": code.name_zh, "name_en": code.name_en }),
        ),
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}

pub async fn rename_code(
    conn: &mut PgConnection,
    actor: &Actor,
    list: RefList,
    code: &str,
    form: &CodeForm,
) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    let names = check_code(form, false)?;
    let before = db::lock_item(conn, list, code).await?.ok_or(AppError::NotFound)?;
    if (before.name_zh.as_str(), before.name_en.as_str()) == (names.name_zh.as_str(), names.name_en.as_str()) {
        return Ok(());
    }
    db::rename(conn, list, code, &names).await?;
    let change = Change {
        action: "update",
        entity: CODE_ENTITY,
        entity_id: None,
        summary: summary(list, code),
        before: Some(json!({ "name_zh": before.name_zh, "name_en": before.name_en })),
        after: Some(json!({ "name_zh": names.name_zh, "name_en": names.name_en })),
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}

/// Retires a code (`retired`) or brings it back. Asking for the state it is
/// in already changes nothing and records nothing.
pub async fn retire_code(
    conn: &mut PgConnection,
    actor: &Actor,
    list: RefList,
    code: &str,
    retired: bool,
) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    let before = db::lock_item(conn, list, code).await?.ok_or(AppError::NotFound)?;
    if before.retired == retired {
        return Ok(());
    }
    db::set_retired(conn, list, code, retired).await?;
    let change = Change {
        action: if retired { "retire" } else { "unretire" },
        entity: CODE_ENTITY,
        entity_id: None,
        summary: summary(list, code),
        before: Some(json!({ "retired": before.retired })),
        after: Some(json!({ "retired": retired })),
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}

/// Deletes a code nothing uses; one in use is refused (`reference_in_use`:
/// retire it instead).
pub async fn delete_code(conn: &mut PgConnection, actor: &Actor, list: RefList, code: &str) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    let before = db::lock_item(conn, list, code).await?.ok_or(AppError::NotFound)?;
    match db::delete(conn, list, code).await {
        Ok(()) => {}
        Err(DeleteError::InUse) => return Err(AppError::Conflict("reference_in_use")),
        Err(DeleteError::Db(e)) => return Err(e.into()),
    }
    let change = Change {
        action: "delete",
        entity: CODE_ENTITY,
        entity_id: None,
        summary: summary(list, code),
        before: Some(
            json!({ "list": list.slug(), "code": before.code, "name_zh": before.name_zh, "name_en": before.name_en }),
        ),
        after: None,
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}

/// The staff who may read a route: the company's active users.
async fn staff_ids(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    Ok(staff_db::list_active(conn).await?.into_iter().map(|(id, _)| id).collect())
}

pub async fn add_route(conn: &mut PgConnection, actor: &Actor, form: &RouteForm) -> Result<Uuid, AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    let staff = staff_ids(conn).await?;
    let route = check_route(form, true, &staff)?;
    let Some(id) = db::insert_route(conn, &route).await? else {
        let mut errors = FieldErrors::default();
        errors.add("code", "route_code_taken");
        return Err(errors.into());
    };
    let after = db::route(conn, id).await?.expect("the route just added");
    let change = Change {
        action: "create",
        entity: "reading_route",
        entity_id: Some(id),
        summary: format!("{} {}", after.code, after.name),
        before: None,
        after: Some(after.snapshot()),
    };
    audit::record(conn, actor, change).await?;
    Ok(id)
}

/// Changes a route's name, reading day and readers; its code stays.
pub async fn edit_route(conn: &mut PgConnection, actor: &Actor, id: Uuid, form: &RouteForm) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    if !db::lock_route(conn, id).await? {
        return Err(AppError::NotFound);
    }
    let staff = staff_ids(conn).await?;
    let before = db::route(conn, id).await?.ok_or(AppError::NotFound)?;
    // A reader who has since left stays on the route until taken off.
    let staff: Vec<Uuid> = staff.into_iter().chain(before.reader_ids.iter().copied()).collect();
    let route = check_route(form, false, &staff)?;
    db::update_route(conn, id, &route).await?;
    let after = db::route(conn, id).await?.ok_or(AppError::NotFound)?;
    if before.snapshot() != after.snapshot() {
        let change = Change {
            action: "update",
            entity: "reading_route",
            entity_id: Some(id),
            summary: format!("{} {}", after.code, after.name),
            before: Some(before.snapshot()),
            after: Some(after.snapshot()),
        };
        audit::record(conn, actor, change).await?;
    }
    Ok(())
}

pub async fn retire_route(conn: &mut PgConnection, actor: &Actor, id: Uuid, retired: bool) -> Result<(), AppError> {
    // Pages keep the lists for a while: this edit shows at once.
    super::reference::forget_cached();
    if !db::lock_route(conn, id).await? {
        return Err(AppError::NotFound);
    }
    let before = db::route(conn, id).await?.ok_or(AppError::NotFound)?;
    if before.retired == retired {
        return Ok(());
    }
    db::set_route_retired(conn, id, retired).await?;
    let change = Change {
        action: if retired { "retire" } else { "unretire" },
        entity: "reading_route",
        entity_id: Some(id),
        summary: format!("{} {}", before.code, before.name),
        before: Some(json!({ "retired": before.retired })),
        after: Some(json!({ "retired": retired })),
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}
