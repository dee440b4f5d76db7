//! The load pages: a large customer's load (curves, statistics, the
//! time-of-use split, power factor), the peak-shifting list and the
//! printable peak-shifting report.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use rust_decimal::{Decimal, prelude::FromPrimitive};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Band, BandSplit, Bands, Day, QUARTERS, Summary, db,
    peak_shift::{self, Estimate},
    split_by_band, sum_days, summarize, typical_day,
};
use crate::{
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        chart::{self, Line, LineChart},
        csv_export,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/load", get(group_load))
        .route("/customers/{id}/load", get(customer_load))
        .route("/customers/{id}/peak-shifting", get(peak_report))
        .route("/accounts/peak-shifting", get(peak_list))
        .route("/accounts/peak-shifting.csv", get(peak_csv))
}

/// The longest period a page reads.
const MAX_DAYS: i64 = 366;
/// The default period: the last 30 days with data.
const DEFAULT_DAYS: i64 = 30;

#[derive(Deserialize, Default)]
pub struct LoadQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// A meter's id, or empty for the customer's total.
    #[serde(default)]
    meter: String,
    /// The day drawn on its own (default: the period's last).
    #[serde(default)]
    day: String,
}

/// The period asked for, checked: dates, in order, at most a year.
pub(super) struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub day: NaiveDate,
}

fn parse_date(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.parse() {
        Ok(d) => Some(d),
        Err(_) => {
            errors.add(field, "date_format");
            None
        }
    }
}

/// The period asked for (`from`, `to`, the day drawn), defaulting to the 30
/// days ending `last`; a wrong field is added to `errors` and its default used.
pub(super) fn period(from: &str, to: &str, day: &str, last: NaiveDate, errors: &mut FieldErrors) -> Period {
    let to = parse_date(to, "to", errors).unwrap_or(last);
    let from = parse_date(from, "from", errors).unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    let (from, to) = if from > to {
        errors.add("from", "load_from_after_to");
        (last - Duration::days(DEFAULT_DAYS - 1), last)
    } else if (to - from).num_days() >= MAX_DAYS {
        errors.add("from", "load_period_too_long");
        (to - Duration::days(MAX_DAYS - 1), to)
    } else {
        (from, to)
    };
    let day = parse_date(day, "day", errors).filter(|d| (from..=to).contains(d)).unwrap_or(to);
    Period { from, to, day }
}

/// Figures as the page prints them.
struct SummaryView {
    max_kw: String,
    max_at: String,
    avg_kw: String,
    min_kw: String,
    load_rate: String,
    energy_kwh: String,
    completeness: String,
}

fn kw(p: &Page, v: f64) -> String {
    p.number(&Decimal::from_f64(v).unwrap_or_default().round_dp(1))
}

fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

impl SummaryView {
    fn new(p: &Page, s: &Summary) -> Self {
        SummaryView {
            max_kw: kw(p, s.max_kw),
            max_at: s.max_at.format("%Y-%m-%d %H:%M").to_string(),
            avg_kw: kw(p, s.avg_kw),
            min_kw: kw(p, s.min_kw),
            load_rate: percent(s.load_rate),
            energy_kwh: kw(p, s.energy_kwh),
            completeness: percent(s.read as f64 / s.expected.max(1) as f64),
        }
    }
}

struct BandRow {
    band: &'static str,
    periods: String,
    kwh: String,
    share: String,
}

fn band_rows(p: &Page, split: &BandSplit, bands: &Bands) -> Vec<BandRow> {
    Band::ALL
        .iter()
        .map(|b| BandRow {
            band: b.code(),
            periods: bands.describe(*b),
            kwh: kw(p, split.kwh(*b)),
            share: percent(split.share(*b)),
        })
        .collect()
}

/// Hour labels every three hours for a day of points `minutes` apart (the
/// last point is 23:45 or 23:30, so no 24:00).
fn hour_labels(minutes: usize) -> Vec<(usize, String)> {
    let per_three_hours = 180 / minutes.max(1);
    (0..8).map(|h| (h * per_three_hours, format!("{:02}:00", h * 3))).collect()
}

