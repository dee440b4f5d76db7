//! The web infrastructure every area uses: the application state, callers and
//! sessions, CSRF, errors, i18n, page helpers. It knows no business area; the
//! application is assembled in `crate::app`.

pub mod access;
pub mod api_json;
pub mod auth;
pub mod change;
pub mod chart;
pub mod csrf;
pub mod csv_export;
pub mod error;
pub mod i18n;
pub mod input;
pub mod ops;
pub mod page;
pub mod paging;
pub mod password;
pub mod upload;

use std::{sync::Arc, time::Duration};

use axum::{
    http::{HeaderName, HeaderValue, header},
    response::Response,
};
use sqlx::PgPool;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub throttle: Arc<auth::LoginThrottle>,
    /// The customer portal's sign-in failures per address, apart from staff's.
    pub portal_logins: Arc<auth::LoginThrottle>,
    /// The customer portal's requests for one-time codes per address.
    pub portal_codes: Arc<auth::LoginThrottle>,
    pub uploads: Arc<upload::Uploads>,
    /// Reverse proxies whose X-Forwarded-For names the caller.
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// The pool this process's jobs and imports use, for the metrics page
    /// (none in a process assembled without one).
    pub bulk: Option<PgPool>,
    /// The database is a Citus cluster (`db::citus::is_distributed`): the
    /// caller of a request is looked up in a transaction of its own.
    pub on_citus: bool,
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        let throttle = auth::LoginThrottle::new(config.login_max_failures_per_address, Duration::from_secs(600));
        let uploads = Arc::new(upload::Uploads::from_config(&config));
        // Checked when the configuration was loaded.
        let trusted_proxies = config.trusted_proxy_addrs().unwrap_or_default().into();
        let portal_logins = auth::LoginThrottle::new(config.login_max_failures_per_address, Duration::from_secs(600));
        let portal_codes = auth::LoginThrottle::new(auth::PORTAL_CODE_REQUESTS_PER_HOUR, Duration::from_secs(3600));
        Self {
            db,
            config: Arc::new(config),
            throttle: Arc::new(throttle),
            portal_logins: Arc::new(portal_logins),
            portal_codes: Arc::new(portal_codes),
            uploads,
            trusted_proxies,
            bulk: None,
            on_citus: false,
        }
    }

    /// Marks the database as a Citus cluster (or not).
    pub fn on_citus(self, on_citus: bool) -> Self {
        Self { on_citus, ..self }
    }

    /// The settings of a search's transaction: generic plans
    /// ([`crate::db::GENERIC_PLANS`]) on one server; none on a Citus
    /// cluster, whose planner refuses the search's statements with their
    /// parameters unbound ("could not create distributed plan").
    pub fn search_settings(&self) -> &'static str {
        if self.on_citus { "" } else { crate::db::GENERIC_PLANS }
    }

    /// The pool of this process's jobs and imports, whose use `/metrics` reports.
    pub fn with_bulk_pool(self, bulk: PgPool) -> Self {
        Self { bulk: Some(bulk), ..self }
    }
}

/// No inline script anywhere: scripts and styles from this site only. A
/// response that sets its own (the portal's pay form) keeps it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub async fn security_headers(mut response: Response) -> Response {
    const HEADERS: [(HeaderName, &str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"),
    ];
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}
