//! The tariff recommendation over the API.
//!
//! ```text
//! GET /api/v1/customers/{id}/tariff-recommendation  → {months, options, best, saving, …}
//! ```

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    staff::Permission,
    tariff_analysis::{self, MonthUsage, OptionCost, db},
    web::{AppState, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recommendation))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecommendationBody {
    pub customer_id: Uuid,
    pub tariff_code: String,
    /// Contracted capacity (kVA), else the supply points' together.
    pub capacity_kva: Option<Decimal>,
    /// The months priced: [from, until) — the last 12 complete months.
    pub from: NaiveDate,
    pub until: NaiveDate,
    /// The months with an issued bill, and what they used.
    pub months: Vec<MonthUsage>,
    /// What the customer was billed over the months priced (those left out excluded).
    pub billed: Decimal,
    /// Months some option could not price (no time-of-use split, no demand
    /// read), left out of every option's total so that all compare the same months.
    pub left_out: Vec<NaiveDate>,
    /// Every applicable tariff and basic-charge option, cheapest first; those
    /// that could not be priced (see `missing`) last.
    pub options: Vec<OptionCost>,
    /// The cheapest option (null when none could be priced).
    pub best: Option<OptionCost>,
    /// How much the current option costs more than the cheapest, yuan.
    pub saving: Option<Decimal>,
    /// The demand price per kW over the capacity price per kVA, used to
    /// derive the basic-charge option a tariff version does not state.
    pub demand_price_ratio: Decimal,
}

/// Which applicable tariff or basic-charge option would have been cheapest
/// over the customer's last 12 complete months, priced with the bill
/// calculation on their bills' kWh, time-of-use split, power factor and
/// maximum demand. 404 when the customer is not in this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/tariff-recommendation", tag = "tariff analysis",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = RecommendationBody), (status = 404)))]
async fn recommendation(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RecommendationBody>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let body = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// The recommendation of customer `id` (NotFound for another company's).
pub async fn load(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<RecommendationBody, AppError> {
    let customer = db::customer(conn, id).await?.ok_or(AppError::NotFound)?;
    let until = crate::tenants::current_month(conn).await?;
    let from = crate::months::back(until, tariff_analysis::RECOMMENDATION_MONTHS);
    let months = db::months(conn, id, from, until).await?;
    let mut tariffs = db::tariffs(conn).await?;
    let in_class = db::class_tariffs(conn, &customer.class_code).await?;
    tariff_analysis::keep_class_tariffs(&mut tariffs, &customer.tariff_code, &in_class);
    let r = tariff_analysis::recommend(&months, &customer.tariff_code, &tariffs, customer.capacity_kva);
    Ok(RecommendationBody {
        customer_id: id,
        tariff_code: customer.tariff_code,
        capacity_kva: customer.capacity_kva,
        from,
        until,
        billed: months.iter().filter(|m| !r.left_out.contains(&m.month)).map(|m| m.billed).sum(),
        months,
        best: r.best.map(|b| r.options[b].clone()),
        options: r.options,
        saving: r.saving,
        left_out: r.left_out,
        demand_price_ratio: tariff_analysis::DEMAND_PRICE_RATIO,
    })
}
