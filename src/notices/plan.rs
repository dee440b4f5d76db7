//! The planner: turns outbox events, dates coming due and broadcasts into
//! notices by the tenant's rules. Each rule names a kind, an audience (the
//! customers concerned, narrowed to a segment, route, transformer or area),
//! an offset and channels; every path fills `notice_targets` with one
//! set-based statement and hands it to `db::enqueue`, whose key makes a
//! second planning of the same event create nothing.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Kind, Source, db};

/// A rule as the planner reads it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Rule {
    pub id: Uuid,
    pub kind: String,
    pub channels: Vec<String>,
    pub offset_minutes: i32,
    pub since: DateTime<Utc>,
}

/// Outbox events planned per call, so one tenant's backlog (say, the
/// timeline rows recorded before notices existed) is taken in slices.
pub const EVENT_BATCH: i64 = 20_000;

/// Outbox events nobody planned within this many days are dropped: a fault
/// notice about last quarter helps no one.
pub const OUTBOX_DAYS: i32 = 90;

/// The audience condition of rule `r` for the customer id expression `c`
/// in the tenant `t` (named on every table, for Citus).
/// Only comparisons, so that under row-level security the indexes serve.
fn audience(c: &str, t: &str) -> String {
    format!(
        "(r.audience = 'concerned'
          OR (r.audience = 'segment' AND EXISTS (SELECT 1 FROM segment_members m
                                                 WHERE m.tenant_id = {t} AND m.segment_id = r.segment_id
                                                   AND m.customer_id = {c}))
          OR (r.audience = 'route' AND EXISTS (SELECT 1 FROM customers x
                                               WHERE x.tenant_id = {t} AND x.id = {c} AND x.route_id = r.route_id))
          OR (r.audience = 'transformer' AND EXISTS (SELECT 1 FROM supply_points sp
                                                     WHERE sp.tenant_id = {t} AND sp.customer_id = {c}
                                                       AND sp.status = 'in_service'
                                                       AND sp.transformer = r.audience_text))
          OR (r.audience = 'area' AND EXISTS (SELECT 1 FROM customers x WHERE x.tenant_id = {t} AND x.id = {c}
                                              AND left(x.address, char_length(r.audience_text)) = r.audience_text)))"
    )
}

async fn enabled_rules(conn: &mut PgConnection, source: Source) -> sqlx::Result<Vec<Rule>> {
    let rules: Vec<Rule> = sqlx::query_as(
        "SELECT id, kind, channels, offset_minutes, since FROM notice_rules WHERE enabled ORDER BY created_at, id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rules.into_iter().filter(|r| Kind::parse(&r.kind).is_some_and(|k| k.source() == source)).collect())
}

async fn time_zone(conn: &mut PgConnection) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT time_zone FROM tenants WHERE id = app_tenant_id()").fetch_one(conn).await
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// Outbox events taken (planned or found unwanted).
    pub events: u64,
    pub notices: u64,
}

