//! Customer pages: search, the customer page, and the create/edit forms.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, AuditEntry, Change},
    customers::{
        db::{self, Contact, Customer, CustomerSummary, SupplyPoint},
        model::{self, CHANNELS, CustomerDraft, IMPORTANCE_GRADES},
        reference::{self, RefItem, RefList},
        search,
        service::{self, SaveError},
    },
    service::queue::PageNo,
    staff::{Permission, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers", get(search_page).post(create))
        .route("/customers/new", get(new_form))
        .route("/customers/{id}", get(show).post(update))
        .route("/customers/{id}/edit", get(edit_form))
        .route("/customers/{id}/contacts", post(add_contact))
        .route("/customers/{id}/contacts/{contact_id}/delete", post(remove_contact))
}

const PAGE_SIZE: usize = 20;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    /// A segment's members without a query are listed by keyset after this account number.
    #[serde(default)]
    pub after: String,
    /// A search's page, 1-based.
    #[serde(default)]
    pub page: String,
    /// The column a search's results are sorted by (`account`, `name`, `class`, `address`, `status`).
    #[serde(default)]
    pub sort: String,
    /// `desc` for the reverse order.
    #[serde(default)]
    pub dir: String,
    /// A segment's id: only its members.
    #[serde(default)]
    pub segment: String,
}

/// The results part of the search page (the whole page includes it; htmx swaps it).
#[derive(askama::Template)]
#[template(path = "customers/results.html")]
struct SearchResults {
    p: Page,
    q: String,
    results: Vec<CustomerSummary>,
    nav: ResultsNav,
    next_after: Option<String>,
    classes: Vec<RefItem>,
    /// The segment filter: (id, name).
    segment: Option<(Uuid, String)>,
    /// Each result's credit grade and poor-credit mark.
    credit: crate::credit::db::Marks,
}

#[derive(askama::Template)]
#[template(path = "customers/search.html")]
struct SearchPage {
    p: Page,
    q: String,
    results: Vec<CustomerSummary>,
    nav: ResultsNav,
    next_after: Option<String>,
    classes: Vec<RefItem>,
    segment: Option<(Uuid, String)>,
    credit: crate::credit::db::Marks,
}

/// A search's count, order and pages, and the links to change them.
pub struct ResultsNav {
    q: String,
    segment: Option<Uuid>,
    /// None for a segment's member list (no query).
    pub pages: Option<search::Pages>,
    pub sort: search::SortBy,
    pub desc: bool,
}

impl ResultsNav {
    /// The link to this search with another page or order.
    pub fn link(&self, page: impl PageNo, sort: search::SortBy, desc: bool) -> String {
        let page = page.page_no();
        let base = "/customers?";
        let mut url = form_urlencoded::Serializer::for_suffix(String::from(base), base.len());
        url.append_pair("q", &self.q);
        if let Some(id) = &self.segment {
            url.append_pair("segment", &id.to_string());
        }
        if sort != search::SortBy::Account {
            url.append_pair("sort", sort.as_str());
        }
        if desc {
            url.append_pair("dir", "desc");
        }
        if page > 1 {
            url.append_pair("page", &page.to_string());
        }
        url.finish()
    }

    /// The same order on another page.
    pub fn page_link(&self, page: impl PageNo) -> String {
        self.link(page, self.sort, self.desc)
    }

    /// A column header's link: by that column, the other way round when it is the current one.
    pub fn sort_link(&self, column: &str) -> String {
        let column = search::SortBy::parse(column);
        self.link(1, column, column == self.sort && !self.desc)
    }

