//! Demand response pages: the list, the form to record an event, and its
//! page (invite, send, record answers, close, settle, the results and
//! their CSV). Supervisors and tenant admins run events; account managers
//! see the events that invited their customers, only those customers, and
//! record their answers.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    EventForm,
    api::manager_of,
    db::{self, DrEventSummary, Event, InvitationRow, Invitees},
};
use crate::{
    audit::Actor,
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        csv_export,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dr-events", get(list_page).post(create))
        .route("/dr-events/new", get(new_page))
        .route("/dr-events/{id}", get(show))
        .route("/dr-events/{id}/invite", post(invite))
        .route("/dr-events/{id}/send", post(send))
        .route("/dr-events/{id}/responses", post(respond))
        .route("/dr-events/{id}/close", post(close))
        .route("/dr-events/{id}/settle", post(settle))
        .route("/dr-events/{id}/results.csv", get(results_csv))
}

const LIST_LIMIT: i64 = 200;
/// Invited customers per page.
const PAGE: i64 = 100;

#[derive(askama::Template)]
#[template(path = "demand_response/list.html")]
struct ListPage {
    p: Page,
    events: Vec<DrEventSummary>,
    can_run: bool,
}

async fn list_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let events = db::list(&mut tx, manager_of(&user), LIST_LIMIT).await?;
    tx.commit().await?;
    let can_run = user.role.can(Permission::RunDemandResponse);
    Ok(render(&ListPage { p: Page::for_user(&user, "dr.title"), events, can_run })?.into_response())
}

#[derive(askama::Template)]
#[template(path = "demand_response/form.html")]
struct FormPage {
    p: Page,
    form: EventForm,
    errors: FieldErrors,
}

fn form_page(user: &CurrentUser, form: EventForm, errors: FieldErrors) -> Result<Response, AppError> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&FormPage { p: Page::for_user(user, "dr.new_title"), form, errors })?).into_response())
}

async fn new_page(user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    form_page(&user, EventForm::default(), FieldErrors::default())
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<EventForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let valid = match super::check(&form, today) {
        Ok(v) => v,
        Err(errors) => return form_page(&user, form, errors),
    };
    let event = db::create(&mut tx, &Actor::from(&user), &valid).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/dr-events/{}?saved=created", event.id)).into_response())
}

/// The invitation form, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
struct InviteForm {
    #[serde(default)]
    via: String,
    #[serde(default)]
    account_lines: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    segment: String,
}

/// An answer, as typed on a row of the event page.
#[derive(Clone, Debug, Default, Deserialize)]
struct ResponseForm {
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    committed_kw: String,
}

#[derive(askama::Template)]
#[template(path = "demand_response/show.html")]
struct ShowPage {
    p: Page,
    event: Event,
    rows: Vec<InvitationRow>,
    after: String,
    next_after: Option<String>,
    segments: Vec<(Uuid, String)>,
    routes: Vec<(String, String)>,
    invite: InviteForm,
    invite_errors: FieldErrors,
    /// The row whose answer was refused, with what was typed and why.
    answer: Option<(Uuid, ResponseForm, FieldErrors)>,
    /// Errors of the page's buttons (send: nobody invited).
    action_errors: FieldErrors,
    saved: String,
    can_run: bool,
}

