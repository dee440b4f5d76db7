//! The tenant admin's service settings page: working calendar, holidays and
//! make-up days, and the time limits. Every change is audited. Limits apply
//! to clocks started after the change; running clocks keep the limit they
//! started with (it is stored on the item).

use std::collections::HashMap;

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

use crate::{
    audit::{self, Actor, Change},
    sla::{
        forms::{self, DAY_KINDS},
        settings::{self, CalendarDay, CalendarSettings, LimitRow},
    },
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        change::in_tenant_tx,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/service-settings", get(show))
        .route("/admin/service-settings/calendar", post(save_calendar))
        .route("/admin/service-settings/days", post(add_day))
        .route("/admin/service-settings/days/{day}/remove", post(remove_day))
        .route("/admin/service-settings/limits", post(save_limits))
}

pub struct LimitView {
    pub row: LimitRow,
    pub field: String,
    pub unit_field: String,
    /// What the form shows: the stored limit in hours or working days, or
    /// what was typed when it was refused.
    pub amount: String,
    pub unit: String,
    /// "= 5 working days" / "= 0.8 hours", for the reader.
    pub hint: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct CalendarForm {
    #[serde(default)]
    periods: String,
    #[serde(default)]
    weekend: Vec<String>,
    #[serde(default)]
    near_due_percent: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct DayForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct Saved {
    saved: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "service/settings.html")]
struct SettingsPage {
    p: Page,
    errors: FieldErrors,
    saved: bool,
    calendar: CalendarForm,
    days: Vec<CalendarDay>,
    day: DayForm,
    limits: Vec<LimitView>,
}

impl SettingsPage {
    fn weekdays(&self) -> [(String, &'static str); 7] {
        [("1", "mon"), ("2", "tue"), ("3", "wed"), ("4", "thu"), ("5", "fri"), ("6", "sat"), ("7", "sun")]
            .map(|(n, key)| (n.to_owned(), key))
    }
    fn day_kinds(&self) -> &'static [&'static str] {
        &DAY_KINDS
    }
    fn units(&self) -> &'static [&'static str] {
        &forms::UNITS
    }
    fn limit_label(&self, row: &LimitRow) -> String {
        let item = if self.p.i.has(&format!("contact_kind.{}", row.item)) {
            self.p.tc("contact_kind.", &row.item)
        } else {
            self.p.tc("work_order_kind.", &row.item)
        };
        // A change of use's clocks share their states' names with a new
        // connection's, not their meaning.
        let clock = if crate::work_orders::change::is_change_kind(&row.item) {
            self.p.tc("sla_clock.change_", &row.clock)
        } else if self.p.i.has(&format!("sla_clock.{}", row.clock)) {
            self.p.tc("sla_clock.", &row.clock)
        } else {
            self.p.tc("work_order_state.", &row.clock)
        };
        let variant = match row.variant.as_str() {
            "" => String::new(),
            v if self.p.i.has(&format!("area_type.{v}")) => format!(" · {}", self.p.tc("area_type.", v)),
            v => format!(" · {}", self.p.tc("customer_type.", v)),
        };
        format!("{item} · {clock}{variant}")
    }
}

fn hint(p: &Page, minutes: i32, working_time: bool, day_minutes: i64) -> String {
    if working_time && day_minutes > 0 && i64::from(minutes) >= day_minutes {
        let days = rust_decimal::Decimal::from(minutes) / rust_decimal::Decimal::from(day_minutes);
        format!("= {} {}", p.i.number(days.round_dp(1)), p.t("settings.working_days"))
    } else {
        let hours = rust_decimal::Decimal::from(minutes) / rust_decimal::Decimal::from(60);
        let unit = if working_time { "settings.working_hours" } else { "settings.hours" };
        format!("= {} {}", p.i.number(hours.round_dp(1)), p.t(unit))
    }
}

