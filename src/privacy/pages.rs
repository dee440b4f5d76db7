//! The privacy pages (tenant admins only): a customer's personal-data page
//! (download everything held about the person; anonymise the closed account,
//! confirmed by typing its account number), and the company's page with the
//! retention period and the closed accounts now due for anonymisation.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    db::{self, Account},
    model, retention, service,
};
use crate::{
    audit::{self, Actor, Change},
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
        .route("/customers/{id}/privacy", get(show))
        .route("/customers/{id}/personal-data", post(download))
        .route("/customers/{id}/anonymise", post(anonymise))
        .route("/privacy", get(settings).post(save_settings))
}

#[derive(askama::Template)]
#[template(path = "privacy/customer.html")]
struct CustomerPage {
    p: Page,
    account: Account,
    years: i32,
    retention_ends: Option<DateTime<Utc>>,
    /// Why it may not be anonymised now (`err.<code>`), if so.
    refusal: Option<&'static str>,
    confirm: String,
    errors: FieldErrors,
    done: bool,
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    #[serde(default)]
    done: bool,
}

async fn customer_page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    confirm: String,
    errors: FieldErrors,
    done: bool,
) -> Result<CustomerPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let account = db::account(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let years = db::retention_years(&mut tx).await?;
    tx.commit().await?;
    let state = model::AccountState {
        status: &account.status,
        closed_at: account.closed_at,
        anonymised: account.anonymised_at.is_some(),
    };
    let refusal = model::may_anonymise(&state, years, Utc::now()).err();
    let mut p = Page::for_user(user, "privacy.title");
    p.title = format!("{} · {}", p.title, account.name);
    Ok(CustomerPage {
        p,
        retention_ends: account.closed_at.map(|c| model::retention_ends(c, years)),
        account,
        years,
        refusal,
        confirm,
        errors,
        done,
    })
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let page = customer_page(&state, &user, id, String::new(), FieldErrors::default(), q.done).await?;
    Ok(render(&page)?.into_response())
}

/// The JSON document as a file to save (the export is audited).
async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let mut tx = user.tx(&state.db).await?;
    let export = service::export(&mut tx, &Actor::from(&user), id).await?;
    tx.commit().await?;
    Ok(super::api::attachment(export))
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm_account_no: String,
}

async fn anonymise(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let mut tx = user.tx(&state.db).await?;
    let account = db::account(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !model::confirmed(&form.confirm_account_no, &account.account_no) {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add("confirm_account_no", "confirm_account_no_mismatch");
        let page = customer_page(&state, &user, id, form.confirm_account_no, errors, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    match service::anonymise(&mut tx, &Actor::from(&user), id, Utc::now()).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/customers/{id}/privacy?done=true")).into_response())
        }
        Err(AppError::Conflict(_)) => {
            drop(tx);
            // The page names the reason (it is worked out again from the account).
            let page = customer_page(&state, &user, id, String::new(), FieldErrors::default(), false).await?;
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(askama::Template)]
#[template(path = "privacy/settings.html")]
struct SettingsPage {
    p: Page,
    form: SettingsForm,
    errors: FieldErrors,
    saved: bool,
    due: Vec<Account>,
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    typed: Option<(SettingsForm, FieldErrors)>,
    saved: bool,
) -> Result<SettingsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let set = db::retention_settings(&mut tx).await?;
    let due = db::eligible(&mut tx, model::latest_closing(Utc::now(), set.closed_account_years)).await?;
    tx.commit().await?;
    let (form, errors) = typed.unwrap_or_else(|| {
        let form = SettingsForm {
            retention_years: set.closed_account_years.to_string(),
            interval_years: set.interval_years.to_string(),
            audit_years: set.audit_years.to_string(),
        };
        (form, FieldErrors::default())
    });
    Ok(SettingsPage { p: Page::for_user(user, "privacy.settings_title"), form, errors, saved, due })
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    Ok(render(&settings_page(&state, &user, None, q.saved).await?)?.into_response())
}

/// The retention settings as typed: whole years each.
#[derive(Deserialize, Default)]
struct SettingsForm {
    #[serde(default)]
    retention_years: String,
    #[serde(default)]
    interval_years: String,
    #[serde(default)]
    audit_years: String,
}

impl SettingsForm {
    fn check(&self) -> Result<db::RetentionSettings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut years = |typed: &str, field: &'static str, max: i32, code: &'static str| {
            retention::parse_years(typed, max).unwrap_or_else(|| {
                errors.add(field, code);
                0
            })
        };
        let set = db::RetentionSettings {
            closed_account_years: years(&self.retention_years, "retention_years", 30, "retention_years_range"),
            interval_years: years(
                &self.interval_years,
                "interval_years",
                retention::MAX_INTERVAL_YEARS,
                "retention_years_range",
            ),
            audit_years: years(&self.audit_years, "audit_years", retention::MAX_AUDIT_YEARS, "audit_years_range"),
        };
        errors.finish(set)
    }
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePersonalData)?;
    let set = match form.check() {
        Ok(set) => set,
        Err(errors) => {
            let page = settings_page(&state, &user, Some((form, errors)), false).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let before = db::retention_settings(&mut tx).await?;
    db::save_retention_settings(&mut tx, &set).await?;
    let as_json = |s: &db::RetentionSettings| json!({ "retention_years": s.closed_account_years, "interval_years": s.interval_years, "audit_years": s.audit_years });
    let change = Change {
        action: "update",
        entity: "privacy_settings",
        entity_id: None,
        summary: format!(
            "{} → {} / {} → {} / {} → {}",
            before.closed_account_years,
            set.closed_account_years,
            before.interval_years,
            set.interval_years,
            before.audit_years,
            set.audit_years
        ),
        before: Some(as_json(&before)),
        after: Some(as_json(&set)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/privacy?saved=true").into_response())
}
