//! Tenant admins' pages for the reference lists (/admin/reference/{list}) and
//! the reading routes (/admin/routes): add, rename, retire and bring back,
//! delete an unused code; a route's name, reading day and readers.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    customers::{
        reference::{self, CodeForm, RefItem, RefList, RouteForm},
        reference_db::{self, Route},
        reference_service as service,
    },
    staff::{Permission, db as staff_db},
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
        .route("/admin/reference", get(|| async { Redirect::to("/admin/reference/classes") }))
        .route("/admin/reference/{list}", get(list_page).post(add_code))
        .route("/admin/reference/{list}/{code}", post(rename_code))
        .route("/admin/reference/{list}/{code}/retire", post(retire_code))
        .route("/admin/reference/{list}/{code}/unretire", post(unretire_code))
        .route("/admin/reference/{list}/{code}/delete", post(delete_code))
        .route("/admin/routes", get(routes_page).post(add_route))
        .route("/admin/routes/{id}", get(route_page).post(edit_route))
        .route("/admin/routes/{id}/retire", post(retire_route))
        .route("/admin/routes/{id}/unretire", post(unretire_route))
}

#[derive(Deserialize)]
struct EmptyForm {}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: String,
}

/// What a redirect says was saved (`reference.saved_<word>`).
pub const SAVED: [&str; 5] = ["added", "renamed", "retired", "unretired", "deleted"];

/// What was saved, for the notice at the top: only known words are shown.
fn saved_word(q: SavedQuery) -> String {
    if SAVED.contains(&q.saved.as_str()) { q.saved } else { String::new() }
}

fn parse_list(slug: &str) -> Result<RefList, AppError> {
    RefList::from_slug(slug).ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------- the five lists

#[derive(askama::Template)]
#[template(path = "reference/list.html")]
struct ListPage {
    p: Page,
    list: RefList,
    items: Vec<RefItem>,
    form: CodeForm,
    errors: FieldErrors,
    /// A renaming that was refused: the code, what was typed and why.
    rename: Option<(String, CodeForm, FieldErrors)>,
    saved: String,
}

/// The tabs of the reference pages: each list, then the routes.
fn tabs(p: &Page) -> Vec<(String, String)> {
    RefList::ALL
        .iter()
        .map(|l| (format!("/admin/reference/{}", l.slug()), p.t(&format!("reference.list_{}", l.slug()))))
        .chain([("/admin/routes".to_owned(), p.t("reference.routes_title"))])
        .collect()
}

impl ListPage {
    fn tabs(&self) -> Vec<(String, String)> {
        tabs(&self.p)
    }
    fn here(&self) -> String {
        format!("/admin/reference/{}", self.list.slug())
    }
    /// The names a row's rename form shows: what was typed when it was refused.
    fn names_of<'a>(&'a self, item: &'a RefItem) -> (&'a str, &'a str) {
        match &self.rename {
            Some((code, form, _)) if *code == item.code => (&form.name_zh, &form.name_en),
            _ => (&item.name_zh, &item.name_en),
        }
    }
    fn rename_error(&self, item: &RefItem) -> Option<String> {
        let (_, _, errors) = self.rename.as_ref().filter(|(code, _, _)| *code == item.code)?;
        errors.message("name_zh", &self.p.i).or_else(|| errors.message("name_en", &self.p.i))
    }
}

async fn list_view(
    state: &AppState,
    user: &CurrentUser,
    list: RefList,
    form: Option<(CodeForm, FieldErrors)>,
    rename: Option<(String, CodeForm, FieldErrors)>,
    saved: String,
) -> Result<ListPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let items = reference::load(&mut tx, list).await?;
    tx.commit().await?;
    let (form, errors) = form.unwrap_or_default();
    let title = format!("reference.list_{}", list.slug());
    Ok(ListPage { p: Page::for_user(user, &title), list, items, form, errors, rename, saved })
}

async fn list_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(list): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let list = parse_list(&list)?;
    Ok(render(&list_view(&state, &user, list, None, None, saved_word(q)).await?)?.into_response())
}

fn unprocessable(page: &impl askama::Template) -> Result<Response, AppError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
}

fn back_to(list: RefList, saved: &str) -> Response {
    Redirect::to(&format!("/admin/reference/{}?saved={saved}", list.slug())).into_response()
}

async fn add_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(list): Path<String>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let list = parse_list(&list)?;
    let mut tx = user.tx(&state.db).await?;
    match service::add_code(&mut tx, &Actor::from(&user), list, &form).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(back_to(list, "added"))
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            unprocessable(&list_view(&state, &user, list, Some((form, errors)), None, String::new()).await?)
        }
        Err(e) => Err(e),
    }
}

async fn rename_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((list, code)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let list = parse_list(&list)?;
    let mut tx = user.tx(&state.db).await?;
    match service::rename_code(&mut tx, &Actor::from(&user), list, &code, &form).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(back_to(list, "renamed"))
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            unprocessable(&list_view(&state, &user, list, None, Some((code, form, errors)), String::new()).await?)
        }
        Err(e) => Err(e),
    }
}