    /// `ascending`/`descending` for the sorted column (aria-sort), `none` for the others.
    pub fn aria_sort(&self, column: &str) -> &'static str {
        match (search::SortBy::parse(column) == self.sort, self.desc) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }

    /// "23 customers", or "more than 100" when the search stopped at the cap.
    pub fn count_text(&self, p: &Page) -> String {
        match self.pages {
            None => String::new(),
            Some(pg) if pg.more => p.i.t_with("customers.found_more", &[("n", &search::CAP.to_string())]),
            Some(pg) if pg.total == 1 => p.t("customers.found_one"),
            Some(pg) => p.i.t_with("customers.found_n", &[("n", &pg.total.to_string())]),
        }
    }

    /// "Page 2 of 5".
    pub fn page_text(&self, p: &Page) -> String {
        let Some(pg) = self.pages else { return String::new() };
        p.i.t_with("customers.page_of", &[("page", &pg.page.to_string()), ("pages", &pg.pages.to_string())])
    }

    /// Sorting needs every match: a search with more than the cap stays in account order.
    pub fn sortable(&self) -> bool {
        self.pages.is_some_and(|p| !p.more && p.total > 1)
    }
}

/// The search page; an htmx request gets only the results.
async fn search_page(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    // A search's statements run on generic plans (see db::search); a
    // segment's members are listed as usual.
    let mut tx = match query.q.trim() {
        "" => user.tx(&state.db).await?,
        _ => user.tx_with(&state.db, state.search_settings()).await?,
    };
    let plan = search::plan(&query.q);
    let segment = match query.segment.trim() {
        "" => None,
        id => {
            let id = Uuid::parse_str(id).map_err(|_| AppError::NotFound)?;
            Some((id, crate::segments::db::get(&mut tx, id).await?.name))
        }
    };
    let sort = search::SortBy::parse(&query.sort);
    let desc = query.dir == "desc";
    let mut pages = None;
    let mut next_after = None;
    let results = match (query.q.trim().is_empty(), &segment) {
        (true, None) => Vec::new(),
        (true, Some((id, _))) => {
            // Ask for one more than a page, to know whether there is a next page.
            let mut rows =
                crate::segments::db::member_summaries(&mut tx, *id, &query.after, PAGE_SIZE as i64 + 1).await?;
            next_after = crate::web::paging::next_cursor(&mut rows, PAGE_SIZE as i64, |r| r.account_no.clone());
            rows
        }
        (false, _) => {
            let mut found = db::search(&mut tx, user.tenant_id, &plan).await?;
            if let Some((id, _)) = &segment {
                crate::segments::db::retain_members(&mut tx, *id, &mut found.rows).await?;
            }
            if !found.more {
                search::sort(&mut found.rows, sort, desc);
            }
            let page = query.page.trim().parse().unwrap_or(1);
            let at = search::Pages::new(found.rows.len(), found.more, page, PAGE_SIZE);
            pages = Some(at);
            found.rows.drain(at.range(PAGE_SIZE)).collect()
        }
    };
    // The class names from the tenant's cached lists, and no marks to read
    // for no results: a search is a handful of statements, each counted.
    let classes = reference::cached(&mut tx, user.tenant_id).await?.list(RefList::Class).to_vec();
    let ids: Vec<Uuid> = results.iter().map(|r| r.id).collect();
    let credit = if ids.is_empty() {
        Default::default()
    } else {
        crate::credit::db::marks(&mut tx, user.tenant_id, &ids).await?
    };
    tx.commit().await?;
    // One exact hit by a number goes straight to the customer.
    if pages.is_some_and(|p| p.total == 1 && !p.more)
        && plan.is_exact()
        && segment.is_none()
        && !headers.contains_key("hx-request")
    {
        return Ok(Redirect::to(&format!("/customers/{}", results[0].id)).into_response());
    }
    let p = Page::for_user(&user, "customers.search_title");
    let nav = ResultsNav { q: query.q.clone(), segment: segment.as_ref().map(|(id, _)| *id), pages, sort, desc };
    let q = query.q;
    if headers.contains_key("hx-request") {
        return Ok(render(&SearchResults { p, q, results, nav, next_after, classes, segment, credit })?.into_response());
    }
    Ok(render(&SearchPage { p, q, results, nav, next_after, classes, segment, credit })?.into_response())
}

