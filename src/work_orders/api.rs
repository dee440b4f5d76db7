//! JSON API v1 for work orders: the dispatch system and the call centre open
//! and move them here.

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
    service::{Acting, HistoryEntry, ItemType, Owner, history},
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::{next_cursor, page_size},
    },
    work_orders::{
        db::{self, WorkOrder},
        model::{AREA_TYPES, CUSTOMER_TYPES, KINDS, MAX_METERS, StepInput, WorkOrderDraft, workflow_of},
        service,
    },
    workflow,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
        .routes(routes!(transition_order))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this customer's orders.
    customer: Option<Uuid>,
    /// Only this kind: repair, expansion, meter_check, periodic_visit, outage_negotiation, paid_maintenance.
    #[param(schema_with = kind_schema)]
    kind: Option<String>,
    /// Only orders in this state (a state of the kind's workflow).
    #[param(schema_with = state_schema)]
    state: Option<String>,
    /// Keyset cursor: the `next_before` of the previous page.
    before: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The work-order workflows (every one but the contact's).
fn order_workflows() -> impl Iterator<Item = &'static workflow::Workflow> {
    workflow::ALL.into_iter().filter(|w| w.name != workflow::CONTACT.name)
}

pub(crate) fn kind_schema() -> Schema {
    crate::api::codes(&KINDS)
}

/// Any work-order state; with `kind`, one of that kind's workflow.
fn state_schema() -> Schema {
    let mut states: Vec<&str> = order_workflows().flat_map(|w| w.states.iter().copied()).collect();
    states.sort_unstable();
    states.dedup();
    crate::api::codes(&states)
}

pub(crate) fn action_schema() -> Schema {
    let mut actions: Vec<&str> = order_workflows().flat_map(|w| w.all_actions()).collect();
    actions.sort_unstable();
    actions.dedup();
    crate::api::codes(&actions)
}

pub(crate) fn area_type_schema() -> Schema {
    crate::api::optional_codes(&AREA_TYPES)
}

pub(crate) fn customer_type_schema() -> Schema {
    crate::api::optional_codes(&CUSTOMER_TYPES)
}

pub(crate) fn documents_schema() -> Schema {
    crate::api::code_list(&crate::work_orders::change::all_documents(), false)
}

/// The serials of a customer's meters, each once.
pub(crate) fn meter_serials_schema() -> Schema {
    crate::api::pattern_list(r"^[A-Za-z0-9-]{4,32}$", MAX_METERS, true)
}

/// Final readings, kWh, in the order of `meter_serials`.
pub(crate) fn readings_schema() -> Schema {
    crate::api::pattern_list(r"^[0-9]{1,12}(\.[0-9]{1,2})?$", MAX_METERS, false)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkOrderPage {
    items: Vec<WorkOrder>,
    next_before: Option<String>,
}

/// Work orders, newest first, by customer, kind and/or state.
#[utoipa::path(get, path = "/api/v1/work-orders", tag = "work orders", params(ListParams),
    security(("api_key" = [])),
    responses((status = 200, body = WorkOrderPage), (status = 422, description = "bad filter, named")))]
async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<WorkOrderPage>, AppError> {
    user.require(Permission::HandleService)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    if params.kind.as_deref().is_some_and(|k| !KINDS.contains(&k)) {
        errors.add("kind", "unknown_code");
    }
    let known_state = |s: &str| match params.kind.as_deref() {
        Some(kind) => workflow_of(kind).states.contains(&s),
        None => workflow::ALL.iter().any(|w| w.name != "contact" && w.states.contains(&s)),
    };
    if params.state.as_deref().is_some_and(|s| !known_state(s)) {
        errors.add("state", "unknown_code");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    let mut items = db::search(
        &mut tx,
        params.customer,
        params.kind.as_deref(),
        params.state.as_deref(),
        params.before.as_deref(),
        limit + 1,
    )
    .await?;
    tx.commit().await?;
    let next_before = next_cursor(&mut items, limit, |o| o.ref_no.clone());
    Ok(Json(WorkOrderPage { items, next_before }))
}

/// Opens a work order. `owner` names the staff member responsible (their
/// username); without it, the caller owns it, or for an API key nobody does
/// until someone acts on it. Orders of VIP and important customers are put in
/// the green channel.
#[utoipa::path(post, path = "/api/v1/work-orders", tag = "work orders", request_body = WorkOrderDraft,
    security(("api_key" = [])),
    responses((status = 201, body = WorkOrder), (status = 422, description = "invalid fields, each named")))]
async fn create_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<WorkOrderDraft>,
) -> Result<(StatusCode, Json<WorkOrder>), AppError> {
    user.require(Permission::HandleService)?;
    let owner = Owner::for_api(draft.owner.as_ref(), &user);
    let mut tx = user.tx(&state.db).await?;
    let order = service::create(&mut tx, &Acting::from(&user), &draft, owner, Utc::now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(order)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkOrderDetail {
    #[serde(flatten)]
    order: WorkOrder,
    /// What may be done next.
    actions: Vec<&'static str>,
    history: Vec<HistoryEntry>,
}

/// One work order with its history.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}", tag = "work orders",
    params(("id" = Uuid, Path, description = "work order id")),
    security(("api_key" = [])),
    responses((status = 200, body = WorkOrderDetail), (status = 404)))]
async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<WorkOrderDetail>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let order = db::get(&mut tx, id).await?;
    let history = history(&mut tx, ItemType::WorkOrder, id).await?;
    tx.commit().await?;
    Ok(Json(WorkOrderDetail { actions: workflow_of(&order.kind).actions_from(&order.state), order, history }))
}

/// Moves a work order along its workflow. Steps carry what they record:
/// `crew` to dispatch a repair, `documents` to review an expansion, `supply_plan`,
/// `confirmed_by` for the customer's agreement, `supply_point_id` at power-on.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/transitions", tag = "work orders", request_body = StepInput,
    params(("id" = Uuid, Path, description = "work order id")),
    security(("api_key" = [])),
    responses((status = 200, body = WorkOrder), (status = 403, description = "not the owner"),
        (status = 409, description = "not an edge from the current state, or changed since `version`"),
        (status = 422, description = "the step lacks what it records, each field named")))]
async fn transition_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<StepInput>,
) -> Result<Json<WorkOrder>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let order = service::act(&mut tx, &Acting::from(&user), id, &body, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(order))
}
