//! Visits over the API: list them (by customer, manager, dates, status;
//! keyset paging) and plan one.
//!
//! ```text
//! GET  /api/v1/visits?manager_id=…&from=2026-12-01&status=planned   → {items: [...], next_after}
//! POST /api/v1/visits  {"customer_id": "…", "planned_on": "2026-12-09", "purpose": "…", "manager_id": "…"}
//! ```

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    portfolio::{
        db::{self, Visit, VisitFilter},
        visits::{self, PlanInput},
    },
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::{next_cursor, page_size},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_visits, plan_visit))
}

use crate::portfolio::VISIT_STATUSES as STATUSES;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    customer_id: Option<Uuid>,
    manager_id: Option<Uuid>,
    /// Planned on or after this day (YYYY-MM-DD).
    from: Option<NaiveDate>,
    /// Planned on or before this day (YYYY-MM-DD).
    to: Option<NaiveDate>,
    /// planned, done or cancelled.
    #[param(inline, schema_with = status_schema)]
    status: Option<String>,
    /// Keyset cursor: the `next_after` of the previous page (a day and an id).
    #[param(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9a-fA-F-]{36})?$")]
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

fn status_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&STATUSES)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VisitPage {
    items: Vec<Visit>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
}

/// A cursor is the last visit's planned day and id: `2026-12-09_<uuid>`.
fn parse_cursor(raw: &str) -> Option<(NaiveDate, Uuid)> {
    let (day, id) = raw.split_once('_')?;
    Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?, id.parse().ok()?))
}

/// Lists visits by planned day.
#[utoipa::path(get, path = "/api/v1/visits", tag = "visits", params(ListParams),
    security(("api_key" = [])), responses((status = 200, body = VisitPage)))]
async fn list_visits(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<VisitPage>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    let status = params.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        errors.add("status", "unknown_code");
    }
    let after = match params.after.as_deref().filter(|a| !a.is_empty()) {
        Some(raw) => parse_cursor(raw).or_else(|| {
            errors.add("after", "malformed");
            None
        }),
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let filter = VisitFilter {
        customer_id: params.customer_id,
        manager_id: params.manager_id,
        from: params.from,
        to: params.to,
        statuses: status.map(|s| vec![s.to_owned()]).unwrap_or_default(),
        after,
        limit: limit + 1,
    };
    let mut tx = user.tx(&state.db).await?;
    let mut items = db::list_visits(&mut tx, &filter).await?;
    tx.commit().await?;
    let next_after = next_cursor(&mut items, limit, |v| format!("{}_{}", v.planned_on, v.id));
    Ok(Json(VisitPage { items, next_after }))
}

/// Plans a visit. An account manager's key needs `manager_id` (a key is no
/// person); a signed-in account manager visits themselves.
#[utoipa::path(post, path = "/api/v1/visits", tag = "visits", request_body = PlanInput,
    security(("api_key" = [])),
    responses((status = 201, body = Visit), (status = 422, description = "invalid fields, each named")))]
async fn plan_visit(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(input): ApiJson<PlanInput>,
) -> Result<(StatusCode, Json<Visit>), AppError> {
    user.require(Permission::PlanVisits)?;
    let mut tx = user.tx(&state.db).await?;
    let visit = visits::plan(&mut tx, &user, &input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(visit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_a_day_and_an_id() {
        let id = Uuid::now_v7();
        let day = NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
        assert_eq!(parse_cursor(&format!("2026-12-09_{id}")), Some((day, id)));
        assert_eq!(parse_cursor("2026-12-09"), None);
        assert_eq!(parse_cursor(&format!("9 Dec_{id}")), None);
    }
}
