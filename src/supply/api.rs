//! JSON API v1 for supply points and meters: list, create, get and edit
//! points; install a meter, read one, exchange one.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::Actor,
    staff::Permission,
    supply::{
        db::{self, Installation, Meter, Point},
        model::{ExchangeDraft, InstallDraft, POINT_STATUSES, PointDraft},
        service::{self, Exchanged},
    },
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::{next_cursor, page_size},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_points, create_point))
        .routes(routes!(get_point, patch_point))
        .routes(routes!(install_meter))
        .routes(routes!(get_meter))
        .routes(routes!(exchange_meter))
}

fn status_schema() -> Schema {
    crate::api::codes(&POINT_STATUSES)
}

pub(crate) fn meter_kind_schema() -> Schema {
    crate::api::optional_codes(&crate::supply::model::METER_KINDS)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this customer's points.
    customer: Option<Uuid>,
    /// Only points in this status: in_service, suspended, removed.
    #[param(schema_with = status_schema)]
    status: Option<String>,
    /// Keyset cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PointPage {
    items: Vec<Point>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
}

/// Supply points in code order, by customer and status.
#[utoipa::path(get, path = "/api/v1/supply-points", tag = "supply", params(ListParams),
    security(("api_key" = [])),
    responses((status = 200, body = PointPage), (status = 422, description = "bad filter, named")))]
async fn list_points(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<PointPage>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    if params.status.as_deref().is_some_and(|s| !POINT_STATUSES.contains(&s)) {
        errors.add("status", "unknown_code");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let after = params.after.unwrap_or_default();
    let mut tx = user.tx(&state.db).await?;
    let mut items = db::list_points(&mut tx, params.customer, params.status.as_deref(), &after, limit + 1).await?;
    tx.commit().await?;
    let next_after = next_cursor(&mut items, limit, |p| p.code.clone());
    Ok(Json(PointPage { items, next_after }))
}

/// A new supply point: the customer it belongs to and its fields.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewPoint {
    customer_id: Uuid,
    /// Blank: the account number and a running number, e.g. 3301000123-2.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{0,32}$")]
    code: Option<String>,
    /// Blank: the customer's address.
    #[serde(default)]
    #[schema(max_length = 300)]
    address: Option<String>,
    /// A code of the tenant's voltage levels.
    #[schema(min_length = 1, example = "v10k")]
    voltage_code: String,
    /// kVA, at most two decimals, e.g. "630".
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,7}(\.[0-9]{1,2})?)?$")]
    capacity_kva: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    transformer: Option<String>,
    /// The reading route, by code; blank: the customer's route.
    #[serde(default)]
    route_code: Option<String>,
}

/// Adds a supply point to a customer.
#[utoipa::path(post, path = "/api/v1/supply-points", tag = "supply", request_body = NewPoint,
    security(("api_key" = [])),
    responses((status = 201, body = Point),
        (status = 422, description = "invalid fields, each named; `unknown_customer` on `customer_id` for no such customer")))]
async fn create_point(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewPoint>,
) -> Result<(StatusCode, Json<Point>), AppError> {
    user.require(Permission::EditCustomers)?;
    let draft = PointDraft {
        code: new.code,
        address: new.address,
        voltage_code: Some(new.voltage_code),
        capacity_kva: new.capacity_kva,
        transformer: new.transformer,
        route_code: new.route_code,
        version: None,
    };
    let mut tx = user.tx(&state.db).await?;
    let point = service::create_point(&mut tx, &Actor::from(&user), new.customer_id, &draft)
        .await
        .map_err(unknown_in_body("customer_id", "unknown_customer"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(point)))
}

/// A record named in the body that this company does not have is a field
/// error: a 404 would say the route itself is missing.
fn unknown_in_body(field: &'static str, code: &'static str) -> impl FnOnce(AppError) -> AppError {
    move |error| match error {
        AppError::NotFound => {
            let mut errors = FieldErrors::default();
            errors.add(field, code);
            errors.into()
        }
        other => other,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PointDetail {
    #[serde(flatten)]
    point: Point,
    /// Every meter that served the point: the installed ones first.
    meters: Vec<Installation>,
}

/// One supply point with its meters, now and before.
#[utoipa::path(get, path = "/api/v1/supply-points/{id}", tag = "supply",
    params(("id" = Uuid, Path, description = "supply point id")),
    security(("api_key" = [])),
    responses((status = 200, body = PointDetail), (status = 404, description = "no such supply point")))]
async fn get_point(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PointDetail>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let point = db::get_point(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let meters = db::installations(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(PointDetail { point, meters }))
}

/// Changes the fields present in the body; an empty string clears an
/// optional field. With `version`, refused (409) if the point changed since.
#[utoipa::path(patch, path = "/api/v1/supply-points/{id}", tag = "supply", request_body = PointDraft,
    params(("id" = Uuid, Path, description = "supply point id")),
    security(("api_key" = [])),
    responses((status = 200, body = Point), (status = 404, description = "no such supply point"),
        (status = 409, description = "changed since `version`, or retired"),
        (status = 422, description = "invalid fields, each named")))]
async fn patch_point(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(patch): ApiJson<PointDraft>,
) -> Result<Json<Point>, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let point = service::update_point(&mut tx, &Actor::from(&user), id, &patch).await?;
    tx.commit().await?;
    Ok(Json(point))
}

/// Installs a meter on a supply point (`supply_point_id`, required) from a
/// day, with its initial reading.
#[utoipa::path(post, path = "/api/v1/meters", tag = "supply", request_body = InstallDraft,
    security(("api_key" = [])),
    responses((status = 201, body = Meter),
        (status = 409, description = "the point is not in service"),
        (status = 422, description = "invalid fields, each named; `unknown_supply_point` on `supply_point_id` for no such point")))]
async fn install_meter(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<InstallDraft>,
) -> Result<(StatusCode, Json<Meter>), AppError> {
    user.require(Permission::EditCustomers)?;
    let Some(point_id) = draft.supply_point_id else {
        let mut errors = FieldErrors::default();
        errors.add("supply_point_id", "required");
        return Err(errors.into());
    };
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let meter = service::install_meter(&mut tx, &Actor::from(&user), point_id, &draft, today)
        .await
        .map_err(unknown_in_body("supply_point_id", "unknown_supply_point"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(meter)))
}

/// One meter and where it is installed now.
#[utoipa::path(get, path = "/api/v1/meters/{id}", tag = "supply",
    params(("id" = Uuid, Path, description = "meter id")),
    security(("api_key" = [])),
    responses((status = 200, body = Meter), (status = 404, description = "no such meter")))]
async fn get_meter(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Meter>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let meter = db::get_meter(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Json(meter))
}

/// Exchanges a meter (拆换表) in one step: this meter comes out with its final
/// reading, the new one goes in on the same day with its initial reading.
#[utoipa::path(post, path = "/api/v1/meters/{id}/exchange", tag = "supply", request_body = ExchangeDraft,
    params(("id" = Uuid, Path, description = "the installed meter to take out")),
    security(("api_key" = [])),
    responses((status = 201, body = Exchanged), (status = 404, description = "no such meter"),
        (status = 409, description = "the meter is not installed, or its point not in service"),
        (status = 422, description = "invalid fields, each named")))]
async fn exchange_meter(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(draft): ApiJson<ExchangeDraft>,
) -> Result<(StatusCode, Json<Exchanged>), AppError> {
    user.require(Permission::EditCustomers)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let exchanged = service::exchange_meter(&mut tx, &Actor::from(&user), id, &draft, today).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(exchanged)))
}
