//! Forecasts and the tenant's temperatures over the API.
//!
//! ```text
//! GET  /api/v1/customers/{id}/forecast?horizon=96      → {customer_id, forecast: {...} | null}
//! GET  /api/v1/forecasts/aggregate?by=route|industry|tenant → {by, items: [...], energy: [...]}
//! POST /api/v1/weather   {"observations": [{ts, temperature}]} or text/csv `ts,temperature`
//! ```

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, header},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    forecast::db::{self, CustomerForecast, EnergyForecast, Observation, StoredForecast},
    staff::Permission,
    web::{
        AppState,
        api_json::{Unfit, from_document},
        auth::CurrentUser,
        error::{AppError, FieldErrors, unfit_body},
        input,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_forecast))
        .routes(routes!(aggregate_forecasts))
        .routes(routes!(post_weather))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HorizonParams {
    /// The number of intervals from the start of the forecast day to return
    /// (1 to 96 at 15 minutes, 1 to 48 at 30); default the whole day.
    #[param(minimum = 1, maximum = 96)]
    horizon: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerForecastBody {
    pub customer_id: Uuid,
    /// The latest day-ahead forecast, as last made, with the actual load
    /// where it has arrived and the energy forecasts; null before the first
    /// forecast refresh that found the customer's load data.
    pub forecast: Option<CustomerForecast>,
}

/// A customer's latest day-ahead forecast: the forecast kW of each interval
/// with its start time, the method the backtest picked, its MAPE on the most
/// recent held-out days beside the weekly seasonal-naive baseline's (and
/// whether it beats it), when it was made, the actual load of the day where
/// it has arrived, and this month's and the next twelve months' energy. 404
/// when the customer is not in this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/forecast", tag = "forecasts",
    params(("id" = Uuid, Path, description = "customer id"), HorizonParams), security(("api_key" = [])),
    responses((status = 200, body = CustomerForecastBody), (status = 404), (status = 422)))]
async fn customer_forecast(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(params): Query<HorizonParams>,
) -> Result<Json<CustomerForecastBody>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    if params.horizon.is_some_and(|h| !(1..=96).contains(&h)) {
        errors.add("horizon", "horizon_range");
    }
    errors.finish(()).map_err(AppError::Invalid)?;
    let mut tx = user.tx(&state.db).await?;
    // 404 for a customer of another company (row-level security).
    crate::customers::db::get(&mut tx, id).await?;
    let mut forecast = db::latest_for_customer(&mut tx, id).await?;
    tx.commit().await?;
    if let (Some(f), Some(h)) = (forecast.as_mut(), params.horizon) {
        let h = h as usize;
        f.forecast.times.truncate(h);
        f.forecast.points.truncate(h);
        f.actual.truncate(h);
    }
    Ok(Json(CustomerForecastBody { customer_id: id, forecast }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AggregateParams {
    /// route, industry or tenant.
    #[param(pattern = "^(route|industry|tenant)$")]
    by: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AggregateItem {
    /// The route's code, the industry's code, or "" for the company.
    pub code: String,
    /// The route's or the industry's name ("" for the company).
    pub name: String,
    pub forecast: StoredForecast,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AggregateBody {
    pub by: String,
    /// The latest forecast of each route or industry (or of the company), by code.
    pub items: Vec<AggregateItem>,
    /// The company's total energy: this month and the next twelve months.
    pub energy: Vec<EnergyForecast>,
}

/// The latest day-ahead forecasts of the sums of the customers' load by
/// reading route, by industry, or for the whole company, each with its
/// method and its MAPE beside the baseline's.
#[utoipa::path(get, path = "/api/v1/forecasts/aggregate", tag = "forecasts", params(AggregateParams),
    security(("api_key" = [])), responses((status = 200, body = AggregateBody), (status = 422)))]
async fn aggregate_forecasts(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<AggregateParams>,
) -> Result<Json<AggregateBody>, AppError> {
    user.require(Permission::ReadAccounts)?;
    if !["route", "industry", "tenant"].contains(&params.by.as_str()) {
        let mut errors = FieldErrors::default();
        errors.add("by", "forecast_by");
        return Err(AppError::Invalid(errors));
    }
    let mut tx = user.tx(&state.db).await?;
    let forecasts = db::latest_of_kind(&mut tx, &params.by, None).await?;
    let names: std::collections::HashMap<String, (String, String)> = match params.by.as_str() {
        "route" => sqlx::query!("SELECT id, code, name FROM reading_routes")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), (r.code, r.name)))
            .collect(),
        "industry" => sqlx::query!("SELECT code, name_zh, name_en FROM industries")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.code.clone(),
                    (r.code, if user.locale == crate::web::i18n::Locale::ZhCn { r.name_zh } else { r.name_en }),
                )
            })
            .collect(),
        _ => Default::default(),
    };
    let energy = db::tenant_energy(&mut tx).await?;
    tx.commit().await?;
    let mut items: Vec<AggregateItem> = forecasts
        .into_iter()
        .map(|forecast| {
            let (code, name) = names.get(&forecast.subject_key).cloned().unwrap_or_default();
            AggregateItem { code, name, forecast }
        })
        .collect();
    items.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(Json(AggregateBody { by: params.by, items, energy }))
}

