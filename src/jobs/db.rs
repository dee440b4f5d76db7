//! The job table's SQL. Worker-side statements run in a worker transaction
//! (`app.jobs_worker` set, no tenant: every tenant's jobs, see migration
//! 0015); a tenant's own enqueue runs in its tenant transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::Tx;

use super::Kind;

/// A claimed job, as the worker runs it.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub tenant_id: Option<Uuid>,
    pub payload: serde_json::Value,
    /// This claim's count (1 on the first run, more after failures and takeovers).
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: String,
}

/// Begins a transaction in the worker's scope: every tenant's jobs, no tenant's data.
pub async fn begin_worker(pool: &PgPool) -> sqlx::Result<Tx> {
    let mut tx = pool.begin().await?;
    // SET LOCAL, not set_config: Citus passes it on to the workers (see db::tenant_settings).
    sqlx::query("SET LOCAL app.jobs_worker = 'on'").execute(&mut *tx).await?;
    Ok(tx)
}

/// The queue by kind, for the monitoring gauges.
pub struct QueueState {
    pub kind: String,
    pub due: i64,
    pub oldest_due_seconds: f64,
    pub running: i64,
    pub expired_leases: i64,
    pub failed_last_hour: i64,
}

/// Counts the queue by kind (done jobs left out; pruning removes them).
pub async fn queue_state(pool: &PgPool) -> sqlx::Result<Vec<QueueState>> {
    let mut tx = begin_worker(pool).await?;
    let rows = sqlx::query_as!(
        QueueState,
        r#"SELECT kind AS "kind!",
                  count(*) FILTER (WHERE state = 'queued' AND run_after <= now()) AS "due!",
                  coalesce(extract(epoch FROM max(now() - run_after) FILTER (WHERE state = 'queued' AND run_after <= now())), 0)::float8
                      AS "oldest_due_seconds!",
                  count(*) FILTER (WHERE state = 'running') AS "running!",
                  count(*) FILTER (WHERE state = 'running' AND lease_until < now()) AS "expired_leases!",
                  count(*) FILTER (WHERE state = 'failed' AND finished_at > now() - interval '1 hour') AS "failed_last_hour!"
           FROM jobs WHERE state IN ('queued', 'running', 'failed') GROUP BY kind"#
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Enqueues a job of the transaction's tenant. With a `dedup_key`, a second
/// enqueue of the same key does nothing and returns `None`.
pub async fn enqueue_for_tenant(
    tx: &mut Tx,
    kind: Kind,
    dedup_key: Option<&str>,
    payload: &serde_json::Value,
    max_attempts: i32,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO jobs (id, kind, tenant_id, payload, dedup_key, max_attempts)
           VALUES ($1, $2, app_tenant_id(), $3, $4, $5)
           ON CONFLICT (kind, COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'), dedup_key)
               WHERE dedup_key IS NOT NULL DO NOTHING
           RETURNING id"#,
        Uuid::now_v7(),
        kind.as_str(),
        payload,
        dedup_key,
        max_attempts
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Enqueues a job of the transaction's tenant already claimed by `owner`
/// (a foreground command that runs it itself, under the same lease rules:
/// if the command dies, a server takes the job over when the lease ends).
pub async fn enqueue_held(
    tx: &mut Tx,
    kind: Kind,
    dedup_key: Option<&str>,
    payload: &serde_json::Value,
    max_attempts: i32,
    owner: &str,
    lease: Duration,
) -> sqlx::Result<Job> {
    let row = sqlx::query!(
        r#"INSERT INTO jobs (id, kind, tenant_id, payload, dedup_key, max_attempts, state, attempts,
                             lease_owner, lease_until, heartbeat_at, started_at)
           VALUES ($1, $2, app_tenant_id(), $3, $4, $5, 'running', 1,
                   $6, now() + make_interval(secs => $7), now(), now())
           RETURNING id, tenant_id"#,
        Uuid::now_v7(),
        kind.as_str(),
        payload,
        dedup_key,
        max_attempts,
        owner,
        seconds(lease)
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Job {
        id: row.id,
        kind: kind.as_str().to_owned(),
        tenant_id: row.tenant_id,
        payload: payload.clone(),
        attempts: 1,
        max_attempts,
        lease_owner: owner.to_owned(),
    })
}

/// Enqueues a platform-wide periodic job for its slot, once however many
/// processes try. Returns whether this call enqueued it.
pub async fn enqueue_periodic(pool: &PgPool, kind: Kind, slot: &str, max_attempts: i32) -> sqlx::Result<bool> {
    let mut tx = begin_worker(pool).await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO jobs (id, kind, tenant_id, dedup_key, max_attempts)
           VALUES ($1, $2, NULL, $3, $4)
           ON CONFLICT (kind, COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'), dedup_key)
               WHERE dedup_key IS NOT NULL DO NOTHING
           RETURNING id"#,
        Uuid::now_v7(),
        kind.as_str(),
        slot,
        max_attempts
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id.is_some())
}

/// Claims one job for `owner`: a due queued job, or a running one whose lease
/// has run out (its process died: a takeover). Locked rows are skipped, so
/// concurrent claims never take the same job.
pub async fn claim(pool: &PgPool, owner: &str, lease: Duration) -> sqlx::Result<Option<Job>> {
    let mut tx = begin_worker(pool).await?;
    let row = sqlx::query!(
        r#"WITH next AS (
             SELECT id FROM jobs
             WHERE (state = 'queued' AND run_after <= now()) OR (state = 'running' AND lease_until <= now())
             ORDER BY coalesce(lease_until, run_after) LIMIT 1
             FOR UPDATE SKIP LOCKED
           )
           UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $1,
                  lease_until = now() + make_interval(secs => $2), heartbeat_at = now(),
                  -- least, not coalesce: the same (a start is never later than
                  -- now), and Citus refuses now() inside COALESCE or CASE of
                  -- a write, as it evaluates functions before sending it.
                  started_at = least(j.started_at, now())
           FROM next WHERE j.id = next.id
           RETURNING j.id, j.kind, j.tenant_id, j.payload, j.attempts, j.max_attempts"#,
        owner,
        seconds(lease)
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| Job {
        id: r.id,
        kind: r.kind,
        tenant_id: r.tenant_id,
        payload: r.payload,
        attempts: r.attempts,
        max_attempts: r.max_attempts,
        lease_owner: owner.to_owned(),
    }))
}

/// Renews the lease. `false`: the job is no longer ours (the lease ran out
/// and another process took it over), so the work must stop.
pub async fn heartbeat(pool: &PgPool, job: &Job, lease: Duration) -> sqlx::Result<bool> {
    let mut tx = begin_worker(pool).await?;
    let done = sqlx::query!(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3), heartbeat_at = now()
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        job.id,
        job.lease_owner,
        seconds(lease)
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the job done (if it is still ours).
pub async fn complete(pool: &PgPool, job: &Job) -> sqlx::Result<bool> {
    let mut tx = begin_worker(pool).await?;
    let done = sqlx::query!(
        "UPDATE jobs SET state = 'done', finished_at = now(), lease_until = NULL, last_error = NULL
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        job.id,
        job.lease_owner
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed try: queued again for `retry_at`, or failed for good when `None`.
pub async fn fail(pool: &PgPool, job: &Job, error: &str, retry_at: Option<DateTime<Utc>>) -> sqlx::Result<bool> {
    let mut tx = begin_worker(pool).await?;
    let done = sqlx::query!(
        r#"UPDATE jobs SET state = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'queued' END,
                  run_after = coalesce($4, run_after), last_error = $3, lease_until = NULL,
                  -- now() outside the CASE (NULL when retried): Citus refuses
                  -- now() inside a CASE or COALESCE of a write.
                  finished_at = now() + CASE WHEN $4::timestamptz IS NULL THEN interval '0' END
           WHERE id = $1 AND state = 'running' AND lease_owner = $2"#,
        job.id,
        job.lease_owner,
        error,
        retry_at
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a running job back (a stopping process that could not finish it in
/// time): queued again at once for another process, and this interrupted
/// try does not count against its attempts.
pub async fn release(pool: &PgPool, job: &Job) -> sqlx::Result<bool> {
    let mut tx = begin_worker(pool).await?;
    let done = sqlx::query!(
        "UPDATE jobs SET state = 'queued', run_after = now(), attempts = greatest(attempts - 1, 0),
                lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        job.id,
        job.lease_owner
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes finished jobs older than `age` (the periodic ones add up: one a
/// minute for escalation). Returns how many.
pub async fn prune(pool: &PgPool, age: Duration) -> sqlx::Result<u64> {
    let mut tx = begin_worker(pool).await?;
    let done = sqlx::query!(
        "DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at < now() - make_interval(secs => $1)",
        seconds(age)
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
