//! Reporting a fault from the portal: where it is (the address, and the
//! phone's position when the customer allows it), what happened, and then
//! following the repair: dispatched, the crew's arrival deadline, on site,
//! restored. The report is a repair work order on the same path, clocks and
//! notices as one taken by the hotline (`work_orders::service::create`).

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    auth::{PortalCaller, PortalForm},
    db::{self as portal_db, Account, FaultLine},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    service::Owner,
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
    work_orders::{
        model::{AREA_TYPES, WorkOrderDraft},
        service as work_orders,
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/portal/faults", get(faults_page).post(report))
}

/// Faults listed.
const LISTED: i64 = 20;
/// The work order's title: the start of what the customer wrote.
const TITLE_CHARS: usize = 60;

#[derive(askama::Template)]
#[template(path = "portal/faults.html")]
struct FaultsPage {
    p: Page,
    f: Frame,
    accounts: Vec<Account>,
    faults: Vec<FaultLine>,
    form: FaultForm,
    errors: FieldErrors,
    /// The reference of the fault just reported.
    reported: Option<String>,
}

impl FaultsPage {
    fn area_types(&self) -> &'static [&'static str] {
        &AREA_TYPES
    }
    /// The steps of a repair as the customer follows them, and whether each is reached.
    fn steps(&self, fault: &FaultLine) -> Vec<(&'static str, bool)> {
        let reached = |state: &str| match state {
            "reported" => 0,
            "dispatched" => 1,
            "on_site" => 2,
            "restored" | "closed" => 3,
            _ => -1,
        };
        let at = reached(&fault.state);
        ["reported", "dispatched", "on_site", "restored"].iter().map(|s| (*s, reached(s) <= at)).collect()
    }
}

#[derive(Deserialize, Default)]
struct FaultForm {
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    area_type: String,
    #[serde(default)]
    description: String,
    /// Filled by the page's script when the customer shares their position.
    #[serde(default)]
    latitude: String,
    #[serde(default)]
    longitude: String,
}

#[derive(Deserialize)]
struct Reported {
    reported: Option<String>,
}

async fn page_with(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    form: FaultForm,
    errors: FieldErrors,
    reported: Option<String>,
) -> Result<FaultsPage, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let accounts = portal_db::accounts(&mut tx).await?;
    let faults = portal_db::faults(&mut tx, LISTED).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.faults_title", caller.csrf.clone());
    p.tz = caller.tz;
    Ok(FaultsPage { p, f: signed_in_frame(caller, "/portal/faults"), accounts, faults, form, errors, reported })
}

async fn faults_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Query(q): Query<Reported>,
) -> Result<Response, AppError> {
    let reported = super::reference(q.reported);
    Ok(render(&page_with(&state, &caller, locale.0, FaultForm::default(), FieldErrors::default(), reported).await?)?
        .into_response())
}

/// An empty address means the account's own.
async fn report(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    PortalForm(form): PortalForm<FaultForm>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, form.account_no.trim()).await?;
    tx.commit().await?;
    let refused = async |errors: FieldErrors, form: FaultForm| -> Result<Response, AppError> {
        let page = page_with(&state, &caller, locale.0, form, errors, None).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let Some(account) = account else {
        let mut errors = FieldErrors::default();
        errors.add("account_no", "required");
        return refused(errors, form).await;
    };
    let address = if form.address.trim().is_empty() { account.address.clone() } else { form.address.clone() };
    let i = crate::web::i18n::I18n(locale.0);
    let what: String = form.description.trim().chars().take(TITLE_CHARS).collect();
    let title = if what.is_empty() { i.t("portal.fault_default_title") } else { what };
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let draft = WorkOrderDraft {
        kind: "repair".into(),
        customer_id: Some(account.customer_id.to_string()),
        title,
        description: form.description.clone(),
        address,
        latitude: optional(&form.latitude),
        longitude: optional(&form.longitude),
        area_type: optional(&form.area_type),
        ..WorkOrderDraft::default()
    };
    let who = caller.acting();
    let mut tx = caller.company_tx(&state.db).await?;
    match work_orders::create(&mut tx, &who, &draft, Owner::Unassigned, chrono::Utc::now()).await {
        Ok(order) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/faults?reported={}", order.ref_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            refused(errors, form).await
        }
        Err(err) => Err(err),
    }
}
