//! Contact pages: register (from the customer page or without a customer),
//! the contact with its clock, actions, handover and return visit, and "my
//! contacts".

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    complaints::{
        db::{self, Contact, ReturnVisit},
        model::{CHANNELS, ContactDraft, KINDS, SATISFACTION, SUBJECTS},
        service,
    },
    service::{
        Acting, ClockBadge, HistoryEntry, ItemType, Owner, history,
        queue::{COUNT_CAP, QueueFilter, QueuePage},
    },
    sla::settings,
    staff::{Permission, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
    workflow::CONTACT,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(mine).post(create))
        .route("/contacts/new", get(new_form))
        .route("/contacts/{id}", get(show))
        .route("/contacts/{id}/slip", get(slip))
        .route("/contacts/{id}/actions", post(act))
        .route("/contacts/{id}/handover", post(hand_over))
        .route("/contacts/{id}/visit", post(visit))
}

#[derive(askama::Template)]
#[template(path = "contacts/form.html")]
struct FormPage {
    p: Page,
    d: ContactDraft,
    customer: Option<(Uuid, String, String)>,
    errors: FieldErrors,
}

impl FormPage {
    fn kinds(&self) -> &'static [&'static str] {
        &KINDS
    }
    fn channels(&self) -> &'static [&'static str] {
        &CHANNELS
    }
    fn subjects(&self) -> &'static [&'static str] {
        &SUBJECTS
    }
}

