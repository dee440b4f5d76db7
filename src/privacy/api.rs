//! One person's data over the API (tenant admins only).
//!
//! ```text
//! GET  /api/v1/customers/{id}/personal-data  → everything held about the customer, one JSON document (audited)
//! POST /api/v1/customers/{id}/anonymise      → the rows changed; 409 when not closed or still within the retention period
//! ```

use axum::{
    Json,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    db::{Anonymised, Export},
    service::{self, PersonalData},
};
use crate::{
    audit::Actor,
    staff::Permission,
    web::{AppState, auth::CurrentUser, error::AppError},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(personal_data)).routes(routes!(anonymise))
}

/// Everything held about one customer (the archive, contacts, supply points
/// and meters, complaints and work orders, notices, bills and payments,
/// credit and points, consents and notice preferences, and the audit
/// entries about them) as one JSON document. The export is audited. 404 when
/// the customer is not in this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/personal-data", tag = "customers",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = PersonalData), (status = 404)))]
async fn personal_data(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let mut tx = user.tx(&state.db).await?;
    let export = service::export(&mut tx, &Actor::from(&user), id).await?;
    tx.commit().await?;
    Ok(attachment(export))
}

/// The export as a JSON file to save, named after the account number.
pub(super) fn attachment(export: Export) -> Response {
    let disposition = format!("attachment; filename=\"personal-data-{}.json\"", export.account_no);
    ([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_DISPOSITION, disposition)], export.json)
        .into_response()
}

/// Anonymises a closed account whose retention period (a company setting,
/// 3 years by default) has passed since closing: names, phones, ID number,
/// e-mail, addresses and free texts are replaced; bills, payments and
/// refunds are kept. Audited without the personal data. 409
/// `account_not_closed`, `retention_not_passed` or `already_anonymised`.
#[utoipa::path(post, path = "/api/v1/customers/{id}/anonymise", tag = "customers",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = Anonymised), (status = 404),
              (status = 409, description = "the account is not closed, is within its retention period, or is anonymised already")))]
async fn anonymise(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Anonymised>, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let mut tx = user.tx(&state.db).await?;
    let done = service::anonymise(&mut tx, &Actor::from(&user), id, chrono::Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(done))
}
