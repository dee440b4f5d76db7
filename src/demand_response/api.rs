//! Demand response over the API.
//!
//! ```text
//! GET  /api/v1/dr-events?limit=                 → [event with counts], latest day first
//! POST /api/v1/dr-events                        {title, day, window_start, window_end, requested_kw, price_per_kwh,
//!                                                accounts, routes, segments, send} → 201 {event, invited, told}
//! POST /api/v1/dr-events/{id}/responses         {customer_id | account_no, decision, committed_kw} → the answer
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    EventForm,
    db::{self, DrEventSummary, DrResponse, Invitees},
};
use crate::{
    audit::Actor,
    staff::{Permission, Role},
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::page_size,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events, create_event)).routes(routes!(record_response))
}

/// The account manager whose customers alone the caller sees, if the
/// caller is one (signed in; an account manager's API key sees all).
pub fn manager_of(user: &CurrentUser) -> Option<Uuid> {
    if user.role == Role::AccountManager { user.user_id } else { None }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// At most this many events, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The company's demand response events, latest day first, each with its
/// invited, accepted and declined customers, the kW committed, and the
/// verified kWh and rewards once settled.
#[utoipa::path(get, path = "/api/v1/dr-events", tag = "demand_response", params(ListParams),
    security(("api_key" = [])), responses((status = 200, body = Vec<DrEventSummary>)))]
async fn list_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<DrEventSummary>>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    let events = db::list(&mut tx, manager_of(&user), limit).await?;
    tx.commit().await?;
    Ok(Json(events))
}

/// A demand response event over the API.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DrEventDraft {
    /// What the event is, 1–200 characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200)]
    pub title: String,
    /// The event day (tenant local), at most 60 days past and a year ahead.
    #[serde(default)]
    #[schema(required = true, format = Date, example = "2026-12-10")]
    pub day: String,
    /// The window's start, local `HH:MM` on a whole half hour.
    #[serde(default)]
    #[schema(required = true, pattern = r"^([01][0-9]|2[0-3]):(00|30)$", example = "14:00")]
    pub window_start: String,
    /// The window's end, after the start, `HH:MM` on a whole half hour.
    #[serde(default)]
    #[schema(required = true, pattern = r"^([01][0-9]|2[0-3]):(00|30)$", example = "16:00")]
    pub window_end: String,
    /// The reduction asked for, kW, more than 0 (a decimal string, 2 places).
    #[serde(default)]
    #[schema(
        required = true,
        pattern = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,8}(\.[0-9]{1,2})?)$",
        example = "500"
    )]
    pub requested_kw: String,
    /// The reward per verified kWh, yuan (a decimal string, 4 places).
    #[serde(default)]
    #[schema(required = true, pattern = r"^[0-9]{1,5}(\.[0-9]{1,4})?$", example = "3.5")]
    pub price_per_kwh: String,
    /// Account numbers to invite (active customers), at most 2,000.
    #[serde(default)]
    #[schema(max_items = 2000)]
    pub accounts: Vec<String>,
    /// Reading route codes: their active customers are invited.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Segment ids: their members (as of the last recompute) are invited.
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    pub segments: Vec<String>,
    /// Send the invitations at once (default true); false keeps a draft.
    #[serde(default)]
    pub send: Option<bool>,
}

/// An event as created.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DrEventCreated {
    pub event: DrEventSummary,
    /// Customers invited.
    pub invited: u64,
    /// Customers told (a `demand_response_request` notice event each).
    pub told: u64,
}

/// Records an event, invites the customers named (accounts, routes,
/// segments; active customers, each once) and, unless `send` is false,
/// sends the invitations: each invited customer gets a
/// `demand_response_request` notice event. All or nothing. 422 names each
/// wrong field (`title`; `day`: `date_format`, `dr_day_too_early`,
/// `date_too_late`; `window_start`/`window_end`: `dr_time_format`,
/// `dr_half_hour`, `dr_window_order`; `requested_kw`: `dr_kw`;
/// `price_per_kwh`: `dr_price`; `accounts`: `dr_unknown_account`,
/// `dr_inactive_account`; `routes[i]`: `unknown_route`; `segments[i]`:
/// `dr_unknown_segment`; `invitations`: `dr_nobody_invited` when sending
/// to nobody).
#[utoipa::path(post, path = "/api/v1/dr-events", tag = "demand_response", request_body = DrEventDraft,
    security(("api_key" = [])),
    responses((status = 201, body = DrEventCreated), (status = 422, description = "invalid fields, each named")))]
