//! Work-order pages: open one (a fault report, an expansion application, a
//! task) from the customer page or without a customer, the order with its
//! clock, next steps and supervision, and "my orders".

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    service::queue::{COUNT_CAP, QueueFilter, QueuePage},
    service::{Acting, ClockBadge, HistoryEntry, ItemType, Owner, history},
    sla::settings,
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
    work_orders::{
        change::{self},
        change_db::{self, ChangeRecord},
        db::{self, WorkOrder},
        documents,
        documents_db::{self, DocumentFile, DocumentLine},
        model::{AREA_TYPES, CUSTOMER_TYPES, KINDS, StepInput, WorkOrderDraft, required_documents, workflow_of},
        service,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/work-orders", get(mine).post(create))
        .route("/work-orders/new", get(new_form))
        .route("/work-orders/{id}", get(show))
        .route("/work-orders/{id}/actions", post(act))
        .route("/work-orders/{id}/documents/{document}", get(document))
        .route("/work-orders/{id}/supervise", post(supervise))
        .merge(super::change_pages::router())
        .merge(super::refund_pages::router())
}

/// A customer as the order form shows it, with the supply points to choose from.
pub struct CustomerChoice {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub address: String,
    pub points: Vec<(Uuid, String, String)>,
}

#[derive(askama::Template)]
#[template(path = "work_orders/form.html")]
struct FormPage {
    p: Page,
    d: WorkOrderDraft,
    customer: Option<CustomerChoice>,
    routes: Vec<(String, String)>,
    errors: FieldErrors,
}

impl FormPage {
    /// The tabs: the change-of-use kinds together, the others together.
    fn kinds(&self) -> &'static [&'static str] {
        if change::changes_archive(&self.d.kind) { &KINDS[6..] } else { &KINDS[..6] }
    }
    fn area_types(&self) -> &'static [&'static str] {
        &AREA_TYPES
    }
    fn customer_types(&self) -> &'static [&'static str] {
        &CUSTOMER_TYPES
    }
    fn priorities(&self) -> [(i16, &'static str); 4] {
        [(1, "1"), (2, "2"), (3, "3"), (4, "4")]
    }
    fn is_kind(&self, kind: &str) -> bool {
        self.d.kind == kind
    }
}