impl ShowPage {
    fn can_invite(&self) -> bool {
        self.can_run && super::can_invite(&self.event.status)
    }
    fn can_send(&self) -> bool {
        self.can_run && super::can_send(&self.event.status)
    }
    fn can_respond(&self) -> bool {
        super::can_respond(&self.event.status)
    }
    fn can_close(&self) -> bool {
        self.can_run && super::can_close(&self.event.status)
    }
    fn can_settle(&self) -> bool {
        self.can_run && matches!(self.event.status.as_str(), "closed" | "settled")
    }
    fn settled(&self) -> bool {
        self.event.status == "settled"
    }
    /// The answer typed on `customer`'s row (refused), or what is recorded.
    fn typed(&self, customer: &Uuid) -> Option<&ResponseForm> {
        self.answer.as_ref().filter(|(c, ..)| c == customer).map(|(_, f, _)| f)
    }
    fn answer_errors(&self, customer: &Uuid) -> Option<&FieldErrors> {
        self.answer.as_ref().filter(|(c, ..)| c == customer).map(|(.., e)| e)
    }
    fn decision_of(&self, row: &InvitationRow) -> String {
        match self.typed(&row.customer_id) {
            Some(f) => f.decision.clone(),
            None => row.decision.clone().unwrap_or_default(),
        }
    }
    fn committed_of(&self, row: &InvitationRow) -> String {
        match self.typed(&row.customer_id) {
            Some(f) => f.committed_kw.clone(),
            None => row.committed_kw.map(|k| k.normalize().to_string()).unwrap_or_default(),
        }
    }
    fn days(&self, row: &InvitationRow) -> String {
        row.similar_days
            .as_ref()
            .map(|d| d.iter().map(|d| d.format("%m-%d").to_string()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    saved: String,
}

const SAVED: [&str; 7] = ["created", "invited", "sent", "answered", "closed", "settled", "nothing_new"];

#[allow(clippy::too_many_arguments)]
async fn show_view(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    after: String,
    invite: InviteForm,
    invite_errors: FieldErrors,
    answer: Option<(Uuid, ResponseForm, FieldErrors)>,
    action_errors: FieldErrors,
    saved: String,
) -> Result<Response, AppError> {
    let manager = manager_of(user);
    let mut tx = user.tx(&state.db).await?;
    let event = db::get(&mut tx, id, manager).await?;
    let cursor = Some(after.as_str()).filter(|a| !a.is_empty());
    let mut rows = db::invitations(&mut tx, id, manager, cursor, PAGE + 1).await?;
    let (segments, routes) = db::choices(&mut tx).await?;
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut rows, PAGE, |r| r.account_no.clone());
    let saved = if SAVED.contains(&saved.as_str()) { saved } else { String::new() };
    let failed = !invite_errors.is_empty() || answer.is_some() || !action_errors.is_empty();
    let mut p = Page::for_user(user, "dr.title");
    p.title = format!("{} · {}", event.ref_no, event.title);
    let can_run = user.role.can(Permission::RunDemandResponse);
    let page = ShowPage {
        p,
        event,
        rows,
        after,
        next_after,
        segments,
        routes,
        invite,
        invite_errors,
        answer,
        action_errors,
        saved,
        can_run,
    };
    let status = if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, render(&page)?).into_response())
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let after = q.after.trim().to_owned();
    show_view(
        &state,
        &user,
        id,
        after,
        InviteForm::default(),
        FieldErrors::default(),
        None,
        FieldErrors::default(),
        q.saved,
    )
    .await
}

fn redirect(id: Uuid, saved: &str) -> Response {
    Redirect::to(&format!("/dr-events/{id}?saved={saved}")).into_response()
}

async fn invite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    let who = match form.via.as_str() {
        "list" => Ok(Invitees::Accounts(super::account_list(&form.account_lines), "account_lines".into())),
        "route" if !form.route.trim().is_empty() => Ok(Invitees::Route(form.route.clone(), "route".into())),
        "route" => Err(("route", "required")),
        "segment" => match form.segment.trim().parse::<Uuid>() {
            Ok(s) => Ok(Invitees::Segment(s, "segment".into())),
            Err(_) if form.segment.trim().is_empty() => Err(("segment", "required")),
            Err(_) => Err(("segment", "dr_unknown_segment")),
        },
        _ => Err(("via", "dr_via")),
    };
    let who = match who {
        Ok(w) => w,
        Err((field, code)) => {
            let mut errors = FieldErrors::default();
            errors.add(field, code);
            return invite_failed(&state, &user, id, form, errors).await;
        }
    };
    let mut tx = user.tx(&state.db).await?;
    match db::invite(&mut tx, &Actor::from(&user), id, &who).await {
        Ok(added) => {
            tx.commit().await?;
            Ok(redirect(id, if added > 0 { "invited" } else { "nothing_new" }))
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            invite_failed(&state, &user, id, form, errors).await
        }
        Err(other) => Err(other),
    }
}

