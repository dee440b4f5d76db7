//! The reference lists over the API, for clients that fill in customer and
//! supply point codes.
//!
//! ```text
//! GET /api/v1/reference/{list}  → [{code, name_zh, name_en, retired}], in the list's order
//! ```

use axum::{
    Json,
    extract::{Path, State},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    customers::reference::{self, RefItem, RefList},
    staff::Permission,
    web::{AppState, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_codes))
}

/// The lists, as they are named in the path.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documentation only: the handler reads the name as text
enum ReferenceList {
    Classes,
    Industries,
    Voltages,
    Tariffs,
    Tags,
}

/// The codes of one reference list with their names in both languages, in
/// the list's order. Retired codes are listed too (`retired: true`): records
/// may still carry them, but a new value may not use them (`retired_code`).
#[utoipa::path(get, path = "/api/v1/reference/{list}", tag = "reference",
    params(("list" = ReferenceList, Path, description = "the list: classes, industries, voltages, tariffs or tags")),
    security(("api_key" = [])),
    responses((status = 200, body = Vec<RefItem>), (status = 404)))]
async fn list_codes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(list): Path<String>,
) -> Result<Json<Vec<RefItem>>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let list = RefList::from_slug(&list).ok_or(AppError::NotFound)?;
    let mut tx = user.tx(&state.db).await?;
    let items = reference::load(&mut tx, list).await?;
    tx.commit().await?;
    Ok(Json(items))
}
