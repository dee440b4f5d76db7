//! Supply point pages: the point (its meters now and before, its history),
//! and the forms to add or edit a point, install a meter and exchange one.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, AuditEntry, AuditFilter},
    customers::reference::{self, RefItem, RefList},
    staff::Permission,
    supply::{
        db::{self, Installation, Meter, Point},
        model::{ExchangeDraft, InstallDraft, METER_KINDS, PointDraft},
        service,
    },
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers/{id}/supply-points/new", get(new_point_form))
        .route("/customers/{id}/supply-points", axum::routing::post(create_point))
        .route("/supply-points/{id}", get(show).post(update_point))
        .route("/supply-points/{id}/edit", get(edit_point_form))
        .route("/supply-points/{id}/meters", get(install_form).post(install))
        .route("/meters/{id}/exchange", get(exchange_form).post(exchange))
}

fn today(user: &CurrentUser) -> NaiveDate {
    Utc::now().with_timezone(&user.tz).date_naive()
}

/// A form's answer to a refused change: the form again, with what was wrong.
fn refused(page: &impl askama::Template, conflict: bool) -> Result<Response, AppError> {
    let status = if conflict { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(page)?).into_response())
}

#[derive(askama::Template)]
#[template(path = "supply/show.html")]
struct ShowPage {
    p: Page,
    point: Point,
    account_no: String,
    customer_name: String,
    voltage_name: String,
    meters: Vec<Installation>,
    history: Vec<AuditEntry>,
    saved: bool,
    can_edit: bool,
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    saved: bool,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let point = db::get_point(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let (account_no, customer_name) = db::customer_label(&mut tx, point.customer_id).await?;
    let meters = db::installations(&mut tx, id).await?;
    let filter = AuditFilter {
        actor: None,
        entity: Some("supply_point".into()),
        entity_id: Some(id),
        from: None,
        to: None,
        before: None,
        limit: 50,
    };
    let history = audit::list(&mut tx, &filter).await?;
    let voltages = reference::load(&mut tx, RefList::Voltage).await?;
    tx.commit().await?;
    let mut p = Page::for_user(&user, "supply.point_title");
    p.title = format!("{} · {}", p.t("supply.point_title"), point.code);
    let voltage_name = name_of(&voltages, &point.voltage_code, p.lang()).to_owned();
    render(&ShowPage {
        p,
        account_no,
        customer_name,
        voltage_name,
        meters,
        history,
        saved: q.saved,
        can_edit: user.role.can(Permission::EditCustomers) && point.status != "removed",
        point,
    })
}

fn name_of<'a>(items: &'a [RefItem], code: &'a str, lang: &str) -> &'a str {
    items.iter().find(|i| i.code == code).map_or(code, |i| i.name(lang))
}

#[derive(askama::Template)]
#[template(path = "supply/point_form.html")]
struct PointForm {
    p: Page,
    customer_id: Uuid,
    account_no: String,
    customer_name: String,
    /// None when adding.
    point: Option<Point>,
    d: PointDraft,
    voltages: Vec<RefItem>,
    routes: Vec<(String, String)>,
    errors: FieldErrors,
    conflict: bool,
}

impl PointForm {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

async fn point_form(
    state: &AppState,
    user: &CurrentUser,
    customer_id: Option<Uuid>,
    point_id: Option<Uuid>,
    draft: Option<PointDraft>,
    errors: FieldErrors,
    conflict: bool,
) -> Result<PointForm, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let point = match point_id {
        Some(id) => Some(db::get_point(&mut tx, id).await?.ok_or(AppError::NotFound)?),
        None => None,
    };
    let customer_id = point.as_ref().map(|p| p.customer_id).or(customer_id).ok_or(AppError::NotFound)?;
    let (account_no, customer_name) = db::customer_label(&mut tx, customer_id).await?;
    // The form offers what the point may use: current codes, and the retired
    // ones this point already has.
    let allowed = db::codes(&mut tx, point_id).await?;
    let mut voltages = reference::load(&mut tx, RefList::Voltage).await?;
    voltages.retain(|v| allowed.voltages.contains(&v.code));
    let mut routes = reference::routes(&mut tx).await?;
    routes.retain(|(code, _)| allowed.routes.iter().any(|(allowed_code, _)| allowed_code == code));
    tx.commit().await?;
    let d = draft.unwrap_or_else(|| match &point {
        Some(p) => PointDraft {
            code: Some(p.code.clone()),
            address: Some(p.address.clone()),
            voltage_code: Some(p.voltage_code.clone()),
            capacity_kva: p.capacity_kva.map(|c| c.to_string()),
            transformer: Some(p.transformer.clone()),
            route_code: p.route_code.clone(),
            version: Some(p.version),
        },
        None => PointDraft::default(),
    });
    let title = if point.is_some() { "supply.edit_point" } else { "supply.new_point" };
    Ok(PointForm {
        p: Page::for_user(user, title),
        customer_id,
        account_no,
        customer_name,
        point,
        d,
        voltages,
        routes,
        errors,
        conflict,
    })
}

async fn new_point_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(customer_id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&point_form(&state, &user, Some(customer_id), None, None, FieldErrors::default(), false).await?)
}

async fn edit_point_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&point_form(&state, &user, None, Some(id), None, FieldErrors::default(), false).await?)
}

async fn create_point(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(customer_id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<PointDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    match service::create_point(&mut tx, &Actor::from(&user), customer_id, &draft).await {
        Ok(point) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/supply-points/{}?saved=true", point.id)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            refused(&point_form(&state, &user, Some(customer_id), None, Some(draft), errors, false).await?, false)
        }
        Err(other) => Err(other),
    }
}

