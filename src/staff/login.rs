//! Signing in and out, and the language switch.

use std::time::Instant;

use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    audit::{self, Actor, Change},
    db,
    staff::{db as staff_db, lockout},
    web::{
        AppState,
        auth::{self, CurrentUser, LANG_COOKIE, SESSION_COOKIE},
        csrf::{CsrfForm, LOGIN_CSRF_COOKIE},
        error::AppError,
        i18n::{I18n, Locale},
        page::{Page, render},
        password,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/language", post(switch_language))
}

#[derive(askama::Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    p: Page,
    tenant: String,
    username: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    tenant: Option<String>,
}

fn login_response(
    state: &AppState,
    locale: Locale,
    status: axum::http::StatusCode,
    form: LoginPage,
) -> Result<Response, AppError> {
    // A fresh double-submit token for the login form (no session yet).
    let mut page = form;
    page.p.csrf = password::random_token();
    let cookie =
        format!("{LOGIN_CSRF_COOKIE}={}; Path=/login; HttpOnly; SameSite=Strict{}", page.p.csrf, secure(state));
    let _ = locale;
    let mut response = (status, render(&page)?).into_response();
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(anyhow::Error::from)?);
    Ok(response)
}

fn secure(state: &AppState) -> &'static str {
    if state.config.secure_cookies { "; Secure" } else { "" }
}

async fn login_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    user: Option<axum::Extension<CurrentUser>>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to(auth::safe_next(q.next.as_deref())).into_response());
    }
    let i = I18n(locale.0);
    let page = LoginPage {
        p: Page::new(i, None, &i.t("login.title")),
        tenant: q.tenant.unwrap_or_default(),
        username: String::new(),
        next: auth::safe_next(q.next.as_deref()).to_owned(),
        error: None,
    };
    login_response(&state, locale.0, axum::http::StatusCode::OK, page)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// Signs in. Every refusal (unknown company or user, wrong password, locked
/// or inactive account) looks the same and costs one password check, so the
/// answer does not tell which usernames exist or which accounts are locked.
async fn login(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    connect: axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, AppError> {
    let ip = auth::caller_ip(connect.0.ip(), &headers, &state.trusted_proxies);
    let i = I18n(locale.0);
    let tenant_slug = form.tenant.trim().to_lowercase();
    let username = form.username.trim().to_lowercase();
    let retry = |error_key: &str, status| {
        let page = LoginPage {
            p: Page::new(i, None, &i.t("login.title")),
            tenant: tenant_slug.clone(),
            username: username.clone(),
            next: auth::safe_next(form.next.as_deref()).to_owned(),
            error: Some(i.t(error_key)),
        };
        login_response(&state, locale.0, status, page)
    };
    let refused = || {
        state.throttle.record_failure(ip, Instant::now());
        retry("login.failed", axum::http::StatusCode::UNAUTHORIZED)
    };
    if state.throttle.is_blocked(ip, Instant::now()) {
        return retry("login.too_many_attempts", axum::http::StatusCode::TOO_MANY_REQUESTS);
    }
    let tenant = sqlx::query!("SELECT id FROM tenants WHERE slug = $1", tenant_slug).fetch_optional(&state.db).await?;
    let Some(tenant) = tenant else {
        password::check_off_thread(form.password.clone(), None).await?;
        return refused();
    };
    let mut tx = db::begin_tenant(&state.db, tenant.id, None).await?;
    let Some(candidate) = staff_db::find_for_login(&mut tx, tenant.id, &username).await? else {
        password::check_off_thread(form.password.clone(), None).await?;
        return refused();
    };
    if lockout::refuses(&candidate.lock, candidate.now, candidate.last_login_address.as_deref(), ip) {
        // Refused unread, and not counted: the lock does not grow while it holds.
        password::check_off_thread(form.password.clone(), None).await?;
        return refused();
    }
    let good = password::check_off_thread(form.password.clone(), Some(candidate.password_hash.clone())).await?;
    let actor = Actor { user_id: Some(candidate.id), label: candidate.display_name.clone(), request_id: None };
    if !good || !candidate.active {
        let policy = lockout::LockPolicy {
            max_failures: state.config.login_max_failures,
            first_lock_minutes: state.config.login_lock_minutes,
            max_lock_minutes: state.config.login_lock_max_minutes,
        };
        let after = policy.after_failure(candidate.lock, candidate.now);
        staff_db::record_failed_login(&mut tx, candidate.id, &after).await?;
        audit::record(&mut tx, &actor, session_change("login_failed", candidate.id)).await?;
        tx.commit().await?;
        return refused();
    }
    let token = staff_db::start_session(
        &mut tx,
        tenant.id,
        candidate.id,
        &lockout::address_key(ip),
        state.config.session_absolute_hours,
    )
    .await?;
    audit::record(&mut tx, &actor, session_change("login", candidate.id)).await?;
    tx.commit().await?;
    // The address's failures stay counted: signing in to one's own account
    // between guesses must not reset the throttle.

    let max_age = state.config.session_absolute_hours * 3600;
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}", secure(&state));
    let mut response = Redirect::to(auth::safe_next(form.next.as_deref())).into_response();
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(anyhow::Error::from)?);
    Ok(response)
}

fn session_change(action: &str, user_id: uuid::Uuid) -> Change<'_> {
    Change { action, entity: "session", entity_id: Some(user_id), summary: String::new(), before: None, after: None }
}

#[derive(Deserialize)]
struct LogoutForm {}

async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(_form): CsrfForm<LogoutForm>,
) -> Result<Response, AppError> {
    if let Some(session_id) = user.session_id {
        let mut tx = user.tx(&state.db).await?;
        staff_db::end_session(&mut tx, session_id).await?;
        audit::record(&mut tx, &Actor::from(&user), session_change("logout", user.user_id.unwrap_or_default())).await?;
        tx.commit().await?;
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", secure(&state));
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(anyhow::Error::from)?);
    Ok(response)
}

#[derive(Deserialize)]
struct LanguageForm {
    lang: String,
    back: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// Switches the language. Signed in, it is saved as the user's setting;
/// signed out, it is remembered in a cookie. A signed-in user's form carries
/// the session's CSRF token; a signed-out visitor has nothing to forge.
async fn switch_language(
    State(state): State<AppState>,
    user: Option<axum::Extension<CurrentUser>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LanguageForm>,
) -> Result<Response, AppError> {
    let locale = Locale::parse(&form.lang).ok_or_else(|| AppError::BadRequest("unknown language".into()))?;
    if headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return Err(AppError::Forbidden);
    }
    if let Some(axum::Extension(user)) = user {
        if !password::constant_time_eq(user.csrf_token.as_bytes(), form.csrf.as_bytes()) {
            return Err(AppError::Forbidden);
        }
        if let Some(user_id) = user.user_id {
            let mut tx = user.tx(&state.db).await?;
            staff_db::set_locale(&mut tx, user_id, locale.code()).await?;
            tx.commit().await?;
        }
    }
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", locale.code());
    let mut response = Redirect::to(auth::safe_next(form.back.as_deref())).into_response();
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(anyhow::Error::from)?);
    Ok(response)
}
