//! `/notices`: where each person's notice work is, with what waits there
//! (letters to print, calls to make, failures to look at, outages coming).

use axum::{Router, extract::State, response::IntoResponse, routing::get};
use sqlx::PgConnection;

use crate::{
    staff::{Permission, Role},
    web::{
        AppState,
        auth::CurrentUser,
        error::AppError,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/notices", get(hub))
}

/// What waits, counted for the hub's cards.
#[derive(Debug, Default, sqlx::FromRow)]
struct Waiting {
    letters: i64,
    calls: i64,
    failed_today: i64,
    queued: i64,
    outages: i64,
    rules: i64,
}

async fn waiting(conn: &mut PgConnection, manager: Option<uuid::Uuid>) -> sqlx::Result<Waiting> {
    sqlx::query_as(
        r#"SELECT
             (SELECT count(*) FROM notices WHERE channel = 'letter' AND status = 'queued') AS letters,
             (SELECT count(*) FROM notices n WHERE n.channel = 'phone' AND n.status = 'queued'
                AND n.next_attempt_at <= now()
                AND ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM customers c
                                                 WHERE c.id = n.customer_id AND c.account_manager_id = $1))) AS calls,
             (SELECT count(*) FROM notices WHERE status = 'failed' AND failed_at > now() - interval '1 day') AS failed_today,
             (SELECT count(*) FROM notices WHERE status IN ('queued', 'sending')) AS queued,
             (SELECT count(*) FROM outages WHERE status = 'scheduled' AND ends_at > now()) AS outages,
             (SELECT count(*) FROM notice_rules WHERE enabled) AS rules"#,
    )
    .bind(manager)
    .fetch_one(conn)
    .await
}

#[derive(askama::Template)]
#[template(path = "notices/hub.html")]
struct HubPage {
    p: Page,
    waiting: Waiting,
    staff_channels: bool,
    outages: bool,
    rules: bool,
    templates: bool,
    monitor: bool,
}

async fn hub(State(state): State<AppState>, user: CurrentUser) -> Result<impl IntoResponse, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    let can = |p| user.require(p).is_ok();
    // Account managers call their own customers; others see every call.
    let manager = if user.role == Role::AccountManager { user.user_id } else { None };
    let mut tx = user.tx(&state.db).await?;
    let waiting = waiting(&mut tx, manager).await?;
    tx.commit().await?;
    render(&HubPage {
        p: Page::for_user(&user, "notice_hub.title"),
        waiting,
        staff_channels: true,
        outages: can(Permission::ManageOutages),
        rules: can(Permission::ManageNoticeRules) || can(Permission::SendNotices),
        templates: can(Permission::ManageNoticeTemplates),
        monitor: can(Permission::MonitorNotices),
    })
}
