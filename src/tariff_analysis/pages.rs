//! The tariff analysis page (average price by class, the two-period
//! decomposition, the what-if) with its CSV, and a customer's tariff
//! recommendation page.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    months,
    staff::Permission,
    tariff_analysis::{
        self, CHANGE_KINDS, Decomposition, Effect, PriceChange, average_price,
        db::{self, CodeName, SampleCustomer, Scope},
    },
    web::{
        AppState,
        auth::CurrentUser,
        chart::{Bar, bar_chart},
        csv_export,
        error::{AppError, FieldErrors},
        i18n::Locale,
        input::plain_decimal,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/tariff-analysis", get(analysis_page))
        .route("/accounts/tariff-analysis.csv", get(analysis_csv))
        .route("/customers/{id}/tariff-recommendation", get(recommendation_page))
}

/// Months of average prices the page shows.
const HISTORY_MONTHS: u32 = 24;
/// Longest period of the decomposition.
const MAX_PERIOD_MONTHS: u32 = 36;

/// The page's query string as typed: the two periods and the what-if.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AnalysisQuery {
    #[serde(default)]
    pub before_from: String,
    #[serde(default)]
    pub before_to: String,
    #[serde(default)]
    pub after_from: String,
    #[serde(default)]
    pub after_to: String,
    /// A class code, or empty for all.
    #[serde(default)]
    pub class: String,
    /// A tariff code, or empty for all.
    #[serde(default)]
    pub tariff: String,
    /// percent or absolute.
    #[serde(default)]
    pub kind: String,
    /// The change: percent, or yuan per kWh. Empty: no what-if.
    #[serde(default)]
    pub change: String,
}

/// A period of whole months, [from, until).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// The two periods, by default the last 12 complete months and the 12 before.
fn periods(q: &AnalysisQuery, current: NaiveDate, errors: &mut FieldErrors) -> (Period, Period) {
    let mut one = |from_field: &'static str, from: &str, to_field: &'static str, to: &str, back: u32| {
        let default = Period { from: months::back(current, back + 12), until: months::back(current, back) };
        let parse = |field: &'static str, raw: &str, errors: &mut FieldErrors| {
            if raw.trim().is_empty() {
                return None;
            }
            let m = months::parse(raw);
            if m.is_none() {
                errors.add(field, "invalid_month");
            }
            m
        };
        let (f, t) = (parse(from_field, from, errors), parse(to_field, to, errors));
        let period = Period { from: f.unwrap_or(default.from), until: t.map(months::next).unwrap_or(default.until) };
        if period.from >= period.until {
            errors.add(to_field, "tariff_analysis_period_order");
            return default;
        }
        if months::back(period.until, MAX_PERIOD_MONTHS) > period.from {
            errors.add(to_field, "tariff_analysis_period_long");
            return default;
        }
        period
    };
    let before = one("before_from", &q.before_from, "before_to", &q.before_to, 12);
    let after = one("after_from", &q.after_from, "after_to", &q.after_to, 0);
    (before, after)
}

/// The what-if's inputs, checked against the company's codes.
pub fn what_if_input(
    q: &AnalysisQuery,
    classes: &[CodeName],
    tariffs: &[CodeName],
    errors: &mut FieldErrors,
) -> Option<(Option<String>, Option<String>, PriceChange)> {
    let known = |list: &[CodeName], code: &str| list.iter().any(|c| c.0 == code);
    let class = (!q.class.is_empty()).then(|| q.class.clone());
    let tariff = (!q.tariff.is_empty()).then(|| q.tariff.clone());
    if class.as_deref().is_some_and(|c| !known(classes, c)) {
        errors.add("class", "unknown_code");
    }
    if tariff.as_deref().is_some_and(|t| !known(tariffs, t)) {
        errors.add("tariff", "unknown_code");
    }
    if q.change.trim().is_empty() {
        return None;
    }
    let change = match q.kind.as_str() {
        "percent" | "" => match plain_decimal(&q.change, 3, 2) {
            Some(p) if p >= Decimal::from(-50) && p <= Decimal::from(100) => Some(PriceChange::Percent(p)),
            _ => {
                errors.add("change", "tariff_analysis_percent_range");
                None
            }
        },
        "absolute" => match plain_decimal(&q.change, 1, 5) {
            Some(a) if a >= Decimal::NEGATIVE_ONE && a <= Decimal::ONE => Some(PriceChange::Absolute(a)),
            _ => {
                errors.add("change", "tariff_analysis_absolute_range");
                None
            }
        },
        _ => {
            errors.add("kind", "unknown_code");
            None
        }
    };
    if !errors.is_empty() {
        return None;
    }
    Some((class, tariff, change?))
}

