//! The customer's supply contracts page: the contracts recorded, the one in
//! force, and the form that records a new one (a renewal).

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    contracts::{Contract, ContractForm, Term},
    contracts_db, db,
};
use crate::{
    audit::{self, Actor, Change},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/customers/{id}/contracts", get(show).post(record))
}

#[derive(askama::Template)]
#[template(path = "customers/contracts.html")]
struct ContractsPage {
    p: Page,
    customer_id: Uuid,
    customer_name: String,
    account_no: String,
    contracts: Vec<Contract>,
    today: NaiveDate,
    can_edit: bool,
    form: ContractForm,
    errors: FieldErrors,
    saved: bool,
}

impl ContractsPage {
    /// The term's label and, when ending soon, the days left.
    fn term(&self, contract: &Contract) -> (&'static str, Option<i64>) {
        term_label(contract, self.today)
    }
}

/// A contract's term as a label code (`contracts.term_*`) and the days left when ending soon.
pub fn term_label(contract: &Contract, today: NaiveDate) -> (&'static str, Option<i64>) {
    let term = contract.term(today);
    let days = if let Term::EndingSoon(days) = term { Some(days) } else { None };
    (term.code(), days)
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: Option<(ContractForm, FieldErrors)>,
    saved: bool,
) -> Result<ContractsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let customer = db::get(&mut tx, id).await?;
    let contracts = contracts_db::for_customer(&mut tx, id).await?;
    tx.commit().await?;
    let (form, errors) = form.unwrap_or_default();
    let mut p = Page::for_user(user, "contracts.title");
    p.title = format!("{} · {}", p.title, customer.name);
    Ok(ContractsPage {
        p,
        customer_id: id,
        customer_name: customer.name,
        account_no: customer.account_no,
        contracts,
        today: today(user),
        can_edit: user.require(Permission::EditCustomers).is_ok(),
        form,
        errors,
        saved,
    })
}

fn today(user: &CurrentUser) -> NaiveDate {
    chrono::Utc::now().with_timezone(&user.tz).date_naive()
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    Ok(render(&page(&state, &user, id, None, q.saved).await?)?.into_response())
}

/// Checks and records a contract for customer `id`, audited: 404 when the
/// customer is not in this company, 422 naming each wrong field (and
/// `contract_no_taken` for a number the company has). Shared by the page and
/// the API.
pub async fn record_contract(
    conn: &mut sqlx::PgConnection,
    user: &CurrentUser,
    id: Uuid,
    form: &ContractForm,
) -> Result<Contract, AppError> {
    let customer = db::get(conn, id).await?;
    let new = form.check(today(user))?;
    let Some(contract_id) = contracts_db::record(conn, id, &new, &user.label).await? else {
        let mut errors = FieldErrors::default();
        errors.add("contract_no", "contract_no_taken");
        return Err(errors.into());
    };
    let change = Change {
        action: "create",
        entity: "supply_contract",
        entity_id: Some(contract_id),
        summary: format!("{} {} {}", customer.account_no, new.contract_no, new.expires_on),
        before: None,
        after: Some(json!(new)),
    };
    audit::record(conn, &Actor::from(user), change).await?;
    let recorded = contracts_db::for_customer(conn, id).await?.into_iter().find(|c| c.id == contract_id);
    Ok(recorded.expect("recorded in this transaction"))
}

async fn record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ContractForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    match record_contract(&mut tx, &user, id, &form).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/customers/{id}/contracts?saved=true")).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            refused(&state, &user, id, form, errors).await
        }
        Err(other) => Err(other),
    }
}

/// The page again with the form as typed and what is wrong with it.
async fn refused(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: ContractForm,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let page = page(state, user, id, Some((form, errors)), false).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}
