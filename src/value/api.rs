//! The VIP list and a customer's value over the API.
//!
//! ```text
//! GET /api/v1/vip?tier=vip&industry=…&sort=energy_12m&dir=desc&after=…  → {items: [...], next}
//! GET /api/v1/customers/{id}/value                                       → {tier, score, factors, …}
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    staff::Permission,
    value::{
        self, FactorScore, Inputs,
        db::{self, VipRow},
        pages::VipFilter,
    },
    web::{AppState, auth::CurrentUser, error::AppError, paging},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(vip_list)).routes(routes!(customer_value))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VipItem {
    #[serde(flatten)]
    pub row: VipRow,
    /// up, down or new; null when the tier has not moved.
    pub movement: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VipPage {
    pub items: Vec<VipItem>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The VIP list (default tier vip, largest 12-month energy first), with the
/// page's filters, any sort column and keyset paging.
#[utoipa::path(get, path = "/api/v1/vip", tag = "value tiers", params(VipFilter),
    security(("api_key" = [])), responses((status = 200, body = VipPage)))]
async fn vip_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<VipFilter>,
) -> Result<Json<VipPage>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = crate::web::error::FieldErrors::default();
    let limit = paging::page_size(f.limit, &mut errors);
    errors.finish(())?;
    let q = f.check()?;
    let mut tx = user.tx_with(&state.db, crate::db::NO_PARALLEL_WORKERS).await?;
    let mut rows = db::vip_page(&mut tx, &q, limit + 1).await?;
    tx.commit().await?;
    let next = paging::next_cursor(&mut rows, limit, VipRow::cursor);
    let items = rows.into_iter().map(|row| VipItem { movement: row.movement(), row }).collect();
    Ok(Json(VipPage { items, next }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ValueBody {
    pub customer_id: Uuid,
    /// False for a customer the evaluation has not valued yet (it runs hourly,
    /// so a customer made since its last run): then the tier, score and inputs
    /// are null and the factors empty, rather than a guess.
    pub valued: bool,
    /// vip, high, medium, low or negative (after a manual VIP designation).
    pub tier: Option<String>,
    /// The tier the score gives.
    pub computed_tier: Option<String>,
    pub score: Option<Decimal>,
    pub previous_tier: Option<String>,
    pub tier_changed_at: Option<DateTime<Utc>>,
    pub manual_vip: bool,
    pub manual_reason: Option<String>,
    /// latest_arrears or arrears_months when the tier is negative by persistent arrears.
    pub negative_reason: Option<&'static str>,
    /// Each factor's points (0–100), weight and contribution to the score.
    pub factors: Vec<FactorScore>,
    /// What the factors were computed from.
    pub inputs: Option<Inputs>,
    pub computed_at: Option<DateTime<Utc>>,
}

impl ValueBody {
    fn not_valued(customer_id: Uuid) -> Self {
        ValueBody {
            customer_id,
            valued: false,
            tier: None,
            computed_tier: None,
            score: None,
            previous_tier: None,
            tier_changed_at: None,
            manual_vip: false,
            manual_reason: None,
            negative_reason: None,
            factors: Vec::new(),
            inputs: None,
            computed_at: None,
        }
    }
}

/// A customer's value tier, score and the factors behind it (`valued` false
/// before the evaluation's first run over the customer). 404 when the
/// customer is not in this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/value", tag = "value tiers",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = ValueBody), (status = 404)))]
async fn customer_value(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ValueBody>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let Some(stored) = db::get(&mut tx, id).await? else {
        // Answers 404 for a customer of another company (row-level security).
        crate::customers::db::get(&mut tx, id).await?;
        return Ok(Json(ValueBody::not_valued(id)));
    };
    let settings = db::settings(&mut tx).await?;
    tx.commit().await?;
    let valuation = value::score(&stored.inputs, &settings);
    Ok(Json(ValueBody {
        customer_id: stored.customer_id,
        valued: true,
        tier: Some(stored.tier),
        computed_tier: Some(stored.computed_tier),
        score: Some(stored.score),
        previous_tier: stored.previous_tier,
        tier_changed_at: stored.tier_changed_at,
        manual_vip: stored.manual_vip,
        manual_reason: stored.manual_reason,
        negative_reason: valuation.negative_reason,
        factors: valuation.factors,
        inputs: Some(stored.inputs),
        computed_at: Some(stored.computed_at),
    }))
}
