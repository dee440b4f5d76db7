//! Tenant admin pages: the tenant's users and their roles.

use axum::{
    Router,
    extract::{Path, State},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    staff::{
        self, Permission, Role,
        db::{self, NewUser, StaffUser, UserChanges},
        model::{check_password, parse_username},
    },
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
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/new", get(new_form))
        .route("/admin/users/{id}", get(edit_form).post(update))
}

#[derive(askama::Template)]
#[template(path = "staff/list.html")]
struct ListPage {
    p: Page,
    users: Vec<StaffUser>,
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageUsers)?;
    let mut tx = user.tx(&state.db).await?;
    let users = db::list_users(&mut tx).await?;
    tx.commit().await?;
    render(&ListPage { p: Page::for_user(&user, "staff.title"), users })
}

/// One form serves creating and editing a user.
#[derive(askama::Template)]
#[template(path = "staff/form.html")]
struct FormPage {
    p: Page,
    id: Option<Uuid>,
    f: UserForm,
    errors: FieldErrors,
    roles: [Role; 4],
    locked: bool,
}

#[derive(Deserialize, Default, Clone)]
struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    unlock: Option<String>,
}

fn form_page(user: &CurrentUser, id: Option<Uuid>, f: UserForm, errors: FieldErrors, locked: bool) -> FormPage {
    let title = if id.is_some() { "staff.edit_title" } else { "staff.new_title" };
    FormPage { p: Page::for_user(user, title), id, f, errors, roles: Role::TENANT_ROLES, locked }
}

async fn new_form(user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageUsers)?;
    let f = UserForm { role: Role::CounterStaff.as_str().into(), active: Some("on".into()), ..Default::default() };
    render(&form_page(&user, None, f, FieldErrors::default(), false))
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageUsers)?;
    let mut tx = user.tx(&state.db).await?;
    let staff = db::get_user(&mut tx, id).await?;
    tx.commit().await?;
    let f = UserForm {
        username: staff.username,
        display_name: staff.display_name,
        team: staff.team,
        role: staff.role,
        locale: staff.locale.unwrap_or_default(),
        active: staff.active.then(|| "on".into()),
        ..Default::default()
    };
    render(&form_page(&user, Some(id), f, FieldErrors::default(), staff.locked))
}

/// Checks the fields both forms share; the password is required only when creating.
fn check(form: &UserForm, creating: bool, errors: &mut FieldErrors) -> (Role, Option<String>) {
    crate::web::input::visible_text(&form.display_name, 100, "display_name", true, errors);
    crate::web::input::visible_text(&form.team, 60, "team", false, errors);
    let role = Role::parse(&form.role).filter(|r| Role::TENANT_ROLES.contains(r));
    if role.is_none() {
        errors.add("role", "unknown_code");
    }
    if creating || !form.password.is_empty() {
        check_password(&form.password, "password", errors);
    }
    let locale = match form.locale.as_str() {
        "" => None,
        "zh-CN" | "en" => Some(form.locale.clone()),
        _ => {
            errors.add("locale", "unknown_code");
            None
        }
    };
    (role.unwrap_or(Role::CounterStaff), locale)
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageUsers)?;
    let mut errors = FieldErrors::default();
    let username = parse_username(&form.username, &mut errors);
    let (role, locale) = check(&form, true, &mut errors);
    let invalid = |errors| -> Result<Response, AppError> {
        let page = form_page(&user, None, UserForm { password: String::new(), ..form.clone() }, errors, false);
        Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let mut tx = user.tx(&state.db).await?;
    let new = NewUser {
        tenant_id: user.tenant_id,
        username: &username,
        display_name: form.display_name.trim(),
        team: form.team.trim(),
        role,
        password: &form.password,
        locale: locale.as_deref(),
    };
    if staff::create_user(&mut tx, &Actor::from(&user), new).await?.is_none() {
        errors.add("username", "username_taken");
        return invalid(errors);
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/users").into_response())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageUsers)?;
    let mut tx = user.tx(&state.db).await?;
    let current = db::get_user(&mut tx, id).await?;
    let mut errors = FieldErrors::default();
    let (role, locale) = check(&form, false, &mut errors);
    let active = form.active.is_some();
    // An admin cannot lock themselves out by accident.
    if Some(id) == user.user_id && (!active || role != Role::TenantAdmin) {
        errors.add("role", "cannot_demote_self");
    }
    if !errors.is_empty() {
        let f = UserForm { username: current.username.clone(), password: String::new(), ..form };
        let page = form_page(&user, Some(id), f, errors, current.locked);
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let changes = UserChanges {
        display_name: form.display_name.trim(),
        team: form.team.trim(),
        role,
        active,
        locale: locale.as_deref(),
        new_password: Some(form.password.as_str()).filter(|p| !p.is_empty()),
        unlock: form.unlock.is_some(),
    };
    db::update_user(&mut tx, id, changes).await?;
    let before = staff::user_snapshot(
        &current.username,
        &current.display_name,
        &current.team,
        Role::parse(&current.role).unwrap_or(Role::CounterStaff),
        current.active,
        current.locale.as_deref(),
    );
    let mut after = staff::user_snapshot(
        &current.username,
        form.display_name.trim(),
        form.team.trim(),
        role,
        active,
        locale.as_deref(),
    );
    if !form.password.is_empty() {
        // The password itself is never recorded, only that it was reset.
        after["password"] = serde_json::json!("(reset)");
    }
    audit::record(
        &mut tx,
        &Actor::from(&user),
        Change {
            action: "update",
            entity: "user",
            entity_id: Some(id),
            summary: current.username.clone(),
            before: Some(before),
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/users").into_response())
}
