//! Demand response: the SQL and the steps staff take (create, invite, send,
//! record an answer, close, settle). Each step runs in the caller's
//! transaction with its audit row and its notice events (timeline rows
//! with a `notice` code, which migration 0027's trigger puts in the
//! notices' outbox), so they commit together or not at all. The page and
//! the API call these same functions.
//!
//! `manager`: when the caller is an account manager, the invitations they
//! see and answer are their own customers' only; another's is not found.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    ValidEvent,
    baseline::{self, Calendar, DayLoad, Outcome, Window},
};
use crate::{
    audit::{self, Actor, Change},
    timeline,
    web::{
        error::{AppError, FieldErrors},
        i18n::{I18n, Locale},
    },
};

/// An event as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub ref_no: String,
    pub title: String,
    pub day: NaiveDate,
    pub window_start: NaiveTime,
    pub window_end: NaiveTime,
    pub requested_kw: Decimal,
    pub price_per_kwh: Decimal,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub invited_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    /// Named in the statements around the event, so that a Citus cluster
    /// sends them to the tenant's shard.
    pub tenant_id: Uuid,
}

impl Event {
    pub fn window(&self) -> String {
        super::window_text(self.window_start, self.window_end)
    }
}

async fn fetch(conn: &mut PgConnection, id: Uuid, lock: bool) -> sqlx::Result<Option<Event>> {
    if lock {
        crate::db::lock_row(conn, "dr_events", id).await?;
    }
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        Event,
        r#"SELECT id, ref_no, title, day, window_start, window_end, requested_kw, price_per_kwh, status, created_at,
                  created_by, invited_at, closed_at, settled_at, tenant_id
           FROM dr_events WHERE tenant_id = $2 AND id = $1"#,
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

/// The event, when the caller may see it: an account manager only one
/// that invited a customer of theirs.
pub async fn get(conn: &mut PgConnection, id: Uuid, manager: Option<Uuid>) -> Result<Event, AppError> {
    let event = fetch(conn, id, false).await?.ok_or(AppError::NotFound)?;
    if let Some(m) = manager {
        let theirs = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM dr_invitations i
                              JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
                              WHERE i.tenant_id = $3 AND i.event_id = $1 AND c.account_manager_id = $2) AS "x!""#,
            id,
            m,
            event.tenant_id
        )
        .fetch_one(conn)
        .await?;
        if !theirs {
            return Err(AppError::NotFound);
        }
    }
    Ok(event)
}

async fn locked(conn: &mut PgConnection, id: Uuid) -> Result<Event, AppError> {
    fetch(conn, id, true).await?.ok_or(AppError::NotFound)
}

/// One line of the list.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DrEventSummary {
    pub id: Uuid,
    /// The event's number, e.g. `D00000003`.
    pub ref_no: String,
    pub title: String,
    /// The event day (tenant local).
    pub day: NaiveDate,
    /// Window start and end, `HH:MM` local.
    pub window_start: String,
    pub window_end: String,
    /// The reduction asked for, kW.
    pub requested_kw: Decimal,
    /// Yuan per verified kWh.
    pub price_per_kwh: Decimal,
    /// `draft`, `invited`, `closed` or `settled`.
    pub status: String,
    /// Invited customers (an account manager's own only).
    pub invited: i64,
    pub accepted: i64,
    pub declined: i64,
    /// The kW the accepting customers committed.
    pub committed_kw: Decimal,
    /// Verified kWh and rewards so far.
    pub verified_kwh: Decimal,
    pub reward: Decimal,
}

