//! Who is calling: a browser session (cookie) or an API key (Bearer). One
//! middleware resolves the caller once per request; handlers take
//! [`CurrentUser`] and check one permission.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, Method, request::Parts},
    middleware::Next,
    response::Response,
};
use chrono_tz::Tz;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crate::{
    db::{self, Tx},
    web::{
        AppState,
        access::{Permission, Role},
        error::AppError,
        i18n::Locale,
        password,
    },
};

pub const SESSION_COOKIE: &str = "gridcrm_session";
pub const LANG_COOKIE: &str = "lang";

#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub tz: Tz,
    pub is_platform: bool,
    /// The staff user, or None when the caller is an API key.
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// Who this is, for pages and the audit log.
    pub label: String,
    pub role: Role,
    pub locale: Locale,
    pub csrf_token: String,
    pub request_id: Option<String>,
}

impl CurrentUser {
    /// The one permission check of a handler. A missing permission is 403: the
    /// caller knows their own role, so nothing about other tenants leaks.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.role.can(permission) { Ok(()) } else { Err(AppError::Forbidden) }
    }

    /// A transaction scoped to this caller's tenant.
    pub async fn tx(&self, pool: &PgPool) -> Result<Tx, AppError> {
        Ok(db::begin_tenant(pool, self.tenant_id, self.user_id).await?)
    }

    /// The same with further settings ([`db::begin_tenant_with`]).
    pub async fn tx_with(&self, pool: &PgPool, settings: &str) -> Result<Tx, AppError> {
        Ok(db::begin_tenant_with(pool, self.tenant_id, self.user_id, settings).await?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(AppError::Unauthenticated)
    }
}

/// The caller's address, for throttling: the TCP peer's, unless the peer is
/// a trusted proxy; then the last address of X-Forwarded-For that is not
/// itself a trusted proxy (the one the outermost proxy saw; the ones before
/// it are the client's to make up).
pub fn caller_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == ip.to_canonical());
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect();
    for entry in forwarded.into_iter().rev() {
        match entry {
            Some(ip) if is_trusted(&ip) => continue,
            Some(ip) => return ip,
            // Not an address where a trusted proxy wrote one: trust nothing further.
            None => break,
        }
    }
    peer
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A session or API-key token: the tenant id, then a random secret. Carrying the
/// tenant lets the lookup itself run under row-level security.
pub fn split_token(token: &str) -> Option<(Uuid, &str)> {
    let (tenant, secret) = token.split_once('.')?;
    let tenant = Uuid::try_parse(tenant).ok()?;
    (secret.len() >= 32).then_some((tenant, secret))
}

pub fn make_token(tenant_id: Uuid, secret: &str) -> String {
    format!("{}.{}", tenant_id.simple(), secret)
}

/// The credential a request is judged by. API keys are for the API only: on a
/// page a key is ignored, so the page asks to sign in. The API takes a key,
/// or else a session (to read, and to write with its CSRF token, see
/// [`session_write_without_token`]).
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    ApiKey(String),
    Session(String),
}

fn credential(is_api: bool, bearer: Option<String>, session: Option<String>) -> Option<Credential> {
    match (bearer, session) {
        (Some(key), _) if is_api => Some(Credential::ApiKey(key)),
        (_, Some(token)) => Some(Credential::Session(token)),
        _ => None,
    }
}

/// The header that carries the session's CSRF token on API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether an API request is a write made with a session but without the
/// session's CSRF token in `X-CSRF-Token`. Such writes are refused: the cookie
/// alone is sent along by any site's forms too. (Writes are anything but GET,
/// HEAD and OPTIONS.)
fn session_write_without_token(method: &Method, caller: &CurrentUser, csrf_header: Option<&[u8]>) -> bool {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let token_ok = csrf_header.is_some_and(|t| password::constant_time_eq(t, caller.csrf_token.as_bytes()));
    write && caller.session_id.is_some() && !token_ok
}

/// Resolves the caller and the language, and puts both into the request. A
/// database failure on the way is 503, never "not signed in": an overloaded
/// server must not log everybody out.
pub async fn resolve_caller(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let headers = request.headers();
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let session = cookie(headers, SESSION_COOKIE).map(str::to_owned);
    let lang_cookie = cookie(headers, LANG_COOKIE).map(str::to_owned);
    let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let caller = match credential(is_api, bearer, session) {
        Some(Credential::ApiKey(key)) => api_key_caller(&state, &key).await,
        Some(Credential::Session(token)) => session_caller(&state, &token).await,
        None => Ok(None),
    };
    let user_locale = caller.as_ref().ok().and_then(Option::as_ref).filter(|c| c.user_id.is_some()).map(|c| c.locale);
    let locale = Locale::negotiate(user_locale, lang_cookie.as_deref(), accept.as_deref());
    request.extensions_mut().insert(locale);
    let caller = match caller {
        Ok(caller) => caller,
        Err(err) => {
            tracing::error!(error = %err, "resolving the caller failed");
            return answer_with(request, || AppError::Unavailable).await;
        }
    };
    if let Some(mut caller) = caller {
        caller.locale = locale;
        caller.request_id = request_id;
        let csrf_header = request.headers().get(CSRF_HEADER).map(|v| v.as_bytes());
        let refused = is_api && session_write_without_token(request.method(), &caller, csrf_header);
        request.extensions_mut().insert(caller);
        if refused {
            return answer_with(request, || AppError::Refused("api_session_needs_csrf")).await;
        }
    }
    next.run(request).await
}

