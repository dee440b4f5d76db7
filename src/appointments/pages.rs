//! The staff's side of hall appointments: the tenant admin's list of halls
//! (hours, slot length, customers a slot takes, whether they take
//! appointments), and a hall's day for its staff, who mark who came.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    HallForm, check_hall,
    db::{self, Appointment, Hall},
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
    Router::new()
        .route("/halls", get(halls_page).post(save_hall))
        .route("/halls/{id}/appointments", get(day_page))
        .route("/appointments/{id}/status", post(set_status))
}

// ---------------------------------------------------------------- halls

#[derive(askama::Template)]
#[template(path = "appointments/halls.html")]
struct HallsPage {
    p: Page,
    /// Tenant admins change halls; the halls' staff open their day.
    can_manage: bool,
    halls: Vec<Hall>,
    form: HallForm,
    errors: FieldErrors,
    saved: bool,
}

#[derive(Deserialize, Default)]
struct HallsQuery {
    /// The hall to change, by code.
    #[serde(default)]
    code: String,
    #[serde(default)]
    saved: bool,
}

fn form_of(h: &Hall) -> HallForm {
    HallForm {
        code: h.code.clone(),
        name: h.name.clone(),
        address: h.address.clone(),
        opens: h.opens.format("%H:%M").to_string(),
        closes: h.closes.format("%H:%M").to_string(),
        slot_minutes: h.slot_minutes.to_string(),
        capacity: h.capacity.to_string(),
        active: h.active.then(|| "on".to_owned()),
    }
}

async fn halls_view(
    state: &AppState,
    user: &CurrentUser,
    form: Option<HallForm>,
    code: &str,
    errors: FieldErrors,
    saved: bool,
) -> Result<HallsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let halls = db::halls(&mut tx, false).await?;
    tx.commit().await?;
    let form = form.unwrap_or_else(|| match halls.iter().find(|h| h.code == code) {
        Some(h) => form_of(h),
        None => HallForm {
            opens: "08:30".into(),
            closes: "17:00".into(),
            slot_minutes: "30".into(),
            capacity: "2".into(),
            active: Some("on".into()),
            ..HallForm::default()
        },
    });
    let can_manage = user.require(Permission::ManageServiceSettings).is_ok();
    Ok(HallsPage { p: Page::for_user(user, "appointments.halls_title"), can_manage, halls, form, errors, saved })
}

async fn halls_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HallsQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    Ok(render(&halls_view(&state, &user, None, &q.code, FieldErrors::default(), q.saved).await?)?.into_response())
}

async fn save_hall(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<HallForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let hall = match check_hall(&form) {
        Ok(hall) => hall,
        Err(errors) => {
            let page = halls_view(&state, &user, Some(form), "", errors, false).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let before = db::save_hall(&mut tx, &hall).await?;
    let view = |h: &HallForm| {
        json!({"name": h.name, "address": h.address, "opens": h.opens, "closes": h.closes,
        "slot_minutes": h.slot_minutes, "capacity": h.capacity, "active": h.active.is_some()})
    };
    let change = Change {
        action: if before.is_some() { "update" } else { "create" },
        entity: "business_hall",
        entity_id: None,
        summary: hall.code.clone(),
        before: before.as_ref().map(|b| view(&form_of(b))),
        after: Some(view(&form)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/halls?saved=true").into_response())
}

// ---------------------------------------------------------------- a hall's day

#[derive(askama::Template)]
#[template(path = "appointments/day.html")]
struct DayPage {
    p: Page,
    hall: Hall,
    day: NaiveDate,
    appointments: Vec<Appointment>,
}

#[derive(Deserialize, Default)]
struct DayQuery {
    day: Option<NaiveDate>,
}

async fn day_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DayQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let day = q.day.unwrap_or_else(|| chrono::Utc::now().with_timezone(&user.tz).date_naive());
    let mut tx = user.tx(&state.db).await?;
    let hall = db::hall(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let appointments = db::day_list(&mut tx, id, day).await?;
    tx.commit().await?;
    let mut p = Page::for_user(&user, "appointments.day_title");
    p.title = format!("{} · {}", hall.name, p.title);
    Ok(render(&DayPage { p, hall, day, appointments })?.into_response())
}

#[derive(Deserialize, Default)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

/// Marks a booked appointment attended or not shown.
async fn set_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    if !["attended", "no_show"].contains(&form.status.as_str()) {
        let mut errors = FieldErrors::default();
        errors.add("status", "unknown_code");
        return Err(AppError::Invalid(errors));
    }
    let mut tx = user.tx(&state.db).await?;
    let appointment = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !db::set_status(&mut tx, id, &form.status).await? {
        return Err(AppError::Conflict("appointment_not_booked"));
    }
    let change = Change {
        action: &form.status,
        entity: "hall_appointment",
        entity_id: Some(id),
        summary: appointment.ref_no.clone(),
        before: None,
        after: None,
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/halls/{}/appointments?day={}", appointment.hall_id, appointment.day)).into_response())
}
