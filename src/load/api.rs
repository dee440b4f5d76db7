//! Load over the API.
//!
//! ```text
//! GET /api/v1/meters/{id}/load?from=YYYY-MM-DD&to=YYYY-MM-DD
//!     → {meter_id, serial, from, to, days: [{day, kw: [96 × kW or null]}], summary, bands}
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
};
use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Band, db, pages, split_by_band, summarize};
use crate::{
    staff::Permission,
    web::{AppState, auth::CurrentUser, error::AppError, error::FieldErrors},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(meter_load))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LoadParams {
    /// The first local day (YYYY-MM-DD); default 29 days before `to`.
    #[param(format = Date)]
    from: Option<String>,
    /// The last local day (YYYY-MM-DD); default the meter's last day with data. At most 366 days in all.
    #[param(format = Date)]
    to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoadDay {
    pub day: NaiveDate,
    /// kW per quarter hour from local midnight (96 values; a 30-minute
    /// reading fills both of its quarters); null where nothing was read.
    pub kw: Vec<Option<f64>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoadSummary {
    pub max_kw: f64,
    /// Local time the maximum was first reached.
    pub max_at: NaiveDateTime,
    pub avg_kw: f64,
    pub min_kw: f64,
    /// Average over maximum, 0–1.
    pub load_rate: f64,
    pub energy_kwh: f64,
    /// Quarter hours read, and in the period.
    pub read: usize,
    pub expected: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BandEnergy {
    pub peak_kwh: f64,
    pub flat_kwh: f64,
    pub valley_kwh: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeterLoad {
    pub meter_id: Uuid,
    pub serial: String,
    /// The customer the meter serves now, if installed.
    pub customer_id: Option<Uuid>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The days with data, in order.
    pub days: Vec<LoadDay>,
    /// Null when nothing was read in the period.
    pub summary: Option<LoadSummary>,
    /// Energy by the company's time-of-use bands.
    pub bands: BandEnergy,
}

/// A meter's load from its interval data, with the period's statistics.
/// 404 when the meter is not in this company; 422 names a wrong `from` or
/// `to` (not a date: `date_format`; `from` after `to`; over 366 days).
#[utoipa::path(get, path = "/api/v1/meters/{id}/load", tag = "load",
    params(("id" = Uuid, Path, description = "meter id"), LoadParams), security(("api_key" = [])),
    responses((status = 200, body = MeterLoad), (status = 404), (status = 422, description = "invalid fields, each named")))]
async fn meter_load(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LoadParams>,
) -> Result<Json<MeterLoad>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let (meter, customer_id) = db::meter(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let last = db::last_day(&mut tx, &[id]).await?.unwrap_or(today - Duration::days(1));
    let mut errors = FieldErrors::default();
    let period = pages::period(&q.from.unwrap_or_default(), &q.to.unwrap_or_default(), "", last, &mut errors);
    errors.finish(())?;
    let days: Vec<_> = db::days(&mut tx, &[id], period.from, period.to).await?.into_iter().map(|(_, d)| d).collect();
    let bands = db::bands(&mut tx).await?;
    tx.commit().await?;
    let split = split_by_band(&days, &bands);
    Ok(Json(MeterLoad {
        meter_id: meter.id,
        serial: meter.serial,
        customer_id,
        from: period.from,
        to: period.to,
        summary: summarize(&days).map(|s| LoadSummary {
            max_kw: s.max_kw,
            max_at: s.max_at,
            avg_kw: s.avg_kw,
            min_kw: s.min_kw,
            load_rate: s.load_rate,
            energy_kwh: s.energy_kwh,
            read: s.read,
            expected: s.expected,
        }),
        bands: BandEnergy {
            peak_kwh: split.kwh(Band::Peak),
            flat_kwh: split.kwh(Band::Flat),
            valley_kwh: split.kwh(Band::Valley),
        },
        days: days.into_iter().map(|d| LoadDay { day: d.day, kw: d.kw }).collect(),
    }))
}
