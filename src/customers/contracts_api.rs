//! A customer's supply contracts over the API.
//!
//! ```text
//! GET  /api/v1/customers/{id}/contracts  → [{id, contract_no, starts_on, expires_on, recorded_by, recorded_at}], the latest to start first
//! POST /api/v1/customers/{id}/contracts  {contract_no, starts_on, expires_on} → 201 the contract as recorded
//! ```

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    contracts::{Contract, ContractForm},
    contracts_db, contracts_pages, db,
};
use crate::{
    staff::Permission,
    web::{AppState, api_json::ApiJson, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_contracts, record_contract))
}

/// The customer's supply contracts, the latest to start first: the first is
/// the one in force (or about to be). 404 when the customer is not in this
/// company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/contracts", tag = "customers",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = Vec<Contract>), (status = 404)))]
async fn list_contracts(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<Contract>>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    db::get(&mut tx, id).await?;
    let contracts = contracts_db::for_customer(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(contracts))
}

/// Records a contract (a renewal is a new contract), audited. Dates are
/// `YYYY-MM-DD`. 422 names each wrong field: `contract_no` empty, invisible
/// or over 40 characters, or one the company has (`contract_no_taken`);
/// `starts_on` more than a year ahead; `expires_on` not after the start
/// (`contract_ends_before_start`) or more than 30 years ahead.
#[utoipa::path(post, path = "/api/v1/customers/{id}/contracts", tag = "customers",
    params(("id" = Uuid, Path, description = "customer id")), request_body = ContractForm,
    security(("api_key" = [])),
    responses((status = 201, body = Contract), (status = 404),
              (status = 422, description = "invalid fields, each named")))]
async fn record_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(form): ApiJson<ContractForm>,
) -> Result<(StatusCode, Json<Contract>), AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let contract = contracts_pages::record_contract(&mut tx, &user, id, &form).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(contract)))
}