/// Answers a request with an error before it reaches a handler, rendered as
/// every error is (a page, or a problem document under /api).
async fn answer_with(request: Request, error: fn() -> AppError) -> Response {
    let answer = axum::Router::new()
        .fallback(move || async move { error() })
        .layer(axum::middleware::from_fn(crate::web::error::render_errors));
    match answer.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn session_caller(state: &AppState, token: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    let Some((tenant_id, secret)) = split_token(token) else {
        return Ok(None);
    };
    // One statement, one round trip: the function sets the tenant for its own
    // transaction and touches the session once a minute (idle time is tracked
    // to the minute, so most requests write nothing).
    let (token_hash, idle_minutes) = (password::sha256(secret), state.config.session_idle_minutes as i32);
    let row = look_up(state, move |conn| {
        Box::pin(
            sqlx::query!(
                r#"SELECT session_id AS "session_id!", user_id AS "user_id!", csrf_token AS "csrf_token!",
                          display_name AS "display_name!", role AS "role!", locale, slug AS "slug!",
                          tenant_name AS "tenant_name!", time_zone AS "time_zone!", is_platform AS "is_platform!"
                   FROM gridcrm_session_caller($1, $2, $3)"#,
                tenant_id,
                token_hash,
                idle_minutes
            )
            .fetch_optional(conn),
        )
    })
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(CurrentUser {
        tenant_id,
        tenant_slug: row.slug,
        tenant_name: row.tenant_name,
        tz: row.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
        is_platform: row.is_platform,
        user_id: Some(row.user_id),
        api_key_id: None,
        session_id: Some(row.session_id),
        label: row.display_name,
        role: Role::parse(&row.role).unwrap_or(Role::CounterStaff),
        locale: row.locale.as_deref().and_then(Locale::parse).unwrap_or_default(),
        csrf_token: row.csrf_token,
        request_id: None,
    }))
}

/// Runs a caller look-up. On one server: one statement, in a transaction
/// of its own. On a Citus cluster the look-up function's tenant (a `SET LOCAL`
/// inside it) reaches the workers only within a transaction block, which
/// Citus does not open for reads outside one: there it runs in an explicit
/// transaction (two more round trips).
async fn look_up<T>(
    state: &AppState,
    lookup: impl for<'c> FnOnce(&'c mut sqlx::PgConnection) -> futures_util::future::BoxFuture<'c, sqlx::Result<T>>,
) -> sqlx::Result<T> {
    if state.on_citus {
        let mut tx = state.db.begin().await?;
        let found = lookup(&mut tx).await?;
        tx.commit().await?;
        Ok(found)
    } else {
        lookup(&mut *state.db.acquire().await?).await
    }
}

/// API keys look like `gck_<tenant>.<secret>`.
pub const API_KEY_PREFIX: &str = "gck_";

async fn api_key_caller(state: &AppState, key: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    let Some((tenant_id, secret)) = key.strip_prefix(API_KEY_PREFIX).and_then(split_token) else {
        return Ok(None);
    };
    // One statement: the function sets the tenant and records the key's use.
    let key_hash = password::sha256(secret);
    let row = look_up(state, move |conn| {
        Box::pin(
            sqlx::query!(
                r#"SELECT key_id AS "id!", key_name AS "name!", role AS "role!", slug AS "slug!",
                          tenant_name AS "tenant_name!", time_zone AS "time_zone!"
                   FROM gridcrm_api_key_caller($1, $2)"#,
                tenant_id,
                key_hash
            )
            .fetch_optional(conn),
        )
    })
    .await?;
    Ok(row.map(|row| CurrentUser {
        tenant_id,
        tenant_slug: row.slug,
        tenant_name: row.tenant_name,
        tz: row.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
        is_platform: false,
        user_id: None,
        api_key_id: Some(row.id),
        session_id: None,
        label: format!("API key {}", row.name),
        role: Role::parse(&row.role).unwrap_or(Role::CounterStaff),
        locale: Locale::default(),
        csrf_token: String::new(),
        request_id: None,
    }))
}

/// Failed logins per address in a fixed window; in memory, per process. A good
/// sign-in does not clear it, or guessing would only need one's own account
/// in between.
/// Requests for a customer portal's one-time code one address may make in
/// an hour, whatever the account (and whether or not it exists).
pub const PORTAL_CODE_REQUESTS_PER_HOUR: u32 = 10;

pub struct LoginThrottle {
    window: Duration,
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { window, max_failures, failures: Mutex::new(HashMap::new()) }
    }

    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip).is_some_and(|(n, since)| now.duration_since(*since) < self.window && *n >= self.max_failures)
    }

    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the map small: forget windows that have passed.
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

