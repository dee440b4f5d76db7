//! Meters due for verification (检定): those whose next verification falls
//! within a window from today, and those overdue, by due date; filtered by
//! reading route, paged by (due date, serial), and as CSV.

use axum::{
    Router,
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csv_export,
        error::{AppError, FieldErrors},
        i18n::I18n,
        input::whole_number,
        page::{Page, render},
        paging::{EXPORT_PAGE, append_page, next_cursor},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/meters/verification", get(due_page)).route("/meters/verification.csv", get(due_csv))
}

/// The window when none is asked for: the next 30 days.
pub const DEFAULT_DAYS: i32 = 30;
const PAGE_SIZE: i64 = 50;

/// The filter as it arrives in the query string.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DueFilter {
    /// Days ahead of today, 0 to 366 (blank: 30).
    #[serde(default)]
    pub days: String,
    /// A reading route's code (blank: every route).
    #[serde(default)]
    pub route: String,
    /// The cursor: the last row's due date and serial.
    #[serde(default)]
    pub after: String,
}

/// The checked filter.
#[derive(Clone, Debug, PartialEq)]
pub struct DueQuery {
    pub until: NaiveDate,
    pub route: Option<String>,
    pub after: Option<(NaiveDate, String)>,
}

impl DueFilter {
    pub fn check(&self, today: NaiveDate) -> Result<DueQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let days = match self.days.trim() {
            "" => DEFAULT_DAYS,
            raw => whole_number(raw, 0..=366, "days", "verification_days_range", &mut errors),
        };
        let route = Some(self.route.trim().to_owned()).filter(|r| !r.is_empty());
        let after = match self.after.trim() {
            "" => None,
            raw => parse_cursor(raw).or_else(|| {
                errors.add("after", "malformed");
                None
            }),
        };
        let until = today.checked_add_days(Days::new(days.max(0) as u64)).unwrap_or(today);
        errors.finish(DueQuery { until, route, after })
    }

    /// The window in days as shown in the form.
    pub fn days_shown(&self) -> String {
        if self.days.trim().is_empty() { DEFAULT_DAYS.to_string() } else { self.days.clone() }
    }

    /// The query string of this filter with another cursor.
    pub fn with_after(&self, after: &str) -> String {
        serde_urlencoded::to_string([("days", self.days.as_str()), ("route", self.route.as_str()), ("after", after)])
            .unwrap_or_default()
    }
}

/// Serials are letters, digits and `-`, so `_` separates the two parts.
pub fn cursor(row: &DueMeter) -> String {
    format!("{}_{}", row.next_verification, row.serial)
}

fn parse_cursor(raw: &str) -> Option<(NaiveDate, String)> {
    let (day, serial) = raw.split_once('_')?;
    Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?, serial.to_owned()))
}

/// A meter due for verification, and where it is installed now (if anywhere).
#[derive(Clone, Debug)]
pub struct DueMeter {
    pub id: Uuid,
    pub serial: String,
    pub kind: String,
    pub next_verification: NaiveDate,
    pub verified_on: Option<NaiveDate>,
    pub point_code: Option<String>,
    pub address: Option<String>,
    pub customer_id: Option<Uuid>,
    pub account_no: Option<String>,
    pub customer_name: Option<String>,
    pub route_code: Option<String>,
}

/// One page of due meters (`limit` rows; ask for one more to know of a next
/// page). A point without its own route is read on its customer's.
pub async fn due(conn: &mut PgConnection, q: &DueQuery, limit: i64) -> sqlx::Result<Vec<DueMeter>> {
    let (after_day, after_serial) = q.after.clone().unzip();
    sqlx::query_as!(
        DueMeter,
        r#"SELECT m.id, m.serial, m.kind, m.next_verification AS "next_verification!", m.verified_on,
                  p.code AS "point_code?", p.address AS "address?", c.id AS "customer_id?",
                  c.account_no AS "account_no?", c.name AS "customer_name?", r.code AS "route_code?"
           FROM meters m
           LEFT JOIN meter_installations i ON i.tenant_id = m.tenant_id AND i.meter_id = m.id AND i.removed_on IS NULL
           LEFT JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           LEFT JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
           LEFT JOIN reading_routes r ON r.tenant_id = m.tenant_id AND r.id = COALESCE(p.route_id, c.route_id)
           WHERE m.tenant_id = app_tenant_id()
             AND m.next_verification <= $1
             AND ($2::text IS NULL OR r.code = $2)
             AND ($3::date IS NULL OR (m.next_verification, m.serial) > ($3, $4::text))
           ORDER BY m.next_verification, m.serial
           LIMIT $5"#,
        q.until,
        q.route,
        after_day,
        after_serial,
        limit
    )
    .fetch_all(conn)
    .await
}

