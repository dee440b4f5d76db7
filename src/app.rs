//! The application assembled: every area's pages and API under the layers
//! every request passes. Areas use `web/` and `db/`; only this module knows
//! them all.

#[cfg(test)]
mod translations;

use std::{sync::Arc, time::Duration};

use axum::{Router, http::StatusCode, middleware, routing::get};
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    api, audit, billing, complaints, cost_control, customers, home, payments, platform, readings, service, sla, staff,
    web::{self, AppState},
    work_orders,
};

/// The whole application, as `main` serves it and tests drive it.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    let pages = Router::new()
        .merge(staff::login::router())
        .merge(home::router())
        .merge(customers::pages::router())
        .merge(customers::contracts_pages::router())
        .merge(crate::privacy::pages::router())
        .merge(crate::load::pages::router())
        .merge(complaints::pages::router())
        .merge(work_orders::pages::router())
        .merge(service::board::router())
        .merge(service::stats_pages::router())
        .merge(sla::pages::router())
        .merge(readings::pages::router())
        .merge(billing::pages::router())
        .merge(billing::tariff_pages::router())
        .merge(payments::pages::router())
        .merge(payments::arrears::router())
        .merge(payments::cash_pages::router())
        .merge(crate::prints::pages::router())
        .merge(crate::appointments::pages::router())
        .merge(cost_control::pages::router())
        .merge(crate::segments::pages::router())
        .merge(staff::pages::router())
        .merge(staff::api_keys::router())
        .merge(audit::pages::router())
        .merge(platform::pages::router())
        .merge(crate::value::pages::router())
        .merge(crate::credit::pages::router())
        .merge(crate::points::pages::router())
        .merge(crate::portfolio::pages::router())
        .merge(crate::anomalies::pages::router())
        .merge(crate::tariff_analysis::pages::router())
        .merge(crate::notices::hub::router())
        .merge(crate::notices::rules_pages::router())
        .merge(crate::notices::monitor::router())
        .merge(crate::notices::templates_pages::router())
        .merge(crate::notices::preferences_pages::router())
        .merge(crate::notices::staff_channels::router())
        .merge(crate::notices::outages_pages::router())
        .merge(crate::demand_response::pages::router())
        .merge(crate::customers::reference_pages::router())
        .merge(crate::supply::verification::router())
        .merge(crate::supply::pages::router())
        .merge(crate::onboarding::pages::router())
        .merge(crate::portal::pages::router(state.clone()));
    Router::new()
        .merge(pages)
        .merge(api)
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(openapi.as_ref().clone()) }))
        .merge(web::ops::router())
        .fallback(web::error::not_found)
        .layer(middleware::from_fn(web::input::refuse_bad_text))
        .layer(middleware::from_fn(web::error::render_errors))
        .layer(middleware::from_fn_with_state(state.clone(), web::auth::resolve_caller))
        .layer(middleware::from_fn(web::ops::track_metrics))
        .layer(middleware::map_response(web::security_headers))
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
