//! Bulk assignment of account managers: customers chosen on a list, or a
//! segment's members, go to one account manager. A preview shows how many
//! change and asks to confirm; applying is one set-based statement, audited
//! once in total and once per customer.

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    portfolio::{
        AssignCounts,
        db::{self, PortfolioCustomer, Selection},
    },
    staff::{Permission, db as staff_db},
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
        .route("/accounts/assign", get(assign_page))
        .route("/accounts/assign/preview", post(preview))
        .route("/accounts/assign/apply", post(apply))
}

const PAGE_SIZE: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct AssignForm {
    /// Customers ticked on a list.
    #[serde(default)]
    customer_id: Vec<String>,
    /// Or a segment: all its members.
    #[serde(default)]
    segment_id: String,
    #[serde(default)]
    target_manager: String,
}

/// The selection and target of a form; each wrong field named.
async fn check(conn: &mut PgConnection, form: &AssignForm) -> Result<(Selection, Uuid, String), AppError> {
    let mut errors = FieldErrors::default();
    let selection = if !form.segment_id.trim().is_empty() {
        match form.segment_id.trim().parse::<Uuid>() {
            Ok(id) if db::segments(conn).await?.iter().any(|(s, _)| *s == id) => Some(Selection::Segment(id)),
            _ => {
                errors.add("segment_id", "unknown_code");
                None
            }
        }
    } else {
        let ids: Result<Vec<Uuid>, _> = form.customer_id.iter().map(|c| c.trim().parse::<Uuid>()).collect();
        match ids {
            Ok(ids) if !ids.is_empty() => Some(Selection::Customers(ids)),
            Ok(_) => {
                errors.add("customer_id", "required");
                None
            }
            Err(_) => {
                errors.add("customer_id", "unknown_customer");
                None
            }
        }
    };
    let managers = staff_db::list_account_managers(conn).await?;
    let target = form.target_manager.trim().parse::<Uuid>().ok().and_then(|t| managers.into_iter().find(|m| m.0 == t));
    // list_account_managers lists only active ones; be explicit all the same.
    let target = match target {
        Some((id, name)) if db::is_active_manager(conn, id).await? => Some((id, name)),
        _ => {
            errors.add("target_manager", "unknown_manager");
            None
        }
    };
    match (selection, target) {
        (Some(selection), Some((id, name))) if errors.is_empty() => Ok((selection, id, name)),
        _ => Err(errors.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "portfolio/assign.html")]
struct AssignPage {
    p: Page,
    from_manager: Option<Uuid>,
    managers: Vec<(Uuid, String)>,
    segments: Vec<(Uuid, String)>,
    customers: Vec<PortfolioCustomer>,
    next_after: Option<String>,
    form: AssignForm,
    errors: FieldErrors,
}

impl AssignPage {
    fn is_from(&self, id: &Uuid) -> bool {
        self.from_manager == Some(*id)
    }
    fn is_target(&self, id: &Uuid) -> bool {
        self.form.target_manager == id.to_string()
    }
    fn is_segment(&self, id: &Uuid) -> bool {
        self.form.segment_id == id.to_string()
    }
    fn is_ticked(&self, id: &Uuid) -> bool {
        self.form.customer_id.iter().any(|c| *c == id.to_string())
    }
}

#[derive(Deserialize, Default)]
struct AssignQuery {
    manager: Option<String>,
    #[serde(default)]
    after: String,
}

async fn assign_page_with(
    state: &AppState,
    user: &CurrentUser,
    q: AssignQuery,
    form: AssignForm,
    errors: FieldErrors,
) -> Result<AssignPage, AppError> {
    let from_manager = q.manager.as_deref().and_then(|m| m.trim().parse::<Uuid>().ok()).or(
        // An account manager starts from their own customers.
        if user.role == crate::staff::Role::AccountManager { user.user_id } else { None },
    );
    let mut tx = user.tx(&state.db).await?;
    let managers = staff_db::list_account_managers(&mut tx).await?;
    let segments = db::segments(&mut tx).await?;
    let mut customers = match from_manager {
        Some(m) => db::customers(&mut tx, m, &q.after, PAGE_SIZE + 1).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut customers, PAGE_SIZE, |c| c.account_no.clone());
    Ok(AssignPage {
        p: Page::for_user(user, "portfolio.assign_title"),
        from_manager,
        managers,
        segments,
        customers,
        next_after,
        form,
        errors,
    })
}

async fn assign_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AssignQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::AssignManagers)?;
    let page = assign_page_with(&state, &user, q, AssignForm::default(), FieldErrors::default()).await?;
    Ok(render(&page)?.into_response())
}

#[derive(askama::Template)]
#[template(path = "portfolio/assign_preview.html")]
struct PreviewPage {
    p: Page,
    form: AssignForm,
    counts: AssignCounts,
    target_name: String,
    segment_name: Option<String>,
}

/// Answers a form that does not check out with the assignment page and its errors.
async fn refused(state: &AppState, user: &CurrentUser, form: AssignForm, err: AppError) -> Result<Response, AppError> {
    let AppError::Invalid(errors) = err else { return Err(err) };
    let page = assign_page_with(state, user, AssignQuery::default(), form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Result<Response, AppError> {
    user.require(Permission::AssignManagers)?;
    let mut tx = user.tx(&state.db).await?;
    let (selection, target, target_name) = match check(&mut tx, &form).await {
        Ok(checked) => checked,
        Err(err) => {
            drop(tx);
            return refused(&state, &user, form, err).await;
        }
    };
    let counts = db::preview_assignment(&mut tx, &selection, target).await?;
    let segment_name = match selection {
        Selection::Segment(id) => db::segments(&mut tx).await?.into_iter().find(|s| s.0 == id).map(|s| s.1),
        Selection::Customers(_) => None,
    };
    tx.commit().await?;
    let page =
        PreviewPage { p: Page::for_user(&user, "portfolio.assign_title"), form, counts, target_name, segment_name };
    Ok(render(&page)?.into_response())
}

#[derive(askama::Template)]
#[template(path = "portfolio/assign_done.html")]
struct DonePage {
    p: Page,
    changed: i64,
    target: Uuid,
    target_name: String,
}

async fn apply(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Result<Response, AppError> {
    user.require(Permission::AssignManagers)?;
    let mut tx = user.tx(&state.db).await?;
    let (selection, target, target_name) = match check(&mut tx, &form).await {
        Ok(checked) => checked,
        Err(err) => {
            drop(tx);
            return refused(&state, &user, form, err).await;
        }
    };
    let actor = Actor::from(&user);
    let changed = db::apply_assignment(&mut tx, &selection, target, &actor).await?;
    let (source, selected) = match &selection {
        Selection::Segment(id) => (json!({"segment_id": id}), None),
        Selection::Customers(ids) => (json!({"customers": ids.len()}), Some(ids.len())),
    };
    let change = Change {
        action: "assign_managers",
        entity: "customer",
        entity_id: None,
        summary: format!("{changed} → {target_name}"),
        before: Some(json!({"selection": source, "selected": selected})),
        after: Some(json!({"account_manager_id": target, "changed": changed})),
    };
    audit::record(&mut tx, &actor, change).await?;
    tx.commit().await?;
    let page = DonePage { p: Page::for_user(&user, "portfolio.assign_title"), changed, target, target_name };
    Ok(render(&page)?.into_response())
}