async fn set_retired(
    state: &AppState,
    user: &CurrentUser,
    list: &str,
    code: &str,
    retired: bool,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let list = parse_list(list)?;
    let mut tx = user.tx(&state.db).await?;
    service::retire_code(&mut tx, &Actor::from(user), list, code, retired).await?;
    tx.commit().await?;
    Ok(back_to(list, if retired { "retired" } else { "unretired" }))
}

async fn retire_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((list, code)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    set_retired(&state, &user, &list, &code, true).await
}

async fn unretire_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((list, code)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    set_retired(&state, &user, &list, &code, false).await
}

async fn delete_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((list, code)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let list = parse_list(&list)?;
    let mut tx = user.tx(&state.db).await?;
    service::delete_code(&mut tx, &Actor::from(&user), list, &code).await?;
    tx.commit().await?;
    Ok(back_to(list, "deleted"))
}

// ---------------------------------------------------------------- reading routes

#[derive(askama::Template)]
#[template(path = "reference/routes.html")]
struct RoutesPage {
    p: Page,
    routes: Vec<Route>,
    staff: Vec<(Uuid, String)>,
    form: RouteForm,
    errors: FieldErrors,
    saved: String,
}

impl RoutesPage {
    fn tabs(&self) -> Vec<(String, String)> {
        tabs(&self.p)
    }
    fn here(&self) -> String {
        "/admin/routes".to_owned()
    }
    fn picked(&self, id: &Uuid) -> bool {
        self.form.readers.iter().any(|r| *r == id.to_string())
    }
}

async fn routes_view(
    state: &AppState,
    user: &CurrentUser,
    form: Option<(RouteForm, FieldErrors)>,
    saved: String,
) -> Result<RoutesPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let routes = reference_db::routes(&mut tx, None).await?;
    let staff = staff_db::list_active(&mut tx).await?;
    tx.commit().await?;
    let (form, errors) = form.unwrap_or_default();
    Ok(RoutesPage { p: Page::for_user(user, "reference.routes_title"), routes, staff, form, errors, saved })
}

async fn routes_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    Ok(render(&routes_view(&state, &user, None, saved_word(q)).await?)?.into_response())
}

async fn add_route(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<RouteForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let mut tx = user.tx(&state.db).await?;
    match service::add_route(&mut tx, &Actor::from(&user), &form).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to("/admin/routes?saved=added").into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            unprocessable(&routes_view(&state, &user, Some((form, errors)), String::new()).await?)
        }
        Err(e) => Err(e),
    }
}

#[derive(askama::Template)]
#[template(path = "reference/route.html")]
struct RoutePage {
    p: Page,
    route: Route,
    /// Active staff, and readers on the route who have since left.
    staff: Vec<(Uuid, String)>,
    form: RouteForm,
    errors: FieldErrors,
}

impl RoutePage {
    fn picked(&self, id: &Uuid) -> bool {
        self.form.readers.iter().any(|r| *r == id.to_string())
    }
}

async fn route_view(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: Option<(RouteForm, FieldErrors)>,
) -> Result<RoutePage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let route = reference_db::route(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let mut staff = staff_db::list_active(&mut tx).await?;
    tx.commit().await?;
    for (id, name) in route.reader_ids.iter().zip(&route.reader_names) {
        if !staff.iter().any(|(s, _)| s == id) {
            staff.push((*id, name.clone()));
        }
    }
    let (form, errors) = form.unwrap_or_else(|| {
        let form = RouteForm {
            code: route.code.clone(),
            name: route.name.clone(),
            reader_day: route.reader_day.map(|d| d.to_string()).unwrap_or_default(),
            readers: route.reader_ids.iter().map(Uuid::to_string).collect(),
        };
        (form, FieldErrors::default())
    });
    let mut p = Page::for_user(user, "reference.route_title");
    p.title = format!("{} {} · {}", p.title, route.code, route.name);
    Ok(RoutePage { p, route, staff, form, errors })
}

async fn route_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    Ok(render(&route_view(&state, &user, id, None).await?)?.into_response())
}

async fn edit_route(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<RouteForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let mut tx = user.tx(&state.db).await?;
    match service::edit_route(&mut tx, &Actor::from(&user), id, &form).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(Redirect::to("/admin/routes?saved=renamed").into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            unprocessable(&route_view(&state, &user, id, Some((form, errors))).await?)
        }
        Err(e) => Err(e),
    }
}

async fn set_route_retired(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    retired: bool,
) -> Result<Response, AppError> {
    user.require(Permission::ManageReference)?;
    let mut tx = user.tx(&state.db).await?;
    service::retire_route(&mut tx, &Actor::from(user), id, retired).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/routes?saved={}", if retired { "retired" } else { "unretired" })).into_response())
}

async fn retire_route(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    set_route_retired(&state, &user, id, true).await
}

async fn unretire_route(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    set_route_retired(&state, &user, id, false).await
}
