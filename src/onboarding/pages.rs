//! /admin/import: a tenant administrator uploads an archive file and sees
//! what was loaded or, line by line, why not; and downloads the archive.

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::Utc;

use crate::{
    audit::Actor,
    onboarding::{
        api::{export_bytes, multipart_parts, require_admin},
        db::Counts,
        service::{self, ImportReport},
    },
    web::{
        AppState,
        auth::CurrentUser,
        csv_export,
        error::AppError,
        i18n::I18n,
        page::{Page, render},
        password::constant_time_eq,
        upload::{self, BodyLimits},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/import", get(form).post(upload_file))
        .route("/admin/import/customers.csv", get(download))
}

#[derive(askama::Template)]
#[template(path = "onboarding/import.html")]
struct ImportPage {
    p: Page,
    partial: bool,
    problem: Option<String>,
    report: Option<ImportReport>,
}

impl ImportPage {
    fn counts(&self) -> Vec<(&'static str, Counts)> {
        let Some(r) = &self.report else { return Vec::new() };
        let a = &r.applied;
        vec![
            ("onboarding.customers", a.customers),
            ("onboarding.contacts", a.contacts),
            ("onboarding.supply_points", a.supply_points),
            ("onboarding.meters", a.meters),
            ("onboarding.installations", a.installations),
        ]
    }
}

fn page(user: &CurrentUser) -> Page {
    Page::for_user(user, "onboarding.title")
}

async fn form(user: CurrentUser) -> Result<Response, AppError> {
    require_admin(&user)?;
    Ok(render(&ImportPage { p: page(&user), partial: false, problem: None, report: None })?.into_response())
}

async fn upload_file(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    require_admin(&user)?;
    // A multipart form is not a CsrfForm: the same checks, on its parts.
    if headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return Err(AppError::Forbidden);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("multipart/form-data") {
        return Err(AppError::BadRequest("expected a multipart form".into()));
    }
    let i = I18n(user.locale);
    let config = &state.config;
    let _upload = state.uploads.begin(&user)?;
    let body = upload::read_to_memory(body, &BodyLimits::new(config, config.interval_max_bytes), &i).await?;
    let parts = multipart_parts(&headers, body).await?;
    let csrf = parts.field("csrf").unwrap_or("");
    if user.csrf_token.is_empty() || !constant_time_eq(user.csrf_token.as_bytes(), csrf.as_bytes()) {
        return Err(AppError::Forbidden);
    }
    let partial = parts.field("partial").is_some();
    let file = parts.file.filter(|f| !f.is_empty());
    let Some(file) = file else {
        let page = ImportPage { p: page(&user), partial, problem: Some(i.t("onboarding.no_file")), report: None };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let _turn = state.uploads.load_turn().await;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let report = service::import(&state.db, user.tenant_id, &Actor::from(&user), &file, partial, today, &i, &|_| {})
        .await
        .map_err(AppError::Internal)?;
    let status = if report.loaded { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ImportPage { p: page(&user), partial, problem: None, report: Some(report) };
    Ok((status, render(&page)?).into_response())
}

async fn download(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    require_admin(&user)?;
    Ok(csv_export::download("customers.csv", export_bytes(&state, &user).await?))
}