#[derive(askama::Template)]
#[template(path = "customers/show.html")]
struct ShowPage {
    p: Page,
    customer: Customer,
    contacts: Vec<Contact>,
    points: Vec<SupplyPoint>,
    history: Vec<AuditEntry>,
    refs: Refs,
    saved: bool,
    contact_errors: FieldErrors,
    open_contacts: Vec<crate::complaints::db::Contact>,
    open_orders: Vec<crate::work_orders::db::WorkOrder>,
    timeline: Vec<crate::timeline::TimelineItem>,
    bills: Vec<crate::billing::bills::BillRow>,
    payments: Vec<crate::payments::db::PaymentRow>,
    standing: crate::payments::db::Standing,
    cost_control: Option<crate::cost_control::db::Agreement>,
    commands: Vec<crate::cost_control::db::Command>,
    value: Option<crate::value::pages::ValueSection>,
    visits: crate::portfolio::visits::CustomerVisits,
    credit: crate::credit::pages::CreditSection,
    loyalty: crate::points::pages::PointsSection,
    notice_prefs: crate::notices::preferences_pages::NoticeSection,
    contract: Option<super::contracts::Contract>,
    today: chrono::NaiveDate,
    /// What matters now, most urgent first.
    banner: Vec<super::banner::Item>,
}

impl ShowPage {
    /// The contract in force's term as a label code and the days left when ending soon.
    fn contract_term(&self, contract: &super::contracts::Contract) -> (&'static str, Option<i64>) {
        super::contracts_pages::term_label(contract, self.today)
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    saved: bool,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let page = load_show_page(&state, &user, id, q.saved, FieldErrors::default()).await?;
    render(&page)
}

async fn load_show_page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    saved: bool,
    contact_errors: FieldErrors,
) -> Result<ShowPage, AppError> {
    let today = chrono::Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let super::page_db::PageData {
        customer,
        contacts,
        points,
        contract,
        cost_control,
        history,
        open_contacts,
        open_orders,
        timeline,
        bills,
        payments,
        standing,
        commands,
        visits,
        credit,
        loyalty,
        notice_prefs,
        value,
    } = super::page_db::load(
        &mut tx,
        id,
        today,
        crate::points::pages::may_redeem(user),
        crate::value::pages::may_see(user),
        user.tenant_id,
    )
    .await?;
    let refs = Refs::names(&mut tx, user.tenant_id).await?;
    let visits = crate::portfolio::visits::for_customer_page(&mut tx, user, visits).await?;
    tx.commit().await?;
    let credit = crate::credit::pages::section(user, id, credit)?;
    let loyalty = crate::points::pages::section(user, id, loyalty)?;
    let notice_prefs = crate::notices::preferences_pages::section(user, id, notice_prefs)?;
    let value = crate::value::pages::section(user, id, value)?;
    let open: Vec<(&str, bool)> = open_contacts.iter().map(|c| (c.kind.as_str(), c.sla_breached)).collect();
    let banner = super::banner::items(&super::banner::Facts {
        owed: standing.owed,
        overdue: standing.overdue,
        cost_control: cost_control.as_ref().filter(|a| a.active).map(|a| (a.standing.as_str(), a.connected)),
        poor_credit: credit.listed.is_some(),
        tags: &customer.tags,
        importance: customer.importance.as_deref(),
        open_contacts: &open,
    });
    let mut p = Page::for_user(user, "customers.title");
    p.title = format!("{} · {}", customer.name, customer.account_no);
    Ok(ShowPage {
        banner,
        p,
        customer,
        contacts,
        points,
        history,
        refs,
        saved,
        contact_errors,
        open_contacts,
        open_orders,
        timeline,
        bills,
        payments,
        standing,
        cost_control,
        commands,
        value,
        visits,
        credit,
        loyalty,
        notice_prefs,
        contract,
        today,
    })
}

/// The reference lists a form or page shows names from.
pub struct Refs {
    pub classes: Vec<RefItem>,
    pub industries: Vec<RefItem>,
    pub voltages: Vec<RefItem>,
    pub tariffs: Vec<RefItem>,
    pub tags: Vec<RefItem>,
    pub routes: Vec<(String, String)>,
    pub managers: Vec<(Uuid, String)>,
    /// The codes of retired routes.
    pub retired_routes: Vec<String>,
}