/// Events, latest day first, at most `limit`, with their counts; for an
/// account manager those that invited their customers, counted over them.
pub async fn list(conn: &mut PgConnection, manager: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<DrEventSummary>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        DrEventSummary,
        r#"SELECT e.id, e.ref_no, e.title, e.day, to_char(e.window_start, 'HH24:MI') AS "window_start!",
                  to_char(e.window_end, 'HH24:MI') AS "window_end!", e.requested_kw, e.price_per_kwh, e.status,
                  coalesce(n.invited, 0) AS "invited!", coalesce(n.accepted, 0) AS "accepted!",
                  coalesce(n.declined, 0) AS "declined!", coalesce(n.committed, 0) AS "committed_kw!",
                  coalesce(n.verified, 0) AS "verified_kwh!", coalesce(n.reward, 0) AS "reward!"
           FROM dr_events e
           LEFT JOIN LATERAL (
             SELECT count(*) AS invited, count(r.*) FILTER (WHERE r.decision = 'accepted') AS accepted,
                    count(r.*) FILTER (WHERE r.decision = 'declined') AS declined,
                    sum(r.committed_kw) AS committed, sum(x.verified_kwh) AS verified, sum(x.reward) AS reward
             FROM dr_invitations i
             JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
             LEFT JOIN dr_responses r
               ON r.tenant_id = i.tenant_id AND r.event_id = i.event_id AND r.customer_id = i.customer_id
             LEFT JOIN dr_results x
               ON x.tenant_id = i.tenant_id AND x.event_id = i.event_id AND x.customer_id = i.customer_id
             WHERE i.tenant_id = $3 AND i.event_id = e.id AND ($1::uuid IS NULL OR c.account_manager_id = $1)
           ) n ON true
           WHERE e.tenant_id = $3 AND ($1::uuid IS NULL OR coalesce(n.invited, 0) > 0)
           ORDER BY e.day DESC, e.window_start DESC, e.id DESC
           LIMIT $2"#,
        manager,
        limit,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// Creates an event (a draft), audited.
pub async fn create(conn: &mut PgConnection, actor: &Actor, v: &ValidEvent) -> Result<Event, AppError> {
    let id = Uuid::now_v7();
    let ref_no = crate::service::next_ref(conn, "D").await?;
    sqlx::query!(
        r#"INSERT INTO dr_events (tenant_id, id, ref_no, title, day, window_start, window_end, requested_kw,
                                  price_per_kwh, created_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        id,
        ref_no,
        v.title,
        v.day,
        v.window_start,
        v.window_end,
        v.requested_kw,
        v.price_per_kwh,
        actor.label
    )
    .execute(&mut *conn)
    .await?;
    let change = Change {
        action: "create",
        entity: "dr_event",
        entity_id: Some(id),
        summary: format!("{ref_no} {}", v.title),
        before: None,
        after: Some(json!(v)),
    };
    audit::record(conn, actor, change).await?;
    fetch(conn, id, false).await?.ok_or(AppError::NotFound)
}

/// Whom to invite.
#[derive(Clone, Debug)]
pub enum Invitees {
    /// Account numbers; `field` names the field an unknown one is reported on.
    Accounts(Vec<String>, String),
    /// A reading route's code.
    Route(String, String),
    /// A segment's id (its stored membership).
    Segment(Uuid, String),
}

fn invalid(field: &str, code: &'static str) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add(field.to_owned(), code);
    AppError::Invalid(errors)
}

/// The customers' language for notice wording: the company's default.
async fn notice_locale(conn: &mut PgConnection) -> sqlx::Result<Locale> {
    let lang = sqlx::query_scalar!("SELECT default_lang FROM notice_settings").fetch_optional(conn).await?;
    Ok(if lang.as_deref() == Some("en") { Locale::En } else { Locale::ZhCn })
}

/// Puts a `demand_response_request` event on the timeline of each invited
/// customer in `customers` (the outbox trigger takes it to the planner).
async fn tell_invited(conn: &mut PgConnection, event: &Event, customers: &[Uuid]) -> sqlx::Result<u64> {
    if customers.is_empty() {
        return Ok(0);
    }
    let i = I18n(notice_locale(conn).await?);
    let message = i.t_with(
        "dr.msg_request",
        &[
            ("ref", &event.ref_no),
            ("title", &event.title),
            ("day", &event.day.to_string()),
            ("window", &event.window()),
            ("kw", &event.requested_kw.normalize().to_string()),
            ("price", &event.price_per_kwh.normalize().to_string()),
        ],
    );
    // RETURNING: not by COPY, which row-level security refuses on a cluster.
    let done = sqlx::query!(
        r#"INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, notice, title, status, link)
           SELECT $4, gen_random_uuid(), c, now(), 'demand_response', 'demand_response_request', $2, '', $3
           FROM unnest($1::uuid[]) AS c
           RETURNING customer_id"#,
        customers,
        message,
        format!("/dr-events/{}", event.id),
        event.tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(done.len() as u64)
}

/// Invites customers (active ones, each once). When the invitations have
/// gone out already, the new ones are told at once. Returns how many were
/// new. 409 `dr_status` when the event is closed or settled.
pub async fn invite(conn: &mut PgConnection, actor: &Actor, id: Uuid, who: &Invitees) -> Result<u64, AppError> {
    let event = locked(conn, id).await?;
    if !super::can_invite(&event.status) {
        return Err(AppError::Conflict("dr_status"));
    }
    let (via, via_name, customers): (&str, String, Vec<Uuid>) = match who {
        Invitees::Accounts(accounts, field) => {
            if accounts.is_empty() {
                return Err(invalid(field, "required"));
            }
            if accounts.len() > super::MAX_ACCOUNTS {
                return Err(invalid(field, "dr_too_many"));
            }
            let rows = sqlx::query!(
                r#"SELECT id, account_no AS "account_no!", status FROM customers WHERE account_no = ANY($1)"#,
                accounts
            )
            .fetch_all(&mut *conn)
            .await?;
            if rows.len() < accounts.len() {
                return Err(invalid(field, "dr_unknown_account"));
            }
            if rows.iter().any(|r| r.status != "active") {
                return Err(invalid(field, "dr_inactive_account"));
            }
            ("list", String::new(), rows.into_iter().map(|r| r.id).collect())
        }
        Invitees::Route(code, field) => {
            let route = sqlx::query_scalar!("SELECT id FROM reading_routes WHERE code = $1", code.trim())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| invalid(field, "unknown_route"))?;
            let ids = sqlx::query_scalar!(
                "SELECT id FROM customers WHERE route_id = $1 AND status = 'active' ORDER BY id",
                route
            )
            .fetch_all(&mut *conn)
            .await?;
            ("route", code.trim().to_owned(), ids)
        }
        Invitees::Segment(segment, field) => {
            let name = sqlx::query_scalar!("SELECT name FROM segments WHERE id = $1", segment)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| invalid(field, "dr_unknown_segment"))?;
            let ids = sqlx::query_scalar!(
                r#"SELECT c.id FROM segment_members m JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
                   WHERE m.tenant_id = $2 AND m.segment_id = $1 AND c.status = 'active' ORDER BY c.id"#,
                segment,
                event.tenant_id
            )
            .fetch_all(&mut *conn)
            .await?;
            ("segment", name, ids)
        }
    };
    let added = sqlx::query_scalar!(
        r#"INSERT INTO dr_invitations (tenant_id, event_id, customer_id, invited_via, via_name, invited_by)
           SELECT app_tenant_id(), $1, c, $2, $3, $4 FROM unnest($5::uuid[]) AS c
           ON CONFLICT DO NOTHING
           RETURNING customer_id"#,
        id,
        via,
        via_name,
        actor.label,
        &customers
    )
    .fetch_all(&mut *conn)
    .await?;
    if event.status == "invited" {
        tell_invited(conn, &event, &added).await?;
    }
    let change = Change {
        action: "invite",
        entity: "dr_event",
        entity_id: Some(id),
        summary: format!("{} {via} {via_name}", event.ref_no),
        before: None,
        after: Some(json!({ "via": via, "name": via_name, "invited": added.len() })),
    };
    audit::record(conn, actor, change).await?;
    Ok(added.len() as u64)
}

