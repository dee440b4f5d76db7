//! The statistics page and its CSV exports. Everything is read from the
//! monthly roll-up tables the triggers keep (never from a million contacts),
//! so the page stays fast however large the backlog grows.

use std::collections::HashMap;

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::{
    complaints::model::{CHANNELS, KINDS, SUBJECTS},
    months,
    service::stats::{Cell, StatTable, average_days, per_10k, percent},
    sla::settings,
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csv_export,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
    work_orders::model::{CUSTOMER_TYPES, KINDS as ORDER_KINDS},
    workflow::EXPANSION,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/service/stats", get(page)).route("/service/stats/export/{table}", get(export))
}

/// The longest range one page shows.
const MAX_MONTHS: u32 = 36;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// The months asked for (the last twelve by default), as [from, until).
fn range(q: &RangeQuery, today: NaiveDate) -> (NaiveDate, NaiveDate, FieldErrors) {
    let mut errors = FieldErrors::default();
    let this_month = months::start_of(today);
    let mut month = |raw: &str, field: &str, default: NaiveDate| {
        if raw.trim().is_empty() {
            return default;
        }
        months::parse(raw).unwrap_or_else(|| {
            errors.add(field, "invalid_month");
            default
        })
    };
    let to = month(&q.to, "to", this_month);
    let from = month(&q.from, "from", months::back(to, 11));
    if from > to {
        errors.add("from", "month_range_reversed");
        return (months::back(to, 11), months::next(to), errors);
    }
    if months::back(to, MAX_MONTHS - 1) > from {
        errors.add("from", "month_range_too_long");
        return (months::back(to, MAX_MONTHS - 1), months::next(to), errors);
    }
    (from, months::next(to), errors)
}

fn month_list(from: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
    std::iter::successors(Some(from), |m| Some(months::next(*m)).filter(|n| *n < until)).collect()
}

#[derive(Default, Clone, Copy)]
struct ContactSums {
    complaints: i64,
    resolved: i64,
    in_time: i64,
    visited: i64,
    satisfied: i64,
}

