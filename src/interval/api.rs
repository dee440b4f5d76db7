//! POST /api/v1/interval-data: a CSV body (`meter,ts,kw`). The body is
//! spooled to a file under the upload limits first, and only then loaded, so
//! a slow client holds no database connection.

use axum::{
    Json,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
};
use chrono::Utc;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    interval::load::{IntervalReport, LoadRules, Loader},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        error::AppError,
        i18n::I18n,
        upload::{self, BodyLimits},
    },
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
            r" ([01][0-9]|2[0-3]):(00|15|30|45),((0|[1-9][0-9]{0,5})(\.[0-9]{1,3})?|1000000(\.0{1,3})?)"
        );
        crate::api::csv(
            "The header line `meter,ts,kw`, then a line per value: a meter serial, a time \
             (local, as here, or RFC 3339) on a quarter hour, kW (0 to 1,000,000, at most 3 decimals). \
             Times must lie within the configured window (by default three years back to a day ahead).",
            &format!(r"^(meter,ts,kw\r?\n)?({LINE}\r?\n)*$"),
        )
    }
}

impl utoipa::ToSchema for IntervalCsv {}

/// Loads interval data: `text/csv`, header `meter,ts,kw`, one reading per
/// line (ts RFC 3339 or local "2026-11-01 00:15" on a 15-minute boundary, kW
/// from 0 to 1,000,000 with up to 3 decimals). A value already stored for the
/// meter and time is replaced and counted. 422 with the report when lines
/// were rejected and nothing was loaded.
///
/// Limits (defaults; see the README): a body of at most 64 MiB
/// (`interval_max_bytes`, else 413); lines of at most 1,024 bytes
/// (`upload_max_line_bytes`, a longer line is rejected by number); times from
/// 1,096 days back to 1 day ahead (`interval_days_back`,
/// `interval_days_ahead`, a line outside is rejected naming the window); the
/// body must keep arriving, with no pause over 10 s and in 25 s in all
/// (`upload_idle_seconds`, `upload_total_seconds`, else 408); at most 2
/// uploads in flight per API key or user (`uploads_per_caller`, else 429).
#[utoipa::path(post, path = "/api/v1/interval-data", tag = "readings", params(LoadParams),
    request_body(content = IntervalCsv, content_type = "text/csv"), security(("api_key" = [])),
    responses((status = 200, body = IntervalReport, description = "loaded (with `partial`, rejected lines are listed)"),
              (status = 400, description = "not `text/csv`, or the body could not be read"),
              (status = 408, description = "the body paused too long or took too long in all; nothing was loaded"),
              (status = 413, description = "the body is over the size limit; nothing was loaded"),
              (status = 422, body = IntervalReport, description = "rejected lines (too long, outside the time window, out of range…); nothing was loaded"),
              (status = 429, description = "the caller already has as many uploads in flight as allowed")))]
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
    let i = I18n(user.locale);
    let config = &state.config;
    let _upload = state.uploads.begin(&user)?;
    let file = upload::spool(body, &BodyLimits::new(config, config.interval_max_bytes), &i).await?;
    let _turn = state.uploads.load_turn().await;
    let rules = LoadRules::new(config, Utc::now());
    let mut loader = Loader::begin_with(&state.db, user.tenant_id, params.partial, i, rules).await?;
    loader.read_all(file).await?;
    let report = loader.finish().await?;
    let status = if report.rejected > 0 && report.loaded + report.replaced == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report)))
}
