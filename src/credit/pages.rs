//! Credit pages: the customer page's section (grade, each factor in words,
//! the change since last time, the payment-method decision and the prompt
//! when the customer's method differs, breaches and thefts, deposits and
//! guarantees, the list status with manual changes), the poor-credit list
//! with its CSV, and rating on demand.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, Utc};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    credit::{
        self, EVENT_KINDS, FactorPoints, SECURITY_KINDS,
        card::{Bin, Input},
        db::{self, ListQuery, ListRow},
    },
    customers::reference::RefItem,
    staff::Permission,
    timeline,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::{CsrfForm, ReasonForm},
        csv_export,
        error::{AppError, FieldErrors},
        i18n::I18n,
        input,
        page::{Page, render},
        paging::{EXPORT_PAGE, append_page},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/credit/poor-list", get(list_page))
        .route("/credit/poor-list.csv", get(list_csv))
        .route("/credit/rate", post(rate_now))
        .route("/credit/calibration", get(calibration_page).post(run_calibration))
        .route("/credit/calibration/{id}/adopt", post(adopt_calibration))
        .route("/credit/settings", post(save_settings))
        .route("/customers/{id}/credit/list", post(add_to_list))
        .route("/customers/{id}/credit/unlist", post(remove_from_list))
        .route("/customers/{id}/credit/events", post(record_event))
        .route("/customers/{id}/credit/securities", post(record_security))
}

// ---------------------------------------------------------------- explaining

/// A factor's input as a clerk reads it: shares and variation as percent,
/// the arrears ratio in months of bills, counts as whole numbers.
fn show_number(factor: &str, x: f64) -> String {
    match factor {
        "on_time_share" | "stability" => format!("{:.0} %", x * 100.0),
        "arrears_ratio" => format!("{x:.2}"),
        _ => format!("{x:.0}"),
    }
}

fn show_input(i: &I18n, factor: &str, input: &Input) -> Option<String> {
    match input {
        Input::Number(x) => Some(show_number(factor, *x)),
        Input::Text(t) if factor == "industry_risk" => Some(i.t(&format!("credit.risk_{t}"))),
        Input::Text(t) => Some(t.clone()),
        Input::Missing => None,
    }
}

/// Factors that count whole things (months, days, fees): their bins read
/// as whole ranges ("0", "1–2", "6 or more") rather than "under 1".
const WHOLE_FACTORS: [&str; 7] =
    ["arrears_months", "max_arrears_days", "late_fees", "reversals", "breaches", "thefts", "tenure_months"];

/// The bin a factor's input fell in, in words ("95 % or more", "1–2").
fn show_bin(i: &I18n, factor: &str, bin: &Bin) -> String {
    let n = |x: f64| show_number(factor, x);
    if let (true, Bin::Range { lower, upper: Some(u), .. }) = (WHOLE_FACTORS.contains(&factor), bin) {
        // Whole inputs: [l, u) holds l … u − 1 (from 0 when unbounded below).
        let first = lower.unwrap_or(0.0).max(0.0).ceil();
        let last = u.ceil() - 1.0;
        if last >= first {
            return if last == first { n(first) } else { format!("{}–{}", n(first), n(last)) };
        }
    }
    match bin {
        Bin::Range { lower: Some(l), upper: Some(u), .. } => {
            i.t_with("credit.band_between", &[("lower", &n(*l)), ("upper", &n(*u))])
        }
        Bin::Range { lower: None, upper: Some(u), .. } => i.t_with("credit.band_under", &[("upper", &n(*u))]),
        Bin::Range { lower: Some(l), upper: None, .. } => i.t_with("credit.band_from", &[("lower", &n(*l))]),
        Bin::Range { lower: None, upper: None, .. } => i.t("credit.band_any"),
        Bin::Categories { values, .. } => values
            .iter()
            .map(|v| if factor == "industry_risk" { i.t(&format!("credit.risk_{v}")) } else { v.clone() })
            .collect::<Vec<_>>()
            .join(" / "),
        Bin::Missing { .. } => i.t("credit.band_missing"),
        Bin::Other { .. } => i.t("credit.band_other"),
    }
}

