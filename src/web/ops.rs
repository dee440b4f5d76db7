//! Operations endpoints (/healthz, /metrics), request metrics, and the static
//! files, which are compiled into the binary so it runs from any directory.

use std::{
    net::{IpAddr, SocketAddr},
    sync::OnceLock,
    time::Instant,
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, MatchedPath, Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::{
    config::Secret,
    web::{AppState, error::AppError, password},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/{file}", get(static_file))
}

async fn healthz(State(state): State<AppState>) -> Response {
    let reachable = crate::db::ping(&state.db).await;
    let status = if reachable { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if reachable { "ok" } else { "unavailable" },
        "database": if reachable { "reachable" } else { "unreachable" },
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body)).into_response()
}

/// One recorder per process; tests build many apps in one process.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed, and then ours stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Who may read /metrics: with `metrics_token` configured, whoever sends it
/// as a Bearer token; without, only this machine. A request relayed by a proxy
/// comes from loopback too, so one that carries proxy headers is not local.
fn may_read_metrics(token: Option<&Secret>, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), AppError> {
    match token {
        Some(token) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let good = password::constant_time_eq(presented.as_bytes(), token.expose().as_bytes());
            if good { Ok(()) } else { Err(AppError::Forbidden) }
        }
        None => {
            let proxied = headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
            let local = peer.is_some_and(|ip| ip.to_canonical().is_loopback());
            if local && !proxied { Ok(()) } else { Err(AppError::NotFound) }
        }
    }
}

async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    may_read_metrics(state.config.metrics_token.as_ref(), peer, request.headers())?;
    // The request pool's use, as of this scrape: saturation shows as in_use
    // near max (and as gridcrm_db_pool_timeouts_total rising).
    record_pool_use(&state.db, "gridcrm_db_pool_connections", "gridcrm_db_pool_max");
    if let Some(bulk) = &state.bulk {
        record_pool_use(bulk, "gridcrm_db_bulk_pool_connections", "gridcrm_db_bulk_pool_max");
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render()).into_response())
}

fn record_pool_use(pool: &sqlx::PgPool, connections: &'static str, max: &'static str) {
    let idle = pool.num_idle() as f64;
    metrics::gauge!(connections, "state" => "idle").set(idle);
    metrics::gauge!(connections, "state" => "in_use").set(f64::from(pool.size()) - idle);
    metrics::gauge!(max).set(f64::from(pool.options().get_max_connections()));
}

/// Counts requests and their latency by route template (never by raw path,
/// which would carry ids).
pub async fn track_metrics(request: Request, next: Next) -> Response {
    prometheus();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}

const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../static/app.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../static/htmx.min.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../static/favicon.svg")),
    ("notices.css", "text/css; charset=utf-8", include_bytes!("../../static/notices.css")),
    ("notices.js", "text/javascript; charset=utf-8", include_bytes!("../../static/notices.js")),
    ("portal.css", "text/css; charset=utf-8", include_bytes!("../../static/portal.css")),
    ("portal.js", "text/javascript; charset=utf-8", include_bytes!("../../static/portal.js")),
];

async fn static_file(Path(file): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, bytes) = STATIC_FILES.iter().find(|(name, _, _)| *name == file).ok_or(AppError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn without_a_token_only_this_machine_reads_metrics() {
        let none = HeaderMap::new();
        assert!(may_read_metrics(None, Some(IpAddr::from([127, 0, 0, 1])), &none).is_ok());
        assert!(may_read_metrics(None, Some("::1".parse().unwrap()), &none).is_ok());
        assert!(may_read_metrics(None, Some("::ffff:127.0.0.1".parse().unwrap()), &none).is_ok());
        for outside in [IpAddr::from([10, 0, 0, 7]), IpAddr::from([203, 0, 113, 5]), "2001:db8::1".parse().unwrap()] {
            assert!(matches!(may_read_metrics(None, Some(outside), &none), Err(AppError::NotFound)), "{outside}");
        }
        assert!(may_read_metrics(None, None, &none).is_err(), "an unknown peer is not local");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        assert!(may_read_metrics(None, Some(IpAddr::from([127, 0, 0, 1])), &proxied).is_err());
    }

    #[test]
    fn with_a_token_anyone_who_sends_it_reads_metrics() {
        let token = Secret::new("s3cret-metrics-token");
        let outside = Some(IpAddr::from([203, 0, 113, 5]));
        assert!(may_read_metrics(Some(&token), outside, &bearer("s3cret-metrics-token")).is_ok());
        assert!(matches!(may_read_metrics(Some(&token), outside, &bearer("wrong")), Err(AppError::Forbidden)));
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(may_read_metrics(Some(&token), local, &HeaderMap::new()).is_err(), "the token is needed from here too");
    }
}