/// Only paths of this site are followed after login or a language switch.
/// Browsers drop tabs and newlines inside a URL and read a backslash as `/`, so
/// `/\t/evil.example` would leave the site: a path is accepted only if it is
/// printable ASCII without a backslash and does not start with `//` (which is
/// also what a Location header may carry; the router's paths are ASCII).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_named_by_a_trusted_proxy_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.5");
        let forwarded = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            headers
        };
        let trusted = [proxy, ip("10.0.0.6")];
        // From the proxy: the address it saw, not what the client claimed before it.
        assert_eq!(caller_ip(proxy, &forwarded("1.2.3.4, 203.0.113.9"), &trusted), ip("203.0.113.9"));
        // Two proxies in a row.
        assert_eq!(caller_ip(proxy, &forwarded("203.0.113.9, 10.0.0.6"), &trusted), ip("203.0.113.9"));
        // Anyone else's header is ignored.
        assert_eq!(caller_ip(ip("198.51.100.7"), &forwarded("203.0.113.9"), &trusted), ip("198.51.100.7"));
        // No trusted proxies configured: the peer, always.
        assert_eq!(caller_ip(proxy, &forwarded("203.0.113.9"), &[]), proxy);
        // Garbage where the proxy should have written, or no header: the proxy itself.
        assert_eq!(caller_ip(proxy, &forwarded("203.0.113.9, unknown"), &trusted), proxy);
        assert_eq!(caller_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        // IPv4 written as IPv6-mapped matches.
        assert_eq!(caller_ip(ip("::ffff:10.0.0.5"), &forwarded("203.0.113.9"), &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn throttle_blocks_after_the_limit_and_forgets_after_the_window() {
        let t = LoginThrottle::new(3, Duration::from_secs(600));
        let ip = IpAddr::from([10, 0, 0, 1]);
        let start = Instant::now();
        for _ in 0..2 {
            t.record_failure(ip, start);
        }
        assert!(!t.is_blocked(ip, start));
        t.record_failure(ip, start);
        assert!(t.is_blocked(ip, start));
        assert!(!t.is_blocked(IpAddr::from([10, 0, 0, 2]), start));
        assert!(!t.is_blocked(ip, start + Duration::from_secs(601)));
    }

    #[test]
    fn next_urls_stay_on_this_site() {
        assert_eq!(safe_next(Some("/customers/1")), "/customers/1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/customers?q=a%20b&page=2")), "/customers?q=a%20b&page=2");
    }

    #[test]
    fn next_urls_with_characters_browsers_drop_or_rewrite_are_refused() {
        for sneaky in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\evil.example",
            "/x\\..\\..\\evil",
            "/\u{0}x",
            "/\u{7f}x",
            "/ /evil.example",
            "/客户",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
    }

    #[test]
    fn api_keys_count_on_the_api_only_and_sessions_everywhere() {
        let key = || Some("gck_key".to_owned());
        let session = || Some("session".to_owned());
        assert_eq!(credential(true, key(), session()), Some(Credential::ApiKey("gck_key".into())));
        assert_eq!(credential(true, None, session()), Some(Credential::Session("session".into())));
        assert_eq!(credential(false, key(), None), None, "a key on a page is not a sign-in");
        assert_eq!(credential(false, key(), session()), Some(Credential::Session("session".into())));
        assert_eq!(credential(true, None, None), None);
    }

    fn caller(session: bool) -> CurrentUser {
        CurrentUser {
            tenant_id: Uuid::nil(),
            tenant_slug: "alpha".into(),
            tenant_name: "alpha".into(),
            tz: chrono_tz::Asia::Shanghai,
            is_platform: false,
            user_id: session.then(Uuid::nil),
            api_key_id: (!session).then(Uuid::nil),
            session_id: session.then(Uuid::nil),
            label: "x".into(),
            role: Role::CounterStaff,
            locale: Locale::default(),
            csrf_token: if session { "the-session-token".into() } else { String::new() },
            request_id: None,
        }
    }

    #[test]
    fn session_writes_to_the_api_need_the_csrf_header() {
        let session = caller(true);
        assert!(session_write_without_token(&Method::POST, &session, None));
        assert!(session_write_without_token(&Method::DELETE, &session, Some(b"wrong")));
        assert!(session_write_without_token(&Method::PATCH, &session, Some(b"")));
        assert!(!session_write_without_token(&Method::POST, &session, Some(b"the-session-token")));
        for read in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!session_write_without_token(&read, &session, None), "{read}");
        }
        assert!(!session_write_without_token(&Method::POST, &caller(false), None), "API keys need no token");
    }

    #[test]
    fn tokens_carry_their_tenant() {
        let tenant = Uuid::now_v7();
        let secret = password::random_token();
        let token = make_token(tenant, &secret);
        assert_eq!(split_token(&token), Some((tenant, secret.as_str())));
        assert_eq!(split_token("nonsense"), None);
        assert_eq!(split_token(&format!("{}.short", tenant.simple())), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, "a=1; gridcrm_session=abc; lang=en".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "lang"), Some("en"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
