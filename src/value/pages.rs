//! Value-tier pages: the VIP list with its CSV, the weights page (preview,
//! then save and recompute), manual VIP designations, and the section of the
//! customer page.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    customers::reference::RefItem,
    staff::{Permission, db as staff_db},
    timeline,
    value::{
        self, MOVEMENTS, SettingsForm, TIERS,
        db::{self, SortKey, VipQuery, VipRow},
    },
    web::{
        AppState,
        auth::CurrentUser,
        csrf::{CsrfForm, ReasonForm},
        csv_export,
        error::{AppError, FieldErrors},
        i18n::I18n,
        page::{Page, render},
        paging::{EXPORT_PAGE, append_page},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/vip", get(vip_list))
        .route("/accounts/vip.csv", get(vip_csv))
        .route("/accounts/value-settings", get(settings_page).post(save_settings))
        .route("/accounts/value-settings/preview", post(preview_settings))
        .route("/customers/{id}/value/vip", post(set_vip))
        .route("/customers/{id}/value/vip/remove", post(remove_vip))
}

// ---------------------------------------------------------------- VIP list

/// The VIP list's query string as typed.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VipFilter {
    /// vip (default), high, medium, low, negative or all.
    #[serde(default)]
    #[param(schema_with = tier_schema)]
    pub tier: String,
    /// An industry code.
    #[serde(default)]
    pub industry: String,
    /// A reading route's code.
    #[serde(default)]
    pub route: String,
    /// An account manager's user id.
    #[serde(default)]
    #[param(schema_with = id_or_empty_schema)]
    pub manager: String,
    /// A segment id.
    #[serde(default)]
    #[param(schema_with = id_or_empty_schema)]
    pub segment: String,
    /// up, down, new, or any (default).
    #[serde(default)]
    #[param(schema_with = movement_schema)]
    pub movement: String,
    /// A credit grade: AAA, AA, A, B or C.
    #[serde(default)]
    #[param(schema_with = grade_schema)]
    pub grade: String,
    /// name, account, industry, energy_12m (default), revenue_12m, arrears, tier or score.
    #[serde(default)]
    #[param(schema_with = sort_schema)]
    pub sort: String,
    /// asc or desc (default: desc for figures and tier, asc for text).
    #[serde(default)]
    #[param(schema_with = dir_schema)]
    pub dir: String,
    /// The `next` cursor of the previous page (opaque; valid only with the same sort).
    #[serde(default)]
    pub after: String,
    /// Rows per page, 1–200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A hyphenated UUID, or empty (the page's "all" choice).
fn id_or_empty_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let kind = SchemaType::from_iter([Type::String, Type::Null]);
    let pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$";
    utoipa::openapi::schema::Schema::Object(ObjectBuilder::new().schema_type(kind).pattern(Some(pattern)).build())
}

fn tier_schema() -> utoipa::openapi::schema::Schema {
    let mut codes = TIERS.to_vec();
    codes.push("all");
    crate::api::optional_codes(&codes)
}

fn movement_schema() -> utoipa::openapi::schema::Schema {
    let mut codes = MOVEMENTS.to_vec();
    codes.push("any");
    crate::api::optional_codes(&codes)
}

fn grade_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&crate::credit::GRADES)
}

fn sort_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&SortKey::ALL.map(|(c, _)| c))
}

fn dir_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&["asc", "desc"])
}

