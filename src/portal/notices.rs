//! Which notices a customer gets, in which language, by which address, and
//! the personalised bill, set by the customer for each linked account; with
//! the account's recent notices. The rules are the staff page's
//! (`notices::preferences`), and so is the audited save.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    auth::{PortalCaller, PortalForm},
    db::Account,
    pages::{Frame, linked, page, signed_in_frame},
};
use crate::{
    audit::{self, Change},
    customers::{db as customers_db, model::parse_quiet_hours},
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
    Router::new()
        .route("/portal/accounts/{account_no}/notices", get(notices_page).post(save))
        .route("/portal/accounts/{account_no}/quiet-hours", post(save_quiet_hours))
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
    quiet: QuietForm,
    quiet_errors: FieldErrors,
    /// The company's quiet hours, which hold whatever the customer sets.
    company_quiet: (String, String),
}

/// The customer's quiet hours as typed (HH:MM; both empty: none of their own).
#[derive(Clone, Debug, Default, Deserialize)]
struct QuietForm {
    #[serde(default)]
    quiet_from: Option<String>,
    #[serde(default)]
    quiet_to: Option<String>,
}

impl QuietForm {
    fn of(account: &Account) -> Self {
        let hhmm = |t: Option<chrono::NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
        Self { quiet_from: hhmm(account.quiet_from), quiet_to: hhmm(account.quiet_to) }
    }
    fn start(&self) -> &str {
        self.quiet_from.as_deref().unwrap_or_default()
    }
    fn end(&self) -> &str {
        self.quiet_to.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

/// What the page shows besides the settings form: a rejected quiet-hours form.
#[derive(Default)]
struct Typed {
    form: Option<PreferencesForm>,
    errors: FieldErrors,
    quiet: Option<QuietForm>,
    quiet_errors: FieldErrors,
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

async fn page_for(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    account: Account,
    typed: Typed,
    saved: bool,
) -> Result<NoticesPage, AppError> {
    let mut tx = caller.company_tx(&state.db).await?;
    let (stored, recent) = preferences_db::with_recent(&mut tx, account.customer_id, 20).await?;
    let form = typed.form.unwrap_or_else(|| PreferencesForm::from_preferences(&stored));
    let (_, company) = crate::notices::delivery::tenant_quiet_hours(&mut tx).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.notices_title", caller.csrf.clone());
    p.tz = caller.tz;
    let f = signed_in_frame(caller, &format!("/portal/accounts/{}/notices", account.account_no));
    let quiet = typed.quiet.unwrap_or_else(|| QuietForm::of(&account));
    let company_quiet = (company.from.format("%H:%M").to_string(), company.to.format("%H:%M").to_string());
    Ok(NoticesPage {
        p,
        f,
        account,
        form,
        errors: typed.errors,
        saved,
        recent,
        quiet,
        quiet_errors: typed.quiet_errors,
        company_quiet,
    })
}

async fn notices_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let page = page_for(&state, &caller, locale.0, account, Typed::default(), q.saved).await?;
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
    let actor = caller.actor();
    match replace(&mut tx, &actor, account.customer_id, &draft, errors).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/accounts/{}/notices?saved=true", account.account_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let typed = Typed { form: Some(form), errors, ..Typed::default() };
            let page = page_for(&state, &caller, locale.0, account, typed, false).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}

/// Sets the account's own quiet hours: notices that are not urgent wait
/// until they end (the company's quiet hours hold as well).
async fn save_quiet_hours(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    PortalForm(form): PortalForm<QuietForm>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let mut errors = FieldErrors::default();
    let (from, to) = parse_quiet_hours(&form.quiet_from, &form.quiet_to, &mut errors);
    if !errors.is_empty() {
        let typed = Typed { quiet: Some(form), quiet_errors: errors, ..Typed::default() };
        let page = page_for(&state, &caller, locale.0, account, typed, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = caller.company_tx(&state.db).await?;
    let (old_from, old_to) =
        customers_db::set_quiet_hours(&mut tx, account.customer_id, from, to).await?.ok_or(AppError::NotFound)?;
    let change = Change {
        action: "update",
        entity: "customer",
        entity_id: Some(account.customer_id),
        summary: "quiet hours".into(),
        before: Some(json!({"quiet_from": old_from, "quiet_to": old_to})),
        after: Some(json!({"quiet_from": from, "quiet_to": to})),
    };
    audit::record(&mut tx, &caller.actor(), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/portal/accounts/{}/notices?saved=true#quiet", account.account_no)).into_response())
}
