//! JSON API v1 for billing: start a bill run and follow it; read bills.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::Actor,
    billing::{
        bills::{self, BillRow, LineRow},
        run::{self, RunSummary},
        service,
    },
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_run))
        .routes(routes!(get_run))
        .routes(routes!(list_bills))
        .routes(routes!(get_bill))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RunRequest {
    /// The period to bill, "2026-11" (1990–2100).
    #[schema(pattern = r"^(199[0-9]|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$", example = "2026-11")]
    period: String,
    /// A code of the tenant's reading routes; omitted or empty: every route.
    #[serde(default)]
    route: Option<String>,
}

/// Starts a bill run in the background (a job any server process may take,
/// and another takes over if that one dies); follow it with GET /api/v1/bill-runs/{id}.
/// Running a period again bills only who was not billed (one live bill per
/// customer and period); a second run while one is running is refused (409).
#[utoipa::path(post, path = "/api/v1/bill-runs", tag = "billing", request_body = RunRequest,
    security(("api_key" = [])),
    responses((status = 202, body = RunSummary), (status = 409, description = "a run for this period is running"),
              (status = 422, description = "bad period or route, named")))]
async fn start_run(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunSummary>), AppError> {
    user.require(Permission::Bill)?;
    let route = req.route.unwrap_or_default();
    let jobs = crate::jobs::Settings::from_config(&state.config);
    let id = service::start(&state.db, user.tenant_id, &Actor::from(&user), &req.period, &route, &jobs).await?;
    let mut tx = user.tx(&state.db).await?;
    let summary = run::summary(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// A bill run: its status and counts so far.
#[utoipa::path(get, path = "/api/v1/bill-runs/{id}", tag = "billing",
    params(("id" = Uuid, Path, description = "run id")), security(("api_key" = [])),
    responses((status = 200, body = RunSummary), (status = 404)))]
async fn get_run(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RunSummary>, AppError> {
    user.require(Permission::Bill)?;
    let mut tx = user.tx(&state.db).await?;
    let summary = run::summary(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Json(summary))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BillParams {
    /// The customer whose bills to list (newest period first, at most 60).
    customer: Uuid,
}

/// A customer's bills.
#[utoipa::path(get, path = "/api/v1/bills", tag = "billing", params(BillParams), security(("api_key" = [])),
    responses((status = 200, body = Vec<BillRow>)))]
async fn list_bills(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<BillParams>,
) -> Result<Json<Vec<BillRow>>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let list = bills::for_customer(&mut tx, params.customer, 60).await?;
    tx.commit().await?;
    Ok(Json(list))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BillDetail {
    #[serde(flatten)]
    bill: BillRow,
    lines: Vec<LineRow>,
}

/// One bill with its lines.
#[utoipa::path(get, path = "/api/v1/bills/{id}", tag = "billing",
    params(("id" = Uuid, Path, description = "bill id")), security(("api_key" = [])),
    responses((status = 200, body = BillDetail), (status = 404)))]
async fn get_bill(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<BillDetail>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let bill = bills::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let lines = bills::lines(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(BillDetail { bill, lines }))
}