/// Sends the invitations: the event becomes `invited` and every invited
/// customer is told. 409 `dr_status` unless a draft; 422 on `invitations`
/// when nobody is invited. Returns how many were told.
pub async fn send(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<u64, AppError> {
    let event = locked(conn, id).await?;
    if !super::can_send(&event.status) {
        return Err(AppError::Conflict("dr_status"));
    }
    let customers = sqlx::query_scalar!("SELECT customer_id FROM dr_invitations WHERE event_id = $1", id)
        .fetch_all(&mut *conn)
        .await?;
    if customers.is_empty() {
        return Err(invalid("invitations", "dr_nobody_invited"));
    }
    sqlx::query!("UPDATE dr_events SET status = 'invited', invited_at = now() WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    let told = tell_invited(conn, &event, &customers).await?;
    let change = Change {
        action: "send",
        entity: "dr_event",
        entity_id: Some(id),
        summary: event.ref_no.clone(),
        before: Some(json!({ "status": event.status })),
        after: Some(json!({ "status": "invited", "told": told })),
    };
    audit::record(conn, actor, change).await?;
    Ok(told)
}

/// An answer as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DrResponse {
    pub event_id: Uuid,
    pub customer_id: Uuid,
    /// `accepted` or `declined`.
    pub decision: String,
    /// The reduction the customer commits to, kW (accepted only).
    pub committed_kw: Option<Decimal>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    /// `page` or `api`.
    pub channel: String,
}

/// Records an invited customer's answer (replacing an earlier one),
/// audited with what it replaced. 404 when the customer is not invited (or
/// not the manager's); 409 `dr_status` unless the invitations are out and
/// the event is not closed.
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    customer: Uuid,
    decision: &str,
    committed_kw: Option<Decimal>,
    channel: &str,
    manager: Option<Uuid>,
) -> Result<DrResponse, AppError> {
    let event = get(conn, id, manager).await?;
    let invited = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM dr_invitations i
                          JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
                          WHERE i.tenant_id = $4 AND i.event_id = $1 AND i.customer_id = $2
                            AND ($3::uuid IS NULL OR c.account_manager_id = $3)) AS "x!""#,
        id,
        customer,
        manager,
        event.tenant_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !invited {
        return Err(AppError::NotFound);
    }
    let event = locked(conn, event.id).await?;
    if !super::can_respond(&event.status) {
        return Err(AppError::Conflict("dr_status"));
    }
    let before = sqlx::query!(
        "SELECT decision, committed_kw FROM dr_responses WHERE event_id = $1 AND customer_id = $2",
        id,
        customer
    )
    .fetch_optional(&mut *conn)
    .await?;
    let saved = sqlx::query_as!(
        DrResponse,
        r#"INSERT INTO dr_responses (tenant_id, event_id, customer_id, decision, committed_kw, recorded_by, channel)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, event_id, customer_id) DO UPDATE
             SET decision = excluded.decision, committed_kw = excluded.committed_kw,
                 recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at, channel = excluded.channel
           RETURNING event_id, customer_id, decision, committed_kw, recorded_by, recorded_at, channel"#,
        id,
        customer,
        decision,
        committed_kw,
        actor.label,
        channel
    )
    .fetch_one(&mut *conn)
    .await?;
    let change = Change {
        action: "respond",
        entity: "dr_event",
        entity_id: Some(id),
        summary: format!("{} {decision}", event.ref_no),
        before: before.map(|b| json!({ "customer": customer, "decision": b.decision, "committed_kw": b.committed_kw })),
        after: Some(
            json!({ "customer": customer, "decision": decision, "committed_kw": committed_kw, "channel": channel }),
        ),
    };
    audit::record(conn, actor, change).await?;
    Ok(saved)
}

