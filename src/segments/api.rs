//! Segments over the API: the list, and a segment's members in keyset pages.
//!
//! ```text
//! GET /api/v1/segments                                  → [{id, name, members, last_run_at, …}]
//! GET /api/v1/segments/{id}/members?after=…&limit=50    → {items: [...], next_after}
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    segments::db::{self, MemberRow, Segment},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::{next_cursor, page_size},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_segments)).routes(routes!(list_members))
}

/// The tenant's segments by name, each with its last run's counts.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", security(("api_key" = [])),
    responses((status = 200, body = Vec<Segment>)))]
async fn list_segments(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Vec<Segment>>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let segments = db::list(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(segments))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberParams {
    /// Keyset cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberPage {
    items: Vec<MemberRow>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
}

/// The members of a segment as of its last recompute, in account-number order.
#[utoipa::path(get, path = "/api/v1/segments/{id}/members", tag = "segments", params(MemberParams,
    ("id" = Uuid, Path, description = "segment id")), security(("api_key" = [])),
    responses((status = 200, body = MemberPage), (status = 404, description = "no such segment")))]
async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(params): Query<MemberParams>,
) -> Result<Json<MemberPage>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    if !db::exists(&mut tx, id).await? {
        return Err(AppError::NotFound);
    }
    let mut items = db::members(&mut tx, id, params.after.as_deref().unwrap_or(""), limit + 1).await?;
    tx.commit().await?;
    let next_after = next_cursor(&mut items, limit, |m| m.account_no.clone());
    Ok(Json(MemberPage { items, next_after }))
}