/// Plans a slice of the tenant's outbox: every enabled event rule turns the
/// events of its kind at or after its `since`, for customers in its
/// audience, into notices due `offset` after the event. Events no rule
/// reaches (of other kinds, or before every rule's `since`) stay for a rule
/// enabled or moved back later, until [`OUTBOX_DAYS`]; the rest leave the
/// outbox. Runs in the caller's transaction.
pub async fn plan_events(conn: &mut PgConnection) -> sqlx::Result<Planned> {
    sqlx::query("DELETE FROM notice_outbox WHERE at < now() - make_interval(days => $1)")
        .bind(OUTBOX_DAYS)
        .execute(&mut *conn)
        .await?;
    let rules = enabled_rules(conn, Source::Event).await?;
    if rules.is_empty() {
        return Ok(Planned::default());
    }
    let kinds: Vec<String> = rules.iter().map(|r| r.kind.clone()).collect();
    // Named, not left to row-level security: Citus locks rows only in a
    // statement it sends to one tenant's shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let events: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM notice_outbox o
         WHERE o.tenant_id = $3 AND kind = ANY($1)
           AND at >= (SELECT min(since) FROM notice_rules r WHERE r.tenant_id = $3 AND r.enabled AND r.kind = o.kind)
         ORDER BY at LIMIT $2 FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(&kinds)
    .bind(EVENT_BATCH)
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    if events.is_empty() {
        return Ok(Planned::default());
    }
    let tz = time_zone(conn).await?;
    db::prepare_targets(conn).await?;
    let mut notices = 0;
    let targets = format!(
        r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
           SELECT o.customer_id, 'timeline:' || o.event_id,
                  jsonb_strip_nulls(jsonb_build_object(
                      'title', o.title, 'link', o.link, 'date', to_char(o.at AT TIME ZONE $3, 'YYYY-MM-DD'),
                      'bill_no', b.bill_no, 'period', to_char(b.period, 'YYYY-MM'), 'amount', b.amount::text,
                      'due_date', b.due_on::text,
                      'balance', a.balance::text, 'days_left', coalesce(a.days_left, 0)::text,
                      'meter_serial', lm.serial, 'change_date', la.change_day::text,
                      'change_pct', CASE WHEN la.size_pct > 0 THEN '+' ELSE '' END || round(la.size_pct)::text || '%',
                      'before_kwh', round(la.before_kwh)::text, 'after_kwh', round(la.after_kwh)::text,
                      -- Demand response events carry their wording in the title.
                      'message', CASE WHEN o.kind IN ('demand_response_request', 'demand_response_result')
                                      THEN o.title END)),
                  o.at + make_interval(mins => r.offset_minutes)
           FROM notice_outbox o
           JOIN notice_rules r ON r.tenant_id = $4 AND r.id = $2
           -- The casts are guarded inside CASE: a hash join computes its key for
           -- every event, whatever the other conditions say.
           LEFT JOIN bills b ON b.tenant_id = $4 AND b.id = CASE WHEN o.kind = 'bill_issued' AND o.link ~ '^/bills/[0-9a-f-]{{36}}$'
                                            THEN substr(o.link, 8)::uuid END
           LEFT JOIN cost_control_agreements a
                  ON o.kind IN ('low_balance', 'disconnection_ordered', 'reconnection_ordered')
                 AND a.tenant_id = $4 AND a.customer_id = o.customer_id
           LEFT JOIN load_anomalies la
                  ON la.tenant_id = $4 AND la.id = CASE WHEN o.kind = 'load_anomaly' AND o.link ~ '^/load-anomalies/[0-9a-f-]{{36}}$'
                                  THEN substr(o.link, 17)::uuid END
           LEFT JOIN meters lm ON lm.tenant_id = $4 AND lm.id = la.meter_id
           WHERE o.tenant_id = $4 AND o.event_id = ANY($1) AND o.kind = r.kind AND o.at >= r.since AND {}"#,
        audience("o.customer_id", "$4")
    );
    for rule in &rules {
        let kind = Kind::parse(&rule.kind).expect("filtered to known kinds");
        sqlx::query(&targets).bind(&events).bind(rule.id).bind(&tz).bind(tenant_id).execute(&mut *conn).await?;
        notices += db::enqueue(conn, kind, &rule.channels, &json!({})).await?;
    }
    sqlx::query("DELETE FROM notice_outbox WHERE tenant_id = $2 AND event_id = ANY($1)")
        .bind(&events)
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    Ok(Planned { events: events.len() as u64, notices })
}

/// Bills, meters and supply contracts whose date comes due by the tenant's due rules: a rule
/// with offset −3 days reminds three days before a bill's due date, one with
/// +1 day tells of an overdue bill the day after. A date counts once it is
/// within `LOOKBACK_DAYS` and its moment (date + offset) has come and lies
/// after the rule's `since`. The event reference names the rule's offset,
/// so a tenant may remind twice (a week and a day before).
pub async fn scan_due(conn: &mut PgConnection) -> sqlx::Result<u64> {
    const LOOKBACK_DAYS: i32 = 30;
    let rules = enabled_rules(conn, Source::Due).await?;
    let tz = time_zone(conn).await?;
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    db::prepare_targets(conn).await?;
    let mut notices = 0;
    for rule in &rules {
        let kind = Kind::parse(&rule.kind).expect("filtered to known kinds");
        // The moment a date comes due: its local midnight plus the offset.
        let sql = match kind {
            Kind::PaymentDue | Kind::Overdue => {
                // A reminder is for a bill not yet due; an overdue notice for one past it.
                let (tag, side) = if kind == Kind::PaymentDue { ("due", ">=") } else { ("overdue", "<") };
                format!(
                    r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
                       SELECT b.customer_id, 'bill:' || b.id || ':{tag}:' || r.offset_minutes,
                              jsonb_build_object('bill_no', b.bill_no, 'period', to_char(b.period, 'YYYY-MM'),
                                                 'amount', (b.amount - b.paid)::text, 'due_date', b.due_on::text,
                                                 'date', b.due_on::text, 'title', b.bill_no),
                              greatest($3, (b.due_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes))
                       FROM bills b JOIN notice_rules r ON r.tenant_id = $5 AND r.id = $1
                       WHERE b.tenant_id = $5 AND b.status = 'issued' AND (b.paid < b.amount OR b.late_fee_paid < b.late_fee)
                         AND b.due_on >= ($3::timestamptz AT TIME ZONE $2)::date - $4
                         AND b.due_on {side} ($3::timestamptz AT TIME ZONE $2)::date
                         AND (b.due_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) <= $3
                         AND (b.due_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) >= r.since
                         AND {}"#,
                    audience("b.customer_id", "$5")
                )
            }
            Kind::MeterVerificationDue => format!(
                r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
                   SELECT DISTINCT ON (p.customer_id, m.id) p.customer_id,
                          'meter:' || m.id || ':' || m.next_verification || ':' || r.offset_minutes,
                          jsonb_build_object('meter_serial', m.serial, 'verification_date', m.next_verification::text,
                                             'date', m.next_verification::text, 'title', m.serial),
                          greatest($3, (m.next_verification::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes))
                   FROM meters m
                   JOIN meter_installations i ON i.tenant_id = m.tenant_id AND i.meter_id = m.id AND i.removed_on IS NULL
                   JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
                   JOIN notice_rules r ON r.tenant_id = $5 AND r.id = $1
                   WHERE m.tenant_id = $5 AND m.next_verification >= ($3::timestamptz AT TIME ZONE $2)::date - $4
                     AND (m.next_verification::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) <= $3
                     AND (m.next_verification::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) >= r.since
                     AND {}"#,
                audience("p.customer_id", "$5")
            ),
            // The contract in force (the latest to start) of each customer.
            Kind::ContractExpiry => format!(
                r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
                   SELECT c.customer_id, 'contract:' || c.id || ':' || r.offset_minutes,
                          jsonb_build_object('contract_no', c.contract_no, 'expiry_date', c.expires_on::text,
                                             'date', c.expires_on::text, 'title', c.contract_no),
                          greatest($3, (c.expires_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes))
                   FROM supply_contracts c
                   JOIN notice_rules r ON r.tenant_id = $5 AND r.id = $1
                   WHERE c.tenant_id = $5 AND c.expires_on >= ($3::timestamptz AT TIME ZONE $2)::date - $4
                     AND (c.expires_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) <= $3
                     AND (c.expires_on::timestamp AT TIME ZONE $2) + make_interval(mins => r.offset_minutes) >= r.since
                     AND NOT EXISTS (SELECT 1 FROM supply_contracts later
                                     WHERE later.tenant_id = $5 AND later.customer_id = c.customer_id
                                       AND later.starts_on > c.starts_on)
                     AND {}"#,
                audience("c.customer_id", "$5")
            ),
            _ => continue,
        };
        sqlx::query(&sql)
            .bind(rule.id)
            .bind(&tz)
            .bind(Utc::now())
            .bind(LOOKBACK_DAYS)
            .bind(tenant_id)
            .execute(&mut *conn)
            .await?;
        notices += db::enqueue(conn, kind, &rule.channels, &json!({})).await?;
    }
    Ok(notices)
}

