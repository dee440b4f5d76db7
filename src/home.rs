//! The home page each role lands on after signing in.

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use chrono::Utc;
use rust_decimal::Decimal;

use crate::{
    audit::{self, AuditEntry, AuditFilter},
    customers::db as customers_db,
    portfolio::pages::HomeSummary,
    service::{
        ClockBadge,
        queue::{COUNT_CAP, QueueFilter},
    },
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
    /// The signed-in person's most urgent open items, for those who handle service.
    queue: Option<Queue>,
    /// The payments the signed-in clerk booked today, for those who take payments.
    receipts: Option<Receipts>,
}

/// What is waiting for the signed-in person: the most urgent open contacts
/// and orders (overdue first), their counts, and return visits due.
struct Queue {
    contacts: Vec<(crate::complaints::db::Contact, Option<ClockBadge>)>,
    orders: Vec<(crate::work_orders::db::WorkOrder, Option<ClockBadge>)>,
    open_contacts: i64,
    open_orders: i64,
    overdue: i64,
    visits: Vec<(uuid::Uuid, String, chrono::DateTime<Utc>)>,
}

/// Today's receipts of one clerk (in the tenant's day).
struct Receipts {
    rows: Vec<Receipt>,
    /// Booked (not reversed) payments and their total.
    count: usize,
    total: Decimal,
}

struct Receipt {
    customer_id: uuid::Uuid,
    customer_name: String,
    account_no: String,
    amount: Decimal,
    channel: String,
    received_at: chrono::DateTime<Utc>,
    reversed: bool,
}

/// The rows of the home page's queue per kind.
const QUEUE_ROWS: usize = 5;

async fn load_queue(conn: &mut sqlx::PgConnection, user: &CurrentUser, me: uuid::Uuid) -> Result<Queue, AppError> {
    let rules = crate::sla::settings::load_rules(&mut *conn, user.tz).await?;
    let first_page = QueueFilter::default();
    let mut contacts = crate::complaints::db::owned_open_page(&mut *conn, me, &first_page).await?;
    let mut orders = crate::work_orders::db::owned_open_page(&mut *conn, me, &first_page).await?;
    let (open_contacts, overdue_contacts) = crate::complaints::db::owned_open_counts(&mut *conn, me, COUNT_CAP).await?;
    let (open_orders, overdue_orders) = crate::work_orders::db::owned_open_counts(&mut *conn, me, COUNT_CAP).await?;
    let visits = crate::complaints::db::visits_due_for(&mut *conn, me).await?;
    contacts.truncate(QUEUE_ROWS);
    orders.truncate(QUEUE_ROWS);
    let now = Utc::now();
    Ok(Queue {
        contacts: contacts
            .into_iter()
            .map(|c| {
                let badge = c.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
                (c, badge)
            })
            .collect(),
        orders: orders
            .into_iter()
            .map(|o| {
                let badge = o.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
                (o, badge)
            })
            .collect(),
        open_contacts,
        open_orders,
        overdue: overdue_contacts + overdue_orders,
        visits,
    })
}

/// The payments `booked_by` booked since the start of today in `tz`.
async fn load_receipts(conn: &mut sqlx::PgConnection, booked_by: &str, tz: chrono_tz::Tz) -> sqlx::Result<Receipts> {
    let today = Utc::now().with_timezone(&tz).date_naive();
    let since = today
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let rows = sqlx::query!(
        r#"SELECT p.customer_id, c.name AS customer_name, c.account_no, p.amount, p.channel, p.received_at,
                  p.status = 'reversed' AS "reversed!"
           FROM payments p JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
           WHERE p.booked_by = $1 AND p.booked_at >= $2
           ORDER BY p.booked_at DESC LIMIT 200"#,
        booked_by,
        since
    )
    .fetch_all(conn)
    .await?;
    let rows: Vec<Receipt> = rows
        .into_iter()
        .map(|r| Receipt {
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            account_no: r.account_no,
            amount: r.amount,
            channel: r.channel,
            received_at: r.received_at,
            reversed: r.reversed,
        })
        .collect();
    let booked = rows.iter().filter(|r| !r.reversed);
    let count = booked.clone().count();
    let total = booked.map(|r| r.amount).sum();
    Ok(Receipts { rows, count, total })
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
    let queue = match user.user_id {
        Some(me) if user.role.can(Permission::HandleService) => Some(load_queue(&mut tx, &user, me).await?),
        _ => None,
    };
    let receipts = if user.role.can(Permission::TakePayments) {
        Some(load_receipts(&mut tx, &user.label, user.tz).await?)
    } else {
        None
    };
    tx.commit().await?;
    let page = HomePage {
        p: Page::for_user(&user, "home.title"),
        role: user.role,
        portfolio,
        recent,
        customer_count,
        cap: CUSTOMER_COUNT_CAP,
        queue,
        receipts,
    };
    Ok(render(&page)?.into_response())
}
