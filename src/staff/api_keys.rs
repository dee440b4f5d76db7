//! The tenant admin's API keys page: list, create (shown once), revoke.

use axum::{
    Router,
    extract::{Path, State},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    staff::{self, Permission, Role, db},
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/api-keys", get(list).post(create)).route("/admin/api-keys/{id}/revoke", post(revoke))
}

#[derive(askama::Template)]
#[template(path = "staff/api_keys.html")]
struct KeysPage {
    p: Page,
    keys: Vec<db::ApiKeyRow>,
    roles: [Role; 5],
    /// The key just created, shown this once.
    new_key: Option<String>,
    name: String,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    new_key: Option<String>,
    name: String,
    errors: FieldErrors,
) -> Result<KeysPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let keys = db::list_api_keys(&mut tx).await?;
    tx.commit().await?;
    Ok(KeysPage { p: Page::for_user(user, "api_keys.title"), keys, roles: Role::API_KEY_ROLES, new_key, name, errors })
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageApiKeys)?;
    render(&page(&state, &user, None, String::new(), FieldErrors::default()).await?)
}

#[derive(Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<NewKeyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageApiKeys)?;
    let mut errors = FieldErrors::default();
    let name = crate::web::input::visible_text(&form.name, 100, "name", true, &mut errors);
    let role = Role::parse(&form.role).filter(|r| Role::API_KEY_ROLES.contains(r));
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        if role.is_none() {
            errors.add("role", "unknown_code");
        }
        let page = page(&state, &user, None, name, errors).await?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let mut tx = user.tx(&state.db).await?;
    let key = staff::create_api_key(&mut tx, &Actor::from(&user), user.tenant_id, &name, role).await?;
    tx.commit().await?;
    // The key is rendered in this response only; it is never stored or shown again.
    let page = page(&state, &user, Some(key), String::new(), FieldErrors::default()).await?;
    let mut response = render(&page)?.into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageApiKeys)?;
    let mut tx = user.tx(&state.db).await?;
    let name = db::revoke_api_key(&mut tx, id).await?;
    let change = Change {
        action: "revoke",
        entity: "api_key",
        entity_id: Some(id),
        summary: name,
        before: Some(serde_json::json!({"revoked": false})),
        after: Some(serde_json::json!({"revoked": true})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/api-keys").into_response())
}
