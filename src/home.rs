//! The home page each role lands on after signing in.

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::{
    audit::{self, AuditEntry, AuditFilter},
    customers::db as customers_db,
    portfolio::pages::HomeSummary,
    staff::{Permission, Role},
    web::{
        AppState,
        auth::CurrentUser,
        error::AppError,
        page::{Page, render},
    },
};

const CUSTOMER_COUNT_CAP: i64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(root)).route("/home", get(home))
}

async fn root(user: Option<axum::Extension<CurrentUser>>) -> Redirect {
    if user.is_some() { Redirect::to("/home") } else { Redirect::to("/login") }
}

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage {
    p: Page,
    role: Role,
    /// An account manager's portfolio: what needs attention, by kind.
    portfolio: Option<HomeSummary>,
    /// Recent changes: the user's own (counter), or everyone's (supervisor, admin).
    recent: Vec<AuditEntry>,
    /// Counted up to [`CUSTOMER_COUNT_CAP`] + 1; more shows as "10,000+".
    customer_count: i64,
    cap: i64,
}

async fn home(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    if user.role.can(Permission::ManageTenants) {
        return Ok(Redirect::to("/platform/tenants").into_response());
    }
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let portfolio = crate::portfolio::pages::home_summary(&mut tx, &user).await?;
    let mine_only = matches!(user.role, Role::CounterStaff | Role::AccountManager);
    let filter = AuditFilter {
        actor: if mine_only { user.user_id } else { None },
        entity: Some("customer".into()),
        entity_id: None,
        from: None,
        to: None,
        before: None,
        limit: 10,
    };
    let recent = audit::list(&mut tx, &filter).await?;
    let customer_count = customers_db::capped_count(&mut tx, CUSTOMER_COUNT_CAP + 1).await?;
    tx.commit().await?;
    let page = HomePage {
        p: Page::for_user(&user, "home.title"),
        role: user.role,
        portfolio,
        recent,
        customer_count,
        cap: CUSTOMER_COUNT_CAP,
    };
    Ok(render(&page)?.into_response())
}
