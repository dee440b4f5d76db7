//! Applications from the portal: a new connection (业扩报装), a capacity
//! increase or reduction, or a transfer of ownership, each a work order on
//! the counter's path (`work_orders::service::create`), with its documents
//! uploaded here and its stages followed here.
//!
//! A document is checked for type and size (`work_orders::documents`) and
//! kept in the database. Staff of the tenant read it on the order's page;
//! in the portal, row-level security shows a document only to the login
//! that uploaded it (migration 0057).

use axum::{
    Router,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    auth::{PortalCaller, PortalForm, PortalUpload},
    db::{self as portal_db, Account, ApplicationLine},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    audit::{self, Change},
    service::Owner,
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::{I18n, Locale},
        page::{Page, render},
    },
    work_orders::{
        db as work_orders_db,
        documents::{self, MAX_BYTES, MAX_PER_APPLICATION},
        documents_db::{self, DocumentLine},
        model::{CUSTOMER_TYPES, WorkOrderDraft, workflow_of},
        pages::download,
        service as work_orders,
    },
};

/// What a customer may apply for here.
pub const KINDS: [&str; 4] = ["expansion", "capacity_increase", "capacity_reduction", "transfer_of_ownership"];
/// An upload's request: the largest document and the form around it.
const UPLOAD_LIMIT: usize = MAX_BYTES + 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/applications", get(list).post(create))
        .route("/portal/applications/new/{kind}", get(new_form))
        .route("/portal/applications/{ref_no}", get(show))
        .route("/portal/applications/{ref_no}/documents", post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .route("/portal/applications/{ref_no}/documents/{id}", get(document))
}

fn known_kind(kind: &str) -> Result<&'static str, AppError> {
    KINDS.iter().find(|k| **k == kind).copied().ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------- the list

#[derive(askama::Template)]
#[template(path = "portal/applications.html")]
struct ListPage {
    p: Page,
    f: Frame,
    applications: Vec<ApplicationLine>,
}

impl ListPage {
    fn kinds(&self) -> &'static [&'static str] {
        &KINDS
    }
}

async fn list(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let applications = portal_db::applications(&mut tx, &KINDS, 30).await?;
    tx.commit().await?;
    let mut p = page(locale.0, "portal.applications_title", caller.csrf.clone());
    p.tz = caller.tz;
    let f = signed_in_frame(&caller, "/portal/applications");
    Ok(render(&ListPage { p, f, applications })?.into_response())
}

// ---------------------------------------------------------------- applying

/// A supply point the customer may ask to change.
struct PointOption {
    id: Uuid,
    account_no: String,
    code: String,
    capacity: String,
}

#[derive(askama::Template)]
#[template(path = "portal/application_new.html")]
struct NewPage {
    p: Page,
    f: Frame,
    kind: &'static str,
    accounts: Vec<Account>,
    points: Vec<PointOption>,
    form: ApplicationForm,
    errors: FieldErrors,
}

impl NewPage {
    fn customer_types(&self) -> &'static [&'static str] {
        &CUSTOMER_TYPES
    }
    fn needs_point(&self) -> bool {
        self.kind.starts_with("capacity")
    }
}

#[derive(Deserialize, Default)]
struct ApplicationForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    customer_type: String,
    #[serde(default)]
    requested_capacity_kva: String,
    #[serde(default)]
    supply_point_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    new_holder_name: String,
    #[serde(default)]
    new_holder_phone: String,
    #[serde(default)]
    description: String,
}

async fn new_page(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    kind: &'static str,
    form: ApplicationForm,
    errors: FieldErrors,
) -> Result<NewPage, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let accounts = portal_db::accounts(&mut tx).await?;
    tx.commit().await?;
    let mut points = Vec::new();
    if kind.starts_with("capacity") {
        // The accounts are the linked ones, read as the customer above.
        let mut tx = caller.company_tx(&state.db).await?;
        for a in &accounts {
            for (id, code, capacity) in work_orders_db::supply_points_of(&mut tx, a.customer_id).await? {
                points.push(PointOption { id, account_no: a.account_no.clone(), code, capacity });
            }
        }
        tx.commit().await?;
    }
    let mut p = page(locale, "portal.apply_title", caller.csrf.clone());
    p.title = format!("{} · {}", p.tc("portal.apply_for_", kind), p.title);
    let f = signed_in_frame(caller, &format!("/portal/applications/new/{kind}"));
    Ok(NewPage { p, f, kind, accounts, points, form, errors })
}

async fn new_form(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let kind = known_kind(&kind)?;
    let form = ApplicationForm { kind: kind.into(), ..Default::default() };
    Ok(render(&new_page(&state, &caller, locale.0, kind, form, FieldErrors::default()).await?)?.into_response())
}

fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn create(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    PortalForm(form): PortalForm<ApplicationForm>,
) -> Result<Response, AppError> {
    let kind = known_kind(&form.kind)?;
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, form.account_no.trim()).await?;
    tx.commit().await?;
    let refused = async |errors: FieldErrors, form: ApplicationForm| -> Result<Response, AppError> {
        let page = new_page(&state, &caller, locale.0, kind, form, errors).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let Some(account) = account else {
        let mut errors = FieldErrors::default();
        errors.add("account_no", "required");
        return refused(errors, form).await;
    };
    let i = I18n(locale.0);
    let mut draft = WorkOrderDraft {
        kind: kind.into(),
        customer_id: Some(account.customer_id.to_string()),
        title: format!("{} · {}", i.t(&format!("work_order_kind.{kind}")), i.t("portal.applied_online")),
        description: form.description.clone(),
        address: optional(&form.address).unwrap_or_else(|| account.address.clone()),
        ..WorkOrderDraft::default()
    };
    match kind {
        "expansion" => {
            draft.customer_type = optional(&form.customer_type);
            draft.requested_capacity_kva = optional(&form.requested_capacity_kva);
        }
        "capacity_increase" | "capacity_reduction" => {
            draft.supply_point_id = optional(&form.supply_point_id);
            draft.requested_capacity_kva = optional(&form.requested_capacity_kva);
        }
        _ => {
            draft.new_holder_name = optional(&form.new_holder_name);
            draft.new_holder_phone = optional(&form.new_holder_phone);
        }
    }
    let who = caller.acting();
    let mut tx = caller.company_tx(&state.db).await?;
    match work_orders::create(&mut tx, &who, &draft, Owner::Unassigned, chrono::Utc::now()).await {
        Ok(order) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/applications/{}?created=true", order.ref_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            refused(errors, form).await
        }
        Err(err) => Err(err),
    }
}