#[derive(Deserialize, Default)]
struct NewQuery {
    customer: Option<Uuid>,
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    d: ContactDraft,
    errors: FieldErrors,
) -> Result<FormPage, AppError> {
    let customer_id = d.customer_id.as_deref().and_then(|s| Uuid::parse_str(s.trim()).ok());
    let customer = match customer_id {
        Some(id) => {
            let mut tx = user.tx(&state.db).await?;
            let row = sqlx::query!("SELECT id, account_no, name FROM customers WHERE id = $1", id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            row.map(|r| (r.id, r.account_no, r.name))
        }
        None => None,
    };
    Ok(FormPage { p: Page::for_user(user, "contacts.new_title"), d, customer, errors })
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NewQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    // The counter's usual case preselected: a complaint made in the hall.
    let d = ContactDraft {
        kind: "complaint".into(),
        channel: "hall".into(),
        customer_id: q.customer.map(|id| id.to_string()),
        ..Default::default()
    };
    render(&form_page(&state, &user, d, FieldErrors::default()).await?)
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(draft): CsrfForm<ContactDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    match service::create(&mut tx, &Acting::from(&user), &draft, Owner::Receiver, Utc::now()).await {
        Ok(contact) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/contacts/{}?saved=true", contact.id)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            let page = form_page(&state, &user, draft, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(askama::Template)]
#[template(path = "contacts/show.html")]
struct ShowPage {
    p: Page,
    c: Contact,
    badge: Option<ClockBadge>,
    actions: Vec<&'static str>,
    history: Vec<HistoryEntry>,
    visits: Vec<ReturnVisit>,
    pending_visit: bool,
    staff: Vec<(Uuid, String)>,
    may_act: bool,
    saved: bool,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

impl ShowPage {
    fn satisfaction_levels(&self) -> &'static [i16] {
        &SATISFACTION
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    saved: bool,
}

async fn load_show(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    saved: bool,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<ShowPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let c = db::get(&mut tx, id).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    let history = history(&mut tx, ItemType::Contact, id).await?;
    let visits = db::visits(&mut tx, id).await?;
    let staff = staff_db::list_active(&mut tx).await?;
    tx.commit().await?;
    let badge = c.running_clock().map(|clock| ClockBadge::of(&rules, clock, Utc::now()));
    let may_act = user.role.can(Permission::SuperviseService) || c.owner_id.is_none_or(|o| Some(o) == user.user_id);
    let mut p = Page::for_user(user, "contacts.title");
    p.title = format!("{} · {}", c.ref_no, p.tc("contact_kind.", &c.kind));
    Ok(ShowPage {
        p,
        actions: CONTACT.actions_from(&c.state),
        pending_visit: visits.iter().any(|v| v.done_at.is_none()),
        c,
        badge,
        history,
        visits,
        staff,
        may_act,
        saved,
        errors,
        notice,
    })
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    render(&load_show(&state, &user, id, q.saved, FieldErrors::default(), None).await?)
}

async fn after_change(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    result: Result<(), AppError>,
) -> Result<Response, AppError> {
    crate::web::change::after_change(result, &format!("/contacts/{id}"), |errors, notice| {
        load_show(state, user, id, false, errors, notice)
    })
    .await
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
    #[serde(default)]
    comment: String,
    version: Option<i32>,
}

async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let result = async {
        let mut tx = user.tx(&state.db).await?;
        service::act(&mut tx, &Acting::from(&user), id, &form.action, &form.comment, form.version, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    after_change(&state, &user, id, result).await
}

#[derive(Deserialize)]
struct HandoverForm {
    to_user: Option<Uuid>,
    #[serde(default)]
    comment: String,
}

async fn hand_over(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<HandoverForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let result = async {
        let Some(to_user) = form.to_user else {
            let mut errors = FieldErrors::default();
            errors.add("to_user", "required");
            return Err(errors.into());
        };
        let mut tx = user.tx(&state.db).await?;
        service::hand_over(&mut tx, &Acting::from(&user), id, to_user, &form.comment, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    after_change(&state, &user, id, result).await
}

#[derive(Deserialize)]
struct VisitForm {
    satisfaction: Option<i16>,
    #[serde(default)]
    remarks: String,
    #[serde(default)]
    reopen: Option<String>,
}

async fn visit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<VisitForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let result = async {
        let mut tx = user.tx(&state.db).await?;
        let reopen = form.reopen.is_some();
        service::record_visit(&mut tx, &Acting::from(&user), id, form.satisfaction, &form.remarks, reopen, Utc::now())
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    after_change(&state, &user, id, result).await
}

#[derive(askama::Template)]
#[template(path = "contacts/mine.html")]
struct MinePage {
    p: Page,
    contacts: Vec<(Contact, Option<ClockBadge>)>,
    visits: Vec<(Uuid, String, chrono::DateTime<Utc>)>,
    f: QueueFilter,
    pager: QueuePage,
    /// Open and overdue, each counted up to the cap.
    open: i64,
    overdue: i64,
    cap: i64,
}

impl MinePage {
    fn kinds(&self) -> &'static [&'static str] {
        &crate::complaints::model::KINDS
    }
    fn states(&self) -> &'static [&'static str] {
        &["received", "acknowledged", "in_progress"]
    }
}

/// The signed-in person's open contacts (filtered, a page at a time, the
/// overdue first) and the return visits waiting for them.
async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<QueueFilter>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    let Some(me) = user.user_id else { return Err(AppError::Forbidden) };
    let mut tx = user.tx(&state.db).await?;
    let rules = crate::sla::settings::load_rules(&mut tx, user.tz).await?;
    let mut contacts = db::owned_open_page(&mut tx, me, &f).await?;
    let (open, overdue) = db::owned_open_counts(&mut tx, me, COUNT_CAP).await?;
    let visits = db::visits_due_for(&mut tx, me).await?;
    tx.commit().await?;
    let pager = QueuePage::cut(&mut contacts, f.page());
    let now = Utc::now();
    let contacts = contacts
        .into_iter()
        .map(|c| {
            let badge = c.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
            (c, badge)
        })
        .collect();
    let p = Page::for_user(&user, "contacts.mine_title");
    render(&MinePage { p, contacts, visits, f, pager, open, overdue, cap: COUNT_CAP })
}

/// The acceptance slip (受理回执) of a contact, to print and hand to the
/// customer: what was registered, who owns it (首问负责), and by when it is answered.
async fn slip(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let c = db::get(&mut tx, id).await?;
    let letterhead = crate::prints::letterhead(&mut tx).await?;
    tx.commit().await?;
    let mut p = Page::for_user(&user, "contacts.slip_title");
    p.title = format!("{} · {}", p.t("contacts.slip_title"), c.ref_no);
    let customer = match (&c.customer_account_no, &c.customer_name) {
        (Some(no), Some(name)) => format!("{no} {name}"),
        _ => p.t("contacts.unidentified"),
    };
    let caller = format!("{} {}", c.caller_name, c.caller_phone.as_deref().map(|ph| p.phone(ph)).unwrap_or_default());
    let mut facts = vec![
        (p.t("contacts.kind"), p.tc("contact_kind.", &c.kind)),
        (p.t("contacts.channel"), p.tc("contact_channel.", &c.channel)),
        (p.t("contacts.subject"), p.tc("contact_subject.", &c.subject)),
        (p.t("contacts.customer"), customer),
        (p.t("contacts.caller"), caller.trim().to_owned()),
        (p.t("contacts.received_at"), p.datetime(&c.received_at)),
        (p.t("contacts.owner"), c.owner_name.clone().unwrap_or_else(|| "—".to_owned())),
    ];
    if let Some(due) = c.due_at {
        facts.push((p.t("sla.due"), p.datetime(&due)));
    }
    let slip = crate::prints::Slip {
        heading: p.t("contacts.slip_title"),
        ref_label: p.t("contacts.ref_no"),
        ref_no: c.ref_no.clone(),
        facts,
        rows_title: p.t("contacts.slip_content"),
        rows: vec![(p.t("contacts.description"), c.description.clone())],
        documents: Vec::new(),
        clerk: user.label.clone(),
        note: p.i.t_with("contacts.slip_note", &[("hotline", &letterhead.hotline)]),
    };
    render(&crate::prints::SlipPage { p, letterhead, slip })
}