async fn invite_failed(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: InviteForm,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    show_view(state, user, id, String::new(), form, errors, None, FieldErrors::default(), String::new()).await
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn send(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    let mut tx = user.tx(&state.db).await?;
    match db::send(&mut tx, &Actor::from(&user), id).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(redirect(id, "sent"))
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let none = FieldErrors::default();
            show_view(&state, &user, id, String::new(), InviteForm::default(), none, None, errors, String::new()).await
        }
        Err(other) => Err(other),
    }
}

async fn respond(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ResponseForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let customer: Uuid = form.customer_id.trim().parse().map_err(|_| AppError::NotFound)?;
    let (decision, committed) = match super::check_response(&form.decision, &form.committed_kw) {
        Ok(v) => v,
        Err(errors) => {
            let none = FieldErrors::default();
            let answer = Some((customer, form, errors));
            return show_view(
                &state,
                &user,
                id,
                String::new(),
                InviteForm::default(),
                none.clone(),
                answer,
                none,
                String::new(),
            )
            .await;
        }
    };
    let mut tx = user.tx(&state.db).await?;
    db::respond(&mut tx, &Actor::from(&user), id, customer, decision, committed, "page", manager_of(&user)).await?;
    tx.commit().await?;
    Ok(redirect(id, "answered"))
}

async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    let mut tx = user.tx(&state.db).await?;
    db::close(&mut tx, &Actor::from(&user), id).await?;
    tx.commit().await?;
    Ok(redirect(id, "closed"))
}

async fn settle(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RunDemandResponse)?;
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    db::settle(&mut tx, &Actor::from(&user), id, today).await?;
    tx.commit().await?;
    Ok(redirect(id, "settled"))
}

/// Every invited customer with their answer and result, for Excel.
async fn results_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let manager = manager_of(&user);
    let mut tx = user.tx(&state.db).await?;
    let event = db::get(&mut tx, id, manager).await?;
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db::invitations(&mut tx, id, manager, after.as_deref(), crate::web::paging::EXPORT_PAGE).await?;
        let full = page.len() as i64 == crate::web::paging::EXPORT_PAGE;
        after = page.last().map(|r| r.account_no.clone());
        rows.extend(page);
        if !full {
            break;
        }
    }
    tx.commit().await?;
    let i = &user.locale;
    let p = crate::web::i18n::I18n(*i);
    let header: Vec<String> = [
        "customers.account_no",
        "customers.name",
        "dr.col_manager",
        "dr.col_via",
        "dr.col_decision",
        "dr.col_committed",
        "dr.col_result",
        "dr.col_similar_days",
        "dr.col_adjustment",
        "dr.col_baseline",
        "dr.col_actual",
        "dr.col_verified",
        "dr.col_reward",
    ]
    .iter()
    .map(|k| p.t(k))
    .collect();
    let opt = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    let lines = rows.into_iter().map(|r| {
        vec![
            r.account_no,
            r.name,
            r.manager.unwrap_or_default(),
            format!("{} {}", p.t(&format!("dr.via_{}", r.invited_via)), r.via_name).trim().to_owned(),
            r.decision.map(|d| p.t(&format!("dr.decision_{d}"))).unwrap_or_default(),
            opt(r.committed_kw),
            r.result.map(|s| p.t(&format!("dr.result_{s}"))).unwrap_or_default(),
            r.similar_days.map(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" ")).unwrap_or_default(),
            opt(r.adjustment),
            opt(r.baseline_kwh),
            opt(r.actual_kwh),
            opt(r.verified_kwh),
            opt(r.reward),
        ]
    });
    let body = csv_export::to_csv(&header, lines)?;
    Ok(csv_export::download(&format!("dr-{}.csv", event.ref_no), body))
}