/// Points with their sign, as read out: "+20", "−30", "0".
pub fn signed(points: f64) -> String {
    let rounded = (points * 100.0).round() / 100.0;
    if rounded > 0.0 {
        format!("+{rounded}")
    } else if rounded < 0.0 {
        format!("−{}", -rounded)
    } else {
        "0".to_owned()
    }
}

/// One factor of a customer's rating, in words.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ExplainedFactor {
    pub factor: String,
    pub label: String,
    /// The sentence a clerk reads out: the customer's figure in words.
    pub says: String,
    /// The band of the card the figure fell in.
    pub band: String,
    pub points: f64,
}

/// Explains a stored rating against the tenant's card: each factor's figure,
/// band and points.
pub fn explain(i: &I18n, card: &credit::card::Scorecard, inputs: &credit::Inputs) -> Vec<ExplainedFactor> {
    card.factors
        .iter()
        .map(|f| {
            let input = inputs.input(&f.factor);
            let awarded = f.award(&input);
            let says = match show_input(i, &f.factor, &input) {
                Some(value) => i.t_with(&format!("credit.says_{}", f.factor), &[("value", &value)]),
                None => i.t(&format!("credit.says_{}_missing", f.factor)),
            };
            ExplainedFactor {
                factor: f.factor.clone(),
                label: i.t(&format!("credit.factor_{}", f.factor)),
                says,
                band: awarded.bin.map(|b| show_bin(i, &f.factor, &f.bins[b])).unwrap_or_default(),
                points: awarded.points,
            }
        })
        .collect()
}

/// A factor whose points moved since the previous rating.
pub struct ShownChange {
    pub label: String,
    pub before: String,
    pub after: String,
}

/// The credit section of the customer page.
pub struct CreditSection {
    pub customer_id: Uuid,
    pub decision: Option<db::Decision>,
    pub factors: Vec<ExplainedFactor>,
    pub changes: Vec<ShownChange>,
    pub previous_month: Option<NaiveDate>,
    /// What the customer has now, and what the counter should say when it
    /// differs from the decision (`stricter` or `looser`).
    pub current_method: String,
    pub prompt: Option<&'static str>,
    pub listed: Option<db::ListEntry>,
    pub events: Vec<db::CreditEvent>,
    pub securities: Vec<db::Security>,
    pub deposit_months: f64,
    pub can_record: bool,
    pub can_manage: bool,
    pub today: NaiveDate,
}

impl CreditSection {
    pub fn event_kinds(&self) -> &'static [&'static str] {
        &EVENT_KINDS
    }
    pub fn security_kinds(&self) -> &'static [&'static str] {
        &SECURITY_KINDS
    }
    pub fn signed(&self, points: &f64) -> String {
        signed(*points)
    }
    /// The rule's reasons are codes; a manual reason is the text typed.
    pub fn list_reason(&self, i: &crate::web::page::Page, entry: &db::ListEntry) -> String {
        if entry.manual_entry {
            entry.entry_reason.clone()
        } else {
            i.t(&format!("credit.list_reason_{}", entry.entry_reason))
        }
    }
}

/// In card order, the points of a stored rating.
fn stored_points(card: &credit::card::Scorecard, stored: &db::StoredRating) -> Vec<FactorPoints> {
    card.factors
        .iter()
        .map(|f| FactorPoints {
            factor: f.factor.clone(),
            bin: None,
            points: stored.points.get(&f.factor).copied().unwrap_or(0.0),
        })
        .collect()
}

/// The customer page's credit, read in its statement: the latest two
/// ratings (what changed between them).
pub fn page_query(tenant: &str) -> String {
    db::customer_credit_query("2", tenant)
}