/// Reads the roll-ups and builds every table of the page; also returns the
/// count of active customers the rates per 10,000 are taken against.
async fn tables(
    conn: &mut PgConnection,
    p: &Page,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<(i64, Vec<StatTable>), AppError> {
    // Named in each roll-up's statement: a Citus cluster runs GROUPING SETS
    // only on one shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let customers = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM customers WHERE status = 'active'"#)
        .fetch_one(&mut *conn)
        .await?;
    let contact_rows = sqlx::query!(
        r#"SELECT CASE WHEN GROUPING(month) = 0 THEN 'month' WHEN GROUPING(kind) = 0 THEN 'kind'
                       WHEN GROUPING(subject) = 0 THEN 'subject' WHEN GROUPING(channel) = 0 THEN 'channel'
                       ELSE 'team' END AS "dim!",
                  coalesce(to_char(month, 'YYYY-MM'), kind, subject, channel, team) AS "key!",
                  coalesce(sum(received) FILTER (WHERE kind = 'complaint'), 0)::bigint AS "complaints!",
                  sum(resolved)::bigint AS "resolved!", sum(in_time)::bigint AS "in_time!",
                  sum(visited)::bigint AS "visited!", sum(satisfied)::bigint AS "satisfied!"
           FROM contact_monthly_stats WHERE tenant_id = $3 AND month >= $1 AND month < $2
           GROUP BY GROUPING SETS ((month), (kind), (subject), (channel), (team))"#,
        from,
        until,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let order_rows = sqlx::query!(
        r#"SELECT CASE WHEN GROUPING(month) = 0 THEN 'month' ELSE 'kind' END AS "dim!",
                  coalesce(to_char(month, 'YYYY-MM'), kind) AS "key!",
                  sum(completed)::bigint AS "completed!", sum(in_time)::bigint AS "in_time!"
           FROM work_order_monthly_stats WHERE tenant_id = $3 AND month >= $1 AND month < $2
           GROUP BY GROUPING SETS ((month), (kind))"#,
        from,
        until,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let stage_rows = sqlx::query!(
        r#"SELECT stage, coalesce(customer_type, '') AS "customer_type!",
                  sum(finished)::bigint AS "finished!", sum(working_minutes)::bigint AS "minutes!"
           FROM expansion_stage_stats WHERE tenant_id = $3 AND month >= $1 AND month < $2
           GROUP BY GROUPING SETS ((stage), (stage, customer_type))"#,
        from,
        until,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let rules = settings::load_rules(conn, p.tz).await?;
    let day_minutes = rules.calendar.working_day_length().num_minutes();

    let mut contacts: HashMap<(String, String), ContactSums> = HashMap::new();
    for r in contact_rows {
        contacts.insert(
            (r.dim, r.key),
            ContactSums {
                complaints: r.complaints,
                resolved: r.resolved,
                in_time: r.in_time,
                visited: r.visited,
                satisfied: r.satisfied,
            },
        );
    }
    let contact = |dim: &str, key: &str| contacts.get(&(dim.to_owned(), key.to_owned())).copied().unwrap_or_default();
    let orders: HashMap<(String, String), (i64, i64)> =
        order_rows.into_iter().map(|r| ((r.dim, r.key), (r.completed, r.in_time))).collect();
    let order = |dim: &str, key: &str| orders.get(&(dim.to_owned(), key.to_owned())).copied().unwrap_or_default();
    let stages: HashMap<(String, String), (i64, i64)> =
        stage_rows.into_iter().map(|r| ((r.stage, r.customer_type), (r.finished, r.minutes))).collect();

    let month_labels: Vec<String> = month_list(from, until).into_iter().map(months::label).collect();
    let complaint_headers = |first: &str| vec![p.t(first), p.t("stats.complaints"), p.t("stats.per_10k")];
    let complaint_row = |label: String, sums: ContactSums| {
        vec![Cell::Text(label), Cell::Count(sums.complaints), Cell::Value(per_10k(sums.complaints, customers))]
    };
    let complaints_by =
        |key: &'static str, title: &str, first: &str, dim: &str, rows: Vec<(String, String)>| StatTable {
            key,
            title: p.t(title),
            headers: complaint_headers(first),
            rows: rows.into_iter().map(|(code, label)| complaint_row(label, contact(dim, &code))).collect(),
            charted: vec![2],
        };
    let coded = |prefix: &str, codes: &[&str]| -> Vec<(String, String)> {
        codes.iter().map(|c| (c.to_string(), p.tc(prefix, c))).collect()
    };
    let mut teams: Vec<String> = contacts.keys().filter(|(dim, _)| dim == "team").map(|(_, key)| key.clone()).collect();
    teams.sort();
    let team_rows = teams
        .into_iter()
        .map(|t| {
            let label = if t.is_empty() { p.t("stats.no_team") } else { t.clone() };
            (t, label)
        })
        .collect();
    let months_as_rows: Vec<(String, String)> = month_labels.iter().map(|m| (m.clone(), m.clone())).collect();

    let sla_by_month = StatTable {
        key: "sla_by_month",
        title: p.t("stats.sla_by_month"),
        headers: vec![
            p.t("stats.month"),
            p.t("stats.contacts_resolved"),
            p.t("stats.in_time"),
            p.t("stats.contacts_attainment"),
            p.t("stats.orders_completed"),
            p.t("stats.in_time"),
            p.t("stats.orders_attainment"),
        ],
        rows: month_labels
            .iter()
            .map(|m| {
                let c = contact("month", m);
                let (done, in_time) = order("month", m);
                vec![
                    Cell::Text(m.clone()),
                    Cell::Count(c.resolved),
                    Cell::Count(c.in_time),
                    Cell::Value(percent(c.in_time, c.resolved)),
                    Cell::Count(done),
                    Cell::Count(in_time),
                    Cell::Value(percent(in_time, done)),
                ]
            })
            .collect(),
        charted: vec![3, 6],
    };
    let sla_by_kind = StatTable {
        key: "sla_by_kind",
        title: p.t("stats.sla_by_kind"),
        headers: vec![p.t("stats.kind"), p.t("stats.finished"), p.t("stats.in_time"), p.t("stats.attainment")],
        rows: KINDS
            .iter()
            .map(|k| {
                let c = contact("kind", k);
                (p.tc("contact_kind.", k), c.resolved, c.in_time)
            })
            .chain(ORDER_KINDS.iter().map(|k| {
                let (done, in_time) = order("kind", k);
                (p.tc("work_order_kind.", k), done, in_time)
            }))
            .map(|(label, done, in_time)| {
                vec![Cell::Text(label), Cell::Count(done), Cell::Count(in_time), Cell::Value(percent(in_time, done))]
            })
            .collect(),
        charted: vec![3],
    };
    let satisfaction = StatTable {
        key: "satisfaction_by_month",
        title: p.t("stats.satisfaction_by_month"),
        headers: vec![p.t("stats.month"), p.t("stats.visited"), p.t("stats.satisfied"), p.t("stats.satisfaction_rate")],
        rows: month_labels
            .iter()
            .map(|m| {
                let c = contact("month", m);
                vec![
                    Cell::Text(m.clone()),
                    Cell::Count(c.visited),
                    Cell::Count(c.satisfied),
                    Cell::Value(percent(c.satisfied, c.visited)),
                ]
            })
            .collect(),
        charted: vec![3],
    };
    let stage_headers = [p.t("stats.stage"), p.t("stats.finished"), p.t("stats.average_days")]
        .into_iter()
        .chain(CUSTOMER_TYPES.iter().map(|t| p.tc("customer_type.", t)))
        .collect();
    let expansion = StatTable {
        key: "expansion_stages",
        title: p.t("stats.expansion_stages"),
        headers: stage_headers,
        // A stage's time is counted when it ends: the final state has none.
        rows: EXPANSION.states[..EXPANSION.states.len() - 2]
            .iter()
            .map(|stage| {
                let (finished, minutes) = stages.get(&(stage.to_string(), String::new())).copied().unwrap_or_default();
                let mut row = vec![
                    Cell::Text(p.tc("work_order_state.", stage)),
                    Cell::Count(finished),
                    Cell::Value(average_days(minutes, finished, day_minutes)),
                ];
                for t in CUSTOMER_TYPES {
                    let (n, m) = stages.get(&(stage.to_string(), t.to_owned())).copied().unwrap_or_default();
                    row.push(Cell::Value(average_days(m, n, day_minutes)));
                }
                row
            })
            .collect(),
        charted: vec![2],
    };
    Ok((
        customers,
        vec![
            complaints_by("complaints_by_month", "stats.complaints_by_month", "stats.month", "month", months_as_rows),
            complaints_by(
                "complaints_by_subject",
                "stats.complaints_by_subject",
                "stats.subject",
                "subject",
                coded("contact_subject.", &SUBJECTS),
            ),
            complaints_by(
                "complaints_by_channel",
                "stats.complaints_by_channel",
                "stats.channel",
                "channel",
                coded("contact_channel.", &CHANNELS),
            ),
            complaints_by("complaints_by_team", "stats.complaints_by_team", "stats.team", "team", team_rows),
            sla_by_month,
            sla_by_kind,
            satisfaction,
            expansion,
        ],
    ))
}

#[derive(askama::Template)]
#[template(path = "service/stats.html")]
struct StatsPage {
    p: Page,
    from: String,
    to: String,
    errors: FieldErrors,
    customers_note: String,
    tables: Vec<(StatTable, Vec<(String, String)>)>,
}

impl StatsPage {
    fn export_link(&self, key: &str) -> String {
        format!(
            "/service/stats/export/{key}?{}",
            serde_urlencoded::to_string([("from", &self.from), ("to", &self.to)]).unwrap_or_default()
        )
    }
}

async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::SuperviseService)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let (from, until, errors) = range(&q, today);
    let p = Page::for_user(&user, "nav.service_stats");
    let mut tx = user.tx(&state.db).await?;
    let (customers, tables) = tables(&mut tx, &p, from, until).await?;
    tx.commit().await?;
    let customers_note = p.t("stats.customers_note").replace("{n}", &p.i.number(customers.into()));
    let tables = tables
        .into_iter()
        .map(|t| {
            let charts = t.charts(&p.i);
            (t, charts)
        })
        .collect();
    let from = months::label(from);
    let to = months::label(months::back(until, 1));
    Ok(render(&StatsPage { p, from, to, errors, customers_note, tables })?.into_response())
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(key): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::SuperviseService)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let (from, until, errors) = range(&q, today);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let p = Page::for_user(&user, "nav.service_stats");
    let mut tx = user.tx(&state.db).await?;
    let table =
        tables(&mut tx, &p, from, until).await?.1.into_iter().find(|t| t.key == key).ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let body = csv_export::to_csv(&table.headers, table.csv_rows())?;
    let filename = format!("{key}_{}_{}.csv", months::label(from), months::label(months::back(until, 1)));
    Ok(csv_export::download(&filename, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn q(from: &str, to: &str) -> RangeQuery {
        RangeQuery { from: from.into(), to: to.into() }
    }

    #[test]
    fn the_default_range_is_the_last_twelve_months() {
        let (from, until, errors) = range(&RangeQuery::default(), d(2026, 11, 27));
        assert_eq!((from, until), (d(2025, 12, 1), d(2026, 12, 1)));
        assert!(errors.is_empty());
        assert_eq!(month_list(from, until).len(), 12);
    }

    #[test]
    fn bad_ranges_are_named_and_fall_back() {
        let (_, _, errors) = range(&q("2026-13", ""), d(2026, 11, 27));
        assert!(errors.has("from"));
        let (from, until, errors) = range(&q("2026-10", "2026-03"), d(2026, 11, 27));
        assert!(errors.has("from"));
        assert_eq!((from, until), (d(2025, 4, 1), d(2026, 4, 1)));
        let (from, _, errors) = range(&q("2020-01", "2026-11"), d(2026, 11, 27));
        assert!(errors.has("from"));
        assert_eq!(from, d(2023, 12, 1));
        let (from, until, errors) = range(&q("2026-11", "2026-11"), d(2026, 11, 27));
        assert!(errors.is_empty());
        assert_eq!(month_list(from, until), vec![d(2026, 11, 1)]);
    }
}
