//! JSON API v1 for contacts: the 95598 call centre registers them here.

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
    complaints::{
        db::{self, Contact},
        model::{CHANNELS, ContactDraft, KINDS, SUBJECTS},
        service,
    },
    service::{Acting, HistoryEntry, ItemType, Owner, history},
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        paging::{next_cursor, page_size},
    },
    workflow::CONTACT,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact))
        .routes(routes!(transition_contact))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this customer's contacts.
    customer: Option<Uuid>,
    /// Only contacts in this state: received, acknowledged, in_progress, resolved, closed.
    #[param(schema_with = state_schema)]
    state: Option<String>,
    /// Keyset cursor: the `next_before` of the previous page.
    before: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

fn state_schema() -> Schema {
    crate::api::codes(CONTACT.states)
}

pub(crate) fn kind_schema() -> Schema {
    crate::api::codes(&KINDS)
}

pub(crate) fn channel_schema() -> Schema {
    crate::api::codes(&CHANNELS)
}

pub(crate) fn subject_schema() -> Schema {
    crate::api::codes(&SUBJECTS)
}

fn action_schema() -> Schema {
    crate::api::codes(&CONTACT.all_actions())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactPage {
    items: Vec<Contact>,
    next_before: Option<String>,
}

/// Contacts, newest first, by customer and/or state.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ListParams),
    security(("api_key" = [])),
    responses((status = 200, body = ContactPage), (status = 422, description = "bad filter, named")))]
async fn list_contacts(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ContactPage>, AppError> {
    user.require(Permission::HandleService)?;
    let mut errors = FieldErrors::default();
    let limit = page_size(params.limit, &mut errors);
    if params.state.as_deref().is_some_and(|s| !CONTACT.states.contains(&s)) {
        errors.add("state", "unknown_code");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    let mut items =
        db::search(&mut tx, params.customer, params.state.as_deref(), params.before.as_deref(), limit + 1).await?;
    tx.commit().await?;
    let next_before = next_cursor(&mut items, limit, |c| c.ref_no.clone());
    Ok(Json(ContactPage { items, next_before }))
}

/// Registers a contact. `owner` names the staff member who took it (their
/// username); without it, the caller owns it, or for an API key nobody does
/// until someone acknowledges it.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = ContactDraft,
    security(("api_key" = [])),
    responses((status = 201, body = Contact), (status = 422, description = "invalid fields, each named")))]
async fn create_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<ContactDraft>,
) -> Result<(StatusCode, Json<Contact>), AppError> {
    user.require(Permission::HandleService)?;
    let owner = Owner::for_api(draft.owner.as_ref(), &user);
    let mut tx = user.tx(&state.db).await?;
    let contact = service::create(&mut tx, &Acting::from(&user), &draft, owner, Utc::now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactDetail {
    #[serde(flatten)]
    contact: Contact,
    /// What may be done next.
    actions: Vec<&'static str>,
    history: Vec<HistoryEntry>,
}

/// One contact with its history.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = Uuid, Path, description = "contact id")),
    security(("api_key" = [])),
    responses((status = 200, body = ContactDetail), (status = 404)))]
async fn get_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ContactDetail>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let contact = db::get(&mut tx, id).await?;
    let history = history(&mut tx, ItemType::Contact, id).await?;
    tx.commit().await?;
    Ok(Json(ContactDetail { actions: CONTACT.actions_from(&contact.state), contact, history }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransitionRequest {
    /// acknowledge, start, resolve, close or reopen; an action that is not an
    /// edge from the current state answers 409.
    #[schema(schema_with = action_schema)]
    action: String,
    /// Required to resolve (it is the resolution).
    #[serde(default)]
    #[schema(max_length = 2000)]
    comment: String,
    /// The contact's version this is based on; a changed contact answers 409.
    version: Option<i32>,
}

/// Moves a contact along its state machine.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/transitions", tag = "contacts", request_body = TransitionRequest,
    params(("id" = Uuid, Path, description = "contact id")),
    security(("api_key" = [])),
    responses((status = 200, body = Contact), (status = 403, description = "not the owner"),
        (status = 409, description = "not an edge from the current state, or changed since `version`")))]
async fn transition_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<TransitionRequest>,
) -> Result<Json<Contact>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let contact =
        service::act(&mut tx, &Acting::from(&user), id, &body.action, &body.comment, body.version, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(contact))
}
