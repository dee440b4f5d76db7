//! The end-of-day reconciliation pages: the day's cashiers with their
//! receipts, reversals and totals per channel; closing one's own day; a
//! supervisor's sign-off; a printable report per cashier.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    payments::cash_days::{self, CashierDay},
    prints::{self, Letterhead},
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
        .route("/cash-days", get(list))
        .route("/cash-days/{day}/close", post(close))
        .route("/cash-days/{day}/cashiers/{cashier}", get(report))
        .route("/cash-days/{day}/cashiers/{cashier}/sign-off", post(sign_off))
}

/// A day in the path: 2026-12-03.
fn parse_day(raw: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| AppError::NotFound)
}

#[derive(Deserialize, Default)]
struct DayQuery {
    #[serde(default)]
    day: String,
    #[serde(default)]
    saved: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "payments/cash_days.html")]
struct ListPage {
    p: Page,
    day: NaiveDate,
    today: NaiveDate,
    days: Vec<CashierDay>,
    me: Option<Uuid>,
    /// The signed-in cashier's own day is open (they may close it).
    mine_open: bool,
    errors: FieldErrors,
    conflict: Option<&'static str>,
    saved: bool,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    day: NaiveDate,
    errors: FieldErrors,
    conflict: Option<&'static str>,
) -> Result<ListPage, AppError> {
    let can_sign = user.role.can(Permission::Bill);
    // A cashier sees their own day; supervisors see every cashier's.
    let only = if can_sign { None } else { user.user_id };
    let mut tx = user.tx(&state.db).await?;
    let days = cash_days::for_day(&mut tx, day, only).await?;
    let mine_open = match user.user_id {
        Some(me) => cash_days::one(&mut tx, day, me).await?.is_open(),
        None => false,
    };
    tx.commit().await?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    Ok(ListPage {
        p: Page::for_user(user, "cash.title"),
        day,
        today,
        days,
        me: user.user_id,
        mine_open,
        errors,
        conflict,
        saved: false,
    })
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<DayQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let day = match q.day.trim() {
        "" => today,
        raw => match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            Ok(day) => day,
            Err(_) => {
                let mut errors = FieldErrors::default();
                errors.add("day", "date_format");
                return Err(AppError::Invalid(errors));
            }
        },
    };
    let mut page = list_page(&state, &user, day, FieldErrors::default(), None).await?;
    page.saved = q.saved.is_some();
    Ok(render(&page)?.into_response())
}

async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(day): Path<String>,
    CsrfForm(_): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    let day = parse_day(&day)?;
    let actor = Actor::from(&user);
    let result = crate::web::change::in_tenant_tx(&state, &user, async |tx| {
        cash_days::close(tx, &actor, day).await?;
        Ok(())
    })
    .await;
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/cash-days?day={day}&saved=1")).into_response()),
        Err(err) => {
            crate::web::change::after_change(Err(err), "/cash-days", |errors, conflict| {
                list_page(&state, &user, day, errors, conflict)
            })
            .await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "payments/cash_day.html")]
struct ReportPage {
    p: Page,
    d: CashierDay,
    letterhead: Letterhead,
    can_sign: bool,
    printed_by: String,
    errors: FieldErrors,
    conflict: Option<&'static str>,
    saved: bool,
}

async fn report_page(
    state: &AppState,
    user: &CurrentUser,
    day: NaiveDate,
    cashier: Uuid,
    errors: FieldErrors,
    conflict: Option<&'static str>,
) -> Result<ReportPage, AppError> {
    let can_sign = user.role.can(Permission::Bill);
    if !can_sign && user.user_id != Some(cashier) {
        // Another cashier's day is not a counter clerk's business.
        return Err(AppError::NotFound);
    }
    let mut tx = user.tx(&state.db).await?;
    let d = cash_days::one(&mut tx, day, cashier).await?;
    let letterhead = prints::letterhead(&mut tx).await?;
    tx.commit().await?;
    let mut p = Page::for_user(user, "cash.report_title");
    p.title = format!("{} · {} · {}", p.t("cash.report_title"), d.cashier, p.date(&day));
    Ok(ReportPage {
        p,
        can_sign: can_sign && user.user_id != Some(cashier) && d.status == "closed",
        d,
        letterhead,
        printed_by: user.label.clone(),
        errors,
        conflict,
        saved: false,
    })
}

#[derive(Deserialize, Default)]
struct Saved {
    saved: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((day, cashier)): Path<(String, Uuid)>,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    let day = parse_day(&day)?;
    let mut page = report_page(&state, &user, day, cashier, FieldErrors::default(), None).await?;
    page.saved = q.saved.is_some();
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize, Default)]
struct SignForm {
    #[serde(default)]
    note: String,
}

async fn sign_off(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((day, cashier)): Path<(String, Uuid)>,
    CsrfForm(f): CsrfForm<SignForm>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let day = parse_day(&day)?;
    let actor = Actor::from(&user);
    let result = crate::web::change::in_tenant_tx(&state, &user, async |tx| {
        cash_days::sign_off(tx, &actor, day, cashier, &f.note).await?;
        Ok(())
    })
    .await;
    crate::web::change::after_change(result, &format!("/cash-days/{day}/cashiers/{cashier}"), |errors, conflict| {
        report_page(&state, &user, day, cashier, errors, conflict)
    })
    .await
}
