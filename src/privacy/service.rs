//! Exporting and anonymising one person's data, audited; shared by the page,
//! the API and the command line.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    db::{self, Anonymised},
    model,
};
use crate::{
    audit::{self, Actor, Change},
    web::error::AppError,
};

/// The name and version of the export's layout.
pub const FORMAT: &str = "gridcrm.personal-data.v1";

/// One person's data as exported (the layout the API documents; the
/// document itself is written by PostgreSQL).
#[derive(utoipa::ToSchema)]
pub struct PersonalData {
    /// `gridcrm.personal-data.v1`.
    pub format: String,
    pub exported_at: DateTime<Utc>,
    /// The staff member or API key that exported it.
    pub exported_by: String,
    pub customer_id: Uuid,
    pub account_no: String,
    /// One key per kind of record (`customer`, `customer_contacts`,
    /// `supply_points`, `meters`, `meter_readings`, `contacts`,
    /// `work_orders`, `notices`, `notice_preferences`, `bills`, `payments`,
    /// `refunds`, `credit_*`, `points_*`, `timeline`, `audit`, `portal` (its
    /// logins, payment orders, application documents and return visits), …),
    /// each the rows as stored.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Everything held about customer `id` as one JSON document (the layout of
/// [`PersonalData`]), with the export itself audited (who exported whom,
/// when). 404 when the customer is not in this tenant.
pub async fn export(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<db::Export, AppError> {
    let mut export = db::export(conn, id, &actor.label).await?.ok_or(AppError::NotFound)?;
    export.json = db::add_portal(conn, id, &export.json).await?;
    let change = Change {
        action: "export_personal_data",
        entity: "customer",
        entity_id: Some(id),
        summary: export.account_no.clone(),
        before: None,
        after: None,
    };
    audit::record(conn, actor, change).await?;
    Ok(export)
}

/// Anonymises customer `id` if it is closed and its retention period has
/// passed at `now`, audited without any of the personal data: 404 when not
/// in this tenant, 409 `account_not_closed`, `retention_not_passed` or
/// `already_anonymised` otherwise.
pub async fn anonymise(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Anonymised, AppError> {
    let account = db::account_for_update(conn, id).await?.ok_or(AppError::NotFound)?;
    let years = db::retention_years(conn).await?;
    let state = model::AccountState {
        status: &account.status,
        closed_at: account.closed_at,
        anonymised: account.anonymised_at.is_some(),
    };
    model::may_anonymise(&state, years, now).map_err(AppError::Conflict)?;
    let done = db::anonymise(conn, id, &model::mark(id)).await?;
    let change = Change {
        action: "anonymise",
        entity: "customer",
        entity_id: Some(id),
        summary: account.account_no,
        before: None,
        after: Some(json!({ "retention_years": years, "closed_at": account.closed_at, "rows": done })),
    };
    audit::record(conn, actor, change).await?;
    Ok(done)
}
