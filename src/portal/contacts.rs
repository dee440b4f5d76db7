//! Complaints, inquiries, suggestions and praise from the portal: sent on
//! the web channel into the same queue and clocks as the hotline's, and
//! followed here until resolved.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    auth::{PortalCaller, PortalForm},
    db::{self as portal_db, Account, ContactLine},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    complaints::{
        model::{ContactDraft, DISSATISFIED_AT_MOST, SATISFACTION},
        service as contacts,
    },
    service::Owner,
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
};

/// What a customer may send; `report` (a tip-off) stays with the hotline.
pub const KINDS: [&str; 4] = ["complaint", "inquiry", "suggestion", "praise"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/contacts", get(contacts_page).post(send))
        .route("/portal/contacts/{id}/visit", post(answer_visit))
}

#[derive(askama::Template)]
#[template(path = "portal/contacts.html")]
struct ContactsPage {
    p: Page,
    f: Frame,
    accounts: Vec<Account>,
    contacts: Vec<ContactLine>,
    form: ContactForm,
    errors: FieldErrors,
    sent: Option<String>,
    /// The return visit just answered, or the one whose answer was refused.
    visit: Option<Uuid>,
    visit_errors: FieldErrors,
}

impl ContactsPage {
    fn kinds(&self) -> &'static [&'static str] {
        &KINDS
    }
    fn subjects(&self) -> &'static [&'static str] {
        &crate::complaints::model::SUBJECTS
    }
    fn satisfaction(&self) -> &'static [i16] {
        &SATISFACTION
    }
    /// The return visit of this contact is the one just answered or refused.
    fn is_visit(&self, id: &Uuid) -> bool {
        self.visit == Some(*id)
    }
}

#[derive(Deserialize, Default)]
struct ContactForm {
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct Sent {
    sent: Option<String>,
    answered: Option<Uuid>,
}

async fn page_with(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    form: ContactForm,
    errors: FieldErrors,
    sent: Option<String>,
    visit: Option<(Uuid, FieldErrors)>,
) -> Result<ContactsPage, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let accounts = portal_db::accounts(&mut tx).await?;
    let contacts = portal_db::contacts(&mut tx, 30).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.contacts_title", caller.csrf.clone());
    p.tz = caller.tz;
    let (visit, visit_errors) = visit.map_or((None, FieldErrors::default()), |(id, errors)| (Some(id), errors));
    let f = signed_in_frame(caller, "/portal/contacts");
    Ok(ContactsPage { p, f, accounts, contacts, form, errors, sent, visit, visit_errors })
}

async fn contacts_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Query(q): Query<Sent>,
) -> Result<Response, AppError> {
    let sent = super::reference(q.sent);
    let form = ContactForm { kind: "inquiry".into(), ..Default::default() };
    let answered = q.answered.map(|id| (id, FieldErrors::default()));
    let page = page_with(&state, &caller, locale.0, form, FieldErrors::default(), sent, answered).await?;
    Ok(render(&page)?.into_response())
}

async fn send(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    PortalForm(form): PortalForm<ContactForm>,
) -> Result<Response, AppError> {
    // Only a linked account: read as the customer.
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, form.account_no.trim()).await?;
    tx.commit().await?;
    let mut errors = FieldErrors::default();
    if account.is_none() {
        errors.add("account_no", "required");
    }
    if !KINDS.contains(&form.kind.as_str()) {
        errors.add("kind", "unknown_code");
    }
    let refused = async |errors: FieldErrors, form: ContactForm| -> Result<Response, AppError> {
        let page = page_with(&state, &caller, locale.0, form, errors, None, None).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let Some(account) = account.filter(|_| errors.is_empty()) else {
        return refused(errors, form).await;
    };
    let draft = ContactDraft {
        kind: form.kind.clone(),
        channel: "web".into(),
        subject: form.subject.clone(),
        customer_id: Some(account.customer_id.to_string()),
        caller_name: account.name.chars().take(100).collect(),
        caller_phone: if caller.login.contains('@') { String::new() } else { caller.login.clone() },
        description: form.description.clone(),
        received_at: None,
        owner: None,
    };
    let who = caller.acting();
    let mut tx = caller.company_tx(&state.db).await?;
    match contacts::create(&mut tx, &who, &draft, Owner::Unassigned, chrono::Utc::now()).await {
        Ok(contact) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/contacts?sent={}", contact.ref_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            refused(errors, form).await
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize, Default)]
struct VisitForm {
    #[serde(default)]
    satisfaction: String,
    #[serde(default)]
    remarks: String,
}

/// The customer answers the return-visit question of their complaint: the
/// same record as a visit by phone (`complaints::service::record_visit`).
/// Satisfied closes the complaint; dissatisfied reopens it for another look.
async fn answer_visit(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(id): Path<Uuid>,
    PortalForm(form): PortalForm<VisitForm>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let pending = portal_db::visit_pending(&mut tx, id).await?;
    tx.commit().await?;
    if !pending {
        return Err(AppError::NotFound);
    }
    let satisfaction = form.satisfaction.trim().parse::<i16>().ok();
    let reopen = satisfaction.is_some_and(|s| s <= DISSATISFIED_AT_MOST);
    let who = caller.acting();
    let mut tx = caller.company_tx(&state.db).await?;
    let blank = ContactForm { kind: "inquiry".into(), ..Default::default() };
    match contacts::record_visit(&mut tx, &who, id, satisfaction, &form.remarks, reopen, chrono::Utc::now()).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/contacts?answered={id}#contact-{id}")).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let page =
                page_with(&state, &caller, locale.0, blank, FieldErrors::default(), None, Some((id, errors))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(err) => Err(err),
    }
}