#[derive(askama::Template)]
#[template(path = "supply/verification.html")]
struct DuePage {
    p: Page,
    f: DueFilter,
    errors: FieldErrors,
    today: NaiveDate,
    rows: Vec<DueMeter>,
    next: Option<String>,
    routes: Vec<(String, String)>,
}

impl DuePage {
    /// Days until due; negative when overdue.
    fn days_left(&self, row: &DueMeter) -> i64 {
        (row.next_verification - self.today).num_days()
    }
    fn csv_link(&self) -> String {
        self.f.with_after("")
    }
}

async fn due_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<DueFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadVerificationDue)?;
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let routes = crate::customers::reference::routes(&mut tx).await?;
    // A wrong filter is named on the page, over an empty list.
    let (rows, next, errors) = match f.check(today) {
        Ok(q) => {
            let mut rows = due(&mut tx, &q, PAGE_SIZE + 1).await?;
            let next = next_cursor(&mut rows, PAGE_SIZE, cursor);
            (rows, next, FieldErrors::default())
        }
        Err(errors) => (Vec::new(), None, errors),
    };
    tx.commit().await?;
    let page = DuePage { p: Page::for_user(&user, "verification.title"), f, errors, today, rows, next, routes };
    Ok(render(&page)?.into_response())
}

/// The whole filtered list as CSV, in the user's language.
async fn due_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<DueFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadVerificationDue)?;
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let mut q = f.check(today)?;
    q.after = None;
    let mut rows = Vec::new();
    loop {
        let page = due(&mut tx, &q, EXPORT_PAGE + 1).await?;
        match append_page(&mut rows, page, |r| (r.next_verification, r.serial.clone())) {
            Some(after) => q.after = Some(after),
            None => break,
        }
    }
    tx.commit().await?;
    let i = I18n(user.locale);
    let header: Vec<String> = [
        "verification.serial",
        "verification.kind",
        "verification.due",
        "verification.days_left",
        "verification.verified_on",
        "verification.route",
        "verification.point",
        "verification.account_no",
        "verification.customer",
        "verification.address",
    ]
    .iter()
    .map(|k| i.t(k))
    .collect();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let lines = rows.iter().map(|r| {
        vec![
            r.serial.clone(),
            i.t(&format!("meters.kind_{}", r.kind)),
            r.next_verification.to_string(),
            (r.next_verification - today).num_days().to_string(),
            r.verified_on.map(|d| d.to_string()).unwrap_or_default(),
            text(&r.route_code),
            text(&r.point_code),
            text(&r.account_no),
            text(&r.customer_name),
            text(&r.address),
        ]
    });
    let body = csv_export::to_csv(&header, lines)?;
    Ok(csv_export::download(&format!("meter_verification_{today}.csv"), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_window_defaults_to_30_days_and_names_a_wrong_one() {
        let today = day("2026-12-03");
        let q = DueFilter::default().check(today).unwrap();
        assert_eq!((q.until, q.route, q.after), (day("2027-01-02"), None, None));
        let f = DueFilter { days: "7".into(), route: " R01 ".into(), after: "2026-12-01_MTR-9".into() };
        let q = f.check(today).unwrap();
        assert_eq!((q.until, q.route.as_deref()), (day("2026-12-10"), Some("R01")));
        assert_eq!(q.after, Some((day("2026-12-01"), "MTR-9".to_owned())));
        let bad = DueFilter { days: "400".into(), after: "yesterday".into(), ..Default::default() };
        let errors = bad.check(today).unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(found, [("days", "verification_days_range"), ("after", "malformed")]);
    }
}