fn weekday_code(d: NaiveDate) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.weekday().num_days_from_monday() as usize]
}

#[derive(askama::Template)]
#[template(path = "load/customer.html")]
struct CustomerLoadPage {
    p: Page,
    customer_id: Uuid,
    customer_name: String,
    account_no: String,
    meters: Vec<db::MeterRef>,
    meter: Option<Uuid>,
    errors: FieldErrors,
    curves: Curves,
    power_factors: Vec<(NaiveDate, Decimal)>,
    forecast: Option<ForecastView>,
}

/// What a load page shows of a period's days (one meter, a customer or a
/// group summed): the statistics, the day and week charts and the bands.
/// `templates/load/curves.html` draws it.
struct Curves {
    from: NaiveDate,
    to: NaiveDate,
    day: NaiveDate,
    summary: Option<SummaryView>,
    day_summary: Option<SummaryView>,
    day_chart: String,
    week_chart: String,
    bands: Vec<BandRow>,
    /// Days in the period with data.
    days_read: usize,
}

impl Curves {
    /// `all` holds the period's days and the week before the day drawn.
    fn new(p: &Page, all: &[Day], period: &Period, bands: &Bands) -> Curves {
        let in_period: Vec<Day> = all.iter().filter(|d| d.day >= period.from).cloned().collect();
        let summary = summarize(&in_period).map(|s| SummaryView::new(p, &s));
        let the_day = all.iter().find(|d| d.day == period.day);
        let day_summary = the_day.and_then(|d| summarize(std::slice::from_ref(d))).map(|s| SummaryView::new(p, &s));
        let weekdays = typical_day(in_period.iter().filter(|d| !d.is_weekend()));
        let weekends = typical_day(in_period.iter().filter(|d| d.is_weekend()));
        let mut lines = Vec::new();
        if let Some(d) = the_day {
            lines.push(Line { label: p.date(&d.day), values: d.kw.clone(), emphasis: true });
        }
        lines.push(Line { label: p.t("load.typical_weekday"), values: weekdays, emphasis: false });
        lines.push(Line { label: p.t("load.typical_weekend"), values: weekends, emphasis: false });
        let day_chart = chart::line_chart(&LineChart {
            title: p.t("load.day_chart"),
            unit: "kW".into(),
            x_labels: hour_labels(15),
            markers: Vec::new(),
            lines,
        });
        let week: Vec<Line> = all
            .iter()
            .filter(|d| d.day > period.day - Duration::days(7) && d.day <= period.day)
            .map(|d| Line {
                label: format!("{} {}", p.tc("weekday.", weekday_code(d.day)), d.day.format("%m-%d")),
                values: d.kw.clone(),
                emphasis: d.day == period.day,
            })
            .collect();
        let week_chart = chart::line_chart(&LineChart {
            title: p.t("load.week_chart"),
            unit: "kW".into(),
            x_labels: hour_labels(15),
            markers: Vec::new(),
            lines: week,
        });
        let split = split_by_band(&in_period, bands);
        Curves {
            from: period.from,
            to: period.to,
            day: period.day,
            summary,
            day_summary,
            day_chart,
            week_chart,
            bands: band_rows(p, &split, bands),
            days_read: in_period.len(),
        }
    }
}

/// The first day a page reads: the period's, or the week before the day drawn.
fn read_from(period: &Period) -> NaiveDate {
    period.from.min(period.day - Duration::days(6))
}

/// The customer's latest day-ahead forecast as the page shows it: the chart
/// against the actual load where it has arrived, and how far to trust it.
struct ForecastView {
    target_day: NaiveDate,
    chart: String,
    method: String,
    mape: Option<String>,
    baseline_mape: Option<String>,
    beats_baseline: bool,
    /// The forecast is the baseline itself (no method beat it).
    is_baseline: bool,
    holdout_days: i16,
    made_at: String,
    /// (period label, kWh, of which expansion kWh)
    energy: Vec<(String, String, String)>,
}

