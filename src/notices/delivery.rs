//! The SQL of delivery: claiming due notices and recording what became of
//! them (for `dispatch`), the monitor's figures and retries (`monitor`), and
//! delivery receipts (`receipts`). Every function runs in a tenant's
//! transaction, so row-level security limits it to that tenant; only
//! [`notice_tenant`] looks across tenants, and returns nothing but an id.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::QuietHours;

/// The tenant's time zone and quiet hours (the defaults without a
/// `notice_settings` row).
pub async fn tenant_quiet_hours(conn: &mut PgConnection) -> sqlx::Result<(String, QuietHours)> {
    // Named, not app_tenant_id(): Citus 12.1.6's coordinator crashed on the
    // reference table outer-joined to a distributed one by the function.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let row = sqlx::query!(
        r#"SELECT t.time_zone,
                  coalesce(s.quiet_from, '21:00'::time) AS "quiet_from!",
                  coalesce(s.quiet_to, '08:00'::time) AS "quiet_to!"
           FROM tenants t LEFT JOIN notice_settings s ON s.tenant_id = $1
           WHERE t.id = $1"#,
        tenant_id
    )
    .fetch_one(conn)
    .await?;
    Ok((row.time_zone, QuietHours { from: row.quiet_from, to: row.quiet_to }))
}

/// A notice claimed for sending.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: String,
    pub channel: String,
    pub idempotency_key: String,
    pub lang: String,
    pub data: Value,
    pub urgent: bool,
    /// Counting this one.
    pub attempts: i32,
    /// Where the channel reaches the customer now; None: nowhere.
    pub address: Option<String>,
    /// The customer's own quiet hours, when they set both ends.
    pub customer_quiet: Option<QuietHours>,
}

/// Claims up to `batch` due notices of the channels the dispatcher sends
/// (queued, or left sending by a process whose lease ran out), skipping
/// rows another dispatcher holds: each becomes `sending`, leased to `owner`
/// until `lease_seconds` from now, with one more attempt counted.
pub async fn claim(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    owner: &str,
    batch: i64,
    lease_seconds: f64,
) -> sqlx::Result<Vec<Claimed>> {
    let channels: Vec<String> = super::channels::SENT_BY_DISPATCHER.iter().map(|c| c.to_string()).collect();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        customer_id: Uuid,
        kind: String,
        channel: String,
        idempotency_key: String,
        lang: String,
        data: Value,
        urgent: bool,
        attempts: i32,
        address: Option<String>,
        quiet_from: Option<chrono::NaiveTime>,
        quiet_to: Option<chrono::NaiveTime>,
    }
    // The address and quiet hours are read outside the UPDATE, on the
    // customer's rows: Citus refuses a function that is not immutable in a
    // RETURNING, and gridcrm_notice_address cannot run on a shard.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        r#"WITH due AS (
             SELECT id FROM notices
             WHERE tenant_id = $5 AND status IN ('queued', 'sending') AND next_attempt_at <= now()
               AND (status = 'queued' OR lease_until < now())
               AND channel = ANY($4::text[])
             ORDER BY next_attempt_at
             LIMIT $3
             FOR UPDATE SKIP LOCKED
           ),
           claimed AS (
             UPDATE notices n
             SET status = 'sending', claimed_by = $1, lease_until = now() + make_interval(secs => $2),
                 attempts = n.attempts + 1, send_started_at = NULL
             FROM due WHERE n.tenant_id = $5 AND n.id = due.id
             RETURNING n.id, n.customer_id, n.kind, n.channel, n.idempotency_key, n.lang, n.data, n.urgent, n.attempts
           )
           SELECT k.*, {address} AS address, c.quiet_from, c.quiet_to
           FROM claimed k
           LEFT JOIN customers c ON c.tenant_id = $5 AND c.id = k.customer_id
           LEFT JOIN notice_preferences p ON p.tenant_id = $5 AND p.customer_id = k.customer_id"#,
        address = super::db::address_sql("k.channel", "k.customer_id", "$5")
    ))
    .bind(owner)
    .bind(lease_seconds)
    .bind(batch)
    .bind(&channels)
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            id: r.id,
            customer_id: r.customer_id,
            kind: r.kind,
            channel: r.channel,
            idempotency_key: r.idempotency_key,
            lang: r.lang,
            data: r.data,
            urgent: r.urgent,
            attempts: r.attempts,
            address: r.address,
            customer_quiet: match (r.quiet_from, r.quiet_to) {
                (Some(from), Some(to)) => Some(QuietHours { from, to }),
                _ => None,
            },
        })
        .collect())
}