/// One row of the average-price table: a month and each class's price (in `classes` order).
pub struct PriceRow {
    pub month: NaiveDate,
    pub prices: Vec<Option<Decimal>>,
    pub all: Option<Decimal>,
}

pub struct WhatIfView {
    pub classes: Vec<Effect<String>>,
    pub overall: Effect<()>,
    pub samples: Vec<Effect<SampleCustomer>>,
    pub from: NaiveDate,
    pub until: NaiveDate,
}

#[derive(askama::Template)]
#[template(path = "tariff_analysis/analysis.html")]
struct AnalysisPage {
    p: Page,
    q: AnalysisQuery,
    errors: FieldErrors,
    class_options: Vec<(String, String)>,
    tariff_options: Vec<(String, String)>,
    kinds: &'static [&'static str],
    /// The classes with data in the table, (code, name).
    table_classes: Vec<(String, String)>,
    rows: Vec<PriceRow>,
    chart: String,
    before: Period,
    after: Period,
    decomposition: Option<Decomposition>,
    /// (total, mix, rate) rounded, adding up.
    rounded: (Decimal, Decimal, Decimal),
    what_if: Option<WhatIfView>,
}

impl AnalysisPage {
    fn class_name(&self, code: &str) -> String {
        self.class_options.iter().find(|c| c.0 == code).map_or_else(|| code.to_owned(), |c| c.1.clone())
    }
    fn price(&self, price: &Option<Decimal>) -> String {
        price.map_or_else(|| "—".to_owned(), |p| p.round_dp(4).to_string())
    }
    fn signed(&self, value: &Decimal) -> String {
        let v = value.round_dp(4);
        if v > Decimal::ZERO { format!("+{v}") } else { v.to_string() }
    }
    fn share(&self, share: &Decimal) -> String {
        format!("{}%", (share * Decimal::ONE_HUNDRED).round_dp(2))
    }
    fn percent(&self, percent: &Option<Decimal>) -> String {
        percent.map_or_else(|| "—".to_owned(), |p| format!("{p}%"))
    }
    fn month_label(&self, month: &NaiveDate) -> String {
        months::label(*month)
    }
    /// The last month of a period ending before `until`.
    fn month_before(&self, until: &NaiveDate) -> String {
        months::label(months::back(*until, 1))
    }
    /// The period pickers: (field, value as typed).
    fn period_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("before_from", self.q.before_from.clone()),
            ("before_to", self.q.before_to.clone()),
            ("after_from", self.q.after_from.clone()),
            ("after_to", self.q.after_to.clone()),
        ]
    }
    fn price_of(&self, price: &Decimal) -> String {
        price.round_dp(4).to_string()
    }
}

fn localized(list: Vec<CodeName>, locale: Locale) -> Vec<(String, String)> {
    list.into_iter().map(|(code, zh, en)| (code, if locale == Locale::En { en } else { zh })).collect()
}

/// The table of average prices by month and class, and the chart of each
/// class's average over the whole span.
async fn price_history(
    conn: &mut PgConnection,
    current: NaiveDate,
    classes: &[(String, String)],
) -> Result<
    (Vec<(String, String)>, Vec<PriceRow>, Vec<Bar>, Vec<(String, NaiveDate, tariff_analysis::ClassTotal)>),
    AppError,
> {
    let from = months::back(current, HISTORY_MONTHS);
    let data = db::class_months(conn, from, current).await?;
    let present: Vec<(String, String)> =
        classes.iter().filter(|(code, _)| data.iter().any(|(c, _, _)| c == code)).cloned().collect();
    let mut rows = Vec::new();
    let mut month = from;
    while month < current {
        let of_month: Vec<_> = data.iter().filter(|(_, m, _)| *m == month).map(|(_, _, t)| t).collect();
        let prices = present
            .iter()
            .map(|(code, _)| {
                of_month.iter().find(|t| &t.class_code == code).and_then(|t| average_price(t.revenue, t.kwh))
            })
            .collect();
        let all = average_price(of_month.iter().map(|t| t.revenue).sum(), of_month.iter().map(|t| t.kwh).sum());
        rows.push(PriceRow { month, prices, all });
        month = months::next(month);
    }
    let bars = present
        .iter()
        .map(|(code, name)| {
            let of_class: Vec<_> = data.iter().filter(|(c, _, _)| c == code).map(|(_, _, t)| t).collect();
            let price = average_price(of_class.iter().map(|t| t.revenue).sum(), of_class.iter().map(|t| t.kwh).sum());
            Bar {
                label: name.clone(),
                value: price.and_then(|p| rust_decimal::prelude::ToPrimitive::to_f64(&p)).unwrap_or(0.0),
                caption: price.map_or_else(|| "—".to_owned(), |p| p.round_dp(4).to_string()),
            }
        })
        .collect();
    Ok((present, rows, bars, data))
}