impl ForecastView {
    fn new(p: &Page, f: crate::forecast::db::CustomerForecast) -> Self {
        let stored = f.forecast;
        let mut lines = vec![Line {
            label: p.t("load.forecast_line"),
            values: stored.points.iter().map(|v| Some(*v)).collect(),
            emphasis: true,
        }];
        if f.actual.iter().any(Option::is_some) {
            lines.push(Line { label: p.t("load.actual_line"), values: f.actual, emphasis: false });
        }
        let chart = chart::line_chart(&LineChart {
            title: p.t("load.forecast_chart"),
            unit: "kW".into(),
            x_labels: hour_labels(usize::try_from(stored.minutes).unwrap_or(15)),
            markers: Vec::new(),
            lines,
        });
        let energy = f
            .energy
            .iter()
            .map(|e| {
                let label = if e.period == "year" {
                    format!("{} {}", p.t("load.forecast_year_from"), p.month(&e.period_start))
                } else {
                    p.month(&e.period_start)
                };
                (label, kw(p, e.kwh), kw(p, e.expansion_kwh))
            })
            .collect();
        ForecastView {
            target_day: stored.target_day,
            chart,
            method: p.tc("load.method_", &stored.method),
            mape: stored.mape.map(|m| format!("{m:.1} %")),
            baseline_mape: stored.baseline_mape.map(|m| format!("{m:.1} %")),
            beats_baseline: stored.beats_baseline,
            is_baseline: stored.method == crate::forecast::dayahead::BASELINE,
            holdout_days: stored.holdout_days,
            made_at: p.datetime(&stored.created_at),
            energy,
        }
    }
}

impl CustomerLoadPage {
    fn selected(&self, meter: &Uuid) -> bool {
        self.meter == Some(*meter)
    }
}

/// A customer's load (all meters summed, or one meter), with its period.
async fn customer_load(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LoadQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = FieldErrors::default();
    let mut tx = user.tx(&state.db).await?;
    let customer = crate::customers::db::get(&mut tx, id).await?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let meters = db::customer_meters(&mut tx, id, today - Duration::days(MAX_DAYS)).await?;
    let meter = match q.meter.trim() {
        "" => None,
        raw => match raw.parse::<Uuid>().ok().filter(|m| meters.iter().any(|x| x.id == *m)) {
            Some(m) => Some(m),
            None => {
                errors.add("meter", "load_unknown_meter");
                None
            }
        },
    };
    let ids: Vec<Uuid> = meter.map_or_else(|| meters.iter().map(|m| m.id).collect(), |m| vec![m]);
    let last = db::last_day(&mut tx, &ids).await?.unwrap_or(today - Duration::days(1));
    let period = period(&q.from, &q.to, &q.day, last, &mut errors);
    let read = db::days(&mut tx, &ids, read_from(&period), period.to).await?;
    let bands = db::bands(&mut tx).await?;
    let power_factors = db::power_factors(&mut tx, id, period.from.with_day(1).unwrap_or(period.from)).await?;
    let forecast = crate::forecast::db::latest_for_customer(&mut tx, id).await?;
    tx.commit().await?;

    let all = sum_days(read.into_iter().map(|(_, d)| d));
    let mut p = Page::for_user(&user, "load.title");
    p.title = format!("{} · {}", p.title, customer.name);
    let curves = Curves::new(&p, &all, &period, &bands);
    let forecast = forecast.map(|f| ForecastView::new(&p, f));
    let page = CustomerLoadPage {
        forecast,
        curves,
        p,
        customer_id: id,
        customer_name: customer.name,
        account_no: customer.account_no,
        meters,
        meter,
        power_factors,
        errors: errors.clone(),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&page)?).into_response())
}