/// Why an interrupted email is not sent again (its `last_error`).
pub const INTERRUPTED: &str = "interrupted while sending: the mail server may have taken it, so it is not sent again \
                               by itself; send it again from the monitor if the customer did not get it";

/// Fails, without sending them again or falling back, the emails of
/// channels without an idempotency key that a dead process left `sending`
/// after it had begun handing them over (their lease is over and their
/// send mark set). Returns them by channel, for the metrics.
pub async fn fail_interrupted(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    let channels: Vec<String> = super::channels::WITHOUT_IDEMPOTENCY.iter().map(|c| c.to_string()).collect();
    sqlx::query_scalar!(
        r#"UPDATE notices SET status = 'failed', last_error = $2, lease_until = NULL, claimed_by = NULL
           WHERE status = 'sending' AND lease_until < now() AND send_started_at IS NOT NULL
             AND channel = ANY($1::text[])
           RETURNING channel"#,
        &channels,
        INTERRUPTED
    )
    .fetch_all(conn)
    .await
}

/// Marks the claimed notices of channels without an idempotency key as
/// being handed over now, just before the send (see [`fail_interrupted`]).
pub async fn mark_send_started(conn: &mut PgConnection, owner: &str, ids: &[Uuid]) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE notices SET send_started_at = now() WHERE id = ANY($2) AND status = 'sending' AND claimed_by = $1",
        owner,
        ids
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A tenant's own wording: (kind, channel, lang) → (subject, body).
pub type Templates = std::collections::HashMap<(String, String, String), (String, String)>;

/// The tenant's saved templates (at most kinds × channels × languages rows).
pub async fn templates(conn: &mut PgConnection) -> sqlx::Result<Templates> {
    let rows = sqlx::query!("SELECT kind, channel, lang, subject, body FROM notice_templates").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| ((r.kind, r.channel, r.lang), (r.subject, r.body))).collect())
}

/// Gives claimed notices back unsent, to be tried at `at` (the end of quiet
/// hours, or now when the lease was too short to send them): the attempt
/// they were claimed with is not counted.
pub async fn put_back(conn: &mut PgConnection, owner: &str, ids: &[Uuid], at: &[DateTime<Utc>]) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"UPDATE notices n
           SET status = 'queued', next_attempt_at = b.at, attempts = greatest(n.attempts - 1, 0),
               lease_until = NULL, claimed_by = NULL
           FROM unnest($2::uuid[], $3::timestamptz[]) AS b (id, at)
           WHERE n.id = b.id AND n.status = 'sending' AND n.claimed_by = $1"#,
        owner,
        ids,
        at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Records notices the other end took. A notice whose receipt came back
/// before this record (it is `delivered` already) keeps that status and
/// gets its address and gateway id. A notice another dispatcher has taken
/// over since (our lease ran out) is left to it.
pub async fn record_sent(
    conn: &mut PgConnection,
    owner: &str,
    ids: &[Uuid],
    addresses: &[String],
    gateway_ids: &[Option<String>],
) -> sqlx::Result<u64> {
    // least(), not coalesce(): a send time is never ahead of now, least()
    // skips a NULL, and Citus refuses now() inside COALESCE (docs/operations.md).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let done = sqlx::query(
        r#"UPDATE notices n
           SET status = CASE WHEN n.status = 'delivered' THEN 'delivered' ELSE 'sent' END,
               sent_at = least(n.sent_at, now()), address = s.address, gateway_id = s.gateway_id,
               last_error = '', lease_until = NULL
           FROM unnest($2::uuid[], $3::text[], $4::text[]) AS s (id, address, gateway_id)
           WHERE n.tenant_id = $5 AND n.id = s.id AND n.claimed_by = $1 AND n.status IN ('sending', 'delivered')"#,
    )
    .bind(owner)
    .bind(ids)
    .bind(addresses)
    .bind(gateway_ids)
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Queues a notice that failed for a passing reason to be tried at `at`.
pub async fn record_retry(
    conn: &mut PgConnection,
    owner: &str,
    id: Uuid,
    at: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE notices SET status = 'queued', next_attempt_at = $3, last_error = $4, lease_until = NULL,
                              claimed_by = NULL
           WHERE id = $2 AND status = 'sending' AND claimed_by = $1"#,
        owner,
        id,
        at,
        error,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fails a notice we hold (for good, or its attempts are used up) and hands
/// it to the customer's next channel. `Ok(None)`: we no longer held it.
pub async fn record_failure(
    conn: &mut PgConnection,
    owner: &str,
    id: Uuid,
    address: &str,
    error: &str,
) -> sqlx::Result<Option<Option<String>>> {
    let held = sqlx::query!(
        "UPDATE notices SET address = $3 WHERE id = $2 AND status = 'sending' AND claimed_by = $1",
        owner,
        id,
        address,
    )
    .execute(&mut *conn)
    .await?;
    if held.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(super::db::fail_and_fall_back(conn, id, error).await?))
}