/// The section of the customer page, from [`page_query`]'s column.
pub fn section(user: &CurrentUser, customer_id: Uuid, column: serde_json::Value) -> anyhow::Result<CreditSection> {
    let db::CustomerCredit { settings, decision, history, current_method, listed, events, securities, .. } =
        db::customer_credit_from(column, customer_id)?;
    let i = I18n(user.locale);
    let factors = history.first().map(|r| explain(&i, &settings.card, &r.inputs)).unwrap_or_default();
    let changes = match (history.first(), history.get(1)) {
        (Some(now), Some(before)) => {
            credit::changes(&stored_points(&settings.card, before), &stored_points(&settings.card, now))
                .into_iter()
                .map(|(factor, b, a)| ShownChange {
                    label: i.t(&format!("credit.factor_{factor}")),
                    before: signed(b),
                    after: signed(a),
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let prompt = decision.as_ref().and_then(|d| credit::method_prompt(&current_method, &d.method));
    Ok(CreditSection {
        customer_id,
        previous_month: history.get(1).map(|r| r.month),
        decision,
        factors,
        changes,
        current_method,
        prompt,
        listed,
        events,
        securities,
        deposit_months: settings.deposit_months,
        can_record: user.require(Permission::RecordCredit).is_ok(),
        can_manage: user.require(Permission::ManageCredit).is_ok(),
        // The tenant's day from the caller's time zone (the tenant's): no round trip.
        today: chrono::Utc::now().with_timezone(&user.tz).date_naive(),
    })
}

// ---------------------------------------------------------------- forms on the customer page

fn back_to_customer(id: Uuid) -> Response {
    Redirect::to(&format!("/customers/{id}?saved=true#credit")).into_response()
}

/// Records the change in the audit log and on the customer's timeline.
async fn record_change(
    conn: &mut PgConnection,
    user: &CurrentUser,
    customer_id: Uuid,
    title: &str,
    after: serde_json::Value,
) -> Result<(), AppError> {
    let change = Change {
        action: "update",
        entity: "customer",
        entity_id: Some(customer_id),
        summary: title.to_owned(),
        before: None,
        after: Some(after),
    };
    audit::record(conn, &Actor::from(user), change).await?;
    let entry = timeline::Entry {
        kind: "credit",
        notice: None,
        title,
        status: "",
        link: &format!("/customers/{customer_id}#credit"),
    };
    timeline::record(conn, customer_id, Utc::now(), entry).await?;
    Ok(())
}

async fn record_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<credit::EventForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordCredit)?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let (kind, day, evidence) = credit::check_event(&form, crate::tenants::today(&mut tx).await?)?;
    let event_id = db::record_event(&mut tx, id, kind, day, &evidence, &user.label).await?;
    let i = I18n(user.locale);
    let title = format!("{} · {day}", i.t(&format!("credit.event_{kind}")));
    record_change(
        &mut tx,
        &user,
        id,
        &title,
        json!({ "credit_event": event_id, "kind": kind, "occurred_on": day, "evidence": evidence }),
    )
    .await?;
    tx.commit().await?;
    Ok(back_to_customer(id))
}

async fn record_security(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<credit::SecurityForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordCredit)?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let s = credit::check_security(&form, crate::tenants::today(&mut tx).await?)?;
    let security_id =
        db::record_security(&mut tx, id, s.kind, s.amount, &s.reference, s.received_on, &user.label).await?;
    let i = I18n(user.locale);
    let title = format!("{} · {}", i.t(&format!("credit.security_{}", s.kind)), i.money(s.amount));
    record_change(
        &mut tx,
        &user,
        id,
        &title,
        json!({ "credit_security": security_id, "kind": s.kind, "amount": s.amount, "reference": s.reference }),
    )
    .await?;
    tx.commit().await?;
    Ok(back_to_customer(id))
}

async fn add_to_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReasonForm>,
) -> Result<Response, AppError> {
    change_list(&state, &user, id, &form.reason, true).await
}

async fn remove_from_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReasonForm>,
) -> Result<Response, AppError> {
    change_list(&state, &user, id, &form.reason, false).await
}

/// Puts a customer on the poor-credit list by hand (`enter`) or takes them
/// off (then the rule leaves them alone for the tenant's override months),
/// with a reason, audited and on the timeline.
async fn change_list(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    raw_reason: &str,
    enter: bool,
) -> Result<Response, AppError> {
    user.require(Permission::ManageCredit)?;
    let reason = credit::check_reason(raw_reason)?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let (done, title_key, after) = if enter {
        let done = db::list_add(&mut tx, id, &reason, &user.label).await?;
        (done, "credit.listed", json!({ "poor_credit_list": "entered", "reason": reason }))
    } else {
        let months = db::settings(&mut tx).await?.list_override_months;
        let done = db::list_remove(&mut tx, id, &reason, &user.label, months).await?;
        (done, "credit.delisted", json!({ "poor_credit_list": "left", "reason": reason, "override_months": months }))
    };
    if !done {
        return Err(AppError::Conflict(if enter { "credit_already_listed" } else { "credit_not_listed" }));
    }
    let title = format!("{} · {reason}", I18n(user.locale).t(title_key));
    record_change(&mut tx, user, id, &title, after).await?;
    tx.commit().await?;
    Ok(back_to_customer(id))
}

