//! What contacts and work orders share: reference numbers, the event log
//! (who changed what, when, with a comment), and starting SLA clocks. The
//! supervisor board, the statistics and the escalation job live here too,
//! because they see both kinds of item.

pub mod board;
pub mod escalation;
pub mod queue;
pub mod stats;
pub mod stats_pages;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::Actor,
    sla::{Limit, RunningClock, ServiceRules, SlaStatus, settings},
    staff::Permission,
    web::auth::CurrentUser,
    workflow::{ClockStart, StateClock},
};

/// Who is acting on a contact or order, and with what standing.
#[derive(Clone, Debug)]
pub struct Acting {
    pub actor: Actor,
    pub user_id: Option<Uuid>,
    /// The company: row locks name it, so that Citus sends them to one shard.
    pub tenant_id: Uuid,
    /// Supervisors and admins may act on items they do not own.
    pub supervises: bool,
    pub tz: chrono_tz::Tz,
}

impl From<&CurrentUser> for Acting {
    fn from(user: &CurrentUser) -> Self {
        Self {
            actor: Actor::from(user),
            user_id: user.user_id,
            tenant_id: user.tenant_id,
            supervises: user.role.can(Permission::SuperviseService),
            tz: user.tz,
        }
    }
}

impl Acting {
    /// Only the owner, or a supervisor, acts on an item. An unowned item is
    /// taken by the first member of staff who acts on it.
    pub fn check_may_act(&self, owner_id: Option<Uuid>) -> Result<(), crate::web::error::AppError> {
        match owner_id {
            _ if self.supervises => Ok(()),
            Some(owner) if Some(owner) == self.user_id => Ok(()),
            None if self.user_id.is_some() => Ok(()),
            _ => Err(crate::web::error::AppError::Refused("not_owner")),
        }
    }
}

/// Who will own a new contact or order.
pub enum Owner {
    /// The person registering it (first-inquiry responsibility).
    Receiver,
    /// A named member of staff (the call centre says who took the call).
    Username(String),
    /// Nobody yet: the first person to act on it takes it.
    Unassigned,
}

impl Owner {
    /// For the API: the agent the caller names, else the signed-in caller, else
    /// nobody (an API key acts for no person).
    pub fn for_api(named: Option<&String>, user: &CurrentUser) -> Self {
        match (named, user.user_id) {
            (Some(name), _) => Owner::Username(name.clone()),
            (None, Some(_)) => Owner::Receiver,
            (None, None) => Owner::Unassigned,
        }
    }

    /// The owner's id; an unknown username is an error on the `owner` field.
    pub async fn resolve(
        self,
        conn: &mut PgConnection,
        who: &Acting,
        errors: &mut crate::web::error::FieldErrors,
    ) -> sqlx::Result<Option<Uuid>> {
        Ok(match self {
            Owner::Receiver => who.user_id,
            Owner::Username(name) => {
                let found = staff_by_username(conn, name.trim()).await?;
                if found.is_none() {
                    errors.add("owner", "unknown_user");
                }
                found
            }
            Owner::Unassigned => None,
        })
    }
}

/// An active staff member of the tenant: (id, display name, team).
pub async fn staff_member(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(Uuid, String, String)>> {
    let row = sqlx::query!("SELECT id, display_name, team FROM users WHERE id = $1 AND active", id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.id, r.display_name, r.team)))
}

pub async fn staff_by_username(conn: &mut PgConnection, username: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM users WHERE username = $1 AND active", username).fetch_optional(conn).await
}

/// The team of an item's owner ('' when nobody owns it).
pub async fn team_of(conn: &mut PgConnection, owner: Option<Uuid>) -> sqlx::Result<String> {
    Ok(match owner {
        Some(id) => staff_member(conn, id).await?.map(|m| m.2).unwrap_or_default(),
        None => String::new(),
    })
}

/// The member of staff who takes an unowned item by acting on it: (id, team).
pub async fn claimant(
    conn: &mut PgConnection,
    owner: Option<Uuid>,
    who: &Acting,
) -> sqlx::Result<Option<(Uuid, String)>> {
    Ok(match (owner, who.user_id) {
        (None, Some(user)) => staff_member(conn, user).await?.map(|m| (m.0, m.2)),
        _ => None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemType {
    Contact,
    WorkOrder,
}

impl ItemType {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Contact => "contact",
            ItemType::WorkOrder => "work_order",
        }
    }
}

/// The next reference number of a series for the tenant: `C00000001`.
pub async fn next_ref(conn: &mut PgConnection, series: &str) -> sqlx::Result<String> {
    let n = sqlx::query_scalar!(
        r#"INSERT INTO reference_counters (tenant_id, series, next_value) VALUES (app_tenant_id(), $1, 2)
           ON CONFLICT (tenant_id, series) DO UPDATE SET next_value = reference_counters.next_value + 1
           RETURNING next_value - 1 AS "n!""#,
        series
    )
    .fetch_one(conn)
    .await?;
    Ok(format!("{series}{n:08}"))
}

pub struct Event<'a> {
    pub item: ItemType,
    pub item_id: Uuid,
    pub action: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub comment: &'a str,
    pub detail: Option<Value>,
}

