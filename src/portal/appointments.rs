//! Booking an appointment at a business hall from the portal: choose the
//! hall and the day, then a slot with room left, the account and what it is
//! about; see and cancel one's appointments. The rules are in
//! `appointments`; the booking counts the slot under the hall's lock.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    auth::{PortalCaller, PortalForm},
    db::{self as portal_db, Account},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    appointments::{
        self, BookingForm, PURPOSES,
        db::{self as appointments_db, Appointment, Booking, Hall},
    },
    audit::{self, Change},
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/appointments", get(appointments_page).post(book))
        .route("/portal/appointments/{id}/cancel", post(cancel))
}

/// A slot as the form offers it.
struct Slot {
    starts: NaiveTime,
    left: i64,
    /// Booking closed (too soon) or full.
    open: bool,
}

#[derive(askama::Template)]
#[template(path = "portal/appointments.html")]
struct AppointmentsPage {
    p: Page,
    f: Frame,
    accounts: Vec<Account>,
    halls: Vec<Hall>,
    days: Vec<NaiveDate>,
    /// The hall and day chosen (step two), with their slots.
    hall: Option<Hall>,
    day: Option<NaiveDate>,
    slots: Vec<Slot>,
    form: BookingForm,
    errors: FieldErrors,
    mine: Vec<Appointment>,
    booked: Option<String>,
    cancelled: bool,
    today: NaiveDate,
}

impl AppointmentsPage {
    fn purposes(&self) -> &'static [&'static str] {
        &PURPOSES
    }
    fn is_day(&self, d: &NaiveDate) -> bool {
        self.day == Some(*d)
    }
    fn is_hall(&self, h: &Hall) -> bool {
        self.hall.as_ref().is_some_and(|x| x.id == h.id)
    }
    fn hhmm(&self, t: &NaiveTime) -> String {
        t.format("%H:%M").to_string()
    }
    fn cancellable(&self, a: &Appointment) -> bool {
        a.status == "booked" && a.day >= self.today
    }
}

#[derive(Deserialize, Default)]
struct Choice {
    hall: Option<Uuid>,
    day: Option<NaiveDate>,
    booked: Option<String>,
    #[serde(default)]
    cancelled: bool,
}

async fn view(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    choice: Choice,
    form: BookingForm,
    errors: FieldErrors,
) -> Result<AppointmentsPage, AppError> {
    let now = chrono::Utc::now().with_timezone(&caller.tz).naive_local();
    let today = now.date();
    let mut tx = caller.tx(&state.db).await?;
    let accounts = portal_db::accounts(&mut tx).await?;
    let halls = appointments_db::halls(&mut tx, true).await?;
    let mine = appointments_db::mine(&mut tx, 20).await?;
    tx.commit().await?;
    let mut tx = caller.company_tx(&state.db).await?;
    let rules = crate::sla::settings::load_rules(&mut tx, caller.tz).await?;
    let days = appointments::bookable_days(today, &rules.calendar);
    let hall = choice.hall.and_then(|id| halls.iter().find(|h| h.id == id).cloned());
    let day = choice.day.filter(|d| days.contains(d));
    let mut slots = Vec::new();
    if let (Some(h), Some(d)) = (&hall, day) {
        let taken = appointments_db::taken(&mut tx, h.id, d).await?;
        for starts in appointments::slots(h.opens, h.closes, h.slot_minutes) {
            let used = taken.iter().find(|(t, _)| *t == starts).map_or(0, |(_, n)| *n);
            let left = (i64::from(h.capacity) - used).max(0);
            slots.push(Slot { starts, left, open: left > 0 && appointments::still_open(d, starts, now) });
        }
    }
    tx.commit().await?;
    let mut p = page(locale, "portal.appointments_title", caller.csrf.clone());
    p.tz = caller.tz;
    let f = signed_in_frame(caller, "/portal/appointments");
    let (booked, cancelled) = (choice.booked, choice.cancelled);
    Ok(AppointmentsPage { p, f, accounts, halls, days, hall, day, slots, form, errors, mine, booked, cancelled, today })
}

async fn appointments_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Query(choice): Query<Choice>,
) -> Result<Response, AppError> {
    let choice = Choice { booked: super::reference(choice.booked.clone()), ..choice };
    let page = view(&state, &caller, locale.0, choice, BookingForm::default(), FieldErrors::default()).await?;
    Ok(render(&page)?.into_response())
}

async fn book(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    PortalForm(form): PortalForm<BookingForm>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, form.account_no.trim()).await?;
    tx.commit().await?;
    let checked = appointments::check_booking(&form);
    let refused = async |errors: FieldErrors, form: BookingForm| -> Result<Response, AppError> {
        let choice = Choice {
            hall: Uuid::parse_str(form.hall.trim()).ok(),
            day: NaiveDate::parse_from_str(form.day.trim(), "%Y-%m-%d").ok(),
            ..Choice::default()
        };
        let page = view(&state, &caller, locale.0, choice, form, errors).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let (hall_id, day, starts, purpose) = match (checked, &account) {
        (Ok(fields), Some(_)) => fields,
        (checked, _) => {
            let mut errors = checked.err().unwrap_or_default();
            if account.is_none() {
                errors.add("account_no", "required");
            }
            return refused(errors, form).await;
        }
    };
    let account = account.expect("checked above");
    let now = chrono::Utc::now().with_timezone(&caller.tz).naive_local();
    let mut tx = caller.company_tx(&state.db).await?;
    let calendar = crate::sla::settings::load_rules(&mut tx, caller.tz).await?.calendar;
    let booking = Booking {
        hall_id,
        customer_id: account.customer_id,
        portal_user_id: Some(caller.user_id),
        day,
        starts,
        purpose: &purpose,
    };
    let result = appointments_db::book(&mut tx, &booking, |hall| {
        if !appointments::bookable_days(now.date(), &calendar).contains(&day) {
            Err("hall_closed_that_day")
        } else if !appointments::slots(hall.opens, hall.closes, hall.slot_minutes).contains(&starts) {
            Err("unknown_slot")
        } else if !appointments::still_open(day, starts, now) {
            Err("slot_closed")
        } else {
            Ok(())
        }
    })
    .await?;
    match result {
        Ok(ref_no) => {
            let change = Change {
                action: "create",
                entity: "hall_appointment",
                entity_id: None,
                summary: format!("{ref_no} · {day} {}", starts.format("%H:%M")),
                before: None,
                after: Some(serde_json::json!({"hall": hall_id, "account_no": account.account_no, "purpose": purpose})),
            };
            audit::record(&mut tx, &caller.actor(), change).await?;
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/appointments?booked={ref_no}")).into_response())
        }
        Err(refusal) => {
            drop(tx);
            let mut errors = FieldErrors::default();
            errors.add(if refusal == "too_many_appointments" { "account_no" } else { "starts" }, refusal);
            refused(errors, form).await
        }
    }
}

/// Cancels one of the customer's booked appointments (another's is not found).
async fn cancel(
    State(state): State<AppState>,
    caller: PortalCaller,
    Path(id): Path<Uuid>,
    PortalForm(_form): PortalForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let appointment = appointments_db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let mut tx = caller.company_tx(&state.db).await?;
    if !appointments_db::set_status(&mut tx, id, "cancelled").await? {
        return Err(AppError::Conflict("appointment_not_booked"));
    }
    let change = Change {
        action: "cancel",
        entity: "hall_appointment",
        entity_id: Some(id),
        summary: appointment.ref_no,
        before: None,
        after: None,
    };
    audit::record(&mut tx, &caller.actor(), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/portal/appointments?cancelled=true").into_response())
}
