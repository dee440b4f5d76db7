//! A customer's points over the API.
//!
//! ```text
//! GET  /api/v1/customers/{id}/points?limit=50&before=…   → {balance, next_expiry, history: [...], next_before}
//! POST /api/v1/customers/{id}/points/redemptions          {item, quantity} → 201 {redemption, balance}
//! ```

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
    points::{
        self, RedemptionDraft,
        db::{self, Entry, NextExpiry},
        service::{self, Redeemed},
    },
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(customer_points)).routes(routes!(redeem))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Entries older than this one: the `next_before` of the previous page.
    #[serde(default)]
    pub before: Option<Uuid>,
    /// Entries per page, 1–200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PointsBody {
    pub customer_id: Uuid,
    /// Points available now (points whose term has run out count as expired,
    /// even before the hourly expiry records them).
    pub balance: i64,
    /// The points that expire next and the day they do; null when none are due to.
    pub next_expiry: Option<NextExpiry>,
    /// Points expire this many months after they were earned.
    pub expiry_months: i32,
    /// The ledger, newest first.
    pub history: Vec<Entry>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<Uuid>,
}

/// A customer's points: the balance, what expires next and when, and the
/// ledger newest first (earned by payments, taken back by their reversal,
/// redeemed, expired), paged. 404 when the customer is not in this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/points", tag = "loyalty points",
    params(("id" = Uuid, Path, description = "customer id"), HistoryQuery), security(("api_key" = [])),
    responses((status = 200, body = PointsBody), (status = 404)))]
async fn customer_points(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<PointsBody>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = FieldErrors::default();
    let limit = paging::page_size(q.limit, &mut errors);
    errors.finish(())?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let db::CustomerPoints { standing, mut history, .. } =
        db::customer_points(&mut tx, id, today, q.before, limit + 1, false).await?;
    tx.commit().await?;
    let next_before = paging::next_cursor(&mut history, limit, |e| e.id.to_string()).and_then(|s| s.parse().ok());
    Ok(Json(PointsBody {
        customer_id: id,
        balance: standing.balance,
        next_expiry: standing.next_expiry,
        expiry_months: standing.expiry_months,
        history,
        next_before,
    }))
}

/// Redeems points for an item of the company's catalogue (its code), audited
/// and on the customer's timeline. The balance (after any points whose term
/// has run out have expired) and the item's stock are checked in one
/// transaction; redemptions for one customer take turns, so concurrent
/// requests cannot overdraw. 422 names the field (an item code the catalogue
/// does not offer: `unknown_points_item`); 409 when the points
/// (`points_insufficient`) or the stock (`points_out_of_stock`) are short.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/redemptions", tag = "loyalty points",
    params(("id" = Uuid, Path, description = "customer id")), request_body = RedemptionDraft,
    security(("api_key" = [])),
    responses((status = 201, body = Redeemed), (status = 404),
              (status = 409, description = "not enough points, or not enough of the item in stock"),
              (status = 422, description = "invalid fields, each named")))]
async fn redeem(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(draft): ApiJson<RedemptionDraft>,
) -> Result<(StatusCode, Json<Redeemed>), AppError> {
    user.require(Permission::RedeemPoints)?;
    let (item, quantity) = points::check_redemption(&draft.item, draft.quantity)?;
    let mut tx = user.tx(&state.db).await?;
    let redeemed = service::redeem(&mut tx, &Actor::from(&user), user.locale.code(), id, &item, quantity).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(redeemed)))
}