/// Closes the event to answers. 409 `dr_status` unless invited.
pub async fn close(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<(), AppError> {
    let event = locked(conn, id).await?;
    if !super::can_close(&event.status) {
        return Err(AppError::Conflict("dr_status"));
    }
    sqlx::query!("UPDATE dr_events SET status = 'closed', closed_at = now() WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    let change = Change {
        action: "close",
        entity: "dr_event",
        entity_id: Some(id),
        summary: event.ref_no.clone(),
        before: Some(json!({ "status": event.status })),
        after: Some(json!({ "status": "closed" })),
    };
    audit::record(conn, actor, change).await?;
    Ok(())
}

/// An invited customer with their answer and result, for the event page and the CSV.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct InvitationRow {
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub manager: Option<String>,
    pub invited_via: String,
    pub via_name: String,
    pub decision: Option<String>,
    pub committed_kw: Option<Decimal>,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub channel: Option<String>,
    pub result: Option<String>,
    pub similar_days: Option<Vec<NaiveDate>>,
    pub adjustment: Option<Decimal>,
    pub baseline_kwh: Option<Decimal>,
    pub actual_kwh: Option<Decimal>,
    pub verified_kwh: Option<Decimal>,
    pub reward: Option<Decimal>,
}

/// The invitations of an event by account number, after `after`, at most
/// `limit` (an account manager's own customers only).
pub async fn invitations(
    conn: &mut PgConnection,
    id: Uuid,
    manager: Option<Uuid>,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<InvitationRow>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        InvitationRow,
        r#"SELECT c.id AS customer_id, c.account_no AS "account_no!", c.name, u.display_name AS "manager?",
                  i.invited_via, i.via_name, r.decision AS "decision?", r.committed_kw AS "committed_kw?",
                  r.recorded_by AS "recorded_by?", r.recorded_at AS "recorded_at?", r.channel AS "channel?",
                  x.status AS "result?", x.similar_days AS "similar_days?", x.adjustment AS "adjustment?",
                  x.baseline_kwh AS "baseline_kwh?", x.actual_kwh AS "actual_kwh?", x.verified_kwh AS "verified_kwh?",
                  x.reward AS "reward?"
           FROM dr_invitations i
           JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
           LEFT JOIN users u ON u.tenant_id = i.tenant_id AND u.id = c.account_manager_id
           LEFT JOIN dr_responses r
             ON r.tenant_id = i.tenant_id AND r.event_id = i.event_id AND r.customer_id = i.customer_id
           LEFT JOIN dr_results x
             ON x.tenant_id = i.tenant_id AND x.event_id = i.event_id AND x.customer_id = i.customer_id
           WHERE i.tenant_id = $5 AND i.event_id = $1 AND ($2::uuid IS NULL OR c.account_manager_id = $2)
             AND ($3::text IS NULL OR c.account_no > $3)
           ORDER BY c.account_no LIMIT $4"#,
        id,
        manager,
        after,
        limit,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// A customer's id from their account number (for answers by account).
pub async fn customer_by_account(conn: &mut PgConnection, account_no: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM customers WHERE account_no = $1", account_no.trim()).fetch_optional(conn).await
}

/// The segments and routes an event may invite from, for the form.
pub async fn choices(conn: &mut PgConnection) -> sqlx::Result<(Vec<(Uuid, String)>, Vec<(String, String)>)> {
    let segments = sqlx::query!("SELECT id, name FROM segments ORDER BY name").fetch_all(&mut *conn).await?;
    let routes = sqlx::query!("SELECT code, name FROM reading_routes ORDER BY code").fetch_all(conn).await?;
    Ok((segments.into_iter().map(|s| (s.id, s.name)).collect(), routes.into_iter().map(|r| (r.code, r.name)).collect()))
}

// ------------------------------------------------------------------ settlement

/// What a settlement did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Settled {
    /// Participants settled now (accepted, not verified before).
    pub settled: u64,
    /// Of them, verified (the others lack a baseline or the day's data).
    pub verified: u64,
    /// Bill credits created now.
    pub credited: u64,
    /// Their sum, yuan.
    pub credited_amount: Decimal,
}