/// The page, with what was typed into a refused form kept in place.
async fn page(
    state: &AppState,
    user: &CurrentUser,
    errors: FieldErrors,
    calendar: Option<CalendarForm>,
    day: Option<DayForm>,
    typed_limits: Option<&HashMap<String, String>>,
    saved: bool,
) -> Result<SettingsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let stored = settings::calendar_settings(&mut tx).await?;
    let days = settings::calendar_days(&mut tx).await?;
    let rows = settings::limits(&mut tx).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    tx.commit().await?;
    let p = Page::for_user(user, "nav.service_settings");
    let day_minutes = rules.calendar.working_day_length().num_minutes();
    let limits = rows
        .into_iter()
        .map(|row| {
            let field = forms::limit_field(&row);
            let unit_field = forms::unit_field(&row);
            let (stored_amount, stored_unit) = forms::to_entry(row.minutes, row.working_time, day_minutes);
            let (amount, unit) = match typed_limits {
                Some(form) => (
                    form.get(&field).cloned().unwrap_or(stored_amount),
                    form.get(&unit_field).cloned().unwrap_or_else(|| stored_unit.to_owned()),
                ),
                None => (stored_amount, stored_unit.to_owned()),
            };
            let hint = hint(&p, row.minutes, row.working_time, day_minutes);
            LimitView { row, field, unit_field, amount, unit, hint }
        })
        .collect();
    let calendar = calendar.unwrap_or_else(|| CalendarForm {
        periods: stored.periods.clone(),
        weekend: stored.weekend.iter().map(|d| d.to_string()).collect(),
        near_due_percent: stored.near_due_percent.to_string(),
    });
    Ok(SettingsPage { p, errors, saved, calendar, days, day: day.unwrap_or_default(), limits })
}

async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<Saved>) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let page = page(&state, &user, FieldErrors::default(), None, None, None, q.saved.is_some()).await?;
    Ok(render(&page)?.into_response())
}

async fn refused(page: SettingsPage) -> Result<Response, AppError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

fn saved() -> Response {
    Redirect::to("/admin/service-settings?saved=1").into_response()
}

async fn audited(
    state: &AppState,
    user: &CurrentUser,
    change: Change<'_>,
    write: impl AsyncFnOnce(&mut sqlx::PgConnection) -> sqlx::Result<()>,
) -> Result<(), AppError> {
    let actor = Actor::from(user);
    in_tenant_tx(state, user, async |conn| {
        write(conn).await?;
        audit::record(conn, &actor, change).await?;
        Ok(())
    })
    .await
}

async fn save_calendar(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<CalendarForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let parsed: CalendarSettings = match forms::parse_calendar(&form.periods, &form.weekend, &form.near_due_percent) {
        Ok(parsed) => parsed,
        Err(errors) => return refused(page(&state, &user, errors, Some(form), None, None, false).await?).await,
    };
    let mut tx = user.tx(&state.db).await?;
    let before = settings::calendar_settings(&mut tx).await?;
    tx.commit().await?;
    let change = Change {
        action: "update",
        entity: "service_calendar",
        entity_id: None,
        summary: parsed.periods.clone(),
        before: Some(json!(before)),
        after: Some(json!(parsed)),
    };
    audited(&state, &user, change, async |conn| settings::save_calendar(conn, &parsed).await).await?;
    Ok(saved())
}

async fn add_day(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<DayForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let day = match forms::parse_day(&form.day, &form.kind, &form.name) {
        Ok(day) => day,
        Err(errors) => return refused(page(&state, &user, errors, None, Some(form), None, false).await?).await,
    };
    let change = Change {
        action: "update",
        entity: "calendar_day",
        entity_id: None,
        summary: day.day.to_string(),
        before: None,
        after: Some(json!(day)),
    };
    audited(&state, &user, change, async |conn| settings::put_day(conn, &day).await).await?;
    Ok(saved())
}

async fn remove_day(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(day): Path<NaiveDate>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let change = Change {
        action: "delete",
        entity: "calendar_day",
        entity_id: None,
        summary: day.to_string(),
        before: Some(json!({ "day": day })),
        after: None,
    };
    audited(&state, &user, change, async |conn| {
        settings::remove_day(conn, day).await?;
        Ok(())
    })
    .await?;
    Ok(saved())
}

async fn save_limits(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let mut tx = user.tx(&state.db).await?;
    let current = settings::limits(&mut tx).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    tx.commit().await?;
    let day_minutes = rules.calendar.working_day_length().num_minutes();
    let changed = match forms::parse_limits(&current, &form, day_minutes) {
        Ok(changed) => changed,
        Err(errors) => return refused(page(&state, &user, errors, None, None, Some(&form), false).await?).await,
    };
    if changed.is_empty() {
        return Ok(saved());
    }
    let before: Vec<&LimitRow> = current
        .iter()
        .filter(|r| changed.iter().any(|c| (&c.item, &c.clock, &c.variant) == (&r.item, &r.clock, &r.variant)))
        .collect();
    let change = Change {
        action: "update",
        entity: "sla_limits",
        entity_id: None,
        summary: changed.iter().map(|c| format!("{}.{}", c.item, c.clock)).collect::<Vec<_>>().join(", "),
        before: Some(json!({ "limits": before })),
        after: Some(json!({ "limits": changed })),
    };
    audited(&state, &user, change, async |conn| {
        for row in &changed {
            settings::save_limit(conn, row).await?;
        }
        Ok(())
    })
    .await?;
    Ok(saved())
}
