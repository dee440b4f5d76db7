//! Platform admin pages: tenants, and which migrations are applied.

use axum::{
    Router,
    extract::State,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;

use crate::{
    audit::Actor,
    platform::{MigrationStatus, migration_status},
    staff::Permission,
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