/// Asks the workers to rate every customer of the tenant now (a job: at a
/// million customers it takes a minute, longer than a page should wait).
async fn rate_now(
    State(state): State<AppState>,
    user: CurrentUser,
    _: CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageCredit)?;
    let mut tx = user.tx(&state.db).await?;
    crate::jobs::db::enqueue_for_tenant(&mut tx, crate::jobs::Kind::CreditRating, None, &json!({}), 3).await?;
    let change = Change {
        action: "recompute",
        entity: "credit_rating",
        entity_id: None,
        summary: String::new(),
        before: None,
        after: None,
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/credit/poor-list?rating=queued").into_response())
}

// ---------------------------------------------------------------- the poor-credit list

/// The list's query string as typed.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    /// `open` (default: who is on the list now) or `all` (every stay).
    #[serde(default)]
    #[param(schema_with = status_schema)]
    pub status: String,
    /// Entered on or after this day (YYYY-MM-DD), not after today.
    #[serde(default)]
    #[param(schema_with = crate::api::optional_date)]
    pub from: String,
    /// `rule` or `manual`.
    #[serde(default)]
    #[param(schema_with = by_schema)]
    pub by: String,
    /// `theft` or `grade_c` (the rule's reasons).
    #[serde(default)]
    #[param(schema_with = reason_schema)]
    pub reason: String,
    /// An industry code.
    #[serde(default)]
    pub industry: String,
    /// The cursor of the next page.
    #[serde(default)]
    pub after: String,
    /// Rows per page over the API, 1–200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Set after rating was asked for.
    #[serde(default)]
    #[param(ignore)]
    pub rating: String,
}

fn status_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&["open", "all"])
}

fn by_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&["rule", "manual"])
}

fn reason_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&credit::LIST_REASONS)
}

impl ListFilter {
    pub fn check(&self, today: NaiveDate) -> Result<ListQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let include_past = match self.status.trim() {
            "" | "open" => false,
            "all" => true,
            _ => {
                errors.add("status", "unknown_code");
                false
            }
        };
        let entered_from = match self.from.trim() {
            "" => None,
            raw => input::date_field(raw, today).map_err(|code| errors.add("from", code)).ok(),
        };
        let manual = match self.by.trim() {
            "" => None,
            "rule" => Some(false),
            "manual" => Some(true),
            _ => {
                errors.add("by", "unknown_code");
                None
            }
        };
        let reason = match self.reason.trim() {
            "" => None,
            r if credit::LIST_REASONS.contains(&r) => Some(r.to_owned()),
            _ => {
                errors.add("reason", "unknown_code");
                None
            }
        };
        let industry = Some(self.industry.trim().to_owned()).filter(|s| !s.is_empty());
        let after = match self.after.trim() {
            "" => None,
            raw => parse_cursor(raw).or_else(|| {
                errors.add("after", "malformed");
                None
            }),
        };
        errors.finish(ListQuery { include_past, entered_from, manual, reason, industry, after })
    }

    /// The query string of this filter with another cursor.
    pub fn with_after(&self, after: &str) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.as_str()),
            ("from", self.from.as_str()),
            ("by", self.by.as_str()),
            ("reason", self.reason.as_str()),
            ("industry", self.industry.as_str()),
            ("after", after),
        ])
        .unwrap_or_default()
    }
}

pub fn cursor(row: &ListRow) -> String {
    format!("{}_{}", row.entered_on, row.id)
}

fn parse_cursor(raw: &str) -> Option<(NaiveDate, Uuid)> {
    let (day, id) = raw.split_once('_')?;
    Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?, Uuid::parse_str(id).ok()?))
}

#[derive(askama::Template)]
#[template(path = "credit/list.html")]
pub struct ListPage {
    pub p: Page,
    pub f: ListFilter,
    pub rows: Vec<ListRow>,
    pub next: Option<String>,
    pub industries: Vec<RefItem>,
    pub can_manage: bool,
    pub queued: bool,
}

