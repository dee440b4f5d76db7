//! The portal's pages: the company list, signing in and out, registering
//! with a one-time code, linking one more account, and each account's
//! balance, bills and payments. Forms work without JavaScript.

use std::time::Instant;

use axum::{
    Router,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, StatusCode},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    Purpose,
    auth::{self, PortalCaller, PortalForm},
    db::{self as portal_db, Account, Bill, CodeCheck, Company, Payment},
    parse_account_no, parse_code, parse_login,
};
use crate::{
    audit::{self, Change},
    billing::bills::state as bill_state,
    db,
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::{I18n, Locale},
        page::{Page, render},
        password,
    },
};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/portal", get(front))
        .route("/portal/login/{slug}", get(login_page).post(login))
        .route("/portal/register/{slug}", get(register_page).post(register))
        .route("/portal/register/{slug}/code", post(register_code))
        .route("/portal/accounts/{account_no}", get(account_page))
        .route("/portal/accounts/{account_no}/unlink", post(unlink))
        .route("/portal/link", get(link_page).post(link))
        .route("/portal/link/code", post(link_code))
        .route("/portal/logout", post(logout))
        .merge(super::applications::router())
        .merge(super::appointments::router())
        .merge(super::bills::router())
        .merge(super::faults::router())
        .merge(super::points::router())
        .merge(super::pay::router())
        .merge(super::contacts::router())
        .merge(super::notices::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::resolve))
        // The home reads the session and the accounts in one statement.
        .merge(
            Router::new()
                .route("/portal/home", get(home))
                .route_layer(middleware::from_fn_with_state(state, auth::resolve_with_accounts)),
        )
}

/// What the portal's layout shows around every page.
pub(super) struct Frame {
    pub(super) company_name: String,
    pub(super) company_slug: String,
    pub(super) signed_in: bool,
    /// The path the language switch comes back to.
    pub(super) here: String,
}

pub(super) fn page(locale: Locale, title_key: &str, csrf: String) -> Page {
    let i = I18n(locale);
    let mut p = Page::new(i, None, &i.t(title_key));
    p.csrf = csrf;
    p
}

fn secure(state: &AppState) -> bool {
    state.config.secure_cookies
}

/// The caller's address, as the staff login reads it (behind trusted proxies).
fn address(state: &AppState, peer: std::net::SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    crate::web::auth::caller_ip(peer.ip(), headers, &state.trusted_proxies)
}

async fn company(state: &AppState, slug: &str) -> Result<Company, AppError> {
    portal_db::company(&state.db, slug).await?.ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------- front page

#[derive(askama::Template)]
#[template(path = "portal/front.html")]
struct FrontPage {
    p: Page,
    f: Frame,
    companies: Vec<Company>,
}

async fn front(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: Option<axum::Extension<PortalCaller>>,
) -> Result<Response, AppError> {
    if caller.is_some() {
        return Ok(Redirect::to("/portal/home").into_response());
    }
    let companies = portal_db::companies(&state.db).await?;
    let f =
        Frame { company_name: String::new(), company_slug: String::new(), signed_in: false, here: "/portal".into() };
    Ok(render(&FrontPage { p: page(locale.0, "portal.title", String::new()), f, companies })?.into_response())
}

// ------------------------------------------------------------------ sign in

#[derive(askama::Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    p: Page,
    f: Frame,
    login: String,
    error: Option<String>,
}

fn login_frame(c: &Company) -> Frame {
    Frame {
        company_name: c.name.clone(),
        company_slug: c.slug.clone(),
        signed_in: false,
        here: format!("/portal/login/{}", c.slug),
    }
}

async fn login_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: Option<axum::Extension<PortalCaller>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    if caller.is_some() {
        return Ok(Redirect::to("/portal/home").into_response());
    }
    let c = company(&state, &slug).await?;
    let (csrf, cookie) = auth::form_token(None, &headers, secure(&state));
    let body = render(&LoginPage {
        p: page(locale.0, "portal.login_title", csrf),
        f: login_frame(&c),
        login: String::new(),
        error: None,
    })?;
    Ok(auth::with_cookie(body.into_response(), cookie))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// Signs in. Every refusal (unknown login, wrong password, locked login)