/// What the group page sums over.
pub const GROUP_KINDS: [&str; 3] = ["company", "route", "industry"];

#[derive(Deserialize, Default)]
pub struct GroupQuery {
    /// company, route or industry.
    #[serde(default)]
    by: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    industry: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    day: String,
}

#[derive(askama::Template)]
#[template(path = "load/group.html")]
struct GroupLoadPage {
    p: Page,
    by: &'static str,
    route: String,
    industry: String,
    routes: Vec<(String, String)>,
    industries: Vec<(String, String)>,
    /// What the curves are the sum of, in words.
    group_label: String,
    errors: FieldErrors,
    curves: Curves,
}

/// The summed load of the company, a route or an industry.
async fn group_load(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<GroupQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let mut tx = user.tx(&state.db).await?;
    let routes = crate::customers::reference::routes(&mut tx).await?;
    let p = Page::for_user(&user, "load.group_title");
    let industries: Vec<(String, String)> =
        crate::customers::reference::load(&mut tx, crate::customers::reference::RefList::Industry)
            .await?
            .into_iter()
            .map(|i| (i.code.clone(), i.name(p.lang()).to_owned()))
            .collect();
    let by = match q.by.trim() {
        "" | "company" => "company",
        "route" => "route",
        "industry" => "industry",
        _ => {
            errors.add("by", "load_group");
            "company"
        }
    };
    let (route, industry) = (q.route.trim().to_owned(), q.industry.trim().to_owned());
    let chosen = |list: &[(String, String)], code: &str| list.iter().find(|(c, _)| c == code).cloned();
    let (group, group_label) = match by {
        "route" => match chosen(&routes, &route) {
            Some((code, name)) => (db::Group::Route(code.clone()), format!("{code} {name}")),
            None => {
                errors.add("route", "load_unknown_route");
                (db::Group::Company, p.t("load.by_company"))
            }
        },
        "industry" => match chosen(&industries, &industry) {
            Some((code, name)) => (db::Group::Industry(code), name),
            None => {
                errors.add("industry", "load_unknown_industry");
                (db::Group::Company, p.t("load.by_company"))
            }
        },
        _ => (db::Group::Company, p.t("load.by_company")),
    };
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let last = db::company_last_day(&mut tx).await?.unwrap_or(today - Duration::days(1));
    let period = period(&q.from, &q.to, &q.day, last, &mut errors);
    let all = db::group_days(&mut tx, &group, read_from(&period), period.to).await?;
    let bands = db::bands(&mut tx).await?;
    tx.commit().await?;
    let curves = Curves::new(&p, &all, &period, &bands);
    let page =
        GroupLoadPage { p, by, route, industry, routes, industries, group_label, errors: errors.clone(), curves };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize, Default)]
pub struct ShareQuery {
    /// The share of movable peak energy to move, in percent (default 20).
    #[serde(default)]
    share: String,
}

const DEFAULT_SHARE: u32 = 20;

fn share(q: &ShareQuery, errors: &mut FieldErrors) -> u32 {
    match q.share.trim() {
        "" => DEFAULT_SHARE,
        raw => match raw.parse::<u32>() {
            Ok(s) if (1..=100).contains(&s) => s,
            _ => {
                errors.add("share", "peak_share_range");
                DEFAULT_SHARE
            }
        },
    }
}

/// One customer's estimate, as the list and the report show it.
pub struct PeakRow {
    pub customer_id: Uuid,
    pub name: String,
    pub account_no: String,
    pub estimate: Estimate,
    pub peak_share: f64,
}

/// The last 30 days up to yesterday: what the peak-shifting figures rest on.
fn recent(user: &CurrentUser) -> (NaiveDate, NaiveDate) {
    let yesterday = Utc::now().with_timezone(&user.tz).date_naive() - Duration::days(1);
    (yesterday - Duration::days(DEFAULT_DAYS - 1), yesterday)
}