impl VipFilter {
    /// The checked query, or the fields that are wrong.
    pub fn check(&self) -> Result<VipQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let tier = match self.tier.trim() {
            "" => Some("vip".to_owned()),
            "all" => None,
            t if TIERS.contains(&t) => Some(t.to_owned()),
            _ => {
                errors.add("tier", "unknown_code");
                None
            }
        };
        let uuid = |field: &'static str, raw: &str, errors: &mut FieldErrors| match raw {
            "" => None,
            // Only the hyphenated form, as the document says.
            s => Uuid::parse_str(s).ok().filter(|_| s.len() == 36).or_else(|| {
                errors.add(field, "malformed");
                None
            }),
        };
        let manager = uuid("manager", &self.manager, &mut errors);
        let segment = uuid("segment", &self.segment, &mut errors);
        let movement = match self.movement.trim() {
            "" | "any" => None,
            m if MOVEMENTS.contains(&m) => Some(m.to_owned()),
            _ => {
                errors.add("movement", "unknown_code");
                None
            }
        };
        let grade = match self.grade.trim() {
            "" => None,
            g if crate::credit::GRADES.contains(&g) => Some(g.to_owned()),
            _ => {
                errors.add("grade", "unknown_code");
                None
            }
        };
        let sort = match self.sort.trim() {
            "" => None,
            s => SortKey::parse(s).or_else(|| {
                errors.add("sort", "unknown_code");
                None
            }),
        };
        let text_sort = matches!(sort, Some(SortKey::Name | SortKey::Account | SortKey::Industry));
        let descending = match self.dir.trim() {
            "" => !text_sort,
            "asc" => false,
            "desc" => true,
            _ => {
                errors.add("dir", "unknown_code");
                false
            }
        };
        // A cursor's key must fit the sort column's type, or the query could not compare with it.
        let after = match self.after.trim() {
            "" => None,
            raw => db::parse_cursor(raw).filter(|(key, _)| sort.unwrap_or(SortKey::Energy).fits(key)).or_else(|| {
                errors.add("after", "malformed");
                None
            }),
        };
        errors.finish(VipQuery {
            tier,
            industry: some(&self.industry),
            route: some(&self.route),
            manager,
            segment,
            movement,
            grade,
            sort,
            descending,
            after,
        })
    }

    /// This filter as a query string, without the cursor (for links and the CSV).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("tier", &self.tier),
            ("industry", &self.industry),
            ("route", &self.route),
            ("manager", &self.manager),
            ("segment", &self.segment),
            ("movement", &self.movement),
            ("grade", &self.grade),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ])
        .unwrap_or_default()
    }

    /// The same filter sorted by `column`: flips the direction when already sorted by it.
    pub fn sorted_by(&self, column: &str, descending_now: bool) -> String {
        let current = if self.sort.is_empty() { "energy_12m" } else { self.sort.as_str() };
        let dir = if current == column { if descending_now { "asc" } else { "desc" } } else { "" };
        let f = VipFilter { sort: column.to_owned(), dir: dir.to_owned(), after: String::new(), ..self.clone() };
        f.query()
    }
}

#[derive(askama::Template)]
#[template(path = "value/vip.html")]
struct VipPage {
    p: Page,
    f: VipFilter,
    q: VipQuery,
    rows: Vec<VipRow>,
    next: Option<String>,
    industries: Vec<RefItem>,
    routes: Vec<(String, String)>,
    managers: Vec<(Uuid, String)>,
    segments: Vec<(Uuid, String)>,
    tiers: [&'static str; 5],
    movements: [&'static str; 3],
    columns: [&'static str; 8],
}

impl VipPage {
    fn sort_code(&self) -> &'static str {
        self.q.sort.unwrap_or(SortKey::Energy).code()
    }
    fn sort_link(&self, column: &str) -> String {
        self.f.sorted_by(column, self.q.descending)
    }
}

async fn vip_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<VipFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut errors = FieldErrors::default();
    let limit = crate::web::paging::page_size(f.limit, &mut errors);
    errors.finish(())?;
    let q = f.check()?;
    // (Without parallel workers: see db::vip_page.)
    let mut tx = user.tx_with(&state.db, crate::db::NO_PARALLEL_WORKERS).await?;
    let mut rows = db::vip_page(&mut tx, &q, limit + 1).await?;
    let next = crate::web::paging::next_cursor(&mut rows, limit, VipRow::cursor);
    // The filters' choices: the industries and routes from the tenant's cached lists.
    let cached = crate::customers::reference::cached(&mut tx, user.tenant_id).await?;
    let industries = cached.list(crate::customers::reference::RefList::Industry).to_vec();
    let routes = cached.routes.iter().map(|(code, name, _)| (code.clone(), name.clone())).collect();
    let managers = staff_db::list_account_managers(&mut tx).await?;
    let segments = db::segments(&mut tx).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "value.vip_title");
    let columns = SortKey::ALL.map(|(c, _)| c);
    let page = VipPage {
        p,
        f,
        q,
        rows,
        next,
        industries,
        routes,
        managers,
        segments,
        tiers: TIERS,
        movements: MOVEMENTS,
        columns,
    };
    Ok(render(&page)?.into_response())
}