pub async fn log(conn: &mut PgConnection, actor: &Actor, at: DateTime<Utc>, event: Event<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO service_events
             (tenant_id, id, item_type, item_id, at, actor_id, actor_label, action, from_state, to_state, comment, detail)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        Uuid::now_v7(),
        event.item.as_str(),
        event.item_id,
        at,
        actor.user_id,
        actor.label,
        event.action,
        event.from_state,
        event.to_state,
        event.comment,
        event.detail
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub actor_label: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: String,
}

/// An item's history, oldest first.
pub async fn history(conn: &mut PgConnection, item: ItemType, item_id: Uuid) -> sqlx::Result<Vec<HistoryEntry>> {
    sqlx::query_as!(
        HistoryEntry,
        r#"SELECT at, actor_label, action, from_state, to_state, comment FROM service_events
           WHERE item_type = $1 AND item_id = $2 ORDER BY at, id"#,
        item.as_str(),
        item_id
    )
    .fetch_all(conn)
    .await
}

/// The clock columns an item stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockColumns {
    pub clock: Option<&'static str>,
    pub started: Option<DateTime<Utc>>,
    pub limit_minutes: Option<i32>,
    pub working_time: bool,
    pub due_at: Option<DateTime<Utc>>,
}

impl ClockColumns {
    pub fn stopped() -> Self {
        Self { working_time: true, ..Self::default() }
    }

    /// The clock as the SLA rules take it, when one runs.
    pub fn running(
        started: Option<DateTime<Utc>>,
        limit_minutes: Option<i32>,
        working_time: bool,
    ) -> Option<RunningClock> {
        Some(RunningClock { started: started?, limit: Limit { minutes: limit_minutes?, working_time } })
    }
}

/// Starts the clock of `state_clock` for an item of `item` (a contact kind or
/// work-order kind) and `variant`, opened at `opened_at`. An untimed clock
/// (no limit set by the tenant) leaves the item without a deadline.
pub async fn start_clock(
    conn: &mut PgConnection,
    rules: &ServiceRules,
    item: &str,
    variant: &str,
    state_clock: StateClock,
    opened_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<ClockColumns> {
    let Some(limit) = settings::find_limit(conn, item, state_clock.clock, variant).await? else {
        return Ok(ClockColumns::stopped());
    };
    let started = match state_clock.start {
        ClockStart::Opened => opened_at,
        ClockStart::Entered => now,
    };
    let due = rules.deadline(RunningClock { started, limit });
    Ok(ClockColumns {
        clock: Some(state_clock.clock),
        started: Some(started),
        limit_minutes: Some(limit.minutes),
        working_time: limit.working_time,
        due_at: Some(due),
    })
}

/// A clock as a badge shows it: the status, with working days, hours and minutes.
pub struct ClockBadge {
    /// ok, near or overdue (the CSS class).
    pub class: &'static str,
    pub days: i64,
    pub hours: i64,
    pub minutes: i64,
}

impl ClockBadge {
    pub fn of(rules: &ServiceRules, clock: RunningClock, now: DateTime<Utc>) -> Self {
        let (class, d) = match rules.status(clock, now) {
            SlaStatus::OnTime { left } => ("ok", left),
            SlaStatus::NearDue { left } => ("near", left),
            SlaStatus::Overdue { by } => ("overdue", by),
        };
        // A round-the-clock limit counts whole days; a working-time one, working days.
        let day_length =
            if clock.limit.working_time { rules.calendar.working_day_length() } else { chrono::Duration::days(1) };
        let (days, hours, minutes) = crate::sla::format_left(d, day_length);
        Self { class, days, hours, minutes }
    }
}

/// The month (first day) of an instant in the tenant's zone, for roll-ups.
pub fn month_of(at: DateTime<Utc>, tz: chrono_tz::Tz) -> chrono::NaiveDate {
    use chrono::Datelike;
    let local = at.with_timezone(&tz).date_naive();
    local.with_day(1).unwrap_or(local)
}