impl ListPage {
    pub fn reason(&self, r: &ListRow) -> String {
        if r.manual_entry {
            r.entry_reason.clone()
        } else {
            self.p.t(&format!("credit.list_reason_{}", r.entry_reason))
        }
    }
    pub fn industry(&self, code: &str) -> String {
        crate::customers::pages::Refs::name(&self.industries, code, self.p.lang()).to_owned()
    }
    pub fn csv_link(&self) -> String {
        self.f.with_after("")
    }
}

const PAGE_SIZE: i64 = 50;

async fn list_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ListFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let q = f.check(crate::tenants::today(&mut tx).await?)?;
    let mut rows = db::list(&mut tx, &q, PAGE_SIZE + 1).await?;
    let next = crate::web::paging::next_cursor(&mut rows, PAGE_SIZE, cursor);
    let industries = crate::customers::reference::load(&mut tx, crate::customers::reference::RefList::Industry).await?;
    tx.commit().await?;
    let page = ListPage {
        p: Page::for_user(&user, "credit.list_title"),
        queued: f.rating == "queued",
        f,
        rows,
        next,
        industries,
        can_manage: user.require(Permission::ManageCredit).is_ok(),
    };
    Ok(render(&page)?.into_response())
}

/// The whole filtered list as CSV in the user's language.
async fn list_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<ListFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let mut q = f.check(today)?;
    let mut rows = Vec::new();
    loop {
        let page = db::list(&mut tx, &q, EXPORT_PAGE + 1).await?;
        match append_page(&mut rows, page, |r| (r.entered_on, r.id)) {
            Some(after) => q.after = Some(after),
            None => break,
        }
    }
    let industries = crate::customers::reference::load(&mut tx, crate::customers::reference::RefList::Industry).await?;
    tx.commit().await?;
    let i = I18n(user.locale);
    let lang = if user.locale.code() == "en" { "en" } else { "zh" };
    let header: Vec<String> = [
        "customers.account_no",
        "customers.name",
        "customers.industry",
        "credit.grade",
        "credit.score",
        "credit.entered_on",
        "credit.entry_reason",
        "credit.entered_by",
        "credit.exited_on",
        "credit.exit_reason",
    ]
    .iter()
    .map(|k| i.t(k))
    .collect();
    let lines = rows.iter().map(|r| {
        vec![
            r.account_no.clone(),
            r.name.clone(),
            crate::customers::pages::Refs::name(&industries, &r.industry_code, lang).to_owned(),
            r.grade.clone().unwrap_or_default(),
            r.score.map(|s| s.to_string()).unwrap_or_default(),
            r.entered_on.to_string(),
            if r.manual_entry {
                r.entry_reason.clone()
            } else {
                i.t(&format!("credit.list_reason_{}", r.entry_reason))
            },
            if r.manual_entry { r.entered_by.clone() } else { i.t("credit.by_rule") },
            r.exited_on.map(|d| d.to_string()).unwrap_or_default(),
            match (&r.exit_reason, &r.exited_by) {
                (Some(reason), Some(by)) if by == "rule" && reason == "rule" => i.t("credit.by_rule"),
                (Some(reason), _) => reason.clone(),
                _ => String::new(),
            },
        ]
    });
    let body = csv_export::to_csv(&header, lines)?;
    Ok(csv_export::download(&format!("poor_credit_{today}.csv"), body))
}

// ---------------------------------------------------------------- calibration

#[derive(askama::Template)]
#[template(path = "credit/calibration.html")]
pub struct CalibrationPage {
    pub p: Page,
    pub calibration: Option<db::Calibration>,
    pub report: Option<crate::credit::service::CalibrationReport>,
    /// Why the last run could not fit a card, in the words of the error.
    pub failed: Option<String>,
    pub default_card: bool,
    pub adopted_at: Option<chrono::DateTime<Utc>>,
    pub adopted_by: Option<String>,
    pub bands: credit::Bands,
    pub can_adopt: bool,
    /// The settings form: as typed after a refusal, else as stored.
    pub form: credit::SettingsForm,
    pub errors: FieldErrors,
    /// Every industry with the class the form shows.
    pub industries: Vec<RefItem>,
    pub saved: bool,
}