async fn update_point(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<PointDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    // A form always holds the version it was drawn from.
    if draft.version.is_none() {
        let mut errors = FieldErrors::default();
        errors.add("version", "required");
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    let (errors, conflict) = match service::update_point(&mut tx, &Actor::from(&user), id, &draft).await {
        Ok(_) => {
            tx.commit().await?;
            return Ok(Redirect::to(&format!("/supply-points/{id}?saved=true")).into_response());
        }
        Err(AppError::Invalid(errors)) => (errors, false),
        Err(AppError::Conflict("stale_point")) => (FieldErrors::default(), true),
        Err(other) => return Err(other),
    };
    drop(tx);
    // On a conflict the form shows the current values, so the clerk can redo the edit on them.
    let draft = if conflict { None } else { Some(draft) };
    refused(&point_form(&state, &user, None, Some(id), draft, errors, conflict).await?, conflict)
}

#[derive(askama::Template)]
#[template(path = "supply/install.html")]
struct InstallForm {
    p: Page,
    point: Point,
    d: InstallDraft,
    errors: FieldErrors,
    refusal: Option<&'static str>,
}

impl InstallForm {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
    fn kinds(&self) -> &'static [&'static str] {
        &METER_KINDS
    }
}

async fn install_page(
    state: &AppState,
    user: &CurrentUser,
    point_id: Uuid,
    draft: Option<InstallDraft>,
    errors: FieldErrors,
    refusal: Option<&'static str>,
) -> Result<InstallForm, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let point = db::get_point(&mut tx, point_id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let d = draft.unwrap_or_else(|| InstallDraft {
        installed_on: today(user).to_string(),
        kind: Some("smart".into()),
        register_digits: Some(crate::supply::model::DEFAULT_REGISTER_DIGITS),
        multiplier: Some("1".into()),
        initial_reading: "0".into(),
        ..Default::default()
    });
    let mut p = Page::for_user(user, "supply.install_title");
    p.title = format!("{} · {}", p.t("supply.install_title"), point.code);
    Ok(InstallForm { p, point, d, errors, refusal })
}

async fn install_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&install_page(&state, &user, id, None, FieldErrors::default(), None).await?)
}

async fn install(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<InstallDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let (errors, refusal) = match service::install_meter(&mut tx, &Actor::from(&user), id, &draft, today(&user)).await {
        Ok(_) => {
            tx.commit().await?;
            return Ok(Redirect::to(&format!("/supply-points/{id}?saved=true")).into_response());
        }
        Err(AppError::Invalid(errors)) => (errors, None),
        Err(AppError::Conflict(code)) => (FieldErrors::default(), Some(code)),
        Err(other) => return Err(other),
    };
    drop(tx);
    refused(&install_page(&state, &user, id, Some(draft), errors, refusal).await?, refusal.is_some())
}

#[derive(askama::Template)]
#[template(path = "supply/exchange.html")]
struct ExchangeForm {
    p: Page,
    meter: Meter,
    point: Point,
    last_reading: Option<(NaiveDate, rust_decimal::Decimal)>,
    d: ExchangeDraft,
    errors: FieldErrors,
    refusal: Option<&'static str>,
}

impl ExchangeForm {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
    fn kinds(&self) -> &'static [&'static str] {
        &METER_KINDS
    }
}

async fn exchange_page(
    state: &AppState,
    user: &CurrentUser,
    meter_id: Uuid,
    draft: Option<ExchangeDraft>,
    errors: FieldErrors,
    refusal: Option<&'static str>,
) -> Result<ExchangeForm, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let meter = db::get_meter(&mut tx, meter_id).await?.ok_or(AppError::NotFound)?;
    // Only an installed meter can be exchanged; its point is where the form goes back to.
    let point_id = meter.supply_point_id.ok_or(AppError::Conflict("meter_not_in_service"))?;
    let point = db::get_point(&mut tx, point_id).await?.ok_or(AppError::NotFound)?;
    let last_reading = db::last_reading(&mut tx, meter_id).await?;
    tx.commit().await?;
    let d = draft.unwrap_or_else(|| ExchangeDraft {
        exchanged_on: today(user).to_string(),
        new_kind: Some(meter.kind.clone()),
        new_multiplier: Some(meter.multiplier.to_string()),
        new_register_digits: Some(meter.register_digits),
        new_time_of_use: meter.time_of_use,
        new_initial_reading: "0".into(),
        ..Default::default()
    });
    let mut p = Page::for_user(user, "supply.exchange_title");
    p.title = format!("{} · {}", p.t("supply.exchange_title"), meter.serial);
    Ok(ExchangeForm { p, meter, point, last_reading, d, errors, refusal })
}

async fn exchange_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&exchange_page(&state, &user, id, None, FieldErrors::default(), None).await?)
}

async fn exchange(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<ExchangeDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let (errors, refusal) = match service::exchange_meter(&mut tx, &Actor::from(&user), id, &draft, today(&user)).await
    {
        Ok(done) => {
            tx.commit().await?;
            return Ok(Redirect::to(&format!("/supply-points/{}?saved=true", done.supply_point_id)).into_response());
        }
        Err(AppError::Invalid(errors)) => (errors, None),
        Err(AppError::Conflict("meters_need_point_in_service")) => {
            (FieldErrors::default(), Some("meters_need_point_in_service"))
        }
        Err(other) => return Err(other),
    };
    drop(tx);
    refused(&exchange_page(&state, &user, id, Some(draft), errors, refusal).await?, refusal.is_some())
}
