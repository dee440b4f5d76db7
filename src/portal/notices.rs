//! Which notices a customer gets, in which language, by which address, and
//! the personalised bill, set by the customer for each linked account; with
//! the account's recent notices. The rules are the staff page's
//! (`notices::preferences`), and so is the audited save.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    auth::{PortalCaller, PortalForm},
    db::{self as portal_db, Account},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    audit::Actor,
    notices::{
        preferences::{BILL_CHANNELS, BILL_CONTENTS, LANGS, PreferencesForm},
        preferences_db::{self, RecentNotice},
        preferences_pages::{KindBox, kind_boxes, replace},
    },
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/portal/accounts/{account_no}/notices", get(notices_page).post(save))
}

#[derive(askama::Template)]
#[template(path = "portal/notices.html")]
struct NoticesPage {
    p: Page,
    f: Frame,
    account: Account,
    form: PreferencesForm,
    errors: FieldErrors,
    saved: bool,
    recent: Vec<RecentNotice>,
}

impl NoticesPage {
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

/// The account, read as the customer (only a linked one is found).
async fn linked(state: &AppState, caller: &PortalCaller, account_no: &str) -> Result<Account, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, account_no).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(account)
}

async fn page_for(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    account: Account,
    form: Option<PreferencesForm>,
    errors: FieldErrors,
    saved: bool,
) -> Result<NoticesPage, AppError> {
    let mut tx = caller.company_tx(&state.db).await?;
    let form = match form {
        Some(f) => f,
        None => PreferencesForm::from_preferences(&preferences_db::get(&mut tx, account.customer_id).await?),
    };
    let recent = preferences_db::recent(&mut tx, account.customer_id, 20).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.notices_title", caller.csrf.clone());
    p.tz = caller.tz;
    let f = signed_in_frame(caller, &format!("/portal/accounts/{}/notices", account.account_no));
    Ok(NoticesPage { p, f, account, form, errors, saved, recent })
}

async fn notices_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let page = page_for(&state, &caller, locale.0, account, None, FieldErrors::default(), q.saved).await?;
    Ok(render(&page)?.into_response())
}

async fn save(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    PortalForm(mut form): PortalForm<PreferencesForm>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let mut tx = caller.company_tx(&state.db).await?;
    // The portal does not show the WeChat openid (the WeChat service sets it): kept as it is.
    let current = preferences_db::get(&mut tx, account.customer_id).await?;
    form.wechat_openid = current.wechat_openid.unwrap_or_default();
    let mut errors = FieldErrors::default();
    let draft = form.draft(&mut errors);
    let actor = Actor { user_id: None, label: format!("portal:{}", caller.login), request_id: None };
    match replace(&mut tx, &actor, account.customer_id, &draft, errors).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/accounts/{}/notices?saved=true", account.account_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let page = page_for(&state, &caller, locale.0, account, Some(form), errors, false).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}