/// The tenant's calendar between two days.
async fn calendar(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> sqlx::Result<Calendar> {
    let weekend = sqlx::query_scalar!("SELECT weekend FROM service_calendars").fetch_optional(&mut *conn).await?;
    let days = sqlx::query!("SELECT day, kind FROM calendar_days WHERE day BETWEEN $1 AND $2", from, to)
        .fetch_all(conn)
        .await?;
    Ok(Calendar {
        weekend: weekend.unwrap_or_else(|| vec![6, 7]).into_iter().map(|d| d as u32).collect(),
        holidays: days.iter().filter(|d| d.kind == "holiday").map(|d| d.day).collect(),
        working: days.iter().filter(|d| d.kind == "working").map(|d| d.day).collect(),
    })
}

/// Each participant's load on `days`, combined over the meters installed
/// on the customer's supply points that day; a day where any such meter
/// has no row is left out.
async fn loads(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    days: &[NaiveDate],
) -> sqlx::Result<HashMap<Uuid, HashMap<NaiveDate, DayLoad>>> {
    let installs = sqlx::query!(
        r#"SELECT p.customer_id, i.meter_id, i.installed_on, i.removed_on
           FROM supply_points p JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id
           WHERE p.tenant_id = $2 AND p.customer_id = ANY($1)"#,
        customers,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let meters: Vec<Uuid> = installs.iter().map(|i| i.meter_id).collect();
    let rows = sqlx::query!(
        r#"SELECT meter_id, day, minutes, kw AS "kw: Vec<Option<f64>>" FROM load_days
           WHERE tenant_id = $3 AND meter_id = ANY($1) AND day = ANY($2)"#,
        &meters,
        days,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    let mut by_meter: HashMap<(Uuid, NaiveDate), DayLoad> = HashMap::with_capacity(rows.len());
    for r in rows {
        by_meter.insert((r.meter_id, r.day), DayLoad { day: r.day, minutes: r.minutes as u32, kw: r.kw });
    }
    let mut out: HashMap<Uuid, HashMap<NaiveDate, DayLoad>> = HashMap::new();
    for customer in customers {
        let mine: Vec<_> = installs.iter().filter(|i| i.customer_id == *customer).collect();
        let per_day = out.entry(*customer).or_default();
        for day in days {
            let active: Vec<_> =
                mine.iter().filter(|i| i.installed_on <= *day && i.removed_on.is_none_or(|r| r > *day)).collect();
            let found: Option<Vec<DayLoad>> =
                active.iter().map(|i| by_meter.get(&(i.meter_id, *day)).cloned()).collect();
            if let Some(combined) = found.and_then(|f| baseline::combine(&f)) {
                per_day.insert(*day, combined);
            }
        }
    }
    Ok(out)
}

/// Settles the event's participants not verified before (the event must be
/// closed, or settled already, and its day over): each one's baseline and
/// verified reduction from `load_days`, the reward as a credit on their
/// next bill (once per event and customer, ever) and a
/// `demand_response_result` event. The event becomes `settled`.
pub async fn settle(conn: &mut PgConnection, actor: &Actor, id: Uuid, today: NaiveDate) -> Result<Settled, AppError> {
    let event = locked(conn, id).await?;
    super::can_settle(&event.status, event.day, today).map_err(AppError::Conflict)?;
    let participants = sqlx::query_scalar!(
        r#"SELECT r.customer_id FROM dr_responses r
           LEFT JOIN dr_results x ON x.tenant_id = r.tenant_id AND x.event_id = r.event_id AND x.customer_id = r.customer_id
           WHERE r.tenant_id = $2 AND r.event_id = $1 AND r.decision = 'accepted'
             AND (x.status IS NULL OR x.status <> 'verified')
           ORDER BY r.customer_id"#,
        id,
        event.tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let from = event.day - chrono::Duration::days(baseline::LOOKBACK_DAYS);
    let cal = calendar(conn, from, event.day).await?;
    let earlier = sqlx::query_scalar!(
        "SELECT DISTINCT day FROM dr_events WHERE id <> $1 AND status <> 'draft' AND day BETWEEN $2 AND $3",
        id,
        from,
        event.day
    )
    .fetch_all(&mut *conn)
    .await?;
    let candidates = baseline::candidate_days(event.day, &cal, &earlier);
    let mut days = candidates.clone();
    days.push(event.day);
    let loads = loads(conn, event.tenant_id, &participants, &days).await?;
    let window = Window { start: event.window_start, end: event.window_end };
    let locale = I18n(notice_locale(conn).await?);
    let mut summary = Settled::default();
    for customer in &participants {
        let mine = loads.get(customer);
        let history: Vec<DayLoad> = candidates.iter().filter_map(|d| mine.and_then(|m| m.get(d)).cloned()).collect();
        let settlement = match mine.and_then(|m| m.get(&event.day)) {
            Some(day) => baseline::settle(day, &history, window),
            None => {
                // No data for the event day at all: judged by the history alone.
                let empty = DayLoad { day: event.day, minutes: 30, kw: vec![None; 48] };
                baseline::settle(&empty, &history, window)
            }
        };
        let verified = settlement.outcome == Outcome::Verified;
        let verified_kwh = if verified { baseline::kwh(settlement.verified_kwh) } else { Decimal::ZERO };
        let reward = if verified { baseline::reward(verified_kwh, event.price_per_kwh) } else { Decimal::ZERO };
        let figures = |v: f64| verified.then(|| baseline::kwh(v));
        let adjustment =
            verified.then(|| Decimal::try_from(settlement.adjustment).ok().map(|a| a.round_dp(4))).flatten();
        sqlx::query!(
            r#"INSERT INTO dr_results (tenant_id, event_id, customer_id, status, similar_days, adjustment, baseline_kwh,
                                       actual_kwh, verified_kwh, reward)
               VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (tenant_id, event_id, customer_id) DO UPDATE
                 SET status = excluded.status, similar_days = excluded.similar_days, adjustment = excluded.adjustment,
                     baseline_kwh = excluded.baseline_kwh, actual_kwh = excluded.actual_kwh,
                     verified_kwh = excluded.verified_kwh, reward = excluded.reward, computed_at = excluded.computed_at
                 WHERE dr_results.status <> 'verified'"#,
            id,
            customer,
            settlement.outcome.code(),
            &settlement.similar_days,
            adjustment,
            figures(settlement.baseline_kwh),
            figures(settlement.actual_kwh),
            verified_kwh,
            reward
        )
        .execute(&mut *conn)
        .await?;
        summary.settled += 1;
        if !verified {
            continue;
        }
        summary.verified += 1;
        if reward > Decimal::ZERO {
            let credited = crate::billing::credits::add(
                conn,
                *customer,
                "demand_response",
                verified_kwh,
                event.price_per_kwh,
                reward,
                &super::credit_ref(id, *customer),
            )
            .await?;
            if credited {
                summary.credited += 1;
                summary.credited_amount += reward;
            }
        }
        let message = locale.t_with(
            "dr.msg_result",
            &[
                ("ref", &event.ref_no),
                ("day", &event.day.to_string()),
                ("window", &event.window()),
                ("kwh", &verified_kwh.normalize().to_string()),
                ("reward", &reward.to_string()),
            ],
        );
        let entry = timeline::Entry {
            kind: "demand_response",
            notice: Some("demand_response_result"),
            title: &message,
            status: "",
            link: &format!("/dr-events/{id}"),
        };
        timeline::record(conn, *customer, Utc::now(), entry).await?;
    }
    if event.status == "closed" {
        sqlx::query!("UPDATE dr_events SET status = 'settled', settled_at = now() WHERE id = $1", id)
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query!("UPDATE dr_events SET settled_at = now() WHERE id = $1", id).execute(&mut *conn).await?;
    }
    let change = Change {
        action: "settle",
        entity: "dr_event",
        entity_id: Some(id),
        summary: event.ref_no.clone(),
        before: Some(json!({ "status": event.status })),
        after: Some(json!(summary)),
    };
    audit::record(conn, actor, change).await?;
    Ok(summary)
}
