//! The end-of-day reconciliation over the API: a day's cashiers, closing
//! the caller's own day, a supervisor's sign-off.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::Actor,
    payments::{
        cash_days::{self, CashierDay},
        service::invalid,
    },
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_days)).routes(routes!(close_day)).routes(routes!(sign_off_day))
}

fn day_param(raw: &str, field: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| invalid(field, "date_format"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DayParams {
    /// The company's calendar day, "2026-12-03".
    #[param(format = Date)]
    day: String,
}

/// Every cashier's day: receipts, reversals and totals per channel, and
/// whether it is open, closed or signed off. A counter clerk's key or session
/// sees only its own day.
#[utoipa::path(get, path = "/api/v1/cash-days", tag = "payments", params(DayParams), security(("api_key" = [])),
    responses((status = 200, body = Vec<CashierDay>)))]
async fn list_days(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<DayParams>,
) -> Result<Json<Vec<CashierDay>>, AppError> {
    user.require(Permission::TakePayments)?;
    let day = day_param(&q.day, "day")?;
    let only = if user.role.can(Permission::Bill) { None } else { Some(user.user_id.unwrap_or(Uuid::nil())) };
    let mut tx = user.tx(&state.db).await?;
    let days = cash_days::for_day(&mut tx, day, only).await?;
    tx.commit().await?;
    Ok(Json(days))
}

/// Closes the caller's own day (today or earlier): its figures are frozen,
/// and nothing dated in it is booked or reversed any more. 409 when it is
/// closed already, or when the caller is an API key (not a cashier).
#[utoipa::path(post, path = "/api/v1/cash-days/{day}/close", tag = "payments",
    params(("day" = String, Path, format = Date, description = "the day, 2026-12-03")), security(("api_key" = [])),
    responses((status = 200, body = CashierDay), (status = 409, description = "closed already, or no cashier")))]
async fn close_day(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(day): Path<String>,
) -> Result<Json<CashierDay>, AppError> {
    user.require(Permission::TakePayments)?;
    let day = day_param(&day, "day")?;
    let mut tx = user.tx(&state.db).await?;
    let closed = cash_days::close(&mut tx, &Actor::from(&user), day).await?;
    tx.commit().await?;
    Ok(Json(closed))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct SignOff {
    /// What the supervisor noted on checking, at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: String,
}

/// A supervisor signs off another cashier's closed day. 409 when the day is
/// still open, signed off already, or the caller's own.
#[utoipa::path(post, path = "/api/v1/cash-days/{day}/cashiers/{cashier}/sign-off", tag = "payments",
    params(("day" = String, Path, format = Date, description = "the day, 2026-12-03"),
           ("cashier" = Uuid, Path, description = "the cashier's user id")),
    request_body = SignOff, security(("api_key" = [])),
    responses((status = 200, body = CashierDay), (status = 404), (status = 409, description = "open, signed already, or one's own day")))]
async fn sign_off_day(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((day, cashier)): Path<(String, Uuid)>,
    ApiJson(body): ApiJson<SignOff>,
) -> Result<Json<CashierDay>, AppError> {
    user.require(Permission::Bill)?;
    let day = day_param(&day, "day")?;
    let mut tx = user.tx(&state.db).await?;
    let signed = cash_days::sign_off(&mut tx, &Actor::from(&user), day, cashier, &body.note).await?;
    tx.commit().await?;
    Ok(Json(signed))
}
