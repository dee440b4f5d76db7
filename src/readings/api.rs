//! POST /api/v1/readings: readings from meter-reading systems, as a JSON
//! array or a CSV file (the same columns as `gridcrm import readings`).

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
    readings::{
        import::{self, ImportReport, LineError},
        model::ReadingDraft,
    },
    staff::Permission,
    web::{
        AppState,
        api_json::{self, Unfit},
        auth::CurrentUser,
        error::AppError,
        i18n::I18n,
        upload::{self, BodyLimits},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_readings))
}

pub(crate) fn kind_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&crate::readings::model::KINDS)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadParams {
    /// Load the good lines even when some are rejected (default: a rejected
    /// line loads nothing).
    #[serde(default)]
    partial: bool,
}

/// Records readings. Body: a JSON array of readings (`application/json`) or
/// a CSV file with a header line (`text/csv`; columns meter, period, kind,
/// read_on, total, peak, flat, valley, reactive, max_demand_kw, rollover).
/// Each is checked; implausible ones are stored flagged for review. The
/// report counts lines read, loaded, replaced, flagged and rejected, and
/// names each rejected line (its item number for JSON) and field.
///
/// Limits (defaults; see the README): a body of at most 2 MiB
/// (`readings_max_bytes`, else 413); CSV lines of at most 1,024 bytes
/// (`upload_max_line_bytes`, a longer line is rejected by number); the body
/// must keep arriving, with no pause over 10 s and in 25 s in all
/// (`upload_idle_seconds`, `upload_total_seconds`, else 408); at most 2
/// uploads in flight per API key or user (`uploads_per_caller`, else 429).
#[utoipa::path(post, path = "/api/v1/readings", tag = "readings",
    params(LoadParams),
    request_body(content((Vec<ReadingDraft> = "application/json"), (ReadingsCsv = "text/csv")),
        description = "A JSON array of readings, or a CSV file with a header line"),
    security(("api_key" = [])),
    responses((status = 200, body = ImportReport, description = "loaded (with `partial`, rejected lines are listed)"),
              (status = 400, description = "neither JSON nor CSV, or the body could not be read"),
              (status = 408, description = "the body paused too long or took too long in all; nothing was loaded"),
              (status = 413, description = "the body is over the size limit; nothing was loaded"),
              (status = 422, body = ImportReport, description = "rejected lines; nothing was loaded"),
              (status = 429, description = "the caller already has as many uploads in flight as allowed")))]
async fn post_readings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<LoadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImportReport>), AppError> {
    user.require(Permission::EnterReadings)?;
    let i = I18n(user.locale);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_csv = content_type.starts_with("text/csv");
    if !is_csv && !content_type.starts_with("application/json") {
        return Err(AppError::BadRequest("expected Content-Type: application/json or text/csv".into()));
    }
    let config = &state.config;
    let _upload = state.uploads.begin(&user)?;
    let body = upload::read_to_memory(body, &BodyLimits::new(config, config.readings_max_bytes), &i).await?;
    let drafts =
        if is_csv { import::parse_csv_within(&body, config.upload_max_line_bytes, &i) } else { parse_json(&body, &i) };
    let drafts = match drafts {
        Ok(drafts) => drafts,
        Err(errors) => {
            let report = ImportReport { rejected: errors.len() as u64, errors, ..Default::default() };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(report)));
        }
    };
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let _turn = state.uploads.load_turn().await;
    let report =
        import::load(&state.db, user.tenant_id, user.user_id, &drafts, today, "api", params.partial, &i, &|_| {})
            .await?;
    let status =
        if report.rejected > 0 && report.loaded == 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, Json(report)))
}

/// A readings file; the pattern states the shortest form (meter, read_on,
/// total); every column of [`ReadingDraft`] may be given, in any order.
struct ReadingsCsv;

impl utoipa::PartialSchema for ReadingsCsv {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        const LINE: &str = concat!(
            r"[A-Za-z0-9_-]{1,32},(19|20)[0-9]{2}",
            crate::api::month_day!(),
            r",(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?"
        );
        crate::api::csv(
            "A header line naming the columns (meter, period, kind, read_on, total, peak, flat, valley, \
             reactive, max_demand_kw, rollover: meter, read_on and total required), then a line per reading.",
            &format!(r"^meter,read_on,total\r?\n({LINE}\r?\n)*$"),
        )
    }
}

impl utoipa::ToSchema for ReadingsCsv {}

/// A JSON array of readings, numbered from 1; an item that does not fit is named.
fn parse_json(body: &[u8], i: &I18n) -> Result<Vec<(u64, ReadingDraft)>, Vec<LineError>> {
    // The item a path such as `[3].meter` is in, numbered from 1.
    let line_of = |path: &str| {
        path.trim_start_matches('[').split(']').next().and_then(|n| n.parse::<u64>().ok()).map_or(0, |n| n + 1)
    };
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| vec![LineError { line: 0, field: String::new(), reason: e.to_string() }])?;
    let drafts: Vec<ReadingDraft> = api_json::from_document(document).map_err(|unfit| match unfit {
        Unfit::Text(errors) => errors
            .iter()
            .map(|e| LineError {
                line: line_of(&e.field),
                field: e.field.clone(),
                reason: i.t(&format!("err.{}", e.code)),
            })
            .collect(),
        Unfit::Shape(e) => {
            let path = e.path().to_string();
            vec![LineError { line: line_of(&path), field: path, reason: e.inner().to_string() }]
        }
    })?;
    Ok(drafts.into_iter().enumerate().map(|(n, d)| (n as u64 + 1, d)).collect())
}
