//! The supervisor board: open contacts, most urgent first, and open work
//! orders, green channel first, each with its SLA clock (amber near due, red
//! overdue), filtered by type, subject, channel, team and owner. The rows
//! refresh themselves (htmx) without a full reload.

use axum::{
    Router,
    extract::{Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    complaints::{
        db::Contact,
        model::{CHANNELS, KINDS, SUBJECTS},
    },
    service::ClockBadge,
    sla::settings,
    staff::{Permission, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        page::{Page, render},
    },
    work_orders::{
        db::{self as orders_db, WorkOrder},
        model::KINDS as ORDER_KINDS,
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/service/board", get(board))
}

use crate::service::queue::{COUNT_CAP, PAGE_ROWS, PageNo, QueuePage};

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BoardFilter {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub owner: String,
    /// `contacts` (the default: complaints are never buried under orders) or `orders`.
    #[serde(default)]
    pub tab: String,
    /// 1-based page of the tab.
    #[serde(default)]
    pub page: String,
}

impl BoardFilter {
    /// The tab shown: a work-order kind shows orders; a contact kind, subject
    /// or channel shows contacts; otherwise the tab asked for.
    pub fn tab(&self) -> &'static str {
        if ORDER_KINDS.contains(&self.kind.as_str()) {
            "orders"
        } else if !self.kind.is_empty() || !self.subject.is_empty() || !self.channel.is_empty() {
            "contacts"
        } else if self.tab == "orders" {
            "orders"
        } else {
            "contacts"
        }
    }

    /// The page asked for, 1-based, at most 400.
    pub fn page(&self) -> usize {
        self.page.trim().parse::<usize>().unwrap_or(1).clamp(1, 400)
    }

    fn offset(&self) -> i64 {
        ((self.page() - 1) * PAGE_ROWS) as i64
    }

    /// A work-order kind filters contacts out.
    fn wants_contacts(&self) -> bool {
        !ORDER_KINDS.contains(&self.kind.as_str())
    }

    /// Orders have no subject or channel: filtering by them, or by a contact kind, shows contacts only.
    fn wants_orders(&self) -> bool {
        (self.kind.is_empty() || ORDER_KINDS.contains(&self.kind.as_str()))
            && self.subject.is_empty()
            && self.channel.is_empty()
    }

    /// Adds the filter's conditions; unknown codes simply match nothing.
    fn push_conditions(&self, q: &mut QueryBuilder<'_, Postgres>) {
        for (column, value) in
            [("kind", &self.kind), ("subject", &self.subject), ("channel", &self.channel), ("team", &self.team)]
        {
            if !value.is_empty() {
                q.push(format_args!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if let Ok(owner) = Uuid::parse_str(&self.owner) {
            q.push(" AND owner_id = ").push_bind(owner);
        }
    }
}

pub struct BoardRow {
    pub c: Contact,
    pub badge: Option<ClockBadge>,
}

pub struct OrderRow {
    pub o: WorkOrder,
    pub badge: Option<ClockBadge>,
}

async fn open_contacts(conn: &mut PgConnection, f: &BoardFilter) -> sqlx::Result<Vec<Contact>> {
    let mut q = QueryBuilder::new(
        "SELECT id, ref_no, kind, channel, subject, customer_id, customer_name, customer_account_no, caller_name, \
         caller_phone, description, state, owner_id, owner_name, team, received_at, resolution, resolved_at, closed_at, \
         satisfaction, clock, clock_started_at, clock_limit_minutes, clock_working_time, due_at, sla_breached, \
         escalated_at, escalated_to_name, version FROM contact_rows WHERE state NOT IN ('resolved', 'closed')",
    );
    f.push_conditions(&mut q);
    q.push(" ORDER BY due_at NULLS LAST, id LIMIT ")
        .push_bind(PAGE_ROWS as i64 + 1)
        .push(" OFFSET ")
        .push_bind(f.offset());
    q.build_query_as().fetch_all(conn).await
}

/// Open orders: green channel first, then priority, then deadline (the
/// order of the `work_orders_open_queue` index).
async fn open_orders(conn: &mut PgConnection, f: &BoardFilter) -> sqlx::Result<Vec<WorkOrder>> {
    let mut q =
        QueryBuilder::new(format!("SELECT {} FROM work_order_rows WHERE completed_at IS NULL", orders_db::COLUMNS));
    f.push_conditions(&mut q);
    q.push(" ORDER BY green_channel DESC, priority, due_at NULLS LAST, id LIMIT ")
        .push_bind(PAGE_ROWS as i64 + 1)
        .push(" OFFSET ")
        .push_bind(f.offset());
    q.build_query_as().fetch_all(conn).await
}

/// Overdue open items of a table, counted up to the cap.
async fn count_overdue(conn: &mut PgConnection, f: &BoardFilter, table: &str, open: &str) -> sqlx::Result<i64> {
    let mut q =
        QueryBuilder::new(format!("SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {open} AND due_at < now()"));
    f.push_conditions(&mut q);
    q.push(" LIMIT ").push_bind(COUNT_CAP).push(") capped");
    q.build_query_scalar().fetch_one(conn).await
}

#[derive(askama::Template)]
#[template(path = "service/board.html")]
struct BoardPage {
    p: Page,
    f: BoardFilter,
    rows: Vec<BoardRow>,
    orders: Vec<OrderRow>,
    /// Overdue contacts and orders (under the filter), each counted up to the cap.
    overdue_contacts: i64,
    overdue_orders: i64,
    cap: i64,
    pager: QueuePage,
    staff: Vec<(Uuid, String)>,
    teams: Vec<String>,
}

impl BoardPage {
    fn kinds(&self) -> &'static [&'static str] {
        &KINDS
    }
    fn order_kinds(&self) -> &'static [&'static str] {
        &ORDER_KINDS
    }
    fn subjects(&self) -> &'static [&'static str] {
        &SUBJECTS
    }
    fn channels(&self) -> &'static [&'static str] {
        &CHANNELS
    }
    fn query(&self) -> String {
        board_query(&self.f, self.f.tab(), self.f.page())
    }
    fn tab_link(&self, tab: &str) -> String {
        board_query(&self.f, tab, 1)
    }
    fn page_link(&self, page: impl PageNo) -> String {
        board_query(&self.f, self.f.tab(), page.page_no())
    }
}

