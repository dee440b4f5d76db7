//! Visits: planning one (from the customer page, the calendar or the API),
//! recording its outcome with follow-ups, cancelling it, and a manager's
//! month calendar. Every change is audited and goes on the customer timeline.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    portfolio::{
        self, MAX_FOLLOW_UPS,
        db::{self, FollowUpRow, NewVisit, Visit, VisitFilter},
    },
    staff::{Permission, Role, db as staff_db},
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
        .route("/accounts/visits", get(calendar).post(plan_page))
        .route("/accounts/visits/new", get(new_form))
        .route("/accounts/visits/{id}", get(show))
        .route("/accounts/visits/{id}/outcome", post(record))
        .route("/accounts/visits/{id}/cancel", get(cancel_form).post(cancel))
        .route("/accounts/follow-ups/{id}/done", post(follow_up_done))
}

pub fn today(user: &CurrentUser) -> NaiveDate {
    Utc::now().with_timezone(&user.tz).date_naive()
}

/// The manager whose portfolio or calendar is shown: an account manager sees
/// their own; a tenant admin or supervisor picks one with `?manager=`.
pub fn shown_manager(user: &CurrentUser, asked: Option<&str>) -> Option<Uuid> {
    if user.role == Role::AccountManager {
        return user.user_id;
    }
    asked.and_then(|m| m.trim().parse().ok())
}

/// A visit as asked for by a form or the API. Ids and the date are strings
/// so that a bad one is named, not rejected whole.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PlanInput {
    /// The customer visited.
    #[serde(default)]
    #[schema(required = true, format = Uuid)]
    pub customer_id: String,
    /// The day of the visit, "2026-12-09": from 2000 to two years ahead.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub planned_on: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 500)]
    pub purpose: String,
    /// The visiting account manager (active). Required with an API key; a
    /// signed-in account manager visits themselves and may leave it out.
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Uuid)]
    pub manager_id: Option<String>,
}

/// Plans a visit in the caller's transaction: checks each field, records the
/// visit, its timeline entry and its audit row.
pub async fn plan(conn: &mut PgConnection, user: &CurrentUser, input: &PlanInput) -> Result<Visit, AppError> {
    let today = today(user);
    let checked = portfolio::check_plan(&input.customer_id, &input.planned_on, &input.purpose, today);
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    let asked_manager = input.manager_id.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let manager = match (user.role, user.user_id, asked_manager) {
        (Role::AccountManager, Some(me), _) => Some(me),
        (_, _, Some(raw)) => match raw.parse::<Uuid>() {
            Ok(id) if db::is_active_manager(conn, id).await? => Some(id),
            _ => {
                errors.add("manager_id", "unknown_manager");
                None
            }
        },
        _ => {
            errors.add("manager_id", "required");
            None
        }
    };
    // The customer is looked up even when other fields are wrong, so every wrong field is named at once.
    let label = match input.customer_id.trim().parse::<Uuid>() {
        Ok(id) if !errors.has("customer_id") => {
            let label = db::customer_label(conn, id).await?;
            if label.is_none() {
                errors.add("customer_id", "unknown_customer");
            }
            label
        }
        _ => None,
    };
    let (Ok(plan), Some(manager_id), Some((account_no, name)), true) = (checked, manager, label, errors.is_empty())
    else {
        return Err(errors.into());
    };
    let new = NewVisit {
        customer_id: plan.customer_id,
        manager_id,
        planned_on: plan.planned_on,
        purpose: &plan.purpose,
        created_by: &user.label,
    };
    let id = db::insert_visit(conn, new).await?;
    let link = format!("/accounts/visits/{id}");
    let title = format!("{} · {}", plan.planned_on, plan.purpose);
    let entry = crate::timeline::Entry { kind: "visit_planned", notice: None, title: &title, status: "", link: &link };
    crate::timeline::record(conn, plan.customer_id, Utc::now(), entry).await?;
    let change = Change {
        action: "create",
        entity: "visit",
        entity_id: Some(id),
        summary: format!("{account_no} {name}: {}", plan.purpose),
        before: None,
        after: Some(json!({
            "customer_id": plan.customer_id, "manager_id": manager_id,
            "planned_on": plan.planned_on, "purpose": plan.purpose,
        })),
    };
    audit::record(conn, &Actor::from(user), change).await?;
    db::get_visit(conn, id).await?.ok_or(AppError::NotFound)
}

/// The "Visits" section of the customer page: the last and next visit and
/// what the plan form needs.
pub struct CustomerVisits {
    pub last: Option<Visit>,
    pub next: Option<Visit>,
    pub can_plan: bool,
    /// Managers to choose from when the planner is not an account manager.
    pub managers: Vec<(Uuid, String)>,
}