/// reads the same and costs one password check.
async fn login(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    PortalForm(form): PortalForm<LoginForm>,
) -> Result<Response, AppError> {
    let c = company(&state, &slug).await?;
    let ip = address(&state, peer, &headers);
    let (csrf, _) = auth::form_token(None, &headers, secure(&state));
    let mut ignored = FieldErrors::default();
    let login = parse_login(&form.login, &mut ignored);
    let refuse = |key: &str, status: StatusCode| -> Result<Response, AppError> {
        let i = I18n(locale.0);
        let body = render(&LoginPage {
            p: page(locale.0, "portal.login_title", csrf.clone()),
            f: login_frame(&c),
            login: form.login.trim().to_owned(),
            error: Some(i.t(key)),
        })?;
        Ok((status, body).into_response())
    };
    if state.portal_logins.is_blocked(ip, Instant::now()) {
        return refuse("portal.too_many_attempts", StatusCode::TOO_MANY_REQUESTS);
    }
    let mut tx = db::begin_tenant(&state.db, c.id, None).await?;
    let candidate = portal_db::find_for_login(&mut tx, &login).await?;
    let stored = candidate.as_ref().map(|u| u.password_hash.clone());
    let good = password::check_off_thread(form.password.clone(), stored).await?;
    let user = match candidate {
        Some(user) if good && !user.locked => user,
        other => {
            // A locked login's lock does not grow while it holds.
            if let Some(user) = other.filter(|u| !u.locked) {
                portal_db::record_failed_login(&mut tx, user.id).await?;
            }
            tx.commit().await?;
            state.portal_logins.record_failure(ip, Instant::now());
            return refuse("portal.login_failed", StatusCode::UNAUTHORIZED);
        }
    };
    let token = portal_db::start_session(&mut tx, c.id, user.id).await?;
    audit::record(&mut tx, &auth::actor_for(user.id), change("login", user.id)).await?;
    tx.commit().await?;
    Ok(auth::with_cookie(
        Redirect::to("/portal/home").into_response(),
        Some(auth::session_cookie(Some(&token), secure(&state))),
    ))
}

fn change(action: &str, portal_user_id: uuid::Uuid) -> Change<'_> {
    Change {
        action,
        entity: "portal_user",
        entity_id: Some(portal_user_id),
        summary: String::new(),
        before: None,
        after: None,
    }
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn logout(
    State(state): State<AppState>,
    caller: PortalCaller,
    PortalForm(_form): PortalForm<EmptyForm>,
) -> Result<Response, AppError> {
    let mut tx = caller.company_tx(&state.db).await?;
    portal_db::end_session(&mut tx, caller.session_id).await?;
    audit::record(&mut tx, &caller.actor(), change("logout", caller.user_id)).await?;
    tx.commit().await?;
    Ok(auth::with_cookie(
        Redirect::to(&format!("/portal/login/{}", caller.tenant_slug)).into_response(),
        Some(auth::session_cookie(None, secure(&state))),
    ))
}

// ---------------------------------------------------------------- one-time codes

/// A form that asks for a code, then takes it: registering, or linking.
#[derive(askama::Template)]
#[template(path = "portal/code.html")]
struct CodePage {
    p: Page,
    f: Frame,
    purpose: &'static str,
    /// Where the two steps post.
    code_action: String,
    finish_action: String,
    /// 1: the account number; 2: the code (and, registering, the login).
    step: u8,
    account_no: String,
    login: String,
    errors: FieldErrors,
    /// A message above the form (sent, too many requests).
    message: Option<String>,
}

impl CodePage {
    fn intro(&self) -> String {
        self.p.t(&format!("portal.{}_intro", self.purpose))
    }
}

#[derive(Deserialize)]
struct CodeRequest {
    #[serde(default)]
    account_no: String,
}

/// What asking for a code answers: the same whether or not the account
/// exists, has a phone, or has had its codes for the hour.
enum Asked {
    /// The account number is not even a number.
    Invalid(FieldErrors),
    /// This address asked too often.
    TooMany,
    Done(String),
}