/// The most temperatures one request takes.
pub const MAX_OBSERVATIONS: usize = 10_000;

/// A time as the weather API reads it: a local time of the company, or one with seconds and an offset.
macro_rules! ts {
    () => {
        concat!(
            crate::api::year!(),
            crate::api::month_day!(),
            r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
        )
    };
}

/// The CSV body: the header, then `ts,temperature` lines (°C within -70 and 70).
struct WeatherCsv;

impl utoipa::PartialSchema for WeatherCsv {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::api::csv(
            "A header line `ts,temperature`, then a line per time.",
            concat!(r"^ts,temperature\r?\n(", ts!(), r",-?[0-6]?[0-9](\.[0-9]{1,2})?\r?\n)+$"),
        )
    }
}

impl utoipa::ToSchema for WeatherCsv {}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct WeatherBody {
    /// From 1 to 10,000.
    #[schema(min_items = 1, max_items = 10_000)]
    pub observations: Vec<WeatherItem>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct WeatherItem {
    /// RFC 3339 (2026-11-27T10:00:00+08:00), or a local time of the company
    /// (2026-11-27 10:00 or 2026-11-27T10:00:00).
    // The pattern is `ts!()` spelled out (the attribute takes a literal; a test compares them).
    #[schema(
        example = "2026-11-27T10:00:00+08:00",
        pattern = r"^(20[0-9]{2}|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$"
    )]
    pub ts: String,
    /// °C, from -80 to 70.
    #[schema(minimum = -80, maximum = 70)]
    pub temperature: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WeatherReport {
    pub received: u64,
    pub inserted: u64,
    /// Times already stored, whose temperature was replaced.
    pub replaced: u64,
}

/// Stores the company's temperatures (°C, observed or forecast: a time
/// ahead is the weather forecast the day-ahead forecast uses). JSON
/// `{"observations": [{"ts", "temperature"}]}` or `text/csv` with the header
/// `ts,temperature`. A time already stored is replaced. Every item is
/// checked first; with any wrong, nothing is stored and the 422 names each
/// (`observations[i].ts`, or `line[n].temperature` in a CSV).
#[utoipa::path(post, path = "/api/v1/weather", tag = "forecasts",
    request_body(content(
        (WeatherBody = "application/json"),
        (WeatherCsv = "text/csv", example = "ts,temperature\n2026-11-27T10:00:00+08:00,21.5\n")
    )),
    security(("api_key" = [])),
    responses((status = 200, body = WeatherReport), (status = 400), (status = 422)))]
async fn post_weather(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WeatherReport>, AppError> {
    user.require(Permission::EnterReadings)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut tx = user.tx(&state.db).await?;
    let zone = user.tz;
    let items: Vec<(String, String, String)> = if content_type.starts_with("application/json") {
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))?;
        if !document.is_object() {
            let mut errors = FieldErrors::default();
            errors.add("body", "wrong_type");
            return Err(AppError::Invalid(errors));
        }
        let body: WeatherBody = match from_document(document) {
            Ok(body) => body,
            Err(Unfit::Text(errors)) => return Err(AppError::Invalid(errors)),
            Err(Unfit::Shape(err)) => return Err(unfit_body(err, "wrong_type")),
        };
        body.observations
            .into_iter()
            .enumerate()
            .map(|(i, o)| (format!("observations[{i}]"), o.ts, o.temperature.to_string()))
            .collect()
    } else if content_type.starts_with("text/csv") {
        let text = std::str::from_utf8(&body).map_err(|_| AppError::BadRequest("the CSV is not UTF-8".into()))?;
        csv_items(text)?
    } else {
        return Err(AppError::BadRequest("expected Content-Type: application/json or text/csv".into()));
    };
    let observations = check(&items, &zone)?;
    let (inserted, replaced) = db::upsert_weather(&mut tx, &observations).await?;
    tx.commit().await?;
    Ok(Json(WeatherReport { received: observations.len() as u64, inserted, replaced }))
}

