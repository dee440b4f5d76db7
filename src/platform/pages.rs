//! Platform admin pages: tenants, and which migrations are applied.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    platform::{MigrationStatus, migration_status},
    staff::{self, Permission, Role},
    tenants::{self, CreateError, TenantInput, TenantRow},
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
        .route("/platform/tenants", get(tenants_page).post(create_tenant))
        .route("/platform/migrations", get(migrations_page))
        .route("/platform/tenants/{id}/admin", get(admin_page).post(create_admin))
}

#[derive(Deserialize, Default)]
struct TenantForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    account_prefix: String,
}

#[derive(askama::Template)]
#[template(path = "platform/tenants.html")]
struct TenantsPage {
    p: Page,
    tenants: Vec<TenantRow>,
    f: TenantForm,
    errors: FieldErrors,
}

async fn tenants_page(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageTenants)?;
    let tenants = tenants::list(&state.db).await?;
    let f = TenantForm { time_zone: "Asia/Shanghai".into(), ..Default::default() };
    render(&TenantsPage {
        p: Page::for_user(&user, "platform.tenants_title"),
        tenants,
        f,
        errors: FieldErrors::default(),
    })
}

async fn create_tenant(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(f): CsrfForm<TenantForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTenants)?;
    let input = TenantInput {
        slug: &f.slug,
        name: &f.name,
        time_zone: &f.time_zone,
        account_prefix: &f.account_prefix,
        is_platform: false,
    };
    let result = match tenants::validate(&input) {
        Ok(valid) => tenants::create(&state.db, &valid, &Actor::from(&user)).await,
        Err(errors) => Err(CreateError::Invalid(errors)),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/platform/tenants").into_response()),
        Err(CreateError::Invalid(errors)) => {
            let tenants = tenants::list(&state.db).await?;
            let page = TenantsPage { p: Page::for_user(&user, "platform.tenants_title"), tenants, f, errors };
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(CreateError::Db(e)) => Err(e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "platform/migrations.html")]
struct MigrationsPage {
    p: Page,
    migrations: Vec<MigrationStatus>,
}

async fn migrations_page(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageTenants)?;
    let migrations = migration_status(&state.db).await?;
    render(&MigrationsPage { p: Page::for_user(&user, "platform.migrations_title"), migrations })
}

// ---------------------------------------------------------------- a tenant's first administrator

#[derive(Deserialize, Default)]
struct AdminForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    /// The tick that confirms creating an administrator in another company.
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize, Default)]
struct Created {
    #[serde(default)]
    created: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "platform/first_admin.html")]
struct AdminPage {
    p: Page,
    tenant: TenantRow,
    /// The tenant's administrators now: (username, display name).
    admins: Vec<(String, String)>,
    f: AdminForm,
    errors: FieldErrors,
    /// The username just created, for the confirmation.
    created: Option<String>,
}

/// The tenant (never the operator's own) and its active administrators.
async fn tenant_and_admins(state: &AppState, id: Uuid) -> Result<(TenantRow, Vec<(String, String)>), AppError> {
    let tenant =
        tenants::list(&state.db).await?.into_iter().find(|t| t.id == id && !t.is_platform).ok_or(AppError::NotFound)?;
    let mut tx = crate::db::begin_tenant(&state.db, id, None).await?;
    let admins = sqlx::query!(
        "SELECT username, display_name FROM users WHERE role = 'tenant_admin' AND active ORDER BY username"
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.username, r.display_name))
    .collect();
    tx.commit().await?;
    Ok((tenant, admins))
}

async fn admin_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<Created>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageTenants)?;
    let (tenant, admins) = tenant_and_admins(&state, id).await?;
    let f = AdminForm { username: "admin".into(), ..Default::default() };
    let created = q.created.filter(|u| admins.iter().any(|a| &a.0 == u));
    render(&AdminPage {
        p: Page::for_user(&user, "platform.first_admin_title"),
        tenant,
        admins,
        f,
        errors: FieldErrors::default(),
        created,
    })
}

/// Checks the form: a username, a name, a password typed twice, and the
/// confirmation ticked.
fn check_admin(f: &AdminForm) -> Result<(String, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let username = staff::model::parse_username(&f.username, &mut errors);
    let display_name = crate::web::input::visible_text(&f.display_name, 100, "display_name", true, &mut errors);
    staff::model::check_password(&f.password, "password", &mut errors);
    if f.password != f.password_confirm {
        errors.add("password_confirm", "passwords_differ");
    }
    if f.confirm.is_none() {
        errors.add("confirm", "confirm_required");
    }
    errors.finish((username, display_name))
}

/// Creates the tenant's first administrator, audited in the tenant's own log
/// (by the platform admin). A tenant with an administrator already is
/// refused: from then on, its own administrators manage its staff.
async fn create_admin(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<AdminForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTenants)?;
    let (tenant, admins) = tenant_and_admins(&state, id).await?;
    if !admins.is_empty() {
        return Err(AppError::Conflict("tenant_has_admin"));
    }
    let refused = |tenant, admins, f, errors| -> Result<Response, AppError> {
        let page = AdminPage {
            p: Page::for_user(&user, "platform.first_admin_title"),
            tenant,
            admins,
            f,
            errors,
            created: None,
        };
        Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let (username, display_name) = match check_admin(&f) {
        Ok(valid) => valid,
        Err(errors) => {
            return refused(
                tenant,
                admins,
                AdminForm { password: String::new(), password_confirm: String::new(), ..f },
                errors,
            );
        }
    };
    let mut tx = crate::db::begin_tenant(&state.db, id, None).await?;
    let new = staff::db::NewUser {
        tenant_id: id,
        username: &username,
        display_name: &display_name,
        team: "",
        role: Role::TenantAdmin,
        password: &f.password,
        locale: None,
    };
    let actor = crate::audit::Actor { user_id: None, ..Actor::from(&user) };
    if staff::create_user(&mut tx, &actor, new).await?.is_none() {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add("username", "username_taken");
        return refused(
            tenant,
            admins,
            AdminForm { password: String::new(), password_confirm: String::new(), ..f },
            errors,
        );
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/platform/tenants/{id}/admin?created={username}")).into_response())
}