impl Refs {
    /// The lists a page names codes from (cached per tenant), without the
    /// account managers.
    async fn names(conn: &mut sqlx::PgConnection, tenant_id: Uuid) -> Result<Self, sqlx::Error> {
        let cached = reference::cached(conn, tenant_id).await?;
        let [classes, industries, voltages, tariffs, tags] = cached.lists.clone();
        Ok(Self {
            retired_routes: cached.routes.iter().filter(|r| r.2).map(|r| r.0.clone()).collect(),
            classes,
            industries,
            voltages,
            tariffs,
            tags,
            routes: cached.routes.iter().map(|r| (r.0.clone(), r.1.clone())).collect(),
            managers: Vec::new(),
        })
    }

    /// What a form offers: the lists and the account managers.
    async fn load(conn: &mut sqlx::PgConnection, tenant_id: Uuid) -> Result<Self, sqlx::Error> {
        let mut refs = Self::names(conn, tenant_id).await?;
        refs.managers = staff_db::list_account_managers(conn).await?;
        Ok(refs)
    }

    /// What a form offers: the current codes, and the retired ones the saved
    /// customer (`saved`) already has.
    fn offered(mut self, saved: CustomerDraft) -> Self {
        fn keep(items: &mut Vec<RefItem>, saved: &[&Option<String>]) {
            items.retain(|i| !i.retired || saved.iter().any(|s| s.as_deref() == Some(i.code.as_str())));
        }
        keep(&mut self.classes, &[&saved.class_code]);
        keep(&mut self.industries, &[&saved.industry_code]);
        keep(&mut self.voltages, &[&saved.voltage_code]);
        keep(&mut self.tariffs, &[&saved.tariff_code]);
        let tags: Vec<Option<String>> = saved.tags.clone().unwrap_or_default().into_iter().map(Some).collect();
        keep(&mut self.tags, &tags.iter().collect::<Vec<_>>());
        let retired = std::mem::take(&mut self.retired_routes);
        self.routes.retain(|(code, _)| !retired.contains(code) || saved.route_code.as_ref() == Some(code));
        self.retired_routes = retired;
        self
    }

    /// The display name of `code` in `list`, in the page's language.
    pub fn name<'a>(items: &'a [RefItem], code: &'a str, lang: &str) -> &'a str {
        items.iter().find(|i| i.code == code).map_or(code, |i| i.name(lang))
    }
}

#[derive(askama::Template)]
#[template(path = "customers/form.html")]
struct FormPage {
    p: Page,
    /// None when creating.
    id: Option<Uuid>,
    account_no: Option<String>,
    d: CustomerDraft,
    errors: FieldErrors,
    refs: Refs,
    conflict: bool,
}

impl FormPage {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
    fn has(&self, list: &Option<Vec<String>>, code: &str) -> bool {
        list.as_ref().is_some_and(|l| l.iter().any(|c| c == code))
    }
    fn channels(&self) -> &'static [&'static str] {
        &CHANNELS
    }
    fn grades(&self) -> &'static [&'static str] {
        &IMPORTANCE_GRADES
    }
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    id: Option<Uuid>,
    draft: Option<CustomerDraft>,
    errors: FieldErrors,
    conflict: bool,
) -> Result<FormPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let refs = Refs::load(&mut tx, user.tenant_id).await?;
    let current = match id {
        Some(id) => Some(db::get(&mut tx, id).await?),
        None => None,
    };
    tx.commit().await?;
    let refs = refs.offered(current.as_ref().map(Customer::to_draft).unwrap_or_default());
    let title = if id.is_some() { "customers.edit_title" } else { "customers.new_title" };
    let d = draft.or_else(|| current.as_ref().map(Customer::to_draft)).unwrap_or_else(|| CustomerDraft {
        class_code: Some("residential".into()),
        industry_code: Some("RES".into()),
        voltage_code: Some("v220".into()),
        tariff_code: Some("res_tiered".into()),
        ..Default::default()
    });
    Ok(FormPage {
        p: Page::for_user(user, title),
        id,
        account_no: current.map(|c| c.account_no),
        d,
        errors,
        refs,
        conflict,
    })
}