/// The CSV's lines as (field prefix, ts, temperature).
fn csv_items(text: &str) -> Result<Vec<(String, String, String)>, AppError> {
    let mut errors = FieldErrors::default();
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (n == 0 && line.trim() == "ts,temperature") {
            continue;
        }
        if input::has_control_char(line, false) {
            errors.add(format!("line[{}]", n + 1), "control_character");
            continue;
        }
        match line.split(',').collect::<Vec<_>>()[..] {
            [ts, t] => items.push((format!("line[{}]", n + 1), ts.trim().to_string(), t.trim().to_string())),
            _ => errors.add(format!("line[{}]", n + 1), "weather_line"),
        }
    }
    errors.finish(items).map_err(AppError::Invalid)
}

/// Checks every item; all errors at once.
fn check(items: &[(String, String, String)], zone: &chrono_tz::Tz) -> Result<Vec<Observation>, AppError> {
    let mut errors = FieldErrors::default();
    if items.is_empty() {
        errors.add("observations", "required");
    }
    if items.len() > MAX_OBSERVATIONS {
        errors.add("observations", "weather_too_many");
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (at, ts, temperature) in items {
        let ts = parse_time(ts, zone);
        let temperature = temperature.parse::<f64>().ok().filter(|t| t.is_finite());
        match ts {
            None => errors.add(format!("{at}.ts"), "datetime_format"),
            Some(ts) if !seen.insert(ts) => errors.add(format!("{at}.ts"), "weather_repeated"),
            _ => {}
        }
        match temperature {
            None => errors.add(format!("{at}.temperature"), "wrong_type"),
            Some(t) if !(-80.0..=70.0).contains(&t) => errors.add(format!("{at}.temperature"), "temperature_range"),
            _ => {}
        }
        if let (Some(ts), Some(temperature)) = (ts, temperature) {
            out.push(Observation { ts, temperature });
        }
    }
    errors.finish(out).map_err(AppError::Invalid)
}

/// RFC 3339, or a local time of the company's zone.
fn parse_time(text: &str, zone: &chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|local| zone.from_local_datetime(&local).earliest())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(rows: &[(&str, &str)]) -> Vec<(String, String, String)> {
        rows.iter()
            .enumerate()
            .map(|(i, (ts, t))| (format!("observations[{i}]"), ts.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn the_documented_time_pattern_is_the_macros() {
        let doc = serde_json::to_value(<WeatherItem as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(doc["properties"]["ts"]["pattern"], concat!("^", ts!(), "$"));
    }

    fn fields(err: AppError) -> Vec<(String, &'static str)> {
        match err {
            AppError::Invalid(errors) => errors.iter().map(|e| (e.field.clone(), e.code)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bad_item_is_named() {
        let zone = chrono_tz::Asia::Shanghai;
        let bad = items(&[
            ("2026-11-27T10:00:00+08:00", "21.5"),
            ("yesterday", "20"),
            ("2026-11-27 11:00", "99"),
            ("2026-11-27T02:00:00Z", "NaN"),
            ("2026-11-27T03:00:00Z", "1"),
        ]);
        assert_eq!(
            fields(check(&bad, &zone).unwrap_err()),
            vec![
                ("observations[1].ts".to_string(), "datetime_format"),
                ("observations[2].temperature".to_string(), "temperature_range"),
                ("observations[3].ts".to_string(), "weather_repeated"),
                ("observations[3].temperature".to_string(), "wrong_type"),
                // 03:00Z is 11:00 in Shanghai, as item 2.
                ("observations[4].ts".to_string(), "weather_repeated"),
            ]
        );
        let good = check(&items(&[("2026-11-27 10:00", "21.5")]), &zone).unwrap();
        assert_eq!(
            good[0].ts,
            Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap(),
            "a local time in the company's zone"
        );
        assert_eq!(fields(check(&[], &zone).unwrap_err()), vec![("observations".to_string(), "required")]);
    }

    #[test]
    fn csv_lines_are_named_by_number() {
        let items = csv_items("ts,temperature\r\n2026-11-27 10:00,21\n\nbad line\n").unwrap_err();
        assert_eq!(fields(items), vec![("line[4]".to_string(), "weather_line")]);
        let ok = csv_items("ts,temperature\n2026-11-27 10:00, 21.5\n").unwrap();
        assert_eq!(ok, vec![("line[2]".to_string(), "2026-11-27 10:00".to_string(), "21.5".to_string())]);
    }
}
