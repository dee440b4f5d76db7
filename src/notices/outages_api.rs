//! Planned outages over the API (supervisors' and tenant admins' keys).
//!
//! ```text
//! POST  /api/v1/outages               {reason, starts_at, ends_at, routes, transformers, areas} → 201 {outage, announced}
//! GET   /api/v1/outages/{id}          → {outage, notices: [{status, channel, count}]}
//! PATCH /api/v1/outages/{id}          (the same body) → {outage, announced (null when nothing changed)}
//! POST  /api/v1/outages/{id}/cancel   → {outage, announced}
//! ```

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::Utc;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::Actor,
    notices::{
        outages::{self, OutageDraft},
        outages_db::{self as db, Announced, NoticeCount, Outage},
    },
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(get_outage, change)).routes(routes!(cancel))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OutageSaved {
    pub outage: Outage,
    /// What was announced; null when a change changed nothing.
    pub announced: Option<Announced>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OutageBody {
    pub outage: Outage,
    /// The outage's notices (every version and the cancellation) by status and channel.
    pub notices: Vec<NoticeCount>,
}

/// Plans an outage and, in the same transaction, creates a notice for every
/// active customer it reaches (on a listed route, with a supply point in
/// service on a listed transformer, or with an address starting with a
/// listed prefix), due at the tenant's lead time before the start (earlier
/// for important and outage-sensitive customers, whose account manager also
/// gets a phone task). 422 names each wrong field (`routes`:
/// `unknown_route`, `outage_nothing_selected`; `starts_at`:
/// `outage_start_past`; `ends_at`: `outage_end_before_start`, `outage_too_long`).
#[utoipa::path(post, path = "/api/v1/outages", tag = "outages", request_body = OutageDraft,
    security(("api_key" = [])),
    responses((status = 201, body = OutageSaved), (status = 422, description = "invalid fields, each named")))]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<OutageDraft>,
) -> Result<(StatusCode, Json<OutageSaved>), AppError> {
    user.require(Permission::ManageOutages)?;
    let valid = outages::check_draft(&draft, Utc::now(), None)?;
    let mut tx = user.tx(&state.db).await?;
    let (outage, announced) = db::create(&mut tx, &Actor::from(&user), user.tz, &valid).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(OutageSaved { outage, announced: Some(announced) })))
}

/// An outage and its notices by status and channel.
#[utoipa::path(get, path = "/api/v1/outages/{id}", tag = "outages",
    params(("id" = Uuid, Path, description = "outage id")), security(("api_key" = [])),
    responses((status = 200, body = OutageBody), (status = 404)))]
async fn get_outage(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OutageBody>, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let outage = db::get(&mut tx, id).await?;
    let notices = db::notice_counts(&mut tx, &outage).await?;
    tx.commit().await?;
    Ok(Json(OutageBody { outage, notices }))
}

/// Changes an outage (the whole body, as for creating one). When anything
/// changed, a new version: its queued notices of older versions are
/// cancelled, everyone it reaches now is notified again, and those told of
/// an older version whom it no longer reaches are told it is off for them.
/// An outage under way may keep its (past) start. 409 `outage_cancelled`.
#[utoipa::path(patch, path = "/api/v1/outages/{id}", tag = "outages", request_body = OutageDraft,
    params(("id" = Uuid, Path, description = "outage id")), security(("api_key" = [])),
    responses((status = 200, body = OutageSaved), (status = 404),
              (status = 409, description = "the outage is cancelled"),
              (status = 422, description = "invalid fields, each named")))]
async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(draft): ApiJson<OutageDraft>,
) -> Result<Json<OutageSaved>, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let current = db::get(&mut tx, id).await?;
    let valid = outages::check_draft(&draft, Utc::now(), Some(current.starts_at))?;
    let (outage, announced) = db::change(&mut tx, &Actor::from(&user), user.tz, id, &valid).await?;
    tx.commit().await?;
    Ok(Json(OutageSaved { outage, announced }))
}

/// Cancels an outage: its queued notices are cancelled and the customers
/// already told (a notice sent or delivered) are told it is off; those never
/// told hear nothing. 409 `outage_cancelled` when it is cancelled already.
#[utoipa::path(post, path = "/api/v1/outages/{id}/cancel", tag = "outages",
    params(("id" = Uuid, Path, description = "outage id")), security(("api_key" = [])),
    responses((status = 200, body = OutageSaved), (status = 404),
              (status = 409, description = "the outage is cancelled already")))]
async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OutageSaved>, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let (outage, announced) = db::cancel(&mut tx, &Actor::from(&user), user.tz, id).await?;
    tx.commit().await?;
    Ok(Json(OutageSaved { outage, announced: Some(announced) }))
}