async fn create_event(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<DrEventDraft>,
) -> Result<(StatusCode, Json<DrEventCreated>), AppError> {
    user.require(Permission::RunDemandResponse)?;
    let form = EventForm {
        title: draft.title.clone(),
        day: draft.day.clone(),
        window_start: draft.window_start.clone(),
        window_end: draft.window_end.clone(),
        requested_kw: draft.requested_kw.clone(),
        price_per_kwh: draft.price_per_kwh.clone(),
    };
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let valid = super::check(&form, today)?;
    let actor = Actor::from(&user);
    let event = db::create(&mut tx, &actor, &valid).await?;
    let mut invited = 0;
    let accounts: Vec<String> = super::account_list(&draft.accounts.join("\n"));
    if !accounts.is_empty() {
        invited += db::invite(&mut tx, &actor, event.id, &Invitees::Accounts(accounts, "accounts".into())).await?;
    }
    for (n, code) in draft.routes.iter().enumerate() {
        let who = Invitees::Route(code.clone(), format!("routes[{n}]"));
        invited += db::invite(&mut tx, &actor, event.id, &who).await?;
    }
    for (n, segment) in draft.segments.iter().enumerate() {
        let field = format!("segments[{n}]");
        let Ok(segment) = segment.trim().parse::<Uuid>() else {
            let mut errors = FieldErrors::default();
            errors.add(field, "dr_unknown_segment");
            return Err(errors.into());
        };
        invited += db::invite(&mut tx, &actor, event.id, &Invitees::Segment(segment, field)).await?;
    }
    let told = if draft.send.unwrap_or(true) { db::send(&mut tx, &actor, event.id).await? } else { 0 };
    let row = db::list(&mut tx, None, 200).await?.into_iter().find(|r| r.id == event.id).ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(DrEventCreated { event: row, invited, told })))
}

/// An invited customer's answer.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DrResponseDraft {
    /// The customer, by id ...
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub customer_id: Option<String>,
    /// ... or by account number (one of the two).
    #[serde(default)]
    pub account_no: Option<String>,
    /// `accepted` or `declined`.
    #[serde(default)]
    #[schema(required = true, schema_with = decision_schema)]
    pub decision: String,
    /// The reduction committed, kW (a decimal string, more than 0), for an acceptance.
    #[serde(default)]
    #[schema(pattern = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,8}(\.[0-9]{1,2})?)$", example = "120")]
    pub committed_kw: Option<String>,
}

fn decision_schema() -> utoipa::openapi::schema::Schema {
    crate::api::codes(&super::DECISIONS)
}

/// Records an invited customer's answer (a later answer replaces the
/// earlier one; the audit log keeps both). Answers are taken while the
/// invitations are out: 409 `dr_status` for a draft, closed or settled
/// event. 404 when the event or the invited customer is not found (for an
/// account manager: not one of their customers). 422: `customer_id`
/// (`required` when neither is given, `unknown_customer` when it is no id),
/// `decision` (`dr_decision`),
/// `committed_kw` (`dr_committed_required`, `dr_kw`).
#[utoipa::path(post, path = "/api/v1/dr-events/{id}/responses", tag = "demand_response",
    params(("id" = Uuid, Path, description = "event id")), request_body = DrResponseDraft,
    security(("api_key" = [])),
    responses((status = 200, body = DrResponse), (status = 404), (status = 409, description = "not taking answers"),
              (status = 422, description = "invalid fields, each named")))]
async fn record_response(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(draft): ApiJson<DrResponseDraft>,
) -> Result<Json<DrResponse>, AppError> {
    user.require(Permission::ReadAccounts)?;
    let checked = super::check_response(&draft.decision, draft.committed_kw.as_deref().unwrap_or(""));
    let account = draft.account_no.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let id_text = draft.customer_id.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let customer_id = id_text.map(str::parse::<Uuid>);
    if customer_id.is_none() && account.is_none() || matches!(customer_id, Some(Err(_))) {
        let mut errors = checked.err().unwrap_or_default();
        errors.add("customer_id", if customer_id.is_none() { "required" } else { "unknown_customer" });
        return Err(errors.into());
    }
    let (decision, committed) = checked?;
    let mut tx = user.tx(&state.db).await?;
    let customer = match (customer_id.and_then(Result::ok), account) {
        (Some(c), _) => c,
        (None, Some(a)) => db::customer_by_account(&mut tx, a).await?.ok_or(AppError::NotFound)?,
        (None, None) => return Err(AppError::NotFound),
    };
    let saved =
        db::respond(&mut tx, &Actor::from(&user), id, customer, decision, committed, "api", manager_of(&user)).await?;
    tx.commit().await?;
    Ok(Json(saved))
}