impl CustomerVisits {
    /// The customer's own manager is preselected in the plan form.
    pub fn selects(&self, current: &Option<Uuid>, id: &Uuid) -> bool {
        current.as_ref() == Some(id)
    }
}

/// The customer page's last and next visit, read in its statement
/// (`tenant` the tenant's parameter).
pub fn page_query(tenant: &str) -> String {
    db::last_and_next_query(tenant)
}

/// The customer page's "Visits" section, from [`page_query`]'s column; the
/// account managers to plan for are read only for a planner who is not one.
pub async fn for_customer_page(
    conn: &mut PgConnection,
    user: &CurrentUser,
    column: serde_json::Value,
) -> Result<CustomerVisits, sqlx::Error> {
    let (last, next) = db::last_and_next_from(column)?;
    let can_plan = user.role.can(Permission::PlanVisits);
    let managers = if can_plan && user.role != Role::AccountManager {
        staff_db::list_account_managers(conn).await?
    } else {
        Vec::new()
    };
    Ok(CustomerVisits { last, next, can_plan, managers })
}

#[derive(askama::Template)]
#[template(path = "portfolio/plan.html")]
struct PlanPage {
    p: Page,
    input: PlanInput,
    customer: Option<(String, String)>,
    managers: Vec<(Uuid, String)>,
    errors: FieldErrors,
}

impl PlanPage {
    fn manager_value(&self) -> &str {
        self.input.manager_id.as_deref().unwrap_or("")
    }
}

#[derive(Deserialize, Default)]
struct NewQuery {
    #[serde(default)]
    customer_id: String,
}

async fn plan_form_page(
    state: &AppState,
    user: &CurrentUser,
    input: PlanInput,
    errors: FieldErrors,
) -> Result<PlanPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let customer = match input.customer_id.trim().parse::<Uuid>() {
        Ok(id) => db::customer_label(&mut tx, id).await?,
        Err(_) => None,
    };
    let managers =
        if user.role == Role::AccountManager { Vec::new() } else { staff_db::list_account_managers(&mut tx).await? };
    tx.commit().await?;
    Ok(PlanPage { p: Page::for_user(user, "portfolio.plan_title"), input, customer, managers, errors })
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NewQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let input = PlanInput { customer_id: q.customer_id, ..Default::default() };
    Ok(render(&plan_form_page(&state, &user, input, FieldErrors::default()).await?)?.into_response())
}

async fn plan_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(input): CsrfForm<PlanInput>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let mut tx = user.tx(&state.db).await?;
    match plan(&mut tx, &user, &input).await {
        Ok(visit) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/customers/{}?saved=true#visits", visit.customer_id)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let page = plan_form_page(&state, &user, input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(askama::Template)]
#[template(path = "portfolio/visit.html")]
struct VisitPage {
    p: Page,
    visit: Visit,
    follow_ups: Vec<FollowUpRow>,
    staff: Vec<(Uuid, String)>,
    me: Option<Uuid>,
    can_edit: bool,
    form: OutcomeForm,
    errors: FieldErrors,
    conflict: bool,
    saved: bool,
}

impl VisitPage {
    /// The follow-up rows of the form, numbered from 1: three blank ones, or as many as were sent back.
    fn rows(&self) -> Vec<usize> {
        (1..=self.form.follow_task.len().clamp(3, MAX_FOLLOW_UPS)).collect()
    }
    fn task(&self, i: &usize) -> &str {
        self.form.follow_task.get(i - 1).map_or("", String::as_str)
    }
    fn due(&self, i: &usize) -> &str {
        self.form.follow_due.get(i - 1).map_or("", String::as_str)
    }
    fn assignee(&self, i: &usize) -> String {
        match self.form.follow_assignee.get(i - 1).map(|a| a.trim()) {
            Some(a) if !a.is_empty() => a.to_owned(),
            _ => self.me.map(|m| m.to_string()).unwrap_or_default(),
        }
    }
    fn may_tick(&self, f: &FollowUpRow) -> bool {
        self.can_edit || self.me == Some(f.assignee_id)
    }
    fn row_error(&self, field: &str, i: &usize) -> Option<String> {
        self.errors.message(&format!("{field}_{i}"), &self.p.i)
    }
}

#[derive(Debug, Default, Deserialize)]
struct OutcomeForm {
    #[serde(default)]
    version: i32,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    done_on: String,
    #[serde(default)]
    follow_task: Vec<String>,
    #[serde(default)]
    follow_due: Vec<String>,
    #[serde(default)]
    follow_assignee: Vec<String>,
}

/// Whether `user` may change `visit`: its manager, or a tenant admin.
fn may_edit(user: &CurrentUser, visit: &Visit) -> bool {
    user.role.can(Permission::PlanVisits) && (user.role == Role::TenantAdmin || user.user_id == Some(visit.manager_id))
}

async fn visit_page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: Option<OutcomeForm>,
    errors: FieldErrors,
    conflict: bool,
    saved: bool,
) -> Result<VisitPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let visit = db::get_visit(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let follow_ups = db::follow_ups(&mut tx, id).await?;
    let staff = staff_db::list_active(&mut tx).await?;
    tx.commit().await?;
    let can_edit = may_edit(user, &visit);
    let form = form.unwrap_or_else(|| OutcomeForm { done_on: today(user).to_string(), ..Default::default() });
    let mut p = Page::for_user(user, "portfolio.visit_title");
    p.title = format!("{} · {} {}", p.title, visit.account_no, visit.customer_name);
    Ok(VisitPage { p, visit, follow_ups, staff, me: user.user_id, can_edit, form, errors, conflict, saved })
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let page = visit_page(&state, &user, id, None, FieldErrors::default(), false, q.saved).await?;
    Ok(render(&page)?.into_response())
}

