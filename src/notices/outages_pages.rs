//! Planned outage pages (supervisors and tenant admins): the list, the form
//! to plan or change one, and its page with who is affected and how far the
//! notices have got.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    notices::{
        outages::{self, OutageForm},
        outages_db::{self as db, AffectedCustomer, ListRow, NoticeCount, Outage, Route},
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
        .route("/outages", get(list_page).post(create))
        .route("/outages/new", get(new_page))
        .route("/outages/{id}", get(show))
        .route("/outages/{id}/edit", get(edit_page).post(save_change))
        .route("/outages/{id}/cancel", post(cancel))
}

/// Outages on the list page.
const LIST_LIMIT: i64 = 200;
/// Affected customers per page.
const PAGE: i64 = 50;

#[derive(askama::Template)]
#[template(path = "notices/outages_list.html")]
struct ListPage {
    p: Page,
    outages: Vec<ListRow>,
}

async fn list_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let outages = db::list(&mut tx, LIST_LIMIT).await?;
    tx.commit().await?;
    Ok(render(&ListPage { p: Page::for_user(&user, "outages.title"), outages })?.into_response())
}

#[derive(askama::Template)]
#[template(path = "notices/outages_form.html")]
struct FormPage {
    p: Page,
    /// The outage being changed; none for a new one.
    outage: Option<Outage>,
    form: OutageForm,
    errors: FieldErrors,
    routes: Vec<Route>,
}

impl FormPage {
    fn ticked(&self, code: &str) -> bool {
        self.form.routes.iter().any(|r| r == code)
    }
    fn action(&self) -> String {
        match &self.outage {
            Some(o) => format!("/outages/{}/edit", o.id),
            None => "/outages".to_owned(),
        }
    }
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    outage: Option<Outage>,
    form: OutageForm,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let routes = db::routes(&mut tx).await?;
    tx.commit().await?;
    let title = if outage.is_some() { "outages.edit_title" } else { "outages.new_title" };
    let mut p = Page::for_user(user, title);
    if let Some(o) = &outage {
        p.title = format!("{} · {}", p.title, o.ref_no);
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&FormPage { p, outage, form, errors, routes })?).into_response())
}

async fn new_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    form_page(&state, &user, None, OutageForm::default(), FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<OutageForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let valid = match outages::check_form(&form, user.tz, Utc::now(), None) {
        Ok(v) => v,
        Err(errors) => return form_page(&state, &user, None, form, errors).await,
    };
    let mut tx = user.tx(&state.db).await?;
    match db::create(&mut tx, &Actor::from(&user), user.tz, &valid).await {
        Ok((outage, _)) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/outages/{}?saved=created", outage.id)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            form_page(&state, &user, None, form, errors).await
        }
        Err(other) => Err(other),
    }
}

fn form_of(o: &Outage, tz: chrono_tz::Tz) -> OutageForm {
    OutageForm {
        reason: o.reason.clone(),
        starts_at: outages::to_local_input(o.starts_at, tz),
        ends_at: outages::to_local_input(o.ends_at, tz),
        routes: o.routes.clone(),
        transformer_lines: o.transformers.join("\n"),
        area_lines: o.areas.join("\n"),
    }
}

async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let outage = db::get(&mut tx, id).await?;
    tx.commit().await?;
    if outage.is_cancelled() {
        return Err(AppError::Conflict("outage_cancelled"));
    }
    let form = form_of(&outage, user.tz);
    form_page(&state, &user, Some(outage), form, FieldErrors::default()).await
}

async fn save_change(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<OutageForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let current = db::get(&mut tx, id).await?;
    let valid = match outages::check_form(&form, user.tz, Utc::now(), Some(current.starts_at)) {
        Ok(v) => v,
        Err(errors) => {
            drop(tx);
            return form_page(&state, &user, Some(current), form, errors).await;
        }
    };
    match db::change(&mut tx, &Actor::from(&user), user.tz, id, &valid).await {
        Ok((_, announced)) => {
            tx.commit().await?;
            let saved = if announced.is_some() { "changed" } else { "unchanged" };
            Ok(Redirect::to(&format!("/outages/{id}?saved={saved}")).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            form_page(&state, &user, Some(current), form, errors).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    db::cancel(&mut tx, &Actor::from(&user), user.tz, id).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/outages/{id}?saved=cancelled")).into_response())
}

#[derive(askama::Template)]
#[template(path = "notices/outages_show.html")]
struct ShowPage {
    p: Page,
    outage: Outage,
    route_names: Vec<Route>,
    counts: Vec<NoticeCount>,
    priority: i64,
    customers: Vec<AffectedCustomer>,
    after: String,
    next_after: Option<String>,
    saved: String,
}

impl ShowPage {
    fn total(&self) -> i64 {
        self.counts.iter().map(|c| c.count).sum()
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    saved: String,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageOutages)?;
    let mut tx = user.tx(&state.db).await?;
    let outage = db::get(&mut tx, id).await?;
    let counts = db::notice_counts(&mut tx, &outage).await?;
    let priority = db::priority_count(&mut tx, &outage).await?;
    let after = q.after.trim().to_owned();
    let mut customers =
        db::affected_page(&mut tx, &outage, Some(after.as_str()).filter(|a| !a.is_empty()), PAGE + 1).await?;
    let route_names = db::routes(&mut tx).await?.into_iter().filter(|r| outage.routes.contains(&r.code)).collect();
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut customers, PAGE, |c| c.account_no.clone());
    let saved = if ["created", "changed", "unchanged", "cancelled"].contains(&q.saved.as_str()) {
        q.saved
    } else {
        String::new()
    };
    let mut p = Page::for_user(&user, "outages.title");
    p.title = format!("{} · {}", outage.ref_no, p.title);
    let page = ShowPage { p, outage, route_names, counts, priority, customers, after, next_after, saved };
    Ok(render(&page)?.into_response())
}