async fn new_form(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&form_page(&state, &user, None, None, FieldErrors::default(), false).await?)
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::EditCustomers)?;
    render(&form_page(&state, &user, Some(id), None, FieldErrors::default(), false).await?)
}

/// A browser form: unticked checkbox groups are absent, which for a form
/// means "none", not "unchanged".
fn form_draft(mut d: CustomerDraft) -> CustomerDraft {
    d.preferred_channels.get_or_insert_with(Vec::new);
    d.tags.get_or_insert_with(Vec::new);
    d
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(draft): CsrfForm<CustomerDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let draft = form_draft(draft);
    let mut tx = user.tx(&state.db).await?;
    match service::create(&mut tx, &Actor::from(&user), &draft).await {
        Ok(customer) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/customers/{}?saved=true", customer.id)).into_response())
        }
        Err(SaveError::Invalid(errors)) => {
            drop(tx);
            let page = form_page(&state, &user, None, Some(draft), errors, false).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<CustomerDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let draft = form_draft(draft);
    let mut tx = user.tx(&state.db).await?;
    let (errors, conflict) = match service::update(&mut tx, &Actor::from(&user), id, draft.clone()).await {
        Ok(_) => {
            tx.commit().await?;
            return Ok(Redirect::to(&format!("/customers/{id}?saved=true")).into_response());
        }
        Err(SaveError::Invalid(errors)) => (errors, false),
        Err(SaveError::Stale) => (FieldErrors::default(), true),
        Err(other) => return Err(other.into()),
    };
    drop(tx);
    let status = if conflict { axum::http::StatusCode::CONFLICT } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    // On a conflict the form shows the current values, so the clerk can redo the edit on them.
    let draft = if conflict { None } else { Some(draft) };
    let page = form_page(&state, &user, Some(id), draft, errors, conflict).await?;
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
struct ContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    is_primary: Option<String>,
}

fn validate_contact(form: &ContactForm) -> Result<(String, Option<String>, Option<String>), FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = crate::web::input::visible_text(&form.name, 100, "contact_name", true, &mut errors);
    let phone = Some(form.phone.trim()).filter(|p| !p.is_empty()).and_then(|p| {
        let parsed = model::parse_phone(p);
        if parsed.is_none() {
            errors.add("contact_phone", "phone_format");
        }
        parsed
    });
    let email = Some(form.email.trim()).filter(|e| !e.is_empty()).map(|e| {
        let ok = e.len() <= 200 && e.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
        if !ok {
            errors.add("contact_email", "email_format");
        }
        e.to_owned()
    });
    errors.finish((name, phone, email))
}

async fn add_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ContactForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let (name, phone, email) = match validate_contact(&form) {
        Ok(valid) => valid,
        Err(errors) => {
            let page = load_show_page(&state, &user, id, false, errors).await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let customer = db::get(&mut tx, id).await?;
    let new = db::NewContact {
        name: &name,
        role: form.role.trim(),
        phone: phone.as_deref(),
        email: email.as_deref(),
        is_primary: form.is_primary.is_some(),
    };
    let contact_id = db::add_contact(&mut tx, id, new).await?;
    let after = serde_json::json!({"contact": name, "role": form.role.trim(), "phone": phone, "email": email});
    audit::record(
        &mut tx,
        &Actor::from(&user),
        Change {
            action: "add_contact",
            entity: "customer",
            entity_id: Some(id),
            summary: format!("{} {} / {contact_id}", customer.account_no, customer.name),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#contacts")).into_response())
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn remove_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, contact_id)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let customer = db::get(&mut tx, id).await?;
    let removed = db::remove_contact(&mut tx, id, contact_id).await?;
    let before = serde_json::json!({"contact": removed.name, "role": removed.role, "phone": removed.phone, "email": removed.email});
    audit::record(
        &mut tx,
        &Actor::from(&user),
        Change {
            action: "remove_contact",
            entity: "customer",
            entity_id: Some(id),
            summary: format!("{} {}", customer.account_no, customer.name),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#contacts")).into_response())
}
