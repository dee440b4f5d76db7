//! The pages of load anomalies: the list (an account manager's own
//! customers; the whole company for supervisors and tenant admins), one
//! anomaly with the chart around the change, and acknowledging it.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    anomalies::db::{self, Anomaly},
    audit::{self, Actor, Change},
    staff::{Permission, Role},
    web::{
        AppState,
        auth::CurrentUser,
        chart::{Line, LineChart, line_chart},
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/load-anomalies", get(list_page))
        .route("/load-anomalies/{id}", get(show))
        .route("/load-anomalies/{id}/acknowledge", post(acknowledge))
}

const PAGE_SIZE: i64 = 50;
/// The chart shows this many days either side of the change.
pub const CHART_DAYS: u64 = 21;
const NOTE_MAX: usize = 2000;

/// A cursor of the list: the last row's detection time and id.
fn cursor(a: &Anomaly) -> String {
    format!("{}_{}", a.detected_at.timestamp_micros(), a.id)
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('_')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.parse().ok()?))
}

#[derive(askama::Template)]
#[template(path = "anomalies/list.html")]
struct ListPage {
    p: Page,
    anomalies: Vec<Anomaly>,
    /// Everyone's (supervisors, admins) or the manager's own customers'.
    all: bool,
    open_only: bool,
    next_after: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    after: String,
}

async fn list_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    // An account manager sees their own customers' changes; the rest the company's.
    let manager = if user.role == Role::AccountManager { Some(user.user_id.ok_or(AppError::NotFound)?) } else { None };
    let open_only = q.status != "all";
    let mut tx = user.tx(&state.db).await?;
    let mut anomalies = db::list(&mut tx, manager, open_only, parse_cursor(&q.after), PAGE_SIZE + 1).await?;
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut anomalies, PAGE_SIZE, cursor);
    let page = ListPage {
        p: Page::for_user(&user, "anomalies.title"),
        anomalies,
        all: manager.is_none(),
        open_only,
        next_after,
    };
    Ok(render(&page)?.into_response())
}

#[derive(askama::Template)]
#[template(path = "anomalies/show.html")]
struct ShowPage {
    p: Page,
    a: Anomaly,
    chart: String,
    note: String,
    errors: FieldErrors,
    saved: bool,
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

/// The chart around the change: each day's energy, the levels before and
/// after (weekly cycle removed), the change day marked.
async fn chart(tx: &mut sqlx::PgConnection, p: &Page, a: &Anomaly) -> Result<String, AppError> {
    let from = a.change_day.checked_sub_days(Days::new(CHART_DAYS)).unwrap_or(a.change_day);
    let to = a.change_day.checked_add_days(Days::new(CHART_DAYS - 1)).unwrap_or(a.change_day);
    let days = db::daily_energy(tx, a.meter_id, from, to).await?;
    Ok(line_chart(&chart_of(p, a, &days)))
}

fn chart_of(p: &Page, a: &Anomaly, days: &[(NaiveDate, Option<f64>)]) -> LineChart {
    let level = |d: &NaiveDate| {
        let v = if *d < a.change_day { a.before_kwh } else { a.after_kwh };
        v.to_string().parse::<f64>().ok()
    };
    let change = days.iter().position(|(d, _)| *d == a.change_day).unwrap_or(0);
    LineChart {
        title: format!("{} · {}", p.t("anomalies.chart_title"), a.meter_serial),
        unit: "kWh".into(),
        x_labels: days.iter().enumerate().step_by(7).map(|(i, (d, _))| (i, d.format("%m-%d").to_string())).collect(),
        markers: vec![(change, format!("{} {}", p.t("anomalies.change_day"), a.change_day.format("%m-%d")))],
        lines: vec![
            Line {
                label: p.t("anomalies.daily_energy"),
                values: days.iter().map(|(_, e)| *e).collect(),
                emphasis: true,
            },
            Line {
                label: p.t("anomalies.level"),
                values: days.iter().map(|(d, _)| level(d)).collect(),
                emphasis: false,
            },
        ],
    }
}

async fn show_page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    note: String,
    errors: FieldErrors,
    saved: bool,
) -> Result<ShowPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let a = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let mut p = Page::for_user(user, "anomalies.one_title");
    let chart = chart(&mut tx, &p, &a).await?;
    tx.commit().await?;
    p.title = format!("{} · {} {}", p.title, a.account_no, a.customer_name);
    Ok(ShowPage { p, a, chart, note, errors, saved })
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let page = show_page(&state, &user, id, String::new(), FieldErrors::default(), q.saved).await?;
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize, Default)]
struct AckForm {
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<AckForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let note = crate::web::input::visible_text(&form.note, NOTE_MAX, "note", false, &mut errors);
    let mut tx = user.tx(&state.db).await?;
    let a = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !errors.is_empty() {
        drop(tx);
        let page = show_page(&state, &user, id, form.note, errors, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    if !db::acknowledge(&mut tx, id, user.user_id, &user.label, &note).await? {
        return Err(AppError::Conflict("anomaly_acknowledged"));
    }
    let change = Change {
        action: "acknowledge",
        entity: "load_anomaly",
        entity_id: Some(id),
        summary: format!(
            "{} {}: {} {} {}",
            a.account_no,
            a.customer_name,
            a.meter_serial,
            super::percent_of(&a.size_pct),
            a.change_day
        ),
        before: Some(json!({"status": a.status})),
        after: Some(json!({"status": "acknowledged", "note": note})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/load-anomalies/{id}?saved=true")).into_response())
}

impl ListPage {
    fn pct(&self, a: &Anomaly) -> String {
        super::percent_of(&a.size_pct)
    }
}

impl ShowPage {
    fn pct(&self) -> String {
        super::percent_of(&self.a.size_pct)
    }
    /// The customer's load page on this meter, a week either side of the change.
    fn load_link(&self) -> String {
        let a = &self.a;
        let from = a.change_day.checked_sub_days(Days::new(7)).unwrap_or(a.change_day);
        let to = a.change_day.checked_add_days(Days::new(6)).unwrap_or(a.change_day);
        format!("/customers/{}/load?meter={}&from={from}&to={to}", a.customer_id, a.meter_id)
    }
    fn kwh(&self, v: &rust_decimal::Decimal) -> String {
        self.p.number(&v.round())
    }
    fn score(&self) -> String {
        format!("{:.1}", self.a.score)
    }
}