impl CalibrationPage {
    pub fn f3(&self, x: &f64) -> String {
        format!("{x:.3}")
    }
    /// Why the fit left a factor out, in the page's language.
    pub fn why(&self, d: &crate::credit::calibrate::Dropped) -> String {
        use crate::credit::calibrate::DropReason;
        match d.reason {
            DropReason::LowInformation { information_value, minimum } => self
                .p
                .t("credit.dropped_low_information")
                .replace("%{value}", &format!("{information_value:.3}"))
                .replace("%{minimum}", &minimum.to_string()),
            DropReason::WrongSign { coefficient } => {
                self.p.t("credit.dropped_wrong_sign").replace("%{value}", &format!("{coefficient:+.3}"))
            }
        }
    }
    pub fn risk_of(&self, code: &str) -> &str {
        self.form.risk.get(&format!("risk_{code}")).map(String::as_str).unwrap_or("medium")
    }
    pub fn risk_classes(&self) -> &'static [&'static str] {
        &credit::RISK_CLASSES
    }
    pub fn share(&self, n: &usize, of: &usize) -> String {
        if *of == 0 { "—".into() } else { format!("{:.1} %", 100.0 * *n as f64 / *of as f64) }
    }
}

async fn calibration_view(
    conn: &mut PgConnection,
    user: &CurrentUser,
    failed: Option<String>,
    typed: Option<(credit::SettingsForm, FieldErrors)>,
) -> Result<CalibrationPage, AppError> {
    let calibration = db::latest_calibration(conn).await?;
    let settings = db::settings(conn).await?;
    let report = calibration.as_ref().and_then(|c| serde_json::from_value(c.report.clone()).ok());
    let industries = crate::customers::reference::load(conn, crate::customers::reference::RefList::Industry).await?;
    let own = db::own_industry_risk(conn).await?;
    let (form, errors) = typed.unwrap_or_else(|| {
        let b = settings.bands;
        let form = credit::SettingsForm {
            aaa_min: b.aaa_min.to_string(),
            aa_min: b.aa_min.to_string(),
            a_min: b.a_min.to_string(),
            b_min: b.b_min.to_string(),
            deposit_months: settings.deposit_months.to_string(),
            list_override_months: settings.list_override_months.to_string(),
            risk: industries
                .iter()
                .map(|i| (format!("risk_{}", i.code), credit::industry_risk(&i.code, &own).to_owned()))
                .collect(),
        };
        (form, FieldErrors::default())
    });
    Ok(CalibrationPage {
        p: Page::for_user(user, "credit.calibration_title"),
        calibration,
        report,
        failed,
        default_card: settings.default_card,
        adopted_at: settings.adopted_at,
        adopted_by: settings.adopted_by,
        bands: settings.bands,
        can_adopt: user.require(Permission::AdoptScorecard).is_ok(),
        form,
        errors,
        industries,
        saved: false,
    })
}

