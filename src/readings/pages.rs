//! The reading form (counter or reader: save, see the result, next meter)
//! and the review queue of flagged readings.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    readings::{
        db::{self, ReadingRow},
        model::ReadingDraft,
        service::{self, Outcome, Preview},
    },
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
        .route("/readings/new", get(new_form))
        .route("/readings/preview", get(preview))
        .route("/readings", post(create))
        .route("/readings/review", get(review_queue))
        .route("/readings/{id}/review", post(review))
}

#[derive(Deserialize, Default)]
struct NewQuery {
    meter: Option<String>,
    saved: Option<Uuid>,
}

/// The form as sent: strings and a checkbox.
#[derive(Deserialize, Default, Clone)]
struct ReadingForm {
    #[serde(default)]
    meter: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    read_on: String,
    #[serde(default)]
    total: String,
    #[serde(default)]
    peak: String,
    #[serde(default)]
    flat: String,
    #[serde(default)]
    valley: String,
    #[serde(default)]
    reactive: String,
    #[serde(default)]
    max_demand_kw: String,
    #[serde(default)]
    rollover: Option<String>,
    /// The clerk confirmed an implausible value: it goes to the review queue.
    #[serde(default)]
    confirmed: Option<String>,
}

impl ReadingForm {
    fn draft(&self) -> ReadingDraft {
        let some = |s: &String| Some(s.clone()).filter(|s| !s.trim().is_empty());
        ReadingDraft {
            meter: self.meter.clone(),
            period: some(&self.period),
            kind: some(&self.kind),
            read_on: self.read_on.clone(),
            total: self.total.clone(),
            peak: some(&self.peak),
            flat: some(&self.flat),
            valley: some(&self.valley),
            reactive: some(&self.reactive),
            max_demand_kw: some(&self.max_demand_kw),
            rollover: Some(self.rollover.is_some()),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "readings/form.html")]
struct FormPage {
    p: Page,
    f: ReadingForm,
    errors: FieldErrors,
    /// The reading just saved, shown above a fresh form.
    saved: Option<ReadingRow>,
    /// The meter's previous reading and what the typed value gives.
    preview: Option<Preview>,
    /// The value was implausible and is not saved: the clerk confirms or corrects it.
    warned: bool,
}

impl FormPage {
    fn kinds(&self) -> &'static [&'static str] {
        &crate::readings::model::KINDS
    }
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NewQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::EnterReadings)?;
    let saved = match q.saved {
        Some(id) => {
            let mut tx = user.tx(&state.db).await?;
            let row = db::get(&mut tx, id).await?;
            tx.commit().await?;
            row
        }
        None => None,
    };
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    // The next meter of a round is usually read the same day for the same period.
    let (read_on, period) = match &saved {
        Some(r) => (r.read_on.to_string(), r.period.clone()),
        None => (today.to_string(), String::new()),
    };
    let f = ReadingForm {
        meter: q.meter.unwrap_or_default(),
        read_on,
        period,
        kind: "regular".into(),
        ..Default::default()
    };
    let page = FormPage {
        p: Page::for_user(&user, "readings.new_title"),
        f,
        errors: FieldErrors::default(),
        saved,
        preview: None,
        warned: false,
    };
    Ok(render(&page)?.into_response())
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<ReadingForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EnterReadings)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let jump_factor = db::jump_factor(&mut tx).await?;
    let confirmed = form.confirmed.is_some();
    match service::record_or_warn(&mut tx, &form.draft(), today, "form", user.user_id, jump_factor, confirmed).await? {
        Ok(Outcome::Recorded(recorded)) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/readings/new?saved={}", recorded.id)).into_response())
        }
        Ok(Outcome::Warned(preview)) => {
            tx.rollback().await?;
            let mut f = form;
            f.confirmed = None;
            let p = Page::for_user(&user, "readings.new_title");
            let page =
                FormPage { p, f, errors: FieldErrors::default(), saved: None, preview: Some(preview), warned: true };
            Ok(render(&page)?.into_response())
        }
        Err(errors) => {
            tx.rollback().await?;
            let p = Page::for_user(&user, "readings.new_title");
            let page = FormPage { p, f: form, errors, saved: None, preview: None, warned: false };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

#[derive(askama::Template)]
#[template(path = "readings/preview.html")]
struct PreviewPart {
    p: Page,
    preview: Option<Preview>,
    warned: bool,
}

/// The form's live preview (htmx): the meter's previous reading, its date and
/// multiplier, and the usage and warnings of the value typed so far.
async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ReadingForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EnterReadings)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let read_on = chrono::NaiveDate::parse_from_str(f.read_on.trim(), "%Y-%m-%d").unwrap_or(today).min(today);
    let period = crate::months::parse(f.period.trim());
    let kind = if crate::readings::model::KINDS.contains(&f.kind.as_str()) { f.kind.as_str() } else { "regular" };
    let total = crate::readings::model::register(&f.total);
    let mut tx = user.tx(&state.db).await?;
    let jump_factor = db::jump_factor(&mut tx).await?;
    let preview = if f.meter.trim().is_empty() {
        None
    } else {
        service::preview(&mut tx, &f.meter, read_on, period, kind, total, f.rollover.is_some(), jump_factor).await?
    };
    tx.commit().await?;
    let part = PreviewPart { p: Page::for_user(&user, "readings.new_title"), preview, warned: false };
    Ok(render(&part)?.into_response())
}

#[derive(askama::Template)]
#[template(path = "readings/review.html")]
struct ReviewPage {
    p: Page,
    rows: Vec<ReadingRow>,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

const QUEUE_ROWS: i64 = 200;

async fn queue_page(
    state: &AppState,
    user: &CurrentUser,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<ReviewPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let rows = db::review_queue(&mut tx, QUEUE_ROWS).await?;
    tx.commit().await?;
    Ok(ReviewPage { p: Page::for_user(user, "readings.review_title"), rows, errors, notice })
}

#[derive(Deserialize, Default)]
struct Reviewed {
    done: Option<String>,
}

async fn review_queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<Reviewed>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let notice = q.done.map(|_| "common.saved");
    Ok(render(&queue_page(&state, &user, FieldErrors::default(), notice).await?)?.into_response())
}

#[derive(Deserialize, Default)]
struct ReviewForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

/// Accept a flagged reading as read, or reject it (a re-reading is needed).
/// A rejection says why, for the reader who goes back.
async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReviewForm>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let mut errors = FieldErrors::default();
    let accept = match form.decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            errors.add("decision", "unknown_code");
            false
        }
    };
    let note = form.note.trim();
    if !accept && note.is_empty() {
        errors.add(format!("note-{id}"), "review_note_required");
    }
    if note.chars().count() > 500 {
        errors.add(format!("note-{id}"), "too_long");
    }
    if !errors.is_empty() {
        let page = queue_page(&state, &user, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = user.tx(&state.db).await?;
    let before = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !db::review(&mut tx, id, accept, user.user_id, note).await? {
        return Err(AppError::Conflict("stale_item"));
    }
    let change = Change {
        action: if accept { "accept" } else { "reject" },
        entity: "meter_reading",
        entity_id: Some(id),
        summary: format!("{} {} {}", before.meter, before.period, before.total),
        before: Some(json!({ "status": before.status, "flags": before.flags })),
        after: Some(json!({ "status": if accept { "accepted" } else { "superseded" }, "note": note })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/readings/review?done=1").into_response())
}
