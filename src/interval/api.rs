//! POST /api/v1/interval-data: a CSV body (`meter,ts,kw`), read as it
//! arrives, never held whole in memory.

use axum::{
    Json,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    interval::load::{IntervalReport, Loader},
    staff::Permission,
    web::{AppState, auth::CurrentUser, error::AppError, i18n::I18n},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_interval_data))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadParams {
    /// Load the good lines even when some are rejected (default: nothing is loaded then).
    #[serde(default)]
    partial: bool,
}

/// An interval data file.
struct IntervalCsv;

impl utoipa::PartialSchema for IntervalCsv {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        const LINE: &str = concat!(
            r"[A-Za-z0-9_-]{1,32},20[0-9]{2}",
            crate::api::month_day!(),
            r" ([01][0-9]|2[0-3]):(00|15|30|45),(0|[1-9][0-9]{0,8})(\.[0-9]{1,3})?"
        );
        crate::api::csv(
            "The header line `meter,ts,kw`, then a line per value: a meter serial, a time \
             (local, as here, or RFC 3339) on a quarter hour, kW (not negative, at most 3 decimals).",
            &format!(r"^(meter,ts,kw\r?\n)?({LINE}\r?\n)*$"),
        )
    }
}

impl utoipa::ToSchema for IntervalCsv {}

/// Loads interval data: `text/csv`, header `meter,ts,kw`, one reading per
/// line (ts RFC 3339 or local "2026-11-01 00:15" on a 15-minute boundary, kW
/// with up to 3 decimals). A value already stored for the meter and time is
/// replaced and counted. 422 with the report when lines were rejected and
/// nothing was loaded.
#[utoipa::path(post, path = "/api/v1/interval-data", tag = "readings", params(LoadParams),
    request_body(content = IntervalCsv, content_type = "text/csv"), security(("api_key" = [])),
    responses((status = 200, body = IntervalReport), (status = 422, body = IntervalReport)))]
async fn post_interval_data(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<LoadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IntervalReport>), AppError> {
    user.require(Permission::EnterReadings)?;
    let is_csv =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/csv"));
    if !is_csv {
        return Err(AppError::BadRequest("expected Content-Type: text/csv".into()));
    }
    let mut loader = Loader::begin(&state.db, user.tenant_id, params.partial, I18n(user.locale)).await?;
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(e.to_string()))?;
        pending.extend_from_slice(&chunk);
        // Whole lines go now; a partial last line waits for the next chunk.
        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
            let rest = pending.split_off(end + 1);
            for line in String::from_utf8_lossy(&pending).lines() {
                loader.line(line).await?;
            }
            pending = rest;
        }
    }
    if !pending.is_empty() {
        loader.line(&String::from_utf8_lossy(&pending)).await?;
    }
    let report = loader.finish().await?;
    let status = if report.rejected > 0 && report.loaded + report.replaced == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report)))
}