/// The whole filtered list (every page) as CSV in the user's language.
async fn vip_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<VipFilter>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut q = f.check()?;
    let mut tx = user.tx(&state.db).await?;
    // Keyset pages, so a large list never sorts all at once in memory twice.
    let mut rows = Vec::new();
    loop {
        let page = db::vip_page(&mut tx, &q, EXPORT_PAGE + 1).await?;
        match append_page(&mut rows, page, |r| db::parse_cursor(&r.cursor())) {
            Some(after @ Some(_)) => q.after = after,
            _ => break,
        }
    }
    tx.commit().await?;
    let i = I18n(user.locale);
    let lang = user.locale.code();
    let header: Vec<String> = [
        "customers.account_no",
        "customers.name",
        "customers.industry",
        "customers.manager",
        "value.energy_12m",
        "value.revenue_12m",
        "value.arrears",
        "value.tier",
        "value.movement",
        "value.score",
        "credit.grade",
        "value.open_complaints",
        "value.open_orders",
        "value.last_visit",
        "value.next_visit",
    ]
    .iter()
    .map(|k| i.t(k))
    .collect();
    let lines = rows.iter().map(|r| {
        vec![
            r.account_no.clone(),
            r.name.clone(),
            r.industry_name(if lang == "en" { "en" } else { "zh" }).to_owned(),
            r.manager.clone().unwrap_or_default(),
            r.energy_12m.to_string(),
            r.revenue_12m.to_string(),
            r.arrears.to_string(),
            i.t(&format!("value.tier_{}", r.tier)),
            r.movement().map(|m| i.t(&format!("value.movement_{m}"))).unwrap_or_default(),
            r.score.to_string(),
            r.credit_grade.clone().unwrap_or_default(),
            r.open_complaints.to_string(),
            r.open_orders.to_string(),
            r.last_visit.map(|d| d.to_string()).unwrap_or_default(),
            r.next_visit.map(|d| d.to_string()).unwrap_or_default(),
        ]
    });
    let body = csv_export::to_csv(&header, lines)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    Ok(csv_export::download(&format!("vip_{today}.csv"), body))
}

// ---------------------------------------------------------------- weights

#[derive(askama::Template)]
#[template(path = "value/settings.html")]
struct SettingsPage {
    p: Page,
    form: SettingsForm,
    errors: FieldErrors,
    /// After Preview: (from, to, customers) of every move, and their total.
    preview: Option<(Vec<db::TierMove>, i64)>,
    saved: Option<db::RecomputeReport>,
    fields: [(&'static str, &'static str); 9],
}

const SETTINGS_FIELDS: [(&str, &str); 9] = [
    ("weight_consumption", "value.factor_consumption"),
    ("weight_revenue", "value.factor_revenue"),
    ("weight_payment", "value.factor_payment"),
    ("weight_importance", "value.factor_importance"),
    ("weight_growth", "value.factor_growth"),
    ("vip_min", "value.vip_min"),
    ("high_min", "value.high_min"),
    ("medium_min", "value.medium_min"),
    ("negative_arrears_days", "value.negative_arrears_days"),
];

impl SettingsPage {
    fn value(&self, field: &str) -> &str {
        let f = &self.form;
        match field {
            "weight_consumption" => &f.weight_consumption,
            "weight_revenue" => &f.weight_revenue,
            "weight_payment" => &f.weight_payment,
            "weight_importance" => &f.weight_importance,
            "weight_growth" => &f.weight_growth,
            "vip_min" => &f.vip_min,
            "high_min" => &f.high_min,
            "medium_min" => &f.medium_min,
            _ => &f.negative_arrears_days,
        }
    }
}

