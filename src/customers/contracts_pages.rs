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
    match contract.term(today) {
        Term::NotStarted => ("not_started", None),
        Term::InForce => ("in_force", None),
        Term::EndingSoon(days) => ("ending_soon", Some(days)),
        Term::Expired => ("expired", None),
    }
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

async fn record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ContractForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = db::get(&mut tx, id).await?;
    let new = match form.check(today(&user)) {
        Ok(new) => new,
        Err(errors) => {
            drop(tx);
            return refused(&state, &user, id, form, errors).await;
        }
    };
    let Some(contract_id) = contracts_db::record(&mut tx, id, &new, &user.label).await? else {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add("contract_no", "contract_no_taken");
        return refused(&state, &user, id, form, errors).await;
    };
    let change = Change {
        action: "create",
        entity: "supply_contract",
        entity_id: Some(contract_id),
        summary: format!("{} {} {}", customer.account_no, new.contract_no, new.expires_on),
        before: None,
        after: Some(json!(new)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}/contracts?saved=true")).into_response())
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
