//! The portfolio page: what needs attention first, then all the manager's
//! customers (paged). Also the summary an account manager's home shows.

use axum::{
    Router,
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    portfolio::{
        self,
        db::{self, AttentionItem, PortfolioCustomer},
        visits::{shown_manager, today},
    },
    staff::{Permission, Role, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        error::AppError,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/portfolio", get(portfolio_page))
        .merge(crate::portfolio::visits::router())
        .merge(crate::portfolio::assign::router())
}

/// At most this many attention items are listed (the counts say if there are more).
const ATTENTION_LIMIT: i64 = 500;
const PAGE_SIZE: i64 = 50;

/// What needs attention, and how much of each kind.
pub struct Attention {
    pub items: Vec<AttentionItem>,
    pub counts: Vec<(&'static str, usize)>,
    /// The list was cut at [`ATTENTION_LIMIT`].
    pub capped: bool,
}

pub async fn attention(conn: &mut PgConnection, manager: Uuid, user: &CurrentUser) -> sqlx::Result<Attention> {
    let items = db::attention(conn, manager, today(user), Utc::now(), ATTENTION_LIMIT + 1).await?;
    let capped = items.len() as i64 > ATTENTION_LIMIT;
    let counts = portfolio::count_by_kind(items.iter().map(|i| i.kind.as_str()));
    Ok(Attention { items, counts, capped })
}

/// For an account manager's home: the counts of what needs attention, and
/// whether they have customers at all.
pub struct HomeSummary {
    pub counts: Vec<(&'static str, usize)>,
    pub has_customers: bool,
}

pub async fn home_summary(conn: &mut PgConnection, user: &CurrentUser) -> sqlx::Result<Option<HomeSummary>> {
    let (Role::AccountManager, Some(me)) = (user.role, user.user_id) else {
        return Ok(None);
    };
    let has_customers = !db::customers(conn, me, "", 1).await?.is_empty();
    let counts = attention(conn, me, user).await?.counts;
    Ok(Some(HomeSummary { counts, has_customers }))
}

#[derive(askama::Template)]
#[template(path = "portfolio/portfolio.html")]
struct PortfolioPage {
    p: Page,
    manager: Option<Uuid>,
    /// Active account managers: to pick whose portfolio (`can_pick`) and to assign to.
    managers: Vec<(Uuid, String)>,
    can_pick: bool,
    attention: Attention,
    customers: Vec<PortfolioCustomer>,
    next_after: Option<String>,
    after: String,
    can_assign: bool,
    can_plan: bool,
    /// Open follow-ups are the shown manager's own tasks (they can tick them off).
    own: bool,
}

impl PortfolioPage {
    fn is_chosen(&self, id: &Uuid) -> bool {
        self.manager == Some(*id)
    }
    /// Whether the item at `index` is the first of its kind (the counts link to it).
    fn starts_kind(&self, index: &usize) -> bool {
        let index = *index;
        let items = &self.attention.items;
        index == 0 || items.get(index - 1).map(|i| &i.kind) != items.get(index).map(|i| &i.kind)
    }
}

#[derive(Deserialize, Default)]
struct PortfolioQuery {
    manager: Option<String>,
    #[serde(default)]
    after: String,
}

async fn portfolio_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PortfolioQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let manager = shown_manager(&user, q.manager.as_deref());
    let mut tx = user.tx(&state.db).await?;
    let managers = staff_db::list_account_managers(&mut tx).await?;
    let (attention, mut customers) = match manager {
        Some(m) => (attention(&mut tx, m, &user).await?, db::customers(&mut tx, m, &q.after, PAGE_SIZE + 1).await?),
        None => (
            Attention { items: Vec::new(), counts: portfolio::count_by_kind(std::iter::empty()), capped: false },
            Vec::new(),
        ),
    };
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut customers, PAGE_SIZE, |c| c.account_no.clone());
    let page = PortfolioPage {
        p: Page::for_user(&user, "portfolio.title"),
        manager,
        managers,
        can_pick: user.role != Role::AccountManager,
        attention,
        customers,
        next_after,
        after: q.after,
        can_assign: user.role.can(Permission::AssignManagers),
        can_plan: user.role.can(Permission::PlanVisits),
        own: manager.is_some() && manager == user.user_id,
    };
    Ok(render(&page)?.into_response())
}
