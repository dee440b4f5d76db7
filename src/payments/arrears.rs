//! The arrears list: customers with overdue bills, per route and per account
//! manager, aged in buckets (1–30, 31–90, 91–180, over 180 days past due),
//! with its CSV. The buckets come from `model::age_bucket`'s boundaries.

use axum::{
    Router,
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    payments::model::AGE_BUCKETS,
    staff::{Permission, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        csv_export,
        error::AppError,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/billing/arrears", get(page)).route("/billing/arrears.csv", get(export))
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ArrearsFilter {
    #[serde(default)]
    pub route: String,
    #[serde(default)]
    pub manager: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ArrearsRow {
    pub customer_id: Option<Uuid>,
    pub account_no: Option<String>,
    pub name: Option<String>,
    pub route: Option<String>,
    pub manager: Option<String>,
    pub oldest_due: Option<NaiveDate>,
    pub total: Decimal,
    pub d1_30: Decimal,
    pub d31_90: Decimal,
    pub d91_180: Decimal,
    pub over_180: Decimal,
}

impl ArrearsRow {
    pub fn buckets(&self) -> [Decimal; 4] {
        [self.d1_30, self.d31_90, self.d91_180, self.over_180]
    }
}

/// The largest debtors first (at most `limit`), and the totals of everyone
/// the filter selects (the row without a customer). The tenant is named
/// ($5): Citus sends the statement to its shard (planned across shards, it
/// crashed Citus 12.1.6's coordinator).
async fn load(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    f: &ArrearsFilter,
    today: NaiveDate,
    limit: i64,
) -> sqlx::Result<(Vec<ArrearsRow>, ArrearsRow)> {
    let manager = Uuid::parse_str(&f.manager).ok();
    let route = Some(f.route.trim()).filter(|r| !r.is_empty());
    // GROUPING SETS: one row per customer plus the grand total, in one pass.
    let mut rows: Vec<ArrearsRow> = sqlx::query_as(
        r#"WITH owed AS (
             SELECT b.customer_id, b.due_on, b.amount - b.paid + b.late_fee - b.late_fee_paid AS owed, $1::date - b.due_on AS days
             FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
             LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
             WHERE b.tenant_id = $5 AND b.status = 'issued' AND (b.paid < b.amount OR b.late_fee_paid < b.late_fee) AND b.due_on < $1
               AND ($2::text IS NULL OR r.code = $2) AND ($3::uuid IS NULL OR c.account_manager_id = $3)
           ), per AS (
             SELECT customer_id, min(due_on) AS oldest_due, sum(owed) AS total,
                    coalesce(sum(owed) FILTER (WHERE days BETWEEN 1 AND 30), 0) AS d1_30,
                    coalesce(sum(owed) FILTER (WHERE days BETWEEN 31 AND 90), 0) AS d31_90,
                    coalesce(sum(owed) FILTER (WHERE days BETWEEN 91 AND 180), 0) AS d91_180,
                    coalesce(sum(owed) FILTER (WHERE days > 180), 0) AS over_180
             FROM owed GROUP BY GROUPING SETS ((customer_id), ())
           )
           SELECT per.customer_id, c.account_no, c.name, r.code AS route, u.display_name AS manager, per.oldest_due,
                  coalesce(per.total, 0) AS total, per.d1_30, per.d31_90, per.d91_180, per.over_180
           FROM per
           LEFT JOIN customers c ON c.tenant_id = $5 AND c.id = per.customer_id
           LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
           LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id
           ORDER BY per.customer_id IS NOT NULL, per.total DESC, c.account_no
           LIMIT $4"#,
    )
    .bind(today)
    .bind(route)
    .bind(manager)
    .bind(limit + 1)
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    let totals = if rows.first().is_some_and(|r| r.customer_id.is_none()) {
        rows.remove(0)
    } else {
        ArrearsRow {
            customer_id: None,
            account_no: None,
            name: None,
            route: None,
            manager: None,
            oldest_due: None,
            total: Decimal::ZERO,
            d1_30: Decimal::ZERO,
            d31_90: Decimal::ZERO,
            d91_180: Decimal::ZERO,
            over_180: Decimal::ZERO,
        }
    };
    Ok((rows, totals))
}

const SHOWN: i64 = 500;

#[derive(askama::Template)]
#[template(path = "billing/arrears.html")]
struct ArrearsPage {
    p: Page,
    f: ArrearsFilter,
    rows: Vec<ArrearsRow>,
    totals: ArrearsRow,
    managers: Vec<(Uuid, String)>,
    buckets: [&'static str; 4],
    shown: i64,
}

impl ArrearsPage {
    fn query(&self) -> String {
        serde_urlencoded::to_string([("route", &self.f.route), ("manager", &self.f.manager)]).unwrap_or_default()
    }
}

async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ArrearsFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let (rows, totals) = load(&mut tx, user.tenant_id, &f, today, SHOWN).await?;
    let managers = staff_db::list_account_managers(&mut tx).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "arrears.title");
    Ok(render(&ArrearsPage { p, f, rows, totals, managers, buckets: AGE_BUCKETS, shown: SHOWN })?.into_response())
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ArrearsFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let (rows, totals) = load(&mut tx, user.tenant_id, &f, today, i64::MAX - 1).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "arrears.title");
    let header: Vec<String> = [
        "customers.account_no",
        "customers.name",
        "billing.route",
        "arrears.manager",
        "arrears.oldest_due",
        "arrears.total",
    ]
    .iter()
    .map(|k| p.t(k))
    .chain(AGE_BUCKETS.iter().map(|b| p.tc("arrears.", b)))
    .collect();
    let line = |r: &ArrearsRow| -> Vec<String> {
        [
            r.account_no.clone().unwrap_or_else(|| p.t("arrears.total")),
            r.name.clone().unwrap_or_default(),
            r.route.clone().unwrap_or_default(),
            r.manager.clone().unwrap_or_default(),
            r.oldest_due.map(|d| d.to_string()).unwrap_or_default(),
            r.total.to_string(),
        ]
        .into_iter()
        .chain(r.buckets().iter().map(|b| b.to_string()))
        .collect()
    };
    let body = csv_export::to_csv(&header, rows.iter().map(line).chain(std::iter::once(line(&totals))))?;
    Ok(csv_export::download(&format!("arrears_{today}.csv"), body))
}
