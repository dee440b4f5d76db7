//! A customer's notices on the customer page (preferences at a glance and
//! the newest notices) and the page that edits the preferences.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Kind,
    preferences::{self, BILL_CHANNELS, BILL_CONTENTS, LANGS, Preferences, PreferencesForm},
    preferences_db::{self, RecentNotice},
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
    Router::new().route("/customers/{id}/notices", get(edit_page).post(save))
}

// ---------------------------------------------------------------- the customer page

/// The customer page's notices section.
pub struct NoticeSection {
    pub customer_id: Uuid,
    pub prefs: Preferences,
    pub recent: Vec<RecentNotice>,
    pub can_edit: bool,
}

/// The customer page's preferences and ten recent notices, read in its statement.
pub fn page_query(tenant: &str) -> String {
    preferences_db::with_recent_query("10", tenant)
}

/// The section of the customer page, from [`page_query`]'s column.
pub fn section(user: &CurrentUser, customer_id: Uuid, column: serde_json::Value) -> sqlx::Result<NoticeSection> {
    let (prefs, recent) = preferences_db::with_recent_from(column)?;
    Ok(NoticeSection { customer_id, prefs, recent, can_edit: user.require(Permission::EditCustomers).is_ok() })
}

// ---------------------------------------------------------------- the edit page

/// A kind as a checkbox of the opt-out list.
pub struct KindBox {
    pub code: &'static str,
    pub critical: bool,
    pub checked: bool,
}

#[derive(askama::Template)]
#[template(path = "notices/preferences.html")]
struct EditPage {
    p: Page,
    customer_id: Uuid,
    customer_name: String,
    account_no: String,
    form: PreferencesForm,
    errors: FieldErrors,
    saved: bool,
}

/// Every kind as a checkbox, ticked where the customer opted out (the
/// customer portal's page shows the same list).
pub fn kind_boxes(opt_outs: &[String]) -> Vec<KindBox> {
    Kind::ALL
        .into_iter()
        .map(|k| KindBox {
            code: k.as_str(),
            critical: k.critical(),
            checked: !k.critical() && opt_outs.iter().any(|o| o == k.as_str()),
        })
        .collect()
}

impl EditPage {
    fn kinds(&self) -> Vec<KindBox> {
        kind_boxes(&self.form.opt_outs)
    }
    fn langs(&self) -> &'static [&'static str] {
        &LANGS
    }
    fn contents(&self) -> &'static [&'static str] {
        &BILL_CONTENTS
    }
    fn bill_channels(&self) -> &'static [&'static str] {
        &BILL_CHANNELS
    }
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    form: Option<PreferencesForm>,
    errors: FieldErrors,
    saved: bool,
) -> Result<EditPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let customer = crate::customers::db::get(&mut tx, id).await?;
    let form = match form {
        Some(f) => f,
        None => PreferencesForm::from_preferences(&preferences_db::get(&mut tx, id).await?),
    };
    tx.commit().await?;
    let mut p = Page::for_user(user, "notice_prefs.edit_title");
    p.title = format!("{} · {}", p.title, customer.name);
    Ok(EditPage {
        p,
        customer_id: id,
        customer_name: customer.name,
        account_no: customer.account_no,
        form,
        errors,
        saved,
    })
}

async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    Ok(render(&page(&state, &user, id, None, FieldErrors::default(), q.saved).await?)?.into_response())
}

/// Replaces a customer's preference after checking it, audited with the
/// values before and after. Shared by the page, the API and the customer
/// portal.
pub async fn replace(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    draft: &Preferences,
    errors: FieldErrors,
) -> Result<Preferences, AppError> {
    crate::customers::db::get(conn, id).await?;
    let archive = preferences_db::archive(conn, id).await?;
    let checked = preferences::check(draft, archive, errors)?;
    let before = preferences_db::get(conn, id).await?;
    preferences_db::save(conn, id, &checked, &actor.label).await?;
    let change = Change {
        action: "update",
        entity: "notice_preferences",
        entity_id: Some(id),
        summary: String::new(),
        before: Some(json!(before)),
        after: Some(json!(checked)),
    };
    audit::record(conn, actor, change).await?;
    Ok(checked)
}

async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<PreferencesForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut errors = FieldErrors::default();
    let draft = form.draft(&mut errors);
    let mut tx = user.tx(&state.db).await?;
    match replace(&mut tx, &Actor::from(&user), id, &draft, errors).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/customers/{id}/notices?saved=true")).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let page = page(&state, &user, id, Some(form), errors, false).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}