/// Every large customer's estimate at `share` percent, the largest yearly saving first.
async fn peak_rows(
    state: &AppState,
    user: &CurrentUser,
    share: u32,
) -> Result<(Vec<PeakRow>, Option<usize>), AppError> {
    let (from, to) = recent(user);
    let mut tx = user.tx(&state.db).await?;
    let pairs = db::metered_customers(&mut tx, from, to).await?;
    let meters: Vec<Uuid> = pairs.iter().map(|(_, m)| *m).collect();
    let days = db::days(&mut tx, &meters, from, to).await?;
    let bands = db::bands(&mut tx).await?;
    let peak_q = db::company_peak_quarter(&mut tx, from, to).await?;
    let mut by_customer: std::collections::HashMap<Uuid, Vec<Day>> = Default::default();
    let owner: std::collections::HashMap<Uuid, Uuid> = pairs.iter().map(|(c, m)| (*m, *c)).collect();
    for (meter, day) in days {
        if let Some(c) = owner.get(&meter) {
            by_customer.entry(*c).or_default().push(day);
        }
    }
    let ids: Vec<Uuid> = by_customer.keys().copied().collect();
    let customers = db::customers_with_prices(&mut tx, &ids, to).await?;
    let mut rows = Vec::new();
    for (customer_id, name, account_no, prices) in customers {
        let days = sum_days(by_customer.remove(&customer_id).unwrap_or_default());
        let split = split_by_band(&days, &bands);
        if let Some(estimate) = peak_shift::estimate(&days, &bands, prices, f64::from(share) / 100.0, peak_q) {
            rows.push(PeakRow { customer_id, name, account_no, peak_share: split.share(Band::Peak), estimate });
        }
    }
    tx.commit().await?;
    rows.sort_by(|a, b| {
        b.estimate
            .saving_per_year
            .cmp(&a.estimate.saving_per_year)
            .then(b.estimate.movable_kwh.total_cmp(&a.estimate.movable_kwh))
    });
    Ok((rows, peak_q))
}

#[derive(askama::Template)]
#[template(path = "load/peak_list.html")]
struct PeakListPage {
    p: Page,
    rows: Vec<PeakRow>,
    share: u32,
    from: NaiveDate,
    to: NaiveDate,
    peak_time: Option<String>,
    total_cut: String,
    total_saving: Decimal,
    errors: FieldErrors,
}

impl PeakListPage {
    fn kw(&self, v: &f64) -> String {
        kw(&self.p, *v)
    }
    fn percent(&self, v: &f64) -> String {
        percent(*v)
    }
}

async fn peak_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ShareQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let share = share(&q, &mut errors);
    let (rows, peak_q) = peak_rows(&state, &user, share).await?;
    let (from, to) = recent(&user);
    let p = Page::for_user(&user, "peak_shift.title");
    let page = PeakListPage {
        total_cut: kw(&p, rows.iter().map(|r| r.estimate.peak_cut_kw).sum()),
        total_saving: rows.iter().map(|r| r.estimate.saving_per_year).sum(),
        peak_time: peak_q.map(|q| super::quarter_start(q).format("%H:%M").to_string()),
        p,
        rows,
        share,
        from,
        to,
        errors: errors.clone(),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&page)?).into_response())
}

async fn peak_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ShareQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let share = share(&q, &mut errors);
    errors.finish(())?;
    let (rows, _) = peak_rows(&state, &user, share).await?;
    let i = crate::web::i18n::I18n(user.locale);
    let header: Vec<String> = [
        "peak_shift.customer",
        "customers.account_no",
        "peak_shift.peak_share",
        "peak_shift.movable_kwh",
        "peak_shift.moved_kwh",
        "peak_shift.saving_year",
        "peak_shift.peak_cut",
    ]
    .iter()
    .map(|k| i.t(k))
    .collect();
    let lines = rows.iter().map(|r| {
        vec![
            r.name.clone(),
            r.account_no.clone(),
            format!("{:.1}", r.peak_share * 100.0),
            format!("{:.0}", r.estimate.movable_kwh),
            format!("{:.0}", r.estimate.moved_kwh),
            r.estimate.saving_per_year.to_string(),
            format!("{:.1}", r.estimate.peak_cut_kw),
        ]
    });
    Ok(csv_export::download("peak-shifting.csv", csv_export::to_csv(&header, lines)?))
}