/// Sends `message` by broadcast rule `rule_id` to every active customer in
/// its audience (the customers "concerned" by advice are all of them), due
/// after the rule's offset. Returns the notices created, or `None` when the
/// rule is not an enabled broadcast rule.
pub async fn broadcast(conn: &mut PgConnection, rule_id: Uuid, message: &str) -> sqlx::Result<Option<u64>> {
    let rule = enabled_rules(conn, Source::Broadcast).await?.into_iter().find(|r| r.id == rule_id);
    let Some(rule) = rule else { return Ok(None) };
    let kind = Kind::parse(&rule.kind).expect("filtered to known kinds");
    let tz = time_zone(conn).await?;
    db::prepare_targets(conn).await?;
    let event = format!("broadcast:{}", Uuid::now_v7().simple());
    let sql = format!(
        r#"INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
           SELECT c.id, $2, '{{}}'::jsonb, now() + make_interval(mins => greatest(r.offset_minutes, 0))
           FROM customers c JOIN notice_rules r ON r.tenant_id = $3 AND r.id = $1
           WHERE c.tenant_id = $3 AND c.status = 'active' AND {}"#,
        audience("c.id", "$3")
    );
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query(&sql).bind(rule.id).bind(&event).bind(tenant_id).execute(&mut *conn).await?;
    let today: String = sqlx::query_scalar("SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM-DD')")
        .bind(&tz)
        .fetch_one(&mut *conn)
        .await?;
    let common = json!({ "message": message, "title": message.chars().take(40).collect::<String>(), "date": today });
    Ok(Some(db::enqueue(conn, kind, &rule.channels, &common).await?))
}

/// How many active customers a broadcast by `rule_id` would reach (before
/// opt-outs and missing addresses), for the confirmation.
pub async fn broadcast_reach(conn: &mut PgConnection, rule_id: Uuid) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT count(*) FROM customers c JOIN notice_rules r ON r.tenant_id = $2 AND r.id = $1
         WHERE c.tenant_id = $2 AND c.status = 'active' AND {}",
        audience("c.id", "$2")
    );
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_scalar(&sql).bind(rule_id).bind(tenant_id).fetch_one(conn).await
}

/// Plans the outbox of every tenant, a slice per tenant and transaction
/// until each is empty (the minute job).
pub async fn plan_everywhere(pool: &sqlx::PgPool) -> sqlx::Result<Planned> {
    let mut total = Planned::default();
    for tenant in tenants(pool).await? {
        loop {
            let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
            let planned = plan_events(&mut tx).await?;
            tx.commit().await?;
            total.events += planned.events;
            total.notices += planned.notices;
            if planned.events < EVENT_BATCH as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// Finds the dates coming due and the personalised bills of the day in
/// every tenant (the hourly job; both are keyed, so the other 23 runs of a
/// day find nothing new).
pub async fn scan_everywhere(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    let mut notices = 0;
    for tenant in tenants(pool).await? {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        notices += scan_due(&mut tx).await?;
        let today = crate::tenants::today(&mut tx).await?;
        notices += super::personal_bill::scan(&mut tx, today).await?;
        tx.commit().await?;
    }
    Ok(notices)
}

async fn tenants(pool: &sqlx::PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await
}