/// Queued notices per channel (the dispatcher's gauge).
pub async fn queued_by_channel(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT channel, count(*) AS "n!" FROM notices WHERE status IN ('queued', 'sending') GROUP BY channel"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.channel, r.n)).collect())
}

// ---------------------------------------------------------------- the monitor

/// Notices waiting, per channel and status (queued or sending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Depth {
    pub channel: String,
    pub status: String,
    pub count: i64,
    /// Of them, those due now (not held for later).
    pub due: i64,
}

/// Sent and failed per channel, in the last hour and day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Throughput {
    pub channel: String,
    pub sent_hour: i64,
    pub sent_day: i64,
    pub failed_hour: i64,
    pub failed_day: i64,
}

#[derive(Clone, Debug)]
pub struct Overview {
    pub depth: Vec<Depth>,
    pub throughput: Vec<Throughput>,
    /// The oldest notice that is due and still queued: when it was created.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Failed notices per channel, however old (what "retry all" would take).
    pub failed_by_channel: Vec<(String, i64)>,
}

pub async fn overview(conn: &mut PgConnection) -> sqlx::Result<Overview> {
    let depth = sqlx::query_as!(
        Depth,
        r#"SELECT channel, status, count(*) AS "count!", count(*) FILTER (WHERE next_attempt_at <= now()) AS "due!"
           FROM notices WHERE status IN ('queued', 'sending')
           GROUP BY channel, status ORDER BY channel, status"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let throughput = sqlx::query_as!(
        Throughput,
        r#"WITH e AS (
             SELECT channel, sent_at AS at, true AS sent FROM notices WHERE sent_at > now() - interval '1 day'
             UNION ALL
             SELECT channel, failed_at, false FROM notices WHERE status = 'failed' AND failed_at > now() - interval '1 day'
           )
           SELECT channel AS "channel!",
                  count(*) FILTER (WHERE sent AND at > now() - interval '1 hour') AS "sent_hour!",
                  count(*) FILTER (WHERE sent) AS "sent_day!",
                  count(*) FILTER (WHERE NOT sent AND at > now() - interval '1 hour') AS "failed_hour!",
                  count(*) FILTER (WHERE NOT sent) AS "failed_day!"
           FROM e GROUP BY channel ORDER BY channel"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let oldest_due =
        sqlx::query_scalar!("SELECT min(created_at) FROM notices WHERE status = 'queued' AND next_attempt_at <= now()")
            .fetch_one(&mut *conn)
            .await?;
    let failed_by_channel =
        sqlx::query!(r#"SELECT channel, count(*) AS "n!" FROM notices WHERE status = 'failed' GROUP BY channel"#)
            .fetch_all(conn)
            .await?
            .into_iter()
            .map(|r| (r.channel, r.n))
            .collect();
    Ok(Overview { depth, throughput, oldest_due, failed_by_channel })
}

/// A failed notice, for the monitor's table.
#[derive(Clone, Debug)]
pub struct Failed {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub account_no: String,
    pub kind: String,
    pub channel: String,
    pub attempts: i32,
    pub last_error: String,
    pub failed_at: Option<DateTime<Utc>>,
}

/// The latest failures, newest first.
pub async fn recent_failed(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Failed>> {
    sqlx::query_as!(
        Failed,
        r#"SELECT n.id, n.customer_id, c.name AS customer_name, c.account_no, n.kind, n.channel, n.attempts,
                  n.last_error, n.failed_at
           FROM notices n JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
           WHERE n.status = 'failed'
           ORDER BY n.failed_at DESC NULLS LAST, n.id
           LIMIT $1"#,
        limit
    )
    .fetch_all(conn)
    .await
}

/// What a retry changed, for the audit log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Retried {
    pub id: Uuid,
    pub kind: String,
    pub channel: String,
    pub attempts_before: i32,
    pub last_error: String,
}

/// Queues a failed notice again at once, its attempts counted from zero;
/// its last error stays until it is sent. None: no failed notice has this
/// id in the tenant.
pub async fn retry(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Retried>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        Retried,
        r#"UPDATE notices n SET status = 'queued', attempts = 0, next_attempt_at = now(), failed_at = NULL,
                                lease_until = NULL, claimed_by = NULL
           FROM (SELECT id, attempts FROM notices WHERE tenant_id = $2 AND id = $1 AND status = 'failed' FOR UPDATE) o
           WHERE n.tenant_id = $2 AND n.id = o.id
           RETURNING n.id, n.kind, n.channel, o.attempts AS "attempts_before!", n.last_error"#,
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

/// Queues every failed notice of a channel again. Returns how many.
pub async fn retry_channel(conn: &mut PgConnection, channel: &str) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"UPDATE notices SET status = 'queued', attempts = 0, next_attempt_at = now(), failed_at = NULL,
                              lease_until = NULL, claimed_by = NULL
           WHERE status = 'failed' AND channel = $1"#,
        channel
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

// ---------------------------------------------------------------- receipts

/// The tenant a notice belongs to (any tenant's), through the SECURITY
/// DEFINER function of migration 0028. For signed receipts only.
pub async fn notice_tenant(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(r#"SELECT gridcrm_notice_tenant($1) AS "tenant""#, id).fetch_one(pool).await
}

/// What a receipt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Recorded; the notice's status now.
    Recorded(String),
    /// The notice was never sent (queued or cancelled): nothing to confirm.
    NotSent(String),
    NotFound,
}

/// Records a gateway's receipt: `delivered` marks a sent notice delivered;
/// `failed` fails it and hands it to the customer's next channel. A
/// receipt that arrives before the dispatcher recorded the send (the
/// notice is still `sending`) is taken the same way. Receipts repeated for
/// a notice already delivered or failed change nothing.
pub async fn record_receipt(conn: &mut PgConnection, id: Uuid, delivered: bool, error: &str) -> sqlx::Result<Receipt> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let status =
        sqlx::query_scalar!("SELECT status FROM notices WHERE tenant_id = $2 AND id = $1 FOR UPDATE", id, tenant_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(status) = status else { return Ok(Receipt::NotFound) };
    match (status.as_str(), delivered) {
        ("sent" | "sending", true) => {
            sqlx::query!(
                // (least(): as in record_sent.)
                "UPDATE notices SET status = 'delivered', delivered_at = now(), sent_at = least(sent_at, now())
                 WHERE tenant_id = $2 AND id = $1",
                id,
                tenant_id
            )
            .execute(&mut *conn)
            .await?;
            Ok(Receipt::Recorded("delivered".into()))
        }
        ("sent" | "sending", false) => {
            // fail_and_fall_back takes notices still on their way; a sent one
            // is put back on its way within this transaction first.
            sqlx::query!("UPDATE notices SET status = 'sending' WHERE id = $1 AND status = 'sent'", id)
                .execute(&mut *conn)
                .await?;
            let error = if error.trim().is_empty() { "the gateway reported a failure" } else { error };
            super::db::fail_and_fall_back(conn, id, error).await?;
            Ok(Receipt::Recorded("failed".into()))
        }
        ("delivered" | "failed", _) => Ok(Receipt::Recorded(status)),
        _ => Ok(Receipt::NotSent(status)),
    }
}
