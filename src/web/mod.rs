//! The HTTP application: state, router, and the layers every request passes.

pub mod api_json;
pub mod auth;
pub mod chart;
pub mod csrf;
pub mod csv_export;
pub mod error;
pub mod i18n;
pub mod input;
pub mod login;
pub mod ops;
pub mod page;
pub mod paging;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware,
    response::Response,
    routing::get,
};
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub throttle: Arc<auth::LoginThrottle>,
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        let throttle = auth::LoginThrottle::new(config.login_max_failures_per_address, Duration::from_secs(600));
        Self { db, config: Arc::new(config), throttle: Arc::new(throttle) }
    }
}

/// The whole application, as `main` serves it and tests drive it.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = crate::api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    let pages = Router::new()
        .merge(login::router())
        .merge(crate::home::router())
        .merge(crate::customers::pages::router())
        .merge(crate::complaints::pages::router())
        .merge(crate::work_orders::pages::router())
        .merge(crate::service::board::router())
        .merge(crate::service::stats_pages::router())
        .merge(crate::sla::pages::router())
        .merge(crate::readings::pages::router())
        .merge(crate::billing::pages::router())
        .merge(crate::billing::tariff_pages::router())
        .merge(crate::payments::pages::router())
        .merge(crate::payments::arrears::router())
        .merge(crate::cost_control::pages::router())
        .merge(crate::staff::pages::router())
        .merge(crate::staff::api_keys::router())
        .merge(crate::audit::pages::router())
        .merge(crate::platform::pages::router());
    Router::new()
        .merge(pages)
        .merge(api)
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(openapi.as_ref().clone()) }))
        .merge(ops::router())
        .fallback(error::not_found)
        .layer(middleware::from_fn(input::refuse_bad_text))
        .layer(middleware::from_fn(error::render_errors))
        .layer(middleware::from_fn_with_state(state.clone(), auth::resolve_caller))
        .layer(middleware::from_fn(ops::track_metrics))
        .layer(middleware::map_response(security_headers))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
                .layer(CompressionLayer::new()),
        )
        .with_state(state)
}

/// No inline script anywhere: the CSP allows scripts and styles from this
/// site only.
async fn security_headers(mut response: Response) -> Response {
    const HEADERS: [(HeaderName, &str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
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
