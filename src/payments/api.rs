//! POST /api/v1/payments: payment notifications from banks, WeChat, Alipay
//! and agents. A retried notification (same channel and reference) returns
//! the first booking with `created: false`, even when the retries race.

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
    payments::{
        db::{self, AllocationRow, PaymentRow},
        model::PaymentDraft,
        service::{self, Booked},
    },
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(book_payment)).routes(routes!(get_payment))
}

pub(crate) fn received_at_schema() -> utoipa::openapi::schema::Schema {
    crate::api::date_time_or_now("When the channel received the money (RFC 3339); empty: now; not in the future.")
}

pub(crate) fn channel_schema() -> utoipa::openapi::schema::Schema {
    crate::api::codes(&crate::payments::model::CHANNELS)
}

/// Books a payment against the customer's oldest debts (late fees first,
/// then bills by age). What is beyond the debts becomes prepaid credit only
/// with `allow_credit: true`; without it such an amount is refused (422,
/// `amount`: `overpayment_unconfirmed`). 201 when booked now, 200 when the
/// reference was booked before; 409 when the reference was used for another
/// customer or amount, or when the day of `received_at` is closed for the
/// calling cashier (`cash_day_closed`).
#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", request_body = PaymentDraft,
    security(("api_key" = [])),
    responses((status = 201, body = Booked), (status = 200, body = Booked, description = "booked before"),
              (status = 409, description = "the reference was used for another payment, or the cashier's day is closed"),
              (status = 422, description = "invalid fields, each named")))]
async fn book_payment(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<PaymentDraft>,
) -> Result<(StatusCode, Json<Booked>), AppError> {
    user.require(Permission::TakePayments)?;
    let mut tx = user.tx(&state.db).await?;
    let booked = service::book(&mut tx, &Actor::from(&user), &draft, &service::Counter::default(), Utc::now()).await?;
    tx.commit().await?;
    let status = if booked.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(booked)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentDetail {
    #[serde(flatten)]
    payment: PaymentRow,
    allocations: Vec<AllocationRow>,
}

/// One payment and how it was spread over bills.
#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")), security(("api_key" = [])),
    responses((status = 200, body = PaymentDetail), (status = 404)))]
async fn get_payment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PaymentDetail>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let payment = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let allocations = db::allocations(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(PaymentDetail { payment, allocations }))
}
