//! The delivery monitor (`/notices/monitor`, tenant admins and supervisors):
//! what is waiting per channel, what went out and what failed in the last
//! hour and day, how long the oldest due notice has waited, and the latest
//! failures, each with a button to send it again, and one to send all of a
//! channel's failures again.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    notices::{
        channels::SENT_BY_DISPATCHER,
        delivery::{self, Depth, Failed, Overview, Throughput},
    },
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

/// Failures listed on the page.
const FAILED_SHOWN: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/monitor", get(monitor_page))
        .route("/notices/monitor/retry", post(retry_channel))
        .route("/notices/monitor/{id}/retry", post(retry_one))
}

#[derive(askama::Template)]
#[template(path = "notices/monitor.html")]
struct MonitorPage {
    p: Page,
    depth: Vec<Depth>,
    throughput: Vec<Throughput>,
    /// (channel, failed notices) for the channels the dispatcher sends.
    failed_by_channel: Vec<(String, i64)>,
    oldest_wait: Option<String>,
    failed: Vec<Failed>,
    /// What was just done: `one`, or the number retried.
    retried: String,
}

impl MonitorPage {
    fn at(&self, at: &Option<DateTime<Utc>>) -> String {
        at.as_ref().map(|t| self.p.datetime(t)).unwrap_or_default()
    }
}

/// How long something has waited, in the largest two units.
pub fn wait_text(seconds: i64, minutes: &str, hours: &str, days: &str) -> String {
    let m = seconds.max(0) / 60;
    let (d, h, m) = (m / 1440, (m % 1440) / 60, m % 60);
    if d > 0 {
        format!("{d} {days} {h} {hours}")
    } else if h > 0 {
        format!("{h} {hours} {m} {minutes}")
    } else {
        format!("{m} {minutes}")
    }
}

#[derive(Deserialize, Default)]
struct MonitorQuery {
    #[serde(default)]
    retried: String,
}

async fn monitor_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<MonitorQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::MonitorNotices)?;
    let mut tx = user.tx(&state.db).await?;
    let Overview { depth, throughput, oldest_due, failed_by_channel } = delivery::overview(&mut tx).await?;
    let failed = delivery::recent_failed(&mut tx, FAILED_SHOWN).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "notice_delivery.title");
    let oldest_wait = oldest_due.map(|at| {
        let units = (p.t("notice_delivery.minutes"), p.t("notice_delivery.hours"), p.t("notice_delivery.days"));
        wait_text((Utc::now() - at).num_seconds(), &units.0, &units.1, &units.2)
    });
    let failed_by_channel = SENT_BY_DISPATCHER
        .iter()
        .map(|c| (c.to_string(), failed_by_channel.iter().find(|(f, _)| f == c).map(|(_, n)| *n).unwrap_or(0)))
        .collect();
    let retried = if q.retried == "one" || q.retried.parse::<u64>().is_ok() { q.retried } else { String::new() };
    let page = MonitorPage { p, depth, throughput, failed_by_channel, oldest_wait, failed, retried };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
struct NoFields {}

async fn retry_one(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    user.require(Permission::MonitorNotices)?;
    let mut tx = user.tx(&state.db).await?;
    // Another tenant's notice, or one not failed, is not found.
    let retried = delivery::retry(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let change = Change {
        action: "retry",
        entity: "notice",
        entity_id: Some(id),
        summary: format!("{} {}", retried.kind, retried.channel),
        before: Some(
            json!({ "status": "failed", "attempts": retried.attempts_before, "last_error": retried.last_error }),
        ),
        after: Some(json!({ "status": "queued", "attempts": 0 })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/notices/monitor?retried=one").into_response())
}

#[derive(Deserialize)]
struct ChannelForm {
    #[serde(default)]
    channel: String,
}

async fn retry_channel(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<ChannelForm>,
) -> Result<Response, AppError> {
    user.require(Permission::MonitorNotices)?;
    if !SENT_BY_DISPATCHER.contains(&form.channel.as_str()) {
        let mut errors = FieldErrors::default();
        errors.add("channel", if form.channel.is_empty() { "required" } else { "unknown_code" });
        return Err(AppError::Invalid(errors));
    }
    let mut tx = user.tx(&state.db).await?;
    let count = delivery::retry_channel(&mut tx, &form.channel).await?;
    if count > 0 {
        let change = Change {
            action: "retry",
            entity: "notice",
            entity_id: None,
            summary: format!("{}: {count}", form.channel),
            before: Some(json!({ "status": "failed", "channel": form.channel })),
            after: Some(json!({ "status": "queued", "attempts": 0, "notices": count })),
        };
        audit::record(&mut tx, &Actor::from(&user), change).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/monitor?retried={count}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_reads_in_its_two_largest_units() {
        let w = |s| wait_text(s, "min", "h", "d");
        assert_eq!(w(0), "0 min");
        assert_eq!(w(59), "0 min");
        assert_eq!(w(61), "1 min");
        assert_eq!(w(3 * 3600 + 12 * 60), "3 h 12 min");
        assert_eq!(w(2 * 86400 + 5 * 3600 + 59), "2 d 5 h");
        assert_eq!(w(-30), "0 min");
    }
}