#[derive(askama::Template)]
#[template(path = "load/peak_report.html")]
struct PeakReportPage {
    p: Page,
    customer_id: Uuid,
    customer_name: String,
    account_no: String,
    share: u32,
    from: NaiveDate,
    to: NaiveDate,
    estimate: Option<Estimate>,
    bands: Vec<BandRow>,
    chart: String,
    errors: FieldErrors,
}

impl PeakReportPage {
    fn kw(&self, v: &f64) -> String {
        kw(&self.p, *v)
    }
}

/// The printable one-page report for one customer.
async fn peak_report(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShareQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut errors = FieldErrors::default();
    let share = share(&q, &mut errors);
    let (from, to) = recent(&user);
    let mut tx = user.tx(&state.db).await?;
    let customer = crate::customers::db::get(&mut tx, id).await?;
    let meters: Vec<Uuid> = db::customer_meters(&mut tx, id, from).await?.into_iter().map(|m| m.id).collect();
    let days = sum_days(db::days(&mut tx, &meters, from, to).await?.into_iter().map(|(_, d)| d));
    let bands = db::bands(&mut tx).await?;
    let prices = db::tou_prices(&mut tx, id, to).await?;
    let peak_q = db::company_peak_quarter(&mut tx, from, to).await?;
    tx.commit().await?;
    let estimate = peak_shift::estimate(&days, &bands, prices, f64::from(share) / 100.0, peak_q);
    let p = Page::for_user(&user, "peak_shift.report_title");
    let weekday = typical_day(days.iter().filter(|d| !d.is_weekend()));
    // The typical weekday as it is, and with the share of its peak load above the base moved to the valley.
    let mut lines = vec![Line { label: p.t("load.typical_weekday"), values: weekday.clone(), emphasis: true }];
    if let Some(e) = &estimate {
        lines.push(Line { label: p.t("peak_shift.after"), values: shifted(&weekday, &bands, e), emphasis: false });
    }
    let chart = chart::line_chart(&LineChart {
        title: p.t("peak_shift.chart"),
        unit: "kW".into(),
        x_labels: hour_labels(15),
        markers: peak_q.map(|q| vec![(q, p.t("peak_shift.company_peak"))]).unwrap_or_default(),
        lines,
    });
    let split = split_by_band(&days, &bands);
    let page = PeakReportPage {
        bands: band_rows(&p, &split, &bands),
        p,
        customer_id: id,
        customer_name: customer.name,
        account_no: customer.account_no,
        share,
        from,
        to,
        estimate,
        chart,
        errors: errors.clone(),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&page)?).into_response())
}

/// The typical day after moving the share: each peak quarter loses its share
/// above the base, spread evenly over the valley quarters.
fn shifted(day: &[Option<f64>], bands: &Bands, e: &Estimate) -> Vec<Option<f64>> {
    let band: Vec<Band> = (0..QUARTERS).map(|q| bands.band_at(super::quarter_start(q))).collect();
    let moved: f64 = day
        .iter()
        .zip(&band)
        .filter(|(_, b)| **b == Band::Peak)
        .filter_map(|(v, _)| v.map(|v| (v - e.base_kw).max(0.0) * e.share))
        .sum();
    let valley_quarters = band.iter().filter(|b| **b == Band::Valley).count().max(1) as f64;
    day.iter()
        .zip(&band)
        .map(|(v, b)| {
            v.map(|v| match b {
                Band::Peak => v - (v - e.base_kw).max(0.0) * e.share,
                Band::Valley => v + moved / valley_quarters,
                Band::Flat => v,
            })
        })
        .collect()
}
