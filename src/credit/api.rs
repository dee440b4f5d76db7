//! A customer's credit and the poor-credit list over the API.
//!
//! ```text
//! GET /api/v1/customers/{id}/credit                        → {grade, score, factors, history, decision, …}
//! GET /api/v1/poor-credit?status=open&by=…&reason=…&after=… → {items: [...], next}
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    credit::{
        self,
        db::{self, Decision, ListEntry, ListRow, StoredRating},
        pages::{ExplainedFactor, ListFilter, cursor, explain},
    },
    staff::Permission,
    web::{AppState, auth::CurrentUser, error::AppError, i18n::I18n, paging},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(customer_credit)).routes(routes!(poor_credit_list))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreditBody {
    pub customer_id: Uuid,
    /// The latest rating's grade, score and payment-method decision; null
    /// before the customer's first rating (factors and history are then empty).
    pub decision: Option<Decision>,
    /// Each factor of the latest rating: the figure in words (in the caller's
    /// language), the band it fell in, and its points.
    pub factors: Vec<ExplainedFactor>,
    /// The customer's method now: post_pay, post_pay_secured or cost_control.
    pub current_method: String,
    /// `stricter` when the decision asks for more than the customer has,
    /// `looser` when less; null when they match.
    pub method_prompt: Option<&'static str>,
    /// The open stay on the poor-credit list, if any.
    pub poor_credit: Option<ListEntry>,
    /// Ratings, newest first (up to 24).
    pub history: Vec<StoredRating>,
}

/// A customer's credit grade, score, factor breakdown, history and
/// payment-method decision. 404 when the customer is not in this company;
/// a customer not rated yet has no decision.
#[utoipa::path(get, path = "/api/v1/customers/{id}/credit", tag = "credit",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = CreditBody), (status = 404)))]
async fn customer_credit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<CreditBody>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let db::CustomerCredit { found, settings, decision, history, current_method, listed: poor_credit, .. } =
        db::customer_credit(&mut tx, id, 24).await?;
    tx.commit().await?;
    if !found {
        return Err(AppError::NotFound);
    }
    let factors = history.first().map(|r| explain(&I18n(user.locale), &settings.card, &r.inputs)).unwrap_or_default();
    Ok(Json(CreditBody {
        customer_id: id,
        method_prompt: decision.as_ref().and_then(|d| credit::method_prompt(&current_method, &d.method)),
        decision,
        factors,
        current_method,
        poor_credit,
        history,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PoorCreditPage {
    pub items: Vec<ListRow>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The poor-credit list, newest entry first, with the page's filters and
/// keyset paging.
#[utoipa::path(get, path = "/api/v1/poor-credit", tag = "credit", params(ListFilter),
    security(("api_key" = [])), responses((status = 200, body = PoorCreditPage)))]
async fn poor_credit_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ListFilter>,
) -> Result<Json<PoorCreditPage>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = crate::web::error::FieldErrors::default();
    let limit = paging::page_size(f.limit, &mut errors);
    errors.finish(())?;
    let mut tx = user.tx(&state.db).await?;
    let q = f.check(crate::tenants::today(&mut tx).await?)?;
    let mut items = db::list(&mut tx, &q, limit + 1).await?;
    tx.commit().await?;
    let next = paging::next_cursor(&mut items, limit, cursor);
    Ok(Json(PoorCreditPage { items, next }))
}
