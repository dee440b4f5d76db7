//! JSON API v1 for customers.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{
    AllOfBuilder, ObjectBuilder, Ref, RefOr,
    schema::{Schema, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::Actor,
    customers::{
        db::{self, Customer, CustomerSummary},
        model::{CHANNELS, CustomerDraft, IMPORTANCE_GRADES, STATUSES},
        search, service,
    },
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_customers, create_customer)).routes(routes!(get_customer, patch_customer))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// What the counter's search box takes: an account number, any part of
    /// four or more characters of an account, phone, meter, ID-card or credit
    /// code number, part of a name or an address, or pinyin initials. A search
    /// finds at most 100 customers (`more_matches` says when there are more).
    q: Option<String>,
    /// Keyset cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

pub(crate) fn importance_schema() -> Schema {
    crate::api::optional_codes(&IMPORTANCE_GRADES)
}

pub(crate) fn status_schema() -> Schema {
    crate::api::optional_codes(&STATUSES)
}

pub(crate) fn channels_schema() -> Schema {
    crate::api::code_list(&CHANNELS, true)
}

/// A new customer: a [`CustomerDraft`] in which the name and the four codes
/// are required.
struct NewCustomer;

impl utoipa::PartialSchema for NewCustomer {
    fn schema() -> RefOr<Schema> {
        let required = ["name", "class_code", "industry_code", "voltage_code", "tariff_code"];
        let mut fields = ObjectBuilder::new();
        for field in required {
            let max = if field == "name" { Some(200) } else { None };
            fields = fields
                .property(field, ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(max))
                .required(field);
        }
        AllOfBuilder::new().item(Ref::from_schema_name("CustomerDraft")).item(fields).into()
    }
}

impl utoipa::ToSchema for NewCustomer {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("CustomerDraft".into(), <CustomerDraft as utoipa::PartialSchema>::schema()));
        <CustomerDraft as utoipa::ToSchema>::schemas(schemas);
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    items: Vec<CustomerSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
    /// A search (`q`) matched more than the 100 customers it returns: narrow it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    more_matches: bool,
}

/// Lists or searches customers in account-number order.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListParams),
    security(("api_key" = [])),
    responses((status = 200, body = CustomerPage), (status = 401, description = "missing or unknown API key")))]
async fn list_customers(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Json<CustomerPage>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = crate::web::error::FieldErrors::default();
    let limit = crate::web::paging::page_size(params.limit, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let after = params.after.unwrap_or_default();
    // The search's statements run on generic plans (see db::search).
    let mut tx = user.tx_with(&state.db, state.search_settings()).await?;
    let (mut items, more_matches) = match params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            // At most the cap, in account-number order: the keyset pages through them.
            let found = db::search(&mut tx, user.tenant_id, &search::plan(q)).await?;
            let rows = found.rows.into_iter().filter(|c| c.account_no > after).take(limit as usize + 1).collect();
            (rows, found.more)
        }
        None => (db::list(&mut tx, &after, limit + 1).await?, false),
    };
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut items, limit, |c| c.account_no.clone());
    Ok(Json(CustomerPage { items, next_after, more_matches }))
}

/// Creates a customer. `account_no` is assigned when left out.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomer,
    security(("api_key" = [])),
    responses((status = 201, body = Customer), (status = 422, description = "invalid fields, each named")))]
async fn create_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(draft): ApiJson<CustomerDraft>,
) -> Result<(StatusCode, Json<Customer>), AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = service::create(&mut tx, &Actor::from(&user), &draft).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = Uuid, Path, description = "customer id")),
    security(("api_key" = [])),
    responses((status = 200, body = Customer), (status = 404, description = "no such customer")))]
async fn get_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Customer>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = db::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(customer))
}

/// Changes the fields present in the body; an empty string clears an optional
/// field. With `version`, the change is refused (409) if the customer changed since;
/// so is another `account_no` (fixed once issued; blank or the same is kept).
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", request_body = CustomerDraft,
    params(("id" = Uuid, Path, description = "customer id")),
    security(("api_key" = [])),
    responses((status = 200, body = Customer), (status = 404), (status = 409, description = "changed since `version`, or another `account_no`"),
        (status = 422, description = "invalid fields, each named")))]
async fn patch_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(patch): ApiJson<CustomerDraft>,
) -> Result<Json<Customer>, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = service::update(&mut tx, &Actor::from(&user), id, patch).await?;
    tx.commit().await?;
    Ok(Json(customer))
}