async fn ask_for_code(
    state: &AppState,
    tenant_id: uuid::Uuid,
    raw_account_no: &str,
    purpose: Purpose,
    requested_by: Option<uuid::Uuid>,
    ip: std::net::IpAddr,
) -> Result<Asked, AppError> {
    let mut errors = FieldErrors::default();
    let account_no = parse_account_no(raw_account_no, &mut errors);
    if !errors.is_empty() {
        return Ok(Asked::Invalid(errors));
    }
    // Every well-formed request counts against the address, whether or not
    // the account exists, so the limit tells nothing about accounts either.
    if state.portal_codes.is_blocked(ip, Instant::now()) {
        return Ok(Asked::TooMany);
    }
    state.portal_codes.record_failure(ip, Instant::now());
    let address = ip.to_canonical().to_string();
    let mut tx = db::begin_tenant(&state.db, tenant_id, None).await?;
    if let Some(customer_id) = portal_db::active_account(&mut tx, &account_no).await?
        && portal_db::codes_last_hour(&mut tx, customer_id).await? < super::CODES_PER_ACCOUNT_PER_HOUR
    {
        portal_db::send_code(&mut tx, customer_id, purpose, requested_by, &address).await?;
    }
    tx.commit().await?;
    Ok(Asked::Done(account_no))
}

fn code_page_after(asked: Asked, mut page: CodePage, status_ok: StatusCode) -> Result<Response, AppError> {
    let status = match asked {
        Asked::Invalid(errors) => {
            page.errors = errors;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Asked::TooMany => {
            page.message = Some(page.p.t("portal.too_many_codes"));
            StatusCode::TOO_MANY_REQUESTS
        }
        Asked::Done(account_no) => {
            page.account_no = account_no;
            page.step = 2;
            page.message = Some(page.p.t("portal.code_sent"));
            status_ok
        }
    };
    Ok((status, render(&page)?).into_response())
}

// ---------------------------------------------------------------- registering

fn register_form(c: &Company, locale: Locale, csrf: String) -> CodePage {
    CodePage {
        p: page(locale, "portal.register_title", csrf),
        f: Frame {
            company_name: c.name.clone(),
            company_slug: c.slug.clone(),
            signed_in: false,
            here: format!("/portal/register/{}", c.slug),
        },
        purpose: "register",
        code_action: format!("/portal/register/{}/code", c.slug),
        finish_action: format!("/portal/register/{}", c.slug),
        step: 1,
        account_no: String::new(),
        login: String::new(),
        errors: FieldErrors::default(),
        message: None,
    }
}

async fn register_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let c = company(&state, &slug).await?;
    let (csrf, cookie) = auth::form_token(None, &headers, secure(&state));
    Ok(auth::with_cookie(render(&register_form(&c, locale.0, csrf))?.into_response(), cookie))
}