async fn analysis_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AnalysisQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let p = Page::for_user(&user, "tariff_analysis.title");
    let mut tx = user.tx(&state.db).await?;
    let current = crate::tenants::current_month(&mut tx).await?;
    let (class_codes, tariff_codes) = db::codes(&mut tx).await?;
    let mut errors = FieldErrors::default();
    let (before, after) = periods(&q, current, &mut errors);
    let input = what_if_input(&q, &class_codes, &tariff_codes, &mut errors);
    let class_options = localized(class_codes, user.locale);
    let tariff_options = localized(tariff_codes, user.locale);
    let (table_classes, rows, bars, _) = price_history(&mut tx, current, &class_options).await?;
    let decomposition = tariff_analysis::decompose(
        &db::class_totals(&mut tx, before.from, before.until).await?,
        &db::class_totals(&mut tx, after.from, after.until).await?,
    );
    let what_if = match input {
        Some((class_code, tariff_code, change)) => {
            let scope = Scope { from: months::back(current, 12), until: current, class_code, tariff_code };
            let (classes, overall) = tariff_analysis::what_if(
                &db::class_priced(&mut tx, &scope).await?,
                &db::class_billed(&mut tx, &scope).await?,
                change,
            );
            let sample_billed = db::samples(&mut tx, &scope).await?;
            let ids: Vec<Uuid> = sample_billed.iter().map(|s| s.key.id).collect();
            let priced = db::customers_priced(&mut tx, &scope, &ids).await?;
            // Keyed by customer id for the rule, then back to the sample rows.
            let by_id: Vec<tariff_analysis::Billed<Uuid>> = sample_billed
                .iter()
                .map(|s| tariff_analysis::Billed { key: s.key.id, kwh: s.kwh, billed: s.billed })
                .collect();
            let (effects, _) = tariff_analysis::what_if(&priced, &by_id, change);
            let samples = sample_billed
                .into_iter()
                .zip(effects)
                .map(|(s, e)| Effect {
                    key: s.key,
                    kwh: e.kwh,
                    billed: e.billed,
                    effect: e.effect,
                    after: e.after,
                    percent: e.percent,
                })
                .collect();
            Some(WhatIfView { classes, overall, samples, from: scope.from, until: scope.until })
        }
        None => None,
    };
    tx.commit().await?;
    let chart = bar_chart(&p.t("tariff_analysis.chart_title"), &bars);
    let rounded = decomposition.as_ref().map(|d| d.rounded()).unwrap_or_default();
    let status =
        if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    let page = AnalysisPage {
        p,
        q,
        errors,
        class_options,
        tariff_options,
        kinds: &CHANGE_KINDS,
        table_classes,
        rows,
        chart,
        before,
        after,
        decomposition,
        rounded,
        what_if,
    };
    Ok((status, render(&page)?).into_response())
}

/// The average prices by month and class of the last 24 months as CSV.
async fn analysis_csv(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let i = crate::web::i18n::I18n(user.locale);
    let mut tx = user.tx(&state.db).await?;
    let current = crate::tenants::current_month(&mut tx).await?;
    let (class_codes, _) = db::codes(&mut tx).await?;
    let classes = localized(class_codes, user.locale);
    let (_, _, _, data) = price_history(&mut tx, current, &classes).await?;
    tx.commit().await?;
    let header: Vec<String> = ["month", "class_code", "class", "kwh", "revenue", "average_price"]
        .iter()
        .map(|c| i.t(&format!("tariff_analysis.csv_{c}")))
        .collect();
    let rows = data.into_iter().map(|(code, month, t)| {
        let name = classes.iter().find(|c| c.0 == code).map_or_else(|| code.clone(), |c| c.1.clone());
        vec![
            months::label(month),
            code,
            name,
            t.kwh.to_string(),
            t.revenue.to_string(),
            average_price(t.revenue, t.kwh).map(|p| p.to_string()).unwrap_or_default(),
        ]
    });
    let body = csv_export::to_csv(&header, rows)?;
    Ok(csv_export::download("tariff-analysis.csv", body))
}