// ---------------------------------------------------------------- one application

#[derive(askama::Template)]
#[template(path = "portal/application.html")]
struct ShowPage {
    p: Page,
    f: Frame,
    app: ApplicationLine,
    documents: Vec<DocumentLine>,
    errors: FieldErrors,
    created: bool,
    uploaded: bool,
}

impl ShowPage {
    /// The stages of the application and whether each is reached.
    fn stages(&self) -> Vec<(&'static str, bool)> {
        let workflow = workflow_of(&self.app.kind);
        let live: Vec<&'static str> = workflow.states.iter().copied().filter(|s| *s != "cancelled").collect();
        let at = live.iter().position(|s| *s == self.app.state);
        live.iter().enumerate().map(|(i, s)| (*s, at.is_some_and(|at| i <= at))).collect()
    }
    fn open(&self) -> bool {
        !workflow_of(&self.app.kind).is_finished(&self.app.state)
    }
    fn accepted(&self) -> &'static [&'static str] {
        documents::accepted(&self.app.kind)
    }
    fn max_mb(&self) -> usize {
        MAX_BYTES / 1024 / 1024
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    created: bool,
    #[serde(default)]
    uploaded: bool,
}

/// The application, read as the customer: another customer's is not found.
async fn linked_application(
    state: &AppState,
    caller: &PortalCaller,
    ref_no: &str,
) -> Result<ApplicationLine, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let app = portal_db::application(&mut tx, &KINDS, ref_no).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(app)
}

async fn show_page(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    app: ApplicationLine,
    errors: FieldErrors,
    q: ShowQuery,
) -> Result<ShowPage, AppError> {
    // Read as the customer: only the documents this login uploaded.
    let mut tx = caller.tx(&state.db).await?;
    let documents = documents_db::for_order(&mut tx, app.id).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.application_title", caller.csrf.clone());
    p.tz = caller.tz;
    p.title = format!("{} · {}", app.ref_no, p.tc("portal.apply_for_", &app.kind));
    let f = signed_in_frame(caller, &format!("/portal/applications/{}", app.ref_no));
    Ok(ShowPage { p, f, app, documents, errors, created: q.created, uploaded: q.uploaded })
}

async fn show(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(ref_no): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let app = linked_application(&state, &caller, &ref_no).await?;
    Ok(render(&show_page(&state, &caller, locale.0, app, FieldErrors::default(), q).await?)?.into_response())
}

/// Adds a document to an open application. Refused uploads store nothing.
async fn upload(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(ref_no): Path<String>,
    PortalUpload(form): PortalUpload,
) -> Result<Response, AppError> {
    let app = linked_application(&state, &caller, &ref_no).await?;
    let (file_name, bytes) = form.file.as_ref().map(|f| (f.file_name.as_str(), &f.bytes[..])).unwrap_or_default();
    let mut checked = documents::check_upload(form.field("document"), documents::accepted(&app.kind), file_name, bytes);
    let mut tx = caller.company_tx(&state.db).await?;
    if checked.is_ok() {
        let mut errors = FieldErrors::default();
        if workflow_of(&app.kind).is_finished(&app.state) {
            errors.add("file", "application_closed");
        } else if documents_db::count(&mut tx, app.id).await? >= MAX_PER_APPLICATION {
            errors.add("file", "too_many_documents");
        }
        if !errors.is_empty() {
            checked = Err(errors);
        }
    }
    let upload = match checked {
        Ok(upload) => upload,
        Err(errors) => {
            drop(tx);
            let page = show_page(&state, &caller, locale.0, app, errors, ShowQuery::default()).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let actor = caller.actor();
    let id = documents_db::insert(&mut tx, app.id, &upload, bytes, Some(caller.user_id), &actor.label).await?;
    let change = Change {
        action: "upload",
        entity: "work_order",
        entity_id: Some(app.id),
        summary: format!("{} · {}", upload.document, upload.file_name),
        before: None,
        after: Some(serde_json::json!({
            "application_document": id, "document": upload.document, "content_type": upload.content_type,
            "size_bytes": bytes.len(), "sha256": hex::encode(&upload.sha256),
        })),
    };
    audit::record(&mut tx, &actor, change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/portal/applications/{}?uploaded=true#documents", app.ref_no)).into_response())
}

/// A document the customer uploaded, read as the customer: the database
/// shows them no other (not even another login's of the same account).
async fn document(
    State(state): State<AppState>,
    caller: PortalCaller,
    Path((ref_no, id)): Path<(String, Uuid)>,
) -> Result<Response, AppError> {
    let app = linked_application(&state, &caller, &ref_no).await?;
    let mut tx = caller.tx(&state.db).await?;
    let file = documents_db::file(&mut tx, app.id, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(download(file))
}