async fn register_code(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    PortalForm(form): PortalForm<CodeRequest>,
) -> Result<Response, AppError> {
    let c = company(&state, &slug).await?;
    let ip = address(&state, peer, &headers);
    let (csrf, _) = auth::form_token(None, &headers, secure(&state));
    let mut page = register_form(&c, locale.0, csrf);
    page.account_no = form.account_no.trim().to_owned();
    let asked = ask_for_code(&state, c.id, &form.account_no, Purpose::Register, None, ip).await?;
    code_page_after(asked, page, StatusCode::OK)
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

async fn register(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    PortalForm(form): PortalForm<RegisterForm>,
) -> Result<Response, AppError> {
    let c = company(&state, &slug).await?;
    let (csrf, _) = auth::form_token(None, &headers, secure(&state));
    let mut errors = FieldErrors::default();
    let account_no = parse_account_no(&form.account_no, &mut errors);
    let code = parse_code(&form.code, &mut errors);
    let login = parse_login(&form.login, &mut errors);
    crate::staff::model::check_password(&form.password, "password", &mut errors);
    if form.password != form.password_again {
        errors.add("password_again", "password_mismatch");
    }
    let again = |errors: FieldErrors| -> Result<Response, AppError> {
        let mut page = register_form(&c, locale.0, csrf.clone());
        page.step = 2;
        page.account_no = form.account_no.trim().to_owned();
        page.login = form.login.trim().to_owned();
        page.errors = errors;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    if !errors.is_empty() {
        return again(errors);
    }
    let mut tx = db::begin_tenant(&state.db, c.id, None).await?;
    let CodeCheck::Right { code_id, customer_id } =
        portal_db::check_code(&mut tx, &account_no, Purpose::Register, None, &code).await?
    else {
        // The wrong try counts against the code.
        tx.commit().await?;
        errors.add("code", "portal_code_wrong");
        return again(errors);
    };
    let hash = tokio::task::spawn_blocking({
        let password = form.password.clone();
        move || password::hash(&password)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let Some(user_id) = portal_db::create_user(&mut tx, &login, &hash).await? else {
        // The code stays good for another login.
        tx.rollback().await?;
        errors.add("login", "portal_login_taken");
        return again(errors);
    };
    portal_db::link(&mut tx, user_id, customer_id).await?;
    portal_db::use_code(&mut tx, code_id, customer_id, Purpose::Register).await?;
    audit::record(&mut tx, &auth::actor_for(user_id), change("create", user_id)).await?;
    let token = portal_db::start_session(&mut tx, c.id, user_id).await?;
    tx.commit().await?;
    Ok(auth::with_cookie(
        Redirect::to("/portal/home").into_response(),
        Some(auth::session_cookie(Some(&token), secure(&state))),
    ))
}

// ---------------------------------------------------------------- linking

fn link_form(caller: &PortalCaller, locale: Locale) -> CodePage {
    CodePage {
        p: page(locale, "portal.link_title", caller.csrf.clone()),
        f: signed_in_frame(caller, "/portal/link"),
        purpose: "link",
        code_action: "/portal/link/code".into(),
        finish_action: "/portal/link".into(),
        step: 1,
        account_no: String::new(),
        login: String::new(),
        errors: FieldErrors::default(),
        message: None,
    }
}

pub(super) fn signed_in_frame(caller: &PortalCaller, here: &str) -> Frame {
    Frame {
        company_name: caller.tenant_name.clone(),
        company_slug: caller.tenant_slug.clone(),
        signed_in: true,
        here: here.to_owned(),
    }
}

async fn link_page(locale: axum::Extension<Locale>, caller: PortalCaller) -> Result<Response, AppError> {
    Ok(render(&link_form(&caller, locale.0))?.into_response())
}

async fn link_code(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    caller: PortalCaller,
    PortalForm(form): PortalForm<CodeRequest>,
) -> Result<Response, AppError> {
    let ip = address(&state, peer, &headers);
    let mut page = link_form(&caller, locale.0);
    page.account_no = form.account_no.trim().to_owned();
    let asked =
        ask_for_code(&state, caller.tenant_id, &form.account_no, Purpose::Link, Some(caller.user_id), ip).await?;
    code_page_after(asked, page, StatusCode::OK)
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    code: String,
}

async fn link(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    PortalForm(form): PortalForm<LinkForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let account_no = parse_account_no(&form.account_no, &mut errors);
    let code = parse_code(&form.code, &mut errors);
    let again = |errors: FieldErrors| -> Result<Response, AppError> {
        let mut page = link_form(&caller, locale.0);
        page.step = 2;
        page.account_no = form.account_no.trim().to_owned();
        page.errors = errors;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    if !errors.is_empty() {
        return again(errors);
    }
    let mut tx = caller.company_tx(&state.db).await?;
    let CodeCheck::Right { code_id, customer_id } =
        portal_db::check_code(&mut tx, &account_no, Purpose::Link, Some(caller.user_id), &code).await?
    else {
        tx.commit().await?;
        errors.add("code", "portal_code_wrong");
        return again(errors);
    };
    portal_db::link(&mut tx, caller.user_id, customer_id).await?;
    portal_db::use_code(&mut tx, code_id, customer_id, Purpose::Link).await?;
    let mut linked = change("link", caller.user_id);
    linked.summary = account_no.clone();
    audit::record(&mut tx, &caller.actor(), linked).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/portal/accounts/{account_no}")).into_response())
}

// ---------------------------------------------------------------- accounts

#[derive(askama::Template)]
#[template(path = "portal/home.html")]
struct HomePage {
    p: Page,
    f: Frame,
    accounts: Vec<Account>,
    /// An account was just taken off the list.
    unlinked: bool,
}

#[derive(Deserialize, Default)]
struct HomeQuery {
    #[serde(default)]
    unlinked: bool,
}

async fn home(
    locale: axum::Extension<Locale>,
    // Before the accounts: without a session there are none, and the caller
    // sends the visitor to the front page.
    caller: PortalCaller,
    axum::Extension(auth::LinkedAccounts(accounts)): axum::Extension<auth::LinkedAccounts>,
    Query(q): Query<HomeQuery>,
) -> Result<Response, AppError> {
    let p = page(locale.0, "portal.home_title", caller.csrf.clone());
    Ok(render(&HomePage { p, f: signed_in_frame(&caller, "/portal/home"), accounts, unlinked: q.unlinked })?
        .into_response())
}

/// A linked account, read as the customer: any other number is "not
/// found", exactly like one that does not exist (the database shows the
/// portal role no other account). Pages that then read or write as the
/// company start from here.
pub(super) async fn linked(state: &AppState, caller: &PortalCaller, account_no: &str) -> Result<Account, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, account_no).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(account)
}

/// A bill as the account page lists it.
struct BillLine {
    bill: Bill,
    state: &'static str,
}

#[derive(askama::Template)]
#[template(path = "portal/account.html")]
struct AccountPage {
    p: Page,
    f: Frame,
    account: Account,
    bills: Vec<BillLine>,
    payments: Vec<Payment>,
    /// A prepaid (cost-control) account's estimate: balance, days left, supply.
    prepaid: Option<crate::cost_control::db::Agreement>,
}

impl AccountPage {
    /// Whole days the prepaid balance lasts at the recent daily cost.
    fn days_left(&self) -> Option<String> {
        let days = self.prepaid.as_ref()?.days_left?;
        (days < rust_decimal::Decimal::from(100_000)).then(|| days.floor().to_string())
    }
}

/// One linked account. Another account's number is "not found", exactly
/// like a number that does not exist: the database shows the portal role no
/// account that is not linked.
async fn account_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, &account_no).await?.ok_or(AppError::NotFound)?;
    let bills = portal_db::bills(&mut tx, account.customer_id, 24).await?;
    let payments = portal_db::payments(&mut tx, account.customer_id, 24).await?;
    tx.commit().await?;
    // The account is a linked one (read as the customer above).
    let mut tx = caller.company_tx(&state.db).await?;
    let prepaid = crate::cost_control::db::get(&mut tx, account.customer_id).await?.filter(|a| a.active);
    tx.commit().await?;
    let today = chrono::Utc::now().with_timezone(&caller.tz).date_naive();
    let bills = bills
        .into_iter()
        .map(|b| {
            let state = bill_state(&b.status, b.outstanding(), b.paid + b.late_fee_paid, b.due_on, today);
            BillLine { bill: b, state }
        })
        .collect();
    let mut p = page(locale.0, "portal.account_title", caller.csrf.clone());
    p.tz = caller.tz;
    p.title = format!("{} · {}", account.account_no, p.title);
    let f = signed_in_frame(&caller, &format!("/portal/accounts/{}", account.account_no));
    Ok(render(&AccountPage { p, f, account, bills, payments, prepaid })?.into_response())
}

/// Takes an account off the customer's list (the page asks first). The
/// account, its bills and its notice settings stay as they are; linking it
/// again takes a new code.
async fn unlink(
    State(state): State<AppState>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    PortalForm(_form): PortalForm<EmptyForm>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let mut tx = caller.company_tx(&state.db).await?;
    if portal_db::unlink(&mut tx, caller.user_id, account.customer_id).await? {
        let mut unlinked = change("unlink", caller.user_id);
        unlinked.summary = account.account_no.clone();
        audit::record(&mut tx, &caller.actor(), unlinked).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/portal/home?unlinked=true").into_response())
}