#[derive(askama::Template)]
#[template(path = "tariff_analysis/recommendation.html")]
struct RecommendationPage {
    p: Page,
    customer: db::CustomerTariff,
    r: tariff_analysis::api::RecommendationBody,
    tariff_names: Vec<(String, String)>,
}

impl RecommendationPage {
    fn tariff_name(&self, code: &str) -> String {
        self.tariff_names.iter().find(|c| c.0 == code).map_or_else(|| code.to_owned(), |c| c.1.clone())
    }
    fn opt_number(&self, value: &Option<Decimal>) -> String {
        value.map_or_else(|| "—".to_owned(), |v| self.p.number(&v))
    }
    fn month_label(&self, month: &NaiveDate) -> String {
        months::label(*month)
    }
    fn month_before(&self, until: &NaiveDate) -> String {
        months::label(months::back(*until, 1))
    }
    /// How much more than the cheapest an option costs.
    fn over_best(&self, total: &Option<Decimal>) -> String {
        match (total, self.r.best.as_ref().and_then(|b| b.total)) {
            (Some(t), Some(b)) if *t > b => format!("+{}", self.p.money(&(*t - b))),
            (Some(_), Some(_)) => "—".to_owned(),
            _ => String::new(),
        }
    }
}

async fn recommendation_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = db::customer(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let r = tariff_analysis::api::load(&mut tx, id).await?;
    let (_, tariffs) = db::codes(&mut tx).await?;
    tx.commit().await?;
    let page = RecommendationPage {
        p: Page::for_user(&user, "tariff_analysis.recommendation_title"),
        customer,
        r,
        tariff_names: localized(tariffs, user.locale),
    };
    Ok(render(&page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, 1).unwrap()
    }

    fn codes() -> Vec<CodeName> {
        vec![("commercial".into(), "一般工商业".into(), "Commercial".into())]
    }

    #[test]
    fn periods_default_to_the_last_twelve_months_and_the_twelve_before() {
        let mut errors = FieldErrors::default();
        let (before, after) = periods(&AnalysisQuery::default(), d(2026, 12), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(after, Period { from: d(2025, 12), until: d(2026, 12) });
        assert_eq!(before, Period { from: d(2024, 12), until: d(2025, 12) });
        let q = AnalysisQuery { after_from: "2026-03".into(), after_to: "2026-05".into(), ..Default::default() };
        let (_, after) = periods(&q, d(2026, 12), &mut errors);
        assert_eq!(after, Period { from: d(2026, 3), until: d(2026, 6) });
    }

    #[test]
    fn bad_periods_name_their_field() {
        let mut errors = FieldErrors::default();
        let q = AnalysisQuery {
            before_from: "2026-13".into(),
            after_from: "2026-06".into(),
            after_to: "2026-05".into(),
            ..Default::default()
        };
        periods(&q, d(2026, 12), &mut errors);
        assert!(errors.has("before_from"));
        assert!(errors.has("after_to"));
        let mut errors = FieldErrors::default();
        let q = AnalysisQuery { after_from: "2020-01".into(), after_to: "2026-05".into(), ..Default::default() };
        periods(&q, d(2026, 12), &mut errors);
        assert!(errors.has("after_to"));
    }

    #[test]
    fn what_if_input_checks_each_field() {
        let q = |class: &str, kind: &str, change: &str| AnalysisQuery {
            class: class.into(),
            kind: kind.into(),
            change: change.into(),
            ..Default::default()
        };
        let mut errors = FieldErrors::default();
        assert_eq!(
            what_if_input(&q("commercial", "percent", "5"), &codes(), &codes(), &mut errors),
            Some((Some("commercial".into()), None, PriceChange::Percent(dec!(5))))
        );
        assert_eq!(
            what_if_input(&q("", "absolute", "-0.012"), &codes(), &codes(), &mut errors),
            Some((None, None, PriceChange::Absolute(dec!(-0.012))))
        );
        assert!(errors.is_empty());
        assert_eq!(what_if_input(&q("", "percent", ""), &codes(), &codes(), &mut errors), None);
        assert!(errors.is_empty(), "no change given: no what-if, no error");
        for (query, field) in [
            (q("nope", "percent", "5"), "class"),
            (q("", "percent", "150"), "change"),
            (q("", "percent", "5e1"), "change"),
            (q("", "absolute", "2"), "change"),
            (q("", "percent", "abc"), "change"),
            (q("", "fixed", "1"), "kind"),
        ] {
            let mut errors = FieldErrors::default();
            assert_eq!(what_if_input(&query, &codes(), &codes(), &mut errors), None);
            assert!(errors.has(field), "{query:?}");
        }
    }
}