#[derive(askama::Template)]
#[template(path = "service/board_rows.html")]
struct BoardRows {
    p: Page,
    f: BoardFilter,
    rows: Vec<BoardRow>,
    orders: Vec<OrderRow>,
    overdue_contacts: i64,
    overdue_orders: i64,
    cap: i64,
    pager: QueuePage,
}

impl BoardRows {
    fn tab_link(&self, tab: &str) -> String {
        board_query(&self.f, tab, 1)
    }
    fn page_link(&self, page: impl PageNo) -> String {
        board_query(&self.f, self.f.tab(), page.page_no())
    }
}

/// The board's query string for a tab and page under the same filters.
fn board_query(f: &BoardFilter, tab: &str, page: usize) -> String {
    let page = page.to_string();
    let mut pairs = vec![
        ("kind", f.kind.as_str()),
        ("subject", &f.subject),
        ("channel", &f.channel),
        ("team", &f.team),
        ("owner", &f.owner),
        ("tab", tab),
    ];
    if page != "1" {
        pairs.push(("page", &page));
    }
    // A tab of the other kind drops the kind, subject and channel that would switch it back.
    if tab != f.tab() {
        pairs.retain(|(k, _)| !matches!(*k, "kind" | "subject" | "channel"));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

async fn board(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(f): Query<BoardFilter>,
) -> Result<Response, crate::web::error::AppError> {
    user.require(Permission::SuperviseService)?;
    let partial = headers.contains_key("hx-request");
    let mut tx = user.tx(&state.db).await?;
    let rules = settings::load_rules(&mut tx, user.tz).await?;
    let (mut contacts, mut orders, mut overdue_contacts, mut overdue_orders) = (Vec::new(), Vec::new(), 0, 0);
    let tab = f.tab();
    if f.wants_contacts() {
        if tab == "contacts" {
            contacts = open_contacts(&mut tx, &f).await?;
        }
        overdue_contacts = count_overdue(&mut tx, &f, "contacts", "state NOT IN ('resolved', 'closed')").await?;
    }
    if f.wants_orders() {
        if tab == "orders" {
            orders = open_orders(&mut tx, &f).await?;
        }
        overdue_orders = count_overdue(&mut tx, &f, "work_orders", "completed_at IS NULL").await?;
    }
    let pager =
        if tab == "orders" { QueuePage::cut(&mut orders, f.page()) } else { QueuePage::cut(&mut contacts, f.page()) };
    let (staff, teams) = if partial {
        (Vec::new(), Vec::new())
    } else {
        let teams = sqlx::query_scalar!("SELECT DISTINCT team FROM users WHERE team <> '' ORDER BY team")
            .fetch_all(&mut *tx)
            .await?;
        (staff_db::list_active(&mut tx).await?, teams)
    };
    tx.commit().await?;
    let now = Utc::now();
    let rows = contacts
        .into_iter()
        .map(|c| {
            let badge = c.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
            BoardRow { c, badge }
        })
        .collect();
    let orders = orders
        .into_iter()
        .map(|o| {
            let badge = o.running_clock().map(|clock| ClockBadge::of(&rules, clock, now));
            OrderRow { o, badge }
        })
        .collect();
    let p = Page::for_user(&user, "nav.board");
    if partial {
        let rows = BoardRows { p, f, rows, orders, overdue_contacts, overdue_orders, cap: COUNT_CAP, pager };
        return Ok(render(&rows)?.into_response());
    }
    let page = BoardPage { p, f, rows, orders, overdue_contacts, overdue_orders, cap: COUNT_CAP, pager, staff, teams };
    Ok(Html(render(&page)?.0).into_response())
}