fn settings_view(
    user: &CurrentUser,
    form: SettingsForm,
    errors: FieldErrors,
    preview: Option<Vec<db::TierMove>>,
    saved: Option<db::RecomputeReport>,
) -> SettingsPage {
    let preview = preview.map(|moves| {
        let total = moves.iter().map(|m| m.2).sum();
        (moves, total)
    });
    SettingsPage {
        p: Page::for_user(user, "value.settings_title"),
        form,
        errors,
        preview,
        saved,
        fields: SETTINGS_FIELDS,
    }
}

#[derive(Deserialize, Default)]
struct SettingsQuery {
    #[serde(default)]
    saved: bool,
}

async fn settings_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SettingsQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageValueTiers)?;
    let mut tx = user.tx(&state.db).await?;
    let current = db::settings(&mut tx).await?;
    tx.commit().await?;
    let mut page = settings_view(&user, SettingsForm::from(&current), FieldErrors::default(), None, None);
    if q.saved {
        page.saved = Some(db::RecomputeReport::default());
    }
    Ok(render(&page)?.into_response())
}

/// Shows how many customers would change tier under the typed settings; saves nothing.
async fn preview_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageValueTiers)?;
    let proposed = match value::validate(&form) {
        Ok(s) => s,
        Err(errors) => {
            let page = settings_view(&user, form, errors, None, None);
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let moves = db::preview(&mut tx, &proposed).await?;
    tx.commit().await?;
    Ok(render(&settings_view(&user, form, FieldErrors::default(), Some(moves), None))?.into_response())
}

/// Saves the settings (audited, before and after) and recomputes every tier at once.
async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageValueTiers)?;
    let proposed = match value::validate(&form) {
        Ok(s) => s,
        Err(errors) => {
            let page = settings_view(&user, form, errors, None, None);
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let before = db::settings(&mut tx).await?;
    db::save_settings(&mut tx, &proposed, &user.label).await?;
    let change = Change {
        action: "update",
        entity: "value_settings",
        entity_id: None,
        summary: String::new(),
        before: Some(json!(before)),
        after: Some(json!(proposed)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    let report = db::recompute_in(&mut tx).await?;
    tx.commit().await?;
    let form = SettingsForm::from(&proposed);
    Ok(render(&settings_view(&user, form, FieldErrors::default(), None, Some(report)))?.into_response())
}

// ---------------------------------------------------------------- manual VIP

async fn set_vip(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReasonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageValueTiers)?;
    let reason = form.reason.trim();
    let mut errors = FieldErrors::default();
    if reason.is_empty() {
        errors.add("reason", "value_reason_required");
    } else if reason.chars().count() > 500 {
        errors.add("reason", "too_long");
    }
    errors.finish(())?;
    let mut tx = user.tx(&state.db).await?;
    let customer = crate::customers::db::get(&mut tx, id).await?;
    let before = db::get(&mut tx, id).await?;
    if !db::set_manual_vip(&mut tx, id, reason, &user.label).await? {
        return Err(AppError::Conflict("value_not_computed"));
    }
    let change = Change {
        action: "update",
        entity: "customer",
        entity_id: Some(id),
        summary: format!("VIP: {reason}"),
        before: before.as_ref().map(|v| json!({ "tier": v.tier, "manual_vip": v.manual_vip })),
        after: Some(json!({ "tier": "vip", "manual_vip": true, "manual_reason": reason })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    let entry = timeline::Entry {
        kind: "value",
        notice: None,
        title: &format!("VIP · {reason}"),
        status: "",
        link: &format!("/customers/{}#value", customer.id),
    };
    timeline::record(&mut tx, id, Utc::now(), entry).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#value")).into_response())
}

async fn remove_vip(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageValueTiers)?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let before = db::get(&mut tx, id).await?;
    if db::clear_manual_vip(&mut tx, id).await? {
        let after = db::get(&mut tx, id).await?;
        let change = Change {
            action: "update",
            entity: "customer",
            entity_id: Some(id),
            summary: "VIP designation removed".to_owned(),
            before: before
                .as_ref()
                .map(|v| json!({ "tier": v.tier, "manual_vip": true, "manual_reason": v.manual_reason })),
            after: after.as_ref().map(|v| json!({ "tier": v.tier, "manual_vip": false })),
        };
        audit::record(&mut tx, &Actor::from(&user), change).await?;
        let tier = after.map(|v| v.tier).unwrap_or_default();
        let entry = timeline::Entry {
            kind: "value",
            notice: None,
            title: &format!("VIP − · {tier}"),
            status: "",
            link: &format!("/customers/{id}#value"),
        };
        timeline::record(&mut tx, id, Utc::now(), entry).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#value")).into_response())
}

// ---------------------------------------------------------------- customer page

/// One explained factor, ready to show.
pub struct ShownFactor {
    pub factor: &'static str,
    pub text: String,
    pub points: Decimal,
    pub weight: i16,
    pub contribution: Decimal,
}

/// The value section of the customer page.
pub struct ValueSection {
    pub customer_id: Uuid,
    /// None: not valued yet (the tiers are recomputed after the metrics refresh).
    pub value: Option<db::CustomerValue>,
    pub factors: Vec<ShownFactor>,
    pub negative_reason: Option<&'static str>,
    pub can_manage: bool,
}

impl ValueSection {
    pub fn movement(&self) -> Option<&'static str> {
        self.value.as_ref().and_then(|v| v.previous_tier.as_deref().and_then(|p| value::movement(Some(p), &v.tier)))
    }
    pub fn changed_at(&self) -> Option<DateTime<Utc>> {
        self.value.as_ref().and_then(|v| v.tier_changed_at)
    }
}

/// Whether the user sees the customer page's value section.
pub fn may_see(user: &CurrentUser) -> bool {
    user.require(Permission::ReadAccounts).is_ok()
}

/// The customer page's value and the tenant's settings, read in its
/// statement only when `allowed` (a parameter: [`may_see`]); null otherwise;
/// `tenant` the tenant's parameter.
pub fn page_query(allowed: &str, tenant: &str) -> String {
    format!(
        "CASE WHEN {allowed} THEN json_build_array({}, {}) END",
        db::value_query(tenant),
        db::settings_query(tenant)
    )
}

/// The section for the customer page, from [`page_query`]'s column: None
/// when the user may not see values.
pub fn section(
    user: &CurrentUser,
    customer_id: Uuid,
    column: Option<serde_json::Value>,
) -> Result<Option<ValueSection>, AppError> {
    let Some(column) = column.filter(|_| may_see(user)) else { return Ok(None) };
    let (stored, settings): (Option<serde_json::Value>, Option<serde_json::Value>) =
        crate::db::json_column("value", column)?;
    let stored = db::value_from(stored)?;
    let settings = db::settings_from(settings)?;
    let i = I18n(user.locale);
    let (factors, negative_reason) = match &stored {
        Some(v) => {
            let valuation = value::score(&v.inputs, &settings);
            let lines = value::explain(&v.inputs, &valuation)
                .into_iter()
                .map(|l| {
                    let values: Vec<(&str, String)> = l
                        .values
                        .iter()
                        .map(|(name, raw)| {
                            let shown = match *name {
                                "grade" => i.t(&format!("customers.importance_{raw}")),
                                "energy" => raw.parse::<Decimal>().map(|d| i.number(d)).unwrap_or_else(|_| raw.clone()),
                                "amount" => raw.parse::<Decimal>().map(|d| i.money(d)).unwrap_or_else(|_| raw.clone()),
                                _ => raw.clone(),
                            };
                            (*name, shown)
                        })
                        .collect();
                    let refs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    ShownFactor {
                        factor: l.factor,
                        text: i.t_with(&l.key, &refs),
                        points: l.points,
                        weight: l.weight,
                        contribution: l.contribution,
                    }
                })
                .collect();
            (lines, valuation.negative_reason)
        }
        None => (Vec::new(), None),
    };
    Ok(Some(ValueSection {
        customer_id,
        value: stored,
        factors,
        negative_reason,
        can_manage: user.require(Permission::ManageValueTiers).is_ok(),
    }))
}
