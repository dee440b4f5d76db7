//! Who is calling the portal: a customer's session (its own cookie, scoped
//! to `/portal`), resolved once per request by [`resolve`]; and the portal's
//! form extractor with its CSRF check.

use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    audit::Actor,
    db::{self, Tx},
    web::{
        AppState,
        auth::{cookie, split_token},
        csrf::{MultipartForm, checked_form, checked_multipart},
        error::AppError,
        password,
    },
};

/// The session cookie; the staff one (`gridcrm_session`) is not read here.
pub const PORTAL_COOKIE: &str = "gridcrm_portal";
/// The double-submit token of the forms shown before signing in.
pub const PORTAL_CSRF_COOKIE: &str = "gridcrm_portal_csrf";

/// A signed-in portal customer.
#[derive(Clone, Debug)]
pub struct PortalCaller {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub tz: Tz,
    pub user_id: Uuid,
    pub login: String,
    pub session_id: Uuid,
    pub csrf: String,
}

/// How the audit names a customer acting in the portal: by their portal
/// login's id, never by the mobile number or e-mail they sign in with, so
/// that erasing the login (anonymisation) leaves no personal data in the
/// audit log and the `*_by` columns. Staff pages show it as "customer
/// (online) …" (`web::page::actor_label`).
pub fn actor_for(portal_user_id: Uuid) -> Actor {
    Actor { user_id: None, label: portal_label(portal_user_id), request_id: None }
}

/// `portal:` and the last twelve hex digits of the login's id (its random part).
pub fn portal_label(portal_user_id: Uuid) -> String {
    let hex = portal_user_id.simple().to_string();
    format!("portal:{}", &hex[hex.len() - 12..])
}

impl PortalCaller {
    pub fn actor(&self) -> Actor {
        actor_for(self.user_id)
    }

    /// The customer as the service queues' paths see whoever opens an item:
    /// not staff, supervising nothing, in the company's time zone.
    pub fn acting(&self) -> crate::service::Acting {
        crate::service::Acting {
            actor: self.actor(),
            user_id: None,
            tenant_id: self.tenant_id,
            supervises: false,
            tz: self.tz,
        }
    }

    /// A transaction that sees only this customer's accounts.
    pub async fn tx(&self, pool: &sqlx::PgPool) -> Result<Tx, AppError> {
        Ok(db::begin_portal(pool, self.tenant_id, self.user_id).await?)
    }

    /// A transaction of the customer's company as the server (for writes
    /// made on their behalf: links, codes, signing out).
    pub async fn company_tx(&self, pool: &sqlx::PgPool) -> Result<Tx, AppError> {
        Ok(db::begin_tenant(pool, self.tenant_id, None).await?)
    }
}

/// A page that needs a signed-in customer sends anyone else to the portal's
/// front page.
impl<S: Send + Sync> FromRequestParts<S> for PortalCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<PortalCaller>().cloned().ok_or_else(|| Redirect::to("/portal").into_response())
    }
}

/// Puts the portal customer, if the request carries a live session, into
/// the request. A database failure is 503, never "signed out".
pub async fn resolve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    resolve_as(state, request, next, Read::Session).await
}

/// The same for the home page, with the customer's linked accounts read in
/// the same statement (one round trip for the whole page) and put into the
/// request as [`LinkedAccounts`].
pub async fn resolve_with_accounts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    resolve_as(state, request, next, Read::SessionWithAccounts).await
}

/// The signed-in customer's linked accounts, read with their session by
/// [`resolve_with_accounts`].
#[derive(Clone, Debug)]
pub struct LinkedAccounts(pub Vec<super::db::Account>);

#[derive(Clone, Copy)]
enum Read {
    Session,
    SessionWithAccounts,
}

async fn resolve_as(state: AppState, mut request: Request, next: Next, read: Read) -> Response {
    let token = cookie(request.headers(), PORTAL_COOKIE).map(str::to_owned);
    if let Some((tenant_id, secret)) = token.as_deref().and_then(split_token) {
        let hash = password::sha256(secret);
        // One statement either way, which sets the tenant for itself (see
        // migrations 0064 and 0065).
        let found = match read {
            Read::Session => super::db::session(&state.db, tenant_id, &hash).await.map(|row| row.map(|r| (r, None))),
            Read::SessionWithAccounts => super::db::session_with_accounts(&state.db, tenant_id, &hash)
                .await
                .map(|found| found.map(|(r, accounts)| (r, Some(LinkedAccounts(accounts))))),
        };
        match found {
            Ok(Some((row, accounts))) => {
                request.extensions_mut().insert(caller(tenant_id, row));
                if let Some(accounts) = accounts {
                    request.extensions_mut().insert(accounts);
                }
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(error = %err, "resolving the portal caller failed");
                return AppError::Unavailable.into_response();
            }
        }
    }
    next.run(request).await
}

fn caller(tenant_id: Uuid, r: super::db::SessionRow) -> PortalCaller {
    PortalCaller {
        tenant_id,
        tenant_slug: r.slug,
        tenant_name: r.tenant_name,
        tz: r.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
        user_id: r.portal_user_id,
        login: r.login,
        session_id: r.session_id,
        csrf: r.csrf_token,
    }
}

/// A portal form whose CSRF token was checked: the session's when signed in,
/// else the double-submit cookie's.
pub struct PortalForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PortalForm<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = match request.extensions().get::<PortalCaller>() {
            Some(caller) => caller.csrf.clone(),
            None => cookie(request.headers(), PORTAL_CSRF_COOKIE).unwrap_or_default().to_owned(),
        };
        checked_form(request, state, &expected).await.map(PortalForm)
    }
}

/// A signed-in customer's upload form, its CSRF token checked.
pub struct PortalUpload(pub MultipartForm);

impl<S: Send + Sync> FromRequest<S> for PortalUpload {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = request.extensions().get::<PortalCaller>().map(|c| c.csrf.clone()).unwrap_or_default();
        checked_multipart(request, state, &expected).await.map(PortalUpload)
    }
}

/// The CSRF token for a page's forms: the session's, or the double-submit
/// cookie's (kept if the browser has one, so two open tabs both work), with
/// the cookie to set when it is new.
pub fn form_token(caller: Option<&PortalCaller>, headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(c) = caller {
        return (c.csrf.clone(), None);
    }
    if let Some(existing) = cookie(headers, PORTAL_CSRF_COOKIE).filter(|t| t.len() >= 32) {
        return (existing.to_owned(), None);
    }
    let token = password::random_token();
    let cookie = format!(
        "{PORTAL_CSRF_COOKIE}={token}; Path=/portal; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    (token, HeaderValue::from_str(&cookie).ok())
}

/// The Set-Cookie of a new session, or of its end (`token` None).
pub fn session_cookie(token: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = match token {
        Some(t) => format!(
            "{PORTAL_COOKIE}={t}; Path=/portal; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            super::SESSION_HOURS * 3600
        ),
        None => format!("{PORTAL_COOKIE}=; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).expect("cookie values are ASCII")
}

/// Adds a Set-Cookie header to a response.
pub fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}