async fn record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<OutcomeForm>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let today = today(&user);
    let mut errors = FieldErrors::default();
    let outcome = crate::web::input::visible_text(&form.outcome, 4000, "outcome", true, &mut errors);
    let done_on = crate::web::input::date_field(&form.done_on, today).unwrap_or_else(|code| {
        errors.add("done_on", code);
        today
    });
    if form.follow_task.len() > MAX_FOLLOW_UPS {
        errors.add("follow_task_1", "too_long");
    }
    let rows = portfolio::check_follow_ups(
        &form.follow_task,
        &form.follow_due,
        &form.follow_assignee,
        user.user_id,
        today,
        &mut errors,
    );
    let mut tx = user.tx(&state.db).await?;
    let visit = db::get_visit(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !may_edit(&user, &visit) {
        return Err(AppError::Refused("not_owner"));
    }
    let assignees: Vec<Uuid> = rows.iter().map(|r| r.assignee_id).collect();
    if errors.is_empty() && !db::all_active_staff(&mut tx, &assignees).await? {
        errors.add("follow_assignee_1", "unknown_user");
    }
    if !errors.is_empty() {
        drop(tx);
        let page = visit_page(&state, &user, id, Some(form), errors, false, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    if !db::record_outcome(&mut tx, id, form.version, &outcome, done_on).await? {
        drop(tx);
        let page = visit_page(&state, &user, id, None, FieldErrors::default(), true, false).await?;
        return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
    }
    db::add_follow_ups(&mut tx, id, visit.customer_id, &rows).await?;
    let link = format!("/accounts/visits/{id}");
    let title = format!("{done_on} · {}", visit.purpose);
    let entry = crate::timeline::Entry { kind: "visit_done", notice: None, title: &title, status: "", link: &link };
    crate::timeline::record(&mut tx, visit.customer_id, Utc::now(), entry).await?;
    let tasks: Vec<_> =
        rows.iter().map(|r| json!({"task": r.task, "due_on": r.due_on, "assignee_id": r.assignee_id})).collect();
    let change = Change {
        action: "record_outcome",
        entity: "visit",
        entity_id: Some(id),
        summary: format!("{} {}: {}", visit.account_no, visit.customer_name, visit.purpose),
        before: Some(json!({"status": visit.status, "version": visit.version})),
        after: Some(json!({"status": "done", "done_on": done_on, "outcome": outcome, "follow_ups": tasks})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/accounts/visits/{id}?saved=true")).into_response())
}

#[derive(askama::Template)]
#[template(path = "portfolio/cancel.html")]
struct CancelPage {
    p: Page,
    visit: Visit,
}

async fn cancel_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let mut tx = user.tx(&state.db).await?;
    let visit = db::get_visit(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    if !may_edit(&user, &visit) {
        return Err(AppError::Refused("not_owner"));
    }
    Ok(render(&CancelPage { p: Page::for_user(&user, "portfolio.cancel_title"), visit })?.into_response())
}

#[derive(Deserialize)]
struct VersionForm {
    #[serde(default)]
    version: i32,
}

async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<VersionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let mut tx = user.tx(&state.db).await?;
    let visit = db::get_visit(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !may_edit(&user, &visit) {
        return Err(AppError::Refused("not_owner"));
    }
    if !db::cancel_visit(&mut tx, id, form.version).await? {
        return Err(AppError::Conflict("stale_item"));
    }
    let link = format!("/accounts/visits/{id}");
    let title = format!("{} · {}", visit.planned_on, visit.purpose);
    let entry =
        crate::timeline::Entry { kind: "visit_cancelled", notice: None, title: &title, status: "", link: &link };
    crate::timeline::record(&mut tx, visit.customer_id, Utc::now(), entry).await?;
    let change = Change {
        action: "cancel",
        entity: "visit",
        entity_id: Some(id),
        summary: format!("{} {}: {}", visit.account_no, visit.customer_name, visit.purpose),
        before: Some(json!({"status": visit.status, "planned_on": visit.planned_on})),
        after: Some(json!({"status": "cancelled"})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/accounts/visits/{id}?saved=true")).into_response())
}

#[derive(Deserialize)]
struct BackForm {
    #[serde(default)]
    back: String,
}

/// Marks a follow-up done (its assignee, the visit's manager or a tenant admin).
async fn follow_up_done(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<BackForm>,
) -> Result<Response, AppError> {
    user.require(Permission::PlanVisits)?;
    let mut tx = user.tx(&state.db).await?;
    let Some((visit_id, _customer, task)) = db::complete_follow_up(&mut tx, id).await? else {
        return Err(AppError::NotFound);
    };
    let visit = db::get_visit(&mut tx, visit_id).await?.ok_or(AppError::NotFound)?;
    let assignee: Option<Uuid> = sqlx::query_scalar("SELECT assignee_id FROM visit_follow_ups WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if !(may_edit(&user, &visit) || (assignee.is_some() && assignee == user.user_id)) {
        return Err(AppError::Refused("not_owner"));
    }
    let change = Change {
        action: "done",
        entity: "visit_follow_up",
        entity_id: Some(id),
        summary: format!("{} {}: {task}", visit.account_no, visit.customer_name),
        before: None,
        after: Some(json!({"done": true})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    // Back to the page the button was on (the portfolio or the visit), never elsewhere.
    let back = if form.back == "portfolio" {
        "/accounts/portfolio".to_owned()
    } else {
        format!("/accounts/visits/{visit_id}")
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(askama::Template)]
#[template(path = "portfolio/calendar.html")]
struct CalendarPage {
    p: Page,
    month: NaiveDate,
    prev: String,
    next: String,
    weeks: Vec<[Option<NaiveDate>; 7]>,
    visits: Vec<Visit>,
    upcoming: Vec<Visit>,
    manager: Option<Uuid>,
    managers: Vec<(Uuid, String)>,
    today: NaiveDate,
    month_error: bool,
}

impl CalendarPage {
    fn on(&self, day: &NaiveDate) -> Vec<&Visit> {
        self.visits.iter().filter(|v| v.day() == *day).collect()
    }
    fn manager_param(&self) -> String {
        self.manager.filter(|_| !self.managers.is_empty()).map(|m| format!("&manager={m}")).unwrap_or_default()
    }
    fn is_chosen(&self, id: &Uuid) -> bool {
        self.manager == Some(*id)
    }
}

#[derive(Deserialize, Default)]
struct CalendarQuery {
    month: Option<String>,
    manager: Option<String>,
}

async fn calendar(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<CalendarQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let today = today(&user);
    let asked = q.month.as_deref().filter(|m| !m.trim().is_empty());
    let parsed = asked.map(crate::months::parse);
    let month_error = matches!(parsed, Some(None));
    let month = parsed.flatten().unwrap_or_else(|| crate::months::start_of(today));
    let manager = shown_manager(&user, q.manager.as_deref());
    let mut tx = user.tx(&state.db).await?;
    let managers =
        if user.role == Role::AccountManager { Vec::new() } else { staff_db::list_account_managers(&mut tx).await? };
    let (visits, upcoming) = match manager {
        Some(m) => {
            let last = crate::months::next(month).pred_opt().unwrap_or(month);
            let shown = VisitFilter {
                manager_id: Some(m),
                from: Some(month),
                to: Some(last),
                statuses: vec!["planned".into(), "done".into()],
                limit: 1000,
                ..Default::default()
            };
            let upcoming = VisitFilter {
                manager_id: Some(m),
                from: Some(today),
                statuses: vec!["planned".into()],
                limit: 20,
                ..Default::default()
            };
            (db::list_visits(&mut tx, &shown).await?, db::list_visits(&mut tx, &upcoming).await?)
        }
        None => (Vec::new(), Vec::new()),
    };
    tx.commit().await?;
    let page = CalendarPage {
        p: Page::for_user(&user, "portfolio.calendar_title"),
        month,
        prev: crate::months::label(crate::months::back(month, 1)),
        next: crate::months::label(crate::months::next(month)),
        weeks: portfolio::month_grid(month),
        visits,
        upcoming,
        manager,
        managers,
        today,
        month_error,
    };
    Ok(render(&page)?.into_response())
}