/// Saves the bands, the deposit rule and the industry classes (audited,
/// before and after) and rates everyone again with them.
async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<credit::SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::AdoptScorecard)?;
    let mut tx = user.tx(&state.db).await?;
    let industries = crate::customers::reference::load(&mut tx, crate::customers::reference::RefList::Industry).await?;
    let codes: Vec<String> = industries.iter().map(|i| i.code.clone()).collect();
    let checked = match credit::check_settings(&form, &codes) {
        Ok(c) => c,
        Err(errors) => {
            let page = calibration_view(&mut tx, &user, None, Some((form, errors))).await?;
            tx.commit().await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let before = db::settings(&mut tx).await?;
    let own_before = db::own_industry_risk(&mut tx).await?;
    db::save_settings(&mut tx, &checked).await?;
    let change = Change {
        action: "update",
        entity: "credit_settings",
        entity_id: None,
        summary: String::new(),
        before: Some(json!({ "bands": before.bands, "deposit_months": before.deposit_months,
            "list_override_months": before.list_override_months, "industry_risk": own_before })),
        after: Some(json!(checked)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    crate::jobs::db::enqueue_for_tenant(&mut tx, crate::jobs::Kind::CreditRating, None, &json!({}), 3).await?;
    tx.commit().await?;
    Ok(Redirect::to("/credit/calibration?saved=true").into_response())
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn calibration_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageCredit)?;
    let mut tx = user.tx(&state.db).await?;
    let mut page = calibration_view(&mut tx, &user, None, None).await?;
    page.saved = q.saved;
    tx.commit().await?;
    Ok(render(&page)?.into_response())
}

/// Fits a candidate from the tenant's history and stores it with its
/// report; changes nothing else (a tenant admin adopts it, or not).
async fn run_calibration(
    State(state): State<AppState>,
    user: CurrentUser,
    _: CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageCredit)?;
    let mut tx = user.tx(&state.db).await?;
    let options = crate::credit::calibrate::Options::default();
    match crate::credit::service::calibrate(&mut tx, &options).await {
        Ok((report, card)) => {
            let report = serde_json::to_value(&report).map_err(anyhow::Error::from)?;
            db::save_calibration(&mut tx, &report, &card, &user.label).await?;
            tx.commit().await?;
            Ok(Redirect::to("/credit/calibration").into_response())
        }
        Err(crate::credit::service::CalibrationError::Database(e)) => Err(e.into()),
        Err(e) => {
            // Not enough history, or no card could be fitted: say why on the page.
            tx.rollback().await?;
            let mut tx = user.tx(&state.db).await?;
            let page = calibration_view(&mut tx, &user, Some(e.to_string()), None).await?;
            tx.commit().await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

/// Makes the candidate the tenant's card (audited) and rates everyone with it.
async fn adopt_calibration(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::AdoptScorecard)?;
    let mut tx = user.tx(&state.db).await?;
    let before = db::settings(&mut tx).await?;
    if !db::adopt(&mut tx, id, &user.label).await? {
        return Err(AppError::Conflict("credit_calibration_adopted"));
    }
    let change = Change {
        action: "update",
        entity: "credit_rating",
        entity_id: Some(id),
        summary: "scorecard adopted".to_owned(),
        before: Some(json!({ "default_card": before.default_card, "scorecard": before.card })),
        after: Some(json!({ "calibration": id })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    crate::jobs::db::enqueue_for_tenant(&mut tx, crate::jobs::Kind::CreditRating, None, &json!({}), 3).await?;
    tx.commit().await?;
    Ok(Redirect::to("/credit/calibration").into_response())
}

/// Scores as the page shows them.
pub fn score_text(score: &Decimal) -> String {
    score.to_f64().map(|s| format!("{s:.0}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Locale;

    /// Every factor of the default card explains itself in both languages,
    /// with and without its figure, and the bands read as words.
    #[test]
    fn every_factor_reads_out_in_both_languages() {
        let card = credit::default_card();
        let empty = credit::Inputs { industry_risk: "high".into(), ..Default::default() };
        let full = credit::Inputs {
            on_time_share: Some(0.96),
            arrears_ratio: Some(1.5),
            stability: Some(0.3),
            industry_risk: "low".into(),
            ..empty.clone()
        };
        for locale in Locale::ALL {
            let i = I18n(locale);
            for inputs in [&empty, &full] {
                for f in explain(&i, &card, inputs) {
                    for text in [&f.label, &f.says, &f.band] {
                        assert!(
                            !text.is_empty() && !text.contains("credit.") && !text.contains("%{"),
                            "{text:?} in {}",
                            locale.code()
                        );
                    }
                }
            }
        }
        let en = explain(&I18n(Locale::En), &card, &full);
        assert_eq!(en[0].says, "96 % of the amount paid was paid by the due date.");
        assert_eq!((en[0].band.as_str(), en[0].points), ("95 % or more", 20.0));
        assert_eq!(en[2].band, "1.00 to under 3.00");
        assert_eq!(en[1].band, "0", "whole counts read as whole ranges");
        assert_eq!(en[3].band, "0–29");
        let late = explain(&I18n(Locale::En), &card, &credit::Inputs { max_arrears_days: 200, ..full.clone() });
        assert_eq!(late[3].band, "180 or more");
        assert_eq!(en[10].band, "low");
        assert_eq!((signed(20.0), signed(-30.0), signed(0.0)), ("+20".to_owned(), "−30".to_owned(), "0".to_owned()));
    }
}