#[derive(Deserialize, Default)]
struct NewQuery {
    customer: Option<Uuid>,
    kind: Option<String>,
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    d: WorkOrderDraft,
    errors: FieldErrors,
) -> Result<FormPage, AppError> {
    let customer_id = d.customer_id.as_deref().and_then(|s| Uuid::parse_str(s.trim()).ok());
    let mut tx = user.tx(&state.db).await?;
    let customer = match customer_id {
        Some(id) => {
            let row = sqlx::query!("SELECT id, account_no, name, address FROM customers WHERE id = $1", id)
                .fetch_optional(&mut *tx)
                .await?;
            let points = db::supply_points_of(&mut tx, id).await?;
            row.map(|r| CustomerChoice { id: r.id, account_no: r.account_no, name: r.name, address: r.address, points })
        }
        None => None,
    };
    let routes = sqlx::query!("SELECT code, name FROM reading_routes ORDER BY code LIMIT 500")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    tx.commit().await?;
    let title = if d.kind == "repair" {
        "work_orders.new_repair"
    } else if d.kind == "expansion" {
        "work_orders.new_expansion"
    } else {
        "work_orders.new_title"
    };
    Ok(FormPage { p: Page::for_user(user, title), d, customer, routes, errors })
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NewQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    let kind = q.kind.filter(|k| KINDS.contains(&k.as_str())).unwrap_or_else(|| "repair".into());
    let d = WorkOrderDraft {
        kind,
        customer_id: q.customer.map(|id| id.to_string()),
        priority: Some(3),
        ..Default::default()
    };
    let mut page = form_page(&state, &user, d, FieldErrors::default()).await?;
    // A fault at a known customer is usually at their address.
    if let Some(c) = &page.customer {
        page.d.address = c.address.clone();
    }
    render(&page)
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(draft): CsrfForm<WorkOrderDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    match service::create(&mut tx, &Acting::from(&user), &draft, Owner::Receiver, Utc::now()).await {
        Ok(order) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/work-orders/{}?saved=true", order.id)).into_response())
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
#[template(path = "work_orders/show.html")]
struct ShowPage {
    p: Page,
    o: WorkOrder,
    badge: Option<ClockBadge>,
    actions: Vec<&'static str>,
    history: Vec<HistoryEntry>,
    points: Vec<(Uuid, String, String)>,
    /// The meters a closing or transfer takes final readings from, with each
    /// one's last reading (serial, reading, read on).
    meters: Vec<(String, Option<(NaiveDate, Decimal)>)>,
    may_act: bool,
    may_supervise: bool,
    saved: bool,
    errors: FieldErrors,
    notice: Option<&'static str>,
    change: Option<ChangeRecord>,
    /// The documents the customer uploaded in the portal.
    uploads: Vec<DocumentLine>,
}

impl ShowPage {
    fn documents(&self) -> &'static [&'static str] {
        documents::accepted(&self.o.kind)
    }
    fn is_required(&self, document: &str) -> bool {
        if change::is_change_kind(&self.o.kind) {
            return change::required_documents(&self.o.kind).contains(&document);
        }
        required_documents(self.o.customer_type.as_deref().unwrap_or("")).contains(&document)
    }
    fn outcome_rows(&self) -> Vec<(&'static str, String)> {
        let name = |prefix: &str, code: &str| self.p.tc(prefix, code);
        self.change.as_ref().map(|c| super::change_pages::outcome_rows(&c.outcome, name)).unwrap_or_default()
    }
    fn is_point(&self, id: &Uuid) -> bool {
        self.o.supply_point_id.as_ref() == Some(id)
    }
    fn has_document(&self, document: &str) -> bool {
        self.o.documents.iter().any(|d| d == document)
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
    let o = db::get(&mut tx, id).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    let history = history(&mut tx, ItemType::WorkOrder, id).await?;
    let points = match o.customer_id {
        Some(customer_id) => db::supply_points_of(&mut tx, customer_id).await?,
        None => Vec::new(),
    };
    let change = change_db::get(&mut tx, id).await?;
    let uploads = documents_db::for_order(&mut tx, id).await?;
    let mut meters = Vec::new();
    if matches!(o.kind.as_str(), "account_closing" | "transfer_of_ownership") && o.completed_at.is_none() {
        for (point_id, _, _) in &points {
            for m in crate::supply::db::installed_on_point(&mut tx, *point_id).await? {
                let last = crate::supply::db::last_reading(&mut tx, m.id).await?;
                meters.push((m.serial, last));
            }
        }
    }
    tx.commit().await?;
    let badge = o.running_clock().map(|clock| ClockBadge::of(&rules, clock, Utc::now()));
    let may_supervise = user.role.can(Permission::SuperviseService);
    let may_act = may_supervise || o.owner_id.is_none_or(|owner| Some(owner) == user.user_id);
    let mut p = Page::for_user(user, "work_orders.title");
    p.title = format!("{} · {}", o.ref_no, p.tc("work_order_kind.", &o.kind));
    Ok(ShowPage {
        p,
        actions: workflow_of(&o.kind).actions_from(&o.state),
        o,
        badge,
        history,
        points,
        meters,
        may_act,
        may_supervise,
        saved,
        errors,
        notice,
        change,
        uploads,
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
    crate::web::change::after_change(result, &format!("/work-orders/{id}"), |errors, notice| {
        load_show(state, user, id, false, errors, notice)
    })
    .await
}

async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(input): CsrfForm<StepInput>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let result = async {
        let mut tx = user.tx(&state.db).await?;
        service::act(&mut tx, &Acting::from(&user), id, &input, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    after_change(&state, &user, id, result).await
}

#[derive(Deserialize)]
struct SuperviseForm {
    #[serde(default)]
    note: String,
}

async fn supervise(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<SuperviseForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SuperviseService)?;
    let result = async {
        let mut tx = user.tx(&state.db).await?;
        service::supervise(&mut tx, &Acting::from(&user), id, &form.note, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    after_change(&state, &user, id, result).await
}

#[derive(askama::Template)]
#[template(path = "work_orders/mine.html")]
struct MinePage {
    p: Page,
    orders: Vec<(WorkOrder, Option<ClockBadge>)>,
    f: QueueFilter,
    pager: QueuePage,
    /// Open and overdue, each counted up to the cap.
    open: i64,
    overdue: i64,
    cap: i64,
}

impl MinePage {
    fn kinds(&self) -> &'static [&'static str] {
        &crate::work_orders::model::KINDS
    }
    /// Every state an open order can be in (the closing ones left out).
    fn states(&self) -> Vec<&'static str> {
        use crate::workflow::{CHANGE, EXPANSION, REPAIR, TASK};
        let mut states: Vec<&'static str> = Vec::new();
        for w in [&REPAIR, &EXPANSION, &TASK, &CHANGE] {
            for s in w.states {
                if !w.finished.contains(s) && !states.contains(s) {
                    states.push(s);
                }
            }
        }
        states
    }
}

/// The signed-in person's open orders (filtered, a page at a time): the
/// overdue first, then green channel and the most urgent.
async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<QueueFilter>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    let Some(me) = user.user_id else { return Err(AppError::Forbidden) };
    let mut tx = user.tx(&state.db).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    let mut orders = db::owned_open_page(&mut tx, me, &f).await?;
    let (open, overdue) = db::owned_open_counts(&mut tx, me, COUNT_CAP).await?;
    tx.commit().await?;
    let pager = QueuePage::cut(&mut orders, f.page());
    let now = Utc::now();
    let orders = orders
        .into_iter()
        .map(|o| {
            let badge = o.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
            (o, badge)
        })
        .collect();
    let p = Page::for_user(&user, "work_orders.mine_title");
    render(&MinePage { p, orders, f, pager, open, overdue, cap: COUNT_CAP })
}

/// A document the customer uploaded, as a download.
async fn document(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, document)): Path<(Uuid, Uuid)>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let file = documents_db::file(&mut tx, id, document).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(download(file))
}

/// A stored document as a download: its recorded type, never sniffed,
/// never shown inline, never cached, and sandboxed should a browser open it.
pub fn download(file: DocumentFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CONTENT_DISPOSITION, documents::content_disposition(&file.file_name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".to_owned()),
        ],
        file.content,
    )
        .into_response()
}
